//! Local analytics through the real App: the job analysis, the dashboard,
//! per-customer, per-equipment and per-employee analytics, every
//! recommendation rule (firing and not firing), the business gauges on
//! `/metrics`, and roles. Rows are inserted with SQL fixtures kept here; every
//! expected number is worked out by hand in the comments (docs/analytics.md).

mod common;

use common::*;
use quant::domain::user::Role;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicI64, Ordering};

/// "Now" in every test: Monday 2026-03-16, 15:00 UTC.
const NOW: &str = "2026-03-16T15:00:00Z";

fn uid(n: u64) -> String {
    format!("00000000-0000-7000-8000-{n:012}")
}

async fn app_with(tweak: impl FnOnce(&mut quant::config::Config)) -> (TestApp, reqwest::Client) {
    let app = TestApp::start_with(tweak).await;
    app.clock
        .set(quant::clock::parse_ts(NOW).expect("fixed time"));
    app.user("office@example.com", Role::Office).await;
    let c = app.login("office@example.com").await;
    (app, c)
}

async fn sql(app: &TestApp, batch: impl Into<String>) {
    let batch = batch.into();
    app.state
        .db
        .write(move |c| {
            c.execute_batch(&batch)?;
            Ok(())
        })
        .await
        .unwrap_or_else(|e| panic!("fixture failed: {e}"));
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn opt_i(v: Option<i64>) -> String {
    v.map_or("NULL".into(), |x| x.to_string())
}

fn opt_s(v: Option<&str>) -> String {
    v.map_or("NULL".into(), q)
}

const TS: &str = "2026-01-01T00:00:00.000000Z";

fn customer(id: &str, name: &str) -> String {
    format!(
        "INSERT INTO customers (id, name, created_at, updated_at) VALUES ({}, {}, '{TS}', '{TS}');\n",
        q(id),
        q(name)
    )
}

fn employee(id: &str, name: &str, trade: &str, skills: &[&str], rate: i64, active: bool) -> String {
    format!(
        "INSERT INTO employees (id, name, trade, skills, hourly_rate_cents, active, created_at, updated_at)
         VALUES ({}, {}, {}, {}, {rate}, {}, '{TS}', '{TS}');\n",
        q(id),
        q(name),
        q(trade),
        q(&serde_json::to_string(skills).unwrap()),
        i32::from(active)
    )
}

fn equipment(id: &str, name: &str, status: &str, next: Option<&str>, created: &str) -> String {
    format!(
        "INSERT INTO equipment (id, name, type, status, next_maintenance_date, created_at, updated_at)
         VALUES ({}, {}, 'tool', {}, {}, {}, {});\n",
        q(id),
        q(name),
        q(status),
        opt_s(next),
        q(created),
        q(created)
    )
}

fn loadout(id: &str, name: &str, items: &[&str]) -> String {
    let mut s = format!(
        "INSERT INTO loadouts (id, name, created_at, updated_at) VALUES ({}, {}, '{TS}', '{TS}');\n",
        q(id),
        q(name)
    );
    for e in items {
        s += &format!(
            "INSERT INTO loadout_items (loadout_id, equipment_id) VALUES ({}, {});\n",
            q(id),
            q(e)
        );
    }
    s
}

/// Minutes since 1970-01-01T00:00 local wall time of `date` at `hh:mm`.
fn at(date: &str, time: &str) -> i64 {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    let t = chrono::NaiveTime::parse_from_str(time, "%H:%M").unwrap();
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    (d - epoch).num_days() * 1440 + i64::from(chrono::Timelike::num_seconds_from_midnight(&t)) / 60
}

static NUMBER: AtomicI64 = AtomicI64::new(1);

/// A work order row; fill what the test needs.
#[derive(Clone)]
struct Wo {
    id: String,
    customer: String,
    service: String,
    status: &'static str,
    priority: &'static str,
    window: Option<(i64, i64)>,
    est: Option<i64>,
    act: Option<i64>,
    emp: Option<String>,
    loadout: Option<String>,
    cost: Option<i64>,
    price: Option<i64>,
    completed: Option<String>,
    created: String,
}

fn wo(id: &str, customer: &str, service: &str, status: &'static str) -> Wo {
    Wo {
        id: id.into(),
        customer: customer.into(),
        service: service.into(),
        status,
        priority: "medium",
        window: None,
        est: None,
        act: None,
        emp: None,
        loadout: None,
        cost: None,
        price: None,
        completed: None,
        created: TS.into(),
    }
}

impl Wo {
    fn prio(mut self, p: &'static str) -> Self {
        self.priority = p;
        self
    }
    fn win(mut self, start: i64, end: i64) -> Self {
        self.window = Some((start, end));
        self
    }
    fn mins(mut self, est: Option<i64>, act: Option<i64>) -> Self {
        self.est = est;
        self.act = act;
        self
    }
    fn by(mut self, emp: &str) -> Self {
        self.emp = Some(emp.into());
        self
    }
    fn kit(mut self, l: &str) -> Self {
        self.loadout = Some(l.into());
        self
    }
    fn money(mut self, cost: Option<i64>, price: Option<i64>) -> Self {
        self.cost = cost;
        self.price = price;
        self
    }
    /// Completed at `ts` (RFC 3339 UTC).
    fn done(mut self, ts: &str) -> Self {
        self.completed = Some(ts.into());
        self
    }
    fn made(mut self, ts: &str) -> Self {
        self.created = ts.into();
        self
    }
    fn sql(&self) -> String {
        let n = NUMBER.fetch_add(1, Ordering::Relaxed);
        format!(
            "INSERT INTO work_orders (id, number, customer_id, service_type, status, priority,
               window_start, window_end, estimated_minutes, actual_minutes, assigned_employee_id,
               loadout_id, actual_cost_cents, final_price_cents, completed_at, created_at, updated_at)
             VALUES ({}, {n}, {}, {}, '{}', '{}', {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {});\n",
            q(&self.id),
            q(&self.customer),
            q(&self.service),
            self.status,
            self.priority,
            opt_i(self.window.map(|w| w.0)),
            opt_i(self.window.map(|w| w.1)),
            opt_i(self.est),
            opt_i(self.act),
            opt_s(self.emp.as_deref()),
            opt_s(self.loadout.as_deref()),
            opt_i(self.cost),
            opt_i(self.price),
            opt_s(self.completed.as_deref()),
            q(&self.created),
            q(&self.created),
        )
    }
}

fn follow_up(id: &str, wo: Option<&str>, customer: &str, due: &str, status: &str) -> String {
    format!(
        "INSERT INTO follow_ups (id, work_order_id, customer_id, due_date, status, created_at, updated_at)
         VALUES ({}, {}, {}, {}, {}, '{TS}', '{TS}');\n",
        q(id),
        opt_s(wo),
        q(customer),
        q(due),
        q(status)
    )
}

fn invoice(
    id: &str,
    number: i64,
    customer: &str,
    status: &str,
    total: i64,
    paid: i64,
    due: &str,
) -> String {
    format!(
        "INSERT INTO invoices (id, number, customer_id, status, subtotal_cents, tax_rate_bps, tax_cents,
           total_cents, paid_cents, issued_date, due_date, created_at, updated_at)
         VALUES ({}, {number}, {}, {}, {total}, 0, 0, {total}, {paid}, '2026-01-01', {}, '{TS}', '{TS}');\n",
        q(id),
        q(customer),
        q(status),
        q(due)
    )
}

