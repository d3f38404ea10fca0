//! `/api/v1/leads` — owner and office staff only: intake (converted at once
//! when `[business] auto_convert_leads` is on), list and search, edits and
//! status changes, and conversion into a customer and a draft work order.

use super::api::resource;
use crate::db::DbError;
use crate::db::leads::{self as repo, LeadFilter};
use crate::domain::DomainError;
use crate::domain::ids::new_id;
use crate::domain::lead::{Lead, LeadFields, LeadInput, LeadPatch, LeadStatus};
use crate::http::auth::{Authed, Staff};
use crate::http::error::HttpError;
use crate::http::json::ValidJson;
use crate::http::openapi::{self as doc, IdPath};
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
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `new`, `contacted`, `converted` or `lost`.
    #[param(inline)]
    pub status: Option<LeadStatus>,
    /// Text in the name, e-mail, phone, service type or source.
    pub q: Option<String>,
    /// Page number (1..=1000000, default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Page size (1..=100, default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// Lists leads, newest first, filtered.
#[utoipa::path(
    get,
    path = "/api/v1/leads",
    tag = "leads",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of leads", body = Paginated<Lead>),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
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

/// Answer of `POST /leads`: the new lead, or, when `[business]
/// auto_convert_leads` is on, what its conversion produced.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum LeadCreated {
    /// The new lead (status `new`).
    Lead(Box<Lead>),
    /// The conversion of the new lead.
    Converted(Box<crate::db::leads::Conversion>),
}

/// Takes in a lead (`name` and a phone or an e-mail are required); with
/// `[business] auto_convert_leads` on, converts it at once.
#[utoipa::path(
    post,
    path = "/api/v1/leads",
    tag = "leads",
    request_body = LeadInput,
    responses(
        (status = 201, description = "The new lead, or its conversion when leads are converted automatically", body = LeadCreated),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
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
    let auto = state.config().business.auto_convert_leads;
    let made = state
        .db
        .write(move |c| repo::intake(c, &actor, &id, fields, now, auto))
        .await?;
    let mut res = HttpResponse::Created();
    res.insert_header(("Location", location));
    Ok(match made {
        repo::Intake::Lead(lead) => res.json(lead),
        repo::Intake::Converted(conversion) => res.json(conversion),
    })
}

/// One lead.
#[utoipa::path(
    get,
    path = "/api/v1/leads/{id}",
    tag = "leads",
    params(IdPath),
    responses(
        (status = 200, description = "The lead", body = Lead),
        doc::Forbidden,
        doc::NotFound,
    ),
)]
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

/// Edits an open lead's fields and/or moves it to `contacted` or `lost`
/// (`lostReason` required); 409 for a converted or lost lead or a transition it does not allow.
#[utoipa::path(
    patch,
    path = "/api/v1/leads/{id}",
    tag = "leads",
    params(IdPath),
    request_body = LeadPatch,
    responses(
        (status = 200, description = "The updated lead", body = Lead),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
    ),
)]
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
        .write(move |c| repo::patch(c, &actor, &id, now, patch))
        .await?;
    Ok(HttpResponse::Ok().json(lead))
}

/// Converts an open lead: matches a customer by e-mail or phone or creates
/// one, and creates a draft work order, in one transaction; 409 unless the lead is open.
#[utoipa::path(
    post,
    path = "/api/v1/leads/{id}/convert",
    tag = "leads",
    params(IdPath),
    responses(
        (status = 200, description = "What the conversion produced", body = crate::db::leads::Conversion),
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
    ),
)]
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
