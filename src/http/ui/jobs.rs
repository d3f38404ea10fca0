//! Work orders in the web UI: the list with filters and CSV export
//! (`/work-orders`), the new work order form with customer suggestions and
//! the local analysis (`/work-orders/new`), the work-order page with the
//! actions its status allows — schedule and assign (a clash re-renders the
//! form with the message), start, complete with photos (a multipart form),
//! cancel, edit — and the technician's day (`/my-day`).
//!
//! Handlers call the same repository functions as the JSON API
//! ([`crate::http::routes::work_orders`], [`crate::http::routes::attachments`]),
//! so the rules, the technician scoping (a technician opening another
//! technician's job gets 403) and the audit log are identical.

use super::{
    Form, UiError, UiUser, csrf_refused, csv, flash_redirect, render, render_status, url_encode,
};
use crate::db::DbError;
use crate::db::attachments::{Attachment, Kind};
use crate::db::auth::UserRow;
use crate::db::customers;
use crate::db::employees::{self, EmployeeFilter};
use crate::db::work_orders::{self as repo, NewWorkOrder, WorkOrderFilter};
use crate::domain::FieldErrors;
use crate::domain::customer::{Address, CustomerFields, CustomerInput};
use crate::domain::ids::{new_id, parse_id};
use crate::domain::money::{Minutes, Money};
use crate::domain::user::Role;
use crate::domain::work_order::{
    CancelInput, CompleteInput, Priority, ScheduleInput, Status, WorkOrder, WorkOrderFields,
    WorkOrderInput, editable, format_window,
};
use crate::http::auth::{AnyRole, Staff};
use crate::http::error::HttpError;
use crate::http::pagination::{Page, PageQuery};
use crate::http::path_id;
use crate::http::routes::attachments as att_routes;
use crate::http::routes::work_orders::{self as wo_routes, ListQuery};
use crate::http::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use futures_util::StreamExt;
use minijinja::{Value, context};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// Registers the work-order pages and `/my-day`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/work-orders", web::get().to(list))
        .service(
            web::resource("/work-orders/new")
                .route(web::get().to(new_form))
                .route(web::post().to(create)),
        )
        .route(
            "/work-orders/new/analysis",
            web::get().to(analysis_fragment),
        )
        .route("/work-orders/{id}", web::get().to(page))
        .route("/work-orders/{id}/schedule", web::post().to(schedule))
        .route("/work-orders/{id}/start", web::post().to(start))
        .route("/work-orders/{id}/complete", web::post().to(complete))
        .route("/work-orders/{id}/cancel", web::post().to(cancel))
        .route("/work-orders/{id}/edit", web::post().to(edit))
        .route("/work-orders/{id}/photos", web::post().to(photos))
        .route("/my-day", web::get().to(my_day));
}

/// Rows per page of the list.
const PAGE_SIZE: &str = "25";
/// Most rows in one CSV export.
const MAX_EXPORT_ROWS: i64 = 100_000;
/// Most photos in one upload form.
pub const MAX_PHOTOS_PER_POST: usize = 8;
/// Most bytes of the text fields of a multipart form.
const MAX_TEXT_BYTES: usize = 256 * 1024;

/// Form values and field errors shown again after a failed post.
type Values = BTreeMap<String, String>;

/// The query string as `T`; a malformed one (e.g. a repeated parameter) is a
/// 400 page.
fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, UiError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| UiError::bad_request(format!("The address has a bad parameter: {e}")))
}

