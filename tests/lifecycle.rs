//! The real `quant serve` process as systemd and operators see it: graceful
//! shutdown on SIGTERM/SIGINT, socket activation, sd_notify readiness and
//! watchdog, configuration hot reload, durability of acknowledged writes
//! across SIGKILL, and JSON log lines carrying request ids.

mod common;
use common::*;

use std::collections::HashSet;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn serve_cmd(dir: &Path) -> Command {
    let mut c = quant_cmd();
    c.arg("--data")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"]);
    c
}

fn json_line(l: &str) -> Option<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(l)
        .ok()
        .filter(|v| v.is_object())
}

/// The top-level keys of a JSON object, in order, duplicates included
/// (`serde_json::Value` would silently keep only the last of duplicates).
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

/// Asserts every line is a JSON log record (an object with `timestamp`,
/// `level` and `message`) with no key twice.
fn assert_json_log_lines(lines: &[String]) {
    assert!(!lines.is_empty());
    for l in lines {
        let Keys(keys) =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON object ({e}): {l}"));
        let mut seen = HashSet::new();
        for k in &keys {
            assert!(seen.insert(k), "key {k:?} appears twice: {l}");
        }
        for k in ["timestamp", "level", "message"] {
            assert!(seen.contains(&k.to_string()), "no {k}: {l}");
        }
    }
}

/// A predicate for a JSON log line with this message (and optionally level).
fn message(msg: &'static str, level: Option<&'static str>) -> impl Fn(&str) -> bool {
    move |l| {
        json_line(l).is_some_and(|v| {
            v["message"].as_str().is_some_and(|m| m.contains(msg))
                && level.is_none_or(|lv| v["level"] == lv)
        })
    }
}

/// Waits for the child's exit status (at most `within`).
fn wait_status(s: &mut Served, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = s.child.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// True when a fresh connection to `addr` gets an HTTP answer to `GET /healthz`.
fn served_fresh_connection(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(1))
    else {
        return false;
    };
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 64];
    match std::io::Read::read(&mut s, &mut buf) {
        Ok(n) => buf[..n].starts_with(b"HTTP/1.1"),
        Err(_) => false,
    }
}

#[test]
fn sigterm_drains_the_in_flight_request_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(serve_cmd(dir.path()));
    let body = serde_json::json!({"email": "nobody@example.com", "password": PASSWORD}).to_string();
    let (first, rest) = body.split_at(body.len() / 2);

    let mut conn = TcpStream::connect(&s.addr).unwrap();
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        s.addr,
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(first.as_bytes()).unwrap();
    conn.flush().unwrap();
    // Let the server read the head and start on the body before the signal.
    std::thread::sleep(Duration::from_millis(300));

    s.signal(libc::SIGTERM);
    assert!(
        s.wait_line(
            Duration::from_secs(5),
            message("shutdown requested", Some("INFO"))
        )
        .is_some(),
        "SIGTERM is logged"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !served_fresh_connection(&s.addr),
        "a new connection after SIGTERM must not be served"
    );
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "quant must wait for the in-flight request"
    );

    conn.write_all(rest.as_bytes()).unwrap();
    let r = read_response(&mut conn).expect("the in-flight request gets its response");
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.json()["error"]["code"].is_string(), "{}", r.body);
    drop(conn);

    let st = wait_status(&mut s, Duration::from_secs(15)).expect("quant exits after draining");
    assert_eq!(st.code(), Some(0), "{st:?}");
    assert!(
        s.wait_line(Duration::from_secs(2), message("stopped", None))
            .is_some()
    );
}

#[test]
fn sigint_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(serve_cmd(dir.path()));
    assert_eq!(http(&s.addr, "GET", "/healthz", &[], None).status, 200);
    s.signal(libc::SIGINT);
    let st = wait_status(&mut s, Duration::from_secs(15)).expect("quant exits on SIGINT");
    assert_eq!(st.code(), Some(0), "{st:?}");
    assert!(
        s.wait_line(Duration::from_secs(2), message("shutdown requested", None))
            .is_some()
    );
}

