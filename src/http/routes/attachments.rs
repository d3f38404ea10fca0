//! Photos and signatures: `POST /api/v1/work-orders/{id}/attachments?kind=…`
//! (raw image body or `multipart/form-data`), listing, and serving originals
//! and thumbnails — only to users allowed to see the work order (staff, or the
//! technician it is assigned to).

use super::api::resource;
use crate::db::DbError;
use crate::db::attachments::{self as repo, FORBIDDEN, Kind, NewAttachment};
use crate::db::auth::UserRow;
use crate::domain::ids::new_id;
use crate::http::auth::{AnyRole, Authed, Staff};
use crate::http::error::HttpError;
use crate::http::openapi::{self as doc, Binary, IdPath};
use crate::http::path_id;
use crate::http::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;

/// Registers the attachment routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/work-orders/{id}/attachments", "GET, POST")
            .route(web::get().to(list))
            .route(web::post().to(upload)),
    )
    .service(
        resource("/attachments/{id}", "GET, DELETE")
            .route(web::get().to(original))
            .route(web::delete().to(remove)),
    )
    .service(resource("/attachments/{id}/thumbnail", "GET").route(web::get().to(thumbnail)));
}

fn visibility_error(e: DbError) -> HttpError {
    match e {
        DbError::Rejected(m) if m == FORBIDDEN => {
            HttpError::Forbidden("this work order is not assigned to you".into())
        }
        other => other.into(),
    }
}

/// Checks that `user` may see work order `work_order_id` (staff, or the
/// technician it is assigned to) and returns its status. Fails with 404 for
/// an unknown work order, 403 for another technician's.
pub(crate) async fn visible(
    state: &AppState,
    work_order_id: &str,
    user: &UserRow,
) -> Result<String, HttpError> {
    let (wo, user) = (work_order_id.to_string(), user.clone());
    state
        .db
        .read(move |c| repo::check_visible(c, &wo, &user))
        .await
        .map_err(visibility_error)
}

/// Query of `POST /work-orders/{id}/attachments`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UploadQuery {
    /// What the picture shows.
    #[param(inline)]
    kind: Kind,
}

/// Reads the upload: the first file part of a multipart form, or the raw
/// body. Over `limit` bytes → 413; empty → 400.
async fn read_upload(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, HttpError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    // A multipart envelope adds a little; the file itself is checked below.
    if declared.is_some_and(|n| n > limit + 16 * 1024) {
        return Err(HttpError::PayloadTooLarge(limit));
    }
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let mut buf = Vec::new();
    if is_multipart {
        let mut form = actix_multipart::Multipart::new(req.headers(), payload);
        while let Some(field) = form.next().await {
            let mut field =
                field.map_err(|e| HttpError::BadRequest(format!("malformed form: {e}")))?;
            let is_file = field
                .content_disposition()
                .and_then(|d| d.get_filename())
                .is_some();
            while let Some(chunk) = field.next().await {
                let chunk =
                    chunk.map_err(|e| HttpError::BadRequest(format!("malformed form: {e}")))?;
                if is_file {
                    if buf.len() + chunk.len() > limit {
                        return Err(HttpError::PayloadTooLarge(limit));
                    }
                    buf.extend_from_slice(&chunk);
                }
            }
            if is_file {
                break;
            }
        }
    } else {
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| HttpError::BadRequest(format!("cannot read body: {e}")))?;
            if buf.len() + chunk.len() > limit {
                return Err(HttpError::PayloadTooLarge(limit));
            }
            buf.extend_from_slice(&chunk);
        }
    }
    if buf.is_empty() {
        return Err(crate::domain::DomainError::field("file", "an image file is required").into());
    }
    Ok(buf)
}

/// Uploads a photo or signature (JPEG, PNG or WebP, checked by content),
/// as the raw body or the first file of a `multipart/form-data` form.
#[utoipa::path(
    post,
    path = "/api/v1/work-orders/{id}/attachments",
    tag = "attachments",
    params(IdPath, UploadQuery),
    request_body(
        description = "The image: the raw body, or the first file part of a form",
        content(
            (Binary = "image/jpeg"),
            (Binary = "image/png"),
            (Binary = "image/webp"),
            (doc::UploadForm = "multipart/form-data"),
        ),
    ),
    responses(
        (status = 201, description = "Stored; `Location` is its URL", body = crate::db::attachments::Attachment),
        doc::BadRequest,
        doc::Forbidden,
        doc::NotFound,
        doc::PayloadTooLarge,
        doc::Conflict,
    ),
)]
async fn upload(
    state: web::Data<AppState>,
    who: Authed<AnyRole>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<UploadQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, HttpError> {
    let work_order_id = path_id(&id)?;
    visible(&state, &work_order_id, &who.user).await?;
    let limit = state.config().attachments.max_bytes;
    let bytes = read_upload(&req, payload, limit).await?;
    let att = store(&state, who.actor(), work_order_id, q.kind, bytes).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, att.url.clone()))
        .json(att))
}