/// The trimmed value when it is not blank.
fn filled(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// An amount typed in a form (`125.50`, `$1,250`); `None` when blank.
fn parse_money(errors: &mut FieldErrors, field: &str, v: &Option<String>) -> Option<Money> {
    let text: String = filled(v)?
        .chars()
        .filter(|c| *c != '$' && *c != ',' && !c.is_whitespace())
        .collect();
    match Money::parse_decimal(&text) {
        Ok(m) if m.cents() < 0 => {
            errors.insert(field.into(), "must not be negative".into());
            None
        }
        Ok(m) => Some(m),
        Err(e) => {
            errors.insert(field.into(), e);
            None
        }
    }
}

/// Hours typed in a form (`1.5`); `None` when blank.
fn parse_hours(errors: &mut FieldErrors, field: &str, v: &Option<String>) -> Option<Minutes> {
    let text = filled(v)?;
    let parsed = text
        .parse::<f64>()
        .map_err(|_| "must be a number of hours like 1.5".to_string())
        .and_then(Minutes::from_hours)
        .and_then(|m| {
            if m.0 > 0 {
                Ok(m)
            } else {
                Err("must be more than 0 hours".to_string())
            }
        });
    match parsed {
        Ok(m) => Some(m),
        Err(e) => {
            errors.insert(field.into(), e);
            None
        }
    }
}

fn is_staff(user: &UserRow) -> bool {
    matches!(user.role, Role::Owner | Role::Office)
}

/// The technician's user id when `user` is one (their access is limited to
/// the work orders assigned to them), as the API scopes it.
fn technician(user: &UserRow) -> Option<String> {
    (user.role == Role::Technician).then(|| user.id.clone())
}

/// An OpenStreetMap search link for an address.
fn map_url(address: &str) -> String {
    format!(
        "https://www.openstreetmap.org/search?query={}",
        url_encode(address)
    )
}

fn customer_address(c: Option<&crate::domain::customer::Customer>) -> String {
    c.and_then(|c| c.fields.addresses.first())
        .map(|a| a.one_line())
        .unwrap_or_default()
}

/// "HH:MM" of a wall-minute timestamp.
fn clock_of(wall: i64) -> String {
    let m = wall.rem_euclid(1440);
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// A failed action, as the page shows it: 400 with field errors, or 409 with
/// a message. Other errors (404, 403, 500) become their own pages.
fn failure(e: HttpError) -> Result<(StatusCode, Option<String>, FieldErrors), UiError> {
    match e {
        HttpError::Validation { fields, message } => {
            let msg = fields.is_empty().then_some(message);
            Ok((StatusCode::BAD_REQUEST, msg, fields))
        }
        HttpError::Conflict(m) => Ok((StatusCode::CONFLICT, Some(m), FieldErrors::new())),
        other => Err(UiError::Http(other)),
    }
}

// ---------------------------------------------------------------- the list

/// Query of `/work-orders` (the API's filters plus `format=csv`).
#[derive(Debug, Default, Deserialize)]
struct ListParams {
    status: Option<String>,
    customer_id: Option<String>,
    assigned_employee_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
    page: Option<String>,
    format: Option<String>,
}

impl ListParams {
    fn api_query(&self, page: Option<String>, limit: Option<String>) -> ListQuery {
        ListQuery {
            status: self.status.clone(),
            customer_id: self.customer_id.clone(),
            assigned_employee_id: self.assigned_employee_id.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            q: self.q.clone(),
            page,
            limit,
        }
    }

    /// The filters as a query string (without page and format).
    fn query_string(&self) -> String {
        let pairs = [
            ("q", &self.q),
            ("status", &self.status),
            ("assigned_employee_id", &self.assigned_employee_id),
            ("customer_id", &self.customer_id),
            ("from", &self.from),
            ("to", &self.to),
        ];
        pairs
            .iter()
            .filter_map(|(k, v)| filled(v).map(|v| format!("{k}={}", url_encode(v))))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// The status choices of the filter.
const STATUS_CHOICES: [(&str, &str); 7] = [
    ("", "Any status"),
    ("draft,scheduled,in_progress", "Open"),
    ("draft", "Draft"),
    ("scheduled", "Scheduled"),
    ("in_progress", "In progress"),
    ("completed", "Completed"),
    ("cancelled", "Cancelled"),
];

fn csv_row(w: &WorkOrder) -> Vec<String> {
    let money = |m: Option<Money>| m.map(Money::to_decimal).unwrap_or_default();
    let hours = |m: Option<Minutes>| m.map(Minutes::to_hours_decimal).unwrap_or_default();
    vec![
        w.work_order_number.clone(),
        w.status.as_str().into(),
        w.priority_level.as_str().into(),
        w.customer_name.clone(),
        w.service_type.clone(),
        w.scheduled_date.clone().unwrap_or_default(),
        w.scheduled_time.clone().unwrap_or_default(),
        w.assigned_employee_name.clone().unwrap_or_default(),
        hours(w.estimated_duration_hours),
        money(w.estimated_cost),
        hours(w.actual_duration_hours),
        money(w.actual_cost),
        money(w.quoted_price),
        money(w.final_price),
        w.created_at.clone(),
        w.completed_at.clone().unwrap_or_default(),
    ]
}

const CSV_HEADER: [&str; 16] = [
    "Number",
    "Status",
    "Priority",
    "Customer",
    "Service type",
    "Scheduled date",
    "Scheduled time",
    "Technician",
    "Estimated hours",
    "Estimated cost",
    "Actual hours",
    "Actual cost",
    "Quoted price",
    "Final price",
    "Created at",
    "Completed at",
];

async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
) -> Result<HttpResponse, UiError> {
    let p: ListParams = query(&req)?;
    let csv_wanted = p.format.as_deref() == Some("csv");
    let filter = p.api_query(None, None).filter();
    if csv_wanted && let Ok(filter) = &filter {
        let filter = filter.clone();
        let rows = state
            .db
            .read(move |c| {
                let mut all = Vec::new();
                let mut offset = 0;
                loop {
                    let (rows, total) = repo::list(c, &filter, 1000, offset)?;
                    let n = rows.len() as i64;
                    all.extend(rows.iter().map(csv_row));
                    offset += n;
                    if n == 0 || offset >= total.min(MAX_EXPORT_ROWS) {
                        break;
                    }
                }
                Ok(all)
            })
            .await?;
        return csv(
            &format!("work-orders-{}.csv", state.today()),
            &CSV_HEADER,
            rows,
        );
    }
    let employees = state
        .db
        .read(|c| employees::list(c, &EmployeeFilter::default(), 500, 0))
        .await?
        .0;
    let employees: Vec<Value> = employees
        .iter()
        .map(|e| context! { id => e.id.clone(), name => e.fields.name.clone(), active => e.fields.active })
        .collect();
    let filter = match filter {
        Ok(f) => f,
        Err(crate::domain::DomainError::Validation(errors)) => {
            return render_status(
                &state,
                &req,
                Some(&who.user),
                &who.csrf,
                StatusCode::BAD_REQUEST,
                "jobs_list.html",
                context! { p => list_values(&p), errors, rows => Vec::<Value>::new(), employees,
                statuses => STATUS_CHOICES.to_vec(), total => 0, page => 1, total_pages => 1,
                qs => p.query_string() },
            );
        }
        Err(e) => return Err(e.into()),
    };
    let page = Page::parse(&PageQuery {
        page: p.page.clone(),
        limit: Some(PAGE_SIZE.into()),
    })?;
    let customer_id = filter.customer_id.clone();
    let (rows, total, customer) = state
        .db
        .read(move |c| {
            let (rows, total) = repo::list(c, &filter, page.limit.into(), page.offset())?;
            let customer = match &customer_id {
                Some(id) => customers::get(c, id)?,
                None => None,
            };
            Ok((rows, total, customer))
        })
        .await?;
    let limit = i64::from(page.limit);
    let total_pages = ((total + limit - 1) / limit).max(1);
    render(
        &state,
        &req,
        &who,
        "jobs_list.html",
        context! {
            p => list_values(&p),
            errors => FieldErrors::new(),
            rows,
            total,
            page => page.page,
            total_pages,
            employees,
            customer,
            statuses => STATUS_CHOICES.to_vec(),
            qs => p.query_string(),
        },
    )
}

fn list_values(p: &ListParams) -> Values {
    let mut v = Values::new();
    for (k, val) in [
        ("q", &p.q),
        ("status", &p.status),
        ("assigned_employee_id", &p.assigned_employee_id),
        ("customer_id", &p.customer_id),
        ("from", &p.from),
        ("to", &p.to),
    ] {
        v.insert(k.into(), val.clone().unwrap_or_default());
    }
    v
}

// ------------------------------------------------------------- the new form

#[derive(Debug, Default, Deserialize)]
struct NewQuery {
    customer_id: Option<String>,
}

/// The new work order form, posted back to `/work-orders/new`.
#[derive(Debug, Default, Deserialize)]
struct NewForm {
    #[serde(default)]
    customer_name: String,
    customer_id: Option<String>,
    #[serde(default)]
    service_type: String,
    #[serde(default)]
    description: String,
    priority: Option<String>,
    #[serde(default)]
    special_instructions: String,
    scheduled_date: Option<String>,
    scheduled_time: Option<String>,
    estimated_hours: Option<String>,
    quoted_price: Option<String>,
    /// Street of a new customer's service address.
    address_line1: Option<String>,
    /// City of a new customer's service address.
    address_city: Option<String>,
}

impl NewForm {
    fn values(&self) -> Values {
        let mut v = Values::new();
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        v.insert("customer_name".into(), self.customer_name.clone());
        v.insert("customer_id".into(), opt(&self.customer_id));
        v.insert("service_type".into(), self.service_type.clone());
        v.insert("description".into(), self.description.clone());
        v.insert(
            "priority".into(),
            self.priority.clone().unwrap_or_else(|| "medium".into()),
        );
        v.insert(
            "special_instructions".into(),
            self.special_instructions.clone(),
        );
        v.insert("scheduled_date".into(), opt(&self.scheduled_date));
        v.insert("scheduled_time".into(), opt(&self.scheduled_time));
        v.insert("estimated_hours".into(), opt(&self.estimated_hours));
        v.insert("quoted_price".into(), opt(&self.quoted_price));
        v.insert("address_line1".into(), opt(&self.address_line1));
        v.insert("address_city".into(), opt(&self.address_city));
        v
    }

    /// The service address typed for a new customer, if any.
    fn address(&self) -> Option<Vec<Address>> {
        filled(&self.address_line1)
            .or(filled(&self.address_city))
            .map(|_| {
                vec![Address {
                    label: "Service".into(),
                    line1: self.address_line1.clone().unwrap_or_default(),
                    city: self.address_city.clone().unwrap_or_default(),
                    ..Address::default()
                }]
            })
    }
}

async fn new_page(
    state: &AppState,
    req: &HttpRequest,
    user: &UserRow,
    csrf: &str,
    status: StatusCode,
    form: Values,
    errors: FieldErrors,
) -> Result<HttpResponse, UiError> {
    let service_types = state.db.read(repo::service_types).await?;
    render_status(
        state,
        req,
        Some(user),
        csrf,
        status,
        "jobs_new.html",
        context! { form, errors, service_types, priorities => ["low", "medium", "high", "urgent"] },
    )
}

async fn new_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
) -> Result<HttpResponse, UiError> {
    let q: NewQuery = query(&req)?;
    let mut form = NewForm::default().values();
    if let Some(id) = filled(&q.customer_id).and_then(parse_id) {
        let id = id.to_string();
        if let Some(c) = state.db.read(move |c| customers::get(c, &id)).await? {
            form.insert("customer_name".into(), c.fields.name.clone());
            form.insert("customer_id".into(), c.id.clone());
        }
    }
    new_page(
        &state,
        &req,
        &who.user,
        &who.csrf,
        StatusCode::OK,
        form,
        FieldErrors::new(),
    )
    .await
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    Form(form): Form<NewForm>,
) -> Result<HttpResponse, UiError> {
    let mut errors = FieldErrors::new();
    let customer = CustomerFields::merge(
        &CustomerFields::default(),
        CustomerInput {
            name: Some(form.customer_name.clone()),
            addresses: form.address(),
            ..CustomerInput::default()
        },
    );
    let customer = match customer {
        Ok(c) => Some(c),
        Err(crate::domain::DomainError::Validation(f)) => {
            for (from, to) in [
                ("name", "customerName"),
                ("addresses[0].line1", "addressLine1"),
                ("addresses[0].city", "addressCity"),
            ] {
                if let Some(why) = f.get(from) {
                    errors.insert(to.into(), why.clone());
                }
            }
            None
        }
        Err(e) => return Err(e.into()),
    };
    let priority = match filled(&form.priority) {
        None => None,
        Some(p) => match Priority::parse(&p.to_lowercase()) {
            Some(p) => Some(p),
            None => {
                errors.insert(
                    "priorityLevel".into(),
                    "must be low, medium, high or urgent".into(),
                );
                None
            }
        },
    };
    let hours = parse_hours(&mut errors, "estimatedDurationHours", &form.estimated_hours);
    let quoted = parse_money(&mut errors, "quotedPrice", &form.quoted_price);
    let now = state.clock.now();
    let new_customer_id = new_id(now).to_string();
    let hint = filled(&form.customer_id)
        .and_then(parse_id)
        .map(|u| u.to_string());
    let input = WorkOrderInput {
        customer_id: Some(new_customer_id.clone()),
        service_type: Some(form.service_type.clone()),
        job_description: Some(form.description.clone()),
        priority_level: priority,
        special_instructions: Some(form.special_instructions.clone()),
        scheduled_date: filled(&form.scheduled_date).map(|d| Some(d.to_string())),
        scheduled_time: filled(&form.scheduled_time).map(|t| Some(t.to_string())),
        estimated_duration_hours: hours.map(Some),
        quoted_price: quoted.map(Some),
        customer_notes: None,
    };
    let fields = match WorkOrderFields::create(input) {
        Ok(f) => Some(f),
        Err(crate::domain::DomainError::Validation(f)) => {
            for (k, v) in f {
                errors.entry(k).or_insert(v);
            }
            None
        }
        Err(e) => return Err(e.into()),
    };
    let (Some(customer), Some(fields), true) = (customer, fields, errors.is_empty()) else {
        return new_page(
            &state,
            &req,
            &who.user,
            &who.csrf,
            StatusCode::BAD_REQUEST,
            form.values(),
            errors,
        )
        .await;
    };
    let analysis = wo_routes::analyze_new(&state, &fields).await?;
    let mut new = NewWorkOrder {
        fields,
        estimated_cost: Some(analysis.estimated_cost),
        estimated_minutes: Some(analysis.estimated_duration),
        ..NewWorkOrder::default()
    };
    let id = new_id(now).to_string();
    let actor = who.actor();
    let (wo, created) = state
        .db
        .write(move |c| {
            let (cust, created) = customers::pick_or_create(
                c,
                &actor,
                now,
                hint.as_deref(),
                customer,
                &new_customer_id,
            )?;
            new.fields.customer_id = cust.id;
            let wo = repo::insert(c, &actor, now, &id, &new)?;
            Ok((wo, created))
        })
        .await?;
    let msg = if created {
        format!(
            "{} created, with the new customer {}.",
            wo.work_order_number, wo.customer_name
        )
    } else {
        format!("{} created for {}.", wo.work_order_number, wo.customer_name)
    };
    Ok(flash_redirect(&format!("/work-orders/{}", wo.id), &msg))
}

#[derive(Debug, Default, Deserialize)]
struct AnalysisQuery {
    service_type: Option<String>,
    priority: Option<String>,
}

/// The analysis panel for a work order being typed (HTML fragment for
/// `jobs.js`): what the service type and priority would be estimated at.
async fn analysis_fragment(
    state: web::Data<AppState>,
    req: HttpRequest,
    _who: UiUser<Staff>,
) -> Result<HttpResponse, UiError> {
    let q: AnalysisQuery = query(&req)?;
    let service = filled(&q.service_type)
        .filter(|s| s.chars().count() <= 100)
        .map(str::to_string);
    let analysis = match service {
        Some(service_type) => {
            let fields = WorkOrderFields {
                service_type,
                priority: filled(&q.priority)
                    .and_then(|p| Priority::parse(&p.to_lowercase()))
                    .unwrap_or_default(),
                ..WorkOrderFields::default()
            };
            Some(wo_routes::analyze_new(&state, &fields).await?)
        }
        None => None,
    };
    let html = state
        .templates
        .render("jobs_analysis.html", context! { analysis, preview => true })
        .map_err(|e| UiError::Http(HttpError::Internal(format!("analysis fragment: {e:#}"))))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html))
}

