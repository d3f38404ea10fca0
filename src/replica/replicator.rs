//! The in-process replicator, a background task of `quant serve`.
//!
//! Every `sync_interval` it reads the transactions committed to the WAL since
//! its last position and ships them as one level-0 LTX file (one TXID per
//! sync). On start, on a periodic snapshot, and on any doubt about WAL
//! continuity (salts changed without our checkpoint, WAL truncated by someone
//! else) it writes a full level-9 snapshot `1-N` instead; TXIDs continue from
//! the remote maximum. It owns checkpointing: `wal_autocheckpoint=0` on every
//! connection, its own connection holds a read transaction so nothing else can
//! restart the WAL, and it checkpoints (PASSIVE) only once everything in the
//! WAL is shipped, holding the write lock so nothing slips in between.
//!
//! Writes never wait for S3: while the store is unreachable the WAL is kept
//! and shipping is retried with backoff and jitter, in order.

use super::ltx::{self, Encoder, FLAG_NO_CHECKSUM};
use super::s3::{Body, SNAPSHOT_LEVEL, Spool, Store, StoreSettings};
use super::wal::{self, WalHeader, WalPos};
use crate::clock::SharedClock;
use crate::config::ReplicaConfig;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What the replicator has done, for metrics and the status endpoint.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaStatus {
    /// Last TXID known to be in the replica.
    pub last_txid: u64,
    /// When a sync last succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// Start of the last successful sync round: everything committed before
    /// it is in the replica.
    pub current_as_of: Option<DateTime<Utc>>,
    /// The last error (safe to show; no secrets).
    pub last_error: Option<String>,
    /// Bytes uploaded since start.
    pub bytes_total: u64,
    /// Failed sync attempts since start.
    pub errors_total: u64,
    /// Snapshots written since start.
    pub snapshots_total: u64,
    /// Level-0 files written since start.
    pub files_total: u64,
    /// Checkpoints that emptied the WAL.
    pub checkpoints_total: u64,
    /// Syncs done while holding the write lock because commits kept arriving.
    pub locked_syncs_total: u64,
    /// Times the disk guard checkpointed unshipped commits (S3 down too long).
    pub disk_guard_total: u64,
    /// Sync rounds that succeeded (with or without anything to ship): a
    /// round that began after a write has shipped it once this moves on.
    pub rounds_total: u64,
}

impl ReplicaStatus {
    /// Seconds between `now` and the moment up to which the replica is known
    /// complete; `None` before the first successful sync.
    pub fn lag_seconds(&self, now: DateTime<Utc>) -> Option<f64> {
        self.current_as_of
            .map(|t| ((now - t).num_milliseconds().max(0) as f64) / 1000.0)
    }
}

/// Shared view of the replicator's status.
pub type SharedStatus = Arc<Mutex<ReplicaStatus>>;

/// A running replicator.
pub struct Replicator {
    status: SharedStatus,
    stop: watch::Sender<bool>,
    /// Fires when the replicator's thread has finished its last sync.
    done: tokio::sync::oneshot::Receiver<()>,
}

/// Whether the replicator must stop: asked to, or its [`Replicator`] was
/// dropped (its thread must not outlive the handle).
pub(super) fn stop_requested(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Nice value of the replicator's threads: shipping yields the CPU to
/// request handling and the database writer (it needs little of it, and
/// idle time is plentiful between bursts), so replication does not slow
/// writes down on a small box.
const REPLICA_NICE: libc::c_int = 10;

/// Lowers the calling thread's scheduling priority (Linux: per thread).
/// Best effort: a failure only means the thread keeps the normal priority.
fn lower_priority() {
    // SAFETY: setpriority only reads its integer arguments; `who = 0` is the
    // calling thread on Linux.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, REPLICA_NICE) };
}

impl Replicator {
    /// Starts replicating the database at `db_path` to the store in `cfg`,
    /// on a thread of its own with its own small Tokio runtime at a lower
    /// CPU priority (S3 requests, compression and compaction never queue
    /// behind or ahead of request handling). Fails when `cfg` has no valid
    /// url (validation prevents that) or the thread cannot start.
    pub fn start(
        db: crate::db::Db,
        blobs_root: Option<PathBuf>,
        cfg: &ReplicaConfig,
        clock: SharedClock,
    ) -> Result<Replicator, String> {
        let settings = StoreSettings::from_config(cfg)?;
        cfg.compaction.validate()?;
        let status: SharedStatus = Arc::default();
        let (stop, stop_rx) = watch::channel(false);
        let task = Task {
            db_path: db.path().to_path_buf(),
            db,
            blobs_root,
            settings,
            sync_interval: cfg.sync_interval,
            snapshot_interval: cfg.snapshot_interval,
            retention: cfg.retention,
            compaction: cfg.compaction.clone(),
            clock,
            status: status.clone(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("quant-replica-io")
            .on_thread_start(lower_priority)
            .max_blocking_threads(4)
            .build()
            .map_err(|e| format!("replicator runtime: {e}"))?;
        let (done_tx, done) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("quant-replica".into())
            .spawn(move || {
                lower_priority();
                rt.block_on(task.run(stop_rx));
                // Let blocking work (an upload spool, a compaction) end.
                rt.shutdown_timeout(Duration::from_secs(5));
                let _ = done_tx.send(());
            })
            .map_err(|e| format!("replicator thread: {e}"))?;
        Ok(Replicator { status, stop, done })
    }

    /// A snapshot of the status.
    pub fn status(&self) -> ReplicaStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The shared status handle.
    pub fn shared_status(&self) -> SharedStatus {
        self.status.clone()
    }

    /// Ships what is left (one last sync, up to `within`) and stops.
    pub async fn shutdown(self, within: Duration) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(within, self.done).await;
    }
}

/// Where shipping stands in the local WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    /// Salts of the WAL generation `wal` belongs to; `None` when no WAL
    /// existed (any WAL that appears continues from here).
    salts: Option<(u32, u32)>,
    /// Just after the last shipped commit frame.
    wal: WalPos,
    /// Database size in pages at that point.
    commit: u32,
}

/// What a clean stop leaves for the next start (`quant.db-replica.json`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ResumeState {
    /// The replica's last TXID, which the database file then equalled.
    txid: u64,
    /// The database file's size.
    size: u64,
    /// The database file's modification time, ns since the epoch.
    mtime_ns: u64,
}

