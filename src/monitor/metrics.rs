//! The metrics registry. HTTP metrics are recorded by the request middleware;
//! process (RSS, CPU) and database (file, WAL size) gauges are refreshed when
//! `/metrics` is scraped, so they cost nothing between scrapes.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::sync::Mutex;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// Every metric Quant exports.
pub struct Metrics {
    registry: Registry,
    /// `http_requests_total{method,route,status}`.
    pub http_requests_total: IntCounterVec,
    /// `http_request_duration_seconds{method,route}`.
    pub http_request_duration_seconds: HistogramVec,
    process_rss: IntGauge,
    process_cpu: Gauge,
    db_size: IntGauge,
    db_wal_size: IntGauge,
    db_commits: IntGauge,
    db_writes: IntGauge,
    logins_throttled: prometheus::IntCounter,
    system: Mutex<System>,
    /// Business gauges (revenue, active work orders, utilization, performance),
    /// refreshed by the `/metrics` handler before [`Metrics::render`].
    pub business: super::business::BusinessGauges,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Route label for requests that matched no route (never the raw path, which
/// would let clients create unbounded label sets).
pub const UNMATCHED_ROUTE: &str = "<unmatched>";

impl Metrics {
    /// Creates and registers every metric. Fails only if two metrics share a
    /// name, which is a programming error caught by the tests.
    pub fn new(version: &str) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests_total = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by method, route pattern and status.",
            ),
            &["method", "route", "status"],
        )?;
        let http_request_duration_seconds = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from request received to response ready, by method and route pattern.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["method", "route"],
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "quant_build_info",
                "Always 1; labels carry the running build.",
            ),
            &["version"],
        )?;
        build_info.with_label_values(&[version]).set(1);
        let process_rss = IntGauge::new(
            "process_resident_memory_bytes",
            "Resident set size of the quant process.",
        )?;
        let process_cpu = Gauge::new(
            "process_cpu_seconds_total",
            "CPU time used by the quant process (user + system).",
        )?;
        let db_size = IntGauge::new("quant_db_size_bytes", "Size of the SQLite database file.")?;
        let db_wal_size = IntGauge::new(
            "quant_db_wal_size_bytes",
            "Size of the SQLite write-ahead log.",
        )?;
        let db_commits = IntGauge::new(
            "quant_db_commits_total",
            "Write transactions committed by the group-commit writer.",
        )?;
        let db_writes = IntGauge::new(
            "quant_db_writes_total",
            "Writes committed (several may share one transaction).",
        )?;
        let logins_throttled = prometheus::IntCounter::new(
            "quant_logins_throttled_total",
            "Login attempts refused with 429 by the per-account or per-IP login throttle.",
        )?;
        registry.register(Box::new(logins_throttled.clone()))?;
        registry.register(Box::new(db_commits.clone()))?;
        registry.register(Box::new(db_writes.clone()))?;
        registry.register(Box::new(http_requests_total.clone()))?;
        registry.register(Box::new(http_request_duration_seconds.clone()))?;
        registry.register(Box::new(build_info))?;
        registry.register(Box::new(process_rss.clone()))?;
        registry.register(Box::new(process_cpu.clone()))?;
        registry.register(Box::new(db_size.clone()))?;
        registry.register(Box::new(db_wal_size.clone()))?;
        let business = super::business::register(&registry)?;
        Ok(Self {
            registry,
            http_requests_total,
            http_request_duration_seconds,
            process_rss,
            process_cpu,
            db_size,
            db_wal_size,
            db_commits,
            db_writes,
            logins_throttled,
            system: Mutex::new(System::new()),
            business,
        })
    }

    /// The registry, for other adapters to register their own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts a login refused by the throttle.
    pub fn login_throttled(&self) {
        self.logins_throttled.inc();
    }

    /// Records one answered request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        self.http_requests_total
            .with_label_values(&[method, route, status.as_str()])
            .inc();
        self.http_request_duration_seconds
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Refreshes the scrape-time gauges and renders the Prometheus text
    /// format. Blocking (reads /proc): call off the async runtime. A gauge that
    /// cannot be read keeps its previous value.
    pub fn render(&self, db: &crate::db::Db) -> String {
        let db_sizes = db.file_sizes();
        let st = db.stats();
        self.db_commits
            .set(st.commits.load(std::sync::atomic::Ordering::Relaxed) as i64);
        self.db_writes.set(
            st.writes_committed
                .load(std::sync::atomic::Ordering::Relaxed) as i64,
        );
        {
            let mut sys = self.system.lock().unwrap_or_else(|p| p.into_inner());
            let pid = Pid::from_u32(std::process::id());
            sys.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                ProcessRefreshKind::nothing().with_memory().with_cpu(),
            );
            if let Some(p) = sys.process(pid) {
                self.process_rss.set(p.memory() as i64);
                self.process_cpu
                    .set(p.accumulated_cpu_time() as f64 / 1000.0);
            }
        }
        self.db_size.set(db_sizes.0 as i64);
        self.db_wal_size.set(db_sizes.1 as i64);
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_build_info_and_process_gauges() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("m.db"), &Default::default()).unwrap();
        let m = super::Metrics::new("1.2.3").unwrap();
        m.observe_request("GET", "/x/{id}", 200, 0.01);
        let text = m.render(&db);
        assert!(
            text.contains("quant_build_info{version=\"1.2.3\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("http_requests_total{method=\"GET\",route=\"/x/{id}\",status=\"200\"} 1")
        );
        let gauge = |name: &str| -> f64 {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{name} ")))
                .unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        };
        let (file, wal) = db.file_sizes();
        assert_eq!(
            gauge("quant_db_size_bytes") + gauge("quant_db_wal_size_bytes"),
            (file + wal) as f64
        );
        assert!(file + wal > 0);
        let rss_line = text
            .lines()
            .find(|l| l.starts_with("process_resident_memory_bytes "))
            .unwrap();
        let rss: f64 = rss_line.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(rss > 1_000_000.0, "{rss_line}");
    }
}
