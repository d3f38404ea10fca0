//! Operations endpoints: `/healthz` (liveness, never touches the database),
//! `/readyz` (database answers and no migration is pending) and `/metrics`
//! (Prometheus text format). None requires authentication, as probes and
//! scrapers do not log in; `/metrics` carries no business secrets.

use crate::db::migrations;
use crate::http::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use std::time::Duration;

/// How long readiness waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Registers the system routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// Answer of `/healthz` and `/readyz`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// `alive` (`/healthz`), `healthy` or `unhealthy` (`/readyz`).
    #[schema(schema_with = health_status_schema)]
    status: &'static str,
    /// This build's version.
    version: &'static str,
    /// Why it is not ready (`unhealthy` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

fn health_status_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["alive", "healthy", "unhealthy"]))
        .build()
}

/// Liveness: the process answers. Never touches the database.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "system",
    security(()),
    responses((status = 200, description = "Alive", body = Health)),
)]
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(Health {
            status: "alive",
            version: state.version,
            reason: None,
        })
}

/// Readiness: why the service is not ready, or `None` when it is.
pub async fn not_ready_reason(state: &AppState) -> Option<String> {
    let check = state.db.read(migrations::pending);
    match tokio::time::timeout(READY_TIMEOUT, check).await {
        Ok(Ok(0)) => None,
        Ok(Ok(n)) => Some(format!(
            "{n} database migration(s) pending; run `quant migrate` or enable database.auto_migrate"
        )),
        Ok(Err(e)) => Some(format!("database error: {e}")),
        Err(_) => Some(format!(
            "database did not answer within {} s",
            READY_TIMEOUT.as_secs()
        )),
    }
}

/// Readiness: the database answers and no migration is pending.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "system",
    security(()),
    responses(
        (status = 200, description = "Ready (`healthy`)", body = Health),
        (status = 503, description = "Not ready (`unhealthy`, with the `reason`)", body = Health),
    ),
)]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match not_ready_reason(&state).await {
        None => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(Health {
                status: "healthy",
                version: state.version,
                reason: None,
            }),
        Some(reason) => HttpResponse::ServiceUnavailable()
            .insert_header(("Cache-Control", "no-store"))
            .json(Health {
                status: "unhealthy",
                version: state.version,
                reason: Some(reason),
            }),
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "system",
    security(()),
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain")),
)]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let s = state.clone();
    let body = tokio::task::spawn_blocking(move || s.metrics.render(&s.db))
        .await
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(body)
}
