//! Equipment and loadouts: the tools, vehicles and machines a business owns
//! (what an hour of each costs, whether it can be used, when it is due for
//! maintenance) and loadouts, the named sets of equipment a job takes along.

use super::employee::nullable;
use super::money::Money;
use super::validate::Check;
use super::{DomainError, FieldErrors};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Highest hourly cost accepted for one piece of equipment: $10,000.00 per hour.
pub const MAX_EQUIPMENT_HOURLY_CENTS: i64 = 1_000_000;
/// Most equipment items in one loadout.
pub const MAX_LOADOUT_ITEMS: usize = 50;

/// Whether a piece of equipment can be used. In JSON a snake_case string;
/// anything else (another string, a number) is a 400 naming the field.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum EquipmentStatus {
    /// Ready for jobs.
    #[default]
    Available,
    /// Out on a job.
    InUse,
    /// Being serviced.
    Maintenance,
    /// No longer used; cannot be added to loadouts.
    Retired,
}

impl EquipmentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [EquipmentStatus; 4] = [
        EquipmentStatus::Available,
        EquipmentStatus::InUse,
        EquipmentStatus::Maintenance,
        EquipmentStatus::Retired,
    ];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EquipmentStatus::Available => "available",
            EquipmentStatus::InUse => "in_use",
            EquipmentStatus::Maintenance => "maintenance",
            EquipmentStatus::Retired => "retired",
        }
    }
}

impl fmt::Display for EquipmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a client is told when a status is not one of the four names.
pub const STATUS_VALUES: &str = "must be one of available, in_use, maintenance, retired";

impl TryFrom<String> for EquipmentStatus {
    type Error = &'static str;
    /// Fails with [`STATUS_VALUES`].
    fn try_from(s: String) -> Result<Self, Self::Error> {
        EquipmentStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or(STATUS_VALUES)
    }
}

impl FromStr for EquipmentStatus {
    type Err = DomainError;
    /// Fails with a `status` field error naming the allowed values.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EquipmentStatus::try_from(s.to_string()).map_err(|m| DomainError::field("status", m))
    }
}

/// Body of `POST /equipment` and `PATCH /equipment/{id}`; absent fields are
/// left as they are (PATCH) or take their defaults (POST, where `name` is required).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EquipmentInput {
    /// Name, e.g. "Drain camera #2".
    pub name: Option<String>,
    /// Type, e.g. "Drain camera".
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// What an hour of use costs the business.
    pub hourly_cost: Option<Money>,
    /// Status.
    pub status: Option<EquipmentStatus>,
    /// Next maintenance date `YYYY-MM-DD`; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Date)]
    pub next_maintenance_date: Option<Option<String>>,
}

/// A piece of equipment's validated fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EquipmentFields {
    /// Name (1..200).
    pub name: String,
    /// Type (0..100).
    #[serde(rename = "type")]
    pub kind: String,
    /// Hourly cost (0..=10000.00).
    pub hourly_cost: Money,
    /// Status.
    pub status: EquipmentStatus,
    /// Next maintenance date, if one is planned.
    #[schema(value_type = Option<String>, format = Date)]
    pub next_maintenance_date: Option<NaiveDate>,
}

impl EquipmentFields {
    /// Merges `input` over `base` (the stored item for an update, or the
    /// default for a create) and validates the result. Fails with every bad field.
    pub fn merge(
        base: &EquipmentFields,
        input: EquipmentInput,
    ) -> Result<EquipmentFields, DomainError> {
        let mut c = Check::new();
        let name = c.text("name", input.name.as_deref().unwrap_or(&base.name), 1, 200);
        let kind = c.text("type", input.kind.as_deref().unwrap_or(&base.kind), 0, 100);
        let hourly_cost = match input.hourly_cost {
            Some(m) => {
                let m = c.money_non_negative("hourlyCost", m);
                if m.cents() > MAX_EQUIPMENT_HOURLY_CENTS && !c.has("hourlyCost") {
                    c.fail(
                        "hourlyCost",
                        format!(
                            "must be at most {}",
                            Money::from_cents(MAX_EQUIPMENT_HOURLY_CENTS)
                        ),
                    );
                }
                m
            }
            None => base.hourly_cost,
        };
        let next_maintenance_date = match input.next_maintenance_date {
            None => base.next_maintenance_date,
            Some(None) => None,
            Some(Some(d)) => c.date_opt("nextMaintenanceDate", Some(&d)),
        };
        c.finish()?;
        Ok(EquipmentFields {
            name,
            kind,
            hourly_cost,
            status: input.status.unwrap_or(base.status),
            next_maintenance_date,
        })
    }

