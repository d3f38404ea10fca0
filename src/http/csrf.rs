//! Cross-site request forgery protection.
//!
//! - With a session: the token is derived from the session cookie
//!   (`SHA-256("quant-csrf-v1:" ‖ cookie)`), so it needs no storage, changes
//!   with every login and cannot be computed by a page that cannot read the
//!   `HttpOnly` cookie. Pages carry it in a `<meta name="csrf-token">` tag and
//!   every form in a hidden `_csrf` field; JavaScript sends it as the
//!   `X-CSRF-Token` header.
//! - Before login (the login form): a random `quant_csrf` cookie whose value
//!   the form repeats (double submit).
//! - In both cases a request whose `Origin` header names another host is
//!   refused outright.
//!
//! The JSON API requires the header for every state-changing request that is
//! authenticated by the session cookie (bearer tokens are not sent by
//! browsers on their own, so they need none); see [`crate::http::auth`].

use super::auth::SESSION_COOKIE;
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use sha2::{Digest, Sha256};

/// The pre-session cookie.
pub const CSRF_COOKIE: &str = "quant_csrf";
/// The form field carrying the token.
pub const FORM_FIELD: &str = "_csrf";
/// The request header carrying the token.
pub const HEADER: &str = "x-csrf-token";

/// The token bound to a session cookie value.
pub fn for_session(session_cookie: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"quant-csrf-v1:");
    h.update(session_cookie.as_bytes());
    hex::encode(h.finalize())
}

fn session_value(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 256)
}

fn presession_value(req: &HttpRequest) -> Option<String> {
    req.cookie(CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() >= 32 && v.len() <= 128)
}

/// The token a page served for `req` must embed, and a cookie to set on the
/// response when a new pre-session token had to be made.
pub fn token(req: &HttpRequest, secure: bool) -> (String, Option<Cookie<'static>>) {
    if let Some(s) = session_value(req) {
        return (for_session(&s), None);
    }
    if let Some(t) = presession_value(req) {
        return (t, None);
    }
    use secrecy::ExposeSecret;
    let t = crate::secret::new_token("").expose_secret().to_string();
    let cookie = Cookie::build(CSRF_COOKIE, t.clone())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish();
    (t, Some(cookie))
}

/// Whether the request comes from this site as far as the browser says:
/// `Origin` (when present) names this host and `Sec-Fetch-Site` (when
/// present) is not `cross-site`.
pub fn same_origin(req: &HttpRequest) -> bool {
    let headers = req.headers();
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
    {
        return false;
    }
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = req.connection_info().host().to_string();
    origin
        .split_once("://")
        .map(|(_, rest)| rest.eq_ignore_ascii_case(&host))
        .unwrap_or(false)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `submitted` is the right token for `req` and the request is
/// same-origin. False when there is no cookie to check against.
pub fn verify(req: &HttpRequest, submitted: &str) -> bool {
    if !same_origin(req) || submitted.is_empty() {
        return false;
    }
    let expected = match session_value(req) {
        Some(s) => for_session(&s),
        None => match presession_value(req) {
            Some(t) => t,
            None => return false,
        },
    };
    constant_time_eq(expected.as_bytes(), submitted.as_bytes())
}

/// Whether the request's `X-CSRF-Token` header is right (see [`verify`]).
pub fn verify_header(req: &HttpRequest) -> bool {
    req.headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| verify(req, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn session_token_is_checked_and_cross_site_refused() {
        let req = TestRequest::default()
            .cookie(Cookie::new(SESSION_COOKIE, "qs_abc"))
            .to_http_request();
        let t = for_session("qs_abc");
        assert!(verify(&req, &t));
        assert!(!verify(&req, &for_session("qs_other")));
        assert!(!verify(&req, ""));
        let cross = TestRequest::default()
            .cookie(Cookie::new(SESSION_COOKIE, "qs_abc"))
            .insert_header(("origin", "https://evil.example"))
            .to_http_request();
        assert!(!verify(&cross, &t));
        let fetch = TestRequest::default()
            .cookie(Cookie::new(SESSION_COOKIE, "qs_abc"))
            .insert_header(("sec-fetch-site", "cross-site"))
            .to_http_request();
        assert!(!verify(&fetch, &t));
    }

    #[test]
    fn presession_token_is_double_submit() {
        let bare = TestRequest::default().to_http_request();
        let (t, cookie) = token(&bare, false);
        assert!(cookie.is_some());
        assert!(!verify(&bare, &t), "no cookie, nothing to compare with");
        let req = TestRequest::default()
            .cookie(Cookie::new(CSRF_COOKIE, t.clone()))
            .to_http_request();
        let (again, none) = token(&req, false);
        assert_eq!(again, t);
        assert!(none.is_none());
        assert!(verify(&req, &t));
        assert!(!verify(&req, "x"));
    }
}
