//! The business-intelligence page (`/business-intelligence`, owner and
//! office): a plain-language summary (`ai-insights`), customer profitability
//! (`profitability-analysis`), equipment utilization
//! (`equipment-utilization`), employee performance with the parts of each
//! score (`employee-performance`) and the recommendations
//! (`ai-recommendations`, each a `recommendation-item`: title, why, what to
//! do). Everything comes from [`crate::db::analytics`], called exactly as
//! the `/api/v1/analytics/*` handlers call it. Every table downloads as CSV:
//! `?format=csv&table=customers|equipment|employees|recommendations`.

use super::{UiError, UiUser, render};
use crate::db::analytics::{
    self as repo, CustomerAnalytics, Dashboard, EmployeeAnalytics, EquipmentAnalytics,
};
use crate::domain::analytics::{
    DEFAULT_RANGE_DAYS, DateRange, PERFORMANCE_RANGE_DAYS, Recommendation, Severity,
};
use crate::http::auth::Staff;
use crate::http::pagination::{Page, PageQuery};
use crate::http::state::AppState;
use crate::http::templates::{money, thousands};
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::{Value, context};
use serde::Deserialize;

/// Registers `/business-intelligence`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/business-intelligence", web::get().to(page));
}

/// Customers per page of the profitability table.
const CUSTOMERS_PER_PAGE: u32 = 25;

#[derive(Deserialize)]
struct BiQuery {
    page: Option<String>,
    format: Option<String>,
    table: Option<String>,
}

/// A recommendation's `detail` split into what was found (`why`) and what to
/// do: every rule ends its detail with one sentence of advice that carries no
/// data, so the split is at the last sentence boundary. A detail of one
/// sentence is all `why`.
pub fn split_detail(detail: &str) -> (&str, &str) {
    let body = detail.trim_end();
    let inner = body.strip_suffix('.').unwrap_or(body);
    match inner.rfind(". ") {
        Some(i) => (body[..=i].trim(), body[i + 1..].trim()),
        None => (body, ""),
    }
}

fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::High => "Urgent",
        Severity::Medium => "Soon",
        Severity::Low => "Worth a look",
        Severity::Info => "Tip",
    }
}

fn severity_key(s: Severity) -> &'static str {
    match s {
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Info => "info",
    }
}

/// Everything the page shows, read in one go.
struct Data {
    summary: Dashboard,
    customers: Vec<CustomerAnalytics>,
    customers_total: i64,
    top_customer: Option<CustomerAnalytics>,
    equipment: Vec<EquipmentAnalytics>,
    equipment_range: DateRange,
    employees: Vec<EmployeeAnalytics>,
    employees_range: DateRange,
    recommendations: Vec<Recommendation>,
}

async fn load(state: &AppState, page: Option<Page>) -> Result<Data, UiError> {
    let tz = state.config().timezone();
    let today = state.today();
    let summary_range = DateRange::last_days(today, DEFAULT_RANGE_DAYS);
    let equipment_range = DateRange::last_days(today, DEFAULT_RANGE_DAYS);
    let employees_range = DateRange::last_days(today, PERFORMANCE_RANGE_DAYS);
    Ok(state
        .db
        .read(move |c| {
            let (limit, offset) = match page {
                Some(p) => (i64::from(p.limit), p.offset()),
                None => (i64::MAX, 0),
            };
            let (customers, customers_total) = repo::customers(c, today, tz, limit, offset)?;
            let top_customer = if offset == 0 {
                customers.first().cloned()
            } else {
                repo::customers(c, today, tz, 1, 0)?.0.into_iter().next()
            };
            Ok(Data {
                summary: repo::dashboard(c, &summary_range, tz)?,
                customers,
                customers_total,
                top_customer,
                equipment: repo::equipment(c, &equipment_range, tz, true)?,
                equipment_range,
                employees: repo::employees(c, &employees_range, today, tz, false)?,
                employees_range,
                recommendations: repo::recommendations(c, today, tz)?,
            })
        })
        .await?)
}

