//! Authentication over real HTTP: login, logout, sessions, API tokens,
//! password reset and the first-run setup link.

mod common;
use common::*;

use quant::clock::Clock;
use quant::domain::user::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

const OWNER: &str = "owner@example.com";
const OFFICE: &str = "office@example.com";
const TECH: &str = "tech@example.com";

async fn body(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"))
}

/// POSTs a login with a plain client (no cookie jar).
async fn login_raw(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

/// The `quant_session` Set-Cookie header of a response.
fn set_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("quant_session="))
        .map(str::to_string)
}

/// The CSRF token that goes with a `quant_session=…` cookie pair.
fn csrf_of(cookie: &str) -> String {
    quant::http::csrf::for_session(cookie.split_once('=').map(|(_, v)| v).unwrap_or(""))
}

/// The `name=value` part of a Set-Cookie header, to send back as `Cookie`.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().trim().to_string()
}

/// Logs in with a plain client; returns the `Cookie` header value and the body.
async fn login_cookie(app: &TestApp, email: &str) -> (String, Value) {
    let r = login_raw(app, email, PASSWORD).await;
    assert_eq!(r.status(), 200, "login as {email}");
    let c = cookie_pair(&set_cookie(&r).expect("session cookie set"));
    (c, body(r).await)
}

async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    client()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn me_status_cookie(app: &TestApp, cookie: &str) -> StatusCode {
    get_with_cookie(app, "/api/v1/me", cookie).await.status()
}

