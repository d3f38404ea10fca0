//! Test harness shared by the integration tests: start the real `App`
//! in-process on port 0 with a temp data dir and a manual clock, or spawn the
//! real `quant` binary and read its JSON log lines.
#![allow(dead_code)]

pub mod spec;

use quant::app::{App, AppOptions};
use quant::clock::ManualClock;
use quant::config::Config;
use quant::domain::user::Role;
use quant::http::middleware::ResponseLog;
use quant::http::state::AppState;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A password that meets the policy.
pub const PASSWORD: &str = "correct horse battery";

/// A configuration for tests: loopback port 0, the given data dir, 2 workers.
pub fn test_config(dir: &Path) -> Config {
    let mut c = Config::default();
    c.server.listen = "127.0.0.1:0".parse().unwrap();
    c.server.workers = 2;
    c.server.shutdown_timeout = Duration::from_secs(5);
    c.database.data_dir = dir.to_path_buf();
    c.rate_limit.api_per_minute = 100_000;
    c.rate_limit.api_burst = 10_000;
    c
}

/// The real App running in this process.
pub struct TestApp {
    pub base: String,
    pub state: actix_web::web::Data<AppState>,
    pub handle: actix_web::dev::ServerHandle,
    pub clock: Arc<ManualClock>,
    pub setup_url: Option<String>,
    pub dir: tempfile::TempDir,
    /// Every API response this app sent, checked against the OpenAPI
    /// document by [`TestApp::stop`].
    pub responses: ResponseLog,
    /// The replicator's status, when `[replica]` is on.
    pub replica: Option<quant::replica::replicator::SharedStatus>,
    join: tokio::task::JoinHandle<()>,
}

impl TestApp {
    /// Starts with the test configuration.
    pub async fn start() -> TestApp {
        Self::start_with(|_| {}).await
    }

