//! Invoice pages: `/invoices` (status tabs incl. overdue, per customer,
//! CSV) and `/invoices/{id}` — a print-ready invoice (lines, tax, totals,
//! payments and the balance) with the office's actions: record a payment,
//! mark sent, void (with a reason). Money is integer cents throughout;
//! typed amounts are parsed with [`Money::parse_decimal`].

use super::{
    EXPORT_LIMIT, Refusal, joined, money_field, page_query, pager, parse_page, refusal, wants_csv,
};
use crate::db::DbError;
use crate::db::invoices::{self as repo, InvoiceFilter};
use crate::domain::billing::{
    Invoice, InvoiceStatus, Payment, PaymentFields, PaymentInput, PaymentMethod, VoidInput,
};
use crate::domain::customer::Customer;
use crate::domain::ids::{new_id, parse_id};
use crate::domain::money::Money;
use crate::domain::{DomainError, FieldErrors};
use crate::http::auth::Staff;
use crate::http::path_id;
use crate::http::state::AppState;
use crate::http::ui::{Form, UiError, UiUser, csv, flash_redirect, render_status};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::{Deserialize, Serialize};

/// Registers the invoice pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/invoices", web::get().to(list))
        .route("/invoices/{id}", web::get().to(detail))
        .route("/invoices/{id}/payments", web::post().to(pay))
        .route("/invoices/{id}/payments.csv", web::get().to(payments_csv))
        .route("/invoices/{id}/send", web::post().to(send))
        .route("/invoices/{id}/void", web::post().to(void));
}

/// The list's tabs: key, label.
const TABS: [(&str, &str); 6] = [
    ("all", "All"),
    ("draft", "Draft"),
    ("sent", "Sent"),
    ("overdue", "Overdue"),
    ("paid", "Paid"),
    ("void", "Void"),
];

/// Payment methods: value, label.
const METHODS: [(&str, &str); 5] = [
    ("card", "Card"),
    ("cash", "Cash"),
    ("check", "Check"),
    ("bank_transfer", "Bank transfer"),
    ("other", "Other"),
];

/// Query of `/invoices`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    customer_id: Option<String>,
    page: Option<String>,
    limit: Option<String>,
    format: Option<String>,
}

async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
) -> Result<HttpResponse, UiError> {
    let q: ListQuery = page_query(&req)?;
    let csv_out = wants_csv(q.format.as_deref())?;
    let page = parse_page(q.page, q.limit)?;
    let key = super::blank(q.status).unwrap_or_else(|| "all".into());
    let today = state.today().format("%Y-%m-%d").to_string();
    let (status, overdue_on) = match key.as_str() {
        "all" => (None, None),
        "overdue" => (None, Some(today.clone())),
        s => match InvoiceStatus::parse(s) {
            Some(st) => (Some(st), None),
            None => {
                return Err(DomainError::field(
                    "status",
                    "must be one of all, draft, sent, overdue, paid, void",
                )
                .into());
            }
        },
    };
    let customer_id = match super::blank(q.customer_id) {
        None => None,
        Some(raw) => Some(
            parse_id(&raw)
                .map(|u| u.to_string())
                .ok_or_else(|| DomainError::field("customer_id", "must be an id"))?,
        ),
    };
    let filter = InvoiceFilter {
        status,
        customer_id: customer_id.clone(),
        from: None,
        to: None,
        overdue_on,
    };
    let (limit, offset) = if csv_out {
        (EXPORT_LIMIT, 0)
    } else {
        (page.limit.into(), page.offset())
    };
    let cust = customer_id.clone();
    let ((rows, total), customer) = state
        .db
        .read(move |c| {
            let customer = match &cust {
                Some(id) => crate::db::customers::get(c, id)?.map(|x| x.fields.name),
                None => None,
            };
            Ok((repo::list(c, &filter, limit, offset)?, customer))
        })
        .await?;
    if csv_out {
        return csv(
            "invoices.csv",
            &[
                "number",
                "customer",
                "work order",
                "issued",
                "due",
                "status",
                "subtotal",
                "tax",
                "total",
                "paid",
                "balance",
                "id",
            ],
            rows.into_iter().map(|i| {
                vec![
                    i.invoice_number,
                    i.customer_name,
                    i.work_order_number.unwrap_or_default(),
                    i.issued_date,
                    i.due_date,
                    i.status.as_str().into(),
                    i.subtotal.to_decimal(),
                    i.tax.to_decimal(),
                    i.total.to_decimal(),
                    i.paid.to_decimal(),
                    i.balance.to_decimal(),
                    i.id,
                ]
            }),
        );
    }
    let tabs: Vec<(String, String, String)> = TABS
        .iter()
        .map(|(k, label)| {
            let mut pairs: Vec<(&str, String)> = Vec::new();
            if *k != "all" {
                pairs.push(("status", k.to_string()));
            }
            if let Some(c) = &customer_id {
                pairs.push(("customer_id", c.clone()));
            }
            let qs = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            let href = if qs.is_empty() {
                "/invoices".to_string()
            } else {
                format!("/invoices?{qs}")
            };
            (k.to_string(), label.to_string(), href)
        })
        .collect();
    let rows: Vec<InvoiceRow> = rows
        .into_iter()
        .map(|i| InvoiceRow {
            overdue: is_overdue(&i, &today),
            i,
        })
        .collect();
    let pager = pager(&req, page, total);
    render_status(
        &state,
        &req,
        Some(&who.user),
        &who.csrf,
        StatusCode::OK,
        "office_invoices.html",
        context! { rows, pager, tabs, current => key, customer, customer_id },
    )
}

