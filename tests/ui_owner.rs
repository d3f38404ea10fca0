//! The owner's web pages over real HTTP: the dashboard's charts, the
//! business-intelligence page, access management (`/admin/users`,
//! `/admin/sessions`, `/admin/tokens`) and the `/api/v1/users` endpoints
//! behind it — roles, forms with per-field errors, CSRF, deactivation ending
//! a user's access, "sign out everyone else", tokens shown once, CSV exports,
//! escaping, and the first-run setup leading to a working dashboard.

mod common;

use common::*;
use quant::domain::user::Role;
use serde_json::{Value, json};

/// The CSRF token a page carries in `<meta name="csrf-token">`.
fn meta_csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf-token\" content=\"")
        .unwrap_or_else(|| panic!("no csrf meta in {html}"));
    let rest = &html[at + "name=\"csrf-token\" content=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

async fn get(c: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// A page's CSRF token for the signed-in client `c`.
async fn csrf(c: &reqwest::Client, app: &TestApp) -> String {
    let (status, html) = get(c, app, "/account/password").await;
    assert_eq!(status, 200, "{html}");
    meta_csrf(&html)
}

async fn post(
    c: &reqwest::Client,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    c.post(app.url(path)).form(fields).send().await.unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    app.state
        .db
        .read(move |c| Ok(c.query_row(sql, [], |r| r.get(0))?))
        .await
        .unwrap()
}

/// Parses a CSV download (checking its headers); returns the rows
/// including the header row.
async fn csv_rows(c: &reqwest::Client, app: &TestApp, path: &str) -> Vec<Vec<String>> {
    let r = c.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/csv"), "{path}: {ct}");
    let cd = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cd.starts_with("attachment; filename=\"") && cd.ends_with(".csv\""),
        "{cd}"
    );
    let text = r.text().await.unwrap();
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let rows: Vec<Vec<String>> = rd
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let width = rows[0].len();
    assert!(rows.iter().all(|r| r.len() == width), "{path}: ragged CSV");
    rows
}

async fn body(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"))
}

/// An owner, an office user and a technician, each signed in.
struct Team {
    owner: reqwest::Client,
    office: reqwest::Client,
    tech: reqwest::Client,
    owner_id: String,
    office_id: String,
    tech_id: String,
}

async fn team(app: &TestApp) -> Team {
    let o = app.user("owner@example.com", Role::Owner).await;
    let f = app.user("office@example.com", Role::Office).await;
    let t = app.user("tech@example.com", Role::Technician).await;
    Team {
        owner: app.login("owner@example.com").await,
        office: app.login("office@example.com").await,
        tech: app.login("tech@example.com").await,
        owner_id: o.id,
        office_id: f.id,
        tech_id: t.id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_limited_to_their_roles() {
    let app = TestApp::start().await;
    let t = team(&app).await;
    let user_page = format!("/admin/users/{}", t.tech_id);
    let admin = [
        "/admin/users",
        "/admin/sessions",
        "/admin/tokens",
        user_page.as_str(),
        "/admin/users?format=csv",
    ];
    for path in admin {
        assert_eq!(get(&t.owner, &app, path).await.0, 200, "owner {path}");
        for (who, c) in [("office", &t.office), ("technician", &t.tech)] {
            let (status, html) = get(c, &app, path).await;
            assert_eq!(status, 403, "{who} {path}");
            assert!(html.contains("Not allowed"), "{html}");
        }
        let r = client().get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "signed out {path}");
        assert!(
            location(&r).starts_with("/login?next=/admin/"),
            "{}",
            location(&r)
        );
    }
    // Forms too, before the body is looked at.
    for (c, who) in [(&t.office, "office"), (&t.tech, "technician")] {
        let token = csrf(c, &app).await;
        for path in [
            "/admin/users",
            "/admin/sessions/revoke-all",
            "/admin/tokens",
        ] {
            let r = post(c, &app, path, &[("_csrf", &token), ("name", "x")]).await;
            assert_eq!(r.status(), 403, "{who} POST {path}");
        }
        let path = format!("/admin/users/{}/active", t.owner_id);
        let r = post(c, &app, &path, &[("_csrf", &token), ("active", "false")]).await;
        assert_eq!(r.status(), 403);
    }
    assert_eq!(
        count(&app, "SELECT count(*) FROM users WHERE active = 1").await,
        3
    );
    // The insights page: owner and office; technicians are refused.
    assert_eq!(get(&t.owner, &app, "/business-intelligence").await.0, 200);
    assert_eq!(get(&t.office, &app, "/business-intelligence").await.0, 200);
    assert_eq!(get(&t.tech, &app, "/business-intelligence").await.0, 403);
    let r = t.tech.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), location(&r)), (303, "/my-day".into()));
    // The API: owner only.
    for c in [&t.office, &t.tech] {
        let r = c.get(app.url("/api/v1/users")).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let r = c
            .post(app.url("/api/v1/users"))
            .json(&json!({"email": "x@example.com", "role": "owner", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
    // The menu links to access management for the owner only.
    assert!(
        get(&t.owner, &app, "/dashboard")
            .await
            .1
            .contains("Users &amp; access")
    );
    assert!(
        !get(&t.office, &app, "/dashboard")
            .await
            .1
            .contains("Users &amp; access")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_user_checks_every_field_and_the_csrf_token() {
    let app = TestApp::start().await;
    let t = team(&app).await;
    let token = csrf(&t.owner, &app).await;
    let before = count(&app, "SELECT count(*) FROM users").await;

    // Every bad field is reported at once, on a 400 page that keeps the input.
    let r = post(
        &t.owner,
        &app,
        "/admin/users",
        &[
            ("_csrf", &token),
            ("name", "Nina <b>New</b>"),
            ("email", "not-an-address"),
            ("role", "king"),
            ("password", "short"),
            ("password_confirm", "different"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"err-email\""), "{html}");
    assert!(html.contains("id=\"err-role\""));
    assert!(html.contains("id=\"err-password\""));
    assert!(html.contains("id=\"err-password-confirm\""));
    assert!(!html.contains("id=\"err-name\""));
    assert!(html.contains("value=\"not-an-address\""), "input kept");
    assert!(html.contains("Nina &lt;b&gt;New&lt;"), "escaped");
    assert!(
        !html.contains("value=\"short\""),
        "passwords are never echoed"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM users").await, before);

    // No CSRF token: refused, nothing stored.
    let good = [
        ("name", "<script>alert(1)</script>"),
        ("email", "Nina@Example.com"),
        ("role", "technician"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    let r = post(&t.owner, &app, "/admin/users", &good).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("expired"));
    let mut wrong = good.to_vec();
    wrong.push(("_csrf", "0000"));
    assert_eq!(
        post(&t.owner, &app, "/admin/users", &wrong).await.status(),
        403
    );
    assert_eq!(count(&app, "SELECT count(*) FROM users").await, before);

    // A good form creates the user and shows them.
    let mut ok = good.to_vec();
    ok.push(("_csrf", &token));
    let r = post(&t.owner, &app, "/admin/users", &ok).await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.starts_with("/admin/users/"), "{to}");
    let (status, html) = get(&t.owner, &app, &to).await;
    assert_eq!(status, 200);
    assert!(html.contains("nina@example.com"));
    assert!(
        html.contains("data-testid=\"flash\""),
        "a flash says it worked"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;"));
    assert!(!html.contains("<script>alert(1)"));
    let (_, list) = get(&t.owner, &app, "/admin/users").await;
    assert!(list.contains("&lt;script&gt;alert(1)") && !list.contains("<script>alert(1)"));
    assert!(list.contains("(you)"));
    // They can sign in with the initial password, as a technician.
    let nina = app.login("nina@example.com").await;
    let me = body(nina.get(app.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(me["role"], "technician");
    // The audit log names the owner.
    let actor: String = app
        .state
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT actor FROM audit_log WHERE entity = 'user' AND action = 'create'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(actor, "owner@example.com");

    // The same e-mail again: 409 with the field marked.
    let r = post(&t.owner, &app, "/admin/users", &ok).await;
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"err-email\"") && html.contains("already used"),
        "{html}"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM users").await, before + 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivating_a_user_ends_their_sessions_and_refuses_their_tokens() {
    let app = TestApp::start().await;
    let t = team(&app).await;
    let bearer = app.token("tech@example.com", "phone").await;
    let with_token = |path: &str| client().get(app.url(path)).bearer_auth(&bearer).send();
    assert_eq!(with_token("/api/v1/me").await.unwrap().status(), 200);
    assert_eq!(
        t.tech
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (_, list) = get(&t.owner, &app, "/admin/users").await;
    assert!(list.contains("data-email=\"tech@example.com\""));
    assert!(!list.contains(">Never<"), "everyone here has signed in");

    let token = csrf(&t.owner, &app).await;
    let path = format!("/admin/users/{}/active", t.tech_id);
    let r = post(
        &t.owner,
        &app,
        &path,
        &[
            ("_csrf", &token),
            ("active", "false"),
            ("back", "/admin/users"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin/users");
    // Their session, their token and their password no longer work.
    assert_eq!(
        t.tech
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let r = t
        .tech
        .get(app.url("/account/password"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login"));
    assert_eq!(with_token("/api/v1/me").await.unwrap().status(), 401);
    let r = client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "tech@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (_, list) = get(&t.owner, &app, "/admin/users").await;
    assert!(list.contains("Deactivated"));
    assert!(list.contains("data-testid=\"reactivate-user\""));
    // The tokens page says why the token is dead.
    let (_, tokens) = get(&t.owner, &app, "/admin/tokens").await;
    assert!(tokens.contains("user deactivated"), "{tokens}");

    // Reactivated: the token works again, the old session stays ended.
    let r = post(
        &t.owner,
        &app,
        &path,
        &[("_csrf", &token), ("active", "true")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(with_token("/api/v1/me").await.unwrap().status(), 200);
    assert_eq!(
        t.tech
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let again = app.login("tech@example.com").await;
    assert_eq!(
        again
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The owner cannot lock themself out: 409, still active and signed in.
    let own = format!("/admin/users/{}/active", t.owner_id);
    let r = post(
        &t.owner,
        &app,
        &own,
        &[("_csrf", &token), ("active", "false")],
    )
    .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("your own account"));
    let own_page = format!("/admin/users/{}", t.owner_id);
    let r = post(
        &t.owner,
        &app,
        &own_page,
        &[("_csrf", &token), ("name", "Me"), ("role", "office")],
    )
    .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("your own role"));
    assert_eq!(get(&t.owner, &app, "/admin/users").await.0, 200);
    // Bad values are 400 pages; unknown ids 404.
    let r = post(
        &t.owner,
        &app,
        &path,
        &[("_csrf", &token), ("active", "maybe")],
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = post(
        &t.owner,
        &app,
        "/admin/users/not-a-uuid/active",
        &[("_csrf", &token), ("active", "false")],
    )
    .await;
    assert_eq!(r.status(), 404);
    let unknown = "/admin/users/01890000-0000-7000-8000-000000000000";
    assert_eq!(get(&t.owner, &app, unknown).await.0, 404);

    // Rename and change role on the user's page; a bad role is a 400.
    let tech_page = format!("/admin/users/{}", t.tech_id);
    let r = post(
        &t.owner,
        &app,
        &tech_page,
        &[("_csrf", &token), ("name", "Tess Tech"), ("role", "wizard")],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("id=\"err-role\""));
    let r = post(
        &t.owner,
        &app,
        &tech_page,
        &[("_csrf", &token), ("name", "Tess Tech"), ("role", "office")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let me = body(again.get(app.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("Tess Tech"), Some("office"))
    );

    // Reset their password: sessions end, the new password works.
    let reset = format!("/admin/users/{}/password", t.tech_id);
    let r = post(
        &t.owner,
        &app,
        &reset,
        &[
            ("_csrf", &token),
            ("password", "short"),
            ("password_confirm", "short"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("id=\"err-reset-password\"")
    );
    let new_password = "a brand new passphrase";
    let r = post(
        &t.owner,
        &app,
        &reset,
        &[
            ("_csrf", &token),
            ("password", new_password),
            ("password_confirm", new_password),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        again
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let fresh = login_client(&app.base, "tech@example.com", new_password).await;
    assert_eq!(
        fresh
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Not for yourself (that is /account/password, which asks for the current one).
    let mine = format!("/admin/users/{}/password", t.owner_id);
    let r = post(
        &t.owner,
        &app,
        &mine,
        &[
            ("_csrf", &token),
            ("password", new_password),
            ("password_confirm", new_password),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_everyone_else_keeps_the_owner_here() {
    let app = TestApp::start().await;
    let t = team(&app).await;
    let other_device = app.login("owner@example.com").await;
    let token = csrf(&t.owner, &app).await;
    let (status, html) = get(&t.owner, &app, "/admin/sessions").await;
    assert_eq!(status, 200);
    assert_eq!(html.matches("data-testid=\"session-row\"").count(), 4);
    assert_eq!(html.matches("This device").count(), 1);
    let rows = csv_rows(&t.owner, &app, "/admin/sessions?format=csv").await;
    assert_eq!(rows[0][..3], ["session_id", "user_id", "email"]);
    assert_eq!(rows.len(), 5);

    // End one session (the office user's).
    let sessions = body(
        t.owner
            .get(app.url("/api/v1/sessions"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let office_session = sessions["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["email"] == "office@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(
        &t.owner,
        &app,
        &format!("/admin/sessions/{office_session}/revoke"),
        &[("_csrf", &token)],
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, "/admin/sessions".into())
    );
    assert_eq!(
        t.office
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // Again: it is gone.
    let r = post(
        &t.owner,
        &app,
        &format!("/admin/sessions/{office_session}/revoke"),
        &[("_csrf", &token)],
    )
    .await;
    assert_eq!(r.status(), 404);

    // Everyone else: the technician and the owner's other device.
    let r = post(
        &t.owner,
        &app,
        "/admin/sessions/revoke-all",
        &[("_csrf", &token)],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        t.tech
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        other_device
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        t.owner
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, html) = get(&t.owner, &app, "/admin/sessions").await;
    assert_eq!(status, 200);
    assert!(html.contains("Signed out 2 other session(s)"), "{html}");
    assert_eq!(html.matches("data-testid=\"session-row\"").count(), 1);
    // Without the CSRF token nothing happens.
    let again = app.login("tech@example.com").await;
    let r = post(&t.owner, &app, "/admin/sessions/revoke-all", &[]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        again
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Ending your own session signs you out.
    let sessions = body(
        t.owner
            .get(app.url("/api/v1/sessions"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mine = sessions["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["email"] == "owner@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(
        &t.owner,
        &app,
        &format!("/admin/sessions/{mine}/revoke"),
        &[("_csrf", &token)],
    )
    .await;
    assert_eq!(location(&r), "/login");
    assert_eq!(
        t.owner
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_token_is_shown_once_and_works_as_a_bearer_token() {
    let app = TestApp::start().await;
    let t = team(&app).await;
    let token = csrf(&t.owner, &app).await;
    let r = post(
        &t.owner,
        &app,
        "/admin/tokens",
        &[("_csrf", &token), ("name", "accounting <export>")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(html.contains("data-testid=\"new-token\""), "{html}");
    assert!(html.contains("accounting &lt;export&gt;"));
    let at = html.find("value=\"qt_").expect("the token is on the page") + "value=\"".len();
    let secret = html[at..at + html[at..].find('"').unwrap()].to_string();
    assert!(secret.len() > 20, "{secret}");

    // It works as a bearer token, as the owner.
    let me = body(
        client()
            .get(app.url("/api/v1/me"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (me["email"].as_str(), me["authMethod"].as_str()),
        (Some("owner@example.com"), Some("token"))
    );
    // Shown once: the list shows it but never its secret again.
    let (_, list) = get(&t.owner, &app, "/admin/tokens").await;
    assert!(list.contains("accounting &lt;export&gt;"));
    assert!(!list.contains(&secret) && !list.contains("data-testid=\"new-token\""));
    let rows = csv_rows(&t.owner, &app, "/admin/tokens?format=csv").await;
    assert_eq!(
        rows[0],
        [
            "token_id",
            "name",
            "user_id",
            "user_email",
            "created_at",
            "last_used_at"
        ]
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][1], "accounting <export>");
    assert_eq!(rows[1][3], "owner@example.com");
    assert!(!rows[1][5].is_empty(), "last used is recorded");
    assert!(!rows.concat().contains(&secret));

    // The same name again: 409; no name: 400; a token for the office user.
    let r = post(
        &t.owner,
        &app,
        "/admin/tokens",
        &[("_csrf", &token), ("name", "accounting <export>")],
    )
    .await;
    assert_eq!(r.status(), 409);
    let r = post(
        &t.owner,
        &app,
        "/admin/tokens",
        &[("_csrf", &token), ("name", "  ")],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("id=\"err-token-name\""));
    let r = post(
        &t.owner,
        &app,
        "/admin/tokens",
        &[("_csrf", &token), ("name", "x"), ("user_id", "nobody")],
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = post(
        &t.owner,
        &app,
        "/admin/tokens",
        &[
            ("_csrf", &token),
            ("name", "desk"),
            ("user_id", &t.office_id),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let at = html.find("value=\"qt_").unwrap() + "value=\"".len();
    let office_secret = html[at..at + html[at..].find('"').unwrap()].to_string();
    let me = body(
        client()
            .get(app.url("/api/v1/me"))
            .bearer_auth(&office_secret)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me["email"], "office@example.com");
    // No CSRF token: no token.
    let r = post(&t.owner, &app, "/admin/tokens", &[("name", "sneaky")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(count(&app, "SELECT count(*) FROM api_tokens").await, 2);

    // Revoked: refused at once.
    let tokens = body(t.owner.get(app.url("/api/v1/tokens")).send().await.unwrap()).await;
    let id = tokens["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "accounting <export>")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(
        &t.owner,
        &app,
        &format!("/admin/tokens/{id}/revoke"),
        &[("_csrf", &token)],
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, "/admin/tokens".into())
    );
    let r = client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_api_creates_lists_and_changes_users() {
    let app = TestApp::start().await;
    let t = team(&app).await;
    let owner = &t.owner;
    let r = owner
        .post(app.url("/api/v1/users"))
        .json(&json!({"email": "Pat@Example.com", "name": "Pat", "role": "office", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let pat = body(r).await;
    assert_eq!(
        (
            pat["email"].as_str(),
            pat["role"].as_str(),
            pat["active"].as_bool()
        ),
        (Some("pat@example.com"), Some("office"), Some(true))
    );
    let pat_id = pat["id"].as_str().unwrap().to_string();
    // Bad input: every field named; unknown fields and roles refused.
    let r = owner
        .post(app.url("/api/v1/users"))
        .json(&json!({"email": "nope", "role": "technician", "password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e = body(r).await;
    assert!(
        e["error"]["fields"]["email"].is_string() && e["error"]["fields"]["password"].is_string(),
        "{e}"
    );
    for bad in [
        json!({"email": "a@example.com", "role": "king", "password": PASSWORD}),
        json!({"email": "a@example.com", "role": "office", "password": PASSWORD, "admin": true}),
        json!({"email": "a@example.com", "password": PASSWORD}),
    ] {
        let r = owner
            .post(app.url("/api/v1/users"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    let r = owner
        .post(app.url("/api/v1/users"))
        .json(&json!({"email": "pat@example.com", "role": "office", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    // The list: active owners first, with activity.
    let list = body(
        owner
            .get(app.url("/api/v1/users?limit=2"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["pagination"]["total"], 4);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert_eq!(list["data"][0]["email"], "owner@example.com");
    assert!(list["data"][0]["lastSeenAt"].is_string());
    assert!(list["data"][0]["liveSessions"].as_i64().unwrap() >= 1);
    let r = owner
        .get(app.url("/api/v1/users?limit=500"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = owner
        .get(app.url("/api/v1/users?sort=name"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // PATCH: name, role, active; password.
    let patch = |id: &str, v: Value| {
        owner
            .patch(app.url(&format!("/api/v1/users/{id}")))
            .json(&v)
            .send()
    };
    let r = patch(&pat_id, json!({"name": "Pat Office", "role": "owner"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let p = body(r).await;
    assert_eq!(
        (p["name"].as_str(), p["role"].as_str()),
        (Some("Pat Office"), Some("owner"))
    );
    let r = patch(&pat_id, json!({"active": false})).await.unwrap();
    assert_eq!(body(r).await["active"], false);
    let r = patch(&pat_id, json!({"password": "short"})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = patch(&pat_id, json!({"role": "boss"})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = patch(&pat_id, json!({"colour": "red"})).await.unwrap();
    assert_eq!(r.status(), 400);
    // 409: yourself, and the last active owner.
    let r = patch(&t.owner_id, json!({"active": false})).await.unwrap();
    assert_eq!(r.status(), 409);
    let r = patch(&t.owner_id, json!({"role": "office"})).await.unwrap();
    assert_eq!(r.status(), 409);
    // 404s.
    assert_eq!(
        patch(
            "01890000-0000-7000-8000-000000000000",
            json!({"active": true})
        )
        .await
        .unwrap()
        .status(),
        404
    );
    assert_eq!(
        patch("nope", json!({"active": true}))
            .await
            .unwrap()
            .status(),
        404
    );
    // With Pat active again as a second owner, Pat may demote the first owner.
    assert_eq!(
        patch(&pat_id, json!({"active": true}))
            .await
            .unwrap()
            .status(),
        200
    );
    let pat_client = app.login("pat@example.com").await;
    let r = pat_client
        .patch(app.url(&format!("/api/v1/users/{}", t.owner_id)))
        .json(&json!({"role": "office"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // ... and now Pat is the last owner and cannot be demoted by anyone.
    let r = pat_client
        .patch(app.url(&format!("/api/v1/users/{pat_id}")))
        .json(&json!({"role": "office"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    // The former owner's session now carries the office role: no more /admin.
    assert_eq!(get(owner, &app, "/admin/users").await.0, 403);
    let audit = count(&app, "SELECT count(*) FROM audit_log WHERE entity = 'user'").await;
    assert_eq!(audit, 5, "create + 3 updates by the owner + 1 by Pat");
    // The office user's API token stays valid through all of this.
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_and_insights_render_with_no_data() {
    let app = TestApp::start().await;
    let t = team(&app).await;
    let (status, html) = get(&t.owner, &app, "/dashboard").await;
    assert_eq!(status, 200);
    for id in [
        "total-revenue",
        "jobs-completed",
        "profit-margin",
        "efficiency",
        "revenue-chart",
        "jobs-chart",
        "margin-chart",
    ] {
        assert!(html.contains(&format!("data-testid=\"{id}\"")), "{id}");
    }
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 3);
    assert_eq!(html.matches("role=\"img\"").count(), 3);
    assert!(!html.contains("<rect class=\"bar"), "no bars without data");
    assert!(html.contains("No completed jobs in this range"));
    assert!(
        html.contains("aria-current=\"true\">Last 30 days"),
        "the default preset is marked"
    );
    assert!(!html.contains("style="), "no inline styles under the CSP");
    for q in [
        "?range=year",
        "?range=12m",
        "?range=30d",
        "?from=2020-01-01&to=2020-12-31",
    ] {
        let (status, html) = get(&t.office, &app, &format!("/dashboard{q}")).await;
        assert_eq!(status, 200, "{q}");
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 3, "{q}");
    }
    let (_, html) = get(&t.owner, &app, "/dashboard?from=2020-01-01&to=2020-12-31").await;
    assert_eq!(
        html.matches("<tr><th scope=\"row\">").count(),
        12 + 5,
        "12 months and 5 statuses"
    );
    assert!(
        html.contains(
            "/dashboard?from=2020-01-01&amp;to=2020-12-31&amp;format=csv&amp;table=months"
        )
    );
    assert_eq!(get(&t.owner, &app, "/dashboard?range=week").await.0, 400);
    assert_eq!(
        get(&t.owner, &app, "/dashboard?from=2020-02-30").await.0,
        400
    );
    assert_eq!(
        get(&t.owner, &app, "/dashboard?format=csv&table=nope")
            .await
            .0,
        400
    );
    let rows = csv_rows(
        &t.owner,
        &app,
        "/dashboard?from=2020-01-01&to=2020-12-31&format=csv&table=months",
    )
    .await;
    assert_eq!(rows.len(), 13);
    assert_eq!(rows[1], ["2020-01", "0.00", "0.00", "0.00", "0"]);

    // A customer whose name is a script is shown inert on the insights page.
    let r = t
        .owner
        .post(app.url("/api/v1/customers"))
        .json(&json!({"name": "<script>alert(1)</script>"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (status, html) = get(&t.owner, &app, "/business-intelligence").await;
    assert_eq!(status, 200);
    for id in [
        "ai-insights",
        "profitability-analysis",
        "equipment-utilization",
        "employee-performance",
        "ai-recommendations",
    ] {
        assert!(html.contains(&format!("data-testid=\"{id}\"")), "{id}");
    }
    assert!(html.matches("data-testid=\"recommendation-item\"").count() >= 1);
    assert!(
        html.contains("Record more completed jobs"),
        "with little data it says what to record"
    );
    assert!(html.contains("What to do:"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;") && !html.contains("<script>alert(1)"));
    let rows = csv_rows(
        &t.owner,
        &app,
        "/business-intelligence?format=csv&table=customers",
    )
    .await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][1], "<script>alert(1)</script>");
    assert_eq!(
        get(&t.owner, &app, "/business-intelligence?format=csv&table=x")
            .await
            .0,
        400
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_insights_and_exports_on_the_demo_business() {
    let app = TestApp::start().await;
    let mut config = test_config(app.dir.path());
    quant::demo::apply_business(&mut config);
    let clock: quant::clock::SharedClock = app.clock.clone();
    let seeded = quant::demo::seed_if_empty(&app.state.db, &clock, &config)
        .await
        .unwrap()
        .unwrap();
    let owner_login = seeded
        .logins
        .iter()
        .find(|l| l.role == Role::Owner)
        .unwrap();
    let owner = login_client(&app.base, &owner_login.email, quant::demo::DEMO_PASSWORD).await;

    let (status, html) = get(&owner, &app, "/dashboard?range=12m").await;
    assert_eq!(status, 200);
    let revenue = &html[html.find("data-testid=\"revenue-chart\"").unwrap()..];
    let revenue = &revenue[..revenue.find("</svg>").unwrap()];
    assert!(
        revenue.matches("<rect class=\"bar\"").count() >= 10,
        "revenue bars"
    );
    assert!(
        revenue.matches("<rect class=\"bar cost\"").count() >= 10,
        "cost bars"
    );
    let status_chart = &html[html.find("data-testid=\"jobs-chart\"").unwrap()..];
    assert!(
        status_chart[..status_chart.find("</svg>").unwrap()]
            .contains("<rect class=\"bar s-completed\"")
    );
    let margin = &html[html.find("data-testid=\"margin-chart\"").unwrap()..];
    assert!(
        margin[..margin.find("</svg>").unwrap()]
            .matches("<rect class=\"bar")
            .count()
            >= 3
    );
    // The table fallback has the same months as the chart.
    let months = csv_rows(&owner, &app, "/dashboard?range=12m&format=csv&table=months").await;
    assert_eq!(months.len(), 13);
    assert_eq!(months[0], ["month", "revenue", "cost", "profit", "jobs"]);
    let total: f64 = months[1..]
        .iter()
        .map(|r| r[1].parse::<f64>().unwrap())
        .sum();
    assert!(total > 1000.0, "the demo has revenue: {total}");
    let services = csv_rows(
        &owner,
        &app,
        "/dashboard?range=12m&format=csv&table=services",
    )
    .await;
    assert!(services.len() > 3);
    let status = csv_rows(&owner, &app, "/dashboard?range=12m&format=csv&table=status").await;
    assert_eq!(status.len(), 6);

    let (status, html) = get(&owner, &app, "/business-intelligence").await;
    assert_eq!(status, 200);
    assert!(html.matches("data-testid=\"recommendation-item\"").count() >= 1);
    assert!(html.contains("Page 1 of 80"), "2000 customers, 25 a page");
    assert!(html.contains("<meter"));
    let (status, page2) = get(&owner, &app, "/business-intelligence?page=2").await;
    assert_eq!(status, 200);
    assert!(page2.contains("Page 2 of 80"));
    assert_eq!(
        get(&owner, &app, "/business-intelligence?page=0").await.0,
        400
    );
    let customers = csv_rows(
        &owner,
        &app,
        "/business-intelligence?format=csv&table=customers",
    )
    .await;
    assert_eq!(customers.len(), 2001);
    let ltv: Vec<f64> = customers[1..]
        .iter()
        .map(|r| r[4].parse().unwrap())
        .collect();
    assert!(ltv.windows(2).all(|w| w[0] >= w[1]), "by lifetime value");
    let equipment = csv_rows(
        &owner,
        &app,
        "/business-intelligence?format=csv&table=equipment",
    )
    .await;
    assert_eq!(equipment.len(), 41);
    assert!(
        equipment[1..]
            .iter()
            .all(|r| (0.0..=100.0).contains(&r[7].parse::<f64>().unwrap()))
    );
    let employees = csv_rows(
        &owner,
        &app,
        "/business-intelligence?format=csv&table=employees",
    )
    .await;
    assert!(employees.len() > 8);
    assert!(
        employees[1..]
            .iter()
            .all(|r| (0.0..=100.0).contains(&r[10].parse::<f64>().unwrap()))
    );
    let recs = csv_rows(
        &owner,
        &app,
        "/business-intelligence?format=csv&table=recommendations",
    )
    .await;
    assert!(recs.len() >= 2);
    assert!(
        recs[1..]
            .iter()
            .all(|r| !r[3].is_empty() && !r[4].is_empty()),
        "why and what to do"
    );

    let users = csv_rows(&owner, &app, "/admin/users?format=csv").await;
    assert_eq!(users.len(), 1 + seeded.logins.len());
    assert_eq!(users[0][..4], ["user_id", "name", "email", "role"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_setup_the_owner_reaches_a_working_dashboard() {
    let app = TestApp::start().await;
    let url = app
        .setup_url
        .clone()
        .expect("a fresh app prints a setup link");
    let token = url.split_once("token=").unwrap().1.to_string();
    let c = cookie_client();
    let r = c
        .post(app.url("/setup"))
        .form(&[
            ("token", token.as_str()),
            ("name", "Olive Owner"),
            ("email", "olive@example.com"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("href=\"/dashboard\""), "{html}");
    // Following the link: the dashboard with its figures and empty charts.
    let r = c.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Total Revenue: $0"), "{html}");
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 3);
    assert!(html.contains("Users &amp; access"));
    // The root sends them there too, and the users page lists them as "you".
    let r = c.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/dashboard");
    let r = c.get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("olive@example.com") && html.contains("(you)"));
    assert!(
        !html.contains("data-testid=\"deactivate-user\""),
        "no way to lock yourself out"
    );
    app.stop().await;
}