// ---------------------------------------------------------- the order page

/// What a re-rendered page shows besides the work order: which action
/// section is open, what was typed, and what went wrong.
#[derive(Debug)]
struct Shown {
    status: StatusCode,
    open: &'static str,
    form: Values,
    errors: FieldErrors,
    message: Option<String>,
}

impl Default for Shown {
    fn default() -> Self {
        Shown {
            status: StatusCode::OK,
            open: "",
            form: Values::new(),
            errors: FieldErrors::new(),
            message: None,
        }
    }
}

impl Shown {
    fn failed(open: &'static str, form: Values, e: HttpError) -> Result<Shown, UiError> {
        let (status, message, errors) = failure(e)?;
        Ok(Shown {
            status,
            open,
            form,
            errors,
            message,
        })
    }
}

/// A photo or signature as the page shows it.
fn picture(a: &Attachment) -> Value {
    context! { id => a.id.clone(), url => a.url.clone(), thumb => a.thumbnail_url.clone(),
    kind => a.kind.clone(), width => a.width, height => a.height }
}

/// Renders the work-order page for `user` (403 for a technician it is not
/// assigned to, 404 for an unknown id) with `shown`.
async fn order_page(
    state: &AppState,
    req: &HttpRequest,
    user: &UserRow,
    csrf: &str,
    id: &str,
    shown: Shown,
) -> Result<HttpResponse, UiError> {
    let id = path_id(id)?;
    let staff = is_staff(user);
    let business = state.config().business;
    let today = state.today();
    let cache = state.db.analysis_cache();
    let loaded = state
        .db
        .read(move |c| {
            let wo = repo::get(c, &id)?.ok_or(DbError::NotFound)?;
            let customer = customers::get(c, &wo.customer_id)?;
            let attachments = crate::db::attachments::list_for(c, &id)?;
            let invoice = match &wo.invoice_id {
                Some(_) => crate::db::invoices::for_work_order(c, &id)?,
                None => None,
            };
            let open = !wo.status.is_terminal();
            let employees = if staff && matches!(wo.status, Status::Draft | Status::Scheduled) {
                employees::list(
                    c,
                    &EmployeeFilter {
                        active: Some(true),
                        ..EmployeeFilter::default()
                    },
                    500,
                    0,
                )?
                .0
            } else {
                Vec::new()
            };
            let analysis = if staff && open {
                match crate::db::analytics::work_order_input(c, &id)? {
                    Some(input) => Some(crate::db::analytics::analyze_cached(
                        c, &cache, &input, &business, today,
                    )?),
                    None => None,
                }
            } else {
                None
            };
            Ok((wo, customer, attachments, invoice, employees, analysis))
        })
        .await?;
    let (wo, customer, attachments, invoice, employees, analysis) = loaded;
    if let Some(tech) = technician(user)
        && !wo.is_assigned_to_user(&tech)
    {
        return Err(UiError::Http(wo_routes::not_yours()));
    }
    let status = wo.status;
    let address = customer_address(customer.as_ref());
    let before: Vec<Value> = attachments
        .iter()
        .filter(|a| a.kind == "before")
        .map(picture)
        .collect();
    let after: Vec<Value> = attachments
        .iter()
        .filter(|a| a.kind == "after")
        .map(picture)
        .collect();
    let signature = wo.customer_signature.as_ref().map(|url| {
        context! { url => url.clone(), thumb => format!("{url}/thumbnail") }
    });
    let window = match (wo.window_start, wo.window_end) {
        (Some(s), Some(e)) if status.holds_booking() || status == Status::Completed => {
            Some(format_window(s, e))
        }
        _ => None,
    };
    let can = context! {
        schedule => staff && matches!(status, Status::Draft | Status::Scheduled),
        start => status == Status::Scheduled,
        complete => matches!(status, Status::Scheduled | Status::InProgress),
        cancel => staff && !status.is_terminal(),
        edit => staff,
        photos => status != Status::Cancelled && status != Status::Draft,
        sign => matches!(status, Status::Scheduled | Status::InProgress)
            || (status == Status::Completed && wo.customer_signature.is_none()),
    };
    let mut form = shown.form;
    // Defaults of the action forms.
    let default = |form: &mut Values, k: &str, v: String| {
        form.entry(k.to_string()).or_insert(v);
    };
    default(
        &mut form,
        "scheduled_date",
        wo.scheduled_date
            .clone()
            .unwrap_or_else(|| today.to_string()),
    );
    default(
        &mut form,
        "scheduled_time",
        wo.scheduled_time.clone().unwrap_or_else(|| "09:00".into()),
    );
    default(
        &mut form,
        "assigned_employee_id",
        wo.assigned_employee_id
            .clone()
            .or_else(|| {
                analysis
                    .as_ref()
                    .and_then(|a| a.recommended_employee.as_ref().map(|r| r.id.clone()))
            })
            .unwrap_or_default(),
    );
    default(
        &mut form,
        "estimated_hours",
        wo.estimated_duration_hours
            .map(Minutes::to_hours_decimal)
            .unwrap_or_default(),
    );
    // The edit form starts from the stored values.
    let money = |m: Option<Money>| m.map(Money::to_decimal).unwrap_or_default();
    for (k, v) in [
        ("service_type", wo.service_type.clone()),
        ("description", wo.job_description.clone()),
        ("priority", wo.priority_level.as_str().to_string()),
        ("special_instructions", wo.special_instructions.clone()),
        (
            "edit_scheduled_date",
            wo.scheduled_date.clone().unwrap_or_default(),
        ),
        (
            "edit_scheduled_time",
            wo.scheduled_time.clone().unwrap_or_default(),
        ),
        (
            "edit_estimated_hours",
            wo.estimated_duration_hours
                .map(Minutes::to_hours_decimal)
                .unwrap_or_default(),
        ),
        ("quoted_price", money(wo.quoted_price)),
        ("customer_notes", wo.customer_notes.clone()),
    ] {
        default(&mut form, k, v);
    }
    let employees: Vec<Value> = employees
        .iter()
        .map(|e| context! { id => e.id.clone(), name => e.fields.name.clone(), trade => e.fields.trade.clone() })
        .collect();
    let tz = state.config().timezone();
    let started = wo
        .started_at
        .as_deref()
        .and_then(crate::clock::parse_ts)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string());
    let margin = wo
        .profit_margin
        .map(|r| format!("{:.0}%", r.0 as f64 / 100.0));
    let tel: String = customer
        .as_ref()
        .map(|c| {
            c.fields
                .phone
                .chars()
                .filter(|ch| ch.is_ascii_digit() || *ch == '+')
                .collect()
        })
        .unwrap_or_default();
    let invoice = invoice.map(|i| {
        context! { id => i.id.clone(), number => i.invoice_number.clone(), total => i.total, status => i.status }
    });
    let edit_fields: Vec<&str> = editable(status).to_vec();
    let ctx = context! {
        wo,
        customer,
        address => address.clone(),
        tel,
        started,
        margin,
        map_url => (!address.is_empty()).then(|| map_url(&address)),
        window,
        before,
        after,
        signature,
        invoice,
        employees,
        analysis,
        staff,
        can,
        edit_fields,
        priorities => ["low", "medium", "high", "urgent"],
        open => shown.open,
        form,
        errors => shown.errors,
        message => shown.message,
        max_photos => MAX_PHOTOS_PER_POST,
    };
    render_status(
        state,
        req,
        Some(user),
        csrf,
        shown.status,
        "jobs_page.html",
        ctx,
    )
}

