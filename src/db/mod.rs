//! SQLite adapter. One database file in WAL mode with `synchronous=FULL`.
//!
//! * **One writer** thread owns the only read-write connection. Callers hand it
//!   closures through a bounded queue; it takes whatever has queued up while the
//!   previous commit was being flushed and commits that batch in **one
//!   transaction** (group commit). Each closure runs inside its own savepoint, so
//!   a failing write is rolled back alone and the rest of its batch commits.
//!   A caller is answered only after its batch is durable.
//! * A **pool of read connections** (`query_only`) serves reads on Tokio's
//!   blocking pool, never on the async runtime's threads.
//! * **Migrations** are embedded, numbered and applied in order, each in its own
//!   transaction (see [`migrations`]).

pub mod analytics;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod customers;
pub mod employees;
pub mod equipment;
pub mod follow_ups;
pub mod invoices;
pub mod json_out;
pub mod leads;
pub mod migrations;
pub mod work_orders;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Errors from the database layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A uniqueness or other constraint was violated (maps to 409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A domain rule rejected the write inside the transaction (bad field →
    /// 400, invalid state transition → 409).
    #[error(transparent)]
    Domain(#[from] crate::domain::DomainError),
    /// The row asked for does not exist (maps to 404).
    #[error("not found")]
    NotFound,
    /// The caller's own rule rejected the write inside the transaction; the
    /// message is safe to show (maps to 409).
    #[error("{0}")]
    Rejected(String),
    /// The database file's schema is newer than this binary understands.
    #[error(
        "the database schema is at version {found}, but this quant binary only knows up to version {known}; \
         run a newer quant (or restore the database from before the upgrade)"
    )]
    SchemaTooNew {
        /// Highest migration recorded in the database.
        found: i64,
        /// Highest migration embedded in this binary.
        known: i64,
    },
    /// The writer thread has stopped (the application is shutting down).
    #[error("the database writer did not answer (it has stopped, or the write panicked)")]
    WriterGone,
    /// Any other SQLite failure.
    #[error("sqlite: {0}")]
    Sqlite(#[source] rusqlite::Error),
    /// No read connection could be had.
    #[error("read pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
    /// A migration did not apply; the database stays at the previous version.
    #[error("migration {version:04}_{name} failed: {message}")]
    Migration {
        /// Its number.
        version: i64,
        /// Its name.
        name: &'static str,
        /// SQLite's message.
        message: String,
    },
    /// Opening the database failed (directory, permissions, WAL not available).
    #[error("cannot open database {path}: {message}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::QueryReturnedNoRows => DbError::NotFound,
            rusqlite::Error::SqliteFailure(f, msg) if f.code == ErrorCode::ConstraintViolation => {
                DbError::Conflict(msg.clone().unwrap_or_else(|| "constraint violated".into()))
            }
            _ => DbError::Sqlite(e),
        }
    }
}

/// Settings for [`Db::open`].
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// How long a connection waits on a lock.
    pub busy_timeout: Duration,
    /// Read connections in the pool.
    pub read_pool_size: u32,
    /// Most writes per group-commit transaction (1 = one transaction per write).
    pub max_batch: usize,
    /// Apply pending migrations while opening.
    pub migrate: bool,
    /// Clock used for migration bookkeeping.
    pub clock: crate::clock::SharedClock,
    /// The replicator owns checkpoints (no automatic checkpoint on any
    /// connection). When false the writer checkpoints automatically.
    pub replicated: bool,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            read_pool_size: 4,
            max_batch: 256,
            migrate: true,
            clock: Arc::new(crate::clock::SystemClock),
            replicated: false,
        }
    }
}

