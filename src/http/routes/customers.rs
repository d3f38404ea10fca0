//! `/api/v1/customers` and their contacts — owner and office staff only
//! (technicians see a customer's name and address through their work orders).

use super::api::resource;
use crate::db::customers::{self as repo, CustomerFilter};
use crate::domain::customer::{
    ContactFields, ContactInput, CustomerFields, CustomerInput, fts_query,
};
use crate::domain::ids::new_id;
use crate::http::auth::{Authed, Staff};
use crate::http::error::HttpError;
use crate::http::json::ValidJson;
use crate::http::openapi::{self as doc, ContactPath, IdPath};
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::http::path_id;
use crate::http::state::AppState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

/// Registers the customer routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/customers", "GET, POST")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/customers/{id}", "GET, PATCH, DELETE")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(
        resource("/customers/{id}/contacts", "GET, POST")
            .route(web::get().to(list_contacts))
            .route(web::post().to(create_contact)),
    )
    .service(
        resource("/customers/{id}/contacts/{contact_id}", "PATCH, DELETE")
            .route(web::patch().to(update_contact))
            .route(web::delete().to(delete_contact)),
    );
}

/// Query of `GET /customers`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Search text (name, company, e-mail, phone, address, notes; prefix match; at most 200 characters).
    pub q: Option<String>,
    /// Only customers with this tag.
    pub tag: Option<String>,
    /// Page number (1..=1000000, default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Page size (1..=100, default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// Lists customers, newest first, or the best matches of `q` (full-text, prefix matching).
#[utoipa::path(
    get,
    path = "/api/v1/customers",
    tag = "customers",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of customers", body = Paginated<crate::domain::customer::Customer>),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
async fn list(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, HttpError> {
    let q = q.into_inner();
    let page = Page::parse(&PageQuery {
        page: q.page,
        limit: q.limit,
    })?;
    if q.q.as_deref().is_some_and(|s| s.chars().count() > 200) {
        return Err(
            crate::domain::DomainError::field("q", "must be at most 200 characters").into(),
        );
    }
    let text = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let fts = text.and_then(fts_query);
    if text.is_some() && fts.is_none() {
        // Only punctuation: nothing can match.
        return Ok(
            HttpResponse::Ok().json(Paginated::<crate::domain::customer::Customer>::new(
                vec![],
                page,
                0,
            )),
        );
    }
    let filter = CustomerFilter {
        fts,
        tag: q.tag.filter(|t| !t.trim().is_empty()),
    };
    // Every staff member sees the same customers: the page depends only on
    // the filter, the page and the database.
    let key = format!("{filter:?} {} {}", page.limit, page.offset());
    let body = state
        .db
        .read_cached(
            &state.caches.customer_pages,
            key,
            |b| b.len(),
            move |c| {
                let (rows, total) = repo::list(c, &filter, page.limit.into(), page.offset())?;
                serde_json::to_vec(&Paginated::new(rows, page, total))
                    .map(actix_web::web::Bytes::from)
                    .map_err(|e| crate::db::DbError::Task(e.to_string()))
            },
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(actix_web::http::header::ContentType::json())
        .body(body))
}

/// Creates a customer (`name` is required).
#[utoipa::path(
    post,
    path = "/api/v1/customers",
    tag = "customers",
    request_body = CustomerInput,
    responses(
        (status = 201, description = "Created; `Location` names it", body = crate::domain::customer::Customer),
        doc::BadRequest,
        doc::Forbidden,
    ),
)]
async fn create(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    ValidJson(input): ValidJson<CustomerInput>,
) -> Result<HttpResponse, HttpError> {
    let fields = CustomerFields::merge(&CustomerFields::default(), input)?;
    crate::http::create_record(&state, who.actor(), "customers", fields, repo::insert).await
}

/// A customer with its contacts.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CustomerDetail {
    #[serde(flatten)]
    customer: crate::domain::customer::Customer,
    /// The customer's contacts.
    contacts: Vec<crate::domain::customer::Contact>,
}

/// A customer with its contacts.
#[utoipa::path(
    get,
    path = "/api/v1/customers/{id}",
    tag = "customers",
    params(IdPath),
    responses(
        (status = 200, description = "The customer", body = CustomerDetail),
        doc::Forbidden,
        doc::NotFound,
    ),
)]
async fn get(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let detail = state
        .db
        .read(move |c| {
            let customer = repo::get(c, &id)?.ok_or(crate::db::DbError::NotFound)?;
            let contacts = repo::contacts(c, &id)?;
            Ok(CustomerDetail { customer, contacts })
        })
        .await?;
    Ok(HttpResponse::Ok().json(detail))
}

