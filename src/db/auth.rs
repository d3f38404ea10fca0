//! Repository for accounts: users, login sessions, API tokens and the one-time
//! setup link. Functions take a `&Connection` and are meant to run inside
//! [`super::Db::read`] or [`super::Db::write`] closures; tokens arrive already
//! hashed — raw tokens never reach the database.

use super::{DbError, util::optional};
use crate::clock::format_ts;
use crate::domain::user::Role;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use serde::Serialize;

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// UUIDv7.
    pub id: String,
    /// Lowercased e-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Deactivated users cannot log in or use tokens.
    pub active: bool,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// Id.
    pub id: String,
    /// E-mail.
    pub email: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Active.
    pub active: bool,
    /// Created at.
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&UserRow> for UserView {
    fn from(u: &UserRow) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role,
            active: u.active,
            created_at: u.created_at.clone(),
        }
    }
}

const USER_COLS: &str = "u.id, u.email, u.name, u.password_hash, u.role, u.active, u.created_at";

fn user_from(r: &Row<'_>, at: usize) -> rusqlite::Result<UserRow> {
    let role: String = r.get(at + 4)?;
    Ok(UserRow {
        id: r.get(at)?,
        email: r.get(at + 1)?,
        name: r.get(at + 2)?,
        password_hash: r.get(at + 3)?,
        role: role.parse().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                at + 4,
                rusqlite::types::Type::Text,
                format!("unknown role {role}").into(),
            )
        })?,
        active: r.get(at + 5)?,
        created_at: r.get(at + 6)?,
    })
}

/// Fields of a new user.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// UUIDv7.
    pub id: &'a str,
    /// Normalised e-mail.
    pub email: &'a str,
    /// Display name.
    pub name: &'a str,
    /// argon2id hash.
    pub password_hash: &'a str,
    /// Role.
    pub role: Role,
}

/// Inserts a user. Fails with [`DbError::Conflict`] when the e-mail is taken.
pub fn insert_user(
    c: &Connection,
    u: &NewUser<'_>,
    now: DateTime<Utc>,
) -> Result<UserRow, DbError> {
    let ts = format_ts(now);
    c.execute(
        "INSERT INTO users (id, email, name, password_hash, role, active, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?6)",
        params![u.id, u.email, u.name, u.password_hash, u.role.as_str(), ts],
    )
    .map_err(|e| match DbError::from(e) {
        DbError::Conflict(_) => {
            DbError::Conflict(format!("a user with e-mail {} already exists", u.email))
        }
        other => other,
    })?;
    user_by_id(c, u.id)?.ok_or(DbError::NotFound)
}

/// The user with this e-mail (case-insensitive), if any.
pub fn user_by_email(c: &Connection, email: &str) -> Result<Option<UserRow>, DbError> {
    optional(c.query_row(
        &format!("SELECT {USER_COLS} FROM users u WHERE u.email = ?1"),
        [email],
        |r| user_from(r, 0),
    ))
}

/// The user with this id, if any.
pub fn user_by_id(c: &Connection, id: &str) -> Result<Option<UserRow>, DbError> {
    optional(c.query_row(
        &format!("SELECT {USER_COLS} FROM users u WHERE u.id = ?1"),
        [id],
        |r| user_from(r, 0),
    ))
}

/// Whether an active owner exists.
pub fn owner_exists(c: &Connection) -> Result<bool, DbError> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'owner' AND active = 1)",
        [],
        |r| r.get(0),
    )?)
}

/// Replaces a user's password hash and revokes all their sessions (a reset
/// logs them out everywhere). Fails with [`DbError::NotFound`] for an unknown user.
pub fn set_password(
    c: &Connection,
    user_id: &str,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let n = c.execute(
        "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
        params![user_id, hash, format_ts(now)],
    )?;
    if n == 0 {
        return Err(DbError::NotFound);
    }
    revoke_sessions(c, Some(user_id), now)?;
    Ok(())
}

/// A login session as the API shows it (never its token).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// Public id, used to revoke it.
    pub id: String,
    /// Whose session.
    pub user_id: String,
    /// Their e-mail.
    pub email: String,
    /// Started.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last request seen (updated at most every few minutes).
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    /// When it ends unless revoked.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// Client address at login.
    pub ip: Option<String>,
    /// Browser at login.
    pub user_agent: Option<String>,
}

