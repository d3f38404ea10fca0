//! `/api/v1/work-orders`: create, list, read and edit work orders, and the
//! transitions `schedule`, `start`, `complete` (which also writes the invoice
//! and the follow-up) and `cancel`. Owner and office staff may do everything;
//! a technician sees, starts and completes only the work orders assigned to
//! them (403 otherwise). There is no DELETE (405): cancel instead.

use super::api::resource;
use crate::db::DbError;
use crate::db::work_orders::{
    self as repo, Billing, InvoiceSummary, NewWorkOrder, WorkOrderFilter,
};
use crate::domain::DomainError;
use crate::domain::ids::{new_id, parse_id};
use crate::domain::money::Minutes;
use crate::domain::user::Role;
use crate::domain::validate::Check;
use crate::domain::work_order::{
    CancelInput, CompleteInput, ScheduleInput, StartInput, Status, WorkOrder, WorkOrderFields,
    WorkOrderInput,
};
use crate::http::auth::{AnyRole, Authed, Policy, Staff};
use crate::http::error::HttpError;
use crate::http::json::ValidJson;
use crate::http::openapi::{self as doc, IdPath};
use crate::http::pagination::{JSON_BODY_START, Page, PageQuery, Paginated, finish_json_body};
use crate::http::path_id;
use crate::http::state::AppState;
use actix_web::http::header::ContentType;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Registers the work order routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/work-orders", "GET, POST")
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/work-orders/{id}", "GET, PATCH")
            .route(web::get().to(get))
            .route(web::patch().to(update)),
    )
    .service(resource("/work-orders/{id}/schedule", "POST").route(web::post().to(schedule)))
    .service(resource("/work-orders/{id}/start", "POST").route(web::post().to(start)))
    .service(resource("/work-orders/{id}/complete", "POST").route(web::post().to(complete)))
    .service(resource("/work-orders/{id}/cancel", "POST").route(web::post().to(cancel)));
}

/// Turns a query string serde refused (an unknown or repeated parameter)
/// into a JSON 400 naming the parameter.
fn query_error(err: actix_web::error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let msg = err.to_string();
    let quoted = |prefix: &str| {
        let rest = &msg[msg.find(prefix)? + prefix.len()..];
        Some(rest.split('`').next()?.to_string())
    };
    let mut fields = crate::domain::FieldErrors::new();
    if let Some(name) = quoted("unknown field `") {
        fields.insert(name, "unknown parameter".into());
    } else if let Some(name) = quoted("duplicate field `") {
        fields.insert(name, "must be given once".into());
    } else {
        return HttpError::BadRequest(format!("invalid query string: {msg}")).into();
    }
    HttpError::Validation {
        message: "invalid query parameters".into(),
        fields,
    }
    .into()
}

/// A JSON body that may be left out entirely (no `Content-Type` and no
/// content): then `T::default()`; otherwise exactly like [`ValidJson`].
struct OptionalJson<T>(T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJson<T> {
    type Error = HttpError;
    type Future = LocalBoxFuture<'static, Result<Self, HttpError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
        let h = req.headers();
        let no_body = !h.contains_key(CONTENT_TYPE)
            && !h.contains_key(TRANSFER_ENCODING)
            && h.get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|v| v.trim() == "0");
        if no_body {
            return Box::pin(async { Ok(OptionalJson(T::default())) });
        }
        let body = ValidJson::<T>::from_request(req, payload);
        Box::pin(async move { body.await.map(|ValidJson(v)| OptionalJson(v)) })
    }
}

/// The caller's user id when they are a technician (whose access is limited
/// to work orders assigned to them), `None` for owner and office staff.
fn technician<P: Policy>(who: &Authed<P>) -> Option<String> {
    (who.user.role == Role::Technician).then(|| who.user.id.clone())
}

/// The 403 a technician gets for a work order assigned to someone else.
pub(crate) fn not_yours() -> HttpError {
    HttpError::Forbidden("this work order is not assigned to you".into())
}

