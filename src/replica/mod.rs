//! Litestream-compatible replication: WAL capture, LTX encode, S3 store,
//! restore. The bucket layout and rules are Litestream 0.5's, so the real
//! `litestream restore` rebuilds a database from Quant's replica.

pub mod attachments;
pub mod compact;
pub mod ltx;
pub mod metrics;
pub mod replicator;
pub mod restore;
pub mod s3;
pub mod wal;
