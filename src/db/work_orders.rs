//! Repository for work orders: create, read and list (with the customer's and
//! technician's names, photo and invoice links), PATCH, and the transitions —
//! schedule (with the technician/equipment clash check), start, cancel and
//! complete, which writes the invoice, its lines and the customer follow-up in
//! the same transaction. Every mutation records an audit entry in the same
//! closure. Functions take a `&Connection` and run inside `Db::read`/`Db::write`.

use super::audit::{self, Actor, Change};
use super::{DbError, util::optional};
use crate::clock::format_ts;
use crate::domain::invoice::{self, EquipmentUse};
use crate::domain::money::{Minutes, Money, div_round};
use crate::domain::work_order::{
    Action, Completion, CompletionPhotos, Priority, Schedule, Status, WorkOrder, WorkOrderFields,
    WorkOrderInput, attachment_url, format_number, format_window, profit_margin, window,
};
use crate::domain::{DomainError, FieldErrors};
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, params, params_from_iter};
use serde::Serialize;
use serde_json::{Value, json};

/// Everything a work order view needs from `work_orders w`, its customer `c`
/// and its technician `e` — except its photos, the signature uploaded as an
/// attachment and its invoice, which [`extras`] reads for a whole page at once
/// (four correlated subqueries per row were a third of a list's SQL time).
/// Column 25 is the stored `signature_id` only.
const SELECT: &str = "SELECT w.id, w.number, w.customer_id, COALESCE(c.name, ''), w.service_type,
    w.status, w.priority, w.scheduled_date, w.scheduled_time, w.window_start, w.window_end,
    w.estimated_minutes, w.actual_minutes, w.assigned_employee_id, e.name, e.user_id, w.loadout_id,
    w.job_description, w.special_instructions, w.estimated_cost_cents, w.actual_cost_cents,
    w.quoted_price_cents, w.final_price_cents, w.customer_notes, w.completion_notes,
    w.signature_id, w.lead_id, w.started_at, w.completed_at, w.cancelled_at, w.cancel_reason,
    w.created_at, w.updated_at
    FROM work_orders w
    LEFT JOIN customers c ON c.id = w.customer_id
    LEFT JOIN employees e ON e.id = w.assigned_employee_id";

fn bad_value(col: usize, what: &str, v: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        format!("unknown {what} {v:?}").into(),
    )
}

/// A work order as [`SELECT`] returns it: no photos, no invoice, and the
/// signature only when `signature_id` is set ([`Extras::apply`] adds the rest).
fn from_row(r: &Row<'_>) -> rusqlite::Result<WorkOrder> {
    let number: i64 = r.get(1)?;
    let status: String = r.get(5)?;
    let status = Status::parse(&status).ok_or_else(|| bad_value(5, "status", &status))?;
    let priority: String = r.get(6)?;
    let priority = Priority::parse(&priority).ok_or_else(|| bad_value(6, "priority", &priority))?;
    let money = |i: usize| -> rusqlite::Result<Option<Money>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(Money::from_cents))
    };
    let minutes = |i: usize| -> rusqlite::Result<Option<Minutes>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(Minutes))
    };
    let actual_cost = money(20)?;
    let final_price = money(22)?;
    Ok(WorkOrder {
        id: r.get(0)?,
        number,
        work_order_number: format_number(number),
        customer_id: r.get(2)?,
        customer_name: r.get(3)?,
        service_type: r.get(4)?,
        status,
        priority_level: priority,
        scheduled_date: r.get(7)?,
        scheduled_time: r.get(8)?,
        window_start: r.get(9)?,
        window_end: r.get(10)?,
        estimated_duration_hours: minutes(11)?,
        actual_duration_hours: minutes(12)?,
        assigned_employee_id: r.get(13)?,
        assigned_employee_name: r.get(14)?,
        assigned_user_id: r.get(15)?,
        loadout_id: r.get(16)?,
        job_description: r.get(17)?,
        special_instructions: r.get(18)?,
        estimated_cost: money(19)?,
        actual_cost,
        quoted_price: money(21)?,
        final_price,
        profit_margin: profit_margin(final_price, actual_cost),
        customer_notes: r.get(23)?,
        completion_notes: r.get(24)?,
        customer_signature: r
            .get::<_, Option<String>>(25)?
            .map(|id| attachment_url(&id)),
        lead_id: r.get(26)?,
        started_at: r.get(27)?,
        completed_at: r.get(28)?,
        cancelled_at: r.get(29)?,
        cancel_reason: r.get(30)?,
        created_at: r.get(31)?,
        updated_at: r.get(32)?,
        invoice_id: None,
        completion_photos: CompletionPhotos::default(),
    })
}

/// What a work order's view shows beyond its own row: photo attachment ids
/// (oldest first), the newest signature attachment and the invoice id.
#[derive(Debug, Default)]
struct Extras {
    before: Vec<String>,
    after: Vec<String>,
    signature: Option<String>,
    invoice: Option<String>,
}

impl Extras {
    /// Fills in what [`from_row`] leaves out. The stored `signature_id`
    /// wins over the newest signature attachment.
    fn apply(self, wo: &mut WorkOrder) {
        wo.completion_photos = CompletionPhotos {
            before: self.before.iter().map(|id| attachment_url(id)).collect(),
            after: self.after.iter().map(|id| attachment_url(id)).collect(),
        };
        if wo.customer_signature.is_none() {
            wo.customer_signature = self.signature.map(|id| attachment_url(&id));
        }
        wo.invoice_id = self.invoice;
    }
}

/// The [`Extras`] of the work orders whose ids are in the JSON array
/// `ids_json`, by work order id (absent when it has none): one statement for
/// a whole page, an index seek per id (a join from `json_each` rather than
/// `IN (…)`, which would build a temporary index of the ids first; sorted
/// here rather than by a temporary b-tree). Fails only on database errors.
fn extras(
    c: &Connection,
    ids_json: &str,
) -> Result<std::collections::HashMap<String, Extras>, DbError> {
    let mut st = c.prepare_cached(
        "SELECT a.work_order_id, a.kind, a.id, a.created_at, a.rowid
         FROM json_each(?1) j CROSS JOIN attachments a ON a.work_order_id = j.value
         UNION ALL
         SELECT i.work_order_id, 'invoice', i.id, '', 0
         FROM json_each(?1) j CROSS JOIN invoices i ON i.work_order_id = j.value",
    )?;
    let mut rows = st.query([ids_json])?;
    // (work order, kind, created_at, rowid, id), put in order below.
    let mut found: Vec<(String, String, String, i64, String)> = Vec::new();
    while let Some(r) = rows.next()? {
        found.push((r.get(0)?, r.get(1)?, r.get(3)?, r.get(4)?, r.get(2)?));
    }
    found.sort_unstable();
    let mut by: std::collections::HashMap<String, Extras> = std::collections::HashMap::new();
    for (wo, kind, _, _, id) in found {
        let e = by.entry(wo).or_default();
        match kind.as_str() {
            "before" => e.before.push(id),
            "after" => e.after.push(id),
            // Oldest first: the last one is the newest.
            "signature" => e.signature = Some(id),
            "invoice" => e.invoice = Some(id),
            _ => {}
        }
    }
    Ok(by)
}

