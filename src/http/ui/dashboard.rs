//! The owner's and office's dashboard (`/dashboard`): the headline figures
//! of DESIGN §5 and three server-rendered SVG charts ([`super::charts`]) —
//! revenue and cost by month, work orders by status, margin by service type —
//! each with its numbers in a table (also as CSV: `?format=csv&table=months|
//! status|services`). The range is a preset (`?range=30d|year|12m`) or
//! `?from=&to=`. Technicians are sent to their day.

use super::{UiError, UiUser, charts, render, see_other};
use crate::db::analytics::Dashboard;
use crate::domain::analytics::{DEFAULT_RANGE_DAYS, DateRange};
use crate::domain::user::Role;
use crate::http::auth::AnyRole;
use crate::http::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Datelike, Months, NaiveDate};
use minijinja::{Value, context};
use serde::Deserialize;

/// Registers `/dashboard`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(dashboard));
}

#[derive(Deserialize)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    range: Option<String>,
    format: Option<String>,
    table: Option<String>,
}

/// The range presets: key, label.
const PRESETS: [(&str, &str); 3] = [
    ("30d", "Last 30 days"),
    ("year", "This year"),
    ("12m", "Last 12 months"),
];

/// The range a preset names on `today`; `None` for an unknown key.
pub fn preset_range(key: &str, today: NaiveDate) -> Option<DateRange> {
    match key {
        "30d" => Some(DateRange::last_days(today, DEFAULT_RANGE_DAYS)),
        "year" => Some(DateRange {
            from: NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today),
            to: today,
        }),
        "12m" => {
            let first = today.with_day(1).unwrap_or(today);
            Some(DateRange {
                from: first.checked_sub_months(Months::new(11)).unwrap_or(first),
                to: today,
            })
        }
        _ => None,
    }
}

async fn dashboard(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<AnyRole>,
    q: web::Query<RangeQuery>,
) -> Result<HttpResponse, UiError> {
    if who.user.role == Role::Technician {
        return Ok(see_other("/my-day"));
    }
    let tz = state.config().timezone();
    let today = state.today();
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
    let (from, to, preset) = (nonempty(&q.from), nonempty(&q.to), nonempty(&q.range));
    let (range, current) = match (&preset, &from, &to) {
        (Some(key), _, _) => (
            preset_range(key, today).ok_or_else(|| {
                UiError::bad_request(
                    "Unknown range: choose last 30 days, this year or last 12 months.",
                )
            })?,
            key.clone(),
        ),
        (None, None, None) => (
            DateRange::last_days(today, DEFAULT_RANGE_DAYS),
            "30d".into(),
        ),
        _ => (
            DateRange::parse(from.as_deref(), to.as_deref(), today, DEFAULT_RANGE_DAYS)?,
            String::new(),
        ),
    };
    let d = state
        .db
        .read(move |c| crate::db::analytics::dashboard(c, &range, tz))
        .await?;
    // The query that reproduces this range, for the export links.
    let range_query = if current.is_empty() {
        format!("from={}&to={}", d.from, d.to)
    } else {
        format!("range={current}")
    };
    if q.format.as_deref() == Some("csv") {
        return export(&d, q.table.as_deref().unwrap_or(""));
    }
    let presets: Vec<Value> = PRESETS
        .iter()
        .map(|(key, label)| {
            context! { key, label, href => format!("/dashboard?range={key}"), current => current == *key }
        })
        .collect();
    let charts = context! {
        revenue => Value::from_safe_string(charts::revenue_by_month(&d.revenue_by_month)),
        status => Value::from_safe_string(charts::jobs_by_status(&d.jobs_by_status)),
        margin => Value::from_safe_string(charts::margin_by_service(&d.margin_by_service_type)),
    };
    let s = &d.jobs_by_status;
    let statuses = vec![
        ("Draft", "draft", s.draft),
        ("Scheduled", "scheduled", s.scheduled),
        ("In progress", "in_progress", s.in_progress),
        ("Completed", "completed", s.completed),
        ("Cancelled", "cancelled", s.cancelled),
    ];
    let months: Vec<Value> = d
        .revenue_by_month
        .iter()
        .map(|m| {
            context! {
                name => charts::month_name(&m.month),
                revenue => m.revenue.cents(),
                cost => m.cost.cents(),
                profit => m.revenue.minus(m.cost).cents(),
                jobs => m.jobs,
            }
        })
        .collect();
    let custom = current.is_empty();
    let more_services = d.margin_by_service_type.len() > charts::MAX_SERVICE_ROWS;
    render(
        &state,
        &req,
        &who,
        "dashboard.html",
        context! {
            d, charts, presets, statuses, months, range_query, custom,
            max_service_rows => charts::MAX_SERVICE_ROWS,
            more_services,
        },
    )
}

/// One of the dashboard's tables as CSV. Fails (400 page) for an unknown table.
fn export(d: &Dashboard, table: &str) -> Result<HttpResponse, UiError> {
    let suffix = format!("{}-to-{}.csv", d.from, d.to);
    match table {
        "months" => super::csv(
            &format!("revenue-by-month-{suffix}"),
            &["month", "revenue", "cost", "profit", "jobs"],
            d.revenue_by_month.iter().map(|m| {
                vec![
                    m.month.clone(),
                    m.revenue.to_decimal(),
                    m.cost.to_decimal(),
                    m.revenue.minus(m.cost).to_decimal(),
                    m.jobs.to_string(),
                ]
            }),
        ),
        "status" => {
            let s = &d.jobs_by_status;
            super::csv(
                &format!("work-orders-by-status-{suffix}"),
                &["status", "work_orders"],
                [
                    ("draft", s.draft),
                    ("scheduled", s.scheduled),
                    ("in_progress", s.in_progress),
                    ("completed", s.completed),
                    ("cancelled", s.cancelled),
                ]
                .into_iter()
                .map(|(k, n)| vec![k.to_string(), n.to_string()]),
            )
        }
        "services" => super::csv(
            &format!("margin-by-service-type-{suffix}"),
            &["service_type", "jobs", "revenue", "cost", "margin"],
            d.margin_by_service_type.iter().map(|m| {
                vec![
                    m.service_type.clone(),
                    m.jobs.to_string(),
                    m.revenue.to_decimal(),
                    m.cost.to_decimal(),
                    format!("{:.4}", m.margin),
                ]
            }),
        ),
        _ => Err(UiError::bad_request(
            "Unknown table: choose months, status or services.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn presets_cover_the_promised_ranges() {
        let today = d("2026-03-15");
        let r = preset_range("30d", today).unwrap();
        assert_eq!((r.from, r.to, r.days()), (d("2026-02-14"), today, 30));
        let r = preset_range("year", today).unwrap();
        assert_eq!((r.from, r.to), (d("2026-01-01"), today));
        let r = preset_range("12m", today).unwrap();
        assert_eq!((r.from, r.to), (d("2025-04-01"), today));
        let r = preset_range("12m", d("2026-01-31")).unwrap();
        assert_eq!(r.from, d("2025-02-01"));
        assert!(preset_range("week", today).is_none());
    }
}
