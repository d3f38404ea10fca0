//! The fixed ingredients of the demo business "Northside Plumbing & Heating":
//! names, streets, trades, service types with their typical length and price,
//! equipment, and the seasonality of demand. Pure data, no I/O.

/// First names for customers and staff.
pub const FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Paul",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "Timothy",
    "Deborah",
    "Ronald",
    "Stephanie",
    "Jason",
    "Rebecca",
    "Aisha",
    "Wei",
    "Priya",
    "Mateo",
    "Sofia",
    "Omar",
    "Yuki",
    "Lena",
    "Tomás",
    "Ngozi",
];

/// Last names for customers and staff.
pub const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Okafor",
    "Chen",
    "Patel",
    "Kowalski",
    "Schmidt",
    "Novak",
    "Haddad",
    "Tanaka",
    "Murphy",
    "O'Brien",
];

/// Street names.
pub const STREETS: &[&str] = &[
    "Maple Ave",
    "Oak St",
    "Cedar Ln",
    "Elm St",
    "Pine Rd",
    "Washington Blvd",
    "Lake Shore Dr",
    "Hillcrest Rd",
    "Sunset Ave",
    "River Rd",
    "Park Pl",
    "Church St",
    "Mill Rd",
    "Highland Ave",
    "Meadow Ln",
    "Forest Dr",
    "Spring St",
    "Prairie Ave",
    "Orchard Way",
    "Lincoln Ave",
    "Jefferson St",
    "Madison Ave",
    "Walnut St",
    "Birch Ct",
];

/// Cities with their postal-code prefix.
pub const CITIES: &[(&str, &str)] = &[
    ("Springfield", "627"),
    ("Oak Park", "603"),
    ("Evanston", "602"),
    ("Naperville", "605"),
    ("Aurora", "605"),
    ("Joliet", "604"),
    ("Elmhurst", "601"),
];

/// Company names for commercial customers.
pub const COMPANIES: &[&str] = &[
    "Riverside Apartments",
    "Maple Grove Dental",
    "Sunrise Bakery",
    "Lakeview Property Mgmt",
    "Oakwood School",
    "Blue Door Cafe",
    "Parkside Fitness",
    "Cedar Creek HOA",
    "Main Street Laundromat",
    "Northgate Offices",
    "Golden Wok Restaurant",
    "Hillside Church",
    "Prairie Vet Clinic",
    "Summit Hotel",
    "Union Brewing Co",
];

/// Lead and customer sources.
pub const SOURCES: &[&str] = &[
    "phone",
    "website",
    "referral",
    "google",
    "repeat customer",
    "yard sign",
];

/// A kind of job the business does.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// Service type as recorded on work orders.
    pub name: &'static str,
    /// Trade that does it.
    pub trade: &'static str,
    /// Typical length in minutes.
    pub minutes: i64,
    /// Typical price to the customer, in cents.
    pub price_cents: i64,
    /// Typical parts and materials, in cents.
    pub parts_cents: i64,
    /// Relative demand in winter (Dec–Feb) and summer (Jun–Aug), 1.0 = average.
    pub winter: f64,
    /// See `winter`.
    pub summer: f64,
    /// Index into [`LOADOUTS`] used for the job, if any.
    pub loadout: Option<usize>,
}

/// The services offered.
pub const SERVICES: &[Service] = &[
    Service {
        name: "Drain cleaning",
        trade: "plumbing",
        minutes: 90,
        price_cents: 22_500,
        parts_cents: 1_500,
        winter: 1.2,
        summer: 0.9,
        loadout: Some(0),
    },
    Service {
        name: "Water heater replacement",
        trade: "plumbing",
        minutes: 240,
        price_cents: 185_000,
        parts_cents: 95_000,
        winter: 1.6,
        summer: 0.7,
        loadout: Some(1),
    },
    Service {
        name: "Leak repair",
        trade: "plumbing",
        minutes: 120,
        price_cents: 32_000,
        parts_cents: 4_500,
        winter: 1.4,
        summer: 0.9,
        loadout: None,
    },
    Service {
        name: "Sewer camera inspection",
        trade: "plumbing",
        minutes: 75,
        price_cents: 27_500,
        parts_cents: 0,
        winter: 1.0,
        summer: 1.0,
        loadout: Some(0),
    },
    Service {
        name: "Furnace repair",
        trade: "hvac",
        minutes: 150,
        price_cents: 41_000,
        parts_cents: 9_000,
        winter: 2.6,
        summer: 0.2,
        loadout: Some(2),
    },
    Service {
        name: "AC repair",
        trade: "hvac",
        minutes: 150,
        price_cents: 43_500,
        parts_cents: 11_000,
        winter: 0.1,
        summer: 2.8,
        loadout: Some(2),
    },
    Service {
        name: "HVAC maintenance",
        trade: "hvac",
        minutes: 90,
        price_cents: 16_900,
        parts_cents: 2_500,
        winter: 0.8,
        summer: 1.1,
        loadout: None,
    },
    Service {
        name: "Panel upgrade",
        trade: "electrical",
        minutes: 360,
        price_cents: 240_000,
        parts_cents: 110_000,
        winter: 0.9,
        summer: 1.1,
        loadout: Some(3),
    },
    Service {
        name: "Outlet and switch repair",
        trade: "electrical",
        minutes: 60,
        price_cents: 14_500,
        parts_cents: 1_200,
        winter: 1.0,
        summer: 1.0,
        loadout: None,
    },
    Service {
        name: "EV charger install",
        trade: "electrical",
        minutes: 240,
        price_cents: 120_000,
        parts_cents: 52_000,
        winter: 0.7,
        summer: 1.3,
        loadout: Some(3),
    },
];

