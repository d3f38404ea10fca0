//! JSON API v1 (`/api/v1`): authentication, the current user, sessions and
//! API tokens. Unknown `/api` paths answer a JSON 404 and known paths with
//! another method a JSON 405. The whole scope is under the per-IP rate limit.

use crate::accounts;
use crate::db::auth::{self as repo, UserView};
use crate::domain::user::Email;
use crate::http::auth::{AnyRole, AuthVia, Authed, Staff, clear_session_cookie, session_cookie};
use crate::http::error::{ErrorBody, HttpError, api_method_not_allowed, api_not_found};
use crate::http::json::ValidJson;
use crate::http::openapi::{self as doc, IdPath};
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::http::state::AppState;
use crate::secret::{ExposeSecret, SecretString};
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, Resource, web};
use serde::{Deserialize, Serialize};

/// A resource at `path` whose other methods get a JSON 405 with an `Allow`
/// header listing `allow`, the methods its routes accept (RFC 9110 §15.5.6).
pub(crate) fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move {
        let mut res = api_method_not_allowed().await;
        res.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static(allow),
        );
        res
    }))
}

/// Registers `/api` and everything under it.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .wrap(from_fn(crate::http::middleware::rate_limit))
            .service(
                web::scope("/v1")
                    .service(
                        resource("/openapi.json", "GET")
                            .route(web::get().to(crate::http::openapi::openapi_json)),
                    )
                    .service(resource("/auth/login", "POST").route(web::post().to(login)))
                    .service(resource("/auth/logout", "POST").route(web::post().to(logout)))
                    .service(resource("/me", "GET").route(web::get().to(me)))
                    .service(resource("/sessions", "GET").route(web::get().to(list_sessions)))
                    .service(
                        resource("/sessions/revoke-all", "POST")
                            .route(web::post().to(revoke_all_sessions)),
                    )
                    .service(
                        resource("/sessions/{id}", "DELETE")
                            .route(web::delete().to(revoke_session)),
                    )
                    .service(
                        resource("/tokens", "GET, POST")
                            .route(web::get().to(list_tokens))
                            .route(web::post().to(create_token)),
                    )
                    .service(
                        resource("/tokens/{id}", "DELETE").route(web::delete().to(revoke_token)),
                    )
                    .configure(super::customers::configure)
                    .configure(super::users::configure)
                    .configure(super::attachments::configure)
                    .configure(super::employees::configure)
                    .configure(super::equipment::configure)
                    .configure(super::invoices::configure)
                    .configure(super::follow_ups::configure)
                    .configure(super::leads::configure)
                    .configure(super::audit::configure)
                    .configure(super::backup::configure)
                    .configure(super::work_orders::configure)
                    .configure(super::analytics::configure)
                    .default_service(web::to(api_not_found)),
            )
            .default_service(web::to(api_not_found)),
    );
}

/// Body of `POST /auth/login`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    /// The user's e-mail address.
    email: String,
    /// The password.
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// Answer of `POST /auth/login`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginResponse {
    /// Who logged in.
    user: UserView,
    /// The new session's public id.
    session_id: String,
    /// Send this as the `X-CSRF-Token` header with every state-changing
    /// request authenticated by the session cookie.
    csrf_token: String,
    /// When the session ends unless renewed (RFC 3339).
    #[schema(format = DateTime)]
    expires_at: String,
}

/// `POST /api/v1/auth/login`: e-mail + password → session cookie.
/// 401 with the same message for an unknown e-mail, a wrong password or a
/// deactivated account (and the same time spent hashing).
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    security(()),
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in; the `quant_session` cookie is set", body = LoginResponse),
        doc::BadRequest,
        (status = 401, description = "Wrong e-mail or password, or a deactivated account (`unauthorized`)", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all)]
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    ValidJson(body): ValidJson<LoginBody>,
) -> Result<HttpResponse, HttpError> {
    let email = Email::parse(&body.email)?;
    let (user, token, expires, session_id) =
        crate::http::auth::password_login(&state, &req, &email, body.password).await?;
    let cfg = state.config();
    tracing::info!(user_id = %user.id, "login");
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(token.expose_secret(), &cfg))
        .insert_header(("Cache-Control", "no-store"))
        .json(LoginResponse {
            user: UserView::from(&user),
            session_id,
            csrf_token: crate::http::csrf::for_session(token.expose_secret()),
            expires_at: crate::clock::format_ts(expires),
        }))
}

/// `POST /api/v1/auth/logout`: ends the current session (a bearer token is
/// not revoked by logout; delete it under `/tokens`). 204.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    responses((status = 204, description = "Logged out; the session cookie is cleared")),
)]
async fn logout(
    state: web::Data<AppState>,
    who: Authed<AnyRole>,
) -> Result<HttpResponse, HttpError> {
    if let AuthVia::Session(id) = &who.via {
        let id = id.clone();
        let now = state.clock.now();
        state
            .db
            .write(move |c| repo::revoke_session(c, &id, None, now))
            .await?;
    }
    Ok(HttpResponse::NoContent()
        .cookie(clear_session_cookie(&state.config()))
        .finish())
}

/// How a request was authenticated.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AuthMethod {
    /// The session cookie.
    Session,
    /// A bearer token.
    Token,
}

/// Answer of `GET /me`: the user and how they authenticated.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MeResponse {
    #[serde(flatten)]
    user: UserView,
    /// Session cookie or bearer token.
    auth_method: AuthMethod,
}

/// `GET /api/v1/me`: who is calling and how.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    responses((status = 200, description = "The caller", body = MeResponse)),
)]
async fn me(who: Authed<AnyRole>) -> HttpResponse {
    HttpResponse::Ok().json(MeResponse {
        user: UserView::from(&who.user),
        auth_method: match who.via {
            AuthVia::Session(_) => AuthMethod::Session,
            AuthVia::Token(_) => AuthMethod::Token,
        },
    })
}

