//! `/api/v1/leads` — owner and office staff only: intake (converted at once
//! when `[business] auto_convert_leads` is on), list and search, edits and
//! status changes, and conversion into a customer and a draft work order.

use super::api::resource;
use crate::db::DbError;
use crate::db::leads::{self as repo, LeadFilter};
use crate::domain::DomainError;
use crate::domain::ids::new_id;
use crate::domain::lead::{LeadFields, LeadInput, LeadPatch, LeadStatus};
use crate::http::auth::{Authed, Staff};
use crate::http::error::HttpError;
use crate::http::json::ValidJson;
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::http::path_id;
use crate::http::query::ValidQuery;
use crate::http::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

/// Registers the lead routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/leads", "GET, POST")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/leads/{id}", "GET, PATCH")
            .route(web::get().to(get))
            .route(web::patch().to(update)),
    )
    .service(resource("/leads/{id}/convert", "POST").route(web::post().to(convert)));
}

/// Query of `GET /leads`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `new`, `contacted`, `converted` or `lost`.
    pub status: Option<LeadStatus>,
    /// Text in the name, e-mail, phone, service type or source.
    pub q: Option<String>,
    /// Page number.
    pub page: Option<String>,
    /// Page size.
    pub limit: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn list(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    ValidQuery(q): ValidQuery<ListQuery>,
) -> Result<HttpResponse, HttpError> {
    let page = Page::parse(&PageQuery {
        page: q.page,
        limit: q.limit,
    })?;
    if q.q.as_deref().is_some_and(|s| s.chars().count() > 200) {
        return Err(DomainError::field("q", "must be at most 200 characters").into());
    }
    let filter = LeadFilter {
        status: q.status,
        q: q.q.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
    };
    let (rows, total) = state
        .db
        .read(move |c| repo::list(c, &filter, page.limit.into(), page.offset()))
        .await?;
    Ok(HttpResponse::Ok().json(Paginated::new(rows, page, total)))
}

#[tracing::instrument(skip_all)]
async fn create(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    ValidJson(input): ValidJson<LeadInput>,
) -> Result<HttpResponse, HttpError> {
    let fields = LeadFields::merge(&LeadFields::default(), input)?;
    let now = state.clock.now();
    let id = new_id(now).to_string();
    let actor = who.actor();
    let location = format!("/api/v1/leads/{id}");
    if state.config().business.auto_convert_leads {
        let conversion = state
            .db
            .write(move |c| {
                repo::insert(c, &actor, &id, fields, now)?;
                repo::convert(c, &actor, &id, now)
            })
            .await?;
        return Ok(HttpResponse::Created()
            .insert_header(("Location", location))
            .json(conversion));
    }
    let lead = state
        .db
        .write(move |c| repo::insert(c, &actor, &id, fields, now))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .json(lead))
}

#[tracing::instrument(skip_all)]
async fn get(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let lead = state
        .db
        .read(move |c| repo::get(c, &id)?.ok_or(DbError::NotFound))
        .await?;
    Ok(HttpResponse::Ok().json(lead))
}

#[tracing::instrument(skip_all)]
async fn update(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
    ValidJson(patch): ValidJson<LeadPatch>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let now = state.clock.now();
    let actor = who.actor();
    let lead = state
        .db
        .write(move |c| {
            repo::update(c, &actor, &id, now, |cur| {
                let (input, status, lost_reason) = patch.split();
                let fields = LeadFields::merge(&cur.fields, input);
                let change = match status {
                    Some(to) => cur.status.change_to(to, lost_reason.as_deref()),
                    None if lost_reason.is_some() => {
                        cur.status.change_to(cur.status, lost_reason.as_deref())
                    }
                    None => Ok(cur.lost_reason.clone()),
                };
                let (fields, lost_reason) = merge_errors(fields, change)?;
                Ok((fields, status.unwrap_or(cur.status), lost_reason))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(lead))
}

/// Both results, or one error: a conflict first, else every field error of both.
fn merge_errors<A, B>(
    a: Result<A, DomainError>,
    b: Result<B, DomainError>,
) -> Result<(A, B), DbError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (_, Err(e @ DomainError::Conflict(_))) | (Err(e @ DomainError::Conflict(_)), _) => {
            Err(e.into())
        }
        (Err(DomainError::Validation(mut x)), Err(DomainError::Validation(y))) => {
            x.extend(y);
            Err(DomainError::Validation(x).into())
        }
        (Err(e), _) | (_, Err(e)) => Err(e.into()),
    }
}

#[tracing::instrument(skip_all)]
async fn convert(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let now = state.clock.now();
    let actor = who.actor();
    let conversion = state
        .db
        .write(move |c| repo::convert(c, &actor, &id, now))
        .await?;
    Ok(HttpResponse::Ok().json(conversion))
}
