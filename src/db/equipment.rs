//! Repository for equipment and loadouts (named sets of equipment). Functions
//! take a `&Connection` and run inside [`super::Db::read`] or
//! [`super::Db::write`] closures; every mutation writes its audit record in
//! the same closure (entities `equipment` and `loadout`).

use super::audit::{self, Actor, Change};
use super::{DbError, util::optional};
use crate::clock::format_ts;
use crate::domain::employee::like_contains;
use crate::domain::equipment::{
    Equipment, EquipmentFields, EquipmentStatus, Loadout, LoadoutEquipment, LoadoutFields,
    check_loadout_equipment,
};
use crate::domain::money::Money;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, Row, params};
use serde_json::Value;

const COLS: &str =
    "id, name, type, hourly_cost_cents, status, next_maintenance_date, created_at, updated_at";

fn status_at(r: &Row<'_>, i: usize) -> rusqlite::Result<EquipmentStatus> {
    let s: String = r.get(i)?;
    s.parse()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e)))
}

fn date_at(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<NaiveDate>> {
    let s: Option<String> = r.get(i)?;
    s.map(|s| {
        NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e)))
    })
    .transpose()
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Equipment> {
    Ok(Equipment {
        id: r.get(0)?,
        fields: EquipmentFields {
            name: r.get(1)?,
            kind: r.get(2)?,
            hourly_cost: Money::from_cents(r.get(3)?),
            status: status_at(r, 4)?,
            next_maintenance_date: date_at(r, 5)?,
        },
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

fn view<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn ymd(d: Option<NaiveDate>) -> Option<String> {
    d.map(|d| d.format("%Y-%m-%d").to_string())
}

/// The equipment item with `id`, if any. Fails only on database errors.
pub fn get(c: &Connection, id: &str) -> Result<Option<Equipment>, DbError> {
    optional(c.query_row(
        &format!("SELECT {COLS} FROM equipment WHERE id = ?1"),
        [id],
        from_row,
    ))
}

/// Inserts an equipment item (and its audit record). Fails only on database errors.
pub fn insert(
    c: &Connection,
    actor: &Actor,
    id: &str,
    fields: EquipmentFields,
    now: DateTime<Utc>,
) -> Result<Equipment, DbError> {
    let ts = format_ts(now);
    let eq = Equipment {
        id: id.to_string(),
        fields,
        created_at: ts.clone(),
        updated_at: ts,
    };
    let f = &eq.fields;
    c.execute(
        "INSERT INTO equipment (id, name, type, hourly_cost_cents, status, next_maintenance_date, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![eq.id, f.name, f.kind, f.hourly_cost.cents(), f.status.as_str(), ymd(f.next_maintenance_date), eq.created_at],
    )?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "equipment",
            entity_id: id,
            action: "create",
            before: &Value::Null,
            after: &view(&eq),
        },
    )?;
    Ok(eq)
}

/// Replaces an item's fields with `merge(current)`; `merge` validates.
/// Fails with `NotFound` or `merge`'s error.
pub fn update(
    c: &Connection,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
    merge: impl FnOnce(&EquipmentFields) -> Result<EquipmentFields, DbError>,
) -> Result<Equipment, DbError> {
    let before = get(c, id)?.ok_or(DbError::NotFound)?;
    let after = Equipment {
        fields: merge(&before.fields)?,
        updated_at: format_ts(now),
        ..before.clone()
    };
    let f = &after.fields;
    c.execute(
        "UPDATE equipment SET name = ?2, type = ?3, hourly_cost_cents = ?4, status = ?5,
         next_maintenance_date = ?6, updated_at = ?7 WHERE id = ?1",
        params![
            id,
            f.name,
            f.kind,
            f.hourly_cost.cents(),
            f.status.as_str(),
            ymd(f.next_maintenance_date),
            after.updated_at
        ],
    )?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "equipment",
            entity_id: id,
            action: "update",
            before: &view(&before),
            after: &view(&after),
        },
    )?;
    Ok(after)
}

