//! `/api/v1/follow-ups` — customer follow-ups, owner and office staff only:
//! list (open, done, overdue…), add one by hand, mark done, cancel, reopen,
//! move the due date or edit the note.

use super::api::resource;
use super::invoices::{date_range, id_param};
use crate::db::DbError;
use crate::db::follow_ups::{self as repo, FollowUpFilter};
use crate::domain::follow_up::{
    FollowUpFields, FollowUpInput, FollowUpPatch, FollowUpStatus, NewFollowUp,
};
use crate::domain::ids::new_id;
use crate::domain::validate::Check;
use crate::http::auth::{Authed, Staff};
use crate::http::error::HttpError;
use crate::http::json::ValidJson;
use crate::http::openapi::{self as doc, IdPath};
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::http::path_id;
use crate::http::query::{Flag, ValidQuery};
use crate::http::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

/// Registers the follow-up routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/follow-ups", "GET, POST")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/follow-ups/{id}", "GET, PATCH")
            .route(web::get().to(get))
            .route(web::patch().to(update)),
    );
}

/// Query of `GET /follow-ups`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `open`, `done` or `cancelled`.
    #[param(inline)]
    pub status: Option<FollowUpStatus>,
    /// `true`: only open follow-ups past their due date.
    #[param(value_type = Option<bool>)]
    pub overdue: Option<Flag>,
    /// Only this customer's.
    pub customer_id: Option<String>,
    /// Due on or after (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Due on or before (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// Page number (1..=1000000, default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Page size (1..=100, default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// Lists follow-ups by due date, filtered.
#[utoipa::path(
    get,
    path = "/api/v1/follow-ups",
    tag = "follow-ups",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of follow-ups", body = Paginated<crate::domain::follow_up::FollowUp>),
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
    let mut c = Check::new();
    let customer_id = id_param(&mut c, "customer_id", q.customer_id.as_deref());
    let (from, to) = date_range(&mut c, q.from.as_deref(), q.to.as_deref());
    c.finish()?;
    let filter = FollowUpFilter {
        status: q.status,
        customer_id,
        from,
        to,
        overdue_on: Flag::is_set(q.overdue).then(|| state.today().format("%Y-%m-%d").to_string()),
    };
    let (rows, total) = state
        .db
        .read(move |c| repo::list(c, &filter, page.limit.into(), page.offset()))
        .await?;
    Ok(HttpResponse::Ok().json(Paginated::new(rows, page, total)))
}

/// Adds a follow-up by hand (`customerId` and `dueDate` are required).
#[utoipa::path(
    post,
    path = "/api/v1/follow-ups",
    tag = "follow-ups",
    request_body = FollowUpInput,
    responses(
        (status = 201, description = "Created; `Location` names it", body = crate::domain::follow_up::FollowUp),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
#[tracing::instrument(skip_all)]
async fn create(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    ValidJson(input): ValidJson<FollowUpInput>,
) -> Result<HttpResponse, HttpError> {
    let new = NewFollowUp::parse(input)?;
    let now = state.clock.now();
    let id = new_id(now).to_string();
    let actor = who.actor();
    let fu = state
        .db
        .write(move |c| repo::insert(c, &actor, &id, new, now))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/follow-ups/{}", fu.id)))
        .json(fu))
}

/// One follow-up.
#[utoipa::path(
    get,
    path = "/api/v1/follow-ups/{id}",
    tag = "follow-ups",
    params(IdPath),
    responses(
        (status = 200, description = "The follow-up", body = crate::domain::follow_up::FollowUp),
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
    let fu = state
        .db
        .read(move |c| repo::get(c, &id)?.ok_or(DbError::NotFound))
        .await?;
    Ok(HttpResponse::Ok().json(fu))
}

/// Marks done, cancels or reopens (`status`), moves the due date or edits the note.
#[utoipa::path(
    patch,
    path = "/api/v1/follow-ups/{id}",
    tag = "follow-ups",
    params(IdPath),
    request_body = FollowUpPatch,
    responses(
        (status = 200, description = "The updated follow-up", body = crate::domain::follow_up::FollowUp),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn update(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
    ValidJson(patch): ValidJson<FollowUpPatch>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let now = state.clock.now();
    let ts = crate::clock::format_ts(now);
    let actor = who.actor();
    let fu = state
        .db
        .write(move |c| {
            repo::update(c, &actor, &id, now, |cur| {
                FollowUpFields::merge(cur, patch, &ts).map_err(DbError::from)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(fu))
}