async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<AnyRole>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    order_page(&state, &req, &who.user, &who.csrf, &id, Shown::default()).await
}

/// The work-order page again, with the form `open` refilled with `form`
/// and `e` shown (per-field errors, or the conflict's message). Fails only
/// where [`order_page`] does, or for errors that are not the user's.
async fn refused<P: crate::http::auth::Policy>(
    (state, req, who): (&AppState, &HttpRequest, &UiUser<P>),
    wo_id: &str,
    open: &'static str,
    form: Values,
    e: HttpError,
) -> Result<HttpResponse, UiError> {
    let shown = Shown::failed(open, form, e)?;
    order_page(state, req, &who.user, &who.csrf, wo_id, shown).await
}

/// The end of an action that changes one work order: back to its page with
/// "WO-… {done}.", or the page again with the refused form.
async fn finish<P: crate::http::auth::Policy>(
    ctx: (&AppState, &HttpRequest, &UiUser<P>),
    wo_id: &str,
    open: &'static str,
    form: Values,
    result: Result<WorkOrder, HttpError>,
    done: &str,
) -> Result<HttpResponse, UiError> {
    match result {
        Ok(wo) => Ok(flash_redirect(
            &to_page(&wo.id),
            &format!("{} {done}.", wo.work_order_number),
        )),
        Err(e) => refused(ctx, wo_id, open, form, e).await,
    }
}

