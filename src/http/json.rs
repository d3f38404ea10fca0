//! The JSON body extractor used by every API handler. Compared with
//! `actix_web::web::Json` it enforces the configured size limit while reading
//! (413 before the whole body is buffered), and turns serde errors into 400s
//! that name the offending field (via `serde_path_to_error`), including unknown
//! fields, which every request type rejects.

use super::error::HttpError;
use super::state::AppState;
use crate::domain::FieldErrors;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

/// A validated JSON request body of type `T`.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ValidJson<T> {
    type Error = HttpError;
    type Future = LocalBoxFuture<'static, Result<Self, HttpError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.max_body_bytes)
            .unwrap_or(1 << 20);
        let ct_ok = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let essence = v
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            })
            .unwrap_or(false);
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > limit) {
                return Err(HttpError::PayloadTooLarge(limit));
            }
            if !ct_ok {
                return Err(HttpError::BadRequest(
                    "expected a JSON body with Content-Type: application/json".into(),
                ));
            }
            let mut buf = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk =
                    chunk.map_err(|e| HttpError::BadRequest(format!("cannot read body: {e}")))?;
                if buf.len() + chunk.len() > limit {
                    return Err(HttpError::PayloadTooLarge(limit));
                }
                buf.extend_from_slice(&chunk);
            }
            parse(&buf).map(ValidJson)
        })
    }
}

/// Deserialises `bytes` as `T`, mapping errors to a 400 naming the field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HttpError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // serde reports some type mismatches (a number where an enum is
        // expected) as syntax errors; if the body is valid JSON, it is a field problem.
        let field_level = (e.inner().is_syntax() || e.inner().is_eof())
            && e.path().to_string() != "."
            && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
        if field_level {
            let path = e.path().to_string();
            let mut fields = FieldErrors::new();
            fields.insert(path, "has the wrong type or value".into());
            return HttpError::Validation {
                message: "some fields are invalid".into(),
                fields,
            };
        }
        path_error(e)
    })?;
    de.end()
        .map_err(|e| HttpError::BadRequest(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Maps a query-string deserialisation error (actix `web::Query`) to the
/// standard 400 body, naming the parameter where serde says which.
pub fn query_error(message: &str) -> HttpError {
    let mut fields = FieldErrors::new();
    if let Some(name) = quoted_after(message, "unknown field `") {
        fields.insert(name, "unknown parameter".into());
    } else if let Some(name) = quoted_after(message, "missing field `") {
        fields.insert(name, "is required".into());
    } else {
        return HttpError::BadRequest(format!("invalid query string: {message}"));
    }
    HttpError::Validation {
        message: "invalid query parameters".into(),
        fields,
    }
}

fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> HttpError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return HttpError::BadRequest(format!("malformed JSON: {inner}"));
    }
    let full = inner.to_string();
    let msg = full
        .rsplit_once(" at line ")
        .map(|(m, _)| m.to_string())
        .unwrap_or(full);
    let join = |name: &str| {
        if path == "." || path.is_empty() {
            name.to_string()
        } else if path.ends_with(name) {
            path.clone()
        } else {
            format!("{path}.{name}")
        }
    };
    let mut fields = FieldErrors::new();
    if let Some(name) = quoted_after(&msg, "unknown field `") {
        fields.insert(join(&name), "unknown field".into());
    } else if let Some(name) = quoted_after(&msg, "missing field `") {
        fields.insert(join(&name), "is required".into());
    } else if path == "." || path.is_empty() {
        return HttpError::BadRequest(format!("invalid body: {msg}"));
    } else {
        fields.insert(path, msg);
    }
    HttpError::Validation {
        message: "some fields are invalid".into(),
        fields,
    }
}

fn quoted_after(msg: &str, prefix: &str) -> Option<String> {
    let rest = &msg[msg.find(prefix)? + prefix.len()..];
    Some(rest.split('`').next()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Body {
        email: String,
        max_items: u32,
    }

    fn fields(e: HttpError) -> FieldErrors {
        match e {
            HttpError::Validation { fields, .. } => fields,
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn names_unknown_missing_and_mistyped_fields() {
        let f = fields(parse::<Body>(br#"{"email":"a","maxItems":1,"extra":2}"#).unwrap_err());
        assert_eq!(f.get("extra").map(String::as_str), Some("unknown field"));
        let f = fields(parse::<Body>(br#"{"email":"a"}"#).unwrap_err());
        assert_eq!(f.get("maxItems").map(String::as_str), Some("is required"));
        let f = fields(parse::<Body>(br#"{"email":"a","maxItems":-1}"#).unwrap_err());
        assert!(
            f.get("maxItems").unwrap().contains("invalid value"),
            "{f:?}"
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct WithEnum {
        kind: Kind,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        A,
    }

    #[test]
    fn wrong_type_for_an_enum_names_the_field() {
        let f = fields(parse::<WithEnum>(br#"{"kind": 1}"#).unwrap_err());
        assert!(f.contains_key("kind"), "{f:?}");
        let f = fields(parse::<WithEnum>(br#"{"kind": "b"}"#).unwrap_err());
        assert!(f["kind"].contains("unknown variant"), "{f:?}");
    }

    #[test]
    fn query_errors_name_the_parameter() {
        assert!(
            matches!(query_error("unknown field `sort`, expected `q`"), HttpError::Validation { fields, .. } if fields.contains_key("sort"))
        );
        assert!(matches!(
            query_error("invalid digit"),
            HttpError::BadRequest(_)
        ));
    }

    #[test]
    fn malformed_json_is_a_plain_400() {
        assert!(matches!(
            parse::<Body>(b"{\"email\":"),
            Err(HttpError::BadRequest(_))
        ));
        assert!(matches!(
            parse::<Body>(br#"{"email":"a","maxItems":1} x"#),
            Err(HttpError::BadRequest(_))
        ));
        assert!(matches!(
            parse::<Body>(b"[]"),
            Err(HttpError::BadRequest(_))
        ));
    }
}
