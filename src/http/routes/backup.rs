//! `GET /api/v1/system/backup` — the replica's state for the owner: whether
//! replication is on, where to (bucket and path, never credentials), how far
//! it has got and how it is going. The same facts as the `quant_replica_*`
//! metrics.

use super::api::resource;
use crate::http::auth::{Authed, OwnerOnly};
use crate::http::state::AppState;
use actix_web::{HttpResponse, web};
use serde_json::json;

/// Registers the backup status route (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/system/backup", "GET").route(web::get().to(status)));
}

async fn status(state: web::Data<AppState>, _who: Authed<OwnerOnly>) -> HttpResponse {
    let cfg = state.config().replica;
    let (_, wal_bytes) = state.db.file_sizes();
    let Some(shared) = &state.replica else {
        return HttpResponse::Ok().json(json!({
            "enabled": false,
            "walBytes": wal_bytes,
        }));
    };
    let s = shared.lock().map(|s| s.clone()).unwrap_or_default();
    let (bucket, path) = cfg.bucket_and_path().unwrap_or_default();
    HttpResponse::Ok().json(json!({
        "enabled": true,
        "bucket": bucket,
        "path": path,
        "endpoint": cfg.endpoint,
        "syncIntervalSeconds": cfg.sync_interval.as_secs_f64(),
        "lastTxid": format!("{:016x}", s.last_txid),
        "lastSuccess": s.last_success,
        "currentAsOf": s.current_as_of,
        "lagSeconds": s.lag_seconds(chrono::Utc::now()),
        "bytesTotal": s.bytes_total,
        "errorsTotal": s.errors_total,
        "lastError": s.last_error,
        "snapshotsTotal": s.snapshots_total,
        "filesTotal": s.files_total,
        "checkpointsTotal": s.checkpoints_total,
        "diskGuardTotal": s.disk_guard_total,
        "walBytes": wal_bytes,
    }))
}