    /// Whether maintenance is due on `today` (a planned date on or before it).
    /// Retired equipment is never due.
    pub fn maintenance_due(&self, today: NaiveDate) -> bool {
        self.status != EquipmentStatus::Retired
            && self.next_maintenance_date.is_some_and(|d| d <= today)
    }
}

/// A piece of equipment as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Equipment {
    /// UUIDv7.
    pub id: String,
    /// The fields.
    #[serde(flatten)]
    pub fields: EquipmentFields,
    /// Created (RFC 3339).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last changed (RFC 3339).
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// Body of `POST /loadouts` and `PATCH /loadouts/{id}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoadoutInput {
    /// Name, unique (case-insensitive).
    pub name: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// The equipment in it (replaces the whole set).
    pub equipment_ids: Option<Vec<String>>,
}

/// A loadout's validated fields. The repository checks that every id names
/// existing, non-retired equipment and that the name is free.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadoutFields {
    /// Name (1..100).
    pub name: String,
    /// Description (0..2000, multi-line).
    pub description: String,
    /// Equipment ids (0..50, distinct, lowercase hyphenated UUIDs), in the
    /// order given.
    pub equipment_ids: Vec<String>,
    /// Whether `equipment_ids` came from this input (and must be re-checked).
    #[serde(skip)]
    pub equipment_changed: bool,
}

impl LoadoutFields {
    /// Merges `input` over `base` and validates the result. An id that is
    /// not a UUID is reported as `equipmentIds[i]`: "no such equipment"; an id
    /// listed twice as "is listed twice". Fails with every bad field.
    pub fn merge(base: &LoadoutFields, input: LoadoutInput) -> Result<LoadoutFields, DomainError> {
        let mut c = Check::new();
        let name = c.text("name", input.name.as_deref().unwrap_or(&base.name), 1, 100);
        let description = c.multiline(
            "description",
            input.description.as_deref().unwrap_or(&base.description),
            2000,
        );
        let equipment_changed = input.equipment_ids.is_some();
        let equipment_ids = match input.equipment_ids {
            None => base.equipment_ids.clone(),
            Some(list) => {
                if list.len() > MAX_LOADOUT_ITEMS {
                    c.fail(
                        "equipmentIds",
                        format!("must have at most {MAX_LOADOUT_ITEMS} items"),
                    );
                }
                let mut out: Vec<String> = Vec::with_capacity(list.len());
                for (i, raw) in list.iter().enumerate() {
                    let field = format!("equipmentIds[{i}]");
                    match super::ids::parse_id(raw.trim()) {
                        Some(u) => {
                            let id = u.to_string();
                            if out.contains(&id) {
                                c.fail(&field, "is listed twice");
                            } else {
                                out.push(id);
                            }
                        }
                        None => c.fail(&field, "no such equipment"),
                    }
                }
                out
            }
        };
        c.finish()?;
        Ok(LoadoutFields {
            name,
            description,
            equipment_ids,
            equipment_changed,
        })
    }
}

/// Checks a loadout's equipment against what exists: `found(id)` gives the
/// status of existing equipment (`None` when there is no such item). Fails
/// with an `equipmentIds[i]` error for each missing or retired item.
pub fn check_loadout_equipment(
    ids: &[String],
    mut found: impl FnMut(&str) -> Option<EquipmentStatus>,
) -> Result<(), DomainError> {
    let mut errors = FieldErrors::new();
    for (i, id) in ids.iter().enumerate() {
        let why = match found(id) {
            None => "no such equipment",
            Some(EquipmentStatus::Retired) => "is retired and cannot be in a loadout",
            Some(_) => continue,
        };
        errors.insert(format!("equipmentIds[{i}]"), why.into());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Validation(errors))
    }
}

/// A loadout's equipment item, as shown inside the loadout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadoutEquipment {
    /// Equipment id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Hourly cost.
    pub hourly_cost: Money,
    /// Status.
    pub status: EquipmentStatus,
}

