//! The OpenAPI 3.1 document of the JSON API, generated from the code with
//! `utoipa` and served at `GET /api/v1/openapi.json` (no authentication).
//!
//! Each handler carries its own `#[utoipa::path(...)]` (method, path, params,
//! body, the responses it really gives); [`ApiDoc`] collects them. The
//! [`Conventions`] modifier adds what holds for every operation so that it is
//! written once: the security schemes, `401` on every operation that needs
//! credentials, `413` (and `400`) on every operation with a JSON body, and
//! `429`/`500` on everything under `/api`. A `405` (a known path with another
//! method) has the [`ErrorBody`] shape and an `Allow` header; OpenAPI cannot
//! attach it to an operation that does not exist, so it is described in the
//! document's description. The test suite validates every response it
//! receives against this document (`tests/common/spec.rs`).

use crate::http::error::ErrorBody;
use crate::http::routes;
use actix_web::{HttpResponse, http::header};
use std::sync::OnceLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, PartialSchema, ToSchema};

/// Name of the session-cookie security scheme.
pub const SESSION_SCHEME: &str = "session_cookie";
/// Name of the bearer-token security scheme.
pub const BEARER_SCHEME: &str = "bearer_token";

const DESCRIPTION: &str = "\
The JSON API of one Quant appliance. Bodies are JSON with camelCase fields; money is a decimal \
number with two places, durations are hours. Lists take `?page=&limit=` (limit 1–100) and answer \
`{data, pagination}`.

Authentication: the `quant_session` cookie set by `POST /api/v1/auth/login`, or \
`Authorization: Bearer qt_…` (an API token). An `Authorization` header, when present, must be \
valid. No valid credentials → 401; a role the route does not allow → 403.

Every error has the body `ErrorBody`: `{\"error\": {\"code\", \"message\", \"fields\"?}}`. Besides \
the statuses listed on each operation: an unknown path under `/api` answers 404 `not_found`, a \
known path with a method it does not support answers 405 `method_not_allowed` with an `Allow` \
header, and over the per-IP rate limit every `/api` route answers 429 `rate_limited` with \
`Retry-After`.";

/// The whole document. [`ApiDoc::openapi`] builds it; [`document_json`]
/// serves it.
#[derive(OpenApi)]
#[openapi(
    info(title = "Quant", description = DESCRIPTION),
    paths(
        routes::system::healthz,
        routes::system::readyz,
        routes::system::metrics,
        openapi_json,
        routes::api::login,
        routes::api::logout,
        routes::api::me,
        routes::api::list_sessions,
        routes::api::revoke_all_sessions,
        routes::api::revoke_session,
        routes::api::list_tokens,
        routes::api::create_token,
        routes::api::revoke_token,
        routes::users::list,
        routes::users::create,
        routes::users::update,
        routes::customers::list,
        routes::customers::create,
        routes::customers::get,
        routes::customers::update,
        routes::customers::delete,
        routes::customers::list_contacts,
        routes::customers::create_contact,
        routes::customers::update_contact,
        routes::customers::delete_contact,
        routes::attachments::list,
        routes::attachments::upload,
        routes::attachments::original,
        routes::attachments::remove,
        routes::attachments::thumbnail,
        routes::employees::list,
        routes::employees::create,
        routes::employees::me,
        routes::employees::get,
        routes::employees::update,
        routes::employees::delete,
        routes::equipment::list,
        routes::equipment::create,
        routes::equipment::get,
        routes::equipment::update,
        routes::equipment::delete,
        routes::equipment::list_loadouts,
        routes::equipment::create_loadout,
        routes::equipment::get_loadout,
        routes::equipment::update_loadout,
        routes::equipment::delete_loadout,
        routes::invoices::list,
        routes::invoices::get,
        routes::invoices::send,
        routes::invoices::void,
        routes::invoices::list_payments,
        routes::invoices::pay,
        routes::follow_ups::list,
        routes::follow_ups::create,
        routes::follow_ups::get,
        routes::follow_ups::update,
        routes::leads::list,
        routes::leads::create,
        routes::leads::get,
        routes::leads::update,
        routes::leads::convert,
        routes::audit::list,
        routes::work_orders::list,
        routes::work_orders::create,
        routes::work_orders::get,
        routes::work_orders::update,
        routes::work_orders::schedule,
        routes::work_orders::start,
        routes::work_orders::complete,
        routes::work_orders::cancel,
        routes::backup::status,
        routes::analytics::analysis,
        routes::analytics::dashboard,
        routes::analytics::customers,
        routes::analytics::equipment,
        routes::analytics::employees,
        routes::analytics::recommendations,
    ),
    components(schemas(ErrorBody, Binary)),
    modifiers(&Conventions),
    security(("session_cookie" = []), ("bearer_token" = [])),
    tags(
        (name = "system", description = "Health, readiness, metrics and this document; no authentication"),
        (name = "auth", description = "Log in and out, the current user, sessions and API tokens"),
        (name = "users", description = "Users, their roles and access (owner)"),
        (name = "customers", description = "Customers and their contacts (owner, office)"),
        (name = "leads", description = "Leads and their conversion (owner, office)"),
        (name = "work-orders", description = "Work orders and their transitions"),
        (name = "attachments", description = "Photos and signatures of work orders"),
        (name = "employees", description = "Employees (owner, office; anyone reads their own)"),
        (name = "equipment", description = "Equipment and loadouts (owner, office)"),
        (name = "invoices", description = "Invoices and payments (owner, office)"),
        (name = "follow-ups", description = "Customer follow-ups (owner, office)"),
        (name = "audit", description = "The audit log (owner)"),
        (name = "analytics", description = "Local job analysis, dashboard, profitability, utilization, performance and recommendations (owner, office)"),
    )
)]
pub struct ApiDoc;

