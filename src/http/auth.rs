//! Authentication and the role guard. Every route that needs a user takes an
//! [`Authed<P>`] argument, where the policy `P` names the roles it allows:
//! no valid session cookie or bearer token → 401, a role outside `P` → 403.
//! Raw tokens are hashed before any lookup; only hashes are stored.

use super::error::HttpError;
use super::state::AppState;
use crate::db::auth::{self as repo, UserRow};
use crate::domain::user::Role;
use crate::secret::hash_token;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use std::marker::PhantomData;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "quant_session";

/// A set of roles a route allows.
pub trait Policy {
    /// The allowed roles.
    const ROLES: &'static [Role];
}

/// Any logged-in user.
#[derive(Debug)]
pub struct AnyRole;
impl Policy for AnyRole {
    const ROLES: &'static [Role] = &[Role::Owner, Role::Office, Role::Technician];
}

/// The owner only.
#[derive(Debug)]
pub struct OwnerOnly;
impl Policy for OwnerOnly {
    const ROLES: &'static [Role] = &[Role::Owner];
}

/// Owner and office staff.
#[derive(Debug)]
pub struct Staff;
impl Policy for Staff {
    const ROLES: &'static [Role] = &[Role::Owner, Role::Office];
}

/// How the request was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthVia {
    /// Browser session; its public id.
    Session(String),
    /// API bearer token; its public id.
    Token(String),
}

/// An authenticated user whose role is allowed by `P`.
#[derive(Debug)]
pub struct Authed<P: Policy> {
    /// The user.
    pub user: UserRow,
    /// Session or token.
    pub via: AuthVia,
    /// The request's id (for the audit log).
    pub request_id: Option<String>,
    _policy: PhantomData<P>,
}

impl<P: Policy> Authed<P> {
    /// Whether the user is the owner (who may act on everyone's records).
    pub fn is_owner(&self) -> bool {
        self.user.role == Role::Owner
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

/// How stale a session's `last_seen_at` may get before a request refreshes it.
const SESSION_TOUCH_SECS: i64 = 300;
/// How stale a token's `last_used_at` may get before a request refreshes it.
const TOKEN_TOUCH_SECS: i64 = 60;

fn stale(last: Option<&str>, now: chrono::DateTime<chrono::Utc>, secs: i64) -> bool {
    match last.and_then(crate::clock::parse_ts) {
        Some(t) => (now - t).num_seconds() >= secs,
        None => true,
    }
}

/// Resolves the request's credentials to a user. `Ok(None)` when there are
/// none or they are not valid (unknown, revoked, expired, user inactive).
/// A present but malformed `Authorization` header is treated as invalid; it
/// never falls back to the cookie. Fails only on database errors.
pub async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<(UserRow, AuthVia)>, HttpError> {
    let now = state.clock.now();
    if let Some(h) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let Some(token) = h
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
        else {
            return Ok(None);
        };
        let hash = hash_token(token);
        let found = state
            .db
            .read_cached(
                &state.caches.tokens,
                hash.clone(),
                |_| 1,
                move |c| repo::token_user(c, &hash),
            )
            .await?;
        let Some((id, last_used, user)) = found else {
            return Ok(None);
        };
        if stale(last_used.as_deref(), now, TOKEN_TOUCH_SECS) {
            let tid = id.clone();
            if let Err(e) = state
                .db
                .write(move |c| repo::touch_token(c, &tid, now))
                .await
            {
                tracing::warn!(error = %e, "cannot record token use");
            }
        }
        return Ok(Some((user, AuthVia::Token(id))));
    }
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let value = cookie.value();
    if value.is_empty() || value.len() > 256 {
        return Ok(None);
    }
    let hash = hash_token(value);
    let found = state
        .db
        .read(move |c| repo::session_user(c, &hash, now))
        .await?;
    let Some((id, last_seen, user)) = found else {
        return Ok(None);
    };
    if stale(Some(&last_seen), now, SESSION_TOUCH_SECS) {
        let sid = id.clone();
        if let Err(e) = state
            .db
            .write(move |c| repo::touch_session(c, &sid, now))
            .await
        {
            tracing::warn!(error = %e, "cannot record session activity");
        }
    }
    Ok(Some((user, AuthVia::Session(id))))
}

impl<P: Policy + 'static> FromRequest for Authed<P> {
    type Error = HttpError;
    type Future = LocalBoxFuture<'static, Result<Self, HttpError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| HttpError::Internal("application state missing".into()))?;
            let (user, via) = authenticate(&state, &req)
                .await?
                .ok_or_else(HttpError::unauthenticated)?;
            if let AuthVia::Session(_) = &via
                && req.path().starts_with("/api/")
                && !req.method().is_safe()
                && !crate::http::csrf::verify_header(&req)
            {
                return Err(HttpError::Forbidden(
                    "a request authenticated by the session cookie must carry the X-CSRF-Token header (csrfToken from the login response)".into(),
                ));
            }
            if !P::ROLES.contains(&user.role) {
                return Err(HttpError::Forbidden(format!(
                    "the {} role may not do this",
                    user.role
                )));
            }
            let request_id = req
                .extensions()
                .get::<crate::http::middleware::RequestId>()
                .map(|r| r.0.clone());
            Ok(Authed {
                user,
                via,
                request_id,
                _policy: PhantomData,
            })
        })
    }
}

