//! Leads through the real App: intake validation, status rules, conversion
//! into a customer (matched by e-mail or phone digits, or new) and a draft
//! work order in one write, automatic conversion, roles and the audit trail.

mod common;

use common::*;
use quant::domain::user::Role;
use serde_json::{Value, json};

async fn staff_app() -> (TestApp, reqwest::Client) {
    let app = TestApp::start().await;
    app.user("office@example.com", Role::Office).await;
    let c = app.login("office@example.com").await;
    (app, c)
}

async fn call(c: &reqwest::Client, method: &str, url: String, body: Option<Value>) -> (u16, Value) {
    let rb = match method {
        "GET" => c.get(url),
        "POST" => c.post(url),
        "PATCH" => c.patch(url),
        other => panic!("{other}"),
    };
    let rb = match body {
        Some(b) => rb.json(&b),
        None => rb,
    };
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v)
}

async fn lead(app: &TestApp, c: &reqwest::Client, body: Value) -> Value {
    let (s, v) = call(c, "POST", app.url("/api/v1/leads"), Some(body.clone())).await;
    assert_eq!(s, 201, "{body}: {v}");
    v
}

async fn convert(app: &TestApp, c: &reqwest::Client, id: &str) -> (u16, Value) {
    call(
        c,
        "POST",
        app.url(&format!("/api/v1/leads/{id}/convert")),
        None,
    )
    .await
}

async fn count(app: &TestApp, table: &'static str) -> i64 {
    app.state
        .db
        .read(move |c| Ok(c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?))
        .await
        .unwrap()
}