/// The document as JSON, built once.
pub fn document_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = crate::app::VERSION.to_string();
        doc.to_json().unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot serialise the OpenAPI document");
            "{}".to_string()
        })
    })
}

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "system",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)),
)]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(document_json())
}

/// Raw bytes (an image).
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .description(Some("Raw bytes"))
            .into()
    }
}

impl ToSchema for Binary {}

/// The form of a `multipart/form-data` upload.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The image (its part must have a file name).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// An `{id}` path parameter.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct IdPath {
    /// The id (a UUID). An id that is not a UUID is answered like an unknown one: 404.
    id: String,
}

/// The `{id}` and `{contact_id}` path parameters of a customer's contact.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ContactPath {
    /// The customer's id.
    id: String,
    /// The contact's id.
    contact_id: String,
}

/// Invalid input. `validation_failed` with `fields` naming every bad
/// field or parameter, or `bad_request` (malformed JSON, wrong `Content-Type`).
#[derive(IntoResponses)]
#[response(status = 400)]
#[allow(dead_code)]
pub struct BadRequest(ErrorBody<'static>);

/// Authenticated, but the caller's role (or, for technicians, the work
/// order's assignment) does not allow this.
#[derive(IntoResponses)]
#[response(status = 403)]
#[allow(dead_code)]
pub struct Forbidden(ErrorBody<'static>);

/// No such resource (or an id that is not a UUID).
#[derive(IntoResponses)]
#[response(status = 404)]
#[allow(dead_code)]
pub struct NotFound(ErrorBody<'static>);

/// Conflicts with the current state (an invalid transition, a name in
/// use, a booking clash); the message says which.
#[derive(IntoResponses)]
#[response(status = 409)]
#[allow(dead_code)]
pub struct Conflict(ErrorBody<'static>);

/// The body is larger than the configured limit.
#[derive(IntoResponses)]
#[response(status = 413)]
#[allow(dead_code)]
pub struct PayloadTooLarge(ErrorBody<'static>);

/// Adds the security schemes and the responses every operation shares.
pub struct Conventions;

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .into()
}

/// `work-orders` + `list_contacts` → `workOrdersListContacts`.
fn operation_id(tag: &str, name: &str) -> String {
    let mut out = String::new();
    for (i, word) in tag
        .split(['-', '_'])
        .chain(name.split('_'))
        .filter(|w| !w.is_empty())
        .enumerate()
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            if i == 0 {
                out.extend(first.to_lowercase());
            } else {
                out.extend(first.to_uppercase());
            }
            out.push_str(chars.as_str());
        }
    }
    out
}

fn add_missing(op: &mut Operation, status: &str, description: &str) {
    if !op.responses.responses.contains_key(status) {
        op.responses
            .responses
            .insert(status.to_string(), error_response(description));
    }
}

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::http::auth::SESSION_COOKIE,
                "The session cookie set by `POST /api/v1/auth/login`. State-changing requests \
                 authenticated by it must also send `X-CSRF-Token: <csrfToken from the login \
                 response>`; without it they get 403 `forbidden`.",
            ))),
        );
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`qt_…`) from `quant token create` or `POST /api/v1/tokens`",
                    ))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let api = path.starts_with("/api/");
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                // Handler names repeat across modules: prefix the tag.
                if let (Some(tag), Some(id)) = (
                    op.tags.as_ref().and_then(|t| t.first()),
                    op.operation_id.as_ref(),
                ) {
                    op.operation_id = Some(operation_id(tag, id));
                }
                // No `security` on the operation: the document-wide
                // requirement (cookie or bearer token) applies.
                if op.security.is_none() {
                    add_missing(
                        op,
                        "401",
                        "No valid session cookie or bearer token (`unauthorized`)",
                    );
                }
                if op.request_body.is_some() {
                    add_missing(
                        op,
                        "400",
                        "Malformed body or invalid fields (`bad_request`, `validation_failed`)",
                    );
                    add_missing(
                        op,
                        "413",
                        "The body is larger than the limit (`payload_too_large`)",
                    );
                }
                if api {
                    add_missing(
                        op,
                        "429",
                        "Over the per-IP rate limit (`rate_limited`); `Retry-After` says when to retry",
                    );
                    add_missing(
                        op,
                        "500",
                        "A bug (`internal`); the cause is in the server log under the `X-Request-Id`",
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn document_builds_with_the_conventions_applied() {
        let doc: serde_json::Value = serde_json::from_str(super::document_json()).unwrap();
        let list = &doc["paths"]["/api/v1/customers"]["get"];
        assert_eq!(list["operationId"], "customersList");
        for status in ["200", "400", "401", "403", "429", "500"] {
            assert!(list["responses"][status].is_object(), "{status}");
        }
        let create = &doc["paths"]["/api/v1/customers"]["post"]["responses"];
        assert!(create["413"].is_object());
        let health = &doc["paths"]["/healthz"]["get"]["responses"];
        assert!(health["401"].is_null() && health["429"].is_null());
        assert_eq!(
            super::operation_id("work-orders", "list_contacts"),
            "workOrdersListContacts"
        );
    }
}