/// Result of looking at the WAL.
enum Next {
    /// Nothing new committed.
    Nothing,
    /// An LTX file of the new transactions and the position after them.
    Ltx(Body, Position),
    /// Continuity is lost: a snapshot is needed (the reason is logged).
    Doubt(String),
}

/// The WAL file, opened.
struct WalFile {
    header: WalHeader,
    file: std::fs::File,
    /// Its length when opened.
    len: u64,
}

impl WalFile {
    /// The committed transactions after `from`, read frame by frame.
    fn scan(&self, from: WalPos) -> Result<wal::Scan, String> {
        use std::io::{Seek, SeekFrom};
        let mut f = &self.file;
        f.seek(SeekFrom::Start(from.offset))
            .map_err(|e| format!("cannot read the WAL: {e}"))?;
        wal::scan_reader(
            &self.header,
            std::io::BufReader::with_capacity(1 << 20, f),
            from,
        )
        .map_err(|e| format!("cannot read the WAL: {e}"))
    }
}

/// The blocking side: the replicator's two connections and its position.
struct Capture {
    db_path: PathBuf,
    wal_path: PathBuf,
    read: Connection,
    page_size: u32,
    pos: Option<Position>,
    /// Our last checkpoint emptied the WAL: the next WAL generation (salt1
    /// + 1) continues from `pos`.
    expect_restart: bool,
    /// Something was shipped since the last checkpoint that emptied the WAL.
    dirty: bool,
}

