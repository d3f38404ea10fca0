//! Customer pages: `/customers` (instant full-text search, CSV),
//! `/customers/new`, `/customers/{id}` (details, addresses, contacts,
//! work-order history, invoices, profitability), `/customers/{id}/edit`,
//! contacts added and removed, and the customer's tables as CSV.

use super::{
    EXPORT_LIMIT, Refusal, joined, page_query, pager, pager_at, parse_page, refusal, search_text,
    split_list, wants_csv,
};
use crate::db::DbError;
use crate::db::customers::{self as repo, CustomerFilter};
use crate::domain::FieldErrors;
use crate::domain::customer::{
    Address, ContactFields, ContactInput, Customer, CustomerFields, CustomerInput, fts_query,
};
use crate::domain::ids::new_id;
use crate::http::auth::Staff;
use crate::http::pagination::Page;
use crate::http::path_id;
use crate::http::state::AppState;
use crate::http::ui::{
    Form, UiError, UiUser, csv, flash_redirect, render, render_status, url_encode,
};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::{Deserialize, Serialize};

/// Registers the customer pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/customers")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .route("/customers/new", web::get().to(new_form))
    .route("/customers/{id}", web::get().to(detail))
    .service(
        web::resource("/customers/{id}/edit")
            .route(web::get().to(edit_form))
            .route(web::post().to(edit)),
    )
    .route("/customers/{id}/delete", web::post().to(delete))
    .route("/customers/{id}/contacts", web::post().to(add_contact))
    .route(
        "/customers/{id}/contacts/{contact_id}/delete",
        web::post().to(delete_contact),
    )
    .route("/customers/{id}/contacts.csv", web::get().to(contacts_csv))
    .route(
        "/customers/{id}/work-orders.csv",
        web::get().to(work_orders_csv),
    );
}

/// Query of `/customers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    q: Option<String>,
    tag: Option<String>,
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
    let mut page = parse_page(q.page, q.limit)?;
    let text = search_text("q", q.q, 200)?;
    let tag = search_text("tag", q.tag, 40)?;
    let fts = text.as_deref().and_then(fts_query);
    let nothing = text.is_some() && fts.is_none();
    let filter = CustomerFilter {
        fts,
        tag: tag.clone(),
    };
    if csv_out {
        page = Page { page: 1, limit: 1 };
    }
    let limit = if csv_out {
        EXPORT_LIMIT
    } else {
        page.limit.into()
    };
    let offset = page.offset();
    let (rows, total) = if nothing {
        (Vec::new(), 0)
    } else {
        state
            .db
            .read(move |c| repo::list(c, &filter, limit, offset))
            .await?
    };
    if csv_out {
        return csv(
            "customers.csv",
            &[
                "id", "name", "company", "email", "phone", "address", "tags", "notes", "created",
            ],
            rows.into_iter().map(|c| {
                let f = c.fields;
                vec![
                    c.id,
                    f.name,
                    f.company,
                    f.email,
                    f.phone,
                    f.addresses
                        .first()
                        .map(Address::one_line)
                        .unwrap_or_default(),
                    f.tags.join(", "),
                    f.notes,
                    c.created_at,
                ]
            }),
        );
    }
    let rows: Vec<_> = rows.into_iter().map(row_view).collect();
    let pager = pager(&req, page, total);
    render(
        &state,
        &req,
        &who,
        "office_customers.html",
        context! { rows, pager, q => text.unwrap_or_default(), tag => tag.unwrap_or_default() },
    )
}

/// A customer row of the list.
#[derive(Serialize)]
struct CustomerRow {
    id: String,
    name: String,
    company: String,
    email: String,
    phone: String,
    address: String,
    tags: Vec<String>,
}

fn row_view(c: Customer) -> CustomerRow {
    CustomerRow {
        address: c
            .fields
            .addresses
            .first()
            .map(Address::one_line)
            .unwrap_or_default(),
        id: c.id,
        name: c.fields.name,
        company: c.fields.company,
        email: c.fields.email,
        phone: c.fields.phone,
        tags: c.fields.tags,
    }
}

