//! State shared by every request: the database, the clock, metrics, the
//! current configuration and the reloadable rate limiter.

use crate::clock::SharedClock;
use crate::config::{Config, RateLimitConfig};
use crate::db::Db;
use crate::db::cache::VersionedCache;
use crate::monitor::metrics::Metrics;
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};

/// Per-client-IP limiter for `/api`.
pub type ApiLimiter = DefaultKeyedRateLimiter<IpAddr>;

/// Everything a handler may need.
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The only source of "now".
    pub clock: SharedClock,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// The configuration currently in force (reloadable keys change on reload).
    pub config: RwLock<Config>,
    /// Body size limit (fixed at start).
    pub max_body_bytes: usize,
    /// `None` when the API rate limit is off.
    pub api_limiter: RwLock<Option<Arc<ApiLimiter>>>,
    /// Photo and signature files.
    pub blobs: crate::blobs::Blobs,
    /// Templates for the HTML pages.
    pub templates: super::templates::Templates,
    /// This build's version.
    pub version: &'static str,
    /// Failed-login counts (login throttling).
    pub login_throttle: super::throttle::LoginThrottle,
    /// The replicator's status, when `[replica]` is on.
    pub replica: Option<crate::replica::replicator::SharedStatus>,
    /// SHA-256 fingerprint of the served TLS certificate (`AB:CD:…`), when TLS is on.
    pub tls_fingerprint: Option<String>,
    /// Read caches keyed by the database's data version.
    pub caches: ResponseCaches,
}

/// The in-process read caches of the API (docs/architecture.md, "Caches"):
/// each value is served only while no write has been committed since it was
/// read from the database ([`crate::db::Db::read_cached`]).
#[derive(Debug)]
pub struct ResponseCaches {
    /// `GET /work-orders` response bodies by normalised query and caller
    /// scope (a technician's own work orders are a different key).
    pub work_order_pages: VersionedCache<String, actix_web::web::Bytes>,
    /// `GET /customers` response bodies (searches and plain pages) by
    /// normalised search query, tag and page.
    pub customer_pages: VersionedCache<String, actix_web::web::Bytes>,
    /// Bearer-token lookups by token hash: the token id, its last use and
    /// its user, or `None` for an unknown, revoked or inactive one.
    pub tokens: VersionedCache<String, Option<TokenUser>>,
}

/// What [`crate::db::auth::token_user`] returns for a live token.
pub type TokenUser = (String, Option<String>, crate::db::auth::UserRow);

impl ResponseCaches {
    /// The caches with their bounds; when `enabled` is false they never
    /// store anything (`database.response_cache = false`).
    pub fn new(enabled: bool) -> Self {
        let on = usize::from(enabled);
        Self {
            // At most 8 MiB of pages (a 50-row page is ~47 KB).
            work_order_pages: VersionedCache::new(256 * on, 8 << 20),
            // Search pages are ~8 KB; a search box sends one per keystroke.
            customer_pages: VersionedCache::new(1024 * on, 8 << 20),
            tokens: VersionedCache::new(1024 * on, 1024),
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("db", &self.db).finish()
    }
}

/// Builds the limiter for a rate-limit configuration; `None` when disabled.
pub fn build_limiter(rl: &RateLimitConfig) -> Option<Arc<ApiLimiter>> {
    let per_min = NonZeroU32::new(rl.api_per_minute)?;
    let burst = NonZeroU32::new(rl.api_burst).unwrap_or(NonZeroU32::MIN);
    Some(Arc::new(ApiLimiter::keyed(
        Quota::per_minute(per_min).allow_burst(burst),
    )))
}

impl AppState {
    /// A copy of the configuration in force.
    pub fn config(&self) -> Config {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Today's date in the business time zone.
    pub fn today(&self) -> chrono::NaiveDate {
        let tz = self
            .config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .timezone();
        self.clock.now().with_timezone(&tz).date_naive()
    }

    /// The current API limiter, if any.
    pub fn limiter(&self) -> Option<Arc<ApiLimiter>> {
        self.api_limiter
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Applies a new (already validated) configuration: reloadable keys take
    /// effect now; other changed sections are logged as needing a restart.
    pub fn apply_reload(&self, new: Config, log: Option<&crate::telemetry::LogHandle>) {
        let old = self.config();
        if old.log.level != new.log.level {
            match log.map(|h| h.set_level(&new.log.level)) {
                // Not `level`: that key is the line's own severity in JSON logs.
                Some(Ok(())) => tracing::info!(log_level = %new.log.level, "log level changed"),
                Some(Err(e)) => tracing::error!(error = %e, "cannot change log level"),
                None => {}
            }
        }
        if old.rate_limit != new.rate_limit {
            *self.api_limiter.write().unwrap_or_else(|p| p.into_inner()) =
                build_limiter(&new.rate_limit);
            tracing::info!(
                api_per_minute = new.rate_limit.api_per_minute,
                api_burst = new.rate_limit.api_burst,
                "rate limits changed"
            );
        }
        let restart = old.restart_required_changes(&new);
        if !restart.is_empty() {
            tracing::warn!(sections = ?restart, "configuration changed in sections that take effect only after a restart");
        }
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = new;
    }
}
