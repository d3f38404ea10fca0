//! Work orders: the state machine (draft → scheduled → in_progress → completed,
//! cancel from any open state), which fields each status lets a user edit, the
//! validated inputs of create/PATCH/schedule/complete/cancel, booking windows,
//! and the API view (DESIGN §4).

use super::DomainError;
use super::invoice::{PartLine, parse_quantity};
use super::money::{Minutes, Money, div_round};
use super::validate::Check;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Where a work order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = WorkOrderStatus)]
pub enum Status {
    /// Created, not yet booked.
    Draft,
    /// Booked: a technician, a date and a time window.
    Scheduled,
    /// The technician has started.
    InProgress,
    /// Done and invoiced (terminal).
    Completed,
    /// Called off (terminal).
    Cancelled,
}

impl Status {
    /// Every status, in life order.
    pub const ALL: [Status; 5] = [
        Status::Draft,
        Status::Scheduled,
        Status::InProgress,
        Status::Completed,
        Status::Cancelled,
    ];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Scheduled => "scheduled",
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
        }
    }

    /// Parses the API/database name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether no action is accepted any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Cancelled)
    }

    /// Whether the work order holds its booked window (technician and equipment).
    pub fn holds_booking(self) -> bool {
        matches!(self, Status::Scheduled | Status::InProgress)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent a job is.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Whenever convenient.
    Low,
    /// The default.
    #[default]
    Medium,
    /// Soon.
    High,
    /// Now.
    Urgent,
}

impl Priority {
    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// Parses the API/database name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Priority> {
        [
            Priority::Low,
            Priority::Medium,
            Priority::High,
            Priority::Urgent,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// A transition request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Book (or re-book) a technician and a window.
    Schedule,
    /// The technician starts work.
    Start,
    /// Work is done (from in_progress, or straight from scheduled).
    Complete,
    /// Call the job off.
    Cancel,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 4] = [
        Action::Schedule,
        Action::Start,
        Action::Complete,
        Action::Cancel,
    ];

    /// The verb used in messages and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Schedule => "schedule",
            Action::Start => "start",
            Action::Complete => "complete",
            Action::Cancel => "cancel",
        }
    }
}

/// The status `action` leads to from `from`, or `None` when the state machine
/// does not allow it.
pub fn next_status(from: Status, action: Action) -> Option<Status> {
    use Action as A;
    use Status as S;
    match (from, action) {
        (S::Draft | S::Scheduled, A::Schedule) => Some(S::Scheduled),
        (S::Scheduled, A::Start) => Some(S::InProgress),
        (S::Scheduled | S::InProgress, A::Complete) => Some(S::Completed),
        (S::Draft | S::Scheduled | S::InProgress, A::Cancel) => Some(S::Cancelled),
        _ => None,
    }
}

/// The status and the timestamps the state machine keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    /// Current status.
    pub status: Status,
    /// When work started (set by start, or by a direct completion).
    pub started_at: Option<DateTime<Utc>>,
    /// When it was completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// When it was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            status: Status::Draft,
            started_at: None,
            completed_at: None,
            cancelled_at: None,
        }
    }
}

impl Lifecycle {
    /// Applies `action` at `now` to the work order numbered `number`.
    /// Completing a job that was never started records the start implicitly
    /// (started_at = completion time). Fails with a `Conflict` such as
    /// "cannot start WO-000012: it is completed".
    pub fn apply(
        self,
        number: &str,
        action: Action,
        now: DateTime<Utc>,
    ) -> Result<Lifecycle, DomainError> {
        let Some(to) = next_status(self.status, action) else {
            return Err(DomainError::Conflict(format!(
                "cannot {} {number}: it is {}",
                action.as_str(),
                self.status
            )));
        };
        let mut next = Lifecycle { status: to, ..self };
        match action {
            Action::Start => next.started_at = Some(now),
            Action::Complete => {
                next.started_at = Some(self.started_at.unwrap_or(now));
                next.completed_at = Some(now);
            }
            Action::Cancel => next.cancelled_at = Some(now),
            Action::Schedule => {}
        }
        Ok(next)
    }
}

/// "WO-000123" (at least six digits).
pub fn format_number(n: i64) -> String {
    format!("WO-{n:06}")
}

