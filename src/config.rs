//! Configuration. Layers, lowest first: defaults in code → the TOML file
//! (`--config PATH`, else `/etc/quant/config.toml` when present) → environment
//! `QUANT__SECTION__KEY` → command-line flags (`--data`, `--listen`).
//!
//! Unknown keys and bad values are errors naming the key and what is wrong.
//! Keys marked *reloadable* (`log.level`, `rate_limit.*`) are re-read when the
//! file changes ([`watch`]); an invalid new file is rejected and the old
//! configuration stays in force.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the system-wide configuration lives when installed from the package.
pub const SYSTEM_CONFIG_PATH: &str = "/etc/quant/config.toml";

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP server.
    pub server: ServerConfig,
    /// SQLite storage.
    pub database: DatabaseConfig,
    /// Accounts, sessions and the first-run setup link.
    pub auth: AuthConfig,
    /// Logging.
    pub log: LogConfig,
    /// Per-IP API rate limit (reloadable).
    pub rate_limit: RateLimitConfig,
    /// The business: time zone, tax, invoicing and follow-up rules, estimate defaults.
    pub business: BusinessConfig,
    /// Photos and signatures.
    pub attachments: AttachmentsConfig,
    /// Continuous replication to S3 (off while `url` is empty).
    pub replica: ReplicaConfig,
    /// HTTPS with rustls (off by default).
    pub tls: TlsConfig,
}

/// `[tls]`: HTTPS. With `enabled` and no paths, Quant generates a
/// self-signed certificate in `<data_dir>/tls/` on first start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Serve HTTPS (TLS 1.2 and 1.3) on `server.listen` instead of plain HTTP.
    pub enabled: bool,
    /// PEM certificate chain, leaf first. Empty: the generated self-signed one.
    pub cert_path: PathBuf,
    /// PEM private key of the leaf certificate. Set both paths or neither.
    pub key_path: PathBuf,
    /// Also listen here (e.g. `0.0.0.0:80`) and answer every request with a
    /// 308 to the same host and path over HTTPS. Empty: no redirect listener.
    pub redirect_http: String,
}

impl TlsConfig {
    /// Both `cert_path` and `key_path` are set.
    pub fn has_paths(&self) -> bool {
        !self.cert_path.as_os_str().is_empty() && !self.key_path.as_os_str().is_empty()
    }

    /// The redirect listener's address, when one is configured and valid.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect_http.trim().parse().ok()
    }

    fn validate(&self, listen: SocketAddr, v: &mut Vec<ConfigIssue>) {
        let mut issue = |key: &str, message: String| {
            v.push(ConfigIssue {
                key: format!("tls.{key}"),
                message,
            })
        };
        if self.cert_path.as_os_str().is_empty() != self.key_path.as_os_str().is_empty() {
            issue(
                "cert_path",
                "set both cert_path and key_path, or neither (to use a generated self-signed certificate)".into(),
            );
        }
        let redirect = self.redirect_http.trim();
        if redirect.is_empty() {
            return;
        }
        match redirect.parse::<SocketAddr>() {
            Err(_) => issue(
                "redirect_http",
                format!("`{redirect}` is not an address and port such as 0.0.0.0:80"),
            ),
            Ok(_) if !self.enabled => issue(
                "redirect_http",
                "redirects to HTTPS, so it needs tls.enabled = true".into(),
            ),
            Ok(a) if a.port() != 0 && a == listen => issue(
                "redirect_http",
                "must differ from server.listen (that is where HTTPS is served)".into(),
            ),
            Ok(_) => {}
        }
    }
}

/// A secret config value (an S3 secret key): `Debug` and `check-config`
/// show `[REDACTED]`, never the value.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(#[serde(deserialize_with = "de_secret")] Option<crate::secret::SecretString>);

fn de_secret<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::secret::SecretString>, D::Error> {
    let s = String::deserialize(d)?;
    Ok((!s.is_empty()).then(|| s.into()))
}

