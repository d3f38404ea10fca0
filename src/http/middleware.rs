//! Request middleware: a request id on every response and log line, HTTP
//! metrics by route pattern, and the per-IP API rate limit.

use super::error::HttpError;
use super::state::AppState;
use crate::monitor::metrics::UNMATCHED_ROUTE;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
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
