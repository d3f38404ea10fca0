//! `/api/v1/employees` — owner and office staff manage employees; any user
//! may read their own linked employee record at `/api/v1/employees/me`
//! (technicians' phone UI needs it). Also the query-string helpers shared
//! with the equipment routes: unknown parameters and bad values are 400s
//! naming the parameter, in the standard error shape.

use super::api::resource;
use crate::db::employees::{self as repo, EmployeeFilter};
use crate::domain::employee::{EmployeeFields, EmployeeInput};
use crate::domain::{DomainError, FieldErrors};
use crate::http::auth::{AnyRole, Authed, Staff};
use crate::http::error::HttpError;
use crate::http::json::ValidJson;
use crate::http::openapi::{self as doc, IdPath};
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::http::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Registers the employee routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/employees", "GET, POST")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(resource("/employees/me", "GET").route(web::get().to(me)))
    .service(
        resource("/employees/{id}", "GET, PATCH, DELETE")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}

/// Parses the request's query string into `T` (a struct of `Option<String>`
/// with `deny_unknown_fields`). Fails with a 400 naming an unknown parameter,
/// or a plain 400 for a query string that cannot be decoded.
pub(crate) fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, HttpError> {
    match web::Query::<T>::from_query(req.query_string()) {
        Ok(q) => Ok(q.into_inner()),
        Err(e) => {
            let msg = match &e {
                actix_web::error::QueryPayloadError::Deserialize(inner) => inner.to_string(),
                other => other.to_string(),
            };
            let unknown = msg
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split('`').next());
            match unknown {
                Some(name) => {
                    let mut fields = FieldErrors::new();
                    fields.insert(name.to_string(), "unknown parameter".into());
                    Err(HttpError::Validation {
                        message: "unknown query parameter".into(),
                        fields,
                    })
                }
                None => Err(HttpError::BadRequest(format!(
                    "invalid query string: {msg}"
                ))),
            }
        }
    }
}

/// A free-text query parameter: trimmed, `None` when blank; a field error
/// when longer than `max` characters.
pub(crate) fn text_param(
    errors: &mut FieldErrors,
    name: &str,
    value: Option<String>,
    max: usize,
) -> Option<String> {
    let v = value?.trim().to_string();
    if v.chars().count() > max {
        errors.insert(name.into(), format!("must be at most {max} characters"));
        return None;
    }
    (!v.is_empty()).then_some(v)
}

/// A `true`/`false` query parameter; a field error for anything else.
pub(crate) fn bool_param(
    errors: &mut FieldErrors,
    name: &str,
    value: Option<String>,
) -> Option<bool> {
    match value?.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            errors.insert(name.into(), "must be true or false".into());
            None
        }
    }
}

/// Fails with a 400 listing every bad parameter when there are any.
pub(crate) fn finish(errors: FieldErrors) -> Result<(), HttpError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Validation(errors).into())
    }
}

/// Query of `GET /employees`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `true` or `false`.
    #[param(value_type = Option<bool>)]
    pub active: Option<String>,
    /// One skill (case-insensitive exact match).
    pub skill: Option<String>,
    /// Trade (case-insensitive exact match).
    pub trade: Option<String>,
    /// Substring of name, trade or e-mail.
    pub q: Option<String>,
    /// Page number (1..=1000000, default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Page size (1..=100, default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// Lists employees by name, filtered.
#[utoipa::path(
    get,
    path = "/api/v1/employees",
    tag = "employees",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of employees", body = Paginated<crate::domain::employee::Employee>),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
async fn list(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let q: ListQuery = query(&req)?;
    let page = Page::parse(&PageQuery {
        page: q.page,
        limit: q.limit,
    })?;
    let mut errors = FieldErrors::new();
    let filter = EmployeeFilter {
        active: bool_param(&mut errors, "active", q.active),
        skill: text_param(&mut errors, "skill", q.skill, 60),
        trade: text_param(&mut errors, "trade", q.trade, 100),
        q: text_param(&mut errors, "q", q.q, 200),
    };
    finish(errors)?;
    let (rows, total) = state
        .db
        .read(move |c| repo::list(c, &filter, page.limit.into(), page.offset()))
        .await?;
    Ok(HttpResponse::Ok().json(Paginated::new(rows, page, total)))
}

/// Creates an employee (`name` is required).
#[utoipa::path(
    post,
    path = "/api/v1/employees",
    tag = "employees",
    request_body = EmployeeInput,
    responses(
        (status = 201, description = "Created; `Location` names it", body = crate::domain::employee::Employee),
        doc::BadRequest,
        doc::Forbidden,
        doc::Conflict,
    ),
)]
async fn create(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    ValidJson(input): ValidJson<EmployeeInput>,
) -> Result<HttpResponse, HttpError> {
    let fields = EmployeeFields::merge(&EmployeeFields::default(), input)?;
    crate::http::create_record(&state, who.actor(), "employees", fields, repo::insert).await
}

/// `GET /employees/me`: the employee linked to the caller's user; 404 if none.
/// The employee record linked to the caller's user (any role).
#[utoipa::path(
    get,
    path = "/api/v1/employees/me",
    tag = "employees",
    responses(
        (status = 200, description = "The caller's employee record", body = crate::domain::employee::Employee),
        doc::NotFound,
    ),
)]
async fn me(state: web::Data<AppState>, who: Authed<AnyRole>) -> Result<HttpResponse, HttpError> {
    let user_id = who.user.id.clone();
    let emp = state
        .db
        .read(move |c| repo::by_user(c, &user_id))
        .await?
        .ok_or(HttpError::NotFound)?;
    Ok(HttpResponse::Ok().json(emp))
}

/// One employee.
#[utoipa::path(
    get,
    path = "/api/v1/employees/{id}",
    tag = "employees",
    params(IdPath),
    responses(
        (status = 200, description = "The employee", body = crate::domain::employee::Employee),
        doc::Forbidden,
        doc::NotFound,
    ),
)]
async fn get(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    crate::http::get_by_id(&state, &id, repo::get).await
}

/// Changes the fields given; `skills` replaces the whole list.
#[utoipa::path(
    patch,
    path = "/api/v1/employees/{id}",
    tag = "employees",
    params(IdPath),
    request_body = EmployeeInput,
    responses(
        (status = 200, description = "The updated employee", body = crate::domain::employee::Employee),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
    ),
)]
async fn update(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
    ValidJson(input): ValidJson<EmployeeInput>,
) -> Result<HttpResponse, HttpError> {
    crate::http::update_record(&state, who.actor(), &id, move |c, actor, id, now| {
        repo::update(c, actor, id, now, |cur| {
            EmployeeFields::merge(cur, input).map_err(crate::db::DbError::from)
        })
    })
    .await
}

/// Deletes an employee; 409 while work orders refer to them (deactivate instead).
#[utoipa::path(
    delete,
    path = "/api/v1/employees/{id}",
    tag = "employees",
    params(IdPath),
    responses(
        (status = 204, description = "Deleted"),
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
    ),
)]
async fn delete(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    crate::http::delete_by_id(&state, who.actor(), &id, repo::delete).await
}