/// Deletes an equipment item that is in no loadout. Fails with `NotFound`, or
/// `Rejected` naming the loadouts it is in and how many work orders use them.
pub fn delete(c: &Connection, actor: &Actor, id: &str, now: DateTime<Utc>) -> Result<(), DbError> {
    let before = get(c, id)?.ok_or(DbError::NotFound)?;
    let mut st = c.prepare(
        "SELECT l.name FROM loadout_items i JOIN loadouts l ON l.id = i.loadout_id
         WHERE i.equipment_id = ?1 ORDER BY l.name COLLATE NOCASE",
    )?;
    let loadouts: Vec<String> = st
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if !loadouts.is_empty() {
        let work_orders: i64 = c.query_row(
            "SELECT count(*) FROM work_orders WHERE loadout_id IN
             (SELECT loadout_id FROM loadout_items WHERE equipment_id = ?1)",
            [id],
            |r| r.get(0),
        )?;
        let names = loadouts
            .iter()
            .take(3)
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let more = if loadouts.len() > 3 { ", …" } else { "" };
        return Err(DbError::Rejected(format!(
            "this equipment is in {} loadout(s) ({names}{more}) used by {work_orders} work order(s); \
             remove it from those loadouts first, or set its status to retired",
            loadouts.len()
        )));
    }
    c.execute("DELETE FROM equipment WHERE id = ?1", [id])?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "equipment",
            entity_id: id,
            action: "delete",
            before: &view(&before),
            after: &Value::Null,
        },
    )
}

/// Filters for [`list`]; `None` means any.
#[derive(Debug, Clone)]
pub struct EquipmentFilter {
    /// Only items with this status.
    pub status: Option<EquipmentStatus>,
    /// Only items of this type (case-insensitive exact match).
    pub kind: Option<String>,
    /// Substring of name or type (case-insensitive; taken literally).
    pub q: Option<String>,
    /// `true`: only items whose maintenance is due (a next maintenance date on
    /// or before `today`, not retired); `false`: only items not due.
    pub maintenance_due: Option<bool>,
    /// The business's today, for `maintenance_due`.
    pub today: NaiveDate,
}

/// One page of equipment matching `f`, by name, with the total number of
/// matches. Fails only on database errors.
pub fn list(
    c: &Connection,
    f: &EquipmentFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Equipment>, i64), DbError> {
    const DUE: &str = "(status <> 'retired' AND next_maintenance_date IS NOT NULL AND next_maintenance_date <= ?5)";
    let where_ = format!(
        "(?1 IS NULL OR status = ?1)
         AND (?2 IS NULL OR type = ?2 COLLATE NOCASE)
         AND (?3 IS NULL OR name LIKE ?3 ESCAPE '\\' OR type LIKE ?3 ESCAPE '\\')
         AND (?4 IS NULL OR (?4 = 1 AND {DUE}) OR (?4 = 0 AND NOT {DUE}))"
    );
    let status = f.status.map(EquipmentStatus::as_str);
    let pattern = f.q.as_deref().map(like_contains);
    let today = f.today.format("%Y-%m-%d").to_string();
    let total: i64 = c.query_row(
        &format!("SELECT count(*) FROM equipment WHERE {where_}"),
        params![status, f.kind, pattern, f.maintenance_due, today],
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "SELECT {COLS} FROM equipment WHERE {where_}
         ORDER BY name COLLATE NOCASE, id LIMIT ?6 OFFSET ?7"
    ))?;
    let rows = st.query_map(
        params![
            status,
            f.kind,
            pattern,
            f.maintenance_due,
            today,
            limit,
            offset
        ],
        from_row,
    )?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

// ---------------------------------------------------------------- loadouts