/// The work order number a search text means, if it is one: "WO-000123",
/// "wo-123", "000123" or "123" → 123.
pub fn parse_number(q: &str) -> Option<i64> {
    let q = q.trim();
    let digits = q
        .get(..3)
        .filter(|p| p.eq_ignore_ascii_case("wo-"))
        .map_or(q, |_| &q[3..]);
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A ratio shown as a JSON number with exactly four decimals (`0.2345`),
/// kept in ten-thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ratio4(pub i64);

impl Ratio4 {
    /// "0.2345", "-0.0500".
    pub fn to_decimal(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        format!("{sign}{}.{:04}", a / 10_000, a % 10_000)
    }
}

impl utoipa::PartialSchema for Ratio4 {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::money::number_schema("A ratio with four decimals (`0.2345` = 23.45 %).")
    }
}

impl utoipa::ToSchema for Ratio4 {}

impl Serialize for Ratio4 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match serde_json::value::RawValue::from_string(self.to_decimal()) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_f64(self.0 as f64 / 10_000.0),
        }
    }
}

/// `(finalPrice − actualCost) / finalPrice` to four decimals (rounded by
/// [`div_round`]); `None` unless both are known and the final price is above 0.
pub fn profit_margin(final_price: Option<Money>, actual_cost: Option<Money>) -> Option<Ratio4> {
    let (f, c) = (final_price?.cents(), actual_cost?.cents());
    (f > 0).then(|| Ratio4(div_round((i128::from(f) - i128::from(c)) * 10_000, f.into()) as i64))
}

/// Minutes since 1970-01-01T00:00 of a business-local wall-clock date and time.
pub fn wall_minutes(date: NaiveDate, time: NaiveTime) -> i64 {
    let days = i64::from(date.num_days_from_ce())
        - i64::from(
            NaiveDate::from_ymd_opt(1970, 1, 1)
                .map(|d| d.num_days_from_ce())
                .unwrap_or(719_163),
        );
    days * 1440 + i64::from(time.hour()) * 60 + i64::from(time.minute())
}

/// The booked window `[start, end)` in wall minutes for a job of `length`
/// starting at `date` `time`.
pub fn window(date: NaiveDate, time: NaiveTime, length: Minutes) -> (i64, i64) {
    let start = wall_minutes(date, time);
    (start, start + length.0.max(0))
}

/// Whether two windows `[a0, a1)` and `[b0, b1)` overlap; touching windows
/// (one ends when the other starts) do not.
pub fn overlaps(a: (i64, i64), b: (i64, i64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn wall_text(m: i64) -> (String, String) {
    let day = m.div_euclid(1440);
    let mins = m.rem_euclid(1440);
    let date = NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|d| d.checked_add_signed(chrono::Duration::days(day)))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    (date, format!("{:02}:{:02}", mins / 60, mins % 60))
}

/// "2026-03-02 09:00–11:00", or "2026-03-02 23:00–2026-03-03 01:00" across midnight.
pub fn format_window(start: i64, end: i64) -> String {
    let (d0, t0) = wall_text(start);
    let (d1, t1) = wall_text(end);
    if d0 == d1 {
        format!("{d0} {t0}–{t1}")
    } else {
        format!("{d0} {t0}–{d1} {t1}")
    }
}

/// Deserialises a field that may be absent (`None`), `null` (`Some(None)`)
/// or a value (`Some(Some(v))`). Use with `#[serde(default, deserialize_with = "nullable")]`.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Body of `POST /work-orders` and `PATCH /work-orders/{id}`. Absent fields
/// keep their value (PATCH) or take their default (POST); the nullable ones
/// (`scheduledDate`, `scheduledTime`, `estimatedDurationHours`, `quotedPrice`)
/// are cleared by `null`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkOrderInput {
    /// The customer (required on create).
    pub customer_id: Option<String>,
    /// e.g. "Drain cleaning" (required on create).
    pub service_type: Option<String>,
    /// What is to be done; `description` is accepted as an alias.
    #[serde(alias = "description")]
    pub job_description: Option<String>,
    /// low | medium | high | urgent.
    pub priority_level: Option<Priority>,
    /// Access, parking, pets.
    pub special_instructions: Option<String>,
    /// Tentative date while draft (YYYY-MM-DD).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Date)]
    pub scheduled_date: Option<Option<String>>,
    /// Tentative time while draft (HH:MM).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub scheduled_time: Option<Option<String>>,
    /// Expected length in hours.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Minutes>)]
    pub estimated_duration_hours: Option<Option<Minutes>>,
    /// Price agreed with the customer.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Money>)]
    pub quoted_price: Option<Option<Money>>,
    /// What the customer said (editable in every status).
    pub customer_notes: Option<String>,
}