/// Fields of a new session.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    /// Public id.
    pub id: &'a str,
    /// SHA-256 of the cookie token.
    pub token_hash: &'a str,
    /// Owner of the session.
    pub user_id: &'a str,
    /// End of life.
    pub expires_at: DateTime<Utc>,
    /// Client address.
    pub ip: Option<&'a str>,
    /// User agent (truncated by the caller).
    pub user_agent: Option<&'a str>,
}

/// Stores a session.
pub fn insert_session(
    c: &Connection,
    s: &NewSession<'_>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let ts = format_ts(now);
    c.execute(
        "INSERT INTO sessions (id, token_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7)",
        params![s.id, s.token_hash, s.user_id, ts, format_ts(s.expires_at), s.ip, s.user_agent],
    )?;
    Ok(())
}

/// The live session with this token hash and its active user: not revoked, not
/// expired at `now`. Returns (session id, last seen, user).
pub fn session_user(
    c: &Connection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<(String, String, UserRow)>, DbError> {
    optional(
        c.prepare_cached(&format!(
            "SELECT s.id, s.last_seen_at, {USER_COLS} FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2 AND u.active = 1"
        ))?
        .query_row(params![token_hash, format_ts(now)], |r| {
            Ok((r.get(0)?, r.get(1)?, user_from(r, 2)?))
        }),
    )
}

/// Records activity on a session.
pub fn touch_session(c: &Connection, id: &str, now: DateTime<Utc>) -> Result<(), DbError> {
    c.execute(
        "UPDATE sessions SET last_seen_at = ?2 WHERE id = ?1",
        params![id, format_ts(now)],
    )?;
    Ok(())
}

/// Revokes one live session, restricted to `user_id`'s own when given.
/// Fails with [`DbError::NotFound`] when no such live session exists.
pub fn revoke_session(
    c: &Connection,
    id: &str,
    user_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let n = c.execute(
        "UPDATE sessions SET revoked_at = ?2
         WHERE id = ?1 AND revoked_at IS NULL AND (?3 IS NULL OR user_id = ?3)",
        params![id, format_ts(now), user_id],
    )?;
    if n == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// Revokes every live session, or only `user_id`'s. Returns how many.
pub fn revoke_sessions(
    c: &Connection,
    user_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    Ok(c.execute(
        "UPDATE sessions SET revoked_at = ?1 WHERE revoked_at IS NULL AND (?2 IS NULL OR user_id = ?2)",
        params![format_ts(now), user_id],
    )?)
}

/// One page of live (unrevoked, unexpired) sessions, all or `user_id`'s,
/// newest first, with the total count.
pub fn list_sessions(
    c: &Connection,
    user_id: Option<&str>,
    now: DateTime<Utc>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<SessionView>, i64), DbError> {
    const WHERE: &str =
        "s.revoked_at IS NULL AND s.expires_at > ?1 AND (?2 IS NULL OR s.user_id = ?2)";
    let total: i64 = c.query_row(
        &format!("SELECT count(*) FROM sessions s WHERE {WHERE}"),
        params![format_ts(now), user_id],
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "SELECT s.id, s.user_id, u.email, s.created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE {WHERE} ORDER BY s.created_at DESC, s.id DESC LIMIT ?3 OFFSET ?4"
    ))?;
    let rows = st.query_map(params![format_ts(now), user_id, limit, offset], |r| {
        Ok(SessionView {
            id: r.get(0)?,
            user_id: r.get(1)?,
            email: r.get(2)?,
            created_at: r.get(3)?,
            last_seen_at: r.get(4)?,
            expires_at: r.get(5)?,
            ip: r.get(6)?,
            user_agent: r.get(7)?,
        })
    })?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

/// An API token as the API shows it (never the token itself).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    /// Public id, used to revoke it.
    pub id: String,
    /// Whose token.
    pub user_id: String,
    /// Name given at creation.
    pub name: String,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last request made with it (updated at most once a minute).
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
}

/// Stores a new API token. Fails with [`DbError::Conflict`] when the user
/// already has a live token of that name.
pub fn insert_token(
    c: &Connection,
    id: &str,
    user_id: &str,
    name: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<TokenView, DbError> {
    let ts = format_ts(now);
    c.execute(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, user_id, name, token_hash, ts],
    )
    .map_err(|e| match DbError::from(e) {
        DbError::Conflict(_) => DbError::Conflict(format!("a token named {name:?} already exists for this user")),
        other => other,
    })?;
    Ok(TokenView {
        id: id.into(),
        user_id: user_id.into(),
        name: name.into(),
        created_at: ts,
        last_used_at: None,
    })
}

/// The live token with this hash and its active user: (token id, last used, user).
pub fn token_user(
    c: &Connection,
    token_hash: &str,
) -> Result<Option<(String, Option<String>, UserRow)>, DbError> {
    optional(
        c.prepare_cached(&format!(
            "SELECT t.id, t.last_used_at, {USER_COLS} FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = ?1 AND t.revoked_at IS NULL AND u.active = 1"
        ))?
        .query_row([token_hash], |r| {
            Ok((r.get(0)?, r.get(1)?, user_from(r, 2)?))
        }),
    )
}

/// Records use of a token.
pub fn touch_token(c: &Connection, id: &str, now: DateTime<Utc>) -> Result<(), DbError> {
    c.execute(
        "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
        params![id, format_ts(now)],
    )?;
    Ok(())
}

/// One page of live tokens, all or `user_id`'s, newest first, with the total count.
pub fn list_tokens(
    c: &Connection,
    user_id: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<TokenView>, i64), DbError> {
    const WHERE: &str = "revoked_at IS NULL AND (?1 IS NULL OR user_id = ?1)";
    let total: i64 = c.query_row(
        &format!("SELECT count(*) FROM api_tokens WHERE {WHERE}"),
        params![user_id],
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "SELECT id, user_id, name, created_at, last_used_at FROM api_tokens
         WHERE {WHERE} ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = st.query_map(params![user_id, limit, offset], |r| {
        Ok(TokenView {
            id: r.get(0)?,
            user_id: r.get(1)?,
            name: r.get(2)?,
            created_at: r.get(3)?,
            last_used_at: r.get(4)?,
        })
    })?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

/// Revokes a live token, restricted to `user_id`'s own when given.
/// Fails with [`DbError::NotFound`] when there is no such live token.
pub fn revoke_token(
    c: &Connection,
    id: &str,
    user_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let n = c.execute(
        "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL AND (?3 IS NULL OR user_id = ?3)",
        params![id, format_ts(now), user_id],
    )?;
    if n == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// Stores a new setup link and invalidates any earlier unused one (only the
/// most recently printed link works).
pub fn replace_setup_token(
    c: &Connection,
    token_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    c.execute("DELETE FROM setup_tokens WHERE used_at IS NULL", [])?;
    c.execute(
        "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES (?1, ?2, ?3)",
        params![token_hash, format_ts(now), format_ts(expires_at)],
    )?;
    Ok(())
}

/// Whether the setup link is unused, unexpired, and no owner exists yet.
pub fn setup_token_usable(
    c: &Connection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    if owner_exists(c)? {
        return Ok(false);
    }
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM setup_tokens WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2)",
        params![token_hash, format_ts(now)],
        |r| r.get(0),
    )?)
}

/// Marks the setup link used. Fails with [`DbError::Rejected`] when it is
/// unknown, used, expired, or an owner already exists.
pub fn consume_setup_token(
    c: &Connection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    if !setup_token_usable(c, token_hash, now)? {
        return Err(DbError::Rejected(
            "this setup link is invalid, expired or already used".into(),
        ));
    }
    c.execute(
        "UPDATE setup_tokens SET used_at = ?2 WHERE token_hash = ?1",
        params![token_hash, format_ts(now)],
    )?;
    Ok(())
}

/// A user with their activity, as the owner's user list shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSummary {
    #[serde(flatten)]
    /// The user.
    pub user: UserView,
    /// Their latest request through any session or API token; `null` when
    /// they never signed in or used a token.
    #[schema(format = DateTime)]
    pub last_seen_at: Option<String>,
    /// Live (unrevoked, unexpired) sessions.
    pub live_sessions: i64,
    /// Live (unrevoked) API tokens.
    pub live_tokens: i64,
}

