//! Checks the responses a test received against the OpenAPI document Quant
//! serves (`GET /api/v1/openapi.json`, built by
//! `quant::http::openapi::document_json`).
//!
//! For each recorded response: the matched route pattern and method must be
//! a documented operation, the status one of its documented responses, the
//! content type one it documents (or no body where it documents none), and a
//! JSON body must validate against the documented schema (JSON Schema 2020-12
//! with `format`s such as `date` asserted, `$ref`s into
//! `#/components/schemas`). Schemas are checked strictly: every
//! object schema gets `unevaluatedProperties: false`, so an undocumented field
//! is a mismatch too, and a nullable property counts as required (Quant
//! always writes its `Option` fields, as `null` when empty; the two fields it
//! leaves out when empty are documented as not nullable). Responses outside any operation are accepted only where
//! the document's description says so: an unknown `/api` path → 404, a known
//! path with another method → 405, the rate limit → 429, each with the
//! `ErrorBody` shape and the matching code.
#![allow(dead_code)]

use quant::http::middleware::RecordedResponse;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// What checking a batch of responses found.
#[derive(Debug, Default)]
pub struct Report {
    /// Responses checked and found to match (JSON bodies validated, other
    /// bodies' content types checked).
    pub checked: usize,
    /// One line per mismatch.
    pub problems: Vec<String>,
}

