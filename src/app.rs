//! `App::build(Config)`: opens the database, prepares the first-run setup
//! link, binds the listener (inherited under socket activation) and builds
//! the HTTP server. `main` and the tests both start Quant through here.

use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, ConfigLoader};
use crate::db::{Db, DbError, DbOptions};
use crate::http::middleware::{ResponseLog, ResponseRecorder};
use crate::http::state::{AppState, build_limiter};
use crate::monitor::metrics::Metrics;
use crate::secret::{ExposeSecret, SecretString};
use crate::telemetry::LogHandle;
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Condition, from_fn};
use actix_web::{HttpServer, web};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How long a stopping Quant waits for the replicator's last sync.
const REPLICA_FINAL_SYNC: Duration = Duration::from_secs(15);

/// This build's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why the application could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Binding or serving failed.
    #[error("{0}")]
    Io(String),
    /// Setup failed for another reason.
    #[error("{0}")]
    Other(String),
}

/// Things tests (and `main`) may inject besides the configuration.
pub struct AppOptions {
    /// The clock; the system clock by default.
    pub clock: SharedClock,
    /// Where the config came from, to watch it for reloadable changes.
    pub loader: Option<ConfigLoader>,
    /// Handle to change the log level on reload.
    pub log: Option<LogHandle>,
    /// Serve on an inherited socket when `LISTEN_FDS` says so (systemd).
    pub socket_activation: bool,
    /// Print the setup link to stdout when there is no owner.
    pub print_setup_link: bool,
    /// Test suites set this to record every API response (method, route
    /// pattern, status, content type, body) to check it against the OpenAPI
    /// document. `None` (production): no recording middleware is installed.
    pub record_responses: Option<ResponseLog>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            loader: None,
            log: None,
            socket_activation: false,
            print_setup_link: false,
            record_responses: None,
        }
    }
}

/// A built, bound, not yet running Quant.
pub struct App {
    server: Server,
    addr: SocketAddr,
    state: web::Data<AppState>,
    setup_token: Option<SecretString>,
    replicator: Option<crate::replica::replicator::Replicator>,
    _watcher: Option<notify::RecommendedWatcher>,
}

/// Takes the first socket passed by systemd (`LISTEN_FDS`/`LISTEN_PID`), if any.
fn inherited_listener() -> Result<Option<TcpListener>, AppError> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    fds.take_tcp_listener(0).map_err(|e| {
        AppError::Io(format!(
            "LISTEN_FDS is set but fd 3 is not a TCP listener: {e}"
        ))
    })
}

impl App {
    /// Builds Quant from `config` with the system clock.
    /// Fails as [`App::build_with`].
    pub async fn build(config: Config) -> Result<App, AppError> {
        Self::build_with(config, AppOptions::default()).await
    }

