//! Repository for employees. Functions take a `&Connection` and run inside
//! [`super::Db::read`] or [`super::Db::write`] closures; every mutation writes
//! its audit record in the same closure (entity `employee`).

use super::audit::{self, Actor, Change};
use super::{DbError, util::optional};
use crate::clock::format_ts;
use crate::domain::DomainError;
use crate::domain::employee::{Employee, EmployeeFields, like_contains};
use crate::domain::money::Money;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use serde_json::Value;

const COLS: &str =
    "id, name, email, user_id, trade, skills, hourly_rate_cents, active, created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Employee> {
    let skills: String = r.get(5)?;
    Ok(Employee {
        id: r.get(0)?,
        fields: EmployeeFields {
            name: r.get(1)?,
            email: r.get(2)?,
            user_id: r.get(3)?,
            trade: r.get(4)?,
            skills: serde_json::from_str(&skills).unwrap_or_default(),
            hourly_rate: Money::from_cents(r.get(6)?),
            active: r.get(7)?,
        },
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

fn view(e: &Employee) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

/// The employee with `id`, if any. Fails only on database errors.
pub fn get(c: &Connection, id: &str) -> Result<Option<Employee>, DbError> {
    optional(c.query_row(
        &format!("SELECT {COLS} FROM employees WHERE id = ?1"),
        [id],
        from_row,
    ))
}

/// The employee linked to the user `user_id`, if any (at most one can be).
/// Fails only on database errors.
pub fn by_user(c: &Connection, user_id: &str) -> Result<Option<Employee>, DbError> {
    optional(c.query_row(
        &format!("SELECT {COLS} FROM employees WHERE user_id = ?1"),
        [user_id],
        from_row,
    ))
}

/// Checks that `user_id` (if any) names an existing user not linked to an
/// employee other than `employee_id`. Fails with a `userId` validation error
/// (no such user) or `Rejected` (already linked).
fn check_user_link(
    c: &Connection,
    employee_id: &str,
    user_id: Option<&str>,
) -> Result<(), DbError> {
    let Some(user_id) = user_id else {
        return Ok(());
    };
    let exists: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)",
        [user_id],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(DomainError::field("userId", "no such user").into());
    }
    if let Some(other) = by_user(c, user_id)?.filter(|e| e.id != employee_id) {
        return Err(DbError::Rejected(format!(
            "that user is already linked to employee \"{}\" ({}); an account can belong to one employee only",
            other.fields.name, other.id
        )));
    }
    Ok(())
}

fn write_row(c: &Connection, e: &Employee, insert: bool) -> Result<(), DbError> {
    let f = &e.fields;
    let skills = serde_json::to_string(&f.skills).unwrap_or_else(|_| "[]".into());
    if insert {
        c.execute(
            "INSERT INTO employees (id, name, email, user_id, trade, skills, hourly_rate_cents, active, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
            params![e.id, f.name, f.email, f.user_id, f.trade, skills, f.hourly_rate.cents(), f.active, e.created_at],
        )?;
    } else {
        c.execute(
            "UPDATE employees SET name = ?2, email = ?3, user_id = ?4, trade = ?5, skills = ?6,
             hourly_rate_cents = ?7, active = ?8, updated_at = ?9 WHERE id = ?1",
            params![
                e.id,
                f.name,
                f.email,
                f.user_id,
                f.trade,
                skills,
                f.hourly_rate.cents(),
                f.active,
                e.updated_at
            ],
        )?;
    }
    Ok(())
}

/// Inserts an employee (and its audit record). Fails with a `userId`
/// validation error for an unknown user, or `Rejected` when that user is
/// already linked to another employee.
pub fn insert(
    c: &Connection,
    actor: &Actor,
    id: &str,
    fields: EmployeeFields,
    now: DateTime<Utc>,
) -> Result<Employee, DbError> {
    check_user_link(c, id, fields.user_id.as_deref())?;
    let ts = format_ts(now);
    let emp = Employee {
        id: id.to_string(),
        fields,
        created_at: ts.clone(),
        updated_at: ts,
    };
    write_row(c, &emp, true)?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "employee",
            entity_id: id,
            action: "create",
            before: &Value::Null,
            after: &view(&emp),
        },
    )?;
    Ok(emp)
}

