//! Restoring a database from a replica, following Litestream 0.5's plan: the
//! newest level-9 snapshot at or before the target, then repeatedly the file
//! from levels 8 down to 0 that starts at or before the next TXID and reaches
//! furthest without passing the target. Later files win page by page. A gap
//! fails the restore. Every file's checksum is verified; the result must pass
//! `PRAGMA integrity_check` before it is moved into place.

use super::ltx;
use super::s3::{FileInfo, SNAPSHOT_LEVEL, Store};
use chrono::{DateTime, Utc};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What to restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// The database file to write.
    pub output: PathBuf,
    /// Restore up to this TXID (inclusive).
    pub txid: Option<u64>,
    /// Restore files created strictly before this time.
    pub timestamp: Option<DateTime<Utc>>,
    /// Replace an existing database.
    pub force: bool,
}

/// What was restored.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    /// The TXID the database is at.
    pub txid: u64,
    /// Timestamp of the last file applied.
    pub timestamp: Option<DateTime<Utc>>,
    /// Size of the database in bytes.
    pub size: u64,
    /// Files applied.
    pub files: usize,
}

/// Why a restore failed; nothing is left at the output path.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The output exists and `force` was not given.
    #[error("{0} already exists; pass --force to replace it")]
    Exists(PathBuf),
    /// The replica holds nothing at or before the target.
    #[error("the replica has no files to restore from{0}")]
    Empty(String),
    /// The files do not form an unbroken chain to the target.
    #[error("non-contiguous ltx files: the replica reaches TXID {reached:x}, not {target:x}")]
    Gap {
        /// How far the chain goes.
        reached: u64,
        /// Where it had to go.
        target: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] super::s3::StoreError),
    /// A file is corrupt or invalid.
    #[error("{key}: {source}")]
    Ltx {
        /// Which file.
        key: String,
        /// What is wrong.
        source: ltx::LtxError,
    },
    /// The restored database failed its integrity check.
    #[error("the restored database fails its integrity check: {0}")]
    Integrity(String),
    /// Local I/O failed.
    #[error("{0}")]
    Io(String),
}

/// Chooses the files to apply to reach `target` (inclusive) from `files`
/// (all levels). Returns them in order; fails with [`RestoreError::Gap`] when
/// the chain breaks before `target`.
pub fn plan(files: &[FileInfo], target: u64) -> Result<Vec<FileInfo>, RestoreError> {
    let mut out = Vec::new();
    let mut current = 0u64;
    if let Some(snap) = files
        .iter()
        .filter(|f| f.level == SNAPSHOT_LEVEL && f.min_txid == 1 && f.max_txid <= target)
        .max_by_key(|f| f.max_txid)
    {
        current = snap.max_txid;
        out.push(snap.clone());
    }
    while current < target {
        let next = files
            .iter()
            .filter(|f| f.level < SNAPSHOT_LEVEL)
            .filter(|f| f.min_txid <= current + 1 && f.max_txid > current && f.max_txid <= target)
            // As Litestream: furthest first, then the earliest start, then the higher level.
            .max_by_key(|f| (f.max_txid, std::cmp::Reverse(f.min_txid), f.level));
        match next {
            Some(f) => {
                current = f.max_txid;
                out.push(f.clone());
            }
            None => {
                return Err(RestoreError::Gap {
                    reached: current,
                    target,
                });
            }
        }
    }
    Ok(out)
}

fn io(what: &str, p: &Path, e: std::io::Error) -> RestoreError {
    RestoreError::Io(format!("cannot {what} {}: {e}", p.display()))
}

