//! Leads: a prospective job taken in by phone, e-mail or a web form. Intake
//! fields and their validation, the status rules (new → contacted →
//! converted | lost; `converted` only through conversion; converted and lost
//! leads are read-only), and what a conversion turns a lead into.

use super::DomainError;
use super::validate::{Check, phone_digits};
use serde::{Deserialize, Serialize};

/// How soon the prospect needs the work; becomes the work order's priority.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// Whenever convenient.
    Low,
    /// Normal.
    #[default]
    Medium,
    /// Soon.
    High,
    /// Emergency.
    Urgent,
}

impl Urgency {
    /// The stored name (also a work-order priority).
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Low => "low",
            Urgency::Medium => "medium",
            Urgency::High => "high",
            Urgency::Urgent => "urgent",
        }
    }

    /// Parses a stored name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "low" => Urgency::Low,
            "medium" => Urgency::Medium,
            "high" => Urgency::High,
            "urgent" => Urgency::Urgent,
            _ => return None,
        })
    }
}

/// Where a lead is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LeadStatus {
    /// Just taken in.
    New,
    /// Someone has talked to the prospect.
    Contacted,
    /// Became a customer and a work order (read-only).
    Converted,
    /// Did not become work (read-only).
    Lost,
}

impl LeadStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Contacted => "contacted",
            LeadStatus::Converted => "converted",
            LeadStatus::Lost => "lost",
        }
    }

    /// Parses a stored name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new" => LeadStatus::New,
            "contacted" => LeadStatus::Contacted,
            "converted" => LeadStatus::Converted,
            "lost" => LeadStatus::Lost,
            _ => return None,
        })
    }

    /// Whether the lead can still be edited and converted.
    pub fn is_open(self) -> bool {
        matches!(self, LeadStatus::New | LeadStatus::Contacted)
    }

    /// Fails with a conflict naming the status when the lead is read-only.
    pub fn ensure_open(self) -> Result<(), DomainError> {
        if self.is_open() {
            Ok(())
        } else {
            Err(DomainError::Conflict(format!(
                "this lead is {}; it can no longer be changed",
                self.as_str()
            )))
        }
    }

    /// Whether a PATCH may move a lead from `self` to `to`. `lost` needs a
    /// reason; `converted` is reached only through conversion. Fails with a
    /// conflict naming both statuses, or a validation error on `lostReason`.
    pub fn change_to(
        self,
        to: LeadStatus,
        lost_reason: Option<&str>,
    ) -> Result<Option<String>, DomainError> {
        self.ensure_open()?;
        let mut c = Check::new();
        let reason = lost_reason.map(|r| c.text("lostReason", r, 1, 500));
        c.finish()?;
        match (self, to) {
            (_, LeadStatus::Lost) => match reason {
                Some(r) => Ok(Some(r)),
                None => Err(DomainError::field(
                    "lostReason",
                    "is required when the status is lost",
                )),
            },
            _ if reason.is_some() => Err(DomainError::field(
                "lostReason",
                "is allowed only with status lost",
            )),
            (_, LeadStatus::Converted) => Err(DomainError::Conflict(
                "a lead becomes converted only through POST /api/v1/leads/{id}/convert".into(),
            )),
            (a, b) if a == b => Ok(None),
            (LeadStatus::New, LeadStatus::Contacted) => Ok(None),
            (a, b) => Err(DomainError::Conflict(format!(
                "a {} lead cannot go back to {}",
                a.as_str(),
                b.as_str()
            ))),
        }
    }
}

/// Body of `POST /leads`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LeadInput {
    /// Prospect's name (required on intake).
    pub name: Option<String>,
    /// Phone (this or e-mail is required).
    pub phone: Option<String>,
    /// E-mail (this or phone is required).
    pub email: Option<String>,
    /// What kind of work.
    pub service_type: Option<String>,
    /// What they need.
    pub description: Option<String>,
    /// How soon (default medium).
    pub urgency: Option<Urgency>,
    /// Where the lead came from (web form, referral, …).
    pub source: Option<String>,
}

/// Body of `PATCH /leads/{id}`: the intake fields plus a status change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LeadPatch {
    /// Name.
    pub name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Service type.
    pub service_type: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Urgency.
    pub urgency: Option<Urgency>,
    /// Source.
    pub source: Option<String>,
    /// `contacted` or `lost` (`converted` only through conversion).
    pub status: Option<LeadStatus>,
    /// Required with `lost`.
    pub lost_reason: Option<String>,
}

impl LeadPatch {
    /// Splits the intake fields from the status change.
    pub fn split(self) -> (LeadInput, Option<LeadStatus>, Option<String>) {
        (
            LeadInput {
                name: self.name,
                phone: self.phone,
                email: self.email,
                service_type: self.service_type,
                description: self.description,
                urgency: self.urgency,
                source: self.source,
            },
            self.status,
            self.lost_reason,
        )
    }
}