/// The technicians: name, trade, skills, hourly cost in cents.
pub const TECHNICIANS: &[(&str, &str, &[&str], i64)] = &[
    (
        "Marco Rossi",
        "plumbing",
        &["Drain cleaning", "Sewer camera inspection", "Leak repair"],
        3_800,
    ),
    (
        "Dana Kim",
        "plumbing",
        &[
            "Water heater replacement",
            "Leak repair",
            "Backflow certified",
        ],
        4_200,
    ),
    (
        "Luis Ortega",
        "plumbing",
        &["Drain cleaning", "Water heater replacement"],
        3_500,
    ),
    (
        "Hannah Berg",
        "hvac",
        &["Furnace repair", "AC repair", "EPA 608 certified"],
        4_500,
    ),
    (
        "Tyrone Banks",
        "hvac",
        &["HVAC maintenance", "AC repair"],
        3_600,
    ),
    (
        "Grace Liu",
        "hvac",
        &["Furnace repair", "HVAC maintenance"],
        3_900,
    ),
    (
        "Sam Adeyemi",
        "electrical",
        &[
            "Panel upgrade",
            "EV charger install",
            "Licensed electrician",
        ],
        4_800,
    ),
    (
        "Nora Walsh",
        "electrical",
        &["Outlet and switch repair", "EV charger install"],
        3_700,
    ),
];

/// Office staff: name and e-mail local part.
pub const OFFICE: &[(&str, &str)] = &[
    ("Paula Grant", "paula"),
    ("Ben Ortiz", "ben"),
    ("Keisha Moore", "keisha"),
];

/// Equipment kinds: name stem, type, hourly cost in cents, how many the business owns.
pub const EQUIPMENT: &[(&str, &str, i64, usize)] = &[
    ("Drain snake", "drain", 1_200, 4),
    ("Hydro jetter", "drain", 4_500, 2),
    ("Pipe inspection camera", "inspection", 3_000, 3),
    ("Pipe threader", "plumbing", 1_500, 2),
    ("Pipe press tool", "plumbing", 1_800, 3),
    ("Water heater dolly", "handling", 500, 3),
    ("Refrigerant recovery unit", "hvac", 2_500, 3),
    ("Manifold gauge set", "hvac", 800, 4),
    ("Vacuum pump", "hvac", 900, 3),
    ("Combustion analyzer", "hvac", 1_100, 2),
    ("Thermal camera", "inspection", 1_600, 2),
    ("Circuit tracer", "electrical", 700, 3),
    ("Insulation tester", "electrical", 900, 2),
    ("Service van ladder", "access", 300, 4),
];

/// Loadouts: name and equipment stems (first unit of each stem is used).
pub const LOADOUTS: &[(&str, &[&str])] = &[
    (
        "Drain kit",
        &["Drain snake", "Hydro jetter", "Pipe inspection camera"],
    ),
    (
        "Water heater kit",
        &["Water heater dolly", "Pipe press tool", "Pipe threader"],
    ),
    (
        "HVAC service kit",
        &[
            "Refrigerant recovery unit",
            "Manifold gauge set",
            "Vacuum pump",
            "Combustion analyzer",
        ],
    ),
    (
        "Electrical kit",
        &["Circuit tracer", "Insulation tester", "Service van ladder"],
    ),
];

/// Relative demand for `service` in `month` (1–12): winter and summer
/// weights, average in spring and autumn.
pub fn seasonality(service: &Service, month: u32) -> f64 {
    match month {
        12 | 1 | 2 => service.winter,
        6..=8 => service.summer,
        3 | 11 => (service.winter + 1.0) / 2.0,
        5 | 9 => (service.summer + 1.0) / 2.0,
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_consistent() {
        assert_eq!(TECHNICIANS.len(), 8);
        assert_eq!(OFFICE.len(), 3);
        assert_eq!(EQUIPMENT.iter().map(|e| e.3).sum::<usize>(), 40);
        for (_, stems) in LOADOUTS {
            for s in *stems {
                assert!(EQUIPMENT.iter().any(|e| e.0 == *s), "{s}");
            }
        }
        for s in SERVICES {
            assert!(s.loadout.is_none_or(|l| l < LOADOUTS.len()));
            assert!(TECHNICIANS.iter().any(|t| t.1 == s.trade));
            assert!(s.parts_cents < s.price_cents);
        }
        let furnace = SERVICES
            .iter()
            .find(|s| s.name == "Furnace repair")
            .unwrap();
        assert!(seasonality(furnace, 1) > 2.0 && seasonality(furnace, 7) < 0.5);
    }
}
