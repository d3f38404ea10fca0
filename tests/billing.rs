//! Invoices, payments, follow-ups and the audit endpoint through the real
//! App. Invoices are put in place with SQL fixtures (as a completed work
//! order would leave them); everything else goes through HTTP.

mod common;

use common::*;
use quant::clock::Clock;
use quant::domain::money::Money;
use quant::domain::user::Role;
use serde_json::{Value, json};

/// 2026-03-16T03:00Z is still 2026-03-15 (22:00) in Chicago.
const NOW: &str = "2026-03-16T03:00:00Z";

async fn billing_app() -> (TestApp, reqwest::Client) {
    let app = TestApp::start_with(|c| c.business.timezone = "America/Chicago".into()).await;
    app.clock.set(quant::clock::parse_ts(NOW).unwrap());
    app.user("office@example.com", Role::Office).await;
    app.user("owner@example.com", Role::Owner).await;
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

async fn customer(app: &TestApp, c: &reqwest::Client, name: &str) -> String {
    let (s, v) = call(
        c,
        "POST",
        app.url("/api/v1/customers"),
        Some(json!({"name": name})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// A work order row for `customer_id`, numbered from the shared counter.
async fn work_order(app: &TestApp, customer_id: &str) -> (String, i64) {
    let cid = customer_id.to_string();
    let id = quant::domain::ids::new_id(app.clock.now()).to_string();
    app.state
        .db
        .write(move |c| {
            let n = quant::db::audit::next_number(c, "work_order")?;
            c.execute(
                "INSERT INTO work_orders (id, number, customer_id, service_type, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'Plumbing', 'completed', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
                rusqlite::params![id, n, cid],
            )?;
            Ok((id, n))
        })
        .await
        .unwrap()
}

/// An invoice as completion would leave it.
struct Fixture<'a> {
    customer_id: &'a str,
    work_order_id: Option<&'a str>,
    status: &'a str,
    issued: &'a str,
    due: &'a str,
    /// (kind, description, quantity in thousandths, unit price in cents)
    lines: Vec<(&'a str, &'a str, i64, i64)>,
    tax_bps: i64,
    paid_cents: i64,
}

/// Inserts the invoice and its lines; returns (id, number).
async fn invoice(app: &TestApp, f: Fixture<'_>) -> (String, i64) {
    let id = quant::domain::ids::new_id(app.clock.now()).to_string();
    let lines: Vec<(String, String, i64, i64, i64)> = f
        .lines
        .iter()
        .map(|(k, d, q, u)| {
            let amount = Money::from_cents(*u).times_milli(*q).cents();
            (k.to_string(), d.to_string(), *q, *u, amount)
        })
        .collect();
    let subtotal: i64 = lines.iter().map(|l| l.4).sum();
    let tax = Money::from_cents(subtotal).apply_bps(f.tax_bps).cents();
    let (cid, wo, status, issued, due, bps, paid) = (
        f.customer_id.to_string(),
        f.work_order_id.map(str::to_string),
        f.status.to_string(),
        f.issued.to_string(),
        f.due.to_string(),
        f.tax_bps,
        f.paid_cents,
    );
    let iid = id.clone();
    let n = app
        .state
        .db
        .write(move |c| {
            let n = quant::db::audit::next_number(c, "invoice")?;
            c.execute(
                "INSERT INTO invoices (id, number, work_order_id, customer_id, status, subtotal_cents, tax_rate_bps,
                    tax_cents, total_cents, paid_cents, issued_date, due_date, sent_at, paid_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                    CASE WHEN ?5 IN ('sent', 'paid') THEN '2026-01-02T00:00:00.000000Z' END,
                    CASE WHEN ?5 = 'paid' THEN '2026-01-03T00:00:00.000000Z' END,
                    '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
                rusqlite::params![iid, n, wo, cid, status, subtotal, bps, tax, subtotal + tax, paid, issued, due],
            )?;
            for (pos, (k, d, q, u, a)) in lines.iter().enumerate() {
                c.execute(
                    "INSERT INTO invoice_lines (invoice_id, position, kind, description, quantity_milli, unit_price_cents, amount_cents)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    rusqlite::params![iid, pos as i64, k, d, q, u, a],
                )?;
            }
            Ok(n)
        })
        .await
        .unwrap();
    (id, n)
}

fn simple<'a>(customer_id: &'a str, status: &'a str, issued: &'a str, due: &'a str) -> Fixture<'a> {
    Fixture {
        customer_id,
        work_order_id: None,
        status,
        issued,
        due,
        lines: vec![("labour", "Work", 1000, 5000)],
        tax_bps: 0,
        paid_cents: if status == "paid" { 5000 } else { 0 },
    }
}

fn numbers(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["invoiceNumber"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoices_are_listed_filtered_and_shown_with_lines() {
    let (app, c) = billing_app().await;
    let ann = customer(&app, &c, "Ann Archer").await;
    let bob = customer(&app, &c, "Bob Baker").await;
    let (wo, wo_n) = work_order(&app, &ann).await;
    let (a, _) = invoice(
        &app,
        Fixture {
            customer_id: &ann,
            work_order_id: Some(&wo),
            status: "draft",
            issued: "2026-03-01",
            due: "2026-03-31",
            lines: vec![
                ("labour", "Labour (1.5 h)", 1500, 9000),
                ("equipment", "Pipe camera", 1000, 2550),
                ("parts", "Washers", 3000, 33),
            ],
            tax_bps: 825,
            paid_cents: 0,
        },
    )
    .await;
    invoice(&app, simple(&ann, "sent", "2026-02-01", "2026-03-03")).await; // INV-2 overdue
    invoice(&app, simple(&bob, "sent", "2026-02-10", "2026-03-15")).await; // INV-3 due "today"
    invoice(&app, simple(&bob, "paid", "2026-01-05", "2026-02-04")).await; // INV-4
    invoice(&app, simple(&bob, "void", "2026-01-20", "2026-02-19")).await; // INV-5

    let list = |q: &str| {
        let (c, url) = (c.clone(), app.url(&format!("/api/v1/invoices{q}")));
        async move {
            let (s, v) = call(&c, "GET", url, None).await;
            assert_eq!(s, 200, "{v}");
            v
        }
    };
    let all = list("").await;
    assert_eq!(
        numbers(&all),
        [
            "INV-000001",
            "INV-000003",
            "INV-000002",
            "INV-000005",
            "INV-000004"
        ],
        "newest issue date first"
    );
    assert_eq!(all["pagination"]["total"], 5);
    // The view, with lines, in the list and in the detail.
    let first = &all["data"][0];
    assert_eq!(first["lines"].as_array().unwrap().len(), 3);
    let (s, detail) = call(&c, "GET", app.url(&format!("/api/v1/invoices/{a}")), None).await;
    assert_eq!(s, 200);
    assert_eq!(detail["invoiceNumber"], "INV-000001");
    assert_eq!(detail["workOrderId"], wo.as_str());
    assert_eq!(detail["workOrderNumber"], format!("WO-{wo_n:06}"));
    assert_eq!(detail["customerId"], ann.as_str());
    assert_eq!(detail["customerName"], "Ann Archer");
    assert_eq!(detail["status"], "draft");
    // 135.00 + 25.50 + 0.99 = 161.49; 8.25 % = 13.323… → 13.32
    assert_eq!(detail["subtotal"], json!(161.49));
    assert_eq!(detail["taxRateBps"], 825);
    assert_eq!(detail["tax"], json!(13.32));
    assert_eq!(detail["total"], json!(174.81));
    assert_eq!(detail["paid"], json!(0.0));
    assert_eq!(detail["balance"], json!(174.81));
    assert_eq!(
        (detail["issuedDate"].as_str(), detail["dueDate"].as_str()),
        (Some("2026-03-01"), Some("2026-03-31"))
    );
    assert_eq!(detail["sentAt"], Value::Null);
    assert_eq!(detail["voidReason"], Value::Null);
    assert_eq!(
        detail["lines"][0],
        json!({"kind": "labour", "description": "Labour (1.5 h)", "quantity": 1.5, "unitPrice": 90.0, "amount": 135.0})
    );
    assert_eq!(detail["lines"][2]["quantity"], json!(3));
    assert_eq!(detail["lines"][2]["amount"], json!(0.99));
    assert_eq!(detail["payments"], json!([]));
    // Money keeps two places on the wire.
    let raw = c
        .get(app.url(&format!("/api/v1/invoices/{a}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.contains("\"paid\":0.00"), "{raw}");

    // Filters.
    assert_eq!(
        numbers(&list("?status=sent").await),
        ["INV-000003", "INV-000002"]
    );
    assert_eq!(
        numbers(&list(&format!("?customer_id={bob}")).await),
        ["INV-000003", "INV-000005", "INV-000004"]
    );
    assert_eq!(
        numbers(&list("?from=2026-01-20&to=2026-02-10").await),
        ["INV-000003", "INV-000002", "INV-000005"]
    );
    assert_eq!(
        numbers(&list(&format!("?from=2026-02-01&customer_id={ann}&status=sent")).await),
        ["INV-000002"]
    );
    // Overdue: sent, balance left, due before today in Chicago (2026-03-15).
    assert_eq!(numbers(&list("?overdue=true").await), ["INV-000002"]);
    assert_eq!(numbers(&list("?overdue=false").await).len(), 5);
    app.clock.advance(chrono::Duration::hours(6)); // 2026-03-16 in Chicago
    assert_eq!(
        numbers(&list("?overdue=true").await),
        ["INV-000003", "INV-000002"]
    );
    assert_eq!(
        numbers(&list(&format!("?overdue=true&customer_id={ann}")).await),
        ["INV-000002"]
    );
    // Pagination.
    let p = list("?limit=2&page=2").await;
    assert_eq!(numbers(&p), ["INV-000002", "INV-000005"]);
    assert_eq!(p["pagination"]["totalPages"], 3);

    // Bad queries are 400s naming the parameter; bad ids are 404s.
    for (q, field) in [
        ("status=bogus", "status"),
        ("overdue=yes", "overdue"),
        ("customer_id=123", "customer_id"),
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2026-03-02&to=2026-03-01", "to"),
        ("sort=total", "sort"),
        ("limit=500", "limit"),
        ("status=sent&status=paid", "status"),
    ] {
        let (s, v) = call(&c, "GET", app.url(&format!("/api/v1/invoices?{q}")), None).await;
        assert_eq!(s, 400, "{q}: {v}");
        assert!(v["error"]["fields"].get(field).is_some(), "{q}: {v}");
    }
    for path in [
        "/api/v1/invoices/INV-000001",
        "/api/v1/invoices/0190b7a0-0000-7000-8000-000000000000",
        "/api/v1/invoices/0190b7a0-0000-7000-8000-000000000000/payments",
    ] {
        let (s, v) = call(&c, "GET", app.url(path), None).await;
        assert_eq!(s, 404, "{path}: {v}");
    }
    let r = c
        .delete(app.url(&format!("/api/v1/invoices/{a}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_void_and_payments_follow_the_rules() {
    let (app, c) = billing_app().await;
    let ann = customer(&app, &c, "Ann Archer").await;
    let fx = |status| Fixture {
        tax_bps: 825,
        ..simple(&ann, status, "2026-03-01", "2026-03-31")
    };
    // 50.00 + 8.25 % = 54.13 (4.125 rounds half away from zero)
    let (inv, _) = invoice(&app, fx("draft")).await;
    let url = |p: &str| app.url(&format!("/api/v1/invoices/{inv}{p}"));

    let (s, v) = call(&c, "POST", url("/send"), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["status"].as_str(), v["sentAt"].as_str()),
        (Some("sent"), Some("2026-03-16T03:00:00.000000Z"))
    );
    assert_eq!(v["total"], json!(54.13));
    let (s, v) = call(&c, "POST", url("/send"), None).await;
    assert_eq!(s, 409);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("sent"),
        "{v}"
    );

    // A partial payment.
    let (s, v) = call(
        &c,
        "POST",
        url("/payments"),
        Some(json!({"amount": 20, "method": "card", "reference": "auth 991"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["payment"]["amount"], json!(20.0));
    assert_eq!(v["payment"]["method"], "card");
    assert_eq!(
        v["payment"]["receivedDate"], "2026-03-15",
        "today in Chicago"
    );
    assert_eq!(v["payment"]["reference"], "auth 991");
    assert_eq!(v["invoice"]["status"], "sent");
    assert_eq!(
        (
            v["invoice"]["paid"].clone(),
            v["invoice"]["balance"].clone()
        ),
        (json!(20.0), json!(34.13))
    );

    // Bad payments: too much (naming the balance), not positive, bad method, future date, unknown field.
    let (s, v) = call(
        &c,
        "POST",
        url("/payments"),
        Some(json!({"amount": "34.14", "method": "cash"})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        v["error"]["fields"]["amount"]
            .as_str()
            .unwrap()
            .contains("34.13"),
        "{v}"
    );
    for (body, field) in [
        (json!({"amount": 0, "method": "cash"}), "amount"),
        (json!({"amount": -5, "method": "cash"}), "amount"),
        (json!({"amount": 1.001, "method": "cash"}), "amount"),
        (json!({"method": "cash"}), "amount"),
        (json!({"amount": 1, "method": "bitcoin"}), "method"),
        (json!({"amount": 1}), "method"),
        (
            json!({"amount": 1, "method": "cash", "receivedDate": "2026-03-16"}),
            "receivedDate",
        ),
        (
            json!({"amount": 1, "method": "cash", "receivedDate": "15/03/2026"}),
            "receivedDate",
        ),
        (
            json!({"amount": 1, "method": "cash", "reference": "x".repeat(101)}),
            "reference",
        ),
        (json!({"amount": 1, "method": "cash", "tip": 2}), "tip"),
    ] {
        let (s, v) = call(&c, "POST", url("/payments"), Some(body.clone())).await;
        assert_eq!(s, 400, "{body}: {v}");
        assert!(v["error"]["fields"].get(field).is_some(), "{body}: {v}");
    }
    // An invoice with payments cannot be voided.
    let (s, v) = call(
        &c,
        "POST",
        url("/void"),
        Some(json!({"reason": "duplicate"})),
    )
    .await;
    assert_eq!(s, 409, "{v}");

    // The rest of the balance pays it.
    let (s, v) = call(
        &c,
        "POST",
        url("/payments"),
        Some(json!({"amount": 34.13, "method": "bank_transfer", "receivedDate": "2026-03-14"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["invoice"]["status"], "paid");
    assert_eq!(v["invoice"]["balance"], json!(0.0));
    assert_eq!(v["invoice"]["paidAt"], "2026-03-16T03:00:00.000000Z");
    let (s, _) = call(
        &c,
        "POST",
        url("/payments"),
        Some(json!({"amount": 1, "method": "cash"})),
    )
    .await;
    assert_eq!(s, 409, "paid");
    let (s, _) = call(&c, "POST", url("/void"), Some(json!({"reason": "x"}))).await;
    assert_eq!(s, 409, "paid");
    let (s, _) = call(&c, "POST", url("/send"), None).await;
    assert_eq!(s, 409);

    let (s, v) = call(&c, "GET", url("/payments"), None).await;
    assert_eq!(s, 200);
    let pays = v["data"].as_array().unwrap();
    assert_eq!(pays.len(), 2);
    assert_eq!(pays[1]["receivedDate"], "2026-03-14");
    let (_, detail) = call(&c, "GET", url(""), None).await;
    assert_eq!(detail["payments"].as_array().unwrap().len(), 2);
    assert_eq!(detail["paid"], json!(54.13));

    // A payment on a draft sends it.
    let (draft, _) = invoice(&app, fx("draft")).await;
    let (s, v) = call(
        &c,
        "POST",
        app.url(&format!("/api/v1/invoices/{draft}/payments")),
        Some(json!({"amount": 10, "method": "check"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["invoice"]["status"], "sent");
    assert!(v["invoice"]["sentAt"].is_string());

    // Voiding: reason required; then nothing more can happen.
    let (void_me, _) = invoice(&app, fx("sent")).await;
    let vurl = |p: &str| app.url(&format!("/api/v1/invoices/{void_me}{p}"));
    for body in [
        json!({}),
        json!({"reason": "  "}),
        json!({"reason": "x".repeat(501)}),
    ] {
        let (s, v) = call(&c, "POST", vurl("/void"), Some(body.clone())).await;
        assert_eq!(s, 400, "{body}");
        assert!(v["error"]["fields"].get("reason").is_some(), "{v}");
    }
    let (s, v) = call(
        &c,
        "POST",
        vurl("/void"),
        Some(json!({"reason": "Customer disputed; re-issued"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "void");
    assert_eq!(v["voidReason"], "Customer disputed; re-issued");
    assert_eq!(v["voidedAt"], "2026-03-16T03:00:00.000000Z");
    assert_eq!(
        call(&c, "POST", vurl("/void"), Some(json!({"reason": "again"})))
            .await
            .0,
        409
    );
    assert_eq!(
        call(
            &c,
            "POST",
            vurl("/payments"),
            Some(json!({"amount": 1, "method": "cash"}))
        )
        .await
        .0,
        409
    );
    assert_eq!(call(&c, "POST", vurl("/send"), None).await.0, 409);
    let (s, _) = call(
        &c,
        "GET",
        app.url("/api/v1/invoices/0190b7a0-0000-7000-8000-000000000000/payments"),
        None,
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(
        call(
            &c,
            "POST",
            app.url("/api/v1/invoices/0190b7a0-0000-7000-8000-000000000000/send"),
            None
        )
        .await
        .0,
        404
    );

    // Nothing refused was stored: 2 + 1 payments, paid sums agree with the payments table.
    let (n, mismatched): (i64, i64) = app
        .state
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT (SELECT count(*) FROM payments),
                        (SELECT count(*) FROM invoices i WHERE paid_cents <> (SELECT coalesce(sum(amount_cents), 0) FROM payments p WHERE p.invoice_id = i.id))",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await
        .unwrap();
    assert_eq!((n, mismatched), (3, 0));

    // Every change is in the audit log, by the office user.
    let owner = app.login("owner@example.com").await;
    let (s, v) = call(
        &owner,
        "GET",
        app.url(&format!("/api/v1/audit?entity=invoice&entity_id={inv}")),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let actions: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["record_payment", "record_payment", "send"]);
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "office@example.com")
    );
    assert_eq!(
        v["data"][0]["diff"]["status"],
        json!({"before": "sent", "after": "paid"})
    );
    let (_, v) = call(
        &owner,
        "GET",
        app.url("/api/v1/audit?entity=payment&action=create"),
        None,
    )
    .await;
    assert_eq!(v["pagination"]["total"], 3);
    let (_, v) = call(
        &owner,
        "GET",
        app.url(&format!("/api/v1/audit?entity=invoice&entity_id={void_me}")),
        None,
    )
    .await;
    assert_eq!(v["data"][0]["action"], "void");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_ups_are_added_listed_and_closed() {
    let (app, c) = billing_app().await;
    let ann = customer(&app, &c, "Ann Archer").await;
    let bob = customer(&app, &c, "Bob Baker").await;
    let (wo, wo_n) = work_order(&app, &ann).await;
    let base = app.url("/api/v1/follow-ups");

    let (s, v) = call(&c, "POST", base.clone(), Some(json!({"customerId": ann, "workOrderId": wo, "dueDate": "2026-03-20", "note": " Ask how the new heater runs "}))).await;
    assert_eq!(s, 201, "{v}");
    let f1 = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["workOrderId"], wo.as_str());
    assert_eq!(v["workOrderNumber"], format!("WO-{wo_n:06}"));
    assert_eq!(v["customerId"], ann.as_str());
    assert_eq!(v["customerName"], "Ann Archer");
    assert_eq!(v["dueDate"], "2026-03-20");
    assert_eq!(v["status"], "open");
    assert_eq!(v["note"], "Ask how the new heater runs");
    assert_eq!(v["completedAt"], Value::Null);
    let (s, v) = call(
        &c,
        "POST",
        base.clone(),
        Some(json!({"customerId": bob, "dueDate": "2026-03-10"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let f2 = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["workOrderNumber"], Value::Null);
    let (s, _) = call(
        &c,
        "POST",
        base.clone(),
        Some(json!({"customerId": bob, "dueDate": "2026-03-15", "note": "due today"})),
    )
    .await;
    assert_eq!(s, 201);

    // Bad input: every field, and references that do not fit.
    let unknown = "0190b7a0-0000-7000-8000-000000000000";
    for (body, fields) in [
        (json!({}), vec!["customerId", "dueDate"]),
        (
            json!({"customerId": "abc", "dueDate": "2026-02-30"}),
            vec!["customerId", "dueDate"],
        ),
        (
            json!({"customerId": ann, "dueDate": "2026-03-20", "note": "x".repeat(2001)}),
            vec!["note"],
        ),
        (
            json!({"customerId": ann, "dueDate": "2026-03-20", "workOrderId": "wo-1"}),
            vec!["workOrderId"],
        ),
        (
            json!({"customerId": ann, "dueDate": "2026-03-20", "status": "done"}),
            vec!["status"],
        ),
        (
            json!({"customerId": unknown, "dueDate": "2026-03-20"}),
            vec!["customerId"],
        ),
        (
            json!({"customerId": ann, "dueDate": "2026-03-20", "workOrderId": unknown}),
            vec!["workOrderId"],
        ),
        (
            json!({"customerId": bob, "dueDate": "2026-03-20", "workOrderId": wo}),
            vec!["workOrderId"],
        ),
    ] {
        let (s, v) = call(&c, "POST", base.clone(), Some(body.clone())).await;
        assert_eq!(s, 400, "{body}: {v}");
        let got: Vec<&str> = v["error"]["fields"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(got, fields, "{body}");
    }

    let list = |q: &str| {
        let (c, url) = (c.clone(), app.url(&format!("/api/v1/follow-ups{q}")));
        async move {
            let (s, v) = call(&c, "GET", url, None).await;
            assert_eq!(s, 200, "{v}");
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["dueDate"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list("").await,
        ["2026-03-10", "2026-03-15", "2026-03-20"],
        "soonest first"
    );
    assert_eq!(
        list("?overdue=true").await,
        ["2026-03-10"],
        "today in Chicago is 2026-03-15"
    );
    assert_eq!(
        list(&format!("?customer_id={bob}")).await,
        ["2026-03-10", "2026-03-15"]
    );
    assert_eq!(
        list("?from=2026-03-11&to=2026-03-20").await,
        ["2026-03-15", "2026-03-20"]
    );
    for q in [
        "status=late",
        "overdue=1",
        "customer_id=x",
        "from=2026-1-1",
        "foo=bar",
    ] {
        let (s, _) = call(&c, "GET", app.url(&format!("/api/v1/follow-ups?{q}")), None).await;
        assert_eq!(s, 400, "{q}");
    }

    // Done sets completedAt; an overdue follow-up that is done is no longer overdue.
    app.clock.advance(chrono::Duration::minutes(30));
    let (s, v) = call(
        &c,
        "PATCH",
        format!("{base}/{f2}"),
        Some(json!({"status": "done", "note": "Called; all good"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "done");
    assert_eq!(v["completedAt"], "2026-03-16T03:30:00.000000Z");
    assert_eq!(v["note"], "Called; all good");
    assert_eq!(v["dueDate"], "2026-03-10", "kept");
    assert!(list("?overdue=true").await.is_empty());
    assert_eq!(list("?status=done").await, ["2026-03-10"]);
    // Reopening clears it; cancelling; moving the due date.
    let (_, v) = call(
        &c,
        "PATCH",
        format!("{base}/{f2}"),
        Some(json!({"status": "open"})),
    )
    .await;
    assert_eq!(
        (v["status"].as_str(), v["completedAt"].clone()),
        (Some("open"), Value::Null)
    );
    let (_, v) = call(
        &c,
        "PATCH",
        format!("{base}/{f1}"),
        Some(json!({"status": "cancelled"})),
    )
    .await;
    assert_eq!(v["status"], "cancelled");
    let (_, v) = call(
        &c,
        "PATCH",
        format!("{base}/{f2}"),
        Some(json!({"dueDate": "2026-04-01"})),
    )
    .await;
    assert_eq!(v["dueDate"], "2026-04-01");
    assert!(list("?overdue=true").await.is_empty());
    assert_eq!(list("?status=open").await, ["2026-03-15", "2026-04-01"]);
    for body in [
        json!({"status": "closed"}),
        json!({"dueDate": "soon"}),
        json!({"note": "x".repeat(2001)}),
        json!({"customerId": bob}),
    ] {
        let (s, _) = call(&c, "PATCH", format!("{base}/{f2}"), Some(body.clone())).await;
        assert_eq!(s, 400, "{body}");
    }
    let (s, v) = call(&c, "GET", format!("{base}/{f2}"), None).await;
    assert_eq!((s, v["dueDate"].as_str()), (200, Some("2026-04-01")));
    assert_eq!(
        call(&c, "GET", format!("{base}/{unknown}"), None).await.0,
        404
    );
    assert_eq!(
        call(
            &c,
            "PATCH",
            format!("{base}/nope"),
            Some(json!({"note": "x"}))
        )
        .await
        .0,
        404
    );

    // Audited: create, complete, reopen, update.
    let owner = app.login("owner@example.com").await;
    let (_, v) = call(
        &owner,
        "GET",
        app.url(&format!("/api/v1/audit?entity=follow_up&entity_id={f2}")),
        None,
    )
    .await;
    let actions: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["update", "reopen", "complete", "create"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_endpoint_is_the_owners_and_filterable() {
    let (app, office) = billing_app().await;
    let owner_row = app.user("boss@example.com", Role::Owner).await;
    let owner = app.login("boss@example.com").await;
    let ann = customer(&app, &office, "Ann Archer").await;
    app.clock.advance(chrono::Duration::hours(1)); // 04:00Z
    let (s, v) = call(
        &owner,
        "POST",
        app.url("/api/v1/customers"),
        Some(json!({"name": "Bob"})),
    )
    .await;
    assert_eq!(s, 201);
    let bob = v["id"].as_str().unwrap().to_string();
    let (s, _) = call(
        &owner,
        "PATCH",
        app.url(&format!("/api/v1/customers/{bob}")),
        Some(json!({"company": "Baker Co"})),
    )
    .await;
    assert_eq!(s, 200);

    let audit = |q: &str| {
        let (c, url) = (owner.clone(), app.url(&format!("/api/v1/audit{q}")));
        async move {
            let (s, v) = call(&c, "GET", url, None).await;
            assert_eq!(s, 200, "{v}");
            v
        }
    };
    let all = audit("?entity=customer").await;
    let ids: Vec<(&str, &str)> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["entityId"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            (bob.as_str(), "update"),
            (bob.as_str(), "create"),
            (ann.as_str(), "create")
        ],
        "newest first"
    );
    assert_eq!(
        all["data"][0]["diff"],
        json!({"company": {"before": "", "after": "Baker Co"}})
    );
    assert_eq!(all["data"][0]["actorUserId"], owner_row.id.as_str());
    assert!(all["data"][0]["at"].is_string() && all["data"][0]["id"].is_number());
    assert_eq!(
        audit("?action=update&entity=customer").await["pagination"]["total"],
        1
    );
    assert_eq!(
        audit(&format!("?actor_user_id={}", owner_row.id)).await["pagination"]["total"],
        2
    );
    assert_eq!(
        audit(&format!("?entity_id={ann}")).await["pagination"]["total"],
        1
    );
    // Time window: RFC 3339 in any offset, normalised.
    assert_eq!(
        audit("?entity=customer&from=2026-03-16T03:30:00Z").await["pagination"]["total"],
        2
    );
    assert_eq!(
        audit("?entity=customer&to=2026-03-15T22:30:00-05:00").await["pagination"]["total"],
        1
    );
    assert_eq!(
        audit("?entity=customer&from=2026-03-16T04:00:00Z&to=2026-03-16T04:00:00.000001Z").await["pagination"]
            ["total"],
        2
    );
    let p = audit("?entity=customer&limit=1&page=3").await;
    assert_eq!(p["data"][0]["entityId"], ann.as_str());

    for (q, field) in [
        ("from=yesterday", "from"),
        ("to=2026-03-16", "to"),
        ("from=2026-03-16T05:00:00Z&to=2026-03-16T04:00:00Z", "to"),
        ("who=me", "who"),
        ("page=0", "page"),
    ] {
        let (s, v) = call(&owner, "GET", app.url(&format!("/api/v1/audit?{q}")), None).await;
        assert_eq!(s, 400, "{q}: {v}");
        assert!(v["error"]["fields"].get(field).is_some(), "{q}: {v}");
    }
    // Office staff and technicians may not read it; strangers must log in.
    assert_eq!(
        call(&office, "GET", app.url("/api/v1/audit"), None).await.0,
        403
    );
    app.user("tech@example.com", Role::Technician).await;
    let tech = app.login("tech@example.com").await;
    assert_eq!(
        call(&tech, "GET", app.url("/api/v1/audit"), None).await.0,
        403
    );
    assert_eq!(
        call(&client(), "GET", app.url("/api/v1/audit"), None)
            .await
            .0,
        401
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technicians_are_kept_out_of_billing() {
    let (app, office) = billing_app().await;
    let ann = customer(&app, &office, "Ann Archer").await;
    let (inv, _) = invoice(&app, simple(&ann, "draft", "2026-03-01", "2026-03-31")).await;
    let (s, v) = call(
        &office,
        "POST",
        app.url("/api/v1/follow-ups"),
        Some(json!({"customerId": ann, "dueDate": "2026-03-20"})),
    )
    .await;
    assert_eq!(s, 201);
    let fu = v["id"].as_str().unwrap().to_string();
    app.user("tech@example.com", Role::Technician).await;
    let tech = app.login("tech@example.com").await;
    let token = app.token("tech@example.com", "script").await;
    let cases: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/api/v1/invoices".into(), None),
        ("GET", format!("/api/v1/invoices/{inv}"), None),
        ("POST", format!("/api/v1/invoices/{inv}/send"), None),
        (
            "POST",
            format!("/api/v1/invoices/{inv}/void"),
            Some(json!({"reason": "x"})),
        ),
        ("GET", format!("/api/v1/invoices/{inv}/payments"), None),
        (
            "POST",
            format!("/api/v1/invoices/{inv}/payments"),
            Some(json!({"amount": 1, "method": "cash"})),
        ),
        ("GET", "/api/v1/follow-ups".into(), None),
        (
            "POST",
            "/api/v1/follow-ups".into(),
            Some(json!({"customerId": ann, "dueDate": "2026-03-20"})),
        ),
        ("GET", format!("/api/v1/follow-ups/{fu}"), None),
        (
            "PATCH",
            format!("/api/v1/follow-ups/{fu}"),
            Some(json!({"status": "done"})),
        ),
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
    let r = client()
        .get(app.url("/api/v1/invoices"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Nothing changed.
    let (_, v) = call(
        &office,
        "GET",
        app.url(&format!("/api/v1/invoices/{inv}")),
        None,
    )
    .await;
    assert_eq!(
        (v["status"].as_str(), v["payments"].as_array().map(Vec::len)),
        (Some("draft"), Some(0))
    );
    let (_, v) = call(
        &office,
        "GET",
        app.url(&format!("/api/v1/follow-ups/{fu}")),
        None,
    )
    .await;
    assert_eq!(v["status"], "open");
    app.stop().await;
}
