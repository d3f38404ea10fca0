//! Employees: the people who do the work (technicians, and office staff who
//! also go out on jobs). What fields an employee has, how input is validated
//! and merged (create and partial update share one path), and the hourly cost
//! rate the business pays them.

use super::DomainError;
use super::money::Money;
use super::validate::Check;
use serde::{Deserialize, Deserializer, Serialize};

/// Highest hourly cost rate accepted: $1,000.00 per hour.
pub const MAX_HOURLY_RATE_CENTS: i64 = 100_000;
/// Most skills/certifications per employee.
pub const MAX_SKILLS: usize = 30;
/// Longest skill label, in characters.
pub const MAX_SKILL_LEN: usize = 60;

/// Deserialises a field that may be absent (`None`), `null` (`Some(None)`)
/// or a value (`Some(Some(v))`), so a PATCH can clear it. Use with
/// `#[serde(default, deserialize_with = "nullable")]`. Fails as `T` fails.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Body of `POST /employees` and `PATCH /employees/{id}`; absent fields are
/// left as they are (PATCH) or take their defaults (POST, where `name` is required).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EmployeeInput {
    /// Full name.
    pub name: Option<String>,
    /// E-mail ("" clears it).
    pub email: Option<String>,
    /// The login this employee uses; `null` or `""` unlinks.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub user_id: Option<Option<String>>,
    /// Trade, e.g. "Plumber".
    pub trade: Option<String>,
    /// Skills and certifications (replaces the whole list).
    pub skills: Option<Vec<String>>,
    /// What an hour of this person's time costs the business.
    pub hourly_rate: Option<Money>,
    /// Whether they can be assigned new work.
    pub active: Option<bool>,
}

/// An employee's validated fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmployeeFields {
    /// Name (1..200).
    pub name: String,
    /// E-mail, lowercased ("" if none).
    pub email: String,
    /// Linked user id (lowercase hyphenated UUID), if any. Existence and
    /// one-employee-per-user are checked by the repository.
    pub user_id: Option<String>,
    /// Trade (0..100).
    pub trade: String,
    /// Skills and certifications (0..30, each 1..60, case-insensitively distinct).
    pub skills: Vec<String>,
    /// Hourly cost to the business (0..=1000.00).
    pub hourly_rate: Money,
    /// Active employees can be assigned work.
    pub active: bool,
}

impl Default for EmployeeFields {
    fn default() -> Self {
        Self {
            name: String::new(),
            email: String::new(),
            user_id: None,
            trade: String::new(),
            skills: Vec::new(),
            hourly_rate: Money::ZERO,
            active: true,
        }
    }
}

impl EmployeeFields {
    /// Merges `input` over `base` (the stored employee for an update, or the
    /// default for a create) and validates the result. Fails with every bad field.
    pub fn merge(
        base: &EmployeeFields,
        input: EmployeeInput,
    ) -> Result<EmployeeFields, DomainError> {
        let mut c = Check::new();
        let name = c.text("name", input.name.as_deref().unwrap_or(&base.name), 1, 200);
        let email = c.email_opt("email", input.email.as_deref().unwrap_or(&base.email));
        let trade = c.text(
            "trade",
            input.trade.as_deref().unwrap_or(&base.trade),
            0,
            100,
        );
        let skills = match input.skills {
            Some(s) => c.labels("skills", &s, MAX_SKILLS, MAX_SKILL_LEN),
            None => base.skills.clone(),
        };
        let hourly_rate = match input.hourly_rate {
            Some(m) => {
                let m = c.money_non_negative("hourlyRate", m);
                if m.cents() > MAX_HOURLY_RATE_CENTS && !c.has("hourlyRate") {
                    c.fail(
                        "hourlyRate",
                        format!(
                            "must be at most {}",
                            Money::from_cents(MAX_HOURLY_RATE_CENTS)
                        ),
                    );
                }
                m
            }
            None => base.hourly_rate,
        };
        let user_id = match input.user_id {
            None => base.user_id.clone(),
            Some(None) => None,
            Some(Some(raw)) if raw.trim().is_empty() => None,
            Some(Some(raw)) => match super::ids::parse_id(raw.trim()) {
                Some(u) => Some(u.to_string()),
                None => {
                    c.fail("userId", "no such user");
                    None
                }
            },
        };
        c.finish()?;
        Ok(EmployeeFields {
            name,
            email,
            user_id,
            trade,
            skills,
            hourly_rate,
            active: input.active.unwrap_or(base.active),
        })
    }