/// Adds photos, signature and invoice to `rows` with one query.
fn add_extras(c: &Connection, rows: &mut [WorkOrder]) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = rows.iter().map(|w| w.id.as_str()).collect();
    let ids_json = serde_json::to_string(&ids).map_err(|e| DbError::Task(e.to_string()))?;
    let mut by = extras(c, &ids_json)?;
    for wo in rows.iter_mut() {
        by.remove(&wo.id).unwrap_or_default().apply(wo);
    }
    Ok(())
}

fn view(wo: &WorkOrder) -> Value {
    serde_json::to_value(wo).unwrap_or(Value::Null)
}

/// The work order with `id`, if any. Fails only on database errors.
pub fn get(c: &Connection, id: &str) -> Result<Option<WorkOrder>, DbError> {
    let found = optional(
        c.prepare_cached(&format!("{SELECT} WHERE w.id = ?1"))?
            .query_row([id], from_row),
    )?;
    let Some(wo) = found else {
        return Ok(None);
    };
    let mut one = [wo];
    add_extras(c, &mut one)?;
    let [wo] = one;
    Ok(Some(wo))
}

fn must_get(c: &Connection, id: &str) -> Result<WorkOrder, DbError> {
    get(c, id)?.ok_or(DbError::NotFound)
}

/// The employee id linked to user `user_id` (a technician's own employee
/// row), if any. Fails only on database errors.
pub fn employee_for_user(c: &Connection, user_id: &str) -> Result<Option<String>, DbError> {
    optional(c.query_row(
        "SELECT id FROM employees WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    ))
}

fn ensure_customer(c: &Connection, customer_id: &str) -> Result<(), DbError> {
    let found: Option<i64> = optional(
        c.prepare_cached("SELECT 1 FROM customers WHERE id = ?1")?
            .query_row([customer_id], |r| r.get(0)),
    )?;
    match found {
        Some(_) => Ok(()),
        None => Err(DomainError::field("customerId", "no customer has this id").into()),
    }
}

fn record(
    c: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    action: &str,
    before: &WorkOrder,
    after: &WorkOrder,
) -> Result<(), DbError> {
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "work_order",
            entity_id: &after.id,
            action,
            before: &view(before),
            after: &view(after),
        },
    )
}

/// What a new work order is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewWorkOrder {
    /// The validated fields (from `WorkOrderFields::create`).
    pub fields: WorkOrderFields,
    /// Estimated cost from the local job analysis, if any.
    pub estimated_cost: Option<Money>,
    /// Estimated duration from the local job analysis; used only when
    /// `fields.estimated_minutes` (what the client gave) is `None`.
    pub estimated_minutes: Option<Minutes>,
    /// The lead it was converted from, if any.
    pub lead_id: Option<String>,
}

/// Inserts a new `draft` work order numbered by the gap-free `work_order`
/// counter in the same write, and audits it (`work_order`/`create`).
/// Fails with a `customerId` validation error when the customer does not exist.
pub fn insert(
    c: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    id: &str,
    new: &NewWorkOrder,
) -> Result<WorkOrder, DbError> {
    let f = &new.fields;
    ensure_customer(c, &f.customer_id)?;
    let number = audit::next_number(c, "work_order")?;
    let ts = format_ts(now);
    c.prepare_cached(
        "INSERT INTO work_orders (id, number, customer_id, service_type, status, priority,
            scheduled_date, scheduled_time, estimated_minutes, job_description, special_instructions,
            estimated_cost_cents, quoted_price_cents, customer_notes, lead_id, created_by,
            created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'draft', ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)",
    )?
    .execute(params![
            id,
            number,
            f.customer_id,
            f.service_type,
            f.priority.as_str(),
            f.scheduled_date,
            f.scheduled_time,
            f.estimated_minutes.or(new.estimated_minutes).map(|m| m.0),
            f.job_description,
            f.special_instructions,
            new.estimated_cost.map(Money::cents),
            f.quoted_price.map(Money::cents),
            f.customer_notes,
            new.lead_id,
            actor.user_id,
            ts
    ])?;
    let wo = must_get(c, id)?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "work_order",
            entity_id: id,
            action: "create",
            before: &Value::Null,
            after: &view(&wo),
        },
    )?;
    Ok(wo)
}

/// Applies a PATCH: merges `input` over the stored fields under the rules of
/// the current status, and audits it (`work_order`/`update`). Fails with
/// `NotFound`, a `Conflict` naming the status and the refused fields, or
/// validation errors (including an unknown `customerId`).
pub fn update(
    c: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    id: &str,
    input: WorkOrderInput,
) -> Result<WorkOrder, DbError> {
    let before = must_get(c, id)?;
    let f = WorkOrderFields::merge(
        &before.fields(),
        input,
        before.status,
        &before.work_order_number,
    )?;
    if f.customer_id != before.customer_id {
        ensure_customer(c, &f.customer_id)?;
    }
    c.execute(
        "UPDATE work_orders SET customer_id = ?2, service_type = ?3, job_description = ?4,
            priority = ?5, special_instructions = ?6, scheduled_date = ?7, scheduled_time = ?8,
            estimated_minutes = ?9, quoted_price_cents = ?10, customer_notes = ?11, updated_at = ?12
         WHERE id = ?1",
        params![
            id,
            f.customer_id,
            f.service_type,
            f.job_description,
            f.priority.as_str(),
            f.special_instructions,
            f.scheduled_date,
            f.scheduled_time,
            f.estimated_minutes.map(|m| m.0),
            f.quoted_price.map(Money::cents),
            f.customer_notes,
            format_ts(now)
        ],
    )?;
    let after = must_get(c, id)?;
    record(c, actor, now, "update", &before, &after)?;
    Ok(after)
}

/// Another booking that a window clashes with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash {
    /// Who or what is double-booked (technician or equipment name).
    pub what: String,
    /// The other work order's number.
    pub number: i64,
    /// Its window.
    pub window: (i64, i64),
}

impl Clash {
    /// "Jo Tech is already booked on WO-000012, 2026-03-02 09:00–11:00".
    pub fn message(&self) -> String {
        format!(
            "{} is already booked on {}, {}",
            self.what,
            format_number(self.number),
            format_window(self.window.0, self.window.1)
        )
    }
}

/// The first scheduled or in-progress work order other than `exclude` that
/// books technician `employee_id` in a window overlapping `win`, or any item
/// of equipment of `loadout_id` through its own loadout. Touching windows do
/// not clash. Fails only on database errors.
pub fn find_clash(
    c: &Connection,
    exclude: &str,
    employee_id: &str,
    loadout_id: Option<&str>,
    win: (i64, i64),
) -> Result<Option<Clash>, DbError> {
    let tech = optional(c.query_row(
        "SELECT e.name, w.number, w.window_start, w.window_end
         FROM work_orders w JOIN employees e ON e.id = w.assigned_employee_id
         WHERE w.assigned_employee_id = ?1 AND w.id <> ?2
           AND w.status IN ('scheduled', 'in_progress')
           AND w.window_start < ?4 AND w.window_end > ?3
         ORDER BY w.window_start, w.number LIMIT 1",
        params![employee_id, exclude, win.0, win.1],
        |r| {
            Ok(Clash {
                what: r.get(0)?,
                number: r.get(1)?,
                window: (r.get(2)?, r.get(3)?),
            })
        },
    ))?;
    if tech.is_some() {
        return Ok(tech);
    }
    let Some(loadout_id) = loadout_id else {
        return Ok(None);
    };
    optional(c.query_row(
        "SELECT eq.name, w.number, w.window_start, w.window_end
         FROM loadout_items mine
         JOIN loadout_items theirs ON theirs.equipment_id = mine.equipment_id
         JOIN work_orders w ON w.loadout_id = theirs.loadout_id
         JOIN equipment eq ON eq.id = mine.equipment_id
         WHERE mine.loadout_id = ?1 AND w.id <> ?2
           AND w.status IN ('scheduled', 'in_progress')
           AND w.window_start < ?4 AND w.window_end > ?3
         ORDER BY w.window_start, w.number, eq.name COLLATE NOCASE LIMIT 1",
        params![loadout_id, exclude, win.0, win.1],
        |r| {
            Ok(Clash {
                what: r.get(0)?,
                number: r.get(1)?,
                window: (r.get(2)?, r.get(3)?),
            })
        },
    ))
}

