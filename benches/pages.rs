//! Page performance of the web UI on the demo data: server time and page
//! weight of every page each role can reach, against issue 4's targets
//! (p95 ≤ 20 ms server time, ≤ 150 KB per page excluding photos).
//!
//! Not a test (`harness = false`; `cargo test` does not run it): run it with
//! `scripts/bench/pages`, which builds `quant` in release mode and passes it
//! here through `QUANT_BIN`.
//!
//! What it does:
//! 1. Starts `quant demo` (the seeded demo business: 2,000 customers, ~4,300
//!    work orders, invoices, leads) on 127.0.0.1 in a temp dir, its JSON log
//!    on a pipe.
//! 2. Signs in as the owner, the first office user and the first technician
//!    (`POST /api/v1/auth/login`, session cookie) and discovers pages: the
//!    role's landing page and every link of the main menu, then every local
//!    link on those pages, then the links on *those* — one page per route
//!    pattern (ids, numbers and dates in paths and query strings count as the
//!    same page; `?view=week` and `?status=draft` do not), the first URL seen
//!    for a pattern being the one measured. Downloads, the
//!    JSON API, static files, photos and sign-out are skipped. Nothing is
//!    hard-coded beyond the starting points, so pages other parts add are
//!    measured as soon as the menu or another page links to them. The only
//!    seeds are the dispatch board of the next working day and its week
//!    (today may be a Sunday with nothing booked).
//! 3. Requests each page `BENCH_N` times (after `BENCH_WARMUP`), one at a
//!    time, each with its own `X-Request-Id`, and takes the **server time** of
//!    each from the server's own log line for that request id (`duration_ms`:
//!    from the request entering the middleware to the response being ready,
//!    the figure `http_request_duration_seconds` observes, unbucketed); the
//!    client's loopback time is reported alongside.
//! 4. Page weight: the HTML plus every stylesheet, script and SVG it
//!    references (and `url(…)`s inside the stylesheets), each counted once per
//!    page, as served (no compression); photos (`/api/v1/attachments/…`) are
//!    excluded.
//! 5. Prints a Markdown table with ✔/✘ against the targets; writes it to
//!    `BENCH_OUT` if set, and replaces the part of `BENCH_DOCS` (e.g.
//!    `docs/performance.md`) between `<!-- pages-bench:begin -->` and
//!    `<!-- pages-bench:end -->` if set.
//!
//! Environment: `QUANT_BIN` (required), `BENCH_N` (default 50),
//! `BENCH_WARMUP` (default 5), `BENCH_MAX_PAGES` (per role, default 80),
//! `BENCH_OUT`, `BENCH_DOCS`, `BENCH_KEEP=1` (keep the temp dir and log).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const P95_TARGET_MS: f64 = 20.0;
const WEIGHT_TARGET_BYTES: usize = 150 * 1024;
const BEGIN: &str = "<!-- pages-bench:begin -->";
const END: &str = "<!-- pages-bench:end -->";

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------
// The server and its log
// ---------------------------------------------------------------------------

/// Server time (ms) of each request id, as the server logged it.
type Durations = Arc<Mutex<HashMap<String, f64>>>;