async fn me_status_bearer(app: &TestApp, token: &str) -> StatusCode {
    client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

fn assert_error(v: &Value, code: &str) {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
}

async fn owner_exists(app: &TestApp) -> bool {
    app.state
        .db
        .read(quant::db::auth::owner_exists)
        .await
        .unwrap()
}

// ---------------------------------------------------------------- login

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_session_cookie_and_me_reports_session() {
    let app = TestApp::start().await;
    let u = app.user(OWNER, Role::Owner).await;
    // E-mail matching is case-insensitive and trims.
    let r = login_raw(&app, "  Owner@Example.COM ", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let sc = set_cookie(&r).expect("quant_session cookie");
    let lower = sc.to_ascii_lowercase();
    assert!(lower.contains("httponly"), "{sc}");
    assert!(lower.contains("samesite=lax"), "{sc}");
    assert!(lower.contains("path=/"), "{sc}");
    let ttl_secs = app.state.config().auth.session_ttl.as_secs();
    assert!(lower.contains(&format!("max-age={ttl_secs}")), "{sc}");
    assert_eq!(
        r.headers().get("cache-control").unwrap(),
        "no-store",
        "login response must not be cached"
    );
    let cookie = cookie_pair(&sc);
    let v = body(r).await;
    assert_eq!(v["user"]["email"], OWNER);
    assert_eq!(v["user"]["role"], "owner");
    assert_eq!(v["user"]["id"], u.id.as_str());
    assert!(v["user"].get("passwordHash").is_none(), "hash leaked: {v}");
    let sid = v["sessionId"].as_str().expect("sessionId");
    assert!(quant::domain::ids::parse_id(sid).is_some(), "{sid}");
    let expires = quant::clock::parse_ts(v["expiresAt"].as_str().expect("expiresAt")).unwrap();
    let ttl = app.state.config().auth.session_ttl;
    let want = app.clock.now() + chrono::Duration::from_std(ttl).unwrap();
    assert!(
        (expires - want).num_seconds().abs() <= 1,
        "{expires} vs {want}"
    );

    let r = get_with_cookie(&app, "/api/v1/me", &cookie).await;
    assert_eq!(r.status(), 200);
    let me = body(r).await;
    assert_eq!(me["email"], OWNER);
    assert_eq!(me["role"], "owner");
    assert_eq!(me["authMethod"], "session");

    // The cookie-keeping client from the harness works the same way.
    let c = app.login(OWNER).await;
    let me = body(c.get(app.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(me["authMethod"], "session");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    let r = login_raw(&app, OWNER, "not the right password").await;
    assert_eq!(r.status(), 401);
    assert!(set_cookie(&r).is_none(), "no cookie on a failed login");
    let wrong = body(r).await;
    assert_error(&wrong, "unauthorized");

    let r = login_raw(&app, "nobody@example.com", PASSWORD).await;
    assert_eq!(r.status(), 401);
    let unknown = body(r).await;
    assert_error(&unknown, "unauthorized");
    assert_eq!(
        wrong["error"]["message"], unknown["error"]["message"],
        "the message must not reveal whether the account exists"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivated_user_cannot_log_in_or_use_old_credentials() {
    let app = TestApp::start().await;
    let u = app.user(OFFICE, Role::Office).await;
    let (cookie, _) = login_cookie(&app, OFFICE).await;
    let token = app.token(OFFICE, "script").await;
    assert_eq!(me_status_cookie(&app, &cookie).await, 200);
    assert_eq!(me_status_bearer(&app, &token).await, 200);

    let id = u.id.clone();
    app.state
        .db
        .write(move |c| {
            c.execute("UPDATE users SET active = 0 WHERE id = ?1", [&id])?;
            Ok(())
        })
        .await
        .unwrap();

    let r = login_raw(&app, OFFICE, PASSWORD).await;
    assert_eq!(r.status(), 401);
    let v = body(r).await;
    assert_error(&v, "unauthorized");
    let unknown = body(login_raw(&app, "nobody@example.com", PASSWORD).await).await;
    assert_eq!(v["error"]["message"], unknown["error"]["message"]);
    // Existing credentials of a deactivated user stop working too.
    assert_eq!(me_status_cookie(&app, &cookie).await, 401);
    assert_eq!(me_status_bearer(&app, &token).await, 401);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_email_is_a_400_naming_the_field() {
    let app = TestApp::start().await;
    for bad in ["not-an-email", "", "a b@example.com", "ann@localhost"] {
        let r = login_raw(&app, bad, PASSWORD).await;
        assert_eq!(r.status(), 400, "{bad:?}");
        let v = body(r).await;
        assert_error(&v, "validation_failed");
        assert!(v["error"]["fields"]["email"].is_string(), "{bad:?}: {v}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session() {
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    let (cookie, _) = login_cookie(&app, OWNER).await;
    assert_eq!(me_status_cookie(&app, &cookie).await, 200);
    let r = client()
        .post(app.url("/api/v1/auth/logout"))
        .header("cookie", &cookie)
        .header("x-csrf-token", csrf_of(cookie.as_ref()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // The response clears the cookie in the browser…
    let cleared = set_cookie(&r).expect("logout clears the cookie");
    assert!(cleared.starts_with("quant_session=;"), "{cleared}");
    // …and the old cookie value is dead on the server even if replayed.
    let r = get_with_cookie(&app, "/api/v1/me", &cookie).await;
    assert_eq!(r.status(), 401);
    assert_error(&body(r).await, "unauthorized");
    // Logging out again with the dead cookie is a 401, not a 500.
    let r = client()
        .post(app.url("/api/v1/auth/logout"))
        .header("cookie", &cookie)
        .header("x-csrf-token", csrf_of(cookie.as_ref()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Same flow with the cookie-keeping client.
    let c = app.login(OWNER).await;
    let r = c.post(app.url("/api/v1/auth/logout")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = c.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}

// ---------------------------------------------------------------- sessions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_with_pagination() {
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    app.user(OFFICE, Role::Office).await;
    let (owner, first) = login_cookie(&app, OWNER).await;
    login_cookie(&app, OWNER).await;
    let (office, office_login) = login_cookie(&app, OFFICE).await;

    // Default page.
    let r = get_with_cookie(&app, "/api/v1/sessions", &owner).await;
    assert_eq!(r.status(), 200);
    let v = body(r).await;
    assert_eq!(
        v["pagination"],
        json!({"page": 1, "limit": 20, "total": 3, "totalPages": 1, "hasNext": false, "hasPrevious": false})
    );
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    let s = data
        .iter()
        .find(|s| s["id"] == first["sessionId"])
        .expect("own session listed");
    assert_eq!(s["email"], OWNER);
    assert_eq!(s["ip"], "127.0.0.1");
    for k in ["userId", "createdAt", "lastSeenAt", "expiresAt"] {
        assert!(s[k].is_string(), "{k}: {s}");
    }
    assert!(
        !v.to_string().contains("qs_"),
        "session tokens must never be listed"
    );

    // Pages of two.
    let v = body(get_with_cookie(&app, "/api/v1/sessions?limit=2", &owner).await).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["pagination"],
        json!({"page": 1, "limit": 2, "total": 3, "totalPages": 2, "hasNext": true, "hasPrevious": false})
    );
    let page1: Vec<Value> = v["data"].as_array().unwrap().clone();
    let v = body(get_with_cookie(&app, "/api/v1/sessions?limit=2&page=2", &owner).await).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    // The pages are disjoint and together list every session.
    let mut ids: Vec<&str> = page1
        .iter()
        .chain(v["data"].as_array().unwrap())
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(
        v["pagination"],
        json!({"page": 2, "limit": 2, "total": 3, "totalPages": 2, "hasNext": false, "hasPrevious": true})
    );
    // Past the end: empty page, still well-formed.
    let v = body(get_with_cookie(&app, "/api/v1/sessions?limit=2&page=5", &owner).await).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 0);
    assert_eq!(v["pagination"]["hasNext"], false);
    assert_eq!(v["pagination"]["hasPrevious"], true);

    // A non-owner sees only their own sessions.
    let v = body(get_with_cookie(&app, "/api/v1/sessions", &office).await).await;
    assert_eq!(v["pagination"]["total"], 1);
    assert_eq!(v["data"][0]["id"], office_login["sessionId"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_parameters_and_session_ids_are_validated() {
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    let (owner, _) = login_cookie(&app, OWNER).await;
    for (q, field) in [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("page=0", "page"),
        ("page=-1", "page"),
    ] {
        let r = get_with_cookie(&app, &format!("/api/v1/sessions?{q}"), &owner).await;
        assert_eq!(r.status(), 400, "{q}");
        let v = body(r).await;
        assert!(v["error"]["fields"][field].is_string(), "{q}: {v}");
    }
    let r = get_with_cookie(&app, "/api/v1/sessions?limit=100", &owner).await;
    assert_eq!(r.status(), 200);

    let del = |id: &str| {
        client()
            .delete(app.url(&format!("/api/v1/sessions/{id}")))
            .header("cookie", &owner)
            .header("x-csrf-token", csrf_of(owner.as_ref()))
            .send()
    };
    let r = del("not-a-uuid").await.unwrap();
    assert_eq!(r.status(), 404);
    assert_error(&body(r).await, "not_found");
    let r = del("01890a5d-ac96-774b-bcce-b302099a8057").await.unwrap();
    assert_eq!(r.status(), 404);
    assert_error(&body(r).await, "not_found");
    assert_eq!(me_status_cookie(&app, &owner).await, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_can_be_revoked_by_id() {
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    let (a, _) = login_cookie(&app, OWNER).await;
    let (b, b_login) = login_cookie(&app, OWNER).await;
    let sid = b_login["sessionId"].as_str().unwrap();
    let r = client()
        .delete(app.url(&format!("/api/v1/sessions/{sid}")))
        .header("cookie", &a)
        .header("x-csrf-token", csrf_of(a.as_ref()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(me_status_cookie(&app, &b).await, 401);
    assert_eq!(me_status_cookie(&app, &a).await, 200);
    // It is gone from the list, and revoking it again is a 404.
    let v = body(get_with_cookie(&app, "/api/v1/sessions", &a).await).await;
    assert_eq!(v["pagination"]["total"], 1);
    assert!(v["data"].as_array().unwrap().iter().all(|s| s["id"] != sid));
    let r = client()
        .delete(app.url(&format!("/api/v1/sessions/{sid}")))
        .header("cookie", &a)
        .header("x-csrf-token", csrf_of(a.as_ref()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_owner_cannot_revoke_another_users_session() {
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    app.user(OFFICE, Role::Office).await;
    app.user(TECH, Role::Technician).await;
    let (owner, owner_login) = login_cookie(&app, OWNER).await;
    let (office, office_login) = login_cookie(&app, OFFICE).await;
    let (tech, _) = login_cookie(&app, TECH).await;
    let owner_sid = owner_login["sessionId"].as_str().unwrap();
    let office_sid = office_login["sessionId"].as_str().unwrap();

    for who in [&office, &tech] {
        let r = client()
            .delete(app.url(&format!("/api/v1/sessions/{owner_sid}")))
            .header("cookie", who)
            .header("x-csrf-token", csrf_of(who.as_ref()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        assert_error(&body(r).await, "not_found");
    }
    let r = client()
        .delete(app.url(&format!("/api/v1/sessions/{office_sid}")))
        .header("cookie", &tech)
        .header("x-csrf-token", csrf_of(tech.as_ref()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(me_status_cookie(&app, &owner).await, 200);
    assert_eq!(me_status_cookie(&app, &office).await, 200);

    // The owner may revoke anyone's.
    let r = client()
        .delete(app.url(&format!("/api/v1/sessions/{office_sid}")))
        .header("cookie", &owner)
        .header("x-csrf-token", csrf_of(owner.as_ref()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(me_status_cookie(&app, &office).await, 401);
    assert_eq!(me_status_cookie(&app, &tech).await, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_all_by_a_non_owner_only_touches_their_own_sessions() {
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    app.user(TECH, Role::Technician).await;
    let (owner, _) = login_cookie(&app, OWNER).await;
    let (t1, _) = login_cookie(&app, TECH).await;
    let (t2, _) = login_cookie(&app, TECH).await;
    let r = client()
        .post(app.url("/api/v1/sessions/revoke-all"))
        .header("cookie", &t1)
        .header("x-csrf-token", csrf_of(t1.as_ref()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["revoked"], 2);
    assert_eq!(me_status_cookie(&app, &t1).await, 401);
    assert_eq!(me_status_cookie(&app, &t2).await, 401);
    assert_eq!(me_status_cookie(&app, &owner).await, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_all_by_the_owner_logs_everyone_out() {
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    app.user(OFFICE, Role::Office).await;
    app.user(TECH, Role::Technician).await;
    let (owner, _) = login_cookie(&app, OWNER).await;
    let office = app.login(OFFICE).await;
    let tech = app.login(TECH).await;
    let token = app.token(OWNER, "ci").await;
    let r = client()
        .post(app.url("/api/v1/sessions/revoke-all"))
        .header("cookie", &owner)
        .header("x-csrf-token", csrf_of(owner.as_ref()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["revoked"], 3);
    assert_eq!(me_status_cookie(&app, &owner).await, 401);
    for c in [&office, &tech] {
        let r = c.get(app.url("/api/v1/me")).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    // API tokens are not sessions: they keep working.
    assert_eq!(me_status_bearer(&app, &token).await, 200);
    let v = body(
        client()
            .get(app.url("/api/v1/sessions"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["pagination"]["total"], 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_after_the_ttl() {
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    let (cookie, _) = login_cookie(&app, OWNER).await;
    let ttl = chrono::Duration::from_std(app.state.config().auth.session_ttl).unwrap();
    app.clock.advance(ttl - chrono::Duration::seconds(5));
    assert_eq!(me_status_cookie(&app, &cookie).await, 200);
    app.clock.advance(chrono::Duration::seconds(6));
    let r = get_with_cookie(&app, "/api/v1/me", &cookie).await;
    assert_eq!(r.status(), 401);
    assert_error(&body(r).await, "unauthorized");
    app.stop().await;
}

// ---------------------------------------------------------------- tokens

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_authenticates_and_records_its_use() {
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    let (cookie, _) = login_cookie(&app, OWNER).await;
    let token = app.token(OWNER, "ci").await;

    let v = body(get_with_cookie(&app, "/api/v1/tokens", &cookie).await).await;
    assert_eq!(v["pagination"]["total"], 1);
    assert_eq!(v["data"][0]["name"], "ci");
    assert!(v["data"][0]["lastUsedAt"].is_null(), "{v}");
    assert!(
        !v.to_string().contains(&token),
        "the token itself must never be listed"
    );

    app.clock.advance(chrono::Duration::seconds(30));
    let used_at = app.clock.now();
    let r = client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me = body(r).await;
    assert_eq!(me["email"], OWNER);
    assert_eq!(me["authMethod"], "token");

    let v = body(get_with_cookie(&app, "/api/v1/tokens", &cookie).await).await;
    let last = v["data"][0]["lastUsedAt"].as_str().expect("lastUsedAt set");
    assert_eq!(last, quant::clock::format_ts(used_at));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_created_once_per_name_and_can_be_revoked() {
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    let c = app.login(OWNER).await;
    let r = c
        .post(app.url("/api/v1/tokens"))
        .json(&json!({"name": "backup script"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created = body(r).await;
    assert_eq!(created["name"], "backup script");
    let secret = created["secret"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("qt_"), "{secret}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(quant::domain::ids::parse_id(&id).is_some());

    let me = body(
        client()
            .get(app.url("/api/v1/me"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me["authMethod"], "token");
    assert_eq!(me["email"], OWNER);

    // Same name again → 409.
    let r = c
        .post(app.url("/api/v1/tokens"))
        .json(&json!({"name": "backup script"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_error(&body(r).await, "conflict");
    // A bad name is a validation error.
    let r = c
        .post(app.url("/api/v1/tokens"))
        .json(&json!({"name": "   "}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(body(r).await["error"]["fields"]["name"].is_string());

    // Revoke → 204, then the token is dead, and a second revoke is 404.
    let r = c
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(me_status_bearer(&app, &secret).await, 401);
    let r = c
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .delete(app.url("/api/v1/tokens/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // A revoked name may be reused.
    let r = c
        .post(app.url("/api/v1/tokens"))
        .json(&json!({"name": "backup script"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_staff_manage_only_their_own_tokens() {
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    app.user(OFFICE, Role::Office).await;
    let owner_token = app.token(OWNER, "owner-ci").await;
    let office_token = app.token(OFFICE, "office-ci").await;
    let list = |t: &str| {
        client()
            .get(app.url("/api/v1/tokens"))
            .bearer_auth(t.to_string())
            .send()
    };
    let v = body(list(&office_token).await.unwrap()).await;
    assert_eq!(v["pagination"]["total"], 1);
    assert_eq!(v["data"][0]["name"], "office-ci");
    let v = body(list(&owner_token).await.unwrap()).await;
    assert_eq!(v["pagination"]["total"], 2);
    let owner_tid = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "owner-ci")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = client()
        .delete(app.url(&format!("/api/v1/tokens/{owner_tid}")))
        .bearer_auth(&office_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(me_status_bearer(&app, &owner_token).await, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_bearer_token_does_not_fall_back_to_the_cookie() {
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    let (cookie, _) = login_cookie(&app, OWNER).await;
    assert_eq!(me_status_cookie(&app, &cookie).await, 200);
    for auth in [
        "Bearer qt_definitely-not-a-token",
        "Bearer ",
        "Basic b3duZXI6cGFzc3dvcmQ=",
        "qt_no_scheme",
    ] {
        let r = client()
            .get(app.url("/api/v1/me"))
            .header("cookie", &cookie)
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_error(&body(r).await, "unauthorized");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technicians_may_not_manage_tokens() {
    let app = TestApp::start().await;
    app.user(TECH, Role::Technician).await;
    let c = app.login(TECH).await;
    let r = c.get(app.url("/api/v1/tokens")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_error(&body(r).await, "forbidden");
    let r = c
        .post(app.url("/api/v1/tokens"))
        .json(&json!({"name": "mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_error(&body(r).await, "forbidden");
    // But they can see who they are.
    let r = c.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["role"], "technician");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credentials_is_401_with_www_authenticate() {
    let app = TestApp::start().await;
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/me"),
        (reqwest::Method::GET, "/api/v1/sessions"),
        (reqwest::Method::GET, "/api/v1/tokens"),
        (reqwest::Method::POST, "/api/v1/auth/logout"),
        (reqwest::Method::POST, "/api/v1/sessions/revoke-all"),
    ] {
        let r = client()
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method} {path}");
        let www = r
            .headers()
            .get("www-authenticate")
            .unwrap_or_else(|| panic!("{method} {path}: no WWW-Authenticate"))
            .to_str()
            .unwrap()
            .to_string();
        assert!(www.starts_with("Bearer"), "{www}");
        assert_error(&body(r).await, "unauthorized");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_revokes_the_users_sessions() {
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    app.user(OFFICE, Role::Office).await;
    let (s1, _) = login_cookie(&app, OFFICE).await;
    let (s2, _) = login_cookie(&app, OFFICE).await;
    let (owner, _) = login_cookie(&app, OWNER).await;
    let clock: quant::clock::SharedClock = app.clock.clone();
    let new_password = "a brand new passphrase";
    quant::accounts::reset_password(
        &app.state.db,
        &clock,
        OFFICE,
        new_password.to_string().into(),
        10,
    )
    .await
    .unwrap();
    assert_eq!(me_status_cookie(&app, &s1).await, 401);
    assert_eq!(me_status_cookie(&app, &s2).await, 401);
    // Other users are not affected.
    assert_eq!(me_status_cookie(&app, &owner).await, 200);
    // The old password no longer works; the new one does.
    assert_eq!(login_raw(&app, OFFICE, PASSWORD).await.status(), 401);
    assert_eq!(login_raw(&app, OFFICE, new_password).await.status(), 200);
    app.stop().await;
}

// ---------------------------------------------------------------- setup link

fn setup_token(app: &TestApp) -> String {
    let url = app
        .setup_url
        .as_deref()
        .expect("fresh app has a setup link");
    url.split_once("token=").unwrap().1.to_string()
}

fn setup_form<'a>(
    token: &'a str,
    name: &'a str,
    email: &'a str,
    password: &'a str,
    confirm: &'a str,
) -> [(&'static str, &'a str); 5] {
    [
        ("token", token),
        ("name", name),
        ("email", email),
        ("password", password),
        ("password_confirm", confirm),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_link_creates_the_owner_exactly_once() {
    let app = TestApp::start().await;
    let url = app.setup_url.clone().expect("fresh app has a setup link");
    assert!(url.starts_with(&app.base), "{url} vs {}", app.base);
    let token = setup_token(&app);

    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    for (h, want) in [
        ("cache-control", "no-store"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(
            r.headers().get(h).map(|v| v.to_str().unwrap()),
            Some(want),
            "{h}"
        );
    }
    assert!(
        r.headers()
            .get("content-security-policy")
            .is_some_and(|v| v.to_str().unwrap().contains("frame-ancestors 'none'"))
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("<form"), "{html}");
    assert!(html.contains("name=\"password_confirm\""), "{html}");
    assert!(html.contains(&token), "the form carries the token");
    assert!(!owner_exists(&app).await);

    // Same-origin Origin header is fine.
    let c = cookie_client();
    let r = c
        .post(app.url("/setup"))
        .header("origin", &app.base)
        .form(&setup_form(
            &token,
            "Olive Owner",
            "Olive@Example.com",
            PASSWORD,
            PASSWORD,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sc = set_cookie(&r).expect("setup signs the owner in");
    assert!(sc.to_ascii_lowercase().contains("httponly"), "{sc}");
    let html = r.text().await.unwrap();
    assert!(html.contains("olive@example.com"), "{html}");
    assert!(owner_exists(&app).await);

    let r = c.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let me = body(r).await;
    assert_eq!(me["email"], "olive@example.com");
    assert_eq!(me["name"], "Olive Owner");
    assert_eq!(me["role"], "owner");
    assert_eq!(me["authMethod"], "session");
    // And the password set there works for a normal login.
    assert_eq!(
        login_raw(&app, "olive@example.com", PASSWORD)
            .await
            .status(),
        200
    );

    // The link is spent.
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let html = r.text().await.unwrap();
    assert!(!html.contains("<form"), "{html}");
    let r = client()
        .post(app.url("/setup"))
        .form(&setup_form(
            &token,
            "Mallory",
            "mallory@example.com",
            PASSWORD,
            PASSWORD,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        login_raw(&app, "mallory@example.com", PASSWORD)
            .await
            .status(),
        401,
        "no second owner"
    );
    // A guessed token gets the same answer.
    let r = client()
        .get(app.url("/setup?token=guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client().get(app.url("/setup")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_setup_posts_create_exactly_one_owner() {
    let app = TestApp::start().await;
    let token = setup_token(&app);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..6 {
        let (url, token) = (app.url("/setup"), token.clone());
        tasks.spawn(async move {
            let email = format!("owner{i}@example.com");
            let r = client()
                .post(url)
                .form(&setup_form(&token, "Racer", &email, PASSWORD, PASSWORD))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), email)
        });
    }
    let mut statuses = Vec::new();
    let mut winner = None;
    while let Some(r) = tasks.join_next().await {
        let (status, email) = r.unwrap();
        if status == 200 {
            winner = Some(email);
        }
        statuses.push(status);
    }
    statuses.sort();
    assert_eq!(statuses, vec![200, 404, 404, 404, 404, 404]);
    let owners: i64 = app
        .state
        .db
        .read(|c| {
            Ok(
                c.query_row("SELECT count(*) FROM users WHERE role = 'owner'", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
        .unwrap();
    assert_eq!(owners, 1);
    let winner = winner.unwrap();
    assert_eq!(login_raw(&app, &winner, PASSWORD).await.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_rejects_mismatched_and_short_passwords() {
    let app = TestApp::start().await;
    let token = setup_token(&app);
    let r = client()
        .post(app.url("/setup"))
        .form(&setup_form(
            &token,
            "Olive",
            "olive@example.com",
            PASSWORD,
            "correct horse battery staple",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(set_cookie(&r).is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains("<form"), "the form is shown again: {html}");
    assert!(html.contains("differ"), "{html}");
    assert!(
        html.contains("olive@example.com"),
        "entered values are kept: {html}"
    );
    assert!(
        !html.contains(PASSWORD),
        "passwords are never echoed back: {html}"
    );
    assert!(!owner_exists(&app).await);

    let r = client()
        .post(app.url("/setup"))
        .form(&setup_form(
            &token,
            "Olive",
            "olive@example.com",
            "short",
            "short",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("at least 10 characters"), "{html}");
    assert!(!owner_exists(&app).await);

    let r = client()
        .post(app.url("/setup"))
        .form(&setup_form(
            &token,
            "Olive",
            "not-an-email",
            PASSWORD,
            PASSWORD,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(!owner_exists(&app).await);

    // Failed attempts do not spend the link.
    let r = client()
        .get(app.setup_url.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .post(app.url("/setup"))
        .form(&setup_form(
            &token,
            "Olive",
            "olive@example.com",
            PASSWORD,
            PASSWORD,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(owner_exists(&app).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_refuses_cross_site_posts() {
    let app = TestApp::start().await;
    let token = setup_token(&app);
    let r = client()
        .post(app.url("/setup"))
        .header("origin", "http://evil.example")
        .form(&setup_form(
            &token,
            "Eve",
            "eve@example.com",
            PASSWORD,
            PASSWORD,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r).is_none());
    assert!(!owner_exists(&app).await);
    // A look-alike origin that merely starts with the real host is refused too.
    let r = client()
        .post(app.url("/setup"))
        .header("origin", format!("{}.evil.example", app.base))
        .form(&setup_form(
            &token,
            "Eve",
            "eve@example.com",
            PASSWORD,
            PASSWORD,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!owner_exists(&app).await);
    // The link still works from the real origin.
    let r = client()
        .post(app.url("/setup"))
        .header("origin", &app.base)
        .form(&setup_form(
            &token,
            "Olive",
            "olive@example.com",
            PASSWORD,
            PASSWORD,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(owner_exists(&app).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_setup_link_is_404() {
    let app = TestApp::start().await;
    let url = app.setup_url.clone().unwrap();
    let token = setup_token(&app);
    let ttl = chrono::Duration::from_std(app.state.config().auth.setup_link_ttl).unwrap();
    app.clock.advance(ttl - chrono::Duration::seconds(10));
    assert_eq!(client().get(&url).send().await.unwrap().status(), 200);
    app.clock.advance(chrono::Duration::seconds(11));
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = client()
        .post(app.url("/setup"))
        .form(&setup_form(
            &token,
            "Olive",
            "olive@example.com",
            PASSWORD,
            PASSWORD,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(!owner_exists(&app).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_form_escapes_user_input() {
    let app = TestApp::start().await;
    let token = setup_token(&app);
    let r = client()
        .post(app.url("/setup"))
        .form(&setup_form(
            &token,
            "<script>alert(1)</script>",
            "x\"><script>alert(2)</script>@example.com",
            PASSWORD,
            "something else entirely",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("\"><script"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)"), "{html}");
    assert!(!owner_exists(&app).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_setup_link_when_an_owner_exists() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_in(dir, |_| {}).await;
    assert!(app.setup_url.is_some());
    app.user(OWNER, Role::Owner).await;
    // An owner created another way (the CLI) also retires the printed link.
    let url = app.setup_url.clone().unwrap();
    assert_eq!(client().get(&url).send().await.unwrap().status(), 404);
    let dir = app.stop().await;
    let app = TestApp::start_in(dir, |_| {}).await;
    assert!(app.setup_url.is_none(), "{:?}", app.setup_url);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookie_is_secure_when_served_over_https() {
    let app =
        TestApp::start_with(|c| c.server.public_url = "https://quant.example.com".into()).await;
    app.user("owner@example.com", quant::domain::user::Role::Owner)
        .await;
    let r = client()
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "owner@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    app.stop().await;
}