/// Books (or re-books) a draft or scheduled work order: technician, date,
/// time, length (given, else the stored estimate, else `default_minutes`) and
/// optionally a loadout; audited as `schedule` or `reschedule`.
///
/// Fails with `NotFound`; a `Conflict` for a status that cannot be scheduled
/// or naming a clash with another booking of the technician or of an item of
/// equipment; validation errors for an unknown or inactive employee or an
/// unknown loadout.
pub fn schedule(
    c: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    id: &str,
    s: &Schedule,
    default_minutes: Minutes,
) -> Result<WorkOrder, DbError> {
    let before = must_get(c, id)?;
    let life = before
        .lifecycle()
        .apply(&before.work_order_number, Action::Schedule, now)?;
    let mut errors = FieldErrors::new();
    let employee: Option<bool> = optional(c.query_row(
        "SELECT active FROM employees WHERE id = ?1",
        [&s.employee_id],
        |r| r.get(0),
    ))?;
    match employee {
        None => {
            errors.insert(
                "assignedEmployeeId".into(),
                "no employee has this id".into(),
            );
        }
        Some(false) => {
            errors.insert(
                "assignedEmployeeId".into(),
                "this employee is not active".into(),
            );
        }
        Some(true) => {}
    }
    let loadout_id = match &s.loadout_id {
        None => before.loadout_id.clone(),
        Some(choice) => choice.clone(),
    };
    if let Some(l) = &loadout_id {
        let found: Option<i64> =
            optional(c.query_row("SELECT 1 FROM loadouts WHERE id = ?1", [l], |r| r.get(0)))?;
        if found.is_none() {
            errors.insert("loadoutId".into(), "no loadout has this id".into());
        }
    }
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors).into());
    }
    let minutes = s
        .minutes
        .or(before.estimated_duration_hours.filter(|m| m.0 > 0))
        .unwrap_or(default_minutes);
    let minutes = Minutes(minutes.0.max(1));
    let win = window(s.date, s.time, minutes);
    if let Some(clash) = find_clash(c, id, &s.employee_id, loadout_id.as_deref(), win)? {
        return Err(DomainError::Conflict(clash.message()).into());
    }
    c.execute(
        "UPDATE work_orders SET status = ?2, scheduled_date = ?3, scheduled_time = ?4,
            window_start = ?5, window_end = ?6, estimated_minutes = ?7,
            assigned_employee_id = ?8, loadout_id = ?9, updated_at = ?10
         WHERE id = ?1",
        params![
            id,
            life.status.as_str(),
            s.date.format("%Y-%m-%d").to_string(),
            s.time.format("%H:%M").to_string(),
            win.0,
            win.1,
            minutes.0,
            s.employee_id,
            loadout_id,
            format_ts(now)
        ],
    )?;
    let after = must_get(c, id)?;
    let action = if before.status == Status::Scheduled {
        "reschedule"
    } else {
        "schedule"
    };
    record(c, actor, now, action, &before, &after)?;
    Ok(after)
}

/// Where the dispatch board moves a work order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardMove {
    /// The technician's lane; `None` is the "Unassigned" lane.
    pub employee_id: Option<String>,
    /// Day.
    pub date: NaiveDate,
    /// Start time.
    pub time: chrono::NaiveTime,
}

/// Moves work order `id` on the dispatch board, by the same rules the
/// board's drag and drop follows through the API: onto a technician it is
/// [`schedule`]d there (a draft is booked, a scheduled job re-booked, keeping
/// its length and loadout); onto the Unassigned lane a draft gets that
/// tentative date and time ([`update`]).
///
/// Fails like [`schedule`] and [`update`] (`NotFound`; a `Conflict` naming
/// the status or the clashing booking; validation errors for an unknown or
/// inactive technician), and with a `Conflict` when a scheduled job is
/// dropped on the Unassigned lane (a booking keeps its technician: move it to
/// another one, or cancel it).
pub fn move_on_board(
    c: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    id: &str,
    m: &BoardMove,
    default_minutes: Minutes,
) -> Result<WorkOrder, DbError> {
    if let Some(employee_id) = &m.employee_id {
        let booking = Schedule {
            date: m.date,
            time: m.time,
            employee_id: employee_id.clone(),
            minutes: None,
            loadout_id: None,
        };
        return schedule(c, actor, now, id, &booking, default_minutes);
    }
    let wo = must_get(c, id)?;
    if wo.status == Status::Scheduled {
        return Err(DomainError::Conflict(format!(
            "{} is booked with {}: a scheduled job cannot be unassigned — move it to another technician, or cancel it",
            wo.work_order_number,
            wo.assigned_employee_name.as_deref().unwrap_or("a technician")
        ))
        .into());
    }
    let input = WorkOrderInput {
        scheduled_date: Some(Some(m.date.format("%Y-%m-%d").to_string())),
        scheduled_time: Some(Some(m.time.format("%H:%M").to_string())),
        ..WorkOrderInput::default()
    };
    update(c, actor, now, id, input)
}

/// Starts a scheduled work order (status `in_progress`, `startedAt` = now);
/// audited as `start`. Fails with `NotFound` or a `Conflict` naming the status.
pub fn start(
    c: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    id: &str,
) -> Result<WorkOrder, DbError> {
    let before = must_get(c, id)?;
    let life = before
        .lifecycle()
        .apply(&before.work_order_number, Action::Start, now)?;
    c.execute(
        "UPDATE work_orders SET status = ?2, started_at = ?3, updated_at = ?4 WHERE id = ?1",
        params![
            id,
            life.status.as_str(),
            life.started_at.map(format_ts),
            format_ts(now)
        ],
    )?;
    let after = must_get(c, id)?;
    record(c, actor, now, "start", &before, &after)?;
    Ok(after)
}

/// Cancels an open work order, with an optional reason; its booking no
/// longer blocks anyone. Audited as `cancel`. Fails with `NotFound` or a
/// `Conflict` naming the status.
pub fn cancel(
    c: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    id: &str,
    reason: Option<&str>,
) -> Result<WorkOrder, DbError> {
    let before = must_get(c, id)?;
    let life = before
        .lifecycle()
        .apply(&before.work_order_number, Action::Cancel, now)?;
    c.execute(
        "UPDATE work_orders SET status = ?2, cancelled_at = ?3, cancel_reason = ?4, updated_at = ?5
         WHERE id = ?1",
        params![
            id,
            life.status.as_str(),
            life.cancelled_at.map(format_ts),
            reason,
            format_ts(now)
        ],
    )?;
    let after = must_get(c, id)?;
    record(c, actor, now, "cancel", &before, &after)?;
    Ok(after)
}

