//! The work-order pages and the technician's day through the real App, over
//! HTTP: who may open what (303 to /login, 403), the new work order form
//! (existing or new customer, per-field errors, nothing stored on bad input,
//! the analysis shown), scheduling with a clash re-rendered as a 409 page,
//! start, photos as a plain multipart post, completion creating the invoice,
//! edit and cancel under the status rules, My day in schedule order, CSRF
//! refusals, escaping, and the CSV export.

mod common;

use common::*;
use quant::domain::user::Role;
use reqwest::multipart::{Form as Multipart, Part};
use serde_json::{Value, json};

const TODAY: &str = "2026-03-02";

struct Ctx {
    app: TestApp,
    /// Office staff.
    c: reqwest::Client,
    csrf: String,
}

/// The page's CSRF token (from `<meta name="csrf-token">`).
fn csrf_of(html: &str) -> String {
    let start = html
        .find("name=\"csrf-token\" content=\"")
        .unwrap_or_else(|| panic!("no csrf meta in {html}"))
        + "name=\"csrf-token\" content=\"".len();
    html[start..].split('"').next().unwrap().to_string()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A small PNG.
fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, 90])
    });
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn file(bytes: Vec<u8>, name: &str) -> Part {
    Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str("image/png")
        .unwrap()
}

impl Ctx {
    async fn new() -> Ctx {
        let app = TestApp::start().await;
        app.clock
            .set(quant::clock::parse_ts("2026-03-02T15:00:00Z").unwrap());
        app.user("office@example.com", Role::Office).await;
        let c = app.login("office@example.com").await;
        let csrf = csrf_of(&page(&c, &app.url("/work-orders/new")).await.1);
        Ctx { app, c, csrf }
    }

    async fn get(&self, c: &reqwest::Client, path: &str) -> (u16, String) {
        page(c, &self.app.url(path)).await
    }