/// What the customer form shows: the values typed (or stored).
#[derive(Debug, Default, Serialize)]
struct CustomerForm {
    name: String,
    company: String,
    email: String,
    phone: String,
    notes: String,
    tags: String,
    addresses: Vec<Address>,
}

/// Most address rows read from one form.
const MAX_ADDRESS_ROWS: usize = 30;

impl CustomerForm {
    fn from_customer(f: &CustomerFields) -> Self {
        CustomerForm {
            name: f.name.clone(),
            company: f.company.clone(),
            email: f.email.clone(),
            phone: f.phone.clone(),
            notes: f.notes.clone(),
            tags: f.tags.join(", "),
            addresses: f.addresses.clone(),
        }
        .with_blank_row()
    }

    /// Adds one empty address row to fill in, unless one is there.
    fn with_blank_row(mut self) -> Self {
        if !self.addresses.iter().any(is_blank) && self.addresses.len() < 20 {
            self.addresses.push(Address::default());
        }
        self
    }

    /// Reads the submitted fields. Address rows are
    /// `addresses[i].line1` etc.; rows left entirely blank are dropped.
    /// Returns the form as typed, the input for the domain, and for each
    /// address kept the form row it came from.
    fn read(pairs: Vec<(String, String)>) -> (Self, CustomerInput, Vec<usize>) {
        let mut f = CustomerForm::default();
        let mut rows: Vec<Address> = Vec::new();
        for (k, v) in pairs {
            match k.as_str() {
                "name" => f.name = v,
                "company" => f.company = v,
                "email" => f.email = v,
                "phone" => f.phone = v,
                "notes" => f.notes = v,
                "tags" => f.tags = v,
                _ => {
                    let Some((i, part)) = address_key(&k) else {
                        continue;
                    };
                    if i >= MAX_ADDRESS_ROWS {
                        continue;
                    }
                    if rows.len() <= i {
                        rows.resize(i + 1, Address::default());
                    }
                    let a = &mut rows[i];
                    match part {
                        "label" => a.label = v,
                        "line1" => a.line1 = v,
                        "line2" => a.line2 = v,
                        "city" => a.city = v,
                        "region" => a.region = v,
                        "postalCode" => a.postal_code = v,
                        _ => {}
                    }
                }
            }
        }
        let mut kept = Vec::new();
        let mut from_row = Vec::new();
        for (i, a) in rows.iter().enumerate() {
            if !is_blank(a) {
                kept.push(a.clone());
                from_row.push(i);
            }
        }
        f.addresses = rows;
        let input = CustomerInput {
            name: Some(f.name.clone()),
            company: Some(f.company.clone()),
            email: Some(f.email.clone()),
            phone: Some(f.phone.clone()),
            notes: Some(f.notes.clone()),
            tags: Some(split_list(Some(&f.tags))),
            addresses: Some(kept),
        };
        (f.with_blank_row(), input, from_row)
    }
}

fn is_blank(a: &Address) -> bool {
    [
        &a.label,
        &a.line1,
        &a.line2,
        &a.city,
        &a.region,
        &a.postal_code,
    ]
    .iter()
    .all(|s| s.trim().is_empty())
}

/// `addresses[3].city` → (3, "city").
fn address_key(k: &str) -> Option<(usize, &str)> {
    let rest = k.strip_prefix("addresses[")?;
    let (n, part) = rest.split_once("].")?;
    Some((n.parse().ok()?, part))
}

/// Renames `addresses[j].…` errors (j = position among the kept rows) to
/// the form row they came from.
fn to_form_rows(errors: FieldErrors, from_row: &[usize]) -> FieldErrors {
    errors
        .into_iter()
        .map(|(k, v)| match address_key(&k) {
            Some((j, part)) => match from_row.get(j) {
                Some(i) => (format!("addresses[{i}].{part}"), v),
                None => (k, v),
            },
            None => (k, v),
        })
        .collect()
}