/// The business rules completion needs from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Billing {
    /// Tax on invoices, in basis points.
    pub tax_rate_bps: i64,
    /// Today in the business's time zone (the invoice's issue date).
    pub today: NaiveDate,
    /// Days from issue to the invoice due date.
    pub invoice_due_days: i64,
    /// Days from completion to the follow-up due date.
    pub follow_up_days: i64,
}

/// The invoice created by a completion, as the completion response shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceSummary {
    /// Invoice id.
    pub id: String,
    /// "INV-000045".
    pub invoice_number: String,
    /// Total with tax.
    pub total: Money,
}

fn loadout_equipment(c: &Connection, loadout_id: &str) -> Result<Vec<EquipmentUse>, DbError> {
    let mut st = c.prepare(
        "SELECT e.name, e.hourly_cost_cents FROM loadout_items li
         JOIN equipment e ON e.id = li.equipment_id
         WHERE li.loadout_id = ?1 ORDER BY e.name COLLATE NOCASE, e.id",
    )?;
    let rows = st.query_map([loadout_id], |r| {
        Ok(EquipmentUse {
            name: r.get(0)?,
            hourly_cost: Money::from_cents(r.get(1)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn add_days(d: NaiveDate, days: i64) -> NaiveDate {
    d.checked_add_signed(chrono::Duration::days(days))
        .unwrap_or(d)
}

/// Completes a scheduled or in-progress work order and, in the same write,
/// creates its `draft` invoice (`INV-…` from the gap-free `invoice` counter:
/// parts, equipment use for the loadout's items at the actual hours, labour =
/// final price − parts − equipment, tax at `billing.tax_rate_bps`) and an open
/// follow-up due `billing.follow_up_days` after today. `finalPrice` defaults
/// to the quote, else the actual cost; the actual duration to the time since
/// the start, else the estimate. Audits `work_order`/`complete`,
/// `invoice`/`create` and `follow_up`/`create`.
///
/// Fails with `NotFound`, a `Conflict` naming the status, or a `finalPrice`
/// validation error stating the minimum when labour would be negative — in
/// which case nothing is written.
pub fn complete(
    c: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    id: &str,
    done: &Completion,
    billing: &Billing,
) -> Result<(WorkOrder, InvoiceSummary), DbError> {
    let before = must_get(c, id)?;
    let was_started = before.lifecycle().started_at;
    let life = before
        .lifecycle()
        .apply(&before.work_order_number, Action::Complete, now)?;
    let minutes = match (done.actual_minutes, was_started) {
        (Some(m), _) => m,
        (None, Some(started)) => {
            Minutes(div_round(i128::from((now - started).num_seconds().max(0)), 60) as i64)
        }
        (None, None) => before.estimated_duration_hours.unwrap_or_default(),
    };
    let final_price = done
        .final_price
        .or(before.quoted_price)
        .unwrap_or(done.actual_cost);
    let equipment = match &before.loadout_id {
        Some(l) => loadout_equipment(c, l)?,
        None => Vec::new(),
    };
    let draft = invoice::build(
        &before.service_type,
        final_price,
        minutes,
        &done.parts,
        &equipment,
        billing.tax_rate_bps,
    )?;
    let ts = format_ts(now);
    c.execute(
        "UPDATE work_orders SET status = ?2, actual_minutes = ?3, actual_cost_cents = ?4,
            final_price_cents = ?5, customer_notes = ?6, completion_notes = ?7,
            started_at = ?8, completed_at = ?9, updated_at = ?10
         WHERE id = ?1",
        params![
            id,
            life.status.as_str(),
            minutes.0,
            done.actual_cost.cents(),
            final_price.cents(),
            done.customer_notes
                .as_deref()
                .unwrap_or(&before.customer_notes),
            done.completion_notes,
            life.started_at.map(format_ts),
            life.completed_at.map(format_ts),
            ts
        ],
    )?;

    let invoice_id = crate::domain::ids::new_id(now).to_string();
    let invoice_number = audit::next_number(c, "invoice")?;
    let issued = billing.today.format("%Y-%m-%d").to_string();
    let due = add_days(billing.today, billing.invoice_due_days)
        .format("%Y-%m-%d")
        .to_string();
    c.execute(
        "INSERT INTO invoices (id, number, work_order_id, customer_id, status, subtotal_cents,
            tax_rate_bps, tax_cents, total_cents, paid_cents, issued_date, due_date, created_at,
            updated_at)
         VALUES (?1, ?2, ?3, ?4, 'draft', ?5, ?6, ?7, ?8, 0, ?9, ?10, ?11, ?11)",
        params![
            invoice_id,
            invoice_number,
            id,
            before.customer_id,
            draft.subtotal.cents(),
            draft.tax_rate_bps,
            draft.tax.cents(),
            draft.total.cents(),
            issued,
            due,
            ts
        ],
    )?;
    let mut st = c.prepare(
        "INSERT INTO invoice_lines (invoice_id, position, kind, description, quantity_milli,
            unit_price_cents, amount_cents) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (i, l) in draft.lines.iter().enumerate() {
        st.execute(params![
            invoice_id,
            i as i64 + 1,
            l.kind.as_str(),
            l.description,
            l.quantity_milli,
            l.unit_price.cents(),
            l.amount.cents()
        ])?;
    }
    let summary = InvoiceSummary {
        id: invoice_id.clone(),
        invoice_number: invoice::format_number(invoice_number),
        total: draft.total,
    };
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "invoice",
            entity_id: &invoice_id,
            action: "create",
            before: &Value::Null,
            after: &json!({
                "id": invoice_id,
                "invoiceNumber": summary.invoice_number,
                "workOrderId": id,
                "customerId": before.customer_id,
                "status": "draft",
                "subtotal": draft.subtotal,
                "taxRateBps": draft.tax_rate_bps,
                "tax": draft.tax,
                "total": draft.total,
                "issuedDate": issued,
                "dueDate": due,
                "lines": draft.lines,
            }),
        },
    )?;

    let follow_up_id = crate::domain::ids::new_id(now).to_string();
    let follow_up_due = add_days(billing.today, billing.follow_up_days)
        .format("%Y-%m-%d")
        .to_string();
    let note = format!(
        "Follow up on {} ({})",
        before.work_order_number, before.service_type
    );
    c.execute(
        "INSERT INTO follow_ups (id, work_order_id, customer_id, due_date, status, note,
            created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?6)",
        params![
            follow_up_id,
            id,
            before.customer_id,
            follow_up_due,
            note,
            ts
        ],
    )?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "follow_up",
            entity_id: &follow_up_id,
            action: "create",
            before: &Value::Null,
            after: &json!({
                "id": follow_up_id,
                "workOrderId": id,
                "customerId": before.customer_id,
                "dueDate": follow_up_due,
                "status": "open",
                "note": note,
            }),
        },
    )?;

    let after = must_get(c, id)?;
    record(c, actor, now, "complete", &before, &after)?;
    Ok((after, summary))
}

/// Filters for [`list`]; empty/`None` means any.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WorkOrderFilter {
    /// Any of these statuses.
    pub statuses: Vec<Status>,
    /// This customer's.
    pub customer_id: Option<String>,
    /// Assigned to this employee.
    pub assigned_employee_id: Option<String>,
    /// Only work orders assigned to the employee linked to this user
    /// (technician scoping; none when the user has no employee row).
    pub technician_user_id: Option<String>,
    /// Scheduled on or after (YYYY-MM-DD).
    pub from: Option<String>,
    /// Scheduled on or before (YYYY-MM-DD).
    pub to: Option<String>,
    /// Text: a number (`WO-000123`, `123`), or part of the service type,
    /// description or customer name (case-insensitive).
    pub q: Option<String>,
}