    /// Builds Quant: opens the database (applying migrations when
    /// `database.auto_migrate`), creates a setup link when there is no owner,
    /// and binds the listener. Fails when the database cannot be opened, is
    /// from a newer Quant, or the address cannot be bound.
    pub async fn build_with(config: Config, opts: AppOptions) -> Result<App, AppError> {
        let db = Db::open_async(
            config.db_path(),
            DbOptions {
                busy_timeout: config.database.busy_timeout,
                read_pool_size: config.database.read_pool_size,
                max_batch: config.database.max_batch,
                migrate: config.database.auto_migrate,
                clock: opts.clock.clone(),
                replicated: config.replica.enabled(),
            },
        )
        .await?;
        let replicator = if config.replica.enabled() {
            Some(
                // Replica timestamps are wall-clock times, like the store's
                // LastModified that Litestream's timestamp restore also reads.
                crate::replica::replicator::Replicator::start(
                    db.clone(),
                    Some(config.database.data_dir.join("blobs")),
                    &config.replica,
                    Arc::new(SystemClock),
                )
                .map_err(|e| AppError::Other(format!("replica: {e}")))?,
            )
        } else {
            None
        };
        let metrics = Arc::new(Metrics::new(VERSION).map_err(|e| AppError::Other(e.to_string()))?);
        let templates = crate::http::templates::Templates::load()
            .map_err(|e| AppError::Other(e.to_string()))?;
        let setup_token = if config.database.auto_migrate
            || db.read(crate::db::migrations::pending).await? == 0
        {
            crate::accounts::ensure_setup_token(&db, &opts.clock, config.auth.setup_link_ttl)
                .await
                .map_err(|e| AppError::Other(e.to_string()))?
        } else {
            None
        };
        let state = web::Data::new(AppState {
            db,
            clock: opts.clock.clone(),
            metrics,
            api_limiter: RwLock::new(build_limiter(&config.rate_limit)),
            max_body_bytes: config.server.max_body_bytes,
            config: RwLock::new(config.clone()),
            templates,
            blobs: crate::blobs::Blobs::new(config.database.data_dir.join("blobs")),
            version: VERSION,
            login_throttle: Default::default(),
            replica: replicator.as_ref().map(|r| r.shared_status()),
        });
        if let Some(status) = &state.replica {
            let collector =
                crate::replica::metrics::ReplicaMetrics::new(status.clone(), opts.clock.clone())
                    .map_err(|e| AppError::Other(e.to_string()))?;
            state
                .metrics
                .registry()
                .register(Box::new(collector))
                .map_err(|e| AppError::Other(e.to_string()))?;
        }

        let listener = match opts
            .socket_activation
            .then(inherited_listener)
            .transpose()?
            .flatten()
        {
            Some(l) => {
                tracing::info!("serving on the socket passed by systemd (socket activation)");
                l
            }
            None => TcpListener::bind(config.server.listen).map_err(|e| {
                AppError::Io(format!("cannot listen on {}: {e}", config.server.listen))
            })?,
        };
        listener
            .set_nonblocking(true)
            .map_err(|e| AppError::Io(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| AppError::Io(e.to_string()))?;

        let data = state.clone();
        let recorder = opts.record_responses.clone().map(ResponseRecorder);
        let mut server = HttpServer::new(move || {
            let mut app =
                actix_web::App::new()
                    .app_data(data.clone())
                    .app_data(web::PayloadConfig::new(data.max_body_bytes))
                    .app_data(web::QueryConfig::default().error_handler(|e, _| {
                        crate::http::json::query_error(&e.to_string()).into()
                    }));
            if let Some(r) = &recorder {
                app = app.app_data(r.clone());
            }
            app.configure(crate::http::configure)
                .wrap(Condition::new(
                    recorder.is_some(),
                    from_fn(crate::http::middleware::record),
                ))
                .wrap(from_fn(crate::http::middleware::security_headers))
                .wrap(from_fn(crate::http::middleware::observe))
        })
        .disable_signals()
        .shutdown_timeout(config.server.shutdown_timeout.as_secs().max(1));
        if config.server.workers > 0 {
            server = server.workers(config.server.workers);
        }
        let server = server
            .listen(listener)
            .map_err(|e| AppError::Io(format!("cannot serve on {addr}: {e}")))?
            .run();

        let watcher = match opts.loader {
            Some(loader) => {
                let s = state.clone();
                let log = opts.log.clone();
                crate::config::watch(loader, move |c| s.apply_reload(c, log.as_ref()))
                    .map_err(|e| AppError::Other(format!("cannot watch the config file: {e}")))?
            }
            None => None,
        };

        let app = App {
            server,
            addr,
            state,
            setup_token,
            replicator,
            _watcher: watcher,
        };
        if let Some(url) = app.setup_url().filter(|_| opts.print_setup_link) {
            println!(
                "No owner account exists yet. Create it here (single use, expires in {}):\n  {url}",
                humantime::format_duration(config.auth.setup_link_ttl)
            );
            tracing::warn!("no owner account yet: the one-time setup link was printed to stdout");
        }
        tracing::info!(addr = %addr, version = VERSION, "listening");
        Ok(app)
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (database, clock, metrics).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle that stops the server (gracefully with `stop(true)`).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The one-time setup URL, when no owner existed at start.
    pub fn setup_url(&self) -> Option<String> {
        let token = self.setup_token.as_ref()?;
        let cfg = self.state.config();
        let base = if cfg.server.public_url.is_empty() {
            let host = match self.addr.ip() {
                ip if ip.is_unspecified() => "localhost".to_string(),
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                ip => ip.to_string(),
            };
            format!("http://{host}:{}", self.addr.port())
        } else {
            cfg.server.public_url.trim_end_matches('/').to_string()
        };
        Some(format!("{base}/setup?token={}", token.expose_secret()))
    }

    /// Runs until stopped through [`App::handle`] (tests) — see
    /// [`App::run_until_signalled`] for the service. Fails when the server fails.
    pub async fn run_until_stopped(self) -> Result<(), AppError> {
        let r = self.server.await.map_err(|e| AppError::Io(e.to_string()));
        if let Some(rep) = self.replicator {
            rep.shutdown(REPLICA_FINAL_SYNC).await;
        }
        r
    }

    /// What the replicator has done; `None` when replication is off.
    pub fn replica_status(&self) -> Option<crate::replica::replicator::SharedStatus> {
        self.replicator.as_ref().map(|r| r.shared_status())
    }

    /// Runs as a service: tells systemd `READY=1`, pings the watchdog while
    /// the database answers, and on SIGTERM/SIGINT stops accepting, lets
    /// in-flight requests finish (up to `server.shutdown_timeout`) and returns.
    /// Fails when the server fails.
    pub async fn run_until_signalled(self) -> Result<(), AppError> {
        let handle = self.server.handle();
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        if let Some(timeout) = watchdog_timeout() {
            let state = self.state.clone();
            let every = (timeout / 2).max(Duration::from_millis(100));
            tokio::spawn(watchdog(state, every));
        }
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested; finishing in-flight requests");
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
            handle.stop(true).await;
        });
        let r = self.server.await.map_err(|e| AppError::Io(e.to_string()));
        if let Some(rep) = self.replicator {
            rep.shutdown(REPLICA_FINAL_SYNC).await;
        }
        tracing::info!("stopped");
        r
    }
}

/// The watchdog timeout systemd asks for (`WATCHDOG_USEC`, when
/// `WATCHDOG_PID` is unset or names this process); `None` when off or zero.
fn watchdog_timeout() -> Option<Duration> {
    sd_notify::watchdog_enabled().filter(|d| !d.is_zero())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Pings the systemd watchdog every `every`, but only while the database
/// answers a readiness query: a wedged database makes systemd restart us.
async fn watchdog(state: web::Data<AppState>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let probe = state
            .db
            .read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?));
        match tokio::time::timeout(every, probe).await {
            Ok(Ok(1)) => {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
            other => {
                tracing::warn!(result = ?other.map(|r| r.map_err(|e| e.to_string())), "database did not answer; withholding watchdog ping")
            }
        }
    }
}