/// The document with its schemas prepared for validation.
pub struct Spec {
    doc: Value,
    schemas: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

/// The [`Spec`] for `doc` (the JSON text of the document), built once per
/// test binary. Panics when `doc` is not JSON.
pub fn spec_for(doc: &str) -> Arc<Spec> {
    static SPECS: OnceLock<Mutex<HashMap<String, Arc<Spec>>>> = OnceLock::new();
    let mut specs = SPECS.get_or_init(Default::default).lock().unwrap();
    specs
        .entry(doc.to_string())
        .or_insert_with(|| {
            Arc::new(Spec::new(
                serde_json::from_str(doc).expect("the OpenAPI document is JSON"),
            ))
        })
        .clone()
}

/// The document Quant serves, prepared.
pub fn served_spec() -> Arc<Spec> {
    spec_for(quant::http::openapi::document_json())
}

/// `application/json; charset=utf-8` → `application/json`.
fn essence(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

/// Whether the documented media range `documented` covers `actual`.
fn media_matches(documented: &str, actual: &str) -> bool {
    let documented = essence(documented);
    if documented == actual || documented == "*/*" {
        return true;
    }
    match documented.strip_suffix("/*") {
        Some(major) => actual.split('/').next() == Some(major),
        None => false,
    }
}

impl Spec {
    /// Prepares `doc`. Panics when it has no `components.schemas`.
    pub fn new(doc: Value) -> Spec {
        let components = doc["components"]["schemas"]
            .as_object()
            .expect("the document has components.schemas")
            .clone();
        let strict: Map<String, Value> = components
            .iter()
            .map(|(k, v)| (k.clone(), strict(v, &components, 0)))
            .collect();
        Spec {
            doc,
            schemas: Value::Object(strict),
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// The document itself.
    pub fn doc(&self) -> &Value {
        &self.doc
    }

    fn components(&self) -> Map<String, Value> {
        self.doc["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    fn validator(&self, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
        let schema = strict(schema, &self.components(), 0);
        let key = schema.to_string();
        if let Some(v) = self.validators.lock().unwrap().get(&key) {
            return Ok(v.clone());
        }
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": {"schemas": self.schemas},
            "allOf": [schema],
        });
        let v = Arc::new(
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&root)
                .map_err(|e| format!("the schema does not compile: {e}"))?,
        );
        self.validators.lock().unwrap().insert(key, v.clone());
        Ok(v)
    }

    /// Validates `body` against `schema`: every error as "`/pointer`: message".
    pub fn validate_json(&self, schema: &Value, body: &Value) -> Vec<String> {
        match self.validator(schema) {
            Err(e) => vec![e],
            Ok(v) => v
                .iter_errors(body)
                .map(|e| {
                    let at = e.instance_path().to_string();
                    format!("at `{}`: {e}", if at.is_empty() { "/" } else { &at })
                })
                .collect(),
        }
    }

    /// Follows a `$ref` (`#/…`) inside the document; other values unchanged.
    fn resolve<'a>(&'a self, v: &'a Value) -> Result<&'a Value, String> {
        match v.get("$ref").and_then(Value::as_str) {
            None => Ok(v),
            Some(r) => r
                .strip_prefix('#')
                .and_then(|p| self.doc.pointer(p))
                .ok_or_else(|| format!("unresolvable $ref {r}")),
        }
    }

    /// Checks every response; see the module doc.
    pub fn check(&self, responses: &[RecordedResponse]) -> Report {
        let mut report = Report::default();
        for r in responses {
            match self.check_one(r) {
                Ok(()) => report.checked += 1,
                Err(problems) => {
                    let route = r.route.as_deref().unwrap_or("(no route)");
                    for p in problems {
                        report.problems.push(format!(
                            "{} {} → {} (requested {}): {p}",
                            r.method, route, r.status, r.path
                        ));
                    }
                }
            }
        }
        report
    }

    /// Checks one response. Fails with what does not match.
    pub fn check_one(&self, r: &RecordedResponse) -> Result<(), Vec<String>> {
        let method = r.method.to_ascii_lowercase();
        let item = r
            .route
            .as_deref()
            .and_then(|route| self.doc["paths"].get(route));
        let op = item.and_then(|i| i.get(&method));
        let Some(op) = op else {
            // Outside every operation: only the documented catch-alls.
            let expected = match r.status {
                404 if item.is_none() => "not_found",
                405 if item.is_some() => "method_not_allowed",
                429 => "rate_limited",
                _ => {
                    return Err(vec![match item {
                        None => "no documented path matches this route".to_string(),
                        Some(_) => format!("the path documents no {} operation", r.method),
                    }]);
                }
            };
            return self.check_error_body(r, expected);
        };
        let status = r.status.to_string();
        let responses = &op["responses"];
        let Some(resp) = responses
            .get(&status)
            .or_else(|| responses.get(format!("{}XX", r.status / 100)))
            .or_else(|| responses.get("default"))
        else {
            let documented: Vec<&String> = responses
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            return Err(vec![format!(
                "status {status} is not documented (documented: {documented:?}); body: {}",
                String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
            )]);
        };
        let resp = self.resolve(resp).map_err(|e| vec![e])?;
        let content = resp
            .get("content")
            .and_then(Value::as_object)
            .filter(|m| !m.is_empty());
        let Some(content) = content else {
            if r.body.is_empty() {
                return Ok(());
            }
            return Err(vec![format!(
                "documented without a body, but the body has {} bytes ({:?})",
                r.body.len(),
                r.content_type
            )]);
        };
        let actual = essence(r.content_type.as_deref().unwrap_or(""));
        let Some((media, entry)) = content.iter().find(|(k, _)| media_matches(k, &actual)) else {
            return Err(vec![format!(
                "content type {:?} is not documented (documented: {:?})",
                r.content_type,
                content.keys().collect::<Vec<_>>()
            )]);
        };
        if !is_json(&essence(media)) {
            return Ok(());
        }
        let body: Value = serde_json::from_slice(&r.body).map_err(|e| {
            vec![format!(
                "the body is not JSON ({e}): {}",
                String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
            )]
        })?;
        let Some(schema) = entry.get("schema") else {
            return Ok(());
        };
        let errors = self.validate_json(schema, &body);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// A JSON `ErrorBody` whose code is `code`.
    fn check_error_body(&self, r: &RecordedResponse, code: &str) -> Result<(), Vec<String>> {
        if !is_json(&essence(r.content_type.as_deref().unwrap_or(""))) {
            return Err(vec![format!(
                "expected a JSON error body, got {:?}",
                r.content_type
            )]);
        }
        let body: Value = serde_json::from_slice(&r.body)
            .map_err(|e| vec![format!("the body is not JSON: {e}")])?;
        let mut errors =
            self.validate_json(&json!({"$ref": "#/components/schemas/ErrorBody"}), &body);
        if body["error"]["code"] != code {
            errors.push(format!(
                "expected error code {code:?}, got {}",
                body["error"]["code"]
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// `schema` with `unevaluatedProperties: false` on every object schema (one
/// with `properties` or `allOf`) that says nothing about extra properties.
/// `allOf` members are inlined without it (see [`lax`]), as they each see only
/// part of the object. `$ref`s stay references (to the strict components).
fn strict(schema: &Value, components: &Map<String, Value>, depth: usize) -> Value {
    let Some(obj) = schema.as_object() else {
        return schema.clone();
    };
    if obj.contains_key("$ref") {
        return schema.clone();
    }
    let mut out = children(obj, components, depth, strict);
    require_nullable(&mut out);
    let objectish = out.contains_key("properties") || out.contains_key("allOf");
    if objectish
        && !out.contains_key("additionalProperties")
        && !out.contains_key("unevaluatedProperties")
    {
        out.insert("unevaluatedProperties".into(), Value::Bool(false));
    }
    Value::Object(out)
}

/// Adds every nullable property of `obj` to its `required` list.
fn require_nullable(obj: &mut Map<String, Value>) {
    let Some(props) = obj.get("properties").and_then(Value::as_object) else {
        return;
    };
    let nullable: Vec<Value> = props
        .iter()
        .filter(|(_, s)| allows_null(s))
        .map(|(name, _)| Value::String(name.clone()))
        .collect();
    if nullable.is_empty() {
        return;
    }
    let required = obj
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = required {
        for name in nullable {
            if !list.contains(&name) {
                list.push(name);
            }
        }
    }
}

/// Whether `schema` says `null` is a valid value.
fn allows_null(schema: &Value) -> bool {
    match &schema["type"] {
        Value::String(t) if t == "null" => return true,
        Value::Array(ts) if ts.iter().any(|t| t == "null") => return true,
        _ => {}
    }
    ["oneOf", "anyOf"].iter().any(|k| {
        schema[k]
            .as_array()
            .is_some_and(|branches| branches.iter().any(allows_null))
    })
}

/// An `allOf` member: `$ref`s inlined, no `unevaluatedProperties` at this
/// level (the enclosing schema has it), nested properties strict.
fn lax(schema: &Value, components: &Map<String, Value>, depth: usize) -> Value {
    assert!(depth < 32, "schema nesting too deep (recursive allOf?)");
    let Some(obj) = schema.as_object() else {
        return schema.clone();
    };
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or("");
        return match components.get(name) {
            Some(target) => lax(target, components, depth + 1),
            None => schema.clone(),
        };
    }
    let mut out = children(obj, components, depth, lax);
    require_nullable(&mut out);
    Value::Object(out)
}

/// `obj` with its subschemas transformed: properties, items and
/// additionalProperties by `strict`, `allOf` members by `lax`, `oneOf`/`anyOf`
/// branches by `branch` (the caller's own rule).
fn children(
    obj: &Map<String, Value>,
    components: &Map<String, Value>,
    depth: usize,
    branch: fn(&Value, &Map<String, Value>, usize) -> Value,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in obj {
        let nv = match (k.as_str(), v) {
            ("properties", Value::Object(props)) => Value::Object(
                props
                    .iter()
                    .map(|(name, s)| (name.clone(), strict(s, components, depth + 1)))
                    .collect(),
            ),
            ("items" | "additionalProperties" | "not", s @ Value::Object(_)) => {
                strict(s, components, depth + 1)
            }
            ("prefixItems", Value::Array(list)) => Value::Array(
                list.iter()
                    .map(|s| strict(s, components, depth + 1))
                    .collect(),
            ),
            ("allOf", Value::Array(list)) => {
                Value::Array(list.iter().map(|s| lax(s, components, depth + 1)).collect())
            }
            ("oneOf" | "anyOf", Value::Array(list)) => Value::Array(
                list.iter()
                    .map(|s| branch(s, components, depth + 1))
                    .collect(),
            ),
            _ => v.clone(),
        };
        out.insert(k.clone(), nv);
    }
    out
}
