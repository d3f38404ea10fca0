//! `/api/v1/users` — the owner manages who can sign in: list users with their
//! activity, create a user with a role and an initial password, and change a
//! user's name, role, active flag or password. The web UI's `/admin/users`
//! pages call the same [`crate::accounts`] functions, so both are audited
//! alike. Deactivating a user ends their sessions; their API tokens are
//! refused while they are inactive.

use super::api::resource;
use crate::accounts::{self, NewAccount, UserChanges};
use crate::db::auth::{self as repo, UserView};
use crate::domain::user::Role;
use crate::http::auth::{Authed, OwnerOnly};
use crate::http::error::HttpError;
use crate::http::json::ValidJson;
use crate::http::openapi::{self as doc, IdPath};
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::http::path_id;
use crate::http::state::AppState;
use crate::secret::SecretString;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

/// Registers the user routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/users", "GET, POST")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(resource("/users/{id}", "PATCH").route(web::patch().to(update)));
}

/// Query of `GET /users`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page number (1..=1000000, default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Page size (1..=100, default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// Lists users — active first, then by role and name — with when they were
/// last seen and their live sessions and tokens.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of users", body = Paginated<repo::UserSummary>),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list(
    state: web::Data<AppState>,
    _who: Authed<OwnerOnly>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, HttpError> {
    let q = q.into_inner();
    let page = Page::parse(&PageQuery {
        page: q.page,
        limit: q.limit,
    })?;
    let now = state.clock.now();
    let (rows, total) = state
        .db
        .read(move |c| repo::list_users(c, now, page.limit.into(), page.offset()))
        .await?;
    Ok(HttpResponse::Ok().json(Paginated::new(rows, page, total)))
}

/// Body of `POST /users`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NewUserBody {
    /// E-mail address; the user signs in with it. Unique.
    email: String,
    /// Display name (at most 200 characters).
    #[serde(default)]
    name: String,
    /// owner, office or technician.
    role: Role,
    /// Initial password (at least `auth.min_password_length` characters).
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// Creates a user who can sign in at once with the initial password.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body = NewUserBody,
    responses(
        (status = 201, description = "Created", body = UserView),
        doc::BadRequest,
        doc::Forbidden,
        (status = 409, description = "The e-mail is taken (`conflict`)", body = crate::http::error::ErrorBody),
    ),
)]
#[tracing::instrument(skip_all)]
async fn create(
    state: web::Data<AppState>,
    who: Authed<OwnerOnly>,
    ValidJson(body): ValidJson<NewUserBody>,
) -> Result<HttpResponse, HttpError> {
    let min = state.config().auth.min_password_length;
    let user = accounts::create_user_as(
        &state.db,
        &state.clock,
        &who.actor(),
        NewAccount {
            email: body.email,
            name: body.name,
            role: body.role,
            password: body.password,
        },
        min,
    )
    .await?;
    tracing::info!(user_id = %user.id, role = %user.role, by = %who.user.id, "user created");
    Ok(HttpResponse::Created().json(UserView::from(&user)))
}

/// Body of `PATCH /users/{id}`: the fields to change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UserPatchBody {
    /// Display name (at most 200 characters).
    name: Option<String>,
    /// owner, office or technician.
    role: Option<Role>,
    /// `false` deactivates the user (their sessions end, their tokens are
    /// refused); `true` reactivates them.
    active: Option<bool>,
    /// A new password; the user's sessions end.
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
}

/// Changes a user's name, role, active flag or password. 409 when the
/// caller would deactivate themself or change their own role, or when no
/// active owner would be left.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    params(IdPath),
    request_body = UserPatchBody,
    responses(
        (status = 200, description = "The updated user", body = UserView),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
        (status = 409, description = "Deactivating yourself, changing your own role, or removing the last active owner (`conflict`)", body = crate::http::error::ErrorBody),
    ),
)]
#[tracing::instrument(skip_all)]
async fn update(
    state: web::Data<AppState>,
    who: Authed<OwnerOnly>,
    id: web::Path<String>,
    ValidJson(body): ValidJson<UserPatchBody>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let min = state.config().auth.min_password_length;
    let user = accounts::update_user(
        &state.db,
        &state.clock,
        &who.actor(),
        &id,
        UserChanges {
            name: body.name,
            role: body.role,
            active: body.active,
            password: body.password,
        },
        min,
    )
    .await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}