fn sqlite_err(e: rusqlite::Error) -> String {
    format!("sqlite: {e}")
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl Capture {
    fn open(db_path: &Path) -> Result<Capture, String> {
        let open = || -> Result<Connection, String> {
            let c = Connection::open(db_path).map_err(sqlite_err)?;
            c.busy_timeout(Duration::from_secs(2)).map_err(sqlite_err)?;
            c.execute_batch("PRAGMA wal_autocheckpoint=0;")
                .map_err(sqlite_err)?;
            Ok(c)
        };
        let read = open()?;
        let page_size: u32 = read
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(sqlite_err)?;
        let mut wal_path = db_path.as_os_str().to_owned();
        wal_path.push("-wal");
        let c = Capture {
            db_path: db_path.to_path_buf(),
            wal_path: PathBuf::from(wal_path),
            read,
            page_size,
            pos: None,
            expect_restart: false,
            dirty: false,
        };
        c.begin_read()?;
        Ok(c)
    }

    /// (Re)starts the read transaction that keeps others from restarting the WAL.
    fn begin_read(&self) -> Result<(), String> {
        if !self.read.is_autocommit() {
            self.read.execute_batch("COMMIT").map_err(sqlite_err)?;
        }
        self.read
            .execute_batch("BEGIN; SELECT count(*) FROM sqlite_master;")
            .map_err(sqlite_err)
    }

    /// The WAL, or `None` when there is no WAL with a valid header.
    fn open_wal(&self) -> Result<Option<WalFile>, String> {
        let file = match std::fs::File::open(&self.wal_path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot open the WAL: {e}")),
        };
        let len = file
            .metadata()
            .map_err(|e| format!("cannot stat the WAL: {e}"))?
            .len();
        let mut head = [0u8; wal::WAL_HEADER_SIZE as usize];
        if len < wal::WAL_HEADER_SIZE {
            return Ok(None);
        }
        file.read_exact_at(&mut head, 0)
            .map_err(|e| format!("cannot read the WAL: {e}"))?;
        match WalHeader::parse(&head) {
            Ok(h) if h.page_size == self.page_size => Ok(Some(WalFile {
                header: h,
                file,
                len,
            })),
            Ok(h) => Err(format!(
                "WAL page size {} differs from the database's {}",
                h.page_size, self.page_size
            )),
            Err(_) => Ok(None),
        }
    }

    /// A full snapshot of the database as of the last commit in the WAL,
    /// as TXID `txid`, with the position after it. Pages are read one at a
    /// time and the file is spooled to disk once large: memory stays small
    /// whatever the database's size.
    fn snapshot(&mut self, txid: u64, now: DateTime<Utc>) -> Result<(Body, Position), String> {
        let ps = self.page_size;
        let wal = self.open_wal()?;
        let db = std::fs::File::open(&self.db_path)
            .map_err(|e| format!("cannot open the database: {e}"))?;
        let db_len = db
            .metadata()
            .map_err(|e| format!("cannot stat the database: {e}"))?
            .len();
        let mut head = [0u8; 100];
        let file_pages = if db_len >= 100 {
            db.read_exact_at(&mut head, 0)
                .map_err(|e| format!("cannot read the database header: {e}"))?;
            // The in-header size is valid when "version-valid-for" matches the change counter.
            if be32(&head[92..]) == be32(&head[24..]) && be32(&head[28..]) > 0 {
                be32(&head[28..])
            } else {
                (db_len / u64::from(ps)) as u32
            }
        } else {
            0
        };
        let (scan, pos) = match &wal {
            Some(w) => {
                let s = w.scan(WalPos::start(&w.header))?;
                let commit = if s.commit > 0 { s.commit } else { file_pages };
                let pos = Position {
                    salts: Some((w.header.salt1, w.header.salt2)),
                    wal: s.end,
                    commit,
                };
                (Some(s), pos)
            }
            None => (
                None,
                Position {
                    salts: None,
                    wal: WalPos {
                        offset: wal::WAL_HEADER_SIZE,
                        checksum: (0, 0),
                    },
                    commit: file_pages,
                },
            ),
        };
        if pos.commit == 0 {
            return Err("the database is empty".into());
        }
        let mut enc = Encoder::to_writer(
            self.header(1, txid, pos.commit, now, None),
            Spool::new(self.spool_dir()),
        )
        .map_err(|e| e.to_string())?;
        let lock = ltx::lock_pgno(ps);
        let mut buf = vec![0u8; ps as usize];
        for pgno in 1..=pos.commit {
            if pgno == lock {
                continue;
            }
            let from_wal = scan
                .as_ref()
                .and_then(|s| s.pages.get(&pgno))
                .zip(wal.as_ref());
            match from_wal {
                Some((&off, w)) => {
                    w.file
                        .read_exact_at(&mut buf, off)
                        .map_err(|e| format!("cannot read page {pgno} from the WAL: {e}"))?;
                }
                None => {
                    let at = u64::from(pgno - 1) * u64::from(ps);
                    if at + u64::from(ps) <= db_len {
                        db.read_exact_at(&mut buf, at)
                            .map_err(|e| format!("cannot read page {pgno}: {e}"))?;
                    } else {
                        buf.fill(0);
                    }
                }
            }
            enc.page(pgno, &buf).map_err(|e| e.to_string())?;
        }
        let body = enc
            .finish()
            .map_err(|e| e.to_string())?
            .finish()
            .map_err(|e| format!("cannot spool the snapshot: {e}"))?;
        self.expect_restart = pos.salts.is_none();
        Ok((body, pos))
    }

    /// Where large files are spooled: beside the database.
    fn spool_dir(&self) -> PathBuf {
        self.db_path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    }

    fn header(
        &self,
        min: u64,
        max: u64,
        commit: u32,
        now: DateTime<Utc>,
        wal: Option<(&WalHeader, u64, u64)>,
    ) -> ltx::Header {
        let (salt1, salt2, off, size) = match wal {
            Some((h, off, size)) => (h.salt1, h.salt2, off as i64, size as i64),
            None => (0, 0, 0, 0),
        };
        ltx::Header {
            flags: FLAG_NO_CHECKSUM,
            page_size: self.page_size,
            commit,
            min_txid: min,
            max_txid: max,
            timestamp_ms: now.timestamp_millis(),
            wal_offset: off,
            wal_size: size,
            wal_salt1: salt1,
            wal_salt2: salt2,
            ..ltx::Header::default()
        }
    }

    /// The transactions committed since the position, as TXID `txid`.
    fn next(&mut self, txid: u64, now: DateTime<Utc>) -> Result<Next, String> {
        let Some(pos) = self.pos else {
            return Ok(Next::Doubt("no position yet".into()));
        };
        let Some(w) = self.open_wal()? else {
            return Ok(if pos.salts.is_none() || self.expect_restart {
                Next::Nothing
            } else {
                Next::Doubt("the WAL disappeared".into())
            });
        };
        let h = w.header;
        let start = match pos.salts {
            Some(s) if s == (h.salt1, h.salt2) => pos.wal,
            None => WalPos::start(&h),
            Some((salt1, _)) if self.expect_restart && h.salt1 == salt1.wrapping_add(1) => {
                WalPos::start(&h)
            }
            Some(_) => {
                return Ok(Next::Doubt(
                    "the WAL was restarted by someone else (salts changed)".into(),
                ));
            }
        };
        if w.len < start.offset {
            return Ok(Next::Doubt(
                "the WAL is shorter than the shipped position".into(),
            ));
        }
        let s = w.scan(start)?;
        if s.transactions == 0 {
            return Ok(Next::Nothing);
        }
        let lock = ltx::lock_pgno(self.page_size);
        if s.commit > pos.commit
            && ((pos.commit + 1)..=s.commit).any(|p| p != lock && !s.pages.contains_key(&p))
        {
            return Ok(Next::Doubt(
                "the database grew without writing its new pages".into(),
            ));
        }
        let hdr = self.header(
            txid,
            txid,
            s.commit,
            now,
            Some((&h, start.offset, s.end.offset - start.offset)),
        );
        let mut enc =
            Encoder::to_writer(hdr, Spool::new(self.spool_dir())).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; self.page_size as usize];
        for (&pgno, &off) in &s.pages {
            if pgno == lock {
                continue;
            }
            w.file
                .read_exact_at(&mut buf, off)
                .map_err(|e| format!("cannot read page {pgno} from the WAL: {e}"))?;
            enc.page(pgno, &buf).map_err(|e| e.to_string())?;
        }
        let out = enc
            .finish()
            .map_err(|e| e.to_string())?
            .finish()
            .map_err(|e| format!("cannot spool a level-0 file: {e}"))?;
        Ok(Next::Ltx(
            out,
            Position {
                salts: Some((h.salt1, h.salt2)),
                wal: s.end,
                commit: s.commit,
            },
        ))
    }

    fn state_path(&self) -> PathBuf {
        let mut p = self.db_path.as_os_str().to_owned();
        p.push("-replica.json");
        PathBuf::from(p)
    }

    /// Size and modification time (ns) of the database file.
    fn fingerprint(&self) -> Result<(u64, u64), String> {
        let m = std::fs::metadata(&self.db_path)
            .map_err(|e| format!("cannot stat the database: {e}"))?;
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Ok((m.len(), mtime))
    }

    /// At a clean stop: when everything is shipped and checkpointed into the
    /// database file, records which file state TXID `txid` is, so the next
    /// start can continue without a snapshot. Returns whether it did.
    fn save_resume(&self, txid: u64) -> bool {
        let Some(pos) = self.pos else {
            return false;
        };
        let settled = match self.open_wal() {
            Ok(None) => pos.salts.is_none() || self.expect_restart,
            Ok(Some(w)) => {
                let h = w.header;
                let start = match pos.salts {
                    Some(s) if s == (h.salt1, h.salt2) => pos.wal,
                    _ => WalPos::start(&h),
                };
                self.expect_restart && w.scan(start).is_ok_and(|s| s.transactions == 0)
            }
            Err(_) => false,
        };
        let Ok((size, mtime)) = self.fingerprint() else {
            return false;
        };
        if !settled || mtime == 0 {
            return false;
        }
        let state = ResumeState {
            txid,
            size,
            mtime_ns: mtime,
        };
        let Ok(text) = serde_json::to_string(&state) else {
            return false;
        };
        let tmp = self.state_path().with_extension("json.tmp");
        std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, self.state_path()).is_ok()
    }

    /// At start: when the state saved at the last clean stop matches the
    /// database file and the replica's maximum TXID, continues from there
    /// (every WAL frame is then new) instead of writing a snapshot. The
    /// state is consumed either way. Returns whether it resumed.
    fn take_resume(&mut self, remote_max: u64) -> bool {
        let path = self.state_path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            return false;
        };
        let _ = std::fs::remove_file(&path);
        let Ok(state) = serde_json::from_str::<ResumeState>(&text) else {
            return false;
        };
        let Ok((size, mtime)) = self.fingerprint() else {
            return false;
        };
        if state.txid != remote_max || state.size != size || state.mtime_ns != mtime {
            return false;
        }
        self.pos = Some(Position {
            salts: None,
            wal: WalPos {
                offset: wal::WAL_HEADER_SIZE,
                checksum: (0, 0),
            },
            commit: (size / u64::from(self.page_size)) as u32,
        });
        self.expect_restart = true;
        true
    }

    /// Everything in the WAL is shipped and checkpointed (or there is no
    /// WAL): nothing for a checkpoint to do until the next commit.
    fn settled(&self) -> bool {
        !self.dirty
            && self
                .pos
                .is_some_and(|p| p.salts.is_none() || self.expect_restart)
    }

    /// Records that the position's data is in the replica.
    fn shipped(&mut self, pos: Position) {
        if self.pos.and_then(|p| p.salts) != pos.salts {
            // A new WAL generation (or the first): nothing of the old one is needed.
            self.expect_restart = false;
        }
        self.pos = Some(pos);
        self.dirty = true;
    }

    /// With the write lock held: checkpoints (PASSIVE) when everything in the
    /// WAL has been shipped, else reports unshipped commits. Fails on SQLite
    /// errors.
    fn checkpoint_locked(&mut self) -> Result<Ck, String> {
        let Some(pos) = self.pos else {
            return Ok(Ck::Done(false));
        };
        let Some(w) = self.open_wal()? else {
            self.dirty = false;
            return Ok(Ck::Done(false));
        };
        if pos.salts != Some((w.header.salt1, w.header.salt2)) {
            return Ok(Ck::Done(false));
        }
        if w.scan(pos.wal)?.transactions > 0 {
            return Ok(Ck::Unshipped);
        }
        self.read.execute_batch("COMMIT").map_err(sqlite_err)?;
        let r = self
            .read
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(sqlite_err);
        let reread = self.begin_read();
        let (busy, log, done) = r?;
        reread?;
        let full = busy == 0 && log == done && log > 0;
        if full {
            self.expect_restart = true;
            self.dirty = false;
        }
        Ok(Ck::Done(full))
    }

    /// Checkpoints when everything is shipped, holding the write lock on a
    /// connection of its own (tests; the service goes through the writer).
    /// Returns whether the WAL was emptied.
    #[cfg(test)]
    fn checkpoint(&mut self) -> Result<bool, String> {
        let lock = Connection::open(&self.db_path).map_err(sqlite_err)?;
        lock.busy_timeout(Duration::from_secs(2))
            .map_err(sqlite_err)?;
        lock.execute_batch("BEGIN IMMEDIATE").map_err(sqlite_err)?;
        let r = self.checkpoint_locked();
        let _ = lock.execute_batch("ROLLBACK");
        r.map(|c| matches!(c, Ck::Done(true)))
    }
}

