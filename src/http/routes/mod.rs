//! Route handlers, grouped by audience: `system` (health, readiness, metrics),
//! `setup` (the first-run owner page), `api` (JSON API v1).

pub mod analytics;
pub mod api;
pub mod attachments;
pub mod audit;
pub mod backup;
pub mod customers;
pub mod employees;
pub mod equipment;
pub mod follow_ups;
pub mod invoices;
pub mod leads;
pub mod setup;
pub mod system;
pub mod users;
pub mod work_orders;