/// Checks `bytes` (JPEG, PNG or WebP by content, decodable within limits),
/// stores the original and a thumbnail in the blob store and records the
/// attachment (audited) on work order `work_order_id`. The caller has
/// checked that the user may see the work order and the size limit. Fails
/// with a `file` validation error for an unsupported or unreadable image,
/// 404 for an unknown work order, 409 for a cancelled one.
pub(crate) async fn store(
    state: &AppState,
    actor: crate::db::audit::Actor,
    work_order_id: String,
    kind: Kind,
    bytes: Vec<u8>,
) -> Result<crate::db::attachments::Attachment, HttpError> {
    let blobs = state.blobs.clone();
    let stored = tokio::task::spawn_blocking(move || -> Result<_, HttpError> {
        let p = crate::media::process(&bytes)
            .map_err(|e| crate::domain::DomainError::field("file", e.to_string()))?;
        let original = blobs
            .put(&bytes)
            .map_err(|e| HttpError::Internal(format!("storing photo: {e}")))?;
        let thumb = blobs
            .put(&p.thumbnail)
            .map_err(|e| HttpError::Internal(format!("storing thumbnail: {e}")))?;
        Ok((p, original, thumb, bytes.len()))
    })
    .await
    .map_err(|e| HttpError::Internal(e.to_string()))??;
    let (p, sha256, thumb_sha256, size) = stored;
    let now = state.clock.now();
    let new = NewAttachment {
        id: new_id(now).to_string(),
        work_order_id,
        kind,
        content_type: p.content_type.to_string(),
        size_bytes: size as i64,
        width: i64::from(p.width),
        height: i64::from(p.height),
        sha256,
        thumb_sha256,
    };
    Ok(state
        .db
        .write(move |c| repo::insert(c, &actor, now, &new))
        .await?)
}

/// A work order's attachments (all of them, on one page).
#[utoipa::path(
    get,
    path = "/api/v1/work-orders/{id}/attachments",
    tag = "attachments",
    params(IdPath),
    responses(
        (status = 200, description = "The attachments, oldest first", body = crate::http::pagination::Paginated<crate::db::attachments::Attachment>),
        doc::Forbidden,
        doc::NotFound,
    ),
)]
async fn list(
    state: web::Data<AppState>,
    who: Authed<AnyRole>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let work_order_id = path_id(&id)?;
    visible(&state, &work_order_id, &who.user).await?;
    let rows = state
        .db
        .read(move |c| repo::list_for(c, &work_order_id))
        .await?;
    let total = rows.len() as i64;
    Ok(
        HttpResponse::Ok().json(crate::http::pagination::Paginated::new(
            rows,
            crate::http::pagination::Page {
                page: 1,
                limit: 500,
            },
            total,
        )),
    )
}

async fn serve(
    state: &AppState,
    user: &UserRow,
    raw_id: &str,
    thumb: bool,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(raw_id)?;
    let att = state
        .db
        .read(move |c| repo::get(c, &id))
        .await?
        .ok_or(HttpError::NotFound)?;
    visible(state, &att.work_order_id, user).await?;
    let (address, content_type) = if thumb {
        (
            att.thumb_sha256
                .clone()
                .unwrap_or_else(|| att.sha256.clone()),
            "image/jpeg".to_string(),
        )
    } else {
        (att.sha256.clone(), att.content_type.clone())
    };
    let blobs = state.blobs.clone();
    let addr = address.clone();
    let bytes = tokio::task::spawn_blocking(move || blobs.get(&addr))
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))?
        .map_err(|e| HttpError::Internal(format!("photo {address} unreadable: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::ETAG, format!("\"{address}\"")))
        .insert_header((
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable",
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_DISPOSITION, "inline"))
        .body(bytes))
}

/// The original image, with its own content type.
#[utoipa::path(
    get,
    path = "/api/v1/attachments/{id}",
    tag = "attachments",
    params(IdPath),
    responses(
        (status = 200, description = "The image as uploaded", content(
            (Binary = "image/jpeg"),
            (Binary = "image/png"),
            (Binary = "image/webp"),
        )),
        doc::Forbidden,
        doc::NotFound,
    ),
)]
async fn original(
    state: web::Data<AppState>,
    who: Authed<AnyRole>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    serve(&state, &who.user, &id, false).await
}

/// A JPEG thumbnail of the image.
#[utoipa::path(
    get,
    path = "/api/v1/attachments/{id}/thumbnail",
    tag = "attachments",
    params(IdPath),
    responses(
        (status = 200, description = "The thumbnail", body = Binary, content_type = "image/jpeg"),
        doc::Forbidden,
        doc::NotFound,
    ),
)]
async fn thumbnail(
    state: web::Data<AppState>,
    who: Authed<AnyRole>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    serve(&state, &who.user, &id, true).await
}

/// Deletes an attachment (owner, office).
#[utoipa::path(
    delete,
    path = "/api/v1/attachments/{id}",
    tag = "attachments",
    params(IdPath),
    responses(
        (status = 204, description = "Deleted"),
        doc::Forbidden,
        doc::NotFound,
    ),
)]
async fn remove(
    state: web::Data<AppState>,
    who: Authed<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let id = path_id(&id)?;
    let now = state.clock.now();
    let actor = who.actor();
    state
        .db
        .write(move |c| repo::delete(c, &actor, now, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