impl Secret {
    /// The value, when one is set (non-empty).
    pub fn get(&self) -> Option<&str> {
        use crate::secret::ExposeSecret;
        self.0.as_ref().map(|s| s.expose_secret())
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret((!s.is_empty()).then(|| s.to_string().into()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => f.write_str("[REDACTED]"),
            None => f.write_str("\"\""),
        }
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_some() { "[REDACTED]" } else { "" })
    }
}

/// `[replica]`: continuous Litestream-compatible replication to an
/// S3-compatible store. Off while `url` is empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicaConfig {
    /// `s3://BUCKET/PATH`, as Litestream writes it. Empty: replication off.
    pub url: String,
    /// Endpoint of an S3-compatible store (MinIO, B2, R2, Wasabi); empty for AWS.
    pub endpoint: String,
    /// The bucket's region.
    pub region: String,
    /// Address the bucket in the path rather than the host name.
    pub force_path_style: bool,
    /// Access key id; empty: `AWS_ACCESS_KEY_ID` or the standard chain.
    pub access_key_id: String,
    /// Secret access key (never printed).
    pub secret_access_key: Secret,
    /// How often committed transactions are shipped.
    #[serde(with = "humantime_serde")]
    pub sync_interval: Duration,
    /// How often a full snapshot is written.
    #[serde(with = "humantime_serde")]
    pub snapshot_interval: Duration,
    /// How long replicated history is kept.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Compaction levels (not a config key: Litestream 0.5's defaults; tests
    /// shorten them).
    #[serde(skip)]
    pub compaction: crate::replica::compact::Schedule,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            endpoint: String::new(),
            region: "us-east-1".into(),
            force_path_style: false,
            access_key_id: String::new(),
            secret_access_key: Secret::default(),
            sync_interval: Duration::from_secs(1),
            snapshot_interval: Duration::from_secs(24 * 3600),
            retention: Duration::from_secs(720 * 3600),
            compaction: crate::replica::compact::Schedule::default(),
        }
    }
}

impl ReplicaConfig {
    /// Replication is on.
    pub fn enabled(&self) -> bool {
        !self.url.trim().is_empty()
    }

    /// Bucket and path of `url`. Fails with a message naming what is wrong.
    pub fn bucket_and_path(&self) -> Result<(String, String), String> {
        parse_s3_url(&self.url)
    }

    fn validate(&self, v: &mut Vec<ConfigIssue>) {
        let mut issue = |key: &str, message: String| {
            v.push(ConfigIssue {
                key: format!("replica.{key}"),
                message,
            })
        };
        if !self.enabled() {
            return;
        }
        if let Err(e) = self.bucket_and_path() {
            issue("url", e);
        }
        let ep = &self.endpoint;
        if !(ep.is_empty() || ep.starts_with("http://") || ep.starts_with("https://")) {
            issue("endpoint", "must start with http:// or https://".into());
        }
        if self.region.trim().is_empty() {
            issue("region", "must not be empty".into());
        }
        if self.access_key_id.is_empty() != self.secret_access_key.get().is_none() {
            issue(
                "access_key_id",
                "set both access_key_id and secret_access_key, or neither (to use the standard AWS chain)".into(),
            );
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&self.sync_interval) {
            issue("sync_interval", "must be between 100ms and 1h".into());
        }
        if !(Duration::from_secs(60)..=Duration::from_secs(366 * 24 * 3600))
            .contains(&self.snapshot_interval)
        {
            issue("snapshot_interval", "must be between 1m and 366d".into());
        }
        if self.retention < self.snapshot_interval {
            issue(
                "retention",
                "must be at least snapshot_interval (older snapshots are what a restore starts from)".into(),
            );
        }
    }
}

/// Splits `s3://BUCKET/PATH` into bucket and path (no leading or trailing
/// slash). Fails with a message saying what is wrong.
pub fn parse_s3_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .trim()
        .strip_prefix("s3://")
        .ok_or_else(|| "must look like s3://BUCKET/PATH".to_string())?;
    let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.trim_matches('/');
    if bucket.len() < 3
        || bucket.len() > 63
        || !bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Err(format!(
            "bucket `{bucket}` is not a valid bucket name (3-63 lowercase letters, digits, `-`, `.`)"
        ));
    }
    if path.is_empty() || path.contains('?') {
        return Err(
            "must look like s3://BUCKET/PATH (the path inside the bucket is required)".into(),
        );
    }
    Ok((bucket.to_string(), path.to_string()))
}

