//! List pagination as DESIGN §4 fixes it: `?page=1&limit=20` (limit 1..=100,
//! default 20) and `{"data": [...], "pagination": {...}}` responses.

use super::error::HttpError;
use crate::domain::FieldErrors;
use serde::{Deserialize, Serialize};

/// Largest page size.
pub const MAX_LIMIT: u32 = 100;
/// Default page size.
pub const DEFAULT_LIMIT: u32 = 20;

/// Raw `page`/`limit` query parameters, as text so bad values give a clear 400.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page number (1..=1000000, default 1).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000000)]
    pub page: Option<String>,
    /// Items per page (1..=100, default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub page: u32,
    /// Items per page.
    pub limit: u32,
}

impl Page {
    /// Validates the query. Fails with per-field 400s for non-numbers, a
    /// page below 1 or above 1,000,000, or a limit outside 1..=100.
    pub fn parse(q: &PageQuery) -> Result<Page, HttpError> {
        let mut fields = FieldErrors::new();
        let page = match q.page.as_deref() {
            None => 1,
            Some(s) => match s.parse::<u32>() {
                Ok(n) if (1..=1_000_000).contains(&n) => n,
                _ => {
                    fields.insert(
                        "page".into(),
                        "must be a whole number from 1 to 1000000".into(),
                    );
                    1
                }
            },
        };
        let limit = match q.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(s) => match s.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    fields.insert(
                        "limit".into(),
                        format!("must be a whole number from 1 to {MAX_LIMIT}"),
                    );
                    DEFAULT_LIMIT
                }
            },
        };
        if fields.is_empty() {
            Ok(Page { page, limit })
        } else {
            Err(HttpError::Validation {
                message: "invalid pagination".into(),
                fields,
            })
        }
    }

    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        (i64::from(self.page) - 1) * i64::from(self.limit)
    }
}

/// Pagination facts returned with every list.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// Page number.
    pub page: u32,
    /// Page size.
    pub limit: u32,
    /// Total matching items.
    pub total: i64,
    /// Number of pages (0 when there are no items).
    pub total_pages: i64,
    /// Whether a later page exists.
    pub has_next: bool,
    /// Whether an earlier page exists.
    pub has_previous: bool,
}

/// A page of results.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Paginated<T> {
    /// The items.
    pub data: Vec<T>,
    /// Where they sit in the whole list.
    pub pagination: Pagination,
}

impl Pagination {
    /// Where `page` sits in a list of `total` items.
    pub fn new(page: Page, total: i64) -> Self {
        let limit = i64::from(page.limit);
        let total_pages = (total + limit - 1) / limit;
        Pagination {
            page: page.page,
            limit: page.limit,
            total,
            total_pages,
            has_next: i64::from(page.page) < total_pages,
            has_previous: page.page > 1,
        }
    }
}

impl<T> Paginated<T> {
    /// Wraps one page of `data` out of `total` items.
    pub fn new(data: Vec<T>, page: Page, total: i64) -> Self {
        Self {
            data,
            pagination: Pagination::new(page, total),
        }
    }
}

/// The start of a list body written without [`Paginated`]: `{"data":`, to be
/// followed by the items as a JSON array and then [`finish_json_body`].
pub const JSON_BODY_START: &[u8] = b"{\"data\":";

/// Ends a list body that holds [`JSON_BODY_START`] and a JSON array of items
/// with `,"pagination":{…}}` — the same bytes as serde_json writes for
/// `Paginated::new(items, page, total)`.
pub fn finish_json_body(out: &mut Vec<u8>, page: Page, total: i64) {
    out.extend_from_slice(b",\"pagination\":");
    // Writing a plain struct of numbers and booleans into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &Pagination::new(page, total));
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(p: Option<&str>, l: Option<&str>) -> PageQuery {
        PageQuery {
            page: p.map(Into::into),
            limit: l.map(Into::into),
        }
    }

    #[test]
    fn bounds_are_enforced() {
        assert_eq!(
            Page::parse(&q(None, None)).unwrap(),
            Page { page: 1, limit: 20 }
        );
        assert_eq!(
            Page::parse(&q(Some("3"), Some("100"))).unwrap().offset(),
            200
        );
        for (p, l) in [
            (Some("0"), None),
            (None, Some("101")),
            (None, Some("0")),
            (Some("x"), None),
            (Some("-1"), None),
        ] {
            assert!(Page::parse(&q(p, l)).is_err(), "{p:?} {l:?}");
        }
    }

    #[test]
    fn pagination_facts() {
        let p = Paginated::new(vec![1, 2], Page { page: 2, limit: 2 }, 5).pagination;
        assert_eq!((p.total_pages, p.has_next, p.has_previous), (3, true, true));
        let p = Paginated::<i32>::new(vec![], Page { page: 1, limit: 20 }, 0).pagination;
        assert_eq!(
            (p.total_pages, p.has_next, p.has_previous),
            (0, false, false)
        );
    }

    #[test]
    fn json_body_matches_paginated() {
        for (p, l, total) in [(1, 20, 0), (1, 50, 20000), (3, 7, 15), (9, 10, 3)] {
            let page = Page { page: p, limit: l };
            let mut out = JSON_BODY_START.to_vec();
            out.extend_from_slice(b"[1,2]");
            finish_json_body(&mut out, page, total);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&Paginated::new(vec![1, 2], page, total)).unwrap()
            );
        }
    }
}
