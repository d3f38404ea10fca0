//! `/api/v1/analytics/*` and `/api/v1/work-orders/{id}/analysis` — owner and
//! office staff only. Everything is computed locally from the business's own
//! records; dates are business-local (`[business] timezone`). The metrics are
//! defined in `docs/analytics.md`.

use super::api::resource;
use crate::db::DbError;
use crate::db::analytics as repo;
use crate::domain::analytics::{
    DEFAULT_RANGE_DAYS, DateRange, PERFORMANCE_RANGE_DAYS, Recommendation,
};
use crate::http::auth::{Authed, Staff};
use crate::http::error::HttpError;
use crate::http::openapi::{self as doc, IdPath};
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::http::path_id;
use crate::http::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Registers the analytics routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/work-orders/{id}/analysis", "GET").route(web::get().to(analysis)))
        .service(resource("/analytics/dashboard", "GET").route(web::get().to(dashboard)))
        .service(resource("/analytics/customers", "GET").route(web::get().to(customers)))
        .service(resource("/analytics/equipment", "GET").route(web::get().to(equipment)))
        .service(resource("/analytics/employees", "GET").route(web::get().to(employees)))
        .service(
            resource("/analytics/recommendations", "GET").route(web::get().to(recommendations)),
        );
}

/// The business time zone and today's date in it.
fn local_today(state: &AppState) -> (chrono_tz::Tz, NaiveDate) {
    let tz = state.config().timezone();
    (tz, state.clock.now().with_timezone(&tz).date_naive())
}

/// `GET /work-orders/{id}/analysis`: estimated cost and duration and the
/// recommended technician for the work order's service type and priority.
/// 404 for an unknown id.
#[utoipa::path(
    get,
    path = "/api/v1/work-orders/{id}/analysis",
    tag = "analytics",
    params(IdPath),
    responses(
        (status = 200, description = "The local job analysis", body = crate::domain::analytics::Analysis),
        doc::Forbidden,
        doc::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn analysis(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let (_, today) = local_today(&state);
    let business = state.config().business;
    let cache = state.db.analysis_cache();
    let a = state
        .db
        .read(move |c| {
            let input = repo::work_order_input(c, &id)?.ok_or(DbError::NotFound)?;
            repo::analyze_cached(c, &cache, &input, &business, today)
        })
        .await?;
    Ok(HttpResponse::Ok().json(a))
}

/// Query of `GET /analytics/dashboard`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// First day, `YYYY-MM-DD` (default: 29 days before `to`).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: today).
    pub to: Option<String>,
}

/// `GET /analytics/dashboard?from=&to=`: totals, margin, efficiency and chart
/// series. 400 for a malformed date, `from` after `to`, or more than 5 years.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/dashboard",
    tag = "analytics",
    params(RangeQuery),
    responses(
        (status = 200, description = "Totals and chart series for the range", body = crate::db::analytics::Dashboard),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
#[tracing::instrument(skip_all)]
async fn dashboard(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    q: web::Query<RangeQuery>,
) -> Result<HttpResponse, HttpError> {
    let (tz, today) = local_today(&state);
    let range = DateRange::parse(
        q.from.as_deref(),
        q.to.as_deref(),
        today,
        DEFAULT_RANGE_DAYS,
    )?;
    let d = state
        .db
        .read(move |c| repo::dashboard(c, &range, tz))
        .await?;
    Ok(HttpResponse::Ok().json(d))
}

/// `GET /analytics/customers?page=&limit=`: customers by lifetime value.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/customers",
    tag = "analytics",
    params(PageQueryStrict),
    responses(
        (status = 200, description = "Customers by lifetime value", body = Paginated<crate::db::analytics::CustomerAnalytics>),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
#[tracing::instrument(skip_all)]
async fn customers(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    q: web::Query<PageQueryStrict>,
) -> Result<HttpResponse, HttpError> {
    let q = q.into_inner();
    let page = Page::parse(&PageQuery {
        page: q.page,
        limit: q.limit,
    })?;
    let (tz, today) = local_today(&state);
    let (rows, total) = state
        .db
        .read(move |c| repo::customers(c, today, tz, page.limit.into(), page.offset()))
        .await?;
    Ok(HttpResponse::Ok().json(Paginated::new(rows, page, total)))
}

/// `?page=&limit=` with nothing else allowed.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQueryStrict {
    /// Page number (1..=1000000, default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Page size (1..=100, default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// Query of the ranged lists (`equipment`, `employees`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangePageQuery {
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: today).
    pub to: Option<String>,
    /// Page number (1..=1000000, default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Page size (1..=100, default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// A page of a ranged list, with the range it covers.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RangedPage<T: Serialize> {
    #[serde(flatten)]
    page: Paginated<T>,
    /// First day of the range (business time zone).
    from: NaiveDate,
    /// Last day of the range (inclusive).
    to: NaiveDate,
}