/// (status, priority, service_type, job_description, customer_id, lead_id) of a work order row.
async fn work_order_row(
    app: &TestApp,
    id: &str,
) -> (String, String, String, String, String, Option<String>) {
    let id = id.to_string();
    app.state
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT status, priority, service_type, job_description, customer_id, lead_id FROM work_orders WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )?)
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_validates_every_field() {
    let (app, c) = staff_app().await;
    let v = lead(
        &app,
        &c,
        json!({"name": " Gina Gray ", "email": "GINA@Example.com", "serviceType": "Plumbing",
               "description": "Leaking tap\nkitchen", "source": "web form"}),
    )
    .await;
    assert_eq!(v["name"], "Gina Gray");
    assert_eq!(v["email"], "gina@example.com");
    assert_eq!(v["phone"], "");
    assert_eq!(v["urgency"], "medium", "default");
    assert_eq!(v["status"], "new");
    assert_eq!(v["description"], "Leaking tap\nkitchen");
    for k in ["customerId", "workOrderId", "lostReason"] {
        assert_eq!(v[k], Value::Null, "{k}");
    }
    assert!(v["createdAt"].is_string() && v["updatedAt"].is_string());
    let v = lead(
        &app,
        &c,
        json!({"name": "Hal", "phone": "+1 (555) 010-3000", "urgency": "urgent"}),
    )
    .await;
    assert_eq!(
        (v["phone"].as_str(), v["urgency"].as_str()),
        (Some("+1 (555) 010-3000"), Some("urgent"))
    );

    let ok = json!({"name": "A", "phone": "555-010-1000"});
    let with = |k: &str, val: Value| {
        let mut b = ok.clone();
        b[k] = val;
        b
    };
    let cases = [
        (json!({"phone": "555-010-1000"}), vec!["name"]),
        (with("name", json!("  ")), vec!["name"]),
        (with("name", json!("x".repeat(201))), vec!["name"]),
        (with("name", json!(5)), vec!["name"]),
        (json!({"name": "A"}), vec!["email", "phone"]),
        (
            json!({"name": "A", "phone": "", "email": " "}),
            vec!["email", "phone"],
        ),
        (with("phone", json!("12")), vec!["phone"]),
        (with("phone", json!("call me")), vec!["phone"]),
        (with("email", json!("not-an-email")), vec!["email"]),
        (
            with("serviceType", json!("x".repeat(101))),
            vec!["serviceType"],
        ),
        (
            with("description", json!("x".repeat(5001))),
            vec!["description"],
        ),
        (with("urgency", json!("asap")), vec!["urgency"]),
        (with("source", json!("x".repeat(101))), vec!["source"]),
        (with("status", json!("contacted")), vec!["status"]),
        (with("customerId", json!("x")), vec!["customerId"]),
    ];
    for (body, fields) in cases {
        let (s, v) = call(&c, "POST", app.url("/api/v1/leads"), Some(body.clone())).await;
        assert_eq!(s, 400, "{body}: {v}");
        let got: Vec<&str> = v["error"]["fields"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(got, fields, "{body}");
    }
    assert_eq!(count(&app, "leads").await, 2, "nothing refused was stored");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_rules_and_read_only_leads() {
    let (app, c) = staff_app().await;
    let v = lead(
        &app,
        &c,
        json!({"name": "Ivy", "email": "ivy@example.com", "serviceType": "Roofing"}),
    )
    .await;
    let id = v["id"].as_str().unwrap().to_string();
    let url = app.url(&format!("/api/v1/leads/{id}"));

    // Edits while new.
    let (s, v) = call(
        &c,
        "PATCH",
        url.clone(),
        Some(json!({"phone": "555 010 4000", "urgency": "high"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["phone"].as_str(),
            v["urgency"].as_str(),
            v["name"].as_str()
        ),
        (Some("555 010 4000"), Some("high"), Some("Ivy"))
    );
    let (s, v) = call(
        &c,
        "PATCH",
        url.clone(),
        Some(json!({"email": "", "phone": ""})),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    // Status: lostReason only with lost; converted only through convert.
    let (s, v) = call(&c, "PATCH", url.clone(), Some(json!({"lostReason": "x"}))).await;
    assert_eq!(s, 400);
    assert!(v["error"]["fields"].get("lostReason").is_some());
    let (s, _) = call(
        &c,
        "PATCH",
        url.clone(),
        Some(json!({"status": "converted"})),
    )
    .await;
    assert_eq!(s, 409);
    let (s, _) = call(&c, "PATCH", url.clone(), Some(json!({"status": "won"}))).await;
    assert_eq!(s, 400);
    let (s, v) = call(
        &c,
        "PATCH",
        url.clone(),
        Some(json!({"status": "contacted"})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["status"], "contacted");
    let (s, v) = call(&c, "PATCH", url.clone(), Some(json!({"status": "new"}))).await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("contacted")
    );
    let (s, v) = call(&c, "PATCH", url.clone(), Some(json!({"status": "lost"}))).await;
    assert_eq!(s, 400);
    assert!(v["error"]["fields"].get("lostReason").is_some());
    // Both a bad field and a missing reason are reported together.
    let (s, v) = call(
        &c,
        "PATCH",
        url.clone(),
        Some(json!({"status": "lost", "email": "bad"})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["fields"].as_object().unwrap().len(), 2, "{v}");
    let (s, v) = call(
        &c,
        "PATCH",
        url.clone(),
        Some(json!({"status": "lost", "lostReason": "Went with a competitor"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["status"].as_str(), v["lostReason"].as_str()),
        (Some("lost"), Some("Went with a competitor"))
    );

    // A lost lead is read-only and cannot be converted.
    for body in [
        json!({"name": "Ivy B"}),
        json!({"status": "contacted"}),
        json!({}),
    ] {
        let (s, v) = call(&c, "PATCH", url.clone(), Some(body.clone())).await;
        assert_eq!(s, 409, "{body}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("lost"));
    }
    assert_eq!(convert(&app, &c, &id).await.0, 409);
    let (s, v) = call(&c, "GET", url.clone(), None).await;
    assert_eq!(
        (s, v["name"].as_str(), v["status"].as_str()),
        (200, Some("Ivy"), Some("lost"))
    );
    assert_eq!(count(&app, "work_orders").await, 0);
    assert_eq!(count(&app, "customers").await, 0);

    // 404s.
    let unknown = "0190b7a0-0000-7000-8000-000000000000";
    assert_eq!(
        call(
            &c,
            "GET",
            app.url(&format!("/api/v1/leads/{unknown}")),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(&c, "GET", app.url("/api/v1/leads/42"), None).await.0,
        404
    );
    assert_eq!(
        call(
            &c,
            "PATCH",
            app.url(&format!("/api/v1/leads/{unknown}")),
            Some(json!({"name": "x"}))
        )
        .await
        .0,
        404
    );
    assert_eq!(convert(&app, &c, unknown).await.0, 404);

    // Audited: create, update, contact, lose.
    app.user("owner@example.com", Role::Owner).await;
    let owner = app.login("owner@example.com").await;
    let (_, v) = call(
        &owner,
        "GET",
        app.url(&format!("/api/v1/audit?entity=lead&entity_id={id}")),
        None,
    )
    .await;
    let actions: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["lose", "contact", "update", "create"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_are_listed_filtered_and_searched() {
    let (app, c) = staff_app().await;
    for (i, (name, svc)) in [
        ("Ann Archer", "Plumbing"),
        ("Bob Baker", "Roofing"),
        ("Cy Cole", "Plumbing"),
    ]
    .iter()
    .enumerate()
    {
        lead(
            &app,
            &c,
            json!({"name": name, "phone": format!("555-010-100{i}"), "serviceType": svc}),
        )
        .await;
        app.clock.advance(chrono::Duration::seconds(1));
    }
    let names = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (s, v) = call(&c, "GET", app.url("/api/v1/leads"), None).await;
    assert_eq!(s, 200);
    assert_eq!(
        names(&v),
        ["Cy Cole", "Bob Baker", "Ann Archer"],
        "newest first"
    );
    let bob = v["data"][1]["id"].as_str().unwrap().to_string();
    call(
        &c,
        "PATCH",
        app.url(&format!("/api/v1/leads/{bob}")),
        Some(json!({"status": "contacted"})),
    )
    .await;
    let (_, v) = call(&c, "GET", app.url("/api/v1/leads?status=contacted"), None).await;
    assert_eq!(names(&v), ["Bob Baker"]);
    let (_, v) = call(&c, "GET", app.url("/api/v1/leads?q=plumb"), None).await;
    assert_eq!(names(&v), ["Cy Cole", "Ann Archer"]);
    let (_, v) = call(&c, "GET", app.url("/api/v1/leads?q=ARCH&status=new"), None).await;
    assert_eq!(names(&v), ["Ann Archer"]);
    let (_, v) = call(&c, "GET", app.url("/api/v1/leads?q=010-1002"), None).await;
    assert_eq!(names(&v), ["Cy Cole"]);
    let (_, v) = call(&c, "GET", app.url("/api/v1/leads?limit=2&page=2"), None).await;
    assert_eq!(names(&v), ["Ann Archer"]);
    assert_eq!(v["pagination"]["total"], 3);
    for q in [
        "status=open",
        "sort=name",
        "limit=0",
        &format!("q={}", "x".repeat(201)),
    ] {
        let (s, _) = call(&c, "GET", app.url(&format!("/api/v1/leads?{q}")), None).await;
        assert_eq!(s, 400, "{q}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convert_matches_by_email_then_phone_or_creates_a_customer() {
    let (app, c) = staff_app().await;
    let (s, ann) = call(
        &c,
        "POST",
        app.url("/api/v1/customers"),
        Some(json!({"name": "Ann Archer", "email": "Ann@Example.com", "phone": "555-010-9999"})),
    )
    .await;
    assert_eq!(s, 201);
    let (s, bob) = call(
        &c,
        "POST",
        app.url("/api/v1/customers"),
        Some(json!({"name": "Bob Baker", "phone": "(555) 010-2000"})),
    )
    .await;
    assert_eq!(s, 201);

    // By e-mail, case-insensitive (and preferred over a phone that matches someone else).
    let l1 = lead(
        &app,
        &c,
        json!({"name": "A. Archer", "email": "ANN@example.COM", "phone": "555.010.2000",
        "serviceType": "Water heater", "description": "No hot water", "urgency": "urgent"}),
    )
    .await;
    let l1_id = l1["id"].as_str().unwrap();
    let (s, v) = convert(&app, &c, l1_id).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["matchedExistingCustomer"], true);
    assert_eq!(v["customer"]["id"], ann["id"]);
    assert_eq!(
        v["customer"]["name"], "Ann Archer",
        "the existing customer is not changed"
    );
    assert_eq!(v["workOrder"]["workOrderNumber"], "WO-000001");
    let wo1 = v["workOrder"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["lead"]["status"], "converted");
    assert_eq!(v["lead"]["customerId"], ann["id"]);
    assert_eq!(v["lead"]["workOrderId"], wo1.as_str());
    assert_eq!(
        work_order_row(&app, &wo1).await,
        (
            "draft".into(),
            "urgent".into(),
            "Water heater".into(),
            "No hot water".into(),
            ann["id"].as_str().unwrap().into(),
            Some(l1_id.to_string())
        )
    );
    // The stored lead agrees; converting again is refused and uses no number.
    let (_, got) = call(&c, "GET", app.url(&format!("/api/v1/leads/{l1_id}")), None).await;
    assert_eq!(got, v["lead"]);
    let (s, v) = convert(&app, &c, l1_id).await;
    assert_eq!(s, 409);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("converted"),
        "{v}"
    );
    assert_eq!(
        call(
            &c,
            "PATCH",
            app.url(&format!("/api/v1/leads/{l1_id}")),
            Some(json!({"name": "x"}))
        )
        .await
        .0,
        409
    );

    // By phone digits: "555.010.2000" matches "(555) 010-2000".
    let l2 = lead(&app, &c, json!({"name": "Robert", "phone": "555.010.2000"})).await;
    let (s, v) = convert(&app, &c, l2["id"].as_str().unwrap()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["matchedExistingCustomer"], true);
    assert_eq!(v["customer"]["id"], bob["id"]);
    assert_eq!(
        v["workOrder"]["workOrderNumber"], "WO-000002",
        "no gap after the refused conversion"
    );
    let wo2 = v["workOrder"]["id"].as_str().unwrap().to_string();
    let row = work_order_row(&app, &wo2).await;
    assert_eq!(
        (row.0.as_str(), row.1.as_str(), row.2.as_str()),
        ("draft", "medium", "General")
    );

    // No match: a new customer from the lead's details.
    assert_eq!(count(&app, "customers").await, 2);
    let l3 = lead(&app, &c, json!({"name": "Cara Cole", "email": "cara@example.com", "phone": "555 010 3333", "serviceType": "Electrical", "urgency": "low"})).await;
    let (s, v) = convert(&app, &c, l3["id"].as_str().unwrap()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["matchedExistingCustomer"], false);
    assert_eq!(
        (
            v["customer"]["name"].as_str(),
            v["customer"]["email"].as_str(),
            v["customer"]["phone"].as_str()
        ),
        (
            Some("Cara Cole"),
            Some("cara@example.com"),
            Some("555 010 3333")
        )
    );
    assert_eq!(v["workOrder"]["workOrderNumber"], "WO-000003");
    assert_eq!(v["lead"]["customerId"], v["customer"]["id"]);
    assert_eq!(count(&app, "customers").await, 3);
    let new_cust = v["customer"]["id"].as_str().unwrap().to_string();
    let (s, got) = call(
        &c,
        "GET",
        app.url(&format!("/api/v1/customers/{new_cust}")),
        None,
    )
    .await;
    assert_eq!((s, got["name"].as_str()), (200, Some("Cara Cole")));
    // The new customer is searchable at once (same transaction as its index row).
    let (_, found) = call(&c, "GET", app.url("/api/v1/customers?q=cara"), None).await;
    assert_eq!(found["pagination"]["total"], 1);
    // A later lead from the same person now matches that customer.
    let l4 = lead(&app, &c, json!({"name": "Cara", "phone": "5550103333"})).await;
    let (_, v) = convert(&app, &c, l4["id"].as_str().unwrap()).await;
    assert_eq!(
        (
            v["matchedExistingCustomer"].as_bool(),
            v["customer"]["id"].as_str()
        ),
        (Some(true), Some(new_cust.as_str()))
    );
    assert_eq!(v["workOrder"]["workOrderNumber"], "WO-000004");
    let numbers: Vec<i64> = app
        .state
        .db
        .read(|c| {
            let mut st = c.prepare("SELECT number FROM work_orders ORDER BY number")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<i64>, _>>()?)
        })
        .await
        .unwrap();
    assert_eq!(numbers, [1, 2, 3, 4]);

    // Every part of a conversion is audited: lead, customer (when new), work order.
    app.user("owner@example.com", Role::Owner).await;
    let owner = app.login("owner@example.com").await;
    let (_, v) = call(&owner, "GET", app.url("/api/v1/audit?action=convert"), None).await;
    assert_eq!(v["pagination"]["total"], 4);
    let (_, v) = call(
        &owner,
        "GET",
        app.url(&format!("/api/v1/audit?entity=work_order&entity_id={wo1}")),
        None,
    )
    .await;
    assert_eq!(v["data"][0]["action"], "create");
    assert_eq!(
        v["data"][0]["diff"]["workOrderNumber"]["after"],
        "WO-000001"
    );
    let (_, v) = call(
        &owner,
        "GET",
        app.url(&format!(
            "/api/v1/audit?entity=customer&entity_id={new_cust}"
        )),
        None,
    )
    .await;
    assert_eq!(v["pagination"]["total"], 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_converts_at_once_when_configured() {
    let app = TestApp::start_with(|c| c.business.auto_convert_leads = true).await;
    app.user("office@example.com", Role::Office).await;
    let c = app.login("office@example.com").await;
    let (s, v) = call(&c, "POST", app.url("/api/v1/leads"), Some(json!({"name": "Dee Dunn", "email": "dee@example.com", "serviceType": "HVAC", "urgency": "high"}))).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["lead"]["status"], "converted");
    assert_eq!(v["matchedExistingCustomer"], false);
    assert_eq!(v["customer"]["email"], "dee@example.com");
    assert_eq!(v["workOrder"]["workOrderNumber"], "WO-000001");
    let wo = v["workOrder"]["id"].as_str().unwrap();
    let row = work_order_row(&app, wo).await;
    assert_eq!(
        (row.0.as_str(), row.1.as_str(), row.2.as_str()),
        ("draft", "high", "HVAC")
    );
    let id = v["lead"]["id"].as_str().unwrap();
    let (_, got) = call(&c, "GET", app.url(&format!("/api/v1/leads/{id}")), None).await;
    assert_eq!(got["status"], "converted");
    // The same person again matches the customer just made.
    let (s, v) = call(
        &c,
        "POST",
        app.url("/api/v1/leads"),
        Some(json!({"name": "Dee", "email": "DEE@example.com"})),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(
        (
            v["matchedExistingCustomer"].as_bool(),
            v["workOrder"]["workOrderNumber"].as_str()
        ),
        (Some(true), Some("WO-000002"))
    );
    // Bad intake stores nothing.
    let (s, _) = call(
        &c,
        "POST",
        app.url("/api/v1/leads"),
        Some(json!({"name": "No Contact"})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        (
            count(&app, "leads").await,
            count(&app, "customers").await,
            count(&app, "work_orders").await
        ),
        (2, 1, 2)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technicians_are_kept_out_of_leads() {
    let (app, office) = staff_app().await;
    let v = lead(
        &app,
        &office,
        json!({"name": "Eve", "phone": "555-010-5555"}),
    )
    .await;
    let id = v["id"].as_str().unwrap().to_string();
    app.user("tech@example.com", Role::Technician).await;
    let tech = app.login("tech@example.com").await;
    let cases: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/api/v1/leads".into(), None),
        (
            "POST",
            "/api/v1/leads".into(),
            Some(json!({"name": "X", "phone": "555-010-0000"})),
        ),
        ("GET", format!("/api/v1/leads/{id}"), None),
        (
            "PATCH",
            format!("/api/v1/leads/{id}"),
            Some(json!({"status": "contacted"})),
        ),
        ("POST", format!("/api/v1/leads/{id}/convert"), None),
    ];
    for (m, path, body) in cases {
        assert_eq!(
            call(&tech, m, app.url(&path), body.clone()).await.0,
            403,
            "{m} {path}"
        );
        assert_eq!(
            call(&client(), m, app.url(&path), body).await.0,
            401,
            "{m} {path}"
        );
    }
    let (_, v) = call(
        &office,
        "GET",
        app.url(&format!("/api/v1/leads/{id}")),
        None,
    )
    .await;
    assert_eq!(v["status"], "new");
    assert_eq!(
        (count(&app, "leads").await, count(&app, "work_orders").await),
        (1, 0)
    );
    app.stop().await;
}