impl WorkOrderInput {
    /// API names of the fields present in the input.
    pub fn present(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut add = |present: bool, name: &'static str| {
            if present {
                out.push(name);
            }
        };
        add(self.customer_id.is_some(), "customerId");
        add(self.service_type.is_some(), "serviceType");
        add(self.job_description.is_some(), "jobDescription");
        add(self.priority_level.is_some(), "priorityLevel");
        add(self.special_instructions.is_some(), "specialInstructions");
        add(self.scheduled_date.is_some(), "scheduledDate");
        add(self.scheduled_time.is_some(), "scheduledTime");
        add(
            self.estimated_duration_hours.is_some(),
            "estimatedDurationHours",
        );
        add(self.quoted_price.is_some(), "quotedPrice");
        add(self.customer_notes.is_some(), "customerNotes");
        out
    }
}

/// The fields `PATCH` may change while a work order is in `status`
/// (`customerNotes` always; scheduling fields only while draft — a scheduled
/// job is re-booked with `POST …/schedule`).
pub fn editable(status: Status) -> &'static [&'static str] {
    match status {
        Status::Draft => &[
            "customerId",
            "serviceType",
            "jobDescription",
            "priorityLevel",
            "specialInstructions",
            "scheduledDate",
            "scheduledTime",
            "estimatedDurationHours",
            "quotedPrice",
            "customerNotes",
        ],
        Status::Scheduled => &[
            "customerId",
            "serviceType",
            "jobDescription",
            "priorityLevel",
            "specialInstructions",
            "quotedPrice",
            "customerNotes",
        ],
        Status::InProgress => &["jobDescription", "specialInstructions", "customerNotes"],
        Status::Completed | Status::Cancelled => &["customerNotes"],
    }
}

/// A work order's user-editable fields, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkOrderFields {
    /// Customer id (UUID text).
    pub customer_id: String,
    /// Service type (1..100).
    pub service_type: String,
    /// Job description (0..5000, multi-line).
    pub job_description: String,
    /// Priority.
    pub priority: Priority,
    /// Special instructions (0..2000, multi-line).
    pub special_instructions: String,
    /// YYYY-MM-DD.
    pub scheduled_date: Option<String>,
    /// HH:MM.
    pub scheduled_time: Option<String>,
    /// Expected length.
    pub estimated_minutes: Option<Minutes>,
    /// Agreed price.
    pub quoted_price: Option<Money>,
    /// Customer notes (0..5000, multi-line).
    pub customer_notes: String,
}

impl WorkOrderFields {
    /// Validates the body of a create (a new draft). Fails with every bad field.
    pub fn create(input: WorkOrderInput) -> Result<WorkOrderFields, DomainError> {
        Self::merge(&WorkOrderFields::default(), input, Status::Draft, "it")
    }

    /// Merges `input` over `base` for a work order (numbered `number`) in
    /// `status`. Fails with a `Conflict` naming the status and every field the
    /// status does not let anyone change ("cannot change serviceType of
    /// WO-000012: it is completed"), else with every invalid field.
    pub fn merge(
        base: &WorkOrderFields,
        input: WorkOrderInput,
        status: Status,
        number: &str,
    ) -> Result<WorkOrderFields, DomainError> {
        let allowed = editable(status);
        let refused: Vec<&str> = input
            .present()
            .into_iter()
            .filter(|f| !allowed.contains(f))
            .collect();
        if !refused.is_empty() {
            let hint = if status == Status::Scheduled
                && refused
                    .iter()
                    .any(|f| f.starts_with("scheduled") || *f == "estimatedDurationHours")
            {
                " (re-book it with POST /api/v1/work-orders/{id}/schedule)"
            } else {
                ""
            };
            return Err(DomainError::Conflict(format!(
                "cannot change {} of {number}: it is {status}{hint}",
                refused.join(", ")
            )));
        }
        let mut c = Check::new();
        let customer_id = match input.customer_id {
            Some(id) => {
                let id = id.trim().to_string();
                if id.is_empty() {
                    c.fail("customerId", "is required");
                } else if super::ids::parse_id(&id).is_none() {
                    c.fail("customerId", "must be a customer id");
                }
                id.to_lowercase()
            }
            None => {
                if base.customer_id.is_empty() {
                    c.fail("customerId", "is required");
                }
                base.customer_id.clone()
            }
        };
        let service_type = c.text(
            "serviceType",
            input.service_type.as_deref().unwrap_or(&base.service_type),
            1,
            100,
        );
        let job_description = c.multiline(
            "jobDescription",
            input
                .job_description
                .as_deref()
                .unwrap_or(&base.job_description),
            5000,
        );
        let special_instructions = c.multiline(
            "specialInstructions",
            input
                .special_instructions
                .as_deref()
                .unwrap_or(&base.special_instructions),
            2000,
        );
        let customer_notes = c.multiline(
            "customerNotes",
            input
                .customer_notes
                .as_deref()
                .unwrap_or(&base.customer_notes),
            5000,
        );
        let scheduled_date = match input.scheduled_date {
            Some(v) => c
                .date_opt("scheduledDate", v.as_deref())
                .map(|d| d.format("%Y-%m-%d").to_string()),
            None => base.scheduled_date.clone(),
        };
        let scheduled_time = match input.scheduled_time {
            Some(v) => c
                .time_opt("scheduledTime", v.as_deref())
                .map(|t| t.format("%H:%M").to_string()),
            None => base.scheduled_time.clone(),
        };
        let quoted_price = match input.quoted_price {
            Some(v) => v.map(|m| c.money_non_negative("quotedPrice", m)),
            None => base.quoted_price,
        };
        let f = WorkOrderFields {
            customer_id,
            service_type,
            job_description,
            priority: input.priority_level.unwrap_or(base.priority),
            special_instructions,
            scheduled_date,
            scheduled_time,
            estimated_minutes: input
                .estimated_duration_hours
                .unwrap_or(base.estimated_minutes),
            quoted_price,
            customer_notes,
        };
        c.finish()?;
        Ok(f)
    }
}