fn ranged_page<T: Serialize>(rows: Vec<T>, page: Page, range: DateRange) -> RangedPage<T> {
    let total = rows.len() as i64;
    let data: Vec<T> = rows
        .into_iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(page.limit as usize)
        .collect();
    RangedPage {
        page: Paginated::new(data, page, total),
        from: range.from,
        to: range.to,
    }
}

fn parse_ranged(
    q: RangePageQuery,
    today: NaiveDate,
    days: i64,
) -> Result<(Page, DateRange), HttpError> {
    let page = Page::parse(&PageQuery {
        page: q.page,
        limit: q.limit,
    })?;
    let range = DateRange::parse(q.from.as_deref(), q.to.as_deref(), today, days)?;
    Ok((page, range))
}

/// `GET /analytics/equipment?from=&to=`: utilization per piece of equipment
/// (default: the last 30 days), highest first.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/equipment",
    tag = "analytics",
    params(RangePageQuery),
    responses(
        (status = 200, description = "Utilization per piece of equipment, highest first", body = RangedPage<crate::db::analytics::EquipmentAnalytics>),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
#[tracing::instrument(skip_all)]
async fn equipment(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    q: web::Query<RangePageQuery>,
) -> Result<HttpResponse, HttpError> {
    let (tz, today) = local_today(&state);
    let (page, range) = parse_ranged(q.into_inner(), today, DEFAULT_RANGE_DAYS)?;
    let rows = state
        .db
        .read(move |c| repo::equipment(c, &range, tz, true))
        .await?;
    Ok(HttpResponse::Ok().json(ranged_page(rows, page, range)))
}

/// `GET /analytics/employees?from=&to=`: performance per employee (default:
/// the last 90 days), best first.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/employees",
    tag = "analytics",
    params(RangePageQuery),
    responses(
        (status = 200, description = "Performance per employee, best first", body = RangedPage<crate::db::analytics::EmployeeAnalytics>),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
#[tracing::instrument(skip_all)]
async fn employees(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    q: web::Query<RangePageQuery>,
) -> Result<HttpResponse, HttpError> {
    let (tz, today) = local_today(&state);
    let (page, range) = parse_ranged(q.into_inner(), today, PERFORMANCE_RANGE_DAYS)?;
    let rows = state
        .db
        .read(move |c| repo::employees(c, &range, today, tz, false))
        .await?;
    Ok(HttpResponse::Ok().json(ranged_page(rows, page, range)))
}

/// Answer of `GET /analytics/recommendations`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Recommendations {
    /// The business-local day they were computed for.
    date: NaiveDate,
    /// Every rule that fires, most severe first; never empty.
    data: Vec<Recommendation>,
}

/// `GET /analytics/recommendations`: every rule that fires today, most severe
/// first; never empty.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/recommendations",
    tag = "analytics",
    responses(
        (status = 200, description = "Today's recommendations", body = Recommendations),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
#[tracing::instrument(skip_all)]
async fn recommendations(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    q: web::Query<NoQuery>,
) -> Result<HttpResponse, HttpError> {
    let _ = q;
    let (tz, today) = local_today(&state);
    let data = state
        .db
        .read(move |c| repo::recommendations(c, today, tz))
        .await?;
    Ok(HttpResponse::Ok().json(Recommendations { date: today, data }))
}

/// A query string that must be empty.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoQuery {}
