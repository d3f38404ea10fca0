//! The audit log: every mutation records who, when, which entity, what action
//! and a before/after diff — written by the same transaction as the change, so
//! the log and the data cannot disagree.

use super::{DbError, util::optional};
use crate::clock::format_ts;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::{Map, Value};

/// Who is making a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The user's id; `None` for the system (automations, demo seeding).
    pub user_id: Option<String>,
    /// What the log shows: the user's e-mail, or `system`.
    pub label: String,
    /// The request that made the change, when there was one.
    pub request_id: Option<String>,
}

impl Actor {
    /// Quant itself (automations, seeding).
    pub fn system() -> Self {
        Actor {
            user_id: None,
            label: "system".into(),
            request_id: None,
        }
    }
}

/// `{field: {"before": x, "after": y}}` for each top-level field that differs
/// between two JSON objects. Either side may be `Value::Null` (create/delete).
pub fn diff(before: &Value, after: &Value) -> Value {
    let empty = Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut out = Map::new();
    for key in b.keys().chain(a.keys().filter(|k| !b.contains_key(*k))) {
        let (bv, av) = (
            b.get(key).unwrap_or(&Value::Null),
            a.get(key).unwrap_or(&Value::Null),
        );
        if bv != av && key != "updatedAt" {
            out.insert(key.clone(), serde_json::json!({"before": bv, "after": av}));
        }
    }
    Value::Object(out)
}

/// One change to record.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// Entity kind, e.g. `customer`.
    pub entity: &'a str,
    /// Entity id.
    pub entity_id: &'a str,
    /// Action, e.g. `create`, `update`, `delete`, `schedule`.
    pub action: &'a str,
    /// The entity's API view before (`Value::Null` on create).
    pub before: &'a Value,
    /// The entity's API view after (`Value::Null` on delete).
    pub after: &'a Value,
}

/// Appends one audit record; only changed fields are stored.
pub fn record(
    c: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    ch: Change<'_>,
) -> Result<(), DbError> {
    let Change {
        entity,
        entity_id,
        action,
        before,
        after,
    } = ch;
    c.prepare_cached(
        "INSERT INTO audit_log (at, actor_user_id, actor, entity, entity_id, action, diff, request_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        format_ts(now),
        actor.user_id,
        actor.label,
        entity,
        entity_id,
        action,
        diff(before, after).to_string(),
        actor.request_id
    ])?;
    Ok(())
}

/// An audit record as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When.
    #[schema(format = DateTime)]
    pub at: String,
    /// User id, if a user.
    pub actor_user_id: Option<String>,
    /// E-mail or `system`.
    pub actor: String,
    /// Entity kind.
    pub entity: String,
    /// Entity id.
    pub entity_id: String,
    /// Action.
    pub action: String,
    /// Changed fields.
    pub diff: Value,
    /// Request id.
    pub request_id: Option<String>,
}

/// Filters for [`list`]; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// Entity kind.
    pub entity: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// Acting user id.
    pub actor_user_id: Option<String>,
    /// Action.
    pub action: Option<String>,
    /// At or after (RFC 3339).
    pub from: Option<String>,
    /// Before (RFC 3339).
    pub to: Option<String>,
}

/// One page of audit records matching `f`, newest first, with the total.
pub fn list(
    c: &Connection,
    f: &AuditFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AuditEntry>, i64), DbError> {
    const WHERE: &str = "(?1 IS NULL OR entity = ?1) AND (?2 IS NULL OR entity_id = ?2)
        AND (?3 IS NULL OR actor_user_id = ?3) AND (?4 IS NULL OR action = ?4)
        AND (?5 IS NULL OR at >= ?5) AND (?6 IS NULL OR at < ?6)";
    let p = params![
        f.entity,
        f.entity_id,
        f.actor_user_id,
        f.action,
        f.from,
        f.to
    ];
    let total: i64 = c.query_row(
        &format!("SELECT count(*) FROM audit_log WHERE {WHERE}"),
        p,
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "SELECT id, at, actor_user_id, actor, entity, entity_id, action, diff, request_id
         FROM audit_log WHERE {WHERE} ORDER BY id DESC LIMIT ?7 OFFSET ?8"
    ))?;
    let rows = st.query_map(
        params![
            f.entity,
            f.entity_id,
            f.actor_user_id,
            f.action,
            f.from,
            f.to,
            limit,
            offset
        ],
        |r| {
            let diff: String = r.get(7)?;
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                actor_user_id: r.get(2)?,
                actor: r.get(3)?,
                entity: r.get(4)?,
                entity_id: r.get(5)?,
                action: r.get(6)?,
                diff: serde_json::from_str(&diff).unwrap_or(Value::Null),
                request_id: r.get(8)?,
            })
        },
    )?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

/// Takes the next value of a gap-free counter (1, 2, 3, …). Must run inside
/// the write that uses the number: if that write rolls back, so does the bump.
pub fn next_number(c: &Connection, counter: &str) -> Result<i64, DbError> {
    c.prepare_cached(
        "INSERT INTO counters (name, value) VALUES (?1, 1)
         ON CONFLICT (name) DO UPDATE SET value = value + 1",
    )?
    .execute([counter])?;
    optional(
        c.prepare_cached("SELECT value FROM counters WHERE name = ?1")?
            .query_row([counter], |r| r.get(0)),
    )?
    .ok_or(DbError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_lists_only_changes() {
        let d = diff(
            &json!({"a": 1, "b": "x", "updatedAt": "t1"}),
            &json!({"a": 2, "b": "x", "c": true, "updatedAt": "t2"}),
        );
        assert_eq!(
            d,
            json!({"a": {"before": 1, "after": 2}, "c": {"before": null, "after": true}})
        );
        assert_eq!(diff(&Value::Null, &json!({"a": 1}))["a"]["after"], 1);
    }

    #[test]
    fn counters_are_gap_free_across_rollbacks() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrations::apply_pending(&mut c, Utc::now()).unwrap();
        assert_eq!(next_number(&c, "wo").unwrap(), 1);
        c.execute_batch("SAVEPOINT s").unwrap();
        assert_eq!(next_number(&c, "wo").unwrap(), 2);
        c.execute_batch("ROLLBACK TO s; RELEASE s").unwrap();
        assert_eq!(next_number(&c, "wo").unwrap(), 2);
        assert_eq!(next_number(&c, "inv").unwrap(), 1);
    }
}