async fn get(app: &TestApp, c: &reqwest::Client, path: &str) -> Value {
    let r = c.get(app.url(path)).send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn status_of(app: &TestApp, c: &reqwest::Client, path: &str) -> u16 {
    c.get(app.url(path)).send().await.unwrap().status().as_u16()
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

// ---------------------------------------------------------------- analysis

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysis_without_history_uses_the_configured_defaults() {
    let (app, c) = app_with(|cfg| {
        cfg.business.default_job_minutes = 90;
        cfg.business.default_hourly_cost_cents = 6000;
    })
    .await;
    let cust = uid(1);
    let job = uid(2);
    sql(
        &app,
        customer(&cust, "Ann")
            + &wo(&job, &cust, "Drain cleaning", "draft")
                .prio("high")
                .sql(),
    )
    .await;
    let path = format!("/api/v1/work-orders/{job}/analysis");
    let a = get(&app, &c, &path).await;
    // 90 min at $60.00/h = $90.00; nobody to recommend.
    assert_eq!(num(&a["estimatedDuration"]), 1.5);
    assert_eq!(num(&a["estimatedCost"]), 90.0);
    assert_eq!(a["recommendedEmployee"], Value::Null);
    assert_eq!(a["basis"]["samples"], 0);
    assert_eq!(a["basis"]["method"], "default");
    assert_eq!(
        a["basis"]["explanation"],
        "fewer than 3 completed 'drain cleaning' jobs with a recorded duration: duration is the configured default of 1.50 h; cost is that duration at the configured default hourly cost (60.00/h)"
    );

    // An inactive employee is never recommended, and their rate is not used.
    sql(
        &app,
        employee(
            &uid(10),
            "Ivy",
            "plumbing",
            &["drain cleaning"],
            9000,
            false,
        ),
    )
    .await;
    let a = get(&app, &c, &path).await;
    assert_eq!(a["recommendedEmployee"], Value::Null);
    assert_eq!(num(&a["estimatedCost"]), 90.0);

    // Active employees: cost uses their median rate ($50.00/h → $75.00);
    // with equal scores the first name wins.
    sql(
        &app,
        employee(&uid(11), "Zoe", "", &[], 4000, true)
            + &employee(&uid(12), "Mia", "", &[], 7000, true)
            + &employee(&uid(13), "Abe", "", &[], 5000, true),
    )
    .await;
    let a = get(&app, &c, &path).await;
    assert_eq!(num(&a["estimatedCost"]), 75.0);
    assert_eq!(
        a["recommendedEmployee"],
        json!({"id": uid(13), "name": "Abe", "reasons": [
            "no recorded skill matches 'drain cleaning'",
            "has not completed a drain cleaning job yet",
            "performance score 40.0/100 over the last 90 days",
            "lightest schedule: 0.0 h booked in the next 7 days",
        ]})
    );

    // Unknown and malformed ids are 404.
    assert_eq!(
        status_of(
            &app,
            &c,
            &format!("/api/v1/work-orders/{}/analysis", uid(99))
        )
        .await,
        404
    );
    assert_eq!(
        status_of(&app, &c, "/api/v1/work-orders/nope/analysis").await,
        404
    );
    app.stop().await;
}

/// The history of `analysis_uses_medians_priority_first_then_service_type`.
/// Employees: Alice (skill "drain cleaning", $40/h), Bob (trade plumbing,
/// $60/h), Carl (skill "drain cleaning", $90/h, inactive).
async fn drain_history(app: &TestApp) -> (String, String, String, String, String) {
    let (cust, alice, bob, carl) = (uid(1), uid(10), uid(11), uid(12));
    let target = uid(20);
    let done = "2026-03-05T17:00:00.000000Z";
    let mut s = customer(&cust, "Ann")
        + &employee(&alice, "Alice", "", &["drain cleaning"], 4000, true)
        + &employee(&bob, "Bob", "plumbing", &[], 6000, true)
        + &employee(&carl, "Carl", "", &["drain cleaning"], 9000, false);
    let completed = |n: u64,
                     service: &str,
                     prio: &'static str,
                     est: Option<i64>,
                     act: i64,
                     cost: Option<i64>,
                     price: Option<i64>,
                     emp: &str| {
        wo(&uid(n), &cust, service, "completed")
            .prio(prio)
            .mins(est, Some(act))
            .money(cost, price)
            .by(emp)
            .done(done)
            .sql()
    };
    s += &completed(
        30,
        "Drain cleaning",
        "high",
        Some(60),
        60,
        Some(10_000),
        Some(20_000),
        &alice,
    );
    s += &completed(
        31,
        "Drain cleaning",
        "high",
        Some(60),
        90,
        Some(15_000),
        Some(25_000),
        &alice,
    );
    s += &completed(
        32,
        "Drain cleaning",
        "medium",
        Some(120),
        120,
        Some(20_000),
        Some(30_000),
        &carl,
    );
    s += &completed(
        33,
        "Drain cleaning",
        "low",
        Some(150),
        150,
        Some(26_000),
        Some(40_000),
        &carl,
    );
    s += &completed(34, "DRAIN CLEANING", "medium", None, 30, None, None, &bob);
    // Not samples: another service type, a cancelled job, a job with no actual time.
    s += &completed(
        35,
        "Water heater",
        "high",
        Some(600),
        600,
        Some(90_000),
        Some(120_000),
        &bob,
    );
    s += &wo(&uid(36), &cust, "Drain cleaning", "cancelled")
        .prio("high")
        .mins(None, Some(5))
        .sql();
    // Alice is booked 8 h on Wednesday.
    s += &wo(&uid(37), &cust, "Drain cleaning", "scheduled")
        .win(at("2026-03-18", "08:00"), at("2026-03-18", "16:00"))
        .by(&alice)
        .sql();
    s += &wo(&target, &cust, "Drain cleaning", "draft")
        .prio("high")
        .sql();
    sql(app, s).await;
    (cust, alice, bob, carl, target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysis_uses_medians_priority_first_then_service_type() {
    let (app, c) = app_with(|_| {}).await;
    let (cust, alice, bob, carl, target) = drain_history(&app).await;
    let path = format!("/api/v1/work-orders/{target}/analysis");

    // Only 2 "high" drain-cleaning jobs → all 5 of the service type (case-insensitive):
    // minutes [30, 60, 90, 120, 150] → 90; costs [100, 150, 200, 260] → (150 + 200) / 2 = 175.
    let a = get(&app, &c, &path).await;
    assert_eq!(num(&a["estimatedDuration"]), 1.5);
    assert_eq!(num(&a["estimatedCost"]), 175.0);
    assert_eq!(a["basis"]["samples"], 5);
    assert_eq!(a["basis"]["method"], "service_type");
    assert_eq!(
        a["basis"]["explanation"],
        "duration is the median actual duration of the 5 most recent completed 'drain cleaning' jobs of any priority (fewer than 3 with priority 'high'); cost is the median actual cost of the 4 of them with a recorded cost"
    );
    // Alice: skill 40 + experience 25×2/10 = 5 + performance 20×0.84 = 16.8
    //   (accuracy 120/150 → 24, margin 44 % → 30, volume 2/2 → 20, no follow-ups → 10 = 84.0)
    //   + load 15×(1 − 8/40) = 12 → 73.8.
    // Bob (no matching skill, 1 job) scores far less; Carl (77.1 if active) is inactive.
    assert_eq!(
        a["recommendedEmployee"],
        json!({"id": alice, "name": "Alice", "reasons": [
            "has skill 'drain cleaning'",
            "completed 2 drain cleaning jobs",
            "performance score 84.0/100 over the last 90 days",
            "8.0 h booked in the next 7 days",
        ]})
    );

    // A third "high" job → the priority level: minutes [60, 90, 45] → 60; costs [100, 150, 80] → 100.
    let sixth = uid(38);
    sql(
        &app,
        wo(&sixth, &cust, "drain cleaning", "completed")
            .prio("high")
            .mins(Some(45), Some(45))
            .money(Some(8_000), Some(12_000))
            .by(&bob)
            .done("2026-03-06T17:00:00.000000Z")
            .sql(),
    )
    .await;
    let a = get(&app, &c, &path).await;
    assert_eq!(num(&a["estimatedDuration"]), 1.0);
    assert_eq!(num(&a["estimatedCost"]), 100.0);
    assert_eq!(a["basis"]["samples"], 3);
    assert_eq!(a["basis"]["method"], "service_type_and_priority");
    assert_eq!(a["recommendedEmployee"]["id"], json!(alice));

    // Analysing that job itself leaves it out of its own history.
    let own = get(&app, &c, &format!("/api/v1/work-orders/{sixth}/analysis")).await;
    assert_eq!(own["basis"]["method"], "service_type");
    assert_eq!(num(&own["estimatedCost"]), 175.0);

    // Reactivated, Carl wins. Bob now has 3 jobs, so volume is 2/3 for Alice and Carl:
    // Carl 40 + 5 + 20×0.79 + 15 = 75.8 (accuracy 1 → 30, margin 34.3 % → 25.7,
    // volume 13.3, follow-ups 10 = 79.0) > Alice 40 + 5 + 20×0.773 + 12 = 72.5.
    sql(
        &app,
        format!("UPDATE employees SET active = 1 WHERE id = {};", q(&carl)),
    )
    .await;
    let a = get(&app, &c, &path).await;
    assert_eq!(
        a["recommendedEmployee"],
        json!({"id": carl, "name": "Carl", "reasons": [
            "has skill 'drain cleaning'",
            "completed 2 drain cleaning jobs",
            "performance score 79.0/100 over the last 90 days",
            "lightest schedule: 0.0 h booked in the next 7 days",
        ]})
    );

    // A service type with no history: the default 2 h at the median active
    // rate ([40, 60, 90] → $60.00/h) = $120.00.
    let roof = uid(39);
    sql(&app, wo(&roof, &cust, "Roof repair", "draft").sql()).await;
    let a = get(&app, &c, &format!("/api/v1/work-orders/{roof}/analysis")).await;
    assert_eq!(num(&a["estimatedDuration"]), 2.0);
    assert_eq!(num(&a["estimatedCost"]), 120.0);
    assert_eq!(a["basis"]["method"], "default");
    assert_eq!(
        a["recommendedEmployee"]["reasons"][0],
        json!(format!("no recorded skill matches 'roof repair'"))
    );
    app.stop().await;
}

/// The analysis computed afresh (no cache) for `service`/`priority` as a new
/// work order would be analysed, serialised as the API serialises it.
async fn fresh_analysis(app: &TestApp, service: &str, priority: &str) -> Value {
    let input = quant::db::analytics::AnalysisInput {
        service_type: service.into(),
        priority: priority.into(),
        exclude_work_order_id: None,
    };
    let business = app.state.config().business;
    let today = app.state.today();
    let a = app
        .state
        .db
        .read(move |c| quant::db::analytics::analyze(c, &input, &business, today))
        .await
        .expect("analysis");
    serde_json::to_value(a).unwrap()
}

async fn generation(app: &TestApp) -> i64 {
    app.state
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT n FROM generations WHERE name = 'analysis'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap()
}

/// `POST /work-orders` answers with the cached analysis: identical to one
/// computed afresh after every kind of change to its inputs, and kept (not
/// recomputed) while only drafts are created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_reuses_the_analysis_until_its_inputs_change() {
    let (app, c) = app_with(|_| {}).await;
    let (cust, alice, bob, _carl, _target) = drain_history(&app).await;
    let create = |n: u32| {
        let (c, app, cust) = (c.clone(), &app, cust.clone());
        async move {
            let r = c
                .post(app.url("/api/v1/work-orders"))
                .json(
                    &json!({"customerId": cust, "serviceType": " Drain cleaning ",
                    "description": format!("sink {n}"), "priorityLevel": "high"}),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()["analysis"].clone()
        }
    };
    let check = |label: &'static str| {
        let app = &app;
        let create = &create;
        async move {
            let got = create(0).await;
            assert_eq!(
                got,
                fresh_analysis(app, "Drain cleaning", "high").await,
                "{label}"
            );
            got
        }
    };
    let first = check("first create").await;
    assert_eq!(first["recommendedEmployee"]["id"], json!(alice));
    assert!(!app.state.db.analysis_cache().is_empty());

    // New drafts change no input: the generation stays, the answer too.
    let g = generation(&app).await;
    for n in 1..=3 {
        assert_eq!(create(n).await, first);
    }
    assert_eq!(
        generation(&app).await,
        g,
        "drafts do not bump the generation"
    );

    // A write that rolls back leaves the generation and the answer alone.
    let bob2 = bob.clone();
    let failed = app
        .state
        .db
        .write(move |c| {
            c.execute(
                "UPDATE work_orders SET actual_minutes = 999 WHERE assigned_employee_id = ?1",
                [&bob2],
            )?;
            Err::<(), _>(quant::db::DbError::Rejected("roll back".into()))
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(generation(&app).await, g);
    assert_eq!(check("after a rollback").await, first);

    // Editing a completed job's actual time (the median moves).
    sql(
        &app,
        format!(
            "UPDATE work_orders SET actual_minutes = 600 WHERE id IN ({}, {});",
            q(&uid(30)),
            q(&uid(31))
        ),
    )
    .await;
    let edited = check("completed jobs edited").await;
    assert_ne!(edited["estimatedDuration"], first["estimatedDuration"]);

    // A booking for Alice (load), then a follow-up (performance), then an
    // employee change, then deleting a completed job: each one is seen.
    let booked = uid(60);
    sql(
        &app,
        wo(&booked, &cust, "Drain cleaning", "scheduled")
            .win(at("2026-03-17", "08:00"), at("2026-03-17", "18:00"))
            .by(&alice)
            .sql(),
    )
    .await;
    let after_booking = check("booking").await;
    assert_ne!(after_booking, edited);
    sql(
        &app,
        follow_up(&uid(61), Some(&uid(30)), &cust, "2026-03-10", "open"),
    )
    .await;
    let after_follow_up = check("follow-up").await;
    assert_ne!(after_follow_up, after_booking);
    sql(
        &app,
        format!(
            "UPDATE employees SET skills = '[]' WHERE id = {};",
            q(&alice)
        ),
    )
    .await;
    let after_skills = check("employee edit").await;
    assert_ne!(after_skills, after_follow_up);
    sql(
        &app,
        format!(
            "DELETE FROM follow_ups; DELETE FROM work_orders WHERE id = {};",
            q(&uid(34))
        ),
    )
    .await;
    check("completed job deleted").await;

    // The next business day: the 90-day range and the 7-day load move.
    app.clock
        .set(quant::clock::parse_ts("2026-03-17T15:00:00Z").unwrap());
    let next_day = check("next day").await;
    assert_ne!(next_day, after_skills);
    app.stop().await;
}

// ---------------------------------------------------------------- dashboard

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_figures_in_the_business_time_zone() {
    let (app, c) = app_with(|cfg| cfg.business.timezone = "America/Chicago".into()).await;
    let cust = uid(1);
    let mut s = customer(&cust, "Ann");
    let made = "2026-02-20T12:00:00.000000Z";
    let done =
        |n: u64, service: &str, ts: &str, est: Option<i64>, act: i64, cost: i64, price: i64| {
            wo(&uid(n), &cust, service, "completed")
                .mins(est, Some(act))
                .money(Some(cost), Some(price))
                .done(ts)
                .made(made)
                .sql()
        };
    // Today in Chicago is 2026-03-16, so the default range is 2026-02-15 ..= 2026-03-16.
    // 00:30 CST on Feb 15: in.
    s += &done(
        10,
        "Drain cleaning",
        "2026-02-15T06:30:00.000000Z",
        Some(60),
        60,
        12_000,
        20_000,
    );
    // 23:30 CST on Feb 14: out (and created before the range).
    s += &wo(&uid(11), &cust, "Drain cleaning", "completed")
        .money(Some(0), Some(99_900))
        .done("2026-02-15T05:30:00.000000Z")
        .made("2026-02-01T12:00:00.000000Z")
        .sql();
    s += &done(
        12,
        "drain cleaning",
        "2026-03-10T18:00:00.000000Z",
        Some(90),
        120,
        15_000,
        30_000,
    );
    // 23:30 CDT on Mar 16: in.
    s += &done(
        13,
        "Water heater",
        "2026-03-17T04:30:00.000000Z",
        None,
        300,
        90_000,
        100_000,
    );
    // 00:30 CDT on Mar 17: out.
    s += &done(
        14,
        "Water heater",
        "2026-03-17T05:30:00.000000Z",
        None,
        60,
        1,
        77_700,
    );
    s += &wo(&uid(15), &cust, "x", "draft")
        .made("2026-03-01T12:00:00.000000Z")
        .sql();
    s += &wo(&uid(16), &cust, "x", "scheduled")
        .made("2026-03-02T12:00:00.000000Z")
        .sql();
    s += &wo(&uid(17), &cust, "x", "in_progress")
        .made("2026-01-01T12:00:00.000000Z")
        .sql();
    s += &wo(&uid(18), &cust, "x", "cancelled")
        .made("2026-03-03T12:00:00.000000Z")
        .sql();
    sql(&app, s).await;

    let d = get(&app, &c, "/api/v1/analytics/dashboard").await;
    assert_eq!(
        (d["from"].as_str(), d["to"].as_str()),
        (Some("2026-02-15"), Some("2026-03-16"))
    );
    // Revenue 200 + 300 + 1000; cost 120 + 150 + 900.
    assert_eq!(num(&d["totalRevenue"]), 1500.0);
    assert_eq!(num(&d["totalCost"]), 1170.0);
    assert_eq!(num(&d["profit"]), 330.0);
    assert_eq!(num(&d["profitMargin"]), 0.22);
    assert_eq!(d["jobsCompleted"], 3);
    // (60 + 90) / (60 + 120) over the 2 jobs with both durations.
    assert_eq!(num(&d["efficiency"]), 0.8333);
    assert_eq!(d["efficiencySamples"], 2);
    assert_eq!(d["activeWorkOrders"], 2);
    assert_eq!(
        d["revenueByMonth"],
        json!([
            {"month": "2026-02", "revenue": 200.0, "cost": 120.0, "jobs": 1},
            {"month": "2026-03", "revenue": 1300.0, "cost": 1050.0, "jobs": 2},
        ])
    );
    assert_eq!(
        d["jobsByStatus"],
        json!({"draft": 1, "scheduled": 1, "in_progress": 0, "completed": 4, "cancelled": 1})
    );
    assert_eq!(
        d["marginByServiceType"],
        json!([
            {"serviceType": "Water heater", "revenue": 1000.0, "cost": 900.0, "margin": 0.1, "jobs": 1},
            {"serviceType": "Drain cleaning", "revenue": 500.0, "cost": 270.0, "margin": 0.46, "jobs": 2},
        ])
    );

    // An explicit one-day range holds only the late-evening job of Feb 14.
    let d = get(
        &app,
        &c,
        "/api/v1/analytics/dashboard?from=2026-02-14&to=2026-02-14",
    )
    .await;
    assert_eq!(num(&d["totalRevenue"]), 999.0);
    assert_eq!(num(&d["profitMargin"]), 1.0);
    assert_eq!(num(&d["efficiency"]), 0.0);
    assert_eq!(d["revenueByMonth"].as_array().unwrap().len(), 1);

    // A range with nothing: zeros, and every month still present.
    let d = get(
        &app,
        &c,
        "/api/v1/analytics/dashboard?from=2025-01-15&to=2025-03-01",
    )
    .await;
    assert_eq!(num(&d["totalRevenue"]), 0.0);
    assert_eq!(num(&d["profitMargin"]), 0.0);
    assert_eq!(d["jobsCompleted"], 0);
    let months: Vec<&str> = d["revenueByMonth"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["month"].as_str().unwrap())
        .collect();
    assert_eq!(months, ["2025-01", "2025-02", "2025-03"]);

    // Only `to`: the 30 days ending then.
    let d = get(&app, &c, "/api/v1/analytics/dashboard?to=2026-01-31").await;
    assert_eq!(d["from"], "2026-01-02");

    // Bad ranges.
    for (query, field) in [
        ("from=2026-03-02&to=2026-03-01", "from"),
        ("from=2020-01-01&to=2025-01-01", "to"),
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
    ] {
        let r = c
            .get(app.url(&format!("/api/v1/analytics/dashboard?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"]["fields"][field].is_string(),
            "{query}: {body}"
        );
    }
    // Exactly five years (1,827 days inclusive) is allowed.
    assert_eq!(
        status_of(
            &app,
            &c,
            "/api/v1/analytics/dashboard?from=2020-01-01&to=2024-12-31"
        )
        .await,
        200
    );
    assert_eq!(
        status_of(&app, &c, "/api/v1/analytics/dashboard?foo=1").await,
        400
    );
    app.stop().await;
}

// ---------------------------------------------------------------- per entity

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_by_lifetime_value_with_profitability_scores() {
    let (app, c) = app_with(|_| {}).await;
    let (a, b, cc, d) = (uid(1), uid(2), uid(3), uid(4));
    let mut s =
        customer(&a, "Ann") + &customer(&b, "Ben") + &customer(&cc, "Cy") + &customer(&d, "Dee");
    let job = |n: u64, cust: &str, cost: i64, price: i64, ts: &str| {
        wo(&uid(n), cust, "Repair", "completed")
            .money(Some(cost), Some(price))
            .done(ts)
            .sql()
    };
    s += &job(10, &a, 30_000, 50_000, "2026-03-01T15:00:00.000000Z");
    s += &job(11, &a, 20_000, 30_000, "2026-02-01T15:00:00.000000Z");
    s += &wo(&uid(12), &a, "Repair", "cancelled")
        .money(Some(1), Some(900_000))
        .sql();
    s += &wo(&uid(13), &a, "Repair", "scheduled")
        .money(None, Some(900_000))
        .sql();
    s += &job(14, &b, 18_000, 20_000, "2025-10-17T15:00:00.000000Z");
    s += &job(15, &d, 2_000, 10_000, "2024-12-01T15:00:00.000000Z");
    sql(&app, s).await;

    let page = get(&app, &c, "/api/v1/analytics/customers?limit=2").await;
    assert_eq!(page["pagination"]["total"], 4);
    let ann = &page["data"][0];
    assert_eq!(ann["id"], json!(a));
    assert_eq!(num(&ann["lifetimeValue"]), 800.0);
    assert_eq!(num(&ann["cost"]), 500.0);
    assert_eq!(num(&ann["profit"]), 300.0);
    assert_eq!(num(&ann["margin"]), 0.375);
    assert_eq!(ann["jobs"], 2);
    assert_eq!(ann["lastJobDate"], "2026-03-01");
    // 50 × 0.375/0.40 = 46.9 + 30 × 800/800 + 20 (15 days ago) = 96.9
    assert_eq!(num(&ann["profitabilityScore"]), 96.9);
    assert_eq!(num(&ann["components"]["margin"]["points"]), 46.9);
    assert_eq!(num(&ann["components"]["recency"]["value"]), 1.0);
    let ben = &page["data"][1];
    assert_eq!(ben["id"], json!(b));
    // 50 × 0.10/0.40 = 12.5, 30 × 0.25 = 7.5, 20 × (365 − 150)/275 = 15.6 → 35.6
    assert_eq!(num(&ben["profitabilityScore"]), 35.6);
    assert_eq!(num(&ben["components"]["recency"]["value"]), 0.7818);

    let page = get(&app, &c, "/api/v1/analytics/customers?limit=2&page=2").await;
    let dee = &page["data"][0];
    assert_eq!(dee["id"], json!(d));
    // 50 × 1 (80 % margin, capped) + 30 × 0.125 = 3.8 + 0 (over a year ago) = 53.8
    assert_eq!(num(&dee["profitabilityScore"]), 53.8);
    let cy = &page["data"][1];
    assert_eq!(cy["id"], json!(cc));
    assert_eq!(num(&cy["lifetimeValue"]), 0.0);
    assert_eq!(cy["jobs"], 0);
    assert_eq!(cy["lastJobDate"], Value::Null);
    assert_eq!(num(&cy["profitabilityScore"]), 0.0);
    assert_eq!(
        status_of(&app, &c, "/api/v1/analytics/customers?limit=101").await,
        400
    );
    assert_eq!(
        status_of(&app, &c, "/api/v1/analytics/customers?from=2026-01-01").await,
        400
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equipment_utilization_over_working_hours() {
    let (app, c) = app_with(|_| {}).await;
    let cust = uid(1);
    let (jetter, camera, ladder, old) = (uid(10), uid(11), uid(12), uid(13));
    let (l1, l2) = (uid(20), uid(21));
    let mut s = customer(&cust, "Ann")
        + &equipment(&jetter, "Jetter", "available", None, TS)
        + &equipment(&camera, "Camera", "in_use", Some("2026-04-01"), TS)
        + &equipment(&ladder, "Ladder", "available", None, TS)
        + &equipment(&old, "Old", "retired", None, TS)
        + &loadout(&l1, "Drain kit", &[&jetter, &camera])
        + &loadout(&l2, "Camera kit", &[&camera]);
    s += &wo(&uid(30), &cust, "x", "scheduled")
        .kit(&l1)
        .win(at("2026-03-03", "09:00"), at("2026-03-03", "13:00"))
        .sql();
    s += &wo(&uid(31), &cust, "x", "completed")
        .kit(&l2)
        .win(at("2026-03-03", "11:00"), at("2026-03-03", "15:00"))
        .done("2026-03-03T15:00:00.000000Z")
        .sql();
    // Crosses the end of the range: only the 2 h before midnight count.
    s += &wo(&uid(32), &cust, "x", "in_progress")
        .kit(&l1)
        .win(at("2026-03-15", "22:00"), at("2026-03-16", "02:00"))
        .sql();
    s += &wo(&uid(33), &cust, "x", "cancelled")
        .kit(&l1)
        .win(at("2026-03-05", "08:00"), at("2026-03-05", "16:00"))
        .sql();
    s += &wo(&uid(34), &cust, "x", "draft").kit(&l1).sql();
    s += &wo(&uid(35), &cust, "x", "completed")
        .kit(&l1)
        .win(at("2026-02-27", "08:00"), at("2026-02-27", "16:00"))
        .done("2026-02-27T16:00:00.000000Z")
        .sql();
    sql(&app, s).await;

    // 2026-03-02 ..= 2026-03-15: 10 weekdays × 8 h = 80 h available.
    let v = get(
        &app,
        &c,
        "/api/v1/analytics/equipment?from=2026-03-02&to=2026-03-15",
    )
    .await;
    assert_eq!(
        (v["from"].as_str(), v["to"].as_str()),
        (Some("2026-03-02"), Some("2026-03-15"))
    );
    assert_eq!(v["pagination"]["total"], 4);
    let rows = v["data"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Camera", "Jetter", "Ladder", "Old"]);
    // Camera: 09:00–15:00 (two overlapping bookings counted once) + 2 h = 8 h → 10.0 %.
    assert_eq!(num(&rows[0]["bookedHours"]), 8.0);
    assert_eq!(num(&rows[0]["availableHours"]), 80.0);
    assert_eq!(num(&rows[0]["utilizationPercentage"]), 10.0);
    assert_eq!(rows[0]["jobs"], 3);
    assert_eq!(rows[0]["nextMaintenanceDate"], "2026-04-01");
    assert_eq!(rows[0]["type"], "tool");
    // Jetter: 4 h + 2 h = 6 h → 7.5 %.
    assert_eq!(num(&rows[1]["utilizationPercentage"]), 7.5);
    assert_eq!(rows[1]["jobs"], 2);
    assert_eq!(num(&rows[2]["utilizationPercentage"]), 0.0);
    assert_eq!(rows[3]["status"], "retired");

    // Default: the last 30 days (2026-02-15 ..= 2026-03-16, 21 weekdays = 168 h).
    let v = get(&app, &c, "/api/v1/analytics/equipment").await;
    assert_eq!(v["from"], "2026-02-15");
    let jet = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == json!(jetter))
        .unwrap()
        .clone();
    // 8 h (Feb 27) + 4 h + 4 h (Mar 15 22:00 – Mar 16 02:00) = 16 h of 168 h = 9.5 %.
    assert_eq!(num(&jet["availableHours"]), 168.0);
    assert_eq!(num(&jet["bookedHours"]), 16.0);
    assert_eq!(num(&jet["utilizationPercentage"]), 9.5);
    assert_eq!(
        status_of(
            &app,
            &c,
            "/api/v1/analytics/equipment?from=2026-03-10&to=2026-03-01"
        )
        .await,
        400
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn employee_performance_scores_and_components() {
    let (app, c) = app_with(|_| {}).await;
    let cust = uid(1);
    let (alice, bob, dora) = (uid(10), uid(11), uid(12));
    let mut s = customer(&cust, "Ann")
        + &employee(&alice, "Alice", "plumbing", &[], 4000, true)
        + &employee(&bob, "Bob", "plumbing", &[], 4000, true)
        + &employee(&dora, "Dora", "", &[], 4000, false);
    let done = "2026-03-02T15:00:00.000000Z";
    let job =
        |n: u64, emp: &str, est: Option<i64>, act: i64, cost: Option<i64>, price: Option<i64>| {
            wo(&uid(n), &cust, "Repair", "completed")
                .mins(est, Some(act))
                .money(cost, price)
                .by(emp)
                .done(done)
                .sql()
        };
    s += &job(20, &alice, Some(60), 60, Some(10_000), Some(20_000));
    s += &job(21, &alice, Some(60), 90, Some(15_000), Some(25_000));
    s += &job(22, &alice, Some(120), 100, Some(9_000), Some(10_000));
    s += &job(23, &bob, None, 120, Some(5_000), None);
    // Outside the last 90 days (from 2025-12-17).
    s += &wo(&uid(24), &cust, "Repair", "completed")
        .mins(Some(10), Some(500))
        .by(&bob)
        .done("2025-11-01T15:00:00.000000Z")
        .sql();
    // Follow-ups of Alice's jobs: 2 done and 1 open are due by today; one is
    // not due yet; a cancelled one does not count.
    s += &follow_up(&uid(30), Some(&uid(20)), &cust, "2026-03-05", "done");
    s += &follow_up(&uid(31), Some(&uid(21)), &cust, "2026-03-06", "done");
    s += &follow_up(&uid(32), Some(&uid(22)), &cust, "2026-03-10", "open");
    s += &follow_up(&uid(33), Some(&uid(20)), &cust, "2026-03-20", "open");
    s += &follow_up(&uid(34), Some(&uid(21)), &cust, "2026-03-01", "cancelled");
    // Bob: 3 h booked tomorrow; a booking 7 days from today is outside the week.
    s += &wo(&uid(40), &cust, "Repair", "scheduled")
        .by(&bob)
        .win(at("2026-03-17", "09:00"), at("2026-03-17", "12:00"))
        .sql();
    s += &wo(&uid(41), &cust, "Repair", "scheduled")
        .by(&bob)
        .win(at("2026-03-23", "09:00"), at("2026-03-23", "12:00"))
        .sql();
    sql(&app, s).await;

    let v = get(&app, &c, "/api/v1/analytics/employees").await;
    assert_eq!(v["from"], "2025-12-17");
    let rows = v["data"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Alice", "Bob", "Dora"]);
    let a = &rows[0];
    // accuracy (60+60+100)/(60+90+120) = 0.8148 → 24.4; margin 21000/55000 = 0.3818 → 28.6;
    // volume 3/3 → 20; follow-ups 2/3 → 13.3; total 86.3.
    assert_eq!(num(&a["performanceScore"]), 86.3);
    assert_eq!(
        a["components"],
        json!({
            "estimateAccuracy": {"value": 0.8148, "points": 24.4, "weight": 30.0, "samples": 3},
            "margin": {"value": 0.3818, "points": 28.6, "weight": 30.0, "samples": 3},
            "volume": {"value": 1.0, "points": 20.0, "weight": 20.0, "samples": 3},
            "followUpCompletion": {"value": 0.6667, "points": 13.3, "weight": 20.0, "samples": 3},
        })
    );
    assert_eq!(a["jobsCompleted"], 3);
    assert_eq!(num(&a["hoursWorked"]), 4.17);
    assert_eq!(num(&a["revenue"]), 550.0);
    assert_eq!(num(&a["cost"]), 340.0);
    assert_eq!(num(&a["margin"]), 0.3818);
    let b = &rows[1];
    // No timed or priced job → neutral 15 + 15; volume 1/3 → 6.7; no follow-ups → 10.
    assert_eq!(num(&b["performanceScore"]), 46.7);
    assert_eq!(b["components"]["estimateAccuracy"]["value"], Value::Null);
    assert_eq!(num(&b["bookedNext7Days"]), 3.0);
    let d = &rows[2];
    assert_eq!(
        (d["active"].as_bool(), num(&d["performanceScore"])),
        (Some(false), 40.0)
    );

    // A narrower range leaves Alice's jobs out.
    let v = get(
        &app,
        &c,
        "/api/v1/analytics/employees?from=2026-03-03&to=2026-03-16",
    )
    .await;
    let a = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == json!(alice))
        .unwrap()
        .clone();
    assert_eq!(a["jobsCompleted"], 0);
    assert_eq!(
        status_of(&app, &c, "/api/v1/analytics/employees?active=1").await,
        400
    );
    app.stop().await;
}

// ---------------------------------------------------------------- recommendations

async fn recommendations(app: &TestApp, c: &reqwest::Client) -> Vec<Value> {
    let v = get(app, c, "/api/v1/analytics/recommendations").await;
    assert_eq!(v["date"], "2026-03-16");
    v["data"].as_array().unwrap().clone()
}

fn ids(recs: &[Value]) -> Vec<String> {
    recs.iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn find<'a>(recs: &'a [Value], id: &str) -> &'a Value {
    recs.iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {recs:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_little_data_recommendations_say_what_to_record() {
    let (app, c) = app_with(|_| {}).await;
    let recs = recommendations(&app, &c).await;
    assert_eq!(
        ids(&recs),
        ["add-equipment", "add-technicians", "record-completed-jobs"]
    );
    for r in &recs {
        assert_eq!(r["kind"], "data_needed");
        assert_eq!(r["severity"], "info");
        assert!(!r["title"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        find(&recs, "record-completed-jobs")["evidence"],
        json!({"completedJobs": 0, "wanted": 10})
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_fires_on_its_evidence_and_only_then() {
    let (app, c) = app_with(|_| {}).await;
    let cust = uid(1);
    let (alice, bob, carl) = (uid(10), uid(11), uid(12));
    let (jetter, camera, drone, ladder) = (uid(20), uid(21), uid(22), uid(23));
    let kit = uid(25);
    let old = "2025-01-01T00:00:00.000000Z";
    let mut s = customer(&cust, "Ann")
        + &employee(&alice, "Alice", "plumbing", &["drains"], 4000, true)
        + &employee(&bob, "Bob", "", &["heaters"], 4000, true)
        + &employee(&carl, "Carl", "", &[], 4000, true)
        // Jetter: idle, maintenance overdue. Camera: busy enough, maintenance in 4 days.
        // Drone: idle but only added 6 days ago. Ladder: in maintenance, so neither.
        + &equipment(&jetter, "Jetter", "available", Some("2026-03-10"), old)
        + &equipment(&camera, "Camera", "available", Some("2026-03-20"), old)
        + &equipment(&drone, "Drone", "available", Some("2026-04-30"), "2026-03-10T00:00:00.000000Z")
        + &equipment(&ladder, "Ladder", "maintenance", Some("2026-03-01"), old)
        + &loadout(&kit, "Camera kit", &[&camera]);
    let job = |n: u64, service: &str, cost: i64, price: i64| {
        wo(&uid(n), &cust, service, "completed")
            .mins(Some(60), Some(60))
            .money(Some(cost), Some(price))
            .done("2026-03-05T15:00:00.000000Z")
    };
    // Gutter cleaning: 3 jobs at a 10 % margin → underpriced (medium).
    for n in 30..33 {
        s += &job(n, "Gutter cleaning", 9_000, 10_000).sql();
    }
    // Drain cleaning: 3 jobs at 50 % → fine; they book the Camera 3 × 400 min = 20 h
    // of 168 h = 11.9 % → not idle.
    for (i, n) in (33..36).enumerate() {
        let day = format!("2026-03-0{}", 2 + i);
        s += &job(n, "Drain cleaning", 5_000, 10_000)
            .kit(&kit)
            .win(at(&day, "08:00"), at(&day, "14:40"))
            .sql();
    }
    // Roofing: negative margin but only 2 jobs → not judged.
    for n in 36..38 {
        s += &job(n, "Roofing", 12_000, 10_000).sql();
    }
    // A completed job with no actual cost or price → incomplete records.
    s += &wo(&uid(38), &cust, "Inspection", "completed")
        .mins(None, Some(30))
        .done("2026-03-06T15:00:00.000000Z")
        .sql();
    // Alice: 5 × 9 h this week = 45 h > 40 h. Bob: 5 × 8 h = exactly 40 h, not over.
    for (i, n) in (40..45).enumerate() {
        let day = format!("2026-03-{}", 16 + i);
        s += &wo(&uid(n), &cust, "x", "scheduled")
            .by(&alice)
            .win(at(&day, "08:00"), at(&day, "17:00"))
            .sql();
        s += &wo(&uid(n + 10), &cust, "x", "scheduled")
            .by(&bob)
            .win(at(&day, "08:00"), at(&day, "16:00"))
            .sql();
    }
    // Follow-ups: 2 open and overdue (oldest 15 days), one due today, one done.
    s += &follow_up(&uid(60), None, &cust, "2026-03-01", "open");
    s += &follow_up(&uid(61), None, &cust, "2026-03-15", "open");
    s += &follow_up(&uid(62), None, &cust, "2026-03-16", "open");
    s += &follow_up(&uid(63), None, &cust, "2026-02-01", "done");
    // Invoices: two sent with a balance and past due; the rest do not count.
    s += &invoice(&uid(70), 1, &cust, "sent", 10_000, 4_000, "2026-03-01");
    s += &invoice(&uid(71), 2, &cust, "sent", 5_000, 0, "2026-01-31");
    s += &invoice(&uid(72), 3, &cust, "sent", 5_000, 0, "2026-03-16");
    s += &invoice(&uid(73), 4, &cust, "paid", 5_000, 5_000, "2026-01-01");
    s += &invoice(&uid(74), 5, &cust, "sent", 5_000, 5_000, "2026-01-01");
    s += &invoice(&uid(75), 6, &cust, "draft", 5_000, 0, "2026-01-01");
    sql(&app, s).await;

    let recs = recommendations(&app, &c).await;
    assert_eq!(
        ids(&recs),
        [
            format!("maintenance-due:{jetter}"),
            "overdue-follow-ups".into(),
            "overdue-invoices".into(),
            format!("overloaded-technician:{alice}"),
            format!("maintenance-due:{camera}"),
            "underpriced-service:gutter cleaning".into(),
            "complete-job-records".into(),
            format!("idle-equipment:{jetter}"),
            "record-completed-jobs".into(),
            "record-skills".into(),
        ]
    );
    let severities: Vec<&str> = recs
        .iter()
        .map(|r| r["severity"].as_str().unwrap())
        .collect();
    assert_eq!(
        severities,
        [
            "high", "high", "high", "high", "medium", "medium", "low", "low", "info", "info"
        ]
    );
    let r = find(&recs, "underpriced-service:gutter cleaning");
    assert_eq!(r["kind"], "underpriced_service_type");
    assert_eq!(
        r["evidence"],
        json!({"serviceType": "Gutter cleaning", "jobs": 3, "revenue": 300.0, "cost": 270.0,
               "margin": 0.1, "thresholdMargin": 0.15, "minimumJobs": 3, "windowDays": 90})
    );
    let r = find(&recs, &format!("idle-equipment:{jetter}"));
    assert_eq!(r["kind"], "idle_equipment");
    assert_eq!(num(&r["evidence"]["utilizationPercentage"]), 0.0);
    assert_eq!(num(&r["evidence"]["thresholdPercentage"]), 10.0);
    let r = find(&recs, &format!("maintenance-due:{jetter}"));
    assert_eq!(r["evidence"]["daysUntilDue"], -6);
    assert_eq!(
        r["detail"],
        "Maintenance of Jetter was due 6 days ago (2026-03-10). Schedule it and set the next date."
    );
    assert_eq!(
        find(&recs, &format!("maintenance-due:{camera}"))["evidence"]["daysUntilDue"],
        4
    );
    let r = find(&recs, "overdue-follow-ups");
    assert_eq!(r["evidence"]["count"], 2);
    assert_eq!(r["evidence"]["oldestDueDate"], "2026-03-01");
    assert_eq!(r["evidence"]["daysOverdue"], 15);
    assert_eq!(r["evidence"]["items"][0]["customer"], "Ann");
    let r = find(&recs, &format!("overloaded-technician:{alice}"));
    assert_eq!(num(&r["evidence"]["bookedHours"]), 45.0);
    assert_eq!(r["evidence"]["thresholdHours"], 40);
    let r = find(&recs, "overdue-invoices");
    assert_eq!(r["evidence"]["count"], 2);
    assert_eq!(num(&r["evidence"]["balance"]), 110.0);
    assert_eq!(r["evidence"]["oldestDueDate"], "2026-01-31");
    assert_eq!(r["evidence"]["daysOverdue"], 44);
    assert_eq!(r["evidence"]["items"][0]["number"], "INV-000002");
    let r = find(&recs, "complete-job-records");
    assert_eq!(
        r["evidence"],
        json!({"incompleteJobs": 1, "completedJobs": 9, "windowDays": 90})
    );
    assert_eq!(
        find(&recs, "record-skills")["evidence"]["employeesWithoutSkills"],
        1
    );

    // Fix everything: the rules stop firing and one all-clear item remains.
    let mut fix = format!(
        "UPDATE work_orders SET final_price_cents = 20000, actual_cost_cents = 9000
           WHERE service_type IN ('Gutter cleaning', 'Roofing', 'Inspection');
         UPDATE work_orders SET status = 'cancelled' WHERE id = {};
         UPDATE follow_ups SET status = 'done', completed_at = '{TS}';
         UPDATE invoices SET paid_cents = total_cents, status = 'paid' WHERE status = 'sent';
         UPDATE equipment SET next_maintenance_date = '2026-06-01';
         UPDATE employees SET trade = 'general' WHERE trade = '';
         UPDATE equipment SET status = 'retired' WHERE id = {};",
        q(&uid(40)),
        q(&jetter)
    );
    for n in 80..82 {
        fix += &job(n, "Drain cleaning", 5_000, 10_000).sql();
    }
    sql(&app, fix).await;
    let recs = recommendations(&app, &c).await;
    assert_eq!(ids(&recs), ["all-clear"]);
    assert_eq!(recs[0]["kind"], "all_clear");
    assert_eq!(recs[0]["evidence"]["completedJobs"], 11);
    app.stop().await;
}

// ---------------------------------------------------------------- /metrics

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        (k == series).then(|| v.parse().ok())?
    })
}

async fn metrics_text(app: &TestApp) -> String {
    let r = client().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_export_the_business_gauges() {
    let (app, _c) = app_with(|_| {}).await;
    let text = metrics_text(&app).await;
    assert_eq!(sample(&text, "quant_revenue_total"), Some(0.0));
    assert_eq!(sample(&text, "quant_work_orders_active"), Some(0.0));
    // Vectors without series are not exported at all.
    assert!(
        !text.contains("quant_equipment_utilization_percentage"),
        "{text}"
    );

    let cust = uid(1);
    let (alice, dora) = (uid(10), uid(11));
    let (jetter, camera, old) = (uid(20), uid(21), uid(22));
    let kit = uid(25);
    let mut s = customer(&cust, "Ann")
        + &employee(&alice, "Alice", "plumbing", &[], 4000, true)
        + &employee(&dora, "Dora", "plumbing", &[], 4000, false)
        + &equipment(&jetter, "Jetter", "available", None, TS)
        + &equipment(&camera, "Camera", "available", None, TS)
        + &equipment(&old, "Old", "retired", None, TS)
        + &loadout(&kit, "Jet kit", &[&jetter]);
    // $1,234.50 + $100.00 completed; the Jetter is booked 1,008 min of the
    // 10,080 available in the last 30 days = 10 %.
    s += &wo(&uid(30), &cust, "Repair", "completed")
        .mins(Some(60), Some(60))
        .money(Some(60_000), Some(123_450))
        .by(&alice)
        .kit(&kit)
        .win(at("2026-03-10", "08:00"), at("2026-03-10", "08:00") + 1008)
        .done("2026-03-11T15:00:00.000000Z")
        .sql();
    s += &wo(&uid(31), &cust, "Repair", "completed")
        .money(None, Some(10_000))
        .done("2025-06-01T15:00:00.000000Z")
        .sql();
    s += &wo(&uid(32), &cust, "Repair", "cancelled")
        .money(None, Some(999_999))
        .sql();
    s += &wo(&uid(33), &cust, "Repair", "scheduled").sql();
    s += &wo(&uid(34), &cust, "Repair", "in_progress").sql();
    s += &wo(&uid(35), &cust, "Repair", "draft").sql();
    sql(&app, s).await;

    let text = metrics_text(&app).await;
    assert!(text.contains("# TYPE quant_equipment_utilization_percentage gauge"));
    assert!(text.contains("# TYPE quant_employee_performance_score gauge"));
    assert_eq!(sample(&text, "quant_revenue_total"), Some(1334.5));
    assert_eq!(sample(&text, "quant_work_orders_active"), Some(2.0));
    assert_eq!(
        sample(
            &text,
            "quant_equipment_utilization_percentage{equipment=\"Jetter\"}"
        ),
        Some(10.0)
    );
    assert_eq!(
        sample(
            &text,
            "quant_equipment_utilization_percentage{equipment=\"Camera\"}"
        ),
        Some(0.0)
    );
    assert!(!text.contains("equipment=\"Old\""), "{text}");
    // Alice: accuracy 1 → 30, margin 51 % (capped) → 30, volume 1 → 20, follow-ups neutral 10.
    assert_eq!(
        sample(
            &text,
            "quant_employee_performance_score{employee=\"Alice\"}"
        ),
        Some(90.0)
    );
    assert!(!text.contains("employee=\"Dora\""), "{text}");

    // Changes show at the next scrape; retired equipment and inactive
    // employees disappear; shared names are told apart by id.
    sql(
        &app,
        format!(
            "UPDATE equipment SET status = 'retired' WHERE id = {};
             UPDATE employees SET active = 0 WHERE id = {};
             UPDATE employees SET active = 1, name = 'Dora' WHERE id = {};
             INSERT INTO employees (id, name, created_at, updated_at) VALUES ({}, 'Dora', '{TS}', '{TS}');",
            q(&jetter),
            q(&alice),
            q(&dora),
            q(&uid(12))
        ),
    )
    .await;
    let text = metrics_text(&app).await;
    assert!(!text.contains("equipment=\"Jetter\""), "{text}");
    assert!(!text.contains("employee=\"Alice\""), "{text}");
    assert_eq!(
        sample(
            &text,
            "quant_employee_performance_score{employee=\"Dora (000000000011)\"}"
        ),
        Some(40.0)
    );
    assert_eq!(
        sample(
            &text,
            "quant_employee_performance_score{employee=\"Dora (000000000012)\"}"
        ),
        Some(40.0)
    );
    app.stop().await;
}

// ---------------------------------------------------------------- roles

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_are_for_owner_and_office_only() {
    let (app, office) = app_with(|_| {}).await;
    app.user("owner@example.com", Role::Owner).await;
    app.user("tech@example.com", Role::Technician).await;
    let owner = app.login("owner@example.com").await;
    let tech = app.login("tech@example.com").await;
    let cust = uid(1);
    let job = uid(2);
    sql(
        &app,
        customer(&cust, "Ann") + &wo(&job, &cust, "Repair", "draft").sql(),
    )
    .await;
    let paths = [
        format!("/api/v1/work-orders/{job}/analysis"),
        "/api/v1/analytics/dashboard".into(),
        "/api/v1/analytics/customers".into(),
        "/api/v1/analytics/equipment".into(),
        "/api/v1/analytics/employees".into(),
        "/api/v1/analytics/recommendations".into(),
    ];
    for p in &paths {
        assert_eq!(status_of(&app, &owner, p).await, 200, "{p}");
        assert_eq!(status_of(&app, &office, p).await, 200, "{p}");
        assert_eq!(status_of(&app, &tech, p).await, 403, "{p}");
        assert_eq!(status_of(&app, &client(), p).await, 401, "{p}");
    }
    let r = office
        .post(app.url("/api/v1/analytics/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    // With a bearer token too.
    let token = app.token("office@example.com", "reports").await;
    let r = client()
        .get(app.url("/api/v1/analytics/dashboard"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}
