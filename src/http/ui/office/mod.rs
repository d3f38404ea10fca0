//! The office pages (owner and office staff, `UiUser<Staff>`): customers,
//! leads, equipment and loadouts, the team, invoices and follow-ups. Each
//! page calls the same repository functions as the JSON API, so behaviour
//! and the audit log are identical. Every list is paginated and exports to
//! CSV (`?format=csv` on the list's URL).
//!
//! This file holds what those pages share: query-string parsing, the pager,
//! the CSV switch and how a refused form is answered (per-field errors as a
//! 400 re-render, a state conflict as a 409 re-render).

pub mod customers;
pub mod employees;
pub mod equipment;
pub mod follow_ups;
pub mod invoices;
pub mod leads;

use super::UiError;
use crate::db::DbError;
use crate::domain::money::Money;
use crate::domain::{DomainError, FieldErrors};
use crate::http::pagination::{Page, PageQuery};
use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::web;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Registers every office page.
pub fn configure(cfg: &mut web::ServiceConfig) {
    customers::configure(cfg);
    leads::configure(cfg);
    equipment::configure(cfg);
    employees::configure(cfg);
    invoices::configure(cfg);
    follow_ups::configure(cfg);
}

/// The most rows one CSV export holds.
pub const EXPORT_LIMIT: i64 = 10_000;

/// Parses the request's query string into `T` (a struct of
/// `Option<String>` with `deny_unknown_fields`). Fails with a 400 page
/// naming an unknown, repeated or malformed parameter.
pub fn page_query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, UiError> {
    crate::http::query::parse_query(req.query_string()).map_err(UiError::from)
}

/// `s` trimmed, `None` when absent or blank (search forms send empty fields).
pub fn blank(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The page asked for by `page`/`limit` (blank means the default). Fails
/// with a 400 page for numbers out of range.
pub fn parse_page(page: Option<String>, limit: Option<String>) -> Result<Page, UiError> {
    Ok(Page::parse(&PageQuery {
        page: blank(page),
        limit: blank(limit),
    })?)
}

/// Whether `format` asks for a CSV download (`csv`); blank or `html` is the
/// page. Fails with a 400 page for anything else.
pub fn wants_csv(format: Option<&str>) -> Result<bool, UiError> {
    match format.map(str::trim) {
        None | Some("") | Some("html") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => Err(DomainError::field("format", "must be csv or html").into()),
    }
}

/// Text of a free-text filter: at most `max` characters. Fails with a 400
/// page naming `field`.
pub fn search_text(field: &str, q: Option<String>, max: usize) -> Result<Option<String>, UiError> {
    let q = blank(q);
    if q.as_deref().is_some_and(|s| s.chars().count() > max) {
        return Err(DomainError::field(field, format!("must be at most {max} characters")).into());
    }
    Ok(q)
}

/// Previous/next links and counts for a paginated table.
#[derive(Debug, Serialize)]
pub struct Pager {
    /// Current page.
    pub page: u32,
    /// Number of pages (0 when empty).
    pub pages: i64,
    /// Matching rows.
    pub total: i64,
    /// First row shown (1-based; 0 when empty).
    pub first: i64,
    /// Last row shown.
    pub last: i64,
    /// URL of the previous page.
    pub prev: Option<String>,
    /// URL of the next page.
    pub next: Option<String>,
    /// URL of the CSV export of the same filter (every page).
    pub csv: String,
}

/// The query pairs of `req` without `drop` keys and blank values.
fn query_pairs(req: &HttpRequest, drop: &[&str]) -> Vec<(String, String)> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, v)| !drop.contains(&k.as_str()) && !v.trim().is_empty())
        .collect()
}

/// `path` with `pairs` as its query string.
fn with_query(path: &str, pairs: &[(String, String)]) -> String {
    match serde_urlencoded::to_string(pairs) {
        Ok(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_string(),
    }
}

/// The pager of a list at `req`'s path showing `page` of `total` rows; its
/// links keep the request's other parameters.
pub fn pager(req: &HttpRequest, page: Page, total: i64) -> Pager {
    pager_at(
        req.path(),
        query_pairs(req, &["page", "format"]),
        page,
        total,
    )
}

/// The pager of a list at `path` whose links carry `keep` (without `page`
/// and `format`) besides the page number.
pub fn pager_at(path: &str, keep: Vec<(String, String)>, page: Page, total: i64) -> Pager {
    let limit = i64::from(page.limit);
    let pages = (total + limit - 1) / limit;
    let link = |n: u32| {
        let mut pairs = keep.clone();
        if n > 1 {
            pairs.push(("page".into(), n.to_string()));
        }
        with_query(path, &pairs)
    };
    let first = if total == 0 { 0 } else { page.offset() + 1 };
    let last = (page.offset() + limit).min(total);
    let mut csv_pairs: Vec<(String, String)> =
        keep.iter().filter(|(k, _)| k != "limit").cloned().collect();
    csv_pairs.push(("format".into(), "csv".into()));
    Pager {
        page: page.page,
        pages,
        total,
        first: first.min(total),
        last: last.max(0),
        prev: (page.page > 1).then(|| link(page.page - 1)),
        next: (i64::from(page.page) < pages).then(|| link(page.page + 1)),
        csv: with_query(path, &csv_pairs),
    }
}

/// Why a form was refused, to re-render it.
#[derive(Debug)]
pub enum Refusal {
    /// Bad fields (answered 400), keyed by the API's field names.
    Fields(FieldErrors),
    /// The current state does not allow it (answered 409), with a message
    /// for the user.
    Conflict(String),
}

impl Refusal {
    /// The status a re-rendered form answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Fields(_) => StatusCode::BAD_REQUEST,
            Refusal::Conflict(_) => StatusCode::CONFLICT,
        }
    }

    /// The per-field errors (empty for a conflict).
    pub fn fields(&self) -> FieldErrors {
        match self {
            Refusal::Fields(f) => f.clone(),
            Refusal::Conflict(_) => FieldErrors::new(),
        }
    }

    /// The conflict message, if it is one.
    pub fn alert(&self) -> Option<String> {
        match self {
            Refusal::Fields(_) => None,
            Refusal::Conflict(m) => Some(m.clone()),
        }
    }
}