/// Whether a sent invoice with a balance is past its due date.
fn is_overdue(i: &Invoice, today: &str) -> bool {
    i.status == InvoiceStatus::Sent && i.balance.cents() > 0 && i.due_date.as_str() < today
}

/// An invoice row of the list.
#[derive(Serialize)]
struct InvoiceRow {
    #[serde(flatten)]
    i: Invoice,
    overdue: bool,
}

/// An invoice line as the page shows it.
#[derive(Serialize)]
struct LineView {
    kind: String,
    description: String,
    quantity: String,
    unit_price: Money,
    amount: Money,
}

/// The payment form's values.
#[derive(Debug, Default, Deserialize, Serialize)]
struct PaymentForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    method: String,
    #[serde(default, rename = "receivedDate")]
    received_date: String,
    #[serde(default)]
    reference: String,
}

/// The void form's values.
#[derive(Debug, Default, Deserialize, Serialize)]
struct VoidForm {
    #[serde(default)]
    reason: String,
}

/// A refused form on the invoice page: which one, its values and why.
enum Refused {
    None,
    Payment(PaymentForm, Refusal),
    Void(VoidForm, Refusal),
    Other(Refusal),
}

/// Query of `/invoices/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailQuery {
    format: Option<String>,
}

async fn load(
    state: &AppState,
    raw_id: &str,
) -> Result<(Invoice, Vec<Payment>, Option<Customer>), UiError> {
    let id = path_id(raw_id)?;
    Ok(state
        .db
        .read(move |c| {
            let inv = repo::get(c, &id)?.ok_or(DbError::NotFound)?;
            let payments = repo::payments(c, &id)?;
            let customer = crate::db::customers::get(c, &inv.customer_id)?;
            Ok((inv, payments, customer))
        })
        .await?)
}

async fn detail(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let q: DetailQuery = page_query(&req)?;
    if wants_csv(q.format.as_deref())? {
        let (inv, _, _) = load(&state, &id).await?;
        return csv(
            &format!("{}.csv", inv.invoice_number),
            &["kind", "description", "quantity", "unit price", "amount"],
            inv.lines.into_iter().map(|l| {
                vec![
                    l.kind,
                    l.description,
                    l.quantity.to_decimal(),
                    l.unit_price.to_decimal(),
                    l.amount.to_decimal(),
                ]
            }),
        );
    }
    detail_page(&state, &req, &who, &id, StatusCode::OK, Refused::None).await
}

async fn detail_page(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<Staff>,
    raw_id: &str,
    status: StatusCode,
    refused: Refused,
) -> Result<HttpResponse, UiError> {
    let (inv, payments, customer) = load(state, raw_id).await?;
    let today = state.today().format("%Y-%m-%d").to_string();
    let open = matches!(inv.status, InvoiceStatus::Draft | InvoiceStatus::Sent);
    let can_pay = open && inv.balance.cents() > 0;
    let can_send = inv.status == InvoiceStatus::Draft;
    let can_void = open && inv.paid.cents() == 0;
    let overdue = is_overdue(&inv, &today);
    let tax_pct = format!(
        "{}%",
        Money::from_cents(inv.tax_rate_bps)
            .to_decimal()
            .trim_end_matches('0')
            .trim_end_matches('.')
    );
    let default_pay = PaymentForm {
        amount: inv.balance.to_decimal(),
        method: "card".into(),
        received_date: today.clone(),
        reference: String::new(),
    };
    let (pay, pay_refusal, void_form, void_refusal, other) = match refused {
        Refused::None => (default_pay, None, VoidForm::default(), None, None),
        Refused::Payment(f, r) => (f, Some(r), VoidForm::default(), None, None),
        Refused::Void(f, r) => (default_pay, None, f, Some(r), None),
        Refused::Other(r) => (default_pay, None, VoidForm::default(), None, Some(r)),
    };
    let pay_errors = pay_refusal
        .as_ref()
        .map(Refusal::fields)
        .unwrap_or_default();
    let pay_alert = pay_refusal.as_ref().and_then(Refusal::alert);
    let void_errors = void_refusal
        .as_ref()
        .map(Refusal::fields)
        .unwrap_or_default();
    let void_alert = void_refusal.as_ref().and_then(Refusal::alert);
    let alert = other.as_ref().and_then(Refusal::alert);
    let address = customer
        .as_ref()
        .and_then(|c| c.fields.addresses.first().cloned());
    let lines: Vec<LineView> = inv
        .lines
        .iter()
        .map(|l| LineView {
            kind: l.kind.clone(),
            description: l.description.clone(),
            quantity: l.quantity.to_decimal(),
            unit_price: l.unit_price,
            amount: l.amount,
        })
        .collect();
    render_status(
        state,
        req,
        Some(&who.user),
        &who.csrf,
        status,
        "office_invoice.html",
        context! {
            inv, lines, payments, customer, address, tax_pct, overdue,
            can_pay, can_send, can_void, methods => METHODS,
            pay, pay_errors, pay_alert, void_form, void_errors, void_alert, alert,
        },
    )
}

