//! `/api/v1/equipment` and `/api/v1/loadouts` — owner and office staff only.
//! "Maintenance due" is judged against today in the business's time zone.

use super::api::resource;
use super::employees::{bool_param, finish, query, text_param};
use crate::db::equipment::{self as repo, EquipmentFilter, LoadoutFilter};
use crate::domain::FieldErrors;
use crate::domain::equipment::{
    EquipmentFields, EquipmentInput, EquipmentStatus, LoadoutFields, LoadoutInput, STATUS_VALUES,
};
use crate::domain::ids::{new_id, parse_id};
use crate::http::auth::{Authed, Staff};
use crate::http::error::HttpError;
use crate::http::json::ValidJson;
use crate::http::openapi::{self as doc, IdPath};
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::http::path_id;
use crate::http::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

/// Registers the equipment and loadout routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/equipment", "GET, POST")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/equipment/{id}", "GET, PATCH, DELETE")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(
        resource("/loadouts", "GET, POST")
            .route(web::get().to(list_loadouts))
            .route(web::post().to(create_loadout)),
    )
    .service(
        resource("/loadouts/{id}", "GET, PATCH, DELETE")
            .route(web::get().to(get_loadout))
            .route(web::patch().to(update_loadout))
            .route(web::delete().to(delete_loadout)),
    );
}

/// Query of `GET /equipment`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// available | in_use | maintenance | retired.
    #[param(value_type = Option<EquipmentStatus>, inline)]
    pub status: Option<String>,
    /// Type (case-insensitive exact match).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Substring of name or type.
    pub q: Option<String>,
    /// `true`: maintenance date on or before today (not retired); `false`: not due.
    #[param(value_type = Option<bool>)]
    pub maintenance_due: Option<String>,
    /// Page number (1..=1000000, default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Page size (1..=100, default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// Lists equipment items, filtered.
#[utoipa::path(
    get,
    path = "/api/v1/equipment",
    tag = "equipment",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of equipment items", body = Paginated<crate::domain::equipment::Equipment>),
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
    let status = match q.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => match s.parse::<EquipmentStatus>() {
            Ok(st) => Some(st),
            Err(_) => {
                errors.insert("status".into(), STATUS_VALUES.into());
                None
            }
        },
    };
    let filter = EquipmentFilter {
        status,
        kind: text_param(&mut errors, "type", q.kind, 100),
        q: text_param(&mut errors, "q", q.q, 200),
        maintenance_due: bool_param(&mut errors, "maintenanceDue", q.maintenance_due),
        today: state.today(),
    };
    finish(errors)?;
    let (rows, total) = state
        .db
        .read(move |c| repo::list(c, &filter, page.limit.into(), page.offset()))
        .await?;
    Ok(HttpResponse::Ok().json(Paginated::new(rows, page, total)))
}

/// Creates an equipment item (`name` is required).
#[utoipa::path(
    post,
    path = "/api/v1/equipment",
    tag = "equipment",
    request_body = EquipmentInput,
    responses(
        (status = 201, description = "Created; `Location` names it", body = crate::domain::equipment::Equipment),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
async fn create(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    ValidJson(input): ValidJson<EquipmentInput>,
) -> Result<HttpResponse, HttpError> {
    let fields = EquipmentFields::merge(&EquipmentFields::default(), input)?;
    crate::http::create_record(&state, who.actor(), "equipment", fields, repo::insert).await
}

/// One equipment item.
#[utoipa::path(
    get,
    path = "/api/v1/equipment/{id}",
    tag = "equipment",
    params(IdPath),
    responses(
        (status = 200, description = "The equipment item", body = crate::domain::equipment::Equipment),
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

/// Changes the fields given.
#[utoipa::path(
    patch,
    path = "/api/v1/equipment/{id}",
    tag = "equipment",
    params(IdPath),
    request_body = EquipmentInput,
    responses(
        (status = 200, description = "The updated equipment item", body = crate::domain::equipment::Equipment),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
    ),
)]
async fn update(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
    ValidJson(input): ValidJson<EquipmentInput>,
) -> Result<HttpResponse, HttpError> {
    crate::http::update_record(&state, who.actor(), &id, move |c, actor, id, now| {
        repo::update(c, actor, id, now, |cur| {
            EquipmentFields::merge(cur, input).map_err(crate::db::DbError::from)
        })
    })
    .await
}

