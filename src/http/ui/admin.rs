//! Access management for the owner (`/admin/*`, owner only):
//!
//! - `/admin/users`: everyone who can sign in (name, e-mail, role, active,
//!   last seen), creating a user with a role and an initial password;
//!   `/admin/users/{id}`: rename, change role, deactivate / reactivate
//!   (ends their sessions; their API tokens are refused while inactive),
//!   reset their password (ends their sessions);
//! - `/admin/sessions`: live sign-in sessions, ending one, and "sign out
//!   everyone else" — it ends every session except the owner's current one,
//!   so the owner can keep working (e.g. to reset a password after a lost
//!   phone);
//! - `/admin/tokens`: API tokens, issuing one (its secret is shown once, on
//!   the answer to the form, and never stored) and revoking.
//!
//! The changes go through [`crate::accounts`] and [`crate::db::auth`], the
//! functions behind `/api/v1/users`, `/api/v1/sessions` and `/api/v1/tokens`.
//! Every table downloads as CSV with `?format=csv`.

use super::{Form, UiError, UiUser, flash_redirect, render_status, safe_next};
use crate::accounts::{self, AccountError, NewAccount, UserChanges};
use crate::db::DbError;
use crate::db::auth::{self as repo, SessionView, TokenView, UserRow, UserSummary};
use crate::domain::user::{Email, Role, check_name, check_new_password};
use crate::domain::{DomainError, FieldErrors};
use crate::http::auth::{AuthVia, OwnerOnly};
use crate::http::error::HttpError;
use crate::http::pagination::{Page, PageQuery};
use crate::http::path_id;
use crate::http::state::AppState;
use crate::secret::{ExposeSecret, SecretString};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::{Value, context};
use serde::Deserialize;
use std::collections::HashMap;
use std::str::FromStr;

/// Registers the `/admin` pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(index))
        .service(
            web::resource("/admin/users")
                .route(web::get().to(users))
                .route(web::post().to(create_user)),
        )
        .service(
            web::resource("/admin/users/{id}")
                .route(web::get().to(user_page))
                .route(web::post().to(update_user)),
        )
        .route("/admin/users/{id}/active", web::post().to(set_active))
        .route("/admin/users/{id}/password", web::post().to(reset_password))
        .route("/admin/sessions", web::get().to(sessions))
        .route("/admin/sessions/revoke-all", web::post().to(revoke_all))
        .route(
            "/admin/sessions/{id}/revoke",
            web::post().to(revoke_session),
        )
        .service(
            web::resource("/admin/tokens")
                .route(web::get().to(tokens))
                .route(web::post().to(create_token)),
        )
        .route("/admin/tokens/{id}/revoke", web::post().to(revoke_token));
}

/// Rows per page of the admin lists.
const PER_PAGE: u32 = 50;

/// `?page=&format=` of the admin lists.
#[derive(Deserialize)]
struct ListQuery {
    page: Option<String>,
    format: Option<String>,
}

impl ListQuery {
    fn csv(&self) -> bool {
        self.format.as_deref() == Some("csv")
    }

    fn page(&self) -> Result<Page, UiError> {
        Ok(Page::parse(&PageQuery {
            page: self.page.clone().filter(|p| !p.is_empty()),
            limit: Some(PER_PAGE.to_string()),
        })?)
    }
}

/// An RFC 3339 UTC timestamp as business-local `2026-03-15 14:02`; empty
/// for none, the input itself when it does not parse.
pub fn local_time(ts: Option<&str>, tz: chrono_tz::Tz) -> String {
    match ts {
        None => String::new(),
        Some(s) => match crate::clock::parse_ts(s) {
            Some(t) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
            None => s.to_string(),
        },
    }
}