/// The plain-language summary: one sentence per area.
fn insights(d: &Data) -> Vec<String> {
    let mut out = Vec::new();
    let s = &d.summary;
    if s.jobs_completed > 0 {
        out.push(format!(
            "In the last {DEFAULT_RANGE_DAYS} days you completed {} job(s) for {} of revenue at a {:.0}% profit margin ({} profit).",
            thousands(s.jobs_completed.unsigned_abs().into()),
            money(s.total_revenue.cents()),
            s.profit_margin * 100.0,
            money(s.profit.cents()),
        ));
    } else {
        out.push(format!(
            "No jobs were completed in the last {DEFAULT_RANGE_DAYS} days; {} work order(s) are scheduled or in progress.",
            s.active_work_orders
        ));
    }
    if let Some(best) = s
        .margin_by_service_type
        .iter()
        .filter(|m| m.jobs > 0)
        .max_by(|a, b| a.margin.total_cmp(&b.margin))
    {
        let worst = s
            .margin_by_service_type
            .iter()
            .filter(|m| m.jobs > 0)
            .min_by(|a, b| a.margin.total_cmp(&b.margin));
        match worst {
            Some(w) if w.service_type != best.service_type => out.push(format!(
                "Best margin: {} at {:.0}%; lowest: {} at {:.0}%.",
                best.service_type,
                best.margin * 100.0,
                w.service_type,
                w.margin * 100.0
            )),
            _ => out.push(format!(
                "All completed work was {} at a {:.0}% margin.",
                best.service_type,
                best.margin * 100.0
            )),
        }
    }
    match &d.top_customer {
        Some(c) if c.jobs > 0 => out.push(format!(
            "Most valuable customer: {} — {} over {} completed job(s), profitability score {:.0}/100.",
            c.name,
            money(c.lifetime_value.cents()),
            c.jobs,
            c.profitability_score
        )),
        _ => out.push("No customer has a completed job yet, so lifetime values are all zero.".into()),
    }
    let in_service: Vec<&EquipmentAnalytics> = d
        .equipment
        .iter()
        .filter(|e| e.status != "retired")
        .collect();
    if let Some(busiest) = in_service.first() {
        let avg = in_service
            .iter()
            .map(|e| e.utilization_percentage)
            .sum::<f64>()
            / in_service.len() as f64;
        out.push(format!(
            "Equipment in service is booked {avg:.1}% of working hours on average; the busiest is {} at {:.1}%.",
            busiest.name, busiest.utilization_percentage
        ));
    } else {
        out.push("No equipment is recorded, so utilization cannot be measured.".into());
    }
    match d.employees.iter().find(|e| e.active) {
        Some(e) if e.jobs_completed > 0 => out.push(format!(
            "Top performer over the last {PERFORMANCE_RANGE_DAYS} days: {} (score {:.0}/100, {} job(s) completed).",
            e.name, e.performance_score, e.jobs_completed
        )),
        Some(_) => out.push(format!(
            "No technician completed a job in the last {PERFORMANCE_RANGE_DAYS} days, so performance scores rest on neutral values."
        )),
        None => out.push("No active employees are recorded.".into()),
    }
    let urgent = d
        .recommendations
        .iter()
        .filter(|r| r.severity == Severity::High)
        .count();
    out.push(format!(
        "{} recommendation(s) below, {urgent} of them urgent.",
        d.recommendations.len()
    ));
    out
}

fn recommendation_views(recs: &[Recommendation]) -> Vec<Value> {
    recs.iter()
        .map(|r| {
            let (why, action) = split_detail(&r.detail);
            context! {
                id => r.id.clone(),
                kind => r.kind,
                severity => severity_key(r.severity),
                severity_label => severity_label(r.severity),
                title => r.title.clone(),
                why,
                action,
            }
        })
        .collect()
}