type Completion = Box<dyn FnOnce(Result<(), DbError>) + Send>;
/// A queued write. Given the connection, it runs inside its savepoint and
/// returns how to answer its caller once the batch's fate is known, or `Err(())`
/// when it has already answered with its own failure and its savepoint must be
/// rolled back. Given an error instead, it answers its caller with that error
/// without running.
type Job = Box<dyn FnOnce(Result<&Connection, DbError>) -> Result<Completion, ()> + Send>;
/// What the writer thread is given: a write for the next batch, or work to
/// run on its connection between two transactions ([`Db::between`]).
enum Work {
    Write(Job),
    Between(Box<dyn FnOnce(&Connection) + Send>),
}

/// Handle to the database: cheap to clone, shared by all requests.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    queue: mpsc::Sender<Work>,
    readers: r2d2::Pool<SqliteConnectionManager>,
    stats: Arc<WriterStats>,
    analysis_cache: Arc<analytics::AnalysisCache>,
    /// A read-only connection used only for `PRAGMA data_version`.
    version: std::sync::Mutex<Connection>,
    /// Declared last: dropped after `queue`, so the writer has seen its
    /// queue close and this waits for its final checkpoint.
    _writer: WriterThread,
}

/// The writer thread. When the last [`Db`] handle goes, dropping this waits
/// for the writer to finish, so a stopped Quant has closed its database (a
/// second instance or a restore can take the file at once).
struct WriterThread(Option<std::thread::JoinHandle<()>>);

impl Drop for WriterThread {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            // A write's closure may hold the last handle: the writer cannot wait for itself.
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

/// Counters kept by the writer: how many writes were committed in how many
/// transactions (their ratio is the group-commit batching factor).
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Writes whose batch committed.
    pub writes_committed: AtomicU64,
    /// Writes that failed alone and were rolled back to their savepoint.
    pub writes_failed: AtomicU64,
    /// Transactions committed.
    pub commits: AtomicU64,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// Applies the pragmas every connection needs. Fails when SQLite refuses one
/// (for example WAL mode on a file system that cannot do it).
///
/// `wal_autocheckpoint=0`: no connection checkpoints on its own. The
/// replicator (when on) checkpoints only what it has shipped; when
/// replication is off the writer alone turns SQLite's automatic checkpoint
/// back on (see [`DbOptions::replicated`]).
fn configure(conn: &Connection, busy: Duration) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(busy)?;
    // temp_store=MEMORY keeps savepoint journals and sorter spills in memory:
    // without it a group-commit batch's sub-journal (one savepoint per write)
    // spills to a temporary file with a write(2) per page. cache_size: 32 MiB
    // of pages per connection (default 2 MiB), so a search or a list page
    // does not re-read the same index pages from the OS with a syscall each.
    conn.execute_batch(
        "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0;
         PRAGMA temp_store=MEMORY; PRAGMA cache_size=-32768;",
    )?;
    // Hot statements are prepared once per connection (`prepare_cached`);
    // parsing and planning them again was a third of the writer's time.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Query planner stability: plans never depend on bound values. Without
    // it SQLite (3.47+) plans `LIMIT ?` with the bound number, so every
    // execution of a cached list statement was prepared again (a sixth of a
    // work-order list request).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;

fn open_writer(path: &Path, busy: Duration) -> Result<Connection, DbError> {
    let open_err = |message: String| DbError::Open {
        path: path.to_path_buf(),
        message,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| open_err(format!("cannot create {}: {e}", dir.display())))?;
    }
    let conn = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
    configure(&conn, busy).map_err(|e| open_err(e.to_string()))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| open_err(e.to_string()))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(open_err(format!(
            "WAL mode unavailable (journal_mode is {mode})"
        )));
    }
    Ok(conn)
}