/// Sorts a failed write into a form refusal; anything else (not found,
/// database failure) stays an error page.
pub fn refusal(e: DbError) -> Result<Refusal, UiError> {
    match e {
        DbError::Domain(d) => Ok(domain_refusal(d)),
        DbError::Rejected(m) | DbError::Conflict(m) => Ok(Refusal::Conflict(m)),
        other => Err(other.into()),
    }
}

/// A domain error as a form refusal.
pub fn domain_refusal(e: DomainError) -> Refusal {
    match e {
        DomainError::Validation(f) => Refusal::Fields(f),
        DomainError::Conflict(m) => Refusal::Conflict(m),
    }
}

/// `pre` (errors found while reading the form) joined with `r`'s: `Ok` only
/// when both are clean.
pub fn joined<T>(mut pre: FieldErrors, r: Result<T, DomainError>) -> Result<T, Refusal> {
    match r {
        Ok(v) if pre.is_empty() => Ok(v),
        Ok(_) => Err(Refusal::Fields(pre)),
        Err(DomainError::Validation(f)) => {
            for (k, v) in f {
                pre.entry(k).or_insert(v);
            }
            Err(Refusal::Fields(pre))
        }
        Err(DomainError::Conflict(m)) if pre.is_empty() => Err(Refusal::Conflict(m)),
        Err(DomainError::Conflict(_)) => Err(Refusal::Fields(pre)),
    }
}

/// An amount typed into a form (`125.50`, `$1,250`): `None` when blank; a
/// field error under `field` when it is not an amount with at most two
/// decimals. Currency signs, spaces and thousands separators are ignored.
pub fn money_field(errors: &mut FieldErrors, field: &str, raw: Option<&str>) -> Option<Money> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty())?;
    let cleaned: String = raw
        .chars()
        .filter(|c| !matches!(c, '$' | ',' | ' ' | '\u{a0}'))
        .collect();
    match Money::parse_decimal(&cleaned) {
        Ok(m) => Some(m),
        Err(why) => {
            errors.insert(field.to_string(), why);
            None
        }
    }
}

/// A comma- or newline-separated list typed into one field (tags, skills).
pub fn split_list(raw: Option<&str>) -> Vec<String> {
    raw.unwrap_or("")
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_from_forms() {
        let mut e = FieldErrors::new();
        assert_eq!(
            money_field(&mut e, "amount", Some(" $1,250.5 ")),
            Some(Money::from_cents(125_050))
        );
        assert_eq!(money_field(&mut e, "amount", Some("  ")), None);
        assert!(e.is_empty());
        assert_eq!(money_field(&mut e, "amount", Some("12.345")), None);
        assert_eq!(e["amount"], "must have at most two decimal places");
        assert_eq!(money_field(&mut e, "x", Some("abc")), None);
        assert!(e.contains_key("x"));
    }

    #[test]
    fn lists_and_formats() {
        assert_eq!(split_list(Some("a, b,,\nc ")), ["a", "b", "c"]);
        assert!(split_list(None).is_empty());
        assert!(!wants_csv(None).unwrap());
        assert!(!wants_csv(Some("")).unwrap());
        assert!(wants_csv(Some("csv")).unwrap());
        assert!(wants_csv(Some("pdf")).is_err());
    }

    #[test]
    fn joined_keeps_every_field_error() {
        let mut pre = FieldErrors::new();
        pre.insert("amount".into(), "bad".into());
        let r: Result<(), DomainError> = Err(DomainError::field("name", "is required"));
        let Err(Refusal::Fields(f)) = joined(pre.clone(), r) else {
            panic!()
        };
        assert_eq!(f.len(), 2);
        assert!(matches!(joined(pre, Ok(())), Err(Refusal::Fields(_))));
        assert_eq!(joined(FieldErrors::new(), Ok(5)).unwrap(), 5);
    }
}