/// Query of `GET /work-orders`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// One status or a comma-separated list.
    pub status: Option<String>,
    /// Only this customer's.
    pub customer_id: Option<String>,
    /// Only this technician's.
    pub assigned_employee_id: Option<String>,
    /// Scheduled on or after (YYYY-MM-DD).
    pub from: Option<String>,
    /// Scheduled on or before (YYYY-MM-DD).
    pub to: Option<String>,
    /// Number (`WO-000123`, `123`), service type, description or customer name.
    pub q: Option<String>,
    /// Page number (1..=1000000, default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Page size (1..=100, default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

impl ListQuery {
    /// The filter it asks for. Fails with a 400 naming every bad parameter.
    pub(crate) fn filter(self) -> Result<WorkOrderFilter, DomainError> {
        let mut c = Check::new();
        let mut statuses = Vec::new();
        for part in self.status.as_deref().unwrap_or("").split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            match Status::parse(part) {
                Some(s) if !statuses.contains(&s) => statuses.push(s),
                Some(_) => {}
                None => c.fail(
                    "status",
                    "must be draft, scheduled, in_progress, completed or cancelled (or a comma-separated list of them)",
                ),
            }
        }
        let mut id = |field: &str, v: Option<String>| {
            let v = v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())?;
            match parse_id(&v) {
                Some(u) => Some(u.to_string()),
                None => {
                    c.fail(field, "must be an id");
                    None
                }
            }
        };
        let customer_id = id("customer_id", self.customer_id);
        let assigned_employee_id = id("assigned_employee_id", self.assigned_employee_id);
        let blank = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let from = c.date_opt("from", blank(self.from).as_deref());
        let to = c.date_opt("to", blank(self.to).as_deref());
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            c.fail("to", "must not be before from");
        }
        let q = blank(self.q).map(|q| q.trim().to_string());
        if q.as_deref().is_some_and(|q| q.chars().count() > 200) {
            c.fail("q", "must be at most 200 characters");
        }
        c.finish()?;
        let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
        Ok(WorkOrderFilter {
            statuses,
            customer_id,
            assigned_employee_id,
            technician_user_id: None,
            from: from.map(day),
            to: to.map(day),
            q,
        })
    }
}

