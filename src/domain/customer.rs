//! Customers and their contacts: the fields a customer has, how input is
//! validated and merged (create and partial update share one path), and how a
//! free-text search box becomes an FTS5 query.

use super::DomainError;
use super::validate::{Check, phone_digits};
use serde::{Deserialize, Serialize};

/// A service address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Address {
    /// e.g. "Home", "Rental unit".
    pub label: String,
    /// Street and number (required).
    pub line1: String,
    /// Apartment, suite.
    pub line2: String,
    /// City.
    pub city: String,
    /// State, province or region.
    pub region: String,
    /// Postal code.
    pub postal_code: String,
}

impl Address {
    /// One line for search and display: "12 Main St, Apt 2, Springfield, IL 62701".
    pub fn one_line(&self) -> String {
        let region_zip = [self.region.as_str(), self.postal_code.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        [
            self.line1.as_str(),
            self.line2.as_str(),
            self.city.as_str(),
            region_zip.as_str(),
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// Body of `POST /customers` and `PATCH /customers/{id}`; absent fields are
/// left as they are (PATCH) or take their defaults (POST, where `name` is required).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CustomerInput {
    /// Person or household name.
    pub name: Option<String>,
    /// Company name.
    pub company: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Free notes.
    pub notes: Option<String>,
    /// Tags.
    pub tags: Option<Vec<String>>,
    /// Service addresses (replaces the whole list).
    pub addresses: Option<Vec<Address>>,
}

/// A customer's validated fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerFields {
    /// Name (1..200).
    pub name: String,
    /// Company (0..200).
    pub company: String,
    /// E-mail, lowercased ("" if none).
    pub email: String,
    /// Phone as given ("" if none).
    pub phone: String,
    /// Service addresses (0..20).
    pub addresses: Vec<Address>,
    /// Notes (0..5000, multi-line).
    pub notes: String,
    /// Tags (0..20, each 1..40).
    pub tags: Vec<String>,
}

impl CustomerFields {
    /// Merges `input` over `base` (the stored customer for an update, or the
    /// empty default for a create) and validates the result. Fails with every
    /// bad field.
    pub fn merge(
        base: &CustomerFields,
        input: CustomerInput,
    ) -> Result<CustomerFields, DomainError> {
        let mut c = Check::new();
        let name = c.text("name", input.name.as_deref().unwrap_or(&base.name), 1, 200);
        let company = c.text(
            "company",
            input.company.as_deref().unwrap_or(&base.company),
            0,
            200,
        );
        let email = c.email_opt("email", input.email.as_deref().unwrap_or(&base.email));
        let phone = c.phone_opt("phone", input.phone.as_deref().unwrap_or(&base.phone));
        let notes = c.multiline("notes", input.notes.as_deref().unwrap_or(&base.notes), 5000);
        let tags = match input.tags {
            Some(t) => c.labels("tags", &t, 20, 40),
            None => base.tags.clone(),
        };
        let addresses = match input.addresses {
            Some(list) => {
                if list.len() > 20 {
                    c.fail("addresses", "must have at most 20 addresses");
                }
                list.into_iter()
                    .enumerate()
                    .map(|(i, a)| Address {
                        label: c.text(&format!("addresses[{i}].label"), &a.label, 0, 60),
                        line1: c.text(&format!("addresses[{i}].line1"), &a.line1, 1, 200),
                        line2: c.text(&format!("addresses[{i}].line2"), &a.line2, 0, 200),
                        city: c.text(&format!("addresses[{i}].city"), &a.city, 0, 100),
                        region: c.text(&format!("addresses[{i}].region"), &a.region, 0, 100),
                        postal_code: c.text(
                            &format!("addresses[{i}].postalCode"),
                            &a.postal_code,
                            0,
                            20,
                        ),
                    })
                    .collect()
            }
            None => base.addresses.clone(),
        };
        c.finish()?;
        Ok(CustomerFields {
            name,
            company,
            email,
            phone,
            addresses,
            notes,
            tags,
        })
    }

    /// Digits of the phone number, for matching.
    pub fn phone_digits(&self) -> String {
        phone_digits(&self.phone)
    }
}

/// A customer as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// UUIDv7.
    pub id: String,
    /// The fields.
    #[serde(flatten)]
    pub fields: CustomerFields,
    /// Created (RFC 3339).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last changed (RFC 3339).
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// Body of `POST/PATCH …/contacts`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContactInput {
    /// Name (required on create).
    pub name: Option<String>,
    /// Role, e.g. "Property manager".
    pub role: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

/// A contact's validated fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactFields {
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
    /// E-mail.
    pub email: String,
    /// Phone.
    pub phone: String,
}

impl ContactFields {
    /// Merges and validates like [`CustomerFields::merge`].
    pub fn merge(base: &ContactFields, input: ContactInput) -> Result<ContactFields, DomainError> {
        let mut c = Check::new();
        let f = ContactFields {
            name: c.text("name", input.name.as_deref().unwrap_or(&base.name), 1, 200),
            role: c.text("role", input.role.as_deref().unwrap_or(&base.role), 0, 100),
            email: c.email_opt("email", input.email.as_deref().unwrap_or(&base.email)),
            phone: c.phone_opt("phone", input.phone.as_deref().unwrap_or(&base.phone)),
        };
        c.finish()?;
        Ok(f)
    }
}

/// A contact as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// UUIDv7.
    pub id: String,
    /// Its customer.
    pub customer_id: String,
    /// Fields.
    #[serde(flatten)]
    pub fields: ContactFields,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last changed.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// Turns what a person typed in a search box into an FTS5 query: every run of
/// letters/digits becomes a quoted prefix term, all terms must match.
/// `None` when there is nothing searchable. At most 8 terms are used.
pub fn fts_query(q: &str) -> Option<String> {
    let terms: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(8)
        .map(|t| format!("\"{}\"*", t.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_requires_a_name_and_validates_everything() {
        let e = CustomerFields::merge(
            &CustomerFields::default(),
            CustomerInput {
                email: Some("bad".into()),
                addresses: Some(vec![Address::default()]),
                ..Default::default()
            },
        )
        .unwrap_err();
        let DomainError::Validation(f) = e else {
            panic!()
        };
        assert_eq!(f["name"], "is required");
        assert!(f.contains_key("email"));
        assert!(f.contains_key("addresses[0].line1"));
    }

    #[test]
    fn patch_keeps_absent_fields() {
        let base = CustomerFields::merge(
            &CustomerFields::default(),
            CustomerInput {
                name: Some("Ann".into()),
                phone: Some("555-0101 22".into()),
                tags: Some(vec!["vip".into()]),
                ..Default::default()
            },
        )
        .unwrap();
        let next = CustomerFields::merge(
            &base,
            CustomerInput {
                company: Some("Acme".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            (next.name.as_str(), next.company.as_str(), next.tags.len()),
            ("Ann", "Acme", 1)
        );
        assert_eq!(next.phone_digits(), "555010122");
    }

    #[test]
    fn search_terms_are_quoted_prefixes() {
        assert_eq!(fts_query("Ann  Smi").as_deref(), Some("\"ann\"* \"smi\"*"));
        assert_eq!(fts_query("555-0101").as_deref(), Some("\"555\"* \"0101\"*"));
        assert_eq!(fts_query("\" OR * ( )"), Some("\"or\"*".into()));
        assert_eq!(fts_query("--- !!"), None);
        assert_eq!(
            Address {
                line1: "1 Main".into(),
                city: "X".into(),
                region: "IL".into(),
                postal_code: "6".into(),
                ..Default::default()
            }
            .one_line(),
            "1 Main, X, IL 6"
        );
    }
}