/// `q` as a LIKE pattern matching it anywhere, with `%`, `_` and `\` escaped.
fn like_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for ch in q.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// The WHERE clause and its bound values for `f`.
fn where_clause(f: &WorkOrderFilter) -> (String, Vec<SqlValue>) {
    fn bind(vals: &mut Vec<SqlValue>, v: SqlValue) -> String {
        vals.push(v);
        format!("?{}", vals.len())
    }
    let mut sql: Vec<String> = Vec::new();
    let mut vals: Vec<SqlValue> = Vec::new();
    match f.statuses.as_slice() {
        [] => {}
        [one] => {
            let p = bind(&mut vals, SqlValue::Text(one.as_str().into()));
            sql.push(format!("w.status = {p}"));
        }
        many => {
            let ps: Vec<String> = many
                .iter()
                .map(|s| bind(&mut vals, SqlValue::Text(s.as_str().into())))
                .collect();
            sql.push(format!("w.status IN ({})", ps.join(", ")));
        }
    }
    if let Some(cust) = &f.customer_id {
        let p = bind(&mut vals, SqlValue::Text(cust.clone()));
        sql.push(format!("w.customer_id = {p}"));
    }
    if let Some(emp) = &f.assigned_employee_id {
        let p = bind(&mut vals, SqlValue::Text(emp.clone()));
        sql.push(format!("w.assigned_employee_id = {p}"));
    }
    if let Some(user) = &f.technician_user_id {
        let p = bind(&mut vals, SqlValue::Text(user.clone()));
        sql.push(format!(
            "w.assigned_employee_id = (SELECT id FROM employees WHERE user_id = {p})"
        ));
    }
    if let Some(from) = &f.from {
        let p = bind(&mut vals, SqlValue::Text(from.clone()));
        sql.push(format!("w.scheduled_date >= {p}"));
    }
    if let Some(to) = &f.to {
        let p = bind(&mut vals, SqlValue::Text(to.clone()));
        sql.push(format!("w.scheduled_date <= {p}"));
    }
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let pat = bind(&mut vals, SqlValue::Text(like_pattern(q)));
        let mut any = vec![
            format!("w.service_type LIKE {pat} ESCAPE '\\'"),
            format!("w.job_description LIKE {pat} ESCAPE '\\'"),
            format!(
                "w.customer_id IN (SELECT cc.id FROM customers cc WHERE cc.name LIKE {pat} ESCAPE '\\')"
            ),
        ];
        if let Some(n) = crate::domain::work_order::parse_number(q) {
            let p = bind(&mut vals, SqlValue::Integer(n));
            any.insert(0, format!("w.number = {p}"));
        }
        sql.push(format!("({})", any.join(" OR ")));
    }
    let clause = if sql.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", sql.join(" AND "))
    };
    (clause, vals)
}

/// The SQL of one page of [`list`] (for query-plan tests), with its values.
fn page_sql(f: &WorkOrderFilter, limit: i64, offset: i64) -> (String, Vec<SqlValue>) {
    let (clause, mut vals) = where_clause(f);
    vals.push(SqlValue::Integer(limit));
    let l = vals.len();
    vals.push(SqlValue::Integer(offset));
    (
        format!(
            "{SELECT}{clause} ORDER BY w.created_at DESC, w.id DESC LIMIT ?{l} OFFSET ?{}",
            l + 1
        ),
        vals,
    )
}

/// The number of work orders matching `f` read from `work_order_counts`
/// (kept by triggers, migration 0003) when `f` filters by status only or not
/// at all — counting tens of thousands of index entries on every page was
/// most of the cost of a list; `None` when another filter needs a real count.
/// Fails only on database errors.
fn counted_total(c: &Connection, f: &WorkOrderFilter) -> Result<Option<i64>, DbError> {
    let status_only = f.customer_id.is_none()
        && f.assigned_employee_id.is_none()
        && f.technician_user_id.is_none()
        && f.from.is_none()
        && f.to.is_none()
        && f.q.as_deref().is_none_or(|q| q.trim().is_empty());
    if !status_only {
        return Ok(None);
    }
    let total = if f.statuses.is_empty() {
        c.prepare_cached("SELECT coalesce(sum(n), 0) FROM work_order_counts")?
            .query_row([], |r| r.get(0))?
    } else {
        let marks = vec!["?"; f.statuses.len()].join(", ");
        c.prepare_cached(&format!(
            "SELECT coalesce(sum(n), 0) FROM work_order_counts WHERE status IN ({marks})"
        ))?
        .query_row(
            params_from_iter(f.statuses.iter().map(|s| s.as_str())),
            |r| r.get(0),
        )?
    };
    Ok(Some(total))
}

/// The number of work orders matching `f`: from `work_order_counts` when it
/// can ([`counted_total`]), else counted. Fails only on database errors.
fn total(c: &Connection, f: &WorkOrderFilter) -> Result<i64, DbError> {
    match counted_total(c, f)? {
        Some(n) => Ok(n),
        None => {
            let (clause, vals) = where_clause(f);
            Ok(
                c.prepare_cached(&format!("SELECT count(*) FROM work_orders w{clause}"))?
                    .query_row(params_from_iter(vals.iter()), |r| r.get(0))?,
            )
        }
    }
}

/// One page of work orders matching `f`, newest first, with the total number
/// of matches. Fails only on database errors.
pub fn list(
    c: &Connection,
    f: &WorkOrderFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<WorkOrder>, i64), DbError> {
    let total = total(c, f)?;
    if total == 0 || offset >= total {
        return Ok((Vec::new(), total));
    }
    let (sql, vals) = page_sql(f, limit, offset);
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(vals.iter()), from_row)?;
    let mut rows: Vec<WorkOrder> = rows.collect::<Result<_, _>>()?;
    add_extras(c, &mut rows)?;
    Ok((rows, total))
}

/// Where a row written by [`write_row_json`] holds the values that
/// [`Extras`] may replace: byte ranges of `out`.
struct RowMarks {
    id: String,
    photos: std::ops::Range<usize>,
    /// `None` when the stored `signature_id` was written (it wins).
    signature: Option<std::ops::Range<usize>>,
    invoice: std::ops::Range<usize>,
}

