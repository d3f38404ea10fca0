//! The operations side over real HTTP: health, readiness, metrics, request
//! ids, the JSON error contract, the API rate limit, and group commit through
//! the running application.

mod common;
use common::*;

use quant::domain::user::Role;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::sync::atomic::Ordering;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const OWNER: &str = "owner@example.com";

async fn body(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"))
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

async fn metrics_text(app: &TestApp) -> String {
    let r = client().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// The value of the sample whose name-and-labels part is exactly `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        (k == series).then(|| v.parse().ok())?
    })
}

// ---------------------------------------------------------------- health

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_alive() {
    let app = TestApp::start().await;
    let r = client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let v = body(r).await;
    assert_eq!(v, json!({"status": "alive", "version": VERSION}));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_healthy_with_the_build_version() {
    let app = TestApp::start().await;
    let r = client().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v = body(r).await;
    assert_eq!(v, json!({"status": "healthy", "version": VERSION}));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_pending_migrations_when_auto_migrate_is_off() {
    let app = TestApp::start_with(|c| c.database.auto_migrate = false).await;
    // Liveness does not depend on the database.
    let r = client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let v = body(r).await;
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["version"], VERSION);
    let reason = v["reason"].as_str().expect("reason").to_string();
    assert!(reason.contains("migration"), "{reason}");
    // No setup link can be offered before the schema exists.
    assert!(app.setup_url.is_none());

    // `quant migrate` on the live file makes the running service ready.
    let path = app.state.db.path().to_path_buf();
    let (before, applied) = tokio::task::spawn_blocking(move || {
        quant::db::Db::migrate_file(&path, std::time::Duration::from_secs(5), chrono::Utc::now())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(before, 0);
    assert!(!applied.is_empty());
    let r = client().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["status"], "healthy");
    app.stop().await;
}

// ---------------------------------------------------------------- metrics

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_build_process_database_and_http_series() {
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    let token = app.token(OWNER, "ci").await;
    let id = "01890a5d-ac96-774b-bcce-b302099a8057";
    for _ in 0..2 {
        let r = client()
            .delete(app.url(&format!("/api/v1/sessions/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let r = client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let r = client().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ct = r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("text/plain"), "{ct}");
    let text = r.text().await.unwrap();

    let build = text
        .lines()
        .find(|l| l.starts_with("quant_build_info{"))
        .unwrap_or_else(|| panic!("no quant_build_info: {text}"));
    assert!(
        build.contains(&format!("version=\"{VERSION}\"")) && build.ends_with("} 1"),
        "{build}"
    );
    let rss = sample(&text, "process_resident_memory_bytes").expect("rss");
    assert!(rss > 1_000_000.0, "rss {rss}");
    let cpu = sample(&text, "process_cpu_seconds_total").expect("cpu");
    assert!(cpu >= 0.0, "cpu {cpu}");
    let size = sample(&text, "quant_db_size_bytes").expect("db size");
    let wal = sample(&text, "quant_db_wal_size_bytes").expect("wal size");
    assert!(size + wal > 0.0, "db {size} wal {wal}");
    assert!(sample(&text, "quant_db_commits_total").is_some(), "{text}");
    assert!(sample(&text, "quant_db_writes_total").is_some(), "{text}");

    // The route label is the pattern, never the raw path.
    assert_eq!(
        sample(
            &text,
            "http_requests_total{method=\"DELETE\",route=\"/api/v1/sessions/{id}\",status=\"404\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert!(!text.contains(id), "raw path leaked into labels: {text}");
    assert!(
        sample(
            &text,
            "http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        text.contains(
            "http_request_duration_seconds_bucket{method=\"DELETE\",route=\"/api/v1/sessions/{id}\",le=\""
        ),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "http_request_duration_seconds_count{method=\"DELETE\",route=\"/api/v1/sessions/{id}\"}"
        ),
        Some(2.0),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_paths_share_one_route_label() {
    let app = TestApp::start().await;
    let paths = [
        "/no/such/page-7f3a9c".to_string(),
        "/another-unknown-91be2d".to_string(),
        "/api/v1/nope-5d1e0a".to_string(),
        "/api/zzz-c0ffee".to_string(),
    ];
    for p in &paths {
        let r = client().get(app.url(p)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{p}");
    }
    let text = metrics_text(&app).await;
    for p in &paths {
        let tail = p.rsplit('-').next().unwrap();
        assert!(!text.contains(tail), "raw path {p} leaked: {text}");
    }
    assert_eq!(
        sample(
            &text,
            "http_requests_total{method=\"GET\",route=\"<unmatched>\",status=\"404\"}",
        ),
        Some(paths.len() as f64),
        "paths matching no route must be counted as <unmatched>: {text}"
    );
    // Every http_requests_total route label is a known pattern or <unmatched>.
    for l in text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
    {
        let route = l
            .split("route=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(
            route == "<unmatched>" || route.starts_with('/'),
            "odd route label in {l}"
        );
    }
    app.stop().await;
}

// ---------------------------------------------------------------- request ids

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_generated_echoed_or_replaced() {
    let app = TestApp::start().await;
    let rid = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .expect("x-request-id on every response")
            .to_str()
            .unwrap()
            .to_string()
    };

    // Generated when absent, and different per request.
    let a = rid(&client().get(app.url("/healthz")).send().await.unwrap());
    let b = rid(&client().get(app.url("/healthz")).send().await.unwrap());
    assert!(!a.is_empty() && !b.is_empty());
    assert_ne!(a, b);
    // On errors too.
    let e = rid(&client().get(app.url("/api/v1/me")).send().await.unwrap());
    assert!(!e.is_empty());
    let e = rid(&client().get(app.url("/nowhere")).send().await.unwrap());
    assert!(!e.is_empty());

    // Echoed when valid.
    let mine = "client-req_42.abc";
    let r = client()
        .get(app.url("/healthz"))
        .header("x-request-id", mine)
        .send()
        .await
        .unwrap();
    assert_eq!(rid(&r), mine);
    let max = "a".repeat(128);
    let r = client()
        .get(app.url("/healthz"))
        .header("x-request-id", &max)
        .send()
        .await
        .unwrap();
    assert_eq!(rid(&r), max);

    // Replaced when invalid.
    for bad in [
        "has spaces in it".to_string(),
        "a".repeat(129),
        "semi;colon".to_string(),
        "quote\"d".to_string(),
    ] {
        let r = client()
            .get(app.url("/healthz"))
            .header("x-request-id", &bad)
            .send()
            .await
            .unwrap();
        let got = rid(&r);
        assert_ne!(got, bad);
        assert!(!got.is_empty());
        assert!(
            got.len() <= 128
                && got
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "{got}"
        );
    }
    app.stop().await;
}

// ---------------------------------------------------------------- JSON errors

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_api_paths_and_methods_answer_json() {
    let app = TestApp::start().await;
    for p in ["/api/v1/nope", "/api/v2/me", "/api", "/api/v1/sessions/a/b"] {
        let r = client().get(app.url(p)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{p}");
        assert!(
            r.headers()
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{p}"
        );
        assert_error(&body(r).await, "not_found");
    }
    // A 405 says which methods the resource does accept (RFC 9110 §15.5.6).
    for (m, p, allow) in [
        (reqwest::Method::PUT, "/api/v1/me", "GET"),
        (reqwest::Method::DELETE, "/api/v1/me", "GET"),
        (reqwest::Method::GET, "/api/v1/auth/login", "POST"),
        (reqwest::Method::GET, "/api/v1/auth/logout", "POST"),
        (reqwest::Method::POST, "/api/v1/sessions", "GET"),
        (reqwest::Method::GET, "/api/v1/sessions/revoke-all", "POST"),
        (reqwest::Method::GET, "/api/v1/sessions/x", "DELETE"),
        (reqwest::Method::PATCH, "/api/v1/tokens", "GET, POST"),
        (reqwest::Method::PUT, "/api/v1/tokens/x", "DELETE"),
    ] {
        let r = client()
            .request(m.clone(), app.url(p))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{m} {p}");
        assert_eq!(
            r.headers().get("allow").map(|v| v.to_str().unwrap()),
            Some(allow),
            "{m} {p}"
        );
        assert!(
            r.headers()
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{m} {p}"
        );
        assert_error(&body(r).await, "method_not_allowed");
    }
    let text = metrics_text(&app).await;
    assert!(
        sample(
            &text,
            "http_requests_total{method=\"PUT\",route=\"/api/v1/me\",status=\"405\"}"
        )
        .is_some(),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_413() {
    let app = TestApp::start_with(|c| c.server.max_body_bytes = 2048).await;
    let big = json!({"email": "a@example.com", "password": "x".repeat(4096)});
    let r = client()
        .post(app.url("/api/v1/auth/login"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v = body(r).await;
    assert_error(&v, "payload_too_large");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("2048"),
        "{v}"
    );
    // Just under the limit is read (and then fails as an ordinary bad login).
    let ok = json!({"email": "a@example.com", "password": "x".repeat(1900)});
    let r = client()
        .post(app.url("/api/v1/auth/login"))
        .json(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Without a Content-Length (chunked), the limit is enforced while reading.
    let addr = app.base.trim_start_matches("http://").to_string();
    let response = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        write!(
            s,
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let chunk = "x".repeat(1000);
        for _ in 0..5 {
            if write!(s, "{:x}\r\n{chunk}\r\n", chunk.len()).is_err() {
                break;
            }
        }
        let _ = write!(s, "0\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("payload_too_large"), "{response}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_json_bodies_are_400s_naming_the_problem() {
    let app = TestApp::start().await;
    let post = |body: &'static str, ct: &'static str| {
        client()
            .post(app.url("/api/v1/auth/login"))
            .header("content-type", ct)
            .body(body)
            .send()
    };

    // Malformed.
    for b in [
        "{\"email\": ",
        "not json",
        "",
        "[]",
        "{\"email\":\"a@example.com\",\"password\":\"x\"} trailing",
    ] {
        let r = post(b, "application/json").await.unwrap();
        assert_eq!(r.status(), 400, "{b:?}");
        assert_error(&body(r).await, "bad_request");
    }

    // Unknown field.
    let r = post(
        r#"{"email":"a@example.com","password":"x","remember":true}"#,
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let v = body(r).await;
    assert_error(&v, "validation_failed");
    assert_eq!(v["error"]["fields"]["remember"], "unknown field", "{v}");

    // Missing field.
    let r = post(r#"{"email":"a@example.com"}"#, "application/json")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v = body(r).await;
    assert_error(&v, "validation_failed");
    assert_eq!(v["error"]["fields"]["password"], "is required", "{v}");

    // Wrong type.
    let r = post(r#"{"email":42,"password":"x"}"#, "application/json")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v = body(r).await;
    assert!(v["error"]["fields"]["email"].is_string(), "{v}");

    // Wrong or missing Content-Type.
    let good = r#"{"email":"a@example.com","password":"x"}"#;
    for ct in ["text/plain", "application/x-www-form-urlencoded"] {
        let r = post(good, ct).await.unwrap();
        assert_eq!(r.status(), 400, "{ct}");
        assert_error(&body(r).await, "bad_request");
    }
    let r = client()
        .post(app.url("/api/v1/auth/login"))
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // With a charset parameter it is accepted (wrong credentials → 401).
    let r = post(good, "application/json; charset=utf-8").await.unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}

// ---------------------------------------------------------------- rate limit

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_rate_limit_answers_429_with_retry_after() {
    let app = TestApp::start_with(|c| {
        c.rate_limit.api_per_minute = 5;
        c.rate_limit.api_burst = 3;
    })
    .await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..6 {
        let r = client().get(app.url("/api/v1/me")).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 && limited.is_none() {
            limited = Some(r);
        }
    }
    assert_eq!(&statuses[..3], &[401, 401, 401], "{statuses:?}");
    assert_eq!(&statuses[3..], &[429, 429, 429], "{statuses:?}");
    let r = limited.unwrap();
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(r.headers().contains_key("x-request-id"));
    assert_error(&body(r).await, "rate_limited");
    // Every /api path shares the limit, including unknown ones.
    let r = client().get(app.url("/api/v1/nope")).send().await.unwrap();
    assert_eq!(r.status(), 429);

    // Probes and scrapes are never limited.
    for _ in 0..20 {
        let r = client().get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    for _ in 0..5 {
        let r = client().get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = client().get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let text = metrics_text(&app).await;
    assert!(
        sample(
            &text,
            "http_requests_total{method=\"GET\",route=\"/api/v1/me\",status=\"429\"}"
        )
        .is_some_and(|n| n >= 3.0),
        "429s are counted: {text}"
    );
    app.stop().await;
}

// ---------------------------------------------------------------- group commit

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_group_commit_and_survive_a_restart() {
    const N: usize = 64;
    let app = TestApp::start().await;
    app.user(OWNER, Role::Owner).await;
    let bearer = app.token(OWNER, "admin").await;
    // Use the token once so the concurrent requests below do not all record it.
    assert_eq!(
        client()
            .get(app.url("/api/v1/me"))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let stats = app.state.db.stats();
    let commits0 = stats.commits.load(Ordering::Relaxed);
    let writes0 = stats.writes_committed.load(Ordering::Relaxed);

    let http = client();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(N));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let (http, url, bearer, start) = (
            http.clone(),
            app.url("/api/v1/tokens"),
            bearer.clone(),
            start.clone(),
        );
        tasks.spawn(async move {
            start.wait().await;
            let r = http
                .post(url)
                .bearer_auth(bearer)
                .json(&json!({"name": format!("worker-{i:02}")}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (status, v)
        });
    }
    let mut secrets = Vec::new();
    while let Some(res) = tasks.join_next().await {
        let (status, v) = res.unwrap();
        assert_eq!(status, 201, "{v}");
        secrets.push(v["secret"].as_str().unwrap().to_string());
    }
    assert_eq!(secrets.len(), N);

    let commits = stats.commits.load(Ordering::Relaxed) - commits0;
    let writes = stats.writes_committed.load(Ordering::Relaxed) - writes0;
    assert!(writes >= N as u64, "{writes} writes");
    assert!(
        commits < writes,
        "64 concurrent writers should share transactions: {commits} commits for {writes} writes"
    );
    let text = metrics_text(&app).await;
    let mc = sample(&text, "quant_db_commits_total").unwrap();
    let mw = sample(&text, "quant_db_writes_total").unwrap();
    assert!(mc >= 1.0 && mc <= mw, "commits {mc} writes {mw}");

    // Every acknowledged write survives a restart.
    let dir = app.stop().await;
    let app = TestApp::start_in(dir, |_| {}).await;
    assert!(app.setup_url.is_none(), "the owner survived");
    let r = client()
        .get(app.url("/api/v1/tokens?limit=100"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v = body(r).await;
    assert_eq!(v["pagination"]["total"], N + 1, "{}", v["pagination"]);
    let mut names: Vec<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    let mut want: Vec<String> = (0..N).map(|i| format!("worker-{i:02}")).collect();
    want.push("admin".into());
    want.sort();
    assert_eq!(names, want);
    // And the issued secrets still authenticate.
    for s in [&secrets[0], &secrets[N - 1]] {
        let r = client()
            .get(app.url("/api/v1/me"))
            .bearer_auth(s)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    app.stop().await;
}
