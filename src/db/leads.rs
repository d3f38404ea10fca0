//! Repository for leads: intake, edits and status changes, and conversion —
//! matching or creating the customer, creating a draft work order and marking
//! the lead converted, all in the caller's one write. Every change is audited.

use super::audit::{self, Actor, Change};
use super::{DbError, customers, util::optional};
use crate::clock::format_ts;
use crate::domain::DomainError;
use crate::domain::billing::work_order_number;
use crate::domain::customer::{Customer, CustomerFields, CustomerInput};
use crate::domain::ids::new_id;
use crate::domain::lead::{Lead, LeadFields, LeadPatch, LeadStatus, Urgency};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use serde::Serialize;
use serde_json::Value;

const COLS: &str = "id, name, phone, email, service_type, description, urgency, source, status,
    customer_id, work_order_id, lost_reason, created_at, updated_at";

fn bad_value(col: usize, what: &str, v: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        format!("unknown {what} {v:?}").into(),
    )
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Lead> {
    let urgency: String = r.get(6)?;
    let status: String = r.get(8)?;
    Ok(Lead {
        id: r.get(0)?,
        fields: LeadFields {
            name: r.get(1)?,
            phone: r.get(2)?,
            email: r.get(3)?,
            service_type: r.get(4)?,
            description: r.get(5)?,
            urgency: Urgency::parse(&urgency).ok_or_else(|| bad_value(6, "urgency", &urgency))?,
            source: r.get(7)?,
        },
        status: LeadStatus::parse(&status).ok_or_else(|| bad_value(8, "status", &status))?,
        customer_id: r.get(9)?,
        work_order_id: r.get(10)?,
        lost_reason: r.get(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

fn view(l: &Lead) -> Value {
    serde_json::to_value(l).unwrap_or(Value::Null)
}

fn audit_lead(
    c: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    action: &str,
    before: Option<&Lead>,
    after: &Lead,
) -> Result<(), DbError> {
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "lead",
            entity_id: &after.id,
            action,
            before: &before.map(view).unwrap_or(Value::Null),
            after: &view(after),
        },
    )
}

/// The lead with `id`, if any.
pub fn get(c: &Connection, id: &str) -> Result<Option<Lead>, DbError> {
    optional(c.query_row(
        &format!("SELECT {COLS} FROM leads WHERE id = ?1"),
        [id],
        from_row,
    ))
}

/// Filters for [`list`]; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct LeadFilter {
    /// Status.
    pub status: Option<LeadStatus>,
    /// Text found (case-insensitively) in the name, e-mail, phone, service
    /// type or source.
    pub q: Option<String>,
}

/// One page of leads, newest first, with the total.
pub fn list(
    c: &Connection,
    f: &LeadFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Lead>, i64), DbError> {
    const WHERE: &str = "(?1 IS NULL OR status = ?1) AND (?2 IS NULL
        OR instr(lower(name), ?2) > 0 OR instr(email, ?2) > 0 OR instr(phone, ?2) > 0
        OR instr(lower(service_type), ?2) > 0 OR instr(lower(source), ?2) > 0)";
    let status = f.status.map(LeadStatus::as_str);
    let q = f.q.as_deref().map(str::to_lowercase);
    let total: i64 = c.query_row(
        &format!("SELECT count(*) FROM leads WHERE {WHERE}"),
        params![status, q],
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "SELECT {COLS} FROM leads WHERE {WHERE} ORDER BY created_at DESC, rowid DESC LIMIT ?3 OFFSET ?4"
    ))?;
    let rows = st.query_map(params![status, q, limit, offset], from_row)?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