/// Outcome of a checkpoint attempt.
enum Ck {
    /// Commits not yet shipped are in the WAL (the lock is still held).
    Unshipped,
    /// Checkpointed; true when the WAL was emptied.
    Done(bool),
}

/// WAL size at which, while shipping fails, the disk guard checkpoints.
pub const GUARD_WAL_BYTES: u64 = 4 << 30;
/// Free space under which, while shipping fails, the disk guard checkpoints.
pub const GUARD_FREE_BYTES: u64 = 256 << 20;

/// Test hook: when non-zero, replaces [`GUARD_WAL_BYTES`] (a test cannot
/// fill a disk).
#[doc(hidden)]
pub static GUARD_WAL_BYTES_FOR_TESTS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// Whether the disk guard should give up the unshipped WAL.
pub fn guard_fires(wal_bytes: u64, free_bytes: u64) -> bool {
    let limit = match GUARD_WAL_BYTES_FOR_TESTS.load(std::sync::atomic::Ordering::Relaxed) {
        0 => GUARD_WAL_BYTES,
        n => n,
    };
    wal_bytes > 0 && (wal_bytes >= limit || free_bytes < GUARD_FREE_BYTES)
}

/// Free bytes on the file system holding `path`; `None` when unknown.
#[allow(clippy::useless_conversion)] // the statvfs field types differ between platforms
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `st` is written by statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    Some(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}