async fn pay(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(form): Form<PaymentForm>,
) -> Result<HttpResponse, UiError> {
    let invoice_id = path_id(&id)?;
    let mut pre = FieldErrors::new();
    let amount = money_field(&mut pre, "amount", Some(&form.amount));
    if amount.is_none() && !pre.contains_key("amount") {
        pre.insert("amount".into(), "is required".into());
    }
    let method = PaymentMethod::parse(form.method.trim());
    if method.is_none() {
        pre.insert(
            "method".into(),
            "must be one of card, cash, check, bank_transfer, other".into(),
        );
    }
    let date = form.received_date.trim();
    let input = PaymentInput {
        // Placeholders while the amount or method is unreadable, so the
        // other fields are still checked; `pre` keeps the form refused.
        amount: amount.unwrap_or(Money::from_cents(1)),
        method: method.unwrap_or(PaymentMethod::Other),
        received_date: (!date.is_empty()).then(|| date.to_string()),
        reference: Some(form.reference.clone()),
    };
    let fields = match joined(pre, PaymentFields::parse(input, state.today())) {
        Ok(f) => f,
        Err(r) => {
            return detail_page(
                &state,
                &req,
                &who,
                &invoice_id,
                r.status(),
                Refused::Payment(form, r),
            )
            .await;
        }
    };
    let now = state.clock.now();
    let payment_id = new_id(now).to_string();
    let actor = who.actor();
    let target = invoice_id.clone();
    match state
        .db
        .write(move |c| repo::record_payment(c, &actor, &target, &payment_id, fields, now))
        .await
    {
        Ok((payment, inv)) => Ok(flash_redirect(
            &format!("/invoices/{}", inv.id),
            &format!(
                "Payment of {} recorded. Balance now {}.",
                crate::http::templates::money(payment.amount.cents()),
                crate::http::templates::money(inv.balance.cents())
            ),
        )),
        Err(e) => {
            let r = refusal(e)?;
            detail_page(
                &state,
                &req,
                &who,
                &invoice_id,
                r.status(),
                Refused::Payment(form, r),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn send(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(_): Form<Empty>,
) -> Result<HttpResponse, UiError> {
    let invoice_id = path_id(&id)?;
    let now = state.clock.now();
    let actor = who.actor();
    let target = invoice_id.clone();
    match state
        .db
        .write(move |c| repo::send(c, &actor, &target, now))
        .await
    {
        Ok(inv) => Ok(flash_redirect(
            &format!("/invoices/{}", inv.id),
            &format!("{} marked as sent.", inv.invoice_number),
        )),
        Err(e) => {
            let r = refusal(e)?;
            detail_page(
                &state,
                &req,
                &who,
                &invoice_id,
                r.status(),
                Refused::Other(r),
            )
            .await
        }
    }
}

async fn void(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(form): Form<VoidForm>,
) -> Result<HttpResponse, UiError> {
    let invoice_id = path_id(&id)?;
    let reason = match (VoidInput {
        reason: Some(form.reason.clone()),
    })
    .reason()
    {
        Ok(r) => r,
        Err(e) => {
            let r = super::domain_refusal(e);
            return detail_page(
                &state,
                &req,
                &who,
                &invoice_id,
                r.status(),
                Refused::Void(form, r),
            )
            .await;
        }
    };
    let now = state.clock.now();
    let actor = who.actor();
    let target = invoice_id.clone();
    match state
        .db
        .write(move |c| repo::void(c, &actor, &target, &reason, now))
        .await
    {
        Ok(inv) => Ok(flash_redirect(
            &format!("/invoices/{}", inv.id),
            &format!("{} is void.", inv.invoice_number),
        )),
        Err(e) => {
            let r = refusal(e)?;
            detail_page(
                &state,
                &req,
                &who,
                &invoice_id,
                r.status(),
                Refused::Void(form, r),
            )
            .await
        }
    }
}

async fn payments_csv(
    state: web::Data<AppState>,
    _who: UiUser<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let (inv, payments, _) = load(&state, &id).await?;
    csv(
        &format!("{}-payments.csv", inv.invoice_number),
        &["received", "amount", "method", "reference", "id"],
        payments.into_iter().map(|p| {
            vec![
                p.received_date,
                p.amount.to_decimal(),
                p.method.as_str().into(),
                p.reference,
                p.id,
            ]
        }),
    )
}
