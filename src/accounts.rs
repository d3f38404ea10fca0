//! Account use-cases shared by the CLI and the HTTP API: creating users,
//! resetting passwords, issuing API tokens, and the first-run setup link.
//! Password hashing (argon2id, deliberately slow) runs on the blocking pool.

use crate::clock::SharedClock;
use crate::db::auth::{self as repo, TokenView, UserRow};
use crate::db::{Db, DbError};
use crate::domain::user::{Email, Role, check_name, check_new_password};
use crate::domain::{DomainError, ids::new_id};
use crate::secret::{ExposeSecret, SecretString, hash_password, hash_token, new_token};

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Bad input (field errors).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// Database failure, conflict or unknown user.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The password hasher failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl From<AccountError> for crate::http::error::HttpError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Domain(d) => d.into(),
            AccountError::Db(d) => d.into(),
            AccountError::Hash(h) => crate::http::error::HttpError::Internal(h),
        }
    }
}

async fn hash_off_runtime(password: SecretString) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || hash_password(password.expose_secret()))
        .await
        .map_err(|e| AccountError::Hash(e.to_string()))?
        .map_err(AccountError::Hash)
}

/// Validates a new user's e-mail, name and password and hashes the password.
/// Returns (e-mail, trimmed name, argon2id hash); fails with the field errors
/// of every bad field at once.
async fn prepare_user(
    email: &str,
    name: &str,
    password: SecretString,
    min_password_len: usize,
) -> Result<(Email, String, String), AccountError> {
    let mut fields = crate::domain::FieldErrors::new();
    let mut keep = |e: DomainError| match e {
        DomainError::Validation(f) => fields.extend(f),
        DomainError::Conflict(m) => {
            fields.insert("form".into(), m);
        }
    };
    let email = Email::parse(email).map_err(&mut keep).ok();
    let name = check_name(name).map_err(&mut keep).ok();
    let _ = check_new_password(password.expose_secret(), min_password_len).map_err(&mut keep);
    let (Some(email), Some(name), true) = (email, name, fields.is_empty()) else {
        return Err(DomainError::Validation(fields).into());
    };
    let hash = hash_off_runtime(password).await?;
    Ok((email, name, hash))
}

