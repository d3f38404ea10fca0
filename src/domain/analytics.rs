//! Local analytics, as pure formulas: medians, ratios, utilization, the
//! performance and profitability scores, skill matching for the job analysis,
//! and the recommendation rules. Nothing here reads the database; the
//! repository (`db::analytics`) gathers the facts and these functions turn them
//! into numbers and advice. Every formula is defined in `docs/analytics.md`.

use super::DomainError;
use super::money::{Minutes, Money, div_round};
use super::validate::Check;
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use serde::Serialize;
use serde_json::{Value, json};

/// Working minutes per weekday assumed available for a piece of equipment (8 h).
pub const WORKDAY_MINUTES: i64 = 480;
/// Minutes in a day.
pub const DAY_MINUTES: i64 = 1440;
/// Longest analytics range: 1,827 days from `from` to `to` inclusive (5 years
/// including two leap days).
pub const MAX_RANGE_DAYS: i64 = 1827;
/// Days in the default dashboard and utilization ranges.
pub const DEFAULT_RANGE_DAYS: i64 = 30;
/// Days in the default employee-performance range.
pub const PERFORMANCE_RANGE_DAYS: i64 = 90;
/// Completed jobs needed at a level (service type + priority, then service
/// type) before the analysis trusts their median.
pub const MIN_SAMPLES: usize = 3;
/// At most this many of the most recently completed matching jobs feed a median.
pub const MAX_SAMPLES: usize = 200;
/// The job analysis looks at this many most recently completed jobs of the
/// service type (its history window), for samples and for experience.
pub const HISTORY_WINDOW: i64 = 1000;
/// Margin at or above which a margin component scores full points (40 %).
pub const TARGET_MARGIN: f64 = 0.40;
/// Booked minutes in the next 7 days above which a technician is overloaded (40 h).
pub const OVERLOAD_MINUTES: i64 = 2400;
/// Margin below which a service type is underpriced (15 %).
pub const UNDERPRICED_MARGIN: f64 = 0.15;
/// Completed jobs of a service type needed before the underpricing rule judges it.
pub const UNDERPRICED_MIN_JOBS: i64 = 3;
/// Window of the underpricing rule, in days.
pub const UNDERPRICED_WINDOW_DAYS: i64 = 90;
/// Utilization below which equipment is idle (10 %).
pub const IDLE_UTILIZATION: f64 = 10.0;
/// Days ahead in which upcoming maintenance is reported.
pub const MAINTENANCE_LOOKAHEAD_DAYS: i64 = 7;
/// Completed jobs below which the analytics ask for more records.
pub const LITTLE_DATA_JOBS: i64 = 10;

/// The UTC instant at which the business-local day `d` begins. On a day whose
/// midnight is skipped by a DST change, the first local minute that exists.
pub fn day_start_utc(d: NaiveDate, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let mut t = d.and_time(NaiveTime::MIN);
    for _ in 0..(4 * 60) {
        if let Some(x) = tz.from_local_datetime(&t).earliest() {
            return x.with_timezone(&Utc);
        }
        t += chrono::Duration::minutes(15);
    }
    d.and_time(NaiveTime::MIN).and_utc()
}

/// The business-local calendar date of a stored UTC timestamp; `None` when it
/// is not RFC 3339.
pub fn local_date(ts: &str, tz: chrono_tz::Tz) -> Option<NaiveDate> {
    crate::clock::parse_ts(ts).map(|t| t.with_timezone(&tz).date_naive())
}

/// Minutes from 1970-01-01T00:00 local wall time to the start of `d` (the
/// scale of `work_orders.window_start`/`window_end`).
pub fn day_minutes(d: NaiveDate) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN);
    (d - epoch).num_days() * DAY_MINUTES
}

/// An inclusive range of business-local dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DateRange {
    /// First day.
    pub from: NaiveDate,
    /// Last day (inclusive).
    pub to: NaiveDate,
}

impl DateRange {
    /// The `days` days ending with `today`.
    pub fn last_days(today: NaiveDate, days: i64) -> DateRange {
        let back = u64::try_from(days.max(1) - 1).unwrap_or(0);
        DateRange {
            from: today.checked_sub_days(Days::new(back)).unwrap_or(today),
            to: today,
        }
    }

    /// Parses optional `from`/`to` (`YYYY-MM-DD`). A missing `to` is `today`;
    /// a missing `from` is `to − (days − 1)`. Fails with field errors for a malformed date, `from`
    /// after `to`, or a range longer than [`MAX_RANGE_DAYS`].
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
        days: i64,
    ) -> Result<DateRange, DomainError> {
        let mut c = Check::new();
        let f = c.date_opt("from", from);
        let t = c.date_opt("to", to);
        c.finish()?;
        let to = t.unwrap_or(today);
        let from = f.unwrap_or(DateRange::last_days(to, days).from);
        if from > to {
            return Err(DomainError::field("from", "must not be after to"));
        }
        if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
            return Err(DomainError::field(
                "to",
                format!("the range must not exceed 5 years ({MAX_RANGE_DAYS} days)"),
            ));
        }
        Ok(DateRange { from, to })
    }

    /// Number of days in the range (≥ 1).
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// `[start, end)` on the local-minute scale of work-order windows.
    pub fn minute_bounds(&self) -> (i64, i64) {
        (day_minutes(self.from), day_minutes(self.to) + DAY_MINUTES)
    }

    /// `[start, end)` as UTC instants: local midnight of `from` to local
    /// midnight after `to`.
    pub fn utc_bounds(&self, tz: chrono_tz::Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let next = self.to.succ_opt().unwrap_or(self.to);
        (day_start_utc(self.from, tz), day_start_utc(next, tz))
    }
}

