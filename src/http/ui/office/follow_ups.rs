//! Follow-up pages: `/follow-ups` — what is due (today and overdue first),
//! overdue, upcoming, open, done, cancelled or all, optionally for one
//! customer, with CSV — and marking one done with a note.

use super::{EXPORT_LIMIT, Refusal, pager_at, parse_page, refusal, wants_csv};
use crate::db::DbError;
use crate::db::follow_ups::{self as repo, FollowUpFilter};
use crate::domain::DomainError;
use crate::domain::follow_up::{FollowUpFields, FollowUpPatch, FollowUpStatus};
use crate::domain::ids::parse_id;
use crate::http::auth::Staff;
use crate::http::path_id;
use crate::http::state::AppState;
use crate::http::ui::{Form, UiError, UiUser, csv, flash_redirect, render_status, safe_next};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::{Deserialize, Serialize};

/// Registers the follow-up pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/follow-ups", web::get().to(list))
        .route("/follow-ups/{id}/done", web::post().to(done));
}

/// The views: key, label.
const VIEWS: [(&str, &str); 7] = [
    ("due", "Due now"),
    ("overdue", "Overdue"),
    ("upcoming", "Upcoming"),
    ("open", "All open"),
    ("done", "Done"),
    ("cancelled", "Cancelled"),
    ("all", "All"),
];

/// Query of `/follow-ups`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    show: Option<String>,
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
    list_page(&state, &req, &who, req.query_string(), None).await
}

/// A refused "mark done": which follow-up, the note typed, and why.
struct Failed {
    id: String,
    note: String,
    refusal: Refusal,
}

/// Renders the list for `query` (the page's own query string, or the one
/// a refused form came from).
async fn list_page(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<Staff>,
    query: &str,
    failed: Option<Failed>,
) -> Result<HttpResponse, UiError> {
    let q: ListQuery = crate::http::query::parse_query(query)?;
    let csv_out = wants_csv(q.format.as_deref())?;
    let page = parse_page(q.page, q.limit)?;
    let view = super::blank(q.show).unwrap_or_else(|| "due".into());
    let today = state.today();
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let mut filter = FollowUpFilter::default();
    match view.as_str() {
        "due" => {
            filter.status = Some(FollowUpStatus::Open);
            filter.to = Some(day(today));
        }
        "overdue" => filter.overdue_on = Some(day(today)),
        "upcoming" => {
            filter.status = Some(FollowUpStatus::Open);
            filter.from = today.succ_opt().map(day);
        }
        "open" => filter.status = Some(FollowUpStatus::Open),
        "done" => filter.status = Some(FollowUpStatus::Done),
        "cancelled" => filter.status = Some(FollowUpStatus::Cancelled),
        "all" => {}
        _ => {
            return Err(DomainError::field(
                "show",
                "must be one of due, overdue, upcoming, open, done, cancelled, all",
            )
            .into());
        }
    }
    filter.customer_id = match super::blank(q.customer_id) {
        None => None,
        Some(raw) => Some(
            parse_id(&raw)
                .map(|u| u.to_string())
                .ok_or_else(|| DomainError::field("customer_id", "must be an id"))?,
        ),
    };
    let customer_id = filter.customer_id.clone();
    let (limit, offset) = if csv_out {
        (EXPORT_LIMIT, 0)
    } else {
        (page.limit.into(), page.offset())
    };
    let (rows, total) = state
        .db
        .read(move |c| repo::list(c, &filter, limit, offset))
        .await?;
    if csv_out {
        return csv(
            "follow-ups.csv",
            &[
                "due",
                "status",
                "customer",
                "work order",
                "note",
                "completed",
                "id",
                "customer id",
            ],
            rows.into_iter().map(|f| {
                vec![
                    f.due_date,
                    f.status.as_str().into(),
                    f.customer_name,
                    f.work_order_number.unwrap_or_default(),
                    f.note,
                    f.completed_at.unwrap_or_default(),
                    f.id,
                    f.customer_id,
                ]
            }),
        );
    }
    let today_s = day(today);
    let keep: Vec<(String, String)> = [
        ("show", Some(view.clone())),
        ("customer_id", customer_id.clone()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
    .collect();
    let pager = pager_at("/follow-ups", keep.clone(), page, total);
    let here = match serde_urlencoded::to_string(
        keep.iter()
            .cloned()
            .chain((page.page > 1).then(|| ("page".to_string(), page.page.to_string())))
            .collect::<Vec<_>>(),
    ) {
        Ok(qs) if !qs.is_empty() => format!("/follow-ups?{qs}"),
        _ => "/follow-ups".to_string(),
    };
    let tabs: Vec<(String, String, String)> = VIEWS
        .iter()
        .map(|(k, label)| {
            let mut pairs = vec![("show".to_string(), k.to_string())];
            if let Some(c) = &customer_id {
                pairs.push(("customer_id".into(), c.clone()));
            }
            let href = format!(
                "/follow-ups?{}",
                serde_urlencoded::to_string(&pairs).unwrap_or_default()
            );
            (k.to_string(), label.to_string(), href)
        })
        .collect();
    let rows: Vec<FollowUpRow> = rows
        .into_iter()
        .map(|f| FollowUpRow {
            overdue: f.status == FollowUpStatus::Open && f.due_date < today_s,
            f,
        })
        .collect();
    let status = failed
        .as_ref()
        .map(|f| f.refusal.status())
        .unwrap_or(StatusCode::OK);
    let failed = failed.map(|f| {
        context! {
            id => f.id,
            note => f.note,
            errors => f.refusal.fields(),
            alert => f.refusal.alert(),
        }
    });
    render_status(
        state,
        req,
        Some(&who.user),
        &who.csrf,
        status,
        "office_follow_ups.html",
        context! { rows, pager, tabs, current => view, customer_id, here, failed },
    )
}

/// A follow-up row.
#[derive(Serialize)]
struct FollowUpRow {
    #[serde(flatten)]
    f: crate::domain::follow_up::FollowUp,
    overdue: bool,
}

/// The "mark done" form.
#[derive(Debug, Deserialize)]
struct DoneForm {
    #[serde(default)]
    note: String,
    next: Option<String>,
}

async fn done(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(form): Form<DoneForm>,
) -> Result<HttpResponse, UiError> {
    let fid = path_id(&id)?;
    let next = form
        .next
        .as_deref()
        .filter(|n| n.starts_with("/follow-ups"))
        .map(|n| safe_next(Some(n)))
        .unwrap_or_else(|| "/follow-ups".into());
    let patch = FollowUpPatch {
        status: Some(FollowUpStatus::Done),
        note: Some(form.note.clone()),
        due_date: None,
    };
    let now = state.clock.now();
    let ts = crate::clock::format_ts(now);
    let actor = who.actor();
    let target = fid.clone();
    match state
        .db
        .write(move |c| {
            repo::update(c, &actor, &target, now, |cur| {
                FollowUpFields::merge(cur, patch, &ts).map_err(DbError::from)
            })
        })
        .await
    {
        Ok(f) => Ok(flash_redirect(
            &next,
            &format!("Follow-up with {} marked done.", f.customer_name),
        )),
        Err(e) => {
            let refusal = refusal(e)?;
            let query = next.split_once('?').map(|(_, q)| q).unwrap_or("");
            list_page(
                &state,
                &req,
                &who,
                query,
                Some(Failed {
                    id: fid,
                    note: form.note,
                    refusal,
                }),
            )
            .await
        }
    }
}