/// Whether cookies get the `Secure` attribute: Quant serves HTTPS itself
/// (`tls.enabled`) or people reach it over HTTPS (`server.public_url`
/// starts with `https://`, e.g. behind a TLS proxy). Every cookie Quant sets
/// should use this.
pub fn secure_cookies(config: &crate::config::Config) -> bool {
    config.tls.enabled || config.server.public_url.starts_with("https://")
}

/// The session cookie carrying `token`, valid for `auth.session_ttl`.
/// `HttpOnly`, `SameSite=Lax`, path `/`; `Secure` per [`secure_cookies`].
pub fn session_cookie(token: &str, config: &crate::config::Config) -> Cookie<'static> {
    let ttl = config.auth.session_ttl;
    let secure = secure_cookies(config);
    Cookie::build(SESSION_COOKIE, token.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(CookieDuration::seconds(
            ttl.as_secs().min(i64::MAX as u64) as i64
        ))
        .finish()
}

/// A cookie that deletes the session cookie (with the same attributes,
/// `Secure` per [`secure_cookies`]).
pub fn clear_session_cookie(config: &crate::config::Config) -> Cookie<'static> {
    let mut c = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure_cookies(config))
        .finish();
    c.make_removal();
    c
}

/// Client address for records (peer address; proxies are not trusted).
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}

/// The User-Agent, cut to 256 bytes on a character boundary.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    let ua = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)?
        .to_str()
        .ok()?;
    let mut end = ua.len().min(256);
    while !ua.is_char_boundary(end) {
        end -= 1;
    }
    Some(ua[..end].to_string())
}

/// Creates a session for `user` and returns its cookie token and expiry.
/// Fails on database errors.
pub async fn start_session(
    state: &AppState,
    req: &HttpRequest,
    user_id: String,
) -> Result<(secrecy::SecretString, chrono::DateTime<chrono::Utc>, String), HttpError> {
    use secrecy::ExposeSecret;
    let now = state.clock.now();
    let ttl = state.config().auth.session_ttl;
    let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(14));
    let token = crate::secret::new_token("qs_");
    let hash = hash_token(token.expose_secret());
    let id = crate::domain::ids::new_id(now).to_string();
    let (ip, ua) = (client_ip(req), user_agent(req));
    let sid = id.clone();
    state
        .db
        .write(move |c| {
            repo::insert_session(
                c,
                &repo::NewSession {
                    id: &sid,
                    token_hash: &hash,
                    user_id: &user_id,
                    expires_at: expires,
                    ip: ip.as_deref(),
                    user_agent: ua.as_deref(),
                },
                now,
            )
        })
        .await?;
    Ok((token, expires, id))
}

/// Checks an e-mail and password under the login throttle and starts a
/// session: the user, the session cookie token, its expiry and the session's
/// public id. Fails with 429 (`Retry-After`) while the account or the client
/// IP is locked out, 401 with one message for an unknown e-mail, a wrong
/// password or a deactivated account (spending the same hashing time), and
/// on database errors.
pub async fn password_login(
    state: &AppState,
    req: &HttpRequest,
    email: &crate::domain::user::Email,
    password: secrecy::SecretString,
) -> Result<
    (
        UserRow,
        secrecy::SecretString,
        chrono::DateTime<chrono::Utc>,
        String,
    ),
    HttpError,
> {
    use secrecy::ExposeSecret;
    let limits = crate::http::throttle::Limits::from_config(&state.config().auth);
    let ip = req.peer_addr().map(|a| a.ip());
    let now = state.clock.now();
    if let Err(secs) = state.login_throttle.check(email.as_str(), ip, limits, now) {
        tracing::warn!(email = %email, "login throttled");
        state.metrics.login_throttled();
        return Err(HttpError::TooManyRequests(secs));
    }
    let wrong = || HttpError::Unauthorized("wrong e-mail or password".into());
    if password.expose_secret().len() > crate::domain::user::MAX_PASSWORD_LEN {
        state.login_throttle.failed(email.as_str(), ip, limits, now);
        return Err(wrong());
    }
    let lookup = email.as_str().to_string();
    let user = state
        .db
        .read(move |c| repo::user_by_email(c, &lookup))
        .await?;
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| crate::secret::dummy_hash().to_string());
    let ok = tokio::task::spawn_blocking(move || {
        crate::secret::verify_password(password.expose_secret(), &phc)
    })
    .await
    .map_err(|e| HttpError::Internal(e.to_string()))?;
    let user = match user {
        Some(u) if ok && u.active => u,
        _ => {
            tracing::info!(email = %email, "login failed");
            state.login_throttle.failed(email.as_str(), ip, limits, now);
            return Err(wrong());
        }
    };
    state.login_throttle.succeeded(email.as_str());
    let (token, expires, session_id) = start_session(state, req, user.id.clone()).await?;
    Ok((user, token, expires, session_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_with_tls_or_an_https_public_url() {
        let mut c = crate::config::Config::default();
        let secure = |c: &crate::config::Config| {
            (
                session_cookie("t", c).secure(),
                clear_session_cookie(c).secure(),
            )
        };
        assert_eq!(
            secure(&c),
            (Some(false), Some(false)),
            "plain HTTP: no Secure"
        );
        c.tls.enabled = true;
        assert_eq!(secure(&c), (Some(true), Some(true)), "TLS on");
        c.tls.enabled = false;
        c.server.public_url = "https://quant.example.com".into();
        assert_eq!(
            secure(&c),
            (Some(true), Some(true)),
            "behind an HTTPS proxy"
        );
        let cleared = clear_session_cookie(&c);
        assert_eq!(cleared.value(), "");
        assert_eq!(cleared.http_only(), Some(true));
    }
}