/// A short description of a User-Agent: `Chrome on Android`, `curl`, or the
/// first 40 characters of anything unknown.
pub fn describe_agent(ua: Option<&str>) -> String {
    let Some(ua) = ua.map(str::trim).filter(|u| !u.is_empty()) else {
        return "Unknown".into();
    };
    let l = ua.to_ascii_lowercase();
    for tool in [
        "curl",
        "wget",
        "reqwest",
        "python-requests",
        "httpie",
        "go-http-client",
    ] {
        if l.starts_with(tool) {
            return ua.split('/').next().unwrap_or(ua).to_string();
        }
    }
    let browser = if l.contains("edg/") {
        "Edge"
    } else if l.contains("firefox/") {
        "Firefox"
    } else if l.contains("chrome/") || l.contains("chromium/") || l.contains("crios/") {
        "Chrome"
    } else if l.contains("safari/") {
        "Safari"
    } else {
        ""
    };
    let os = if l.contains("android") {
        "Android"
    } else if l.contains("iphone") || l.contains("ipad") {
        "iOS"
    } else if l.contains("windows") {
        "Windows"
    } else if l.contains("mac os") || l.contains("macintosh") {
        "macOS"
    } else if l.contains("linux") || l.contains("x11") {
        "Linux"
    } else {
        ""
    };
    match (browser, os) {
        ("", _) => ua.chars().take(40).collect(),
        (b, "") => b.to_string(),
        (b, o) => format!("{b} on {o}"),
    }
}

/// The caller's session id, when they came with the session cookie.
async fn current_session(state: &AppState, req: &HttpRequest) -> Result<Option<String>, UiError> {
    Ok(match crate::http::auth::authenticate(state, req).await? {
        Some((_, AuthVia::Session(id))) => Some(id),
        _ => None,
    })
}

fn pager(page: Page, total: i64, path: &str) -> Value {
    let limit = i64::from(page.limit);
    let total_pages = (total + limit - 1) / limit;
    context! {
        page => page.page,
        total_pages,
        total,
        prev => (page.page > 1).then(|| format!("{path}?page={}", page.page - 1)),
        next => (i64::from(page.page) < total_pages).then(|| format!("{path}?page={}", page.page + 1)),
    }
}

async fn index() -> HttpResponse {
    super::see_other("/admin/users")
}

// ---------------------------------------------------------------- users

fn user_view(u: &UserSummary, me: &str, tz: chrono_tz::Tz) -> Value {
    context! {
        id => u.user.id.clone(),
        name => u.user.name.clone(),
        email => u.user.email.clone(),
        role => u.user.role.as_str(),
        active => u.user.active,
        me => u.user.id == me,
        created => local_time(Some(&u.user.created_at), tz),
        last_seen => local_time(u.last_seen_at.as_deref(), tz),
        sessions => u.live_sessions,
        tokens => u.live_tokens,
    }
}

/// What the create-user form carried, to show it again.
#[derive(Deserialize, Default)]
struct NewUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    password: Option<SecretString>,
    password_confirm: Option<SecretString>,
}

async fn users_page(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<OwnerOnly>,
    page: Page,
    status: StatusCode,
    form: Value,
    errors: FieldErrors,
) -> Result<HttpResponse, UiError> {
    let now = state.clock.now();
    let (rows, total) = state
        .db
        .read(move |c| repo::list_users(c, now, page.limit.into(), page.offset()))
        .await?;
    let tz = state.config().timezone();
    let users: Vec<Value> = rows
        .iter()
        .map(|u| user_view(u, &who.user.id, tz))
        .collect();
    render_status(
        state,
        req,
        Some(&who.user),
        &who.csrf,
        status,
        "admin_users.html",
        context! {
            users,
            pager => pager(page, total, "/admin/users"),
            form,
            errors,
            roles => Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            min_password => state.config().auth.min_password_length,
            tab => "users",
        },
    )
}

