//! The query-string extractor for API lists. Compared with `web::Query` it
//! answers every problem with the standard JSON 400 naming the parameter
//! (`{"fields": {"status": "unknown variant `x`, expected one of …"}}`):
//! unknown parameters (the target type uses `deny_unknown_fields`), bad enum
//! values and repeated parameters.

use super::error::HttpError;
use crate::domain::FieldErrors;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A query string parsed into `T`. Every value reaches `T` as a JSON string,
/// so its fields are `Option<String>` or string-like enums.
#[derive(Debug)]
pub struct ValidQuery<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ValidQuery<T> {
    type Error = HttpError;
    type Future = std::future::Ready<Result<Self, HttpError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(ValidQuery))
    }
}

/// Parses `qs` (without the `?`) into `T`. Fails with a 400 naming the
/// parameter that is unknown, repeated or has a bad value, or a plain 400
/// when the string is not URL-encoded.
pub fn parse_query<T: DeserializeOwned>(qs: &str) -> Result<T, HttpError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(qs)
        .map_err(|e| HttpError::BadRequest(format!("malformed query string: {e}")))?
        .into_inner();
    let mut map = Map::new();
    let mut repeated = FieldErrors::new();
    for (k, v) in pairs {
        if map.insert(k.clone(), Value::String(v)).is_some() {
            repeated.insert(k, "must be given at most once".into());
        }
    }
    if !repeated.is_empty() {
        return Err(HttpError::Validation {
            message: "some query parameters are invalid".into(),
            fields: repeated,
        });
    }
    let bytes = serde_json::to_vec(&Value::Object(map))
        .map_err(|e| HttpError::Internal(format!("query re-encoding: {e}")))?;
    super::json::parse(&bytes)
}

/// `true` / `false` as a query parameter (`?overdue=true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flag {
    /// `true`
    True,
    /// `false`
    False,
}

impl Flag {
    /// Whether the flag is set (`None` counts as false).
    pub fn is_set(f: Option<Flag>) -> bool {
        f == Some(Flag::True)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Q {
        status: Option<Status>,
        overdue: Option<Flag>,
        customer_id: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Status {
        Open,
        Done,
    }

    fn fields(e: HttpError) -> FieldErrors {
        match e {
            HttpError::Validation { fields, .. } => fields,
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn parses_and_names_bad_parameters() {
        let q: Q = parse_query("status=done&overdue=true&customer_id=a%20b").unwrap();
        assert_eq!(q.status, Some(Status::Done));
        assert!(Flag::is_set(q.overdue));
        assert_eq!(q.customer_id.as_deref(), Some("a b"));
        let q: Q = parse_query("").unwrap();
        assert!(q.status.is_none() && !Flag::is_set(q.overdue));
        assert!(fields(parse_query::<Q>("status=nope").unwrap_err()).contains_key("status"));
        assert!(fields(parse_query::<Q>("overdue=yes").unwrap_err()).contains_key("overdue"));
        assert_eq!(
            fields(parse_query::<Q>("sort=x").unwrap_err())["sort"],
            "unknown field"
        );
        assert!(
            fields(parse_query::<Q>("status=open&status=done").unwrap_err()).contains_key("status")
        );
    }
}
