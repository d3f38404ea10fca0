//! Replication against a real S3-compatible server on loopback (moto's
//! `moto_server`), with the real `litestream` binary as the reference reader.
//!
//! The tools come from `scripts/test`, which installs them into `.venv/` and
//! exports `QUANT_TEST_MOTO` and `QUANT_TEST_LITESTREAM` together with
//! `QUANT_TEST_REQUIRE_TOOLS=1`: then a missing tool FAILS the test. A plain
//! `cargo test` without those variables skips these tests with a printed
//! notice.

mod common;
use common::*;

use quant::domain::user::Role;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY_ID: &str = "quanttestkey";
const SECRET: &str = "quant-test-secret-never-printed";

/// Path of a test tool named by `var`, or `None` (after a notice) when it is
/// not configured and tools are not required. Panics when required and missing.
fn tool(var: &str) -> Option<PathBuf> {
    let required = std::env::var("QUANT_TEST_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    match std::env::var_os(var).map(PathBuf::from) {
        Some(p) if p.is_file() => Some(p),
        other => {
            let msg = format!(
                "{var} is {other:?}: run scripts/test (it installs moto and litestream into .venv/)"
            );
            assert!(!required, "{msg}");
            eprintln!("SKIPPED: {msg}");
            None
        }
    }
}

/// A `moto_server` on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start(bin: &Path) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, port }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn create_bucket(&self, bucket: &str) {
        s3_client(self)
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("bucket created");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn replica_config(c: &mut quant::config::Config, moto: &Moto, bucket: &str) {
    c.replica.url = format!("s3://{bucket}/quant.db");
    c.replica.endpoint = moto.endpoint();
    c.replica.force_path_style = true;
    c.replica.access_key_id = KEY_ID.into();
    c.replica.secret_access_key = SECRET.into();
    c.replica.sync_interval = Duration::from_millis(200);
}

/// Every row of every table, as text, keyed by table.
fn dump(path: &Path) -> BTreeMap<String, Vec<Vec<String>>> {
    let c = rusqlite::Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = BTreeMap::new();
    for t in tables {
        let mut st = c
            .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY 1"))
            .unwrap();
        let n = st.column_count();
        let rows: Vec<Vec<String>> = st
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        r.get_ref(i).map(|v| match v {
                            rusqlite::types::ValueRef::Null => "NULL".to_string(),
                            rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                            rusqlite::types::ValueRef::Real(f) => f.to_string(),
                            rusqlite::types::ValueRef::Text(s) => {
                                String::from_utf8_lossy(s).into_owned()
                            }
                            rusqlite::types::ValueRef::Blob(b) => format!("{b:?}"),
                        })
                    })
                    .collect()
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        out.insert(t, rows);
    }
    out
}

fn customers(path: &Path) -> usize {
    dump(path).get("customers").map(Vec::len).unwrap_or(0)
}

/// Waits until two sync rounds have completed after now: everything
/// committed before the call is then in the replica. Returns the last TXID.
async fn caught_up(app: &TestApp) -> u64 {
    caught_up_within(app, Duration::from_secs(30)).await
}