async fn users(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<OwnerOnly>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, UiError> {
    if q.csv() {
        let now = state.clock.now();
        let (rows, _) = state
            .db
            .read(move |c| repo::list_users(c, now, i64::MAX, 0))
            .await?;
        return super::csv(
            "users.csv",
            &[
                "user_id",
                "name",
                "email",
                "role",
                "active",
                "created_at",
                "last_seen_at",
                "live_sessions",
                "live_tokens",
            ],
            rows.into_iter().map(|u| {
                vec![
                    u.user.id,
                    u.user.name,
                    u.user.email,
                    u.user.role.to_string(),
                    u.user.active.to_string(),
                    u.user.created_at,
                    u.last_seen_at.unwrap_or_default(),
                    u.live_sessions.to_string(),
                    u.live_tokens.to_string(),
                ]
            }),
        );
    }
    let page = q.page()?;
    let form = context! { role => "technician" };
    users_page(
        &state,
        &req,
        &who,
        page,
        StatusCode::OK,
        form,
        FieldErrors::new(),
    )
    .await
}

/// The field errors of a new user's e-mail, name and password (the checks
/// [`accounts::create_user_as`] makes), so that every problem shows at once.
fn check_new_user(email: &str, name: &str, password: &str, min: usize) -> FieldErrors {
    let mut fields = FieldErrors::new();
    let mut keep = |r: Result<(), DomainError>| {
        if let Err(DomainError::Validation(f)) = r {
            fields.extend(f);
        }
    };
    keep(Email::parse(email).map(|_| ()));
    keep(check_name(name).map(|_| ()));
    keep(check_new_password(password, min));
    fields
}

async fn create_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<OwnerOnly>,
    Form(f): Form<NewUserForm>,
) -> Result<HttpResponse, UiError> {
    let min = state.config().auth.min_password_length;
    let empty = || SecretString::from("");
    let password = f.password.clone().unwrap_or_else(empty);
    let confirm = f.password_confirm.clone().unwrap_or_else(empty);
    let shown =
        context! { email => f.email.clone(), name => f.name.clone(), role => f.role.clone() };
    let mut errors = FieldErrors::new();
    let role = match Role::from_str(f.role.trim()) {
        Ok(r) => Some(r),
        Err(_) => {
            errors.insert("role".into(), "choose owner, office or technician".into());
            None
        }
    };
    if password.expose_secret() != confirm.expose_secret() {
        errors.insert(
            "password_confirm".into(),
            "does not match the password".into(),
        );
    }
    let page = Page {
        page: 1,
        limit: PER_PAGE,
    };
    let (Some(role), true) = (role, errors.is_empty()) else {
        errors.extend(check_new_user(
            &f.email,
            &f.name,
            password.expose_secret(),
            min,
        ));
        return users_page(
            &state,
            &req,
            &who,
            page,
            StatusCode::BAD_REQUEST,
            shown,
            errors,
        )
        .await;
    };
    let created = accounts::create_user_as(
        &state.db,
        &state.clock,
        &who.actor(),
        NewAccount {
            email: f.email.clone(),
            name: f.name.clone(),
            role,
            password,
        },
        min,
    )
    .await;
    match created {
        Ok(u) => {
            tracing::info!(user_id = %u.id, role = %u.role, by = %who.user.id, "user created (web)");
            Ok(flash_redirect(
                &format!("/admin/users/{}", u.id),
                &format!(
                    "{} can now sign in as {} ({}).",
                    if u.name.is_empty() { &u.email } else { &u.name },
                    u.email,
                    u.role
                ),
            ))
        }
        Err(AccountError::Domain(DomainError::Validation(fields))) => {
            users_page(
                &state,
                &req,
                &who,
                page,
                StatusCode::BAD_REQUEST,
                shown,
                fields,
            )
            .await
        }
        Err(AccountError::Db(DbError::Conflict(_))) => {
            let mut e = FieldErrors::new();
            e.insert("email".into(), "is already used by another user".into());
            users_page(&state, &req, &who, page, StatusCode::CONFLICT, shown, e).await
        }
        Err(e) => Err(HttpError::from(e).into()),
    }
}

async fn load_user(state: &AppState, id: &str) -> Result<UserRow, UiError> {
    let id = path_id(id)?;
    Ok(state
        .db
        .read(move |c| repo::user_by_id(c, &id))
        .await?
        .ok_or(DbError::NotFound)?)
}

