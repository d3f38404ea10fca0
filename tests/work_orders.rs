//! Work orders through the real App: the view, create (gap-free numbers under
//! concurrency), list filters and search, every transition (valid and
//! invalid), booking clashes by technician and equipment, technician scoping,
//! completion → invoice + follow-up in one transaction (with tax, parts and a
//! loadout), PATCH rules per status, bad input, and the audit trail.
//! Employees, equipment and loadouts are SQL fixtures (schema 0002).

mod common;

use common::*;
use quant::config::Config;
use quant::domain::user::Role;
use reqwest::Method;
use serde_json::{Value, json};

const WO: &str = "/api/v1/work-orders";

struct Ctx {
    app: TestApp,
    c: reqwest::Client,
}

fn ts(s: &str) -> chrono::DateTime<chrono::Utc> {
    quant::clock::parse_ts(s).unwrap()
}

fn new_id() -> String {
    quant::domain::ids::new_id(chrono::Utc::now()).to_string()
}

impl Ctx {
    async fn new() -> Ctx {
        Self::with(|_| {}).await
    }

    async fn with(tweak: impl FnOnce(&mut Config)) -> Ctx {
        let app = TestApp::start_with(tweak).await;
        app.clock.set(ts("2026-03-02T15:00:00Z"));
        app.user("office@example.com", Role::Office).await;
        let c = app.login("office@example.com").await;
        Ctx { app, c }
    }

    async fn send_as(
        &self,
        c: &reqwest::Client,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = c.request(method.clone(), self.app.url(path));
        if let Some(b) = &body {
            r = r.json(b);
        }
        let res = r.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"))
        };
        (status, v)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send_as(&self.c, Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send_as(&self.c, Method::GET, path, None).await
    }

