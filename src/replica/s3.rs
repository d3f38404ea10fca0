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
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let key = ltx_key(&self.path, level, min, max);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .metadata(
                TIMESTAMP_META,
                timestamp.to_rfc3339_opts(SecondsFormat::Nanos, true),
            )
            .body(ByteStream::from(bytes))
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