/// The equipment in loadout `loadout_id`, by name. Fails only on database errors.
pub fn loadout_equipment(
    c: &Connection,
    loadout_id: &str,
) -> Result<Vec<LoadoutEquipment>, DbError> {
    let mut st = c.prepare(
        "SELECT e.id, e.name, e.type, e.hourly_cost_cents, e.status
         FROM loadout_items i JOIN equipment e ON e.id = i.equipment_id
         WHERE i.loadout_id = ?1 ORDER BY e.name COLLATE NOCASE, e.id",
    )?;
    let rows = st.query_map([loadout_id], |r| {
        Ok(LoadoutEquipment {
            id: r.get(0)?,
            name: r.get(1)?,
            kind: r.get(2)?,
            hourly_cost: Money::from_cents(r.get(3)?),
            status: status_at(r, 4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

const LOADOUT_COLS: &str = "id, name, description, created_at, updated_at";

type LoadoutRow = (String, String, String, String, String);

fn loadout_row(r: &Row<'_>) -> rusqlite::Result<LoadoutRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn assemble(c: &Connection, row: LoadoutRow) -> Result<Loadout, DbError> {
    let (id, name, description, created_at, updated_at) = row;
    let equipment = loadout_equipment(c, &id)?;
    Ok(Loadout::assemble(
        id,
        name,
        description,
        equipment,
        created_at,
        updated_at,
    ))
}

/// The loadout with `id`, with its equipment, if any. Fails only on database errors.
pub fn get_loadout(c: &Connection, id: &str) -> Result<Option<Loadout>, DbError> {
    match optional(c.query_row(
        &format!("SELECT {LOADOUT_COLS} FROM loadouts WHERE id = ?1"),
        [id],
        loadout_row,
    ))? {
        Some(row) => assemble(c, row).map(Some),
        None => Ok(None),
    }
}

/// Checks the name is free (case-insensitive) and, when the set changed,
/// that every item exists and is not retired. Fails with `Rejected` for a
/// taken name, or `equipmentIds[i]` validation errors.
fn check_loadout(c: &Connection, id: &str, f: &LoadoutFields) -> Result<(), DbError> {
    let taken: Option<String> = optional(c.query_row(
        "SELECT name FROM loadouts WHERE name = ?1 COLLATE NOCASE AND id <> ?2",
        params![f.name, id],
        |r| r.get(0),
    ))?;
    if let Some(other) = taken {
        return Err(DbError::Rejected(format!(
            "a loadout named \"{other}\" already exists; loadout names must be unique"
        )));
    }
    if f.equipment_changed {
        let mut st = c.prepare("SELECT status FROM equipment WHERE id = ?1")?;
        let mut failure: Option<DbError> = None;
        let checked = check_loadout_equipment(&f.equipment_ids, |eid| {
            match optional(st.query_row([eid], |r| status_at(r, 0))) {
                Ok(s) => s,
                Err(e) => {
                    failure.get_or_insert(e);
                    None
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        checked?;
    }
    Ok(())
}

fn write_items(c: &Connection, id: &str, ids: &[String]) -> Result<(), DbError> {
    c.execute("DELETE FROM loadout_items WHERE loadout_id = ?1", [id])?;
    let mut st =
        c.prepare("INSERT INTO loadout_items (loadout_id, equipment_id) VALUES (?1, ?2)")?;
    for eid in ids {
        st.execute(params![id, eid])?;
    }
    Ok(())
}

/// Inserts a loadout with its equipment (and its audit record). Fails with
/// `Rejected` when the name is taken, or `equipmentIds[i]` validation errors
/// for unknown or retired equipment.
pub fn insert_loadout(
    c: &Connection,
    actor: &Actor,
    id: &str,
    fields: LoadoutFields,
    now: DateTime<Utc>,
) -> Result<Loadout, DbError> {
    let fields = LoadoutFields {
        equipment_changed: true,
        ..fields
    };
    check_loadout(c, id, &fields)?;
    let ts = format_ts(now);
    c.execute(
        "INSERT INTO loadouts (id, name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![id, fields.name, fields.description, ts],
    )?;
    write_items(c, id, &fields.equipment_ids)?;
    let loadout = get_loadout(c, id)?.ok_or(DbError::NotFound)?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "loadout",
            entity_id: id,
            action: "create",
            before: &Value::Null,
            after: &view(&loadout),
        },
    )?;
    Ok(loadout)
}

/// Replaces a loadout's fields with `merge(current)` (`merge` validates; a
/// new equipment set replaces the old one). Fails with `NotFound`, `merge`'s
/// error, or the errors of [`insert_loadout`].
pub fn update_loadout(
    c: &Connection,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
    merge: impl FnOnce(&LoadoutFields) -> Result<LoadoutFields, DbError>,
) -> Result<Loadout, DbError> {
    let before = get_loadout(c, id)?.ok_or(DbError::NotFound)?;
    let base = LoadoutFields {
        name: before.name.clone(),
        description: before.description.clone(),
        equipment_ids: before.equipment_ids.clone(),
        equipment_changed: false,
    };
    let fields = merge(&base)?;
    check_loadout(c, id, &fields)?;
    c.execute(
        "UPDATE loadouts SET name = ?2, description = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, fields.name, fields.description, format_ts(now)],
    )?;
    if fields.equipment_changed {
        write_items(c, id, &fields.equipment_ids)?;
    }
    let after = get_loadout(c, id)?.ok_or(DbError::NotFound)?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "loadout",
            entity_id: id,
            action: "update",
            before: &view(&before),
            after: &view(&after),
        },
    )?;
    Ok(after)
}

/// Deletes a loadout no work order uses. Fails with `NotFound`, or
/// `Rejected`: when open work orders (draft, scheduled, in progress) use it,
/// naming the first; when only closed ones do, saying it is kept for their history.
pub fn delete_loadout(
    c: &Connection,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let before = get_loadout(c, id)?.ok_or(DbError::NotFound)?;
    let (open, first_open, closed): (i64, Option<i64>, i64) = c.query_row(
        "SELECT count(*) FILTER (WHERE status IN ('draft', 'scheduled', 'in_progress')),
                min(number) FILTER (WHERE status IN ('draft', 'scheduled', 'in_progress')),
                count(*) FILTER (WHERE status NOT IN ('draft', 'scheduled', 'in_progress'))
         FROM work_orders WHERE loadout_id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    if open > 0 {
        return Err(DbError::Rejected(format!(
            "this loadout is used by {open} open work order(s) (e.g. WO-{:06}); \
             take it off those work orders (or finish or cancel them) first",
            first_open.unwrap_or(0)
        )));
    }
    if closed > 0 {
        return Err(DbError::Rejected(format!(
            "this loadout is recorded on {closed} completed or cancelled work order(s) and is kept \
             for their history and equipment reports; rename it or change its equipment instead"
        )));
    }
    c.execute("DELETE FROM loadouts WHERE id = ?1", [id])?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "loadout",
            entity_id: id,
            action: "delete",
            before: &view(&before),
            after: &Value::Null,
        },
    )
}

/// Filters for [`list_loadouts`]; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct LoadoutFilter {
    /// Substring of name or description (case-insensitive; taken literally).
    pub q: Option<String>,
    /// Only loadouts containing this equipment item.
    pub equipment_id: Option<String>,
}

/// One page of loadouts (with their equipment) matching `f`, by name, with
/// the total number of matches. Fails only on database errors.
pub fn list_loadouts(
    c: &Connection,
    f: &LoadoutFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Loadout>, i64), DbError> {
    const WHERE: &str = "(?1 IS NULL OR name LIKE ?1 ESCAPE '\\' OR description LIKE ?1 ESCAPE '\\')
        AND (?2 IS NULL OR EXISTS (SELECT 1 FROM loadout_items i WHERE i.loadout_id = loadouts.id AND i.equipment_id = ?2))";
    let pattern = f.q.as_deref().map(like_contains);
    let total: i64 = c.query_row(
        &format!("SELECT count(*) FROM loadouts WHERE {WHERE}"),
        params![pattern, f.equipment_id],
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "SELECT {LOADOUT_COLS} FROM loadouts WHERE {WHERE}
         ORDER BY name COLLATE NOCASE, id LIMIT ?3 OFFSET ?4"
    ))?;
    let rows: Vec<LoadoutRow> = st
        .query_map(params![pattern, f.equipment_id, limit, offset], loadout_row)?
        .collect::<Result<_, _>>()?;
    let loadouts = rows
        .into_iter()
        .map(|row| assemble(c, row))
        .collect::<Result<_, _>>()?;
    Ok((loadouts, total))
}
