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
use actix_web::middleware::{Condition, DefaultHeaders, from_fn};
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
    /// TLS could not be set up (see [`crate::tls::TlsError::is_config`]).
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
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
    tls: Option<crate::tls::Tls>,
    redirect: Option<(Server, SocketAddr)>,
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
    /// and binds the listener — HTTPS when `[tls]` is on, plus the optional
    /// HTTP → HTTPS redirect listener. Fails when TLS cannot be set up (a
    /// bad certificate or key file: [`AppError::Tls`]), the database cannot
    /// be opened or is from a newer Quant, or an address cannot be bound.
    pub async fn build_with(config: Config, opts: AppOptions) -> Result<App, AppError> {
        crate::tls::install_default_provider();
        let tls = if config.tls.enabled {
            let (tls_cfg, dir, now) = (
                config.tls.clone(),
                config.database.data_dir.clone(),
                opts.clock.now(),
            );
            let tls = tokio::task::spawn_blocking(move || crate::tls::setup(&tls_cfg, &dir, now))
                .await
                .map_err(|e| AppError::Other(e.to_string()))??;
            tracing::info!(
                tls_fingerprint = %tls.fingerprint,
                cert = %tls.cert_path.display(),
                origin = ?tls.origin,
                not_after = %tls.not_after.map(|t| t.to_rfc3339()).unwrap_or_default(),
                "TLS on (TLS 1.3 and 1.2)"
            );
            Some(tls)
        } else {
            None
        };
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
            tls_fingerprint: tls.as_ref().map(|t| t.fingerprint.clone()),
            caches: crate::http::state::ResponseCaches::new(config.database.response_cache),
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

        // Bound before the main server starts, so a taken port fails cleanly.
        let redirect_listener = match config.tls.redirect_addr().filter(|_| tls.is_some()) {
            Some(at) => Some(TcpListener::bind(at).map_err(|e| {
                AppError::Io(format!("cannot listen on {at} (tls.redirect_http): {e}"))
            })?),
            None => None,
        };

        let data = state.clone();
        let recorder = opts.record_responses.clone().map(ResponseRecorder);
        let hsts = tls.is_some();
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
                .wrap(Condition::new(
                    hsts,
                    DefaultHeaders::new().add((
                        actix_web::http::header::STRICT_TRANSPORT_SECURITY,
                        crate::tls::HSTS,
                    )),
                ))
        })
        .disable_signals()
        .shutdown_timeout(config.server.shutdown_timeout.as_secs().max(1));
        if config.server.workers > 0 {
            server = server.workers(config.server.workers);
        }
        let server = match &tls {
            Some(t) => server.listen_rustls_0_23(listener, (*t.server_config).clone()),
            None => server.listen(listener),
        }
        .map_err(|e| AppError::Io(format!("cannot serve on {addr}: {e}")))?
        .run();
        let redirect = match redirect_listener {
            Some(l) => Some(redirect_server(l, addr.port(), &config)?),
            None => None,
        };

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
            tls,
            redirect,
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
            if let Some(fp) = app.tls_fingerprint() {
                println!(
                    "Check that your browser shows this certificate fingerprint (SHA-256):\n  {fp}"
                );
            }
            tracing::warn!("no owner account yet: the one-time setup link was printed to stdout");
        }
        if let Some((_, at)) = &app.redirect {
            tracing::info!(addr = %at, "redirecting HTTP to HTTPS");
        }
        let scheme = if app.tls.is_some() { "https" } else { "http" };
        tracing::info!(addr = %addr, scheme, version = VERSION, "listening");
        Ok(app)
    }

    /// The bound port (useful with port 0) — the HTTPS port when TLS is on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The port of the HTTP → HTTPS redirect listener, when there is one.
    pub fn redirect_port(&self) -> Option<u16> {
        self.redirect.as_ref().map(|(_, a)| a.port())
    }

    /// SHA-256 fingerprint (`AB:CD:…`) of the served certificate, when TLS is on.
    pub fn tls_fingerprint(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.fingerprint.as_str())
    }

    /// The TLS set-up in force (certificate files, origin), when TLS is on.
    pub fn tls(&self) -> Option<&crate::tls::Tls> {
        self.tls.as_ref()
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
            let scheme = if self.tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{host}:{}", self.addr.port())
        } else {
            cfg.server.public_url.trim_end_matches('/').to_string()
        };
        Some(format!("{base}/setup?token={}", token.expose_secret()))
    }

    /// Runs until stopped through [`App::handle`] (tests) — see
    /// [`App::run_until_signalled`] for the service. Fails when the server fails.
    pub async fn run_until_stopped(self) -> Result<(), AppError> {
        let redirect = spawn_redirect(self.redirect);
        let r = self.server.await.map_err(|e| AppError::Io(e.to_string()));
        stop_redirect(redirect).await;
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
        let redirect = spawn_redirect(self.redirect);
        let r = self.server.await.map_err(|e| AppError::Io(e.to_string()));
        stop_redirect(redirect).await;
        if let Some(rep) = self.replicator {
            rep.shutdown(REPLICA_FINAL_SYNC).await;
        }
        tracing::info!("stopped");
        r
    }
}

/// The HTTP → HTTPS redirect server on `listener`: every request gets a
/// 308 to the same path on `https_port` (see
/// [`crate::tls::https_location`]); 400 without a usable `Host`. Fails when
/// the listener cannot be served.
fn redirect_server(
    listener: TcpListener,
    https_port: u16,
    config: &Config,
) -> Result<(Server, SocketAddr), AppError> {
    listener
        .set_nonblocking(true)
        .map_err(|e| AppError::Io(e.to_string()))?;
    let bound = listener
        .local_addr()
        .map_err(|e| AppError::Io(e.to_string()))?;
    let public_url = config.server.public_url.clone();
    let server = HttpServer::new(move || {
        let public_url = public_url.clone();
        actix_web::App::new().default_service(web::to(move |req: actix_web::HttpRequest| {
            // The Host header (forwarding headers are not trusted here).
            let host = req
                .headers()
                .get(actix_web::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
                .or_else(|| req.uri().authority().map(|a| a.to_string()));
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into());
            let location =
                crate::tls::https_location(host.as_deref(), &path, https_port, &public_url);
            async move {
                match location {
                    Some(l) => actix_web::HttpResponse::PermanentRedirect()
                        .insert_header((actix_web::http::header::LOCATION, l))
                        .finish(),
                    None => actix_web::HttpResponse::BadRequest()
                        .content_type("text/plain; charset=utf-8")
                        .body("Use https:// and this server's name to reach Quant.\n"),
                }
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(config.server.shutdown_timeout.as_secs().max(1))
    .listen(listener)
    .map_err(|e| AppError::Io(format!("cannot serve on {bound}: {e}")))?
    .run();
    Ok((server, bound))
}

/// Starts the redirect server (an actix `Server` only runs while polled).
fn spawn_redirect(
    redirect: Option<(Server, SocketAddr)>,
) -> Option<(ServerHandle, tokio::task::JoinHandle<()>)> {
    redirect.map(|(server, _)| {
        let handle = server.handle();
        let join = tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!(error = %e, "the HTTP → HTTPS redirect listener failed");
            }
        });
        (handle, join)
    })
}

/// Stops the redirect server once the main server has stopped.
async fn stop_redirect(redirect: Option<(ServerHandle, tokio::task::JoinHandle<()>)>) {
    if let Some((handle, join)) = redirect {
        handle.stop(true).await;
        let _ = join.await;
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
