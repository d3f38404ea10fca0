//! `quant demo`: a believable small trade business to explore Quant with —
//! owner, 3 office staff, 8 technicians with skills, 40 pieces of equipment in
//! 4 loadouts, 2,000 customers, 18 months of work orders with seasonal demand,
//! invoices and payments, follow-ups (a few overdue) and leads. Deterministic
//! (fixed random seed) relative to the clock's "today". Seeding happens only
//! into a database without an owner; everything is written in one transaction.

pub mod catalogue;

use crate::accounts;
use crate::clock::{SharedClock, format_ts};
use crate::config::Config;
use crate::db::audit::{self, Actor, Change};
use crate::db::{Db, DbError};
use crate::domain::customer::{Address, CustomerFields};
use crate::domain::ids::new_id;
use crate::domain::money::Money;
use crate::domain::user::Role;
use catalogue::*;
use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, params};
use std::collections::HashMap;

/// The password of every demo login (the demo is for trying Quant out, never for real data).
pub const DEMO_PASSWORD: &str = "quant-demo-2026";
/// How many customers the demo has.
pub const CUSTOMERS: usize = 2_000;
/// Months of history.
pub const MONTHS: i64 = 18;

/// One demo login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// Role.
    pub role: Role,
    /// E-mail.
    pub email: String,
    /// Display name.
    pub name: String,
}

/// What was seeded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Logins created (all with [`DEMO_PASSWORD`]).
    pub logins: Vec<Login>,
    /// Customers.
    pub customers: usize,
    /// Work orders.
    pub work_orders: usize,
    /// Invoices.
    pub invoices: usize,
    /// Payments.
    pub payments: usize,
    /// Open follow-ups past their due date.
    pub overdue_follow_ups: usize,
    /// Leads.
    pub leads: usize,
}

/// Sets the demo business's name, time zone and tax rate on `config`.
pub fn apply_business(config: &mut Config) {
    config.business.name = "Northside Plumbing & Heating".into();
    config.business.timezone = "America/Chicago".into();
    config.business.tax_rate_bps = 625;
}

fn email_for(name: &str) -> String {
    let first = name
        .split_whitespace()
        .next()
        .unwrap_or("user")
        .to_lowercase();
    format!("{first}@northside.example")
}

/// Seeds the demo business into `db` unless an owner already exists.
/// Returns the summary, or `None` when the database was already set up.
/// Fails on database errors (nothing is half-written: the business data is
/// one transaction).
pub async fn seed_if_empty(
    db: &Db,
    clock: &SharedClock,
    config: &Config,
) -> Result<Option<Summary>, accounts::AccountError> {
    if db.read(crate::db::auth::owner_exists).await? {
        return Ok(None);
    }
    let mut logins = vec![Login {
        role: Role::Owner,
        email: "owner@northside.example".into(),
        name: "Olivia Northside".into(),
    }];
    logins.extend(OFFICE.iter().map(|(name, local)| Login {
        role: Role::Office,
        email: format!("{local}@northside.example"),
        name: (*name).into(),
    }));
    logins.extend(TECHNICIANS.iter().map(|(name, ..)| Login {
        role: Role::Technician,
        email: email_for(name),
        name: (*name).into(),
    }));
    let mut tech_users = Vec::new();
    for l in &logins {
        let u = accounts::create_user(
            db,
            clock,
            &l.email,
            &l.name,
            l.role,
            DEMO_PASSWORD.to_string().into(),
            8,
        )
        .await?;
        if l.role == Role::Technician {
            tech_users.push(u.id);
        }
    }
    let now = clock.now();
    let tz = config.timezone();
    let business = config.business.clone();
    let mut summary = db
        .write(move |c| seed_business(c, now, tz, &business, &tech_users))
        .await?;
    summary.logins = logins;
    Ok(Some(summary))
}

/// Minutes since 1970-01-01T00:00 in local wall time (the `window_*` columns).
fn local_minutes(t: NaiveDateTime) -> i64 {
    (t - NaiveDate::from_ymd_opt(1970, 1, 1)
        .unwrap_or_default()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default())
    .num_minutes()
}