fn to_page(id: &str) -> String {
    format!("/work-orders/{id}")
}

#[derive(Debug, Default, Deserialize)]
struct ScheduleForm {
    scheduled_date: Option<String>,
    scheduled_time: Option<String>,
    assigned_employee_id: Option<String>,
    estimated_hours: Option<String>,
}

async fn schedule(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(form): Form<ScheduleForm>,
) -> Result<HttpResponse, UiError> {
    let wo_id = path_id(&id)?;
    let mut values = Values::new();
    for (k, v) in [
        ("scheduled_date", &form.scheduled_date),
        ("scheduled_time", &form.scheduled_time),
        ("assigned_employee_id", &form.assigned_employee_id),
        ("estimated_hours", &form.estimated_hours),
    ] {
        values.insert(k.into(), v.clone().unwrap_or_default());
    }
    let mut errors = FieldErrors::new();
    let hours = parse_hours(&mut errors, "estimatedDurationHours", &form.estimated_hours);
    let input = ScheduleInput {
        scheduled_date: filled(&form.scheduled_date).map(str::to_string),
        scheduled_time: filled(&form.scheduled_time).map(str::to_string),
        assigned_employee_id: filled(&form.assigned_employee_id).map(str::to_string),
        estimated_duration_hours: hours,
        loadout_id: None,
    };
    let result = match (input.validate(), errors.is_empty()) {
        (Ok(booking), true) => {
            let default_minutes = Minutes(state.config().business.default_job_minutes.max(1));
            let now = state.clock.now();
            let actor = who.actor();
            let id = wo_id.clone();
            state
                .db
                .write(move |c| repo::schedule(c, &actor, now, &id, &booking, default_minutes))
                .await
                .map_err(HttpError::from)
        }
        (Ok(_), false) => Err(HttpError::Validation {
            message: "invalid fields".into(),
            fields: errors,
        }),
        (Err(e), _) => {
            let mut e = HttpError::from(e);
            if let HttpError::Validation { fields, .. } = &mut e {
                fields.extend(errors);
            }
            Err(e)
        }
    };
    match result {
        Ok(wo) => Ok(flash_redirect(
            &to_page(&wo.id),
            &format!(
                "{} scheduled: {} on {} at {}.",
                wo.work_order_number,
                wo.assigned_employee_name.clone().unwrap_or_default(),
                wo.scheduled_date.clone().unwrap_or_default(),
                wo.scheduled_time.clone().unwrap_or_default()
            ),
        )),
        Err(e) => refused((&state, &req, &who), &wo_id, "schedule", values, e).await,
    }
}