/// How often the replicator looks at the writer's commit counter between
/// rounds.
const COMMIT_POLL: Duration = Duration::from_millis(20);
/// What happened inside the writer job.
struct UnderWriter {
    /// A level-0 file of the commits shipped from inside the job (as TXID
    /// + 1), to upload once the writer is released.
    shipped: Option<Body>,
    /// The checkpoint's outcome.
    ck: Result<Ck, String>,
}

/// Runs on the writer thread between two transactions: captures what is
/// unshipped into a level-0 file (to disk when large; no upload here, so
/// writers wait for a local read and write only), then checkpoints. The
/// file is uploaded before anything after it; if Quant dies first, the next
/// start writes a snapshot, so nothing is lost.
fn under_writer(
    cap: &mut Capture,
    blobs: Option<&mut super::attachments::BlobSync>,
    txid: u64,
    now: DateTime<Utc>,
) -> UnderWriter {
    // Rows referring to attachments not uploaded yet wait for the next
    // round, which uploads the attachments first (never while holding writers).
    if let Some(b) = blobs
        && b.scan().map_or(true, |pending| pending > 0)
    {
        return UnderWriter {
            shipped: None,
            ck: cap.checkpoint_locked(),
        };
    }
    let (body, pos) = match cap.next(txid + 1, now) {
        Ok(Next::Ltx(b, p)) => (b, p),
        // Everything is shipped: just checkpoint.
        Ok(Next::Nothing) => {
            return UnderWriter {
                shipped: None,
                ck: cap.checkpoint_locked(),
            };
        }
        Ok(Next::Doubt(_)) => {
            return UnderWriter {
                shipped: None,
                ck: Ok(Ck::Unshipped),
            };
        }
        Err(e) => {
            return UnderWriter {
                shipped: None,
                ck: Err(e),
            };
        }
    };
    cap.shipped(pos);
    UnderWriter {
        shipped: Some(body),
        ck: cap.checkpoint_locked(),
    }
}

/// A level-0 file captured under the writer, waiting for its upload.
struct Pending {
    txid: u64,
    now: DateTime<Utc>,
    body: Body,
}

struct Task {
    db_path: PathBuf,
    /// The writer: checkpoints run as one of its jobs, so no commit can slip
    /// in between (and writers never starve the replicator of the lock).
    db: crate::db::Db,
    blobs_root: Option<PathBuf>,
    settings: StoreSettings,
    sync_interval: Duration,
    snapshot_interval: Duration,
    retention: Duration,
    compaction: super::compact::Schedule,
    clock: SharedClock,
    status: SharedStatus,
}

/// Runs `f` on the blocking pool with the capture, giving it back.
async fn blocking<T: Send + 'static>(
    cap: Capture,
    f: impl FnOnce(&mut Capture) -> T + Send + 'static,
) -> Result<(Capture, T), String> {
    tokio::task::spawn_blocking(move || {
        let mut cap = cap;
        let r = f(&mut cap);
        (cap, r)
    })
    .await
    .map_err(|e| format!("replicator task failed: {e}"))
}

/// Backoff after `failures` consecutive failures: doubling from 1 s up to
/// 15 s, with up to 25 % jitter (so shipping resumes within ~20 s of S3
/// coming back; a failed attempt costs one request).
pub fn backoff(failures: u32) -> Duration {
    use rand::Rng;
    let base = Duration::from_secs(1u64 << failures.min(4)).min(Duration::from_secs(15));
    let jitter = rand::rng().random_range(0.0..0.25);
    base.mul_f64(1.0 + jitter)
}

struct Loop {
    store: Store,
    blobs: Option<super::attachments::BlobSync>,
    cap: Option<Capture>,
    /// Last TXID in the replica; `None` until listed.
    txid: Option<u64>,
    last_snapshot: Option<Instant>,
    /// TXID of the last snapshot written since start.
    snapshot_txid: Option<u64>,
    /// A level-0 file captured under the writer, not uploaded yet.
    /// Level-0 files captured but not uploaded yet, in TXID order.
    pending: std::collections::VecDeque<Pending>,
    /// Tells the compaction task a snapshot was written (retention follows).
    snapshots: watch::Sender<u64>,
}