fn sidecar(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Restores from `store` into `opts.output`, calling `progress(done, total)`
/// in bytes of LTX files as they download (several times a second). Fails when the output exists without `force`, the
/// replica is empty or broken before the target, a file is corrupt, or the
/// result fails its integrity check; the output is then left untouched.
pub async fn restore(
    store: &Store,
    opts: &RestoreOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<Restored, RestoreError> {
    if opts.output.exists() && !opts.force {
        return Err(RestoreError::Exists(opts.output.clone()));
    }
    let mut files = Vec::new();
    for level in 0..=SNAPSHOT_LEVEL {
        files.extend(store.list(level).await?);
    }
    if let Some(ts) = opts.timestamp {
        let mut kept = Vec::with_capacity(files.len());
        for f in files {
            if store.timestamp(&f).await?.is_some_and(|t| t < ts) {
                kept.push(f);
            }
        }
        files = kept;
    }
    let max = files.iter().map(|f| f.max_txid).max();
    let target = match (opts.txid, max) {
        (_, None) => {
            return Err(RestoreError::Empty(
                opts.timestamp
                    .map(|t| format!(" before {}", t.to_rfc3339()))
                    .unwrap_or_default(),
            ));
        }
        (Some(t), Some(_)) => t,
        (None, Some(m)) => m,
    };
    let chosen = plan(&files, target)?;
    if let Some(dir) = opts.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
    }
    let tmp = sidecar(&opts.output, ".restoring");
    let result = apply_all(store, &chosen, &tmp, &mut progress).await;
    let (txid, ts) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let check_path = tmp.clone();
    let check = tokio::task::spawn_blocking(move || integrity(&check_path))
        .await
        .map_err(|e| RestoreError::Io(e.to_string()))?;
    if let Err(e) = check {
        let _ = std::fs::remove_file(&tmp);
        for s in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(sidecar(&tmp, s));
        }
        return Err(e);
    }
    // The old WAL and the replicator's resume state belong to the replaced file.
    for s in ["-wal", "-shm", "-replica.json"] {
        let p = sidecar(&opts.output, s);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove", &p, e)),
        }
    }
    std::fs::rename(&tmp, &opts.output).map_err(|e| io("move into place", &opts.output, e))?;
    let size = std::fs::metadata(&opts.output)
        .map_err(|e| io("stat", &opts.output, e))?
        .len();
    Ok(Restored {
        txid,
        timestamp: ts,
        size,
        files: chosen.len(),
    })
}

async fn apply_all(
    store: &Store,
    chosen: &[FileInfo],
    tmp: &Path,
    progress: &mut impl FnMut(u64, u64),
) -> Result<(u64, Option<DateTime<Utc>>), RestoreError> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(tmp)
        .map_err(|e| io("create", tmp, e))?;
    let total: u64 = chosen.iter().map(|c| c.size).sum();
    let mut done = 0u64;
    let mut last: Option<ltx::Header> = None;
    for info in chosen {
        let key = super::s3::ltx_key(store.path(), info.level, info.min_txid, info.max_txid);
        // The download feeds the decoder as it arrives; the decoder writes
        // each page into place. Nothing holds a whole file.
        let (reader, feed) = store.open_ltx(info).await?;
        let read = Arc::new(AtomicU64::new(0));
        let counted = Counted {
            inner: reader,
            n: read.clone(),
        };
        let out = f.try_clone().map_err(|e| io("open", tmp, e))?;
        let (tmp2, info2, prev) = (tmp.to_path_buf(), info.clone(), last);
        let work =
            tokio::task::spawn_blocking(move || apply_one(counted, &out, &tmp2, &info2, prev, key));
        let mut work = std::pin::pin!(work);
        let mut feed = std::pin::pin!(feed);
        let mut fed = false;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
        let h = loop {
            tokio::select! {
                r = &mut work => break r.map_err(|e| RestoreError::Io(e.to_string()))??,
                _ = &mut feed, if !fed => fed = true,
                _ = tick.tick() => progress(done + read.load(Ordering::Relaxed), total),
            }
        };
        done += info.size;
        progress(done, total);
        last = Some(h);
    }
    let h = last.ok_or_else(|| RestoreError::Empty(String::new()))?;
    f.set_len(u64::from(h.commit) * u64::from(h.page_size))
        .map_err(|e| io("truncate", tmp, e))?;
    f.sync_all().map_err(|e| io("sync", tmp, e))?;
    Ok((h.max_txid, DateTime::from_timestamp_millis(h.timestamp_ms)))
}

/// A reader that counts the bytes read through it.
struct Counted<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

