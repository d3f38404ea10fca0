//! HTML templates (minijinja, autoescaping on for every `.html` template),
//! embedded into the binary from `assets/templates` with rust-embed.
//!
//! Besides minijinja's built-ins, templates get:
//! - `asset("app.css")` → the content-hashed URL of an embedded asset;
//! - `value|money` (`$1,234.56`), `value|money_short` (`$45K`, `$1.2M`),
//!   `value|decimal` (`1234.56`, for form inputs) — each takes integer cents,
//!   a `Money` as the API view structs carry it, or a float of dollars;
//! - `value|hours` (integer minutes or a `Minutes` → `1.5 h`), `value|pct` (a ratio 0..1 → `23%`),
//!   `value|thousands` (`12,345`).

use minijinja::{Environment, Value};
use rust_embed::RustEmbed;
use serde::Serialize;
use std::sync::LazyLock;

#[derive(RustEmbed)]
#[folder = "assets/templates/"]
struct Embedded;

/// The template environment.
pub struct Templates {
    env: Environment<'static>,
}

/// Groups an unsigned integer's digits by thousands.
pub fn thousands(n: u128) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Integer cents as `$1,234.56` (`-$5.00` when negative).
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!(
        "{sign}${}.{:02}",
        thousands(u128::from(abs / 100)),
        abs % 100
    )
}

/// Integer cents as a short amount for dashboards: `$950`, `$45K`, `$1.2M`.
pub fn money_short(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let dollars = cents.unsigned_abs() as f64 / 100.0;
    if dollars >= 1_000_000.0 {
        format!("{sign}${:.1}M", dollars / 1_000_000.0)
    } else if dollars >= 1_000.0 {
        format!("{sign}${:.0}K", dollars / 1_000.0)
    } else {
        format!("{sign}${dollars:.0}")
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    i64::try_from(v.clone())
        .ok()
        .or_else(|| f64::try_from(v.clone()).ok().map(|f| f.round() as i64))
}

/// The key under which a serialised [`crate::domain::money::Money`] (a
/// serde_json raw value) reaches a template.
const RAW_VALUE_KEY: &str = "$serde_json::private::RawValue";

/// Cents from a template value: an integer is cents, a `Money` (as the API
/// views carry it) is its amount, a float is dollars.
fn as_cents(v: &Value) -> Option<i64> {
    if let Ok(raw) = v.get_attr(RAW_VALUE_KEY)
        && let Some(text) = raw.as_str()
    {
        return crate::domain::money::Money::parse_decimal(text)
            .ok()
            .map(|m| m.cents());
    }
    if let Ok(i) = i64::try_from(v.clone()) {
        return Some(i);
    }
    f64::try_from(v.clone())
        .ok()
        .filter(|f| f.is_finite())
        .map(|f| (f * 100.0).round() as i64)
}

fn f_money(v: Value) -> String {
    as_cents(&v).map(money).unwrap_or_default()
}

fn f_money_short(v: Value) -> String {
    as_cents(&v).map(money_short).unwrap_or_default()
}

/// `Money` or a number as a plain decimal string (`1234.50`), for form
/// inputs; empty for none.
fn f_decimal(v: Value) -> String {
    as_cents(&v)
        .map(|c| crate::domain::money::Money::from_cents(c).to_decimal())
        .unwrap_or_default()
}

fn f_hours(v: Value) -> String {
    let minutes = match v
        .get_attr(RAW_VALUE_KEY)
        .ok()
        .and_then(|r| r.as_str().map(str::to_string))
    {
        // A `Minutes` as the API views carry it: hours with two decimals.
        Some(text) => text.parse::<f64>().ok().map(|h| (h * 60.0).round() as i64),
        None => as_i64(&v),
    };
    match minutes {
        Some(m) => {
            let h = m as f64 / 60.0;
            if (h - h.round()).abs() < 1e-9 {
                format!("{} h", h.round() as i64)
            } else {
                format!("{h:.1} h")
            }
        }
        None => String::new(),
    }
}

fn f_pct(v: Value) -> String {
    match f64::try_from(v).ok().filter(|f| f.is_finite()) {
        Some(f) => format!("{:.0}%", f * 100.0),
        None => "—".into(),
    }
}

fn f_thousands(v: Value) -> String {
    match as_i64(&v) {
        Some(n) if n < 0 => format!("-{}", thousands(u128::from(n.unsigned_abs()))),
        Some(n) => thousands(n as u128),
        None => String::new(),
    }
}

impl Templates {
    /// Loads every embedded template. Fails when a template does not parse
    /// (caught by the tests, since templates are compiled in).
    pub fn load() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") || name.ends_with(".svg") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        env.add_function("asset", |name: String| super::assets::url(&name));
        env.add_filter("money", f_money);
        env.add_filter("money_short", f_money_short);
        env.add_filter("decimal", f_decimal);
        env.add_filter("hours", f_hours);
        env.add_filter("pct", f_pct);
        env.add_filter("thousands", f_thousands);
        for name in Embedded::iter() {
            if let Some(file) = Embedded::get(&name) {
                let src = String::from_utf8_lossy(&file.data).into_owned();
                env.add_template_owned(name.to_string(), src)?;
            }
        }
        Ok(Self { env })
    }

    /// Renders `name` with `ctx`. Fails when the template is missing or does
    /// not render.
    pub fn render<S: Serialize>(&self, name: &str, ctx: S) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }

    /// Every template's name (for the tests that render each one).
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.env.templates().map(|(n, _)| n.to_string()).collect();
        v.sort();
        v
    }
}