impl Task {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let store = Store::connect(&self.settings).await;
        tracing::info!(
            bucket = store.bucket(),
            path = store.path(),
            "replication to S3 started"
        );
        if let Some(dir) = self.db_path.parent() {
            super::s3::remove_stale_spools(dir);
        }
        // Compaction runs beside the syncs, so a long one never delays them.
        let (snapshots, snapshots_rx) = watch::channel(0u64);
        let compactor = tokio::spawn(
            super::compact::Compactor::new(
                store.clone(),
                self.compaction.clone(),
                self.retention,
                self.db_path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_path_buf(),
                Utc::now(),
            )
            .run(stop.clone(), snapshots_rx),
        );
        let mut l = Loop {
            store,
            blobs: self
                .blobs_root
                .as_ref()
                .map(super::attachments::BlobSync::new),
            cap: None,
            txid: None,
            last_snapshot: None,
            snapshot_txid: None,
            pending: std::collections::VecDeque::new(),
            snapshots,
        };
        let mut failures = 0u32;
        let commits = |db: &crate::db::Db| {
            db.stats()
                .commits
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        loop {
            let stopping = stop_requested(&stop);
            let started = self.clock.now();
            let round_start = Instant::now();
            // Commits counted before the round reads the WAL are in it.
            let seen = commits(&self.db);
            match self.round(&mut l).await {
                Ok(_) if stopping => {
                    if let (Some(cap), Some(txid)) = (l.cap.take(), l.txid) {
                        let saved = tokio::task::spawn_blocking(move || cap.save_resume(txid))
                            .await
                            .unwrap_or(false);
                        tracing::info!(txid, resumable = saved, "final replica sync done");
                    }
                }
                Ok(as_of) => {
                    failures = 0;
                    if let Ok(mut s) = self.status.lock() {
                        s.rounds_total += 1;
                        s.current_as_of = Some(as_of.map_or(started, |t| t.max(started)));
                    }
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, failures, "replication sync failed; will retry");
                    if let Ok(mut s) = self.status.lock() {
                        s.errors_total += 1;
                        s.last_error = Some(e);
                    }
                    self.disk_guard(&mut l).await;
                }
            }
            if stopping {
                break;
            }
            if failures > 0 {
                let wait = backoff(failures - 1).max(self.sync_interval);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            // The next round starts as soon as something was committed, but
            // no sooner than half a sync interval after this one started, so
            // a commit is in the replica within one sync interval (plus a
            // slow upload); with nothing committed, one round per interval.
            let earliest = round_start + self.sync_interval / 2;
            let latest = round_start + self.sync_interval;
            loop {
                let now = Instant::now();
                if now >= latest || (now >= earliest && commits(&self.db) != seen) {
                    break;
                }
                let nap = COMMIT_POLL.min(latest - now);
                tokio::select! {
                    _ = tokio::time::sleep(nap) => {}
                    _ = stop.changed() => break,
                }
            }
        }
        // A compaction cut short is redone: its file is written whole or not at all.
        compactor.abort();
        let _ = compactor.await;
        tracing::info!("replication stopped");
    }

    /// One sync: attachments first (their rows may be in what follows), then
    /// a snapshot when needed, else the new commits; then checkpoint.
    /// Returns, when later than the round's start, the moment up to which
    /// every commit is now in the replica.
    async fn round(&self, l: &mut Loop) -> Result<Option<DateTime<Utc>>, String> {
        self.ship(l).await
    }

    /// Uploads the attachments not yet in the replica. Called after the WAL
    /// range to ship is read and before it is uploaded: a blob is durable
    /// before its row commits, so every row shipped finds its blob there.
    async fn sync_blobs(&self, l: &mut Loop) -> Result<(), String> {
        if let Some(b) = l.blobs.as_mut() {
            let bytes = b.sync(&l.store).await.map_err(|e| e.to_string())?;
            if bytes > 0
                && let Ok(mut s) = self.status.lock()
            {
                s.bytes_total += bytes;
            }
        }
        Ok(())
    }

    async fn ship(&self, l: &mut Loop) -> Result<Option<DateTime<Utc>>, String> {
        self.flush_pending(l).await?;
        let cap = match l.cap.take() {
            Some(c) => c,
            None => {
                let path = self.db_path.clone();
                tokio::task::spawn_blocking(move || Capture::open(&path))
                    .await
                    .map_err(|e| e.to_string())??
            }
        };
        let (cap, txid) = match l.txid {
            Some(t) => (cap, t),
            None => match l.store.max_txid().await {
                Ok(t) if cap.pos.is_none() => {
                    let (cap, resumed) = blocking(cap, move |c| c.take_resume(t)).await?;
                    if resumed {
                        tracing::info!(
                            txid = t,
                            "replication resumes where the last clean stop left it"
                        );
                        l.last_snapshot = Some(Instant::now());
                    }
                    (cap, t)
                }
                Ok(t) => (cap, t),
                Err(e) => {
                    l.cap = Some(cap);
                    return Err(e.to_string());
                }
            },
        };
        l.txid = Some(txid);
        let now = self.clock.now();
        // A periodic snapshot only when something was shipped since the last
        // one (as Litestream: an idle database is not uploaded again daily).
        let due = l
            .last_snapshot
            .is_none_or(|t| t.elapsed() >= self.snapshot_interval)
            && l.snapshot_txid != Some(txid);
        let (cap, next) = if cap.pos.is_none() || due {
            blocking(cap, move |c| {
                c.snapshot(txid + 1, now).map(|(b, p)| (b, p, true))
            })
            .await?
        } else {
            let (cap, n) = blocking(cap, move |c| c.next(txid + 1, now)).await?;
            let n = match n {
                Ok(Next::Nothing) => {
                    l.cap = Some(cap);
                    return self.checkpoint(l).await;
                }
                Ok(Next::Ltx(b, p)) => Ok((b, p, false)),
                Ok(Next::Doubt(why)) => {
                    tracing::warn!(reason = %why, "WAL continuity lost; writing a new snapshot");
                    let mut cap = cap;
                    cap.pos = None;
                    l.cap = Some(cap);
                    return Box::pin(self.ship(l)).await;
                }
                Err(e) => Err(e),
            };
            (cap, n)
        };
        l.cap = Some(cap);
        let (bytes, pos, snapshot) = next?;
        self.sync_blobs(l).await?;
        let size = bytes.len().unwrap_or(0);
        let level = if snapshot { SNAPSHOT_LEVEL } else { 0 };
        let min = if snapshot { 1 } else { txid + 1 };
        l.store
            .put_ltx(level, min, txid + 1, now, bytes)
            .await
            .map_err(|e| e.to_string())?;
        l.txid = Some(txid + 1);
        if let Some(c) = l.cap.as_mut() {
            c.shipped(pos);
        }
        if snapshot {
            l.last_snapshot = Some(Instant::now());
            l.snapshot_txid = Some(txid + 1);
            tracing::info!(txid = txid + 1, bytes = size, "replica snapshot written");
            // Retention runs in the compaction task, never beside a compaction.
            let _ = l.snapshots.send(txid + 1);
        }
        self.record(txid + 1, now, size, snapshot);
        self.checkpoint(l).await
    }