/// Decodes one LTX file from `r` and writes its pages into `out`; checks
/// its TXIDs against its name and its page size against the previous file.
/// Returns its header once its checksum is verified.
fn apply_one(
    r: impl std::io::Read,
    out: &std::fs::File,
    tmp: &Path,
    info: &FileInfo,
    prev: Option<ltx::Header>,
    key: String,
) -> Result<ltx::Header, RestoreError> {
    let bad = |source| RestoreError::Ltx {
        key: key.clone(),
        source,
    };
    let mut d = ltx::Decoder::new(r).map_err(bad)?;
    let h = *d.header();
    if (h.min_txid, h.max_txid) != (info.min_txid, info.max_txid) {
        return Err(bad(ltx::LtxError::Invalid(
            "header TXIDs differ from the object name".into(),
        )));
    }
    if prev.is_some_and(|p| p.page_size != h.page_size) {
        return Err(bad(ltx::LtxError::Invalid("page size changed".into())));
    }
    let mut w = PageWriter::new(out, h.page_size);
    while let Some((pgno, data)) = d.next_page().map_err(bad)? {
        w.put(pgno, data).map_err(|e| io("write", tmp, e))?;
    }
    w.flush().map_err(|e| io("write", tmp, e))?;
    d.finish().map_err(bad)
}

/// Writes pages into a database file, coalescing runs of consecutive pages
/// (a snapshot is one long run) into large writes.
struct PageWriter<'a> {
    file: &'a std::fs::File,
    page_size: u64,
    buf: Vec<u8>,
    first: u32,
    next: u32,
}

impl<'a> PageWriter<'a> {
    const LIMIT: usize = 4 << 20;

    fn new(file: &'a std::fs::File, page_size: u32) -> PageWriter<'a> {
        PageWriter {
            file,
            page_size: u64::from(page_size),
            buf: Vec::with_capacity(Self::LIMIT),
            first: 0,
            next: 0,
        }
    }

    fn put(&mut self, pgno: u32, data: &[u8]) -> std::io::Result<()> {
        if pgno != self.next || self.buf.len() + data.len() > Self::LIMIT {
            self.flush()?;
            self.first = pgno;
        }
        self.buf.extend_from_slice(data);
        self.next = pgno + 1;
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.file
                .write_all_at(&self.buf, u64::from(self.first - 1) * self.page_size)?;
            self.buf.clear();
        }
        Ok(())
    }
}

fn integrity(path: &Path) -> Result<(), RestoreError> {
    let c = rusqlite::Connection::open(path).map_err(|e| RestoreError::Integrity(e.to_string()))?;
    let mut st = c
        .prepare("PRAGMA integrity_check")
        .map_err(|e| RestoreError::Integrity(e.to_string()))?;
    let lines: Vec<String> = st
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| RestoreError::Integrity(e.to_string()))?;
    drop(st);
    // Leave a plain file behind: checkpoint away any WAL the check created.
    let _ = c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    drop(c);
    if lines.len() == 1 && lines[0] == "ok" {
        Ok(())
    } else {
        Err(RestoreError::Integrity(lines.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(level: u8, min: u64, max: u64) -> FileInfo {
        FileInfo {
            level,
            min_txid: min,
            max_txid: max,
            size: 1,
            last_modified: None,
        }
    }

    fn ids(v: &[FileInfo]) -> Vec<(u8, u64, u64)> {
        v.iter()
            .map(|f| (f.level, f.min_txid, f.max_txid))
            .collect()
    }

    #[test]
    fn plan_uses_newest_snapshot_then_l0() {
        let files = vec![
            f(9, 1, 1),
            f(0, 2, 2),
            f(0, 3, 3),
            f(9, 1, 4),
            f(0, 5, 5),
            f(0, 6, 6),
        ];
        assert_eq!(
            ids(&plan(&files, 6).unwrap()),
            [(9, 1, 4), (0, 5, 5), (0, 6, 6)]
        );
        assert_eq!(
            ids(&plan(&files, 3).unwrap()),
            [(9, 1, 1), (0, 2, 2), (0, 3, 3)]
        );
        assert_eq!(ids(&plan(&files, 4).unwrap()), [(9, 1, 4)]);
    }

    #[test]
    fn plan_prefers_compacted_files_and_fails_on_gaps() {
        let files = vec![f(0, 1, 1), f(0, 2, 2), f(1, 1, 3), f(0, 3, 3), f(0, 5, 5)];
        assert_eq!(ids(&plan(&files, 3).unwrap()), [(1, 1, 3)]);
        assert!(matches!(
            plan(&files, 5),
            Err(RestoreError::Gap {
                reached: 3,
                target: 5
            })
        ));
    }
}
