//! The office pages through the real App over HTTP: who may open them, the
//! forms (per-field errors as a 400 page with nothing stored, conflicts as
//! 409), CSRF refusal, escaping of hostile text, CSV exports, and the flows
//! — customers and contacts, leads converted, equipment and loadouts, the
//! team, invoices paid, sent and voided, follow-ups marked done — checked
//! against the JSON API.

mod common;

use common::*;
use quant::domain::user::Role;
use reqwest::Client;
use serde_json::{Value, json};

const OWNER: &str = "owner@example.com";
const OFFICE: &str = "office@example.com";
const TECH: &str = "tech@example.com";
const XSS: &str = "<script>alert(1)</script>";

async fn office_app() -> (TestApp, Client) {
    let app = TestApp::start_with(|c| {
        c.business.name = "Acme Plumbing".into();
        c.business.tax_rate_bps = 825;
    })
    .await;
    app.user(OWNER, Role::Owner).await;
    app.user(OFFICE, Role::Office).await;
    app.user(TECH, Role::Technician).await;
    let c = app.login(OFFICE).await;
    (app, c)
}

/// GET: status, `Location` and body.
async fn get(c: &Client, url: String) -> (u16, String, String) {
    let r = c.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, loc, r.text().await.unwrap())
}

/// The page's CSRF token (from its `<meta name="csrf-token">`).
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf-token\" content=\"")
        .expect("csrf meta tag")
        + "name=\"csrf-token\" content=\"".len();
    html[at..].split('"').next().unwrap().to_string()
}

/// The CSRF token forms on the pages carry for this client's session.
async fn token(app: &TestApp, c: &Client) -> String {
    let (s, _, html) = get(c, app.url("/customers")).await;
    assert_eq!(s, 200, "{html}");
    csrf_of(&html)
}

/// POSTs a form with `_csrf` = `csrf` (none when empty): status, `Location`, body.
async fn post(
    app: &TestApp,
    c: &Client,
    path: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> (u16, String, String) {
    let mut pairs: Vec<(&str, &str)> = fields.to_vec();
    if !csrf.is_empty() {
        pairs.push(("_csrf", csrf));
    }
    let r = c.post(app.url(path)).form(&pairs).send().await.unwrap();
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, loc, r.text().await.unwrap())
}

