//! Lead pages: `/leads` (the inbox by status, search, CSV), `/leads/new`
//! (intake, converted at once when `[business] auto_convert_leads` is on),
//! `/leads/{id}` and its actions — mark contacted, mark lost (with a
//! reason), convert into a customer and a draft work order — through the
//! same repository functions as the API.

use super::{
    EXPORT_LIMIT, Refusal, page_query, pager, parse_page, refusal, search_text, wants_csv,
};
use crate::db::DbError;
use crate::db::leads::{self as repo, Intake, LeadFilter};
use crate::domain::FieldErrors;
use crate::domain::ids::new_id;
use crate::domain::lead::{Lead, LeadFields, LeadInput, LeadPatch, LeadStatus, Urgency};
use crate::http::auth::Staff;
use crate::http::path_id;
use crate::http::state::AppState;
use crate::http::ui::{Form, UiError, UiUser, csv, flash_redirect, render, render_status};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::{Deserialize, Serialize};

/// Registers the lead pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/leads")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .route("/leads/new", web::get().to(new_form))
    .route("/leads/{id}", web::get().to(detail))
    .route("/leads/{id}/convert", web::post().to(convert))
    .route("/leads/{id}/contacted", web::post().to(contacted))
    .route("/leads/{id}/lost", web::post().to(lost));
}

/// The inbox tabs: key, label, status filter.
const TABS: [(&str, &str, Option<LeadStatus>); 5] = [
    ("new", "New", Some(LeadStatus::New)),
    ("contacted", "Contacted", Some(LeadStatus::Contacted)),
    ("converted", "Converted", Some(LeadStatus::Converted)),
    ("lost", "Lost", Some(LeadStatus::Lost)),
    ("all", "All", None),
];

/// Query of `/leads`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    q: Option<String>,
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
    let key = super::blank(q.status).unwrap_or_else(|| "new".into());
    let Some(&(key, _, status)) = TABS.iter().find(|t| t.0 == key) else {
        return Err(crate::domain::DomainError::field(
            "status",
            "must be one of new, contacted, converted, lost, all",
        )
        .into());
    };
    let text = search_text("q", q.q, 200)?;
    let filter = LeadFilter {
        status,
        q: text.clone(),
    };
    let (limit, offset) = if csv_out {
        (EXPORT_LIMIT, 0)
    } else {
        (page.limit.into(), page.offset())
    };
    let counts_q = text.clone();
    let ((rows, total), counts) = state
        .db
        .read(move |c| {
            let page = repo::list(c, &filter, limit, offset)?;
            let mut counts = Vec::new();
            for (_, _, s) in TABS {
                let f = LeadFilter {
                    status: s,
                    q: counts_q.clone(),
                };
                counts.push(repo::list(c, &f, 0, 0)?.1);
            }
            Ok((page, counts))
        })
        .await?;
    if csv_out {
        return csv(
            "leads.csv",
            &[
                "id",
                "received",
                "name",
                "phone",
                "email",
                "service type",
                "description",
                "urgency",
                "source",
                "status",
                "lost reason",
                "customer id",
                "work order id",
            ],
            rows.into_iter().map(|l| {
                vec![
                    l.id,
                    l.created_at,
                    l.fields.name,
                    l.fields.phone,
                    l.fields.email,
                    l.fields.service_type,
                    l.fields.description,
                    l.fields.urgency.as_str().into(),
                    l.fields.source,
                    l.status.as_str().into(),
                    l.lost_reason.unwrap_or_default(),
                    l.customer_id.unwrap_or_default(),
                    l.work_order_id.unwrap_or_default(),
                ]
            }),
        );
    }
    let tabs: Vec<(String, String, String, i64)> = TABS
        .iter()
        .zip(counts)
        .map(|((k, label, _), n)| {
            let mut pairs = vec![("status".to_string(), k.to_string())];
            if let Some(t) = &text {
                pairs.push(("q".into(), t.clone()));
            }
            let href = format!(
                "/leads?{}",
                serde_urlencoded::to_string(&pairs).unwrap_or_default()
            );
            (k.to_string(), label.to_string(), href, n)
        })
        .collect();
    let pager = pager(&req, page, total);
    render(
        &state,
        &req,
        &who,
        "office_leads.html",
        context! { rows, pager, tabs, current => key, q => text.unwrap_or_default() },
    )
}