fn required_id(c: &mut Check, field: &str, v: Option<&str>, what: &str) -> String {
    match v.map(str::trim) {
        None | Some("") => {
            c.fail(field, "is required");
            String::new()
        }
        Some(s) if super::ids::parse_id(s).is_none() => {
            c.fail(field, format!("must be {what} id"));
            String::new()
        }
        Some(s) => s.to_lowercase(),
    }
}

/// Body of `POST /work-orders/{id}/schedule`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScheduleInput {
    /// YYYY-MM-DD (required).
    #[schema(format = Date)]
    pub scheduled_date: Option<String>,
    /// HH:MM (required).
    pub scheduled_time: Option<String>,
    /// The technician (required; must be an active employee).
    pub assigned_employee_id: Option<String>,
    /// Length of the booking; default: the stored estimate, else the configured default.
    pub estimated_duration_hours: Option<Minutes>,
    /// Equipment loadout to book with it; absent keeps the current one, `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub loadout_id: Option<Option<String>>,
}

/// A validated booking request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Date.
    pub date: NaiveDate,
    /// Start time.
    pub time: NaiveTime,
    /// Technician (employee id).
    pub employee_id: String,
    /// Length, when given.
    pub minutes: Option<Minutes>,
    /// `None`: keep the current loadout; `Some(None)`: none; `Some(Some(id))`: this one.
    pub loadout_id: Option<Option<String>>,
}

impl ScheduleInput {
    /// Validates the booking request. Fails with every bad or missing field.
    pub fn validate(self) -> Result<Schedule, DomainError> {
        let mut c = Check::new();
        let date = match self.scheduled_date.as_deref() {
            None => {
                c.fail("scheduledDate", "is required");
                None
            }
            v => c.date_opt("scheduledDate", v),
        };
        let time = match self.scheduled_time.as_deref() {
            None => {
                c.fail("scheduledTime", "is required");
                None
            }
            v => c.time_opt("scheduledTime", v),
        };
        let employee_id = required_id(
            &mut c,
            "assignedEmployeeId",
            self.assigned_employee_id.as_deref(),
            "an employee",
        );
        if self.estimated_duration_hours.is_some_and(|m| m.0 <= 0) {
            c.fail("estimatedDurationHours", "must be more than 0 hours");
        }
        let loadout_id = match self.loadout_id {
            None => None,
            Some(None) => Some(None),
            Some(Some(s)) => match s.trim() {
                "" => Some(None),
                t if super::ids::parse_id(t).is_none() => {
                    c.fail("loadoutId", "must be a loadout id");
                    None
                }
                t => Some(Some(t.to_lowercase())),
            },
        };
        c.finish()?;
        match (date, time) {
            (Some(date), Some(time)) => Ok(Schedule {
                date,
                time,
                employee_id,
                minutes: self.estimated_duration_hours,
                loadout_id,
            }),
            _ => Err(DomainError::field("scheduledDate", "is required")),
        }
    }
}

/// One part used, as the client sends it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PartInput {
    /// What it is (1..200).
    pub description: Option<String>,
    /// How many (> 0, at most three decimals).
    pub quantity: Option<f64>,
    /// Price per unit (≥ 0).
    pub unit_price: Option<Money>,
}

