//! Analytics queries: the job analysis (estimates and the recommended
//! technician), the dashboard, per-customer, per-equipment and per-employee
//! analytics, the facts behind the recommendations, and the business gauges
//! of `/metrics`. Read-only: every function runs on a read connection and
//! turns rows into numbers with the pure formulas of
//! [`crate::domain::analytics`]. Definitions: `docs/analytics.md`.
//!
//! Query plans: `+status` (a unary plus) keeps SQLite from reading every
//! completed work order through the status index when a time range on an
//! index of its own (`completed_at`, the loadout's windows) is far narrower;
//! without `ANALYZE` statistics the planner would otherwise prefer the equality.

use super::DbError;
use super::util::optional;
use crate::clock::format_ts;
use crate::config::BusinessConfig;
use crate::domain::analytics::{
    self as f, CandidateFacts, DateRange, EquipmentFacts, Facts, FollowUpFacts, InvoiceFacts,
    LoadFacts, PerformanceComponents, PerformanceFacts, ProfitabilityComponents, Recommendation,
    Sample, ServiceFacts,
};
use crate::domain::money::{MAX_MINUTES, Minutes, Money};
use chrono::{Datelike, NaiveDate};
use chrono_tz::Tz;
use rusqlite::{Connection, params};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

fn parse_date(s: Option<String>) -> Option<NaiveDate> {
    s.and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
}

/// The service type and priority of work order `id`, as an analysis input
/// that leaves the order itself out; `None` when there is no such order.
/// Fails only on database errors.
pub fn work_order_input(c: &Connection, id: &str) -> Result<Option<AnalysisInput>, DbError> {
    optional(c.query_row(
        "SELECT service_type, priority FROM work_orders WHERE id = ?1",
        [id],
        |r| {
            Ok(AnalysisInput {
                service_type: r.get(0)?,
                priority: r.get(1)?,
                exclude_work_order_id: Some(id.to_string()),
            })
        },
    ))
}

pub use crate::domain::analytics::{Analysis, AnalysisInput, Basis, Recommended};