    /// Starts after letting `tweak` change the test configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, tweak).await
    }

    /// Starts on an existing data dir (e.g. to test a restart).
    pub async fn start_in(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = test_config(dir.path());
        tweak(&mut config);
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let responses = ResponseLog::default();
        let app = App::build_with(
            config,
            AppOptions {
                clock: clock.clone(),
                record_responses: Some(responses.clone()),
                ..AppOptions::default()
            },
        )
        .await
        .expect("app builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        let handle = app.handle();
        let setup_url = app.setup_url();
        let replica = app.replica_status();
        let join = tokio::spawn(async move {
            app.run_until_stopped().await.expect("server runs");
        });
        TestApp {
            base,
            state,
            handle,
            clock,
            setup_url,
            dir,
            responses,
            replica,
            join,
        }
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Creates a user directly (as `quant user add` would).
    pub async fn user(&self, email: &str, role: Role) -> quant::db::auth::UserRow {
        let clock: quant::clock::SharedClock = self.clock.clone();
        quant::accounts::create_user(
            &self.state.db,
            &clock,
            email,
            "Test User",
            role,
            PASSWORD.to_string().into(),
            10,
        )
        .await
        .expect("user created")
    }

    /// Issues an API token for `email` (as `quant token create` would).
    pub async fn token(&self, email: &str, name: &str) -> String {
        use secrecy::ExposeSecret;
        let clock: quant::clock::SharedClock = self.clock.clone();
        let (_, t) = quant::accounts::create_token(&self.state.db, &clock, email, name)
            .await
            .expect("token created");
        t.expose_secret().to_string()
    }

    /// A client with a cookie jar, logged in as `email`.
    pub async fn login(&self, email: &str) -> reqwest::Client {
        login_client(&self.url(""), email, PASSWORD).await
    }

    /// Checks every response recorded so far against the OpenAPI document
    /// the app serves (see `spec`).
    pub fn response_report(&self) -> spec::Report {
        let recorded = self.responses.lock().unwrap().clone();
        spec::served_spec().check(&recorded)
    }

    /// Stops the server gracefully and waits for it, then checks every
    /// response it sent against the OpenAPI document; panics listing each
    /// mismatch.
    pub async fn stop(self) -> tempfile::TempDir {
        self.handle.stop(true).await;
        let report = self.response_report();
        let _ = self.join.await;
        assert!(
            report.problems.is_empty(),
            "{} response(s) do not match the OpenAPI document ({} matched):\n{}",
            report.problems.len(),
            report.checked,
            report.problems.join("\n")
        );
        self.dir
    }
}

/// A plain client (no cookies).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A client that keeps cookies.
pub fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Logs in at `base` (e.g. `http://127.0.0.1:1234`) and returns a client
/// that carries the session cookie and, on every request, the
/// `X-CSRF-Token` header the API requires with it.
pub async fn login_client(base: &str, email: &str, password: &str) -> reqwest::Client {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let c = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c
        .post(format!("{}/api/v1/auth/login", base.trim_end_matches('/')))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login as {email}");
    let body: serde_json::Value = r.json().await.unwrap();
    let csrf = body["csrfToken"].as_str().expect("csrfToken").to_string();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-csrf-token", csrf.parse().unwrap());
    reqwest::Client::builder()
        .cookie_provider(jar)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Path of the built `quant` binary.
pub fn quant_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_quant"))
}

/// A `quant` command with a clean `QUANT*` environment.
pub fn quant_cmd() -> Command {
    let mut c = Command::new(quant_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("QUANT") || k == "LISTEN_FDS" || k == "LISTEN_PID" || k == "NOTIFY_SOCKET"
        {
            c.env_remove(k);
        }
    }
    c
}

/// A running `quant serve` child process whose stdout lines are collected.
pub struct Served {
    pub child: Child,
    pub addr: String,
    pub lines: Arc<std::sync::Mutex<Vec<String>>>,
    rx: mpsc::Receiver<String>,
}

impl Served {
    /// Base URL.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until a stdout line satisfies `pred` (up to `within`); returns it.
    pub fn wait_line(&self, within: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + within;
        {
            let seen = self.lines.lock().unwrap();
            if let Some(l) = seen.iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
        }
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(l) if pred(&l) => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// Sends a signal to the child.
    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for the child to exit (up to `within`); returns its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` (a prepared `quant … serve` command), collects its stdout,
/// and waits for the "listening" log line to learn the address.
pub fn serve(mut cmd: Command) -> Served {
    cmd.env("QUANT__LOG__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("quant spawns");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            keep.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
    let mut s = Served {
        child,
        addr: String::new(),
        lines,
        rx,
    };
    let line = s
        .wait_line(Duration::from_secs(30), |l| {
            l.contains("\"message\":\"listening\"")
        })
        .unwrap_or_else(|| panic!("quant did not start; output: {:?}", s.lines.lock().unwrap()));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    s.addr = v["addr"].as_str().unwrap().to_string();
    s
}

/// A response read from a raw HTTP/1.1 connection.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// Parses a complete HTTP/1.1 response (head and body, identity or chunked).
/// Fails when `raw` is not one.
pub fn parse_response(raw: &[u8]) -> Result<RawResponse, String> {
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {text:?}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        let mut out = String::new();
        let mut rest = rest;
        loop {
            let (size, after) = rest
                .split_once("\r\n")
                .ok_or_else(|| "truncated chunk size".to_string())?;
            let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|e| format!("bad chunk size {size:?}: {e}"))?;
            if n == 0 {
                break;
            }
            let chunk = after
                .get(..n)
                .ok_or_else(|| "truncated chunk".to_string())?;
            out.push_str(chunk);
            rest = after.get(n + 2..).unwrap_or("");
        }
        out
    } else {
        match headers.iter().find(|(k, _)| k == "content-length") {
            Some((_, n)) => {
                let n: usize = n.parse().map_err(|e| format!("bad content-length: {e}"))?;
                rest.get(..n)
                    .ok_or_else(|| format!("body shorter than {n} bytes: {rest:?}"))?
                    .to_string()
            }
            None => rest.to_string(),
        }
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// Reads from `stream` until the server closes it (send `Connection: close`)
/// or 10 s pass, then parses the response. Fails on I/O errors, a timeout
/// before any byte, or a malformed response.
pub fn read_response(stream: &mut std::net::TcpStream) -> Result<RawResponse, String> {
    use std::io::Read;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // A signal (e.g. SIGCHLD from a spawned quant) interrupted the read: retry.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if raw.is_empty() => return Err(format!("read: {e}")),
            Err(_) => break,
        }
    }
    parse_response(&raw)
}

/// One HTTP/1.1 request on a fresh connection to `addr` (`host:port`) with
/// `Connection: close`; `body` is sent as JSON when given. Panics on I/O errors.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> RawResponse {
    use std::io::Write;
    let mut s =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    s.write_all(req.as_bytes())
        .unwrap_or_else(|e| panic!("write to {addr}: {e}"));
    read_response(&mut s).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Runs `cmd` with `stdin` written to its standard input and waits (at most
/// 60 s, then kills it and panics); returns the exit code (-1 when killed by a
/// signal), stdout and stderr.
pub fn run_with_stdin(cmd: &mut Command, stdin: &str) -> (i32, String, String) {
    use std::io::{Read, Write};
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("quant spawns");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_string();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(data.as_bytes());
    });
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for quant") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = writer.join();
    (
        status.code().unwrap_or(-1),
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    )
}

/// Runs `cmd` with empty standard input; see [`run_with_stdin`].
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    run_with_stdin(cmd, "")
}