/// The median of `values`: the middle value, or for an even count the mean of
/// the two middle values rounded half away from zero. `None` when empty.
pub fn median(values: &[i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 {
        Some(v[n / 2])
    } else {
        let sum = i128::from(v[n / 2 - 1]) + i128::from(v[n / 2]);
        Some(div_round(sum, 2) as i64)
    }
}

/// `num / den` rounded half away from zero to 4 decimals; 0 when `den` is 0.
pub fn ratio4(num: i64, den: i64) -> f64 {
    if den == 0 {
        return 0.0;
    }
    let (n, d) = if den < 0 { (-num, -den) } else { (num, den) };
    div_round(i128::from(n) * 10_000, i128::from(d)) as f64 / 10_000.0
}

/// `x` rounded to one decimal place (half away from zero).
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// `x` clamped to `[0, 1]` (NaN → 0).
pub fn clamp01(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// `(revenue − cost) / revenue` to 4 decimals; 0 when there is no revenue.
pub fn margin(revenue_cents: i64, cost_cents: i64) -> f64 {
    if revenue_cents == 0 {
        return 0.0;
    }
    ratio4(revenue_cents.saturating_sub(cost_cents), revenue_cents)
}

/// Σ estimated / Σ actual minutes, capped to `[0, 2]`, 4 decimals; 0 when
/// there is no actual time.
pub fn efficiency(estimated_minutes: i64, actual_minutes: i64) -> f64 {
    if actual_minutes <= 0 || estimated_minutes <= 0 {
        return 0.0;
    }
    ratio4(estimated_minutes, actual_minutes).min(2.0)
}

/// Minutes covered by the union of the half-open `intervals`, each clipped to
/// `[lo, hi)`. Overlapping bookings are counted once.
pub fn union_minutes(intervals: &[(i64, i64)], lo: i64, hi: i64) -> i64 {
    let mut v: Vec<(i64, i64)> = intervals
        .iter()
        .map(|&(s, e)| (s.max(lo), e.min(hi)))
        .filter(|(s, e)| s < e)
        .collect();
    v.sort_unstable();
    let mut total = 0;
    let mut cur: Option<(i64, i64)> = None;
    for (s, e) in v {
        cur = match cur {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    if let Some((cs, ce)) = cur {
        total += ce - cs;
    }
    total
}

/// Monday-to-Friday days in the range.
pub fn weekdays(range: &DateRange) -> i64 {
    let mut n = 0;
    let mut d = range.from;
    while d <= range.to {
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            n += 1;
        }
        match d.succ_opt() {
            Some(x) => d = x,
            None => break,
        }
    }
    n
}

/// Minutes a piece of equipment is available in the range: 8 h per weekday.
pub fn available_minutes(range: &DateRange) -> i64 {
    weekdays(range) * WORKDAY_MINUTES
}

/// `booked / available × 100`, rounded half away from zero to one decimal and
/// capped to `[0, 100]`; 0 when nothing is available.
pub fn utilization_percentage(booked_minutes: i64, available_minutes: i64) -> f64 {
    if available_minutes <= 0 || booked_minutes <= 0 {
        return 0.0;
    }
    let tenths = div_round(
        i128::from(booked_minutes) * 1000,
        i128::from(available_minutes),
    );
    tenths.min(1000) as f64 / 10.0
}

/// One part of a score.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    /// The measured quantity (a ratio, unless the docs say otherwise); `null`
    /// when there was nothing to measure and the neutral value was used.
    pub value: Option<f64>,
    /// Points contributed to the score (0 ..= `weight`), one decimal.
    pub points: f64,
    /// Most points this component can contribute.
    pub weight: f64,
    /// How many records the value is based on.
    pub samples: i64,
}

impl Component {
    fn new(value: Option<f64>, normalised: f64, weight: f64, samples: i64) -> Self {
        Component {
            value,
            points: round1(weight * clamp01(normalised)),
            weight,
            samples,
        }
    }
}

/// Facts about one employee's completed jobs in a range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerformanceFacts {
    /// Completed jobs.
    pub jobs: i64,
    /// The most completed jobs of any employee in the same range.
    pub max_jobs: i64,
    /// Jobs with both an estimated and an actual duration (> 0).
    pub timed_jobs: i64,
    /// Σ min(estimated, actual) minutes over those jobs.
    pub timed_min_sum: i64,
    /// Σ max(estimated, actual) minutes over those jobs.
    pub timed_max_sum: i64,
    /// Jobs with a final price > 0 and a recorded actual cost.
    pub priced_jobs: i64,
    /// Σ final price of those jobs.
    pub priced_revenue_cents: i64,
    /// Σ actual cost of those jobs.
    pub priced_cost_cents: i64,
    /// Follow-ups of their jobs due in the range (up to today), done.
    pub follow_ups_done: i64,
    /// Follow-ups of their jobs due in the range (up to today), done or open.
    pub follow_ups_due: i64,
}

/// The components of the employee performance score.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceComponents {
    /// Σ min(est, act) / Σ max(est, act) — 30 points.
    pub estimate_accuracy: Component,
    /// Margin of their priced jobs; full points at 40 % — 30 points.
    pub margin: Component,
    /// Completed jobs / the most by any employee — 20 points.
    pub volume: Component,
    /// Follow-ups done / due — 20 points.
    pub follow_up_completion: Component,
}

/// Neutral value used for a ratio component with no samples.
pub const NEUTRAL: f64 = 0.5;

/// The performance score (0–100, one decimal) and its components.
pub fn performance_score(f: &PerformanceFacts) -> (f64, PerformanceComponents) {
    let accuracy =
        (f.timed_jobs > 0 && f.timed_max_sum > 0).then(|| ratio4(f.timed_min_sum, f.timed_max_sum));
    let margin_v = (f.priced_jobs > 0 && f.priced_revenue_cents > 0)
        .then(|| margin(f.priced_revenue_cents, f.priced_cost_cents));
    let volume = if f.max_jobs > 0 {
        ratio4(f.jobs, f.max_jobs)
    } else {
        0.0
    };
    let fu = (f.follow_ups_due > 0).then(|| ratio4(f.follow_ups_done, f.follow_ups_due));
    let c = PerformanceComponents {
        estimate_accuracy: Component::new(
            accuracy,
            accuracy.unwrap_or(NEUTRAL),
            30.0,
            f.timed_jobs,
        ),
        margin: Component::new(
            margin_v,
            margin_v.map_or(NEUTRAL, |m| m / TARGET_MARGIN),
            30.0,
            f.priced_jobs,
        ),
        volume: Component::new(Some(volume), volume, 20.0, f.jobs),
        follow_up_completion: Component::new(fu, fu.unwrap_or(NEUTRAL), 20.0, f.follow_ups_due),
    };
    let total = c.estimate_accuracy.points
        + c.margin.points
        + c.volume.points
        + c.follow_up_completion.points;
    (round1(total.clamp(0.0, 100.0)), c)
}