fn write_row(c: &Connection, l: &Lead, insert: bool) -> Result<(), DbError> {
    let f = &l.fields;
    if insert {
        c.execute(
            "INSERT INTO leads (id, name, phone, email, service_type, description, urgency, source,
                status, customer_id, work_order_id, lost_reason, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                l.id,
                f.name,
                f.phone,
                f.email,
                f.service_type,
                f.description,
                f.urgency.as_str(),
                f.source,
                l.status.as_str(),
                l.customer_id,
                l.work_order_id,
                l.lost_reason,
                l.created_at,
                l.updated_at
            ],
        )?;
    } else {
        c.execute(
            "UPDATE leads SET name = ?2, phone = ?3, email = ?4, service_type = ?5, description = ?6,
                urgency = ?7, source = ?8, status = ?9, customer_id = ?10, work_order_id = ?11,
                lost_reason = ?12, updated_at = ?13
             WHERE id = ?1",
            params![
                l.id,
                f.name,
                f.phone,
                f.email,
                f.service_type,
                f.description,
                f.urgency.as_str(),
                f.source,
                l.status.as_str(),
                l.customer_id,
                l.work_order_id,
                l.lost_reason,
                l.updated_at
            ],
        )?;
    }
    Ok(())
}

/// Takes in a new lead (status `new`).
pub fn insert(
    c: &Connection,
    actor: &Actor,
    id: &str,
    fields: LeadFields,
    now: DateTime<Utc>,
) -> Result<Lead, DbError> {
    let ts = format_ts(now);
    let lead = Lead {
        id: id.to_string(),
        fields,
        status: LeadStatus::New,
        customer_id: None,
        work_order_id: None,
        lost_reason: None,
        created_at: ts.clone(),
        updated_at: ts,
    };
    write_row(c, &lead, true)?;
    audit_lead(c, actor, now, "create", None, &lead)?;
    Ok(lead)
}

/// Replaces an open lead's fields, status and lost reason with
/// `merge(current)`; `merge` validates (and applies the status rules).
/// Fails with `NotFound`, a conflict when the lead is converted or lost, or
/// `merge`'s error.
pub fn update(
    c: &Connection,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
    merge: impl FnOnce(&Lead) -> Result<(LeadFields, LeadStatus, Option<String>), DbError>,
) -> Result<Lead, DbError> {
    let before = get(c, id)?.ok_or(DbError::NotFound)?;
    before.status.ensure_open()?;
    let (fields, status, lost_reason) = merge(&before)?;
    let after = Lead {
        fields,
        status,
        lost_reason,
        updated_at: format_ts(now),
        ..before.clone()
    };
    write_row(c, &after, false)?;
    let action = match (before.status, after.status) {
        (a, b) if a == b => "update",
        (_, LeadStatus::Lost) => "lose",
        _ => "contact",
    };
    audit_lead(c, actor, now, action, Some(&before), &after)?;
    Ok(after)
}

/// Applies a `PATCH` to an open lead: edits its intake fields and/or moves
/// it to `contacted` or `lost` (with `lost_reason`). Used by the API and the
/// leads pages. Fails with `NotFound`; a conflict when the lead is converted
/// or lost or the status change is not allowed; or every field error of the
/// fields and the status change together.
pub fn patch(
    c: &Connection,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
    patch: LeadPatch,
) -> Result<Lead, DbError> {
    update(c, actor, id, now, |cur| {
        let (input, status, lost_reason) = patch.split();
        let fields = LeadFields::merge(&cur.fields, input);
        let change = match status {
            Some(to) => cur.status.change_to(to, lost_reason.as_deref()),
            None if lost_reason.is_some() => {
                cur.status.change_to(cur.status, lost_reason.as_deref())
            }
            None => Ok(cur.lost_reason.clone()),
        };
        let (fields, lost_reason) = merge_errors(fields, change)?;
        Ok((fields, status.unwrap_or(cur.status), lost_reason))
    })
}

/// Both results, or one error: a conflict first, else every field error of both.
fn merge_errors<A, B>(
    a: Result<A, DomainError>,
    b: Result<B, DomainError>,
) -> Result<(A, B), DbError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (_, Err(e @ DomainError::Conflict(_))) | (Err(e @ DomainError::Conflict(_)), _) => {
            Err(e.into())
        }
        (Err(DomainError::Validation(mut x)), Err(DomainError::Validation(y))) => {
            x.extend(y);
            Err(DomainError::Validation(x).into())
        }
        (Err(e), _) | (_, Err(e)) => Err(e.into()),
    }
}

/// What taking in a lead produced.
#[derive(Debug, Clone)]
pub enum Intake {
    /// The new lead (status `new`).
    Lead(Box<Lead>),
    /// With `[business] auto_convert_leads` on: its conversion.
    Converted(Box<Conversion>),
}

