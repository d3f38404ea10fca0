//! Request middleware: a request id on every response and log line, HTTP
//! metrics by route pattern, the per-IP API rate limit, and (for the test
//! suite only) a recorder of API responses.

use super::error::HttpError;
use super::state::AppState;
use crate::monitor::metrics::UNMATCHED_ROUTE;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::Instrument;

/// The request id header, read from the request when valid and set on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request id is taken from the client only if it is 1..=128 characters of
/// `[A-Za-z0-9._-]`; anything else is replaced by a fresh one.
fn valid_request_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The id of the current request (set by [`observe`]).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Assigns the request id, runs the request inside a tracing span that carries
/// it, records `http_requests_total` and `http_request_duration_seconds` with
/// the matched route pattern, and logs one line per request.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let start = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|s| valid_request_id(s))
        .map(str::to_string)
        .unwrap_or_else(|| {
            let now = state
                .as_ref()
                .map(|s| s.clock.now())
                .unwrap_or_else(chrono::Utc::now);
            crate::domain::ids::new_id(now).simple().to_string()
        });
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().to_string();
    let path = req.path().to_string();
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %path);
    // Do not clone the request before routing: the router needs it unshared.
    let res = next.call(req).instrument(span.clone()).await;
    let mut res = match res {
        Ok(r) => r.map_into_boxed_body(),
        Err(e) => {
            // Inner layers answer with responses; an error here is unexpected.
            let status = e.as_response_error().status_code().as_u16();
            if let Some(s) = &state {
                s.metrics.observe_request(
                    &method,
                    UNMATCHED_ROUTE,
                    status,
                    start.elapsed().as_secs_f64(),
                );
            }
            span.in_scope(|| tracing::warn!(status, error = %e, "request failed in middleware"));
            return Err(e);
        }
    };
    let status = res.status().as_u16();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_string());
    let secs = start.elapsed().as_secs_f64();
    if let Some(s) = &state {
        s.metrics.observe_request(&method, &route, status, secs);
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    span.in_scope(|| {
        let ms = (secs * 1000.0 * 1000.0).round() / 1000.0;
        if route == "/healthz" || route == "/metrics" || route == "/readyz" {
            tracing::debug!(status, route = %route, duration_ms = ms, "request");
        } else if status >= 500 {
            tracing::error!(status, route = %route, duration_ms = ms, "request");
        } else {
            tracing::info!(status, route = %route, duration_ms = ms, "request");
        }
    });
    Ok(res)
}

/// Applies the per-IP API rate limit (configured in `[rate_limit]`,
/// reloadable). Over the limit → 429 with `Retry-After`.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let limiter = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.limiter());
    if let (Some(limiter), Some(peer)) = (limiter, req.peer_addr())
        && let Err(not_until) = limiter.check_key(&peer.ip())
    {
        {
            use governor::clock::{Clock, DefaultClock};
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let res =
                actix_web::ResponseError::error_response(&HttpError::TooManyRequests(secs.max(1)));
            return Ok(req.into_response(res));
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// One response as the client received it, kept by [`record`].
#[derive(Debug, Clone)]
pub struct RecordedResponse {
    /// Request method (`GET`).
    pub method: String,
    /// Request path as sent (`/api/v1/customers/0190…`).
    pub path: String,
    /// The matched route pattern (`/api/v1/customers/{id}`), if any.
    pub route: Option<String>,
    /// Status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The whole body.
    pub body: Vec<u8>,
}

/// Where [`record`] keeps responses: `AppOptions::record_responses`.
pub type ResponseLog = Arc<Mutex<Vec<RecordedResponse>>>;

/// The response log as app data (present only when recording is on).
#[derive(Clone)]
pub struct ResponseRecorder(pub ResponseLog);

/// Whether `path` is one whose responses the OpenAPI document describes.
fn documented_path(path: &str) -> bool {
    path.starts_with("/api/") || matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// Test-suite middleware (installed only when `AppOptions::record_responses`
/// is set): buffers the body of every `/api/` (and health/metrics) response
/// and records method, route pattern, status, content type and body, so the
/// suite can check them against the OpenAPI document. Passes the response on
/// unchanged; fails only as the inner service fails or the body cannot be read.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let log = req
        .app_data::<ResponseRecorder>()
        .cloned()
        .filter(|_| documented_path(req.path()));
    let Some(log) = log else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let method = req.method().to_string();
    let path = req.path().to_string();
    let keep = |route: Option<String>, status: u16, content_type: Option<String>, body: Vec<u8>| {
        if let Ok(mut v) = log.0.lock() {
            v.push(RecordedResponse {
                method: method.clone(),
                path: path.clone(),
                route,
                status,
                content_type,
                body,
            });
        }
    };
    let content_type = |h: &actix_web::http::header::HeaderMap| {
        h.get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let res = match next.call(req).await {
        Ok(res) => res,
        Err(e) => {
            let res = e.error_response();
            let (status, ct) = (res.status().as_u16(), content_type(res.headers()));
            let body = actix_web::body::to_bytes(res.into_body())
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default();
            keep(None, status, ct, body);
            return Err(e);
        }
    };
    let route = res.request().match_pattern();
    let status = res.status().as_u16();
    let ct = content_type(res.headers());
    let (http_req, res) = res.into_parts();
    let (res, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.map_err(|e| {
        let e: Box<dyn std::error::Error> = e.into();
        actix_web::error::ErrorInternalServerError(e.to_string())
    })?;
    keep(route, status, ct, bytes.to_vec());
    Ok(ServiceResponse::new(
        http_req,
        res.set_body(bytes).map_into_boxed_body(),
    ))
}

/// The Content-Security-Policy on every response: only this origin's
/// scripts, styles, images and connections; no inline script or style, no
/// plugins, no framing, forms post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Sets the security headers on every response (unless a handler set its
/// own): the strict [`CONTENT_SECURITY_POLICY`], `X-Frame-Options: DENY`,
/// `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin`,
/// `Cross-Origin-Opener-Policy: same-origin` and a `Permissions-Policy` that
/// allows only the camera (photos), for this origin.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    let set =
        |h: &mut actix_web::http::header::HeaderMap, name: &'static str, value: &'static str| {
            let name = HeaderName::from_static(name);
            if !h.contains_key(&name) {
                h.insert(name, HeaderValue::from_static(value));
            }
        };
    set(h, "content-security-policy", CONTENT_SECURITY_POLICY);
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "same-origin");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(self), microphone=(), geolocation=(), payment=(), usb=()",
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_filtered() {
        assert!(super::valid_request_id("abc-123_x.y"));
        assert!(!super::valid_request_id(""));
        assert!(!super::valid_request_id("has space"));
        assert!(!super::valid_request_id("inj\r\nX-Evil: 1"));
        assert!(!super::valid_request_id(&"a".repeat(129)));
    }
}