/// Deletes an equipment item; 409 while loadouts or work orders use it.
#[utoipa::path(
    delete,
    path = "/api/v1/equipment/{id}",
    tag = "equipment",
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

/// Query of `GET /loadouts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct LoadoutListQuery {
    /// Substring of name or description.
    pub q: Option<String>,
    /// Only loadouts containing this equipment item.
    pub equipment_id: Option<String>,
    /// Page number (1..=1000000, default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Page size (1..=100, default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// Lists loadouts, filtered.
#[utoipa::path(
    get,
    path = "/api/v1/loadouts",
    tag = "equipment",
    params(LoadoutListQuery),
    responses(
        (status = 200, description = "A page of loadouts", body = Paginated<crate::domain::equipment::Loadout>),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
async fn list_loadouts(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let q: LoadoutListQuery = query(&req)?;
    let page = Page::parse(&PageQuery {
        page: q.page,
        limit: q.limit,
    })?;
    let mut errors = FieldErrors::new();
    let equipment_id = match text_param(&mut errors, "equipmentId", q.equipment_id, 100) {
        None => None,
        Some(s) => match parse_id(&s) {
            Some(u) => Some(u.to_string()),
            None => {
                errors.insert("equipmentId".into(), "must be an equipment id".into());
                None
            }
        },
    };
    let filter = LoadoutFilter {
        q: text_param(&mut errors, "q", q.q, 200),
        equipment_id,
    };
    finish(errors)?;
    let (rows, total) = state
        .db
        .read(move |c| repo::list_loadouts(c, &filter, page.limit.into(), page.offset()))
        .await?;
    Ok(HttpResponse::Ok().json(Paginated::new(rows, page, total)))
}

/// Creates a loadout (`name` is required).
#[utoipa::path(
    post,
    path = "/api/v1/loadouts",
    tag = "equipment",
    request_body = LoadoutInput,
    responses(
        (status = 201, description = "Created; `Location` names it", body = crate::domain::equipment::Loadout),
        doc::BadRequest,
        doc::Forbidden,
        doc::Conflict,
    ),
)]
async fn create_loadout(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    ValidJson(input): ValidJson<LoadoutInput>,
) -> Result<HttpResponse, HttpError> {
    let fields = LoadoutFields::merge(&LoadoutFields::default(), input)?;
    let now = state.clock.now();
    let id = new_id(now).to_string();
    let actor = who.actor();
    let loadout = state
        .db
        .write(move |c| repo::insert_loadout(c, &actor, &id, fields, now))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/loadouts/{}", loadout.id)))
        .json(loadout))
}

/// One loadout.
#[utoipa::path(
    get,
    path = "/api/v1/loadouts/{id}",
    tag = "equipment",
    params(IdPath),
    responses(
        (status = 200, description = "The loadout", body = crate::domain::equipment::Loadout),
        doc::Forbidden,
        doc::NotFound,
    ),
)]
async fn get_loadout(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    crate::http::get_by_id(&state, &id, repo::get_loadout).await
}

/// Changes the fields given.
#[utoipa::path(
    patch,
    path = "/api/v1/loadouts/{id}",
    tag = "equipment",
    params(IdPath),
    request_body = LoadoutInput,
    responses(
        (status = 200, description = "The updated loadout", body = crate::domain::equipment::Loadout),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
    ),
)]
async fn update_loadout(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
    ValidJson(input): ValidJson<LoadoutInput>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let now = state.clock.now();
    let actor = who.actor();
    let loadout = state
        .db
        .write(move |c| {
            repo::update_loadout(c, &actor, &id, now, |cur| {
                LoadoutFields::merge(cur, input).map_err(crate::db::DbError::from)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(loadout))
}

/// Deletes a loadout; 409 while open work orders use it.
#[utoipa::path(
    delete,
    path = "/api/v1/loadouts/{id}",
    tag = "equipment",
    params(IdPath),
    responses(
        (status = 204, description = "Deleted"),
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
    ),
)]
async fn delete_loadout(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    crate::http::delete_by_id(&state, who.actor(), &id, repo::delete_loadout).await
}
