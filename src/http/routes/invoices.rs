//! `/api/v1/invoices` and their payments — owner and office staff only.
//! Invoices are created by completing a work order; here they are listed,
//! read, sent, voided and paid.

use super::api::resource;
use crate::db::DbError;
use crate::db::invoices::{self as repo, InvoiceFilter};
use crate::domain::billing::{
    Invoice, InvoiceStatus, Payment, PaymentFields, PaymentInput, VoidInput,
};
use crate::domain::ids::{new_id, parse_id};
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
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Registers the invoice routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/invoices", "GET").route(web::get().to(list)))
        .service(resource("/invoices/{id}", "GET").route(web::get().to(get)))
        .service(resource("/invoices/{id}/send", "POST").route(web::post().to(send)))
        .service(resource("/invoices/{id}/void", "POST").route(web::post().to(void)))
        .service(
            resource("/invoices/{id}/payments", "GET, POST")
                .route(web::get().to(list_payments))
                .route(web::post().to(pay)),
        );
}

/// Validates an optional id filter (`customer_id`). Records a field error
/// when it is not a UUID.
pub(crate) fn id_param(c: &mut Check, field: &str, v: Option<&str>) -> Option<String> {
    let v = v.map(str::trim).filter(|s| !s.is_empty())?;
    match parse_id(v) {
        Some(u) => Some(u.to_string()),
        None => {
            c.fail(field, "must be an id");
            None
        }
    }
}

/// Validates a `from`/`to` date range (inclusive). Records field errors for
/// bad dates and for `to` before `from`.
pub(crate) fn date_range(
    c: &mut Check,
    from: Option<&str>,
    to: Option<&str>,
) -> (Option<String>, Option<String>) {
    let from = c.date_opt("from", from);
    let to = c.date_opt("to", to);
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        c.fail("to", "must not be before from");
    }
    let fmt = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    (from.map(fmt), to.map(fmt))
}

/// Query of `GET /invoices`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `draft`, `sent`, `paid` or `void`.
    #[param(inline)]
    pub status: Option<InvoiceStatus>,
    /// Only this customer's invoices.
    pub customer_id: Option<String>,
    /// Issued on or after (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Issued on or before (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// `true`: only sent invoices with a balance past their due date.
    #[param(value_type = Option<bool>)]
    pub overdue: Option<Flag>,
    /// Page number (1..=1000000, default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Page size (1..=100, default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// Lists invoices, newest first, filtered.
#[utoipa::path(
    get,
    path = "/api/v1/invoices",
    tag = "invoices",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of invoices", body = Paginated<Invoice>),
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
    let filter = InvoiceFilter {
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

/// An invoice with its payments.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InvoiceDetail {
    #[serde(flatten)]
    invoice: Invoice,
    /// Its payments, oldest first.
    payments: Vec<Payment>,
}

/// An invoice with its payments.
#[utoipa::path(
    get,
    path = "/api/v1/invoices/{id}",
    tag = "invoices",
    params(IdPath),
    responses(
        (status = 200, description = "The invoice", body = InvoiceDetail),
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
    let detail = state
        .db
        .read(move |c| {
            let invoice = repo::get(c, &id)?.ok_or(DbError::NotFound)?;
            let payments = repo::payments(c, &id)?;
            Ok(InvoiceDetail { invoice, payments })
        })
        .await?;
    Ok(HttpResponse::Ok().json(detail))
}

/// Marks a draft invoice as sent; 409 unless it is a draft.
#[utoipa::path(
    post,
    path = "/api/v1/invoices/{id}/send",
    tag = "invoices",
    params(IdPath),
    responses(
        (status = 200, description = "The sent invoice", body = Invoice),
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn send(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let now = state.clock.now();
    let actor = who.actor();
    let inv = state
        .db
        .write(move |c| repo::send(c, &actor, &id, now))
        .await?;
    Ok(HttpResponse::Ok().json(inv))
}

/// Voids an invoice without payments (`reason` is required); 409 otherwise.
#[utoipa::path(
    post,
    path = "/api/v1/invoices/{id}/void",
    tag = "invoices",
    params(IdPath),
    request_body = VoidInput,
    responses(
        (status = 200, description = "The void invoice", body = Invoice),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn void(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
    ValidJson(input): ValidJson<VoidInput>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let reason = input.reason()?;
    let now = state.clock.now();
    let actor = who.actor();
    let inv = state
        .db
        .write(move |c| repo::void(c, &actor, &id, &reason, now))
        .await?;
    Ok(HttpResponse::Ok().json(inv))
}

/// An invoice's payments (all of them, on one page).
#[utoipa::path(
    get,
    path = "/api/v1/invoices/{id}/payments",
    tag = "invoices",
    params(IdPath),
    responses(
        (status = 200, description = "The payments, oldest first", body = Paginated<Payment>),
        doc::Forbidden,
        doc::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_payments(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let rows = state.db.read(move |c| repo::payments(c, &id)).await?;
    let total = rows.len() as i64;
    let limit = u32::try_from(total).unwrap_or(u32::MAX).max(1);
    Ok(HttpResponse::Ok().json(Paginated::new(rows, Page { page: 1, limit }, total)))
}

/// Response of `POST /invoices/{id}/payments`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaymentRecorded {
    /// The new payment.
    payment: Payment,
    /// The invoice after it.
    invoice: Invoice,
}

/// Records a payment (at most the balance); a draft becomes sent, a zero balance paid.
#[utoipa::path(
    post,
    path = "/api/v1/invoices/{id}/payments",
    tag = "invoices",
    params(IdPath),
    request_body = PaymentInput,
    responses(
        (status = 201, description = "Recorded", body = PaymentRecorded),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn pay(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
    ValidJson(input): ValidJson<PaymentInput>,
) -> Result<HttpResponse, HttpError> {
    let invoice_id = path_id(&id)?;
    let fields = PaymentFields::parse(input, state.today())?;
    let now = state.clock.now();
    let payment_id = new_id(now).to_string();
    let actor = who.actor();
    let (payment, invoice) = state
        .db
        .write(move |c| repo::record_payment(c, &actor, &invoice_id, &payment_id, fields, now))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            "Location",
            format!("/api/v1/invoices/{}/payments", invoice.id),
        ))
        .json(PaymentRecorded { payment, invoice }))
}