/// A loadout as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Loadout {
    /// UUIDv7.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Ids of its equipment (same order as `equipment`: by name).
    pub equipment_ids: Vec<String>,
    /// Its equipment.
    pub equipment: Vec<LoadoutEquipment>,
    /// Sum of its equipment's hourly costs.
    pub hourly_cost: Money,
    /// Created (RFC 3339).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last changed (RFC 3339).
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl Loadout {
    /// Builds the view from its parts, deriving `equipmentIds` and `hourlyCost`.
    pub fn assemble(
        id: String,
        name: String,
        description: String,
        equipment: Vec<LoadoutEquipment>,
        created_at: String,
        updated_at: String,
    ) -> Loadout {
        let hourly_cost = equipment
            .iter()
            .fold(Money::ZERO, |sum, e| sum.plus(e.hourly_cost));
        Loadout {
            id,
            name,
            description,
            equipment_ids: equipment.iter().map(|e| e.id.clone()).collect(),
            equipment,
            hourly_cost,
            created_at,
            updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(e: DomainError) -> FieldErrors {
        match e {
            DomainError::Validation(f) => f,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn equipment_validation() {
        let f = EquipmentFields::merge(
            &EquipmentFields::default(),
            EquipmentInput {
                name: Some("Camera".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(f.status, EquipmentStatus::Available);
        assert_eq!(f.next_maintenance_date, None);
        let e = errs(
            EquipmentFields::merge(
                &EquipmentFields::default(),
                EquipmentInput {
                    hourly_cost: Some(Money::from_cents(1_000_001)),
                    next_maintenance_date: Some(Some("2026-02-30".into())),
                    ..Default::default()
                },
            )
            .unwrap_err(),
        );
        assert_eq!(e.len(), 3, "{e:?}");
        assert_eq!(e["hourlyCost"], "must be at most 10000.00");
        assert!(e.contains_key("nextMaintenanceDate"));
        let with_date = EquipmentFields::merge(
            &f,
            EquipmentInput {
                next_maintenance_date: Some(Some("2026-03-10".into())),
                ..Default::default()
            },
        )
        .unwrap();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(with_date.maintenance_due(d("2026-03-10")));
        assert!(!with_date.maintenance_due(d("2026-03-09")));
        let retired = EquipmentFields {
            status: EquipmentStatus::Retired,
            ..with_date.clone()
        };
        assert!(!retired.maintenance_due(d("2026-04-01")));
        let cleared = EquipmentFields::merge(
            &with_date,
            EquipmentInput {
                next_maintenance_date: Some(None),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(cleared.next_maintenance_date, None);
    }

    #[test]
    fn status_names_round_trip() {
        for s in EquipmentStatus::ALL {
            assert_eq!(s.as_str().parse::<EquipmentStatus>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!("broken".parse::<EquipmentStatus>().is_err());
        for bad in ["\"broken\"", "\"In_Use\"", "1", "null"] {
            let e = serde_json::from_str::<EquipmentStatus>(bad).unwrap_err();
            assert!(!e.is_syntax(), "{bad}: a field error, not malformed JSON");
        }
        assert_eq!(
            serde_json::from_str::<EquipmentStatus>("\"in_use\"").unwrap(),
            EquipmentStatus::InUse
        );
    }

    #[test]
    fn loadout_ids_are_checked_by_position() {
        let a = "0190b7a0-0000-7000-8000-000000000001";
        let e = errs(
            LoadoutFields::merge(
                &LoadoutFields::default(),
                LoadoutInput {
                    name: Some("Van".into()),
                    equipment_ids: Some(vec![a.into(), "x".into(), a.to_uppercase()]),
                    ..Default::default()
                },
            )
            .unwrap_err(),
        );
        assert_eq!(e["equipmentIds[1]"], "no such equipment");
        assert_eq!(e["equipmentIds[2]"], "is listed twice");
        let e = errs(
            check_loadout_equipment(&[a.into(), "b".into(), "c".into()], |id| match id {
                "b" => Some(EquipmentStatus::Retired),
                "c" => Some(EquipmentStatus::Maintenance),
                _ => None,
            })
            .unwrap_err(),
        );
        assert_eq!(e.len(), 2);
        assert_eq!(e["equipmentIds[0]"], "no such equipment");
        assert!(e["equipmentIds[1]"].contains("retired"));
    }

    #[test]
    fn loadout_cost_is_the_sum() {
        let item = |id: &str, cents| LoadoutEquipment {
            id: id.into(),
            name: id.into(),
            kind: String::new(),
            hourly_cost: Money::from_cents(cents),
            status: EquipmentStatus::Available,
        };
        let l = Loadout::assemble(
            "l".into(),
            "Van".into(),
            String::new(),
            vec![item("a", 1250), item("b", 399)],
            "t".into(),
            "t".into(),
        );
        assert_eq!(l.hourly_cost, Money::from_cents(1649));
        assert_eq!(l.equipment_ids, ["a", "b"]);
    }
}