/// A lead's validated intake fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeadFields {
    /// Name (1..200).
    pub name: String,
    /// Phone as given ("" if none).
    pub phone: String,
    /// E-mail, lowercased ("" if none).
    pub email: String,
    /// Service type (0..100).
    pub service_type: String,
    /// Description (0..5000, multi-line).
    pub description: String,
    /// Urgency.
    pub urgency: Urgency,
    /// Source (0..100).
    pub source: String,
}

impl LeadFields {
    /// Merges `input` over `base` (the stored lead, or the empty default on
    /// intake) and validates the result. Fails with every bad field; with
    /// neither phone nor e-mail, both fields are named.
    pub fn merge(base: &LeadFields, input: LeadInput) -> Result<LeadFields, DomainError> {
        let mut c = Check::new();
        let name = c.text("name", input.name.as_deref().unwrap_or(&base.name), 1, 200);
        let phone = c.phone_opt("phone", input.phone.as_deref().unwrap_or(&base.phone));
        let email = c.email_opt("email", input.email.as_deref().unwrap_or(&base.email));
        if phone.is_empty() && email.is_empty() {
            c.fail("phone", "a phone number or an e-mail address is required");
            c.fail("email", "a phone number or an e-mail address is required");
        }
        let service_type = c.text(
            "serviceType",
            input.service_type.as_deref().unwrap_or(&base.service_type),
            0,
            100,
        );
        let description = c.multiline(
            "description",
            input.description.as_deref().unwrap_or(&base.description),
            5000,
        );
        let source = c.text(
            "source",
            input.source.as_deref().unwrap_or(&base.source),
            0,
            100,
        );
        c.finish()?;
        Ok(LeadFields {
            name,
            phone,
            email,
            service_type,
            description,
            urgency: input.urgency.unwrap_or(base.urgency),
            source,
        })
    }

    /// Digits of the phone, for matching a customer.
    pub fn phone_digits(&self) -> String {
        phone_digits(&self.phone)
    }

    /// The converted work order's service type: the lead's, or "General".
    pub fn work_order_service_type(&self) -> String {
        if self.service_type.is_empty() {
            "General".into()
        } else {
            self.service_type.clone()
        }
    }
}

/// A lead as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lead {
    /// UUIDv7.
    pub id: String,
    /// Intake fields.
    #[serde(flatten)]
    pub fields: LeadFields,
    /// Status.
    pub status: LeadStatus,
    /// The customer it became (once converted).
    pub customer_id: Option<String>,
    /// The work order it became (once converted).
    pub work_order_id: Option<String>,
    /// Why it was lost.
    pub lost_reason: Option<String>,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last changed.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(e: DomainError) -> Vec<String> {
        match e {
            DomainError::Validation(f) => f.into_keys().collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn intake_needs_a_name_and_a_way_to_reach_them() {
        let e = LeadFields::merge(&LeadFields::default(), LeadInput::default()).unwrap_err();
        assert_eq!(fields(e), ["email", "name", "phone"]);
        let ok = LeadFields::merge(
            &LeadFields::default(),
            LeadInput {
                name: Some(" Gina ".into()),
                email: Some("GINA@Example.com".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.email.as_str()),
            ("Gina", "gina@example.com")
        );
        assert_eq!(
            (ok.urgency, ok.work_order_service_type().as_str()),
            (Urgency::Medium, "General")
        );
        // Clearing the only contact route on an update is refused too.
        let e = LeadFields::merge(
            &ok,
            LeadInput {
                email: Some(String::new()),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(fields(e), ["email", "phone"]);
    }

    #[test]
    fn status_rules() {
        use LeadStatus::*;
        assert_eq!(New.change_to(Contacted, None), Ok(None));
        assert_eq!(Contacted.change_to(Contacted, None), Ok(None));
        assert_eq!(
            Contacted.change_to(Lost, Some(" went elsewhere ")),
            Ok(Some("went elsewhere".into()))
        );
        assert_eq!(
            fields(New.change_to(Lost, None).unwrap_err()),
            ["lostReason"]
        );
        assert_eq!(
            fields(New.change_to(Lost, Some("")).unwrap_err()),
            ["lostReason"]
        );
        assert_eq!(
            fields(New.change_to(Contacted, Some("x")).unwrap_err()),
            ["lostReason"]
        );
        assert!(matches!(
            Contacted.change_to(New, None),
            Err(DomainError::Conflict(_))
        ));
        assert!(matches!(
            New.change_to(Converted, None),
            Err(DomainError::Conflict(_))
        ));
        for closed in [Converted, Lost] {
            assert!(
                matches!(closed.change_to(Contacted, None), Err(DomainError::Conflict(m)) if m.contains(closed.as_str()))
            );
            assert!(closed.ensure_open().is_err());
        }
        for s in [New, Contacted, Converted, Lost] {
            assert_eq!(LeadStatus::parse(s.as_str()), Some(s));
        }
    }
}
