//! Repository for photo and signature records. The bytes live in the blob
//! store ([`crate::blobs`]); rows here point at them by content address. Also
//! decides who may see a work order's attachments.

use super::audit::{self, Actor, Change};
use super::{DbError, util::optional};
use crate::clock::format_ts;
use crate::db::auth::UserRow;
use crate::domain::user::Role;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a picture shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = AttachmentKind)]
pub enum Kind {
    /// The site before the work.
    Before,
    /// The finished work.
    After,
    /// The customer's signature.
    Signature,
}

impl Kind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Before => "before",
            Kind::After => "after",
            Kind::Signature => "signature",
        }
    }
}

/// An attachment as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// UUIDv7.
    pub id: String,
    /// Its work order.
    pub work_order_id: String,
    /// before, after or signature.
    #[schema(value_type = Kind)]
    pub kind: String,
    /// image/jpeg, image/png or image/webp.
    pub content_type: String,
    /// Size of the original.
    pub size_bytes: i64,
    /// Width in pixels.
    pub width: Option<i64>,
    /// Height in pixels.
    pub height: Option<i64>,
    /// Content address (SHA-256) of the original.
    pub sha256: String,
    /// Content address of the JPEG thumbnail.
    #[serde(skip)]
    pub thumb_sha256: Option<String>,
    /// Where to fetch the original.
    pub url: String,
    /// Where to fetch the thumbnail.
    pub thumbnail_url: String,
    /// Who uploaded it (user id).
    pub uploaded_by: Option<String>,
    /// When.
    #[schema(format = DateTime)]
    pub created_at: String,
}

const COLS: &str = "id, work_order_id, kind, content_type, size_bytes, width, height, sha256, thumb_sha256, uploaded_by, created_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Attachment> {
    let id: String = r.get(0)?;
    Ok(Attachment {
        url: format!("/api/v1/attachments/{id}"),
        thumbnail_url: format!("/api/v1/attachments/{id}/thumbnail"),
        id,
        work_order_id: r.get(1)?,
        kind: r.get(2)?,
        content_type: r.get(3)?,
        size_bytes: r.get(4)?,
        width: r.get(5)?,
        height: r.get(6)?,
        sha256: r.get(7)?,
        thumb_sha256: r.get(8)?,
        uploaded_by: r.get(9)?,
        created_at: r.get(10)?,
    })
}

/// Whether `user` may see work order `work_order_id`: the owner and office
/// staff see every work order; a technician only those assigned to them.
/// Returns the work order's status. Fails with `NotFound` for an unknown work
/// order, or `Rejected("forbidden")`, which the caller maps to 403.
pub fn check_visible(
    c: &Connection,
    work_order_id: &str,
    user: &UserRow,
) -> Result<String, DbError> {
    let row: Option<(String, Option<String>)> = optional(c.query_row(
        "SELECT w.status, e.user_id FROM work_orders w
         LEFT JOIN employees e ON e.id = w.assigned_employee_id WHERE w.id = ?1",
        [work_order_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ))?;
    let (status, assignee_user) = row.ok_or(DbError::NotFound)?;
    if user.role == Role::Technician && assignee_user.as_deref() != Some(user.id.as_str()) {
        return Err(DbError::Rejected(FORBIDDEN.into()));
    }
    Ok(status)
}

/// The marker message [`check_visible`] uses for "not yours".
pub const FORBIDDEN: &str = "forbidden";

/// Fields of a new attachment.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    /// UUIDv7.
    pub id: String,
    /// Work order.
    pub work_order_id: String,
    /// Kind.
    pub kind: Kind,
    /// Content type decided from the bytes.
    pub content_type: String,
    /// Size.
    pub size_bytes: i64,
    /// Width.
    pub width: i64,
    /// Height.
    pub height: i64,
    /// Content address of the original (already stored).
    pub sha256: String,
    /// Content address of the thumbnail (already stored).
    pub thumb_sha256: String,
}

/// Records an attachment whose blobs are already durable; a signature also
/// becomes the work order's `customerSignature`. Fails with `Rejected` for a
/// cancelled work order.
pub fn insert(
    c: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    a: &NewAttachment,
) -> Result<Attachment, DbError> {
    let status: String = optional(c.query_row(
        "SELECT status FROM work_orders WHERE id = ?1",
        [&a.work_order_id],
        |r| r.get(0),
    ))?
    .ok_or(DbError::NotFound)?;
    if status == "cancelled" {
        return Err(DbError::Rejected(
            "this work order is cancelled; it takes no more photos".into(),
        ));
    }
    c.execute(
        "INSERT INTO attachments (id, work_order_id, kind, sha256, content_type, size_bytes, width, height, thumb_sha256, uploaded_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            a.id,
            a.work_order_id,
            a.kind.as_str(),
            a.sha256,
            a.content_type,
            a.size_bytes,
            a.width,
            a.height,
            a.thumb_sha256,
            actor.user_id,
            format_ts(now)
        ],
    )?;
    if a.kind == Kind::Signature {
        c.execute(
            "UPDATE work_orders SET signature_id = ?2, updated_at = ?3 WHERE id = ?1",
            params![a.work_order_id, a.id, format_ts(now)],
        )?;
    }
    let att = get(c, &a.id)?.ok_or(DbError::NotFound)?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "attachment",
            entity_id: &a.id,
            action: "create",
            before: &Value::Null,
            after: &serde_json::to_value(&att).unwrap_or(Value::Null),
        },
    )?;
    Ok(att)
}

/// One attachment.
pub fn get(c: &Connection, id: &str) -> Result<Option<Attachment>, DbError> {
    optional(c.query_row(
        &format!("SELECT {COLS} FROM attachments WHERE id = ?1"),
        [id],
        from_row,
    ))
}

/// A work order's attachments, oldest first.
pub fn list_for(c: &Connection, work_order_id: &str) -> Result<Vec<Attachment>, DbError> {
    let mut st = c.prepare(&format!(
        "SELECT {COLS} FROM attachments WHERE work_order_id = ?1 ORDER BY created_at, id LIMIT 500"
    ))?;
    let rows = st.query_map([work_order_id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Removes an attachment record (the blob stays: it may be shared and the
/// backups refer to it). Clears the work order's signature if it was this one.
pub fn delete(c: &Connection, actor: &Actor, now: DateTime<Utc>, id: &str) -> Result<(), DbError> {
    let before = get(c, id)?.ok_or(DbError::NotFound)?;
    c.execute(
        "UPDATE work_orders SET signature_id = NULL, updated_at = ?2 WHERE signature_id = ?1",
        params![id, format_ts(now)],
    )?;
    c.execute("DELETE FROM attachments WHERE id = ?1", [id])?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "attachment",
            entity_id: id,
            action: "delete",
            before: &serde_json::to_value(&before).unwrap_or(Value::Null),
            after: &Value::Null,
        },
    )
}