/// `[business]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusinessConfig {
    /// Shown on invoices and in the UI.
    pub name: String,
    /// IANA time zone for dates, schedules and reports (e.g. `America/Chicago`).
    pub timezone: String,
    /// Sales tax on invoices, in basis points (825 = 8.25 %).
    pub tax_rate_bps: i64,
    /// Days from issue to the invoice due date.
    pub invoice_due_days: i64,
    /// Days after completion that the customer follow-up is due.
    pub follow_up_days: i64,
    /// Convert new leads to a customer and a draft work order automatically.
    pub auto_convert_leads: bool,
    /// Job length assumed by the estimate when there is no history, in minutes.
    pub default_job_minutes: i64,
    /// Cost per labour hour assumed by the estimate when a technician has no rate, in cents.
    pub default_hourly_cost_cents: i64,
}

/// `[attachments]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttachmentsConfig {
    /// Largest photo or signature accepted, in bytes.
    pub max_bytes: usize,
}

impl BusinessConfig {
    /// The business time zone (UTC if the name does not parse; validation
    /// reports that at load).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }
}

impl Default for BusinessConfig {
    fn default() -> Self {
        Self {
            name: "My Business".into(),
            timezone: "UTC".into(),
            tax_rate_bps: 0,
            invoice_due_days: 30,
            follow_up_days: 7,
            auto_convert_leads: false,
            default_job_minutes: 120,
            default_hourly_cost_cents: 5_500,
        }
    }
}

impl Default for AttachmentsConfig {
    fn default() -> Self {
        Self {
            max_bytes: 15 * 1024 * 1024,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on (ignored under socket activation).
    pub listen: SocketAddr,
    /// Base URL people use to reach Quant, used in printed links. Empty: derived from `listen`.
    pub public_url: String,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// How long a shutdown waits for in-flight requests.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Largest request body accepted, in bytes (larger → 413).
    pub max_body_bytes: usize,
    /// Let anyone who can reach Quant read `/metrics` (else: loopback, or owner/office credentials).
    pub metrics_public: bool,
}

/// `[database]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// State directory holding `quant.db` (overridden by `--data`).
    pub data_dir: PathBuf,
    /// How long a connection waits on a lock before failing.
    #[serde(with = "humantime_serde")]
    pub busy_timeout: Duration,
    /// Read connections in the pool.
    pub read_pool_size: u32,
    /// Most writes committed together in one group-commit transaction.
    pub max_batch: usize,
    /// Apply pending migrations at start. When off, `/readyz` reports them and `quant migrate` applies them.
    pub auto_migrate: bool,
    /// Serve repeated reads (work-order list pages, customer searches, API
    /// token lookups) from in-process caches that any committed write empties
    /// (docs/architecture.md, "Caches"). Off: every request reads the database.
    pub response_cache: bool,
}

/// `[auth]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of a login session.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Lifetime of the one-time owner setup link.
    #[serde(with = "humantime_serde")]
    pub setup_link_ttl: Duration,
    /// Minimum length of a new password.
    pub min_password_length: usize,
    /// Failed logins for one account within `login_lockout` before further
    /// attempts get 429 (0 = no limit).
    pub login_max_failures_per_account: u32,
    /// Failed logins from one IP address within `login_lockout` before
    /// further attempts get 429 (0 = no limit).
    pub login_max_failures_per_ip: u32,
    /// The window failures are counted in, and how long a lockout lasts.
    #[serde(with = "humantime_serde")]
    pub login_lockout: Duration,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON lines, or human-readable when stdout is a terminal.
    Auto,
    /// Always JSON lines.
    Json,
    /// Always human-readable.
    Human,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Level or filter directives, e.g. `info` or `info,quant::db=debug`. Reloadable.
    pub level: String,
    /// `auto`, `json` or `human`.
    pub format: LogFormat,
}