/// Replaces an employee's fields with `merge(current)`; `merge` validates.
/// Fails with `NotFound`, `merge`'s error, or the user-link errors of [`insert`].
pub fn update(
    c: &Connection,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
    merge: impl FnOnce(&EmployeeFields) -> Result<EmployeeFields, DbError>,
) -> Result<Employee, DbError> {
    let before = get(c, id)?.ok_or(DbError::NotFound)?;
    let after = Employee {
        fields: merge(&before.fields)?,
        updated_at: format_ts(now),
        ..before.clone()
    };
    if after.fields.user_id != before.fields.user_id {
        check_user_link(c, id, after.fields.user_id.as_deref())?;
    }
    write_row(c, &after, false)?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "employee",
            entity_id: id,
            action: "update",
            before: &view(&before),
            after: &view(&after),
        },
    )?;
    Ok(after)
}

/// Deletes an employee no work order refers to. Fails with `NotFound`, or
/// `Rejected` saying how many work orders refer to them and to deactivate
/// them instead.
pub fn delete(c: &Connection, actor: &Actor, id: &str, now: DateTime<Utc>) -> Result<(), DbError> {
    let before = get(c, id)?.ok_or(DbError::NotFound)?;
    let (count, first): (i64, Option<i64>) = c.query_row(
        "SELECT count(*), min(number) FROM work_orders WHERE assigned_employee_id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if count > 0 {
        return Err(DbError::Rejected(format!(
            "this employee is assigned to {count} work order(s) (e.g. WO-{:06}) and is kept for their history; \
             set active to false instead of deleting",
            first.unwrap_or(0)
        )));
    }
    c.execute("DELETE FROM employees WHERE id = ?1", [id])?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "employee",
            entity_id: id,
            action: "delete",
            before: &view(&before),
            after: &Value::Null,
        },
    )
}

/// A user account an employee can be linked to, for the employee form.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkableUser {
    /// User id.
    pub id: String,
    /// E-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// owner | office | technician.
    pub role: String,
    /// Whether the account is active.
    pub active: bool,
    /// The employee it is linked to, if any.
    pub employee_id: Option<String>,
    /// That employee's name.
    pub employee_name: Option<String>,
}

/// Every user account (at most 1000, by e-mail) with the employee each is
/// linked to. Fails only on database errors.
pub fn linkable_users(c: &Connection) -> Result<Vec<LinkableUser>, DbError> {
    let mut st = c.prepare(
        "SELECT u.id, u.email, u.name, u.role, u.active, e.id, e.name
         FROM users u LEFT JOIN employees e ON e.user_id = u.id
         ORDER BY u.email LIMIT 1000",
    )?;
    let rows = st.query_map([], |r| {
        Ok(LinkableUser {
            id: r.get(0)?,
            email: r.get(1)?,
            name: r.get(2)?,
            role: r.get(3)?,
            active: r.get(4)?,
            employee_id: r.get(5)?,
            employee_name: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Filters for [`list`]; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct EmployeeFilter {
    /// Only active (`true`) or inactive (`false`) employees.
    pub active: Option<bool>,
    /// Only employees listing this skill (case-insensitive exact match).
    pub skill: Option<String>,
    /// Only employees of this trade (case-insensitive exact match).
    pub trade: Option<String>,
    /// Substring of name, trade or e-mail (case-insensitive; taken literally).
    pub q: Option<String>,
}

/// One page of employees matching `f`, by name, with the total number of
/// matches. Fails only on database errors.
pub fn list(
    c: &Connection,
    f: &EmployeeFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Employee>, i64), DbError> {
    const WHERE: &str = "(?1 IS NULL OR active = ?1)
        AND (?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(employees.skills) s WHERE lower(s.value) = lower(?2)))
        AND (?3 IS NULL OR trade = ?3 COLLATE NOCASE)
        AND (?4 IS NULL OR name LIKE ?4 ESCAPE '\\' OR trade LIKE ?4 ESCAPE '\\' OR email LIKE ?4 ESCAPE '\\')";
    let pattern = f.q.as_deref().map(like_contains);
    let total: i64 = c.query_row(
        &format!("SELECT count(*) FROM employees WHERE {WHERE}"),
        params![f.active, f.skill, f.trade, pattern],
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "SELECT {COLS} FROM employees WHERE {WHERE}
         ORDER BY name COLLATE NOCASE, id LIMIT ?5 OFFSET ?6"
    ))?;
    let rows = st.query_map(
        params![f.active, f.skill, f.trade, pattern, limit, offset],
        from_row,
    )?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}
