//! The actix-web adapter: shared state, the one status-code table
//! ([`error::HttpError`]), the auth guard, middleware and routes.

pub mod auth;
pub mod error;
pub mod json;
pub mod middleware;
pub mod openapi;
pub mod pagination;
pub mod query;
pub mod routes;
pub mod state;
pub mod templates;

use actix_web::web;

/// Registers every route on an actix `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes::system::configure(cfg);
    routes::setup::configure(cfg);
    routes::api::configure(cfg);
}

/// Parses an id from a URL path segment. An id that is not a UUID cannot
/// exist, so it is answered like an unknown one: 404.
pub fn path_id(raw: &str) -> Result<String, error::HttpError> {
    crate::domain::ids::parse_id(raw)
        .map(|u| u.to_string())
        .ok_or(error::HttpError::NotFound)
}
