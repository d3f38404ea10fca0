//! Route handlers, grouped by audience: `system` (health, readiness, metrics),
//! `setup` (the first-run owner page), `api` (JSON API v1).

pub mod analytics;
pub mod api;
pub mod customers;
pub mod setup;
pub mod system;