#[allow(clippy::too_many_arguments)]
async fn user_detail(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<OwnerOnly>,
    user: UserRow,
    status: StatusCode,
    form: Value,
    errors: FieldErrors,
    password_errors: FieldErrors,
) -> Result<HttpResponse, UiError> {
    let now = state.clock.now();
    let uid = user.id.clone();
    let (summary, sessions, tokens) = state
        .db
        .read(move |c| {
            let (sessions, _) = repo::list_sessions(c, Some(&uid), now, 100, 0)?;
            let (tokens, _) = repo::list_tokens(c, Some(&uid), 100, 0)?;
            let last_seen: Option<String> = c.query_row(
                "SELECT max(t) FROM (SELECT max(last_seen_at) AS t FROM sessions WHERE user_id = ?1
                                     UNION ALL SELECT max(last_used_at) FROM api_tokens WHERE user_id = ?1)",
                [&uid],
                |r| r.get(0),
            )?;
            Ok((last_seen, sessions, tokens))
        })
        .await?;
    let tz = state.config().timezone();
    let current = current_session(state, req).await?;
    let sessions: Vec<Value> = sessions
        .iter()
        .map(|s| session_view(s, current.as_deref(), None, tz))
        .collect();
    let tokens: Vec<Value> = tokens.iter().map(|t| token_view(t, None, tz)).collect();
    let me = user.id == who.user.id;
    render_status(
        state,
        req,
        Some(&who.user),
        &who.csrf,
        status,
        "admin_user.html",
        context! {
            user => context! {
                id => user.id.clone(),
                name => user.name.clone(),
                email => user.email.clone(),
                role => user.role.as_str(),
                active => user.active,
                created => local_time(Some(&user.created_at), tz),
                last_seen => local_time(summary.as_deref(), tz),
                me,
            },
            form,
            errors,
            password_errors,
            sessions,
            tokens,
            roles => Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            min_password => state.config().auth.min_password_length,
            tab => "users",
        },
    )
}

async fn user_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<OwnerOnly>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let user = load_user(&state, &id).await?;
    let form = context! { name => user.name.clone(), role => user.role.as_str() };
    user_detail(
        &state,
        &req,
        &who,
        user,
        StatusCode::OK,
        form,
        FieldErrors::new(),
        FieldErrors::new(),
    )
    .await
}

#[derive(Deserialize)]
struct UserForm {
    #[serde(default)]
    name: String,
    role: Option<String>,
}

async fn update_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<OwnerOnly>,
    id: web::Path<String>,
    Form(f): Form<UserForm>,
) -> Result<HttpResponse, UiError> {
    let user = load_user(&state, &id).await?;
    let shown = context! { name => f.name.clone(), role => f.role.clone().unwrap_or_else(|| user.role.to_string()) };
    let role = match f.role.as_deref().map(|r| Role::from_str(r.trim())) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(_)) => {
            let mut e = FieldErrors::new();
            e.insert("role".into(), "choose owner, office or technician".into());
            return user_detail(
                &state,
                &req,
                &who,
                user,
                StatusCode::BAD_REQUEST,
                shown,
                e,
                FieldErrors::new(),
            )
            .await;
        }
    };
    let changes = UserChanges {
        name: Some(f.name.clone()),
        role,
        ..UserChanges::default()
    };
    let min = state.config().auth.min_password_length;
    let res = accounts::update_user(
        &state.db,
        &state.clock,
        &who.actor(),
        &user.id,
        changes,
        min,
    )
    .await;
    let (status, errors) = match res {
        Ok(u) => {
            return Ok(flash_redirect(
                &format!("/admin/users/{}", u.id),
                &format!("Saved {}.", u.email),
            ));
        }
        Err(AccountError::Domain(DomainError::Validation(f))) => (StatusCode::BAD_REQUEST, f),
        Err(AccountError::Db(DbError::Rejected(m))) => {
            let mut e = FieldErrors::new();
            e.insert("form".into(), m);
            (StatusCode::CONFLICT, e)
        }
        Err(e) => return Err(HttpError::from(e).into()),
    };
    user_detail(
        &state,
        &req,
        &who,
        user,
        status,
        shown,
        errors,
        FieldErrors::new(),
    )
    .await
}

