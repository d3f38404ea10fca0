//! Quant: a field-service business appliance in one binary.
//!
//! The crate is a library with a thin `main.rs`; tests and `main` both start the
//! service through [`app::App::build`]. The domain is kept apart from the
//! adapters (database, HTTP, monitoring) as described in `DESIGN.md` §2.

/// Account use-cases shared by the CLI and the API (users, passwords, tokens, setup link).
pub mod accounts;
/// `App::build(Config)`: wires the adapters together and runs the HTTP server.
pub mod app;
/// Content-addressed, fsynced file store for photos, signatures and thumbnails.
pub mod blobs;
/// Command-line interface (clap derive); every flag is also settable by `QUANT_*` env.
pub mod cli;
/// Injectable clock: the only source of "now" in the program.
pub mod clock;
/// Configuration: defaults, TOML file, `QUANT__SECTION__KEY` env, validation, hot reload.
pub mod config;
/// SQLite adapter: pragmas, single group-commit writer, read pool, migrations, repositories.
pub mod db;
/// `quant demo`: seeds a believable trade business.
pub mod demo;
/// Pure domain types and rules (no actix, no rusqlite).
pub mod domain;
/// actix-web adapter: state, errors, auth guard, routes, middleware.
pub mod http;
/// Image checks by content (JPEG/PNG/WebP), decode limits and thumbnails.
pub mod media;
/// Metrics registry and process/database gauges exported on `/metrics`.
pub mod monitor;
/// Litestream-compatible replication to S3: WAL capture, LTX files, S3 store, restore.
pub mod replica;
/// Secrets that cannot be printed, and token generation/hashing.
pub mod secret;
/// tracing setup: JSON lines or human format, reloadable level.
pub mod telemetry;
/// TLS with rustls: certificate loading, first-boot self-signed certificate, fingerprint.
pub mod tls;
