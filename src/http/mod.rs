//! The actix-web adapter: shared state, the one status-code table
//! ([`error::HttpError`]), the auth guard, middleware and routes.

pub mod auth;
pub mod error;
pub mod json;
pub mod middleware;
pub mod pagination;
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