/// Appends the JSON of one [`SELECT`] row to `out`, byte for byte what
/// serde_json writes for the [`WorkOrder`] that [`from_row`] makes of it (same
/// fields, same order), with no photos, no invoice and only the stored
/// signature; returns where those are so [`list_json`] can fill them in.
/// Fails like [`from_row`] on a value it cannot read.
fn write_row_json(r: &Row<'_>, out: &mut Vec<u8>) -> rusqlite::Result<RowMarks> {
    use super::json_out::{
        int, opt_int, opt_text, push_number_with_prefix, push_opt_decimal, push_opt_str, push_str,
        push_str_prefixed, text,
    };
    let status = text(r, 5)?;
    let status = Status::parse(status).ok_or_else(|| bad_value(5, "status", status))?;
    let priority = text(r, 6)?;
    let priority = Priority::parse(priority).ok_or_else(|| bad_value(6, "priority", priority))?;
    let hours = |out: &mut Vec<u8>, m: Option<i64>| {
        push_opt_decimal(out, m.map(|m| div_round(i128::from(m) * 100, 60) as i64), 2);
    };
    let (actual_cost, final_price) = (opt_int(r, 20)?, opt_int(r, 22)?);
    let id = text(r, 0)?;
    out.extend_from_slice(b"{\"id\":");
    push_str(out, id);
    out.extend_from_slice(b",\"workOrderNumber\":");
    push_number_with_prefix(out, "WO-", int(r, 1)?, 6);
    out.extend_from_slice(b",\"customerId\":");
    push_str(out, text(r, 2)?);
    out.extend_from_slice(b",\"serviceType\":");
    push_str(out, text(r, 4)?);
    out.extend_from_slice(b",\"status\":");
    push_str(out, status.as_str());
    out.extend_from_slice(b",\"priorityLevel\":");
    push_str(out, priority.as_str());
    out.extend_from_slice(b",\"scheduledDate\":");
    push_opt_str(out, opt_text(r, 7)?);
    out.extend_from_slice(b",\"scheduledTime\":");
    push_opt_str(out, opt_text(r, 8)?);
    out.extend_from_slice(b",\"estimatedDurationHours\":");
    hours(out, opt_int(r, 11)?);
    out.extend_from_slice(b",\"actualDurationHours\":");
    hours(out, opt_int(r, 12)?);
    out.extend_from_slice(b",\"assignedEmployeeId\":");
    push_opt_str(out, opt_text(r, 13)?);
    out.extend_from_slice(b",\"loadoutId\":");
    push_opt_str(out, opt_text(r, 16)?);
    out.extend_from_slice(b",\"jobDescription\":");
    push_str(out, text(r, 17)?);
    out.extend_from_slice(b",\"specialInstructions\":");
    push_str(out, text(r, 18)?);
    out.extend_from_slice(b",\"estimatedCost\":");
    push_opt_decimal(out, opt_int(r, 19)?, 2);
    out.extend_from_slice(b",\"actualCost\":");
    push_opt_decimal(out, actual_cost, 2);
    out.extend_from_slice(b",\"quotedPrice\":");
    push_opt_decimal(out, opt_int(r, 21)?, 2);
    out.extend_from_slice(b",\"finalPrice\":");
    push_opt_decimal(out, final_price, 2);
    out.extend_from_slice(b",\"profitMargin\":");
    let margin = profit_margin(
        final_price.map(Money::from_cents),
        actual_cost.map(Money::from_cents),
    );
    push_opt_decimal(out, margin.map(|m| m.0), 4);
    out.extend_from_slice(b",\"completionPhotos\":");
    let photos = out.len()..out.len() + NO_PHOTOS.len();
    out.extend_from_slice(NO_PHOTOS);
    out.extend_from_slice(b",\"customerSignature\":");
    let signature = match opt_text(r, 25)? {
        Some(sig) => {
            push_str_prefixed(out, ATTACHMENT_PATH, sig);
            None
        }
        None => {
            out.extend_from_slice(b"null");
            Some(out.len() - 4..out.len())
        }
    };
    out.extend_from_slice(b",\"customerNotes\":");
    push_str(out, text(r, 23)?);
    out.extend_from_slice(b",\"createdAt\":");
    push_str(out, text(r, 31)?);
    out.extend_from_slice(b",\"updatedAt\":");
    push_str(out, text(r, 32)?);
    out.extend_from_slice(b",\"customerName\":");
    push_str(out, text(r, 3)?);
    out.extend_from_slice(b",\"assignedEmployeeName\":");
    push_opt_str(out, opt_text(r, 14)?);
    out.extend_from_slice(b",\"completionNotes\":");
    push_str(out, text(r, 24)?);
    out.extend_from_slice(b",\"startedAt\":");
    push_opt_str(out, opt_text(r, 27)?);
    out.extend_from_slice(b",\"completedAt\":");
    push_opt_str(out, opt_text(r, 28)?);
    out.extend_from_slice(b",\"cancelledAt\":");
    push_opt_str(out, opt_text(r, 29)?);
    out.extend_from_slice(b",\"cancelReason\":");
    push_opt_str(out, opt_text(r, 30)?);
    out.extend_from_slice(b",\"invoiceId\":null}");
    let end = out.len() - 1;
    Ok(RowMarks {
        id: id.to_string(),
        photos,
        signature,
        invoice: end - 4..end,
    })
}

/// `completionPhotos` with no photos.
const NO_PHOTOS: &[u8] = b"{\"before\":[],\"after\":[]}";
/// What `attachment_url` puts before an attachment id.
const ATTACHMENT_PATH: &str = "/api/v1/attachments/";

/// Adds to `edits` what `e` changes in the row marked by `m`: the photos
/// object, the signature and the invoice, each as (range of the page to
/// replace, new bytes), in ascending order.
fn extras_edits(m: &RowMarks, e: &Extras, edits: &mut Vec<(std::ops::Range<usize>, Vec<u8>)>) {
    use super::json_out::{push_opt_str, push_str_prefixed};
    if !e.before.is_empty() || !e.after.is_empty() {
        let mut v = Vec::with_capacity(64 * (e.before.len() + e.after.len()) + 24);
        for (i, (key, ids)) in [("before", &e.before), ("after", &e.after)]
            .into_iter()
            .enumerate()
        {
            v.extend_from_slice(if i == 0 { b"{\"" } else { b",\"" });
            v.extend_from_slice(key.as_bytes());
            v.extend_from_slice(b"\":[");
            for (j, id) in ids.iter().enumerate() {
                if j > 0 {
                    v.push(b',');
                }
                push_str_prefixed(&mut v, ATTACHMENT_PATH, id);
            }
            v.push(b']');
        }
        v.push(b'}');
        edits.push((m.photos.clone(), v));
    }
    if let (Some(range), Some(sig)) = (&m.signature, &e.signature) {
        let mut v = Vec::new();
        push_str_prefixed(&mut v, ATTACHMENT_PATH, sig);
        edits.push((range.clone(), v));
    }
    if e.invoice.is_some() {
        let mut v = Vec::new();
        push_opt_str(&mut v, e.invoice.as_deref());
        edits.push((m.invoice.clone(), v));
    }
}

