//! Static assets (CSS, JavaScript, icons) embedded from `assets/static` with
//! rust-embed. Each file is served under a content-hashed name
//! (`/static/app.3f9c0a1b2d.css`) with a one-year immutable cache, and under
//! its plain name with `no-cache`; both carry a strong `ETag` and answer
//! `If-None-Match` with 304. Templates get hashed URLs from `asset("app.css")`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(RustEmbed)]
#[folder = "assets/static/"]
struct Embedded;

/// One embedded file with its hash.
struct Asset {
    bytes: std::borrow::Cow<'static, [u8]>,
    content_type: &'static str,
    etag: String,
    hashed_name: String,
}

struct Catalogue {
    by_name: HashMap<String, Asset>,
    /// hashed name → plain name
    hashed: HashMap<String, String>,
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "json" | "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

fn hashed(name: &str, hash: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{name}.{hash}"),
    }
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    let mut by_name = HashMap::new();
    let mut hashed_names = HashMap::new();
    for name in Embedded::iter() {
        let Some(file) = Embedded::get(&name) else {
            continue;
        };
        let digest = hex::encode(Sha256::digest(&file.data));
        let short = &digest[..10];
        let hashed_name = hashed(&name, short);
        hashed_names.insert(hashed_name.clone(), name.to_string());
        by_name.insert(
            name.to_string(),
            Asset {
                content_type: content_type(&name),
                etag: format!("\"{short}\""),
                hashed_name,
                bytes: file.data,
            },
        );
    }
    Catalogue {
        by_name,
        hashed: hashed_names,
    }
});

/// The URL of the embedded asset `name` under its content-hashed name, or
/// the plain `/static/{name}` when there is no such asset (so a typo shows
/// up as a 404 in the browser, and in the tests that fetch every asset).
pub fn url(name: &str) -> String {
    match CATALOGUE.by_name.get(name) {
        Some(a) => format!("/static/{}", a.hashed_name),
        None => format!("/static/{name}"),
    }
}

/// Every embedded asset's hashed URL (for tests and the page-weight bench).
pub fn all_urls() -> Vec<String> {
    let mut v: Vec<String> = CATALOGUE.by_name.keys().map(|n| url(n)).collect();
    v.sort();
    v
}

/// Registers `/static/{name}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{name:.+}", web::get().to(serve))
        .route("/favicon.ico", web::get().to(favicon));
}

async fn favicon() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, url("icon.svg")))
        .finish()
}

async fn serve(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let name = name.into_inner();
    let (asset, immutable) = if let Some(plain) = CATALOGUE.hashed.get(&name) {
        (CATALOGUE.by_name.get(plain), true)
    } else {
        (CATALOGUE.by_name.get(&name), false)
    };
    let Some(asset) = asset else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found");
    };
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == asset.etag || t.trim() == "*")
        });
    if matches {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, asset.etag.clone()))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        .insert_header((header::ETAG, asset.etag.clone()))
        .insert_header((header::CACHE_CONTROL, cache))
        .body(match &asset.bytes {
            std::borrow::Cow::Borrowed(b) => actix_web::web::Bytes::from_static(b),
            std::borrow::Cow::Owned(v) => actix_web::web::Bytes::from(v.clone()),
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashed_names_keep_the_extension() {
        assert_eq!(super::hashed("app.css", "abc"), "app.abc.css");
        assert_eq!(super::hashed("LICENSE", "abc"), "LICENSE.abc");
        assert!(super::url("app.css").starts_with("/static/app."));
        assert!(super::url("app.css").ends_with(".css"));
        assert_eq!(super::url("nope.css"), "/static/nope.css");
    }
}
