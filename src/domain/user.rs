//! Users and roles: the three kinds of people who log in to Quant, the e-mail
//! address that names them and the rules a new password must meet.

use super::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a user may do. Every route declares which roles it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs the business: everything, including users, tokens and the audit log.
    Owner,
    /// Office staff: customers, scheduling, invoices.
    Office,
    /// Field technician: only their own jobs.
    Technician,
}

impl Role {
    /// All roles, in order of privilege.
    pub const ALL: [Role; 3] = [Role::Owner, Role::Office, Role::Technician];

    /// The lowercase name used in the API, the CLI and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Office => "office",
            Role::Technician => "technician",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = DomainError;
    /// Fails with a `role` field error naming the allowed values.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Role::Owner),
            "office" => Ok(Role::Office),
            "technician" => Ok(Role::Technician),
            _ => Err(DomainError::field(
                "role",
                "must be one of owner, office, technician",
            )),
        }
    }
}

/// A syntactically plausible e-mail address, trimmed and lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses an address. Fails with an `email` field error when it is empty,
    /// longer than 254 bytes, has no single `@` with text on both sides, has
    /// whitespace or control characters, or its domain has no dot.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim().to_lowercase();
        let bad = |why: &str| Err(DomainError::field("email", why));
        if s.is_empty() {
            return bad("is required");
        }
        if s.len() > 254 {
            return bad("must be at most 254 characters");
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("must not contain spaces");
        }
        let Some((local, domain)) = s.split_once('@') else {
            return bad("must look like name@example.com");
        };
        if local.is_empty()
            || domain.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return bad("must look like name@example.com");
        }
        Ok(Email(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest password accepted (bytes); bounds the hashing work a request can ask for.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Checks a new password against the policy: at least `min_len` characters,
/// at most [`MAX_PASSWORD_LEN`] bytes, not only whitespace. Fails with a
/// `password` field error saying which rule is broken.
pub fn check_new_password(password: &str, min_len: usize) -> Result<(), DomainError> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(DomainError::field(
            "password",
            format!("must be at most {MAX_PASSWORD_LEN} bytes"),
        ));
    }
    if password.chars().count() < min_len {
        return Err(DomainError::field(
            "password",
            format!("must be at least {min_len} characters"),
        ));
    }
    if password.trim().is_empty() {
        return Err(DomainError::field("password", "must not be only spaces"));
    }
    Ok(())
}

/// Checks a display name: at most 200 characters, no control characters.
/// Fails with a `name` field error.
pub fn check_name(name: &str) -> Result<String, DomainError> {
    let n = name.trim();
    if n.chars().count() > 200 {
        return Err(DomainError::field("name", "must be at most 200 characters"));
    }
    if n.chars().any(char::is_control) {
        return Err(DomainError::field(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_reject_unknown() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("admin".parse::<Role>().is_err());
        assert!("Owner".parse::<Role>().is_err());
    }

    #[test]
    fn email_parsing() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "a b@x.com",
            "a@b@c.com",
            "a@localhost",
            "a@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(Email::parse(&format!("{}@x.com", "a".repeat(260))).is_err());
    }

    #[test]
    fn password_policy() {
        assert!(check_new_password("short", 10).is_err());
        assert!(check_new_password("          ", 10).is_err());
        assert!(check_new_password(&"x".repeat(2000), 10).is_err());
        assert!(check_new_password("correct horse", 10).is_ok());
    }
}
