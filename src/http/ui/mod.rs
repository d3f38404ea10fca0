//! The web UI: server-rendered pages (minijinja templates in
//! `assets/templates`, autoescaped) for technicians, office staff and the
//! owner. Core flows are plain HTML forms; the embedded `app.js` enhances
//! them. This module holds what every page shares:
//!
//! - [`UiUser<P>`]: the role guard for pages — no session → 303 to
//!   `/login?next=…`, wrong role → a 403 page;
//! - [`Form<T>`]: a URL-encoded form body whose `_csrf` field is checked
//!   before `T` is parsed (403 page otherwise);
//! - [`render`]: a page with the layout's context (user, CSRF token, flash
//!   message, business name), `no-store`;
//! - [`see_other`] / [`flash_redirect`]: post/redirect/get;
//! - [`UiError`]: errors as HTML pages (the API's [`HttpError`] mapped);
//! - [`csv`]: CSV downloads of tables.
//!
//! Security headers for every response come from
//! [`crate::http::middleware::security_headers`].

pub mod account;
pub mod admin;
pub mod charts;
pub mod dashboard;
pub mod dispatch;
pub mod insights;
pub mod jobs;
pub mod office;

use super::auth::{Authed, Policy};
use super::error::HttpError;
use super::state::AppState;
use crate::db::auth::UserRow;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::future::LocalBoxFuture;
use minijinja::{Value, context};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// Registers every page.
pub fn configure(cfg: &mut web::ServiceConfig) {
    account::configure(cfg);
    admin::configure(cfg);
    dashboard::configure(cfg);
    insights::configure(cfg);
    jobs::configure(cfg);
    office::configure(cfg);
    dispatch::configure(cfg);
}

/// Largest URL-encoded form body accepted (bytes).
pub const MAX_FORM_BYTES: usize = 256 * 1024;

/// The flash-message cookie (one message shown on the next page).
const FLASH_COOKIE: &str = "quant_flash";

/// Errors of page handlers, answered as HTML pages.
#[derive(Debug)]
pub enum UiError {
    /// 303 to this location.
    Redirect(String),
    /// A page with this status, title and message.
    Page {
        /// Status code.
        status: StatusCode,
        /// Heading.
        title: String,
        /// Explanation for the user.
        message: String,
    },
    /// An API-layer error, mapped to a page.
    Http(HttpError),
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UiError::Redirect(to) => write!(f, "redirect to {to}"),
            UiError::Page { title, .. } => f.write_str(title),
            UiError::Http(e) => write!(f, "{e}"),
        }
    }
}

impl From<HttpError> for UiError {
    fn from(e: HttpError) -> Self {
        UiError::Http(e)
    }
}

impl From<crate::db::DbError> for UiError {
    fn from(e: crate::db::DbError) -> Self {
        UiError::Http(e.into())
    }
}

impl From<crate::domain::DomainError> for UiError {
    fn from(e: crate::domain::DomainError) -> Self {
        UiError::Http(e.into())
    }
}

impl UiError {
    /// A 404 page.
    pub fn not_found() -> Self {
        UiError::Http(HttpError::NotFound)
    }

    /// A 400 page with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        UiError::Page {
            status: StatusCode::BAD_REQUEST,
            title: "That did not work".into(),
            message: message.into(),
        }
    }
}

/// A complete HTML error page (no layout context needed).
fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let html = super::templates::global().and_then(|t| {
        t.render(
            "message.html",
            context! { title, message, status => status.as_u16(), back => true },
        )
        .map_err(|e| e.to_string())
    });
    match html {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "cannot render the error page");
            HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(format!("{title}\n\n{message}"))
        }
    }
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            UiError::Redirect(_) => StatusCode::SEE_OTHER,
            UiError::Page { status, .. } => *status,
            UiError::Http(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            UiError::Redirect(to) => see_other(to),
            UiError::Page {
                status,
                title,
                message,
            } => error_page(*status, title, message),
            UiError::Http(e) => {
                let status = e.status_code();
                let (title, message) = match e {
                    HttpError::NotFound => (
                        "Not found",
                        "There is nothing here. It may have been deleted, or the link is wrong."
                            .to_string(),
                    ),
                    HttpError::Forbidden(m) => ("Not allowed", m.clone()),
                    HttpError::Unauthorized(_) => (
                        "Please sign in",
                        "Your session has ended. Sign in again.".into(),
                    ),
                    HttpError::Conflict(m) => ("That cannot be done now", m.clone()),
                    HttpError::Validation { message, fields } => {
                        let mut m = message.clone();
                        for (k, v) in fields.iter() {
                            m.push_str(&format!("\n{k}: {v}"));
                        }
                        ("Please check what you entered", m)
                    }
                    HttpError::TooManyRequests(secs) => (
                        "Too many attempts",
                        format!("Please wait {secs} seconds and try again."),
                    ),
                    HttpError::PayloadTooLarge(n) => (
                        "Too large",
                        format!("That upload is larger than the limit of {n} bytes."),
                    ),
                    HttpError::Internal(cause) => {
                        tracing::error!(cause = %cause, "internal error on a page");
                        (
                            "Something went wrong",
                            "Quant could not complete this. Nothing was changed; the details are in the server log.".into(),
                        )
                    }
                    other => ("That did not work", other.to_string()),
                };
                let mut res = error_page(status, title, &message);
                if let HttpError::TooManyRequests(secs) = e
                    && let Ok(v) = header::HeaderValue::from_str(&secs.to_string())
                {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
                res
            }
        }
    }
}

