//! The injectable clock. Nothing in Quant calls `Utc::now()` directly: it asks the
//! [`Clock`] held in the application state, so tests can move time.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current UTC time.
    fn now(&self) -> DateTime<Utc>;
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A manual clock starting at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Formats a timestamp the way Quant stores and returns it: RFC 3339, UTC,
/// microseconds, `Z` suffix. Fixed width, so text order is time order.
pub fn format_ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Parses a stored timestamp; `None` when it is not RFC 3339.
pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = parse_ts("2026-01-01T00:00:00Z").unwrap();
        let c = ManualClock::new(start);
        assert_eq!(c.now(), start);
        c.advance(Duration::seconds(90));
        assert_eq!(format_ts(c.now()), "2026-01-01T00:01:30.000000Z");
    }

    #[test]
    fn stored_timestamps_sort_as_text_in_time_order() {
        let a = parse_ts("2026-01-01T09:59:59.5Z").unwrap();
        let b = parse_ts("2026-01-01T10:00:00Z").unwrap();
        assert!(format_ts(a) < format_ts(b));
        assert_eq!(parse_ts(&format_ts(a)), Some(a));
    }
}