/// The owner acts on everyone's sessions and tokens; others on their own.
fn scope_of<P: crate::http::auth::Policy>(who: &Authed<P>) -> Option<String> {
    (!who.is_owner()).then(|| who.user.id.clone())
}

/// `GET /api/v1/sessions`: live sessions (all for the owner, else one's own).
#[utoipa::path(
    get,
    path = "/api/v1/sessions",
    tag = "auth",
    params(PageQuery),
    responses(
        (status = 200, description = "Live sessions, newest first", body = Paginated<repo::SessionView>),
        doc::BadRequest,
    ),
)]
async fn list_sessions(
    state: web::Data<AppState>,
    who: Authed<AnyRole>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, HttpError> {
    let page = Page::parse(&q)?;
    let user = scope_of(&who);
    let now = state.clock.now();
    let (rows, total) = state
        .db
        .read(move |c| {
            repo::list_sessions(c, user.as_deref(), now, page.limit.into(), page.offset())
        })
        .await?;
    Ok(HttpResponse::Ok().json(Paginated::new(rows, page, total)))
}

/// `DELETE /api/v1/sessions/{id}`: revokes one session. 204; 404 when it is
/// not a live session the caller may see.
#[utoipa::path(
    delete,
    path = "/api/v1/sessions/{id}",
    tag = "auth",
    params(IdPath),
    responses(
        (status = 204, description = "Revoked"),
        doc::NotFound,
    ),
)]
async fn revoke_session(
    state: web::Data<AppState>,
    who: Authed<AnyRole>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    revoke(
        &state,
        scope_of(&who),
        id.into_inner(),
        repo::revoke_session,
    )
    .await
}

/// Signature shared by the repository's revoke functions.
type RevokeFn = fn(
    &rusqlite::Connection,
    &str,
    Option<&str>,
    chrono::DateTime<chrono::Utc>,
) -> Result<(), crate::db::DbError>;

/// Revokes the session or token `id` (restricted to `user`'s own when given).
/// 204; 404 for a non-UUID id or one that is not live and visible.
async fn revoke(
    state: &AppState,
    user: Option<String>,
    id: String,
    f: RevokeFn,
) -> Result<HttpResponse, HttpError> {
    if crate::domain::ids::parse_id(&id).is_none() {
        return Err(HttpError::NotFound);
    }
    let now = state.clock.now();
    state
        .db
        .write(move |c| f(c, &id, user.as_deref(), now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Answer of `POST /sessions/revoke-all`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Revoked {
    /// How many sessions were ended.
    revoked: usize,
}

/// `POST /api/v1/sessions/revoke-all`: the owner logs everyone out (including
/// themself); others log out all their own sessions. Returns `{"revoked": n}`.
#[utoipa::path(
    post,
    path = "/api/v1/sessions/revoke-all",
    tag = "auth",
    responses((status = 200, description = "Sessions ended; the caller's cookie is cleared", body = Revoked)),
)]
async fn revoke_all_sessions(
    state: web::Data<AppState>,
    who: Authed<AnyRole>,
) -> Result<HttpResponse, HttpError> {
    let user = scope_of(&who);
    let now = state.clock.now();
    let n = state
        .db
        .write(move |c| repo::revoke_sessions(c, user.as_deref(), now))
        .await?;
    tracing::info!(revoked = n, by = %who.user.id, "sessions revoked");
    Ok(HttpResponse::Ok()
        .cookie(clear_session_cookie(&state.config()))
        .json(Revoked { revoked: n }))
}

/// `GET /api/v1/tokens`: live API tokens (all for the owner, else one's own).
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "auth",
    params(PageQuery),
    responses(
        (status = 200, description = "Live API tokens", body = Paginated<repo::TokenView>),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
async fn list_tokens(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, HttpError> {
    let page = Page::parse(&q)?;
    let user = scope_of(&who);
    let (rows, total) = state
        .db
        .read(move |c| repo::list_tokens(c, user.as_deref(), page.limit.into(), page.offset()))
        .await?;
    Ok(HttpResponse::Ok().json(Paginated::new(rows, page, total)))
}

/// Body of `POST /tokens`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTokenBody {
    /// A name for the token, unique among the caller's live tokens.
    name: String,
}

/// Answer of `POST /tokens`: the token record and its secret.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewTokenResponse {
    #[serde(flatten)]
    token: repo::TokenView,
    /// The bearer token; shown only in this response.
    secret: String,
}

/// `POST /api/v1/tokens` `{"name"}`: issues a token for the caller. 201 with
/// the token in `secret`, shown once; 409 when the name is in use.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "auth",
    request_body = NewTokenBody,
    responses(
        (status = 201, description = "Issued; `secret` is shown only here", body = NewTokenResponse),
        doc::BadRequest,
        doc::Forbidden,
        doc::Conflict,
    ),
)]
async fn create_token(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    ValidJson(body): ValidJson<NewTokenBody>,
) -> Result<HttpResponse, HttpError> {
    let (view, secret) =
        accounts::create_token(&state.db, &state.clock, &who.user.id, &body.name).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(NewTokenResponse {
            token: view,
            secret: secret.expose_secret().to_string(),
        }))
}

/// `DELETE /api/v1/tokens/{id}`: revokes a token. 204; 404 when it is not a
/// live token the caller may see.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    tag = "auth",
    params(IdPath),
    responses(
        (status = 204, description = "Revoked"),
        doc::Forbidden,
        doc::NotFound,
    ),
)]
async fn revoke_token(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    revoke(&state, scope_of(&who), id.into_inner(), repo::revoke_token).await
}
