//! Monitoring: the Prometheus metrics registry exported on `/metrics`, with
//! process gauges read through `sysinfo` and database size read at scrape time.

pub mod metrics;
