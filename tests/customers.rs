//! Customers API through the real App: CRUD, validation, roles, full-text
//! search kept in step with writes, contacts, and the audit trail.

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

async fn create(app: &TestApp, c: &reqwest::Client, body: Value) -> Value {
    let r = c
        .post(app.url("/api/v1/customers"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{body}");
    r.json().await.unwrap()
}

async fn search(app: &TestApp, c: &reqwest::Client, q: &str) -> Vec<String> {
    let r = c
        .get(app.url("/api/v1/customers"))
        .query(&[("q", q)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_update_delete() {
    let (app, c) = staff_app().await;
    let r = c
        .post(app.url("/api/v1/customers"))
        .json(&json!({
            "name": "  Ann Archer ", "company": "Archer Rentals", "email": "ANN@Example.com",
            "phone": "(555) 010-2000", "notes": "Gate code 1234\nDog in yard",
            "tags": ["vip", "VIP", "landlord"],
            "addresses": [{"label": "Home", "line1": "12 Main St", "city": "Springfield", "region": "IL", "postalCode": "62701"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["name"], "Ann Archer");
    assert_eq!(created["email"], "ann@example.com");
    assert_eq!(created["tags"], json!(["vip", "landlord"]));
    assert_eq!(created["addresses"][0]["postalCode"], "62701");
    assert_eq!(created["addresses"][0]["line2"], "");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(loc, format!("/api/v1/customers/{id}"));

    let got: Value = c
        .get(app.url(&loc))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["name"], "Ann Archer");
    assert_eq!(got["contacts"], json!([]));

    let r = c
        .patch(app.url(&loc))
        .json(&json!({"company": "Archer Homes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["company"], "Archer Homes");
    assert_eq!(updated["name"], "Ann Archer", "absent fields are kept");
    assert_eq!(updated["createdAt"], created["createdAt"]);

    assert_eq!(c.delete(app.url(&loc)).send().await.unwrap().status(), 204);
    assert_eq!(c.get(app.url(&loc)).send().await.unwrap().status(), 404);
    assert_eq!(c.delete(app.url(&loc)).send().await.unwrap().status(), 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_per_field_400s_and_nothing_is_stored() {
    let (app, c) = staff_app().await;
    let cases = [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"name": "A", "email": "not-an-email"}), "email"),
        (json!({"name": "A", "phone": "12"}), "phone"),
        (json!({"name": "A", "bogus": 1}), "bogus"),
        (json!({"name": "A", "tags": "vip"}), "tags"),
        (json!({"name": "A", "tags": [""]}), "tags"),
        (
            json!({"name": "A", "addresses": [{"city": "X"}]}),
            "addresses[0].line1",
        ),
        (
            json!({"name": "A", "addresses": [{"line1": "1", "zip": "X"}]}),
            "addresses[0].zip",
        ),
        (json!({"name": 5}), "name"),
    ];
    for (body, field) in cases {
        let r = c
            .post(app.url("/api/v1/customers"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "validation_failed", "{body}: {v}");
        assert!(v["error"]["fields"].get(field).is_some(), "{body}: {v}");
    }
    // Several problems at once are all reported.
    let r = c
        .post(app.url("/api/v1/customers"))
        .json(&json!({"name": "", "email": "x", "phone": "1"}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["fields"].as_object().unwrap().len(), 3, "{v}");
    let list: Value = c
        .get(app.url("/api/v1/customers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["pagination"]["total"], 0);
    // Ids that do not parse are 404; so are unknown ones; bad pagination is 400.
    assert_eq!(
        c.get(app.url("/api/v1/customers/123"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        c.patch(app.url("/api/v1/customers/0190b7a0-0000-7000-8000-000000000000"))
            .json(&json!({"name": "X"}))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        c.get(app.url("/api/v1/customers?limit=0"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        c.get(app.url("/api/v1/customers?page=abc"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        c.get(app.url("/api/v1/customers?sort=name"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technicians_and_strangers_are_kept_out() {
    let app = TestApp::start().await;
    app.user("tech@example.com", Role::Technician).await;
    let tech = app.login("tech@example.com").await;
    let r = tech.get(app.url("/api/v1/customers")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = tech
        .post(app.url("/api/v1/customers"))
        .json(&json!({"name": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client()
        .get(app.url("/api/v1/customers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_is_ranked_prefix_matched_and_kept_in_step() {
    let (app, c) = staff_app().await;
    create(&app, &c, json!({"name": "Bob Baker", "company": "Baker Bakery", "email": "bob@bakery.example", "phone": "555-0101-999"})).await;
    let carol = create(
        &app,
        &c,
        json!({"name": "Carol Jones", "notes": "Referred by Bob's neighbour; baker's oven is old",
        "addresses": [{"line1": "9 Elm Road", "city": "Shelbyville"}]}),
    )
    .await;
    create(
        &app,
        &c,
        json!({"name": "Dave Müller", "company": "Acme Heating"}),
    )
    .await;

    assert_eq!(
        search(&app, &c, "bak").await,
        ["Bob Baker", "Carol Jones"],
        "name/company ranked above notes"
    );
    assert_eq!(
        search(&app, &c, "shelby").await,
        ["Carol Jones"],
        "address, prefix"
    );
    assert_eq!(
        search(&app, &c, "bakery.example").await,
        ["Bob Baker"],
        "e-mail"
    );
    assert_eq!(
        search(&app, &c, "5550101").await,
        ["Bob Baker"],
        "phone digits"
    );
    assert_eq!(search(&app, &c, "0101").await, ["Bob Baker"], "phone part");
    assert_eq!(
        search(&app, &c, "muller").await,
        ["Dave Müller"],
        "diacritics folded"
    );
    assert_eq!(
        search(&app, &c, "acme heat").await,
        ["Dave Müller"],
        "all terms"
    );
    assert!(search(&app, &c, "acme bob").await.is_empty());
    // FTS syntax typed into the box is taken literally (the helper asserts 200).
    assert!(search(&app, &c, "\"* OR ( ").await.is_empty());
    assert!(
        search(&app, &c, "--").await.is_empty(),
        "punctuation only matches nothing"
    );

    // An update re-indexes in the same transaction.
    let id = carol["id"].as_str().unwrap();
    let r = c
        .patch(app.url(&format!("/api/v1/customers/{id}")))
        .json(&json!({"name": "Carol Smith", "addresses": [{"line1": "1 Oak Ave", "city": "Capital City"}], "notes": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(search(&app, &c, "jones").await.is_empty());
    assert!(search(&app, &c, "shelbyville").await.is_empty());
    assert_eq!(search(&app, &c, "capital").await, ["Carol Smith"]);
    assert_eq!(search(&app, &c, "bak").await, ["Bob Baker"]);
    // A delete removes it from the index.
    assert_eq!(
        c.delete(app.url(&format!("/api/v1/customers/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(search(&app, &c, "capital").await.is_empty());
    let n: i64 = app
        .state
        .db
        .read(|c| Ok(c.query_row("SELECT count(*) FROM customers_fts", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(n, 2);
    // Over-long queries are refused.
    let r = c
        .get(app.url("/api/v1/customers"))
        .query(&[("q", "x".repeat(201))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_paginate_and_filter_by_tag() {
    let (app, c) = staff_app().await;
    for i in 0..25 {
        let tags = if i % 5 == 0 {
            json!(["VIP"])
        } else {
            json!([])
        };
        create(
            &app,
            &c,
            json!({"name": format!("Customer {i:02}"), "tags": tags}),
        )
        .await;
    }
    let v: Value = c
        .get(app.url("/api/v1/customers?page=2&limit=10"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 10);
    assert_eq!(v["data"][0]["name"], "Customer 10");
    assert_eq!(
        v["pagination"],
        json!({"page": 2, "limit": 10, "total": 25, "totalPages": 3, "hasNext": true, "hasPrevious": true})
    );
    let v: Value = c
        .get(app.url("/api/v1/customers?tag=vip"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["pagination"]["total"], 5);
    let v: Value = c
        .get(app.url("/api/v1/customers?tag=vip&q=customer%2020"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["pagination"]["total"], 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_crud_and_audit_trail() {
    let (app, c) = staff_app().await;
    let cust = create(&app, &c, json!({"name": "Erin Estates"})).await;
    let id = cust["id"].as_str().unwrap();
    let base = format!("/api/v1/customers/{id}/contacts");
    let r = c
        .post(app.url(&base))
        .json(&json!({"name": "Frank", "role": "Property manager", "phone": "555 123 4567"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let contact: Value = r.json().await.unwrap();
    let cid = contact["id"].as_str().unwrap();
    assert_eq!(contact["customerId"], id);
    let r = c
        .post(app.url(&base))
        .json(&json!({"role": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .patch(app.url(&format!("{base}/{cid}")))
        .json(&json!({"email": "frank@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let detail: Value = c
        .get(app.url(&format!("/api/v1/customers/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["contacts"][0]["email"], "frank@example.com");
    assert_eq!(detail["contacts"][0]["name"], "Frank");
    assert_eq!(
        c.delete(app.url(&format!("{base}/{cid}")))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        c.delete(app.url(&format!("{base}/{cid}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = c
        .post(app.url("/api/v1/customers/0190b7a0-0000-7000-8000-000000000000/contacts"))
        .json(&json!({"name": "Nobody"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Every mutation left an audit record by the office user with a diff.
    let id2 = id.to_string();
    let rows: Vec<(String, String, String, String)> = app
        .state
        .db
        .read(move |c| {
            let mut st = c.prepare("SELECT entity, action, actor, diff FROM audit_log WHERE entity_id = ?1 OR entity = 'contact' ORDER BY id")?;
            let rows = st.query_map([id2], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .unwrap();
    let summary: Vec<(String, String)> = rows.iter().map(|r| (r.0.clone(), r.1.clone())).collect();
    assert_eq!(
        summary,
        [
            ("customer", "create"),
            ("contact", "create"),
            ("contact", "update"),
            ("contact", "delete")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(rows.iter().all(|r| r.2 == "office@example.com"));
    let update_diff: Value = serde_json::from_str(&rows[2].3).unwrap();
    assert_eq!(
        update_diff,
        json!({"email": {"before": "", "after": "frank@example.com"}})
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_query_parameters_get_the_standard_error_body() {
    let (app, c) = staff_app().await;
    let r = c
        .get(app.url("/api/v1/customers?sort=name"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "validation_failed", "{v}");
    assert_eq!(v["error"]["fields"]["sort"], "unknown parameter");
    app.stop().await;
}

/// Search pages are served from a cache keyed by the database's data
/// version: repeated searches answer the same, and a customer written by
/// another process on the same file (as the CLI would) is found at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_searches_see_writes_from_any_connection() {
    let (app, c) = staff_app().await;
    create(&app, &c, json!({"name": "Ben Dubois"})).await;
    assert_eq!(search(&app, &c, "ben dubo").await, ["Ben Dubois"]);
    assert_eq!(search(&app, &c, "ben dubo").await, ["Ben Dubois"]);
    assert!(!app.state.caches.customer_pages.is_empty());
    let other = rusqlite::Connection::open(app.state.db.path()).unwrap();
    other
        .busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    other
        .execute_batch(
            "INSERT INTO customers (id, name, created_at, updated_at)
               VALUES ('00000000-0000-7000-8000-000000000001', 'Benoit Dubonnet',
                       '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
             INSERT INTO customers_fts (customer_id, name, company, email, phone, address, notes)
               VALUES ('00000000-0000-7000-8000-000000000001', 'Benoit Dubonnet', '', '', '', '', '');",
        )
        .unwrap();
    let mut found = search(&app, &c, "ben dubo").await;
    found.sort();
    assert_eq!(found, ["Ben Dubois", "Benoit Dubonnet"]);
    app.stop().await;
}