    async fn post_form(
        &self,
        c: &reqwest::Client,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        c.post(self.app.url(path))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Posts the office's form with its CSRF token.
    async fn office_post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all = vec![("_csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_form(&self.c, path, &all).await
    }

    async fn api(
        &self,
        c: &reqwest::Client,
        method: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = c.request(m, self.app.url(path));
        if !body.is_null() {
            r = r.json(&body);
        }
        let res = r.send().await.unwrap();
        let s = res.status().as_u16();
        let t = res.text().await.unwrap();
        (s, serde_json::from_str(&t).unwrap_or(Value::Null))
    }

    async fn scalar(&self, sql: &str) -> i64 {
        let sql = sql.to_string();
        self.app
            .state
            .db
            .read(move |c| Ok(c.query_row(&sql, [], |r| r.get::<_, i64>(0))?))
            .await
            .unwrap()
    }

    async fn text(&self, sql: &str, param: &str) -> Option<String> {
        let (sql, param) = (sql.to_string(), param.to_string());
        self.app
            .state
            .db
            .read(move |c| {
                Ok(
                    c.query_row(&sql, [param], |r| r.get::<_, Option<String>>(0))
                        .ok()
                        .flatten(),
                )
            })
            .await
            .unwrap()
    }

    /// A technician login with a linked employee; returns (employee id, client, page CSRF).
    async fn technician(&self, email: &str, name: &str) -> (String, reqwest::Client, String) {
        let u = self.app.user(email, Role::Technician).await;
        let (s, e) = self
            .api(
                &self.c,
                "POST",
                "/api/v1/employees",
                json!({"name": name, "userId": u.id, "trade": "Plumber", "skills": ["drains"], "hourlyRate": 40}),
            )
            .await;
        assert_eq!(s, 201, "{e}");
        let c = self.app.login(email).await;
        let csrf = csrf_of(&self.get(&c, "/my-day").await.1);
        (e["id"].as_str().unwrap().to_string(), c, csrf)
    }

    /// Creates a work order through the form; returns its id.
    async fn create(&self, customer: &str, service: &str) -> String {
        let r = self
            .office_post(
                "/work-orders/new",
                &[
                    ("customer_name", customer),
                    ("service_type", service),
                    ("description", "Kitchen sink drains slowly"),
                    ("priority", "high"),
                ],
            )
            .await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let to = location(&r);
        assert!(to.starts_with("/work-orders/"), "{to}");
        to.trim_start_matches("/work-orders/").to_string()
    }

    async fn schedule(&self, id: &str, date: &str, time: &str, emp: &str) -> reqwest::Response {
        self.office_post(
            &format!("/work-orders/{id}/schedule"),
            &[
                ("scheduled_date", date),
                ("scheduled_time", time),
                ("assigned_employee_id", emp),
                ("estimated_hours", "2"),
            ],
        )
        .await
    }

    async fn status(&self, id: &str) -> String {
        self.text("SELECT status FROM work_orders WHERE id = ?1", id)
            .await
            .unwrap()
    }
}

async fn page(c: &reqwest::Client, url: &str) -> (u16, String) {
    let r = c.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_a_session_and_the_right_role() {
    let ctx = Ctx::new().await;
    let id = ctx.create("Ann Example", "Drain cleaning").await;
    let anon = client();
    for path in [
        "/work-orders".to_string(),
        "/work-orders/new".to_string(),
        format!("/work-orders/{id}"),
        "/my-day".to_string(),
    ] {
        let r = anon.get(ctx.app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert!(location(&r).starts_with("/login?next="), "{path}");
    }
    let (_, tech, _) = ctx.technician("tech@example.com", "Tia Tech").await;
    for path in [
        "/work-orders",
        "/work-orders/new",
        "/work-orders/new/analysis",
    ] {
        let (s, body) = ctx.get(&tech, path).await;
        assert_eq!(s, 403, "{path}");
        assert!(body.contains("Not allowed"), "{body}");
    }
    // An unassigned job is not the technician's either.
    let (s, body) = ctx.get(&tech, &format!("/work-orders/{id}")).await;
    assert_eq!(s, 403);
    assert!(body.contains("not assigned to you"), "{body}");
    assert_eq!(ctx.get(&tech, "/my-day").await.0, 200);
    for path in ["/work-orders", "/work-orders/new", "/my-day"] {
        assert_eq!(ctx.get(&ctx.c, path).await.0, 200, "{path}");
    }
    let (s, body) = ctx.get(&ctx.c, &format!("/work-orders/{id}")).await;
    assert_eq!(s, 200);
    assert!(body.contains("data-testid=\"work-order-number\">WO-000001<"));
    // Unknown and malformed ids are 404 pages.
    assert_eq!(ctx.get(&ctx.c, "/work-orders/nope").await.0, 404);
    let unknown = quant::domain::ids::new_id(chrono::Utc::now()).to_string();
    assert_eq!(
        ctx.get(&ctx.c, &format!("/work-orders/{unknown}")).await.0,
        404
    );
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_picks_or_creates_the_customer_and_shows_the_analysis() {
    let ctx = Ctx::new().await;
    let (s, form) = ctx.get(&ctx.c, "/work-orders/new").await;
    assert_eq!(s, 200);
    for id in [
        "customer-name",
        "service-type",
        "description",
        "priority",
        "create-work-order",
    ] {
        assert!(form.contains(&format!("data-testid=\"{id}\"")), "{id}");
    }
    assert!(form.contains("<option value=\"urgent\">Urgent</option>"));

    // A new name: a new customer, in the same write as the work order.
    let customers = ctx.scalar("SELECT count(*) FROM customers").await;
    let id = ctx.create("Zed Newcomer", "Drain cleaning").await;
    assert_eq!(
        ctx.scalar("SELECT count(*) FROM customers").await,
        customers + 1
    );
    let cust = ctx
        .text("SELECT customer_id FROM work_orders WHERE id = ?1", &id)
        .await
        .unwrap();
    assert_eq!(
        ctx.text("SELECT name FROM customers WHERE id = ?1", &cust)
            .await
            .as_deref(),
        Some("Zed Newcomer")
    );
    let audited = ctx
        .scalar("SELECT count(*) FROM audit_log WHERE action = 'create' AND entity IN ('customer', 'work_order')")
        .await;
    assert_eq!(audited, 2);
    // The page after creation: number, status, flash and the analysis.
    let (s, body) = ctx.get(&ctx.c, &format!("/work-orders/{id}")).await;
    assert_eq!(s, 200);
    assert!(
        body.contains("data-testid=\"work-order-status\">Draft<"),
        "{body}"
    );
    assert!(body.contains("data-testid=\"analysis\""));
    assert!(body.contains("data-testid=\"estimated-cost\">$"));
    assert!(body.contains("data-testid=\"estimated-duration\">"));
    assert!(body.contains("High priority"));
    assert!(body.contains("Kitchen sink drains slowly"));

    // A new customer's service address comes from the form too.
    let r = ctx
        .office_post(
            "/work-orders/new",
            &[
                ("customer_name", "Ada Address"),
                ("address_line1", "9 Elm St"),
                ("address_city", "Oak Park"),
                ("service_type", "Leak repair"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        ctx.text(
            "SELECT addresses FROM customers WHERE name = ?1",
            "Ada Address"
        )
        .await
        .as_deref(),
        Some(
            r#"[{"label":"Service","line1":"9 Elm St","line2":"","city":"Oak Park","region":"","postalCode":""}]"#
        )
    );
    let customers = customers + 1;

    // The same name typed differently: the existing customer.
    let again = ctx.create("  zed NEWCOMER ", "Leak repair").await;
    assert_eq!(
        ctx.scalar("SELECT count(*) FROM customers").await,
        customers + 1
    );
    assert_eq!(
        ctx.text("SELECT customer_id FROM work_orders WHERE id = ?1", &again)
            .await
            .as_deref(),
        Some(cust.as_str())
    );

    // Two customers with one name: the picked suggestion (hidden id) wins,
    // else the oldest.
    let (_, a1) = ctx
        .api(
            &ctx.c,
            "POST",
            "/api/v1/customers",
            json!({"name": "Ann Twin"}),
        )
        .await;
    ctx.app.clock.advance(chrono::Duration::seconds(5));
    let (_, a2) = ctx
        .api(
            &ctx.c,
            "POST",
            "/api/v1/customers",
            json!({"name": "Ann Twin"}),
        )
        .await;
    let a2_id = a2["id"].as_str().unwrap();
    let r = ctx
        .office_post(
            "/work-orders/new",
            &[
                ("customer_name", "Ann Twin"),
                ("customer_id", a2_id),
                ("service_type", "Inspection"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let picked = location(&r).trim_start_matches("/work-orders/").to_string();
    assert_eq!(
        ctx.text("SELECT customer_id FROM work_orders WHERE id = ?1", &picked)
            .await
            .as_deref(),
        Some(a2_id)
    );
    let oldest = ctx.create("Ann Twin", "Inspection").await;
    assert_eq!(
        ctx.text("SELECT customer_id FROM work_orders WHERE id = ?1", &oldest)
            .await
            .as_deref(),
        a1["id"].as_str()
    );
    // A hidden id whose name does not match what was typed is ignored.
    let r = ctx
        .office_post(
            "/work-orders/new",
            &[
                ("customer_name", "Zed Newcomer"),
                ("customer_id", a2_id),
                ("service_type", "Inspection"),
            ],
        )
        .await;
    let other = location(&r).trim_start_matches("/work-orders/").to_string();
    assert_eq!(
        ctx.text("SELECT customer_id FROM work_orders WHERE id = ?1", &other)
            .await
            .as_deref(),
        Some(cust.as_str())
    );

    // Prefilled from a customer page link.
    let (_, body) = ctx
        .get(&ctx.c, &format!("/work-orders/new?customer_id={a2_id}"))
        .await;
    assert!(body.contains(&format!("value=\"{a2_id}\"")));
    assert!(body.contains("value=\"Ann Twin\""));

    // The live analysis fragment for the form.
    let (s, frag) = ctx
        .get(
            &ctx.c,
            "/work-orders/new/analysis?service_type=Drain%20cleaning&priority=urgent",
        )
        .await;
    assert_eq!(s, 200);
    assert!(frag.contains("data-testid=\"estimated-cost\""), "{frag}");
    assert!(!frag.contains("<html"), "a fragment, not a page");
    let (_, empty) = ctx.get(&ctx.c, "/work-orders/new/analysis").await;
    assert!(empty.contains("Enter the customer and the service type"));
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_400_page_with_field_errors_and_nothing_stored() {
    let ctx = Ctx::new().await;
    let before = (
        ctx.scalar("SELECT count(*) FROM customers").await,
        ctx.scalar("SELECT count(*) FROM work_orders").await,
    );
    let r = ctx
        .office_post(
            "/work-orders/new",
            &[
                ("customer_name", "   "),
                ("service_type", ""),
                ("description", "<b>keep me</b>"),
                ("priority", "asap"),
                ("estimated_hours", "soon"),
                ("quoted_price", "-5"),
                ("scheduled_time", "9am"),
                ("address_city", "Springfield"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    for msg in [
        "Customer is required.",
        "Service type is required.",
        "Priority must be low, medium, high or urgent.",
        "Hours must be a number of hours like 1.5.",
        "Quoted price must not be negative.",
        "Time must be a time like 09:30.",
        "Street is required.",
    ] {
        assert!(body.contains(msg), "{msg} in {body}");
    }
    assert!(
        body.contains("&lt;b&gt;keep me&lt;&#x2f;b&gt;")
            || body.contains("&lt;b&gt;keep me&lt;/b&gt;"),
        "{body}"
    );
    assert!(body.contains("aria-invalid=\"true\""));
    let after = (
        ctx.scalar("SELECT count(*) FROM customers").await,
        ctx.scalar("SELECT count(*) FROM work_orders").await,
    );
    assert_eq!(before, after);
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_without_the_csrf_token_are_refused_and_change_nothing() {
    let ctx = Ctx::new().await;
    let id = ctx.create("Ann Example", "Drain cleaning").await;
    let (emp, _, _) = ctx.technician("tech@example.com", "Tia Tech").await;
    let r = ctx
        .post_form(
            &ctx.c,
            "/work-orders/new",
            &[("customer_name", "Eve"), ("service_type", "Leak")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("expired"));
    let r = ctx
        .post_form(
            &ctx.c,
            &format!("/work-orders/{id}/schedule"),
            &[
                ("_csrf", "forged"),
                ("scheduled_date", TODAY),
                ("scheduled_time", "09:00"),
                ("assigned_employee_id", &emp),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(ctx.status(&id).await, "draft");
    // A multipart post whose token is missing or comes after the file.
    let form = Multipart::new()
        .text("kind", "before")
        .part("photos", file(png(20, 20), "a.png"));
    let r = ctx
        .c
        .post(ctx.app.url(&format!("/work-orders/{id}/photos")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let form = Multipart::new()
        .part("photos", file(png(20, 20), "a.png"))
        .text("_csrf", ctx.csrf.clone());
    let r = ctx
        .c
        .post(ctx.app.url(&format!("/work-orders/{id}/photos")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = ctx
        .post_form(
            &ctx.c,
            &format!("/work-orders/{id}/cancel"),
            &[("reason", "x")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(ctx.status(&id).await, "draft");
    assert_eq!(ctx.scalar("SELECT count(*) FROM attachments").await, 0);
    assert_eq!(ctx.scalar("SELECT count(*) FROM work_orders").await, 1);
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduling_assigns_by_name_and_a_clash_is_a_409_page() {
    let ctx = Ctx::new().await;
    let (emp, _, _) = ctx.technician("tech@example.com", "Tia Tech").await;
    let first = ctx.create("Ann Example", "Drain cleaning").await;
    let second = ctx.create("Bob Example", "Leak repair").await;
    let (_, body) = ctx.get(&ctx.c, &format!("/work-orders/{first}")).await;
    for id in [
        "schedule-button",
        "schedule-date",
        "schedule-time",
        "assign-employee",
        "confirm-schedule",
    ] {
        assert!(body.contains(&format!("data-testid=\"{id}\"")), "{id}");
    }
    assert!(body.contains(&format!("<option value=\"{emp}\"")));
    assert!(body.contains(">Tia Tech</option>"));

    let r = ctx.schedule(&first, TODAY, "09:00", &emp).await;
    assert_eq!(r.status(), 303);
    let (_, body) = ctx.get(&ctx.c, &location(&r)).await;
    assert!(body.contains("data-testid=\"work-order-status\">Scheduled<"));
    assert!(body.contains("data-testid=\"assigned-employee\">Tia Tech<"));
    assert!(body.contains("2026-03-02 09:00–11:00"));
    assert!(
        body.contains("WO-000001 scheduled: Tia Tech on 2026-03-02 at 09:00."),
        "flash"
    );

    // Overlapping the first booking: refused, shown, nothing changed.
    let r = ctx.schedule(&second, TODAY, "10:30", &emp).await;
    assert_eq!(r.status(), 409);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Tia Tech is already booked on WO-000001, 2026-03-02 09:00–11:00"),
        "{body}"
    );
    assert!(body.contains("<details class=\"action\" id=\"schedule\" open>"));
    assert!(body.contains("value=\"10:30\""), "what was typed is kept");
    assert_eq!(ctx.status(&second).await, "draft");
    // Missing technician and a bad date: per-field 400.
    let r = ctx.schedule(&second, "2026-13-40", "11:00", "").await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("Technician is required."), "{body}");
    assert!(
        body.contains("Date must be a date like 2026-03-31."),
        "{body}"
    );
    // Touching windows do not clash.
    let r = ctx.schedule(&second, TODAY, "11:00", &emp).await;
    assert_eq!(r.status(), 303);
    assert_eq!(ctx.status(&second).await, "scheduled");
    // A technician may not schedule.
    let (_, tech, tcsrf) = ctx.technician("tech2@example.com", "Ty Other").await;
    let r = ctx
        .post_form(
            &tech,
            &format!("/work-orders/{first}/schedule"),
            &[
                ("_csrf", &tcsrf),
                ("scheduled_date", TODAY),
                ("scheduled_time", "15:00"),
                ("assigned_employee_id", &emp),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_technicians_day_start_photos_signature_and_completion() {
    let ctx = Ctx::new().await;
    let (emp, tech, tcsrf) = ctx.technician("tech@example.com", "Tia Tech").await;
    let (other_emp, other, _) = ctx.technician("other@example.com", "Ola Other").await;
    let (_, _) = ctx
        .api(
            &ctx.c,
            "POST",
            "/api/v1/customers",
            json!({"name": "Ann Example", "phone": "(555) 123-4567",
                   "addresses": [{"line1": "12 Main St", "city": "Springfield", "region": "IL"}]}),
        )
        .await;
    let late = ctx.create("Ann Example", "Water heater").await;
    let early = ctx.create("Ann Example", "Drain cleaning").await;
    let tomorrow = ctx.create("Bob Example", "Leak repair").await;
    let theirs = ctx.create("Cy Example", "Leak repair").await;
    assert_eq!(
        ctx.schedule(&late, TODAY, "13:00", &emp).await.status(),
        303
    );
    assert_eq!(
        ctx.schedule(&early, TODAY, "08:00", &emp).await.status(),
        303
    );
    assert_eq!(
        ctx.schedule(&tomorrow, "2026-03-03", "08:00", &emp)
            .await
            .status(),
        303
    );
    assert_eq!(
        ctx.schedule(&theirs, TODAY, "08:00", &other_emp)
            .await
            .status(),
        303
    );

    // My day: today's jobs in schedule order, with the address and a map link.
    let (s, day) = ctx.get(&tech, "/my-day").await;
    assert_eq!(s, 200);
    let pos = |needle: &str| {
        day.find(needle)
            .unwrap_or_else(|| panic!("{needle} in {day}"))
    };
    assert!(pos("WO-000002 · Drain cleaning") < pos("WO-000001 · Water heater"));
    assert!(!day.contains("WO-000003") && !day.contains("WO-000004"));
    assert!(day.contains("12 Main St, Springfield, IL"));
    // (minijinja writes `/` in attributes as `&#x2f;`)
    assert!(
        day.contains("openstreetmap.org&#x2f;search?query=12%20Main%20St%2C%20Springfield%2C%20IL")
    );
    assert!(day.contains("href=\"tel:5551234567\""));
    assert!(day.contains("08:00–10:00"));
    let (_, next) = ctx.get(&tech, "/my-day?date=2026-03-03").await;
    assert!(next.contains("WO-000003") && !next.contains("WO-000002"));
    assert!(next.contains("Tuesday 3 March 2026"));
    assert_eq!(ctx.get(&tech, "/my-day?date=someday").await.0, 400);
    let (_, their_day) = ctx.get(&other, "/my-day").await;
    assert!(their_day.contains("WO-000004") && !their_day.contains("WO-000002"));

    // Another technician's job: 403, for the page and every action.
    let (s, _) = ctx.get(&tech, &format!("/work-orders/{theirs}")).await;
    assert_eq!(s, 403);
    for action in ["start", "complete"] {
        let r = ctx
            .post_form(
                &tech,
                &format!("/work-orders/{theirs}/{action}"),
                &[("_csrf", &tcsrf), ("actual_cost", "10")],
            )
            .await;
        assert_eq!(r.status(), 403, "{action}");
    }
    let form = Multipart::new()
        .text("_csrf", tcsrf.clone())
        .part("photos", file(png(20, 20), "x.png"));
    let r = tech
        .post(ctx.app.url(&format!("/work-orders/{theirs}/photos")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(ctx.status(&theirs).await, "scheduled");

    // Their own job: the technician's page, then start.
    let (s, body) = ctx.get(&tech, &format!("/work-orders/{early}")).await;
    assert_eq!(s, 200);
    assert!(body.contains("data-testid=\"start-job-button\""));
    assert!(body.contains("data-testid=\"complete-job-button\""));
    assert!(
        !body.contains("data-testid=\"schedule-button\""),
        "staff only"
    );
    assert!(!body.contains("Cancel job"), "staff only");
    assert!(!body.contains("data-testid=\"analysis\""), "staff only");
    assert!(body.contains("data-signature-pad"));
    let r = ctx
        .post_form(
            &tech,
            &format!("/work-orders/{early}/start"),
            &[("_csrf", &tcsrf)],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(ctx.status(&early).await, "in_progress");
    // Starting twice: a 409 page saying why.
    let r = ctx
        .post_form(
            &tech,
            &format!("/work-orders/{early}/start"),
            &[("_csrf", &tcsrf)],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("cannot start WO-000002: it is in_progress")
    );

    // A before photo as a plain multipart form post; a non-image is refused.
    let form = Multipart::new()
        .text("_csrf", tcsrf.clone())
        .text("kind", "before")
        .part("photos", file(png(40, 30), "before.png"));
    let r = tech
        .post(ctx.app.url(&format!("/work-orders/{early}/photos")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("/work-orders/{early}#photos"));
    let form = Multipart::new()
        .text("_csrf", tcsrf.clone())
        .text("kind", "after")
        .part("photos", file(b"not an image".to_vec(), "notes.txt"));
    let r = tech
        .post(ctx.app.url(&format!("/work-orders/{early}/photos")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("The photo must be a JPEG, PNG or WebP image.")
    );
    let form = Multipart::new()
        .text("_csrf", tcsrf.clone())
        .text("kind", "after");
    let r = tech
        .post(ctx.app.url(&format!("/work-orders/{early}/photos")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(ctx.scalar("SELECT count(*) FROM attachments").await, 1);

    // The signature pad uploads through the API with the page's token.
    let r = tech
        .post(ctx.app.url(&format!(
            "/api/v1/work-orders/{early}/attachments?kind=signature"
        )))
        .header("content-type", "image/png")
        .body(png(300, 100))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Completion without the actual cost: 400, nothing changed.
    let form = Multipart::new()
        .text("_csrf", tcsrf.clone())
        .text("actual_cost", "")
        .text("completion_notes", "Cleared the trap");
    let r = tech
        .post(ctx.app.url(&format!("/work-orders/{early}/complete")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("Actual cost is required."), "{body}");
    assert!(body.contains("<details class=\"action\" id=\"complete\" open>"));
    assert!(body.contains("Cleared the trap"), "notes kept");
    assert_eq!(ctx.status(&early).await, "in_progress");

    // Completion with the cost, hours, notes and an after photo.
    let form = Multipart::new()
        .text("_csrf", tcsrf.clone())
        .text("actual_cost", "$1,234.50")
        .text("actual_hours", "1.5")
        .text("completion_notes", "Cleared the trap")
        .text("signed_by", "")
        .part("photos", file(png(64, 48), "after.png"));
    let r = tech
        .post(ctx.app.url(&format!("/work-orders/{early}/complete")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(ctx.status(&early).await, "completed");
    assert_eq!(
        ctx.scalar("SELECT count(*) FROM attachments WHERE kind = 'after'")
            .await,
        1
    );
    let (s, body) = ctx.get(&tech, &location(&r)).await;
    assert_eq!(s, 200);
    assert!(body.contains("data-testid=\"invoice-generated\""));
    assert!(
        body.contains("<strong>INV-000001</strong>"),
        "no link for a technician: {body}"
    );
    assert!(body.contains("$1,234.50"));
    assert!(body.contains("data-testid=\"signature-image\""));
    assert!(body.contains("alt=\"Before photo 1\"") && body.contains("alt=\"After photo 1\""));
    assert!(body.contains("WO-000002 completed. Invoice INV-000001 created."));
    let (_, staff_view) = ctx.get(&ctx.c, &format!("/work-orders/{early}")).await;
    let invoice = ctx
        .text("SELECT id FROM invoices WHERE work_order_id = ?1", &early)
        .await
        .unwrap();
    assert!(staff_view.contains(&format!("<a href=\"/invoices/{invoice}\">INV-000001</a>")));
    assert_eq!(
        ctx.text(
            "SELECT CAST(actual_minutes AS TEXT) FROM work_orders WHERE id = ?1",
            &early
        )
        .await
        .as_deref(),
        Some("90")
    );
    assert_eq!(ctx.scalar("SELECT count(*) FROM follow_ups").await, 1);

    // The typed-name fallback is recorded with the notes.
    let form = Multipart::new()
        .text("_csrf", tcsrf.clone())
        .text("actual_cost", "80")
        .text("signed_by", "Ann Example");
    let r = tech
        .post(ctx.app.url(&format!("/work-orders/{late}/complete")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        ctx.text(
            "SELECT completion_notes FROM work_orders WHERE id = ?1",
            &late
        )
        .await
        .as_deref(),
        Some("Signed by (typed): Ann Example")
    );
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_follows_the_status_rules_and_cancel_asks_nothing_more() {
    let ctx = Ctx::new().await;
    let (emp, _, _) = ctx.technician("tech@example.com", "Tia Tech").await;
    let id = ctx.create("Ann Example", "Drain cleaning").await;
    let r = ctx
        .office_post(
            &format!("/work-orders/{id}/edit"),
            &[
                ("service_type", "Drain jetting"),
                ("description", "Main line"),
                ("priority", "urgent"),
                ("special_instructions", "Dog in yard"),
                ("scheduled_date", "2026-03-05"),
                ("scheduled_time", ""),
                ("estimated_hours", "3"),
                ("quoted_price", "450"),
                ("customer_notes", "Call first"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, body) = ctx.get(&ctx.c, &format!("/work-orders/{id}")).await;
    assert!(body.contains("Drain jetting") && body.contains("Urgent priority"));
    assert!(body.contains("2026-03-05 <span class=\"hint\">(tentative)</span>"));
    assert!(body.contains("$450.00"));
    // Bad values: 400 with the fields, nothing saved.
    let r = ctx
        .office_post(
            &format!("/work-orders/{id}/edit"),
            &[("service_type", ""), ("quoted_price", "lots")],
        )
        .await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Quoted price must be an amount like 125.50."),
        "{body}"
    );
    // A scheduled job's date is changed by rescheduling, not edit: 409.
    assert_eq!(ctx.schedule(&id, TODAY, "09:00", &emp).await.status(), 303);
    let (_, body) = ctx.get(&ctx.c, &format!("/work-orders/{id}")).await;
    assert!(
        !body.contains("id=\"edit_date\""),
        "no date field once scheduled"
    );
    let r = ctx
        .office_post(
            &format!("/work-orders/{id}/edit"),
            &[("scheduled_date", "2026-03-09")],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("cannot change scheduledDate of WO-000001: it is scheduled")
    );
    // Cancel with a reason; then only notes can change and no actions remain.
    let r = ctx
        .office_post(
            &format!("/work-orders/{id}/cancel"),
            &[("reason", "Customer sold the house")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(ctx.status(&id).await, "cancelled");
    let (_, body) = ctx.get(&ctx.c, &format!("/work-orders/{id}")).await;
    assert!(body.contains("Customer sold the house"));
    for gone in [
        "schedule-button",
        "complete-job-button",
        "start-job-button",
        "cancel-job-button",
    ] {
        assert!(!body.contains(gone), "{gone}");
    }
    assert!(!body.contains("id=\"edit_service_type\""));
    let r = ctx
        .office_post(&format!("/work-orders/{id}/cancel"), &[])
        .await;
    assert_eq!(r.status(), 409);
    ctx.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_pages_exports_and_escapes() {
    let ctx = Ctx::new().await;
    let (emp, _, _) = ctx.technician("tech@example.com", "Tia Tech").await;
    let evil = "<script>alert(1)</script>";
    let xss = ctx.create(evil, "=HYPERLINK(\"http://x\")").await;
    for i in 0..28 {
        ctx.app.clock.advance(chrono::Duration::seconds(1));
        ctx.create(&format!("Customer {i:02}"), "Drain cleaning")
            .await;
    }
    assert_eq!(ctx.schedule(&xss, TODAY, "09:00", &emp).await.status(), 303);

    let (s, body) = ctx.get(&ctx.c, "/work-orders").await;
    assert_eq!(s, 200);
    assert!(body.contains("data-testid=\"new-work-order-button\""));
    assert!(body.contains("29 work orders · page 1 of 2"));
    assert_eq!(body.matches("<th scope=\"row\">").count(), 25);
    assert!(!body.contains(evil));
    let (_, p2) = ctx.get(&ctx.c, "/work-orders?page=2").await;
    assert_eq!(p2.matches("<th scope=\"row\">").count(), 4);
    assert!(
        p2.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
            || p2.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
    let (_, page) = ctx.get(&ctx.c, &format!("/work-orders/{xss}")).await;
    assert!(!page.contains(evil) && page.contains("&lt;script&gt;"));

    // Filters: status, technician, text, dates; a bad one is a 400 page.
    let (_, f) = ctx.get(&ctx.c, "/work-orders?status=scheduled").await;
    assert!(f.contains("1 work order<"), "{f}");
    let (_, f) = ctx
        .get(
            &ctx.c,
            &format!("/work-orders?assigned_employee_id={emp}&from={TODAY}&to={TODAY}"),
        )
        .await;
    assert!(f.contains("1 work order<"));
    let (_, f) = ctx.get(&ctx.c, "/work-orders?q=Customer%2007").await;
    assert!(f.contains("1 work order<") && f.contains("Customer 07"));
    let (_, f) = ctx
        .get(&ctx.c, "/work-orders?status=draft,scheduled,in_progress")
        .await;
    assert!(f.contains("29 work orders"));
    let (s, f) = ctx
        .get(&ctx.c, "/work-orders?status=lost&from=2026-02-30")
        .await;
    assert_eq!(s, 400);
    assert!(
        f.contains("Status must be draft") && f.contains("From must be a date"),
        "{f}"
    );

    // CSV of the filtered list (every page), formula-safe.
    let r = ctx
        .c
        .get(
            ctx.app
                .url("/work-orders?status=draft,scheduled&format=csv"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = r.text().await.unwrap();
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(rd.headers().unwrap().get(0), Some("Number"));
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 29);
    let x = rows
        .iter()
        .find(|r| &r[3] == evil)
        .expect("the customer, verbatim");
    assert_eq!(&x[4], "'=HYPERLINK(\"http://x\")");
    assert_eq!(&x[1], "scheduled");
    assert_eq!(&x[7], "Tia Tech");
    assert_eq!(&x[8], "2.00");
    ctx.app.stop().await;
}