#[derive(Debug, Default, Deserialize)]
struct Empty {}

async fn start(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<AnyRole>,
    id: web::Path<String>,
    Form(_): Form<Empty>,
) -> Result<HttpResponse, UiError> {
    let wo_id = path_id(&id)?;
    let now = state.clock.now();
    let actor = who.actor();
    let result = wo_routes::act_as(
        &state,
        technician(&who.user),
        wo_id.clone(),
        move |c, id| repo::start(c, &actor, now, id),
    )
    .await;
    finish(
        (&state, &req, &who),
        &wo_id,
        "",
        Values::new(),
        result,
        "started",
    )
    .await
}

/// A posted form with its files: the text fields, and the non-empty files
/// in order.
#[derive(Debug, Default)]
struct Posted {
    fields: Vec<(String, String)>,
    files: Vec<Vec<u8>>,
}

impl Posted {
    fn get(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Reads a `multipart/form-data` (or URL-encoded) form and checks its
/// `_csrf` field with [`crate::http::csrf::verify`] — in a multipart form it
/// must come before the first file, so no unverified file is buffered.
/// Files above `file_limit` bytes, or a body far above what
/// [`MAX_PHOTOS_PER_POST`] files could need, are a 413 page; more files than
/// that or an unreadable form a 400 page; a missing or wrong token the 403
/// page.
async fn read_posted(
    req: &HttpRequest,
    mut payload: web::Payload,
    file_limit: usize,
) -> Result<Posted, UiError> {
    let too_large = || UiError::Http(HttpError::PayloadTooLarge(file_limit));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > file_limit * MAX_PHOTOS_PER_POST + MAX_TEXT_BYTES) {
        return Err(too_large());
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let unreadable = || UiError::bad_request("The form could not be read.");
    let verified = |posted: &Posted| {
        let token = posted
            .get(crate::http::csrf::FORM_FIELD)
            .unwrap_or_default();
        crate::http::csrf::verify(req, &token)
    };
    let mut posted = Posted::default();
    if content_type.starts_with("multipart/form-data") {
        let mut form = actix_multipart::Multipart::new(req.headers(), payload);
        let mut text_bytes = 0usize;
        let mut checked = false;
        while let Some(field) = form.next().await {
            let mut field = field.map_err(|_| unreadable())?;
            let (name, is_file) = match field.content_disposition() {
                Some(d) => (
                    d.get_name().unwrap_or("").to_string(),
                    d.get_filename().is_some(),
                ),
                None => (String::new(), false),
            };
            if is_file && !checked {
                if !verified(&posted) {
                    return Err(csrf_refused());
                }
                checked = true;
            }
            let mut buf = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|_| unreadable())?;
                if is_file {
                    if buf.len() + chunk.len() > file_limit {
                        return Err(too_large());
                    }
                } else if text_bytes + buf.len() + chunk.len() > MAX_TEXT_BYTES {
                    return Err(UiError::Http(HttpError::PayloadTooLarge(MAX_TEXT_BYTES)));
                }
                buf.extend_from_slice(&chunk);
            }
            if is_file {
                if !buf.is_empty() {
                    if posted.files.len() >= MAX_PHOTOS_PER_POST {
                        return Err(UiError::bad_request(format!(
                            "At most {MAX_PHOTOS_PER_POST} photos can be sent at once."
                        )));
                    }
                    posted.files.push(buf);
                }
            } else {
                text_bytes += buf.len();
                let text = String::from_utf8(buf).map_err(|_| unreadable())?;
                posted.fields.push((name, text));
            }
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let mut buf = Vec::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| unreadable())?;
            if buf.len() + chunk.len() > MAX_TEXT_BYTES {
                return Err(UiError::Http(HttpError::PayloadTooLarge(MAX_TEXT_BYTES)));
            }
            buf.extend_from_slice(&chunk);
        }
        posted.fields = serde_urlencoded::from_bytes(&buf).map_err(|_| unreadable())?;
    } else {
        return Err(UiError::bad_request("Expected a form submission."));
    }
    if !verified(&posted) {
        return Err(csrf_refused());
    }
    Ok(posted)
}

/// Stores `files` as `kind` pictures of the work order, one by one. Fails
/// with the first file's error (a `photos` field error for a file that is
/// not a JPEG, PNG or WebP image).
async fn store_photos(
    state: &AppState,
    who_actor: &crate::db::audit::Actor,
    work_order_id: &str,
    kind: Kind,
    files: Vec<Vec<u8>>,
) -> Result<usize, HttpError> {
    let n = files.len();
    for (i, bytes) in files.into_iter().enumerate() {
        let stored = att_routes::store(
            state,
            who_actor.clone(),
            work_order_id.to_string(),
            kind,
            bytes,
        )
        .await;
        if let Err(HttpError::Validation { fields, .. }) = &stored
            && let Some(why) = fields.get("file")
        {
            let mut f = FieldErrors::new();
            let which = if n > 1 {
                format!("Photo {} ", i + 1)
            } else {
                "The photo ".into()
            };
            f.insert("photos".into(), format!("{which}{why}"));
            return Err(HttpError::Validation {
                message: "invalid photo".into(),
                fields: f,
            });
        }
        stored?;
    }
    Ok(n)
}

