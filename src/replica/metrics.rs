//! The replicator's Prometheus metrics, computed from its status when
//! `/metrics` is scraped: `quant_replica_lag_seconds`,
//! `quant_replica_last_success_timestamp_seconds`, `quant_replica_bytes_total`,
//! `quant_replica_errors_total`, `quant_replica_disk_guard_total`.

use super::replicator::SharedStatus;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, IntCounter};

/// A collector reading the replicator's status at scrape time.
pub struct ReplicaMetrics {
    status: SharedStatus,
    clock: crate::clock::SharedClock,
    lag: Gauge,
    last_success: Gauge,
    bytes: IntCounter,
    errors: IntCounter,
    guard: IntCounter,
}

impl ReplicaMetrics {
    /// The collector for `status`. Fails only on an invalid metric name (a
    /// programming error caught by the tests).
    pub fn new(
        status: SharedStatus,
        clock: crate::clock::SharedClock,
    ) -> Result<ReplicaMetrics, prometheus::Error> {
        Ok(ReplicaMetrics {
            status,
            clock,
            lag: Gauge::new(
                "quant_replica_lag_seconds",
                "Seconds since the moment up to which every commit is known to be in the replica (-1 before the first sync).",
            )?,
            last_success: Gauge::new(
                "quant_replica_last_success_timestamp_seconds",
                "Unix time of the last successful replica sync (0 before the first).",
            )?,
            bytes: IntCounter::new(
                "quant_replica_bytes_total",
                "Bytes uploaded to the replica since start.",
            )?,
            errors: IntCounter::new(
                "quant_replica_errors_total",
                "Failed replica sync attempts since start.",
            )?,
            guard: IntCounter::new(
                "quant_replica_disk_guard_total",
                "Times unshipped commits were checkpointed because S3 stayed down and the WAL grew too large for the disk.",
            )?,
        })
    }
}

impl Collector for ReplicaMetrics {
    fn desc(&self) -> Vec<&Desc> {
        [
            self.lag.desc(),
            self.last_success.desc(),
            self.bytes.desc(),
            self.errors.desc(),
            self.guard.desc(),
        ]
        .concat()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let s = self.status.lock().map(|s| s.clone()).unwrap_or_default();
        let now = self.clock.now();
        self.lag.set(s.lag_seconds(now).unwrap_or(-1.0));
        self.last_success.set(
            s.last_success
                .map(|t| t.timestamp_millis() as f64 / 1000.0)
                .unwrap_or(0.0),
        );
        self.bytes
            .inc_by(s.bytes_total.saturating_sub(self.bytes.get()));
        self.errors
            .inc_by(s.errors_total.saturating_sub(self.errors.get()));
        self.guard
            .inc_by(s.disk_guard_total.saturating_sub(self.guard.get()));
        [
            self.lag.collect(),
            self.last_success.collect(),
            self.bytes.collect(),
            self.errors.collect(),
            self.guard.collect(),
        ]
        .concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_the_status() {
        let status = SharedStatus::default();
        let m = ReplicaMetrics::new(
            status.clone(),
            std::sync::Arc::new(crate::clock::SystemClock),
        )
        .unwrap();
        let reg = prometheus::Registry::new();
        reg.register(Box::new(m)).unwrap();
        let text = |reg: &prometheus::Registry| {
            let mut buf = Vec::new();
            prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &reg.gather(), &mut buf)
                .unwrap();
            String::from_utf8(buf).unwrap()
        };
        assert!(text(&reg).contains("quant_replica_lag_seconds -1"));
        {
            let mut s = status.lock().unwrap();
            s.bytes_total = 1234;
            s.errors_total = 3;
            s.last_success = chrono::DateTime::from_timestamp(1_700_000_000, 0);
            s.current_as_of = Some(chrono::Utc::now());
        }
        let t = text(&reg);
        assert!(t.contains("quant_replica_bytes_total 1234"), "{t}");
        assert!(t.contains("quant_replica_errors_total 3"), "{t}");
        assert!(
            t.contains("quant_replica_last_success_timestamp_seconds 1700000000"),
            "{t}"
        );
        let lag: f64 = t
            .lines()
            .find(|l| l.starts_with("quant_replica_lag_seconds "))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!((0.0..5.0).contains(&lag), "{lag}");
    }
}