#[derive(Deserialize)]
struct ActiveForm {
    active: String,
    back: Option<String>,
}

async fn set_active(
    state: web::Data<AppState>,
    who: UiUser<OwnerOnly>,
    id: web::Path<String>,
    Form(f): Form<ActiveForm>,
) -> Result<HttpResponse, UiError> {
    let id = path_id(&id)?;
    let active = match f.active.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(UiError::bad_request("active must be true or false.")),
    };
    let min = state.config().auth.min_password_length;
    let changes = UserChanges {
        active: Some(active),
        ..UserChanges::default()
    };
    let u = accounts::update_user(&state.db, &state.clock, &who.actor(), &id, changes, min)
        .await
        .map_err(HttpError::from)?;
    tracing::info!(user_id = %u.id, active, by = %who.user.id, "user active flag set (web)");
    let back = safe_next(f.back.as_deref().or(Some("/admin/users")));
    Ok(flash_redirect(
        &back,
        &if active {
            format!("{} is active again and can sign in.", u.email)
        } else {
            format!(
                "{} is deactivated: their sessions have ended and their API tokens no longer work.",
                u.email
            )
        },
    ))
}

#[derive(Deserialize)]
struct PasswordForm {
    password: Option<SecretString>,
    password_confirm: Option<SecretString>,
}

async fn reset_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<OwnerOnly>,
    id: web::Path<String>,
    Form(f): Form<PasswordForm>,
) -> Result<HttpResponse, UiError> {
    let user = load_user(&state, &id).await?;
    if user.id == who.user.id {
        return Err(UiError::bad_request(
            "Change your own password under Account → Change password (/account/password).",
        ));
    }
    let empty = || SecretString::from("");
    let password = f.password.unwrap_or_else(empty);
    let confirm = f.password_confirm.unwrap_or_else(empty);
    let form = context! { name => user.name.clone(), role => user.role.as_str() };
    let mut errors = FieldErrors::new();
    if password.expose_secret() != confirm.expose_secret() {
        errors.insert(
            "password_confirm".into(),
            "does not match the password".into(),
        );
        let min = state.config().auth.min_password_length;
        if let Err(DomainError::Validation(f)) = check_new_password(password.expose_secret(), min) {
            errors.extend(f);
        }
    } else {
        let min = state.config().auth.min_password_length;
        let changes = UserChanges {
            password: Some(password),
            ..UserChanges::default()
        };
        match accounts::update_user(
            &state.db,
            &state.clock,
            &who.actor(),
            &user.id,
            changes,
            min,
        )
        .await
        {
            Ok(u) => {
                tracing::info!(user_id = %u.id, by = %who.user.id, "password reset (web)");
                return Ok(flash_redirect(
                    &format!("/admin/users/{}", u.id),
                    &format!(
                        "New password set for {}; they were signed out everywhere. Give them the new password in person.",
                        u.email
                    ),
                ));
            }
            Err(AccountError::Domain(DomainError::Validation(f))) => errors.extend(f),
            Err(e) => return Err(HttpError::from(e).into()),
        }
    }
    user_detail(
        &state,
        &req,
        &who,
        user,
        StatusCode::BAD_REQUEST,
        form,
        FieldErrors::new(),
        errors,
    )
    .await
}

// ---------------------------------------------------------------- sessions

fn session_view(
    s: &SessionView,
    current: Option<&str>,
    names: Option<&HashMap<String, (String, bool)>>,
    tz: chrono_tz::Tz,
) -> Value {
    let (name, active) = names
        .and_then(|m| m.get(&s.user_id))
        .cloned()
        .unwrap_or_default();
    context! {
        id => s.id.clone(),
        user_id => s.user_id.clone(),
        email => s.email.clone(),
        name,
        user_active => active,
        ip => s.ip.clone().unwrap_or_default(),
        agent => describe_agent(s.user_agent.as_deref()),
        user_agent => s.user_agent.clone().unwrap_or_default(),
        created => local_time(Some(&s.created_at), tz),
        last_seen => local_time(Some(&s.last_seen_at), tz),
        expires => local_time(Some(&s.expires_at), tz),
        current => current == Some(s.id.as_str()),
    }
}