/// A 303 See Other to `to`.
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A 303 to `to` that shows `message` once on the next page.
pub fn flash_redirect(to: &str, message: &str) -> HttpResponse {
    flash_redirect_secure(to, message, false)
}

/// [`flash_redirect`] with the cookie marked `Secure` (when serving TLS).
pub fn flash_redirect_secure(to: &str, message: &str, secure: bool) -> HttpResponse {
    use base64::Engine;
    let mut msg = message.to_string();
    if msg.len() > 300 {
        let mut end = 300;
        while !msg.is_char_boundary(end) {
            end -= 1;
        }
        msg.truncate(end);
    }
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(msg.as_bytes());
    let mut res = see_other(to);
    let cookie = Cookie::build(FLASH_COOKIE, value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .finish();
    if let Err(e) = res.add_cookie(&cookie) {
        tracing::warn!(error = %e, "cannot set the flash cookie");
    }
    res
}

fn take_flash(req: &HttpRequest) -> Option<String> {
    use base64::Engine;
    let c = req.cookie(FLASH_COOKIE)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c.value())
        .ok()?;
    String::from_utf8(bytes).ok().filter(|s| !s.is_empty())
}

/// A `next` parameter is only followed when it is a local path.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.len() <= 512
                && !n.chars().any(|c| c.is_control()) =>
        {
            n.to_string()
        }
        _ => "/dashboard".into(),
    }
}

/// A signed-in user whose role `P` allows, for pages.
pub struct UiUser<P: Policy> {
    /// The user.
    pub user: UserRow,
    /// The CSRF token forms on this page must carry.
    pub csrf: String,
    /// The request id (for the audit log).
    pub request_id: Option<String>,
    _policy: PhantomData<P>,
}

impl<P: Policy> UiUser<P> {
    /// Whether the user is the owner.
    pub fn is_owner(&self) -> bool {
        self.user.role == crate::domain::user::Role::Owner
    }

    /// The user as the audit log records them.
    pub fn actor(&self) -> crate::db::audit::Actor {
        crate::db::audit::Actor {
            user_id: Some(self.user.id.clone()),
            label: self.user.email.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

impl<P: Policy + 'static> FromRequest for UiUser<P> {
    type Error = UiError;
    type Future = LocalBoxFuture<'static, Result<Self, UiError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let fut = Authed::<P>::from_request(&req, payload);
        Box::pin(async move {
            match fut.await {
                Ok(a) => {
                    let (csrf, _) = super::csrf::token(&req, false);
                    Ok(UiUser {
                        user: a.user,
                        csrf,
                        request_id: a.request_id,
                        _policy: PhantomData,
                    })
                }
                Err(HttpError::Unauthorized(_)) => {
                    let next = match req.query_string() {
                        "" => req.path().to_string(),
                        q => format!("{}?{q}", req.path()),
                    };
                    let to = format!(
                        "/login?next={}",
                        url_encode(if req.method().is_safe() {
                            &next
                        } else {
                            "/dashboard"
                        })
                    );
                    Err(UiError::Redirect(to))
                }
                Err(HttpError::Forbidden(_)) => Err(UiError::Page {
                    status: StatusCode::FORBIDDEN,
                    title: "Not allowed".into(),
                    message: "Your account's role cannot open this page.".into(),
                }),
                Err(e) => Err(UiError::Http(e)),
            }
        })
    }
}

/// Percent-encodes a query-string value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A URL-encoded form body (at most [`MAX_FORM_BYTES`]) whose `_csrf` field
/// matched: a missing or wrong token, or a cross-site `Origin`, is a 403
/// page; a body `T` cannot be parsed from is a 400 page. `T` should take
/// text fields (`String`/`Option<String>`) and leave their validation to the
/// domain types, so the page can show per-field errors.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Form<T> {
    type Error = UiError;
    type Future = LocalBoxFuture<'static, Result<Self, UiError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let ct_ok = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
            if !ct_ok {
                return Err(UiError::bad_request("Expected a form submission."));
            }
            let bytes = body
                .await
                .map_err(|_| UiError::Http(HttpError::PayloadTooLarge(MAX_FORM_BYTES)))?;
            if bytes.len() > MAX_FORM_BYTES {
                return Err(UiError::Http(HttpError::PayloadTooLarge(MAX_FORM_BYTES)));
            }
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|_| UiError::bad_request("The form could not be read."))?;
            let token = pairs
                .iter()
                .find(|(k, _)| k == super::csrf::FORM_FIELD)
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            if !super::csrf::verify(&req, token) {
                return Err(csrf_refused());
            }
            serde_urlencoded::from_bytes::<T>(&bytes)
                .map(Form)
                .map_err(|e| UiError::bad_request(format!("The form could not be read: {e}")))
        })
    }
}

