//! Pure domain types and rules. Nothing here touches the database or HTTP, so
//! every rule is testable on its own. Inputs are parsed into newtypes at the
//! boundary ("parse, don't validate").

/// Local analytics: medians, scores, utilization, recommendation rules.
pub mod analytics;
/// Invoices and payments: the invoice status machine and payment rules.
pub mod billing;
/// Customers, contacts and customer search.
pub mod customer;
/// Employees: trade, skills, hourly cost rate, linked user.
pub mod employee;
/// Equipment (status, hourly cost, maintenance) and loadouts.
pub mod equipment;
/// Customer follow-ups and their statuses.
pub mod follow_up;
/// Public identifiers (UUIDv7 strings).
pub mod ids;
/// Invoice arithmetic: lines, subtotal, tax, total.
pub mod invoice;
/// Leads: intake, status rules, conversion.
pub mod lead;
/// Money in integer cents, the one rounding rule, durations in minutes.
pub mod money;
/// Users, roles, e-mail addresses and password rules.
pub mod user;
/// Field validation collecting every problem at once.
pub mod validate;
/// Work orders: state machine, editable fields, booking windows, API view.
pub mod work_order;

use std::collections::BTreeMap;

/// Per-field validation messages, keyed by the API (camelCase) field name.
pub type FieldErrors = BTreeMap<String, String>;

/// The domain layer's error: what the caller did wrong, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// One or more fields are invalid; each entry names the field and why.
    #[error("validation failed")]
    Validation(FieldErrors),
    /// The action conflicts with the current state (e.g. an invalid transition).
    #[error("{0}")]
    Conflict(String),
}

impl DomainError {
    /// A validation error for a single field.
    pub fn field(name: &str, why: impl Into<String>) -> Self {
        let mut m = FieldErrors::new();
        m.insert(name.to_string(), why.into());
        DomainError::Validation(m)
    }
}