/// Checks a token name: 1..=100 characters, no control characters.
/// Fails with a `name` field error.
pub fn check_token_name(name: &str) -> Result<String, DomainError> {
    let n = name.trim();
    if n.is_empty() {
        return Err(DomainError::field("name", "is required"));
    }
    if n.chars().count() > 100 {
        return Err(DomainError::field("name", "must be at most 100 characters"));
    }
    if n.chars().any(char::is_control) {
        return Err(DomainError::field(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(n.to_string())
}

/// Creates a user. Fails with field errors for a bad e-mail, name or password,
/// or a conflict when the e-mail is taken.
pub async fn create_user(
    db: &Db,
    clock: &SharedClock,
    email: &str,
    name: &str,
    role: Role,
    password: SecretString,
    min_password_len: usize,
) -> Result<UserRow, AccountError> {
    let (email, name, hash) = prepare_user(email, name, password, min_password_len).await?;
    let now = clock.now();
    let id = new_id(now).to_string();
    Ok(db
        .write(move |c| {
            repo::insert_user(
                c,
                &repo::NewUser {
                    id: &id,
                    email: email.as_str(),
                    name: &name,
                    password_hash: &hash,
                    role,
                },
                now,
            )
        })
        .await?)
}

/// Sets a new password for the user with `email` and revokes their sessions.
/// Fails with field errors for a bad password, or `NotFound` for an unknown user.
pub async fn reset_password(
    db: &Db,
    clock: &SharedClock,
    email: &str,
    password: SecretString,
    min_password_len: usize,
) -> Result<UserRow, AccountError> {
    let email = Email::parse(email)?;
    check_new_password(password.expose_secret(), min_password_len)?;
    let hash = hash_off_runtime(password).await?;
    let now = clock.now();
    Ok(db
        .write(move |c| {
            let user = repo::user_by_email(c, email.as_str())?.ok_or(DbError::NotFound)?;
            repo::set_password(c, &user.id, &hash, now)?;
            Ok(user)
        })
        .await?)
}

/// Issues a named API token for the user with `email` (or id). Returns the
/// stored record and the token, which is shown once and never stored.
/// Fails with `NotFound` for an unknown or inactive user, or a conflict when
/// the name is in use.
pub async fn create_token(
    db: &Db,
    clock: &SharedClock,
    user_email_or_id: &str,
    name: &str,
) -> Result<(TokenView, SecretString), AccountError> {
    let name = check_token_name(name)?;
    let token = new_token("qt_");
    let hash = hash_token(token.expose_secret());
    let now = clock.now();
    let id = new_id(now).to_string();
    let who = user_email_or_id.trim().to_string();
    let view = db
        .write(move |c| {
            let user = match repo::user_by_id(c, &who)? {
                Some(u) => Some(u),
                None => repo::user_by_email(c, &who.to_lowercase())?,
            };
            let user = user.filter(|u| u.active).ok_or(DbError::NotFound)?;
            repo::insert_token(c, &id, &user.id, &name, &hash, now)
        })
        .await?;
    Ok((view, token))
}

/// When no owner exists, creates a fresh single-use setup token valid for
/// `ttl` (invalidating older ones) and returns it; `None` when an owner exists.
pub async fn ensure_setup_token(
    db: &Db,
    clock: &SharedClock,
    ttl: std::time::Duration,
) -> Result<Option<SecretString>, AccountError> {
    let now = clock.now();
    let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
    let token = new_token("");
    let hash = hash_token(token.expose_secret());
    let created = db
        .write(move |c| {
            if repo::owner_exists(c)? {
                return Ok(false);
            }
            repo::replace_setup_token(c, &hash, now, expires)?;
            Ok(true)
        })
        .await?;
    Ok(created.then_some(token))
}

/// Creates the owner through the setup link: consumes the link and inserts the
/// owner in one transaction, so the link works exactly once. Fails with field
/// errors for bad input, or `Rejected` for a used/expired/unknown link.
pub async fn create_owner_via_setup(
    db: &Db,
    clock: &SharedClock,
    setup_token: &str,
    email: &str,
    name: &str,
    password: SecretString,
    min_password_len: usize,
) -> Result<UserRow, AccountError> {
    let (email, name, hash) = prepare_user(email, name, password, min_password_len).await?;
    let token_hash = hash_token(setup_token);
    let now = clock.now();
    let id = new_id(now).to_string();
    Ok(db
        .write(move |c| {
            repo::consume_setup_token(c, &token_hash, now)?;
            repo::insert_user(
                c,
                &repo::NewUser {
                    id: &id,
                    email: email.as_str(),
                    name: &name,
                    password_hash: &hash,
                    role: Role::Owner,
                },
                now,
            )
        })
        .await?)
}

/// Changes the password of user `user_id` after checking `current`, and
/// revokes all their sessions (the caller starts a fresh one). Fails with a
/// `current_password` field error when it is wrong, a `password` field error
/// for a weak new one, or `NotFound` for an unknown user.
pub async fn change_password(
    db: &Db,
    clock: &SharedClock,
    user_id: &str,
    current: SecretString,
    new: SecretString,
    min_password_len: usize,
) -> Result<(), AccountError> {
    let id = user_id.to_string();
    let user = db
        .read(move |c| repo::user_by_id(c, &id))
        .await?
        .ok_or(DbError::NotFound)?;
    let phc = user.password_hash.clone();
    let ok = tokio::task::spawn_blocking(move || {
        crate::secret::verify_password(current.expose_secret(), &phc)
    })
    .await
    .map_err(|e| AccountError::Hash(e.to_string()))?;
    if !ok {
        return Err(DomainError::field("current_password", "is not your current password").into());
    }
    check_new_password(new.expose_secret(), min_password_len)?;
    let hash = hash_off_runtime(new).await?;
    let now = clock.now();
    let id = user.id.clone();
    db.write(move |c| repo::set_password(c, &id, &hash, now))
        .await?;
    Ok(())
}

/// A user to create, as the owner entered it (checked by [`create_user_as`]).
#[derive(Debug)]
pub struct NewAccount {
    /// E-mail address (the login).
    pub email: String,
    /// Display name (may be empty).
    pub name: String,
    /// Role.
    pub role: Role,
    /// Initial password.
    pub password: SecretString,
}

/// [`create_user`] on behalf of `actor` (the owner, from the web UI or the
/// API), recorded in the audit log as a `user` `create`. Fails like
/// [`create_user`]: field errors (`email`, `name`, `password`), or a
/// conflict when the e-mail is taken.
pub async fn create_user_as(
    db: &Db,
    clock: &SharedClock,
    actor: &crate::db::audit::Actor,
    new: NewAccount,
    min_password_len: usize,
) -> Result<UserRow, AccountError> {
    let role = new.role;
    let (email, name, hash) =
        prepare_user(&new.email, &new.name, new.password, min_password_len).await?;
    let now = clock.now();
    let id = new_id(now).to_string();
    let actor = actor.clone();
    Ok(db
        .write(move |c| {
            let user = repo::insert_user(
                c,
                &repo::NewUser {
                    id: &id,
                    email: email.as_str(),
                    name: &name,
                    password_hash: &hash,
                    role,
                },
                now,
            )?;
            let after = serde_json::to_value(repo::UserView::from(&user)).unwrap_or_default();
            crate::db::audit::record(
                c,
                &actor,
                now,
                crate::db::audit::Change {
                    entity: "user",
                    entity_id: &user.id,
                    action: "create",
                    before: &serde_json::Value::Null,
                    after: &after,
                },
            )?;
            Ok(user)
        })
        .await?)
}

/// What [`update_user`] may change; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChanges {
    /// Display name (at most 200 characters).
    pub name: Option<String>,
    /// Role.
    pub role: Option<Role>,
    /// Activate (`true`) or deactivate (`false`).
    pub active: Option<bool>,
    /// A new password (a reset by the owner).
    pub password: Option<SecretString>,
}

/// Changes user `id` on behalf of `actor`: name, role, active, password.
/// Deactivation and a password reset end the user's sessions; an inactive
/// user's API tokens are refused until they are reactivated. Fails with field
/// errors (`name`, `password`) for bad input, `NotFound` for an unknown user,
/// and `Rejected` (409) when the actor would deactivate themself, change
/// their own role, or leave the business without an active owner.
pub async fn update_user(
    db: &Db,
    clock: &SharedClock,
    actor: &crate::db::audit::Actor,
    id: &str,
    changes: UserChanges,
    min_password_len: usize,
) -> Result<UserRow, AccountError> {
    let mut fields = crate::domain::FieldErrors::new();
    let name = match changes.name.as_deref().map(check_name).transpose() {
        Ok(n) => n,
        Err(DomainError::Validation(f)) => {
            fields.extend(f);
            None
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(p) = &changes.password
        && let Err(DomainError::Validation(f)) =
            check_new_password(p.expose_secret(), min_password_len)
    {
        fields.extend(f);
    }
    if !fields.is_empty() {
        return Err(DomainError::Validation(fields).into());
    }
    let password_hash = match changes.password {
        Some(p) => Some(hash_off_runtime(p).await?),
        None => None,
    };
    let up = repo::UserUpdate {
        name,
        role: changes.role,
        active: changes.active,
        password_hash,
    };
    let now = clock.now();
    let (actor, id) = (actor.clone(), id.to_string());
    Ok(db
        .write(move |c| repo::update_user(c, &actor, &id, &up, now))
        .await?)
}