impl Db {
    /// Opens (creating if needed) the database at `path`, checks its schema
    /// version, applies migrations when `opts.migrate`, and starts the writer.
    /// Blocking: call from a blocking context (or [`Db::open_async`]).
    ///
    /// Fails with [`DbError::Open`] when the file cannot be opened in WAL mode,
    /// [`DbError::SchemaTooNew`] when the file is from a newer Quant, or a
    /// migration error.
    pub fn open(path: &Path, opts: &DbOptions) -> Result<Db, DbError> {
        let mut writer = open_writer(path, opts.busy_timeout)?;
        if !opts.replicated {
            writer
                .execute_batch("PRAGMA wal_autocheckpoint=1000;")
                .map_err(|e| DbError::Open {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
        }
        migrations::refuse_newer(&writer)?;
        if opts.migrate {
            migrations::apply_pending(&mut writer, opts.clock.now())?;
        }
        let busy = opts.busy_timeout;
        let manager = SqliteConnectionManager::file(path).with_init(move |c| {
            configure(c, busy)?;
            c.execute_batch("PRAGMA query_only=ON;")
        });
        let readers = r2d2::Pool::builder()
            .max_size(opts.read_pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)?;
        let version = Connection::open(path)
            .map_err(DbError::from)
            .and_then(|c| {
                configure(&c, busy)?;
                c.execute_batch("PRAGMA query_only=ON;")?;
                Ok(c)
            })
            .map_err(|e| DbError::Open {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let (tx, rx) = mpsc::channel::<Work>(4096);
        let max_batch = opts.max_batch.max(1);
        let stats = Arc::new(WriterStats::default());
        let writer_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("quant-db-writer".into())
            .spawn(move || writer_loop(writer, rx, max_batch, &writer_stats))
            .map_err(|e| DbError::Open {
                path: path.to_path_buf(),
                message: format!("cannot start writer thread: {e}"),
            })?;
        Ok(Db {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                queue: tx,
                readers,
                stats,
                analysis_cache: Arc::default(),
                version: std::sync::Mutex::new(version),
                _writer: WriterThread(Some(thread)),
            }),
        })
    }

    /// Applies pending migrations to the database at `path` without starting
    /// a writer (for `quant migrate`). Returns the version before and the
    /// versions applied. Fails as [`Db::open`] does.
    pub fn migrate_file(
        path: &Path,
        busy_timeout: Duration,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(i64, Vec<i64>), DbError> {
        let mut conn = open_writer(path, busy_timeout)?;
        let before = migrations::current(&conn)?;
        let applied = migrations::apply_pending(&mut conn, now)?;
        Ok((before, applied))
    }

    /// [`Db::open`] run on the blocking pool.
    pub async fn open_async(path: PathBuf, opts: DbOptions) -> Result<Db, DbError> {
        tokio::task::spawn_blocking(move || Db::open(&path, &opts))
            .await
            .map_err(|e| DbError::Task(e.to_string()))?
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Queues `f` for the writer and waits until its batch is committed.
    /// `f` runs inside a savepoint of the batch transaction: it must not begin
    /// or commit transactions itself. Returns `f`'s value once durable; fails
    /// with `f`'s own error (only its changes are rolled back), with the
    /// commit's error (the whole batch is rolled back), or [`DbError::WriterGone`].
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, DbError>>();
        let job: Job = Box::new(move |conn| match conn.and_then(f) {
            Ok(v) => Ok(Box::new(move |commit: Result<(), DbError>| {
                let _ = tx.send(commit.map(|()| v));
            })),
            Err(e) => {
                let _ = tx.send(Err(e));
                Err(())
            }
        });
        self.inner
            .queue
            .send(Work::Write(job))
            .await
            .map_err(|_| DbError::WriterGone)?;
        rx.await.map_err(|_| DbError::WriterGone)?
    }

    /// Runs `f` on the writer's connection between two transactions, after
    /// every write queued before it has committed: no transaction is open
    /// and no write can start meanwhile. For the replicator, whose
    /// checkpoints must run here so that the next write can restart the WAL.
    /// `f` must not leave a transaction open. Returns `f`'s value; fails with
    /// [`DbError::WriterGone`].
    pub async fn between<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<T>();
        let work = Work::Between(Box::new(move |conn| {
            let _ = tx.send(f(conn));
        }));
        self.inner
            .queue
            .send(work)
            .await
            .map_err(|_| DbError::WriterGone)?;
        rx.await.map_err(|_| DbError::WriterGone)
    }

    /// Runs `f` with a pooled read-only connection on the blocking pool.
    /// Fails with `f`'s error, a pool timeout, or [`DbError::Task`].
    pub async fn read<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.inner.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.get()?;
            f(&conn)
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
    }

    /// The database's data version: a number that changes whenever a write
    /// is committed — by this process's writer or by any other process (the
    /// CLI) — and only then. Values are comparable only with each other (one
    /// connection's counter), not across databases or restarts. Runs on the
    /// caller's thread: it reads the WAL index in shared memory, no file
    /// I/O, a few microseconds. Fails only on database errors.
    pub fn data_version(&self) -> Result<i64, DbError> {
        let c = self.inner.version.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = c.prepare_cached("PRAGMA data_version")?;
        Ok(st.query_row([], |r| r.get(0))?)
    }

    /// `f` on a read connection, through `cache`: the value stored for `key`
    /// when nothing has been committed since it was computed, else `f`'s
    /// result, stored for the next caller when no write was committed while
    /// `f` ran (so the value is exactly the database at the version it is
    /// stored under). `weight` is the value's share of the cache's budget.
    /// A disabled cache costs nothing: `f` runs, and that is all.
    /// Fails with `f`'s error or a database error.
    pub async fn read_cached<K, V, F>(
        &self,
        cache: &cache::VersionedCache<K, V>,
        key: K,
        weight: fn(&V) -> usize,
        f: F,
    ) -> Result<V, DbError>
    where
        K: Eq + std::hash::Hash,
        V: Clone + Send + 'static,
        F: FnOnce(&Connection) -> Result<V, DbError> + Send + 'static,
    {
        if !cache.enabled() {
            return self.read(f).await;
        }
        let before = self.data_version()?;
        if let Some(v) = cache.get(before, &key) {
            return Ok(v);
        }
        let v = self.read(f).await?;
        if self.data_version()? == before {
            cache.put(before, key, v.clone(), weight(&v));
        }
        Ok(v)
    }

    /// The job analyses cached for this database (see
    /// [`analytics::analyze_cached`]); never fails.
    pub fn analysis_cache(&self) -> Arc<analytics::AnalysisCache> {
        self.inner.analysis_cache.clone()
    }

    /// The writer's counters.
    pub fn stats(&self) -> &WriterStats {
        &self.inner.stats
    }

    /// Size in bytes of the database file and of its WAL (0 when absent).
    pub fn file_sizes(&self) -> (u64, u64) {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = self.inner.path.clone().into_os_string();
        wal.push("-wal");
        (size(&self.inner.path), size(Path::new(&wal)))
    }
}

fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Work>,
    max_batch: usize,
    stats: &WriterStats,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    let mut next = rx.blocking_recv();
    while let Some(work) = next.take() {
        match work {
            Work::Between(f) => f(&conn),
            Work::Write(first) => {
                batch.push(first);
                while batch.len() < max_batch {
                    match rx.try_recv() {
                        Ok(Work::Write(j)) => batch.push(j),
                        Ok(between) => {
                            // It runs after this batch commits.
                            next = Some(between);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                run_batch(&mut conn, &mut batch, stats);
            }
        }
        if next.is_none() {
            next = rx.blocking_recv();
        }
    }
    // Queue closed: every Db handle is gone. Leave the WAL checkpointed, as
    // far as no reader needs it: TRUNCATE holds the write lock while it waits
    // for readers, so it must not wait — a reader elsewhere (a new Quant on
    // the same file, its replicator) would see "database is locked" for the
    // whole busy timeout. Without waiting it checkpoints what it can.
    let _ = conn.busy_timeout(Duration::ZERO);
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    tracing::debug!("database writer stopped");
}

/// Runs one parameterless statement through the statement cache.
fn exec_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn run_batch(conn: &mut Connection, batch: &mut Vec<Job>, stats: &WriterStats) {
    let size = batch.len();
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "cannot begin write transaction");
        let msg = e.to_string();
        for job in batch.drain(..) {
            let _ = job(Err(DbError::Task(format!(
                "cannot begin transaction: {msg}"
            ))));
        }
        return;
    }
    let mut done: Vec<Completion> = Vec::with_capacity(size);
    for job in batch.drain(..) {
        if let Err(e) = exec_cached(conn, "SAVEPOINT quant_write") {
            tracing::error!(error = %e, "cannot create savepoint");
            let _ = job(Err(DbError::Sqlite(e)));
            continue;
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(&*conn))));
        match outcome {
            Ok(Ok(completion)) => {
                if let Err(e) = exec_cached(conn, "RELEASE quant_write") {
                    tracing::error!(error = %e, "cannot release savepoint");
                    completion(Err(DbError::Sqlite(e)));
                } else {
                    done.push(completion);
                }
            }
            Ok(Err(())) | Err(_) => {
                if outcome.is_err() {
                    tracing::error!("a write panicked; rolled back alone");
                }
                let _ = conn.execute_batch("ROLLBACK TO quant_write; RELEASE quant_write;");
                stats.writes_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats
                .writes_committed
                .fetch_add(done.len() as u64, Ordering::Relaxed);
            for c in done {
                c(Ok(()));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, batch = size, "group commit failed; batch rolled back");
            let _ = conn.execute_batch("ROLLBACK");
            let msg = e.to_string();
            for c in done {
                c(Err(DbError::Task(format!("commit failed: {msg}"))));
            }
        }
    }
}

