//! The OpenAPI document at `/api/v1/openapi.json`: its shape, that it and the
//! router agree on every path and method, and that the response checker the
//! whole suite relies on (`common::spec`, run by `TestApp::stop`) really
//! catches responses that differ from it.

mod common;

use common::spec::{Spec, served_spec};
use common::*;
use quant::domain::user::Role;
use quant::http::middleware::RecordedResponse;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every `$ref` string anywhere in `v`, with where it is.
fn refs(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    if let Some(r) = x.as_str() {
                        out.push((at.to_string(), r.to_string()));
                    }
                } else {
                    refs(x, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                refs(x, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Documented `(path, METHOD)` pairs.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if item.get(m).is_some() {
                out.insert((path.clone(), m.to_uppercase()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_openapi_3_and_every_ref_resolves() {
    let app = TestApp::start().await;
    let r = client()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = r.json().await.unwrap();
    // What the checker uses is what is served.
    assert_eq!(&doc, served_spec().doc());

    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "Quant");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() > 40, "only {} paths", paths.len());
    for p in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/auth/login",
    ] {
        assert!(paths.contains_key(p), "{p} is not documented");
    }

    let mut all = Vec::new();
    refs(&doc, "#", &mut all);
    assert!(all.len() > 100);
    for (at, r) in &all {
        let target = r.strip_prefix('#').and_then(|p| doc.pointer(p));
        assert!(target.is_some(), "$ref {r} at {at} does not resolve");
    }

    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["session_cookie"]["in"], "cookie");
    assert_eq!(schemes["session_cookie"]["name"], "quant_session");
    assert_eq!(schemes["bearer_token"]["scheme"], "bearer");
    let error = &doc["components"]["schemas"]["ErrorDetail"];
    assert!(
        error["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .len()
            >= 10
    );

    let mut ids = BTreeSet::new();
    for (path, method) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let id = op["operationId"].as_str().unwrap().to_string();
        assert!(ids.insert(id.clone()), "operationId {id} is used twice");
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path} documents no success response"
        );
        // Every `{name}` in the path is a documented path parameter.
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let used: BTreeSet<&str> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(declared, used, "{method} {path}: path parameters");
        if path.starts_with("/api/") {
            for s in ["429", "500"] {
                assert!(responses.contains_key(s), "{method} {path} lacks {s}");
            }
            let public = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            assert!(
                public || responses.contains_key("401"),
                "{method} {path} needs credentials but documents no 401"
            );
        }
        for (status, resp) in responses {
            if status == "204" {
                assert!(
                    resp.get("content").is_none(),
                    "{method} {path} 204 has content"
                );
            } else if status.starts_with('4') || status.starts_with('5') {
                let schema = &resp["content"]["application/json"]["schema"]["$ref"];
                if path.starts_with("/api/") {
                    assert_eq!(
                        schema, "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    app.stop().await;
}

/// `/api/v1/...` patterns registered through `resource(path, allow)` in the
/// route modules, with the methods they allow.
fn registered_in_source() -> BTreeMap<String, BTreeSet<String>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/routes");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("resource(\"") {
            rest = &rest[i + "resource(\"".len()..];
            let Some((path, after)) = rest.split_once('"') else {
                break;
            };
            let Some(allow) = after
                .strip_prefix(", \"")
                .and_then(|a| a.split_once('"'))
                .map(|(a, _)| a)
            else {
                continue;
            };
            out.insert(
                format!("/api/v1{path}"),
                allow.split(',').map(|m| m.trim().to_string()).collect(),
            );
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_and_the_document_agree_on_every_path_and_method() {
    let app = TestApp::start().await;
    app.user("owner@example.com", Role::Owner).await;
    let token = app.token("owner@example.com", "openapi").await;
    let doc = served_spec().doc().clone();
    let documented = operations(&doc);

    // Every route registered in the source is documented with exactly its methods.
    let registered = registered_in_source();
    assert!(registered.len() > 30, "{registered:?}");
    for (path, methods) in &registered {
        let doc_methods: BTreeSet<String> = documented
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, m)| m.clone())
            .collect();
        assert_eq!(&doc_methods, methods, "methods of {path}");
    }

    // Every documented operation reaches a handler: the response comes from
    // the route with that pattern and is not a 405. With a made-up id most
    // answer 404 from the handler (the route is still matched) or 400.
    let id = "01900000-0000-7000-8000-000000000000";
    let c = client();
    for (path, method) in &documented {
        let url = app.url(&path.replace("{id}", id).replace("{contact_id}", id));
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let before = app.responses.lock().unwrap().len();
        let mut req = c.request(m, &url).bearer_auth(&token);
        if path == "/api/v1/auth/login" {
            req = req.json(&json!({"email": "owner@example.com", "password": PASSWORD}));
        }
        let r = req.send().await.unwrap();
        assert_ne!(r.status(), 405, "{method} {path}");
        let recorded = app.responses.lock().unwrap()[before..].to_vec();
        let last = recorded
            .last()
            .unwrap_or_else(|| panic!("{method} {path} not recorded"));
        assert_eq!(
            last.route.as_deref(),
            Some(path.as_str()),
            "{method} {path}"
        );

        // Conversely, the methods the router allows on this path are the documented ones.
        if path.starts_with("/api/") {
            let r = c.put(&url).bearer_auth(&token).send().await.unwrap();
            if !documented.contains(&(path.clone(), "PUT".into())) {
                assert_eq!(r.status(), 405, "PUT {path}");
                let allow: BTreeSet<String> = r.headers()["allow"]
                    .to_str()
                    .unwrap()
                    .split(',')
                    .map(|m| m.trim().to_string())
                    .collect();
                let doc_methods: BTreeSet<String> = documented
                    .iter()
                    .filter(|(p, _)| p == path)
                    .map(|(_, m)| m.clone())
                    .collect();
                assert_eq!(allow, doc_methods, "Allow of {path}");
            }
        }
    }

    // A path nobody registered is the scope's JSON 404, which the document describes.
    let r = c
        .get(app.url("/api/v1/no-such-thing"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}

fn recorded(
    method: &str,
    route: &str,
    status: u16,
    ct: Option<&str>,
    body: &str,
) -> RecordedResponse {
    RecordedResponse {
        method: method.into(),
        path: route.into(),
        route: Some(route.into()),
        status,
        content_type: ct.map(Into::into),
        body: body.as_bytes().to_vec(),
    }
}

const JSON: Option<&str> = Some("application/json");

#[test]
fn the_checker_catches_responses_that_differ_from_the_document() {
    let spec: std::sync::Arc<Spec> = served_spec();
    let token = json!({"id": "t1", "userId": "u1", "name": "ci", "createdAt": "2026-01-01T00:00:00Z",
                       "lastUsedAt": null, "secret": "qt_x"});
    let ok = recorded("POST", "/api/v1/tokens", 201, JSON, &token.to_string());
    assert_eq!(spec.check_one(&ok), Ok(()));

    let bad = |r: RecordedResponse, needle: &str| {
        let problems = spec.check_one(&r).expect_err("a mismatch");
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "expected {needle:?} in {problems:?}"
        );
        let report = spec.check(&[ok.clone(), r]);
        assert_eq!(report.checked, 1);
        assert!(!report.problems.is_empty());
    };
    // A field of the wrong type, named by its JSON pointer.
    let mut wrong = token.clone();
    wrong["name"] = json!(42);
    bad(
        recorded("POST", "/api/v1/tokens", 201, JSON, &wrong.to_string()),
        "/name",
    );
    // A missing required field.
    let mut missing = token.clone();
    missing.as_object_mut().unwrap().remove("secret");
    bad(
        recorded("POST", "/api/v1/tokens", 201, JSON, &missing.to_string()),
        "secret",
    );
    // A nullable field left out (Quant always writes them, as null).
    let mut no_null = token.clone();
    no_null.as_object_mut().unwrap().remove("lastUsedAt");
    bad(
        recorded("POST", "/api/v1/tokens", 201, JSON, &no_null.to_string()),
        "lastUsedAt",
    );
    // A field the document does not mention (also through `allOf`/flatten).
    let mut extra = token.clone();
    extra["surprise"] = json!(true);
    bad(
        recorded("POST", "/api/v1/tokens", 201, JSON, &extra.to_string()),
        "surprise",
    );
    // An enum value outside the documented ones.
    let me = json!({"id": "u", "email": "a@b.c", "name": "A", "role": "owner", "active": true,
                    "createdAt": "2026-01-01T00:00:00Z", "authMethod": "session"});
    assert_eq!(
        spec.check_one(&recorded("GET", "/api/v1/me", 200, JSON, &me.to_string())),
        Ok(())
    );
    let mut role = me.clone();
    role["role"] = json!("admin");
    bad(
        recorded("GET", "/api/v1/me", 200, JSON, &role.to_string()),
        "/role",
    );
    // Money is a number, not a string.
    let recorded_money = |v: Value| {
        recorded(
            "GET",
            "/api/v1/invoices/{id}/payments",
            200,
            JSON,
            &json!({
                "data": [{"id": "p", "invoiceId": "i", "amount": v, "method": "cash",
                          "receivedDate": "2026-01-01", "reference": "", "createdBy": null,
                          "createdAt": "2026-01-01T00:00:00Z"}],
                "pagination": {"page": 1, "limit": 1, "total": 1, "totalPages": 1,
                               "hasNext": false, "hasPrevious": false}
            })
            .to_string(),
        )
    };
    assert_eq!(spec.check_one(&recorded_money(json!(12.5))), Ok(()));
    bad(recorded_money(json!("12.50")), "/data/0/amount");
    // An error body without its code.
    bad(
        recorded(
            "GET",
            "/api/v1/customers/{id}",
            404,
            JSON,
            r#"{"error": {"message": "gone"}}"#,
        ),
        "code",
    );
    // A malformed date where the document says `format: date`.
    let range = |from: &str| {
        recorded(
            "GET",
            "/api/v1/analytics/recommendations",
            200,
            JSON,
            &json!({
                "date": from, "data": []
            })
            .to_string(),
        )
    };
    assert_eq!(spec.check_one(&range("2026-03-31")), Ok(()));
    bad(range("31/03/2026"), "/date");
    // A status the operation does not document.
    bad(
        recorded("GET", "/api/v1/me", 418, JSON, "{}"),
        "status 418 is not documented",
    );
    // A route or method that is not documented.
    bad(
        recorded("GET", "/api/v1/nowhere", 200, JSON, "{}"),
        "no documented path",
    );
    bad(
        recorded("PUT", "/api/v1/me", 200, JSON, "{}"),
        "documents no PUT",
    );
    // The wrong content type, a body where none is documented, non-JSON JSON.
    bad(recorded("GET", "/metrics", 200, JSON, "{}"), "content type");
    bad(
        recorded("DELETE", "/api/v1/tokens/{id}", 204, JSON, "{}"),
        "without a body",
    );
    bad(
        recorded("GET", "/api/v1/me", 200, JSON, "<html>"),
        "not JSON",
    );
    bad(
        recorded(
            "GET",
            "/api/v1/attachments/{id}/thumbnail",
            200,
            Some("image/png"),
            "x",
        ),
        "content type",
    );
    // The catch-alls: 404 for unknown paths and 405 for other methods, with their codes.
    let mut unknown = recorded(
        "GET",
        "/api/v1/x",
        404,
        JSON,
        r#"{"error": {"code": "not_found", "message": "not found"}}"#,
    );
    unknown.route = None;
    assert_eq!(spec.check_one(&unknown), Ok(()));
    let not_allowed = recorded(
        "PUT",
        "/api/v1/me",
        405,
        JSON,
        r#"{"error": {"code": "method_not_allowed", "message": "method not allowed"}}"#,
    );
    assert_eq!(spec.check_one(&not_allowed), Ok(()));
    bad(
        recorded(
            "PUT",
            "/api/v1/me",
            405,
            JSON,
            r#"{"error": {"code": "not_found", "message": "x"}}"#,
        ),
        "method_not_allowed",
    );
    // Binary and text bodies: their documented content types.
    assert_eq!(
        spec.check_one(&recorded(
            "GET",
            "/api/v1/attachments/{id}",
            200,
            Some("image/webp"),
            "x"
        )),
        Ok(())
    );
    assert_eq!(
        spec.check_one(&recorded(
            "GET",
            "/metrics",
            200,
            Some("text/plain; version=0.0.4; charset=utf-8"),
            "# HELP"
        )),
        Ok(())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_through_the_api_is_recorded_and_validated() {
    let app = TestApp::start().await;
    app.user("office@example.com", Role::Office).await;
    let c = app.login("office@example.com").await;
    let r = c
        .post(app.url("/api/v1/customers"))
        .json(&json!({"name": "Ann Archer", "tags": ["vip"],
                      "addresses": [{"line1": "1 Main St", "city": "Springfield"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (path, status) in [
        (format!("/api/v1/customers/{id}"), 200),
        ("/api/v1/customers?q=ann".to_string(), 200),
        ("/api/v1/customers?limit=0".to_string(), 400),
        ("/api/v1/customers/not-a-uuid".to_string(), 404),
        ("/api/v1/audit".to_string(), 403),
        ("/api/v1/me".to_string(), 200),
    ] {
        let r = c.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), status, "{path}");
    }
    let r = client()
        .get(app.url("/api/v1/customers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .patch(app.url(&format!("/api/v1/customers/{id}")))
        .json(&json!({"email": "not an email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .delete(app.url(&format!("/api/v1/customers/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = client().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let report = app.response_report();
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    // login + create + 6 reads + 401 + 400 + 204 + metrics
    assert!(
        report.checked >= 12,
        "only {} responses checked",
        report.checked
    );
    let recorded = app.responses.lock().unwrap().clone();
    assert!(
        recorded
            .iter()
            .any(|r| r.status == 204 && r.body.is_empty())
    );
    assert!(
        recorded
            .iter()
            .any(|r| r.route.as_deref() == Some("/api/v1/customers/{id}"))
    );
    app.stop().await;
}