async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    q: web::Query<BiQuery>,
) -> Result<HttpResponse, UiError> {
    if q.format.as_deref() == Some("csv") {
        let d = load(&state, None).await?;
        return export(&d, q.table.as_deref().unwrap_or(""));
    }
    let page = Page::parse(&PageQuery {
        page: q.page.clone().filter(|p| !p.is_empty()),
        limit: Some(CUSTOMERS_PER_PAGE.to_string()),
    })?;
    let d = load(&state, Some(page)).await?;
    let total_pages = (d.customers_total + i64::from(page.limit) - 1) / i64::from(page.limit);
    let pager = context! {
        page => page.page,
        total_pages,
        prev => (page.page > 1).then(|| page.page - 1),
        next => (i64::from(page.page) < total_pages).then(|| page.page + 1),
        first_rank => page.offset() + 1,
    };
    let summary = insights(&d);
    let recommendations = recommendation_views(&d.recommendations);
    render(
        &state,
        &req,
        &who,
        "insights.html",
        context! {
            summary,
            customers => d.customers,
            customers_total => d.customers_total,
            pager,
            equipment => d.equipment,
            equipment_range => d.equipment_range,
            employees => d.employees,
            employees_range => d.employees_range,
            recommendations,
        },
    )
}

fn pct1(v: f64) -> String {
    format!("{v:.1}")
}

fn ratio4(v: f64) -> String {
    format!("{v:.4}")
}

fn opt_ratio(v: Option<f64>) -> String {
    v.map(ratio4).unwrap_or_default()
}