/// Minutes booked per employee (scheduled and in-progress work orders,
/// union of their windows) in the 7 days starting `today`, leaving out
/// `exclude`. Fails only on database errors.
pub fn booked_next_7_days(
    c: &Connection,
    today: NaiveDate,
    exclude: Option<&str>,
) -> Result<HashMap<String, i64>, DbError> {
    let lo = f::day_minutes(today);
    let hi = lo + 7 * f::DAY_MINUTES;
    // The partial index of booked work orders by end of window (migration
    // 0004): without statistics the planner would pick the status index and
    // visit every booking ever made.
    let mut st = c.prepare_cached(
        "SELECT assigned_employee_id, window_start, window_end
         FROM work_orders INDEXED BY work_orders_booked
         WHERE status IN ('scheduled', 'in_progress') AND assigned_employee_id IS NOT NULL
           AND window_start < ?2 AND window_end > ?1 AND (?3 IS NULL OR id <> ?3)",
    )?;
    let rows = st.query_map(params![lo, hi, exclude], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut by: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    for row in rows {
        let (e, s, t) = row?;
        by.entry(e).or_default().push((s, t));
    }
    Ok(by
        .into_iter()
        .map(|(e, iv)| (e, f::union_minutes(&iv, lo, hi)))
        .collect())
}

/// Performance facts of every employee with completed jobs or due follow-ups
/// in `range` (follow-ups counted up to `today`). Fails only on database errors.
fn performance_facts(
    c: &Connection,
    range: &DateRange,
    today: NaiveDate,
    tz: Tz,
) -> Result<HashMap<String, (PerformanceFacts, JobTotals)>, DbError> {
    let (start, end) = range.utc_bounds(tz);
    let mut st = c.prepare(
        "SELECT coalesce(assigned_employee_id, ''), count(*),
            sum(CASE WHEN estimated_minutes > 0 AND actual_minutes > 0 THEN 1 ELSE 0 END),
            coalesce(sum(CASE WHEN estimated_minutes > 0 AND actual_minutes > 0
                         THEN min(estimated_minutes, actual_minutes) END), 0),
            coalesce(sum(CASE WHEN estimated_minutes > 0 AND actual_minutes > 0
                         THEN max(estimated_minutes, actual_minutes) END), 0),
            sum(CASE WHEN final_price_cents > 0 AND actual_cost_cents IS NOT NULL THEN 1 ELSE 0 END),
            coalesce(sum(CASE WHEN final_price_cents > 0 AND actual_cost_cents IS NOT NULL
                         THEN final_price_cents END), 0),
            coalesce(sum(CASE WHEN final_price_cents > 0 AND actual_cost_cents IS NOT NULL
                         THEN actual_cost_cents END), 0),
            coalesce(sum(actual_minutes), 0),
            coalesce(sum(final_price_cents), 0),
            coalesce(sum(actual_cost_cents), 0)
         FROM work_orders
         WHERE +status = 'completed' AND completed_at >= ?1 AND completed_at < ?2
         GROUP BY 1",
    )?;
    let rows = st.query_map(params![format_ts(start), format_ts(end)], |r| {
        Ok((
            r.get::<_, String>(0)?,
            PerformanceFacts {
                jobs: r.get(1)?,
                timed_jobs: r.get(2)?,
                timed_min_sum: r.get(3)?,
                timed_max_sum: r.get(4)?,
                priced_jobs: r.get(5)?,
                priced_revenue_cents: r.get(6)?,
                priced_cost_cents: r.get(7)?,
                ..PerformanceFacts::default()
            },
            JobTotals {
                minutes: r.get(8)?,
                revenue_cents: r.get(9)?,
                cost_cents: r.get(10)?,
            },
        ))
    })?;
    let mut out: HashMap<String, (PerformanceFacts, JobTotals)> = HashMap::new();
    for row in rows {
        let (id, pf, totals) = row?;
        if !id.is_empty() {
            out.insert(id, (pf, totals));
        }
    }
    let due_until = range.to.min(today);
    if range.from <= due_until {
        let mut st = c.prepare(
            "SELECT w.assigned_employee_id,
                    sum(CASE WHEN fu.status = 'done' THEN 1 ELSE 0 END), count(*)
             FROM follow_ups fu JOIN work_orders w ON w.id = fu.work_order_id
             WHERE fu.status IN ('open', 'done') AND fu.due_date >= ?1 AND fu.due_date <= ?2
               AND w.assigned_employee_id IS NOT NULL
             GROUP BY w.assigned_employee_id",
        )?;
        let rows = st.query_map(
            params![range.from.to_string(), due_until.to_string()],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )?;
        for row in rows {
            let (id, done, due) = row?;
            let e = out.entry(id).or_default();
            e.0.follow_ups_done = done;
            e.0.follow_ups_due = due;
        }
    }
    let max_jobs = out.values().map(|(p, _)| p.jobs).max().unwrap_or(0);
    for (p, _) in out.values_mut() {
        p.max_jobs = max_jobs;
    }
    Ok(out)
}

/// Totals of an employee's completed jobs in a range.
#[derive(Debug, Clone, Copy, Default)]
struct JobTotals {
    minutes: i64,
    revenue_cents: i64,
    cost_cents: i64,
}

/// The job analysis for `input`: estimated duration and cost from the
/// business's own completed jobs (medians; configured defaults without
/// history) and the best-scoring active employee with the reasons. `today` is
/// the business-local date. Fails only on database errors.
#[tracing::instrument(skip(c, business))]
pub fn analyze(
    c: &Connection,
    input: &AnalysisInput,
    business: &BusinessConfig,
    today: NaiveDate,
) -> Result<Analysis, DbError> {
    let tz = business.tz();
    let service = input.service_type.trim();
    let priority = input.priority.trim().to_lowercase();
    let exclude = input.exclude_work_order_id.as_deref();
    // The analysed order is left out by rowid, which the covering index holds.
    let excluded: Option<i64> = match exclude {
        Some(id) => optional(c.query_row(
            "SELECT rowid FROM work_orders WHERE id = ?1",
            [id],
            |r| r.get(0),
        ))?,
        None => None,
    };
    let mut st = c.prepare(
        "SELECT priority, actual_minutes, actual_cost_cents, assigned_employee_id FROM work_orders
         WHERE status = 'completed' AND service_type = ?1 COLLATE NOCASE
           AND (?2 IS NULL OR rowid <> ?2)
         ORDER BY completed_at DESC LIMIT ?3",
    )?;
    let history = st
        .query_map(params![service, excluded, f::HISTORY_WINDOW], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let samples: Vec<Sample> = history
        .iter()
        .filter_map(|(p, minutes, cost, _)| {
            minutes.filter(|m| *m > 0).map(|m| Sample {
                same_priority: p.eq_ignore_ascii_case(&priority),
                actual_minutes: m,
                actual_cost_cents: *cost,
            })
        })
        .collect();
    let mut experience: HashMap<String, i64> = HashMap::new();
    for (_, _, _, emp) in &history {
        if let Some(e) = emp {
            *experience.entry(e.clone()).or_default() += 1;
        }
    }
    let rates: Vec<i64> = c
        .prepare(
            "SELECT hourly_rate_cents FROM employees WHERE active = 1 AND hourly_rate_cents > 0",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let (rate, from_employees) = match f::median(&rates) {
        Some(r) => (r, true),
        None => (business.default_hourly_cost_cents, false),
    };
    let (cost, duration, basis) = f::estimate(
        service,
        &priority,
        &samples,
        business.default_job_minutes,
        rate,
        from_employees,
    );

    let mut st = c.prepare(
        "SELECT id, name, trade, skills FROM employees WHERE active = 1 ORDER BY name COLLATE NOCASE, id",
    )?;
    let employees = st
        .query_map([], |r| {
            let skills: String = r.get(3)?;
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                serde_json::from_str::<Vec<String>>(&skills).unwrap_or_default(),
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let recommended_employee = if employees.is_empty() {
        None
    } else {
        let perf_range = DateRange::last_days(today, f::PERFORMANCE_RANGE_DAYS);
        let perf = performance_facts(c, &perf_range, today, tz)?;
        let load = booked_next_7_days(c, today, exclude)?;
        let cands: Vec<CandidateFacts> = employees
            .into_iter()
            .map(|(id, name, trade, skills)| CandidateFacts {
                completed_of_type: experience.get(&id).copied().unwrap_or(0),
                performance: f::performance_score(&perf.get(&id).map(|p| p.0).unwrap_or(
                    PerformanceFacts {
                        max_jobs: perf.values().map(|p| p.0.max_jobs).max().unwrap_or(0),
                        ..PerformanceFacts::default()
                    },
                ))
                .0,
                booked_minutes: load.get(&id).copied().unwrap_or(0),
                id,
                name,
                skills,
                trade,
            })
            .collect();
        f::rank_candidates(service, &cands)
            .into_iter()
            .next()
            .map(|best| Recommended {
                id: best.id,
                name: best.name,
                reasons: best.reasons,
            })
    };
    Ok(Analysis {
        estimated_cost: cost,
        estimated_duration: duration,
        recommended_employee,
        basis,
    })
}

/// The job analyses computed since the analysis inputs last changed, so that
/// creating work orders — which changes none of them — does not recompute the
/// 90-day performance facts and the service type's history on every create.
///
/// Valid entries are those computed at the current `'analysis'` generation
/// (migration 0005: triggers count every committed change to completed,
/// booked or assigned work orders, employees and follow-ups) for the same
/// business day and `[business]` settings; anything else clears the cache.
/// Bounded: at most [`AnalysisCache::MAX_ENTRIES`] analyses (the cache is
/// cleared when full). One per database ([`super::Db::analysis_cache`]).
#[derive(Debug, Default)]
pub struct AnalysisCache {
    state: std::sync::Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    /// Generation, business day and settings the entries were computed for.
    stamp: Option<(i64, NaiveDate, BusinessConfig)>,
    entries: HashMap<CacheKey, Analysis>,
}

/// (trimmed service type, trimmed lower-case priority, excluded order).
type CacheKey = (String, String, Option<String>);

impl AnalysisCache {
    /// Most analyses kept (distinct service type, priority and excluded order).
    pub const MAX_ENTRIES: usize = 512;

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // A panic while holding the lock cannot leave a half-written entry
        // (inserts are single operations), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(
        &self,
        generation: i64,
        today: NaiveDate,
        business: &BusinessConfig,
        key: &CacheKey,
    ) -> Option<Analysis> {
        let s = self.lock();
        match &s.stamp {
            Some((g, d, b)) if *g == generation && *d == today && b == business => {
                s.entries.get(key).cloned()
            }
            _ => None,
        }
    }

    fn put(
        &self,
        generation: i64,
        today: NaiveDate,
        business: &BusinessConfig,
        key: CacheKey,
        analysis: Analysis,
    ) {
        let mut s = self.lock();
        let current = matches!(&s.stamp,
            Some((g, d, b)) if *g == generation && *d == today && b == business);
        if !current {
            // Only move forward: a reader on an older snapshot must not
            // throw away entries of a newer generation.
            if s.stamp.as_ref().is_some_and(|(g, _, _)| *g > generation) {
                return;
            }
            s.entries.clear();
            s.stamp = Some((generation, today, business.clone()));
        }
        if s.entries.len() >= Self::MAX_ENTRIES {
            s.entries.clear();
        }
        s.entries.insert(key, analysis);
    }

    /// Analyses held now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no analysis is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The `'analysis'` generation as `c` sees it (0 if the row is missing).
fn analysis_generation(c: &Connection) -> Result<i64, DbError> {
    let mut st = c.prepare_cached("SELECT n FROM generations WHERE name = 'analysis'")?;
    Ok(optional(st.query_row([], |r| r.get(0)))?.unwrap_or(0))
}

/// [`analyze`] through `cache`: the same result, computed only when the
/// analysis inputs changed since it was last computed for the same input,
/// business day and settings. Inside an open transaction (whose changes may
/// still roll back) the cache is neither read nor filled. Fails only on
/// database errors.
pub fn analyze_cached(
    c: &Connection,
    cache: &AnalysisCache,
    input: &AnalysisInput,
    business: &BusinessConfig,
    today: NaiveDate,
) -> Result<Analysis, DbError> {
    if !c.is_autocommit() {
        return analyze(c, input, business, today);
    }
    let key = (
        input.service_type.trim().to_string(),
        input.priority.trim().to_lowercase(),
        input.exclude_work_order_id.clone(),
    );
    // Each statement below reads its own snapshot. An entry is stored only
    // when the generation read after computing equals the one read before:
    // generations only grow, so no change committed in between.
    let generation = analysis_generation(c)?;
    if let Some(a) = cache.get(generation, today, business, &key) {
        return Ok(a);
    }
    let analysis = analyze(c, input, business, today)?;
    if analysis_generation(c)? == generation {
        cache.put(generation, today, business, key, analysis.clone());
    }
    Ok(analysis)
}

/// One month of the dashboard's revenue chart.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonthPoint {
    /// `YYYY-MM` (business time zone).
    pub month: String,
    /// Σ final price of jobs completed that month (within the range).
    pub revenue: Money,
    /// Σ actual cost of those jobs.
    pub cost: Money,
    /// Number of those jobs.
    pub jobs: i64,
}

/// Work orders created in the range, by current status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StatusCounts {
    /// Draft.
    pub draft: i64,
    /// Scheduled.
    pub scheduled: i64,
    /// In progress.
    pub in_progress: i64,
    /// Completed.
    pub completed: i64,
    /// Cancelled.
    pub cancelled: i64,
}

/// Margin of one service type over the range.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMargin {
    /// Service type (grouped case-insensitively; the alphabetically first spelling).
    pub service_type: String,
    /// Σ final price.
    pub revenue: Money,
    /// Σ actual cost.
    pub cost: Money,
    /// (revenue − cost) / revenue, 4 decimals; 0 without revenue.
    pub margin: f64,
    /// Completed jobs.
    pub jobs: i64,
}

/// `GET /analytics/dashboard`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    /// First day of the range (business time zone).
    pub from: NaiveDate,
    /// Last day of the range (inclusive).
    pub to: NaiveDate,
    /// Σ final price of work orders completed in the range.
    pub total_revenue: Money,
    /// Σ actual cost of those work orders.
    pub total_cost: Money,
    /// total revenue − total cost.
    pub profit: Money,
    /// (revenue − cost) / revenue, 4 decimals; 0 without revenue.
    pub profit_margin: f64,
    /// Work orders completed in the range.
    pub jobs_completed: i64,
    /// Σ estimated / Σ actual minutes over completed jobs having both, in [0, 2].
    pub efficiency: f64,
    /// Completed jobs the efficiency is based on.
    pub efficiency_samples: i64,
    /// Work orders scheduled or in progress now (not limited to the range).
    pub active_work_orders: i64,
    /// Every month overlapping the range, oldest first.
    pub revenue_by_month: Vec<MonthPoint>,
    /// Work orders created in the range, by current status.
    pub jobs_by_status: StatusCounts,
    /// Completed jobs in the range by service type, highest revenue first.
    pub margin_by_service_type: Vec<ServiceMargin>,
}

struct Completed {
    date: Option<NaiveDate>,
    service_type: String,
    revenue: i64,
    cost: i64,
    estimated: Option<i64>,
    actual: Option<i64>,
}

fn completed_in(c: &Connection, range: &DateRange, tz: Tz) -> Result<Vec<Completed>, DbError> {
    let (start, end) = range.utc_bounds(tz);
    let mut st = c.prepare(
        "SELECT completed_at, service_type, coalesce(final_price_cents, 0),
                coalesce(actual_cost_cents, 0), estimated_minutes, actual_minutes
         FROM work_orders
         WHERE +status = 'completed' AND completed_at >= ?1 AND completed_at < ?2",
    )?;
    let rows = st.query_map(params![format_ts(start), format_ts(end)], |r| {
        let at: String = r.get(0)?;
        Ok(Completed {
            date: f::local_date(&at, tz),
            service_type: r.get(1)?,
            revenue: r.get(2)?,
            cost: r.get(3)?,
            estimated: r.get(4)?,
            actual: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Groups completed jobs by service type (case-insensitive, trimmed).
fn by_service_type(jobs: &[Completed]) -> Vec<ServiceFacts> {
    let mut groups: BTreeMap<String, ServiceFacts> = BTreeMap::new();
    for j in jobs {
        let shown = j.service_type.trim().to_string();
        let g = groups
            .entry(shown.to_lowercase())
            .or_insert_with(|| ServiceFacts {
                service_type: shown.clone(),
                jobs: 0,
                revenue_cents: 0,
                cost_cents: 0,
            });
        if shown < g.service_type {
            g.service_type = shown;
        }
        g.jobs += 1;
        g.revenue_cents = g.revenue_cents.saturating_add(j.revenue);
        g.cost_cents = g.cost_cents.saturating_add(j.cost);
    }
    groups.into_values().collect()
}

/// Work orders scheduled or in progress now. Fails only on database errors.
pub fn active_work_orders(c: &Connection) -> Result<i64, DbError> {
    Ok(c.query_row(
        "SELECT count(*) FROM work_orders WHERE status IN ('scheduled', 'in_progress')",
        [],
        |r| r.get(0),
    )?)
}

/// Σ final price of every completed work order, in cents. Fails only on
/// database errors.
pub fn revenue_total_cents(c: &Connection) -> Result<i64, DbError> {
    Ok(c.query_row(
        "SELECT coalesce(sum(final_price_cents), 0) FROM work_orders WHERE status = 'completed'",
        [],
        |r| r.get(0),
    )?)
}

/// The dashboard for `range` in time zone `tz`. Fails only on database errors.
#[tracing::instrument(skip(c))]
pub fn dashboard(c: &Connection, range: &DateRange, tz: Tz) -> Result<Dashboard, DbError> {
    let jobs = completed_in(c, range, tz)?;
    let revenue: i64 = jobs.iter().map(|j| j.revenue).sum();
    let cost: i64 = jobs.iter().map(|j| j.cost).sum();
    let (mut est, mut act, mut timed) = (0i64, 0i64, 0i64);
    for j in &jobs {
        if let (Some(e), Some(a)) = (j.estimated, j.actual)
            && e > 0
            && a > 0
        {
            est += e;
            act += a;
            timed += 1;
        }
    }
    let mut months: BTreeMap<String, MonthPoint> = BTreeMap::new();
    let mut m = range.from.with_day(1).unwrap_or(range.from);
    while m <= range.to {
        let key = m.format("%Y-%m").to_string();
        months.insert(
            key.clone(),
            MonthPoint {
                month: key,
                revenue: Money::ZERO,
                cost: Money::ZERO,
                jobs: 0,
            },
        );
        match m.checked_add_months(chrono::Months::new(1)) {
            Some(n) => m = n,
            None => break,
        }
    }
    for j in &jobs {
        if let Some(p) = j
            .date
            .and_then(|d| months.get_mut(&d.format("%Y-%m").to_string()))
        {
            p.revenue = p.revenue.plus(Money::from_cents(j.revenue));
            p.cost = p.cost.plus(Money::from_cents(j.cost));
            p.jobs += 1;
        }
    }
    let (start, end) = range.utc_bounds(tz);
    let mut status = StatusCounts::default();
    let mut st = c.prepare(
        "SELECT status, count(*) FROM work_orders WHERE created_at >= ?1 AND created_at < ?2 GROUP BY status",
    )?;
    let rows = st.query_map(params![format_ts(start), format_ts(end)], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (s, n) = row?;
        match s.as_str() {
            "draft" => status.draft = n,
            "scheduled" => status.scheduled = n,
            "in_progress" => status.in_progress = n,
            "completed" => status.completed = n,
            "cancelled" => status.cancelled = n,
            _ => {}
        }
    }
    let mut margins: Vec<ServiceMargin> = by_service_type(&jobs)
        .into_iter()
        .map(|s| ServiceMargin {
            margin: f::margin(s.revenue_cents, s.cost_cents),
            revenue: Money::from_cents(s.revenue_cents),
            cost: Money::from_cents(s.cost_cents),
            jobs: s.jobs,
            service_type: s.service_type,
        })
        .collect();
    margins.sort_by(|a, b| {
        b.revenue.cmp(&a.revenue).then_with(|| {
            a.service_type
                .to_lowercase()
                .cmp(&b.service_type.to_lowercase())
        })
    });
    Ok(Dashboard {
        from: range.from,
        to: range.to,
        total_revenue: Money::from_cents(revenue),
        total_cost: Money::from_cents(cost),
        profit: Money::from_cents(revenue.saturating_sub(cost)),
        profit_margin: f::margin(revenue, cost),
        jobs_completed: jobs.len() as i64,
        efficiency: f::efficiency(est, act),
        efficiency_samples: timed,
        active_work_orders: active_work_orders(c)?,
        revenue_by_month: months.into_values().collect(),
        jobs_by_status: status,
        margin_by_service_type: margins,
    })
}

/// One customer's profitability.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerAnalytics {
    /// Customer id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Company.
    pub company: String,
    /// Completed jobs (all time).
    pub jobs: i64,
    /// Σ final price of completed jobs (all time).
    pub lifetime_value: Money,
    /// Σ actual cost of those jobs.
    pub cost: Money,
    /// lifetime value − cost.
    pub profit: Money,
    /// profit / lifetime value, 4 decimals; 0 without revenue.
    pub margin: f64,
    /// Business-local date of the last completed job.
    pub last_job_date: Option<NaiveDate>,
    /// 0–100, one decimal.
    pub profitability_score: f64,
    /// The score's parts.
    pub components: ProfitabilityComponents,
}

/// One page of customers by lifetime value (highest first; then name, id) and
/// the number of customers. One pass over completed work orders. Fails only
/// on database errors.
#[tracing::instrument(skip(c))]
pub fn customers(
    c: &Connection,
    today: NaiveDate,
    tz: Tz,
    limit: i64,
    offset: i64,
) -> Result<(Vec<CustomerAnalytics>, i64), DbError> {
    let mut st = c.prepare(
        "SELECT customer_id, count(*), sum(coalesce(final_price_cents, 0)),
                sum(coalesce(actual_cost_cents, 0)), max(completed_at)
         FROM work_orders WHERE status = 'completed' GROUP BY customer_id",
    )?;
    let totals: HashMap<String, (i64, i64, i64, Option<String>)> = st
        .query_map([], |r| {
            Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        })?
        .collect::<Result<_, _>>()?;
    let max_ltv = totals.values().map(|t| t.1).max().unwrap_or(0).max(0);
    let mut st = c.prepare("SELECT id, name, company FROM customers")?;
    let mut rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|(id, name, company)| {
            let t = totals.get(&id).cloned().unwrap_or((0, 0, 0, None));
            (id, name, company, t)
        })
        .collect::<Vec<_>>();
    let total = rows.len() as i64;
    rows.sort_by(|a, b| {
        b.3.1
            .cmp(&a.3.1)
            .then_with(|| a.1.to_lowercase().cmp(&b.1.to_lowercase()))
            .then_with(|| a.0.cmp(&b.0))
    });
    let out = rows
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(0))
        .map(|(id, name, company, totals)| {
            customer_analytics(id, name, company, totals, max_ltv, today, tz)
        })
        .collect();
    Ok((out, total))
}

/// One customer's row of [`customers`] from its completed-job totals (jobs,
/// lifetime value, cost, last completion) and the largest lifetime value.
fn customer_analytics(
    id: String,
    name: String,
    company: String,
    (jobs, ltv, cost, last): (i64, i64, i64, Option<String>),
    max_ltv: i64,
    today: NaiveDate,
    tz: Tz,
) -> CustomerAnalytics {
    let last_job_date = last.and_then(|t| f::local_date(&t, tz));
    let days = last_job_date.map(|d| (today - d).num_days().max(0));
    let (score, components) = f::profitability_score(ltv, cost, jobs, max_ltv, days);
    CustomerAnalytics {
        id,
        name,
        company,
        jobs,
        lifetime_value: Money::from_cents(ltv),
        cost: Money::from_cents(cost),
        profit: Money::from_cents(ltv.saturating_sub(cost)),
        margin: f::margin(ltv, cost),
        last_job_date,
        profitability_score: score,
        components,
    }
}

/// The profitability of customer `id` exactly as [`customers`] reports it
/// (the volume part compares with the largest lifetime value of any
/// customer); `None` when there is no such customer. Fails only on database
/// errors.
#[tracing::instrument(skip(c))]
pub fn customer(
    c: &Connection,
    id: &str,
    today: NaiveDate,
    tz: Tz,
) -> Result<Option<CustomerAnalytics>, DbError> {
    let Some((name, company)) = optional(c.query_row(
        "SELECT name, company FROM customers WHERE id = ?1",
        [id],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
    ))?
    else {
        return Ok(None);
    };
    let totals: (i64, i64, i64, Option<String>) = c.query_row(
        "SELECT count(*), coalesce(sum(coalesce(final_price_cents, 0)), 0),
                coalesce(sum(coalesce(actual_cost_cents, 0)), 0), max(completed_at)
         FROM work_orders WHERE customer_id = ?1 AND status = 'completed'",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let max_ltv: i64 = c.query_row(
        "SELECT coalesce(max(v), 0) FROM (SELECT sum(coalesce(final_price_cents, 0)) AS v
         FROM work_orders WHERE status = 'completed' GROUP BY customer_id)",
        [],
        |r| r.get(0),
    )?;
    Ok(Some(customer_analytics(
        id.to_string(),
        name,
        company,
        totals,
        max_ltv.max(0),
        today,
        tz,
    )))
}

/// One piece of equipment's utilization.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EquipmentAnalytics {
    /// Equipment id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: String,
    /// available | in_use | maintenance | retired.
    #[schema(value_type = crate::domain::equipment::EquipmentStatus)]
    pub status: String,
    /// Work orders whose booked window overlaps the range.
    pub jobs: i64,
    /// Booked time in the range (hours in JSON).
    pub booked_hours: Minutes,
    /// 8 h per weekday in the range (hours in JSON).
    pub available_hours: Minutes,
    /// booked / available × 100, one decimal, capped to [0, 100].
    pub utilization_percentage: f64,
    /// Next maintenance date.
    pub next_maintenance_date: Option<NaiveDate>,
    /// Business-local date it was added.
    #[serde(skip)]
    pub created: Option<NaiveDate>,
}

/// Utilization of every piece of equipment (retired ones too when
/// `include_retired`) over `range`, highest first (then name, id). Fails only
/// on database errors.
#[tracing::instrument(skip(c))]
pub fn equipment(
    c: &Connection,
    range: &DateRange,
    tz: Tz,
    include_retired: bool,
) -> Result<Vec<EquipmentAnalytics>, DbError> {
    let (lo, hi) = range.minute_bounds();
    let mut st = c.prepare(
        "SELECT li.equipment_id, w.id, w.window_start, w.window_end
         FROM loadout_items li CROSS JOIN work_orders w ON w.loadout_id = li.loadout_id
         WHERE +w.status IN ('scheduled', 'in_progress', 'completed')
           AND w.window_start < ?2 AND w.window_end > ?1 AND w.window_start >= ?1 - ?3",
    )?;
    let rows = st.query_map(params![lo, hi, MAX_MINUTES], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    // Per equipment: its booked windows and the work orders behind them.
    type Bookings = (Vec<(i64, i64)>, Vec<String>);
    let mut by: HashMap<String, Bookings> = HashMap::new();
    for row in rows {
        let (e, wo, s, t) = row?;
        let entry = by.entry(e).or_default();
        entry.0.push((s, t));
        entry.1.push(wo);
    }
    let available = f::available_minutes(range);
    let mut st = c.prepare(
        "SELECT id, name, type, status, next_maintenance_date, created_at FROM equipment
         WHERE ?1 OR status <> 'retired'",
    )?;
    let rows = st.query_map([include_retired], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, name, kind, status, next, created) = row?;
        let (booked, jobs) = match by.get_mut(&id) {
            Some((iv, wos)) => {
                wos.sort_unstable();
                wos.dedup();
                (f::union_minutes(iv, lo, hi), wos.len() as i64)
            }
            None => (0, 0),
        };
        out.push(EquipmentAnalytics {
            id,
            name,
            kind,
            status,
            jobs,
            booked_hours: Minutes(booked),
            available_hours: Minutes(available),
            utilization_percentage: f::utilization_percentage(booked, available),
            next_maintenance_date: parse_date(next),
            created: f::local_date(&created, tz),
        });
    }
    out.sort_by(|a, b| {
        b.utilization_percentage
            .total_cmp(&a.utilization_percentage)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(out)
}

/// One employee's performance.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmployeeAnalytics {
    /// Employee id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Trade.
    pub trade: String,
    /// Active.
    pub active: bool,
    /// Jobs completed in the range.
    pub jobs_completed: i64,
    /// Σ actual duration of those jobs (hours in JSON).
    pub hours_worked: Minutes,
    /// Σ final price of those jobs.
    pub revenue: Money,
    /// Σ actual cost of those jobs.
    pub cost: Money,
    /// (revenue − cost) / revenue, 4 decimals; 0 without revenue.
    pub margin: f64,
    /// Booked time in the 7 days from today (hours in JSON).
    pub booked_next_7_days: Minutes,
    /// 0–100, one decimal.
    pub performance_score: f64,
    /// The score's parts.
    pub components: PerformanceComponents,
}

/// Performance of every employee (or only active ones) over `range`, best
/// first (then name, id). Fails only on database errors.
#[tracing::instrument(skip(c))]
pub fn employees(
    c: &Connection,
    range: &DateRange,
    today: NaiveDate,
    tz: Tz,
    only_active: bool,
) -> Result<Vec<EmployeeAnalytics>, DbError> {
    let facts = performance_facts(c, range, today, tz)?;
    let max_jobs = facts.values().map(|p| p.0.max_jobs).max().unwrap_or(0);
    let load = booked_next_7_days(c, today, None)?;
    let mut st =
        c.prepare("SELECT id, name, trade, active FROM employees WHERE NOT ?1 OR active = 1")?;
    let rows = st.query_map([only_active], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, bool>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, name, trade, active) = row?;
        let (pf, totals) = facts.get(&id).copied().unwrap_or((
            PerformanceFacts {
                max_jobs,
                ..PerformanceFacts::default()
            },
            JobTotals::default(),
        ));
        let (score, components) = f::performance_score(&pf);
        out.push(EmployeeAnalytics {
            jobs_completed: pf.jobs,
            hours_worked: Minutes(totals.minutes),
            revenue: Money::from_cents(totals.revenue_cents),
            cost: Money::from_cents(totals.cost_cents),
            margin: f::margin(totals.revenue_cents, totals.cost_cents),
            booked_next_7_days: Minutes(load.get(&id).copied().unwrap_or(0)),
            performance_score: score,
            components,
            id,
            name,
            trade,
            active,
        });
    }
    out.sort_by(|a, b| {
        b.performance_score
            .total_cmp(&a.performance_score)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(out)
}

/// The recommendations for `today` (business-local) in time zone `tz`: every
/// rule of [`crate::domain::analytics::evaluate`] over the current data.
/// Never empty. Fails only on database errors.
#[tracing::instrument(skip(c))]
pub fn recommendations(
    c: &Connection,
    today: NaiveDate,
    tz: Tz,
) -> Result<Vec<Recommendation>, DbError> {
    let window = DateRange::last_days(today, f::UNDERPRICED_WINDOW_DAYS);
    let recent = completed_in(c, &window, tz)?;
    let (start, end) = window.utc_bounds(tz);
    let incomplete: i64 = c.query_row(
        "SELECT count(*) FROM work_orders
         WHERE +status = 'completed' AND completed_at >= ?1 AND completed_at < ?2
           AND (actual_minutes IS NULL OR actual_cost_cents IS NULL OR final_price_cents IS NULL)",
        params![format_ts(start), format_ts(end)],
        |r| r.get(0),
    )?;
    let util_range = DateRange::last_days(today, f::DEFAULT_RANGE_DAYS);
    let equipment = equipment(c, &util_range, tz, false)?
        .into_iter()
        .map(|e| EquipmentFacts {
            id: e.id,
            name: e.name,
            status: e.status,
            created: e.created,
            next_maintenance: e.next_maintenance_date,
            utilization: e.utilization_percentage,
            booked_minutes: e.booked_hours.0,
        })
        .collect();
    let mut st = c.prepare(
        "SELECT fu.id, cu.name, fu.due_date FROM follow_ups fu JOIN customers cu ON cu.id = fu.customer_id
         WHERE fu.status = 'open' AND fu.due_date < ?1 ORDER BY fu.due_date, fu.id",
    )?;
    let overdue_follow_ups = st
        .query_map([today.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter_map(|(id, customer, due)| {
            parse_date(Some(due)).map(|due| FollowUpFacts { id, customer, due })
        })
        .collect();
    let mut st = c.prepare(
        "SELECT i.id, i.number, cu.name, i.due_date, i.total_cents - i.paid_cents
         FROM invoices i JOIN customers cu ON cu.id = i.customer_id
         WHERE i.status = 'sent' AND i.total_cents > i.paid_cents AND i.due_date < ?1
         ORDER BY i.due_date, i.number",
    )?;
    let overdue_invoices = st
        .query_map([today.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter_map(|(id, number, customer, due, balance_cents)| {
            parse_date(Some(due)).map(|due| InvoiceFacts {
                id,
                number: format!("INV-{number:06}"),
                customer,
                due,
                balance_cents,
            })
        })
        .collect();
    let booked = booked_next_7_days(c, today, None)?;
    let mut st = c.prepare(
        "SELECT id, name, trade, skills FROM employees WHERE active = 1 ORDER BY name COLLATE NOCASE, id",
    )?;
    let active = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let employees_without_skills = active
        .iter()
        .filter(|(_, _, trade, skills)| {
            trade.trim().is_empty()
                && serde_json::from_str::<Vec<String>>(skills)
                    .map(|s| s.iter().all(|x| x.trim().is_empty()))
                    .unwrap_or(true)
        })
        .count() as i64;
    let loads = active
        .iter()
        .map(|(id, name, _, _)| LoadFacts {
            id: id.clone(),
            name: name.clone(),
            booked_minutes: booked.get(id).copied().unwrap_or(0),
        })
        .collect();
    let completed_jobs: i64 = c.query_row(
        "SELECT count(*) FROM work_orders WHERE status = 'completed'",
        [],
        |r| r.get(0),
    )?;
    let facts = Facts {
        service_types: by_service_type(&recent),
        equipment,
        overdue_follow_ups,
        loads,
        overdue_invoices,
        completed_jobs,
        recent_completed_jobs: recent.len() as i64,
        incomplete_job_records: incomplete,
        active_employees: active.len() as i64,
        employees_without_skills,
    };
    Ok(f::evaluate(&facts, today))
}
