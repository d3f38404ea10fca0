//! Operations endpoints: `/healthz` (liveness, never touches the database),
//! `/readyz` (database answers and no migration is pending) and `/metrics`
//! (Prometheus text format, including the business gauges of
//! `monitor::business`). None requires authentication, as probes and
//! scrapers do not log in; `/metrics` shows business aggregates and employee
//! names but no customer data or secrets.

use crate::db::migrations;
use crate::domain::user::Role;
use crate::http::error::ErrorBody;
use crate::http::error::HttpError;
use crate::http::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
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
    #[schema(value_type = String)]
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

/// Whether a `/metrics` request may be answered. The page carries business
/// figures (revenue, employee scores), so unless `server.metrics_public` is
/// set only a scraper on this machine (loopback) or a logged-in owner/office
/// user (session or bearer token) may read it.
pub fn metrics_allowed(public: bool, peer: Option<std::net::IpAddr>, role: Option<Role>) -> bool {
    public
        || peer.is_some_and(|ip| ip.is_loopback())
        || matches!(role, Some(Role::Owner | Role::Office))
}

/// Prometheus metrics in the text exposition format. Unless
/// `server.metrics_public` is set, only loopback scrapers and logged-in owner
/// or office users may read them.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "system",
    security((), ("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        (status = 401, description = "Not public, not from loopback, and no valid credentials (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not public, not from loopback, and not an owner or office user (`forbidden`)", body = ErrorBody),
    ),
)]
async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let public = state.config().server.metrics_public;
    let peer = req.peer_addr().map(|a| a.ip());
    if !metrics_allowed(public, peer, None) {
        let role = crate::http::auth::authenticate(&state, &req)
            .await?
            .map(|(u, _)| u.role);
        if role.is_none() {
            return Err(HttpError::unauthenticated());
        }
        if !metrics_allowed(public, peer, role) {
            return Err(HttpError::Forbidden(
                "metrics are for the owner and office staff".into(),
            ));
        }
    }
    let tz = state.config().timezone();
    let today = state.clock.now().with_timezone(&tz).date_naive();
    let s = state.clone();
    // Business gauges and the render share one blocking task on a read connection.
    let rendered = state
        .db
        .read(move |c| {
            if let Err(e) = s.metrics.business.refresh(c, today, tz) {
                tracing::warn!(error = %e, "cannot refresh business metrics");
            }
            Ok(s.metrics.render(&s.db))
        })
        .await;
    let body = match rendered {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(error = %e, "business metrics skipped: no database connection");
            let s = state.clone();
            tokio::task::spawn_blocking(move || s.metrics.render(&s.db))
                .await
                .unwrap_or_default()
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_private_unless_configured_public() {
        let lan: std::net::IpAddr = "192.0.2.7".parse().unwrap();
        let lo: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let lo6: std::net::IpAddr = "::1".parse().unwrap();
        assert!(metrics_allowed(false, Some(lo), None));
        assert!(metrics_allowed(false, Some(lo6), None));
        assert!(!metrics_allowed(false, Some(lan), None));
        assert!(!metrics_allowed(false, None, None));
        assert!(!metrics_allowed(false, Some(lan), Some(Role::Technician)));
        assert!(metrics_allowed(false, Some(lan), Some(Role::Office)));
        assert!(metrics_allowed(false, Some(lan), Some(Role::Owner)));
        assert!(metrics_allowed(true, Some(lan), None));
    }
}