/// Every user's (name, active) by id.
async fn user_names(state: &AppState) -> Result<HashMap<String, (String, bool)>, UiError> {
    let now = state.clock.now();
    let (rows, _) = state
        .db
        .read(move |c| repo::list_users(c, now, i64::MAX, 0))
        .await?;
    Ok(rows
        .into_iter()
        .map(|u| (u.user.id, (u.user.name, u.user.active)))
        .collect())
}

async fn sessions(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<OwnerOnly>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, UiError> {
    let now = state.clock.now();
    let tz = state.config().timezone();
    if q.csv() {
        let (rows, _) = state
            .db
            .read(move |c| repo::list_sessions(c, None, now, i64::MAX, 0))
            .await?;
        return super::csv(
            "sessions.csv",
            &[
                "session_id",
                "user_id",
                "email",
                "ip",
                "user_agent",
                "created_at",
                "last_seen_at",
                "expires_at",
            ],
            rows.into_iter().map(|s| {
                vec![
                    s.id,
                    s.user_id,
                    s.email,
                    s.ip.unwrap_or_default(),
                    s.user_agent.unwrap_or_default(),
                    s.created_at,
                    s.last_seen_at,
                    s.expires_at,
                ]
            }),
        );
    }
    let page = q.page()?;
    let (rows, total) = state
        .db
        .read(move |c| repo::list_sessions(c, None, now, page.limit.into(), page.offset()))
        .await?;
    let names = user_names(&state).await?;
    let current = current_session(&state, &req).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|s| session_view(s, current.as_deref(), Some(&names), tz))
        .collect();
    render_status(
        &state,
        &req,
        Some(&who.user),
        &who.csrf,
        StatusCode::OK,
        "admin_sessions.html",
        context! {
            sessions => list,
            pager => pager(page, total, "/admin/sessions"),
            tab => "sessions",
        },
    )
}

#[derive(Deserialize)]
struct BackForm {
    back: Option<String>,
}

async fn revoke_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<OwnerOnly>,
    id: web::Path<String>,
    Form(f): Form<BackForm>,
) -> Result<HttpResponse, UiError> {
    let id = path_id(&id)?;
    let current = current_session(&state, &req).await?;
    let now = state.clock.now();
    let sid = id.clone();
    state
        .db
        .write(move |c| repo::revoke_session(c, &sid, None, now))
        .await?;
    tracing::info!(session_id = %id, by = %who.user.id, "session revoked (web)");
    if current.as_deref() == Some(id.as_str()) {
        let mut res = flash_redirect("/login", "You ended your own session. Sign in again.");
        res.add_cookie(&crate::http::auth::clear_session_cookie(&state.config()))
            .map_err(|e| HttpError::Internal(format!("cookie: {e}")))?;
        return Ok(res);
    }
    let back = safe_next(f.back.as_deref().or(Some("/admin/sessions")));
    Ok(flash_redirect(
        &back,
        "Session ended. That device must sign in again.",
    ))
}

#[derive(Deserialize)]
struct EmptyForm {}

async fn revoke_all(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<OwnerOnly>,
    Form(_): Form<EmptyForm>,
) -> Result<HttpResponse, UiError> {
    let current = current_session(&state, &req).await?;
    let now = state.clock.now();
    let keep = current.clone();
    let n = state
        .db
        .write(move |c| match keep {
            Some(k) => repo::revoke_other_sessions(c, &k, now),
            None => repo::revoke_sessions(c, None, now),
        })
        .await?;
    tracing::info!(revoked = n, by = %who.user.id, "everyone else signed out (web)");
    Ok(flash_redirect(
        "/admin/sessions",
        &format!("Signed out {n} other session(s). You are still signed in here."),
    ))
}

// ---------------------------------------------------------------- tokens