    /// Uploads the level-0 files captured but not uploaded (by
    /// [`Task::checkpoint`]), oldest first; they come before anything shipped
    /// after them. Fails (keeping those not uploaded) when the store fails.
    async fn flush_pending(&self, l: &mut Loop) -> Result<(), String> {
        if !l.pending.is_empty() {
            // Attachments their rows refer to go first.
            self.sync_blobs(l).await?;
        }
        while let Some(p) = l.pending.front() {
            l.store
                .put_ltx_ref(0, p.txid, p.txid, p.now, &p.body)
                .await
                .map_err(|e| e.to_string())?;
            l.txid = Some(p.txid);
            self.record(p.txid, p.now, p.body.len().unwrap_or(0), false);
            l.pending.pop_front();
        }
        Ok(())
    }

    /// Checkpoints after each round that shipped something, between two of
    /// the writer's transactions ([`crate::db::Db::between`]): no commit can
    /// slip in, and the next write restarts the WAL from its start, so it
    /// stays small. Commits that arrived since the round read the WAL (while
    /// it uploaded) are captured into a level-0 file first, outside the
    /// writer; only those that arrived during that capture are captured
    /// there — a short local read and encode, never an upload: the files are
    /// uploaded right after, writers never wait for S3.
    ///
    /// Returns the moment before the writer's turn when it left nothing
    /// unshipped (every commit before it is then in the replica).
    async fn checkpoint(&self, l: &mut Loop) -> Result<Option<DateTime<Utc>>, String> {
        let (Some(cap), Some(shipped)) = (l.cap.take(), l.txid) else {
            return Ok(None);
        };
        if cap.settled() {
            // Our last checkpoint emptied the WAL and nothing came since: no
            // need to hold writers back (or to count a commit of our own).
            l.cap = Some(cap);
            return Ok(None);
        }
        let now = self.clock.now();
        // First, without holding writers, capture what was committed while
        // the round uploaded (under load, most of a sync interval's worth),
        // so that the writer waits only for the last few milliseconds'.
        let mut txid = shipped + l.pending.len() as u64;
        let (cap, early) = blocking(cap, move |c| {
            let n = c.next(txid + 1, now);
            if let Ok(Next::Ltx(_, pos)) = &n {
                c.shipped(*pos);
            }
            n
        })
        .await?;
        l.cap = Some(cap);
        match early? {
            Next::Ltx(body, _) => {
                txid += 1;
                l.pending.push_back(Pending { txid, now, body });
                // Their attachments go first, outside the writer too.
                self.sync_blobs(l).await?;
            }
            Next::Nothing => {}
            // The next round writes a snapshot; no checkpoint before it.
            Next::Doubt(_) => return self.flush_pending(l).await.map(|()| None),
        }
        let Some(cap) = l.cap.take() else {
            return Ok(None);
        };
        let blobs = l.blobs.take();
        let (cap, blobs, out) = self
            .db
            .between(move |_| {
                let (mut cap, mut blobs) = (cap, blobs);
                let out = under_writer(&mut cap, blobs.as_mut(), txid, now);
                (cap, blobs, out)
            })
            .await
            .map_err(|e| format!("checkpoint: {e}"))?;
        l.cap = Some(cap);
        l.blobs = blobs;
        if let Some(body) = out.shipped {
            if let Ok(mut s) = self.status.lock() {
                s.locked_syncs_total += 1;
            }
            l.pending.push_back(Pending {
                txid: txid + 1,
                now,
                body,
            });
        }
        self.flush_pending(l).await?;
        match out.ck? {
            Ck::Done(full) => {
                if full && let Ok(mut s) = self.status.lock() {
                    s.checkpoints_total += 1;
                }
                Ok(Some(now))
            }
            Ck::Unshipped => Ok(None),
        }
    }