/// The components of the customer profitability score.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfitabilityComponents {
    /// Lifetime margin; full points at 40 % — 50 points.
    pub margin: Component,
    /// Lifetime value / the largest lifetime value of any customer — 30 points.
    pub volume: Component,
    /// 1 within 90 days of the last job, falling linearly to 0 at 365 days — 20 points.
    pub recency: Component,
}

/// The customer profitability score (0–100, one decimal) and its components.
/// `days_since_last_job` is `None` for a customer with no completed job.
pub fn profitability_score(
    lifetime_value_cents: i64,
    cost_cents: i64,
    jobs: i64,
    max_lifetime_value_cents: i64,
    days_since_last_job: Option<i64>,
) -> (f64, ProfitabilityComponents) {
    let m = margin(lifetime_value_cents, cost_cents);
    let volume = if max_lifetime_value_cents > 0 {
        ratio4(lifetime_value_cents.max(0), max_lifetime_value_cents)
    } else {
        0.0
    };
    let recency = days_since_last_job.map(|d| {
        if d <= 90 {
            1.0
        } else if d >= 365 {
            0.0
        } else {
            ratio4(365 - d, 275)
        }
    });
    let c = ProfitabilityComponents {
        margin: Component::new(Some(m), m / TARGET_MARGIN, 50.0, jobs),
        volume: Component::new(Some(volume), volume, 30.0, jobs),
        recency: Component::new(recency, recency.unwrap_or(0.0), 20.0, jobs.min(1)),
    };
    let total = c.margin.points + c.volume.points + c.recency.points;
    (round1(total.clamp(0.0, 100.0)), c)
}

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "the", "of", "for", "to", "in", "on", "with", "or", "&",
];

/// Lower-case words (runs of letters and digits) of `s`, without stop words.
pub fn words(s: &str) -> Vec<String> {
    let mut out: Vec<String> = s
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect();
    out.dedup();
    out
}

/// How well an employee's skills or trade cover a service type.
#[derive(Debug, Clone, PartialEq)]
pub struct SkillMatch {
    /// Share of the service type's words found in the best label (0–1).
    pub coverage: f64,
    /// The best label as recorded, when any word matched.
    pub label: Option<String>,
    /// Whether the best label is the trade (else a skill).
    pub via_trade: bool,
}

/// The skill or trade covering the most words of `service_type` (ties: skills
/// before the trade, then the earlier skill).
pub fn skill_match(service_type: &str, skills: &[String], trade: &str) -> SkillMatch {
    let want = words(service_type);
    let mut best = SkillMatch {
        coverage: 0.0,
        label: None,
        via_trade: false,
    };
    if want.is_empty() {
        return best;
    }
    let candidates = skills
        .iter()
        .map(|s| (s.as_str(), false))
        .chain(std::iter::once((trade, true)));
    for (label, via_trade) in candidates {
        let have = words(label);
        let hit = want.iter().filter(|w| have.contains(w)).count();
        let coverage = hit as f64 / want.len() as f64;
        if hit > 0 && coverage > best.coverage {
            best = SkillMatch {
                coverage,
                label: Some(label.trim().to_string()),
                via_trade,
            };
        }
    }
    best
}

/// Facts about one active employee for a job analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateFacts {
    /// Employee id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Skills and certifications.
    pub skills: Vec<String>,
    /// Trade.
    pub trade: String,
    /// Completed jobs of this service type (all time).
    pub completed_of_type: i64,
    /// Performance score (0–100) over the last 90 days.
    pub performance: f64,
    /// Minutes booked in the next 7 days.
    pub booked_minutes: i64,
}

/// A scored candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Employee id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Score 0–100, one decimal.
    pub score: f64,
    /// One sentence per factor.
    pub reasons: Vec<String>,
}

fn hours1(minutes: i64) -> String {
    format!("{:.1}", minutes as f64 / 60.0)
}

/// Scores every candidate for a job of `service_type` and returns them best
/// first (ties: name, then id). Score = 40 × skill coverage + 25 × min(jobs of
/// this type, 10)/10 + 20 × performance/100 + 15 × (1 − min(booked, 40 h)/40 h).
pub fn rank_candidates(service_type: &str, cands: &[CandidateFacts]) -> Vec<Candidate> {
    let service = service_type.trim().to_lowercase();
    let lightest = cands.iter().map(|c| c.booked_minutes).min().unwrap_or(0);
    let mut out: Vec<Candidate> = cands
        .iter()
        .map(|c| {
            let m = skill_match(service_type, &c.skills, &c.trade);
            let skill = 40.0 * m.coverage;
            let experience = 25.0 * (c.completed_of_type.clamp(0, 10) as f64 / 10.0);
            let perf = 20.0 * clamp01(c.performance / 100.0);
            let load = 15.0
                * (1.0
                    - c.booked_minutes.clamp(0, OVERLOAD_MINUTES) as f64 / OVERLOAD_MINUTES as f64);
            let mut reasons = Vec::with_capacity(4);
            reasons.push(match (&m.label, m.via_trade, m.coverage >= 1.0) {
                (Some(l), false, true) => format!("has skill '{l}'"),
                (Some(l), true, true) => format!("trade '{l}' matches '{service}'"),
                (Some(l), false, false) => format!("skill '{l}' partly matches '{service}'"),
                (Some(l), true, false) => format!("trade '{l}' partly matches '{service}'"),
                (None, _, _) => format!("no recorded skill matches '{service}'"),
            });
            reasons.push(match c.completed_of_type {
                0 => format!("has not completed a {service} job yet"),
                1 => format!("completed 1 {service} job"),
                n => format!("completed {n} {service} jobs"),
            });
            reasons.push(format!(
                "performance score {:.1}/100 over the last {PERFORMANCE_RANGE_DAYS} days",
                c.performance
            ));
            reasons.push(if c.booked_minutes == lightest {
                format!(
                    "lightest schedule: {} h booked in the next 7 days",
                    hours1(c.booked_minutes)
                )
            } else {
                format!("{} h booked in the next 7 days", hours1(c.booked_minutes))
            });
            Candidate {
                id: c.id.clone(),
                name: c.name.clone(),
                score: round1(skill + experience + perf + load),
                reasons,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    });
    out
}

/// Input of the job analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisInput {
    /// The job's service type (matched case-insensitively).
    pub service_type: String,
    /// The job's priority (low | medium | high | urgent).
    pub priority: String,
    /// A work order to leave out of the history and the schedule load (the
    /// one being analysed).
    pub exclude_work_order_id: Option<String>,
}