/// [`caught_up`], failing after `limit`.
async fn caught_up_within(app: &TestApp, limit: Duration) -> u64 {
    let status = app.replica.clone().expect("replication is on");
    let start = status.lock().unwrap().rounds_total;
    let deadline = Instant::now() + limit;
    loop {
        let s = status.lock().unwrap().clone();
        if s.rounds_total >= start + 2 {
            return s.last_txid;
        }
        assert!(
            Instant::now() < deadline,
            "replication did not catch up: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn add_customers(app: &TestApp, c: &reqwest::Client, from: usize, n: usize) {
    for i in from..from + n {
        let r = c
            .post(app.url("/api/v1/customers"))
            .json(
                &json!({"name": format!("Customer {i}"), "notes": "x".repeat(300), "tags": ["t"]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
}

fn s3_client(moto: &Moto) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(moto.endpoint())
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            KEY_ID, SECRET, None, None, "test",
        ))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

async fn delete_object(moto: &Moto, bucket: &str, key: &str) {
    s3_client(moto)
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("object deleted");
}

/// Creates a work order through the API and uploads a PNG photo to it;
/// returns the photo's content address.
async fn photo_on_a_new_work_order(app: &TestApp, c: &reqwest::Client) -> String {
    let r = c
        .post(app.url("/api/v1/customers"))
        .json(&json!({"name": "Photo Customer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let customer: serde_json::Value = r.json().await.unwrap();
    let r = c
        .post(app.url("/api/v1/work-orders"))
        .json(&json!({"customerId": customer["id"], "serviceType": "Leak repair", "jobDescription": "Kitchen sink"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let wo: serde_json::Value = r.json().await.unwrap();
    let img = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, 90])
    });
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let address = quant::blobs::address_of(&png);
    let id = wo["id"].as_str().unwrap();
    let r = c
        .post(app.url(&format!("/api/v1/work-orders/{id}/attachments?kind=before")))
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    address
}

fn quant_restore(moto: &Moto, bucket: &str, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut cmd = quant_cmd();
    cmd.args(["restore", "--output"])
        .arg(out)
        .args(["--url", &format!("s3://{bucket}/quant.db")])
        .args(["--endpoint", &moto.endpoint(), "--force-path-style"])
        .args(extra)
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "us-east-1");
    run(&mut cmd)
}

/// Runs `quant restore` into `out` and returns its exit code and peak
/// resident memory in bytes (`VmHWM`, sampled every 10 ms while it runs);
/// output goes to files in `logs`.
fn quant_restore_measured(moto: &Moto, bucket: &str, out: &Path, logs: &Path) -> (i32, u64) {
    let mut cmd = quant_cmd();
    cmd.args(["restore", "--output"])
        .arg(out)
        .args(["--url", &format!("s3://{bucket}/quant.db")])
        .args(["--endpoint", &moto.endpoint(), "--force-path-style"])
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "us-east-1")
        .stdout(std::fs::File::create(logs.join("restore.out")).unwrap())
        .stderr(std::fs::File::create(logs.join("restore.err")).unwrap());
    let mut child = cmd.spawn().unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb * 1024);
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let code = status.code().unwrap_or(-1);
    if code != 0 {
        panic!(
            "quant restore failed ({code}):\n{}\n{}",
            std::fs::read_to_string(logs.join("restore.out")).unwrap_or_default(),
            std::fs::read_to_string(logs.join("restore.err")).unwrap_or_default()
        );
    }
    (code, peak)
}

fn litestream_restore(
    bin: &Path,
    moto: &Moto,
    bucket: &str,
    out: &Path,
    extra: &[&str],
) -> (i32, String, String) {
    let url = format!(
        "s3://{bucket}/quant.db?endpoint={}&region=us-east-1&forcePathStyle=true",
        moto.endpoint()
    );
    let mut cmd = Command::new(bin);
    cmd.arg("restore")
        .arg("-o")
        .arg(out)
        .args(extra)
        .arg(url)
        .env_remove("AWS_CA_BUNDLE")
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    run(&mut cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_then_restore_with_quant_and_with_litestream() {
    let (Some(moto_bin), Some(litestream)) =
        (tool("QUANT_TEST_MOTO"), tool("QUANT_TEST_LITESTREAM"))
    else {
        return;
    };
    let moto = Moto::start(&moto_bin);
    moto.create_bucket("quant-replica").await;
    let app = TestApp::start_with(|c| replica_config(c, &moto, "quant-replica")).await;
    app.user("owner@replica.test", Role::Owner).await;
    let client = app.login("owner@replica.test").await;

    // Phase 1 (with a photo on a work order), then a known TXID; phase 2 after it.
    add_customers(&app, &client, 0, 40).await;
    let photo = photo_on_a_new_work_order(&app, &client).await;
    let t1 = caught_up(&app).await;
    add_customers(&app, &client, 40, 60).await;
    let t2 = caught_up(&app).await;
    assert!(t2 > t1, "more syncs after more writes ({t1} -> {t2})");
    let status = app.replica.clone().unwrap().lock().unwrap().clone();
    assert!(
        status.snapshots_total >= 1 && status.files_total >= 2,
        "{status:?}"
    );
    assert!(status.last_error.is_none(), "{status:?}");

    // Status for the owner, and the same facts on /metrics.
    let r = client
        .get(app.url("/api/v1/system/backup"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["enabled"], true);
    assert_eq!(b["bucket"], "quant-replica");
    assert_eq!(b["path"], "quant.db");
    assert!(u64::from_str_radix(b["lastTxid"].as_str().unwrap(), 16).unwrap() >= t2);
    assert!(b["lagSeconds"].as_f64().unwrap() < 10.0, "{b}");
    assert!(b["bytesTotal"].as_u64().unwrap() > 0);
    assert!(!b.to_string().contains(SECRET));
    let r = common::client()
        .get(app.url("/api/v1/system/backup"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let m = common::client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap();
    let text = m.text().await.unwrap();
    for name in [
        "quant_replica_lag_seconds ",
        "quant_replica_last_success_timestamp_seconds ",
        "quant_replica_bytes_total ",
        "quant_replica_errors_total 0",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} in {text}"
        );
    }
    assert!(!text.contains(SECRET));
    let db_path = app.state.config().db_path();
    let dir = app.stop().await;
    let want = dump(&db_path);
    assert_eq!(
        want["customers"].len(),
        101,
        "100 plus the photo's customer"
    );

    let out = dir.path().join("restored");
    std::fs::create_dir_all(&out).unwrap();

    // quant restore, latest: every row of every table.
    let q = out.join("quant-latest.db");
    let (code, stdout, stderr) = quant_restore(&moto, "quant-replica", &q, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("integrity check ok"), "{stdout}");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
    assert_eq!(dump(&q), want);
    // The photo (and its thumbnail) came back, byte for byte, beside it.
    let addresses = quant::replica::attachments::referenced(&q).unwrap();
    assert!(addresses.contains(&photo), "{addresses:?}");
    assert!(
        stdout.contains(&format!(
            "attachments: {} referenced, {} fetched",
            addresses.len(),
            addresses.len()
        )),
        "{stdout}"
    );
    let restored_blobs = quant::blobs::Blobs::new(out.join("blobs"));
    let original_blobs = quant::blobs::Blobs::new(dir.path().join("blobs"));
    for a in &addresses {
        assert_eq!(
            restored_blobs.get(a).unwrap(),
            original_blobs.get(a).unwrap()
        );
    }
    // An attachment missing from the bucket is named, and the exit code says so.
    delete_object(
        &moto,
        "quant-replica",
        &format!("quant.db/attachments/{photo}"),
    )
    .await;
    let q2 = out.join("second").join("quant.db");
    let (code, stdout, stderr) = quant_restore(&moto, "quant-replica", &q2, &[]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("missing attachment {photo}")),
        "{stdout}"
    );
    assert_eq!(dump(&q2), want, "the database itself is restored");

    // It refuses to overwrite without --force, and replaces with it.
    let (code, _, stderr) = quant_restore(&moto, "quant-replica", &q, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    let t1_hex = format!("{t1:016x}");
    let (code, stdout, stderr) =
        quant_restore(&moto, "quant-replica", &q, &["--force", "--txid", &t1_hex]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(customers(&q), 41, "restored to TXID {t1_hex}");

    // The real litestream rebuilds the same database from Quant's bucket.
    let l = out.join("litestream-latest.db");
    let (code, stdout, stderr) = litestream_restore(&litestream, &moto, "quant-replica", &l, &[]);
    assert_eq!(code, 0, "litestream restore failed:\n{stdout}\n{stderr}");
    assert_eq!(dump(&l), want);
    let l1 = out.join("litestream-t1.db");
    let (code, stdout, stderr) = litestream_restore(
        &litestream,
        &moto,
        "quant-replica",
        &l1,
        &["-txid", &t1_hex],
    );
    assert_eq!(
        code, 0,
        "litestream restore -txid failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(customers(&l1), 41);
    assert_eq!(dump(&l1), dump(&q), "both tools agree at TXID {t1_hex}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_continues_txids_and_an_empty_or_missing_replica_is_reported() {
    let Some(moto_bin) = tool("QUANT_TEST_MOTO") else {
        return;
    };
    let moto = Moto::start(&moto_bin);
    moto.create_bucket("quant-restart").await;
    let app = TestApp::start_with(|c| replica_config(c, &moto, "quant-restart")).await;
    app.user("owner@restart.test", Role::Owner).await;
    let client = app.login("owner@restart.test").await;
    add_customers(&app, &client, 0, 10).await;
    let t1 = caught_up(&app).await;
    let dir = app.stop().await;

    // Restart on the same data: TXIDs continue from the replica's maximum.
    let app = TestApp::start_in(dir, |c| replica_config(c, &moto, "quant-restart")).await;
    let client = app.login("owner@restart.test").await;
    add_customers(&app, &client, 10, 10).await;
    let t2 = caught_up(&app).await;
    assert!(t2 > t1, "TXIDs continue ({t1} -> {t2})");
    let after_restart = app.replica.clone().unwrap().lock().unwrap().clone();
    assert_eq!(
        after_restart.snapshots_total, 0,
        "a clean restart resumes without a snapshot: {after_restart:?}"
    );
    assert_eq!(t2, t1 + after_restart.files_total);
    let db_path = app.state.config().db_path();
    let dir = app.stop().await;
    let want = dump(&db_path);
    assert_eq!(want["customers"].len(), 20);
    let q = dir.path().join("after-restart.db");
    let (code, stdout, stderr) = quant_restore(&moto, "quant-restart", &q, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(dump(&q), want);

    // Changed behind Quant's back while stopped: the next start snapshots.
    {
        let c = rusqlite::Connection::open(&db_path).unwrap();
        c.execute(
            "UPDATE customers SET notes = 'edited offline' WHERE name = 'Customer 3'",
            [],
        )
        .unwrap();
    }
    let app = TestApp::start_in(dir, |c| replica_config(c, &moto, "quant-restart")).await;
    let t3 = caught_up(&app).await;
    let s = app.replica.clone().unwrap().lock().unwrap().clone();
    assert_eq!(s.snapshots_total, 1, "{s:?}");
    assert_eq!(t3, t2 + 1, "the snapshot takes the next TXID");
    let dir = app.stop().await;
    let want = dump(&db_path);
    let q = dir.path().join("after-offline-edit.db");
    let (code, stdout, stderr) = quant_restore(&moto, "quant-restart", &q, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(dump(&q), want);
    assert!(format!("{want:?}").contains("edited offline"));

    // An empty replica is an error that says so, and leaves no file.
    moto.create_bucket("quant-empty").await;
    let e = dir.path().join("empty.db");
    let (code, _, stderr) = quant_restore(&moto, "quant-empty", &e, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no files"), "{stderr}");
    assert!(!e.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quant_restores_a_replica_written_by_litestream_replicate() {
    let (Some(moto_bin), Some(litestream)) =
        (tool("QUANT_TEST_MOTO"), tool("QUANT_TEST_LITESTREAM"))
    else {
        return;
    };
    let moto = Moto::start(&moto_bin);
    moto.create_bucket("litestream-made").await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.db");
    let c = rusqlite::Connection::open(&src).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode=WAL; CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL);",
    )
    .unwrap();
    let cfg = dir.path().join("litestream.yml");
    std::fs::write(
        &cfg,
        format!(
            "dbs:\n  - path: {}\n    replica:\n      type: s3\n      bucket: litestream-made\n      path: quant.db\n      endpoint: {}\n      region: us-east-1\n      force-path-style: true\n      sync-interval: 200ms\n",
            src.display(),
            moto.endpoint()
        ),
    )
    .unwrap();
    let mut child = Command::new(&litestream)
        .arg("replicate")
        .arg("-config")
        .arg(&cfg)
        .env_remove("AWS_CA_BUNDLE")
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("litestream replicate starts");
    for batch in 0..5 {
        c.execute_batch("BEGIN").unwrap();
        for i in 0..40 {
            c.execute(
                "INSERT INTO t (v) VALUES (?1)",
                [format!("batch {batch} row {i} {}", "y".repeat(400))],
            )
            .unwrap();
        }
        c.execute_batch("COMMIT").unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let want = dump(&src);
    assert_eq!(want["t"].len(), 200);
    // Restore until litestream has shipped everything (it syncs every 200 ms).
    let out = dir.path().join("from-litestream.db");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, stdout, stderr) = quant_restore(&moto, "litestream-made", &out, &["--force"]);
        if code == 0 && dump(&out) == want {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "quant restore never matched the source: {code}\n{stdout}\n{stderr}\nlitestream: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A loopback TCP proxy in front of moto that can be switched off (while
/// down it refuses new connections and cuts open ones) or made faulty.
struct Proxy {
    port: u16,
    mode: tokio::sync::watch::Sender<ProxyMode>,
    /// Connections answered with 503 SlowDown, with 500, and slowed down.
    faults: Arc<[std::sync::atomic::AtomicU64; 3]>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ProxyMode {
    Up,
    Down,
    /// Each new connection in turn: answered `503 SlowDown` (throttling),
    /// answered `500 InternalError`, forwarded after a 3 s pause (a slow
    /// store), forwarded; forwarded connections are cut after 2 s, so a
    /// kept-alive connection cannot dodge the faults for long.
    Faulty,
}

/// An S3 error response closing its connection.
fn s3_error(status: &str, code: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected by the test</Message><RequestId>t</RequestId></Error>"
    );
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl Proxy {
    async fn start(target: u16) -> Proxy {
        use std::sync::atomic::{AtomicU64, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (mode, mode_rx) = tokio::sync::watch::channel(ProxyMode::Up);
        let faults: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
        let counts = faults.clone();
        tokio::spawn(async move {
            let mut turn = 0u64;
            while let Ok((mut inbound, _)) = listener.accept().await {
                let now = *mode_rx.borrow();
                if now == ProxyMode::Down {
                    continue; // dropped: connection refused/reset
                }
                let fault = if now == ProxyMode::Faulty {
                    turn += 1;
                    Some(turn % 4)
                } else {
                    None
                };
                let mut changed = mode_rx.clone();
                changed.mark_unchanged();
                let counts = counts.clone();
                tokio::spawn(async move {
                    if let Some(kind @ (0 | 1)) = fault {
                        // Read the request head, answer with an error.
                        let mut buf = vec![0u8; 64 * 1024];
                        let mut seen = Vec::new();
                        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                            match inbound.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => seen.extend_from_slice(&buf[..n]),
                            }
                        }
                        let reply = if kind == 0 {
                            s3_error("503 Slow Down", "SlowDown")
                        } else {
                            s3_error("500 Internal Server Error", "InternalError")
                        };
                        let _ = inbound.write_all(&reply).await;
                        let _ = inbound.shutdown().await;
                        counts[kind as usize].fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    if fault == Some(2) {
                        counts[2].fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_secs(3)).await;
                    }
                    let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    else {
                        return;
                    };
                    let cut = async {
                        if fault.is_some() {
                            tokio::time::sleep(Duration::from_secs(2)).await;
                        } else {
                            // Until the mode changes to anything but Up.
                            let _ = changed.wait_for(|m| *m != ProxyMode::Up).await;
                        }
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut => {}
                    }
                });
            }
        });
        Proxy { port, mode, faults }
    }

    fn set(&self, up: bool) {
        let _ = self
            .mode
            .send(if up { ProxyMode::Up } else { ProxyMode::Down });
    }

    fn faulty(&self) {
        let _ = self.mode.send(ProxyMode::Faulty);
    }

    /// (503s, 500s, slowed connections) so far.
    fn faults(&self) -> (u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.faults[0].load(Relaxed),
            self.faults[1].load(Relaxed),
            self.faults[2].load(Relaxed),
        )
    }
}

/// A Quant replicating through a [`Proxy`] to `bucket`, with an owner
/// signed in, 10 customers written and shipped.
struct Proxied {
    moto: Moto,
    proxy: Proxy,
    app: TestApp,
    client: reqwest::Client,
    bucket: &'static str,
    /// The TXID shipped before the trouble starts.
    before: u64,
}

impl Proxied {
    async fn start(moto_bin: &Path, bucket: &'static str) -> Proxied {
        let moto = Moto::start(moto_bin);
        moto.create_bucket(bucket).await;
        let proxy = Proxy::start(moto.port).await;
        let app = TestApp::start_with(|c| {
            replica_config(c, &moto, bucket);
            c.replica.endpoint = format!("http://127.0.0.1:{}", proxy.port);
        })
        .await;
        app.user("owner@proxied.test", Role::Owner).await;
        let client = app.login("owner@proxied.test").await;
        add_customers(&app, &client, 0, 10).await;
        let before = caught_up(&app).await;
        Proxied {
            moto,
            proxy,
            app,
            client,
            bucket,
            before,
        }
    }

    /// Writes one customer every ~20 ms for `dur`; returns how many
    /// customers exist then and the slowest write.
    async fn write_for(&self, dur: Duration) -> (usize, Duration) {
        let start = Instant::now();
        let mut written = 10;
        let mut slowest = Duration::ZERO;
        while start.elapsed() < dur {
            let t = Instant::now();
            add_customers(&self.app, &self.client, written, 1).await;
            slowest = slowest.max(t.elapsed());
            written += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (written, slowest)
    }

    fn status(&self) -> quant::replica::replicator::ReplicaStatus {
        self.app.replica.clone().unwrap().lock().unwrap().clone()
    }

    /// With the store healthy again: waits until it caught up, stops Quant,
    /// and checks that a restore equals the database, `written` customers.
    async fn heal_and_restore(self, written: usize) {
        self.proxy.set(true);
        let after = caught_up_within(&self.app, Duration::from_secs(60)).await;
        assert!(after > self.before);
        let db_path = self.app.state.config().db_path();
        let dir = self.app.stop().await;
        let want = dump(&db_path);
        assert_eq!(want["customers"].len(), written);
        // A restore refuses a replica with a gap: this also checks the order.
        let q = dir.path().join("restored.db");
        let (code, stdout, stderr) = quant_restore(&self.moto, self.bucket, &q, &[]);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        assert_eq!(dump(&q), want);
    }
}

/// How long S3 stays unreachable in the outage test (issue 5, point 8).
const OUTAGE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_30_s_s3_outage_under_writes_neither_fails_nor_blocks_them_and_nothing_is_lost() {
    let Some(moto_bin) = tool("QUANT_TEST_MOTO") else {
        return;
    };
    let t = Proxied::start(&moto_bin, "quant-outage").await;
    // S3 unreachable for 30 s while a client keeps writing.
    t.proxy.set(false);
    let (written, slowest) = t.write_for(OUTAGE).await;
    // Generous bound: the point is that no write waits for S3 (30 s here).
    assert!(
        slowest < Duration::from_secs(5),
        "a write took {slowest:?} while S3 was down"
    );
    assert!(written > 100, "only {written} writes during the outage");
    let during = t.status();
    assert_eq!(during.last_txid, t.before, "nothing shipped while down");
    assert!(during.errors_total >= 3, "{during:?}");
    assert!(during.last_error.is_some());
    assert!(!format!("{during:?}").contains(SECRET));
    let (_, wal) = t.app.state.db.file_sizes();
    assert!(wal > 0, "the unshipped WAL is kept");
    t.heal_and_restore(written).await;
}

/// How long S3 misbehaves in the faults test.
const FAULTY: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_errors_throttling_and_slow_responses_are_retried_in_order_and_nothing_is_lost() {
    let Some(moto_bin) = tool("QUANT_TEST_MOTO") else {
        return;
    };
    let t = Proxied::start(&moto_bin, "quant-faults").await;
    // 20 s of throttling, 5xx and slow responses while a client writes.
    t.proxy.faulty();
    let (written, slowest) = t.write_for(FAULTY).await;
    // Generous bound: the point is that no write waits for S3.
    assert!(
        slowest < Duration::from_secs(3),
        "a write took {slowest:?} while S3 misbehaved"
    );
    let (throttled, failed, slowed) = t.proxy.faults();
    assert!(
        throttled > 0 && failed > 0 && slowed > 0,
        "every kind of fault happened: {:?}",
        t.proxy.faults()
    );
    // The S3 client retries each request (backoff with jitter) and the
    // replicator each failed round: shipping goes on through the faults.
    let during = t.status();
    assert!(during.last_txid > t.before, "nothing shipped: {during:?}");
    assert!(!format!("{during:?}").contains(SECRET));
    t.heal_and_restore(written).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_replica_file_fails_the_restore_naming_it_and_writes_nothing() {
    let Some(moto_bin) = tool("QUANT_TEST_MOTO") else {
        return;
    };
    let moto = Moto::start(&moto_bin);
    moto.create_bucket("quant-corrupt").await;
    let app = TestApp::start_with(|c| replica_config(c, &moto, "quant-corrupt")).await;
    app.user("owner@corrupt.test", Role::Owner).await;
    let client = app.login("owner@corrupt.test").await;
    add_customers(&app, &client, 0, 30).await;
    caught_up(&app).await;
    let dir = app.stop().await;

    // One byte of the snapshot flipped, in the middle of its pages.
    let s3 = s3_client(&moto);
    let list = s3
        .list_objects_v2()
        .bucket("quant-corrupt")
        .prefix("quant.db/0009/")
        .send()
        .await
        .unwrap();
    let key = list.contents()[0].key().unwrap().to_string();
    let body = s3
        .get_object()
        .bucket("quant-corrupt")
        .key(&key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let mut bad = body.to_vec();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x5a;
    s3.put_object()
        .bucket("quant-corrupt")
        .key(&key)
        .body(bad.into())
        .send()
        .await
        .unwrap();

    let out = dir.path().join("from-corrupt.db");
    let (code, stdout, stderr) = quant_restore(&moto, "quant-corrupt", &out, &[]);
    assert_ne!(code, 0, "{stdout}\n{stderr}");
    let file = key.rsplit('/').next().unwrap();
    assert!(
        stderr.contains(file),
        "the error names the corrupt file {file}: {stderr}"
    );
    assert!(!out.exists(), "nothing is left at the output path");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("from-corrupt"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_in_time_restore_to_three_moments_with_quant_and_litestream() {
    let (Some(moto_bin), Some(litestream)) =
        (tool("QUANT_TEST_MOTO"), tool("QUANT_TEST_LITESTREAM"))
    else {
        return;
    };
    let moto = Moto::start(&moto_bin);
    moto.create_bucket("quant-pitr").await;
    let app = TestApp::start_with(|c| replica_config(c, &moto, "quant-pitr")).await;
    app.user("owner@pitr.test", Role::Owner).await;
    let client = app.login("owner@pitr.test").await;
    let mut moments = Vec::new();
    for (phase, n) in [(0usize, 5usize), (1, 7), (2, 9)] {
        let from = moments.iter().map(|(_, c)| *c).sum::<usize>();
        add_customers(&app, &client, from, n).await;
        caught_up(&app).await;
        // S3 timestamps have one-second resolution: keep moments apart.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        moments.push((chrono::Utc::now(), n));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(phase < 3);
    }
    // Litestream refuses a timestamp after its newest file: write once more
    // so that all three moments lie inside the replica's time range.
    add_customers(&app, &client, 21, 1).await;
    caught_up(&app).await;
    app.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let mut expected = 0;
    for (i, (at, n)) in moments.iter().enumerate() {
        expected += n;
        let ts = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let q = dir.path().join(format!("quant-{i}.db"));
        let (code, stdout, stderr) = quant_restore(&moto, "quant-pitr", &q, &["--timestamp", &ts]);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        assert_eq!(customers(&q), expected, "quant restore at {ts}");
        let l = dir.path().join(format!("litestream-{i}.db"));
        let (code, stdout, stderr) =
            litestream_restore(&litestream, &moto, "quant-pitr", &l, &["-timestamp", &ts]);
        if code != 0 {
            let store = quant::replica::s3::Store::connect(&quant::replica::s3::StoreSettings {
                bucket: "quant-pitr".into(),
                path: "quant.db".into(),
                endpoint: Some(moto.endpoint()),
                region: "us-east-1".into(),
                force_path_style: true,
                credentials: Some((KEY_ID.into(), SECRET.to_string().into())),
            })
            .await;
            let mut listing = String::new();
            for level in [0, 9] {
                for f in store.list(level).await.unwrap() {
                    let meta = store.timestamp(&f).await.unwrap();
                    listing.push_str(&format!("{f:?} meta={meta:?}\n"));
                }
            }
            panic!(
                "litestream -timestamp {ts}:\n{stdout}\n{stderr}\n{listing}\nmoments {moments:?}"
            );
        }
        assert_eq!(customers(&l), expected, "litestream restore at {ts}");
        assert_eq!(dump(&l), dump(&q));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_steady_writes_the_wal_is_still_checkpointed_and_nothing_is_lost() {
    let Some(moto_bin) = tool("QUANT_TEST_MOTO") else {
        return;
    };
    let moto = Moto::start(&moto_bin);
    moto.create_bucket("quant-load").await;
    let app = TestApp::start_with(|c| {
        replica_config(c, &moto, "quant-load");
        c.replica.sync_interval = Duration::from_millis(100);
    })
    .await;
    let db = app.state.db.clone();
    db.write(|c| {
        c.execute_batch("CREATE TABLE load (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")?;
        Ok(())
    })
    .await
    .unwrap();
    caught_up(&app).await;
    let status = app.replica.clone().unwrap();
    let before = status.lock().unwrap().checkpoints_total;
    let db_path = app.state.config().db_path();
    let wal_seq_before = wal_checkpoint_seq(&db_path);
    // Sixteen writers with no pause for 3 s: commits arrive during every
    // sync, and every batch the writer commits holds several.
    let stop_at = Instant::now() + Duration::from_secs(3);
    let mut writers = Vec::new();
    for w in 0..16 {
        let db = db.clone();
        writers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < stop_at {
                let v = format!("writer {w} row {n} {}", "z".repeat(200));
                db.write(move |c| Ok(c.execute("INSERT INTO load (v) VALUES (?1)", [v])?))
                    .await
                    .expect("writes never fail because of replication");
                n += 1;
            }
            n
        }));
    }
    let mut max_wal = 0;
    while Instant::now() < stop_at {
        max_wal = max_wal.max(app.state.db.file_sizes().1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut written = 0;
    for w in writers {
        written += w.await.unwrap();
    }
    let during = status.lock().unwrap().checkpoints_total - before;
    assert!(written > 100, "only {written} writes");
    assert!(during >= 2, "{during} checkpoints under load");
    // The WAL file keeps its high-water mark; what matters is that it is
    // restarted over and over (each restart bumps the checkpoint sequence in
    // its header) instead of growing for as long as the load lasts.
    let restarts = wal_checkpoint_seq(&db_path).wrapping_sub(wal_seq_before);
    // A checkpoint between two of the writer's transactions lets the next
    // one restart the WAL (inside a batch, the batch's own writes would not).
    assert!(
        u64::from(restarts) * 5 >= during * 4,
        "the WAL restarted {restarts} times after {during} checkpoints"
    );
    assert!(max_wal < 512 << 20, "the WAL grew to {max_wal} bytes");
    assert!(
        status.lock().unwrap().last_error.is_none(),
        "{:?}",
        status.lock().unwrap()
    );
    caught_up(&app).await;
    let dir = app.stop().await;
    let want = dump(&db_path);
    assert_eq!(want["load"].len() as u64, written);
    let q = dir.path().join("after-load.db");
    let (code, stdout, stderr) = quant_restore(&moto, "quant-load", &q, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(dump(&q), want);
}

/// The checkpoint sequence in the WAL header of the database at `db`
/// (SQLite bumps it each time the WAL restarts from its start).
fn wal_checkpoint_seq(db: &Path) -> u32 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let bytes = std::fs::read(PathBuf::from(wal)).unwrap();
    quant::replica::wal::WalHeader::parse(&bytes)
        .unwrap()
        .checkpoint_seq
}

/// `quant` with the replica configured through the environment.
fn replicated_cmd(moto: &Moto, bucket: &str, dir: &Path, args: &[&str]) -> Command {
    replicated_cmd_every(moto, bucket, dir, "250ms", args)
}

/// [`replicated_cmd`] with another `sync_interval`.
fn replicated_cmd_every(
    moto: &Moto,
    bucket: &str,
    dir: &Path,
    sync_interval: &str,
    args: &[&str],
) -> Command {
    let mut c = quant_cmd();
    c.arg("--data")
        .arg(dir)
        .args(args)
        .env("QUANT__REPLICA__URL", format!("s3://{bucket}/quant.db"))
        .env("QUANT__REPLICA__ENDPOINT", moto.endpoint())
        .env("QUANT__REPLICA__FORCE_PATH_STYLE", "true")
        .env("QUANT__REPLICA__ACCESS_KEY_ID", KEY_ID)
        .env("QUANT__REPLICA__SECRET_ACCESS_KEY", SECRET)
        .env("QUANT__REPLICA__SYNC_INTERVAL", sync_interval)
        .env("QUANT__RATE_LIMIT__API_PER_MINUTE", "0");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_writes_loses_nothing_acknowledged_a_sync_interval_before() {
    let Some(moto_bin) = tool("QUANT_TEST_MOTO") else {
        return;
    };
    let moto = Moto::start(&moto_bin);
    moto.create_bucket("quant-kill").await;
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run_with_stdin(
        &mut replicated_cmd(
            &moto,
            "quant-kill",
            dir.path(),
            &[
                "user",
                "add",
                "--email",
                "owner@kill.test",
                "--role",
                "owner",
                "--password-stdin",
            ],
        ),
        PASSWORD,
    );
    assert_eq!(code, 0, "{stderr}");
    let served = serve(replicated_cmd_every(
        &moto,
        "quant-kill",
        dir.path(),
        "1s",
        &["serve", "--listen", "127.0.0.1:0"],
    ));
    let base = served.base();
    let c = login_client(&base, "owner@kill.test", PASSWORD).await;
    // Four clients write for 4 s, remembering when each write was acknowledged.
    let until = Instant::now() + Duration::from_secs(4);
    let mut clients = Vec::new();
    for w in 0..4 {
        let c = c.clone();
        let base = base.clone();
        clients.push(tokio::spawn(async move {
            let mut acked: Vec<(String, Instant)> = Vec::new();
            let mut i = 0;
            while Instant::now() < until {
                let name = format!("Killed customer {w}-{i}");
                let r = c
                    .post(format!("{base}/api/v1/customers"))
                    .json(&json!({"name": name}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                acked.push((name, Instant::now()));
                i += 1;
            }
            acked
        }));
    }
    let mut acked: Vec<(String, Instant)> = Vec::new();
    for c in clients {
        acked.extend(c.await.unwrap());
    }
    served.signal(libc::SIGKILL);
    let killed = Instant::now();
    drop(served);
    assert!(acked.len() > 20, "only {} writes", acked.len());

    let out = dir.path().join("restored").join("quant.db");
    let (code, stdout, stderr) = quant_restore(&moto, "quant-kill", &out, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let names: std::collections::HashSet<String> =
        dump(&out)["customers"].iter().flatten().cloned().collect();
    // Every write acknowledged one sync interval (1 s here) before the kill
    // is in the replica.
    let margin = Duration::from_secs(1);
    let old_enough: Vec<&String> = acked
        .iter()
        .filter(|(_, t)| killed.duration_since(*t) > margin)
        .map(|(n, _)| n)
        .collect();
    assert!(old_enough.len() > 10);
    let lost: Vec<&&String> = old_enough.iter().filter(|n| !names.contains(**n)).collect();
    assert!(
        lost.is_empty(),
        "lost {} acknowledged writes: {lost:?}",
        lost.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_what_no_restore_in_the_window_needs() {
    let (Some(moto_bin), Some(litestream)) =
        (tool("QUANT_TEST_MOTO"), tool("QUANT_TEST_LITESTREAM"))
    else {
        return;
    };
    let moto = Moto::start(&moto_bin);
    moto.create_bucket("quant-retention").await;
    // Seconds instead of hours (the test config is not validated).
    let app = TestApp::start_with(|c| {
        replica_config(c, &moto, "quant-retention");
        c.replica.snapshot_interval = Duration::from_secs(1);
        c.replica.retention = Duration::from_secs(2);
        c.replica.compaction.intervals =
            vec![Duration::from_millis(400), Duration::from_millis(800)];
        c.replica.compaction.l0_retention = Duration::from_secs(1);
    })
    .await;
    app.user("owner@retention.test", Role::Owner).await;
    let client = app.login("owner@retention.test").await;
    for round in 0..6 {
        add_customers(&app, &client, round * 3, 3).await;
        caught_up(&app).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let db_path = app.state.config().db_path();
    let dir = app.stop().await;
    let want = dump(&db_path);
    let store = quant::replica::s3::Store::connect(&quant::replica::s3::StoreSettings {
        bucket: "quant-retention".into(),
        path: "quant.db".into(),
        endpoint: Some(moto.endpoint()),
        region: "us-east-1".into(),
        force_path_style: true,
        credentials: Some((KEY_ID.into(), SECRET.to_string().into())),
    })
    .await;
    let snapshots = store.list(9).await.unwrap();
    let l0 = store.list(0).await.unwrap();
    assert!(snapshots.len() >= 2, "{snapshots:?}");
    assert!(
        snapshots[0].max_txid > 1,
        "the first snapshot was deleted: {snapshots:?}"
    );
    assert!(
        snapshots.len() <= 5,
        "old snapshots were deleted: {snapshots:?}"
    );
    assert!(
        l0.iter().all(|f| f.max_txid > snapshots[0].max_txid),
        "level-0 files older than the oldest kept snapshot were deleted: {l0:?} {snapshots:?}"
    );
    for level in [1, 2] {
        let files = store.list(level).await.unwrap();
        assert!(
            files.iter().all(|f| f.max_txid > snapshots[0].max_txid),
            "level-{level} files older than the oldest kept snapshot were deleted: {files:?} {snapshots:?}"
        );
    }
    // The window's restore points (the ends of the files kept: level-0
    // files covered by level 1 are gone, so a TXID inside a level-1 file is
    // not one) still restore, the same with both tools.
    let mut ends = std::collections::BTreeSet::new();
    for level in 0..=9 {
        ends.extend(store.list(level).await.unwrap().iter().map(|f| f.max_txid));
    }
    let ends: Vec<u64> = ends.into_iter().collect();
    assert_eq!(ends[0], snapshots[0].max_txid, "{ends:?}");
    assert!(ends.len() >= 2, "{ends:?}");
    // The first, second, middle and last restore points (fewer when some coincide).
    let points: std::collections::BTreeSet<u64> =
        [ends[0], ends[1], ends[ends.len() / 2], ends[ends.len() - 1]].into();
    for t in points {
        let hex = format!("{t:016x}");
        let q = dir.path().join(format!("window-{hex}.db"));
        let (code, stdout, stderr) = quant_restore(&moto, "quant-retention", &q, &["--txid", &hex]);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        let l = dir.path().join(format!("window-litestream-{hex}.db"));
        let (code, stdout, stderr) =
            litestream_restore(&litestream, &moto, "quant-retention", &l, &["-txid", &hex]);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        assert_eq!(dump(&q), dump(&l), "at {hex}");
    }
    let q = dir.path().join("retained.db");
    let (code, stdout, stderr) = quant_restore(&moto, "quant-retention", &q, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(dump(&q), want);
    let l = dir.path().join("retained-litestream.db");
    let (code, stdout, stderr) = litestream_restore(&litestream, &moto, "quant-retention", &l, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(dump(&l), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_files_restore_with_quant_and_litestream() {
    let (Some(moto_bin), Some(litestream)) =
        (tool("QUANT_TEST_MOTO"), tool("QUANT_TEST_LITESTREAM"))
    else {
        return;
    };
    let moto = Moto::start(&moto_bin);
    moto.create_bucket("quant-compact").await;
    let app = TestApp::start_with(|c| {
        replica_config(c, &moto, "quant-compact");
        // No background compaction: this test compacts by hand.
        c.replica.compaction.intervals.clear();
    })
    .await;
    app.user("owner@compact.test", Role::Owner).await;
    let client = app.login("owner@compact.test").await;
    for round in 0..5 {
        add_customers(&app, &client, round * 4, 4).await;
        caught_up(&app).await;
    }
    let db_path = app.state.config().db_path();
    let dir = app.stop().await;
    let want = dump(&db_path);
    let store = quant::replica::s3::Store::connect(&quant::replica::s3::StoreSettings {
        bucket: "quant-compact".into(),
        path: "quant.db".into(),
        endpoint: Some(moto.endpoint()),
        region: "us-east-1".into(),
        force_path_style: true,
        credentials: Some((KEY_ID.into(), SECRET.to_string().into())),
    })
    .await;
    let l0 = store.list(0).await.unwrap();
    assert!(l0.len() >= 4, "{l0:?}");
    assert_eq!(
        quant::replica::compact::compact(&store, 1).await.unwrap(),
        1
    );
    assert_eq!(
        quant::replica::compact::compact(&store, 1).await.unwrap(),
        0,
        "idempotent"
    );
    let l1 = store.list(1).await.unwrap();
    assert_eq!(
        (l1[0].min_txid, l1[0].max_txid),
        (l0[0].min_txid, l0[l0.len() - 1].max_txid)
    );
    // Without the level-0 files, both tools restore from the compacted file.
    store.delete_ltx(&l0).await.unwrap();
    let q = dir.path().join("compacted.db");
    let (code, stdout, stderr) = quant_restore(&moto, "quant-compact", &q, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(dump(&q), want);
    let l = dir.path().join("compacted-litestream.db");
    let (code, stdout, stderr) = litestream_restore(&litestream, &moto, "quant-compact", &l, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(dump(&l), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disk_guard_gives_up_history_not_data_when_s3_stays_down() {
    let Some(moto_bin) = tool("QUANT_TEST_MOTO") else {
        return;
    };
    let moto = Moto::start(&moto_bin);
    moto.create_bucket("quant-guard").await;
    let proxy = Proxy::start(moto.port).await;
    let app = TestApp::start_with(|c| {
        replica_config(c, &moto, "quant-guard");
        c.replica.endpoint = format!("http://127.0.0.1:{}", proxy.port);
    })
    .await;
    app.user("owner@guard.test", Role::Owner).await;
    let client = app.login("owner@guard.test").await;
    add_customers(&app, &client, 0, 5).await;
    caught_up(&app).await;
    let status = app.replica.clone().unwrap();
    assert_eq!(status.lock().unwrap().snapshots_total, 1);

    proxy.set(false);
    // Any unshipped WAL is "too large" for this test (other tests in this
    // process that see S3 failures stay valid: the guard never loses data).
    quant::replica::replicator::GUARD_WAL_BYTES_FOR_TESTS
        .store(1, std::sync::atomic::Ordering::Relaxed);
    add_customers(&app, &client, 5, 10).await;
    let started = Instant::now();
    while status.lock().unwrap().disk_guard_total == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the guard never fired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    quant::replica::replicator::GUARD_WAL_BYTES_FOR_TESTS
        .store(0, std::sync::atomic::Ordering::Relaxed);
    add_customers(&app, &client, 15, 5).await;
    proxy.set(true);
    caught_up(&app).await;
    let s = status.lock().unwrap().clone();
    assert!(
        s.snapshots_total >= 2,
        "a snapshot follows the guard: {s:?}"
    );
    let db_path = app.state.config().db_path();
    let dir = app.stop().await;
    let want = dump(&db_path);
    assert_eq!(want["customers"].len(), 20);
    let q = dir.path().join("after-guard.db");
    let (code, stdout, stderr) = quant_restore(&moto, "quant-guard", &q, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(dump(&q), want);
}

/// Row count, total bytes, and a SHA-256 over every row (`k`, `n`, body) of
/// the `big` table, in key order; panics unless `PRAGMA integrity_check` is ok.
fn big_fingerprint(path: &Path) -> (i64, i64, String) {
    use sha2::Digest;
    let c = rusqlite::Connection::open(path).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "{}", path.display());
    let (count, bytes): (i64, i64) = c
        .query_row("SELECT count(*), sum(length(body)) FROM big", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let mut h = sha2::Sha256::new();
    let mut st = c.prepare("SELECT k, n, body FROM big ORDER BY k").unwrap();
    let mut rows = st.query([]).unwrap();
    while let Some(r) = rows.next().unwrap() {
        h.update(r.get::<_, i64>(0).unwrap().to_le_bytes());
        h.update(r.get::<_, i64>(1).unwrap().to_le_bytes());
        h.update(r.get_ref(2).unwrap().as_blob().unwrap());
    }
    (count, bytes, hex::encode(h.finalize()))
}

/// `len` pseudo-random (incompressible) bytes from `seed`.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_database_round_trips_through_quant_and_litestream() {
    let (Some(moto_bin), Some(litestream)) =
        (tool("QUANT_TEST_MOTO"), tool("QUANT_TEST_LITESTREAM"))
    else {
        return;
    };
    let moto = Moto::start(&moto_bin);
    moto.create_bucket("quant-big").await;
    let app = TestApp::start_with(|c| replica_config(c, &moto, "quant-big")).await;
    let db = app.state.db.clone();
    db.write(|c| {
        c.execute_batch(
            "CREATE TABLE big (k INTEGER PRIMARY KEY, n INTEGER NOT NULL, body BLOB NOT NULL)",
        )?;
        Ok(())
    })
    .await
    .unwrap();
    // 210 MB in 42 transactions of twenty 250 kB rows, most incompressible.
    const ROW: usize = 250_000;
    for t in 0..42u64 {
        db.write(move |c| {
            let mut st = c.prepare("INSERT INTO big (n, body) VALUES (?1, ?2)")?;
            for i in 0..20u64 {
                let n = t * 20 + i;
                let mut body = noise(n, ROW);
                // A compressible tail, like real rows.
                body[ROW - 20_000..].fill(b'q');
                st.execute(rusqlite::params![n as i64, body])?;
            }
            Ok(())
        })
        .await
        .unwrap();
    }
    caught_up_within(&app, Duration::from_secs(120)).await;
    drop(db);
    let db_path = app.state.config().db_path();
    let dir = app.stop().await;
    // An edit while stopped: the next start ships the whole database as one
    // snapshot (the big-file path), then a last change as a level-0 file.
    {
        let c = rusqlite::Connection::open(&db_path).unwrap();
        c.execute("UPDATE big SET n = -n WHERE k % 97 = 0", [])
            .unwrap();
    }
    let app = TestApp::start_in(dir, |c| replica_config(c, &moto, "quant-big")).await;
    caught_up_within(&app, Duration::from_secs(120)).await;
    app.state
        .db
        .write(|c| Ok(c.execute("DELETE FROM big WHERE k % 101 = 0", [])?))
        .await
        .unwrap();
    caught_up(&app).await;
    let s = app.replica.clone().unwrap().lock().unwrap().clone();
    assert_eq!(s.snapshots_total, 1, "{s:?}");
    let dir = app.stop().await;
    let want = big_fingerprint(&db_path);
    assert_eq!(want.0, 840 - 8, "rows 101, 202, … 808 deleted");
    assert!(want.1 > 200_000_000, "{} bytes", want.1);
    assert!(
        std::fs::metadata(&db_path).unwrap().len() > 200_000_000,
        "a ≥ 200 MB database"
    );

    let q = dir.path().join("big-quant.db");
    let (code, max_rss) = quant_restore_measured(&moto, "quant-big", &q, dir.path());
    assert_eq!(code, 0);
    assert_eq!(big_fingerprint(&q), want);
    // The restore streams: its memory stays far below the database's size
    // (a debug build needs ~65 MB to restore a tiny database).
    assert!(max_rss > 0, "memory was sampled");
    assert!(
        max_rss < 150 << 20,
        "quant restore of a 210 MB database peaked at {} MB",
        max_rss >> 20
    );
    let l = dir.path().join("big-litestream.db");
    let (code, stdout, stderr) = litestream_restore(&litestream, &moto, "quant-big", &l, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(big_fingerprint(&l), want);
}

async fn store_for(moto: &Moto, bucket: &str) -> quant::replica::s3::Store {
    quant::replica::s3::Store::connect(&quant::replica::s3::StoreSettings {
        bucket: bucket.into(),
        path: "quant.db".into(),
        endpoint: Some(moto.endpoint()),
        region: "us-east-1".into(),
        force_path_style: true,
        credentials: Some((KEY_ID.into(), SECRET.to_string().into())),
    })
    .await
}

/// The database at TXID `target` rebuilt from the first snapshot and the
/// level-0 files alone (no compacted file), with the LTX decoder directly:
/// the reference that restores from compacted levels must equal.
async fn from_level_0(store: &quant::replica::s3::Store, target: u64, out: &Path) {
    use std::os::unix::fs::FileExt;
    let snap = store.list(9).await.unwrap();
    assert_eq!(snap[0].min_txid, 1);
    let mut files = vec![snap[0].clone()];
    files.extend(
        store
            .list(0)
            .await
            .unwrap()
            .into_iter()
            .filter(|f| f.min_txid > snap[0].max_txid && f.max_txid <= target),
    );
    let f = std::fs::File::create(out).unwrap();
    let mut end = 0;
    for info in &files {
        let bytes = store.get_ltx(info).await.unwrap();
        let h = quant::replica::ltx::decode(&bytes, |p, d| {
            f.write_all_at(d, u64::from(p - 1) * d.len() as u64)
                .unwrap();
            Ok(())
        })
        .unwrap();
        end = u64::from(h.commit) * u64::from(h.page_size);
    }
    f.set_len(end).unwrap();
}

/// Eight levels, 0.3 s to 2.4 s apart instead of 30 s, 5 min, 1 h; level-0
/// files are kept (they are the reference the compacted levels must match).
fn app_schedule() -> quant::replica::compact::Schedule {
    quant::replica::compact::Schedule {
        intervals: (1..=8).map(|k| Duration::from_millis(300 * k)).collect(),
        l0_retention: Duration::from_secs(3600),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_levels_1_to_8_restore_with_quant_and_litestream_from_every_mix() {
    let (Some(moto_bin), Some(litestream)) =
        (tool("QUANT_TEST_MOTO"), tool("QUANT_TEST_LITESTREAM"))
    else {
        return;
    };
    let moto = Moto::start(&moto_bin);
    moto.create_bucket("quant-levels").await;
    let app = TestApp::start_with(|c| {
        replica_config(c, &moto, "quant-levels");
        c.replica.sync_interval = Duration::from_millis(100);
        c.replica.compaction = app_schedule();
    })
    .await;
    app.user("owner@levels.test", Role::Owner).await;
    let client = app.login("owner@levels.test").await;
    let until = Instant::now() + Duration::from_secs(6);
    let mut n = 0;
    while Instant::now() < until {
        add_customers(&app, &client, n, 2).await;
        n += 2;
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    let db_path = app.state.config().db_path();
    let dir = app.stop().await;
    let want = dump(&db_path);
    assert_eq!(want["customers"].len(), n);

    let store = store_for(&moto, "quant-levels").await;
    // However far the background compactions got, one more round (every
    // level due, lowest first) leaves a file at every level.
    let schedule = app_schedule();
    quant::replica::compact::Compactor::new(
        store.clone(),
        schedule,
        Duration::from_secs(3600),
        dir.path().to_path_buf(),
        chrono::Utc::now(),
    )
    .tick(chrono::Utc::now())
    .await
    .unwrap();
    let mut all = Vec::new();
    for level in 0..=9 {
        let files = store.list(level).await.unwrap();
        assert!(!files.is_empty(), "level {level} has no file");
        all.extend(files);
    }
    let max = all.iter().map(|f| f.max_txid).max().unwrap();
    // Targets whose restore plans differ in the levels they use.
    let mut seen = std::collections::BTreeSet::new();
    let mut targets = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    let mut widest = 0;
    for t in (2..=max).rev() {
        let plan = quant::replica::restore::plan(&all, t).unwrap();
        let levels: Vec<u8> = plan.iter().map(|f| f.level).collect();
        used.extend(levels.iter().copied());
        let distinct: std::collections::BTreeSet<u8> = levels.iter().copied().collect();
        widest = widest.max(distinct.len());
        if seen.insert(levels) {
            targets.push(t);
        }
    }
    assert!(
        used.len() >= 5 && used.contains(&0) && used.contains(&9) && used.contains(&8),
        "levels used by restores: {used:?} of {all:?}"
    );
    assert!(widest >= 4, "no restore mixes four levels: {all:?}");
    assert!(
        targets.len() >= 4,
        "only {} different plans: {all:?}",
        targets.len()
    );
    let out = dir.path().join("levels");
    std::fs::create_dir_all(&out).unwrap();
    // Eight of them, spread over the range.
    let step = targets.len().div_ceil(8);
    for t in targets.iter().step_by(step) {
        let hex = format!("{t:016x}");
        let reference = out.join(format!("l0-{hex}.db"));
        from_level_0(&store, *t, &reference).await;
        let want_t = dump(&reference);
        let q = out.join(format!("quant-{hex}.db"));
        let (code, stdout, stderr) = quant_restore(&moto, "quant-levels", &q, &["--txid", &hex]);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        assert_eq!(dump(&q), want_t, "quant restore at {hex}");
        let l = out.join(format!("litestream-{hex}.db"));
        let (code, stdout, stderr) =
            litestream_restore(&litestream, &moto, "quant-levels", &l, &["-txid", &hex]);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        assert_eq!(dump(&l), want_t, "litestream restore at {hex}");
    }
    // The newest state too, equal to the source.
    let q = out.join("quant-latest.db");
    let (code, stdout, stderr) = quant_restore(&moto, "quant-levels", &q, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(dump(&q), want);

    // Level-0 retention: once level 1 covers them, old level-0 files go;
    // both tools still restore the newest state.
    let l1_max = store.list(1).await.unwrap().last().unwrap().max_txid;
    let mut c = quant::replica::compact::Compactor::new(
        store.clone(),
        quant::replica::compact::Schedule {
            intervals: vec![Duration::from_secs(3600)],
            l0_retention: Duration::ZERO,
        },
        Duration::from_secs(3600),
        dir.path().to_path_buf(),
        chrono::Utc::now(),
    );
    c.tick(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    let l0 = store.list(0).await.unwrap();
    let l1_max_now = store.list(1).await.unwrap().last().unwrap().max_txid;
    assert!(l1_max_now >= l1_max);
    assert!(
        l0.iter().all(|f| f.max_txid > l1_max_now),
        "level-0 files covered by level 1 are deleted: {l0:?}"
    );
    let q = out.join("quant-after-l0-retention.db");
    let (code, stdout, stderr) = quant_restore(&moto, "quant-levels", &q, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(dump(&q), want);
    let l = out.join("litestream-after-l0-retention.db");
    let (code, stdout, stderr) = litestream_restore(&litestream, &moto, "quant-levels", &l, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(dump(&l), want);
}