struct Server {
    child: Child,
    base: String,
    durations: Durations,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(bin: &Path, dir: &Path) -> Server {
    let log_path = dir.join("quant.log");
    let mut child = Command::new(bin)
        .args(["--data"])
        .arg(dir.join("data"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env("QUANT__LOG__FORMAT", "json")
        .env("QUANT__LOG__LEVEL", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let stdout = child.stdout.take().expect("stdout");
    let durations: Durations = Arc::default();
    let (tx, rx) = mpsc::channel();
    let d = durations.clone();
    std::thread::spawn(move || {
        let mut log = std::fs::File::create(&log_path).ok();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(f) = log.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            if let Some(i) = line.find("is running at http://") {
                let url = line[i + "is running at ".len()..]
                    .trim()
                    .trim_end_matches('/')
                    .to_string();
                let _ = tx.send(url);
                continue;
            }
            if !line.starts_with('{') || !line.contains("\"request\"") {
                continue;
            }
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if v["message"] != "request" {
                continue;
            }
            if let (Some(id), Some(ms)) =
                (v["span"]["request_id"].as_str(), v["duration_ms"].as_f64())
            {
                d.lock().unwrap().insert(id.to_string(), ms);
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("quant demo did not start within 2 minutes");
    assert!(
        base.starts_with("http://127.0.0.1:"),
        "only loopback is measured, not {base}"
    );
    Server {
        child,
        base,
        durations,
    }
}

/// The first active user of each role, as the demo created them.
fn logins(db: &Path) -> BTreeMap<String, String> {
    let c = rusqlite::Connection::open(db).expect("demo database");
    let mut st = c
        .prepare("SELECT role, email FROM users WHERE active = 1 ORDER BY created_at, email")
        .unwrap();
    let rows = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap();
    let mut out = BTreeMap::new();
    for (role, email) in rows.map_while(Result::ok) {
        out.entry(role).or_insert(email);
    }
    out
}

// ---------------------------------------------------------------------------
// HTML scanning
// ---------------------------------------------------------------------------

/// Decodes the entities minijinja's autoescape writes (`&amp;`, `&#x2f;`, …).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                u32::from_str_radix(&ent[2..], 16)
                    .ok()
                    .and_then(char::from_u32)
            }
            _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Values of `attr="…"` in `html`, unescaped.
fn attr_values(html: &str, attr: &str) -> Vec<String> {
    let needle = format!(" {attr}=\"");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&needle) {
        rest = &rest[i + needle.len()..];
        if let Some(end) = rest.find('"') {
            out.push(unescape(&rest[..end]));
            rest = &rest[end..];
        }
    }
    out
}

/// The links of the main menu (`<nav aria-label="Main">`).
fn nav_links(html: &str) -> Vec<String> {
    let Some(start) = html.find("<nav aria-label=\"Main\"") else {
        return Vec::new();
    };
    let end = html[start..]
        .find("</nav>")
        .map_or(html.len(), |e| start + e);
    attr_values(&html[start..end], "href")
}

/// Local page links worth measuring: same origin, not the API, static files,
/// photos, downloads or sign-out; without the fragment.
fn page_link(href: &str) -> Option<String> {
    let h = href.split('#').next()?.trim();
    if !h.starts_with('/') || h.starts_with("//") {
        return None;
    }
    let path = h.split('?').next()?;
    let skip = [
        "/api/", "/static/", "/logout", "/metrics", "/healthz", "/readyz",
    ];
    if skip.iter().any(|s| path.starts_with(s))
        || path.ends_with(".csv")
        || path.ends_with(".pdf")
        || path.contains("/export")
        || h.contains("format=csv")
        || h.contains("download")
    {
        return None;
    }
    Some(h.to_string())
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn is_date(s: &str) -> bool {
    s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        })
}

fn generic(v: &str) -> &str {
    if is_uuid(v) {
        "{id}"
    } else if is_date(v) {
        "{date}"
    } else if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        "{n}"
    } else if v.len() > 3 && v[..3].eq_ignore_ascii_case("WO-") {
        "{number}"
    } else {
        v
    }
}

/// The route pattern of a link: ids, dates and numbers replaced, query keys
/// sorted (`page` ignored) — one measured page per pattern.
fn pattern(link: &str) -> String {
    let (path, query) = link.split_once('?').unwrap_or((link, ""));
    let path: Vec<&str> = path.split('/').map(generic).collect();
    let mut q: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k != "page" && !v.is_empty()).then(|| format!("{k}={}", generic(v)))
        })
        .collect();
    q.sort();
    q.dedup();
    if q.is_empty() {
        path.join("/")
    } else {
        format!("{}?{}", path.join("/"), q.join("&"))
    }
}

/// Stylesheets, scripts and SVG images a page loads.
fn asset_refs(html: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in ["<link ", "<script ", "<img ", "<use "] {
        let mut rest = html;
        while let Some(i) = rest.find(tag) {
            rest = &rest[i..];
            let end = rest.find('>').unwrap_or(rest.len());
            let el = &rest[..end];
            for attr in ["href", "src"] {
                for v in attr_values(el, attr) {
                    let stylesheet_or_icon =
                        tag != "<link " || el.contains("stylesheet") || el.contains("icon");
                    if v.starts_with('/') && !v.starts_with("//") && stylesheet_or_icon {
                        out.push(v.split('#').next().unwrap_or("").to_string());
                    }
                }
            }
            rest = &rest[end.min(rest.len())..];
            if rest.is_empty() {
                break;
            }
            rest = &rest[1..];
        }
    }
    out.retain(|u| !u.starts_with("/api/v1/attachments") && !u.is_empty());
    out.sort();
    out.dedup();
    out
}

