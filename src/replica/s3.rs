//! The replica's S3 store, in Litestream 0.5's layout:
//! `<path>/<level %04x>/<min %016x>-<max %016x>.ltx`, each object carrying
//! `litestream-timestamp` metadata (RFC 3339 with nanoseconds).
//!
//! Credentials come from the config when given, else from the standard AWS
//! chain; errors never contain them.

use crate::config::ReplicaConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, SecondsFormat, Utc};
use std::time::Duration;

/// Level of full snapshots.
pub const SNAPSHOT_LEVEL: u8 = 9;
/// Metadata key holding the file's timestamp.
pub const TIMESTAMP_META: &str = "litestream-timestamp";

/// A failed store operation; the message is safe to log.
#[derive(Debug, thiserror::Error)]
#[error("s3 {op}: {message}")]
pub struct StoreError {
    /// What was being done (`put 0000/…`, `list 0000`).
    pub op: String,
    /// What went wrong.
    pub message: String,
}

/// Where the replica lives and how to reach it.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Bucket name.
    pub bucket: String,
    /// Path inside the bucket (no leading or trailing slash).
    pub path: String,
    /// Custom endpoint (S3-compatible stores).
    pub endpoint: Option<String>,
    /// Region.
    pub region: String,
    /// Path-style addressing.
    pub force_path_style: bool,
    /// Static credentials (access key id, secret), else the standard chain.
    pub credentials: Option<(String, crate::secret::SecretString)>,
}

impl StoreSettings {
    /// Settings from `[replica]`. Fails when the url is not `s3://BUCKET/PATH`.
    pub fn from_config(c: &ReplicaConfig) -> Result<StoreSettings, String> {
        let (bucket, path) = c.bucket_and_path()?;
        let credentials = match (c.access_key_id.as_str(), c.secret_access_key.get()) {
            ("", _) | (_, None) => None,
            (id, Some(secret)) => Some((id.to_string(), secret.to_string().into())),
        };
        Ok(StoreSettings {
            bucket,
            path,
            endpoint: Some(c.endpoint.clone()).filter(|e| !e.is_empty()),
            region: c.region.clone(),
            force_path_style: c.force_path_style,
            credentials,
        })
    }
}

/// One LTX object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Compaction level (0 = per sync, 9 = snapshots).
    pub level: u8,
    /// First TXID.
    pub min_txid: u64,
    /// Last TXID.
    pub max_txid: u64,
    /// Size in bytes.
    pub size: u64,
    /// When the store says it was written.
    pub last_modified: Option<DateTime<Utc>>,
}

/// What an upload sends: bytes in memory, or a (temporary) file streamed
/// from disk so a large snapshot never has to fit in memory.
#[derive(Debug)]
pub enum Body {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// A temporary file, deleted when the body is dropped.
    File(tempfile::TempPath),
}

impl Body {
    /// Size in bytes. Fails when the file cannot be read.
    pub fn len(&self) -> std::io::Result<u64> {
        match self {
            Body::Bytes(b) => Ok(b.len() as u64),
            Body::File(p) => Ok(std::fs::metadata(p)?.len()),
        }
    }

    /// Whether the body is empty (never true for an LTX file).
    pub fn is_empty(&self) -> bool {
        self.len().map(|n| n == 0).unwrap_or(true)
    }