/// Takes in a new lead and, when `auto_convert` (`[business]
/// auto_convert_leads`) is on, converts it in the same write. Used by the
/// API and the leads pages. Fails as [`insert`] and [`convert`] fail.
pub fn intake(
    c: &Connection,
    actor: &Actor,
    id: &str,
    fields: LeadFields,
    now: DateTime<Utc>,
    auto_convert: bool,
) -> Result<Intake, DbError> {
    let lead = insert(c, actor, id, fields, now)?;
    if auto_convert {
        return Ok(Intake::Converted(Box::new(convert(c, actor, id, now)?)));
    }
    Ok(Intake::Lead(Box::new(lead)))
}

/// The draft work order made by a conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConvertedWorkOrder {
    /// UUIDv7.
    pub id: String,
    /// "WO-000123".
    pub work_order_number: String,
}

/// What a conversion produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Conversion {
    /// The lead, now converted.
    pub lead: Lead,
    /// The matched or new customer.
    pub customer: Customer,
    /// The new draft work order.
    pub work_order: ConvertedWorkOrder,
    /// Whether the customer already existed (matched by e-mail or phone).
    pub matched_existing_customer: bool,
}

/// Converts an open lead: matches a customer by e-mail (case-insensitive),
/// else by phone digits, or creates one; creates a draft work order (the
/// lead's service type or "General", its description, priority = urgency);
/// marks the lead converted. Runs inside the caller's write, so all of it
/// commits or none does. Fails with `NotFound`, or a conflict when the lead
/// is already converted or lost.
pub fn convert(
    c: &Connection,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Conversion, DbError> {
    let before = get(c, id)?.ok_or(DbError::NotFound)?;
    before.status.ensure_open()?;
    let f = &before.fields;
    let (customer, matched) = match customers::find_match(c, &f.email, &f.phone_digits())? {
        Some(found) => (found, true),
        None => {
            let fields = CustomerFields::merge(
                &CustomerFields::default(),
                CustomerInput {
                    name: Some(f.name.clone()),
                    email: Some(f.email.clone()),
                    phone: Some(f.phone.clone()),
                    ..Default::default()
                },
            )?;
            let cid = new_id(now).to_string();
            (customers::insert(c, actor, &cid, fields, now)?, false)
        }
    };
    let (wo_id, wo_number) = insert_draft_work_order(
        c,
        actor,
        now,
        &customer.id,
        &f.work_order_service_type(),
        &f.description,
        f.urgency.as_str(),
    )?;
    c.execute(
        "UPDATE work_orders SET lead_id = ?2 WHERE id = ?1",
        params![wo_id, before.id],
    )?;
    let after = Lead {
        status: LeadStatus::Converted,
        customer_id: Some(customer.id.clone()),
        work_order_id: Some(wo_id.clone()),
        updated_at: format_ts(now),
        ..before.clone()
    };
    write_row(c, &after, false)?;
    audit_lead(c, actor, now, "convert", Some(&before), &after)?;
    Ok(Conversion {
        lead: after,
        customer,
        work_order: ConvertedWorkOrder {
            id: wo_id,
            work_order_number: work_order_number(wo_number),
        },
        matched_existing_customer: matched,
    })
}

/// Creates the draft work order for a converted lead through the shared
/// work-order insert (numbering, validation, audit). Returns (id, number).
fn insert_draft_work_order(
    c: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    customer_id: &str,
    service_type: &str,
    description: &str,
    priority: &str,
) -> Result<(String, i64), DbError> {
    use crate::domain::work_order::{Priority, WorkOrderFields};
    let new = crate::db::work_orders::NewWorkOrder {
        fields: WorkOrderFields {
            customer_id: customer_id.to_string(),
            service_type: service_type.to_string(),
            job_description: description.to_string(),
            priority: Priority::parse(priority).unwrap_or_default(),
            ..WorkOrderFields::default()
        },
        ..Default::default()
    };
    let id = new_id(now).to_string();
    let wo = crate::db::work_orders::insert(c, actor, now, &id, &new)?;
    Ok((wo.id, wo.number))
}
