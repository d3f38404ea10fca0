//! Operations endpoints: `/healthz` (liveness, never touches the database),
//! `/readyz` (database answers and no migration is pending) and `/metrics`
//! (Prometheus text format, including the business gauges of
//! `monitor::business`). None requires authentication, as probes and
//! scrapers do not log in; `/metrics` shows business aggregates and employee
//! names but no customer data or secrets.

use crate::db::migrations;
use crate::http::state::AppState;
use actix_web::{HttpResponse, web};
use serde_json::json;
use std::time::Duration;

/// How long readiness waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Registers the system routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({"status": "alive", "version": state.version}))
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

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match not_ready_reason(&state).await {
        None => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({"status": "healthy", "version": state.version})),
        Some(reason) => HttpResponse::ServiceUnavailable()
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({"status": "unhealthy", "version": state.version, "reason": reason})),
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let tz = crate::domain::analytics::business_tz(&state.config().business.timezone);
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
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(body)
}