/// `[rate_limit]` — all reloadable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Requests per minute per client IP on `/api` (0 disables the limit).
    pub api_per_minute: u32,
    /// Requests a client may make in a burst above the steady rate.
    pub api_burst: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: String::new(),
            workers: 0,
            shutdown_timeout: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            metrics_public: false,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            busy_timeout: Duration::from_secs(5),
            read_pool_size: 4,
            max_batch: 256,
            auto_migrate: true,
            response_cache: true,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(14 * 24 * 3600),
            setup_link_ttl: Duration::from_secs(3600),
            min_password_length: 10,
            login_max_failures_per_account: 5,
            login_max_failures_per_ip: 20,
            login_lockout: Duration::from_secs(15 * 60),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Auto,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            api_per_minute: 1200,
            api_burst: 200,
        }
    }
}

/// A configuration problem: the key it concerns and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key, e.g. `server.listen` (empty for file-level problems).
    pub key: String,
    /// What is wrong, in plain words.
    pub message: String,
}

/// Why a configuration could not be loaded; lists every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file involved, if any.
    pub source: Option<PathBuf>,
    /// The problems, each naming its key.
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(p) => write!(f, "invalid configuration ({})", p.display())?,
            None => write!(f, "invalid configuration")?,
        }
        for i in &self.issues {
            if i.key.is_empty() {
                write!(f, "\n  - {}", i.message)?;
            } else {
                write!(f, "\n  - {}: {}", i.key, i.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Values from the command line that override every other layer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CliOverrides {
    /// `--data DIR`
    pub data_dir: Option<PathBuf>,
    /// `--listen ADDR:PORT`
    pub listen: Option<SocketAddr>,
}

/// Knows where the configuration comes from, so it can be loaded again on reload.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigLoader {
    /// The file in use, if any.
    pub path: Option<PathBuf>,
    /// Command-line overrides re-applied on every load.
    pub overrides: CliOverrides,
}

impl ConfigLoader {
    /// Chooses the file: `explicit` (which must exist), else
    /// [`SYSTEM_CONFIG_PATH`] when present, else none (defaults).
    /// Fails when an explicit file does not exist.
    pub fn new(explicit: Option<&Path>, overrides: CliOverrides) -> Result<Self, ConfigError> {
        let path = match explicit {
            Some(p) if !p.is_file() => {
                return Err(ConfigError {
                    source: Some(p.to_path_buf()),
                    issues: vec![ConfigIssue {
                        key: String::new(),
                        message: format!("config file {} does not exist", p.display()),
                    }],
                });
            }
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(SYSTEM_CONFIG_PATH)).filter(|p| p.is_file()),
        };
        Ok(Self { path, overrides })
    }

    /// Loads and validates the configuration from all layers.
    /// Fails with every problem found, each naming its key.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(p) = &self.path {
            // Read it ourselves so an unreadable file is reported as such.
            let text = std::fs::read_to_string(p).map_err(|e| ConfigError {
                source: Some(p.clone()),
                issues: vec![ConfigIssue {
                    key: String::new(),
                    message: format!("cannot read {}: {e}", p.display()),
                }],
            })?;
            fig = fig.merge(Toml::string(&text));
        }
        fig = fig.merge(Env::prefixed("QUANT__").split("__"));
        let mut config: Config = fig.extract().map_err(|e| ConfigError {
            source: self.path.clone(),
            issues: figment_issues(e),
        })?;
        if let Some(d) = &self.overrides.data_dir {
            config.database.data_dir = d.clone();
        }
        if let Some(l) = self.overrides.listen {
            config.server.listen = l;
        }
        let issues = config.validate();
        if issues.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError {
                source: self.path.clone(),
                issues,
            })
        }
    }
}

fn figment_issues(e: figment::Error) -> Vec<ConfigIssue> {
    e.into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let from_env = e
                .metadata
                .as_ref()
                .map(|m| m.name.contains("environment"))
                .unwrap_or(false);
            let mut message = match &e.kind {
                figment::error::Kind::UnknownField(f, _) => {
                    format!("unknown key `{f}`")
                }
                figment::error::Kind::Message(m) if m.contains("TOML parse error") => {
                    format!("not valid TOML: {}", m.replace('\n', " "))
                }
                other => other.to_string(),
            };
            if from_env {
                let var = format!("QUANT__{}", key.to_uppercase().replace('.', "__"));
                message = format!("{message} (from environment variable {var})");
            }
            ConfigIssue { key, message }
        })
        .collect()
}