/// `url(…)`s inside a stylesheet (fonts, SVG backgrounds), local only.
fn css_urls(css: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = css;
    while let Some(i) = rest.find("url(") {
        rest = &rest[i + 4..];
        let end = rest.find(')').unwrap_or(rest.len());
        let u = rest[..end].trim().trim_matches(['"', '\'']);
        if u.starts_with('/') && !u.starts_with("//") {
            out.push(u.to_string());
        }
        rest = &rest[end..];
    }
    out
}

// ---------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn login(base: &str, email: &str, password: &str) -> Client {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        let r = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login request");
        assert_eq!(r.status(), 200, "login as {email}");
        Client {
            http,
            base: base.to_string(),
        }
    }

    /// GET `path` with request id `rid`: status, content type, Location, body
    /// and the client-side time.
    async fn get(&self, path: &str, rid: &str) -> (u16, String, String, Vec<u8>, f64) {
        let t0 = Instant::now();
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("x-request-id", rid)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        let header = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let (ct, loc) = (header("content-type"), header("location"));
        let body = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        (status, ct, loc, body, t0.elapsed().as_secs_f64() * 1000.0)
    }
}

/// One measured page.
struct PageResult {
    role: String,
    pattern: String,
    url: String,
    server: Vec<f64>,
    client: Vec<f64>,
    html: usize,
    assets: usize,
    asset_count: usize,
}