/// `GET /work-orders`: newest first; technicians see only their own.
#[utoipa::path(
    get,
    path = "/api/v1/work-orders",
    tag = "work-orders",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of work orders", body = Paginated<WorkOrder>),
        doc::BadRequest,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list(
    state: web::Data<AppState>,
    who: Authed<AnyRole>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, HttpError> {
    let q = q.into_inner();
    let page = Page::parse(&PageQuery {
        page: q.page.clone(),
        limit: q.limit.clone(),
    })?;
    let mut filter = q.filter()?;
    filter.technician_user_id = technician(&who);
    // The page depends only on the filter (with the caller's scope), the
    // page and the database: not on the time or anything else of the caller.
    let key = format!("{filter:?} {} {}", page.limit, page.offset());
    // Written straight from the rows (the same bytes as
    // `Paginated::new(repo::list(..))` would serialise to): this is the
    // busiest read of the API, and served from the cache while no write
    // has been committed since the same page was read.
    let body = state
        .db
        .read_cached(
            &state.caches.work_order_pages,
            key,
            |b| b.len(),
            move |c| {
                let mut out = Vec::with_capacity(64 * 1024);
                out.extend_from_slice(JSON_BODY_START);
                let total =
                    repo::list_json(c, &filter, page.limit.into(), page.offset(), &mut out)?;
                finish_json_body(&mut out, page, total);
                Ok(actix_web::web::Bytes::from(out))
            },
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(ContentType::json())
        .body(body))
}

/// `POST /work-orders`: a new draft.
#[utoipa::path(
    post,
    path = "/api/v1/work-orders",
    tag = "work-orders",
    request_body = WorkOrderInput,
    responses(
        (status = 201, description = "The new draft with the local job analysis; `Location` names it", body = CreatedWorkOrder),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
#[tracing::instrument(skip_all)]
async fn create(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    ValidJson(input): ValidJson<WorkOrderInput>,
) -> Result<HttpResponse, HttpError> {
    let fields = WorkOrderFields::create(input)?;
    let analysis = analyze_new(&state, &fields).await?;
    let new = NewWorkOrder {
        fields,
        estimated_cost: Some(analysis.estimated_cost),
        estimated_minutes: Some(analysis.estimated_duration),
        ..NewWorkOrder::default()
    };
    let now = state.clock.now();
    let id = new_id(now).to_string();
    let actor = who.actor();
    let wo = state
        .db
        .write(move |c| repo::insert(c, &actor, now, &id, &new))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/work-orders/{}", wo.id)))
        .json(CreatedWorkOrder {
            work_order: wo,
            estimated_duration: analysis.estimated_duration,
            recommended_employee: analysis.recommended_employee.clone(),
            analysis,
        }))
}

/// The local job analysis (DESIGN §4) for a work order about to be created
/// with `fields`. Read-only, so it runs on a read connection before the
/// write rather than inside the group commit. Fails only on database errors.
pub(crate) async fn analyze_new(
    state: &AppState,
    fields: &WorkOrderFields,
) -> Result<crate::db::analytics::Analysis, HttpError> {
    let analysis_input = crate::db::analytics::AnalysisInput {
        service_type: fields.service_type.clone(),
        priority: fields.priority.as_str().to_string(),
        exclude_work_order_id: None,
    };
    let business = state.config().business;
    let today = state.today();
    let cache = state.db.analysis_cache();
    Ok(state
        .db
        .read(move |c| {
            crate::db::analytics::analyze_cached(c, &cache, &analysis_input, &business, today)
        })
        .await?)
}

/// `POST /work-orders` answer: the new draft plus the local analysis
/// (`estimatedCost` is also stored on the work order; `estimatedDuration` is
/// in hours; `recommendedEmployee` says who and why).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatedWorkOrder {
    #[serde(flatten)]
    work_order: crate::domain::work_order::WorkOrder,
    /// Estimated duration in hours (also stored as `estimatedDurationHours`).
    estimated_duration: crate::domain::money::Minutes,
    /// Who the analysis recommends; `null` when no employee is active.
    recommended_employee: Option<crate::db::analytics::Recommended>,
    /// The whole analysis, with what it is based on.
    analysis: crate::db::analytics::Analysis,
}

