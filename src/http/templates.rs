//! HTML templates (minijinja, autoescaping on for every `.html` template),
//! embedded into the binary from `assets/templates` with rust-embed.

use minijinja::Environment;
use rust_embed::RustEmbed;
use serde::Serialize;

#[derive(RustEmbed)]
#[folder = "assets/templates/"]
struct Embedded;

/// The template environment.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Loads every embedded template. Fails when a template does not parse
    /// (caught by the tests, since templates are compiled in).
    pub fn load() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        for name in Embedded::iter() {
            if let Some(file) = Embedded::get(&name) {
                let src = String::from_utf8_lossy(&file.data).into_owned();
                env.add_template_owned(name.to_string(), src)?;
            }
        }
        Ok(Self { env })
    }

    /// Renders `name` with `ctx`. Fails when the template is missing or uses
    /// an undefined value.
    pub fn render<S: Serialize>(&self, name: &str, ctx: S) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates_load_and_escape() {
        let t = super::Templates::load().unwrap();
        let html = t
            .render(
                "message.html",
                minijinja::context! { title => "<b>x</b>", message => "<script>alert(1)</script>" },
            )
            .unwrap();
        assert!(html.contains("&lt;script&gt;alert(1)"), "{html}");
        assert!(!html.contains("<script>alert"));
    }
}