fn token_view(
    t: &TokenView,
    names: Option<&HashMap<String, (String, String, bool)>>,
    tz: chrono_tz::Tz,
) -> Value {
    let (name, email, active) = names
        .and_then(|m| m.get(&t.user_id))
        .cloned()
        .unwrap_or_else(|| (String::new(), String::new(), true));
    context! {
        id => t.id.clone(),
        name => t.name.clone(),
        user_id => t.user_id.clone(),
        user_name => name,
        user_email => email,
        user_active => active,
        created => local_time(Some(&t.created_at), tz),
        last_used => local_time(t.last_used_at.as_deref(), tz),
    }
}

#[derive(Deserialize, Default)]
struct TokenForm {
    #[serde(default)]
    name: String,
    user_id: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn tokens_page(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<OwnerOnly>,
    page: Page,
    status: StatusCode,
    form: Value,
    errors: FieldErrors,
    created: Option<Value>,
) -> Result<HttpResponse, UiError> {
    let now = state.clock.now();
    let (rows, total, users) = state
        .db
        .read(move |c| {
            let (rows, total) = repo::list_tokens(c, None, page.limit.into(), page.offset())?;
            let (users, _) = repo::list_users(c, now, i64::MAX, 0)?;
            Ok((rows, total, users))
        })
        .await?;
    let tz = state.config().timezone();
    let names: HashMap<String, (String, String, bool)> = users
        .iter()
        .map(|u| {
            (
                u.user.id.clone(),
                (u.user.name.clone(), u.user.email.clone(), u.user.active),
            )
        })
        .collect();
    let list: Vec<Value> = rows
        .iter()
        .map(|t| token_view(t, Some(&names), tz))
        .collect();
    let holders: Vec<Value> = users
        .iter()
        .filter(|u| u.user.active)
        .map(|u| context! { id => u.user.id.clone(), name => u.user.name.clone(), email => u.user.email.clone(), role => u.user.role.as_str() })
        .collect();
    render_status(
        state,
        req,
        Some(&who.user),
        &who.csrf,
        status,
        "admin_tokens.html",
        context! {
            tokens => list,
            pager => pager(page, total, "/admin/tokens"),
            holders,
            form,
            errors,
            created,
            api_base => state.config().server.public_url.trim_end_matches('/').to_string(),
            tab => "tokens",
        },
    )
}

async fn tokens(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<OwnerOnly>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, UiError> {
    if q.csv() {
        let now = state.clock.now();
        let (rows, users) = state
            .db
            .read(move |c| {
                Ok((
                    repo::list_tokens(c, None, i64::MAX, 0)?.0,
                    repo::list_users(c, now, i64::MAX, 0)?.0,
                ))
            })
            .await?;
        let emails: HashMap<String, String> = users
            .into_iter()
            .map(|u| (u.user.id, u.user.email))
            .collect();
        return super::csv(
            "api-tokens.csv",
            &[
                "token_id",
                "name",
                "user_id",
                "user_email",
                "created_at",
                "last_used_at",
            ],
            rows.into_iter().map(|t| {
                let email = emails.get(&t.user_id).cloned().unwrap_or_default();
                vec![
                    t.id,
                    t.name,
                    t.user_id,
                    email,
                    t.created_at,
                    t.last_used_at.unwrap_or_default(),
                ]
            }),
        );
    }
    let page = q.page()?;
    let form = context! { user_id => who.user.id.clone() };
    tokens_page(
        &state,
        &req,
        &who,
        page,
        StatusCode::OK,
        form,
        FieldErrors::new(),
        None,
    )
    .await
}

async fn create_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<OwnerOnly>,
    Form(f): Form<TokenForm>,
) -> Result<HttpResponse, UiError> {
    let page = Page {
        page: 1,
        limit: PER_PAGE,
    };
    let holder = f
        .user_id
        .clone()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| who.user.id.clone());
    let shown = context! { name => f.name.clone(), user_id => holder.clone() };
    let mut errors = FieldErrors::new();
    let holder_ok = crate::domain::ids::parse_id(&holder).is_some();
    if !holder_ok {
        errors.insert("user_id".into(), "choose an active user".into());
    }
    if let Err(DomainError::Validation(e)) = accounts::check_token_name(&f.name) {
        errors.extend(e);
    }
    if !errors.is_empty() {
        return tokens_page(
            &state,
            &req,
            &who,
            page,
            StatusCode::BAD_REQUEST,
            shown,
            errors,
            None,
        )
        .await;
    }
    match accounts::create_token(&state.db, &state.clock, &holder, &f.name).await {
        Ok((view, secret)) => {
            tracing::info!(token_id = %view.id, user_id = %view.user_id, by = %who.user.id, "API token issued (web)");
            let created = context! {
                id => view.id.clone(),
                name => view.name.clone(),
                secret => secret.expose_secret().to_string(),
            };
            let form = context! { user_id => who.user.id.clone() };
            tokens_page(
                &state,
                &req,
                &who,
                page,
                StatusCode::OK,
                form,
                FieldErrors::new(),
                Some(created),
            )
            .await
        }
        Err(AccountError::Domain(DomainError::Validation(e))) => {
            tokens_page(
                &state,
                &req,
                &who,
                page,
                StatusCode::BAD_REQUEST,
                shown,
                e,
                None,
            )
            .await
        }
        Err(AccountError::Db(DbError::NotFound)) => {
            let mut e = FieldErrors::new();
            e.insert("user_id".into(), "choose an active user".into());
            tokens_page(
                &state,
                &req,
                &who,
                page,
                StatusCode::BAD_REQUEST,
                shown,
                e,
                None,
            )
            .await
        }
        Err(AccountError::Db(DbError::Conflict(m))) => {
            let mut e = FieldErrors::new();
            e.insert("name".into(), m);
            tokens_page(
                &state,
                &req,
                &who,
                page,
                StatusCode::CONFLICT,
                shown,
                e,
                None,
            )
            .await
        }
        Err(e) => Err(HttpError::from(e).into()),
    }
}