/// A page that could not be measured (not built yet, forbidden, …).
struct Skipped {
    role: String,
    url: String,
    status: u16,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

async fn wait_for_ids(durations: &Durations, ids: &[String]) -> Vec<f64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        {
            let d = durations.lock().unwrap();
            if ids.iter().all(|i| d.contains_key(i)) || Instant::now() > deadline {
                return ids.iter().filter_map(|i| d.get(i).copied()).collect();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Start URLs besides the menu, chosen to be representative: the dispatch
/// board of the next working day (the demo books work up to two weeks
/// ahead, and "today" may be a Sunday with nothing on it) and its week.
fn seeds(role: &str) -> Vec<String> {
    use chrono::Datelike;
    if role == "technician" {
        return Vec::new();
    }
    let mut day = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
    while day.weekday().number_from_monday() > 5 {
        day += chrono::Duration::days(1);
    }
    vec![
        format!("/dispatch?view=day&date={day}"),
        format!("/dispatch?view=week&date={day}"),
    ]
}

#[allow(clippy::too_many_arguments)]
async fn discover_and_measure(
    server: &Server,
    role: &str,
    client: &Client,
    n: usize,
    warmup: usize,
    max_pages: usize,
    asset_sizes: &mut HashMap<String, usize>,
    results: &mut Vec<PageResult>,
    skipped: &mut Vec<Skipped>,
) {
    let mut seq = 0u64;
    let mut rid = |tag: &str| {
        seq += 1;
        format!("pb-{role}-{tag}-{seq}")
    };
    // Level 0: the landing page (following its redirect, e.g. a technician's
    // /dashboard → /my-day) and the main menu.
    let mut start = "/dashboard".to_string();
    let (status, _, loc, body, _) = client.get(&start, &rid("d")).await;
    let mut first = String::from_utf8_lossy(&body).into_owned();
    if (300..400).contains(&status) && loc.starts_with('/') {
        start = loc;
        first = String::from_utf8_lossy(&client.get(&start, &rid("d")).await.3).into_owned();
    }
    // Seeds first, so that they are the URL measured for their pattern.
    let mut frontier: Vec<String> = seeds(role);
    frontier.push(start.clone());
    frontier.extend(nav_links(&first).iter().filter_map(|h| page_link(h)));
    let mut seen: HashSet<String> = HashSet::new();
    let mut pages: Vec<(String, String, String)> = Vec::new(); // (pattern, url, html)
    for _level in 0..3 {
        let mut next = Vec::new();
        for url in frontier {
            let pat = pattern(&url);
            if !seen.insert(pat.clone()) || pages.len() >= max_pages {
                continue;
            }
            let (status, ct, _, body, _) = client.get(&url, &rid("x")).await;
            if status != 200 || !ct.starts_with("text/html") {
                skipped.push(Skipped {
                    role: role.into(),
                    url,
                    status,
                });
                continue;
            }
            let html = String::from_utf8_lossy(&body).into_owned();
            next.extend(
                attr_values(&html, "href")
                    .iter()
                    .filter_map(|h| page_link(h)),
            );
            pages.push((pat, url, html));
        }
        frontier = next;
    }

    for (pat, url, html) in pages {
        // Weight: the HTML and every asset it loads, once each.
        let mut assets = 0usize;
        let mut refs = asset_refs(&html);
        let mut i = 0;
        let mut counted = HashSet::new();
        while i < refs.len() {
            let a = refs[i].clone();
            i += 1;
            if !counted.insert(a.clone()) {
                continue;
            }
            let size = match asset_sizes.get(&a) {
                Some(s) => *s,
                None => {
                    let (status, ct, _, body, _) = client.get(&a, &rid("a")).await;
                    let size = if status == 200 { body.len() } else { 0 };
                    if ct.starts_with("text/css") {
                        refs.extend(css_urls(&String::from_utf8_lossy(&body)));
                    }
                    asset_sizes.insert(a.clone(), size);
                    size
                }
            };
            assets += size;
        }
        // Server time.
        for _ in 0..warmup {
            client.get(&url, &rid("w")).await;
        }
        let mut ids = Vec::with_capacity(n);
        let mut client_ms = Vec::with_capacity(n);
        let mut html_len = html.len();
        for _ in 0..n {
            let id = rid("m");
            let (status, _, _, body, ms) = client.get(&url, &id).await;
            assert_eq!(
                status, 200,
                "{url} answered {status} during the measurement"
            );
            html_len = body.len();
            client_ms.push(ms);
            ids.push(id);
        }
        let mut server_ms = wait_for_ids(&server.durations, &ids).await;
        server_ms.sort_by(f64::total_cmp);
        client_ms.sort_by(f64::total_cmp);
        results.push(PageResult {
            role: role.into(),
            pattern: pat,
            url,
            server: server_ms,
            client: client_ms,
            html: html_len,
            assets,
            asset_count: counted.len(),
        });
    }
}

fn kb(bytes: usize) -> String {
    format!("{:.1}", bytes as f64 / 1024.0)
}

fn report(
    results: &[PageResult],
    skipped: &[Skipped],
    n: usize,
    elapsed: Duration,
    machine: &str,
) -> String {
    let mut s = String::new();
    let ok_all = results.iter().all(|r| {
        quantile(&r.server, 0.95) <= P95_TARGET_MS && r.html + r.assets <= WEIGHT_TARGET_BYTES
    });
    s.push_str(&format!(
        "Run of {} ({machine}): {} pages measured for 3 roles, {n} requests each after warm-up, one at a time; {:.0} s in all. Targets: server p95 ≤ {P95_TARGET_MS} ms, weight ≤ {} KB. **{}**\n\n",
        chrono::Utc::now().format("%Y-%m-%d"),
        results.len(),
        elapsed.as_secs_f64(),
        WEIGHT_TARGET_BYTES / 1024,
        if ok_all {
            "Every page meets both targets."
        } else {
            "Some pages miss a target (✘)."
        }
    ));
    s.push_str("| Role | Page | Server p50 ms | Server p95 ms | Client p95 ms | HTML KB | Assets KB (files) | Weight KB | Time | Weight |\n");
    s.push_str("|---|---|---:|---:|---:|---:|---:|---:|:-:|:-:|\n");
    for r in results {
        let p95 = quantile(&r.server, 0.95);
        let weight = r.html + r.assets;
        s.push_str(&format!(
            "| {} | `{}` | {:.2} | {:.2} | {:.2} | {} | {} ({}) | {} | {} | {} |\n",
            r.role,
            r.pattern.replace('|', "\\|"),
            quantile(&r.server, 0.5),
            p95,
            quantile(&r.client, 0.95),
            kb(r.html),
            kb(r.assets),
            r.asset_count,
            kb(weight),
            if p95 <= P95_TARGET_MS { "✔" } else { "✘" },
            if weight <= WEIGHT_TARGET_BYTES {
                "✔"
            } else {
                "✘"
            },
        ));
    }
    if !skipped.is_empty() {
        s.push_str(
            "\nLinked but not measured (not a page yet on this build, or not for this role):",
        );
        let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for k in skipped {
            by.entry(k.role.clone())
                .or_default()
                .push(format!("`{}` ({})", k.url, k.status));
        }
        for (role, v) in by {
            s.push_str(&format!(" {role}: {};", v.join(", ")));
        }
        s.push('\n');
    }
    s
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    format!("{cores} cores, load average {load} at the start")
}

fn write_docs(path: &Path, table: &str) {
    let Ok(doc) = std::fs::read_to_string(path) else {
        eprintln!("cannot read {}; not updated", path.display());
        return;
    };
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        eprintln!(
            "{} has no {BEGIN} … {END} markers; not updated",
            path.display()
        );
        return;
    };
    let updated = format!("{}{BEGIN}\n{table}{}", &doc[..b], &doc[e..]);
    match std::fs::write(path, updated) {
        Ok(()) => eprintln!("updated {}", path.display()),
        Err(err) => eprintln!("cannot write {}: {err}", path.display()),
    }
}

fn main() {
    self_check();
    let bin = PathBuf::from(
        std::env::var("QUANT_BIN")
            .expect("QUANT_BIN must name the quant binary (scripts/bench/pages sets it)"),
    );
    let n = env_num("BENCH_N", 50).max(1);
    let warmup = env_num("BENCH_WARMUP", 5);
    let max_pages = env_num("BENCH_MAX_PAGES", 80).max(1);
    let machine = machine();
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let server = start(&bin, dir.path());
    eprintln!("quant demo at {}", server.base);
    let logins = logins(&dir.path().join("data/quant.db"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut results = Vec::new();
    let mut skipped = Vec::new();
    let mut asset_sizes = HashMap::new();
    for role in ["owner", "office", "technician"] {
        let Some(email) = logins.get(role) else {
            eprintln!("no {role} login in the demo; skipped");
            continue;
        };
        rt.block_on(async {
            let client = Client::login(&server.base, email, quant::demo::DEMO_PASSWORD).await;
            let before = results.len();
            discover_and_measure(
                &server,
                role,
                &client,
                n,
                warmup,
                max_pages,
                &mut asset_sizes,
                &mut results,
                &mut skipped,
            )
            .await;
            eprintln!("{role}: {} pages measured", results.len() - before);
        });
    }
    for r in &results {
        eprintln!("measured {} {} as {}", r.role, r.url, r.pattern);
    }
    let table = report(&results, &skipped, n, started.elapsed(), &machine);
    println!("{table}");
    if let Ok(out) = std::env::var("BENCH_OUT")
        && !out.is_empty()
        && let Err(e) = std::fs::write(&out, &table)
    {
        eprintln!("cannot write {out}: {e}");
    }
    if let Ok(docs) = std::env::var("BENCH_DOCS")
        && !docs.is_empty()
    {
        write_docs(Path::new(&docs), &table);
    }
    if std::env::var("BENCH_KEEP").as_deref() == Ok("1") {
        let kept = dir.keep();
        eprintln!("kept {}", kept.display());
    }
    drop(server);
}

/// The link rules, checked on every run (a bench has no test harness).
fn self_check() {
    assert_eq!(
        pattern("/work-orders/01a1dfb5-4000-761e-85e5-f45aa0f8a699"),
        "/work-orders/{id}"
    );
    assert_eq!(
        pattern("/dispatch?view=week&date=2026-11-23"),
        "/dispatch?date={date}&view=week"
    );
    assert_eq!(
        pattern("/work-orders?page=2&status=draft"),
        "/work-orders?status=draft"
    );
    assert_eq!(unescape("&#x2f;a?b=1&amp;c=2"), "/a?b=1&c=2");
    assert_eq!(page_link("/x?format=csv"), None);
    assert_eq!(page_link("/api/v1/customers"), None);
    assert_eq!(
        page_link("/work-orders#top").as_deref(),
        Some("/work-orders")
    );
    assert_eq!(page_link("https://www.openstreetmap.org/"), None);
    assert_eq!(
        asset_refs(
            "<link rel=\"stylesheet\" href=\"&#x2f;static&#x2f;a.css\"><link rel=\"preload\" href=\"/x\"><img src=\"/api/v1/attachments/1\"><script src=\"/static/b.js\" defer></script>"
        ),
        ["/static/a.css", "/static/b.js"]
    );
    assert_eq!(
        css_urls("a{background:url('/static/i.svg')} b{x:url(data:x)}"),
        ["/static/i.svg"]
    );
    assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.0);
    assert_eq!(
        quantile(&(1..=100).map(f64::from).collect::<Vec<_>>(), 0.95),
        95.0
    );
}
