//! Monitoring: the Prometheus metrics registry exported on `/metrics`, with
//! process gauges read through `sysinfo`, database size and the business gauges
//! (`business`) read at scrape time.

pub mod business;
pub mod metrics;