    /// A reader over the body. Fails when the file cannot be opened.
    pub fn reader(&self) -> std::io::Result<Box<dyn std::io::Read + Send + '_>> {
        Ok(match self {
            Body::Bytes(b) => Box::new(b.as_slice()),
            Body::File(p) => Box::new(std::io::BufReader::with_capacity(
                64 << 10,
                std::fs::File::open(p)?,
            )),
        })
    }

    async fn stream(&self) -> Result<ByteStream, String> {
        match self {
            Body::Bytes(b) => Ok(ByteStream::from(b.clone())),
            Body::File(p) => ByteStream::from_path(p).await.map_err(|e| e.to_string()),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Body {
        Body::Bytes(b)
    }
}

/// Bytes kept in memory before a [`Spool`] moves to a temporary file.
pub const SPOOL_MEMORY: usize = 8 << 20;

/// A writer that keeps what it is given in memory up to [`SPOOL_MEMORY`],
/// then in a temporary file in `dir` (next to the database, not `/tmp`,
/// which may be memory).
pub struct Spool {
    dir: std::path::PathBuf,
    mem: Vec<u8>,
    file: Option<std::io::BufWriter<tempfile::NamedTempFile>>,
}

/// Prefix of the spool files (stale ones are removed at start).
pub const SPOOL_PREFIX: &str = ".quant-replica-";

impl Spool {
    /// A spool whose overflow goes to `dir`.
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Spool {
        Spool {
            dir: dir.into(),
            mem: Vec::new(),
            file: None,
        }
    }

    /// What was written. Fails when the temporary file cannot be flushed.
    pub fn finish(self) -> std::io::Result<Body> {
        match self.file {
            None => Ok(Body::Bytes(self.mem)),
            Some(w) => {
                let f = w.into_inner().map_err(|e| e.into_error())?;
                Ok(Body::File(f.into_temp_path()))
            }
        }
    }
}

impl std::io::Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.file.is_none() && self.mem.len() + buf.len() > SPOOL_MEMORY {
            let f = tempfile::Builder::new()
                .prefix(SPOOL_PREFIX)
                .suffix(".tmp")
                .tempfile_in(&self.dir)?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            w.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(w);
        }
        match &mut self.file {
            Some(w) => w.write(buf),
            None => {
                self.mem.extend_from_slice(buf);
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

/// Removes spool files a crash left in `dir`.
pub fn remove_stale_spools(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(SPOOL_PREFIX) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// A blocking reader over a download, fed chunk by chunk from the async side
/// (see [`Store::open_ltx`]), so decoding overlaps the transfer.
pub struct ChunkReader<T> {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<T>>,
    cur: Option<T>,
    off: usize,
}

impl<T: AsRef<[u8]>> std::io::Read for ChunkReader<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(c) = &self.cur {
                let c = c.as_ref();
                if self.off < c.len() {
                    let n = buf.len().min(c.len() - self.off);
                    buf[..n].copy_from_slice(&c[self.off..self.off + n]);
                    self.off += n;
                    return Ok(n);
                }
            }
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(c)) => {
                    self.cur = Some(c);
                    self.off = 0;
                }
            }
        }
    }
}

/// The key of an LTX file under `path`.
pub fn ltx_key(path: &str, level: u8, min: u64, max: u64) -> String {
    format!("{path}/{level:04x}/{min:016x}-{max:016x}.ltx")
}

/// Parses `<min>-<max>.ltx`; `None` for any other name.
pub fn parse_ltx_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".ltx")?;
    let (a, b) = stem.split_once('-')?;
    if a.len() != 16 || b.len() != 16 {
        return None;
    }
    Some((
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    ))
}

/// A connected store.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    bucket: String,
    path: String,
}

fn err(op: impl Into<String>, e: impl std::error::Error) -> StoreError {
    StoreError {
        op: op.into(),
        message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
    }
}

