//! The command line. Every flag can also be given as an environment variable
//! `QUANT_<FLAG>` (e.g. `QUANT_DATA`, `QUANT_LISTEN`). Exit codes: 0 success,
//! 1 runtime failure, 2 bad usage or configuration.

use crate::app::{App, AppError, AppOptions, VERSION};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{CliOverrides, Config, ConfigLoader};
use crate::db::{Db, DbError, DbOptions};
use crate::domain::user::Role;
use crate::secret::{ExposeSecret, SecretString};
use crate::telemetry::{self, Sink};
use clap::{Parser, Subcommand};
use std::io::{IsTerminal, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Exit code for runtime failures.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for bad usage or configuration.
pub const EXIT_USAGE: u8 = 2;

/// Quant: a field-service business appliance.
#[derive(Debug, Parser)]
#[command(name = "quant", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (default: /etc/quant/config.toml when present, else built-in defaults).
    #[arg(long, global = true, env = "QUANT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// State directory holding the database (overrides database.data_dir).
    #[arg(long, global = true, env = "QUANT_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve {
        /// Address to listen on (overrides server.listen).
        #[arg(long, env = "QUANT_LISTEN", value_name = "ADDR:PORT")]
        listen: Option<SocketAddr>,
    },
    /// Run Quant seeded with a demo business (data in ./demo-data unless --data is given).
    Demo {
        /// Address to listen on (overrides server.listen).
        #[arg(long, env = "QUANT_LISTEN", value_name = "ADDR:PORT")]
        listen: Option<SocketAddr>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Validate the configuration and print the values in force.
    CheckConfig,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Restore the database from the S3 replica (Quant's or one written by `litestream replicate`).
    Restore(RestoreArgs),
    /// Print the version.
    Version,
}

/// `quant restore …`: where from comes from `[replica]` unless given here.
/// Credentials: `[replica]` keys, else `AWS_ACCESS_KEY_ID` /
/// `AWS_SECRET_ACCESS_KEY` or the standard AWS chain.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// Database file to write (default: the configured database).
    #[arg(long, short = 'o', env = "QUANT_RESTORE_OUTPUT", value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Restore up to this TXID (hex, inclusive).
    #[arg(
        long,
        env = "QUANT_RESTORE_TXID",
        value_name = "HEX",
        conflicts_with = "timestamp"
    )]
    pub txid: Option<String>,
    /// Restore the state as of this moment (RFC 3339).
    #[arg(long, env = "QUANT_RESTORE_TIMESTAMP", value_name = "RFC3339")]
    pub timestamp: Option<String>,
    /// Replace an existing database.
    #[arg(long, env = "QUANT_RESTORE_FORCE")]
    pub force: bool,
    /// Replica URL `s3://BUCKET/PATH` (overrides replica.url).
    #[arg(long, env = "QUANT_RESTORE_URL", value_name = "URL")]
    pub url: Option<String>,
    /// S3-compatible endpoint (overrides replica.endpoint).
    #[arg(long, env = "QUANT_RESTORE_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,
    /// Region (overrides replica.region).
    #[arg(long, env = "QUANT_RESTORE_REGION")]
    pub region: Option<String>,
    /// Path-style addressing (overrides replica.force_path_style).
    #[arg(long, env = "QUANT_RESTORE_FORCE_PATH_STYLE")]
    pub force_path_style: bool,
}

/// `quant user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add {
        /// Login e-mail.
        #[arg(long, env = "QUANT_EMAIL")]
        email: String,
        /// owner, office or technician.
        #[arg(long, env = "QUANT_ROLE")]
        role: String,
        /// Display name.
        #[arg(long, env = "QUANT_NAME", default_value = "")]
        name: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long, env = "QUANT_PASSWORD_STDIN")]
        password_stdin: bool,
    },
    /// Set a new password (and log the user out everywhere).
    ResetPassword {
        /// Login e-mail.
        #[arg(long, env = "QUANT_EMAIL")]
        email: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long, env = "QUANT_PASSWORD_STDIN")]
        password_stdin: bool,
    },
}

/// `quant token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a named API token; prints it once, alone on the last line.
    Create {
        /// E-mail of the user the token acts as.
        #[arg(long, env = "QUANT_USER")]
        user: String,
        /// A name to recognise the token by.
        #[arg(long, env = "QUANT_TOKEN_NAME")]
        name: String,
    },
}