/// Body of `POST /work-orders/{id}/complete`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CompleteInput {
    /// What the job cost the business (required, ≥ 0).
    pub actual_cost: Option<Money>,
    /// How long it took; default: since the start, else the estimate.
    pub actual_duration_hours: Option<Minutes>,
    /// What the customer pays before tax; default: the quote, else the actual cost.
    pub final_price: Option<Money>,
    /// Parts used (at most 100), invoiced at their price.
    pub parts: Option<Vec<PartInput>>,
    /// What the customer said.
    pub customer_notes: Option<String>,
    /// What the technician did.
    pub completion_notes: Option<String>,
}

/// A validated completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Actual cost.
    pub actual_cost: Money,
    /// Actual duration, when given.
    pub actual_minutes: Option<Minutes>,
    /// Final price, when given.
    pub final_price: Option<Money>,
    /// Parts.
    pub parts: Vec<PartLine>,
    /// Replaces the customer notes when given.
    pub customer_notes: Option<String>,
    /// Completion notes.
    pub completion_notes: String,
}

/// Most parts on one completion.
pub const MAX_PARTS: usize = 100;

impl CompleteInput {
    /// Validates a completion. Fails with every bad field (parts as `parts[i].quantity` etc.).
    pub fn validate(self) -> Result<Completion, DomainError> {
        let mut c = Check::new();
        let actual_cost = match self.actual_cost {
            Some(m) => c.money_non_negative("actualCost", m),
            None => {
                c.fail("actualCost", "is required");
                Money::ZERO
            }
        };
        let final_price = self
            .final_price
            .map(|m| c.money_non_negative("finalPrice", m));
        let parts_in = self.parts.unwrap_or_default();
        if parts_in.len() > MAX_PARTS {
            c.fail("parts", format!("must have at most {MAX_PARTS} parts"));
        }
        let parts = parts_in
            .into_iter()
            .take(MAX_PARTS)
            .enumerate()
            .map(|(i, p)| {
                let description = c.text(
                    &format!("parts[{i}].description"),
                    p.description.as_deref().unwrap_or(""),
                    1,
                    200,
                );
                let qf = format!("parts[{i}].quantity");
                let quantity_milli = match p.quantity {
                    None => {
                        c.fail(&qf, "is required");
                        0
                    }
                    Some(q) => parse_quantity(q).unwrap_or_else(|e| {
                        c.fail(&qf, e);
                        0
                    }),
                };
                let pf = format!("parts[{i}].unitPrice");
                let unit_price = match p.unit_price {
                    None => {
                        c.fail(&pf, "is required");
                        Money::ZERO
                    }
                    Some(m) => c.money_non_negative(&pf, m),
                };
                PartLine {
                    description,
                    quantity_milli,
                    unit_price,
                }
            })
            .collect();
        let customer_notes = self
            .customer_notes
            .map(|n| c.multiline("customerNotes", &n, 5000));
        let completion_notes = c.multiline(
            "completionNotes",
            self.completion_notes.as_deref().unwrap_or(""),
            5000,
        );
        c.finish()?;
        Ok(Completion {
            actual_cost,
            actual_minutes: self.actual_duration_hours,
            final_price,
            parts,
            customer_notes,
            completion_notes,
        })
    }
}

/// Body of `POST /work-orders/{id}/cancel` (optional).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CancelInput {
    /// Why (0..500).
    pub reason: Option<String>,
}

impl CancelInput {
    /// The trimmed reason (`None` when absent or blank). Fails when too long.
    pub fn validate(self) -> Result<Option<String>, DomainError> {
        let mut c = Check::new();
        let r = self.reason.map(|r| c.multiline("reason", &r, 500));
        c.finish()?;
        Ok(r.filter(|r| !r.is_empty()))
    }
}

/// Body of `POST /work-orders/{id}/start` (optional, no fields).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartInput {}

/// Before and after photo URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CompletionPhotos {
    /// Before the work.
    pub before: Vec<String>,
    /// After the work.
    pub after: Vec<String>,
}

/// URL of an attachment.
pub fn attachment_url(id: &str) -> String {
    format!("/api/v1/attachments/{id}")
}