fn render_form(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<Staff>,
    status: StatusCode,
    customer: Option<&Customer>,
    form: CustomerForm,
    refused: Option<Refusal>,
) -> Result<HttpResponse, UiError> {
    let errors = refused.as_ref().map(Refusal::fields).unwrap_or_default();
    let alert = refused.as_ref().and_then(Refusal::alert);
    let customer = customer.map(|c| context! { id => c.id.clone(), name => c.fields.name.clone() });
    render_status(
        state,
        req,
        Some(&who.user),
        &who.csrf,
        status,
        "office_customer_form.html",
        context! { customer, form, errors, alert },
    )
}

async fn new_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
) -> Result<HttpResponse, UiError> {
    let form = CustomerForm::default().with_blank_row();
    render_form(&state, &req, &who, StatusCode::OK, None, form, None)
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<HttpResponse, UiError> {
    let (form, input, from_row) = CustomerForm::read(pairs);
    let fields = match joined(
        FieldErrors::new(),
        CustomerFields::merge(&CustomerFields::default(), input),
    ) {
        Ok(f) => f,
        Err(r) => return refused_form(&state, &req, &who, None, form, r, &from_row),
    };
    let now = state.clock.now();
    let id = new_id(now).to_string();
    let actor = who.actor();
    let saved = state
        .db
        .write(move |c| repo::insert(c, &actor, &id, fields, now))
        .await;
    match saved {
        Ok(c) => Ok(flash_redirect(
            &format!("/customers/{}", c.id),
            &format!("Customer “{}” added.", c.fields.name),
        )),
        Err(e) => {
            let r = refusal(e)?;
            refused_form(&state, &req, &who, None, form, r, &from_row)
        }
    }
}

fn refused_form(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<Staff>,
    customer: Option<&Customer>,
    form: CustomerForm,
    r: Refusal,
    from_row: &[usize],
) -> Result<HttpResponse, UiError> {
    let r = match r {
        Refusal::Fields(f) => Refusal::Fields(to_form_rows(f, from_row)),
        other => other,
    };
    render_form(state, req, who, r.status(), customer, form, Some(r))
}

async fn load(state: &AppState, raw_id: &str) -> Result<Customer, UiError> {
    let id = path_id(raw_id)?;
    Ok(state
        .db
        .read(move |c| repo::get(c, &id)?.ok_or(DbError::NotFound))
        .await?)
}

async fn edit_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let c = load(&state, &id).await?;
    let form = CustomerForm::from_customer(&c.fields);
    render_form(&state, &req, &who, StatusCode::OK, Some(&c), form, None)
}

