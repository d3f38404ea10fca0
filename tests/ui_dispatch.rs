//! The dispatch board (`/dispatch`) over HTTP: the day and week boards with
//! their lanes, cards and tray; the Move form (booking a draft, re-booking a
//! scheduled job, a draft's tentative date on the Unassigned lane); a clash
//! or a bad field re-renders the board (409/400) and changes nothing; CSRF
//! and roles.

mod common;

use common::*;
use quant::domain::user::Role;
use serde_json::{Value, json};

const OWNER: &str = "owner@dispatch.example";
const OFFICE: &str = "office@dispatch.example";
const TECH: &str = "tech@dispatch.example";
const WO: &str = "/api/v1/work-orders";

struct Board {
    app: TestApp,
    owner: reqwest::Client,
    ann: String,
    bob: String,
    /// Ann, Mon 2026-03-02 09:00–11:00.
    booked: Value,
    /// Bob, Wed 2026-03-04 13:00–14:00.
    later: Value,
    /// A draft dated Mon 2026-03-02 10:00, nobody assigned.
    dated_draft: Value,
    /// A draft without a date.
    undated: Value,
}

async fn api(c: &reqwest::Client, app: &TestApp, method: &str, path: &str, body: Value) -> Value {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let r = c
        .request(m, app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert!(status < 300, "{method} {path}: {status} {v}");
    v
}

async fn get_json(c: &reqwest::Client, app: &TestApp, path: &str) -> Value {
    let r = c.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// A business with two technicians and four jobs around Monday 2026-03-02,
/// "now" being that Monday at 08:00 UTC (the business time zone).
async fn setup() -> Board {
    let app = TestApp::start().await;
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-03-02T08:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    app.user(OWNER, Role::Owner).await;
    app.user(OFFICE, Role::Office).await;
    app.user(TECH, Role::Technician).await;
    let owner = app.login(OWNER).await;
    let emp = |name: &str| json!({"name": name, "trade": "Plumber"});
    let ann = api(&owner, &app, "POST", "/api/v1/employees", emp("Ann Tech")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bob = api(&owner, &app, "POST", "/api/v1/employees", emp("Bob Tech")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    api(
        &owner,
        &app,
        "POST",
        "/api/v1/employees",
        json!({"name": "Old Tech", "active": false}),
    )
    .await;
    let cust = api(
        &owner,
        &app,
        "POST",
        "/api/v1/customers",
        json!({"name": "<script>alert(1)</script>"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let new = |service: &str, extra: Value| {
        let mut body = json!({"customerId": cust, "serviceType": service});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let booked = api(&owner, &app, "POST", WO, new("Drain cleaning", json!({}))).await;
    let booked = api(
        &owner,
        &app,
        "POST",
        &format!("{WO}/{}/schedule", booked["id"].as_str().unwrap()),
        json!({"scheduledDate": "2026-03-02", "scheduledTime": "09:00", "assignedEmployeeId": ann, "estimatedDurationHours": 2}),
    )
    .await;
    let later = api(&owner, &app, "POST", WO, new("Leak repair", json!({}))).await;
    let later = api(
        &owner,
        &app,
        "POST",
        &format!("{WO}/{}/schedule", later["id"].as_str().unwrap()),
        json!({"scheduledDate": "2026-03-04", "scheduledTime": "13:00", "assignedEmployeeId": bob, "estimatedDurationHours": 1}),
    )
    .await;
    let dated_draft = api(
        &owner,
        &app,
        "POST",
        WO,
        new(
            "Boiler service",
            json!({"scheduledDate": "2026-03-02", "scheduledTime": "10:00", "estimatedDurationHours": 1.5}),
        ),
    )
    .await;
    let undated = api(
        &owner,
        &app,
        "POST",
        WO,
        new("Tap replacement", json!({"priorityLevel": "urgent"})),
    )
    .await;
    Board {
        app,
        owner,
        ann,
        bob,
        booked,
        later,
        dated_draft,
        undated,
    }
}

fn num(wo: &Value) -> &str {
    wo["workOrderNumber"].as_str().unwrap()
}

fn id(wo: &Value) -> &str {
    wo["id"].as_str().unwrap()
}

async fn page(c: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The HTML of the lane of `employee` ("" = Unassigned).
fn lane<'a>(html: &'a str, employee: &str) -> &'a str {
    let marker = format!("data-testid=\"lane\" data-employee=\"{employee}\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no lane {employee:?}"));
    let end = html[start..].find("</section>").unwrap() + start;
    &html[start..end]
}

fn tray(html: &str) -> &str {
    let start = html.find("data-testid=\"draft-tray\"").expect("tray");
    &html[start..]
}

fn csrf(html: &str) -> String {
    let m = "<meta name=\"csrf-token\" content=\"";
    let start = html.find(m).expect("csrf meta") + m.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

async fn post_move(
    c: &reqwest::Client,
    app: &TestApp,
    fields: &[(&str, &str)],
) -> (u16, Option<String>, String) {
    let r = c
        .post(app.url("/dispatch/move"))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    (status, location, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_and_week_boards_show_lanes_cards_and_the_tray() {
    let b = setup().await;
    let (s, day) = page(&b.owner, &b.app, "/dispatch").await;
    assert_eq!(s, 200, "{day}");
    assert!(day.contains("data-testid=\"dispatch-board\""));
    assert!(day.contains("Monday 2 March 2026"), "today by default");
    assert!(day.contains("data-view=\"day\""));
    assert!(day.contains("<p class=\"hint\">2 jobs."));
    // Ann's lane holds her booking, positioned 09:00–11:00 on the 07:00 line.
    let ann = lane(&day, &b.ann);
    assert!(ann.contains("Ann Tech"), "{ann}");
    assert!(ann.contains(num(&b.booked)), "{ann}");
    assert!(ann.contains("job scheduled q8 w8"), "{ann}");
    assert!(ann.contains("09:00–11:00"), "{ann}");
    assert!(ann.contains("1 job, 2 h"), "{ann}");
    // Bob's job is on Wednesday: not on Monday's board.
    assert!(!lane(&day, &b.bob).contains(num(&b.later)));
    assert!(!day.contains(num(&b.later)));
    // The dated draft is on the Unassigned lane, the undated one in the tray.
    let unassigned = lane(&day, "");
    assert!(unassigned.contains("Unassigned"));
    assert!(unassigned.contains(num(&b.dated_draft)), "{unassigned}");
    assert!(unassigned.contains("draggable=\"true\""));
    assert!(tray(&day).contains(num(&b.undated)));
    assert!(tray(&day).contains("Drafts without a date (1)"));
    // No lane for the inactive technician, who has no jobs.
    assert!(!day.contains("Old Tech"));
    // The customer's name is text, never markup.
    assert!(day.contains("&lt;script&gt;alert(1)&lt;"));
    assert!(!day.contains("<script>alert(1)"));
    // Each movable card links to its Move form; the form itself is closed.
    // (minijinja escapes `/` in attribute values as `&#x2f;`.)
    assert!(day.contains(&format!(
        "dispatch?view=day&amp;date=2026-03-02&amp;move={}\"",
        id(&b.booked)
    )));
    assert!(!day.contains("data-testid=\"move-form\""));
    assert!(day.contains("dispatch."), "loads dispatch.js");

    // The week of Monday 2 March, asked for by its Thursday.
    let (s, week) = page(&b.owner, &b.app, "/dispatch?view=week&date=2026-03-05").await;
    assert_eq!(s, 200);
    assert!(week.contains("Week of 2 Mar – 8 Mar 2026"), "{week}");
    let bob = lane(&week, &b.bob);
    assert!(bob.contains(num(&b.later)), "{bob}");
    let wed = bob.find("data-date=\"2026-03-04\"").unwrap();
    assert!(bob[wed..].contains(num(&b.later)));
    assert!(!bob[..wed].contains(num(&b.later)), "in Wednesday's cell");
    assert!(lane(&week, &b.ann).contains(num(&b.booked)));
    assert!(week.contains("<p class=\"hint\">3 jobs."), "{week}");
    assert!(
        week.contains("dispatch?view=week&amp;date=2026-02-26\""),
        "previous week"
    );
    assert!(
        week.contains("dispatch?view=week&amp;date=2026-03-12\""),
        "next week"
    );

    // The Move form of one card, opened by its link (works without JS).
    let (s, open) = page(
        &b.owner,
        &b.app,
        &format!("/dispatch?view=day&date=2026-03-02&move={}", id(&b.booked)),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(open.matches("data-testid=\"move-form\"").count(), 1);
    let form = &open[open.find("data-testid=\"move-form\"").unwrap()..];
    assert!(form.contains(&format!("<option value=\"{}\" selected>Ann Tech", b.ann)));
    assert!(
        !form[..form.find("</select>").unwrap()].contains("Unassigned"),
        "a booked job cannot go back to Unassigned"
    );
    assert!(form.contains("value=\"09:00\""));

    // Office staff see it too; a bad view is a 400 page.
    let office = b.app.login(OFFICE).await;
    assert_eq!(page(&office, &b.app, "/dispatch?view=week").await.0, 200);
    assert_eq!(page(&office, &b.app, "/dispatch?view=month").await.0, 400);
    assert_eq!(
        page(&office, &b.app, "/dispatch?date=2026-02-30").await.0,
        400
    );
    b.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technicians_are_refused_and_strangers_sent_to_sign_in() {
    let b = setup().await;
    let tech = b.app.login(TECH).await;
    let (s, html) = page(&tech, &b.app, "/dispatch").await;
    assert_eq!(s, 403);
    assert!(html.contains("Not allowed"));
    let r = tech
        .post(b.app.url("/dispatch/move"))
        .form(&[
            ("_csrf", "whatever"),
            ("id", id(&b.booked)),
            ("employee", b.bob.as_str()),
            ("date", "2026-03-03"),
            ("time", "09:00"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client()
        .get(b.app.url("/dispatch?view=week"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/login?next=/dispatch%3Fview%3Dweek"
    );
    let wo = get_json(&b.owner, &b.app, &format!("{WO}/{}", id(&b.booked))).await;
    assert_eq!(wo["assignedEmployeeId"], b.ann.as_str());
    b.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_move_form_books_rebooks_and_dates_drafts() {
    let b = setup().await;
    let (_, html) = page(&b.owner, &b.app, "/dispatch").await;
    let token = csrf(&html);

    // A scheduled job to another technician and day.
    let (s, to, _) = post_move(
        &b.owner,
        &b.app,
        &[
            ("_csrf", &token),
            ("id", id(&b.booked)),
            ("employee", &b.bob),
            ("date", "2026-03-03"),
            ("time", "11:15"),
            ("view", "week"),
            ("at", "2026-03-02"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(to.as_deref(), Some("/dispatch?view=week&date=2026-03-02"));
    let wo = get_json(&b.owner, &b.app, &format!("{WO}/{}", id(&b.booked))).await;
    assert_eq!(wo["assignedEmployeeId"], b.bob.as_str());
    assert_eq!(wo["scheduledDate"], "2026-03-03");
    assert_eq!(wo["scheduledTime"], "11:15");
    assert_eq!(wo["status"], "scheduled");
    assert_eq!(wo["estimatedDurationHours"], 2.0, "keeps its length");
    // The flash names where it went, on the board it came from.
    let (_, week) = page(&b.owner, &b.app, "/dispatch?view=week&date=2026-03-02").await;
    assert!(
        week.contains(&format!(
            "{} moved to Bob Tech, 2026-03-03 11:15.",
            num(&b.booked)
        )),
        "{week}"
    );
    let tue = lane(&week, &b.bob);
    assert!(tue.contains(num(&b.booked)));
    let audit = get_json(
        &b.owner,
        &b.app,
        &format!(
            "/api/v1/audit?entity=work_order&entity_id={}",
            id(&b.booked)
        ),
    )
    .await;
    assert!(audit.to_string().contains("reschedule"), "{audit}");

    // The undated draft onto Ann: booked.
    let (s, _, _) = post_move(
        &b.owner,
        &b.app,
        &[
            ("_csrf", &token),
            ("id", id(&b.undated)),
            ("employee", &b.ann),
            ("date", "2026-03-02"),
            ("time", "14:00"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    let wo = get_json(&b.owner, &b.app, &format!("{WO}/{}", id(&b.undated))).await;
    assert_eq!(wo["status"], "scheduled");
    assert_eq!(wo["assignedEmployeeName"], "Ann Tech");

    // The dated draft to another day, still unassigned: a tentative date.
    let (s, _, _) = post_move(
        &b.owner,
        &b.app,
        &[
            ("_csrf", &token),
            ("id", id(&b.dated_draft)),
            ("employee", ""),
            ("date", "2026-03-06"),
            ("time", "08:30"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    let wo = get_json(&b.owner, &b.app, &format!("{WO}/{}", id(&b.dated_draft))).await;
    assert_eq!(wo["status"], "draft");
    assert_eq!(wo["scheduledDate"], "2026-03-06");
    assert_eq!(wo["scheduledTime"], "08:30");
    assert_eq!(wo["assignedEmployeeId"], Value::Null);
    let (_, day) = page(&b.owner, &b.app, "/dispatch").await;
    assert!(lane(&day, &b.ann).contains(num(&b.undated)));
    assert!(
        !lane(&day, "").contains(num(&b.dated_draft)),
        "moved off today"
    );
    assert!(tray(&day).contains("Drafts without a date (0)"));
    b.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clash_or_a_bad_field_rerenders_the_board_and_changes_nothing() {
    let b = setup().await;
    let (_, html) = page(&b.owner, &b.app, "/dispatch").await;
    let token = csrf(&html);
    let before = get_json(&b.owner, &b.app, &format!("{WO}/{}", id(&b.later))).await;

    // Bob's Wednesday job onto Ann's Monday 09:30: she is booked 09:00–11:00.
    let (s, to, page409) = post_move(
        &b.owner,
        &b.app,
        &[
            ("_csrf", &token),
            ("id", id(&b.later)),
            ("employee", &b.ann),
            ("date", "2026-03-02"),
            ("time", "09:30"),
            ("view", "day"),
            ("at", "2026-03-02"),
        ],
    )
    .await;
    assert_eq!(s, 409, "{page409}");
    assert_eq!(to, None);
    let message = format!(
        "Not moved: Ann Tech is already booked on {}, 2026-03-02 09:00–11:00",
        num(&b.booked)
    );
    assert!(page409.contains(&message), "{page409}");
    let alert = &page409[page409.find("id=\"board-alert\"").unwrap()..];
    assert!(
        alert[..alert.find('>').unwrap()].find("hidden").is_none(),
        "alert shown"
    );
    assert!(
        page409.contains("data-testid=\"dispatch-board\""),
        "the board again"
    );
    // Its Move form is open with what was entered.
    let form = &page409[page409.find("data-testid=\"move-form\"").unwrap()..];
    assert!(form.contains(&format!("name=\"id\" value=\"{}\"", id(&b.later))));
    assert!(form.contains(&format!("<option value=\"{}\" selected>Ann Tech", b.ann)));
    assert!(form.contains("value=\"09:30\""));
    let after = get_json(&b.owner, &b.app, &format!("{WO}/{}", id(&b.later))).await;
    assert_eq!(after, before, "nothing changed");

    // A booked job cannot be dropped on Unassigned.
    let (s, _, body) = post_move(
        &b.owner,
        &b.app,
        &[
            ("_csrf", &token),
            ("id", id(&b.later)),
            ("employee", ""),
            ("date", "2026-03-04"),
            ("time", "15:00"),
        ],
    )
    .await;
    assert_eq!(s, 409);
    assert!(body.contains("cannot be unassigned"), "{body}");

    // Bad fields: each named, nothing stored.
    let (s, _, body) = post_move(
        &b.owner,
        &b.app,
        &[
            ("_csrf", &token),
            ("id", id(&b.later)),
            ("employee", "bob"),
            ("date", "2026-03-32"),
            ("time", "25:00"),
            ("view", "week"),
            ("at", "2026-03-02"),
        ],
    )
    .await;
    assert_eq!(s, 400, "{body}");
    for field in ["Technician: ", "Date: ", "Time: "] {
        assert!(body.contains(field), "{field} in {body}");
    }
    assert!(
        body.contains("value=\"2026-03-32\""),
        "what was typed is kept"
    );
    // An inactive or unknown technician: a field error from the repository.
    let (s, _, body) = post_move(
        &b.owner,
        &b.app,
        &[
            ("_csrf", &token),
            ("id", id(&b.later)),
            ("employee", "01890000-0000-7000-8000-000000000000"),
            ("date", "2026-03-05"),
            ("time", "09:00"),
        ],
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("no employee has this id"), "{body}");
    let after = get_json(&b.owner, &b.app, &format!("{WO}/{}", id(&b.later))).await;
    assert_eq!(after, before, "nothing changed");

    // Without its CSRF token the form is refused outright.
    let (s, _, body) = post_move(
        &b.owner,
        &b.app,
        &[
            ("id", id(&b.later)),
            ("employee", &b.ann),
            ("date", "2026-03-05"),
            ("time", "09:00"),
        ],
    )
    .await;
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("expired"));
    // An unknown work order is a 404 page.
    let (s, _, _) = post_move(
        &b.owner,
        &b.app,
        &[
            ("_csrf", &token),
            ("id", "01890000-0000-7000-8000-000000000000"),
            ("employee", &b.ann),
            ("date", "2026-03-05"),
            ("time", "09:00"),
        ],
    )
    .await;
    assert_eq!(s, 404);
    let after = get_json(&b.owner, &b.app, &format!("{WO}/{}", id(&b.later))).await;
    assert_eq!(after, before, "nothing changed");
    b.app.stop().await;
}
