//! Employees, equipment and loadouts through the real App: CRUD, every
//! validation path, filters (including maintenance due in the business's time
//! zone), roles and `/employees/me`, delete conflicts with work orders, and
//! the audit trail.

mod common;

use common::*;
use quant::clock::Clock;
use quant::domain::user::Role;
use reqwest::Client;
use serde_json::{Value, json};

const UNKNOWN_ID: &str = "0190b7a0-0000-7000-8000-000000000000";

async fn staff_app() -> (TestApp, Client) {
    let app = TestApp::start().await;
    app.user("office@example.com", Role::Office).await;
    let c = app.login("office@example.com").await;
    (app, c)
}

async fn send(rb: reqwest::RequestBuilder) -> (u16, Value) {
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, v)
}

async fn post(app: &TestApp, c: &Client, path: &str, body: Value) -> (u16, Value) {
    send(c.post(app.url(path)).json(&body)).await
}

async fn patch(app: &TestApp, c: &Client, path: &str, body: Value) -> (u16, Value) {
    send(c.patch(app.url(path)).json(&body)).await
}

async fn get(app: &TestApp, c: &Client, path: &str) -> (u16, Value) {
    send(c.get(app.url(path))).await
}

async fn delete(app: &TestApp, c: &Client, path: &str) -> (u16, Value) {
    send(c.delete(app.url(path))).await
}