    /// Whether the employee lists `skill` (case-insensitive exact match).
    pub fn has_skill(&self, skill: &str) -> bool {
        let s = skill.trim().to_lowercase();
        self.skills.iter().any(|k| k.to_lowercase() == s)
    }
}

/// An employee as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Employee {
    /// UUIDv7.
    pub id: String,
    /// The fields.
    #[serde(flatten)]
    pub fields: EmployeeFields,
    /// Created (RFC 3339).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last changed (RFC 3339).
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// Makes `s` a literal inside a SQL `LIKE … ESCAPE '\'` pattern: `%`, `_`
/// and `\` lose their special meaning. Returns `%s%` (substring match).
pub fn like_contains(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(e: DomainError) -> super::super::FieldErrors {
        match e {
            DomainError::Validation(f) => f,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_needs_only_a_name_and_defaults_are_sane() {
        let f = EmployeeFields::merge(
            &EmployeeFields::default(),
            EmployeeInput {
                name: Some(" Pat ".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(f.name, "Pat");
        assert!(f.active);
        assert_eq!(f.hourly_rate, Money::ZERO);
        assert_eq!(f.user_id, None);
        let e = fields(
            EmployeeFields::merge(&EmployeeFields::default(), EmployeeInput::default())
                .unwrap_err(),
        );
        assert_eq!(e["name"], "is required");
    }

    #[test]
    fn validates_rate_skills_email_and_user_id() {
        let e = fields(
            EmployeeFields::merge(
                &EmployeeFields::default(),
                EmployeeInput {
                    name: Some("Pat".into()),
                    email: Some("nope".into()),
                    hourly_rate: Some(Money::from_cents(100_001)),
                    skills: Some(vec!["x".repeat(61)]),
                    user_id: Some(Some("not-a-uuid".into())),
                    ..Default::default()
                },
            )
            .unwrap_err(),
        );
        assert_eq!(e.len(), 4, "{e:?}");
        assert_eq!(e["hourlyRate"], "must be at most 1000.00");
        assert_eq!(e["userId"], "no such user");
        let e = fields(
            EmployeeFields::merge(
                &EmployeeFields::default(),
                EmployeeInput {
                    name: Some("Pat".into()),
                    hourly_rate: Some(Money::from_cents(-1)),
                    skills: Some((0..31).map(|i| format!("s{i}")).collect()),
                    ..Default::default()
                },
            )
            .unwrap_err(),
        );
        assert_eq!(e["hourlyRate"], "must not be negative");
        assert!(e.contains_key("skills"));
        let ok = EmployeeFields::merge(
            &EmployeeFields::default(),
            EmployeeInput {
                name: Some("Pat".into()),
                hourly_rate: Some(Money::from_cents(100_000)),
                skills: Some(vec!["EPA 608".into(), "epa 608".into(), "Gas".into()]),
                user_id: Some(Some("0190B7A0-0000-7000-8000-000000000001".into())),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(ok.skills, ["EPA 608", "Gas"]);
        assert_eq!(
            ok.user_id.as_deref(),
            Some("0190b7a0-0000-7000-8000-000000000001")
        );
        assert!(ok.has_skill("gas"));
    }

    #[test]
    fn patch_keeps_absent_fields_and_null_unlinks() {
        let base = EmployeeFields {
            name: "Pat".into(),
            user_id: Some("u".into()),
            skills: vec!["Gas".into()],
            ..Default::default()
        };
        let next = EmployeeFields::merge(
            &base,
            EmployeeInput {
                active: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            (next.user_id.as_deref(), next.active, next.skills.len()),
            (Some("u"), false, 1)
        );
        let next = EmployeeFields::merge(
            &base,
            EmployeeInput {
                user_id: Some(None),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(next.user_id, None);
    }

    #[test]
    fn nullable_tells_absent_from_null() {
        let i: EmployeeInput = serde_json::from_str(r#"{"userId": null}"#).unwrap();
        assert_eq!(i.user_id, Some(None));
        let i: EmployeeInput = serde_json::from_str(r#"{}"#).unwrap();
        assert_eq!(i.user_id, None);
        let i: EmployeeInput = serde_json::from_str(r#"{"userId": "x"}"#).unwrap();
        assert_eq!(i.user_id, Some(Some("x".into())));
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_contains("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
