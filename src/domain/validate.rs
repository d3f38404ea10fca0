//! Field validation that collects every problem at once, so a client gets one
//! 400 listing all bad fields (keyed by their camelCase API names).

use super::money::{MAX_CENTS, Money};
use super::{DomainError, FieldErrors};
use chrono::{NaiveDate, NaiveTime};

/// Collects field errors while values are checked and normalised.
#[derive(Debug, Default)]
pub struct Check {
    errors: FieldErrors,
}

fn has_bad_control(s: &str, multiline: bool) -> bool {
    s.chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t')))
}

impl Check {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `field` (the first one per field wins).
    pub fn fail(&mut self, field: &str, why: impl Into<String>) {
        self.errors
            .entry(field.to_string())
            .or_insert_with(|| why.into());
    }

    /// Whether `field` already has a problem.
    pub fn has(&self, field: &str) -> bool {
        self.errors.contains_key(field)
    }

    /// A single-line text, trimmed, `min..=max` characters, no control characters.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) -> String {
        let v = value.trim();
        let n = v.chars().count();
        if n < min {
            self.fail(
                field,
                if min == 1 {
                    "is required".to_string()
                } else {
                    format!("must be at least {min} characters")
                },
            );
        } else if n > max {
            self.fail(field, format!("must be at most {max} characters"));
        } else if has_bad_control(v, false) {
            self.fail(field, "must not contain control characters");
        }
        v.to_string()
    }

    /// A multi-line text (newlines and tabs allowed), trimmed, at most `max` characters.
    pub fn multiline(&mut self, field: &str, value: &str, max: usize) -> String {
        let v = value.trim();
        if v.chars().count() > max {
            self.fail(field, format!("must be at most {max} characters"));
        } else if has_bad_control(v, true) {
            self.fail(field, "must not contain control characters");
        }
        v.to_string()
    }

    /// An optional e-mail address ("" allowed), normalised to lowercase.
    pub fn email_opt(&mut self, field: &str, value: &str) -> String {
        if value.trim().is_empty() {
            return String::new();
        }
        match super::user::Email::parse(value) {
            Ok(e) => e.as_str().to_string(),
            Err(_) => {
                self.fail(field, "must look like name@example.com");
                value.trim().to_string()
            }
        }
    }

    /// An optional phone number ("" allowed): digits, spaces and `+ ( ) - . / x`,
    /// with 7 to 15 digits. Returned trimmed as given.
    pub fn phone_opt(&mut self, field: &str, value: &str) -> String {
        let v = value.trim();
        if v.is_empty() {
            return String::new();
        }
        let allowed = v
            .chars()
            .all(|c| c.is_ascii_digit() || " +()-./xX".contains(c));
        let digits = phone_digits(v).len();
        if !allowed || !(7..=15).contains(&digits) || v.len() > 40 {
            self.fail(field, "must be a phone number with 7 to 15 digits");
        }
        v.to_string()
    }

    /// An optional calendar date `YYYY-MM-DD` between 2000 and 2100.
    pub fn date_opt(&mut self, field: &str, value: Option<&str>) -> Option<NaiveDate> {
        let v = value?.trim();
        match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
            Ok(d) if (2000..=2100).contains(&chrono::Datelike::year(&d)) && v.len() == 10 => {
                Some(d)
            }
            Ok(_) => {
                self.fail(field, "must be a date between 2000-01-01 and 2100-12-31");
                None
            }
            Err(_) => {
                self.fail(field, "must be a date like 2026-03-31");
                None
            }
        }
    }

    /// An optional clock time `HH:MM` (24-hour).
    pub fn time_opt(&mut self, field: &str, value: Option<&str>) -> Option<NaiveTime> {
        let v = value?.trim();
        match NaiveTime::parse_from_str(v, "%H:%M") {
            Ok(t) if v.len() == 5 => Some(t),
            _ => {
                self.fail(field, "must be a time like 09:30");
                None
            }
        }
    }

    /// Money that must be ≥ 0 and ≤ the absurdity cap.
    pub fn money_non_negative(&mut self, field: &str, m: Money) -> Money {
        if m.cents() < 0 {
            self.fail(field, "must not be negative");
        } else if m.cents() > MAX_CENTS {
            self.fail(field, "is too large");
        }
        m
    }

    /// A list of short labels (tags, skills): each trimmed, 1..=`max_len`
    /// characters, at most `max_items`, duplicates (case-insensitive) removed.
    pub fn labels(
        &mut self,
        field: &str,
        values: &[String],
        max_items: usize,
        max_len: usize,
    ) -> Vec<String> {
        if values.len() > max_items {
            self.fail(field, format!("must have at most {max_items} items"));
        }
        let mut out: Vec<String> = Vec::new();
        for v in values {
            let t = v.trim();
            if t.is_empty() || t.chars().count() > max_len || has_bad_control(t, false) {
                self.fail(
                    field,
                    format!("each item must be 1 to {max_len} characters"),
                );
                continue;
            }
            if !out.iter().any(|o| o.eq_ignore_ascii_case(t)) {
                out.push(t.to_string());
            }
        }
        out
    }

    /// `Ok(())` when nothing failed, else a validation error with every field.
    pub fn finish(self) -> Result<(), DomainError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Validation(self.errors))
        }
    }
}

/// Only the digits of a phone number (for matching "555-0101" with "(555) 0101").
pub fn phone_digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_problem() {
        let mut c = Check::new();
        c.text("name", "  ", 1, 10);
        c.text("company", &"x".repeat(11), 0, 10);
        c.email_opt("email", "nope");
        c.phone_opt("phone", "12");
        c.date_opt("due", Some("2026-02-30"));
        c.time_opt("at", Some("25:00"));
        c.money_non_negative("price", Money::from_cents(-1));
        c.labels("tags", &["ok".into(), "".into()], 5, 10);
        let DomainError::Validation(f) = c.finish().unwrap_err() else {
            panic!()
        };
        assert_eq!(f.len(), 8, "{f:?}");
        assert_eq!(f["name"], "is required");
    }

    #[test]
    fn accepts_and_normalises_good_values() {
        let mut c = Check::new();
        assert_eq!(c.text("name", " Ann ", 1, 10), "Ann");
        assert_eq!(c.email_opt("email", "A@B.co"), "a@b.co");
        assert_eq!(c.phone_opt("phone", "(555) 010-1234"), "(555) 010-1234");
        assert_eq!(
            c.labels(
                "tags",
                &["VIP".into(), "vip".into(), " gold ".into()],
                5,
                10
            ),
            ["VIP", "gold"]
        );
        assert!(c.date_opt("d", Some("2026-03-31")).is_some());
        assert!(c.time_opt("t", Some("09:30")).is_some());
        assert_eq!(c.multiline("notes", "a\nb", 10), "a\nb");
        assert!(c.finish().is_ok());
        assert_eq!(phone_digits("+1 (555) 010-1234"), "15550101234");
    }
}
