//! Content-addressed file store for photos, signatures and thumbnails, in
//! `DATA_DIR/blobs/ab/abcdef…` (the SHA-256 of the content). A blob is written
//! to a temporary file, fsynced, renamed into place and its directory fsynced
//! before the database row that refers to it is committed, so an acknowledged
//! upload survives a crash. The same content is stored once; its address is
//! what the replica backs up (DESIGN §3).

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The blob store rooted at a directory.
#[derive(Debug, Clone)]
pub struct Blobs {
    root: PathBuf,
}

/// Hex SHA-256 of `bytes`.
pub fn address_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn valid_address(a: &str) -> bool {
    a.len() == 64
        && a.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl Blobs {
    /// A store under `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Where the blob with `address` lives; `None` for a malformed address.
    pub fn path_of(&self, address: &str) -> Option<PathBuf> {
        valid_address(address).then(|| self.root.join(&address[..2]).join(address))
    }

    /// Stores `bytes` durably and returns their address. Blocking: call off the
    /// async runtime. Storing content that is already present only checks it.
    /// Fails on I/O errors (disk full, permissions).
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        let address = address_of(bytes);
        let dir = self.root.join(&address[..2]);
        let path = dir.join(&address);
        if std::fs::metadata(&path)
            .map(|m| m.len() == bytes.len() as u64)
            .unwrap_or(false)
        {
            return Ok(address);
        }
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".{address}.{}.tmp", std::process::id()));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        sync_dir(&dir)?;
        sync_dir(&self.root)?;
        Ok(address)
    }

    /// Reads a blob. Blocking. Fails with `NotFound` for an unknown or malformed
    /// address, or on I/O errors.
    pub fn get(&self, address: &str) -> std::io::Result<Vec<u8>> {
        let path = self.path_of(address).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "malformed address")
        })?;
        std::fs::read(path)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_once_by_content_and_reads_back() {
        let d = tempfile::tempdir().unwrap();
        let b = Blobs::new(d.path().join("blobs"));
        let a = b.put(b"hello").unwrap();
        assert_eq!(a, address_of(b"hello"));
        assert_eq!(b.put(b"hello").unwrap(), a);
        assert_eq!(b.get(&a).unwrap(), b"hello");
        assert!(b.path_of(&a).unwrap().ends_with(format!("{}/{a}", &a[..2])));
        assert!(b.get("../../etc/passwd").is_err());
        assert!(b.path_of(&a.to_uppercase()).is_none());
        let leftovers = std::fs::read_dir(d.path().join("blobs").join(&a[..2]))
            .unwrap()
            .count();
        assert_eq!(leftovers, 1, "no temp files left behind");
    }
}
