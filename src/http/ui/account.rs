//! Sign-in pages: `/login` (throttled like the API login), `/logout`, and
//! `/account/password` (change your own password).

use super::{Form, UiError, UiUser, flash_redirect, render, render_status, safe_next, see_other};
use crate::domain::user::Email;
use crate::http::auth::{AnyRole, clear_session_cookie, session_cookie};
use crate::http::error::HttpError;
use crate::http::state::AppState;
use crate::secret::{ExposeSecret, SecretString};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Registers the sign-in pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/login")
            .route(web::get().to(login_form))
            .route(web::post().to(login_submit)),
    )
    .route("/logout", web::post().to(logout))
    .service(
        web::resource("/account/password")
            .route(web::get().to(password_form))
            .route(web::post().to(password_submit)),
    );
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn login_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    email: &str,
    next: &str,
    error: Option<String>,
) -> Result<HttpResponse, UiError> {
    let secure = crate::http::auth::secure_cookies(&state.config());
    let (csrf, cookie) = crate::http::csrf::token(req, secure);
    let mut res = render_status(
        state,
        req,
        None,
        &csrf,
        status,
        "login.html",
        context! { email, next, error },
    )?;
    if let Some(c) = cookie
        && let Err(e) = res.add_cookie(&c)
    {
        tracing::warn!(error = %e, "cannot set the CSRF cookie");
    }
    Ok(res)
}

async fn login_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, UiError> {
    let next = safe_next(q.next.as_deref());
    if crate::http::auth::authenticate(&state, &req)
        .await?
        .is_some()
    {
        return Ok(see_other(&next));
    }
    login_page(&state, &req, StatusCode::OK, "", &next, None)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    password: Option<SecretString>,
    next: Option<String>,
}

async fn login_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    Form(form): Form<LoginForm>,
) -> Result<HttpResponse, UiError> {
    let next = safe_next(form.next.as_deref());
    let email_text: String = form.email.trim().chars().take(254).collect();
    let Ok(email) = Email::parse(&email_text) else {
        return login_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &email_text,
            &next,
            Some("Enter the e-mail address you sign in with.".into()),
        );
    };
    let password = form.password.unwrap_or_else(|| SecretString::from(""));
    match crate::http::auth::password_login(&state, &req, &email, password).await {
        Ok((user, token, _, _)) => {
            let mut res = see_other(&next);
            res.add_cookie(&session_cookie(token.expose_secret(), &state.config()))
                .map_err(|e| HttpError::Internal(format!("cookie: {e}")))?;
            tracing::info!(user_id = %user.id, "login (web)");
            Ok(res)
        }
        Err(HttpError::Unauthorized(_)) => login_page(
            &state,
            &req,
            StatusCode::UNAUTHORIZED,
            &email_text,
            &next,
            Some("Wrong e-mail or password.".into()),
        ),
        Err(HttpError::TooManyRequests(secs)) => {
            let mut res = login_page(
                &state,
                &req,
                StatusCode::TOO_MANY_REQUESTS,
                &email_text,
                &next,
                Some(format!(
                    "Too many failed sign-ins. Wait {} and try again.",
                    humantime::format_duration(std::time::Duration::from_secs(secs))
                )),
            )?;
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut()
                    .insert(actix_web::http::header::RETRY_AFTER, v);
            }
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    Form(_): Form<Empty>,
) -> Result<HttpResponse, UiError> {
    if let Some((_, crate::http::auth::AuthVia::Session(id))) =
        crate::http::auth::authenticate(&state, &req).await?
    {
        let now = state.clock.now();
        state
            .db
            .write(move |c| crate::db::auth::revoke_session(c, &id, None, now))
            .await?;
    }
    let mut res = flash_redirect("/login", "You are signed out.");
    res.add_cookie(&clear_session_cookie(&state.config()))
        .map_err(|e| HttpError::Internal(format!("cookie: {e}")))?;
    Ok(res)
}

async fn password_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<AnyRole>,
) -> Result<HttpResponse, UiError> {
    let min_password = state.config().auth.min_password_length;
    render(
        &state,
        &req,
        &who,
        "password.html",
        context! { errors => BTreeMap::<String, String>::new(), min_password },
    )
}

#[derive(Deserialize)]
struct PasswordForm {
    current_password: Option<SecretString>,
    password: Option<SecretString>,
    password_confirm: Option<SecretString>,
}

async fn password_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<AnyRole>,
    Form(form): Form<PasswordForm>,
) -> Result<HttpResponse, UiError> {
    let min_password = state.config().auth.min_password_length;
    let empty = || SecretString::from("");
    let current = form.current_password.unwrap_or_else(empty);
    let new = form.password.unwrap_or_else(empty);
    let confirm = form.password_confirm.unwrap_or_else(empty);
    let mut errors = BTreeMap::new();
    if new.expose_secret() != confirm.expose_secret() {
        errors.insert("password_confirm".to_string(), "does not match".to_string());
    } else {
        match crate::accounts::change_password(
            &state.db,
            &state.clock,
            &who.user.id,
            current,
            new,
            min_password,
        )
        .await
        {
            Ok(()) => {
                // Every session was revoked; keep this browser signed in.
                let (token, _, _) =
                    crate::http::auth::start_session(&state, &req, who.user.id.clone()).await?;
                let mut res = flash_redirect(
                    "/dashboard",
                    "Password changed. Other devices have been signed out.",
                );
                res.add_cookie(&session_cookie(token.expose_secret(), &state.config()))
                    .map_err(|e| HttpError::Internal(format!("cookie: {e}")))?;
                return Ok(res);
            }
            Err(crate::accounts::AccountError::Domain(crate::domain::DomainError::Validation(
                f,
            ))) => errors.extend(f),
            Err(e) => return Err(HttpError::from(e).into()),
        }
    }
    render_status(
        &state,
        &req,
        Some(&who.user),
        &who.csrf,
        StatusCode::BAD_REQUEST,
        "password.html",
        context! { errors, min_password },
    )
}
