//! `GET /api/v1/audit` — the audit log, for the owner only: who changed
//! what and when, with the before/after diff, newest first, filterable.

use super::api::resource;
use crate::db::audit::{self as repo, AuditFilter};
use crate::domain::validate::Check;
use crate::http::auth::{Authed, OwnerOnly};
use crate::http::error::HttpError;
use crate::http::openapi as doc;
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::http::query::ValidQuery;
use crate::http::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

/// Registers the audit route (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/audit", "GET").route(web::get().to(list)));
}

/// Query of `GET /audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Entity kind, e.g. `invoice`.
    pub entity: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// Acting user's id.
    pub actor_user_id: Option<String>,
    /// Action, e.g. `create`, `void`.
    pub action: Option<String>,
    /// At or after (RFC 3339).
    pub from: Option<String>,
    /// Before (RFC 3339).
    pub to: Option<String>,
    /// Page number (1..=1000000, default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Page size (1..=100, default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// An RFC 3339 instant normalised to the stored form (so text order is time
/// order). Records a field error when it does not parse.
fn instant(c: &mut Check, field: &str, v: Option<&str>) -> Option<String> {
    let v = v?.trim();
    match crate::clock::parse_ts(v) {
        Some(t) => Some(crate::clock::format_ts(t)),
        None => {
            c.fail(field, "must be an RFC 3339 time like 2026-03-31T09:30:00Z");
            None
        }
    }
}

fn word(c: &mut Check, field: &str, v: Option<String>) -> Option<String> {
    let v = v?;
    let t = c.text(field, &v, 0, 100);
    (!t.is_empty()).then_some(t)
}

/// The audit log, newest first, filtered (owner only).
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of audit records", body = Paginated<crate::db::audit::AuditEntry>),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list(
    state: web::Data<AppState>,
    _who: Authed<OwnerOnly>,
    ValidQuery(q): ValidQuery<ListQuery>,
) -> Result<HttpResponse, HttpError> {
    let page = Page::parse(&PageQuery {
        page: q.page,
        limit: q.limit,
    })?;
    let mut c = Check::new();
    let filter = AuditFilter {
        entity: word(&mut c, "entity", q.entity),
        entity_id: word(&mut c, "entity_id", q.entity_id),
        actor_user_id: word(&mut c, "actor_user_id", q.actor_user_id),
        action: word(&mut c, "action", q.action),
        from: instant(&mut c, "from", q.from.as_deref()),
        to: instant(&mut c, "to", q.to.as_deref()),
    };
    if let (Some(f), Some(t)) = (&filter.from, &filter.to)
        && t < f
    {
        c.fail("to", "must not be before from");
    }
    c.finish()?;
    let (rows, total) = state
        .db
        .read(move |c| repo::list(c, &filter, page.limit.into(), page.offset()))
        .await?;
    Ok(HttpResponse::Ok().json(Paginated::new(rows, page, total)))
}