/// A failure with the exit code it maps to.
struct Fail(u8, String);

impl From<AppError> for Fail {
    fn from(e: AppError) -> Self {
        match &e {
            // A certificate or key file named in the configuration is unusable.
            AppError::Tls(t) if t.is_config() => Fail(EXIT_USAGE, e.to_string()),
            _ => Fail(EXIT_FAILURE, e.to_string()),
        }
    }
}

impl From<DbError> for Fail {
    fn from(e: DbError) -> Self {
        Fail(EXIT_FAILURE, e.to_string())
    }
}

impl From<crate::accounts::AccountError> for Fail {
    fn from(e: crate::accounts::AccountError) -> Self {
        use crate::accounts::AccountError as A;
        use crate::domain::DomainError as D;
        match e {
            A::Domain(D::Validation(fields)) => Fail(
                EXIT_USAGE,
                fields
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            A::Db(DbError::NotFound) => Fail(EXIT_FAILURE, "no such (active) user".into()),
            other => Fail(EXIT_FAILURE, other.to_string()),
        }
    }
}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    if let Command::Version = cli.command {
        println!("quant {VERSION}");
        return ExitCode::SUCCESS;
    }
    let listen = match &cli.command {
        Command::Serve { listen } | Command::Demo { listen } => *listen,
        _ => None,
    };
    let data = match (&cli.command, &cli.data) {
        (Command::Demo { .. }, None) => Some(PathBuf::from("./demo-data")),
        (_, d) => d.clone(),
    };
    let loader = match ConfigLoader::new(
        cli.config.as_deref(),
        CliOverrides {
            data_dir: data,
            listen,
        },
    ) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let config = match loader.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Command::CheckConfig = cli.command {
        if config.tls.enabled && config.tls.has_paths() {
            let t = &config.tls;
            if let Err(e) = crate::tls::load(
                &t.cert_path,
                &t.key_path,
                crate::tls::CertOrigin::Configured,
            ) {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
        match &loader.path {
            Some(p) => println!(
                "# configuration OK: {} (plus QUANT__* environment)",
                p.display()
            ),
            None => println!("# configuration OK: built-in defaults (plus QUANT__* environment)"),
        }
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    let sink = if matches!(cli.command, Command::Serve { .. } | Command::Demo { .. }) {
        Sink::Stdout
    } else {
        Sink::Stderr
    };
    let log = telemetry::init(&config.log.level, config.log.format, sink);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = rt.block_on(dispatch(cli.command, config, loader, log));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(code, msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(code)
        }
    }
}

async fn open_db(config: &Config, clock: SharedClock) -> Result<Db, Fail> {
    let db = Db::open_async(
        config.db_path(),
        DbOptions {
            busy_timeout: config.database.busy_timeout,
            read_pool_size: 2,
            max_batch: config.database.max_batch,
            migrate: config.database.auto_migrate,
            clock,
            replicated: config.replica.enabled(),
        },
    )
    .await?;
    let pending = db.read(crate::db::migrations::pending).await?;
    if pending > 0 {
        return Err(Fail(
            EXIT_FAILURE,
            format!("{pending} database migration(s) pending; run `quant migrate` first"),
        ));
    }
    Ok(db)
}

async fn restore(args: RestoreArgs, config: &Config) -> Result<(), Fail> {
    use crate::replica::{restore as r, s3};
    let mut rc = config.replica.clone();
    if let Some(u) = args.url {
        rc.url = u;
    }
    if let Some(e) = args.endpoint {
        rc.endpoint = e;
    }
    if let Some(reg) = args.region {
        rc.region = reg;
    }
    if args.force_path_style {
        rc.force_path_style = true;
    }
    if !rc.enabled() {
        return Err(Fail(
            EXIT_USAGE,
            "no replica configured: set [replica] url or pass --url s3://BUCKET/PATH".into(),
        ));
    }
    let settings = s3::StoreSettings::from_config(&rc)
        .map_err(|e| Fail(EXIT_USAGE, format!("replica.url: {e}")))?;
    let txid = match args.txid.as_deref() {
        Some(t) => Some(
            u64::from_str_radix(t.trim_start_matches("0x"), 16)
                .map_err(|_| Fail(EXIT_USAGE, format!("--txid {t:?} is not a hex TXID")))?,
        ),
        None => None,
    };
    let timestamp = match args.timestamp.as_deref() {
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| {
                    Fail(
                        EXIT_USAGE,
                        format!("--timestamp {t:?} is not RFC 3339: {e}"),
                    )
                })?
                .with_timezone(&chrono::Utc),
        ),
        None => None,
    };
    let opts = r::RestoreOptions {
        output: args.output.unwrap_or_else(|| config.db_path()),
        txid,
        timestamp,
        force: args.force,
    };
    let store = s3::Store::connect(&settings).await;
    eprintln!(
        "restoring s3://{}/{} into {}",
        store.bucket(),
        store.path(),
        opts.output.display()
    );
    let bar = std::io::stderr().is_terminal();
    let mut last_tenth = None;
    let done = r::restore(&store, &opts, |i, n| {
        if bar {
            let width = 30u64;
            let filled = (i * width / n.max(1)).min(width) as usize;
            eprint!(
                "\r[{}{}] {} of {} downloaded",
                "#".repeat(filled),
                " ".repeat(width as usize - filled),
                size(i),
                size(n)
            );
        } else {
            let tenth = i * 10 / n.max(1);
            if last_tenth != Some(tenth) {
                last_tenth = Some(tenth);
                eprintln!("downloaded {} of {}", size(i), size(n));
            }
        }
    })
    .await
    .map_err(|e| match e {
        r::RestoreError::Exists(_) => Fail(EXIT_USAGE, e.to_string()),
        _ => Fail(EXIT_FAILURE, e.to_string()),
    })?;
    if bar {
        eprintln!();
    }
    let blobs_root = opts
        .output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
        .join("blobs");
    let att = crate::replica::attachments::restore(
        &store,
        &opts.output,
        &crate::blobs::Blobs::new(&blobs_root),
    )
    .await;
    println!(
        "restored {} to TXID {:016x} ({}), {} bytes from {} file(s); integrity check ok",
        opts.output.display(),
        done.txid,
        done.timestamp
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_else(|| "time unknown".into()),
        done.size,
        done.files
    );
    println!(
        "attachments: {} referenced, {} fetched into {}, {} missing",
        att.referenced,
        att.fetched,
        blobs_root.display(),
        att.missing.len()
    );
    if !att.missing.is_empty() {
        for a in &att.missing {
            println!("  missing attachment {a}");
        }
        return Err(Fail(
            EXIT_FAILURE,
            format!(
                "the database was restored, but {} attachment(s) could not be fetched (listed above)",
                att.missing.len()
            ),
        ));
    }
    Ok(())
}