/// Changes the fields given; `addresses` and `tags` replace the whole list.
#[utoipa::path(
    patch,
    path = "/api/v1/customers/{id}",
    tag = "customers",
    params(IdPath),
    request_body = CustomerInput,
    responses(
        (status = 200, description = "The updated customer", body = crate::domain::customer::Customer),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
    ),
)]
async fn update(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
    ValidJson(input): ValidJson<CustomerInput>,
) -> Result<HttpResponse, HttpError> {
    crate::http::update_record(&state, who.actor(), &id, move |c, actor, id, now| {
        repo::update(c, actor, id, now, |cur| {
            CustomerFields::merge(cur, input).map_err(crate::db::DbError::from)
        })
    })
    .await
}

/// Deletes a customer; 409 while work orders, invoices or leads refer to it.
#[utoipa::path(
    delete,
    path = "/api/v1/customers/{id}",
    tag = "customers",
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

/// A customer's contacts (all of them, on one page).
#[utoipa::path(
    get,
    path = "/api/v1/customers/{id}/contacts",
    tag = "customers",
    params(IdPath),
    responses(
        (status = 200, description = "The contacts", body = Paginated<crate::domain::customer::Contact>),
        doc::Forbidden,
        doc::NotFound,
    ),
)]
async fn list_contacts(
    state: web::Data<AppState>,
    _who: Authed<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let rows = state
        .db
        .read(move |c| {
            repo::get(c, &id)?.ok_or(crate::db::DbError::NotFound)?;
            repo::contacts(c, &id)
        })
        .await?;
    let total = rows.len() as i64;
    Ok(HttpResponse::Ok().json(Paginated::new(
        rows,
        Page {
            page: 1,
            limit: 200,
        },
        total,
    )))
}

/// Adds a contact to a customer (`name` is required).
#[utoipa::path(
    post,
    path = "/api/v1/customers/{id}/contacts",
    tag = "customers",
    params(IdPath),
    request_body = ContactInput,
    responses(
        (status = 201, description = "Created", body = crate::domain::customer::Contact),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
    ),
)]
async fn create_contact(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
    ValidJson(input): ValidJson<ContactInput>,
) -> Result<HttpResponse, HttpError> {
    let customer_id = path_id(&id)?;
    let fields = ContactFields::merge(&ContactFields::default(), input)?;
    let now = state.clock.now();
    let id = new_id(now).to_string();
    let actor = who.actor();
    let contact = state
        .db
        .write(move |c| repo::insert_contact(c, &actor, &customer_id, &id, fields, now))
        .await?;
    Ok(HttpResponse::Created().json(contact))
}

/// Changes the fields given of a contact.
#[utoipa::path(
    patch,
    path = "/api/v1/customers/{id}/contacts/{contact_id}",
    tag = "customers",
    params(ContactPath),
    request_body = ContactInput,
    responses(
        (status = 200, description = "The updated contact", body = crate::domain::customer::Contact),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
    ),
)]
async fn update_contact(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    path: web::Path<(String, String)>,
    ValidJson(input): ValidJson<ContactInput>,
) -> Result<HttpResponse, HttpError> {
    let (customer_id, id) = (path_id(&path.0)?, path_id(&path.1)?);
    let now = state.clock.now();
    let actor = who.actor();
    let contact = state
        .db
        .write(move |c| {
            repo::update_contact(c, &actor, &customer_id, &id, now, |cur| {
                ContactFields::merge(cur, input).map_err(crate::db::DbError::from)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(contact))
}

/// Deletes a contact.
#[utoipa::path(
    delete,
    path = "/api/v1/customers/{id}/contacts/{contact_id}",
    tag = "customers",
    params(ContactPath),
    responses(
        (status = 204, description = "Deleted"),
        doc::Forbidden,
        doc::NotFound,
    ),
)]
async fn delete_contact(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, HttpError> {
    let (customer_id, id) = (path_id(&path.0)?, path_id(&path.1)?);
    let now = state.clock.now();
    let actor = who.actor();
    state
        .db
        .write(move |c| repo::delete_contact(c, &actor, &customer_id, &id, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
