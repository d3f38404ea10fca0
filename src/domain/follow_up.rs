//! Customer follow-ups: a call or visit due on a date after a job (created
//! automatically when a work order is completed) or added by hand. Statuses
//! open → done | cancelled, and back to open; `completedAt` is set when a
//! follow-up becomes done and cleared when it leaves done.

use super::DomainError;
use super::ids::parse_id;
use super::validate::Check;
use serde::{Deserialize, Serialize};

/// Where a follow-up is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FollowUpStatus {
    /// To do.
    Open,
    /// Done.
    Done,
    /// No longer needed.
    Cancelled,
}

impl FollowUpStatus {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpStatus::Open => "open",
            FollowUpStatus::Done => "done",
            FollowUpStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => FollowUpStatus::Open,
            "done" => FollowUpStatus::Done,
            "cancelled" => FollowUpStatus::Cancelled,
            _ => return None,
        })
    }
}

/// Body of `POST /follow-ups` (a follow-up added by hand).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FollowUpInput {
    /// The customer (required).
    pub customer_id: Option<String>,
    /// The job it follows up, if any (must be the same customer's).
    pub work_order_id: Option<String>,
    /// Due date `YYYY-MM-DD` (required).
    #[schema(format = Date)]
    pub due_date: Option<String>,
    /// What to do (0..2000).
    pub note: Option<String>,
}

/// Body of `PATCH /follow-ups/{id}`; absent fields are kept.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FollowUpPatch {
    /// New status.
    pub status: Option<FollowUpStatus>,
    /// New note.
    pub note: Option<String>,
    /// New due date.
    #[schema(format = Date)]
    pub due_date: Option<String>,
}

/// A new follow-up's validated fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFollowUp {
    /// The customer.
    pub customer_id: String,
    /// The work order, if any.
    pub work_order_id: Option<String>,
    /// `YYYY-MM-DD`.
    pub due_date: String,
    /// Note.
    pub note: String,
}

fn id_field(c: &mut Check, field: &str, v: Option<&str>, required: bool) -> Option<String> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => {
            if required {
                c.fail(field, "is required");
            }
            None
        }
        Some(s) => match parse_id(s) {
            Some(u) => Some(u.to_string()),
            None => {
                c.fail(field, "must be an id");
                None
            }
        },
    }
}

impl NewFollowUp {
    /// Validates a manual follow-up. Fails with every bad field (whether the
    /// customer and work order exist is checked by the repository).
    pub fn parse(input: FollowUpInput) -> Result<NewFollowUp, DomainError> {
        let mut c = Check::new();
        let customer_id = id_field(&mut c, "customerId", input.customer_id.as_deref(), true);
        let work_order_id = id_field(&mut c, "workOrderId", input.work_order_id.as_deref(), false);
        let due = c.date_opt("dueDate", input.due_date.as_deref());
        if input.due_date.is_none() {
            c.fail("dueDate", "is required");
        }
        let note = c.multiline("note", input.note.as_deref().unwrap_or(""), 2000);
        c.finish()?;
        match (customer_id, due) {
            (Some(customer_id), Some(due)) => Ok(NewFollowUp {
                customer_id,
                work_order_id,
                due_date: due.format("%Y-%m-%d").to_string(),
                note,
            }),
            _ => Err(DomainError::field("customerId", "is required")),
        }
    }
}

/// The editable part of a follow-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpFields {
    /// Status.
    pub status: FollowUpStatus,
    /// `YYYY-MM-DD`.
    pub due_date: String,
    /// Note.
    pub note: String,
    /// When it became done (RFC 3339), while done.
    pub completed_at: Option<String>,
}

impl FollowUpFields {
    /// Applies `patch` to `base`; `now` (RFC 3339) becomes `completedAt` when
    /// the follow-up turns done. Fails with every bad field.
    pub fn merge(
        base: &FollowUpFields,
        patch: FollowUpPatch,
        now: &str,
    ) -> Result<FollowUpFields, DomainError> {
        let mut c = Check::new();
        let due = match patch.due_date.as_deref() {
            Some(d) => c
                .date_opt("dueDate", Some(d))
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            None => base.due_date.clone(),
        };
        let note = c.multiline("note", patch.note.as_deref().unwrap_or(&base.note), 2000);
        c.finish()?;
        let status = patch.status.unwrap_or(base.status);
        let completed_at = match (base.status, status) {
            (FollowUpStatus::Done, FollowUpStatus::Done) => base.completed_at.clone(),
            (_, FollowUpStatus::Done) => Some(now.to_string()),
            _ => None,
        };
        Ok(FollowUpFields {
            status,
            due_date: due,
            note,
            completed_at,
        })
    }
}

/// A follow-up as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FollowUp {
    /// UUIDv7.
    pub id: String,
    /// The job it follows, if any.
    pub work_order_id: Option<String>,
    /// "WO-000123", if any.
    pub work_order_number: Option<String>,
    /// The customer.
    pub customer_id: String,
    /// The customer's name.
    pub customer_name: String,
    /// Due date (business time zone).
    #[schema(format = Date)]
    pub due_date: String,
    /// Status.
    pub status: FollowUpStatus,
    /// Note.
    pub note: String,
    /// When it was done.
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last changed.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl FollowUp {
    /// The editable part.
    pub fn fields(&self) -> FollowUpFields {
        FollowUpFields {
            status: self.status,
            due_date: self.due_date.clone(),
            note: self.note.clone(),
            completed_at: self.completed_at.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_follow_ups_need_a_customer_and_a_date() {
        let DomainError::Validation(f) = NewFollowUp::parse(FollowUpInput {
            work_order_id: Some("nope".into()),
            note: Some("x".repeat(2001)),
            ..Default::default()
        })
        .unwrap_err() else {
            panic!()
        };
        assert_eq!(
            f.keys().map(String::as_str).collect::<Vec<_>>(),
            ["customerId", "dueDate", "note", "workOrderId"]
        );
        let ok = NewFollowUp::parse(FollowUpInput {
            customer_id: Some("0190b7a0-0000-7000-8000-000000000000".into()),
            due_date: Some("2026-04-01".into()),
            note: Some(" call back ".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (ok.due_date.as_str(), ok.note.as_str()),
            ("2026-04-01", "call back")
        );
    }

    #[test]
    fn done_sets_and_reopening_clears_completed_at() {
        let open = FollowUpFields {
            status: FollowUpStatus::Open,
            due_date: "2026-04-01".into(),
            note: String::new(),
            completed_at: None,
        };
        let patch = |s| FollowUpPatch {
            status: Some(s),
            ..Default::default()
        };
        let done = FollowUpFields::merge(&open, patch(FollowUpStatus::Done), "T1").unwrap();
        assert_eq!(done.completed_at.as_deref(), Some("T1"));
        let again = FollowUpFields::merge(&done, patch(FollowUpStatus::Done), "T2").unwrap();
        assert_eq!(again.completed_at.as_deref(), Some("T1"));
        let reopened = FollowUpFields::merge(&done, patch(FollowUpStatus::Open), "T3").unwrap();
        assert_eq!(reopened.completed_at, None);
        let bad = FollowUpFields::merge(
            &open,
            FollowUpPatch {
                due_date: Some("tomorrow".into()),
                ..Default::default()
            },
            "T",
        );
        assert!(bad.is_err());
    }
}