async fn edit(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<HttpResponse, UiError> {
    let current = load(&state, &id).await?;
    let (form, input, from_row) = CustomerForm::read(pairs);
    let now = state.clock.now();
    let actor = who.actor();
    let cid = current.id.clone();
    let saved = state
        .db
        .write(move |c| {
            repo::update(c, &actor, &cid, now, |cur| {
                CustomerFields::merge(cur, input).map_err(DbError::from)
            })
        })
        .await;
    match saved {
        Ok(c) => Ok(flash_redirect(
            &format!("/customers/{}", c.id),
            "Customer saved.",
        )),
        Err(e) => {
            let r = refusal(e)?;
            refused_form(&state, &req, &who, Some(&current), form, r, &from_row)
        }
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn delete(
    state: web::Data<AppState>,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(_): Form<Empty>,
) -> Result<HttpResponse, UiError> {
    let c = load(&state, &id).await?;
    let now = state.clock.now();
    let actor = who.actor();
    let cid = c.id.clone();
    state
        .db
        .write(move |conn| repo::delete(conn, &actor, &cid, now))
        .await?;
    Ok(flash_redirect(
        "/customers",
        &format!("Customer “{}” deleted.", c.fields.name),
    ))
}

/// Query of `/customers/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailQuery {
    page: Option<String>,
}

/// Rows of the work-order history per page.
const HISTORY_LIMIT: u32 = 10;

async fn detail(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let q: DetailQuery = page_query(&req)?;
    let mut page = parse_page(q.page, None)?;
    page.limit = HISTORY_LIMIT;
    detail_page(
        &state,
        &req,
        &who,
        &id,
        page,
        StatusCode::OK,
        ContactForm::default(),
        None,
    )
    .await
}

/// The contact form's values.
#[derive(Debug, Default, Deserialize, Serialize)]
struct ContactForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
}

#[allow(clippy::too_many_arguments)]
async fn detail_page(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<Staff>,
    raw_id: &str,
    page: Page,
    status: StatusCode,
    contact: ContactForm,
    contact_refused: Option<Refusal>,
) -> Result<HttpResponse, UiError> {
    let id = path_id(raw_id)?;
    let today = state.today();
    let tz = state.config().timezone();
    let (customer, contacts, analytics, (work_orders, wo_total), (invoices, inv_total), open_fu) =
        state
            .db
            .read(move |c| {
                let customer = repo::get(c, &id)?.ok_or(DbError::NotFound)?;
                let contacts = repo::contacts(c, &id)?;
                let analytics = crate::db::analytics::customer(c, &id, today, tz)?;
                let wo = crate::db::work_orders::list(
                    c,
                    &crate::db::work_orders::WorkOrderFilter {
                        customer_id: Some(id.clone()),
                        ..Default::default()
                    },
                    page.limit.into(),
                    page.offset(),
                )?;
                let inv = crate::db::invoices::list(
                    c,
                    &crate::db::invoices::InvoiceFilter {
                        customer_id: Some(id.clone()),
                        ..Default::default()
                    },
                    10,
                    0,
                )?;
                let fu = crate::db::follow_ups::list(
                    c,
                    &crate::db::follow_ups::FollowUpFilter {
                        customer_id: Some(id.clone()),
                        status: Some(crate::domain::follow_up::FollowUpStatus::Open),
                        ..Default::default()
                    },
                    5,
                    0,
                )?;
                Ok((customer, contacts, analytics, wo, inv, fu))
            })
            .await?;
    let mut history = pager_at(
        &format!("/customers/{}", customer.id),
        vec![],
        page,
        wo_total,
    );
    history.csv = format!("/customers/{}/work-orders.csv", customer.id);
    let contact_errors = contact_refused
        .as_ref()
        .map(Refusal::fields)
        .unwrap_or_default();
    let contact_alert = contact_refused.as_ref().and_then(Refusal::alert);
    let new_work_order = format!("/work-orders/new?customer_id={}", url_encode(&customer.id));
    render_status(
        state,
        req,
        Some(&who.user),
        &who.csrf,
        status,
        "office_customer.html",
        context! {
            c => customer,
            contacts,
            analytics,
            work_orders,
            history,
            more_invoices => inv_total > invoices.len() as i64,
            invoices,
            inv_total,
            follow_ups => open_fu.0,
            follow_ups_total => open_fu.1,
            contact,
            contact_errors,
            contact_alert,
            new_work_order,
        },
    )
}

async fn add_contact(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(form): Form<ContactForm>,
) -> Result<HttpResponse, UiError> {
    let customer_id = path_id(&id)?;
    let input = ContactInput {
        name: Some(form.name.clone()),
        role: Some(form.role.clone()),
        email: Some(form.email.clone()),
        phone: Some(form.phone.clone()),
    };
    let first_page = Page {
        page: 1,
        limit: HISTORY_LIMIT,
    };
    let fields = match ContactFields::merge(&ContactFields::default(), input) {
        Ok(f) => f,
        Err(e) => {
            let r = super::domain_refusal(e);
            return detail_page(
                &state,
                &req,
                &who,
                &customer_id,
                first_page,
                r.status(),
                form,
                Some(r),
            )
            .await;
        }
    };
    let now = state.clock.now();
    let contact_id = new_id(now).to_string();
    let actor = who.actor();
    let cid = customer_id.clone();
    let saved = state
        .db
        .write(move |c| repo::insert_contact(c, &actor, &cid, &contact_id, fields, now))
        .await;
    match saved {
        Ok(contact) => Ok(flash_redirect(
            &format!("/customers/{customer_id}#contacts"),
            &format!("Contact “{}” added.", contact.fields.name),
        )),
        Err(e) => {
            let r = refusal(e)?;
            detail_page(
                &state,
                &req,
                &who,
                &customer_id,
                first_page,
                r.status(),
                form,
                Some(r),
            )
            .await
        }
    }
}

async fn delete_contact(
    state: web::Data<AppState>,
    who: UiUser<Staff>,
    path: web::Path<(String, String)>,
    Form(_): Form<Empty>,
) -> Result<HttpResponse, UiError> {
    let (customer_id, id) = (path_id(&path.0)?, path_id(&path.1)?);
    let now = state.clock.now();
    let actor = who.actor();
    let cid = customer_id.clone();
    state
        .db
        .write(move |c| repo::delete_contact(c, &actor, &cid, &id, now))
        .await?;
    Ok(flash_redirect(
        &format!("/customers/{customer_id}#contacts"),
        "Contact removed.",
    ))
}

async fn contacts_csv(
    state: web::Data<AppState>,
    _who: UiUser<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let id = path_id(&id)?;
    let rows = state
        .db
        .read(move |c| {
            repo::get(c, &id)?.ok_or(DbError::NotFound)?;
            repo::contacts(c, &id)
        })
        .await?;
    csv(
        "contacts.csv",
        &["id", "name", "role", "email", "phone", "created"],
        rows.into_iter().map(|c| {
            vec![
                c.id,
                c.fields.name,
                c.fields.role,
                c.fields.email,
                c.fields.phone,
                c.created_at,
            ]
        }),
    )
}

async fn work_orders_csv(
    state: web::Data<AppState>,
    _who: UiUser<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let id = path_id(&id)?;
    let (rows, _) = state
        .db
        .read(move |c| {
            repo::get(c, &id)?.ok_or(DbError::NotFound)?;
            crate::db::work_orders::list(
                c,
                &crate::db::work_orders::WorkOrderFilter {
                    customer_id: Some(id.clone()),
                    ..Default::default()
                },
                EXPORT_LIMIT,
                0,
            )
        })
        .await?;
    let money =
        |m: Option<crate::domain::money::Money>| m.map(|m| m.to_decimal()).unwrap_or_default();
    csv(
        "customer-work-orders.csv",
        &[
            "number",
            "service type",
            "status",
            "priority",
            "scheduled date",
            "technician",
            "quoted price",
            "final price",
            "actual cost",
            "created",
        ],
        rows.into_iter().map(|w| {
            vec![
                w.work_order_number,
                w.service_type,
                w.status.as_str().to_string(),
                w.priority_level.as_str().to_string(),
                w.scheduled_date.unwrap_or_default(),
                w.assigned_employee_name.unwrap_or_default(),
                money(w.quoted_price),
                money(w.final_price),
                money(w.actual_cost),
                w.created_at,
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_rows_are_read_and_errors_map_back() {
        let pairs = vec![
            ("name".to_string(), "Ann".to_string()),
            ("tags".into(), "vip, roof".into()),
            ("addresses[0].line1".into(), "".into()),
            ("addresses[1].line1".into(), "2 Oak".into()),
            ("addresses[1].postalCode".into(), "123".into()),
            ("addresses[99].line1".into(), "ignored".into()),
        ];
        let (form, input, from_row) = CustomerForm::read(pairs);
        assert_eq!(from_row, [1]);
        let kept = input.addresses.clone().unwrap();
        assert_eq!((kept.len(), kept[0].postal_code.as_str()), (1, "123"));
        assert_eq!(input.tags.as_deref().unwrap(), ["vip", "roof"]);
        // Row 0 is blank already, so no extra blank row is added.
        assert_eq!(form.addresses.len(), 2);
        let mut e = FieldErrors::new();
        e.insert("addresses[0].city".into(), "x".into());
        e.insert("name".into(), "y".into());
        let mapped = to_form_rows(e, &from_row);
        assert!(mapped.contains_key("addresses[1].city") && mapped.contains_key("name"));
    }
}