/// The 403 page for a form without a valid CSRF token.
pub fn csrf_refused() -> UiError {
    UiError::Page {
        status: StatusCode::FORBIDDEN,
        title: "This form has expired".into(),
        message: "The form was missing its security token or came from another site, so nothing was changed. Go back, reload the page and try again.".into(),
    }
}

/// The context every page's layout uses.
fn layout_context(
    state: &AppState,
    req: &HttpRequest,
    user: Option<&UserRow>,
    csrf: &str,
) -> Value {
    let cfg = state.config();
    let me = user.map(|u| {
        context! {
            id => u.id.clone(),
            name => if u.name.is_empty() { u.email.clone() } else { u.name.clone() },
            email => u.email.clone(),
            role => u.role.to_string(),
        }
    });
    context! {
        me,
        csrf,
        business => cfg.business.name.clone(),
        path => req.path().to_string(),
        flash => take_flash(req),
        version => state.version,
        today => state.today().to_string(),
    }
}

/// Renders page `template` with `ctx` plus the layout context, `200`.
/// Fails (500 page) when the template does not render.
pub fn render<P: Policy>(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<P>,
    template: &str,
    ctx: Value,
) -> Result<HttpResponse, UiError> {
    render_status(
        state,
        req,
        Some(&who.user),
        &who.csrf,
        StatusCode::OK,
        template,
        ctx,
    )
}

/// [`render`] with a status, for pages without a user (login) or that
/// answer a failed form (400, 409, 429).
pub fn render_status(
    state: &AppState,
    req: &HttpRequest,
    user: Option<&UserRow>,
    csrf: &str,
    status: StatusCode,
    template: &str,
    ctx: Value,
) -> Result<HttpResponse, UiError> {
    let base = layout_context(state, req, user, csrf);
    let had_flash = req.cookie(FLASH_COOKIE).is_some();
    let html = state
        .templates
        .render(template, context! { ..ctx, ..base })
        .map_err(|e| UiError::Http(HttpError::Internal(format!("template {template}: {e:#}"))))?;
    let mut res = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html);
    if had_flash {
        let mut gone = Cookie::build(FLASH_COOKIE, "").path("/").finish();
        gone.make_removal();
        if let Err(e) = res.add_cookie(&gone) {
            tracing::warn!(error = %e, "cannot clear the flash cookie");
        }
    }
    Ok(res)
}

/// A CSV download: `header` then `rows`, RFC 4180 quoting. Cells that a
/// spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab
/// or CR) get a leading `'`. Fails only if writing to memory fails.
pub fn csv(
    filename: &str,
    header_row: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Result<HttpResponse, UiError> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let internal = |e: ::csv::Error| UiError::Http(HttpError::Internal(format!("csv: {e}")));
    w.write_record(header_row).map_err(internal)?;
    for row in rows {
        let safe = row.into_iter().map(|cell| {
            let risky =
                cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err();
            if risky { format!("'{cell}") } else { cell }
        });
        w.write_record(safe).map_err(internal)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| UiError::Http(HttpError::Internal(format!("csv: {e}"))))?;
    let safe_name: String = filename
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{safe_name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(bytes))
}

/// Extension trait to read the request id stored by the middleware.
pub fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions()
        .get::<crate::http::middleware::RequestId>()
        .map(|r| r.0.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_only_a_local_path() {
        assert_eq!(safe_next(Some("/work-orders?x=1")), "/work-orders?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/dashboard");
        assert_eq!(safe_next(Some("/\\evil.example")), "/dashboard");
        assert_eq!(safe_next(Some("https://evil.example")), "/dashboard");
        assert_eq!(safe_next(None), "/dashboard");
        assert_eq!(url_encode("/a b?c=d&e"), "/a%20b%3Fc%3Dd%26e");
    }

    #[actix_web::test]
    async fn csv_quotes_and_defuses_formulas() {
        let res = csv(
            "x.csv",
            &["a", "b"],
            vec![
                vec!["=HYPERLINK(1)".into(), "he said \"hi\", ok".into()],
                vec!["-12.5".into(), "".into()],
            ],
        )
        .unwrap();
        let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(
            text,
            "a,b\n'=HYPERLINK(1),\"he said \"\"hi\"\", ok\"\n-12.5,\n"
        );
    }
}
