//! The actix-web adapter: shared state, the one status-code table
//! ([`error::HttpError`]), the auth guard, middleware and routes.

pub mod assets;
pub mod auth;
pub mod csrf;
pub mod error;
pub mod json;
pub mod middleware;
pub mod openapi;
pub mod pagination;
pub mod query;
pub mod routes;
pub mod state;
pub mod templates;
pub mod throttle;
pub mod ui;

use actix_web::web;

/// Registers every route on an actix `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes::system::configure(cfg);
    assets::configure(cfg);
    routes::setup::configure(cfg);
    routes::api::configure(cfg);
    ui::configure(cfg);
}

/// Parses an id from a URL path segment. An id that is not a UUID cannot
/// exist, so it is answered like an unknown one: 404.
pub fn path_id(raw: &str) -> Result<String, error::HttpError> {
    crate::domain::ids::parse_id(raw)
        .map(|u| u.to_string())
        .ok_or(error::HttpError::NotFound)
}

/// Signature of a repository "find one by id" function.
pub type FindFn<T> = fn(&rusqlite::Connection, &str) -> Result<Option<T>, crate::db::DbError>;

/// Signature of a repository "delete by id, audited" function.
pub type DeleteFn = fn(
    &rusqlite::Connection,
    &crate::db::audit::Actor,
    &str,
    chrono::DateTime<chrono::Utc>,
) -> Result<(), crate::db::DbError>;

/// `GET …/{id}` for a resource: 200 with the record, or 404 for a malformed
/// or unknown id. Fails on database errors.
pub async fn get_by_id<T: serde::Serialize + Send + 'static>(
    state: &state::AppState,
    raw_id: &str,
    find: FindFn<T>,
) -> Result<actix_web::HttpResponse, error::HttpError> {
    let id = path_id(raw_id)?;
    let found = state
        .db
        .read(move |c| find(c, &id))
        .await?
        .ok_or(error::HttpError::NotFound)?;
    Ok(actix_web::HttpResponse::Ok().json(found))
}

/// `DELETE …/{id}` for a resource: 204, 404 for a malformed or unknown id,
/// or the repository's 409 when something still refers to it.
pub async fn delete_by_id(
    state: &state::AppState,
    actor: crate::db::audit::Actor,
    raw_id: &str,
    delete: DeleteFn,
) -> Result<actix_web::HttpResponse, error::HttpError> {
    let id = path_id(raw_id)?;
    let now = state.clock.now();
    state.db.write(move |c| delete(c, &actor, &id, now)).await?;
    Ok(actix_web::HttpResponse::NoContent().finish())
}

/// Signature of a repository "insert a new record, audited" function.
pub type InsertFn<F, T> = fn(
    &rusqlite::Connection,
    &crate::db::audit::Actor,
    &str,
    F,
    chrono::DateTime<chrono::Utc>,
) -> Result<T, crate::db::DbError>;

/// `POST /api/v1/{collection}`: stores validated `fields` under a new id and
/// answers 201 with `Location: /api/v1/{collection}/{id}`. Fails with the
/// repository's 400/409, or on database errors.
pub async fn create_record<F, T>(
    state: &state::AppState,
    actor: crate::db::audit::Actor,
    collection: &str,
    fields: F,
    insert: InsertFn<F, T>,
) -> Result<actix_web::HttpResponse, error::HttpError>
where
    F: Send + 'static,
    T: serde::Serialize + Send + 'static,
{
    let now = state.clock.now();
    let id = crate::domain::ids::new_id(now).to_string();
    let location = format!("/api/v1/{collection}/{id}");
    let record = state
        .db
        .write(move |c| insert(c, &actor, &id, fields, now))
        .await?;
    Ok(actix_web::HttpResponse::Created()
        .insert_header(("Location", location))
        .json(record))
}

/// `PATCH …/{id}`: runs `update` (which merges and validates against the
/// stored record inside the write) and answers 200 with the result; 404 for a
/// malformed or unknown id, the merge's 400/409 otherwise.
pub async fn update_record<T, U>(
    state: &state::AppState,
    actor: crate::db::audit::Actor,
    raw_id: &str,
    update: U,
) -> Result<actix_web::HttpResponse, error::HttpError>
where
    T: serde::Serialize + Send + 'static,
    U: FnOnce(
            &rusqlite::Connection,
            &crate::db::audit::Actor,
            &str,
            chrono::DateTime<chrono::Utc>,
        ) -> Result<T, crate::db::DbError>
        + Send
        + 'static,
{
    let id = path_id(raw_id)?;
    let now = state.clock.now();
    let record = state.db.write(move |c| update(c, &actor, &id, now)).await?;
    Ok(actix_web::HttpResponse::Ok().json(record))
}