async fn api(c: &Client, method: &str, url: String, body: Option<Value>) -> (u16, Value) {
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
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn total(app: &TestApp, c: &Client, path: &str) -> i64 {
    let (s, v) = api(c, "GET", app.url(path), None).await;
    assert_eq!(s, 200, "{v}");
    v["pagination"]["total"].as_i64().unwrap()
}

/// Parses a CSV download: (header, rows).
async fn csv_of(app: &TestApp, c: &Client, path: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let r = c.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/csv"), "{path}: {ct}");
    let body = r.text().await.unwrap();
    let mut rd = csv::Reader::from_reader(body.as_bytes());
    let header = rd.headers().unwrap().iter().map(str::to_string).collect();
    let rows = rd
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// `html` with the escapes the templates use for `/` and `&` undone, to
/// look for URLs.
fn unescaped(html: &str) -> String {
    html.replace("&#x2f;", "/").replace("&amp;", "&")
}

/// The id at the end of a `Location` such as `/customers/{id}`.
fn id_in(location: &str) -> String {
    location
        .split(['?', '#'])
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

const PAGES: &[&str] = &[
    "/customers",
    "/customers/new",
    "/leads",
    "/leads/new",
    "/equipment",
    "/equipment/new",
    "/equipment/loadouts",
    "/employees",
    "/employees/new",
    "/invoices",
    "/follow-ups",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_pages_are_for_owner_and_office_only() {
    let (app, office) = office_app().await;
    let owner = app.login(OWNER).await;
    let tech = app.login(TECH).await;
    let anon = client();
    for p in PAGES {
        let (s, _, html) = get(&office, app.url(p)).await;
        assert_eq!(s, 200, "office {p}: {html}");
        assert!(html.contains("<main"), "{p}");
        let (s, _, _) = get(&owner, app.url(p)).await;
        assert_eq!(s, 200, "owner {p}");
        let (s, _, html) = get(&tech, app.url(p)).await;
        assert_eq!(s, 403, "technician {p}");
        assert!(html.contains("Not allowed"), "{p}: {html}");
        let (s, loc, _) = get(&anon, app.url(p)).await;
        assert_eq!(s, 303, "signed out {p}");
        assert!(loc.starts_with("/login?next="), "{p}: {loc}");
    }
    // A technician's form post is refused before anything happens.
    let (s, _, html) = get(&tech, app.url("/account/password")).await;
    assert_eq!(s, 200);
    let t = csrf_of(&html);
    let (s, _, _) = post(&app, &tech, "/customers", &t, &[("name", "Sneaky")]).await;
    assert_eq!(s, 403);
    assert_eq!(total(&app, &office, "/api/v1/customers").await, 0);
    // Unknown ids and parameters.
    let (s, _, _) = get(&office, app.url("/customers/not-an-id")).await;
    assert_eq!(s, 404);
    let (s, _, _) = get(
        &office,
        app.url("/customers/0190f0f0-0000-7000-8000-000000000000"),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _, html) = get(&office, app.url("/customers?sort=name")).await;
    assert_eq!(s, 400, "{html}");
    let (s, _, _) = get(&office, app.url("/invoices?status=owed")).await;
    assert_eq!(s, 400);
    let (s, _, _) = get(&office, app.url("/customers?format=pdf")).await;
    assert_eq!(s, 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_customer_name_is_escaped_on_every_page() {
    let (app, c) = office_app().await;
    let t = token(&app, &c).await;
    let (s, loc, body) = post(
        &app,
        &c,
        "/customers",
        &t,
        &[
            ("name", XSS),
            ("company", "\"><img src=x onerror=alert(2)>"),
            ("phone", "555-010-2000"),
            ("addresses[0].line1", "1 <b>Main</b> St"),
            ("addresses[0].city", "Springfield"),
        ],
    )
    .await;
    assert_eq!(s, 303, "{body}");
    assert!(loc.starts_with("/customers/"), "{loc}");
    let id = id_in(&loc);
    for url in [
        format!("/customers/{id}"),
        "/customers".to_string(),
        "/customers?q=alert".to_string(),
        format!("/customers/{id}/edit"),
    ] {
        let (s, _, html) = get(&c, app.url(&url)).await;
        assert_eq!(s, 200, "{url}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
                || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{url}: the name is not shown escaped"
        );
        assert!(!html.contains(XSS), "{url}: raw script tag");
        assert!(!html.contains("<img src=x"), "{url}: raw img tag");
        assert!(!html.contains("<b>Main</b>"), "{url}: raw markup");
    }
    // The CSV has the text as typed (CSV is not HTML); the API stored it as is.
    let (header, rows) = csv_of(&app, &c, "/customers?format=csv").await;
    assert_eq!(header[1], "name");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][1], XSS);
    let (_, v) = api(&c, "GET", app.url(&format!("/api/v1/customers/{id}")), None).await;
    assert_eq!(v["name"], XSS);
    assert_eq!(v["addresses"][0]["city"], "Springfield");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_their_csrf_token_change_nothing() {
    let (app, c) = office_app().await;
    let t = token(&app, &c).await;
    let (s, _, html) = post(&app, &c, "/customers", "", &[("name", "No Token")]).await;
    assert_eq!(s, 403);
    assert!(html.contains("expired"), "{html}");
    let (s, _, _) = post(&app, &c, "/customers", "0123abcd", &[("name", "Bad Token")]).await;
    assert_eq!(s, 403);
    let (s, _, _) = post(
        &app,
        &c,
        "/leads",
        "",
        &[("name", "L"), ("phone", "5550100200")],
    )
    .await;
    assert_eq!(s, 403);
    let (s, _, _) = post(&app, &c, "/equipment", "", &[("name", "Ladder")]).await;
    assert_eq!(s, 403);
    let (s, _, _) = post(&app, &c, "/employees", "", &[("name", "Eve")]).await;
    assert_eq!(s, 403);
    // Another site's page posting with a stolen-looking token is refused too.
    let r = c
        .post(app.url("/customers"))
        .header("Origin", "https://evil.example")
        .form(&[("name", "Cross Site"), ("_csrf", t.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(total(&app, &c, "/api/v1/customers").await, 0);
    assert_eq!(total(&app, &c, "/api/v1/leads").await, 0);
    assert_eq!(total(&app, &c, "/api/v1/equipment").await, 0);
    assert_eq!(total(&app, &c, "/api/v1/employees").await, 0);
    // The same form with its token works.
    let (s, _, _) = post(&app, &c, "/customers", &t, &[("name", "With Token")]).await;
    assert_eq!(s, 303);
    assert_eq!(total(&app, &c, "/api/v1/customers").await, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_search_edit_contacts_and_history() {
    let (app, c) = office_app().await;
    let t = token(&app, &c).await;
    // Bad input: a 400 page naming each field, the values kept, nothing stored.
    let (s, _, html) = post(
        &app,
        &c,
        "/customers",
        &t,
        &[
            ("name", "  "),
            ("email", "not-an-email"),
            ("phone", "12"),
            ("company", "Kept Co"),
            ("addresses[0].city", "Nowhere"),
        ],
    )
    .await;
    assert_eq!(s, 400, "{html}");
    for f in ["name", "email", "phone", "addresses[0].line1"] {
        assert!(
            html.contains(&format!("data-testid=\"error-{f}\"")),
            "{f}: {html}"
        );
    }
    assert!(html.contains("value=\"Kept Co\""));
    assert_eq!(total(&app, &c, "/api/v1/customers").await, 0);

    for (name, phone, street) in [
        ("Ann Smith", "555-010-1000", "12 Elm St"),
        ("Bob Jones", "555-010-2000", "40 Oak Ave"),
        ("Annex Holdings", "555-010-3000", "9 Pine Rd"),
    ] {
        let (s, loc, body) = post(
            &app,
            &c,
            "/customers",
            &t,
            &[
                ("name", name),
                ("phone", phone),
                ("tags", "vip, residential"),
                ("addresses[0].label", "Home"),
                ("addresses[0].line1", street),
                ("addresses[0].city", "Springfield"),
            ],
        )
        .await;
        assert_eq!(s, 303, "{body}");
        assert!(loc.starts_with("/customers/"));
    }
    // Full-text prefix search, as the instant search fetches it.
    let (s, _, html) = get(&c, app.url("/customers?q=ann")).await;
    assert_eq!(s, 200);
    assert!(html.contains("Ann Smith") && html.contains("Annex Holdings"));
    assert!(!html.contains("Bob Jones"));
    let (_, _, html) = get(&c, app.url("/customers?q=oak")).await;
    assert!(html.contains("Bob Jones") && !html.contains("Ann Smith"));
    let (_, _, html) = get(&c, app.url("/customers?q=zzz")).await;
    assert!(html.contains("No customer matches"));
    let (_, _, html) = get(&c, app.url("/customers?q=%2A%2A")).await;
    assert!(html.contains("No customer matches"));
    // Pagination keeps the search.
    let (_, _, html) = get(&c, app.url("/customers?q=ann&limit=1")).await;
    assert!(html.contains("1–1 of 2 customers"), "{html}");
    assert!(
        unescaped(&html).contains("href=\"/customers?q=ann&limit=1&page=2\""),
        "{html}"
    );
    let (header, rows) = csv_of(&app, &c, "/customers?q=ann&format=csv").await;
    assert_eq!(header.len(), 9);
    assert_eq!(rows.len(), 2, "the export has every page");
    assert!(rows.iter().all(|r| r[6] == "vip, residential"));

    // Edit: change the phone, add a second address, keep the first.
    let (_, rows) = csv_of(&app, &c, "/customers?q=bob&format=csv").await;
    let id = rows[0][0].clone();
    let (s, _, form) = get(&c, app.url(&format!("/customers/{id}/edit"))).await;
    assert_eq!(s, 200);
    assert!(form.contains("value=\"40 Oak Ave\""));
    let (s, loc, body) = post(
        &app,
        &c,
        &format!("/customers/{id}/edit"),
        &t,
        &[
            ("name", "Bob Jones"),
            ("phone", "555-010-2999"),
            ("tags", "vip"),
            ("addresses[0].line1", "40 Oak Ave"),
            ("addresses[0].city", "Springfield"),
            ("addresses[1].label", "Rental"),
            ("addresses[1].line1", "7 Birch Ct"),
        ],
    )
    .await;
    assert_eq!(s, 303, "{body}");
    assert_eq!(loc, format!("/customers/{id}"));
    let (_, v) = api(&c, "GET", app.url(&format!("/api/v1/customers/{id}")), None).await;
    assert_eq!(v["phone"], "555-010-2999");
    assert_eq!(v["addresses"].as_array().unwrap().len(), 2);
    assert_eq!(v["tags"], json!(["vip"]));
    // A bad edit changes nothing.
    let (s, _, html) = post(
        &app,
        &c,
        &format!("/customers/{id}/edit"),
        &t,
        &[("name", ""), ("email", "x@")],
    )
    .await;
    assert_eq!(s, 400);
    assert!(html.contains("data-testid=\"error-name\""));
    let (_, v) = api(&c, "GET", app.url(&format!("/api/v1/customers/{id}")), None).await;
    assert_eq!(v["name"], "Bob Jones");

    // Contacts: add, refuse a nameless one, export, remove.
    let (s, loc, _) = post(
        &app,
        &c,
        &format!("/customers/{id}/contacts"),
        &t,
        &[
            ("name", "Carla Manager"),
            ("role", "Property manager"),
            ("phone", "555-010-4444"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    assert!(loc.ends_with("#contacts"));
    let (s, _, html) = post(
        &app,
        &c,
        &format!("/customers/{id}/contacts"),
        &t,
        &[("name", ""), ("email", "bad")],
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        html.contains("data-testid=\"error-name\"") && html.contains("data-testid=\"error-email\"")
    );
    let (_, rows) = csv_of(&app, &c, &format!("/customers/{id}/contacts.csv")).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][1], "Carla Manager");
    let contact_id = rows[0][0].clone();
    let (s, _, _) = post(
        &app,
        &c,
        &format!("/customers/{id}/contacts/{contact_id}/delete"),
        &t,
        &[],
    )
    .await;
    assert_eq!(s, 303);
    let (_, v) = api(
        &c,
        "GET",
        app.url(&format!("/api/v1/customers/{id}/contacts")),
        None,
    )
    .await;
    assert_eq!(v["pagination"]["total"], 0);

    // The customer page: details, profitability, the new-work-order link,
    // and the work-order history from a work order made through the API.
    let (s, v) = api(
        &c,
        "POST",
        app.url("/api/v1/work-orders"),
        Some(json!({"customerId": id, "serviceType": "Drain cleaning", "jobDescription": "Slow sink"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let number = v["workOrderNumber"].as_str().unwrap().to_string();
    let (s, _, html) = get(&c, app.url(&format!("/customers/{id}"))).await;
    assert_eq!(s, 200);
    assert!(html.contains("7 Birch Ct") && html.contains("555-010-2999"));
    assert!(unescaped(&html).contains(&format!("/work-orders/new?customer_id={id}")));
    assert!(html.contains("data-testid=\"customer-profitability\""));
    assert!(html.contains("data-testid=\"lifetime-value\">$0.00"));
    assert!(html.contains(&number), "{html}");
    let (header, rows) = csv_of(&app, &c, &format!("/customers/{id}/work-orders.csv")).await;
    assert_eq!(header[0], "number");
    assert_eq!(
        (rows.len(), rows[0][0].as_str(), rows[0][2].as_str()),
        (1, number.as_str(), "draft")
    );
    // A customer with work orders cannot be deleted: a 409 page, still there.
    let (s, _, html) = post(&app, &c, &format!("/customers/{id}/delete"), &t, &[]).await;
    assert_eq!(s, 409, "{html}");
    assert!(html.contains("work order"));
    assert_eq!(total(&app, &c, "/api/v1/customers").await, 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_are_taken_in_worked_and_converted() {
    let (app, c) = office_app().await;
    let t = token(&app, &c).await;
    // Neither phone nor e-mail: both named, nothing stored.
    let (s, _, html) = post(
        &app,
        &c,
        "/leads",
        &t,
        &[("name", "Rita"), ("urgency", "urgent")],
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        html.contains("data-testid=\"error-phone\"")
            && html.contains("data-testid=\"error-email\"")
    );
    assert!(html.contains("<option value=\"urgent\" selected>"));
    let (s, _, html) = post(
        &app,
        &c,
        "/leads",
        &t,
        &[
            ("name", "Rita"),
            ("phone", "555-301-2201"),
            ("urgency", "asap"),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert!(html.contains("data-testid=\"error-urgency\""));
    assert_eq!(total(&app, &c, "/api/v1/leads").await, 0);

    let mut ids = Vec::new();
    for (name, phone, email) in [
        ("Rita Gomez", "555-301-2201", ""),
        ("Tom Becker", "", "tom@mail.example"),
        ("Jo Park", "555-301-2209", ""),
    ] {
        let (s, loc, body) = post(
            &app,
            &c,
            "/leads",
            &t,
            &[
                ("name", name),
                ("phone", phone),
                ("email", email),
                ("serviceType", "Water heater replacement"),
                ("description", "No hot water"),
                ("urgency", "high"),
                ("source", "phone"),
            ],
        )
        .await;
        assert_eq!(s, 303, "{body}");
        ids.push(id_in(&loc));
    }
    let (_, _, html) = get(&c, app.url("/leads")).await;
    assert!(html.contains("Rita Gomez") && html.contains("Jo Park"));
    assert_eq!(html.matches("data-testid=\"lead-row\"").count(), 3);

    // Contacted, then lost without a reason (400), then with one.
    let (s, loc, _) = post(&app, &c, &format!("/leads/{}/contacted", ids[2]), &t, &[]).await;
    assert_eq!(
        (s, loc.as_str()),
        (303, format!("/leads/{}", ids[2]).as_str())
    );
    let (s, _, html) = post(
        &app,
        &c,
        &format!("/leads/{}/lost", ids[2]),
        &t,
        &[("reason", " ")],
    )
    .await;
    assert_eq!(s, 400);
    assert!(html.contains("data-testid=\"error-reason\""));
    let (_, v) = api(
        &c,
        "GET",
        app.url(&format!("/api/v1/leads/{}", ids[2])),
        None,
    )
    .await;
    assert_eq!(v["status"], "contacted");
    let (s, _, _) = post(
        &app,
        &c,
        &format!("/leads/{}/lost", ids[2]),
        &t,
        &[("reason", "Went with a competitor")],
    )
    .await;
    assert_eq!(s, 303);
    let (_, v) = api(
        &c,
        "GET",
        app.url(&format!("/api/v1/leads/{}", ids[2])),
        None,
    )
    .await;
    assert_eq!(
        (v["status"].as_str(), v["lostReason"].as_str()),
        (Some("lost"), Some("Went with a competitor"))
    );
    // A lost lead cannot be converted: 409 page.
    let (s, _, html) = post(&app, &c, &format!("/leads/{}/convert", ids[2]), &t, &[]).await;
    assert_eq!(s, 409);
    assert!(html.contains("no longer be changed"), "{html}");

    // Convert: the same conversion as the API, then a link to the draft work order.
    let (s, loc, _) = post(&app, &c, &format!("/leads/{}/convert", ids[0]), &t, &[]).await;
    assert_eq!(s, 303);
    assert_eq!(loc, format!("/leads/{}", ids[0]));
    let (_, v) = api(
        &c,
        "GET",
        app.url(&format!("/api/v1/leads/{}", ids[0])),
        None,
    )
    .await;
    assert_eq!(v["status"], "converted");
    let wo = v["workOrderId"].as_str().unwrap().to_string();
    let (_, w) = api(
        &c,
        "GET",
        app.url(&format!("/api/v1/work-orders/{wo}")),
        None,
    )
    .await;
    assert_eq!(w["status"], "draft");
    assert_eq!(w["jobDescription"], "No hot water");
    assert_eq!(w["priorityLevel"], "high");
    let (s, _, html) = get(&c, app.url(&format!("/leads/{}", ids[0]))).await;
    assert_eq!(s, 200);
    assert!(
        html.contains(&format!(
            "href=\"/work-orders/{wo}\" data-testid=\"lead-work-order\">{}",
            w["workOrderNumber"].as_str().unwrap()
        )),
        "{html}"
    );
    // Tabs and filters.
    let (_, _, html) = get(&c, app.url("/leads?status=converted")).await;
    assert_eq!(html.matches("data-testid=\"lead-row\"").count(), 1);
    assert!(html.contains(&format!("href=\"/work-orders/{wo}\"")));
    let (_, _, html) = get(&c, app.url("/leads?status=all&q=becker")).await;
    assert_eq!(html.matches("data-testid=\"lead-row\"").count(), 1);
    let (header, rows) = csv_of(&app, &c, "/leads?status=all&format=csv").await;
    assert_eq!(header[9], "status");
    let mut statuses: Vec<&str> = rows.iter().map(|r| r[9].as_str()).collect();
    statuses.sort();
    assert_eq!(statuses, ["converted", "lost", "new"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_leads_convert_at_once_when_configured() {
    let app = TestApp::start_with(|c| c.business.auto_convert_leads = true).await;
    app.user(OFFICE, Role::Office).await;
    let c = app.login(OFFICE).await;
    let t = token(&app, &c).await;
    let (s, loc, _) = post(
        &app,
        &c,
        "/leads",
        &t,
        &[
            ("name", "Amy Cho"),
            ("phone", "555-301-2204"),
            ("urgency", "medium"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    let (_, v) = api(
        &c,
        "GET",
        app.url(&format!("/api/v1/leads/{}", id_in(&loc))),
        None,
    )
    .await;
    assert_eq!(v["status"], "converted");
    assert_eq!(total(&app, &c, "/api/v1/work-orders").await, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equipment_and_loadouts() {
    let (app, c) = office_app().await;
    let t = token(&app, &c).await;
    // A bad amount: the field error, the values kept, nothing stored.
    let (s, _, html) = post(
        &app,
        &c,
        "/equipment",
        &t,
        &[
            ("name", ""),
            ("type", "Drain camera"),
            ("hourlyCost", "12.345"),
            ("status", "available"),
            ("nextMaintenanceDate", "2026-02-30"),
        ],
    )
    .await;
    assert_eq!(s, 400, "{html}");
    assert!(html.contains("data-testid=\"error-hourlyCost\""));
    assert!(html.contains("at most two decimal places"));
    assert!(html.contains("data-testid=\"error-name\""));
    assert!(html.contains("data-testid=\"error-nextMaintenanceDate\""));
    assert!(html.contains("value=\"12.345\""));
    assert_eq!(total(&app, &c, "/api/v1/equipment").await, 0);

    let today = app.state.today();
    let past = (today - chrono::Duration::days(3)).to_string();
    let mut ids = Vec::new();
    for (name, cost, status, date) in [
        ("Drain camera #1", "$1,250.50", "available", past.as_str()),
        ("Jetter", "40", "in_use", ""),
        ("Old ladder", "0", "retired", ""),
    ] {
        let (s, loc, body) = post(
            &app,
            &c,
            "/equipment",
            &t,
            &[
                ("name", name),
                ("type", "Tool"),
                ("hourlyCost", cost),
                ("status", status),
                ("nextMaintenanceDate", date),
            ],
        )
        .await;
        assert_eq!(s, 303, "{body}");
        ids.push(id_in(&loc));
    }
    let (_, v) = api(
        &c,
        "GET",
        app.url(&format!("/api/v1/equipment/{}", ids[0])),
        None,
    )
    .await;
    assert_eq!(v["hourlyCost"], json!(1250.50));
    assert_eq!(v["nextMaintenanceDate"], json!(past));
    let (_, _, html) = get(&c, app.url("/equipment?due=true")).await;
    assert_eq!(html.matches("data-testid=\"equipment-row\"").count(), 1);
    assert!(html.contains("Drain camera #1"));
    let (_, _, html) = get(&c, app.url("/equipment?status=retired")).await;
    assert!(html.contains("Old ladder") && !html.contains("Jetter"));
    // Edit: maintenance done, next date cleared.
    let (s, _, _) = post(
        &app,
        &c,
        &format!("/equipment/{}", ids[0]),
        &t,
        &[
            ("name", "Drain camera #1"),
            ("type", "Drain camera"),
            ("hourlyCost", "1250.50"),
            ("status", "maintenance"),
            ("nextMaintenanceDate", ""),
        ],
    )
    .await;
    assert_eq!(s, 303);
    let (_, v) = api(
        &c,
        "GET",
        app.url(&format!("/api/v1/equipment/{}", ids[0])),
        None,
    )
    .await;
    assert_eq!(
        (v["status"].as_str(), v["nextMaintenanceDate"].is_null()),
        (Some("maintenance"), true)
    );
    let (s, _, _) = post(
        &app,
        &c,
        &format!("/equipment/{}", ids[0]),
        &t,
        &[("name", "X"), ("hourlyCost", "-5"), ("status", "broken")],
    )
    .await;
    assert_eq!(s, 400);
    let (_, v) = api(
        &c,
        "GET",
        app.url(&format!("/api/v1/equipment/{}", ids[0])),
        None,
    )
    .await;
    assert_eq!(v["name"], "Drain camera #1");
    let (header, rows) = csv_of(&app, &c, "/equipment?format=csv").await;
    assert_eq!(header[4], "hourly cost");
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().any(|r| r[4] == "1250.50"));

    // Loadouts: create, add two, a retired one refused, remove one.
    let (s, _, html) = post(&app, &c, "/equipment/loadouts", &t, &[("name", "")]).await;
    assert_eq!(s, 400);
    assert!(html.contains("data-testid=\"error-name\""));
    let (s, loc, _) = post(
        &app,
        &c,
        "/equipment/loadouts",
        &t,
        &[("name", "Drain kit"), ("description", "For clogged drains")],
    )
    .await;
    assert_eq!(s, 303);
    let lid = id_in(&loc);
    let (s, _, html) = post(
        &app,
        &c,
        "/equipment/loadouts",
        &t,
        &[("name", "drain KIT")],
    )
    .await;
    assert_eq!(s, 409, "a taken name");
    assert!(html.contains("already exists"));
    for e in &ids[..2] {
        let (s, _, _) = post(
            &app,
            &c,
            &format!("/equipment/loadouts/{lid}/add"),
            &t,
            &[("equipment_id", e)],
        )
        .await;
        assert_eq!(s, 303);
    }
    let (s, _, html) = post(
        &app,
        &c,
        &format!("/equipment/loadouts/{lid}/add"),
        &t,
        &[("equipment_id", &ids[2])],
    )
    .await;
    assert_eq!(s, 400);
    assert!(html.contains("retired"), "{html}");
    let (_, v) = api(&c, "GET", app.url(&format!("/api/v1/loadouts/{lid}")), None).await;
    assert_eq!(v["equipmentIds"].as_array().unwrap().len(), 2);
    assert_eq!(v["hourlyCost"], json!(1290.50));
    let (_, _, html) = get(&c, app.url(&format!("/equipment/loadouts/{lid}"))).await;
    assert!(html.contains("$1,290.50"));
    assert!(
        !html.contains(&format!("<option value=\"{}\"", ids[2])),
        "retired is not offered"
    );
    let (s, _, _) = post(
        &app,
        &c,
        &format!("/equipment/loadouts/{lid}/remove"),
        &t,
        &[("equipment_id", &ids[1])],
    )
    .await;
    assert_eq!(s, 303);
    let (_, v) = api(&c, "GET", app.url(&format!("/api/v1/loadouts/{lid}")), None).await;
    assert_eq!(v["equipmentIds"], json!([ids[0]]));
    let (_, rows) = csv_of(&app, &c, "/equipment/loadouts?format=csv").await;
    assert_eq!(
        (rows[0][1].as_str(), rows[0][3].as_str()),
        ("Drain kit", "Drain camera #1")
    );
    // Equipment in a loadout cannot be deleted (409); the loadout can.
    let (s, _, _) = post(&app, &c, &format!("/equipment/{}/delete", ids[0]), &t, &[]).await;
    assert_eq!(s, 409);
    let (s, _, _) = post(
        &app,
        &c,
        &format!("/equipment/loadouts/{lid}/delete"),
        &t,
        &[],
    )
    .await;
    assert_eq!(s, 303);
    let (s, _, _) = post(&app, &c, &format!("/equipment/{}/delete", ids[0]), &t, &[]).await;
    assert_eq!(s, 303);
    assert_eq!(total(&app, &c, "/api/v1/equipment").await, 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_team_with_rates_skills_and_linked_accounts() {
    let (app, c) = office_app().await;
    let t = token(&app, &c).await;
    let tech = app
        .state
        .db
        .read(|c| quant::db::auth::user_by_email(c, TECH))
        .await
        .unwrap()
        .unwrap();
    let (s, _, html) = post(
        &app,
        &c,
        "/employees",
        &t,
        &[
            ("name", "Dana"),
            ("hourlyRate", "forty"),
            ("active", "true"),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert!(html.contains("data-testid=\"error-hourlyRate\""));
    assert_eq!(total(&app, &c, "/api/v1/employees").await, 0);
    let (s, loc, body) = post(
        &app,
        &c,
        "/employees",
        &t,
        &[
            ("name", "Dana Diaz"),
            ("email", "dana@example.com"),
            ("trade", "Plumber"),
            ("skills", "water heaters, gas line"),
            ("hourlyRate", "42.50"),
            ("userId", &tech.id),
            ("active", "true"),
        ],
    )
    .await;
    assert_eq!(s, 303, "{body}");
    assert_eq!(loc, "/employees");
    let (_, v) = api(&c, "GET", app.url("/api/v1/employees"), None).await;
    let dana = v["data"][0].clone();
    assert_eq!(dana["hourlyRate"], json!(42.50));
    assert_eq!(dana["skills"], json!(["water heaters", "gas line"]));
    assert_eq!(dana["userId"], json!(tech.id));
    let did = dana["id"].as_str().unwrap().to_string();
    let (_, _, html) = get(&c, app.url("/employees")).await;
    assert!(html.contains("Dana Diaz") && html.contains(TECH) && html.contains("$42.50"));
    // Linking the same account to a second employee: 409, the form kept.
    let (s, _, html) = post(
        &app,
        &c,
        "/employees",
        &t,
        &[("name", "Eli"), ("userId", &tech.id), ("active", "true")],
    )
    .await;
    assert_eq!(s, 409);
    assert!(html.contains("already linked") && html.contains("value=\"Eli\""));
    // Deactivate (an unticked box sends nothing).
    let (s, _, _) = post(
        &app,
        &c,
        &format!("/employees/{did}"),
        &t,
        &[
            ("name", "Dana Diaz"),
            ("trade", "Plumber"),
            ("hourlyRate", "45"),
            ("userId", &tech.id),
        ],
    )
    .await;
    assert_eq!(s, 303);
    let (_, v) = api(
        &c,
        "GET",
        app.url(&format!("/api/v1/employees/{did}")),
        None,
    )
    .await;
    assert_eq!(
        (v["active"].as_bool(), v["hourlyRate"].as_f64()),
        (Some(false), Some(45.0))
    );
    let (_, _, html) = get(&c, app.url("/employees")).await;
    assert_eq!(
        html.matches("data-testid=\"employee-row\"").count(),
        0,
        "active only by default"
    );
    let (_, _, html) = get(&c, app.url("/employees?active=false")).await;
    assert!(html.contains("Dana Diaz"));
    let (header, rows) = csv_of(&app, &c, "/employees?active=all&format=csv").await;
    assert_eq!(header[7], "user");
    assert_eq!(
        (
            rows[0][5].as_str(),
            rows[0][6].as_str(),
            rows[0][7].as_str()
        ),
        ("45.00", "no", TECH)
    );
    app.stop().await;
}

/// A completed work order's invoice, made through the API: returns its id.
async fn completed_invoice(
    app: &TestApp,
    c: &Client,
    customer: &str,
    cost: f64,
) -> (String, String) {
    let (s, v) = api(
        c,
        "POST",
        app.url("/api/v1/customers"),
        Some(json!({"name": customer})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let cid = v["id"].as_str().unwrap().to_string();
    let (s, v) = api(
        c,
        "POST",
        app.url("/api/v1/employees"),
        Some(json!({"name": format!("Tech for {customer}"), "hourlyRate": 30})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let eid = v["id"].as_str().unwrap().to_string();
    let (s, v) = api(
        c,
        "POST",
        app.url("/api/v1/work-orders"),
        Some(json!({"customerId": cid, "serviceType": "Leak repair", "jobDescription": "Fix the leak"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let wid = v["id"].as_str().unwrap().to_string();
    let day = (app.state.today() + chrono::Duration::days(1)).to_string();
    let (s, v) = api(
        c,
        "POST",
        app.url(&format!("/api/v1/work-orders/{wid}/schedule")),
        Some(json!({"scheduledDate": day, "scheduledTime": "09:00", "assignedEmployeeId": eid})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = api(
        c,
        "POST",
        app.url(&format!("/api/v1/work-orders/{wid}/start")),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = api(
        c,
        "POST",
        app.url(&format!("/api/v1/work-orders/{wid}/complete")),
        Some(json!({"actualCost": cost, "actualDurationHours": 1})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (_, w) = api(
        c,
        "GET",
        app.url(&format!("/api/v1/work-orders/{wid}")),
        None,
    )
    .await;
    (w["invoiceId"].as_str().expect("invoice").to_string(), cid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoices_are_printed_paid_sent_and_voided() {
    let (app, c) = office_app().await;
    let t = token(&app, &c).await;
    let (iid, cid) = completed_invoice(&app, &c, "Paying Customer", 200.0).await;
    let (_, inv) = api(&c, "GET", app.url(&format!("/api/v1/invoices/{iid}")), None).await;
    assert_eq!(inv["status"], "draft");
    assert_eq!(inv["total"], json!(216.50), "200 + 8.25 % tax");
    let (s, _, html) = get(&c, app.url(&format!("/invoices/{iid}"))).await;
    assert_eq!(s, 200);
    let html = unescaped(&html);
    for needle in [
        "data-testid=\"invoice-number\"",
        "Acme Plumbing",
        "Paying Customer",
        "Tax (8.25%)",
        "data-testid=\"invoice-balance\">$216.50",
        "data-testid=\"mark-sent\"",
        "data-print",
        "/static/office.",
    ] {
        assert!(html.contains(needle), "{needle}: {html}");
    }

    // Bad amounts: 400 with the field error; no payment stored.
    for (amount, why) in [
        ("abc", "must be an amount like 125.50"),
        ("10.999", "at most two decimal places"),
        ("0", "must be more than 0"),
        ("300", "balance"),
    ] {
        let (s, _, html) = post(
            &app,
            &c,
            &format!("/invoices/{iid}/payments"),
            &t,
            &[("amount", amount), ("method", "card"), ("receivedDate", "")],
        )
        .await;
        assert_eq!(s, 400, "{amount}: {html}");
        assert!(html.contains("data-testid=\"error-amount\""), "{amount}");
        assert!(html.contains(why), "{amount}: {why}: {html}");
        assert!(
            html.contains(&format!("value=\"{amount}\"")),
            "the typed amount is kept"
        );
    }
    let (s, _, html) = post(
        &app,
        &c,
        &format!("/invoices/{iid}/payments"),
        &t,
        &[
            ("amount", "10"),
            ("method", "barter"),
            ("receivedDate", "2999-01-01"),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        html.contains("data-testid=\"error-method\"")
            && html.contains("data-testid=\"error-receivedDate\"")
    );
    let (_, v) = api(
        &c,
        "GET",
        app.url(&format!("/api/v1/invoices/{iid}/payments")),
        None,
    )
    .await;
    assert_eq!(v["pagination"]["total"], 0);

    // Mark sent, then a partial payment: the balance drops.
    let (s, _, _) = post(&app, &c, &format!("/invoices/{iid}/send"), &t, &[]).await;
    assert_eq!(s, 303);
    let (s, _, _) = post(&app, &c, &format!("/invoices/{iid}/send"), &t, &[]).await;
    assert_eq!(s, 409, "already sent");
    let today = app.state.today().to_string();
    let (s, loc, _) = post(
        &app,
        &c,
        &format!("/invoices/{iid}/payments"),
        &t,
        &[
            ("amount", "$100.25"),
            ("method", "check"),
            ("receivedDate", &today),
            ("reference", "chq 1001"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(loc, format!("/invoices/{iid}"));
    let (_, inv) = api(&c, "GET", app.url(&format!("/api/v1/invoices/{iid}")), None).await;
    assert_eq!(
        (inv["status"].as_str(), inv["balance"].as_f64()),
        (Some("sent"), Some(116.25))
    );
    let (_, _, html) = get(&c, app.url(&format!("/invoices/{iid}"))).await;
    assert!(html.contains("data-testid=\"invoice-balance\">$116.25"));
    assert!(html.contains("chq 1001"));
    assert!(
        !html.contains("data-testid=\"void-invoice\""),
        "an invoice with payments cannot be voided"
    );
    let (_, rows) = csv_of(&app, &c, &format!("/invoices/{iid}/payments.csv")).await;
    assert_eq!(
        (rows[0][1].as_str(), rows[0][2].as_str()),
        ("100.25", "check")
    );
    let (header, rows) = csv_of(&app, &c, &format!("/invoices/{iid}?format=csv")).await;
    assert_eq!(header[0], "kind");
    assert!(!rows.is_empty());
    // The rest: paid.
    let (s, _, _) = post(
        &app,
        &c,
        &format!("/invoices/{iid}/payments"),
        &t,
        &[
            ("amount", "116.25"),
            ("method", "card"),
            ("receivedDate", &today),
        ],
    )
    .await;
    assert_eq!(s, 303);
    let (_, inv) = api(&c, "GET", app.url(&format!("/api/v1/invoices/{iid}")), None).await;
    assert_eq!(inv["status"], "paid");

    // Another invoice: void needs a reason.
    let (iid2, _) = completed_invoice(&app, &c, "Voided Customer", 50.0).await;
    let (s, _, html) = post(
        &app,
        &c,
        &format!("/invoices/{iid2}/void"),
        &t,
        &[("reason", "")],
    )
    .await;
    assert_eq!(s, 400);
    assert!(html.contains("data-testid=\"error-reason\""));
    let (s, _, _) = post(
        &app,
        &c,
        &format!("/invoices/{iid2}/void"),
        &t,
        &[("reason", "Duplicate")],
    )
    .await;
    assert_eq!(s, 303);
    let (_, inv) = api(
        &c,
        "GET",
        app.url(&format!("/api/v1/invoices/{iid2}")),
        None,
    )
    .await;
    assert_eq!(
        (inv["status"].as_str(), inv["voidReason"].as_str()),
        (Some("void"), Some("Duplicate"))
    );
    let (s, _, _) = post(
        &app,
        &c,
        &format!("/invoices/{iid2}/payments"),
        &t,
        &[
            ("amount", "1"),
            ("method", "cash"),
            ("receivedDate", &today),
        ],
    )
    .await;
    assert_eq!(s, 409, "a void invoice takes no payment");

    // The list: tabs, per customer, CSV.
    let (_, _, html) = get(&c, app.url("/invoices?status=paid")).await;
    assert_eq!(html.matches("data-testid=\"invoice-row\"").count(), 1);
    assert!(html.contains("Paying Customer"));
    let (_, _, html) = get(&c, app.url(&format!("/invoices?customer_id={cid}"))).await;
    assert_eq!(html.matches("data-testid=\"invoice-row\"").count(), 1);
    let (header, rows) = csv_of(&app, &c, "/invoices?format=csv").await;
    assert_eq!(header[5], "status");
    let mut st: Vec<&str> = rows.iter().map(|r| r[5].as_str()).collect();
    st.sort();
    assert_eq!(st, ["paid", "void"]);
    assert!(rows.iter().any(|r| r[8] == "216.50" && r[10] == "0.00"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_ups_due_and_overdue_are_marked_done() {
    let (app, c) = office_app().await;
    let t = token(&app, &c).await;
    completed_invoice(&app, &c, "Follow Me", 80.0).await;
    // Not due yet: the "due" view is empty, "upcoming" has it.
    let (_, _, html) = get(&c, app.url("/follow-ups")).await;
    assert!(html.contains("all caught up"), "{html}");
    let (_, _, html) = get(&c, app.url("/follow-ups?show=upcoming")).await;
    assert_eq!(html.matches("data-testid=\"follow-up-row\"").count(), 1);
    // Weeks later it is due, and overdue.
    let later = quant::clock::Clock::now(&*app.clock) + chrono::Duration::days(10);
    app.clock.set(later);
    let (_, _, html) = get(&c, app.url("/follow-ups")).await;
    assert_eq!(html.matches("data-testid=\"follow-up-row\"").count(), 1);
    assert!(html.contains("Overdue") && html.contains("Follow Me"));
    let (_, _, html) = get(&c, app.url("/follow-ups?show=overdue")).await;
    assert_eq!(html.matches("data-testid=\"follow-up-row\"").count(), 1);
    let (_, rows) = csv_of(&app, &c, "/follow-ups?show=all&format=csv").await;
    let fid = rows[0][6].clone();
    assert_eq!(
        (rows[0][1].as_str(), rows[0][2].as_str()),
        ("open", "Follow Me")
    );
    // A note too long: 400, still open.
    let long = "x".repeat(2001);
    let (s, _, html) = post(
        &app,
        &c,
        &format!("/follow-ups/{fid}/done"),
        &t,
        &[("note", &long), ("next", "/follow-ups?show=overdue")],
    )
    .await;
    assert_eq!(s, 400);
    assert!(html.contains("at most 2000 characters"));
    let (_, v) = api(
        &c,
        "GET",
        app.url(&format!("/api/v1/follow-ups/{fid}")),
        None,
    )
    .await;
    assert_eq!(v["status"], "open");
    // Done with a note; back to the same view.
    let (s, loc, _) = post(
        &app,
        &c,
        &format!("/follow-ups/{fid}/done"),
        &t,
        &[
            ("note", "Called: happy with the repair"),
            ("next", "/follow-ups?show=overdue"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(loc, "/follow-ups?show=overdue");
    let (_, v) = api(
        &c,
        "GET",
        app.url(&format!("/api/v1/follow-ups/{fid}")),
        None,
    )
    .await;
    assert_eq!(
        (v["status"].as_str(), v["note"].as_str()),
        (Some("done"), Some("Called: happy with the repair"))
    );
    assert!(v["completedAt"].is_string());
    let (_, _, html) = get(&c, app.url("/follow-ups?show=done")).await;
    assert!(html.contains("Called: happy with the repair"));
    // `next` never leaves the follow-ups page.
    let (_, _, html) = get(&c, app.url("/follow-ups?show=all")).await;
    assert!(html.contains("follow-up-row"));
    app.stop().await;
}