/// A work order as stored and as the API shows it (DESIGN §4 plus extras).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkOrder {
    /// UUIDv7.
    pub id: String,
    /// The sequence number (`workOrderNumber` without the prefix).
    #[serde(skip)]
    pub number: i64,
    /// "WO-000123".
    pub work_order_number: String,
    /// Customer id.
    pub customer_id: String,
    /// Service type.
    pub service_type: String,
    /// Status.
    pub status: Status,
    /// Priority.
    pub priority_level: Priority,
    /// YYYY-MM-DD (business time zone).
    #[schema(format = Date)]
    pub scheduled_date: Option<String>,
    /// HH:MM.
    pub scheduled_time: Option<String>,
    /// Expected length (hours in JSON).
    pub estimated_duration_hours: Option<Minutes>,
    /// Actual length (hours in JSON).
    pub actual_duration_hours: Option<Minutes>,
    /// Technician.
    pub assigned_employee_id: Option<String>,
    /// Equipment loadout.
    pub loadout_id: Option<String>,
    /// What is to be done.
    pub job_description: String,
    /// Special instructions.
    pub special_instructions: String,
    /// Estimated cost (local analysis).
    pub estimated_cost: Option<Money>,
    /// Actual cost (at completion).
    pub actual_cost: Option<Money>,
    /// Quoted price.
    pub quoted_price: Option<Money>,
    /// Final price (at completion).
    pub final_price: Option<Money>,
    /// (finalPrice − actualCost) / finalPrice, four decimals.
    pub profit_margin: Option<Ratio4>,
    /// Photo URLs.
    pub completion_photos: CompletionPhotos,
    /// Signature URL.
    pub customer_signature: Option<String>,
    /// Customer notes.
    pub customer_notes: String,
    /// Created (RFC 3339).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last changed (RFC 3339).
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// The customer's name.
    pub customer_name: String,
    /// The technician's name.
    pub assigned_employee_name: Option<String>,
    /// What the technician did.
    pub completion_notes: String,
    /// When work started.
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    /// When it was completed.
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    /// When it was cancelled.
    #[schema(format = DateTime)]
    pub cancelled_at: Option<String>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Its invoice, once completed.
    pub invoice_id: Option<String>,
    /// The user linked to the assigned technician (for technician scoping).
    #[serde(skip)]
    pub assigned_user_id: Option<String>,
    /// Booked window start (wall minutes), while booked.
    #[serde(skip)]
    pub window_start: Option<i64>,
    /// Booked window end (wall minutes).
    #[serde(skip)]
    pub window_end: Option<i64>,
    /// The lead it came from.
    #[serde(skip)]
    pub lead_id: Option<String>,
}

impl WorkOrder {
    /// The user-editable fields.
    pub fn fields(&self) -> WorkOrderFields {
        WorkOrderFields {
            customer_id: self.customer_id.clone(),
            service_type: self.service_type.clone(),
            job_description: self.job_description.clone(),
            priority: self.priority_level,
            special_instructions: self.special_instructions.clone(),
            scheduled_date: self.scheduled_date.clone(),
            scheduled_time: self.scheduled_time.clone(),
            estimated_minutes: self.estimated_duration_hours,
            quoted_price: self.quoted_price,
            customer_notes: self.customer_notes.clone(),
        }
    }

    /// The state-machine part, parsed from the stored timestamps.
    pub fn lifecycle(&self) -> Lifecycle {
        let ts = |s: &Option<String>| s.as_deref().and_then(crate::clock::parse_ts);
        Lifecycle {
            status: self.status,
            started_at: ts(&self.started_at),
            completed_at: ts(&self.completed_at),
            cancelled_at: ts(&self.cancelled_at),
        }
    }