async fn revoke_token(
    state: web::Data<AppState>,
    who: UiUser<OwnerOnly>,
    id: web::Path<String>,
    Form(f): Form<BackForm>,
) -> Result<HttpResponse, UiError> {
    let id = path_id(&id)?;
    let now = state.clock.now();
    let tid = id.clone();
    state
        .db
        .write(move |c| repo::revoke_token(c, &tid, None, now))
        .await?;
    tracing::info!(token_id = %id, by = %who.user.id, "API token revoked (web)");
    let back = safe_next(f.back.as_deref().or(Some("/admin/tokens")));
    Ok(flash_redirect(
        &back,
        "Token revoked. Requests made with it are now refused.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_described_briefly() {
        let cases = [
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Linux",
            ),
            ("curl/8.5.0", "curl"),
            ("reqwest/0.12", "reqwest"),
        ];
        for (ua, want) in cases {
            assert_eq!(describe_agent(Some(ua)), want, "{ua}");
        }
        assert_eq!(describe_agent(None), "Unknown");
        assert_eq!(describe_agent(Some("  ")), "Unknown");
        let long = "x".repeat(100);
        assert_eq!(describe_agent(Some(&long)).len(), 40);
    }

    #[test]
    fn times_are_shown_in_the_business_zone() {
        let tz: chrono_tz::Tz = "America/Chicago".parse().unwrap();
        assert_eq!(
            local_time(Some("2026-03-15T18:04:05.000000Z"), tz),
            "2026-03-15 13:04"
        );
        assert_eq!(local_time(None, tz), "");
        assert_eq!(local_time(Some("garbage"), tz), "garbage");
    }

    #[test]
    fn new_user_checks_report_every_field() {
        let f = check_new_user("not-an-email", "ok", "short", 10);
        assert!(
            f.contains_key("email") && f.contains_key("password"),
            "{f:?}"
        );
        assert!(!f.contains_key("name"));
        assert!(check_new_user("a@b.example", "A", "long enough password", 10).is_empty());
    }
}