fn to_utc(tz: chrono_tz::Tz, t: NaiveDateTime) -> DateTime<Utc> {
    tz.from_local_datetime(&t)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&t))
}

/// A completed job to invoice: when, which work order and customer, the
/// invoice lines (kind, description, quantity in thousandths, amount) and subtotal.
struct Billed {
    done: DateTime<Utc>,
    work_order: String,
    customer: String,
    lines: Vec<(String, String, i64, i64)>,
    subtotal: i64,
}

struct Job {
    customer: usize,
    service: usize,
    tech: usize,
    loadout: Option<usize>,
    day: NaiveDate,
    start_min: i64,
    minutes: i64,
    priority: &'static str,
    created: DateTime<Utc>,
}

#[allow(clippy::too_many_lines)]
fn seed_business(
    c: &Connection,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
    business: &crate::config::BusinessConfig,
    tech_users: &[String],
) -> Result<Summary, DbError> {
    let mut rng = StdRng::seed_from_u64(2026);
    let actor = Actor::system();
    let ts = format_ts(now);
    let today = now.with_timezone(&tz).date_naive();
    let mut summary = Summary::default();

    // Technicians (linked to their logins), equipment, loadouts.
    let mut techs = Vec::new();
    for (i, (name, trade, skills, rate)) in TECHNICIANS.iter().enumerate() {
        let id = new_id(now).to_string();
        c.execute(
            "INSERT INTO employees (id, name, email, user_id, trade, skills, hourly_rate_cents, active, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8)",
            params![id, name, email_for(name), tech_users.get(i), trade, serde_json::to_string(skills).unwrap_or_default(), rate, ts],
        )?;
        techs.push((id, *trade, *rate, 0.85 + 0.05 * (i % 5) as f64));
    }
    let mut equipment: HashMap<&str, Vec<(String, i64)>> = HashMap::new();
    for (stem, kind, cost, count) in EQUIPMENT {
        for n in 1..=*count {
            let id = new_id(now).to_string();
            let maint = today + Duration::days(rng.random_range(-20..200));
            c.execute(
                "INSERT INTO equipment (id, name, type, hourly_cost_cents, status, next_maintenance_date, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'available', ?5, ?6, ?6)",
                params![id, format!("{stem} #{n}"), kind, cost, maint.to_string(), ts],
            )?;
            equipment.entry(stem).or_default().push((id, *cost));
        }
    }
    let mut loadouts = Vec::new();
    for (name, stems) in LOADOUTS {
        let id = new_id(now).to_string();
        c.execute(
            "INSERT INTO loadouts (id, name, description, created_at, updated_at) VALUES (?1, ?2, '', ?3, ?3)",
            params![id, name, ts],
        )?;
        let mut items = Vec::new();
        for stem in *stems {
            if let Some((eid, cost)) = equipment.get(stem).and_then(|v| v.first()) {
                c.execute(
                    "INSERT INTO loadout_items (loadout_id, equipment_id) VALUES (?1, ?2)",
                    params![id, eid],
                )?;
                items.push((eid.clone(), (*stem).to_string(), *cost));
            }
        }
        loadouts.push((id, items));
    }

    // Customers: households and a few businesses.
    let mut customers = Vec::with_capacity(CUSTOMERS);
    for i in 0..CUSTOMERS {
        let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
        let (city, zip) = CITIES[rng.random_range(0..CITIES.len())];
        let company = if i % 12 == 0 {
            COMPANIES[rng.random_range(0..COMPANIES.len())].to_string()
        } else {
            String::new()
        };
        let fields = CustomerFields {
            name: format!("{first} {last}"),
            company,
            email: format!(
                "{}.{}{}@mail.example",
                first.to_lowercase(),
                last.to_lowercase().replace('\'', ""),
                i
            ),
            phone: format!("(555) {:03}-{:04}", rng.random_range(200..999), i),
            addresses: vec![Address {
                label: "Service".into(),
                line1: format!(
                    "{} {}",
                    rng.random_range(10..9999),
                    STREETS[rng.random_range(0..STREETS.len())]
                ),
                city: city.into(),
                region: "IL".into(),
                postal_code: format!("{zip}{:02}", rng.random_range(0..99)),
                ..Default::default()
            }],
            notes: if i % 7 == 0 {
                "Prefers morning appointments. Dog in the back yard.".into()
            } else {
                String::new()
            },
            tags: if i % 25 == 0 {
                vec!["maintenance plan".into()]
            } else {
                vec![]
            },
        };
        let id = new_id(now - Duration::days(600 - (i as i64 % 600))).to_string();
        crate::db::customers::insert(
            c,
            &actor,
            &id,
            fields,
            now - Duration::days(600 - (i as i64 % 600)),
        )?;
        customers.push(id);
    }
    summary.customers = customers.len();

    // Jobs, day by day, with seasonal demand and no double-booking.
    let start = today - Duration::days(MONTHS * 30 + 8);
    let mut jobs: Vec<Job> = Vec::new();
    let mut tech_free: HashMap<(usize, NaiveDate), i64> = HashMap::new();
    let mut loadout_busy: HashMap<(usize, NaiveDate), Vec<(i64, i64)>> = HashMap::new();
    let mut day = start;
    while day <= today + Duration::days(14) {
        let base = match day.weekday() {
            Weekday::Sun => 0.0,
            Weekday::Sat => 0.3,
            _ => 0.95,
        };
        for (si, s) in SERVICES.iter().enumerate() {
            let expected = base * seasonality(s, day.month()) * if day > today { 0.6 } else { 1.0 };
            let mut n = expected.floor() as usize;
            if rng.random::<f64>() < expected.fract() {
                n += 1;
            }
            for _ in 0..n {
                let candidates: Vec<usize> = (0..techs.len())
                    .filter(|t| techs[*t].1 == s.trade)
                    .collect();
                let minutes =
                    (s.minutes as f64 * rng.random_range(0.8..1.25)).round() as i64 / 15 * 15;
                let Some((tech, begin)) = candidates.iter().find_map(|t| {
                    let free = *tech_free.get(&(*t, day)).unwrap_or(&(8 * 60));
                    (free + minutes <= 18 * 60).then_some((*t, free))
                }) else {
                    continue;
                };
                tech_free.insert((tech, day), begin + minutes + 30);
                let local_start = local_minutes(day.and_time(NaiveTime::MIN)) + begin;
                let loadout = s.loadout.filter(|l| {
                    let busy = loadout_busy.entry((*l, day)).or_default();
                    let free = busy
                        .iter()
                        .all(|(a, b)| local_start + minutes <= *a || *b <= local_start);
                    if free {
                        busy.push((local_start, local_start + minutes));
                    }
                    free
                });
                // Repeat customers: a skewed pick.
                let r: f64 = rng.random();
                let customer = ((r * r) * CUSTOMERS as f64) as usize % CUSTOMERS;
                let priority =
                    ["low", "medium", "medium", "medium", "high", "urgent"][rng.random_range(0..6)];
                let created_day = day - Duration::days(rng.random_range(1..10));
                let created = to_utc(
                    tz,
                    created_day
                        .and_hms_opt(rng.random_range(8..17), rng.random_range(0..60), 0)
                        .unwrap_or_default(),
                );
                jobs.push(Job {
                    customer,
                    service: si,
                    tech,
                    loadout,
                    day,
                    start_min: begin,
                    minutes,
                    priority,
                    created: created.min(now),
                });
            }
        }
        day += Duration::days(1);
    }
    jobs.sort_by_key(|j| j.created);

    let mut invoice_rows: Vec<Billed> = Vec::new();
    let mut follow_ups = Vec::new();
    for (n, job) in jobs.iter().enumerate() {
        let s = &SERVICES[job.service];
        let (tech_id, _, rate, speed) = &techs[job.tech];
        let id = new_id(job.created).to_string();
        let number = n as i64 + 1;
        let start_local = job.day.and_time(NaiveTime::MIN) + Duration::minutes(job.start_min);
        let window_start = local_minutes(start_local);
        let status = if job.day < today {
            if rng.random::<f64>() < 0.04 {
                "cancelled"
            } else {
                "completed"
            }
        } else if job.day == today && job.start_min <= 10 * 60 {
            "in_progress"
        } else {
            "scheduled"
        };
        let quoted = (rng.random::<f64>() < 0.7).then(|| {
            (s.price_cents as f64 * rng.random_range(0.92..1.12)).round() as i64 / 100 * 100
        });
        let started_at =
            matches!(status, "completed" | "in_progress").then(|| to_utc(tz, start_local));
        let (mut actual_minutes, mut actual_cost, mut final_price, mut completed_at) =
            (None, None, None, None);
        let mut lines: Vec<(String, String, i64, i64)> = Vec::new();
        if status == "completed" {
            let mins = (job.minutes as f64 * speed * rng.random_range(0.8..1.35)).round() as i64;
            let parts = (s.parts_cents as f64 * rng.random_range(0.75..1.3)).round() as i64;
            let labour_cost = Money::from_cents(*rate)
                .per_hour_for(crate::domain::money::Minutes(mins))
                .cents();
            let mut equipment_lines = Vec::new();
            if let Some(l) = job.loadout {
                for (_, stem, cost) in &loadouts[l].1 {
                    let amount = Money::from_cents(*cost)
                        .per_hour_for(crate::domain::money::Minutes(mins))
                        .cents();
                    equipment_lines.push((
                        "equipment".to_string(),
                        format!("{stem} ({:.2} h)", mins as f64 / 60.0),
                        mins * 1000 / 60,
                        amount,
                    ));
                }
            }
            let equipment_total: i64 = equipment_lines.iter().map(|l| l.3).sum();
            let mut price = quoted.unwrap_or(s.price_cents);
            price = price.max(parts + equipment_total + 5_000);
            if parts > 0 {
                lines.push(("parts".into(), "Parts and materials".into(), 1000, parts));
            }
            lines.extend(equipment_lines);
            lines.push((
                "labour".into(),
                format!("Labour: {}", s.name),
                1000,
                price - parts - equipment_total,
            ));
            actual_minutes = Some(mins);
            actual_cost = Some(labour_cost + parts + equipment_total);
            final_price = Some(price);
            completed_at = started_at.map(|t| t + Duration::minutes(mins));
        }
        let cancelled_at = (status == "cancelled").then(|| job.created + Duration::hours(20));
        c.execute(
            "INSERT INTO work_orders (id, number, customer_id, service_type, status, priority, scheduled_date, scheduled_time,
                window_start, window_end, estimated_minutes, actual_minutes, assigned_employee_id, loadout_id, job_description,
                special_instructions, estimated_cost_cents, actual_cost_cents, quoted_price_cents, final_price_cents,
                started_at, completed_at, cancelled_at, cancel_reason, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, '', ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
            params![
                id,
                number,
                customers[job.customer],
                s.name,
                status,
                job.priority,
                job.day.to_string(),
                format!("{:02}:{:02}", job.start_min / 60, job.start_min % 60),
                window_start,
                window_start + job.minutes,
                job.minutes,
                actual_minutes,
                tech_id,
                job.loadout.map(|l| loadouts[l].0.clone()),
                format!("{} requested by the customer.", s.name),
                Money::from_cents(*rate).per_hour_for(crate::domain::money::Minutes(job.minutes)).cents() + s.parts_cents,
                actual_cost,
                quoted,
                final_price,
                started_at.map(format_ts),
                completed_at.map(format_ts),
                cancelled_at.map(format_ts),
                cancelled_at.map(|_| "Customer rescheduled with another company"),
                format_ts(job.created),
                format_ts(completed_at.or(cancelled_at).unwrap_or(job.created)),
            ],
        )?;
        if let (Some(done), Some(price)) = (completed_at, final_price) {
            invoice_rows.push(Billed {
                done,
                work_order: id.clone(),
                customer: customers[job.customer].clone(),
                lines,
                subtotal: price,
            });
            follow_ups.push((done, id, customers[job.customer].clone(), number, s.name));
        }
    }
    summary.work_orders = jobs.len();

    // Invoices in completion order, with payments.
    invoice_rows.sort_by_key(|r| r.done);
    for (n, b) in invoice_rows.iter().enumerate() {
        let Billed {
            done,
            work_order: wo,
            customer,
            lines,
            subtotal,
        } = b;
        let id = new_id(*done).to_string();
        let issued = done.with_timezone(&tz).date_naive();
        let due = issued + Duration::days(business.invoice_due_days);
        let tax = Money::from_cents(*subtotal)
            .apply_bps(business.tax_rate_bps)
            .cents();
        let total = subtotal + tax;
        let age = (today - issued).num_days();
        let roll: f64 = rng.random();
        let status = if age > 45 {
            if roll < 0.97 {
                "paid"
            } else if roll < 0.98 {
                "void"
            } else {
                "sent"
            }
        } else if roll < 0.6 {
            "paid"
        } else if roll < 0.93 {
            "sent"
        } else {
            "draft"
        };
        let paid_date = (status == "paid")
            .then(|| (issued + Duration::days(rng.random_range(0..age.clamp(1, 30)))).min(today));
        let paid_at =
            paid_date.map(|d| format_ts(to_utc(tz, d.and_hms_opt(12, 0, 0).unwrap_or_default())));
        c.execute(
            "INSERT INTO invoices (id, number, work_order_id, customer_id, status, subtotal_cents, tax_rate_bps, tax_cents, total_cents,
                paid_cents, issued_date, due_date, sent_at, paid_at, voided_at, void_reason, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?17)",
            params![
                id,
                n as i64 + 1,
                wo,
                customer,
                status,
                subtotal,
                business.tax_rate_bps,
                tax,
                total,
                if status == "paid" { total } else { 0 },
                issued.to_string(),
                due.to_string(),
                (status != "draft").then(|| format_ts(*done + Duration::hours(2))),
                paid_at,
                (status == "void").then(|| format_ts(*done + Duration::days(2))),
                (status == "void").then_some("Duplicate of a warranty job"),
                format_ts(*done),
            ],
        )?;
        for (pos, (kind, desc, qty, amount)) in lines.iter().enumerate() {
            let unit = if *qty == 1000 {
                *amount
            } else {
                crate::domain::money::div_round(
                    i128::from(*amount) * 1000,
                    i128::from((*qty).max(1)),
                ) as i64
            };
            c.execute(
                "INSERT INTO invoice_lines (invoice_id, position, kind, description, quantity_milli, unit_price_cents, amount_cents)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, pos as i64 + 1, kind, desc, qty, unit, amount],
            )?;
        }
        if let (Some(d), Some(at)) = (paid_date, paid_at) {
            let method = ["card", "card", "check", "cash", "bank_transfer"][rng.random_range(0..5)];
            c.execute(
                "INSERT INTO payments (id, invoice_id, amount_cents, method, reference, received_date, created_at)
                 VALUES (?1, ?2, ?3, ?4, '', ?5, ?6)",
                params![new_id(*done).to_string(), id, total, method, d.to_string(), at],
            )?;
            summary.payments += 1;
        }
    }
    summary.invoices = invoice_rows.len();

    for (done, wo, customer, number, service) in follow_ups {
        let due = done.with_timezone(&tz).date_naive() + Duration::days(business.follow_up_days);
        let open = due >= today - Duration::days(1) || rng.random::<f64>() < 0.002;
        if open && due < today {
            summary.overdue_follow_ups += 1;
        }
        c.execute(
            "INSERT INTO follow_ups (id, work_order_id, customer_id, due_date, status, note, completed_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            params![
                new_id(done).to_string(),
                wo,
                customer,
                due.to_string(),
                if open { "open" } else { "done" },
                format!("Follow up on WO-{number:06} ({service})"),
                (!open).then(|| format_ts(done + Duration::days(business.follow_up_days))),
                format_ts(done),
            ],
        )?;
    }

    // A few drafts waiting to be scheduled, and leads.
    let mut number = jobs.len() as i64;
    for i in 0..6 {
        number += 1;
        let s = &SERVICES[(i * 3) % SERVICES.len()];
        let created = now - Duration::hours(3 * i as i64 + 1);
        c.execute(
            "INSERT INTO work_orders (id, number, customer_id, service_type, status, priority, job_description, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'draft', ?5, ?6, ?7, ?7)",
            params![new_id(created).to_string(), number, customers[(i * 37) % CUSTOMERS], s.name, if i == 0 { "urgent" } else { "medium" },
                format!("Customer called about: {}", s.name.to_lowercase()), format_ts(created)],
        )?;
        summary.work_orders += 1;
    }
    let leads = [
        (
            "Rita Gomez",
            "555-301-2201",
            "",
            "Water heater replacement",
            "No hot water since this morning",
            "urgent",
            "phone",
            "new",
        ),
        (
            "Harbor View Condos",
            "",
            "facilities@harborview.example",
            "HVAC maintenance",
            "Quote for 24 rooftop units",
            "medium",
            "website",
            "new",
        ),
        (
            "Tom Becker",
            "555-301-2203",
            "tom.becker@mail.example",
            "EV charger install",
            "Tesla wall connector in garage",
            "low",
            "referral",
            "new",
        ),
        (
            "Amy Cho",
            "555-301-2204",
            "",
            "Leak repair",
            "Ceiling stain under bathroom",
            "high",
            "google",
            "new",
        ),
        (
            "Derek Stone",
            "",
            "derek@stone.example",
            "Panel upgrade",
            "Moving from 100A to 200A",
            "medium",
            "website",
            "new",
        ),
        (
            "Lucia Alvarez",
            "555-301-2206",
            "lucia@mail.example",
            "AC repair",
            "Unit short-cycling",
            "high",
            "phone",
            "contacted",
        ),
        (
            "Green Leaf Cafe",
            "555-301-2207",
            "",
            "Drain cleaning",
            "Kitchen floor drain slow",
            "medium",
            "repeat customer",
            "contacted",
        ),
        (
            "Martin Frey",
            "555-301-2208",
            "",
            "Furnace repair",
            "Furnace clicks, no heat",
            "urgent",
            "phone",
            "contacted",
        ),
        (
            "Jo Park",
            "555-301-2209",
            "",
            "Outlet and switch repair",
            "Dead outlets in kitchen",
            "low",
            "yard sign",
            "lost",
        ),
        (
            "Ken Adams",
            "",
            "ken.adams@mail.example",
            "Sewer camera inspection",
            "Pre-purchase inspection",
            "medium",
            "google",
            "lost",
        ),
    ];
    for (i, (name, phone, email, service, desc, urgency, source, status)) in
        leads.iter().enumerate()
    {
        let created = now - Duration::hours(5 * i as i64 + 2);
        c.execute(
            "INSERT INTO leads (id, name, phone, email, service_type, description, urgency, source, status, lost_reason, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
            params![new_id(created).to_string(), name, phone, email, service, desc, urgency, source, status,
                (*status == "lost").then_some("Chose a cheaper quote"), format_ts(created)],
        )?;
    }
    summary.leads = leads.len();
    c.execute(
        "INSERT INTO counters (name, value) VALUES ('work_order', ?1), ('invoice', ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![number, invoice_rows.len() as i64],
    )?;
    audit::record(
        c,
        &actor,
        now,
        Change {
            entity: "demo",
            entity_id: "northside",
            action: "seed",
            before: &serde_json::Value::Null,
            after: &serde_json::json!({
                "customers": summary.customers, "workOrders": summary.work_orders,
                "invoices": summary.invoices, "payments": summary.payments, "leads": summary.leads
            }),
        },
    )?;
    Ok(summary)
}
