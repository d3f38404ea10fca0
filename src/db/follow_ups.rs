//! Repository for customer follow-ups: reading them (with the work order
//! number and customer name), adding one, and updating status, note and due
//! date — each change audited in the same write. Follow-ups made by a work
//! order's completion may use [`insert`] too.

use super::audit::{self, Actor, Change};
use super::{DbError, util::optional};
use crate::clock::format_ts;
use crate::domain::DomainError;
use crate::domain::billing::work_order_number;
use crate::domain::follow_up::{FollowUp, FollowUpFields, FollowUpStatus, NewFollowUp};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use serde_json::Value;

const SELECT: &str = "SELECT f.id, f.work_order_id, w.number, f.customer_id, cu.name,
        f.due_date, f.status, f.note, f.completed_at, f.created_at, f.updated_at
    FROM follow_ups f
    JOIN customers cu ON cu.id = f.customer_id
    LEFT JOIN work_orders w ON w.id = f.work_order_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<FollowUp> {
    let status: String = r.get(6)?;
    Ok(FollowUp {
        id: r.get(0)?,
        work_order_id: r.get(1)?,
        work_order_number: r.get::<_, Option<i64>>(2)?.map(work_order_number),
        customer_id: r.get(3)?,
        customer_name: r.get(4)?,
        due_date: r.get(5)?,
        status: FollowUpStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                6,
                rusqlite::types::Type::Text,
                format!("unknown follow-up status {status:?}").into(),
            )
        })?,
        note: r.get(7)?,
        completed_at: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

fn view(f: &FollowUp) -> Value {
    serde_json::to_value(f).unwrap_or(Value::Null)
}

/// The follow-up with `id`, if any.
pub fn get(c: &Connection, id: &str) -> Result<Option<FollowUp>, DbError> {
    optional(c.query_row(&format!("{SELECT} WHERE f.id = ?1"), [id], from_row))
}

/// Filters for [`list`]; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct FollowUpFilter {
    /// Status.
    pub status: Option<FollowUpStatus>,
    /// Customer id.
    pub customer_id: Option<String>,
    /// Due on or after (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Due on or before (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// Only open follow-ups due before this date (today in the business time zone).
    pub overdue_on: Option<String>,
}

/// One page of follow-ups, soonest due first, with the total.
pub fn list(
    c: &Connection,
    f: &FollowUpFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<FollowUp>, i64), DbError> {
    const WHERE: &str = "(?1 IS NULL OR f.status = ?1) AND (?2 IS NULL OR f.customer_id = ?2)
        AND (?3 IS NULL OR f.due_date >= ?3) AND (?4 IS NULL OR f.due_date <= ?4)
        AND (?5 IS NULL OR (f.status = 'open' AND f.due_date < ?5))";
    let status = f.status.map(FollowUpStatus::as_str);
    let total: i64 = c.query_row(
        &format!("SELECT count(*) FROM follow_ups f WHERE {WHERE}"),
        params![status, f.customer_id, f.from, f.to, f.overdue_on],
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "{SELECT} WHERE {WHERE} ORDER BY f.due_date, f.created_at, f.rowid LIMIT ?6 OFFSET ?7"
    ))?;
    let rows = st.query_map(
        params![
            status,
            f.customer_id,
            f.from,
            f.to,
            f.overdue_on,
            limit,
            offset
        ],
        from_row,
    )?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

/// Adds an open follow-up. Fails with a validation error on `customerId`
/// for an unknown customer, or on `workOrderId` for an unknown work order or
/// one of another customer.
pub fn insert(
    c: &Connection,
    actor: &Actor,
    id: &str,
    new: NewFollowUp,
    now: DateTime<Utc>,
) -> Result<FollowUp, DbError> {
    let known: Option<i64> = optional(c.query_row(
        "SELECT 1 FROM customers WHERE id = ?1",
        [&new.customer_id],
        |r| r.get(0),
    ))?;
    if known.is_none() {
        return Err(DomainError::field("customerId", "no customer has this id").into());
    }
    if let Some(wo) = &new.work_order_id {
        let owner: Option<String> = optional(c.query_row(
            "SELECT customer_id FROM work_orders WHERE id = ?1",
            [wo],
            |r| r.get(0),
        ))?;
        match owner {
            None => {
                return Err(DomainError::field("workOrderId", "no work order has this id").into());
            }
            Some(o) if o != new.customer_id => {
                return Err(DomainError::field(
                    "workOrderId",
                    "this work order belongs to another customer",
                )
                .into());
            }
            Some(_) => {}
        }
    }
    let ts = format_ts(now);
    c.execute(
        "INSERT INTO follow_ups (id, work_order_id, customer_id, due_date, status, note, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?6)",
        params![id, new.work_order_id, new.customer_id, new.due_date, new.note, ts],
    )?;
    let after = get(c, id)?.ok_or(DbError::NotFound)?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "follow_up",
            entity_id: id,
            action: "create",
            before: &Value::Null,
            after: &view(&after),
        },
    )?;
    Ok(after)
}

/// Replaces a follow-up's status, note, due date and completion time with
/// `merge(current)`; `merge` validates. Fails with `NotFound` or `merge`'s error.
pub fn update(
    c: &Connection,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
    merge: impl FnOnce(&FollowUpFields) -> Result<FollowUpFields, DbError>,
) -> Result<FollowUp, DbError> {
    let before = get(c, id)?.ok_or(DbError::NotFound)?;
    let f = merge(&before.fields())?;
    c.execute(
        "UPDATE follow_ups SET status = ?2, due_date = ?3, note = ?4, completed_at = ?5, updated_at = ?6
         WHERE id = ?1",
        params![
            id,
            f.status.as_str(),
            f.due_date,
            f.note,
            f.completed_at,
            format_ts(now)
        ],
    )?;
    let after = get(c, id)?.ok_or(DbError::NotFound)?;
    let action = if before.status != after.status {
        match after.status {
            FollowUpStatus::Done => "complete",
            FollowUpStatus::Cancelled => "cancel",
            FollowUpStatus::Open => "reopen",
        }
    } else {
        "update"
    };
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "follow_up",
            entity_id: id,
            action,
            before: &view(&before),
            after: &view(&after),
        },
    )?;
    Ok(after)
}