/// Reads a new password: from stdin with `--password-stdin` (one line), else
/// by prompting twice on a terminal. Fails with a usage error otherwise.
fn read_password(from_stdin: bool) -> Result<SecretString, Fail> {
    if from_stdin {
        let mut s = String::new();
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut s)
            .map_err(|e| Fail(EXIT_FAILURE, format!("cannot read standard input: {e}")))?;
        let line = s.lines().next().unwrap_or("").to_string();
        return Ok(SecretString::from(line));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Fail(
            EXIT_USAGE,
            "no terminal to prompt for a password; pass --password-stdin and write it to standard input".into(),
        ));
    }
    let a = rpassword::prompt_password("New password: ")
        .map_err(|e| Fail(EXIT_FAILURE, e.to_string()))?;
    let b = rpassword::prompt_password("Again: ").map_err(|e| Fail(EXIT_FAILURE, e.to_string()))?;
    if a != b {
        return Err(Fail(EXIT_USAGE, "the two passwords differ".into()));
    }
    Ok(SecretString::from(a))
}

async fn dispatch(
    command: Command,
    config: Config,
    loader: ConfigLoader,
    log: Option<telemetry::LogHandle>,
) -> Result<(), Fail> {
    let clock: SharedClock = Arc::new(SystemClock);
    match command {
        Command::Version | Command::CheckConfig => Ok(()),
        Command::Restore(args) => restore(args, &config).await,
        Command::Serve { .. } => {
            let app = App::build_with(
                config,
                AppOptions {
                    clock,
                    loader: Some(loader),
                    log,
                    socket_activation: true,
                    print_setup_link: true,
                    record_responses: None,
                },
            )
            .await?;
            app.run_until_signalled().await?;
            Ok(())
        }
        Command::Demo { .. } => {
            let mut config = config;
            crate::demo::apply_business(&mut config);
            let started = std::time::Instant::now();
            {
                let db = open_db(&config, clock.clone()).await?;
                if let Some(s) = crate::demo::seed_if_empty(&db, &clock, &config).await? {
                    println!(
                        "Seeded the demo business in {:.1} s: {} customers, {} work orders, {} invoices, {} payments, {} leads, {} overdue follow-ups.",
                        started.elapsed().as_secs_f64(),
                        s.customers,
                        s.work_orders,
                        s.invoices,
                        s.payments,
                        s.leads,
                        s.overdue_follow_ups
                    );
                }
            }
            let app = App::build_with(
                config.clone(),
                AppOptions {
                    clock: clock.clone(),
                    loader: None,
                    log,
                    socket_activation: false,
                    print_setup_link: false,
                    record_responses: None,
                },
            )
            .await?;
            let scheme = if app.tls_fingerprint().is_some() {
                "https"
            } else {
                "http"
            };
            let url = format!("{scheme}://{}", app.addr());
            println!(
                "\nQuant demo \u{2014} {} \u{2014} is running at {url}/",
                config.business.name
            );
            println!(
                "Data: {}  (delete it to start over)",
                config.database.data_dir.display()
            );
            println!("Logins (password for all: {}):", crate::demo::DEMO_PASSWORD);
            println!("  owner       owner@northside.example");
            println!(
                "  office      paula@northside.example, ben@northside.example, keisha@northside.example"
            );
            println!(
                "  technician  marco@northside.example, dana@northside.example, hannah@northside.example, … (8 in all)"
            );
            println!(
                "API example:  curl -c c.txt -H 'Content-Type: application/json' -d '{{\"email\":\"owner@northside.example\",\"password\":\"{}\"}}' {url}/api/v1/auth/login",
                crate::demo::DEMO_PASSWORD
            );
            println!("Press Ctrl-C to stop.");
            app.run_until_signalled().await?;
            Ok(())
        }
        Command::Migrate => {
            let path = config.db_path();
            let busy = config.database.busy_timeout;
            let now = clock.now();
            let (before, applied) =
                tokio::task::spawn_blocking(move || Db::migrate_file(&path, busy, now))
                    .await
                    .map_err(|e| Fail(EXIT_FAILURE, e.to_string()))??;
            if applied.is_empty() {
                println!("database is up to date (schema version {before})");
            } else {
                println!(
                    "applied {} migration(s): schema version {before} -> {}",
                    applied.len(),
                    applied.last().copied().unwrap_or(before)
                );
            }
            Ok(())
        }
        Command::User(UserCommand::Add {
            email,
            role,
            name,
            password_stdin,
        }) => {
            let role: Role = role.parse().map_err(|_| {
                Fail(
                    EXIT_USAGE,
                    format!("unknown role {role:?}: use owner, office or technician"),
                )
            })?;
            let password = read_password(password_stdin)?;
            let db = open_db(&config, clock.clone()).await?;
            let user = crate::accounts::create_user(
                &db,
                &clock,
                &email,
                &name,
                role,
                password,
                config.auth.min_password_length,
            )
            .await?;
            println!("created {} {} (id {})", user.role, user.email, user.id);
            Ok(())
        }
        Command::User(UserCommand::ResetPassword {
            email,
            password_stdin,
        }) => {
            let password = read_password(password_stdin)?;
            let db = open_db(&config, clock.clone()).await?;
            let user = crate::accounts::reset_password(
                &db,
                &clock,
                &email,
                password,
                config.auth.min_password_length,
            )
            .await?;
            println!(
                "password reset for {}; their sessions were ended",
                user.email
            );
            Ok(())
        }
        Command::Token(TokenCommand::Create { user, name }) => {
            let db = open_db(&config, clock.clone()).await?;
            let (view, token) = crate::accounts::create_token(&db, &clock, &user, &name).await?;
            println!(
                "created API token {:?} (id {}) for {user}; it is shown only now:",
                view.name, view.id
            );
            println!("{}", token.expose_secret());
            Ok(())
        }
    }
}

/// A byte count for people: kB under a megabyte, MB under a gigabyte, else GB
/// (decimal units, one decimal).
fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1e6 {
        format!("{:.1} kB", b / 1e3)
    } else if b < 1e9 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_in_the_unit_that_fits() {
        assert_eq!(super::size(22_547), "22.5 kB");
        assert_eq!(super::size(0), "0.0 kB");
        assert_eq!(super::size(387_000_000), "387.0 MB");
        assert_eq!(super::size(1_074_000_000), "1.07 GB");
    }
}
