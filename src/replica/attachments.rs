//! Attachments (photos, signatures, thumbnails) in the replica: the
//! content-addressed blobs of `DATA_DIR/blobs` are uploaded once each to
//! `<path>/attachments/<sha256>`, before the WAL frames that refer to them are
//! shipped (a blob is durable on disk before its row commits, so uploading
//! every blob present when a sync starts covers every row it ships). A restore
//! fetches the blobs the restored database refers to, checks each against its
//! address, and names any it could not get.

use super::s3::{Store, StoreError};
use crate::blobs::{Blobs, address_of};
use std::collections::HashSet;
use std::path::Path;

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

/// Keeps the replica's copy of the blob store up to date.
#[derive(Debug)]
pub struct BlobSync {
    root: std::path::PathBuf,
    /// Addresses known to be in the replica; `None` until listed.
    uploaded: Option<HashSet<String>>,
}

impl BlobSync {
    /// Syncs the blobs under `root`.
    pub fn new(root: impl Into<std::path::PathBuf>) -> BlobSync {
        BlobSync {
            root: root.into(),
            uploaded: None,
        }
    }

    /// Uploads every local blob not yet in the replica and returns the bytes
    /// uploaded. Fails on the first store or disk error (the rest are tried
    /// on the next sync).
    pub async fn sync(&mut self, store: &Store) -> Result<u64, StoreError> {
        if self.uploaded.is_none() {
            self.uploaded = Some(store.list_attachments().await?.into_iter().collect());
        }
        let root = self.root.clone();
        let local = tokio::task::spawn_blocking(move || local_addresses(&root))
            .await
            .map_err(|e| StoreError {
                op: "scan attachments".into(),
                message: e.to_string(),
            })?
            .map_err(|e| StoreError {
                op: "scan attachments".into(),
                message: e.to_string(),
            })?;
        let mut bytes = 0;
        let blobs = Blobs::new(&self.root);
        for address in local {
            if self.uploaded.as_ref().is_some_and(|u| u.contains(&address)) {
                continue;
            }
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
                continue;
            }
            bytes += data.len() as u64;
            store.put_attachment(&address, data).await?;
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