/// Helpers shared by the repositories.
pub mod util {
    use rusqlite::OptionalExtension;

    /// Turns "no rows" into `None`; other errors pass through.
    pub fn optional<T>(r: rusqlite::Result<T>) -> Result<Option<T>, super::DbError> {
        r.optional().map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn temp_db(max_batch: usize) -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_async(
            dir.path().join("t.db"),
            DbOptions {
                max_batch,
                ..DbOptions::default()
            },
        )
        .await
        .unwrap();
        db.write(|c| {
            c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")?;
            Ok(())
        })
        .await
        .unwrap();
        (dir, db)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closing_waits_for_the_writer_and_never_holds_the_lock_for_a_reader() {
        // A reader elsewhere (a second Quant, its replicator) holds a snapshot
        // older than the WAL's end. Closing the database must neither wait for
        // it (the busy timeout here is an hour) nor leave the write lock
        // taken: the old writer's final checkpoint once held it for the whole
        // busy timeout, and the next instance's first write failed.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Db::open_async(
            path.clone(),
            DbOptions {
                busy_timeout: Duration::from_secs(3600),
                ..DbOptions::default()
            },
        )
        .await
        .unwrap();
        db.write(|c| Ok(c.execute_batch("CREATE TABLE t (v TEXT NOT NULL)")?))
            .await
            .unwrap();
        let reader = Connection::open(&path).unwrap();
        reader
            .execute_batch("BEGIN; SELECT count(*) FROM t;")
            .unwrap();
        for i in 0..20 {
            db.write(move |c| Ok(c.execute("INSERT INTO t (v) VALUES (?1)", [i.to_string()])?))
                .await
                .unwrap();
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(db);
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(120))
            .expect("closing waited for a reader that holds an old snapshot");
        assert!(
            !reader.is_autocommit(),
            "the reader still holds its snapshot"
        );
        let next = Connection::open(&path).unwrap();
        next.busy_timeout(Duration::ZERO).unwrap();
        next.execute_batch("BEGIN IMMEDIATE; INSERT INTO t (v) VALUES ('next'); COMMIT;")
            .expect("the closed writer left the write lock free");
        let n: i64 = next
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 21, "every write, and the next instance's, is there");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn between_runs_after_queued_writes_outside_any_transaction() {
        let (_d, db) = temp_db(256).await;
        // Writes queued before it are committed when it runs; no transaction
        // is open; writes queued after it wait for it.
        let mut before = Vec::new();
        for i in 0..50 {
            let db = db.clone();
            before.push(tokio::spawn(async move {
                db.write(
                    move |c| Ok(c.execute("INSERT INTO t (v) VALUES (?1)", [format!("b{i}")])?),
                )
                .await
            }));
        }
        tokio::task::yield_now().await;
        let seen = db
            .between(|c| {
                let n: i64 = c
                    .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                    .unwrap();
                (c.is_autocommit(), n)
            })
            .await
            .unwrap();
        assert!(seen.0, "no transaction is open");
        for b in before {
            b.await.unwrap().unwrap();
        }
        assert!(seen.1 <= 50);
        let n: i64 = db
            .write(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 50);
        // A checkpoint between transactions lets the next write restart the WAL.
        let (_, wal_before) = db.file_sizes();
        assert!(wal_before > 0);
        let (busy, log, done) = db
            .between(|c| {
                c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .unwrap()
            })
            .await
            .unwrap();
        assert_eq!((busy, log), (0, done));
        db.write(|c| Ok(c.execute("INSERT INTO t (v) VALUES ('after')", [])?))
            .await
            .unwrap();
        let frames: i64 = db
            .between(|c| {
                c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
                    .unwrap()
            })
            .await
            .unwrap();
        assert!(
            frames < log,
            "the WAL restarted from its start ({frames} < {log} frames)"
        );
    }