/// The employee the analysis recommends.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recommended {
    /// Employee id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Why, one sentence per factor.
    pub reasons: Vec<String>,
}

/// What the estimate is based on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Basis {
    /// Completed jobs the medians were taken over (0 for the defaults).
    pub samples: i64,
    /// `service_type_and_priority`, `service_type` or `default`.
    pub method: String,
    /// The method in words.
    pub explanation: String,
}

/// The job analysis.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// Estimated cost to the business.
    pub estimated_cost: Money,
    /// Estimated duration (hours in JSON).
    pub estimated_duration: Minutes,
    /// The recommended technician; `null` when no employee is active.
    pub recommended_employee: Option<Recommended>,
    /// What the estimate is based on.
    pub basis: Basis,
}

/// One completed job used by the estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Its priority matched the input's.
    pub same_priority: bool,
    /// Actual minutes (> 0).
    pub actual_minutes: i64,
    /// Actual cost, when recorded.
    pub actual_cost_cents: Option<i64>,
}

/// The estimate part of the analysis: medians at the most specific level
/// with at least [`MIN_SAMPLES`] jobs, else the defaults. `samples` are the
/// matching completed jobs (same service type), most recent first;
/// `hourly_rate_cents` is the labour rate to use when there is no cost history.
pub fn estimate(
    service_type: &str,
    priority: &str,
    samples: &[Sample],
    default_minutes: i64,
    hourly_rate_cents: i64,
    rate_from_employees: bool,
) -> (Money, Minutes, Basis) {
    let service = service_type.trim().to_lowercase();
    let same: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.same_priority)
        .take(MAX_SAMPLES)
        .collect();
    let all: Vec<&Sample> = samples.iter().take(MAX_SAMPLES).collect();
    let (chosen, method, scope) = if same.len() >= MIN_SAMPLES {
        (
            same,
            "service_type_and_priority",
            format!("'{service}' jobs with priority '{priority}'"),
        )
    } else if all.len() >= MIN_SAMPLES {
        (
            all,
            "service_type",
            format!(
                "'{service}' jobs of any priority (fewer than {MIN_SAMPLES} with priority '{priority}')"
            ),
        )
    } else {
        (Vec::new(), "default", String::new())
    };
    let rate_words = if rate_from_employees {
        format!(
            "the median hourly cost of active employees ({}/h)",
            Money::from_cents(hourly_rate_cents)
        )
    } else {
        format!(
            "the configured default hourly cost ({}/h)",
            Money::from_cents(hourly_rate_cents)
        )
    };
    if chosen.is_empty() {
        let minutes = Minutes(default_minutes.max(0));
        let cost = Money::from_cents(hourly_rate_cents).per_hour_for(minutes);
        let explanation = format!(
            "fewer than {MIN_SAMPLES} completed '{service}' jobs with a recorded duration: duration is the configured default of {} h; cost is that duration at {rate_words}",
            minutes.to_hours_decimal()
        );
        return (
            cost,
            minutes,
            Basis {
                samples: 0,
                method: "default".into(),
                explanation,
            },
        );
    }
    let minutes: Vec<i64> = chosen.iter().map(|s| s.actual_minutes).collect();
    let duration = Minutes(median(&minutes).unwrap_or(default_minutes));
    let costs: Vec<i64> = chosen.iter().filter_map(|s| s.actual_cost_cents).collect();
    let n = chosen.len();
    let (cost, cost_words) = if costs.len() >= MIN_SAMPLES {
        (
            Money::from_cents(median(&costs).unwrap_or(0)),
            format!(
                "cost is the median actual cost of the {} of them with a recorded cost",
                costs.len()
            ),
        )
    } else {
        (
            Money::from_cents(hourly_rate_cents).per_hour_for(duration),
            format!(
                "fewer than {MIN_SAMPLES} of them have a recorded cost, so cost is that duration at {rate_words}"
            ),
        )
    };
    let explanation = format!(
        "duration is the median actual duration of the {n} most recent completed {scope}; {cost_words}"
    );
    (
        cost,
        duration,
        Basis {
            samples: n as i64,
            method: method.into(),
            explanation,
        },
    )
}

/// How urgent a recommendation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Act now: money or customers at risk.
    High,
    /// Act soon.
    Medium,
    /// Worth a look.
    Low,
    /// Advice about the data itself.
    Info,
}

/// One explainable recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    /// Stable id (`kind`-specific key), e.g. `idle-equipment:<equipment id>`.
    pub id: String,
    /// The rule that fired.
    pub kind: &'static str,
    /// How urgent.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// What was found and what to do.
    pub detail: String,
    /// The numbers the rule looked at, including its thresholds.
    pub evidence: Value,
}

/// Completed jobs of one service type in the underpricing window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFacts {
    /// Service type as shown.
    pub service_type: String,
    /// Completed jobs.
    pub jobs: i64,
    /// Σ final price.
    pub revenue_cents: i64,
    /// Σ actual cost.
    pub cost_cents: i64,
}

/// One piece of equipment.
#[derive(Debug, Clone, PartialEq)]
pub struct EquipmentFacts {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// available | in_use | maintenance | retired.
    pub status: String,
    /// Business-local date it was added.
    pub created: Option<NaiveDate>,
    /// Next maintenance date.
    pub next_maintenance: Option<NaiveDate>,
    /// Utilization over the last 30 days (0–100).
    pub utilization: f64,
    /// Booked minutes over the last 30 days.
    pub booked_minutes: i64,
}

/// An open follow-up that is past due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpFacts {
    /// Id.
    pub id: String,
    /// Customer name.
    pub customer: String,
    /// Due date.
    pub due: NaiveDate,
}

/// A sent invoice with a balance, past due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceFacts {
    /// Id.
    pub id: String,
    /// `INV-000045`.
    pub number: String,
    /// Customer name.
    pub customer: String,
    /// Due date.
    pub due: NaiveDate,
    /// Total − paid.
    pub balance_cents: i64,
}

/// An active employee's booked time in the next 7 days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadFacts {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Booked minutes.
    pub booked_minutes: i64,
}