fn check<T: PartialOrd + fmt::Display>(
    issues: &mut Vec<ConfigIssue>,
    key: &str,
    v: T,
    lo: T,
    hi: T,
) {
    if v < lo || v > hi {
        issues.push(ConfigIssue {
            key: key.into(),
            message: format!("must be between {lo} and {hi}, got {v}"),
        });
    }
}

fn check_dur(issues: &mut Vec<ConfigIssue>, key: &str, v: Duration, lo: Duration, hi: Duration) {
    if v < lo || v > hi {
        issues.push(ConfigIssue {
            key: key.into(),
            message: format!(
                "must be between {} and {}, got {}",
                humantime::format_duration(lo),
                humantime::format_duration(hi),
                humantime::format_duration(v)
            ),
        });
    }
}

impl Config {
    /// Checks value ranges and formats; returns every problem found (empty when valid).
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut v = Vec::new();
        let s = &self.server;
        let url_ok = s.public_url.is_empty()
            || s.public_url.starts_with("http://")
            || s.public_url.starts_with("https://");
        if !url_ok {
            v.push(ConfigIssue {
                key: "server.public_url".into(),
                message: "must start with http:// or https://".into(),
            });
        }
        check(&mut v, "server.workers", s.workers, 0, 256);
        check_dur(
            &mut v,
            "server.shutdown_timeout",
            s.shutdown_timeout,
            Duration::from_secs(1),
            Duration::from_secs(600),
        );
        check(
            &mut v,
            "server.max_body_bytes",
            s.max_body_bytes,
            1024,
            64 << 20,
        );
        let d = &self.database;
        if d.data_dir.as_os_str().is_empty() {
            v.push(ConfigIssue {
                key: "database.data_dir".into(),
                message: "must not be empty".into(),
            });
        }
        check_dur(
            &mut v,
            "database.busy_timeout",
            d.busy_timeout,
            Duration::from_millis(1),
            Duration::from_secs(60),
        );
        check(&mut v, "database.read_pool_size", d.read_pool_size, 1, 64);
        check(&mut v, "database.max_batch", d.max_batch, 1, 10_000);
        let a = &self.auth;
        check_dur(
            &mut v,
            "auth.session_ttl",
            a.session_ttl,
            Duration::from_secs(300),
            Duration::from_secs(366 * 24 * 3600),
        );
        check_dur(
            &mut v,
            "auth.setup_link_ttl",
            a.setup_link_ttl,
            Duration::from_secs(60),
            Duration::from_secs(7 * 24 * 3600),
        );
        check(
            &mut v,
            "auth.min_password_length",
            a.min_password_length,
            8,
            128,
        );
        check(
            &mut v,
            "auth.login_max_failures_per_account",
            a.login_max_failures_per_account,
            0,
            1000,
        );
        check(
            &mut v,
            "auth.login_max_failures_per_ip",
            a.login_max_failures_per_ip,
            0,
            100_000,
        );
        check_dur(
            &mut v,
            "auth.login_lockout",
            a.login_lockout,
            Duration::from_secs(1),
            Duration::from_secs(24 * 3600),
        );
        if let Err(e) = crate::telemetry::parse_filter(&self.log.level) {
            v.push(ConfigIssue {
                key: "log.level".into(),
                message: format!("not a valid level or filter: {e}"),
            });
        }
        check(
            &mut v,
            "rate_limit.api_per_minute",
            self.rate_limit.api_per_minute,
            0,
            1_000_000,
        );
        check(
            &mut v,
            "rate_limit.api_burst",
            self.rate_limit.api_burst,
            1,
            100_000,
        );
        let b = &self.business;
        if b.name.trim().is_empty() || b.name.chars().count() > 200 {
            v.push(ConfigIssue {
                key: "business.name".into(),
                message: "must be 1 to 200 characters".into(),
            });
        }
        if b.timezone.parse::<chrono_tz::Tz>().is_err() {
            v.push(ConfigIssue {
                key: "business.timezone".into(),
                message: format!(
                    "`{}` is not an IANA time zone (e.g. America/Chicago, Europe/London, UTC)",
                    b.timezone
                ),
            });
        }
        check(&mut v, "business.tax_rate_bps", b.tax_rate_bps, 0, 10_000);
        check(
            &mut v,
            "business.invoice_due_days",
            b.invoice_due_days,
            0,
            365,
        );
        check(&mut v, "business.follow_up_days", b.follow_up_days, 1, 365);
        check(
            &mut v,
            "business.default_job_minutes",
            b.default_job_minutes,
            1,
            24 * 60,
        );
        check(
            &mut v,
            "business.default_hourly_cost_cents",
            b.default_hourly_cost_cents,
            0,
            1_000_000,
        );
        check(
            &mut v,
            "attachments.max_bytes",
            self.attachments.max_bytes,
            1024,
            100 << 20,
        );
        self.replica.validate(&mut v);
        self.tls.validate(self.server.listen, &mut v);
        v
    }

    /// The business time zone (UTC if it somehow does not parse; validation
    /// prevents that).
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.business.tz()
    }

    /// The path of the SQLite database file inside the state directory.
    pub fn db_path(&self) -> PathBuf {
        self.database.data_dir.join("quant.db")
    }

    /// Names of keys that differ from `other` and need a restart to take effect
    /// (everything outside `log.level` and `rate_limit`).
    pub fn restart_required_changes(&self, other: &Config) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.server != other.server {
            out.push("server");
        }
        if self.database != other.database {
            out.push("database");
        }
        if self.auth != other.auth {
            out.push("auth");
        }
        if self.log.format != other.log.format {
            out.push("log.format");
        }
        if self.business != other.business {
            out.push("business");
        }
        if self.attachments != other.attachments {
            out.push("attachments");
        }
        if self.replica != other.replica {
            out.push("replica");
        }
        if self.tls != other.tls {
            out.push("tls");
        }
        out
    }

    /// The configuration as TOML, for `quant check-config`. Never fails for
    /// the types used here; falls back to an error comment if it ever did.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// Watches the configuration file and calls `apply` with each new valid