/// One table of the page as CSV. Fails (400 page) for an unknown table.
fn export(d: &Data, table: &str) -> Result<HttpResponse, UiError> {
    match table {
        "customers" => super::csv(
            "customer-profitability.csv",
            &[
                "customer_id",
                "name",
                "company",
                "jobs",
                "lifetime_value",
                "cost",
                "profit",
                "margin",
                "last_job_date",
                "profitability_score",
                "margin_points",
                "volume_points",
                "recency_points",
            ],
            d.customers.iter().map(|c| {
                vec![
                    c.id.clone(),
                    c.name.clone(),
                    c.company.clone(),
                    c.jobs.to_string(),
                    c.lifetime_value.to_decimal(),
                    c.cost.to_decimal(),
                    c.profit.to_decimal(),
                    ratio4(c.margin),
                    c.last_job_date.map(|d| d.to_string()).unwrap_or_default(),
                    pct1(c.profitability_score),
                    pct1(c.components.margin.points),
                    pct1(c.components.volume.points),
                    pct1(c.components.recency.points),
                ]
            }),
        ),
        "equipment" => super::csv(
            &format!(
                "equipment-utilization-{}-to-{}.csv",
                d.equipment_range.from, d.equipment_range.to
            ),
            &[
                "equipment_id",
                "name",
                "type",
                "status",
                "jobs",
                "booked_hours",
                "available_hours",
                "utilization_percentage",
                "next_maintenance_date",
            ],
            d.equipment.iter().map(|e| {
                vec![
                    e.id.clone(),
                    e.name.clone(),
                    e.kind.clone(),
                    e.status.clone(),
                    e.jobs.to_string(),
                    e.booked_hours.to_hours_decimal(),
                    e.available_hours.to_hours_decimal(),
                    pct1(e.utilization_percentage),
                    e.next_maintenance_date
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                ]
            }),
        ),
        "employees" => super::csv(
            &format!(
                "employee-performance-{}-to-{}.csv",
                d.employees_range.from, d.employees_range.to
            ),
            &[
                "employee_id",
                "name",
                "trade",
                "active",
                "jobs_completed",
                "hours_worked",
                "revenue",
                "cost",
                "margin",
                "booked_next_7_days_hours",
                "performance_score",
                "estimate_accuracy",
                "estimate_accuracy_points",
                "margin_points",
                "volume_points",
                "follow_up_completion",
                "follow_up_points",
            ],
            d.employees.iter().map(|e| {
                let c = &e.components;
                vec![
                    e.id.clone(),
                    e.name.clone(),
                    e.trade.clone(),
                    e.active.to_string(),
                    e.jobs_completed.to_string(),
                    e.hours_worked.to_hours_decimal(),
                    e.revenue.to_decimal(),
                    e.cost.to_decimal(),
                    ratio4(e.margin),
                    e.booked_next_7_days.to_hours_decimal(),
                    pct1(e.performance_score),
                    opt_ratio(c.estimate_accuracy.value),
                    pct1(c.estimate_accuracy.points),
                    pct1(c.margin.points),
                    pct1(c.volume.points),
                    opt_ratio(c.follow_up_completion.value),
                    pct1(c.follow_up_completion.points),
                ]
            }),
        ),
        "recommendations" => super::csv(
            "recommendations.csv",
            &["severity", "kind", "title", "why", "what_to_do"],
            d.recommendations.iter().map(|r| {
                let (why, action) = split_detail(&r.detail);
                vec![
                    severity_key(r.severity).to_string(),
                    r.kind.to_string(),
                    r.title.clone(),
                    why.to_string(),
                    action.to_string(),
                ]
            }),
        ),
        _ => Err(UiError::bad_request(
            "Unknown table: choose customers, equipment, employees or recommendations.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_split_into_why_and_what_to_do() {
        let (why, what) = split_detail(
            "Maintenance of Van 2 is due in 3 days (2026-03-18). Schedule it and set the next date.",
        );
        assert_eq!(why, "Maintenance of Van 2 is due in 3 days (2026-03-18).");
        assert_eq!(what, "Schedule it and set the next date.");
        let (why, what) = split_detail(
            "The last 5 completed 'A. B. Repair' jobs earned $1,234.50 on $1,000.00 of cost, a margin of 12.5 % (below 20 %). Review the price.",
        );
        assert!(why.ends_with("(below 20 %)."), "{why}");
        assert_eq!(what, "Review the price.");
        assert_eq!(
            split_detail("Just one sentence."),
            ("Just one sentence.", "")
        );
        assert_eq!(split_detail(""), ("", ""));
    }

    #[test]
    fn every_rule_ends_with_advice() {
        use crate::domain::analytics::*;
        let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        let long_ago = chrono::NaiveDate::from_ymd_opt(2024, 1, 1);
        let busy = Facts {
            service_types: vec![ServiceFacts {
                service_type: "Repair. Mr. Fix".into(),
                jobs: 50,
                revenue_cents: 100_000,
                cost_cents: 99_000,
            }],
            equipment: vec![EquipmentFacts {
                id: "e".into(),
                name: "Van No. 2".into(),
                status: "available".into(),
                created: long_ago,
                next_maintenance: today.checked_sub_days(chrono::Days::new(3)),
                utilization: 0.0,
                booked_minutes: 0,
            }],
            overdue_follow_ups: vec![FollowUpFacts {
                id: "f".into(),
                customer: "C. Customer".into(),
                due: long_ago.unwrap(),
            }],
            loads: vec![LoadFacts {
                id: "t".into(),
                name: "T. Tech".into(),
                booked_minutes: 100 * 60,
            }],
            overdue_invoices: vec![InvoiceFacts {
                id: "i".into(),
                number: "INV-000001".into(),
                customer: "C. Customer".into(),
                due: long_ago.unwrap(),
                balance_cents: 1000,
            }],
            completed_jobs: 1,
            recent_completed_jobs: 1,
            incomplete_job_records: 1,
            active_employees: 1,
            employees_without_skills: 1,
        };
        let empty = Facts::default();
        let calm = Facts {
            completed_jobs: 10_000,
            active_employees: 1,
            equipment: vec![EquipmentFacts {
                utilization: 90.0,
                next_maintenance: None,
                ..busy.equipment[0].clone()
            }],
            ..Facts::default()
        };
        let mut kinds = std::collections::BTreeSet::new();
        for facts in [busy, empty, calm] {
            for r in evaluate(&facts, today) {
                let (why, what) = split_detail(&r.detail);
                assert!(
                    !why.is_empty() && !what.is_empty(),
                    "{}: {}",
                    r.id,
                    r.detail
                );
                assert!(
                    !what.contains(". "),
                    "{}: advice is one sentence: {what}",
                    r.id
                );
                kinds.insert(r.id.split(':').next().unwrap_or("").to_string());
            }
        }
        for k in [
            "underpriced-service",
            "idle-equipment",
            "maintenance-due",
            "overdue-follow-ups",
            "overloaded-technician",
            "overdue-invoices",
            "record-completed-jobs",
            "complete-job-records",
            "record-skills",
            "add-technicians",
            "add-equipment",
            "all-clear",
        ] {
            assert!(kinds.contains(k), "rule {k} not exercised: {kinds:?}");
        }
    }
}