/// Everything the recommendation rules look at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Completed jobs in the last 90 days, by service type.
    pub service_types: Vec<ServiceFacts>,
    /// Equipment that is not retired.
    pub equipment: Vec<EquipmentFacts>,
    /// Open follow-ups due before today.
    pub overdue_follow_ups: Vec<FollowUpFacts>,
    /// Active employees' load in the next 7 days.
    pub loads: Vec<LoadFacts>,
    /// Sent invoices with a balance, due before today.
    pub overdue_invoices: Vec<InvoiceFacts>,
    /// Completed jobs ever.
    pub completed_jobs: i64,
    /// Completed jobs in the last 90 days.
    pub recent_completed_jobs: i64,
    /// Of those, jobs missing the actual duration, actual cost or final price.
    pub incomplete_job_records: i64,
    /// Active employees.
    pub active_employees: i64,
    /// Active employees with neither skills nor a trade.
    pub employees_without_skills: i64,
}

fn days_word(n: i64) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

/// Applies every rule to `facts` and returns the recommendations, most
/// severe first (then by kind and id). Never empty: when no rule fires, one
/// `all_clear` item says what was checked.
pub fn evaluate(facts: &Facts, today: NaiveDate) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for s in &facts.service_types {
        let m = margin(s.revenue_cents, s.cost_cents);
        if s.jobs >= UNDERPRICED_MIN_JOBS && m < UNDERPRICED_MARGIN {
            out.push(Recommendation {
                id: format!("underpriced-service:{}", s.service_type.to_lowercase()),
                kind: "underpriced_service_type",
                severity: if m < 0.0 { Severity::High } else { Severity::Medium },
                title: format!("'{}' may be underpriced", s.service_type),
                detail: format!(
                    "The last {} completed '{}' jobs (last {UNDERPRICED_WINDOW_DAYS} days) earned {} on {} of cost, a margin of {:.1} % (below {:.0} %). Review the price or the time and materials these jobs take.",
                    s.jobs,
                    s.service_type,
                    Money::from_cents(s.revenue_cents),
                    Money::from_cents(s.cost_cents),
                    m * 100.0,
                    UNDERPRICED_MARGIN * 100.0
                ),
                evidence: json!({
                    "serviceType": s.service_type, "jobs": s.jobs,
                    "revenue": Money::from_cents(s.revenue_cents), "cost": Money::from_cents(s.cost_cents),
                    "margin": m, "thresholdMargin": UNDERPRICED_MARGIN,
                    "minimumJobs": UNDERPRICED_MIN_JOBS, "windowDays": UNDERPRICED_WINDOW_DAYS,
                }),
            });
        }
    }
    let window_start = DateRange::last_days(today, DEFAULT_RANGE_DAYS).from;
    for e in &facts.equipment {
        let in_service = matches!(e.status.as_str(), "available" | "in_use");
        let old_enough = e.created.is_some_and(|d| d <= window_start);
        if in_service && old_enough && e.utilization < IDLE_UTILIZATION {
            out.push(Recommendation {
                id: format!("idle-equipment:{}", e.id),
                kind: "idle_equipment",
                severity: Severity::Low,
                title: format!("{} is mostly idle", e.name),
                detail: format!(
                    "{} was booked {} h in the last {DEFAULT_RANGE_DAYS} days, {:.1} % of working hours (below {:.0} %). Consider renting it out, selling it, or using it on more jobs.",
                    e.name,
                    hours1(e.booked_minutes),
                    e.utilization,
                    IDLE_UTILIZATION
                ),
                evidence: json!({
                    "equipmentId": e.id, "name": e.name,
                    "utilizationPercentage": e.utilization,
                    "bookedHours": Minutes(e.booked_minutes),
                    "thresholdPercentage": IDLE_UTILIZATION, "windowDays": DEFAULT_RANGE_DAYS,
                }),
            });
        }
        let maintainable = e.status != "retired" && e.status != "maintenance";
        if let Some(next) = e.next_maintenance.filter(|_| maintainable) {
            let ahead = (next - today).num_days();
            if ahead <= MAINTENANCE_LOOKAHEAD_DAYS {
                let (severity, when) = if ahead < 0 {
                    (Severity::High, format!("was due {} ago", days_word(-ahead)))
                } else if ahead == 0 {
                    (Severity::Medium, "is due today".to_string())
                } else {
                    (Severity::Medium, format!("is due in {}", days_word(ahead)))
                };
                out.push(Recommendation {
                    id: format!("maintenance-due:{}", e.id),
                    kind: "maintenance_due",
                    severity,
                    title: format!("Maintenance due for {}", e.name),
                    detail: format!(
                        "Maintenance of {} {when} ({next}). Schedule it and set the next date.",
                        e.name
                    ),
                    evidence: json!({
                        "equipmentId": e.id, "name": e.name,
                        "nextMaintenanceDate": next.to_string(), "daysUntilDue": ahead,
                        "lookaheadDays": MAINTENANCE_LOOKAHEAD_DAYS,
                    }),
                });
            }
        }
    }
    if let Some(oldest) = facts.overdue_follow_ups.iter().map(|f| f.due).min() {
        let n = facts.overdue_follow_ups.len();
        let late = (today - oldest).num_days();
        let items: Vec<Value> = facts
            .overdue_follow_ups
            .iter()
            .take(10)
            .map(|f| json!({"id": f.id, "customer": f.customer, "dueDate": f.due.to_string()}))
            .collect();
        out.push(Recommendation {
            id: "overdue-follow-ups".into(),
            kind: "overdue_follow_ups",
            severity: if late > 14 {
                Severity::High
            } else {
                Severity::Medium
            },
            title: format!("{n} customer follow-up(s) overdue"),
            detail: format!(
                "{n} open follow-up(s) are past their due date; the oldest was due {oldest}, {} ago. Call these customers and mark the follow-ups done.",
                days_word(late)
            ),
            evidence: json!({"count": n, "oldestDueDate": oldest.to_string(), "daysOverdue": late, "items": items}),
        });
    }
    for l in &facts.loads {
        if l.booked_minutes > OVERLOAD_MINUTES {
            out.push(Recommendation {
                id: format!("overloaded-technician:{}", l.id),
                kind: "overloaded_technician",
                severity: Severity::High,
                title: format!("{} is overbooked", l.name),
                detail: format!(
                    "{} has {} h booked in the next 7 days (more than {} h). Move some jobs to a technician with a lighter schedule.",
                    l.name,
                    hours1(l.booked_minutes),
                    OVERLOAD_MINUTES / 60
                ),
                evidence: json!({
                    "employeeId": l.id, "name": l.name, "bookedHours": Minutes(l.booked_minutes),
                    "thresholdHours": OVERLOAD_MINUTES / 60, "windowDays": 7,
                }),
            });
        }
    }
    if let Some(oldest) = facts.overdue_invoices.iter().map(|i| i.due).min() {
        let n = facts.overdue_invoices.len();
        let late = (today - oldest).num_days();
        let balance: i64 = facts.overdue_invoices.iter().map(|i| i.balance_cents).sum();
        let items: Vec<Value> = facts
            .overdue_invoices
            .iter()
            .take(10)
            .map(|i| {
                json!({"id": i.id, "number": i.number, "customer": i.customer,
                       "dueDate": i.due.to_string(), "balance": Money::from_cents(i.balance_cents)})
            })
            .collect();
        out.push(Recommendation {
            id: "overdue-invoices".into(),
            kind: "overdue_invoices",
            severity: if late > 30 {
                Severity::High
            } else {
                Severity::Medium
            },
            title: format!("{n} invoice(s) overdue"),
            detail: format!(
                "{n} sent invoice(s) with {} outstanding are past due; the oldest was due {oldest}, {} ago. Send reminders or call.",
                Money::from_cents(balance),
                days_word(late)
            ),
            evidence: json!({"count": n, "balance": Money::from_cents(balance),
                             "oldestDueDate": oldest.to_string(), "daysOverdue": late, "items": items}),
        });
    }
    if facts.completed_jobs < LITTLE_DATA_JOBS {
        out.push(Recommendation {
            id: "record-completed-jobs".into(),
            kind: "data_needed",
            severity: Severity::Info,
            title: "Record more completed jobs".into(),
            detail: format!(
                "Only {} completed job(s) are recorded. Complete jobs in Quant with their actual hours, actual cost and final price: estimates, margins and recommendations use them from the first {MIN_SAMPLES} jobs of a service type, and become reliable after about {LITTLE_DATA_JOBS}.",
                facts.completed_jobs
            ),
            evidence: json!({"completedJobs": facts.completed_jobs, "wanted": LITTLE_DATA_JOBS}),
        });
    }
    if facts.incomplete_job_records > 0 {
        out.push(Recommendation {
            id: "complete-job-records".into(),
            kind: "data_needed",
            severity: Severity::Low,
            title: "Some completed jobs lack actual time, cost or price".into(),
            detail: format!(
                "{} of the {} jobs completed in the last {UNDERPRICED_WINDOW_DAYS} days have no actual duration, actual cost or final price. Record them so margins, efficiency and estimates are right.",
                facts.incomplete_job_records, facts.recent_completed_jobs
            ),
            evidence: json!({"incompleteJobs": facts.incomplete_job_records,
                             "completedJobs": facts.recent_completed_jobs, "windowDays": UNDERPRICED_WINDOW_DAYS}),
        });
    }
    if facts.active_employees == 0 {
        out.push(Recommendation {
            id: "add-technicians".into(),
            kind: "data_needed",
            severity: Severity::Info,
            title: "Add your technicians".into(),
            detail: "No active employees are recorded. Add each technician with their trade, skills and hourly cost so Quant can recommend who should do each job.".into(),
            evidence: json!({"activeEmployees": 0}),
        });
    } else if facts.employees_without_skills > 0 {
        out.push(Recommendation {
            id: "record-skills".into(),
            kind: "data_needed",
            severity: Severity::Info,
            title: "Record your technicians' skills".into(),
            detail: format!(
                "{} active employee(s) have no skills or trade recorded. Add them so job recommendations can match skills to service types.",
                facts.employees_without_skills
            ),
            evidence: json!({"employeesWithoutSkills": facts.employees_without_skills,
                             "activeEmployees": facts.active_employees}),
        });
    }
    if facts.equipment.is_empty() {
        out.push(Recommendation {
            id: "add-equipment".into(),
            kind: "data_needed",
            severity: Severity::Info,
            title: "Add your equipment".into(),
            detail: "No equipment in service is recorded. Add your equipment and loadouts and attach loadouts to jobs to see utilization and maintenance reminders.".into(),
            evidence: json!({"equipment": 0}),
        });
    }
    if out.is_empty() {
        out.push(Recommendation {
            id: "all-clear".into(),
            kind: "all_clear",
            severity: Severity::Info,
            title: "Nothing needs attention".into(),
            detail: format!(
                "Checked margins by service type ({UNDERPRICED_WINDOW_DAYS} days), equipment utilization ({DEFAULT_RANGE_DAYS} days) and maintenance dates, follow-ups, technician load (next 7 days) and overdue invoices. Keep recording actual hours, costs and prices on every job."
            ),
            evidence: json!({"completedJobs": facts.completed_jobs}),
        });
    }
    out.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then_with(|| a.kind.cmp(b.kind))
            .then_with(|| a.id.cmp(&b.id))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[7]), Some(7));
        assert_eq!(median(&[9, 1, 5]), Some(5));
        assert_eq!(median(&[1, 2]), Some(2)); // 1.5 rounds away from zero
        assert_eq!(median(&[-1, -2]), Some(-2));
        assert_eq!(median(&[60, 90, 120, 240]), Some(105));
    }

    #[test]
    fn ratios_and_percentages() {
        assert_eq!(ratio4(1, 3), 0.3333);
        assert_eq!(ratio4(2, 3), 0.6667);
        assert_eq!(ratio4(5, 0), 0.0);
        assert_eq!(margin(10_000, 7_500), 0.25);
        assert_eq!(margin(10_000, 12_000), -0.2);
        assert_eq!(margin(0, 500), 0.0);
        assert_eq!(efficiency(90, 60), 1.5);
        assert_eq!(efficiency(300, 60), 2.0);
        assert_eq!(efficiency(0, 60), 0.0);
        assert_eq!(utilization_percentage(240, 9600), 2.5);
        assert_eq!(utilization_percentage(1, 3), 33.3);
        assert_eq!(utilization_percentage(500, 100), 100.0);
        assert_eq!(utilization_percentage(5, 0), 0.0);
    }

    #[test]
    fn union_counts_overlaps_once_and_clips() {
        assert_eq!(
            union_minutes(&[(0, 60), (30, 90), (200, 260)], 0, 1000),
            150
        );
        assert_eq!(union_minutes(&[(-50, 50), (900, 1100)], 0, 1000), 150);
        assert_eq!(union_minutes(&[(10, 10), (20, 5)], 0, 100), 0);
    }

    #[test]
    fn weekdays_and_available_time() {
        // 2026-03-02 is a Monday; two full weeks.
        let r = DateRange {
            from: d("2026-03-02"),
            to: d("2026-03-15"),
        };
        assert_eq!(weekdays(&r), 10);
        assert_eq!(available_minutes(&r), 4800);
        let weekend = DateRange {
            from: d("2026-03-07"),
            to: d("2026-03-08"),
        };
        assert_eq!(available_minutes(&weekend), 0);
    }

    #[test]
    fn ranges_parse_with_defaults_and_limits() {
        let today = d("2026-03-16");
        let r = DateRange::parse(None, None, today, 30).unwrap();
        assert_eq!((r.from, r.to, r.days()), (d("2026-02-15"), today, 30));
        let r = DateRange::parse(None, Some("2026-01-31"), today, 30).unwrap();
        assert_eq!(r.from, d("2026-01-02"));
        assert!(DateRange::parse(Some("2026-03-17"), None, today, 30).is_err());
        assert!(DateRange::parse(Some("2026-3-1"), None, today, 30).is_err());
        assert!(DateRange::parse(Some("2020-01-01"), Some("2024-12-31"), today, 30).is_ok());
        assert!(DateRange::parse(Some("2020-01-01"), Some("2025-01-02"), today, 30).is_err());
        let (lo, hi) = DateRange {
            from: d("1970-01-02"),
            to: d("1970-01-02"),
        }
        .minute_bounds();
        assert_eq!((lo, hi), (1440, 2880));
    }

    #[test]
    fn local_days_follow_the_time_zone() {
        let tz = "America/Chicago".parse::<chrono_tz::Tz>().unwrap();
        assert_eq!(
            day_start_utc(d("2026-03-16"), tz).to_rfc3339(),
            "2026-03-16T05:00:00+00:00"
        );
        assert_eq!(
            local_date("2026-03-16T03:00:00.000000Z", tz),
            Some(d("2026-03-15"))
        );
    }

    #[test]
    fn skills_match_on_words() {
        let skills = vec!["Drain Cleaning".to_string(), "backflow".to_string()];
        let m = skill_match("drain cleaning", &skills, "Plumbing");
        assert_eq!(
            (m.coverage, m.label.as_deref()),
            (1.0, Some("Drain Cleaning"))
        );
        let m = skill_match("Plumbing repair", &skills, "plumbing");
        assert_eq!((m.coverage, m.via_trade), (0.5, true));
        let m = skill_match("Roofing", &skills, "plumbing");
        assert_eq!((m.coverage, m.label), (0.0, None));
    }

    #[test]
    fn candidates_are_ranked_and_explained() {
        let c = |id: &str, name: &str, skills: &[&str], jobs, perf, booked| CandidateFacts {
            id: id.into(),
            name: name.into(),
            skills: skills.iter().map(|s| s.to_string()).collect(),
            trade: String::new(),
            completed_of_type: jobs,
            performance: perf,
            booked_minutes: booked,
        };
        let ranked = rank_candidates(
            "Drain cleaning",
            &[
                c("b", "Bo", &[], 0, 50.0, 0),
                c("a", "Al", &["drain cleaning"], 12, 80.0, 120),
            ],
        );
        assert_eq!(ranked[0].id, "a");
        // 40 + 25 + 16 + 15 × (1 − 120/2400) = 95.25 → 95.3
        assert_eq!(ranked[0].score, 95.3);
        assert_eq!(
            ranked[0].reasons,
            vec![
                "has skill 'drain cleaning'",
                "completed 12 drain cleaning jobs",
                "performance score 80.0/100 over the last 90 days",
                "2.0 h booked in the next 7 days",
            ]
        );
        assert_eq!(
            ranked[1].reasons[3],
            "lightest schedule: 0.0 h booked in the next 7 days"
        );
        // Equal scores: by name, then id.
        let tie = rank_candidates(
            "x",
            &[c("2", "Zed", &[], 0, 0.0, 0), c("1", "Amy", &[], 0, 0.0, 0)],
        );
        assert_eq!(tie[0].name, "Amy");
    }

    #[test]
    fn estimates_fall_back_level_by_level() {
        let s = |p: bool, m: i64, c: Option<i64>| Sample {
            same_priority: p,
            actual_minutes: m,
            actual_cost_cents: c,
        };
        let (cost, dur, b) = estimate("Leak", "high", &[], 120, 5500, false);
        assert_eq!(
            (cost.cents(), dur.0, b.samples, b.method.as_str()),
            (11000, 120, 0, "default")
        );
        let hist = [
            s(true, 60, Some(100)),
            s(false, 200, Some(900)),
            s(true, 90, Some(300)),
            s(false, 100, None),
        ];
        let (cost, dur, b) = estimate("Leak", "high", &hist, 120, 6000, true);
        // Only 2 at "high": all 4 → minutes [60,90,100,200] → 95; costs 3 → 300.
        assert_eq!(
            (dur.0, cost.cents(), b.samples, b.method.as_str()),
            (95, 300, 4, "service_type")
        );
        let more = [s(true, 30, None), hist[0], hist[1], hist[2], hist[3]];
        let (cost, dur, b) = estimate("Leak", "high", &more, 120, 6000, true);
        // 3 at "high": [30,60,90] → 60; 2 costs → 60 min at $60.00/h.
        assert_eq!((dur.0, cost.cents(), b.samples), (60, 6000, 3));
        assert_eq!(b.method, "service_type_and_priority");
    }

    #[test]
    fn performance_with_no_history_is_neutral() {
        let (score, c) = performance_score(&PerformanceFacts::default());
        assert_eq!(score, 40.0);
        assert_eq!(c.estimate_accuracy.value, None);
        assert_eq!(c.volume.points, 0.0);
    }

    #[test]
    fn recommendations_never_empty() {
        let today = d("2026-03-16");
        let r = evaluate(&Facts::default(), today);
        let ids: Vec<&str> = r.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(
            ids,
            vec!["add-equipment", "add-technicians", "record-completed-jobs"]
        );
        let facts = Facts {
            completed_jobs: 50,
            active_employees: 2,
            equipment: vec![EquipmentFacts {
                id: "e".into(),
                name: "Van".into(),
                status: "in_use".into(),
                created: Some(d("2025-01-01")),
                next_maintenance: None,
                utilization: 50.0,
                booked_minutes: 4000,
            }],
            ..Default::default()
        };
        let r = evaluate(&facts, today);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].kind, "all_clear");
    }

    proptest! {
        #[test]
        fn median_lies_between_min_and_max(v in proptest::collection::vec(-1_000_000i64..1_000_000, 1..50)) {
            let m = median(&v).unwrap();
            prop_assert!(m >= *v.iter().min().unwrap() && m <= *v.iter().max().unwrap());
            let mut rev = v.clone();
            rev.reverse();
            prop_assert_eq!(median(&rev), Some(m));
            let below = v.iter().filter(|x| **x < m).count();
            let above = v.iter().filter(|x| **x > m).count();
            prop_assert!(below <= v.len() / 2 && above <= v.len() / 2);
        }

        #[test]
        fn median_shifts_with_its_data(v in proptest::collection::vec(-1000i64..1000, 1..30), k in -1000i64..1000) {
            let shifted: Vec<i64> = v.iter().map(|x| x + k).collect();
            // Rounding of even counts may differ by one at the half.
            prop_assert!((median(&shifted).unwrap() - median(&v).unwrap() - k).abs() <= 1);
        }

        #[test]
        fn performance_stays_within_0_and_100(
            jobs in 0i64..1000, extra in 0i64..1000, timed in 0i64..100,
            a in 0i64..100_000, b in 0i64..100_000, priced in 0i64..100,
            rev in -10_000_000i64..10_000_000, cost in -10_000_000i64..10_000_000,
            done in 0i64..100, open in 0i64..100,
        ) {
            let f = PerformanceFacts {
                jobs, max_jobs: jobs + extra, timed_jobs: timed,
                timed_min_sum: a.min(b), timed_max_sum: a.max(b),
                priced_jobs: priced, priced_revenue_cents: rev, priced_cost_cents: cost,
                follow_ups_done: done, follow_ups_due: done + open,
            };
            let (s, c) = performance_score(&f);
            prop_assert!((0.0..=100.0).contains(&s));
            for comp in [&c.estimate_accuracy, &c.margin, &c.volume, &c.follow_up_completion] {
                prop_assert!(comp.points >= 0.0 && comp.points <= comp.weight);
            }
        }

        #[test]
        fn profitability_stays_within_0_and_100(
            ltv in -10_000_000i64..100_000_000, cost in -10_000_000i64..100_000_000,
            extra in 0i64..100_000_000, jobs in 0i64..500, days in proptest::option::of(0i64..5000),
        ) {
            let (s, _) = profitability_score(ltv, cost, jobs, ltv.max(0) + extra, days);
            prop_assert!((0.0..=100.0).contains(&s));
        }

        #[test]
        fn candidate_scores_stay_within_0_and_100(
            jobs in 0i64..1000, perf in 0.0f64..=100.0, booked in 0i64..100_000,
            service in "[a-z ]{0,30}", skill in "[a-z ]{0,30}",
        ) {
            let c = CandidateFacts {
                id: "x".into(), name: "X".into(), skills: vec![skill], trade: String::new(),
                completed_of_type: jobs, performance: perf, booked_minutes: booked,
            };
            let r = rank_candidates(&service, &[c]);
            prop_assert!((0.0..=100.0).contains(&r[0].score));
            prop_assert_eq!(r[0].reasons.len(), 4);
        }

        #[test]
        fn there_is_always_a_recommendation_and_severities_are_sorted(
            jobs in 0i64..30, recent in 0i64..30, incomplete in 0i64..5, active in 0i64..3,
            no_skills in 0i64..3, margin_bps in -5000i64..9000, svc_jobs in 0i64..6,
            util in 0.0f64..100.0, booked in 0i64..5000, overdue in 0usize..3,
        ) {
            let today = NaiveDate::from_ymd_opt(2026, 3, 16).unwrap();
            let facts = Facts {
                service_types: vec![ServiceFacts {
                    service_type: "Repair".into(), jobs: svc_jobs,
                    revenue_cents: 10_000, cost_cents: 10_000 - margin_bps,
                }],
                equipment: vec![EquipmentFacts {
                    id: "e".into(), name: "Van".into(), status: "available".into(),
                    created: Some(NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()),
                    next_maintenance: None, utilization: util, booked_minutes: 0,
                }],
                overdue_follow_ups: (0..overdue).map(|i| FollowUpFacts {
                    id: i.to_string(), customer: "C".into(),
                    due: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
                }).collect(),
                loads: vec![LoadFacts { id: "a".into(), name: "A".into(), booked_minutes: booked }],
                overdue_invoices: vec![],
                completed_jobs: jobs, recent_completed_jobs: recent,
                incomplete_job_records: incomplete, active_employees: active,
                employees_without_skills: no_skills,
            };
            let r = evaluate(&facts, today);
            prop_assert!(!r.is_empty());
            prop_assert!(r.windows(2).all(|w| w[0].severity <= w[1].severity));
            let fired = r.iter().any(|x| x.kind == "underpriced_service_type");
            prop_assert_eq!(fired, svc_jobs >= 3 && margin_bps < 1500);
            let overloaded = r.iter().any(|x| x.kind == "overloaded_technician");
            prop_assert_eq!(overloaded, booked > OVERLOAD_MINUTES);
        }

        #[test]
        fn utilization_stays_within_0_and_100(booked in -10_000i64..1_000_000, avail in -10i64..100_000) {
            let u = utilization_percentage(booked, avail);
            prop_assert!((0.0..=100.0).contains(&u));
        }

        #[test]
        fn union_never_exceeds_the_clip_or_the_sum(
            v in proptest::collection::vec((0i64..10_000, 0i64..600), 0..20), lo in 0i64..5000, len in 0i64..10_000,
        ) {
            let iv: Vec<(i64, i64)> = v.iter().map(|(s, l)| (*s, s + l)).collect();
            let u = union_minutes(&iv, lo, lo + len);
            let sum: i64 = iv.iter().map(|(s, e)| (e.min(&(lo + len)) - s.max(&lo)).max(0)).sum();
            prop_assert!(u >= 0 && u <= len && u <= sum);
            if let Some(max_one) = iv.iter().map(|(s, e)| (e.min(&(lo + len)) - s.max(&lo)).max(0)).max() {
                prop_assert!(u >= max_one);
            }
        }
    }
}
