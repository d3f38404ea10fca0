//! Web security at the HTTP level: security headers on every kind of
//! response, embedded assets with hashed names and ETags, the login form with
//! its CSRF protection and throttling, the API's CSRF header rule, password
//! change and sign-out, and escaping in the layout.

mod common;

use common::*;
use quant::domain::user::Role;
use reqwest::StatusCode;
use std::time::Duration;

/// The CSRF token of a rendered page (`<meta name="csrf-token">` or a
/// hidden `_csrf` input).
fn csrf_in(html: &str) -> String {
    for marker in ["name=\"csrf-token\" content=\"", "name=\"_csrf\" value=\""] {
        if let Some(i) = html.find(marker) {
            let rest = &html[i + marker.len()..];
            return rest[..rest.find('"').unwrap()].to_string();
        }
    }
    panic!("no CSRF token in the page:\n{html}");
}

/// A cookie-keeping client that signs in through the login form.
async fn form_login(
    app: &TestApp,
    email: &str,
    password: &str,
) -> (reqwest::Client, reqwest::Response) {
    let c = cookie_client();
    let page = c.get(app.url("/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let token = csrf_in(&page.text().await.unwrap());
    let r = c
        .post(app.url("/login"))
        .form(&[
            ("_csrf", token.as_str()),
            ("email", email),
            ("password", password),
            ("next", "/dashboard"),
        ])
        .send()
        .await
        .unwrap();
    (c, r)
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn assert_security_headers(r: &reqwest::Response, what: &str) {
    let h = r.headers();
    let get = |n: &str| {
        h.get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let csp = get("content-security-policy");
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(part), "{what}: CSP {csp:?} lacks {part}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert!(!get("referrer-policy").is_empty(), "{what}");
    assert!(
        h.get("strict-transport-security").is_none(),
        "{what}: no HSTS on plain HTTP"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = TestApp::start().await;
    app.user("owner@x.example", Role::Owner).await;
    let (c, r) = form_login(&app, "owner@x.example", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for path in [
        "/login",
        "/dashboard",
        "/account/password",
        "/no-such-page",
        "/api/v1/me",
        "/api/v1/nope",
        "/healthz",
        "/readyz",
        "/metrics",
        "/static/app.css",
        "/setup?token=bad",
    ] {
        let r = c.get(app.url(path)).send().await.unwrap();
        assert_security_headers(&r, path);
    }
    // A page's own headers: HTML, never cached.
    let r = c.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains(" style=\""),
        "no inline script or style"
    );
    // Every asset the layout references is served.
    let mut assets = 0;
    for part in html.split("/static/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        let r = c
            .get(app.url(&format!("/static/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "/static/{name}");
        assets += 1;
    }
    assert!(assets >= 3, "css, js and icon referenced: {assets}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_have_hashed_names_long_cache_and_etags() {
    let app = TestApp::start().await;
    let c = client();
    let hashed = quant::http::assets::url("app.css");
    assert!(hashed.starts_with("/static/app.") && hashed.len() > "/static/app.css".len());
    let r = c.get(app.url(&hashed)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let body = r.bytes().await.unwrap();
    assert!(body.len() > 1000);
    let again = c
        .get(app.url(&hashed))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());
    // The plain name revalidates instead of caching for a year.
    let plain = c.get(app.url("/static/app.css")).send().await.unwrap();
    assert_eq!(plain.headers()["cache-control"], "no-cache");
    assert_eq!(plain.headers()["etag"].to_str().unwrap(), etag);
    for bad in [
        "/static/nope.css",
        "/static/../Cargo.toml",
        "/static/app.0000000000.css",
    ] {
        let r = c.get(app.url(bad)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{bad}");
    }
    let fav = c.get(app.url("/favicon.ico")).send().await.unwrap();
    assert_eq!(fav.status(), StatusCode::MOVED_PERMANENTLY);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_form_needs_its_csrf_token_and_follows_only_local_next() {
    let app = TestApp::start().await;
    app.user("office@x.example", Role::Office).await;
    let c = cookie_client();
    // Signed out: pages redirect to the login page, remembering where to go.
    let r = c
        .get(app.url("/dashboard?from=2026-01-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=/dashboard%3Ffrom%3D2026-01-01");
    let page = c.get(app.url("/login")).send().await.unwrap();
    let set_cookie: Vec<String> = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        set_cookie
            .iter()
            .any(|v| v.starts_with("quant_csrf=") && v.contains("HttpOnly")),
        "{set_cookie:?}"
    );
    let html = page.text().await.unwrap();
    for id in ["email", "password", "login-button"] {
        assert!(html.contains(&format!("data-testid=\"{id}\"")), "{id}");
    }
    let token = csrf_in(&html);
    // No token, a wrong one, or a cross-site Origin: 403 and no session.
    for (tok, origin) in [
        ("", None),
        ("wrong", None),
        (token.as_str(), Some("http://evil.example")),
    ] {
        let mut req = c.post(app.url("/login")).form(&[
            ("_csrf", tok),
            ("email", "office@x.example"),
            ("password", PASSWORD),
        ]);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = req.send().await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "token {tok:?} origin {origin:?}"
        );
        assert!(r.text().await.unwrap().contains("This form has expired"));
    }
    let r = c.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "still signed out");
    // An external `next` is ignored.
    let r = c
        .post(app.url("/login"))
        .form(&[
            ("_csrf", token.as_str()),
            ("email", "OFFICE@x.example"),
            ("password", PASSWORD),
            ("next", "//evil.example/x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/dashboard");
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("quant_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(
        !session.contains("Secure"),
        "not Secure on plain HTTP: {session}"
    );
    let dash = c.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(dash.status(), 200);
    let html = dash.text().await.unwrap();
    for id in [
        "total-revenue",
        "jobs-completed",
        "profit-margin",
        "efficiency",
    ] {
        assert!(html.contains(&format!("data-testid=\"{id}\"")), "{id}");
    }
    assert!(html.contains("Total Revenue: $0"), "empty business");
    // Visiting /login while signed in goes straight on.
    let r = c
        .get(app.url("/login?next=/account/password"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/account/password");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_throttled_per_account_and_per_ip_with_retry_after() {
    let app = TestApp::start_with(|c| {
        c.auth.login_max_failures_per_account = 3;
        c.auth.login_max_failures_per_ip = 5;
        c.auth.login_lockout = Duration::from_secs(600);
    })
    .await;
    app.user("tech@x.example", Role::Technician).await;
    for _ in 0..3 {
        let (_, r) = form_login(&app, "tech@x.example", "wrong password!").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.text().await.unwrap().contains("Wrong e-mail or password"));
    }
    // Locked: even the right password gets 429 with Retry-After, on the form and the API.
    let (_, r) = form_login(&app, "tech@x.example", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "600");
    let api = client()
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "tech@x.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(api.headers()["retry-after"], "600");
    let v: serde_json::Value = api.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limited");
    // Two more failures on other accounts reach the per-IP limit (5).
    for who in ["a@x.example", "b@x.example"] {
        let (_, r) = form_login(&app, who, "wrong password!").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let (_, r) = form_login(&app, "c@x.example", "wrong password!").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "IP locked");
    // The metric counts refusals.
    let m = client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = m
        .lines()
        .find(|l| l.starts_with("quant_logins_throttled_total"))
        .unwrap();
    assert!(line.ends_with(" 3"), "{line}");
    // When the window has passed, the right password works again.
    app.clock.advance(chrono::Duration::seconds(601));
    let (c, r) = form_login(&app, "tech@x.example", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // A technician's dashboard is their day.
    let r = c.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(location(&r), "/my-day");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_authenticated_api_writes_need_the_csrf_header_bearer_tokens_do_not() {
    let app = TestApp::start().await;
    app.user("owner@x.example", Role::Owner).await;
    let (c, _) = form_login(&app, "owner@x.example", PASSWORD).await;
    let body = serde_json::json!({"name": "Ada"});
    let r = c
        .post(app.url("/api/v1/customers"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("X-CSRF-Token"),
        "{v}"
    );
    // Reads need no token.
    let list: serde_json::Value = c
        .get(app.url("/api/v1/customers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["pagination"]["total"], 0, "nothing was created");
    // The page's token works as the header.
    let html = c
        .get(app.url("/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_in(&html);
    let r = c
        .post(app.url("/api/v1/customers"))
        .header("x-csrf-token", &token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = c
        .post(app.url("/api/v1/customers"))
        .header("x-csrf-token", &token)
        .header("origin", "https://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "cross-site origin");
    // A bearer token needs no CSRF header.
    let token = app.token("owner@x.example", "script").await;
    let r = client()
        .post(app.url("/api/v1/customers"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_and_sign_out_through_the_pages() {
    let app =
        TestApp::start_with(|c| c.business.name = "<script>alert(1)</script> & Sons".into()).await;
    app.user("office@x.example", Role::Office).await;
    let other_device = app.login("office@x.example").await;
    let (c, _) = form_login(&app, "office@x.example", PASSWORD).await;
    let page = c
        .get(app.url("/account/password"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;") && page.contains("&amp; Sons"),
        "business name escaped"
    );
    assert!(!page.contains("<script>alert(1)"));
    let token = csrf_in(&page);
    // Wrong current password: 400, nothing changed.
    let r = c
        .post(app.url("/account/password"))
        .form(&[
            ("_csrf", token.as_str()),
            ("current_password", "nope nope nope"),
            ("password", "a brand new secret"),
            ("password_confirm", "a brand new secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("is not your current password")
    );
    // Mismatch and a short password: 400.
    for (new, confirm, why) in [
        ("a brand new secret", "another secret!!", "does not match"),
        ("short", "short", "at least"),
    ] {
        let r = c
            .post(app.url("/account/password"))
            .form(&[
                ("_csrf", token.as_str()),
                ("current_password", PASSWORD),
                ("password", new),
                ("password_confirm", confirm),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.text().await.unwrap().contains(why), "{why}");
    }
    assert_eq!(
        other_device
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = c
        .post(app.url("/account/password"))
        .form(&[
            ("_csrf", token.as_str()),
            ("current_password", PASSWORD),
            ("password", "a brand new secret"),
            ("password_confirm", "a brand new secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Other devices are signed out; this browser stays in and sees the flash once.
    assert_eq!(
        other_device
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let html = c
        .get(app.url("/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Password changed"));
    let html = c
        .get(app.url("/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("Password changed"), "flash shown once");
    let (_, r) = form_login(&app, "office@x.example", "a brand new secret").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Sign out: without the token refused, with it the session ends.
    let token = csrf_in(&html);
    let r = c
        .post(app.url("/logout"))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        c.get(app.url("/dashboard")).send().await.unwrap().status(),
        200
    );
    let r = c
        .post(app.url("/logout"))
        .form(&[("_csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/login");
    let r = c.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}