/// The intake form's values.
#[derive(Debug, Deserialize, Serialize)]
struct LeadForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default, rename = "serviceType")]
    service_type: String,
    #[serde(default)]
    description: String,
    #[serde(default = "medium")]
    urgency: String,
    #[serde(default)]
    source: String,
}

fn medium() -> String {
    "medium".into()
}

impl Default for LeadForm {
    fn default() -> Self {
        LeadForm {
            name: String::new(),
            phone: String::new(),
            email: String::new(),
            service_type: String::new(),
            description: String::new(),
            urgency: medium(),
            source: String::new(),
        }
    }
}

fn render_form(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<Staff>,
    status: StatusCode,
    form: &LeadForm,
    refused: Option<Refusal>,
) -> Result<HttpResponse, UiError> {
    let errors = refused.as_ref().map(Refusal::fields).unwrap_or_default();
    let alert = refused.as_ref().and_then(Refusal::alert);
    let auto_convert = state.config().business.auto_convert_leads;
    render_status(
        state,
        req,
        Some(&who.user),
        &who.csrf,
        status,
        "office_lead_form.html",
        context! { form, errors, alert, auto_convert },
    )
}

async fn new_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
) -> Result<HttpResponse, UiError> {
    render_form(
        &state,
        &req,
        &who,
        StatusCode::OK,
        &LeadForm::default(),
        None,
    )
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    Form(form): Form<LeadForm>,
) -> Result<HttpResponse, UiError> {
    let mut pre = FieldErrors::new();
    let urgency = match Urgency::parse(form.urgency.trim()) {
        Some(u) => Some(u),
        None => {
            pre.insert(
                "urgency".into(),
                "must be one of low, medium, high, urgent".into(),
            );
            None
        }
    };
    let input = LeadInput {
        name: Some(form.name.clone()),
        phone: Some(form.phone.clone()),
        email: Some(form.email.clone()),
        service_type: Some(form.service_type.clone()),
        description: Some(form.description.clone()),
        urgency,
        source: Some(form.source.clone()),
    };
    let fields = match super::joined(pre, LeadFields::merge(&LeadFields::default(), input)) {
        Ok(f) => f,
        Err(r) => return render_form(&state, &req, &who, r.status(), &form, Some(r)),
    };
    let now = state.clock.now();
    let id = new_id(now).to_string();
    let actor = who.actor();
    let auto = state.config().business.auto_convert_leads;
    let made = state
        .db
        .write(move |c| repo::intake(c, &actor, &id, fields, now, auto))
        .await;
    match made {
        Ok(Intake::Lead(lead)) => Ok(flash_redirect(
            &format!("/leads/{}", lead.id),
            &format!("Lead “{}” added.", lead.fields.name),
        )),
        Ok(Intake::Converted(conv)) => Ok(flash_redirect(
            &format!("/leads/{}", conv.lead.id),
            &format!(
                "Lead “{}” added and converted: draft work order {} for {}.",
                conv.lead.fields.name, conv.work_order.work_order_number, conv.customer.fields.name
            ),
        )),
        Err(e) => {
            let r = refusal(e)?;
            render_form(&state, &req, &who, r.status(), &form, Some(r))
        }
    }
}

/// What the lead page shows besides the lead.
#[derive(Serialize)]
struct Outcome {
    customer_name: Option<String>,
    work_order_number: Option<String>,
}

async fn detail(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    detail_page(&state, &req, &who, &id, StatusCode::OK, "", None).await
}