    async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send_as(&self.c, Method::PATCH, path, Some(body)).await
    }

    /// Runs one SQL statement with text parameters (fixtures).
    async fn exec(&self, sql: &str, params: Vec<Option<String>>) {
        let sql = sql.to_string();
        self.app
            .state
            .db
            .write(move |c| {
                c.execute(&sql, rusqlite::params_from_iter(params))?;
                Ok(())
            })
            .await
            .unwrap();
    }

    /// One row of text/integer columns, as JSON values.
    async fn rows(&self, sql: &str, params: Vec<String>) -> Vec<Vec<Value>> {
        let sql = sql.to_string();
        self.app
            .state
            .db
            .read(move |c| {
                let mut st = c.prepare(&sql)?;
                let n = st.column_count();
                let rows = st.query_map(rusqlite::params_from_iter(params), |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => Value::Null,
                                rusqlite::types::ValueRef::Integer(x) => json!(x),
                                rusqlite::types::ValueRef::Real(x) => json!(x),
                                rusqlite::types::ValueRef::Text(t) => {
                                    json!(String::from_utf8_lossy(t))
                                }
                                rusqlite::types::ValueRef::Blob(_) => json!("<blob>"),
                            })
                        })
                        .collect::<rusqlite::Result<Vec<Value>>>()
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
            .unwrap()
    }

    async fn count(&self, table: &str) -> i64 {
        self.rows(&format!("SELECT count(*) FROM {table}"), vec![])
            .await[0][0]
            .as_i64()
            .unwrap()
    }

    async fn customer(&self, name: &str) -> String {
        let (s, v) = self
            .post("/api/v1/customers", json!({ "name": name }))
            .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    async fn employee(&self, name: &str, user_id: Option<&str>, active: bool) -> String {
        let id = new_id();
        self.exec(
            "INSERT INTO employees (id, name, user_id, hourly_rate_cents, active, created_at, updated_at)
             VALUES (?1, ?2, ?3, 4500, ?4, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            vec![
                Some(id.clone()),
                Some(name.into()),
                user_id.map(Into::into),
                Some(if active { "1" } else { "0" }.into()),
            ],
        )
        .await;
        id
    }

    async fn equipment(&self, name: &str, hourly_cents: i64) -> String {
        let id = new_id();
        self.exec(
            "INSERT INTO equipment (id, name, hourly_cost_cents, created_at, updated_at)
             VALUES (?1, ?2, ?3, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            vec![
                Some(id.clone()),
                Some(name.into()),
                Some(hourly_cents.to_string()),
            ],
        )
        .await;
        id
    }

    async fn loadout(&self, name: &str, items: &[&str]) -> String {
        let id = new_id();
        self.exec(
            "INSERT INTO loadouts (id, name, created_at, updated_at)
             VALUES (?1, ?2, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            vec![Some(id.clone()), Some(name.into())],
        )
        .await;
        for item in items {
            self.exec(
                "INSERT INTO loadout_items (loadout_id, equipment_id) VALUES (?1, ?2)",
                vec![Some(id.clone()), Some(item.to_string())],
            )
            .await;
        }
        id
    }

    async fn work_order(&self, customer: &str, extra: Value) -> Value {
        let mut body = json!({"customerId": customer, "serviceType": "Drain cleaning"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, v) = self.post(WO, body.clone()).await;
        assert_eq!(s, 201, "{body}: {v}");
        v
    }

    async fn action(&self, wo: &Value, action: &str, body: Value) -> (u16, Value) {
        self.post(
            &format!("{WO}/{}/{action}", wo["id"].as_str().unwrap()),
            body,
        )
        .await
    }

    async fn book(&self, wo: &Value, date: &str, time: &str, emp: &str, hours: f64) -> Value {
        let (s, v) = self
            .action(
                wo,
                "schedule",
                json!({"scheduledDate": date, "scheduledTime": time, "assignedEmployeeId": emp, "estimatedDurationHours": hours}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }

    async fn refresh(&self, wo: &Value) -> Value {
        let (s, v) = self
            .get(&format!("{WO}/{}", wo["id"].as_str().unwrap()))
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }

    async fn numbers(&self, query: &str) -> Vec<String> {
        let (s, v) = self.get(&format!("{WO}?{query}")).await;
        assert_eq!(s, 200, "{query}: {v}");
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["workOrderNumber"].as_str().unwrap().to_string())
            .collect()
    }

    async fn audit(&self, entity_id: &str) -> Vec<(String, String, Value)> {
        self.rows(
            "SELECT action, actor, diff FROM audit_log WHERE entity_id = ?1 ORDER BY id",
            vec![entity_id.to_string()],
        )
        .await
        .into_iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[1].as_str().unwrap().to_string(),
                serde_json::from_str(r[2].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
    }
}

fn err_field<'a>(v: &'a Value, field: &str) -> &'a str {
    v["error"]["fields"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no error for field {field}: {v}"))
}

fn message(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap_or("")
}

fn ids(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_returns_a_draft_with_the_full_view() {
    let ctx = Ctx::new().await;
    let cust = ctx.customer("Ann Archer").await;
    let r = ctx
        .c
        .post(ctx.app.url(WO))
        .json(&json!({
            "customerId": cust, "serviceType": " Drain cleaning ", "description": "Kitchen sink is slow",
            "specialInstructions": "Dog in yard", "scheduledDate": "2026-03-05", "scheduledTime": "09:30",
            "estimatedDurationHours": 1.5, "quotedPrice": "250"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let raw = r.text().await.unwrap();
    assert!(raw.contains("\"quotedPrice\":250.00"), "{raw}");
    assert!(raw.contains("\"estimatedDurationHours\":1.50"), "{raw}");
    let wo: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(location, format!("{WO}/{}", ids(&wo)));
    let mut keys: Vec<&str> = wo.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = vec![
        "id",
        "workOrderNumber",
        "customerId",
        "serviceType",
        "status",
        "priorityLevel",
        "scheduledDate",
        "scheduledTime",
        "estimatedDurationHours",
        "actualDurationHours",
        "assignedEmployeeId",
        "loadoutId",
        "jobDescription",
        "specialInstructions",
        "estimatedCost",
        "actualCost",
        "quotedPrice",
        "finalPrice",
        "profitMargin",
        "completionPhotos",
        "customerSignature",
        "customerNotes",
        "createdAt",
        "updatedAt",
        "customerName",
        "assignedEmployeeName",
        "completionNotes",
        "startedAt",
        "completedAt",
        "cancelledAt",
        "cancelReason",
        "invoiceId",
        // The local analysis answered with a create.
        "estimatedDuration",
        "recommendedEmployee",
        "analysis",
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(wo["workOrderNumber"], "WO-000001");
    assert_eq!(wo["status"], "draft");
    assert_eq!(wo["priorityLevel"], "medium");
    assert_eq!(wo["serviceType"], "Drain cleaning");
    assert_eq!(wo["jobDescription"], "Kitchen sink is slow");
    assert_eq!(wo["customerId"], cust.as_str());
    assert_eq!(wo["customerName"], "Ann Archer");
    assert_eq!(wo["scheduledDate"], "2026-03-05");
    assert_eq!(wo["scheduledTime"], "09:30");
    // No history: the configured default, 120 min at $55.00/h.
    assert_eq!(wo["estimatedCost"].as_f64(), Some(110.0));
    assert_eq!(wo["profitMargin"], Value::Null);
    assert_eq!(wo["assignedEmployeeId"], Value::Null);
    assert_eq!(wo["completionPhotos"], json!({"before": [], "after": []}));
    assert_eq!(wo["customerSignature"], Value::Null);
    assert_eq!(wo["createdAt"], "2026-03-02T15:00:00.000000Z");

    // Photos and the signature come from the attachments table.
    let id = ids(&wo).to_string();
    let (before, after, sig) = (new_id(), new_id(), new_id());
    for (att, kind) in [(&before, "before"), (&after, "after"), (&sig, "signature")] {
        ctx.exec(
            "INSERT INTO attachments (id, work_order_id, kind, sha256, content_type, size_bytes, created_at)
             VALUES (?1, ?2, ?3, 'x', 'image/png', 10, '2026-03-02T15:00:00Z')",
            vec![Some(att.clone()), Some(id.clone()), Some(kind.into())],
        )
        .await;
    }
    let got = ctx.refresh(&wo).await;
    assert_eq!(
        got["completionPhotos"],
        json!({"before": [format!("/api/v1/attachments/{before}")], "after": [format!("/api/v1/attachments/{after}")]})
    );
    assert_eq!(
        got["customerSignature"],
        format!("/api/v1/attachments/{sig}")
    );

    // A second one gets the next number; priority is taken when given.
    let wo2 = ctx
        .work_order(
            &cust,
            json!({"priorityLevel": "urgent", "jobDescription": "Burst pipe"}),
        )
        .await;
    assert_eq!(wo2["workOrderNumber"], "WO-000002");
    assert_eq!(wo2["priorityLevel"], "urgent");
    assert_eq!(wo2["scheduledDate"], Value::Null);
    let audit = ctx.audit(&id).await;
    assert_eq!(audit[0].0, "create");
    assert_eq!(audit[0].1, "office@example.com");
    assert_eq!(audit[0].2["status"]["after"], "draft");
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_per_field_400s_and_nothing_is_stored() {
    let ctx = Ctx::new().await;
    let cust = ctx.customer("Ann").await;
    let missing = "0190b7a0-0000-7000-8000-000000000000";
    let cases = [
        (json!({}), "customerId"),
        (json!({"customerId": cust}), "serviceType"),
        (
            json!({"customerId": missing, "serviceType": "X"}),
            "customerId",
        ),
        (
            json!({"customerId": "nope", "serviceType": "X"}),
            "customerId",
        ),
        (
            json!({"customerId": cust, "serviceType": "x".repeat(101)}),
            "serviceType",
        ),
        (
            json!({"customerId": cust, "serviceType": "X", "jobDescription": "x".repeat(5001)}),
            "jobDescription",
        ),
        (
            json!({"customerId": cust, "serviceType": "X", "priorityLevel": "asap"}),
            "priorityLevel",
        ),
        (
            json!({"customerId": cust, "serviceType": "X", "scheduledDate": "2026-02-30"}),
            "scheduledDate",
        ),
        (
            json!({"customerId": cust, "serviceType": "X", "scheduledTime": "25:00"}),
            "scheduledTime",
        ),
        (
            json!({"customerId": cust, "serviceType": "X", "estimatedDurationHours": -1}),
            "estimatedDurationHours",
        ),
        (
            json!({"customerId": cust, "serviceType": "X", "estimatedDurationHours": 5000}),
            "estimatedDurationHours",
        ),
        (
            json!({"customerId": cust, "serviceType": "X", "quotedPrice": -5}),
            "quotedPrice",
        ),
        (
            json!({"customerId": cust, "serviceType": "X", "quotedPrice": 1.234}),
            "quotedPrice",
        ),
        (
            json!({"customerId": cust, "serviceType": "X", "quotedPrice": 1e12}),
            "quotedPrice",
        ),
        (
            json!({"customerId": cust, "serviceType": "X", "status": "completed"}),
            "status",
        ),
        (
            json!({"customerId": cust, "serviceType": "X", "estimatedCost": 5}),
            "estimatedCost",
        ),
        (json!({"customerId": cust, "serviceType": 5}), "serviceType"),
    ];
    for (body, field) in cases {
        let (s, v) = ctx.post(WO, body.clone()).await;
        assert_eq!(s, 400, "{body}: {v}");
        assert_eq!(v["error"]["code"], "validation_failed", "{body}: {v}");
        err_field(&v, field);
    }
    // Every problem at once.
    let (s, v) = ctx
        .post(
            WO,
            json!({"serviceType": "", "scheduledTime": "9", "quotedPrice": -1}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["fields"].as_object().unwrap().len(), 4, "{v}");
    assert_eq!(err_field(&v, "customerId"), "is required");
    assert_eq!(ctx.count("work_orders").await, 0);
    // The counter was not used by the failed attempts.
    let wo = ctx.work_order(&cust, json!({})).await;
    assert_eq!(wo["workOrderNumber"], "WO-000001");

    // Ids: not a UUID or unknown → 404; DELETE → 405 (cancel instead).
    assert_eq!(ctx.get(&format!("{WO}/not-a-uuid")).await.0, 404);
    assert_eq!(ctx.get(&format!("{WO}/{missing}")).await.0, 404);
    assert_eq!(
        ctx.post(&format!("{WO}/{missing}/start"), json!({}))
            .await
            .0,
        404
    );
    let r = ctx
        .c
        .delete(ctx.app.url(&format!("{WO}/{}", ids(&wo))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, PATCH");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "method_not_allowed");
    assert_eq!(ctx.refresh(&wo).await["status"], "draft");
    // Bodies of the transitions are validated too.
    let (s, v) = ctx.action(&wo, "start", json!({"when": "now"})).await;
    assert_eq!((s, err_field(&v, "when")), (400, "unknown field"));
    let (s, v) = ctx
        .action(&wo, "cancel", json!({"reason": "x".repeat(501)}))
        .await;
    assert_eq!(s, 400);
    err_field(&v, "reason");
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_get_unique_gap_free_numbers() {
    let ctx = Ctx::new().await;
    let cust = ctx.customer("Busy Bee").await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let c = ctx.c.clone();
        let url = ctx.app.url(WO);
        let cust = cust.clone();
        tasks.push(tokio::spawn(async move {
            let r = c
                .post(url)
                .json(&json!({"customerId": cust, "serviceType": format!("Job {i}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let v: Value = r.json().await.unwrap();
            v["workOrderNumber"].as_str().unwrap().to_string()
        }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.unwrap());
    }
    numbers.sort();
    let want: Vec<String> = (1..=64).map(|n| format!("WO-{n:06}")).collect();
    assert_eq!(numbers, want);
    let (_, v) = ctx.get(&format!("{WO}?limit=100")).await;
    assert_eq!(v["pagination"]["total"], 64);
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transition_valid_and_invalid() {
    let ctx = Ctx::new().await;
    let cust = ctx.customer("Ann").await;
    let jo = ctx.employee("Jo Tech", None, true).await;

    // draft: start/complete refused, naming the status.
    let a = ctx.work_order(&cust, json!({})).await;
    for (action, body) in [
        ("start", json!({})),
        ("complete", json!({"actualCost": 10})),
    ] {
        let (s, v) = ctx.action(&a, action, body).await;
        assert_eq!(s, 409, "{v}");
        assert_eq!(
            message(&v),
            format!("cannot {action} WO-000001: it is draft")
        );
        assert_eq!(v["error"]["code"], "conflict");
    }
    // draft → scheduled → (re)scheduled → in_progress → completed.
    let booked = ctx.book(&a, "2026-03-02", "09:00", &jo, 2.0).await;
    assert_eq!(booked["status"], "scheduled");
    assert_eq!(booked["assignedEmployeeId"], jo.as_str());
    assert_eq!(booked["assignedEmployeeName"], "Jo Tech");
    assert_eq!(booked["scheduledTime"], "09:00");
    let rebooked = ctx.book(&a, "2026-03-03", "13:15", &jo, 1.0).await;
    assert_eq!(
        (
            &rebooked["status"],
            &rebooked["scheduledDate"],
            &rebooked["scheduledTime"]
        ),
        (&json!("scheduled"), &json!("2026-03-03"), &json!("13:15"))
    );
    ctx.app.clock.set(ts("2026-03-03T13:20:00Z"));
    // A technician-less start with no body at all is fine for staff.
    let r = ctx
        .c
        .post(ctx.app.url(&format!("{WO}/{}/start", ids(&a))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let started: Value = r.json().await.unwrap();
    assert_eq!(started["status"], "in_progress");
    assert_eq!(started["startedAt"], "2026-03-03T13:20:00.000000Z");
    for (action, body) in [
        (
            "schedule",
            json!({"scheduledDate": "2026-03-04", "scheduledTime": "09:00", "assignedEmployeeId": jo}),
        ),
        ("start", json!({})),
    ] {
        let (s, v) = ctx.action(&a, action, body).await;
        assert_eq!(s, 409);
        assert_eq!(
            message(&v),
            format!("cannot {action} WO-000001: it is in_progress")
        );
    }
    ctx.app.clock.set(ts("2026-03-03T14:55:00Z"));
    let (s, done) = ctx.action(&a, "complete", json!({"actualCost": 100})).await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["status"], "completed");
    assert_eq!(done["completedAt"], "2026-03-03T14:55:00.000000Z");
    assert_eq!(done["startedAt"], "2026-03-03T13:20:00.000000Z");
    assert_eq!(
        done["actualDurationHours"],
        json!(1.58),
        "95 minutes since the start"
    );
    // Terminal: nothing more.
    for (action, body) in [
        (
            "schedule",
            json!({"scheduledDate": "2026-03-04", "scheduledTime": "09:00", "assignedEmployeeId": jo}),
        ),
        ("start", json!({})),
        ("complete", json!({"actualCost": 1})),
        ("cancel", json!({})),
    ] {
        let (s, v) = ctx.action(&a, action, body).await;
        assert_eq!(s, 409, "{action}");
        assert_eq!(
            message(&v),
            format!("cannot {action} WO-000001: it is completed")
        );
    }

    // Cancel from draft, scheduled and in_progress; then nothing.
    let b = ctx.work_order(&cust, json!({})).await;
    let (s, v) = ctx
        .action(&b, "cancel", json!({"reason": "  Customer moved  "}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (&v["status"], &v["cancelReason"]),
        (&json!("cancelled"), &json!("Customer moved"))
    );
    assert_eq!(v["cancelledAt"], "2026-03-03T14:55:00.000000Z");
    for action in ["start", "cancel"] {
        let (s, v) = ctx.action(&b, action, json!({})).await;
        assert_eq!(s, 409);
        assert_eq!(
            message(&v),
            format!("cannot {action} WO-000002: it is cancelled")
        );
    }
    let (s, v) = ctx
        .action(&b, "schedule", json!({"scheduledDate": "2026-03-04", "scheduledTime": "09:00", "assignedEmployeeId": jo}))
        .await;
    assert_eq!(
        (s, message(&v)),
        (409, "cannot schedule WO-000002: it is cancelled")
    );
    let c = ctx.work_order(&cust, json!({})).await;
    ctx.book(&c, "2026-03-09", "09:00", &jo, 1.0).await;
    let r = ctx
        .c
        .post(ctx.app.url(&format!("{WO}/{}/cancel", ids(&c))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "no body is fine");
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (&v["status"], &v["cancelReason"]),
        (&json!("cancelled"), &Value::Null)
    );
    let d = ctx.work_order(&cust, json!({})).await;
    ctx.book(&d, "2026-03-10", "09:00", &jo, 1.0).await;
    assert_eq!(ctx.action(&d, "start", json!({})).await.0, 200);
    let (s, v) = ctx.action(&d, "cancel", json!({})).await;
    assert_eq!((s, &v["status"]), (200, &json!("cancelled")));
    let (s, v) = ctx.action(&d, "complete", json!({"actualCost": 1})).await;
    assert_eq!(
        (s, message(&v)),
        (409, "cannot complete WO-000004: it is cancelled")
    );

    // The audit trail of A: every mutation with a before/after diff.
    let audit = ctx.audit(ids(&a)).await;
    let actions: Vec<&str> = audit.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(
        actions,
        ["create", "schedule", "reschedule", "start", "complete"]
    );
    assert!(audit.iter().all(|a| a.1 == "office@example.com"));
    assert_eq!(
        audit[1].2["status"],
        json!({"before": "draft", "after": "scheduled"})
    );
    assert_eq!(
        audit[2].2["scheduledTime"],
        json!({"before": "09:00", "after": "13:15"})
    );
    assert_eq!(
        audit[3].2["status"],
        json!({"before": "scheduled", "after": "in_progress"})
    );
    assert_eq!(
        audit[4].2["status"],
        json!({"before": "in_progress", "after": "completed"})
    );
    assert!(audit[4].2.get("invoiceId").is_some());
    let cancel_audit = ctx.audit(ids(&b)).await;
    assert_eq!(cancel_audit[1].0, "cancel");
    assert_eq!(cancel_audit[1].2["cancelReason"]["after"], "Customer moved");
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_a_scheduled_job_directly_records_the_start() {
    let ctx = Ctx::new().await;
    let cust = ctx.customer("Ann").await;
    let jo = ctx.employee("Jo Tech", None, true).await;
    let wo = ctx.work_order(&cust, json!({"quotedPrice": 120})).await;
    ctx.book(&wo, "2026-02-27", "08:00", &jo, 1.75).await;
    let (s, v) = ctx.action(&wo, "complete", json!({"actualCost": 90})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["startedAt"], "2026-03-02T15:00:00.000000Z");
    assert_eq!(v["startedAt"], v["completedAt"]);
    assert_eq!(v["actualDurationHours"], json!(1.75), "the estimate");
    assert_eq!(v["finalPrice"], json!(120.0));
    assert_eq!(v["profitMargin"], json!(0.25));
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookings_clash_by_technician_and_by_equipment() {
    let ctx = Ctx::with(|c| c.business.default_job_minutes = 90).await;
    let cust = ctx.customer("Ann").await;
    let jo = ctx.employee("Jo Tech", None, true).await;
    let sam = ctx.employee("Sam Spade", None, true).await;
    let lee = ctx.employee("Lee Lever", None, true).await;
    let gone = ctx.employee("Old Timer", None, false).await;
    let camera = ctx.equipment("Pipe camera", 1500).await;
    let jetter = ctx.equipment("Jetter", 2250).await;
    let big = ctx.loadout("Big drain kit", &[&camera, &jetter]).await;
    let small = ctx.loadout("Camera only", &[&camera]).await;
    let jet_only = ctx.loadout("Jetter only", &[&jetter]).await;

    let w1 = ctx.work_order(&cust, json!({})).await;
    ctx.book(&w1, "2026-03-02", "09:00", &jo, 2.0).await;
    // Overlapping the technician → 409 naming the other booking.
    let w2 = ctx.work_order(&cust, json!({})).await;
    let sched = |date: &str, time: &str, emp: &str, hours: f64| json!({"scheduledDate": date, "scheduledTime": time, "assignedEmployeeId": emp, "estimatedDurationHours": hours});
    let (s, v) = ctx
        .action(&w2, "schedule", sched("2026-03-02", "10:00", &jo, 1.0))
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(
        message(&v),
        "Jo Tech is already booked on WO-000001, 2026-03-02 09:00–11:00"
    );
    assert_eq!(ctx.refresh(&w2).await["status"], "draft", "nothing changed");
    let (s, v) = ctx
        .action(&w2, "schedule", sched("2026-03-02", "08:30", &jo, 3.0))
        .await;
    assert_eq!(
        (s, message(&v)),
        (
            409,
            "Jo Tech is already booked on WO-000001, 2026-03-02 09:00–11:00"
        )
    );
    // Touching windows do not clash, before or after.
    ctx.book(&w2, "2026-03-02", "11:00", &jo, 1.0).await;
    let w3 = ctx.work_order(&cust, json!({})).await;
    ctx.book(&w3, "2026-03-02", "08:00", &jo, 1.0).await;
    // Another technician at the same time is fine.
    let w4 = ctx.work_order(&cust, json!({})).await;
    ctx.book(&w4, "2026-03-02", "09:00", &sam, 2.0).await;
    // Re-booking a job over its own window is not a clash with itself...
    ctx.book(&w1, "2026-03-02", "09:00", &jo, 2.0).await;
    // ...but moving it onto its neighbour is.
    let (s, v) = ctx
        .action(&w1, "schedule", sched("2026-03-02", "10:00", &jo, 2.0))
        .await;
    assert_eq!(
        (s, message(&v)),
        (
            409,
            "Jo Tech is already booked on WO-000002, 2026-03-02 11:00–12:00"
        )
    );

    // Equipment: a shared item through different loadouts clashes.
    let w5 = ctx.work_order(&cust, json!({})).await;
    let (s, v) = ctx
        .action(&w5, "schedule", json!({"scheduledDate": "2026-03-03", "scheduledTime": "10:00", "assignedEmployeeId": sam, "estimatedDurationHours": 2, "loadoutId": big}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["loadoutId"], big.as_str());
    let w6 = ctx.work_order(&cust, json!({})).await;
    let (s, v) = ctx
        .action(&w6, "schedule", json!({"scheduledDate": "2026-03-03", "scheduledTime": "11:30", "assignedEmployeeId": lee, "estimatedDurationHours": 1, "loadoutId": small}))
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(
        message(&v),
        "Pipe camera is already booked on WO-000005, 2026-03-03 10:00–12:00"
    );
    // Touching the equipment booking is fine; a loadout without the camera too.
    let (s, v) = ctx
        .action(&w6, "schedule", json!({"scheduledDate": "2026-03-03", "scheduledTime": "12:00", "assignedEmployeeId": lee, "estimatedDurationHours": 1, "loadoutId": small}))
        .await;
    assert_eq!(s, 200, "{v}");
    let w7 = ctx.work_order(&cust, json!({})).await;
    let (s, v) = ctx
        .action(&w7, "schedule", json!({"scheduledDate": "2026-03-03", "scheduledTime": "12:00", "assignedEmployeeId": jo, "estimatedDurationHours": 1, "loadoutId": jet_only}))
        .await;
    assert_eq!(s, 200, "{v}");
    // In-progress jobs still hold their booking.
    assert_eq!(ctx.action(&w5, "start", json!({})).await.0, 200);
    let w8 = ctx.work_order(&cust, json!({})).await;
    let (s, v) = ctx
        .action(&w8, "schedule", json!({"scheduledDate": "2026-03-03", "scheduledTime": "09:00", "assignedEmployeeId": lee, "estimatedDurationHours": 1.5, "loadoutId": jet_only}))
        .await;
    assert_eq!(
        (s, message(&v)),
        (
            409,
            "Jetter is already booked on WO-000005, 2026-03-03 10:00–12:00"
        )
    );
    // Cancelled (and completed) jobs do not.
    assert_eq!(ctx.action(&w5, "cancel", json!({})).await.0, 200);
    let (s, v) = ctx
        .action(&w8, "schedule", json!({"scheduledDate": "2026-03-03", "scheduledTime": "09:00", "assignedEmployeeId": lee, "estimatedDurationHours": 1.5, "loadoutId": jet_only}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        ctx.action(&w1, "complete", json!({"actualCost": 10}))
            .await
            .0,
        200
    );
    let w9 = ctx.work_order(&cust, json!({})).await;
    ctx.book(&w9, "2026-03-02", "09:30", &jo, 1.0).await;

    // The length defaults to the stored estimate, else the configured default.
    let w10 = ctx
        .work_order(&cust, json!({"estimatedDurationHours": 0.5}))
        .await;
    let (s, v) = ctx
        .action(&w10, "schedule", json!({"scheduledDate": "2026-03-05", "scheduledTime": "09:00", "assignedEmployeeId": jo}))
        .await;
    assert_eq!((s, &v["estimatedDurationHours"]), (200, &json!(0.5)));
    let w11 = ctx.work_order(&cust, json!({})).await;
    let (s, v) = ctx
        .action(&w11, "schedule", json!({"scheduledDate": "2026-03-05", "scheduledTime": "09:30", "assignedEmployeeId": jo}))
        .await;
    assert_eq!((s, &v["estimatedDurationHours"]), (200, &json!(1.5)), "{v}");
    let w12 = ctx.work_order(&cust, json!({})).await;
    let (s, v) = ctx
        .action(&w12, "schedule", sched("2026-03-05", "10:30", &jo, 1.0))
        .await;
    assert_eq!(
        (s, message(&v)),
        (
            409,
            "Jo Tech is already booked on WO-000011, 2026-03-05 09:30–11:00"
        )
    );

    // Bad references and missing fields are 400s naming the field.
    let (s, v) = ctx
        .action(&w12, "schedule", sched("2026-03-06", "09:00", &gone, 1.0))
        .await;
    assert_eq!(
        (s, err_field(&v, "assignedEmployeeId")),
        (400, "this employee is not active")
    );
    let (s, v) = ctx
        .action(
            &w12,
            "schedule",
            sched(
                "2026-03-06",
                "09:00",
                "0190b7a0-0000-7000-8000-000000000000",
                1.0,
            ),
        )
        .await;
    assert_eq!(
        (s, err_field(&v, "assignedEmployeeId")),
        (400, "no employee has this id")
    );
    let (s, v) = ctx
        .action(&w12, "schedule", json!({"scheduledDate": "2026-03-06", "scheduledTime": "09:00", "assignedEmployeeId": jo, "loadoutId": "0190b7a0-0000-7000-8000-000000000000"}))
        .await;
    assert_eq!(
        (s, err_field(&v, "loadoutId")),
        (400, "no loadout has this id")
    );
    let (s, v) = ctx.action(&w12, "schedule", json!({})).await;
    assert_eq!(s, 400);
    for f in ["scheduledDate", "scheduledTime", "assignedEmployeeId"] {
        assert_eq!(err_field(&v, f), "is required");
    }
    let (s, v) = ctx
        .action(&w12, "schedule", sched("2026-13-01", "9:00", &jo, 0.0))
        .await;
    assert_eq!(s, 400);
    for f in ["scheduledDate", "scheduledTime", "estimatedDurationHours"] {
        err_field(&v, f);
    }
    assert_eq!(ctx.refresh(&w12).await["status"], "draft");
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technicians_see_and_act_only_on_their_own_work_orders() {
    let ctx = Ctx::new().await;
    let cust = ctx.customer("Ann").await;
    let t1 = ctx.app.user("tech1@example.com", Role::Technician).await;
    let t2 = ctx.app.user("tech2@example.com", Role::Technician).await;
    ctx.app.user("tech3@example.com", Role::Technician).await;
    let e1 = ctx.employee("Jo Tech", Some(&t1.id), true).await;
    let e2 = ctx.employee("Sam Spade", Some(&t2.id), true).await;
    let mine = ctx.work_order(&cust, json!({"serviceType": "Mine"})).await;
    ctx.book(&mine, "2026-03-02", "09:00", &e1, 1.0).await;
    let theirs = ctx
        .work_order(&cust, json!({"serviceType": "Theirs"}))
        .await;
    ctx.book(&theirs, "2026-03-02", "09:00", &e2, 1.0).await;
    let unassigned = ctx.work_order(&cust, json!({})).await;
    ctx.app.clock.advance(chrono::Duration::seconds(1));
    let mine2 = ctx
        .work_order(&cust, json!({"serviceType": "Mine too"}))
        .await;
    ctx.book(&mine2, "2026-03-03", "09:00", &e1, 1.0).await;

    let tech = ctx.app.login("tech1@example.com").await;
    let call = |m: Method, path: String, body: Option<Value>| {
        let tech = tech.clone();
        let ctx = &ctx;
        async move { ctx.send_as(&tech, m, &path, body).await }
    };
    let (s, v) = call(Method::GET, WO.into(), None).await;
    assert_eq!(s, 200);
    let seen: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["serviceType"].as_str().unwrap())
        .collect();
    assert_eq!(seen, ["Mine too", "Mine"]);
    assert_eq!(v["pagination"]["total"], 2);
    // Filters cannot widen the view.
    let (_, v) = call(Method::GET, format!("{WO}?assigned_employee_id={e2}"), None).await;
    assert_eq!(v["pagination"]["total"], 0);
    let (_, v) = call(Method::GET, format!("{WO}?q=Theirs"), None).await;
    assert_eq!(v["pagination"]["total"], 0);

    let path = |w: &Value, tail: &str| format!("{WO}/{}{tail}", ids(w));
    for w in [&theirs, &unassigned] {
        assert_eq!(call(Method::GET, path(w, ""), None).await.0, 403);
        assert_eq!(
            call(Method::POST, path(w, "/start"), Some(json!({})))
                .await
                .0,
            403
        );
        let (s, v) = call(
            Method::POST,
            path(w, "/complete"),
            Some(json!({"actualCost": 5})),
        )
        .await;
        assert_eq!(s, 403);
        assert_eq!(v["error"]["code"], "forbidden");
    }
    assert_eq!(
        ctx.refresh(&theirs).await["status"],
        "scheduled",
        "nothing changed"
    );
    assert_eq!(
        call(
            Method::GET,
            format!("{WO}/0190b7a0-0000-7000-8000-000000000000"),
            None
        )
        .await
        .0,
        404
    );
    // Staff-only actions, even on their own.
    let cust_body = json!({"customerId": cust, "serviceType": "X"});
    assert_eq!(call(Method::POST, WO.into(), Some(cust_body)).await.0, 403);
    assert_eq!(
        call(
            Method::PATCH,
            path(&mine, ""),
            Some(json!({"customerNotes": "x"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(Method::POST, path(&mine, "/schedule"), Some(json!({"scheduledDate": "2026-03-04", "scheduledTime": "09:00", "assignedEmployeeId": e1}))).await.0,
        403
    );
    assert_eq!(
        call(Method::POST, path(&mine, "/cancel"), Some(json!({})))
            .await
            .0,
        403
    );
    // Their own: read, start, complete.
    let (s, v) = call(Method::GET, path(&mine, ""), None).await;
    assert_eq!((s, &v["assignedEmployeeName"]), (200, &json!("Jo Tech")));
    let (s, v) = call(Method::POST, path(&mine, "/start"), None).await;
    assert_eq!((s, &v["status"]), (200, &json!("in_progress")));
    let (s, v) = call(
        Method::POST,
        path(&mine, "/complete"),
        Some(json!({"actualCost": 40, "completionNotes": "Cleared the trap"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["invoice"]["invoiceNumber"], "INV-000001");
    let audit = ctx.audit(ids(&mine)).await;
    assert_eq!(audit.last().unwrap().1, "tech1@example.com");
    // A technician without an employee row sees nothing.
    let lone = ctx.app.login("tech3@example.com").await;
    let (s, v) = ctx.send_as(&lone, Method::GET, WO, None).await;
    assert_eq!((s, &v["pagination"]["total"]), (200, &json!(0)));
    assert_eq!(
        ctx.send_as(&lone, Method::GET, &path(&mine2, ""), None)
            .await
            .0,
        403
    );
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_writes_invoice_lines_tax_and_follow_up() {
    let ctx = Ctx::with(|c| {
        c.business.tax_rate_bps = 825;
        c.business.invoice_due_days = 30;
        c.business.follow_up_days = 7;
        c.business.timezone = "America/Chicago".into();
    })
    .await;
    let cust = ctx.customer("Ann Archer").await;
    let jo = ctx.employee("Jo Tech", None, true).await;
    let camera = ctx.equipment("Pipe camera", 1500).await;
    let jetter = ctx.equipment("Jetter", 2250).await;
    let kit = ctx.loadout("Drain kit", &[&camera, &jetter]).await;
    let wo = ctx.work_order(&cust, json!({"quotedPrice": 450})).await;
    let (s, v) = ctx
        .action(&wo, "schedule", json!({"scheduledDate": "2026-03-02", "scheduledTime": "19:00", "assignedEmployeeId": jo, "estimatedDurationHours": 2, "loadoutId": kit}))
        .await;
    assert_eq!(s, 200, "{v}");
    // 21:00 in Chicago on 2 March is 03:00 UTC on 3 March: business dates use Chicago.
    ctx.app.clock.set(ts("2026-03-03T03:00:00Z"));
    assert_eq!(ctx.action(&wo, "start", json!({})).await.0, 200);
    ctx.app.clock.set(ts("2026-03-03T04:30:00Z"));
    let (s, v) = ctx
        .action(
            &wo,
            "complete",
            json!({
                "actualCost": 300,
                "parts": [
                    {"description": "P-trap", "quantity": 2.5, "unitPrice": 12.34},
                    {"description": "Sealant", "quantity": 1, "unitPrice": "19.99"}
                ],
                "customerNotes": "Very happy",
                "completionNotes": "Snaked and scoped the line"
            }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["actualDurationHours"], json!(1.5));
    assert_eq!(v["actualCost"], json!(300.0));
    assert_eq!(v["finalPrice"], json!(450.0), "defaults to the quote");
    assert_eq!(v["profitMargin"], json!(0.3333));
    assert_eq!(v["customerNotes"], "Very happy");
    assert_eq!(v["completionNotes"], "Snaked and scoped the line");
    assert_eq!(v["invoice"]["invoiceNumber"], "INV-000001");
    assert_eq!(v["invoice"]["total"], json!(487.13));
    assert_eq!(v["invoiceId"], v["invoice"]["id"]);
    let inv_id = v["invoice"]["id"].as_str().unwrap().to_string();
    assert_eq!(ctx.refresh(&wo).await["invoiceId"], inv_id.as_str());

    let inv = ctx
        .rows(
            "SELECT number, work_order_id, customer_id, status, subtotal_cents, tax_rate_bps, tax_cents,
                    total_cents, paid_cents, issued_date, due_date FROM invoices WHERE id = ?1",
            vec![inv_id.clone()],
        )
        .await;
    assert_eq!(
        inv[0],
        vec![
            json!(1),
            json!(ids(&wo)),
            json!(cust),
            json!("draft"),
            json!(45_000),
            json!(825),
            json!(3713),
            json!(48_713),
            json!(0),
            json!("2026-03-02"),
            json!("2026-04-01"),
        ]
    );
    let lines = ctx
        .rows(
            "SELECT position, kind, description, quantity_milli, unit_price_cents, amount_cents
             FROM invoice_lines WHERE invoice_id = ?1 ORDER BY position",
            vec![inv_id.clone()],
        )
        .await;
    let want = [
        json!([1, "parts", "P-trap", 2500, 1234, 3085]),
        json!([2, "parts", "Sealant", 1000, 1999, 1999]),
        json!([3, "equipment", "Equipment: Jetter", 1500, 2250, 3375]),
        json!([4, "equipment", "Equipment: Pipe camera", 1500, 1500, 2250]),
        json!([5, "labour", "Labour: Drain cleaning", 1000, 34_291, 34_291]),
    ];
    assert_eq!(lines.len(), want.len());
    for (got, want) in lines.iter().zip(want) {
        assert_eq!(json!(got), want);
    }
    let sum: i64 = lines.iter().map(|l| l[5].as_i64().unwrap()).sum();
    assert_eq!(sum, 45_000, "lines add up to the subtotal");

    let fu = ctx
        .rows(
            "SELECT work_order_id, customer_id, due_date, status, note FROM follow_ups",
            vec![],
        )
        .await;
    assert_eq!(
        fu,
        vec![vec![
            json!(ids(&wo)),
            json!(cust),
            json!("2026-03-09"),
            json!("open"),
            json!("Follow up on WO-000001 (Drain cleaning)"),
        ]]
    );
    let audit = ctx
        .rows(
            "SELECT entity, action, actor FROM audit_log WHERE at = '2026-03-03T04:30:00.000000Z' ORDER BY id",
            vec![],
        )
        .await;
    let got: Vec<(String, String)> = audit
        .iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
        .collect();
    for want in [
        ("invoice", "create"),
        ("follow_up", "create"),
        ("work_order", "complete"),
    ] {
        assert!(got.contains(&(want.0.into(), want.1.into())), "{got:?}");
    }
    assert!(audit.iter().all(|r| r[2] == "office@example.com"));
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn final_price_defaults_and_completion_validation() {
    let ctx = Ctx::new().await;
    let cust = ctx.customer("Ann").await;
    let jo = ctx.employee("Jo Tech", None, true).await;
    let mut orders = Vec::new();
    for (i, quote) in [json!(200), Value::Null, json!(200)]
        .into_iter()
        .enumerate()
    {
        let w = ctx.work_order(&cust, json!({"quotedPrice": quote})).await;
        ctx.book(&w, "2026-03-02", &format!("{:02}:00", 8 + 2 * i), &jo, 1.0)
            .await;
        orders.push(w);
    }
    // Validation first: every bad field, and nothing written.
    let (s, v) = ctx
        .action(
            &orders[0],
            "complete",
            json!({"actualCost": -1, "finalPrice": -2}),
        )
        .await;
    assert_eq!(s, 400);
    for f in ["actualCost", "finalPrice"] {
        assert_eq!(err_field(&v, f), "must not be negative");
    }
    let (s, v) = ctx
        .action(
            &orders[0],
            "complete",
            json!({"actualCost": 1, "actualDurationHours": -1}),
        )
        .await;
    assert_eq!(s, 400);
    err_field(&v, "actualDurationHours");
    let (s, v) = ctx.action(&orders[0], "complete", json!({})).await;
    assert_eq!((s, err_field(&v, "actualCost")), (400, "is required"));
    let (s, v) = ctx
        .action(
            &orders[0],
            "complete",
            json!({"actualCost": 1, "finalPrice": -2}),
        )
        .await;
    assert_eq!(
        (s, err_field(&v, "finalPrice")),
        (400, "must not be negative")
    );
    let (s, v) = ctx
        .action(&orders[0], "complete", json!({"actualCost": 1, "parts": [{"description": "", "quantity": 1.2345, "unitPrice": -1}]}))
        .await;
    assert_eq!(s, 400);
    for f in [
        "parts[0].description",
        "parts[0].quantity",
        "parts[0].unitPrice",
    ] {
        err_field(&v, f);
    }
    let (s, v) = ctx
        .action(&orders[0], "complete", json!({"actualCost": 1, "parts": [{"description": "x", "quantity": 0, "unitPrice": 1}]}))
        .await;
    assert_eq!(
        (s, err_field(&v, "parts[0].quantity")),
        (400, "must be more than 0")
    );
    let many: Vec<Value> = (0..101)
        .map(|_| json!({"description": "x", "quantity": 1, "unitPrice": 0}))
        .collect();
    let (s, v) = ctx
        .action(
            &orders[0],
            "complete",
            json!({"actualCost": 1, "parts": many}),
        )
        .await;
    assert_eq!(
        (s, err_field(&v, "parts")),
        (400, "must have at most 100 parts")
    );
    let (s, v) = ctx
        .action(
            &orders[0],
            "complete",
            json!({"actualCost": 1, "parts": [{"description": "x", "qty": 1}]}),
        )
        .await;
    assert_eq!((s, err_field(&v, "parts[0].qty")), (400, "unknown field"));
    assert_eq!(ctx.count("invoices").await, 0);
    assert_eq!(ctx.refresh(&orders[0]).await["status"], "scheduled");

    // The quote, else the actual cost, unless a final price is given.
    let (_, a) = ctx
        .action(&orders[0], "complete", json!({"actualCost": 150}))
        .await;
    assert_eq!(
        (&a["finalPrice"], &a["profitMargin"]),
        (&json!(200.0), &json!(0.25))
    );
    assert_eq!(a["invoice"]["total"], json!(200.0), "no tax configured");
    let (_, b) = ctx
        .action(&orders[1], "complete", json!({"actualCost": 80}))
        .await;
    assert_eq!(
        (&b["finalPrice"], &b["profitMargin"]),
        (&json!(80.0), &json!(0.0))
    );
    let (_, c) = ctx
        .action(
            &orders[2],
            "complete",
            json!({"actualCost": 200, "finalPrice": 180}),
        )
        .await;
    assert_eq!(
        (&c["finalPrice"], &c["profitMargin"]),
        (&json!(180.0), &json!(-0.1111))
    );
    let nums: Vec<&str> = [&a, &b, &c]
        .iter()
        .map(|v| v["invoice"]["invoiceNumber"].as_str().unwrap())
        .collect();
    assert_eq!(nums, ["INV-000001", "INV-000002", "INV-000003"]);
    // A zero final price: no margin.
    let z = ctx.work_order(&cust, json!({})).await;
    ctx.book(&z, "2026-03-04", "08:00", &jo, 1.0).await;
    let (s, zv) = ctx.action(&z, "complete", json!({"actualCost": 0})).await;
    assert_eq!(
        (s, &zv["finalPrice"], &zv["profitMargin"]),
        (200, &json!(0.0), &Value::Null)
    );
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_labour_is_a_400_and_changes_nothing() {
    let ctx = Ctx::with(|c| c.business.tax_rate_bps = 1000).await;
    let cust = ctx.customer("Ann").await;
    let jo = ctx.employee("Jo Tech", None, true).await;
    let camera = ctx.equipment("Pipe camera", 1500).await;
    let kit = ctx.loadout("Camera", &[&camera]).await;
    let first = ctx.work_order(&cust, json!({})).await;
    ctx.book(&first, "2026-03-02", "08:00", &jo, 1.0).await;
    let (s, v) = ctx
        .action(&first, "complete", json!({"actualCost": 50}))
        .await;
    assert_eq!(
        (s, &v["invoice"]["invoiceNumber"]),
        (200, &json!("INV-000001"))
    );

    let wo = ctx.work_order(&cust, json!({"quotedPrice": 20})).await;
    let (s, _) = ctx
        .action(&wo, "schedule", json!({"scheduledDate": "2026-03-02", "scheduledTime": "10:00", "assignedEmployeeId": jo, "estimatedDurationHours": 1, "loadoutId": kit}))
        .await;
    assert_eq!(s, 200);
    let before = ctx.refresh(&wo).await;
    let audit_before = ctx.count("audit_log").await;
    let body = json!({"actualCost": 10, "actualDurationHours": 1, "parts": [{"description": "Trap", "quantity": 1, "unitPrice": 19.99}]});
    let (s, v) = ctx.action(&wo, "complete", body.clone()).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(
        err_field(&v, "finalPrice"),
        "must be at least 34.99 (parts and equipment on this job)"
    );
    let (s, v) = ctx
        .action(&wo, "complete", json!({"actualCost": 10, "actualDurationHours": 1, "finalPrice": 34.98, "parts": [{"description": "Trap", "quantity": 1, "unitPrice": 19.99}]}))
        .await;
    assert_eq!(
        (s, err_field(&v, "finalPrice")),
        (
            400,
            "must be at least 34.99 (parts and equipment on this job)"
        )
    );
    // Nothing changed: the work order, invoices, follow-ups, audit, counters.
    assert_eq!(ctx.refresh(&wo).await, before);
    assert_eq!(ctx.count("invoices").await, 1);
    assert_eq!(ctx.count("follow_ups").await, 1);
    assert_eq!(ctx.count("audit_log").await, audit_before);
    let counter = ctx
        .rows("SELECT value FROM counters WHERE name = 'invoice'", vec![])
        .await;
    assert_eq!(counter[0][0], json!(1));
    // Exactly the minimum works: labour 0, and the next number is gap-free.
    let (s, v) = ctx
        .action(&wo, "complete", json!({"actualCost": 10, "actualDurationHours": 1, "finalPrice": 34.99, "parts": [{"description": "Trap", "quantity": 1, "unitPrice": 19.99}]}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["invoice"]["invoiceNumber"], "INV-000002");
    assert_eq!(
        v["invoice"]["total"],
        json!(38.49),
        "34.99 + 10 % tax (3.499 → 3.50)"
    );
    let labour = ctx
        .rows(
            "SELECT amount_cents FROM invoice_lines WHERE invoice_id = ?1 AND kind = 'labour'",
            vec![v["invoice"]["id"].as_str().unwrap().into()],
        )
        .await;
    assert_eq!(labour[0][0], json!(0));
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_edits_what_the_status_allows() {
    let ctx = Ctx::new().await;
    let ann = ctx.customer("Ann").await;
    let bob = ctx.customer("Bob").await;
    let jo = ctx.employee("Jo Tech", None, true).await;
    let wo = ctx
        .work_order(
            &ann,
            json!({"quotedPrice": 100, "scheduledDate": "2026-03-05"}),
        )
        .await;
    let path = format!("{WO}/{}", ids(&wo));

    // draft: everything, including the tentative schedule and the customer.
    let (s, v) = ctx
        .patch(&path, json!({"serviceType": "Leak repair", "jobDescription": "Under sink", "priorityLevel": "high",
            "specialInstructions": "Call first", "scheduledDate": "2026-03-06", "scheduledTime": "14:00",
            "estimatedDurationHours": 3, "quotedPrice": null, "customerId": bob, "customerNotes": "Prefers mornings"}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["serviceType"], "Leak repair");
    assert_eq!(v["priorityLevel"], "high");
    assert_eq!(v["scheduledDate"], "2026-03-06");
    assert_eq!(v["scheduledTime"], "14:00");
    assert_eq!(v["estimatedDurationHours"], json!(3.0));
    assert_eq!(v["quotedPrice"], Value::Null);
    assert_eq!(
        (&v["customerId"], &v["customerName"]),
        (&json!(bob), &json!("Bob"))
    );
    assert_eq!(v["status"], "draft");
    let (s, v) = ctx
        .patch(
            &path,
            json!({"customerId": "0190b7a0-0000-7000-8000-000000000000"}),
        )
        .await;
    assert_eq!(
        (s, err_field(&v, "customerId")),
        (400, "no customer has this id")
    );
    let (s, v) = ctx
        .patch(
            &path,
            json!({"priorityLevel": "asap", "serviceType": "", "quotedPrice": -1}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        err_field(&v, "priorityLevel").contains("unknown variant"),
        "{v}"
    );
    let (s, v) = ctx
        .patch(&path, json!({"serviceType": "", "quotedPrice": -1}))
        .await;
    assert_eq!(s, 400);
    for f in ["serviceType", "quotedPrice"] {
        err_field(&v, f);
    }
    let (s, v) = ctx.patch(&path, json!({"status": "completed"})).await;
    assert_eq!((s, err_field(&v, "status")), (400, "unknown field"));

    // scheduled: not the scheduling fields (re-book with /schedule).
    ctx.book(&wo, "2026-03-06", "14:00", &jo, 2.0).await;
    for (field, value) in [
        ("scheduledDate", json!("2026-03-07")),
        ("scheduledTime", json!("09:00")),
        ("estimatedDurationHours", json!(1)),
    ] {
        let (s, v) = ctx.patch(&path, json!({ field: value })).await;
        assert_eq!(s, 409, "{field}");
        assert!(
            message(&v).starts_with(&format!(
                "cannot change {field} of WO-000001: it is scheduled"
            )),
            "{v}"
        );
    }
    let (s, v) = ctx
        .patch(&path, json!({"serviceType": "Leak fix", "quotedPrice": 150, "customerId": ann, "priorityLevel": "low"}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["serviceType"], &v["quotedPrice"], &v["customerName"]),
        (&json!("Leak fix"), &json!(150.0), &json!("Ann"))
    );

    // in_progress: description, instructions, customer notes.
    assert_eq!(ctx.action(&wo, "start", json!({})).await.0, 200);
    for field in ["serviceType", "priorityLevel", "quotedPrice", "customerId"] {
        let value = match field {
            "priorityLevel" => json!("low"),
            "quotedPrice" => json!(1),
            "customerId" => json!(bob),
            _ => json!("X"),
        };
        let (s, v) = ctx.patch(&path, json!({ field: value })).await;
        assert_eq!(
            (s, message(&v)),
            (
                409,
                format!("cannot change {field} of WO-000001: it is in_progress").as_str()
            )
        );
    }
    let (s, v) = ctx
        .patch(&path, json!({"jobDescription": "Replaced washer", "specialInstructions": "Side door", "customerNotes": "Thanks"}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["jobDescription"], &v["specialInstructions"]),
        (&json!("Replaced washer"), &json!("Side door"))
    );

    // completed: customer notes only; several refused fields are all named.
    assert_eq!(
        ctx.action(&wo, "complete", json!({"actualCost": 90}))
            .await
            .0,
        200
    );
    let (s, v) = ctx
        .patch(
            &path,
            json!({"jobDescription": "X", "quotedPrice": 5, "customerNotes": "ok"}),
        )
        .await;
    assert_eq!(
        (s, message(&v)),
        (
            409,
            "cannot change jobDescription, quotedPrice of WO-000001: it is completed"
        )
    );
    let (s, v) = ctx
        .patch(&path, json!({"customerNotes": "Left a review"}))
        .await;
    assert_eq!((s, &v["customerNotes"]), (200, &json!("Left a review")));
    assert_eq!(v["status"], "completed");

    // cancelled: the same.
    let other = ctx.work_order(&ann, json!({})).await;
    assert_eq!(ctx.action(&other, "cancel", json!({})).await.0, 200);
    let opath = format!("{WO}/{}", ids(&other));
    let (s, v) = ctx.patch(&opath, json!({"specialInstructions": "X"})).await;
    assert_eq!(
        (s, message(&v)),
        (
            409,
            "cannot change specialInstructions of WO-000002: it is cancelled"
        )
    );
    assert_eq!(
        ctx.patch(&opath, json!({"customerNotes": "Moved away"}))
            .await
            .0,
        200
    );

    // Each PATCH is audited with its diff.
    let audit = ctx.audit(ids(&wo)).await;
    let updates: Vec<&Value> = audit
        .iter()
        .filter(|a| a.0 == "update")
        .map(|a| &a.2)
        .collect();
    assert_eq!(updates.len(), 4);
    assert_eq!(
        updates[0]["serviceType"],
        json!({"before": "Drain cleaning", "after": "Leak repair"})
    );
    assert_eq!(
        updates[0]["quotedPrice"],
        json!({"before": 100.0, "after": null})
    );
    assert_eq!(
        updates[3]["customerNotes"],
        json!({"before": "Thanks", "after": "Left a review"})
    );
    assert!(updates[3].get("status").is_none());
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_search_and_pagination() {
    let ctx = Ctx::new().await;
    let ann = ctx.customer("Ann Archer").await;
    let bob = ctx.customer("Bob Builder").await;
    let jo = ctx.employee("Jo Tech", None, true).await;
    let sam = ctx.employee("Sam Spade", None, true).await;
    let mut w = Vec::new();
    for (cust, service, desc) in [
        (&ann, "Drain cleaning", "Kitchen sink"),
        (&bob, "Water heater install", "40 gallon"),
        (&ann, "Leak repair", "100% urgent_fix"),
        (&bob, "Drain cleaning", "Basement floor drain"),
    ] {
        ctx.app.clock.advance(chrono::Duration::seconds(1));
        w.push(
            ctx.work_order(
                cust,
                json!({"serviceType": service, "jobDescription": desc}),
            )
            .await,
        );
    }
    ctx.book(&w[1], "2026-03-10", "09:00", &jo, 1.0).await;
    ctx.book(&w[3], "2026-03-12", "09:00", &sam, 1.0).await;
    assert_eq!(ctx.action(&w[2], "cancel", json!({})).await.0, 200);
    let n = |list: &[u32]| -> Vec<String> { list.iter().map(|i| format!("WO-{i:06}")).collect() };

    assert_eq!(ctx.numbers("").await, n(&[4, 3, 2, 1]), "newest first");
    assert_eq!(ctx.numbers("status=draft").await, n(&[1]));
    assert_eq!(
        ctx.numbers("status=scheduled,cancelled").await,
        n(&[4, 3, 2])
    );
    assert_eq!(ctx.numbers("status=scheduled, scheduled").await, n(&[4, 2]));
    assert_eq!(ctx.numbers(&format!("customer_id={ann}")).await, n(&[3, 1]));
    assert_eq!(
        ctx.numbers(&format!("assigned_employee_id={jo}")).await,
        n(&[2])
    );
    assert_eq!(
        ctx.numbers(&format!(
            "customer_id={bob}&status=scheduled&assigned_employee_id={sam}"
        ))
        .await,
        n(&[4])
    );
    assert_eq!(ctx.numbers("from=2026-03-11").await, n(&[4]));
    assert_eq!(ctx.numbers("to=2026-03-10").await, n(&[2]));
    assert_eq!(
        ctx.numbers("from=2026-03-10&to=2026-03-12").await,
        n(&[4, 2])
    );
    // Search: number, service type, description, customer name; wildcards are literal.
    assert_eq!(ctx.numbers("q=WO-000002").await, n(&[2]));
    assert_eq!(ctx.numbers("q=wo-3").await, n(&[3]));
    assert_eq!(
        ctx.numbers("q=4").await,
        n(&[4, 2]),
        "number 4, and '40 gallon'"
    );
    assert_eq!(ctx.numbers("q=DRAIN").await, n(&[4, 1]));
    assert_eq!(ctx.numbers("q=builder").await, n(&[4, 2]));
    assert_eq!(ctx.numbers("q=sink").await, n(&[1]));
    assert_eq!(ctx.numbers("q=100%25").await, n(&[3]));
    assert_eq!(ctx.numbers("q=%25").await, n(&[3]));
    assert_eq!(ctx.numbers("q=_").await, n(&[3]));
    assert_eq!(ctx.numbers("q=nothing+like+this").await, n(&[]));
    assert_eq!(ctx.numbers("q=drain&status=draft").await, n(&[1]));
    // Pagination.
    let (s, v) = ctx.get(&format!("{WO}?limit=3&page=2")).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["workOrderNumber"], "WO-000001");
    assert_eq!(
        v["pagination"],
        json!({"page": 2, "limit": 3, "total": 4, "totalPages": 2, "hasNext": false, "hasPrevious": true})
    );
    let (_, v) = ctx.get(&format!("{WO}?page=9")).await;
    assert_eq!(
        (
            v["data"].as_array().unwrap().len(),
            &v["pagination"]["total"]
        ),
        (0, &json!(4))
    );
    // Bad parameters are 400s naming them.
    for (query, field) in [
        ("status=done", "status"),
        ("status=draft,nope", "status"),
        ("customer_id=nope", "customer_id"),
        ("assigned_employee_id=1", "assigned_employee_id"),
        ("from=2026-02-30", "from"),
        ("to=yesterday", "to"),
        ("from=2026-03-12&to=2026-03-10", "to"),
        ("limit=101", "limit"),
        ("page=0", "page"),
    ] {
        let (s, v) = ctx.get(&format!("{WO}?{query}")).await;
        assert_eq!(s, 400, "{query}: {v}");
        err_field(&v, field);
    }
    let (s, v) = ctx.get(&format!("{WO}?q={}", "x".repeat(201))).await;
    assert_eq!(
        (s, err_field(&v, "q")),
        (400, "must be at most 200 characters")
    );
    let (s, v) = ctx.get(&format!("{WO}?sort=asc")).await;
    assert_eq!((s, err_field(&v, "sort")), (400, "unknown parameter"));
    let (s, v) = ctx.get(&format!("{WO}?q=a&q=b")).await;
    assert_eq!((s, err_field(&v, "q")), (400, "must be given once"));
    // Anyone logged in may list; nobody else.
    assert_eq!(
        client().get(ctx.app.url(WO)).send().await.unwrap().status(),
        401
    );
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_correctly_through_100k_work_orders() {
    let ctx = Ctx::new().await;
    let cust = ctx.customer("Big Customer").await;
    let owner = cust.clone();
    ctx.app
        .state
        .db
        .write(move |c| {
            c.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
                 INSERT INTO work_orders (id, number, customer_id, service_type, status, created_at, updated_at)
                 SELECT printf('00000000-0000-7000-8000-%012d', i), i, ?1, 'Job ' || i,
                        CASE i % 5 WHEN 0 THEN 'draft' WHEN 1 THEN 'scheduled' WHEN 2 THEN 'in_progress'
                                   WHEN 3 THEN 'completed' ELSE 'cancelled' END,
                        printf('2025-01-01T00:00:00.%06dZ', i), printf('2025-01-01T00:00:00.%06dZ', i)
                 FROM n",
                [owner],
            )?;
            c.execute(
                "INSERT INTO counters (name, value) VALUES ('work_order', 100000)",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    // A page of 50 scheduled work orders out of 100k (speed is measured by
    // scripts/bench, never asserted here; the query plan is checked in the
    // repository's unit tests).
    let (s, v) = ctx.get(&format!("{WO}?status=scheduled&limit=50")).await;
    assert_eq!(s, 200);
    assert_eq!(v["pagination"]["total"], 20_000);
    assert_eq!(v["data"][0]["workOrderNumber"], "WO-099996");
    assert_eq!(v["data"][49]["workOrderNumber"], "WO-099751");
    // New work orders continue the sequence.
    let next = ctx.work_order(&cust, json!({})).await;
    assert_eq!(next["workOrderNumber"], "WO-100001");
    assert_eq!(ctx.numbers("limit=1").await, ["WO-100001"]);
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_answers_with_the_local_analysis() {
    let ctx = Ctx::new().await;
    let cust = ctx.customer("Analysed Customer").await;
    // No history and no employees: the configured defaults (120 min at $55.00/h).
    let (s, v) = ctx
        .post(
            WO,
            json!({"customerId": cust, "serviceType": "Drain cleaning"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["estimatedCost"].as_f64(), Some(110.0), "{v}");
    assert_eq!(v["estimatedDuration"].as_f64(), Some(2.0));
    assert_eq!(v["estimatedDurationHours"].as_f64(), Some(2.0));
    assert!(v["recommendedEmployee"].is_null());
    assert!(
        !v["analysis"]["basis"]["method"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    // With an active technician who has the skill, they are recommended, with reasons.
    let emp = ctx.employee("Sky Drains", None, true).await;
    ctx.exec(
        "UPDATE employees SET skills = '[\"Drain cleaning\"]' WHERE id = ?1",
        vec![Some(emp.clone())],
    )
    .await;
    let (s, v) = ctx
        .post(WO, json!({"customerId": cust, "serviceType": "Drain cleaning", "estimatedDurationHours": 1.5}))
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["recommendedEmployee"]["id"], emp.as_str());
    assert!(
        !v["recommendedEmployee"]["reasons"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        v["estimatedDurationHours"].as_f64(),
        Some(1.5),
        "the client's estimate is kept"
    );
    // The stored work order carries the estimated cost.
    let (s, stored) = ctx
        .get(&format!("{WO}/{}", v["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, 200);
    assert_eq!(stored["estimatedCost"], v["estimatedCost"]);
    ctx.app.stop().await;
}

/// The list is served from a cache keyed by the caller's scope and the
/// database's data version: identical pages while nothing is written, every
/// committed write (through the API, or by another process on the same file)
/// seen by the next request, and one technician never served another's page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_list_pages_follow_every_write_and_keep_scopes_apart() {
    let ctx = Ctx::new().await;
    let cust = ctx.customer("Ann").await;
    let t1 = ctx.app.user("tech1@example.com", Role::Technician).await;
    let t2 = ctx.app.user("tech2@example.com", Role::Technician).await;
    let e1 = ctx.employee("Jo Tech", Some(&t1.id), true).await;
    let e2 = ctx.employee("Sam Spade", Some(&t2.id), true).await;
    let one = ctx.work_order(&cust, json!({"serviceType": "One"})).await;
    ctx.book(&one, "2026-03-02", "09:00", &e1, 1.0).await;
    ctx.app.clock.advance(chrono::Duration::seconds(1));
    let two = ctx.work_order(&cust, json!({"serviceType": "Two"})).await;
    ctx.book(&two, "2026-03-02", "11:00", &e2, 1.0).await;
    let list = format!("{WO}?status=scheduled&limit=10");
    let services = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["serviceType"].as_str().unwrap().to_string())
            .collect()
    };

    let (s, first) = ctx.get(&list).await;
    assert_eq!(s, 200);
    assert_eq!(services(&first), ["Two", "One"]);
    assert_eq!(ctx.get(&list).await.1, first, "served again unchanged");
    assert!(!ctx.app.state.caches.work_order_pages.is_empty());

    // Same URL, two technicians, right after the office's page was cached:
    // each sees only their own.
    let tech1 = ctx.app.login("tech1@example.com").await;
    let tech2 = ctx.app.login("tech2@example.com").await;
    for _ in 0..2 {
        let (_, v) = ctx.send_as(&tech1, Method::GET, &list, None).await;
        assert_eq!(services(&v), ["One"]);
        let (_, v) = ctx.send_as(&tech2, Method::GET, &list, None).await;
        assert_eq!(services(&v), ["Two"]);
    }

    // A write through the API is seen by the next list.
    let (s, _) = ctx
        .patch(
            &format!("{WO}/{}", ids(&one)),
            json!({"serviceType": "One, edited"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(services(&ctx.get(&list).await.1), ["Two", "One, edited"]);
    let (_, v) = ctx.send_as(&tech1, Method::GET, &list, None).await;
    assert_eq!(services(&v), ["One, edited"]);

    // So is a write committed by another process on the same file (as the
    // CLI does): a separate SQLite connection renames the customer.
    let other = rusqlite::Connection::open(ctx.app.state.db.path()).unwrap();
    other
        .busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    other
        .execute(
            "UPDATE customers SET name = 'Ann Renamed' WHERE id = ?1",
            [&cust],
        )
        .unwrap();
    let (_, v) = ctx.get(&list).await;
    assert_eq!(v["data"][0]["customerName"], "Ann Renamed");
    assert_eq!(v["pagination"]["total"], 2);

    // An API token revoked by another process stops working at once, though
    // its lookup was cached.
    let token = ctx.app.token("office@example.com", "bench").await;
    let bearer = |t: &str| {
        let c = client();
        let req = c.get(ctx.app.url(&list)).bearer_auth(t.to_string());
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(bearer(&token).await, 200);
    assert_eq!(bearer(&token).await, 200);
    assert!(!ctx.app.state.caches.tokens.is_empty());
    other
        .execute(
            "UPDATE api_tokens SET revoked_at = '2026-03-02T15:00:00.000000Z'",
            [],
        )
        .unwrap();
    assert_eq!(bearer(&token).await, 401);
    ctx.app.stop().await;
}

/// `database.response_cache = false`: every list reads the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_cache_can_be_turned_off() {
    let ctx = Ctx::with(|c| c.database.response_cache = false).await;
    let cust = ctx.customer("Ann").await;
    ctx.work_order(&cust, json!({"serviceType": "One"})).await;
    for _ in 0..2 {
        let (s, v) = ctx.get(WO).await;
        assert_eq!(s, 200);
        assert_eq!(v["pagination"]["total"], 1);
    }
    let (s, _) = ctx.get("/api/v1/customers?q=ann").await;
    assert_eq!(s, 200);
    assert!(ctx.app.state.caches.work_order_pages.is_empty());
    assert!(ctx.app.state.caches.customer_pages.is_empty());
    ctx.app.stop().await;
}
