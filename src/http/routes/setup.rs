//! The first-run owner setup page. When no owner exists, `quant serve` prints
//! a single-use, expiring link `/setup?token=…`; this page creates the owner.
//!
//! Forgery protection: the form carries the unguessable setup token itself,
//! which a cross-site attacker cannot know, and a request whose `Origin`
//! header names another host is refused.

use crate::accounts::{self, AccountError};
use crate::db::auth as repo;
use crate::domain::DomainError;
use crate::http::auth::{session_cookie, start_session};
use crate::http::error::HttpError;
use crate::http::state::AppState;
use crate::secret::{ExposeSecret, SecretString, hash_token};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Registers `/` and `/setup`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index)).service(
        web::resource("/setup")
            .app_data(web::FormConfig::default().limit(16 * 1024))
            .route(web::get().to(setup_form))
            .route(web::post().to(setup_submit)),
    );
}

fn page(
    state: &AppState,
    status: StatusCode,
    name: &str,
    ctx: minijinja::Value,
) -> Result<HttpResponse, HttpError> {
    let html = state
        .templates
        .render(name, ctx)
        .map_err(|e| HttpError::Internal(format!("template {name}: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(html))
}

async fn index(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let has_owner = state.db.read(repo::owner_exists).await?;
    if has_owner {
        let to = if crate::http::auth::authenticate(&state, &req)
            .await?
            .is_some()
        {
            "/dashboard"
        } else {
            "/login"
        };
        return Ok(crate::http::ui::see_other(to));
    }
    let message = {
        "Quant is running but has no owner yet. Open the one-time setup link printed in the log when Quant started (restart Quant for a new one)."
    };
    page(
        &state,
        StatusCode::OK,
        "message.html",
        context! { title => "Quant", message },
    )
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn invalid_link(state: &AppState) -> Result<HttpResponse, HttpError> {
    page(
        state,
        StatusCode::NOT_FOUND,
        "message.html",
        context! {
            title => "Setup link not valid",
            message => "This setup link is invalid, has expired or was already used. If no owner exists yet, restart Quant to print a new link.",
        },
    )
}

async fn usable(state: &AppState, token: &str) -> Result<bool, HttpError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(false);
    }
    let hash = hash_token(token);
    let now = state.clock.now();
    Ok(state
        .db
        .read(move |c| repo::setup_token_usable(c, &hash, now))
        .await?)
}

async fn setup_form(
    state: web::Data<AppState>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, HttpError> {
    let token = q.token.clone().unwrap_or_default();
    if !usable(&state, &token).await? {
        return invalid_link(&state);
    }
    let min_password = state.config().auth.min_password_length;
    let tls_fingerprint = state.tls_fingerprint.clone();
    page(
        &state,
        StatusCode::OK,
        "setup.html",
        context! { token, name => "", email => "", errors => BTreeMap::<String, String>::new(), min_password, tls_fingerprint },
    )
}

#[derive(Deserialize)]
struct SetupForm {
    token: String,
    #[serde(default)]
    name: String,
    email: String,
    password: SecretString,
    password_confirm: SecretString,
}

async fn setup_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, HttpError> {
    if !crate::http::csrf::same_origin(&req) {
        return Err(HttpError::Forbidden(
            "cross-site form submission refused".into(),
        ));
    }
    let form = form.into_inner();
    if !usable(&state, &form.token).await? {
        return invalid_link(&state);
    }
    let min_password = state.config().auth.min_password_length;
    let tls_fingerprint = state.tls_fingerprint.clone();
    let rerender = |errors: BTreeMap<String, String>| {
        page(
            &state,
            StatusCode::BAD_REQUEST,
            "setup.html",
            context! { token => form.token.clone(), name => form.name.clone(), email => form.email.clone(), errors, min_password, tls_fingerprint => tls_fingerprint.clone() },
        )
    };
    if form.password.expose_secret() != form.password_confirm.expose_secret() {
        let mut e = BTreeMap::new();
        e.insert(
            "password_confirm".to_string(),
            "the two passwords differ".to_string(),
        );
        return rerender(e);
    }
    let created = accounts::create_owner_via_setup(
        &state.db,
        &state.clock,
        &form.token,
        &form.email,
        &form.name,
        form.password.clone(),
        min_password,
    )
    .await;
    let user = match created {
        Ok(u) => u,
        Err(AccountError::Domain(DomainError::Validation(fields))) => return rerender(fields),
        Err(AccountError::Db(crate::db::DbError::Rejected(_))) => return invalid_link(&state),
        Err(AccountError::Db(crate::db::DbError::Conflict(m))) => {
            let mut e = BTreeMap::new();
            e.insert("form".to_string(), m);
            return rerender(e);
        }
        Err(other) => return Err(other.into()),
    };
    tracing::info!(user_id = %user.id, "owner created through the setup link");
    let (token, _, _) = start_session(&state, &req, user.id.clone()).await?;
    let mut res = page(
        &state,
        StatusCode::OK,
        "setup_done.html",
        context! { email => user.email },
    )?;
    res.add_cookie(&session_cookie(token.expose_secret(), &state.config()))
        .map_err(|e| HttpError::Internal(e.to_string()))?;
    Ok(res)
}