async fn detail_page(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<Staff>,
    raw_id: &str,
    status: StatusCode,
    reason: &str,
    refused: Option<Refusal>,
) -> Result<HttpResponse, UiError> {
    let id = path_id(raw_id)?;
    let (lead, outcome) = state
        .db
        .read(move |c| {
            let lead: Lead = repo::get(c, &id)?.ok_or(DbError::NotFound)?;
            let customer_name = match &lead.customer_id {
                Some(cid) => crate::db::customers::get(c, cid)?.map(|x| x.fields.name),
                None => None,
            };
            let work_order_number = match &lead.work_order_id {
                Some(wid) => crate::db::work_orders::get(c, wid)?.map(|w| w.work_order_number),
                None => None,
            };
            Ok((
                lead,
                Outcome {
                    customer_name,
                    work_order_number,
                },
            ))
        })
        .await?;
    let errors = refused.as_ref().map(Refusal::fields).unwrap_or_default();
    let alert = refused.as_ref().and_then(Refusal::alert);
    let open = lead.status.is_open();
    render_status(
        state,
        req,
        Some(&who.user),
        &who.csrf,
        status,
        "office_lead.html",
        context! { lead, outcome, open, errors, alert, reason },
    )
}

#[derive(Deserialize)]
struct Empty {}

async fn convert(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(_): Form<Empty>,
) -> Result<HttpResponse, UiError> {
    let lead_id = path_id(&id)?;
    let now = state.clock.now();
    let actor = who.actor();
    let lid = lead_id.clone();
    match state
        .db
        .write(move |c| repo::convert(c, &actor, &lid, now))
        .await
    {
        Ok(conv) => Ok(flash_redirect(
            &format!("/leads/{lead_id}"),
            &format!(
                "Converted: draft work order {} for {}{}.",
                conv.work_order.work_order_number,
                conv.customer.fields.name,
                if conv.matched_existing_customer {
                    " (an existing customer)"
                } else {
                    " (a new customer)"
                }
            ),
        )),
        Err(e) => {
            let r = refusal(e)?;
            detail_page(&state, &req, &who, &lead_id, r.status(), "", Some(r)).await
        }
    }
}

async fn contacted(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(_): Form<Empty>,
) -> Result<HttpResponse, UiError> {
    let patch = LeadPatch {
        status: Some(LeadStatus::Contacted),
        ..Default::default()
    };
    apply(&state, &req, &who, &id, patch, "", "Marked as contacted.").await
}

#[derive(Deserialize)]
struct LostForm {
    #[serde(default)]
    reason: String,
}

async fn lost(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(form): Form<LostForm>,
) -> Result<HttpResponse, UiError> {
    let patch = LeadPatch {
        status: Some(LeadStatus::Lost),
        lost_reason: Some(form.reason.clone()),
        ..Default::default()
    };
    apply(
        &state,
        &req,
        &who,
        &id,
        patch,
        &form.reason,
        "Marked as lost.",
    )
    .await
}

/// Applies a status change through the API's repository function and goes
/// back to the lead; a refusal re-renders the lead page.
async fn apply(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<Staff>,
    raw_id: &str,
    patch: LeadPatch,
    reason: &str,
    done: &str,
) -> Result<HttpResponse, UiError> {
    let lead_id = path_id(raw_id)?;
    let now = state.clock.now();
    let actor = who.actor();
    let lid = lead_id.clone();
    match state
        .db
        .write(move |c| repo::patch(c, &actor, &lid, now, patch))
        .await
    {
        Ok(_) => Ok(flash_redirect(&format!("/leads/{lead_id}"), done)),
        Err(e) => {
            let r = match refusal(e)? {
                Refusal::Fields(f) => Refusal::Fields(rename_reason(f)),
                other => other,
            };
            detail_page(state, req, who, &lead_id, r.status(), reason, Some(r)).await
        }
    }
}

/// The API calls the lost reason `lostReason`; the form calls it `reason`.
fn rename_reason(f: FieldErrors) -> FieldErrors {
    f.into_iter()
        .map(|(k, v)| {
            if k == "lostReason" {
                ("reason".to_string(), v)
            } else {
                (k, v)
            }
        })
        .collect()
}
