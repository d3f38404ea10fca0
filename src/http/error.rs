//! The one place where errors become HTTP status codes. Every error body has
//! the shape `{"error": {"code", "message", "fields"?}}` (DESIGN §4); a 500
//! logs its cause and shows a generic message.

use crate::db::DbError;
use crate::domain::{DomainError, FieldErrors};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Errors answered by HTTP handlers.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// 400 with per-field messages.
    #[error("{message}")]
    Validation {
        /// Summary.
        message: String,
        /// Field → why.
        fields: FieldErrors,
    },
    /// 400 without field detail (malformed JSON, wrong content type).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid session or token, or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("not found")]
    NotFound,
    /// 405 on a known route.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 413: body over the limit (bytes).
    #[error("request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// 429 with `Retry-After` seconds.
    #[error("too many requests; retry in {0} s")]
    TooManyRequests(u64),
    /// 503 with the reason.
    #[error("{0}")]
    Unavailable(String),
    /// 500; the cause is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Every error code an error body can carry ([`HttpError::code`]).
pub const ERROR_CODES: [&str; 11] = [
    "validation_failed",
    "bad_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "conflict",
    "payload_too_large",
    "rate_limited",
    "unavailable",
    "internal",
];

/// The body of every error response: `{"error": {"code", "message", "fields"?}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// What went wrong.
    error: ErrorDetail<'a>,
}

/// What went wrong.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// Machine-readable code.
    #[schema(schema_with = error_code_schema)]
    code: &'a str,
    /// Human-readable explanation (for a 500 a generic one; the cause is in the log).
    message: String,
    /// Field or parameter → why it is invalid (400 `validation_failed` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    fields: Option<&'a FieldErrors>,
}

fn error_code_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(ERROR_CODES))
        .build()
}

impl HttpError {
    /// The machine-readable code in the error body.
    pub fn code(&self) -> &'static str {
        match self {
            HttpError::Validation { .. } => "validation_failed",
            HttpError::BadRequest(_) => "bad_request",
            HttpError::Unauthorized(_) => "unauthorized",
            HttpError::Forbidden(_) => "forbidden",
            HttpError::NotFound => "not_found",
            HttpError::MethodNotAllowed => "method_not_allowed",
            HttpError::Conflict(_) => "conflict",
            HttpError::PayloadTooLarge(_) => "payload_too_large",
            HttpError::TooManyRequests(_) => "rate_limited",
            HttpError::Unavailable(_) => "unavailable",
            HttpError::Internal(_) => "internal",
        }
    }

    /// 401 with the standard message.
    pub fn unauthenticated() -> Self {
        HttpError::Unauthorized("authentication required".into())
    }
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        match self {
            HttpError::Validation { .. } | HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            HttpError::Forbidden(_) => StatusCode::FORBIDDEN,
            HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::Conflict(_) => StatusCode::CONFLICT,
            HttpError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            HttpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            HttpError::Internal(cause) => {
                tracing::error!(cause = %cause, "internal error");
                "internal error; see the server log for this request id".to_string()
            }
            other => other.to_string(),
        };
        let fields = match self {
            HttpError::Validation { fields, .. } => Some(fields),
            _ => None,
        };
        let mut res = HttpResponse::build(self.status_code());
        if let HttpError::TooManyRequests(secs) = self {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let HttpError::Unauthorized(_) = self {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"quant\""));
        }
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        res.json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
                fields,
            },
        })
    }
}

impl From<DomainError> for HttpError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Validation(fields) => HttpError::Validation {
                message: "some fields are invalid".into(),
                fields,
            },
            DomainError::Conflict(m) => HttpError::Conflict(m),
        }
    }
}

impl From<DbError> for HttpError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => HttpError::NotFound,
            DbError::Domain(d) => d.into(),
            DbError::Conflict(m) | DbError::Rejected(m) => HttpError::Conflict(m),
            other => HttpError::Internal(other.to_string()),
        }
    }
}

/// JSON 404 for unknown `/api` routes.
pub async fn api_not_found() -> HttpResponse {
    HttpError::NotFound.error_response()
}

/// JSON 405 for known `/api` routes with another method.
pub async fn api_method_not_allowed() -> HttpResponse {
    HttpError::MethodNotAllowed.error_response()
}