/// [`list`] written straight to JSON: appends the page as a JSON array to
/// `out` — the same bytes as serde_json writes for `list(…).0` — and returns
/// the total. Rows are written as they are read, with no [`WorkOrder`] and no
/// per-field allocation; the few photos, signatures and invoices of the page
/// are read afterwards in one query and spliced in. Fails only on database
/// errors (or a stored value [`from_row`] would refuse too).
pub fn list_json(
    c: &Connection,
    f: &WorkOrderFilter,
    limit: i64,
    offset: i64,
    out: &mut Vec<u8>,
) -> Result<i64, DbError> {
    let total = total(c, f)?;
    if total == 0 || offset >= total {
        out.extend_from_slice(b"[]");
        return Ok(total);
    }
    let (sql, vals) = page_sql(f, limit, offset);
    let mut st = c.prepare_cached(&sql)?;
    let mut rows = st.query(params_from_iter(vals.iter()))?;
    let start = out.len();
    out.reserve(1024 * usize::try_from(limit).unwrap_or(0).min(100));
    out.push(b'[');
    let mut marks = Vec::with_capacity(usize::try_from(limit).unwrap_or(0).min(100));
    let mut ids_json = Vec::with_capacity(40 * marks.capacity() + 2);
    ids_json.push(b'[');
    while let Some(r) = rows.next()? {
        if !marks.is_empty() {
            out.push(b',');
            ids_json.push(b',');
        }
        let m = write_row_json(r, out)?;
        super::json_out::push_str(&mut ids_json, &m.id);
        marks.push(m);
    }
    out.push(b']');
    ids_json.push(b']');
    drop(rows);
    if marks.is_empty() {
        return Ok(total);
    }
    let ids_json = String::from_utf8(ids_json).map_err(|e| DbError::Task(e.to_string()))?;
    let mut by = extras(c, &ids_json)?;
    if by.is_empty() {
        return Ok(total);
    }
    let mut edits = Vec::new();
    for m in &marks {
        if let Some(e) = by.remove(&m.id) {
            extras_edits(m, &e, &mut edits);
        }
    }
    // Splice the edits (in ascending, non-overlapping order) into the page.
    let page = out.split_off(start);
    out.reserve(page.len() + edits.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut at = 0;
    for (range, bytes) in edits {
        out.extend_from_slice(&page[at..range.start - start]);
        out.extend_from_slice(&bytes);
        at = range.end - start;
    }
    out.extend_from_slice(&page[at..]);
    Ok(total)
}

/// The service types work orders have used, alphabetically (at most 200),
/// for suggestions in forms. Fails only on database errors.
pub fn service_types(c: &Connection) -> Result<Vec<String>, DbError> {
    let mut st =
        c.prepare_cached("SELECT DISTINCT service_type FROM work_orders ORDER BY 1 LIMIT 200")?;
    let rows = st.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The work orders booked or tentatively dated from `from` to `to`
/// (YYYY-MM-DD, inclusive) in any status but `cancelled`, in date and time
/// order (undated times first) — what the dispatch board shows. Uses the
/// `work_orders_scheduled` index. Fails only on database errors.
pub fn on_board(c: &Connection, from: &str, to: &str) -> Result<Vec<WorkOrder>, DbError> {
    let mut st = c.prepare_cached(&format!(
        "{SELECT} WHERE w.scheduled_date >= ?1 AND w.scheduled_date <= ?2
           AND w.status <> 'cancelled'
         ORDER BY w.scheduled_date, w.scheduled_time, w.number"
    ))?;
    let rows = st.query_map(params![from, to], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Up to `limit` drafts without a date (the dispatch board's tray), newest
/// first, with how many there are in all. Fails only on database errors.
pub fn undated_drafts(c: &Connection, limit: i64) -> Result<(Vec<WorkOrder>, i64), DbError> {
    let total: i64 = c
        .prepare_cached(
            "SELECT count(*) FROM work_orders WHERE status = 'draft' AND scheduled_date IS NULL",
        )?
        .query_row([], |r| r.get(0))?;
    if total == 0 {
        return Ok((Vec::new(), 0));
    }
    let mut st = c.prepare_cached(&format!(
        "{SELECT} WHERE w.status = 'draft' AND w.scheduled_date IS NULL
         ORDER BY w.created_at DESC, w.id DESC LIMIT ?1"
    ))?;
    let rows = st.query_map([limit], from_row)?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        // As db::configure sets it on every connection.
        c.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .unwrap();
        crate::db::migrations::apply_pending(&mut c, Utc::now()).unwrap();
        c.execute_batch("ANALYZE").unwrap();
        c
    }

    fn plan(c: &Connection, sql: &str, vals: &[SqlValue]) -> String {
        let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = st
            .query_map(params_from_iter(vals.iter()), |r| r.get::<_, String>(3))
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn status_pages_and_counts_use_the_index_without_sorting() {
        let c = db();
        let f = WorkOrderFilter {
            statuses: vec![Status::Scheduled],
            ..Default::default()
        };
        let (sql, vals) = page_sql(&f, 50, 0);
        let p = plan(&c, &sql, &vals);
        assert!(p.contains("work_orders_status"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "{p}");
        let (clause, vals) = where_clause(&f);
        let p = plan(
            &c,
            &format!("SELECT count(*) FROM work_orders w{clause}"),
            &vals,
        );
        assert!(p.contains("COVERING INDEX work_orders_status"), "{p}");
        let (sql, vals) = page_sql(&WorkOrderFilter::default(), 20, 0);
        let p = plan(&c, &sql, &vals);
        assert!(p.contains("work_orders_created"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "{p}");
    }

    #[test]
    fn status_counts_follow_inserts_status_changes_and_deletes() {
        let c = db();
        c.execute_batch(
            "INSERT INTO customers (id, name, created_at, updated_at) VALUES ('c', 'Ann', 't', 't');
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
             INSERT INTO work_orders (id, number, customer_id, service_type, status, created_at, updated_at)
             SELECT 'w' || i, i, 'c', 'Leak',
                 CASE i % 4 WHEN 0 THEN 'draft' WHEN 1 THEN 'scheduled' WHEN 2 THEN 'completed' ELSE 'cancelled' END,
                 't', 't' FROM n;
             UPDATE work_orders SET status = 'in_progress' WHERE number <= 6 AND status = 'scheduled';
             UPDATE work_orders SET service_type = 'Drain' WHERE number <= 10;
             UPDATE work_orders SET status = status WHERE number <= 10;
             DELETE FROM work_orders WHERE number IN (4, 8, 9);",
        )
        .unwrap();
        let real = |statuses: &[Status]| -> i64 {
            let f = WorkOrderFilter {
                statuses: statuses.to_vec(),
                ..Default::default()
            };
            let (clause, vals) = where_clause(&f);
            c.query_row(
                &format!("SELECT count(*) FROM work_orders w{clause}"),
                params_from_iter(vals.iter()),
                |r| r.get(0),
            )
            .unwrap()
        };
        let mut sets: Vec<Vec<Status>> = Status::ALL.iter().map(|s| vec![*s]).collect();
        sets.push(vec![]);
        sets.push(vec![Status::Scheduled, Status::InProgress]);
        for statuses in sets {
            let f = WorkOrderFilter {
                statuses: statuses.clone(),
                ..Default::default()
            };
            let counted = counted_total(&c, &f).unwrap();
            assert_eq!(counted, Some(real(&statuses)), "{statuses:?}");
            assert_eq!(list(&c, &f, 5, 0).unwrap().1, real(&statuses));
        }
        assert_eq!(real(&[Status::InProgress]), 2);
        let narrower = WorkOrderFilter {
            statuses: vec![Status::Draft],
            q: Some("leak".into()),
            ..Default::default()
        };
        assert_eq!(counted_total(&c, &narrower).unwrap(), None);
    }

    /// Work orders with everything a view can show: odd text, every status
    /// and priority, money and durations (negative too), technicians,
    /// photos, signatures (stored and uploaded) and invoices.
    fn varied(c: &Connection) {
        c.execute_batch(
            "INSERT INTO customers (id, name, created_at, updated_at) VALUES
                ('c1', 'Ann \"Q\" O''Neil\\', 't', 't'), ('c2', 'Zoë — ☃', 't', 't');
             INSERT INTO employees (id, name, user_id, created_at, updated_at) VALUES
                ('e1', 'Tab\tTech', NULL, 't', 't');
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60)
             INSERT INTO work_orders (id, number, customer_id, service_type, status, priority,
                 scheduled_date, scheduled_time, estimated_minutes, actual_minutes,
                 assigned_employee_id, job_description, special_instructions,
                 estimated_cost_cents, actual_cost_cents, quoted_price_cents, final_price_cents,
                 customer_notes, completion_notes, signature_id, started_at, completed_at,
                 cancelled_at, cancel_reason, created_at, updated_at)
             SELECT 'w' || i, i * 7919 % 1000003, CASE WHEN i % 3 THEN 'c1' ELSE 'c2' END,
                 'Leak ' || char(i % 32) || ' \"fix\"',
                 CASE i % 5 WHEN 0 THEN 'draft' WHEN 1 THEN 'scheduled' WHEN 2 THEN 'in_progress'
                     WHEN 3 THEN 'completed' ELSE 'cancelled' END,
                 CASE i % 4 WHEN 0 THEN 'low' WHEN 1 THEN 'medium' WHEN 2 THEN 'high' ELSE 'urgent' END,
                 CASE WHEN i % 2 THEN '2026-03-0' || (i % 9 + 1) END, CASE WHEN i % 2 THEN '09:30' END,
                 CASE WHEN i % 3 THEN i * 7 END, CASE WHEN i % 5 = 3 THEN i * 13 END,
                 CASE WHEN i % 2 THEN 'e1' END, 'line one\nline two ' || i, '\\ back\\slash',
                 CASE WHEN i % 4 THEN i * 1001 - 20000 END, CASE WHEN i % 5 = 3 THEN i * 997 END,
                 CASE WHEN i % 2 = 0 THEN i * 1234 END,
                 CASE WHEN i % 5 = 3 THEN i * 1500 - (i % 3) * 40000 END,
                 'notes ' || char(1, 127, 8232), CASE WHEN i % 5 = 3 THEN 'done' ELSE '' END,
                 CASE WHEN i % 10 = 3 THEN 'sig-stored-' || i END,
                 CASE WHEN i % 5 IN (2, 3) THEN '2026-03-01T09:00:00Z' END,
                 CASE WHEN i % 5 = 3 THEN '2026-03-01T11:00:00Z' END,
                 CASE WHEN i % 5 = 4 THEN '2026-03-02T08:00:00Z' END,
                 CASE WHEN i % 5 = 4 THEN 'no \"longer\" needed' END,
                 printf('2026-01-%02dT10:%02d:00Z', i % 28 + 1, i % 60), 't' || i
             FROM n;
             INSERT INTO attachments (id, work_order_id, kind, sha256, content_type, size_bytes, created_at)
             SELECT 'a' || w2.i || '-' || k.kind || '-' || j.j, 'w' || w2.i, k.kind, 'x', 'image/png', 1,
                 '2026-02-0' || (3 - j.j)
             FROM (SELECT 3 AS i UNION SELECT 8 UNION SELECT 13 UNION SELECT 21 UNION SELECT 40) AS w2
             CROSS JOIN (SELECT 'before' AS kind UNION SELECT 'after' UNION SELECT 'signature') AS k
             CROSS JOIN (SELECT 1 AS j UNION SELECT 2) AS j;
             INSERT INTO invoices (id, number, work_order_id, customer_id, status, subtotal_cents,
                 tax_rate_bps, tax_cents, total_cents, issued_date, due_date, created_at, updated_at)
             SELECT 'inv-' || id, number, id, customer_id, 'draft', 1, 0, 0, 1, 'd', 'd', 't', 't'
             FROM work_orders WHERE status = 'completed';",
        )
        .unwrap();
    }

    #[test]
    fn list_json_writes_what_serde_writes_for_list() {
        let c = db();
        varied(&c);
        let filters = [
            WorkOrderFilter::default(),
            WorkOrderFilter {
                statuses: vec![Status::Completed],
                ..Default::default()
            },
            WorkOrderFilter {
                statuses: vec![Status::Scheduled, Status::Draft],
                ..Default::default()
            },
            WorkOrderFilter {
                q: Some("leak".into()),
                ..Default::default()
            },
            WorkOrderFilter {
                statuses: vec![Status::Cancelled],
                q: Some("nothing matches this".into()),
                ..Default::default()
            },
        ];
        let mut with_photos = 0;
        for f in &filters {
            for (limit, offset) in [(100, 0), (7, 0), (7, 14), (50, 55), (20, 500)] {
                let (rows, total) = list(&c, f, limit, offset).unwrap();
                with_photos += rows
                    .iter()
                    .filter(|w| !w.completion_photos.before.is_empty())
                    .count();
                let mut out = b"prefix".to_vec();
                let json_total = list_json(&c, f, limit, offset, &mut out).unwrap();
                assert_eq!(json_total, total);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    format!("prefix{}", serde_json::to_string(&rows).unwrap()),
                    "{f:?} limit {limit} offset {offset}"
                );
            }
        }
        assert!(with_photos > 0, "the data have photos");
        // The extras reach the single view too.
        let w3 = get(&c, "w3").unwrap().unwrap();
        assert_eq!(
            w3.completion_photos.before,
            vec![attachment_url("a3-before-2"), attachment_url("a3-before-1")]
        );
        assert_eq!(
            w3.customer_signature,
            Some(attachment_url("sig-stored-3")),
            "the stored signature wins over uploads"
        );
        assert_eq!(w3.invoice_id.as_deref(), Some("inv-w3"));
        assert_eq!(
            get(&c, "w8").unwrap().unwrap().customer_signature,
            Some(attachment_url("a8-signature-1")),
            "the newest signature upload"
        );
        assert_eq!(get(&c, "w1").unwrap().unwrap().invoice_id, None);
    }

    #[test]
    fn the_dispatch_board_reads_the_date_index_and_the_tray_the_status_index() {
        let c = db();
        let p = plan(
            &c,
            &format!(
                "{SELECT} WHERE w.scheduled_date >= ?1 AND w.scheduled_date <= ?2
                   AND w.status <> 'cancelled'
                 ORDER BY w.scheduled_date, w.scheduled_time, w.number"
            ),
            &[SqlValue::Text("a".into()), SqlValue::Text("b".into())],
        );
        assert!(p.contains("work_orders_scheduled"), "{p}");
        c.execute_batch(
            "INSERT INTO customers (id, name, created_at, updated_at) VALUES ('c', 'Ann', 't', 't');
             INSERT INTO work_orders (id, number, customer_id, service_type, status, scheduled_date, created_at, updated_at)
             VALUES ('w1', 1, 'c', 'Leak', 'draft', NULL, '2026-01-01', 't'),
                    ('w2', 2, 'c', 'Leak', 'draft', '2026-03-02', '2026-01-02', 't'),
                    ('w3', 3, 'c', 'Leak', 'cancelled', '2026-03-02', '2026-01-03', 't'),
                    ('w4', 4, 'c', 'Leak', 'completed', '2026-03-03', '2026-01-04', 't'),
                    ('w5', 5, 'c', 'Leak', 'draft', NULL, '2026-01-05', 't');",
        )
        .unwrap();
        let on = on_board(&c, "2026-03-01", "2026-03-03").unwrap();
        let ids: Vec<&str> = on.iter().map(|w| w.id.as_str()).collect();
        assert_eq!(ids, ["w2", "w4"], "cancelled jobs are not on the board");
        let (tray, total) = undated_drafts(&c, 1).unwrap();
        assert_eq!(
            (tray[0].id.as_str(), total),
            ("w5", 2),
            "newest first, all counted"
        );
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
