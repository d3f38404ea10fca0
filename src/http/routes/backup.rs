//! `GET /api/v1/system/backup` — the replica's state for the owner: whether
//! replication is on, where to (bucket and path, never credentials), how far
//! it has got and how it is going. The same facts as the `quant_replica_*`
//! metrics.

use super::api::resource;
use crate::http::auth::{Authed, OwnerOnly};
use crate::http::openapi as doc;
use crate::http::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Registers the backup status route (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/system/backup", "GET").route(web::get().to(status)));
}

/// The backup status. Fields other than `enabled` and `walBytes` are null
/// (or 0) while `[replica]` is off.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackupStatus {
    /// Whether `[replica] url` is set and the replicator runs.
    enabled: bool,
    /// The bucket.
    bucket: Option<String>,
    /// The path inside the bucket.
    path: Option<String>,
    /// The S3 endpoint, when not AWS.
    endpoint: Option<String>,
    /// How often changes are shipped.
    sync_interval_seconds: Option<f64>,
    /// Last TXID in the replica (16 hex digits).
    last_txid: Option<String>,
    /// When a sync last succeeded.
    last_success: Option<DateTime<Utc>>,
    /// Everything committed before this instant is in the replica.
    current_as_of: Option<DateTime<Utc>>,
    /// Seconds since `currentAsOf` (the replication lag).
    lag_seconds: Option<f64>,
    /// Bytes uploaded since start.
    bytes_total: u64,
    /// Failed sync attempts since start.
    errors_total: u64,
    /// The last error (never containing credentials).
    last_error: Option<String>,
    /// Snapshots written since start.
    snapshots_total: u64,
    /// Level-0 files written since start.
    files_total: u64,
    /// Checkpoints that emptied the WAL.
    checkpoints_total: u64,
    /// Times the disk guard checkpointed unshipped commits.
    disk_guard_total: u64,
    /// Current size of the write-ahead log.
    wal_bytes: u64,
}

#[utoipa::path(
    get,
    path = "/api/v1/system/backup",
    tag = "system",
    responses(
        (status = 200, description = "Replication status", body = BackupStatus),
        doc::Forbidden,
    ),
)]
async fn status(state: web::Data<AppState>, _who: Authed<OwnerOnly>) -> HttpResponse {
    let cfg = state.config().replica;
    let (_, wal_bytes) = state.db.file_sizes();
    let Some(shared) = &state.replica else {
        return HttpResponse::Ok().json(BackupStatus {
            enabled: false,
            bucket: None,
            path: None,
            endpoint: None,
            sync_interval_seconds: None,
            last_txid: None,
            last_success: None,
            current_as_of: None,
            lag_seconds: None,
            bytes_total: 0,
            errors_total: 0,
            last_error: None,
            snapshots_total: 0,
            files_total: 0,
            checkpoints_total: 0,
            disk_guard_total: 0,
            wal_bytes,
        });
    };
    let s = shared.lock().map(|s| s.clone()).unwrap_or_default();
    let (bucket, path) = cfg.bucket_and_path().unwrap_or_default();
    HttpResponse::Ok().json(BackupStatus {
        enabled: true,
        bucket: Some(bucket),
        path: Some(path),
        endpoint: Some(cfg.endpoint.clone()).filter(|e| !e.is_empty()),
        sync_interval_seconds: Some(cfg.sync_interval.as_secs_f64()),
        last_txid: Some(format!("{:016x}", s.last_txid)),
        last_success: s.last_success,
        current_as_of: s.current_as_of,
        lag_seconds: s.lag_seconds(state.clock.now()),
        bytes_total: s.bytes_total,
        errors_total: s.errors_total,
        last_error: s.last_error,
        snapshots_total: s.snapshots_total,
        files_total: s.files_total,
        checkpoints_total: s.checkpoints_total,
        disk_guard_total: s.disk_guard_total,
        wal_bytes,
    })
}