/// Creates something and returns its JSON, asserting 201.
async fn created(app: &TestApp, c: &Client, path: &str, body: Value) -> Value {
    let (s, v) = post(app, c, path, body.clone()).await;
    assert_eq!(s, 201, "{body} -> {v}");
    v
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn names(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts a 400 whose `fields` names `field`; returns its message.
fn assert_field_error(status: u16, v: &Value, field: &str, ctx: &str) -> String {
    assert_eq!(status, 400, "{ctx}: {v}");
    assert_eq!(v["error"]["code"], "validation_failed", "{ctx}: {v}");
    v["error"]["fields"][field]
        .as_str()
        .unwrap_or_else(|| panic!("{ctx}: no error for {field}: {v}"))
        .to_string()
}

/// Fixture: a work order row (with its own customer) referring to an
/// employee and/or a loadout, inserted directly with SQL. Returns its id.
async fn insert_work_order(
    app: &TestApp,
    employee_id: Option<&str>,
    loadout_id: Option<&str>,
    status: &str,
) -> String {
    let now = app.clock.now();
    let ts = quant::clock::format_ts(now);
    let cust = quant::domain::ids::new_id(now).to_string();
    let wo = quant::domain::ids::new_id(now).to_string();
    let (e, l, s, w) = (
        employee_id.map(String::from),
        loadout_id.map(String::from),
        status.to_string(),
        wo.clone(),
    );
    app.state
        .db
        .write(move |c| {
            c.execute(
                "INSERT INTO customers (id, name, created_at, updated_at) VALUES (?1, 'Fixture Customer', ?2, ?2)",
                rusqlite::params![cust, ts],
            )?;
            let number: i64 = c.query_row(
                "SELECT coalesce(max(number), 0) + 1 FROM work_orders",
                [],
                |r| r.get(0),
            )?;
            c.execute(
                "INSERT INTO work_orders (id, number, customer_id, service_type, status,
                   assigned_employee_id, loadout_id, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'Drain cleaning', ?4, ?5, ?6, ?7, ?7)",
                rusqlite::params![w, number, cust, s, e, l, ts],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    wo
}

async fn set_work_order_status(app: &TestApp, wo: &str, status: &str) {
    let (wo, status) = (wo.to_string(), status.to_string());
    app.state
        .db
        .write(move |c| {
            c.execute(
                "UPDATE work_orders SET status = ?2 WHERE id = ?1",
                rusqlite::params![wo, status],
            )?;
            Ok(())
        })
        .await
        .unwrap();
}

/// The audit records of one entity: (action, actor, diff), oldest first.
async fn audit(app: &TestApp, entity: &str, entity_id: &str) -> Vec<(String, String, Value)> {
    let (e, i) = (entity.to_string(), entity_id.to_string());
    app.state
        .db
        .read(move |c| {
            let mut st = c.prepare(
                "SELECT action, actor, diff FROM audit_log WHERE entity = ?1 AND entity_id = ?2 ORDER BY id",
            )?;
            let rows = st.query_map(rusqlite::params![e, i], |r| {
                let d: String = r.get(2)?;
                Ok((r.get(0)?, r.get(1)?, serde_json::from_str(&d).unwrap()))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .unwrap()
}

// ------------------------------------------------------------------ employees

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn employees_crud_with_audit_trail() {
    let (app, c) = staff_app().await;
    // POST needs only a name.
    let r = c
        .post(app.url("/api/v1/employees"))
        .json(&json!({"name": "  Pat Plumber "}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let minimal: Value = r.json().await.unwrap();
    assert_eq!(loc, format!("/api/v1/employees/{}", id(&minimal)));
    assert_eq!(minimal["name"], "Pat Plumber");
    assert_eq!(minimal["email"], "");
    assert_eq!(minimal["userId"], Value::Null);
    assert_eq!(minimal["trade"], "");
    assert_eq!(minimal["skills"], json!([]));
    assert_eq!(minimal["hourlyRate"].as_f64(), Some(0.0));
    assert_eq!(minimal["active"], true);
    assert!(minimal["createdAt"].as_str().unwrap().ends_with('Z'));

    let tech = app.user("tech@example.com", Role::Technician).await;
    let r = c
        .post(app.url("/api/v1/employees"))
        .json(&json!({
            "name": "Terry Tech", "email": "Terry@Example.com", "userId": tech.id,
            "trade": "HVAC", "skills": ["EPA 608", "epa 608", " Brazing "],
            "hourlyRate": "45.5", "active": true
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let raw = r.text().await.unwrap();
    assert!(
        raw.contains("\"hourlyRate\":45.50"),
        "two-place money: {raw}"
    );
    let full: Value = serde_json::from_str(&raw).unwrap();
    let full_id = id(&full);
    assert_eq!(full["email"], "terry@example.com");
    assert_eq!(full["userId"], tech.id.as_str());
    assert_eq!(full["skills"], json!(["EPA 608", "Brazing"]));

    let (s, got) = get(&app, &c, &format!("/api/v1/employees/{full_id}")).await;
    assert_eq!(s, 200);
    assert_eq!(got, full);

    let (s, upd) = patch(
        &app,
        &c,
        &format!("/api/v1/employees/{full_id}"),
        json!({"hourlyRate": 52.25, "skills": ["Gas"], "active": false}),
    )
    .await;
    assert_eq!(s, 200, "{upd}");
    assert_eq!(upd["hourlyRate"].as_f64(), Some(52.25));
    assert_eq!(upd["skills"], json!(["Gas"]));
    assert_eq!(upd["active"], false);
    assert_eq!(upd["name"], "Terry Tech", "absent fields are kept");
    assert_eq!(upd["userId"], tech.id.as_str(), "absent userId is kept");
    assert_eq!(upd["createdAt"], full["createdAt"]);

    // null unlinks the user.
    let (s, upd) = patch(
        &app,
        &c,
        &format!("/api/v1/employees/{full_id}"),
        json!({"userId": null}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(upd["userId"], Value::Null);

    let (s, list) = get(&app, &c, "/api/v1/employees").await;
    assert_eq!(s, 200);
    assert_eq!(names(&list), ["Pat Plumber", "Terry Tech"]);
    assert_eq!(list["pagination"]["total"], 2);

    assert_eq!(delete(&app, &c, &loc).await.0, 204);
    assert_eq!(get(&app, &c, &loc).await.0, 404);
    assert_eq!(delete(&app, &c, &loc).await.0, 404);
    assert_eq!(patch(&app, &c, &loc, json!({"name": "Ghost"})).await.0, 404);

    let trail = audit(&app, "employee", &id(&minimal)).await;
    let actions: Vec<&str> = trail.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(actions, ["create", "delete"]);
    assert!(trail.iter().all(|t| t.1 == "office@example.com"));
    let trail = audit(&app, "employee", &full_id).await;
    assert_eq!(trail.len(), 3);
    assert_eq!(trail[1].0, "update");
    assert_eq!(trail[1].2["hourlyRate"]["before"].as_f64(), Some(45.5));
    assert_eq!(trail[1].2["hourlyRate"]["after"].as_f64(), Some(52.25));
    assert_eq!(trail[1].2["active"]["after"], false);
    assert!(
        trail[1].2.get("name").is_none(),
        "only changes are recorded"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn employee_bad_input_gets_per_field_400s() {
    let (app, c) = staff_app().await;
    let cases = [
        (json!({}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"name": 5}), "name"),
        (json!({"name": "A", "hourlyRate": -1}), "hourlyRate"),
        (json!({"name": "A", "hourlyRate": "-0.01"}), "hourlyRate"),
        (json!({"name": "A", "hourlyRate": 1000.01}), "hourlyRate"),
        (json!({"name": "A", "hourlyRate": 1e15}), "hourlyRate"),
        (json!({"name": "A", "hourlyRate": 12.345}), "hourlyRate"),
        (json!({"name": "A", "hourlyRate": "lots"}), "hourlyRate"),
        (json!({"name": "A", "email": "nope"}), "email"),
        (json!({"name": "A", "trade": "t".repeat(101)}), "trade"),
        (json!({"name": "A", "skills": "Gas"}), "skills"),
        (json!({"name": "A", "skills": [""]}), "skills"),
        (json!({"name": "A", "skills": ["s".repeat(61)]}), "skills"),
        (
            json!({"name": "A", "skills": (0..31).map(|i| format!("skill {i}")).collect::<Vec<_>>()}),
            "skills",
        ),
        (json!({"name": "A", "active": "yes"}), "active"),
        (json!({"name": "A", "userId": "not-a-uuid"}), "userId"),
        (json!({"name": "A", "userId": UNKNOWN_ID}), "userId"),
        (json!({"name": "A", "hourlyCost": 10}), "hourlyCost"),
        (json!({"name": "A", "id": UNKNOWN_ID}), "id"),
    ];
    for (body, field) in cases {
        let (s, v) = post(&app, &c, "/api/v1/employees", body.clone()).await;
        assert_field_error(s, &v, field, &body.to_string());
    }
    let (s, v) = post(
        &app,
        &c,
        "/api/v1/employees",
        json!({"name": "A", "hourlyRate": 1000.01}),
    )
    .await;
    assert_eq!(
        assert_field_error(s, &v, "hourlyRate", "cap"),
        "must be at most 1000.00"
    );
    let (s, v) = post(
        &app,
        &c,
        "/api/v1/employees",
        json!({"name": "A", "userId": UNKNOWN_ID}),
    )
    .await;
    assert_eq!(
        assert_field_error(s, &v, "userId", "unknown user"),
        "no such user"
    );
    // Every problem at once.
    let (_, v) = post(
        &app,
        &c,
        "/api/v1/employees",
        json!({"name": "", "email": "x", "hourlyRate": -5, "skills": [""]}),
    )
    .await;
    assert_eq!(v["error"]["fields"].as_object().unwrap().len(), 4, "{v}");
    // The cap itself is fine.
    let ok = created(
        &app,
        &c,
        "/api/v1/employees",
        json!({"name": "Max", "hourlyRate": 1000}),
    )
    .await;
    assert_eq!(ok["hourlyRate"].as_f64(), Some(1000.0));
    // Nothing else was stored.
    let (_, list) = get(&app, &c, "/api/v1/employees").await;
    assert_eq!(list["pagination"]["total"], 1);
    // A bad PATCH changes nothing.
    let path = format!("/api/v1/employees/{}", id(&ok));
    let (s, v) = patch(&app, &c, &path, json!({"hourlyRate": -1, "name": "Min"})).await;
    assert_field_error(s, &v, "hourlyRate", "patch");
    assert_eq!(get(&app, &c, &path).await.1["name"], "Max");
    let (s, v) = patch(&app, &c, &path, json!({"name": null})).await;
    assert_eq!((s, &v["name"]), (200, &json!("Max")), "null name = absent");
    // Ids that do not parse are 404s.
    assert_eq!(get(&app, &c, "/api/v1/employees/123").await.0, 404);
    assert_eq!(
        get(&app, &c, &format!("/api/v1/employees/{UNKNOWN_ID}"))
            .await
            .0,
        404
    );
    // Malformed JSON and other methods.
    let r = c
        .post(app.url("/api/v1/employees"))
        .header("content-type", "application/json")
        .body("{\"name\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c.put(app.url("/api/v1/employees")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_employee_per_user() {
    let (app, c) = staff_app().await;
    let tech = app.user("tech@example.com", Role::Technician).await;
    let first = created(
        &app,
        &c,
        "/api/v1/employees",
        json!({"name": "First", "userId": tech.id}),
    )
    .await;
    let (s, v) = post(
        &app,
        &c,
        "/api/v1/employees",
        json!({"name": "Second", "userId": tech.id}),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "conflict");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("First"),
        "{v}"
    );
    // Linking another employee by PATCH is refused too, upper-case id or not.
    let second = created(&app, &c, "/api/v1/employees", json!({"name": "Second"})).await;
    let second_path = format!("/api/v1/employees/{}", id(&second));
    let (s, _) = patch(
        &app,
        &c,
        &second_path,
        json!({"userId": tech.id.to_uppercase()}),
    )
    .await;
    assert_eq!(s, 409);
    // Re-saving the same link on its own employee is fine.
    let (s, _) = patch(
        &app,
        &c,
        &format!("/api/v1/employees/{}", id(&first)),
        json!({"userId": tech.id, "name": "First Again"}),
    )
    .await;
    assert_eq!(s, 200);
    // After unlinking ("" also unlinks), the user can be linked elsewhere.
    let (s, v) = patch(
        &app,
        &c,
        &format!("/api/v1/employees/{}", id(&first)),
        json!({"userId": ""}),
    )
    .await;
    assert_eq!((s, &v["userId"]), (200, &Value::Null));
    let (s, v) = patch(&app, &c, &second_path, json!({"userId": tech.id})).await;
    assert_eq!((s, &v["userId"]), (200, &json!(tech.id)));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn employee_list_filters_and_pagination() {
    let (app, c) = staff_app().await;
    for (name, trade, email, skills, active) in [
        (
            "Zed Zimmer",
            "Plumber",
            "zed@example.com",
            json!(["Backflow", "Gas"]),
            true,
        ),
        (
            "Amy Adams",
            "Electrician",
            "amy@sparks.example",
            json!(["EPA 608"]),
            true,
        ),
        (
            "Bob 100% Brown",
            "plumber",
            "",
            json!(["gas", "Welding"]),
            false,
        ),
        ("Cat_Carter", "HVAC", "cat@example.com", json!([]), true),
    ] {
        created(
            &app,
            &c,
            "/api/v1/employees",
            json!({"name": name, "trade": trade, "email": email, "skills": skills, "active": active}),
        )
        .await;
    }
    let q = |query: &'static str| {
        let (app, c) = (&app, &c);
        async move {
            let (s, v) = get(app, c, &format!("/api/v1/employees?{query}")).await;
            assert_eq!(s, 200, "{query}: {v}");
            names(&v)
        }
    };
    assert_eq!(
        q("").await,
        ["Amy Adams", "Bob 100% Brown", "Cat_Carter", "Zed Zimmer"],
        "by name"
    );
    assert_eq!(q("active=false").await, ["Bob 100% Brown"]);
    assert_eq!(q("active=true").await.len(), 3);
    assert_eq!(q("skill=GAS").await, ["Bob 100% Brown", "Zed Zimmer"]);
    assert_eq!(q("skill=Gas&active=true").await, ["Zed Zimmer"]);
    assert_eq!(
        q("skill=ga").await,
        Vec::<String>::new(),
        "exact skill only"
    );
    assert_eq!(q("skill=epa%20608").await, ["Amy Adams"]);
    assert_eq!(q("trade=PLUMBER").await, ["Bob 100% Brown", "Zed Zimmer"]);
    assert_eq!(q("q=sparks").await, ["Amy Adams"], "e-mail substring");
    assert_eq!(q("q=ectric").await, ["Amy Adams"], "trade substring");
    assert_eq!(q("q=zimm").await, ["Zed Zimmer"], "name substring");
    // LIKE wildcards are taken literally.
    assert_eq!(q("q=100%25").await, ["Bob 100% Brown"]);
    assert_eq!(q("q=%25").await, ["Bob 100% Brown"]);
    assert_eq!(q("q=_").await, ["Cat_Carter"]);
    assert_eq!(q("q=%20%20").await.len(), 4, "blank q means no filter");

    let (_, v) = get(&app, &c, "/api/v1/employees?page=2&limit=3").await;
    assert_eq!(names(&v), ["Zed Zimmer"]);
    assert_eq!(
        v["pagination"],
        json!({"page": 2, "limit": 3, "total": 4, "totalPages": 2, "hasNext": false, "hasPrevious": true})
    );
    for (query, field) in [
        ("active=maybe", "active"),
        ("sort=name", "sort"),
        ("limit=101", "limit"),
        ("page=0", "page"),
    ] {
        let (s, v) = get(&app, &c, &format!("/api/v1/employees?{query}")).await;
        assert_field_error(s, &v, field, query);
    }
    let long = "x".repeat(201);
    let (s, v) = get(&app, &c, &format!("/api/v1/employees?q={long}")).await;
    assert_field_error(s, &v, "q", "long q");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technicians_see_only_their_own_employee_record() {
    let (app, office) = staff_app().await;
    let linked = app.user("linked@example.com", Role::Technician).await;
    app.user("loose@example.com", Role::Technician).await;
    app.user("owner@example.com", Role::Owner).await;
    let emp = created(
        &app,
        &office,
        "/api/v1/employees",
        json!({"name": "Linked Tech", "userId": linked.id, "skills": ["Gas"]}),
    )
    .await;
    let eq = created(&app, &office, "/api/v1/equipment", json!({"name": "Van"})).await;
    let lo = created(&app, &office, "/api/v1/loadouts", json!({"name": "Kit"})).await;

    let tech = app.login("linked@example.com").await;
    let (s, me) = get(&app, &tech, "/api/v1/employees/me").await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(me, emp);
    // With a bearer token too.
    let token = app.token("linked@example.com", "phone").await;
    let (s, me) = send(
        client()
            .get(app.url("/api/v1/employees/me"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!((s, id(&me)), (200, id(&emp)));

    let loose = app.login("loose@example.com").await;
    assert_eq!(get(&app, &loose, "/api/v1/employees/me").await.0, 404);
    assert_eq!(get(&app, &office, "/api/v1/employees/me").await.0, 404);
    assert_eq!(get(&app, &client(), "/api/v1/employees/me").await.0, 401);

    // Everything else is staff only: 403 for technicians, 401 for strangers.
    let e = format!("/api/v1/employees/{}", id(&emp));
    let q = format!("/api/v1/equipment/{}", id(&eq));
    let l = format!("/api/v1/loadouts/{}", id(&lo));
    for who in [&tech, &loose] {
        for path in ["/api/v1/employees", "/api/v1/equipment", "/api/v1/loadouts"] {
            assert_eq!(get(&app, who, path).await.0, 403, "{path}");
            assert_eq!(
                post(&app, who, path, json!({"name": "X"})).await.0,
                403,
                "{path}"
            );
        }
        for path in [&e, &q, &l] {
            assert_eq!(get(&app, who, path).await.0, 403, "{path}");
            assert_eq!(
                patch(&app, who, path, json!({"name": "X"})).await.0,
                403,
                "{path}"
            );
            assert_eq!(delete(&app, who, path).await.0, 403, "{path}");
        }
    }
    // Even a bad query string is a 403 first.
    assert_eq!(get(&app, &tech, "/api/v1/employees?bogus=1").await.0, 403);
    let stranger = client();
    for path in ["/api/v1/employees", "/api/v1/equipment", "/api/v1/loadouts"] {
        let (s, v) = get(&app, &stranger, path).await;
        assert_eq!((s, &v["error"]["code"]), (401, &json!("unauthorized")));
        assert_eq!(
            post(&app, &stranger, path, json!({"name": "X"})).await.0,
            401
        );
    }
    assert_eq!(delete(&app, &stranger, &e).await.0, 401);
    // The owner may do everything.
    let owner = app.login("owner@example.com").await;
    assert_eq!(get(&app, &owner, &e).await.0, 200);
    assert_eq!(
        patch(&app, &owner, &q, json!({"status": "maintenance"}))
            .await
            .0,
        200
    );
    assert_eq!(get(&app, &owner, "/api/v1/loadouts").await.0, 200);
    // Nothing changed by the refused calls.
    assert_eq!(get(&app, &office, &e).await.1["name"], "Linked Tech");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn employees_with_work_orders_cannot_be_deleted() {
    let (app, c) = staff_app().await;
    let busy = created(&app, &c, "/api/v1/employees", json!({"name": "Busy"})).await;
    let idle = created(&app, &c, "/api/v1/employees", json!({"name": "Idle"})).await;
    insert_work_order(&app, Some(&id(&busy)), None, "completed").await;
    let path = format!("/api/v1/employees/{}", id(&busy));
    let (s, v) = delete(&app, &c, &path).await;
    assert_eq!(s, 409, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("active") && msg.contains("WO-000001"), "{msg}");
    assert_eq!(get(&app, &c, &path).await.0, 200, "still there");
    // Deactivating is the way out.
    let (s, v) = patch(&app, &c, &path, json!({"active": false})).await;
    assert_eq!((s, &v["active"]), (200, &json!(false)));
    assert_eq!(
        delete(&app, &c, &format!("/api/v1/employees/{}", id(&idle)))
            .await
            .0,
        204
    );
    let trail = audit(&app, "employee", &id(&busy)).await;
    assert_eq!(
        trail.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(),
        ["create", "update"],
        "a refused delete leaves no audit record"
    );
    app.stop().await;
}

// ------------------------------------------------------------------ equipment

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equipment_crud_validation_and_audit() {
    let (app, c) = staff_app().await;
    let r = c
        .post(app.url("/api/v1/equipment"))
        .json(&json!({"name": "Drain camera #2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let minimal: Value = r.json().await.unwrap();
    assert_eq!(loc, format!("/api/v1/equipment/{}", id(&minimal)));
    assert_eq!(minimal["type"], "");
    assert_eq!(minimal["hourlyCost"].as_f64(), Some(0.0));
    assert_eq!(minimal["status"], "available");
    assert_eq!(minimal["nextMaintenanceDate"], Value::Null);

    let full = created(
        &app,
        &c,
        "/api/v1/equipment",
        json!({"name": "Jetter", "type": "Hydro jetter", "hourlyCost": 35.5,
               "status": "in_use", "nextMaintenanceDate": "2026-06-30"}),
    )
    .await;
    assert_eq!(full["type"], "Hydro jetter");
    assert_eq!(full["hourlyCost"].as_f64(), Some(35.5));
    assert_eq!(full["status"], "in_use");
    assert_eq!(full["nextMaintenanceDate"], "2026-06-30");
    let path = format!("/api/v1/equipment/{}", id(&full));
    assert_eq!(get(&app, &c, &path).await.1, full);

    let (s, v) = patch(
        &app,
        &c,
        &path,
        json!({"status": "maintenance", "nextMaintenanceDate": null}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "maintenance");
    assert_eq!(v["nextMaintenanceDate"], Value::Null);
    assert_eq!(v["type"], "Hydro jetter", "absent fields are kept");

    let cases = [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "A", "status": "broken"}), "status"),
        (json!({"name": "A", "status": "In_Use"}), "status"),
        (json!({"name": "A", "status": 1}), "status"),
        (
            json!({"name": "A", "nextMaintenanceDate": "2026-02-30"}),
            "nextMaintenanceDate",
        ),
        (
            json!({"name": "A", "nextMaintenanceDate": "30/06/2026"}),
            "nextMaintenanceDate",
        ),
        (
            json!({"name": "A", "nextMaintenanceDate": "1999-12-31"}),
            "nextMaintenanceDate",
        ),
        (
            json!({"name": "A", "nextMaintenanceDate": "2026-6-1"}),
            "nextMaintenanceDate",
        ),
        (json!({"name": "A", "hourlyCost": -0.01}), "hourlyCost"),
        (json!({"name": "A", "hourlyCost": 10000.01}), "hourlyCost"),
        (json!({"name": "A", "hourlyCost": "1e3"}), "hourlyCost"),
        (json!({"name": "A", "type": "t".repeat(101)}), "type"),
        (json!({"name": "A", "kind": "x"}), "kind"),
        (json!({"name": "A", "hourlyRate": 1}), "hourlyRate"),
    ];
    for (body, field) in cases {
        let (s, v) = post(&app, &c, "/api/v1/equipment", body.clone()).await;
        assert_field_error(s, &v, field, &body.to_string());
    }
    let (s, v) = patch(&app, &c, &path, json!({"status": "lost"})).await;
    assert_eq!(
        assert_field_error(s, &v, "status", "patch status"),
        "must be one of available, in_use, maintenance, retired"
    );
    let (_, list) = get(&app, &c, "/api/v1/equipment").await;
    assert_eq!(list["pagination"]["total"], 2, "bad input stored nothing");

    assert_eq!(delete(&app, &c, &loc).await.0, 204);
    assert_eq!(get(&app, &c, &loc).await.0, 404);
    assert_eq!(get(&app, &c, "/api/v1/equipment/nope").await.0, 404);

    let trail = audit(&app, "equipment", &id(&full)).await;
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[0].0, "create");
    assert_eq!(trail[1].0, "update");
    assert_eq!(
        trail[1].2["status"],
        json!({"before": "in_use", "after": "maintenance"})
    );
    assert_eq!(
        trail[1].2["nextMaintenanceDate"],
        json!({"before": "2026-06-30", "after": null})
    );
    let trail = audit(&app, "equipment", &id(&minimal)).await;
    assert_eq!(
        trail.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(),
        ["create", "delete"]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equipment_filters_and_maintenance_due_in_business_time() {
    let app = TestApp::start_with(|c| c.business.timezone = "America/Chicago".into()).await;
    // 03:00 UTC on 11 March is still 10 March (22:00 CDT) in Chicago.
    app.clock
        .set(quant::clock::parse_ts("2026-03-11T03:00:00Z").unwrap());
    app.user("office@example.com", Role::Office).await;
    let c = app.login("office@example.com").await;
    for (name, kind, status, due) in [
        ("Auger A", "Drain auger", "available", json!("2026-03-01")),
        ("Auger B", "drain auger", "in_use", json!("2026-03-10")),
        ("Camera", "Drain camera", "available", json!("2026-03-11")),
        ("Old jetter", "Jetter", "retired", json!("2020-01-01")),
        ("Truck 50%", "Vehicle", "maintenance", Value::Null),
    ] {
        created(
            &app,
            &c,
            "/api/v1/equipment",
            json!({"name": name, "type": kind, "status": status, "nextMaintenanceDate": due}),
        )
        .await;
    }
    let q = |query: &'static str| {
        let (app, c) = (&app, &c);
        async move {
            let (s, v) = get(app, c, &format!("/api/v1/equipment?{query}")).await;
            assert_eq!(s, 200, "{query}: {v}");
            names(&v)
        }
    };
    assert_eq!(
        q("maintenanceDue=true").await,
        ["Auger A", "Auger B"],
        "today in Chicago is 10 March; retired items are never due"
    );
    assert_eq!(
        q("maintenanceDue=false").await,
        ["Camera", "Old jetter", "Truck 50%"]
    );
    app.clock.advance(chrono::Duration::hours(6)); // 11 March in Chicago
    assert_eq!(
        q("maintenanceDue=true").await,
        ["Auger A", "Auger B", "Camera"]
    );
    assert_eq!(q("status=available").await, ["Auger A", "Camera"]);
    assert_eq!(q("status=retired").await, ["Old jetter"]);
    assert_eq!(q("type=DRAIN%20AUGER").await, ["Auger A", "Auger B"]);
    assert_eq!(q("q=camera").await, ["Camera"]);
    assert_eq!(q("q=vehic").await, ["Truck 50%"], "type substring");
    assert_eq!(q("q=50%25").await, ["Truck 50%"]);
    assert_eq!(
        q("q=auger&status=in_use&maintenanceDue=true").await,
        ["Auger B"]
    );
    let (_, v) = get(&app, &c, "/api/v1/equipment?limit=2&page=3").await;
    assert_eq!(names(&v), ["Truck 50%"]);
    assert_eq!(v["pagination"]["totalPages"], 3);
    for (query, field) in [
        ("status=broken", "status"),
        ("maintenanceDue=yes", "maintenanceDue"),
        ("maintenance_due=true", "maintenance_due"),
        ("kind=x", "kind"),
    ] {
        let (s, v) = get(&app, &c, &format!("/api/v1/equipment?{query}")).await;
        assert_field_error(s, &v, field, query);
    }
    app.stop().await;
}

// ------------------------------------------------------------------ loadouts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadouts_crud_validation_and_audit() {
    let (app, c) = staff_app().await;
    let camera = created(
        &app,
        &c,
        "/api/v1/equipment",
        json!({"name": "Camera", "type": "Drain camera", "hourlyCost": 12.5}),
    )
    .await;
    let auger = created(
        &app,
        &c,
        "/api/v1/equipment",
        json!({"name": "Auger", "type": "Drain auger", "hourlyCost": "3.99", "status": "maintenance"}),
    )
    .await;
    let old = created(
        &app,
        &c,
        "/api/v1/equipment",
        json!({"name": "Old", "status": "retired"}),
    )
    .await;
    let (cam, aug, old) = (id(&camera), id(&auger), id(&old));

    let drain = created(
        &app,
        &c,
        "/api/v1/loadouts",
        json!({"name": "Drain kit", "description": "Blocked drains\nand sewer lines", "equipmentIds": [cam, aug.to_uppercase()]}),
    )
    .await;
    assert_eq!(drain["name"], "Drain kit");
    assert_eq!(drain["description"], "Blocked drains\nand sewer lines");
    assert_eq!(
        drain["equipmentIds"],
        json!([aug, cam]),
        "by equipment name"
    );
    assert_eq!(
        drain["equipment"][0],
        json!({"id": aug, "name": "Auger", "type": "Drain auger", "hourlyCost": 3.99, "status": "maintenance"})
    );
    assert_eq!(drain["hourlyCost"].as_f64(), Some(16.49));
    let path = format!("/api/v1/loadouts/{}", id(&drain));
    assert_eq!(get(&app, &c, &path).await.1, drain);

    let empty = created(&app, &c, "/api/v1/loadouts", json!({"name": "Empty"})).await;
    assert_eq!(empty["equipment"], json!([]));
    assert_eq!(empty["equipmentIds"], json!([]));
    assert_eq!(empty["hourlyCost"].as_f64(), Some(0.0));
    assert_eq!(empty["description"], "");

    // Names are unique, case-insensitively.
    let (s, v) = post(&app, &c, "/api/v1/loadouts", json!({"name": "DRAIN KIT"})).await;
    assert_eq!((s, &v["error"]["code"]), (409, &json!("conflict")), "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Drain kit")
    );
    let (s, _) = patch(
        &app,
        &c,
        &format!("/api/v1/loadouts/{}", id(&empty)),
        json!({"name": "drain Kit"}),
    )
    .await;
    assert_eq!(s, 409);
    // Renaming itself in another case is fine; the set is kept when absent.
    let (s, v) = patch(&app, &c, &path, json!({"name": "DRAIN KIT"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], "DRAIN KIT");
    assert_eq!(v["equipmentIds"], json!([aug, cam]));

    // Validation of the equipment set.
    let (s, v) = post(
        &app,
        &c,
        "/api/v1/loadouts",
        json!({"name": "Bad", "equipmentIds": [cam, old, UNKNOWN_ID, "junk", cam]}),
    )
    .await;
    assert_eq!(
        assert_field_error(s, &v, "equipmentIds[3]", "junk"),
        "no such equipment"
    );
    assert_eq!(v["error"]["fields"]["equipmentIds[4]"], "is listed twice");
    let (s, v) = post(
        &app,
        &c,
        "/api/v1/loadouts",
        json!({"name": "Bad", "equipmentIds": [cam, old, UNKNOWN_ID]}),
    )
    .await;
    assert!(
        assert_field_error(s, &v, "equipmentIds[1]", "retired").contains("retired"),
        "{v}"
    );
    assert_eq!(v["error"]["fields"]["equipmentIds[2]"], "no such equipment");
    assert!(v["error"]["fields"].get("equipmentIds[0]").is_none());
    let too_many: Vec<String> = (0..51)
        .map(|i| format!("0190b7a0-0000-7000-8000-{i:012}"))
        .collect();
    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (
            json!({"name": "A", "equipmentIds": too_many}),
            "equipmentIds",
        ),
        (json!({"name": "A", "equipmentIds": cam}), "equipmentIds"),
        (json!({"name": "A", "equipment": [cam]}), "equipment"),
        (
            json!({"name": "A", "description": "d".repeat(2001)}),
            "description",
        ),
    ] {
        let (s, v) = post(&app, &c, "/api/v1/loadouts", body.clone()).await;
        assert_field_error(s, &v, field, &body.to_string());
    }
    // PATCH replaces the set, with the same checks.
    let (s, v) = patch(&app, &c, &path, json!({"equipmentIds": [old]})).await;
    assert_field_error(s, &v, "equipmentIds[0]", "patch retired");
    let (s, v) = patch(&app, &c, &path, json!({"equipmentIds": [cam]})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["equipmentIds"], json!([cam]));
    assert_eq!(v["hourlyCost"].as_f64(), Some(12.5));
    // A price change shows through.
    patch(
        &app,
        &c,
        &format!("/api/v1/equipment/{cam}"),
        json!({"hourlyCost": 20}),
    )
    .await;
    assert_eq!(
        get(&app, &c, &path).await.1["hourlyCost"].as_f64(),
        Some(20.0)
    );

    // Lists: by name, text search, containing an item.
    let (_, v) = get(&app, &c, "/api/v1/loadouts").await;
    assert_eq!(names(&v), ["DRAIN KIT", "Empty"]);
    let (_, v) = get(&app, &c, "/api/v1/loadouts?q=sewer").await;
    assert_eq!(names(&v), ["DRAIN KIT"]);
    let (_, v) = get(&app, &c, &format!("/api/v1/loadouts?equipmentId={cam}")).await;
    assert_eq!(names(&v), ["DRAIN KIT"]);
    assert_eq!(v["data"][0]["equipment"][0]["name"], "Camera");
    let (_, v) = get(&app, &c, &format!("/api/v1/loadouts?equipmentId={aug}")).await;
    assert_eq!(v["pagination"]["total"], 0);
    let (s, v) = get(&app, &c, "/api/v1/loadouts?equipmentId=x").await;
    assert_field_error(s, &v, "equipmentId", "bad equipmentId");
    let (s, v) = get(&app, &c, "/api/v1/loadouts?status=open").await;
    assert_field_error(s, &v, "status", "unknown param");

    assert_eq!(
        delete(&app, &c, &format!("/api/v1/loadouts/{}", id(&empty)))
            .await
            .0,
        204
    );
    let trail = audit(&app, "loadout", &id(&drain)).await;
    assert_eq!(
        trail.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(),
        ["create", "update", "update"]
    );
    assert_eq!(
        trail[2].2["equipmentIds"],
        json!({"before": [aug, cam], "after": [cam]})
    );
    assert_eq!(
        audit(&app, "loadout", &id(&empty))
            .await
            .iter()
            .map(|t| t.0.as_str())
            .collect::<Vec<_>>(),
        ["create", "delete"]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equipment_and_loadouts_in_use_cannot_be_deleted() {
    let (app, c) = staff_app().await;
    let van = created(&app, &c, "/api/v1/equipment", json!({"name": "Van"})).await;
    let ladder = created(&app, &c, "/api/v1/equipment", json!({"name": "Ladder"})).await;
    let kit = created(
        &app,
        &c,
        "/api/v1/loadouts",
        json!({"name": "Roof kit", "equipmentIds": [id(&van), id(&ladder)]}),
    )
    .await;
    let kit_path = format!("/api/v1/loadouts/{}", id(&kit));
    let van_path = format!("/api/v1/equipment/{}", id(&van));

    // Equipment in a loadout stays.
    let (s, v) = delete(&app, &c, &van_path).await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("Roof kit"),
        "{v}"
    );
    // An open work order using the loadout keeps it, whatever its open status.
    let wo = insert_work_order(&app, None, Some(&id(&kit)), "draft").await;
    for status in ["draft", "scheduled", "in_progress"] {
        set_work_order_status(&app, &wo, status).await;
        let (s, v) = delete(&app, &c, &kit_path).await;
        assert_eq!(s, 409, "{status}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains("open") && msg.contains("WO-000001"), "{msg}");
    }
    // The equipment message counts the work orders using its loadouts.
    let (_, v) = delete(&app, &c, &van_path).await;
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 work order"),
        "{v}"
    );
    // Once the job is closed the loadout is still kept for its history.
    set_work_order_status(&app, &wo, "completed").await;
    let (s, v) = delete(&app, &c, &kit_path).await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("history"),
        "{v}"
    );
    assert_eq!(get(&app, &c, &kit_path).await.0, 200);

    // Taking the van out of the loadout frees it.
    let (s, _) = patch(&app, &c, &kit_path, json!({"equipmentIds": [id(&ladder)]})).await;
    assert_eq!(s, 200);
    assert_eq!(delete(&app, &c, &van_path).await.0, 204);
    // A loadout no work order uses can go, and then so can its equipment.
    let spare = created(
        &app,
        &c,
        "/api/v1/loadouts",
        json!({"name": "Spare", "equipmentIds": [id(&ladder)]}),
    )
    .await;
    let ladder_path = format!("/api/v1/equipment/{}", id(&ladder));
    assert_eq!(delete(&app, &c, &ladder_path).await.0, 409);
    assert_eq!(
        delete(&app, &c, &format!("/api/v1/loadouts/{}", id(&spare)))
            .await
            .0,
        204
    );
    // Still in "Roof kit".
    assert_eq!(delete(&app, &c, &ladder_path).await.0, 409);
    assert_eq!(
        audit(&app, "equipment", &id(&van))
            .await
            .iter()
            .map(|t| t.0.as_str())
            .collect::<Vec<_>>(),
        ["create", "delete"]
    );
    app.stop().await;
}