/// `GET /work-orders/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/work-orders/{id}",
    tag = "work-orders",
    params(IdPath),
    responses(
        (status = 200, description = "The work order", body = WorkOrder),
        doc::Forbidden,
        doc::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get(
    state: web::Data<AppState>,
    who: Authed<AnyRole>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let wo = state
        .db
        .read(move |c| repo::get(c, &id)?.ok_or(DbError::NotFound))
        .await?;
    if let Some(user) = technician(&who)
        && !wo.is_assigned_to_user(&user)
    {
        return Err(not_yours());
    }
    Ok(HttpResponse::Ok().json(wo))
}

/// `PATCH /work-orders/{id}`: what the status allows.
#[utoipa::path(
    patch,
    path = "/api/v1/work-orders/{id}",
    tag = "work-orders",
    params(IdPath),
    request_body = WorkOrderInput,
    responses(
        (status = 200, description = "The updated work order", body = WorkOrder),
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
    ValidJson(input): ValidJson<WorkOrderInput>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let now = state.clock.now();
    let actor = who.actor();
    let wo = state
        .db
        .write(move |c| repo::update(c, &actor, now, &id, input))
        .await?;
    Ok(HttpResponse::Ok().json(wo))
}

/// `POST /work-orders/{id}/schedule`.
#[utoipa::path(
    post,
    path = "/api/v1/work-orders/{id}/schedule",
    tag = "work-orders",
    params(IdPath),
    request_body = ScheduleInput,
    responses(
        (status = 200, description = "The scheduled work order", body = WorkOrder),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn schedule(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
    ValidJson(input): ValidJson<ScheduleInput>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let booking = input.validate()?;
    let default_minutes = Minutes(state.config().business.default_job_minutes.max(1));
    let now = state.clock.now();
    let actor = who.actor();
    let wo = state
        .db
        .write(move |c| repo::schedule(c, &actor, now, &id, &booking, default_minutes))
        .await?;
    Ok(HttpResponse::Ok().json(wo))
}

/// Runs `act` in a write, first checking (in the same write) that a
/// technician caller (`tech` = their user id) is the assigned one. Fails
/// with a 403 when they are not, or with `act`'s error.
pub(crate) async fn act_as<T, F>(
    state: &AppState,
    tech: Option<String>,
    id: String,
    act: F,
) -> Result<T, HttpError>
where
    T: Send + 'static,
    F: FnOnce(&rusqlite::Connection, &str) -> Result<T, DbError> + Send + 'static,
{
    let out = state
        .db
        .write(move |c| {
            if let Some(user) = &tech {
                let wo = repo::get(c, &id)?.ok_or(DbError::NotFound)?;
                if !wo.is_assigned_to_user(user) {
                    return Ok(None);
                }
            }
            act(c, &id).map(Some)
        })
        .await?;
    out.ok_or_else(not_yours)
}

/// `POST /work-orders/{id}/start` (staff or the assigned technician).
#[utoipa::path(
    post,
    path = "/api/v1/work-orders/{id}/start",
    tag = "work-orders",
    params(IdPath),
    request_body(content = Option<StartInput>, description = "Optional; may be left out"),
    responses(
        (status = 200, description = "The started work order", body = WorkOrder),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn start(
    state: web::Data<AppState>,
    who: Authed<AnyRole>,
    id: web::Path<String>,
    OptionalJson(_): OptionalJson<StartInput>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let now = state.clock.now();
    let actor = who.actor();
    let wo = act_as(&state, technician(&who), id, move |c, id| {
        repo::start(c, &actor, now, id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(wo))
}

/// Response of `POST /work-orders/{id}/complete`: the work order and its new invoice.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Completed {
    #[serde(flatten)]
    work_order: WorkOrder,
    /// The invoice the completion created.
    invoice: InvoiceSummary,
}

/// The billing rules of the configuration for a completion at `now`.
pub(crate) fn billing(
    config: &crate::config::Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Billing {
    Billing {
        tax_rate_bps: config.business.tax_rate_bps,
        today: now.with_timezone(&config.timezone()).date_naive(),
        invoice_due_days: config.business.invoice_due_days,
        follow_up_days: config.business.follow_up_days,
    }
}

/// `POST /work-orders/{id}/complete` (staff or the assigned technician).
#[utoipa::path(
    post,
    path = "/api/v1/work-orders/{id}/complete",
    tag = "work-orders",
    params(IdPath),
    request_body = CompleteInput,
    responses(
        (status = 200, description = "The completed work order and its invoice", body = Completed),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn complete(
    state: web::Data<AppState>,
    who: Authed<AnyRole>,
    id: web::Path<String>,
    ValidJson(input): ValidJson<CompleteInput>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let done = input.validate()?;
    let now = state.clock.now();
    let billing = billing(&state.config(), now);
    let actor = who.actor();
    let (work_order, invoice) = act_as(&state, technician(&who), id, move |c, id| {
        repo::complete(c, &actor, now, id, &done, &billing)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Completed {
        work_order,
        invoice,
    }))
}

/// `POST /work-orders/{id}/cancel` (staff), with an optional `reason`.
#[utoipa::path(
    post,
    path = "/api/v1/work-orders/{id}/cancel",
    tag = "work-orders",
    params(IdPath),
    request_body(content = Option<CancelInput>, description = "Optional; may be left out"),
    responses(
        (status = 200, description = "The cancelled work order", body = WorkOrder),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn cancel(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
    OptionalJson(input): OptionalJson<CancelInput>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let reason = input.validate()?;
    let now = state.clock.now();
    let actor = who.actor();
    let wo = state
        .db
        .write(move |c| repo::cancel(c, &actor, now, &id, reason.as_deref()))
        .await?;
    Ok(HttpResponse::Ok().json(wo))
}
