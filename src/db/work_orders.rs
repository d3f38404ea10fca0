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

/// Everything a work order view needs, from `work_orders w`, its customer `c`
/// and its technician `e`. Photos, signature and invoice are correlated
/// subqueries, evaluated only for the rows returned.
const SELECT: &str = "SELECT w.id, w.number, w.customer_id, COALESCE(c.name, ''), w.service_type,
    w.status, w.priority, w.scheduled_date, w.scheduled_time, w.window_start, w.window_end,
    w.estimated_minutes, w.actual_minutes, w.assigned_employee_id, e.name, e.user_id, w.loadout_id,
    w.job_description, w.special_instructions, w.estimated_cost_cents, w.actual_cost_cents,
    w.quoted_price_cents, w.final_price_cents, w.customer_notes, w.completion_notes,
    COALESCE(w.signature_id, (SELECT a.id FROM attachments a WHERE a.work_order_id = w.id
        AND a.kind = 'signature' ORDER BY a.created_at DESC, a.rowid DESC LIMIT 1)),
    w.lead_id, w.started_at, w.completed_at, w.cancelled_at, w.cancel_reason, w.created_at,
    w.updated_at,
    (SELECT i.id FROM invoices i WHERE i.work_order_id = w.id),
    (SELECT json_group_array(x.id) FROM (SELECT a.id FROM attachments a WHERE a.work_order_id = w.id
        AND a.kind = 'before' ORDER BY a.created_at, a.rowid) x),
    (SELECT json_group_array(x.id) FROM (SELECT a.id FROM attachments a WHERE a.work_order_id = w.id
        AND a.kind = 'after' ORDER BY a.created_at, a.rowid) x)
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

fn photo_urls(json_ids: Option<String>) -> Vec<String> {
    json_ids
        .and_then(|s| serde_json::from_str::<Vec<String>>(&s).ok())
        .unwrap_or_default()
        .iter()
        .map(|id| attachment_url(id))
        .collect()
}

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
        invoice_id: r.get(33)?,
        completion_photos: CompletionPhotos {
            before: photo_urls(r.get(34)?),
            after: photo_urls(r.get(35)?),
        },
    })
}

fn view(wo: &WorkOrder) -> Value {
    serde_json::to_value(wo).unwrap_or(Value::Null)
}

/// The work order with `id`, if any. Fails only on database errors.
pub fn get(c: &Connection, id: &str) -> Result<Option<WorkOrder>, DbError> {
    optional(
        c.prepare_cached(&format!("{SELECT} WHERE w.id = ?1"))?
            .query_row([id], from_row),
    )
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

/// One page of work orders matching `f`, newest first, with the total number
/// of matches. Fails only on database errors.
pub fn list(
    c: &Connection,
    f: &WorkOrderFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<WorkOrder>, i64), DbError> {
    let total = match counted_total(c, f)? {
        Some(n) => n,
        None => {
            let (clause, vals) = where_clause(f);
            c.prepare_cached(&format!("SELECT count(*) FROM work_orders w{clause}"))?
                .query_row(params_from_iter(vals.iter()), |r| r.get(0))?
        }
    };
    if total == 0 || offset >= total {
        return Ok((Vec::new(), total));
    }
    let (sql, vals) = page_sql(f, limit, offset);
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(vals.iter()), from_row)?;
    Ok((rows.collect::<Result<_, _>>()?, total))
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