    #[tokio::test]
    async fn pragmas_are_in_force() {
        let (_d, db) = temp_db(16).await;
        let (mode, fk, sync) = db
            .read(|c| {
                let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
                let fk: i64 = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
                let sync: i64 = c.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
                Ok((mode, fk, sync))
            })
            .await
            .unwrap();
        assert_eq!((mode.as_str(), fk, sync), ("wal", 1, 2));
        for writer in [false, true] {
            let check = |c: &Connection| -> Result<(i64, i64, bool), DbError> {
                let temp: i64 = c.query_row("PRAGMA temp_store", [], |r| r.get(0))?;
                let cache: i64 = c.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
                let qpsg = c.db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG)?;
                Ok((temp, cache, qpsg))
            };
            let got = if writer {
                db.write(check).await.unwrap()
            } else {
                db.read(check).await.unwrap()
            };
            assert_eq!(got, (2, -32768, true), "writer: {writer}");
        }
        let auto: i64 = db
            .read(|c| Ok(c.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(auto, 0, "only the writer (when not replicated) checkpoints");
    }

    #[tokio::test]
    async fn reads_cannot_write() {
        let (_d, db) = temp_db(16).await;
        let r = db
            .read(|c| Ok(c.execute("INSERT INTO t (v) VALUES ('x')", [])?))
            .await;
        assert!(r.is_err());
    }

    #[tokio::test]
    async fn a_failing_write_fails_alone_in_its_batch() {
        let (_d, db) = temp_db(256).await;
        db.write(|c| Ok(c.execute("INSERT INTO t (v) VALUES ('dup')", [])?))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..32 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let v = if i % 4 == 0 {
                    "dup".to_string()
                } else {
                    format!("v{i}")
                };
                db.write(move |c| Ok(c.execute("INSERT INTO t (v) VALUES (?1)", [v])?))
                    .await
            }));
        }
        let mut ok = 0;
        let mut conflicts = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(DbError::Conflict(_)) => conflicts += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!((ok, conflicts), (24, 8));
        let n: i64 = db
            .read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 25);
    }

    #[tokio::test]
    async fn a_panicking_write_is_rolled_back_and_reported() {
        let (_d, db) = temp_db(16).await;
        let r: Result<(), DbError> = db
            .write(|c| {
                c.execute("INSERT INTO t (v) VALUES ('before-panic')", [])?;
                panic!("boom")
            })
            .await;
        assert!(matches!(r, Err(DbError::WriterGone)));
        let n: i64 = db
            .read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 0);
        // The writer is still alive.
        db.write(|c| Ok(c.execute("INSERT INTO t (v) VALUES ('after')", [])?))
            .await
            .unwrap();
    }
}
