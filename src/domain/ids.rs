//! Public identifiers: UUIDv7 strings, time-ordered, generated from the
//! injected clock so tests are reproducible in their ordering.

use chrono::{DateTime, Utc};
use uuid::{Timestamp, Uuid};

/// Creates a new UUIDv7 for the instant `now`. Never fails.
pub fn new_id(now: DateTime<Utc>) -> Uuid {
    let secs = now.timestamp().max(0) as u64;
    let nanos = now.timestamp_subsec_nanos();
    Uuid::new_v7(Timestamp::from_unix(uuid::NoContext, secs, nanos))
}

/// Parses an id from a path segment; `None` when it is not a UUID (the HTTP
/// layer answers 404 for that, as for an id that does not exist).
pub fn parse_id(s: &str) -> Option<Uuid> {
    Uuid::try_parse(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_time_ordered() {
        let t1 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let t2 = t1 + chrono::Duration::milliseconds(5);
        let (a, b) = (new_id(t1), new_id(t2));
        assert_eq!(a.get_version_num(), 7);
        assert!(a.to_string() < b.to_string());
        assert_eq!(parse_id(&a.to_string()), Some(a));
        assert_eq!(parse_id("not-a-uuid"), None);
    }
}
