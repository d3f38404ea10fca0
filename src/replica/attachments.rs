//! Attachments (photos, signatures, thumbnails) in the replica: the
//! content-addressed blobs of `DATA_DIR/blobs` are uploaded once each to
//! `<path>/attachments/<sha256>`, before the WAL frames that refer to them are
//! shipped (a blob is durable on disk before its row commits, so uploading
//! every blob present when a sync starts covers every row it ships). A restore
//! fetches the blobs the restored database refers to, checks each against its
//! address, and names any it could not get.

use super::s3::{Store, StoreError};
use crate::blobs::{Blobs, address_of};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Addresses of the blob files under `root` (`ab/abcdef…`), skipping
/// temporary and foreign files. A missing root is empty. Fails on I/O errors.
pub fn local_addresses(root: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let dirs = match std::fs::read_dir(root) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for dir in dirs {
        let dir = dir?;
        if !dir.file_type()?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(dir.path())? {
            let name = f?.file_name();
            if let Some(name) = name.to_str()
                && Blobs::new(root).path_of(name).is_some()
                && name.starts_with(dir.file_name().to_str().unwrap_or("-"))
            {
                out.push(name.to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Keeps the replica's copy of the blob store up to date. It does not read
/// the whole blob tree on every sync: it remembers each `ab/` directory's
/// modification time and reads only the directories that changed (a new
/// blob is renamed into its directory, which changes its time), plus those
/// whose time is too recent to be trusted (file system timestamps are
/// coarse).
#[derive(Debug)]
pub struct BlobSync {
    root: std::path::PathBuf,
    /// Addresses known to be in the replica; `None` until listed.
    uploaded: Option<HashSet<String>>,
    /// Each directory's modification time when it was last read.
    seen: HashMap<std::ffi::OsString, SystemTime>,
    /// Local blobs found but not uploaded yet.
    pending: Vec<String>,
    /// Directories read since start (for tests and the status).
    pub dirs_read: u64,
}

/// A directory whose modification time is this close to the moment it was
/// read is read again next time: a blob added in the same clock tick would
/// not change the time.
const MTIME_SLACK: Duration = Duration::from_secs(2);

impl BlobSync {
    /// Syncs the blobs under `root`.
    pub fn new(root: impl Into<std::path::PathBuf>) -> BlobSync {
        BlobSync {
            root: root.into(),
            uploaded: None,
            seen: HashMap::new(),
            pending: Vec::new(),
            dirs_read: 0,
        }
    }

    /// Finds blobs on disk that are not in the replica yet (blocking: a
    /// stat per directory, a read of the changed ones). Returns how many
    /// wait for upload. Fails on I/O errors.
    pub fn scan(&mut self) -> std::io::Result<usize> {
        let dirs = match std::fs::read_dir(&self.root) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(self.pending.len()),
            Err(e) => return Err(e),
        };
        let blobs = Blobs::new(&self.root);
        for dir in dirs {
            let dir = dir?;
            let name = dir.file_name();
            let Some(prefix) = name.to_str().filter(|n| n.len() == 2).map(str::to_string) else {
                continue;
            };
            let meta = dir.metadata()?;
            if !meta.is_dir() {
                continue;
            }
            let read_at = SystemTime::now();
            let mtime = meta.modified()?;
            if self.seen.get(&name) == Some(&mtime) {
                continue;
            }
            self.dirs_read += 1;
            for f in std::fs::read_dir(dir.path())? {
                let f = f?.file_name();
                let Some(address) = f.to_str() else { continue };
                if !address.starts_with(&prefix) || blobs.path_of(address).is_none() {
                    continue;
                }
                let known = self.uploaded.as_ref().is_some_and(|u| u.contains(address))
                    || self.pending.iter().any(|p| p == address);
                if !known {
                    self.pending.push(address.to_string());
                }
            }
            let settled = read_at
                .duration_since(mtime)
                .is_ok_and(|age| age > MTIME_SLACK);
            if settled {
                self.seen.insert(name, mtime);
            } else {
                self.seen.remove(&name);
            }
        }
        Ok(self.pending.len())
    }

    /// Uploads every local blob not yet in the replica and returns the bytes
    /// uploaded. Fails on the first store or disk error (the rest are tried
    /// on the next sync).
    pub async fn sync(&mut self, store: &Store) -> Result<u64, StoreError> {
        if self.uploaded.is_none() {
            self.uploaded = Some(store.list_attachments().await?.into_iter().collect());
            self.seen.clear();
            self.pending.clear();
        }
        let local = |e: String| StoreError {
            op: "scan attachments".into(),
            message: e,
        };
        let mut me = std::mem::replace(self, BlobSync::new(""));
        let (me2, found) = tokio::task::spawn_blocking(move || {
            let r = me.scan();
            (me, r)
        })
        .await
        .map_err(|e| local(e.to_string()))?;
        *self = me2;
        found.map_err(|e| local(e.to_string()))?;
        let mut bytes = 0;
        let blobs = Blobs::new(&self.root);
        while let Some(address) = self.pending.first().cloned() {
            let b = blobs.clone();
            let a = address.clone();
            let data = tokio::task::spawn_blocking(move || b.get(&a))
                .await
                .map_err(|e| StoreError {
                    op: format!("read attachment {address}"),
                    message: e.to_string(),
                })?
                .map_err(|e| StoreError {
                    op: format!("read attachment {address}"),
                    message: e.to_string(),
                })?;
            if address_of(&data) != address {
                // A damaged local file: never replicate it under its address.
                tracing::error!(%address, "attachment on disk does not match its address; not uploaded");
                self.pending.remove(0);
                continue;
            }
            bytes += data.len() as u64;
            store.put_attachment(&address, data).await?;
            self.pending.remove(0);
            if let Some(u) = self.uploaded.as_mut() {
                u.insert(address);
            }
        }
        Ok(bytes)
    }
}

/// Outcome of restoring attachments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachmentsRestored {
    /// Blobs the database refers to.
    pub referenced: usize,
    /// Blobs fetched from the replica (the rest were already present).
    pub fetched: usize,
    /// Addresses that could not be fetched or did not match their checksum.
    pub missing: Vec<String>,
}

/// The blob addresses a Quant database refers to (none when it has no
/// `attachments` table). Fails on SQLite errors.
pub fn referenced(db: &Path) -> Result<Vec<String>, rusqlite::Error> {
    let c = rusqlite::Connection::open(db)?;
    let has: i64 = c.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'attachments'",
        [],
        |r| r.get(0),
    )?;
    if has == 0 {
        return Ok(Vec::new());
    }
    let mut st = c.prepare(
        "SELECT sha256 FROM attachments UNION SELECT thumb_sha256 FROM attachments \
         WHERE thumb_sha256 IS NOT NULL ORDER BY 1",
    )?;
    let rows = st.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// Fetches into `blobs` every blob `db` refers to that is not already there,
/// verifying each against its address. Never fails: what could not be had is
/// listed in [`AttachmentsRestored::missing`].
pub async fn restore(store: &Store, db: &Path, blobs: &Blobs) -> AttachmentsRestored {
    let mut out = AttachmentsRestored::default();
    let dbp = db.to_path_buf();
    let wanted = match tokio::task::spawn_blocking(move || referenced(&dbp)).await {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot list the attachments of the restored database");
            return out;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot list the attachments of the restored database");
            return out;
        }
    };
    out.referenced = wanted.len();
    for address in wanted {
        let present = blobs
            .get(&address)
            .map(|d| address_of(&d) == address)
            .unwrap_or(false);
        if present {
            continue;
        }
        let ok = match store.get_attachment(&address).await {
            Ok(data) if address_of(&data) == address => {
                let b = blobs.clone();
                matches!(
                    tokio::task::spawn_blocking(move || b.put(&data)).await,
                    Ok(Ok(_))
                )
            }
            Ok(_) => {
                tracing::error!(%address, "attachment in the replica does not match its checksum");
                false
            }
            Err(e) => {
                tracing::error!(%address, error = %e, "cannot fetch attachment");
                false
            }
        };
        if ok {
            out.fetched += 1;
        } else {
            out.missing.push(address);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(dir: &Path, secs: i64) {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as libc::time_t;
        let t = libc::timeval {
            tv_sec: now - secs as libc::time_t,
            tv_usec: 0,
        };
        // SAFETY: `c` is a valid NUL-terminated path; `times` holds two timevals.
        assert_eq!(unsafe { libc::utimes(c.as_ptr(), [t, t].as_ptr()) }, 0);
    }

    #[test]
    fn only_directories_that_changed_are_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(dir.path());
        let a = blobs.put(b"one").unwrap();
        let b = blobs.put(b"two").unwrap();
        for x in [&a, &b] {
            age(&dir.path().join(&x[..2]), 60);
        }
        let mut sync = BlobSync::new(dir.path());
        sync.uploaded = Some(HashSet::new());
        assert_eq!(sync.scan().unwrap(), 2);
        assert_eq!(sync.dirs_read, 2);
        // Uploaded: nothing pending, and quiet directories are not read again.
        for p in std::mem::take(&mut sync.pending) {
            sync.uploaded.as_mut().unwrap().insert(p);
        }
        assert_eq!(sync.scan().unwrap(), 0);
        assert_eq!(sync.dirs_read, 2);
        // A new blob changes its directory's time: only that one is read.
        let c = blobs.put(b"three").unwrap();
        assert_eq!(sync.scan().unwrap(), 1);
        assert_eq!(sync.pending, vec![c.clone()]);
        assert_eq!(sync.dirs_read, 3);
        // Its directory is too fresh to trust its time: read again next time,
        // without finding the pending blob twice.
        assert_eq!(sync.scan().unwrap(), 1);
        assert_eq!(sync.dirs_read, 4);
    }

    #[test]
    fn lists_only_well_formed_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(dir.path());
        let a = blobs.put(b"one").unwrap();
        let b = blobs.put(b"two").unwrap();
        std::fs::write(dir.path().join(&a[..2]).join(".tmp.x"), b"junk").unwrap();
        std::fs::write(dir.path().join("stray"), b"junk").unwrap();
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(local_addresses(dir.path()).unwrap(), want);
        assert!(
            local_addresses(&dir.path().join("none"))
                .unwrap()
                .is_empty()
        );
    }
}