    /// While shipping fails, the WAL is kept and grows. When it passes
    /// [`GUARD_WAL_BYTES`] or the disk is nearly full, the database matters
    /// more than the replica's history: checkpoint (from the writer) and let
    /// the next successful sync write a snapshot. Nothing committed is lost;
    /// only point-in-time restore into the outage is.
    async fn disk_guard(&self, l: &mut Loop) {
        let (_, wal) = self.db.file_sizes();
        let free = free_bytes(&self.db_path).unwrap_or(u64::MAX);
        if !guard_fires(wal, free) {
            return;
        }
        tracing::error!(
            wal_bytes = wal,
            free_bytes = free,
            "replica disk guard: S3 unreachable and the WAL is too large for the disk; checkpointing unshipped commits (a snapshot follows when S3 is back)"
        );
        // The capture is dropped: its position means nothing once unshipped
        // commits are checkpointed, so the next sync starts with a snapshot.
        let cap = l.cap.take();
        let r = self
            .db
            .between(move |writer| {
                // Our read transaction must not hold the checkpoint back.
                if let Some(cap) = cap {
                    let _ = cap.read.execute_batch("COMMIT");
                }
                writer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        if let Err(e) = r {
            tracing::error!(error = %e, "replica disk guard: checkpoint failed");
        }
        if let Ok(mut s) = self.status.lock() {
            s.disk_guard_total += 1;
        }
    }

    fn record(&self, txid: u64, now: DateTime<Utc>, size: u64, snapshot: bool) {
        if let Ok(mut s) = self.status.lock() {
            s.last_txid = txid;
            s.last_success = Some(now);
            s.last_error = None;
            s.bytes_total += size;
            if snapshot {
                s.snapshots_total += 1;
            } else {
                s.files_total += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disk_guard_fires_on_a_huge_wal_or_a_full_disk() {
        assert!(!guard_fires(10 << 20, 100 << 30));
        assert!(guard_fires(GUARD_WAL_BYTES, 100 << 30));
        assert!(guard_fires(10 << 20, 10 << 20));
        assert!(!guard_fires(0, 0), "nothing to give up");
        let free = free_bytes(Path::new("/tmp/x.db")).unwrap();
        assert!(free > 0);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) >= Duration::from_secs(1) && backoff(0) < Duration::from_secs(2));
        assert!(backoff(3) >= Duration::from_secs(8));
        assert!(backoff(30) <= Duration::from_secs(19));
        assert!(backoff(30) >= Duration::from_secs(15));
    }

    fn db(dir: &Path) -> Connection {
        let c = Connection::open(dir.join("r.db")).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; \
             CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT);",
        )
        .unwrap();
        c
    }

    /// Applies LTX files to a fresh file, as a restore does.
    fn apply(out: &Path, files: &[Body]) {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(out)
            .unwrap();
        let mut commit = 0;
        let mut ps = 0;
        for file in files {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut file.reader().unwrap(), &mut bytes).unwrap();
            let h = ltx::decode(&bytes, |p, d| {
                f.write_all_at(d, u64::from(p - 1) * d.len() as u64)
                    .unwrap();
                Ok(())
            })
            .unwrap();
            commit = h.commit;
            ps = h.page_size;
        }
        f.set_len(u64::from(commit) * u64::from(ps)).unwrap();
    }

    fn rows(path: &Path) -> Vec<(i64, String)> {
        let c = Connection::open(path).unwrap();
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        let mut st = c.prepare("SELECT k, v FROM t ORDER BY k").unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn snapshot_then_increments_then_checkpoint_and_restart_rebuild_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let w = db(dir.path());
        let path = dir.path().join("r.db");
        let now = Utc::now();
        let mut cap = Capture::open(&path).unwrap();
        let mut files = Vec::new();
        let (snap, pos) = cap.snapshot(1, now).unwrap();
        cap.shipped(pos);
        files.push(snap);
        assert!(matches!(cap.next(2, now).unwrap(), Next::Nothing));
        let mut txid = 1;
        for round in 0..4 {
            for i in 0..50 {
                w.execute(
                    "INSERT INTO t (v) VALUES (?1)",
                    [format!("round {round} row {i} {}", "x".repeat(200))],
                )
                .unwrap();
            }
            txid += 1;
            match cap.next(txid, now).unwrap() {
                Next::Ltx(b, p) => {
                    files.push(b);
                    cap.shipped(p);
                }
                _ => panic!("expected new transactions in round {round}"),
            }
            // Every other round, checkpoint: the WAL restarts on the next write.
            if round % 2 == 1 {
                assert!(cap.checkpoint().unwrap(), "checkpoint empties the WAL");
            }
        }
        let out = dir.path().join("restored.db");
        apply(&out, &files);
        let want = rows(&path);
        assert_eq!(want.len(), 200);
        assert_eq!(rows(&out), want);
    }

    #[test]
    fn a_large_snapshot_is_spooled_beside_the_database_and_rebuilds_it() {
        let dir = tempfile::tempdir().unwrap();
        let w = db(dir.path());
        let path = dir.path().join("r.db");
        w.execute_batch("BEGIN").unwrap();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..3000 {
            // ~4 kB of incompressible text per row: 12 MB, more than the
            // spool keeps in memory.
            let v: String = (0..4000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (b'a' + (x % 26) as u8) as char
                })
                .collect();
            w.execute("INSERT INTO t (v) VALUES (?1)", [v]).unwrap();
        }
        w.execute_batch("COMMIT").unwrap();
        let mut cap = Capture::open(&path).unwrap();
        let (snap, _) = cap.snapshot(1, Utc::now()).unwrap();
        let Body::File(tmp) = &snap else {
            panic!("a 12 MB snapshot stays in memory")
        };
        assert_eq!(tmp.parent(), Some(dir.path()));
        let spooled = tmp.to_path_buf();
        let out = dir.path().join("restored.db");
        apply(&out, std::slice::from_ref(&snap));
        assert_eq!(rows(&out), rows(&path));
        drop(snap);
        assert!(!spooled.exists(), "the spool file is removed once uploaded");
    }

    #[test]
    fn unshipped_commits_block_the_checkpoint_and_foreign_restarts_cause_doubt() {
        let dir = tempfile::tempdir().unwrap();
        let w = db(dir.path());
        let path = dir.path().join("r.db");
        let now = Utc::now();
        let mut cap = Capture::open(&path).unwrap();
        let (_, pos) = cap.snapshot(1, now).unwrap();
        cap.shipped(pos);
        w.execute("INSERT INTO t (v) VALUES ('a')", []).unwrap();
        assert!(!cap.checkpoint().unwrap(), "not shipped yet");
        let Next::Ltx(_, p) = cap.next(2, now).unwrap() else {
            panic!("expected a file")
        };
        cap.shipped(p);
        // Someone else truncates the WAL behind our back (our read transaction
        // is released here to let them).
        cap.read.execute_batch("COMMIT").unwrap();
        w.execute("INSERT INTO t (v) VALUES ('b')", []).unwrap();
        w.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        w.execute("INSERT INTO t (v) VALUES ('c')", []).unwrap();
        assert!(matches!(cap.next(3, now).unwrap(), Next::Doubt(_)));
    }
}