async fn complete(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<AnyRole>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, UiError> {
    let wo_id = path_id(&id)?;
    // Who may post here is checked before the body is read; the token
    // before anything is stored.
    att_routes::visible(&state, &wo_id, &who.user).await?;
    let limit = state.config().attachments.max_bytes;
    let posted = read_posted(&req, payload, limit).await?;
    let mut values = Values::new();
    for k in [
        "actual_cost",
        "actual_hours",
        "final_price",
        "completion_notes",
        "signed_by",
    ] {
        values.insert(k.into(), posted.get(k).unwrap_or_default());
    }
    let mut errors = FieldErrors::new();
    let actual_cost = parse_money(&mut errors, "actualCost", &posted.get("actual_cost"));
    let actual_hours = parse_hours(
        &mut errors,
        "actualDurationHours",
        &posted.get("actual_hours"),
    );
    let final_price = parse_money(&mut errors, "finalPrice", &posted.get("final_price"));
    let mut notes = posted
        .get("completion_notes")
        .unwrap_or_default()
        .trim()
        .to_string();
    if let Some(name) = filled(&posted.get("signed_by")) {
        if name.chars().count() > 200 {
            errors.insert("signedBy".into(), "must be at most 200 characters".into());
        }
        if !notes.is_empty() {
            notes.push_str("\n\n");
        }
        notes.push_str(&format!("Signed by (typed): {name}"));
    }
    if actual_cost.is_none() && !errors.contains_key("actualCost") {
        errors.insert("actualCost".into(), "is required".into());
    }
    let input = CompleteInput {
        actual_cost,
        actual_duration_hours: actual_hours,
        final_price,
        parts: None,
        customer_notes: None,
        completion_notes: Some(notes),
    };
    let done = match input.validate() {
        Ok(done) if errors.is_empty() => done,
        Ok(_) => {
            let e = HttpError::Validation {
                message: "invalid fields".into(),
                fields: errors,
            };
            return refused((&state, &req, &who), &wo_id, "complete", values, e).await;
        }
        Err(e) => {
            let mut e = HttpError::from(e);
            if let HttpError::Validation { fields, .. } = &mut e {
                for (k, v) in errors {
                    fields.entry(k).or_insert(v);
                }
            }
            return refused((&state, &req, &who), &wo_id, "complete", values, e).await;
        }
    };
    let actor = who.actor();
    if let Err(e) = store_photos(&state, &actor, &wo_id, Kind::After, posted.files).await {
        return refused((&state, &req, &who), &wo_id, "complete", values, e).await;
    }
    let now = state.clock.now();
    let billing = wo_routes::billing(&state.config(), now);
    let result = wo_routes::act_as(
        &state,
        technician(&who.user),
        wo_id.clone(),
        move |c, id| repo::complete(c, &actor, now, id, &done, &billing),
    )
    .await;
    match result {
        Ok((wo, invoice)) => Ok(flash_redirect(
            &to_page(&wo.id),
            &format!(
                "{} completed. Invoice {} created.",
                wo.work_order_number, invoice.invoice_number
            ),
        )),
        Err(e) => refused((&state, &req, &who), &wo_id, "complete", values, e).await,
    }
}

async fn photos(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<AnyRole>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, UiError> {
    let wo_id = path_id(&id)?;
    // Who may post here is checked before the body is read; the token
    // before anything is stored.
    att_routes::visible(&state, &wo_id, &who.user).await?;
    let limit = state.config().attachments.max_bytes;
    let posted = read_posted(&req, payload, limit).await?;
    let kind = match posted.get("kind").as_deref() {
        Some("before") => Kind::Before,
        Some("after") | None => Kind::After,
        Some(_) => return Err(UiError::bad_request("Choose before or after.")),
    };
    let mut values = Values::new();
    values.insert("kind".into(), kind.as_str().into());
    let result = if posted.files.is_empty() {
        let mut f = FieldErrors::new();
        f.insert("photos".into(), "Choose or take a photo first.".into());
        Err(HttpError::Validation {
            message: "no photo".into(),
            fields: f,
        })
    } else {
        store_photos(&state, &who.actor(), &wo_id, kind, posted.files).await
    };
    match result {
        Ok(n) => Ok(flash_redirect(
            &format!("{}#photos", to_page(&wo_id)),
            &if n == 1 {
                format!("1 {} photo added.", kind.as_str())
            } else {
                format!("{n} {} photos added.", kind.as_str())
            },
        )),
        Err(e) => refused((&state, &req, &who), &wo_id, "photos", values, e).await,
    }
}

#[derive(Debug, Default, Deserialize)]
struct CancelForm {
    reason: Option<String>,
}

async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(form): Form<CancelForm>,
) -> Result<HttpResponse, UiError> {
    let wo_id = path_id(&id)?;
    let mut values = Values::new();
    values.insert("reason".into(), form.reason.clone().unwrap_or_default());
    let result = match (CancelInput {
        reason: form.reason,
    })
    .validate()
    {
        Ok(reason) => {
            let now = state.clock.now();
            let actor = who.actor();
            let id = wo_id.clone();
            state
                .db
                .write(move |c| repo::cancel(c, &actor, now, &id, reason.as_deref()))
                .await
                .map_err(HttpError::from)
        }
        Err(e) => Err(e.into()),
    };
    finish(
        (&state, &req, &who),
        &wo_id,
        "cancel",
        values,
        result,
        "cancelled",
    )
    .await
}

/// The edit form: only the fields the status allows are rendered, and only
/// the fields posted are changed (as a PATCH).
#[derive(Debug, Default, Deserialize)]
struct EditForm {
    service_type: Option<String>,
    description: Option<String>,
    priority: Option<String>,
    special_instructions: Option<String>,
    scheduled_date: Option<String>,
    scheduled_time: Option<String>,
    estimated_hours: Option<String>,
    quoted_price: Option<String>,
    customer_notes: Option<String>,
}

impl EditForm {
    fn values(&self) -> Values {
        let mut v = Values::new();
        for (k, val) in [
            ("service_type", &self.service_type),
            ("description", &self.description),
            ("priority", &self.priority),
            ("special_instructions", &self.special_instructions),
            ("edit_scheduled_date", &self.scheduled_date),
            ("edit_scheduled_time", &self.scheduled_time),
            ("edit_estimated_hours", &self.estimated_hours),
            ("quoted_price", &self.quoted_price),
            ("customer_notes", &self.customer_notes),
        ] {
            if let Some(val) = val {
                v.insert(k.into(), val.clone());
            }
        }
        v
    }

    /// The PATCH it means; bad amounts, hours or priority are field errors.
    fn input(&self) -> Result<WorkOrderInput, FieldErrors> {
        let mut errors = FieldErrors::new();
        let priority_level = match self.priority.as_deref().map(str::trim) {
            None => None,
            Some(p) => match Priority::parse(&p.to_lowercase()) {
                Some(p) => Some(p),
                None => {
                    errors.insert(
                        "priorityLevel".into(),
                        "must be low, medium, high or urgent".into(),
                    );
                    None
                }
            },
        };
        let nullable_text = |v: &Option<String>| {
            v.as_ref()
                .map(|s| Some(s.trim().to_string()).filter(|s| !s.is_empty()))
        };
        let estimated_duration_hours = self
            .estimated_hours
            .as_ref()
            .map(|_| parse_hours(&mut errors, "estimatedDurationHours", &self.estimated_hours));
        let quoted_price = self
            .quoted_price
            .as_ref()
            .map(|_| parse_money(&mut errors, "quotedPrice", &self.quoted_price));
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(WorkOrderInput {
            customer_id: None,
            service_type: self.service_type.clone(),
            job_description: self.description.clone(),
            priority_level,
            special_instructions: self.special_instructions.clone(),
            scheduled_date: nullable_text(&self.scheduled_date),
            scheduled_time: nullable_text(&self.scheduled_time),
            estimated_duration_hours,
            quoted_price,
            customer_notes: self.customer_notes.clone(),
        })
    }
}

async fn edit(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(form): Form<EditForm>,
) -> Result<HttpResponse, UiError> {
    let wo_id = path_id(&id)?;
    let values = form.values();
    let result = match form.input() {
        Ok(input) => {
            let now = state.clock.now();
            let actor = who.actor();
            let id = wo_id.clone();
            state
                .db
                .write(move |c| repo::update(c, &actor, now, &id, input))
                .await
                .map_err(HttpError::from)
        }
        Err(fields) => Err(HttpError::Validation {
            message: "invalid fields".into(),
            fields,
        }),
    };
    finish(
        (&state, &req, &who),
        &wo_id,
        "edit",
        values,
        result,
        "saved",
    )
    .await
}

// ------------------------------------------------------------------ my day

#[derive(Debug, Default, Deserialize)]
struct DayQuery {
    date: Option<String>,
}

/// `/my-day?date=`: the signed-in user's jobs on a day (today by default)
/// in schedule order, with addresses and map links.
async fn my_day(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<AnyRole>,
) -> Result<HttpResponse, UiError> {
    let q: DayQuery = query(&req)?;
    let today = state.today();
    let date = match filled(&q.date) {
        None => today,
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .ok()
            .filter(|d| (2000..=2100).contains(&chrono::Datelike::year(d)))
            .ok_or_else(|| UiError::bad_request("The date must look like 2026-03-31."))?,
    };
    let user_id = who.user.id.clone();
    let day = date.format("%Y-%m-%d").to_string();
    let (linked, jobs) = state
        .db
        .read(move |c| {
            let linked = repo::employee_for_user(c, &user_id)?.is_some();
            let filter = WorkOrderFilter {
                technician_user_id: Some(user_id),
                from: Some(day.clone()),
                to: Some(day),
                statuses: vec![Status::Scheduled, Status::InProgress, Status::Completed],
                ..WorkOrderFilter::default()
            };
            let (mut rows, _) = repo::list(c, &filter, 200, 0)?;
            rows.sort_by(|a, b| {
                (a.window_start, &a.scheduled_time, a.number).cmp(&(
                    b.window_start,
                    &b.scheduled_time,
                    b.number,
                ))
            });
            let mut jobs = Vec::with_capacity(rows.len());
            for wo in rows {
                let customer = customers::get(c, &wo.customer_id)?;
                jobs.push((wo, customer));
            }
            Ok((linked, jobs))
        })
        .await?;
    let jobs: Vec<Value> = jobs
        .into_iter()
        .map(|(wo, customer)| {
            let address = customer_address(customer.as_ref());
            let phone = customer
                .as_ref()
                .map(|c| c.fields.phone.clone())
                .unwrap_or_default();
            let tel = phone
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '+')
                .collect::<String>();
            context! {
                end => wo.window_end.map(clock_of),
                map_url => (!address.is_empty()).then(|| map_url(&address)),
                address,
                phone,
                tel,
                wo,
            }
        })
        .collect();
    let day = |d: Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
    render(
        &state,
        &req,
        &who,
        "jobs_my_day.html",
        context! {
            jobs,
            linked,
            date => date.format("%Y-%m-%d").to_string(),
            date_label => date.format("%A %-d %B %Y").to_string(),
            is_today => date == today,
            prev => day(date.pred_opt()),
            next => day(date.succ_opt()),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_hours_from_forms() {
        let mut e = FieldErrors::new();
        let m = |s: &str, e: &mut FieldErrors| parse_money(e, "x", &Some(s.to_string()));
        assert_eq!(m("$1,250.5", &mut e), Some(Money::from_cents(125_050)));
        assert_eq!(m("  ", &mut e), None);
        assert!(e.is_empty());
        assert_eq!(m("-3", &mut e), None);
        assert_eq!(e.get("x").map(String::as_str), Some("must not be negative"));
        let mut e = FieldErrors::new();
        assert_eq!(m("12.345", &mut e), None);
        assert!(e.contains_key("x"));
        let mut e = FieldErrors::new();
        let h = |s: &str, e: &mut FieldErrors| parse_hours(e, "h", &Some(s.to_string()));
        assert_eq!(h("1.5", &mut e), Some(Minutes(90)));
        assert_eq!(h("0", &mut e), None);
        assert_eq!(
            e.get("h").map(String::as_str),
            Some("must be more than 0 hours")
        );
        let mut e = FieldErrors::new();
        assert_eq!(h("soon", &mut e), None);
        assert!(e.contains_key("h"));
        assert_eq!(clock_of(1440 + 9 * 60 + 5), "09:05");
        assert_eq!(
            map_url("12 Main St, Springfield"),
            "https://www.openstreetmap.org/search?query=12%20Main%20St%2C%20Springfield"
        );
    }

    #[test]
    fn edit_posts_only_what_was_shown() {
        let f = EditForm {
            customer_notes: Some("Gate code 1234".into()),
            scheduled_date: Some("".into()),
            quoted_price: Some("".into()),
            ..EditForm::default()
        };
        let i = f.input().unwrap();
        assert_eq!(
            i.present(),
            ["scheduledDate", "quotedPrice", "customerNotes"]
        );
        assert_eq!(i.scheduled_date, Some(None));
        assert_eq!(i.quoted_price, Some(None));
        let bad = EditForm {
            priority: Some("asap".into()),
            quoted_price: Some("lots".into()),
            ..EditForm::default()
        };
        let e = bad.input().unwrap_err();
        assert!(e.contains_key("priorityLevel") && e.contains_key("quotedPrice"));
    }
}