/// configuration. Invalid files are logged and ignored. Returns the watcher,
/// which stops watching when dropped; fails when the directory cannot be watched.
pub fn watch(
    loader: ConfigLoader,
    apply: impl Fn(Config) + Send + 'static,
) -> Result<Option<notify::RecommendedWatcher>, notify::Error> {
    use notify::{RecursiveMode, Watcher};
    let Some(path) = loader.path.clone() else {
        return Ok(None);
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let file_name = path.file_name().map(|n| n.to_os_string());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            let ours = ev
                .paths
                .iter()
                .any(|p| p.file_name().map(|n| n.to_os_string()) == file_name);
            if ours && !matches!(ev.kind, notify::EventKind::Access(_)) {
                let _ = tx.send(());
            }
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    std::thread::Builder::new()
        .name("quant-config-watch".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Editors write in several steps: wait for the burst to settle.
                std::thread::sleep(Duration::from_millis(200));
                while rx.try_recv().is_ok() {}
                if !path.is_file() {
                    continue;
                }
                match loader.load() {
                    Ok(c) => apply(c),
                    Err(e) => tracing::error!(
                        error = %e,
                        "configuration change rejected; the previous configuration stays in force"
                    ),
                }
            }
        })
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(Some(watcher))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(Config::default().validate().is_empty());
    }

    #[test]
    fn business_keys_are_validated() {
        let mut c = Config::default();
        c.business.timezone = "Mars/Olympus".into();
        c.business.tax_rate_bps = 20_000;
        c.business.follow_up_days = 0;
        let keys: Vec<_> = c.validate().into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            [
                "business.timezone",
                "business.tax_rate_bps",
                "business.follow_up_days"
            ]
        );
        c.business.timezone = "America/Chicago".into();
        assert_eq!(c.timezone(), chrono_tz::America::Chicago);
    }

    #[test]
    fn validation_names_each_bad_key() {
        let mut c = Config::default();
        c.database.read_pool_size = 0;
        c.server.public_url = "ftp://x".into();
        c.log.level = "loud".into();
        let keys: Vec<_> = c.validate().into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            ["server.public_url", "database.read_pool_size", "log.level"]
        );
    }

    fn keys(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
        if let toml::Value::Table(t) = v {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if v.is_table() {
                    keys(&key, v, out);
                } else {
                    out.push(key);
                }
            }
        }
    }

    #[test]
    fn example_config_documents_every_key_with_its_default() {
        let text = include_str!("../config/quant.example.toml");
        let example: Config = toml::from_str(text).expect("example parses with no unknown keys");
        assert_eq!(
            example,
            Config::default(),
            "example values are the defaults"
        );
        let (mut a, mut b) = (Vec::new(), Vec::new());
        keys("", &toml::from_str(text).unwrap(), &mut a);
        keys(
            "",
            &toml::Value::try_from(Config::default()).unwrap(),
            &mut b,
        );
        a.sort();
        b.sort();
        assert_eq!(a, b, "every key appears in config/quant.example.toml");
    }

    #[test]
    fn replica_keys_are_validated_and_secrets_hidden() {
        let mut c = Config::default();
        assert!(!c.replica.enabled());
        c.replica.url = "s3://my-bucket/quant.db".into();
        c.replica.access_key_id = "AKIDEXAMPLE".into();
        c.replica.secret_access_key = Secret::from("wJalrXUtnFEMI-very-secret");
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        assert_eq!(
            c.replica.bucket_and_path().unwrap(),
            ("my-bucket".to_string(), "quant.db".to_string())
        );
        for shown in [format!("{c:?}"), c.to_toml()] {
            assert!(!shown.contains("very-secret"), "{shown}");
            assert!(shown.contains("[REDACTED]"), "{shown}");
        }
        c.replica.url = "s3://b/".into();
        c.replica.endpoint = "127.0.0.1:9000".into();
        c.replica.secret_access_key = Secret::default();
        c.replica.sync_interval = Duration::from_millis(1);
        let keys: Vec<_> = c.validate().into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            [
                "replica.url",
                "replica.endpoint",
                "replica.access_key_id",
                "replica.sync_interval"
            ]
        );
        assert!(parse_s3_url("https://x/y").is_err());
        assert!(parse_s3_url("s3://bucket").is_err());
    }

    #[test]
    fn replica_secret_loads_from_toml() {
        let c: Config = toml::from_str(
            "[replica]\nurl = \"s3://bkt/p\"\naccess_key_id = \"a\"\nsecret_access_key = \"s3cr3t\"\nsync_interval = \"250ms\"\n",
        )
        .unwrap();
        assert_eq!(c.replica.secret_access_key.get(), Some("s3cr3t"));
        assert_eq!(c.replica.sync_interval, Duration::from_millis(250));
        assert!(c.validate().is_empty());
    }

    #[test]
    fn tls_keys_are_validated() {
        let mut c = Config::default();
        assert!(!c.tls.enabled);
        c.tls.enabled = true;
        assert!(
            c.validate().is_empty(),
            "TLS on with no paths: generated certificate"
        );
        c.tls.cert_path = "/etc/quant/cert.pem".into();
        c.tls.redirect_http = "0.0.0.0:eighty".into();
        let keys: Vec<_> = c.validate().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["tls.cert_path", "tls.redirect_http"]);
        c.tls.key_path = "/etc/quant/key.pem".into();
        c.tls.redirect_http = "0.0.0.0:80".into();
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        assert!(c.tls.has_paths());
        assert_eq!(c.tls.redirect_addr(), Some("0.0.0.0:80".parse().unwrap()));
        c.tls.redirect_http = c.server.listen.to_string();
        assert_eq!(c.validate()[0].key, "tls.redirect_http");
        c.tls.enabled = false;
        c.tls.redirect_http = "0.0.0.0:80".into();
        let issues = c.validate();
        assert_eq!(issues.len(), 1);
        assert!(issues[0].message.contains("tls.enabled"), "{issues:?}");
    }

    #[test]
    fn toml_round_trips() {
        let c = Config::default();
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }
}