/// One page of users — active first, then owners, office staff and
/// technicians, then by name and e-mail — with their activity at `now`, and
/// the number of users. Fails only on database errors.
pub fn list_users(
    c: &Connection,
    now: DateTime<Utc>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<UserSummary>, i64), DbError> {
    let total: i64 = c.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
    let mut st = c.prepare(&format!(
        "SELECT {USER_COLS},
                (SELECT max(s.last_seen_at) FROM sessions s WHERE s.user_id = u.id),
                (SELECT max(t.last_used_at) FROM api_tokens t WHERE t.user_id = u.id),
                (SELECT count(*) FROM sessions s
                  WHERE s.user_id = u.id AND s.revoked_at IS NULL AND s.expires_at > ?1),
                (SELECT count(*) FROM api_tokens t WHERE t.user_id = u.id AND t.revoked_at IS NULL)
         FROM users u
         ORDER BY u.active DESC,
                  CASE u.role WHEN 'owner' THEN 0 WHEN 'office' THEN 1 ELSE 2 END,
                  lower(u.name), u.email
         LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = st.query_map(params![format_ts(now), limit, offset], |r| {
        let user = user_from(r, 0)?;
        let session: Option<String> = r.get(7)?;
        let token: Option<String> = r.get(8)?;
        Ok(UserSummary {
            user: UserView::from(&user),
            last_seen_at: session.max(token),
            live_sessions: r.get(9)?,
            live_tokens: r.get(10)?,
        })
    })?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

/// Number of active owners.
pub fn active_owners(c: &Connection) -> Result<i64, DbError> {
    Ok(c.query_row(
        "SELECT count(*) FROM users WHERE role = 'owner' AND active = 1",
        [],
        |r| r.get(0),
    )?)
}

/// What [`update_user`] changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// New display name (already checked).
    pub name: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// Activate or deactivate.
    pub active: Option<bool>,
    /// New argon2id password hash (a reset).
    pub password_hash: Option<String>,
}

/// Changes user `id` on behalf of `actor` and records it in the audit log
/// (`update`, and `reset_password` for a new password). Deactivating a user
/// revokes their sessions (their API tokens stop working while they are
/// inactive: [`token_user`] requires an active user); a password reset
/// revokes their sessions too. Fails with [`DbError::NotFound`] for an
/// unknown user, and [`DbError::Rejected`] (409) when the actor would
/// deactivate themself or change their own role, or the change would leave
/// no active owner.
pub fn update_user(
    c: &Connection,
    actor: &super::audit::Actor,
    id: &str,
    up: &UserUpdate,
    now: DateTime<Utc>,
) -> Result<UserRow, DbError> {
    let before = user_by_id(c, id)?.ok_or(DbError::NotFound)?;
    let myself = actor.user_id.as_deref() == Some(id);
    let role = up.role.unwrap_or(before.role);
    let active = up.active.unwrap_or(before.active);
    if myself && !active {
        return Err(DbError::Rejected(
            "you cannot deactivate your own account".into(),
        ));
    }
    if myself && role != before.role {
        return Err(DbError::Rejected(
            "you cannot change your own role; another owner can".into(),
        ));
    }
    let was_owner = before.active && before.role == Role::Owner;
    let stays_owner = active && role == Role::Owner;
    if was_owner && !stays_owner && active_owners(c)? <= 1 {
        return Err(DbError::Rejected(format!(
            "{} is the last active owner; make another user an owner first",
            before.email
        )));
    }
    let name = up.name.clone().unwrap_or_else(|| before.name.clone());
    let ts = format_ts(now);
    c.execute(
        "UPDATE users SET name = ?2, role = ?3, active = ?4, updated_at = ?5 WHERE id = ?1",
        params![id, name, role.as_str(), active, ts],
    )?;
    if before.active && !active {
        revoke_sessions(c, Some(id), now)?;
    }
    let after = user_by_id(c, id)?.ok_or(DbError::NotFound)?;
    let (b, a) = (
        serde_json::to_value(UserView::from(&before)).unwrap_or_default(),
        serde_json::to_value(UserView::from(&after)).unwrap_or_default(),
    );
    if b != a {
        super::audit::record(
            c,
            actor,
            now,
            super::audit::Change {
                entity: "user",
                entity_id: id,
                action: "update",
                before: &b,
                after: &a,
            },
        )?;
    }
    if let Some(hash) = &up.password_hash {
        set_password(c, id, hash, now)?;
        super::audit::record(
            c,
            actor,
            now,
            super::audit::Change {
                entity: "user",
                entity_id: id,
                action: "reset_password",
                before: &serde_json::Value::Null,
                after: &serde_json::Value::Null,
            },
        )?;
    }
    Ok(after)
}

/// Revokes every live session except `keep` (the caller's own). Returns how
/// many were revoked.
pub fn revoke_other_sessions(
    c: &Connection,
    keep: &str,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    Ok(c.execute(
        "UPDATE sessions SET revoked_at = ?1 WHERE revoked_at IS NULL AND id <> ?2",
        params![format_ts(now), keep],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::audit::Actor;

    fn conn() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrations::apply_pending(&mut c, Utc::now()).unwrap();
        c
    }

    fn add(c: &Connection, id: &str, email: &str, name: &str, role: Role, now: DateTime<Utc>) {
        insert_user(
            c,
            &NewUser {
                id,
                email,
                name,
                password_hash: "x",
                role,
            },
            now,
        )
        .unwrap();
    }

    fn actor(id: &str) -> Actor {
        Actor {
            user_id: Some(id.into()),
            label: format!("{id}@x.example"),
            request_id: None,
        }
    }

    fn session(c: &Connection, id: &str, user: &str, now: DateTime<Utc>) {
        insert_session(
            c,
            &NewSession {
                id,
                token_hash: &format!("h-{id}"),
                user_id: user,
                expires_at: now + chrono::Duration::days(1),
                ip: None,
                user_agent: None,
            },
            now,
        )
        .unwrap();
    }

    #[test]
    fn users_are_listed_active_first_by_role_with_activity() {
        let c = conn();
        let t0 = Utc::now();
        add(&c, "t", "t@x.example", "Tech", Role::Technician, t0);
        add(&c, "o", "o@x.example", "Zed Owner", Role::Owner, t0);
        add(&c, "f", "f@x.example", "Office", Role::Office, t0);
        add(&c, "g", "g@x.example", "Gone", Role::Office, t0);
        c.execute("UPDATE users SET active = 0 WHERE id = 'g'", [])
            .unwrap();
        session(&c, "s1", "t", t0);
        let later = t0 + chrono::Duration::minutes(10);
        touch_session(&c, "s1", later).unwrap();
        insert_token(&c, "k1", "f", "ci", "th", t0).unwrap();
        touch_token(&c, "k1", t0 + chrono::Duration::minutes(20)).unwrap();

        let (rows, total) = list_users(&c, t0, 10, 0).unwrap();
        assert_eq!(total, 4);
        let ids: Vec<&str> = rows.iter().map(|r| r.user.id.as_str()).collect();
        assert_eq!(ids, ["o", "f", "t", "g"]);
        assert_eq!(rows[0].last_seen_at, None);
        assert_eq!(rows[2].last_seen_at, Some(format_ts(later)));
        assert_eq!(rows[2].live_sessions, 1);
        assert_eq!(
            rows[1].last_seen_at,
            Some(format_ts(t0 + chrono::Duration::minutes(20)))
        );
        assert_eq!(rows[1].live_tokens, 1);
        let (page, _) = list_users(&c, t0, 2, 2).unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(page[0].user.id, "t");
        // Expired sessions are not live.
        let (rows, _) = list_users(&c, t0 + chrono::Duration::days(2), 10, 0).unwrap();
        assert_eq!(rows[2].live_sessions, 0);
    }

    #[test]
    fn deactivating_revokes_sessions_and_blocks_tokens_and_is_audited() {
        let c = conn();
        let now = Utc::now();
        add(&c, "o", "o@x.example", "Owner", Role::Owner, now);
        add(&c, "t", "t@x.example", "Tech", Role::Technician, now);
        session(&c, "s1", "t", now);
        insert_token(&c, "k1", "t", "phone", "tok", now).unwrap();
        assert!(session_user(&c, "h-s1", now).unwrap().is_some());
        assert!(token_user(&c, "tok").unwrap().is_some());

        let off = UserUpdate {
            active: Some(false),
            ..UserUpdate::default()
        };
        let u = update_user(&c, &actor("o"), "t", &off, now).unwrap();
        assert!(!u.active);
        assert!(session_user(&c, "h-s1", now).unwrap().is_none());
        assert!(token_user(&c, "tok").unwrap().is_none());

        let on = UserUpdate {
            active: Some(true),
            name: Some("Tech Two".into()),
            ..UserUpdate::default()
        };
        let u = update_user(&c, &actor("o"), "t", &on, now).unwrap();
        assert!(u.active);
        assert_eq!(u.name, "Tech Two");
        // The session stays revoked; the token works again.
        assert!(session_user(&c, "h-s1", now).unwrap().is_none());
        assert!(token_user(&c, "tok").unwrap().is_some());

        let audit: Vec<(String, String, String)> = c
            .prepare("SELECT action, actor, diff FROM audit_log WHERE entity = 'user' AND entity_id = 't' ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(audit.len(), 2);
        assert_eq!(audit[0].0, "update");
        assert_eq!(audit[0].1, "o@x.example");
        assert!(audit[0].2.contains("\"active\""), "{}", audit[0].2);
        assert!(audit[1].2.contains("Tech Two"));
        // No change, no record.
        update_user(&c, &actor("o"), "t", &UserUpdate::default(), now).unwrap();
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM audit_log WHERE entity = 'user'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn owners_cannot_lock_themselves_or_everyone_out() {
        let c = conn();
        let now = Utc::now();
        add(&c, "o", "o@x.example", "Owner", Role::Owner, now);
        add(&c, "p", "p@x.example", "Partner", Role::Office, now);
        let deactivate = UserUpdate {
            active: Some(false),
            ..UserUpdate::default()
        };
        let demote = UserUpdate {
            role: Some(Role::Office),
            ..UserUpdate::default()
        };
        for up in [&deactivate, &demote] {
            assert!(matches!(
                update_user(&c, &actor("o"), "o", up, now),
                Err(DbError::Rejected(_))
            ));
        }
        // Someone else (e.g. the system) cannot remove the last owner either.
        let err = update_user(&c, &Actor::system(), "o", &demote, now).unwrap_err();
        assert!(
            matches!(&err, DbError::Rejected(m) if m.contains("last active owner")),
            "{err}"
        );
        // With a second owner, the first can be demoted by them.
        let promote = UserUpdate {
            role: Some(Role::Owner),
            ..UserUpdate::default()
        };
        update_user(&c, &actor("o"), "p", &promote, now).unwrap();
        assert_eq!(active_owners(&c).unwrap(), 2);
        let u = update_user(&c, &actor("p"), "o", &deactivate, now).unwrap();
        assert!(!u.active);
        assert_eq!(active_owners(&c).unwrap(), 1);
        assert!(matches!(
            update_user(&c, &actor("o"), "nobody", &deactivate, now),
            Err(DbError::NotFound)
        ));
        // An inactive owner may be reactivated.
        update_user(
            &c,
            &actor("p"),
            "o",
            &UserUpdate {
                active: Some(true),
                ..UserUpdate::default()
            },
            now,
        )
        .unwrap();
        assert_eq!(active_owners(&c).unwrap(), 2);
    }

    #[test]
    fn a_reset_revokes_sessions_and_is_audited() {
        let c = conn();
        let now = Utc::now();
        add(&c, "o", "o@x.example", "Owner", Role::Owner, now);
        add(&c, "t", "t@x.example", "Tech", Role::Technician, now);
        session(&c, "s1", "t", now);
        let up = UserUpdate {
            password_hash: Some("new-hash".into()),
            ..UserUpdate::default()
        };
        update_user(&c, &actor("o"), "t", &up, now).unwrap();
        assert_eq!(
            user_by_id(&c, "t").unwrap().unwrap().password_hash,
            "new-hash"
        );
        assert!(session_user(&c, "h-s1", now).unwrap().is_none());
        let action: String = c
            .query_row(
                "SELECT action FROM audit_log WHERE entity_id = 't'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(action, "reset_password");
    }

    #[test]
    fn everyone_but_the_caller_is_logged_out() {
        let c = conn();
        let now = Utc::now();
        add(&c, "o", "o@x.example", "Owner", Role::Owner, now);
        add(&c, "t", "t@x.example", "Tech", Role::Technician, now);
        session(&c, "mine", "o", now);
        session(&c, "other-device", "o", now);
        session(&c, "theirs", "t", now);
        assert_eq!(revoke_other_sessions(&c, "mine", now).unwrap(), 2);
        assert!(session_user(&c, "h-mine", now).unwrap().is_some());
        assert!(session_user(&c, "h-other-device", now).unwrap().is_none());
        assert!(session_user(&c, "h-theirs", now).unwrap().is_none());
        assert_eq!(revoke_other_sessions(&c, "mine", now).unwrap(), 0);
    }
}