/// `sh` wrapping `quant --data DIR serve --listen LISTEN` so that the listener
/// is fd 3, `LISTEN_FDS=1` and `LISTEN_PID` is `pid` (the child's own pid when
/// `None`), as systemd passes a socket.
fn activated(dir: &Path, listener: &TcpListener, listen: &str, pid: Option<u32>) -> Command {
    use std::os::fd::AsRawFd;
    let mut c = Command::new("/bin/sh");
    for (k, v) in quant_cmd().get_envs() {
        if v.is_none() {
            c.env_remove(k);
        }
    }
    let script = match pid {
        None => r#"LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@""#.to_string(),
        Some(p) => format!(r#"LISTEN_PID={p}; export LISTEN_PID; exec "$0" "$@""#),
    };
    c.arg("-c")
        .arg(script)
        .arg(quant_bin())
        .arg("--data")
        .arg(dir)
        .args(["serve", "--listen", listen])
        .env("LISTEN_FDS", "1");
    let fd = listener.as_raw_fd();
    // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
    unsafe {
        c.pre_exec(move || {
            if fd == 3 {
                let flags = libc::fcntl(3, libc::F_GETFD);
                if flags < 0 || libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c
}

#[test]
fn socket_activation_serves_on_the_inherited_socket() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // --listen names an address already taken: binding it would fail, so
    // serving at all proves quant used fd 3 instead.
    let decoy = TcpListener::bind("127.0.0.1:0").unwrap();
    let decoy_addr = decoy.local_addr().unwrap().to_string();
    let s = serve(activated(dir.path(), &listener, &decoy_addr, None));
    drop(listener);
    assert_eq!(s.addr, addr.to_string());
    assert!(
        s.wait_line(Duration::from_secs(2), message("socket activation", None))
            .is_some()
    );
    let r = http(&addr.to_string(), "GET", "/healthz", &[], None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "alive");
}

#[test]
fn socket_activation_ignores_fds_meant_for_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // LISTEN_PID of another process (our own): the fds are not for quant.
    let s = serve(activated(
        dir.path(),
        &listener,
        "127.0.0.1:0",
        Some(std::process::id()),
    ));
    assert_ne!(s.addr, addr.to_string(), "quant bound its own --listen");
    assert_eq!(http(&s.addr, "GET", "/healthz", &[], None).status, 200);
}

/// Receives datagrams until one contains `want` (at most `within`).
fn recv_until(sock: &std::os::unix::net::UnixDatagram, want: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]);
                if msg.lines().any(|l| l == want) {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn sd_notify_ready_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let mut cmd = serve_cmd(&dir.path().join("data"));
    cmd.env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID");
    let mut s = serve(cmd);
    assert!(
        recv_until(&sock, "READY=1", Duration::from_secs(10)),
        "READY=1"
    );
    // When READY=1 has been sent, the schema is migrated and the port answers.
    assert_eq!(http(&s.addr, "GET", "/readyz", &[], None).status, 200);
    // Pings every ~100 ms: three within a couple of seconds.
    let start = Instant::now();
    for i in 0..3 {
        assert!(
            recv_until(&sock, "WATCHDOG=1", Duration::from_secs(3)),
            "watchdog ping {i}"
        );
    }
    assert!(start.elapsed() < Duration::from_secs(3));
    s.signal(libc::SIGTERM);
    assert!(
        recv_until(&sock, "STOPPING=1", Duration::from_secs(10)),
        "STOPPING=1"
    );
    let st = wait_status(&mut s, Duration::from_secs(15)).expect("quant exits");
    assert_eq!(st.code(), Some(0));
}

#[test]
fn sd_notify_sends_no_pings_when_the_watchdog_is_not_ours() {
    let dir = tempfile::tempdir().unwrap();
    let start = |name: &str, watchdog: Option<(&str, String)>| {
        let path = dir.path().join(format!("{name}.sock"));
        let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let mut cmd = serve_cmd(&dir.path().join(name));
        cmd.env("NOTIFY_SOCKET", &path)
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID");
        if let Some((usec, pid)) = watchdog {
            cmd.env("WATCHDOG_USEC", usec).env("WATCHDOG_PID", pid);
        }
        (serve(cmd), sock)
    };
    // No watchdog asked for; a watchdog for another process (this one).
    let (_a, off) = start("off", None);
    let (_b, other) = start("other", Some(("200000", std::process::id().to_string())));
    for (what, sock) in [("no WATCHDOG_USEC", &off), ("another WATCHDOG_PID", &other)] {
        assert!(
            recv_until(sock, "READY=1", Duration::from_secs(10)),
            "{what}"
        );
        assert!(
            !recv_until(sock, "WATCHDOG=1", Duration::from_millis(800)),
            "{what}: no watchdog pings"
        );
    }
}

fn rate_config(per_minute: &str, burst: u32, level: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[log]\nlevel = \"{level}\"\n\n[rate_limit]\napi_per_minute = {per_minute}\napi_burst = {burst}\n"
    )
}

/// Polls `GET /api/v1/me` (unauthenticated) until its status is `want`.
fn poll_me_until(addr: &str, want: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if http(addr, "GET", "/api/v1/me", &[], None).status == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn config_hot_reload_applies_valid_changes_and_rejects_invalid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quant.toml");
    std::fs::write(&file, rate_config("2", 1, "info")).unwrap();
    let mut cmd = quant_cmd();
    cmd.arg("--config")
        .arg(&file)
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("serve");
    let s = serve(cmd);

    // Burst of one, two a minute: the second request is already too many.
    assert!(poll_me_until(&s.addr, 429, Duration::from_secs(5)));
    let r = http(&s.addr, "GET", "/api/v1/me", &[], None);
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());

    // Raise the limits: within a few seconds requests pass (401: no credentials).
    std::fs::write(&file, rate_config("100000", 10_000, "info")).unwrap();
    assert!(
        poll_me_until(&s.addr, 401, Duration::from_secs(10)),
        "the new limits took effect"
    );
    let line = s
        .wait_line(Duration::from_secs(5), |l| {
            message("rate limits changed", Some("INFO"))(l)
                && json_line(l).is_some_and(|v| v["api_per_minute"] == 100_000)
        })
        .expect("a log line says the rate limits changed");
    assert!(line.contains("\"api_burst\":10000"), "{line}");
    for _ in 0..20 {
        assert_eq!(http(&s.addr, "GET", "/api/v1/me", &[], None).status, 401);
    }

    // An invalid file is rejected with an ERROR naming the key; the high
    // limits stay in force.
    std::fs::write(&file, rate_config("\"lots\"", 1, "info")).unwrap();
    let line = s
        .wait_line(
            Duration::from_secs(10),
            message("configuration change rejected", Some("ERROR")),
        )
        .expect("the invalid file is rejected");
    assert!(line.contains("rate_limit.api_per_minute"), "{line}");
    for _ in 0..20 {
        assert_eq!(
            http(&s.addr, "GET", "/api/v1/me", &[], None).status,
            401,
            "the previous (high) limits are still in force"
        );
    }

    // A log level change, written the way editors and config management do
    // (a new file renamed over the old one). Before it, health checks are not
    // logged (they log at debug); after it, they are.
    assert_eq!(http(&s.addr, "GET", "/healthz", &[], None).status, 200);
    let tmp = dir.path().join("quant.toml.tmp");
    std::fs::write(&tmp, rate_config("100000", 10_000, "debug")).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let line = s
        .wait_line(
            Duration::from_secs(10),
            message("log level changed", Some("INFO")),
        )
        .expect("the log level change is logged (at INFO)");
    assert!(line.contains("\"log_level\":\"debug\""), "{line}");
    let healthz_logged =
        |l: &str| json_line(l).is_some_and(|v| v["level"] == "DEBUG" && v["route"] == "/healthz");
    assert!(
        s.lines.lock().unwrap().iter().all(|l| !healthz_logged(l)),
        "no debug request lines before the change"
    );
    let r = http(&s.addr, "GET", "/healthz", &[], None);
    assert_eq!(r.status, 200);
    assert!(
        s.wait_line(Duration::from_secs(5), healthz_logged)
            .is_some(),
        "debug lines appear after the change"
    );

    // A change that needs a restart is reported as such.
    std::fs::write(
        &file,
        format!(
            "{}\n[auth]\nmin_password_length = 12\n",
            rate_config("100000", 10_000, "debug")
        ),
    )
    .unwrap();
    let line = s
        .wait_line(
            Duration::from_secs(10),
            message("only after a restart", Some("WARN")),
        )
        .expect("restart-only change is reported");
    assert!(line.contains("auth"), "{line}");
    // (Apart from the setup link printed for people: there is no owner yet.)
    let lines: Vec<String> = s.lines.lock().unwrap().clone();
    let (logs, other): (Vec<String>, Vec<String>) =
        lines.into_iter().partition(|l| l.starts_with('{'));
    assert!(
        other
            .iter()
            .all(|l| l.contains("owner") || l.contains("/setup?token=")),
        "{other:?}"
    );
    assert_json_log_lines(&logs);
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, err) = run_with_stdin(
        quant_cmd().arg("--data").arg(d).args([
            "user",
            "add",
            "--email",
            "owner@example.com",
            "--role",
            "owner",
            "--password-stdin",
        ]),
        PASSWORD,
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(quant_cmd().arg("--data").arg(d).args([
        "token",
        "create",
        "--user",
        "owner@example.com",
        "--name",
        "loader",
    ]));
    assert_eq!(code, 0, "{err}");
    let token = out.lines().last().unwrap().to_string();

    let mut cmd = serve_cmd(d);
    cmd.env("QUANT__RATE_LIMIT__API_PER_MINUTE", "0");
    let mut s = serve(cmd);
    let base = s.base();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let other_statuses: Arc<Mutex<Vec<u16>>> = Arc::default();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (acked, stop, others) = (acked.clone(), stop.clone(), other_statuses.clone());
            let (base, token) = (base.clone(), token.clone());
            rt.spawn(async move {
                let c = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let name = format!("w{i}-{n}");
                    n += 1;
                    let r = c
                        .post(format!("{base}/api/v1/tokens"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({ "name": name }))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 201 => acked.lock().unwrap().push(name),
                        Ok(r) => others.lock().unwrap().push(r.status().as_u16()),
                        Err(_) => break, // the server is gone
                    }
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_secs(2));
    s.signal(libc::SIGKILL);
    let st = wait_status(&mut s, Duration::from_secs(10)).expect("quant dies");
    assert_eq!(st.signal(), Some(libc::SIGKILL), "{st:?}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    rt.block_on(async {
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("writer stops")
                .unwrap();
        }
    });
    let acked = acked.lock().unwrap().clone();
    assert!(
        other_statuses.lock().unwrap().is_empty(),
        "unexpected statuses under load: {:?}",
        other_statuses.lock().unwrap()
    );

    // Restart on the same data and list every token.
    let s2 = serve(serve_cmd(d));
    let base = s2.base();
    let listed: HashSet<String> = rt.block_on(async {
        let c = client();
        let mut names = HashSet::new();
        for page in 1.. {
            let r = c
                .get(format!("{base}/api/v1/tokens?limit=100&page={page}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let v: serde_json::Value = r.json().await.unwrap();
            for t in v["data"].as_array().unwrap() {
                names.insert(t["name"].as_str().unwrap().to_string());
            }
            if v["pagination"]["hasNext"] != true {
                assert_eq!(v["pagination"]["total"], names.len());
                break;
            }
        }
        names
    });
    let lost: Vec<_> = acked.iter().filter(|n| !listed.contains(*n)).collect();
    println!(
        "crash test: {} writes acknowledged before SIGKILL, {} tokens found after restart",
        acked.len(),
        listed.len()
    );
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(listed.contains("loader"));
    assert!(
        acked.len() >= 200,
        "too little load to mean anything: {} writes",
        acked.len()
    );
    drop(s2);
    let c = rusqlite::Connection::open(d.join("quant.db")).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn log_lines_are_json_with_the_request_id_of_the_response() {
    let dir = tempfile::tempdir().unwrap();
    // An owner exists, so no setup link is printed: stdout is all log lines.
    let (code, _, err) = run_with_stdin(
        quant_cmd().arg("--data").arg(dir.path()).args([
            "user",
            "add",
            "--email",
            "o@example.com",
            "--role",
            "owner",
            "--password-stdin",
        ]),
        PASSWORD,
    );
    assert_eq!(code, 0, "{err}");
    let s = serve(serve_cmd(dir.path()));

    let r = http(&s.addr, "GET", "/api/v1/me", &[], None);
    assert_eq!(r.status, 401);
    let id = r.header("x-request-id").expect("x-request-id").to_string();
    assert!(!id.is_empty());
    let line = s
        .wait_line(Duration::from_secs(5), |l| {
            json_line(l).is_some_and(|v| v["message"] == "request" && v["span"]["request_id"] == id)
        })
        .expect("a request line with the response's request id");
    let v = json_line(&line).unwrap();
    assert_eq!(v["status"], 401, "{line}");
    assert_eq!(v["route"], "/api/v1/me", "{line}");
    assert_eq!(v["level"], "INFO", "{line}");
    assert_eq!(v["span"]["method"], "GET", "{line}");
    assert!(v["timestamp"].is_string(), "{line}");

    // A well-formed id from the client is kept; a malformed one is replaced.
    let r = http(
        &s.addr,
        "GET",
        "/api/v1/me",
        &[("X-Request-Id", "trace-abc.123")],
        None,
    );
    assert_eq!(r.header("x-request-id"), Some("trace-abc.123"));
    assert!(
        s.wait_line(Duration::from_secs(5), |l| {
            json_line(l).is_some_and(|v| v["span"]["request_id"] == "trace-abc.123")
        })
        .is_some()
    );
    let r = http(
        &s.addr,
        "GET",
        "/api/v1/me",
        &[("X-Request-Id", "bad id with spaces")],
        None,
    );
    let replaced = r.header("x-request-id").unwrap();
    assert_ne!(replaced, "bad id with spaces");
    assert!(
        replaced
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
        "{replaced}"
    );

    // Two requests never share an id.
    let a = http(&s.addr, "GET", "/healthz", &[], None);
    let b = http(&s.addr, "GET", "/healthz", &[], None);
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));

    // Every stdout line is a JSON log record.
    let lines = s.lines.lock().unwrap().clone();
    assert!(lines.len() >= 2, "{lines:?}");
    assert_json_log_lines(&lines);
}