impl Store {
    /// Builds a client for `s` (no request is made). Never fails: a bad
    /// endpoint or missing credentials show up on the first request.
    pub async fn connect(s: &StoreSettings) -> Store {
        use crate::secret::ExposeSecret;
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(s.region.clone()));
        if let Some((id, secret)) = &s.credentials {
            loader = loader.credentials_provider(Credentials::new(
                id.clone(),
                secret.expose_secret().to_string(),
                None,
                None,
                "quant-config",
            ));
        }
        let sdk = loader.load().await;
        let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(120))
            .build();
        let mut b = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(s.force_path_style)
            .timeout_config(timeouts)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(ep) = &s.endpoint {
            b = b.endpoint_url(ep.clone());
        }
        Store {
            client: Client::from_conf(b.build()),
            bucket: s.bucket.clone(),
            path: s.path.clone(),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The path inside the bucket.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Uploads an LTX file. Fails when the store refuses or cannot be reached.
    pub async fn put_ltx(
        &self,
        level: u8,
        min: u64,
        max: u64,
        timestamp: DateTime<Utc>,
        body: impl Into<Body>,
    ) -> Result<(), StoreError> {
        self.put_ltx_ref(level, min, max, timestamp, &body.into())
            .await
    }

    /// [`Store::put_ltx`] keeping the body (to retry it). Fails when the
    /// store refuses or cannot be reached.
    pub async fn put_ltx_ref(
        &self,
        level: u8,
        min: u64,
        max: u64,
        timestamp: DateTime<Utc>,
        body: &Body,
    ) -> Result<(), StoreError> {
        let key = ltx_key(&self.path, level, min, max);
        let stream = body.stream().await.map_err(|message| StoreError {
            op: format!("put {key}"),
            message,
        })?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .metadata(
                TIMESTAMP_META,
                timestamp.to_rfc3339_opts(SecondsFormat::Nanos, true),
            )
            .body(stream)
            .send()
            .await
            .map_err(|e| err(format!("put {key}"), e))?;
        Ok(())
    }

    /// Lists the LTX files of `level`, in TXID order. Fails when the store
    /// cannot be listed.
    pub async fn list(&self, level: u8) -> Result<Vec<FileInfo>, StoreError> {
        self.list_after(level, 0).await
    }

    /// Lists the LTX files of `level` whose first TXID is above `after`, in
    /// TXID order, without listing the ones before (S3 `StartAfter`). Fails
    /// when the store cannot be listed.
    pub async fn list_after(&self, level: u8, after: u64) -> Result<Vec<FileInfo>, StoreError> {
        let prefix = format!("{}/{level:04x}/", self.path);
        let mut out = Vec::new();
        let mut req = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix);
        if after > 0 {
            // Keys sort by their zero-padded first TXID.
            req = req.start_after(format!("{prefix}{after:016x}-{:016x}.ltx", u64::MAX));
        }
        let mut pages = req.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| err(format!("list {prefix}"), e))?;
            for o in page.contents() {
                let Some(name) = o.key().and_then(|k| k.strip_prefix(&prefix)) else {
                    continue;
                };
                let Some((min_txid, max_txid)) = parse_ltx_name(name) else {
                    continue;
                };
                if min_txid <= after {
                    continue;
                }
                out.push(FileInfo {
                    level,
                    min_txid,
                    max_txid,
                    size: o.size().unwrap_or(0).max(0) as u64,
                    last_modified: o
                        .last_modified()
                        .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
                });
            }
        }
        out.sort_by_key(|f| (f.min_txid, f.max_txid));
        Ok(out)
    }

    /// The highest TXID in any level (0 for an empty replica). Fails when
    /// the store cannot be listed.
    pub async fn max_txid(&self) -> Result<u64, StoreError> {
        let mut max = 0;
        for level in 0..=SNAPSHOT_LEVEL {
            if let Some(f) = self.list(level).await?.last() {
                max = max.max(f.max_txid);
            }
        }
        Ok(max)
    }

    /// Downloads an LTX file. Fails when it is missing or cannot be read.
    pub async fn get_ltx(&self, f: &FileInfo) -> Result<Vec<u8>, StoreError> {
        let key = ltx_key(&self.path, f.level, f.min_txid, f.max_txid);
        let o = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| err(format!("get {key}"), e))?;
        let body = o
            .body
            .collect()
            .await
            .map_err(|e| err(format!("read {key}"), e))?;
        Ok(body.into_bytes().to_vec())
    }

    /// Opens an LTX file for reading while it downloads: returns a blocking
    /// reader (use it off the async runtime, e.g. in `spawn_blocking`) that
    /// the returned future feeds; drive both. Fails when the file is missing.
    pub async fn open_ltx(
        &self,
        f: &FileInfo,
    ) -> Result<
        (
            impl std::io::Read + Send + 'static,
            impl Future<Output = ()> + Send + 'static,
        ),
        StoreError,
    > {
        let key = ltx_key(&self.path, f.level, f.min_txid, f.max_txid);
        let o = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| err(format!("get {key}"), e))?;
        let (tx, rx) = tokio::sync::mpsc::channel(32);
        let mut body = o.body;
        let feed = async move {
            loop {
                let chunk = match body.try_next().await {
                    Ok(Some(c)) => Ok(c),
                    Ok(None) => break,
                    Err(e) => Err(std::io::Error::other(format!("read {key}: {e}"))),
                };
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        };
        Ok((
            ChunkReader {
                rx,
                cur: None,
                off: 0,
            },
            feed,
        ))
    }

    /// Downloads an LTX file into `spool` (memory, or a temporary file once
    /// large). Fails when it is missing or cannot be read or stored.
    pub async fn fetch_ltx(&self, f: &FileInfo, mut spool: Spool) -> Result<Body, StoreError> {
        use std::io::Write;
        let key = ltx_key(&self.path, f.level, f.min_txid, f.max_txid);
        let o = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| err(format!("get {key}"), e))?;
        let mut body = o.body;
        let local = |e: std::io::Error| StoreError {
            op: format!("spool {key}"),
            message: e.to_string(),
        };
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| err(format!("read {key}"), e))?
        {
            spool.write_all(&chunk).map_err(local)?;
        }
        spool.finish().map_err(local)
    }

    /// Deletes LTX files. Fails when the store refuses or cannot be reached.
    pub async fn delete_ltx(&self, files: &[FileInfo]) -> Result<(), StoreError> {
        for f in files {
            let key = ltx_key(&self.path, f.level, f.min_txid, f.max_txid);
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| err(format!("delete {key}"), e))?;
        }
        Ok(())
    }

    fn attachment_key(&self, address: &str) -> String {
        format!("{}/attachments/{address}", self.path)
    }

    /// Addresses of the attachments in the replica. Fails when the store
    /// cannot be listed.
    pub async fn list_attachments(&self) -> Result<Vec<String>, StoreError> {
        let prefix = format!("{}/attachments/", self.path);
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| err(format!("list {prefix}"), e))?;
            out.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key()?.strip_prefix(&prefix).map(str::to_string)),
            );
        }
        Ok(out)
    }

    /// Uploads the attachment blob with `address`. Fails when the store
    /// refuses or cannot be reached.
    pub async fn put_attachment(&self, address: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let key = self.attachment_key(address);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| err(format!("put {key}"), e))?;
        Ok(())
    }

    /// Downloads the attachment blob with `address` (unchecked: the caller
    /// verifies it against the address). Fails when missing or unreadable.
    pub async fn get_attachment(&self, address: &str) -> Result<Vec<u8>, StoreError> {
        let key = self.attachment_key(address);
        let o = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| err(format!("get {key}"), e))?;
        let body = o
            .body
            .collect()
            .await
            .map_err(|e| err(format!("read {key}"), e))?;
        Ok(body.into_bytes().to_vec())
    }

    /// The `litestream-timestamp` of a file, falling back to its
    /// LastModified. Fails when the object cannot be read.
    pub async fn timestamp(&self, f: &FileInfo) -> Result<Option<DateTime<Utc>>, StoreError> {
        let key = ltx_key(&self.path, f.level, f.min_txid, f.max_txid);
        let h = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| err(format!("head {key}"), e))?;
        let meta = h
            .metadata()
            .and_then(|m| m.get(TIMESTAMP_META))
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        Ok(meta.or(f.last_modified))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_litestream() {
        assert_eq!(
            ltx_key("quant.db", 0, 7, 7),
            "quant.db/0000/0000000000000007-0000000000000007.ltx"
        );
        assert_eq!(
            ltx_key("a/b", 9, 1, 0x1f),
            "a/b/0009/0000000000000001-000000000000001f.ltx"
        );
        assert_eq!(
            parse_ltx_name("0000000000000001-000000000000001f.ltx"),
            Some((1, 31))
        );
        assert_eq!(parse_ltx_name("1-2.ltx"), None);
        assert_eq!(
            parse_ltx_name("0000000000000001-000000000000001f.wal"),
            None
        );
    }

    #[test]
    fn settings_hide_the_secret() {
        let mut c = ReplicaConfig {
            url: "s3://bkt/db".into(),
            access_key_id: "AK".into(),
            secret_access_key: "top-secret-value".into(),
            ..ReplicaConfig::default()
        };
        let s = StoreSettings::from_config(&c).unwrap();
        assert!(s.credentials.is_some());
        assert!(!format!("{s:?}").contains("top-secret-value"));
        c.access_key_id.clear();
        assert!(
            StoreSettings::from_config(&c)
                .unwrap()
                .credentials
                .is_none()
        );
    }
}