static GLOBAL: LazyLock<Result<Templates, String>> =
    LazyLock::new(|| Templates::load().map_err(|e| e.to_string()));

/// The process-wide template set (loaded once). Fails with the parse error
/// when an embedded template is broken.
pub fn global() -> Result<&'static Templates, String> {
    GLOBAL.as_ref().map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_load_and_escape() {
        let t = Templates::load().unwrap();
        let html = t
            .render(
                "message.html",
                minijinja::context! { title => "<b>x</b>", message => "<script>alert(1)</script>" },
            )
            .unwrap();
        assert!(html.contains("&lt;script&gt;alert(1)"), "{html}");
        assert!(!html.contains("<script>alert"));
    }

    #[test]
    fn every_template_renders_with_a_minimal_context() {
        let t = Templates::load().unwrap();
        for name in t.names() {
            for role in ["owner", "office", "technician"] {
                let ctx = minijinja::context! {
                    me => minijinja::context! { role, name => "N", email => "n@x.example" },
                    path => "/work-orders/1", csrf => "token", business => "B", message => "a\nb",
                };
                if let Err(e) = t.render(&name, ctx) {
                    panic!("{name} as {role}: {e:#}");
                }
            }
        }
    }

    #[test]
    fn money_formats() {
        assert_eq!(money(0), "$0.00");
        assert_eq!(money(123_456_789), "$1,234,567.89");
        assert_eq!(money(-505), "-$5.05");
        assert_eq!(money_short(4_500_000), "$45K");
        assert_eq!(money_short(123_000_000), "$1.2M");
        assert_eq!(money_short(95_000), "$950");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(f_hours(Value::from(90)), "1.5 h");
        assert_eq!(f_hours(Value::from(120)), "2 h");
        assert_eq!(f_pct(Value::from(0.234)), "23%");
        assert_eq!(f_pct(Value::from(f64::NAN)), "—");
        let m = Value::from_serialize(crate::domain::money::Money::from_cents(123_450));
        assert_eq!(f_money(m.clone()), "$1,234.50");
        assert_eq!(f_decimal(m), "1234.50");
        assert_eq!(f_money(Value::from(12.5)), "$12.50");
        let h = Value::from_serialize(crate::domain::money::Minutes(150));
        assert_eq!(f_hours(h), "2.5 h");
    }
}