    /// Whether `user_id` is the user of the assigned technician.
    pub fn is_assigned_to_user(&self, user_id: &str) -> bool {
        self.assigned_user_id.as_deref() == Some(user_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::clock::parse_ts(s).unwrap()
    }

    #[test]
    fn transitions_follow_the_graph() {
        use Action as A;
        use Status as S;
        let ok = [
            (S::Draft, A::Schedule, S::Scheduled),
            (S::Scheduled, A::Schedule, S::Scheduled),
            (S::Scheduled, A::Start, S::InProgress),
            (S::Scheduled, A::Complete, S::Completed),
            (S::InProgress, A::Complete, S::Completed),
            (S::Draft, A::Cancel, S::Cancelled),
            (S::Scheduled, A::Cancel, S::Cancelled),
            (S::InProgress, A::Cancel, S::Cancelled),
        ];
        for from in Status::ALL {
            for a in Action::ALL {
                let want = ok
                    .iter()
                    .find(|(f, x, _)| *f == from && *x == a)
                    .map(|e| e.2);
                assert_eq!(next_status(from, a), want, "{from} {a:?}");
            }
        }
        let e = Lifecycle {
            status: S::Completed,
            ..Lifecycle::default()
        }
        .apply("WO-000012", A::Start, t("2026-01-01T00:00:00Z"))
        .unwrap_err();
        assert_eq!(
            e,
            DomainError::Conflict("cannot start WO-000012: it is completed".into())
        );
    }

    #[test]
    fn direct_completion_records_the_start() {
        let now = t("2026-03-02T10:00:00Z");
        let l = Lifecycle::default()
            .apply("WO-1", Action::Schedule, now)
            .unwrap()
            .apply("WO-1", Action::Complete, now)
            .unwrap();
        assert_eq!((l.started_at, l.completed_at), (Some(now), Some(now)));
        let started = t("2026-03-02T08:00:00Z");
        let l = Lifecycle::default()
            .apply("WO-1", Action::Schedule, started)
            .unwrap()
            .apply("WO-1", Action::Start, started)
            .unwrap()
            .apply("WO-1", Action::Complete, now)
            .unwrap();
        assert_eq!(l.started_at, Some(started));
    }

    #[test]
    fn numbers_margins_and_windows() {
        assert_eq!(format_number(12), "WO-000012");
        assert_eq!(format_number(1_234_567), "WO-1234567");
        assert_eq!(parse_number("WO-000123"), Some(123));
        assert_eq!(parse_number("wo-7"), Some(7));
        assert_eq!(parse_number(" 0042 "), Some(42));
        assert_eq!(parse_number("WO-"), None);
        assert_eq!(parse_number("drain"), None);
        assert_eq!(parse_number("12a"), None);
        let m = |f: i64, c: i64| {
            profit_margin(Some(Money::from_cents(f)), Some(Money::from_cents(c)))
                .map(Ratio4::to_decimal)
        };
        assert_eq!(m(10_000, 7_655).as_deref(), Some("0.2345"));
        assert_eq!(m(10_000, 10_500).as_deref(), Some("-0.0500"));
        assert_eq!(m(30_000, 20_000).as_deref(), Some("0.3333"));
        assert_eq!(m(0, 100), None);
        assert_eq!(profit_margin(None, Some(Money::ZERO)), None);
        assert_eq!(
            serde_json::to_string(&Ratio4(2345)).unwrap(),
            "0.2345",
            "a JSON number"
        );
        let d = NaiveDate::from_ymd_opt(1970, 1, 2).unwrap();
        let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        assert_eq!(window(d, nine, Minutes(120)), (1440 + 540, 1440 + 660));
        let (s, e) = window(
            NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            nine,
            Minutes(120),
        );
        assert_eq!(format_window(s, e), "2026-03-02 09:00–11:00");
        assert_eq!(
            format_window(s + 840, e + 840),
            "2026-03-02 23:00–2026-03-03 01:00"
        );
        assert!(overlaps((0, 60), (59, 120)));
        assert!(!overlaps((0, 60), (60, 120)), "touching windows");
        assert!(!overlaps((60, 120), (0, 60)));
    }

    #[test]
    fn patch_rules_follow_the_status() {
        let base = WorkOrderFields::create(WorkOrderInput {
            customer_id: Some("0190f3a8-0000-7000-8000-000000000001".into()),
            service_type: Some("Drain cleaning".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(base.priority, Priority::Medium);
        let input = |f: fn(&mut WorkOrderInput)| {
            let mut i = WorkOrderInput::default();
            f(&mut i);
            i
        };
        let e = WorkOrderFields::merge(
            &base,
            input(|i| i.service_type = Some("X".into())),
            Status::Completed,
            "WO-000003",
        )
        .unwrap_err();
        assert_eq!(
            e,
            DomainError::Conflict("cannot change serviceType of WO-000003: it is completed".into())
        );
        let e = WorkOrderFields::merge(
            &base,
            input(|i| i.scheduled_date = Some(Some("2026-03-02".into()))),
            Status::Scheduled,
            "WO-000003",
        )
        .unwrap_err();
        assert!(
            matches!(e, DomainError::Conflict(m) if m.contains("scheduledDate") && m.contains("scheduled"))
        );
        let ok = WorkOrderFields::merge(
            &base,
            input(|i| i.customer_notes = Some("Call first".into())),
            Status::Cancelled,
            "WO-000003",
        )
        .unwrap();
        assert_eq!(ok.customer_notes, "Call first");
        assert_eq!(ok.service_type, "Drain cleaning");
        let cleared = WorkOrderFields::merge(
            &WorkOrderFields {
                quoted_price: Some(Money::from_cents(5)),
                ..base.clone()
            },
            input(|i| i.quoted_price = Some(None)),
            Status::Draft,
            "WO-000003",
        )
        .unwrap();
        assert_eq!(cleared.quoted_price, None);
    }

    #[test]
    fn description_is_an_alias_and_inputs_are_validated() {
        let i: WorkOrderInput =
            serde_json::from_str(r#"{"description": "Kitchen sink", "scheduledDate": null}"#)
                .unwrap();
        assert_eq!(i.job_description.as_deref(), Some("Kitchen sink"));
        assert_eq!(i.scheduled_date, Some(None));
        let DomainError::Validation(f) = WorkOrderFields::create(WorkOrderInput {
            customer_id: Some("nope".into()),
            scheduled_time: Some(Some("9am".into())),
            quoted_price: Some(Some(Money::from_cents(-1))),
            ..Default::default()
        })
        .unwrap_err() else {
            panic!()
        };
        assert_eq!(
            f.keys().map(String::as_str).collect::<Vec<_>>(),
            ["customerId", "quotedPrice", "scheduledTime", "serviceType"]
        );
        let DomainError::Validation(f) = ScheduleInput::default().validate().unwrap_err() else {
            panic!()
        };
        assert_eq!(f.len(), 3, "{f:?}");
        let DomainError::Validation(f) = CompleteInput {
            parts: Some(vec![PartInput {
                description: Some("Trap".into()),
                quantity: Some(1.2345),
                unit_price: Some(Money::from_cents(-5)),
            }]),
            ..Default::default()
        }
        .validate()
        .unwrap_err() else {
            panic!()
        };
        assert!(f.contains_key("actualCost"));
        assert!(f.contains_key("parts[0].quantity"));
        assert!(f.contains_key("parts[0].unitPrice"));
    }

    fn action() -> impl Strategy<Value = Action> {
        prop::sample::select(Action::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn random_sequences_stay_on_the_graph(actions in prop::collection::vec(action(), 0..40)) {
            // The graph, written independently of `next_status`.
            let edges: &[(Status, Status)] = &[
                (Status::Draft, Status::Scheduled),
                (Status::Scheduled, Status::Scheduled),
                (Status::Scheduled, Status::InProgress),
                (Status::Scheduled, Status::Completed),
                (Status::InProgress, Status::Completed),
                (Status::Draft, Status::Cancelled),
                (Status::Scheduled, Status::Cancelled),
                (Status::InProgress, Status::Cancelled),
            ];
            let mut l = Lifecycle::default();
            let mut now = t("2026-01-01T00:00:00Z");
            for a in actions {
                now += chrono::Duration::minutes(7);
                match l.apply("WO-000001", a, now) {
                    Ok(next) => {
                        prop_assert!(edges.contains(&(l.status, next.status)), "{:?} -> {:?}", l.status, next.status);
                        prop_assert!(!l.status.is_terminal());
                        l = next;
                    }
                    Err(DomainError::Conflict(m)) => {
                        prop_assert!(m.ends_with(&format!("it is {}", l.status)), "{}", m);
                        prop_assert!(m.starts_with(&format!("cannot {} ", a.as_str())), "{}", m);
                    }
                    Err(e) => prop_assert!(false, "unexpected {e:?}"),
                }
                if l.status == Status::Completed {
                    prop_assert!(l.started_at.is_some());
                    prop_assert!(l.completed_at.is_some());
                    prop_assert!(l.started_at <= l.completed_at);
                }
                if l.status == Status::Cancelled {
                    prop_assert!(l.cancelled_at.is_some());
                }
                if l.status == Status::InProgress {
                    prop_assert!(l.started_at.is_some());
                }
            }
        }

        #[test]
        fn terminal_states_accept_nothing(a in action(), terminal in prop::sample::select(vec![Status::Completed, Status::Cancelled])) {
            let l = Lifecycle { status: terminal, ..Lifecycle::default() };
            prop_assert!(l.apply("WO-000009", a, t("2026-01-01T00:00:00Z")).is_err());
        }

        #[test]
        fn windows_overlap_symmetrically(a0 in 0i64..10_000, al in 1i64..600, b0 in 0i64..10_000, bl in 1i64..600) {
            let (a, b) = ((a0, a0 + al), (b0, b0 + bl));
            prop_assert_eq!(overlaps(a, b), overlaps(b, a));
            prop_assert_eq!(overlaps(a, b), !(a.1 <= b.0 || b.1 <= a.0));
        }
    }
}
