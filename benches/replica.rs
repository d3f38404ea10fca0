//! Replication benchmarks, side by side in one run (issue 5, point 9):
//!
//! - **A. Write throughput, replication off vs on.** The goal (≤ 5 % cost)
//!   is measured where Quant's writes are, through the API: part A1,
//!   `BENCH_MODE=replica` of `benches/api_load.rs`, which
//!   `scripts/bench/replica` runs after this one. Here, part A2 is a
//!   storage-layer stress test: `BENCH_WRITERS` concurrent writers insert
//!   ~300-byte rows straight through `quant::db::Db` (WAL,
//!   `synchronous=FULL`, group commit; no HTTP, no request work) for
//!   `BENCH_SECS`; off = no replicator (SQLite's own checkpoints), on =
//!   Quant's replicator shipping to S3. `BENCH_ROUNDS` alternating rounds
//!   each; the median of the on ÷ off pairs is reported.
//! - **B. Replication lag.** During the "on" rounds (full load) and during a
//!   light phase (one write every 20 ms): for a write every 20 ms, the time
//!   from its acknowledgement until the replicator reports a round that began
//!   after it as complete (goal: p99 ≤ 1 s).
//! - **C. CPU seconds and bytes uploaded per GB written, Quant vs the real
//!   `litestream replicate`.** The same workload — `BENCH_GB_MB` MB of ~1 kB
//!   rows (half random, half text) in 1 MB transactions — into a fresh
//!   database for each. Quant's CPU is the bench process's CPU with its
//!   replicator minus the same workload without it; Litestream's is its own
//!   process's. Bytes uploaded are counted on the wire by a TCP proxy in
//!   front of S3 (a child process, so its CPU is nobody's), requests
//!   included. Both use a 1 s sync interval and Litestream's default
//!   compaction levels (goal: ≤ Litestream's).
//! - **D. Restore time** of a ~`BENCH_RESTORE_MB` MB database (rows as in C)
//!   from Quant's bucket: `quant restore` (which always runs
//!   `PRAGMA integrity_check`) vs `litestream restore` (default: no check;
//!   and with `-integrity-check full`), with peak memory; every result is
//!   checked equal to the source (goal: ≤ 1×).
//!
//! S3 is `moto_server` on 127.0.0.1 (as in the tests), at nice 19. Not a test: run with
//! `scripts/bench/replica`, which installs the tools and builds release
//! binaries. Environment: `QUANT_BIN`, `QUANT_TEST_MOTO`,
//! `QUANT_TEST_LITESTREAM` (paths), `BENCH_SECS` (10), `BENCH_ROUNDS` (3), `BENCH_WRITERS` (16),
//! `BENCH_GB_MB` (1024), `BENCH_RESTORE_MB` (1024), `BENCH_PARTS` (`a,c,d`;
//! B runs with A), `BENCH_DIR` (where the databases go), `BENCH_KEEP=1`
//! (keep them and the logs), `BENCH_OUT` (also write the report there).

#[path = "support/stats.rs"]
mod stats;

use quant::config::ReplicaConfig;
use quant::db::{Db, DbOptions};
use quant::replica::replicator::{Replicator, SharedStatus};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const KEY_ID: &str = "benchkey";
const SECRET: &str = "bench-secret";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn tool(name: &str) -> PathBuf {
    let p = PathBuf::from(
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} is not set: use scripts/bench/replica")),
    );
    assert!(p.is_file(), "{name}={} is not a file", p.display());
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto at the lowest CPU priority (`nice -n 19`, which execs it: same pid):
/// a real S3 runs elsewhere, so its work should take as little as possible
/// from the two cores the measured replicators and writers share.
fn moto(bin: &Path) -> (Proc, u16) {
    let port = free_port();
    let child = Command::new("nice")
        .args(["-n", "19"])
        .arg(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    wait_listening(port);
    (Proc(child), port)
}

/// The byte-counting proxy, run in a child process (this same binary with
/// `--proxy LISTEN_PORT TARGET_PORT COUNTS_FILE`); it rewrites COUNTS_FILE
/// with "client_to_server server_to_client" every 100 ms.
struct Counter {
    _proc: Proc,
    port: u16,
    file: PathBuf,
}

impl Counter {
    fn start(target: u16, dir: &Path, name: &str) -> Counter {
        let port = free_port();
        let file = dir.join(format!("{name}.bytes"));
        let child = Command::new(std::env::current_exe().expect("exe"))
            .args([
                "--proxy",
                &port.to_string(),
                &target.to_string(),
                file.to_str().expect("utf-8 path"),
            ])
            .spawn()
            .expect("proxy starts");
        wait_listening(port);
        Counter {
            _proc: Proc(child),
            port,
            file,
        }
    }

    /// Bytes sent to S3 so far.
    fn uploaded(&self) -> u64 {
        std::fs::read_to_string(&self.file)
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// Waits until nothing has been uploaded for `quiet` (at most `limit`);
    /// returns the bytes uploaded.
    fn settle(&self, quiet: Duration, limit: Duration) -> u64 {
        let start = Instant::now();
        let mut last = self.uploaded();
        let mut since = Instant::now();
        while since.elapsed() < quiet && start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.uploaded();
            if now != last {
                last = now;
                since = Instant::now();
            }
        }
        last
    }
}

fn proxy_main(listen: u16, target: u16, file: PathBuf) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let up = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicU64::new(0));
        let (u, d) = (up.clone(), down.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let tmp = file.with_extension("tmp");
                let text = format!(
                    "{} {}\n",
                    u.load(Ordering::Relaxed),
                    d.load(Ordering::Relaxed)
                );
                if std::fs::write(&tmp, text).is_ok() {
                    let _ = std::fs::rename(&tmp, &file);
                }
            }
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", listen))
            .await
            .expect("proxy bind");
        loop {
            let Ok((inbound, _)) = listener.accept().await else {
                continue;
            };
            let (up, down) = (up.clone(), down.clone());
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                else {
                    return;
                };
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                tokio::join!(pump(ri, wo, up), pump(ro, wi, down));
            });
        }
    });
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 256 << 10];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                count.fetch_add(n as u64, Ordering::Relaxed);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

async fn create_bucket(port: u16, bucket: &str) {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            KEY_ID, SECRET, None, None, "bench",
        ))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("bucket created");
}

/// Bytes of the LTX files in `bucket` under `db/`, by level (0–9).
async fn level_bytes(port: u16, bucket: &str) -> [u64; 10] {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            KEY_ID, SECRET, None, None, "bench",
        ))
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    let mut out = [0u64; 10];
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix("db/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for o in page.expect("list").contents() {
            let key = o.key().unwrap_or("");
            let level = key
                .strip_prefix("db/")
                .and_then(|k| k.get(..4))
                .and_then(|l| usize::from_str_radix(l, 16).ok());
            if let Some(l) = level.filter(|l| *l < 10) {
                out[l] += o.size().unwrap_or(0).max(0) as u64;
            }
        }
    }
    out
}

fn replica_config(port: u16, bucket: &str) -> ReplicaConfig {
    ReplicaConfig {
        url: format!("s3://{bucket}/db"),
        endpoint: format!("http://127.0.0.1:{port}"),
        force_path_style: true,
        access_key_id: KEY_ID.into(),
        secret_access_key: SECRET.into(),
        sync_interval: Duration::from_secs(1),
        ..ReplicaConfig::default()
    }
}

async fn open_db(path: PathBuf, replicated: bool) -> Db {
    Db::open_async(
        path,
        DbOptions {
            replicated,
            ..DbOptions::default()
        },
    )
    .await
    .expect("open")
}

fn cpu_self() -> f64 {
    // SAFETY: an all-zero rusage is valid and getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid rusage for the call to fill.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// CPU seconds used so far by process `pid` (all threads).
fn cpu_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields after the command: state is [0], utime [11], stime [12].
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

/// Runs a command to its end, sampling its peak memory (`VmHWM`); returns
/// (seconds, peak bytes). Panics when it fails.
fn timed(cmd: &mut Command) -> (f64, u64) {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        if let Ok(t) = std::fs::read_to_string(&status_file)
            && let Some(kb) = t
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb * 1024);
        }
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let secs = start.elapsed().as_secs_f64();
    let err = reader.join().unwrap_or_default();
    assert!(status.success(), "{cmd:?} failed: {err}");
    (secs, peak)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

// ---------------------------------------------------------------- A and B

struct Throughput {
    writes: u64,
    secs: f64,
    lags_ms: Vec<f64>,
    /// CPU seconds of this process from the start of the round until its
    /// writes are all shipped (replicator stopped) or, off, written.
    cpu_s: f64,
}

/// Watches `status` and records each (moment observed, complete-as-of).
fn watch_status(
    status: SharedStatus,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut last = None;
        while !stop.load(Ordering::Relaxed) {
            let as_of = status.lock().ok().and_then(|s| s.current_as_of);
            if as_of != last
                && let Some(a) = as_of
            {
                seen.push((chrono::Utc::now(), a));
                last = as_of;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        seen
    })
}

/// For each acknowledgement time, the delay until a round that began after
/// it was seen complete.
fn lags(
    acks: &[chrono::DateTime<chrono::Utc>],
    seen: &[(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)],
) -> Vec<f64> {
    let mut out: Vec<f64> = acks
        .iter()
        .filter_map(|a| {
            seen.iter()
                .find(|(_, as_of)| as_of >= a)
                .map(|(at, _)| (*at - *a).num_microseconds().unwrap_or(0) as f64 / 1000.0)
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

async fn throughput(
    dir: &Path,
    name: &str,
    writers: usize,
    dur: Duration,
    replica: Option<(u16, &str)>,
) -> Throughput {
    let path = dir.join(format!("{name}.db"));
    let db = open_db(path, replica.is_some()).await;
    db.write(|c| {
        c.execute_batch(
            "CREATE TABLE bench (id INTEGER PRIMARY KEY, who INTEGER NOT NULL, body TEXT NOT NULL)",
        )?;
        Ok(())
    })
    .await
    .expect("schema");
    let rep = replica.map(|(port, bucket)| {
        Replicator::start(
            db.clone(),
            None,
            &replica_config(port, bucket),
            Arc::new(quant::clock::SystemClock),
        )
        .expect("replicator")
    });
    if let Some(r) = &rep {
        // Start measuring after the first snapshot.
        let deadline = Instant::now() + Duration::from_secs(30);
        while r.status().rounds_total < 1 {
            assert!(Instant::now() < deadline, "replication did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = rep
        .as_ref()
        .map(|r| watch_status(r.shared_status(), stop.clone()));
    let start = Instant::now();
    let cpu0 = cpu_self();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (db, stop) = (db.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let body = format!("{w:>4} {}", "lorem ipsum dolor sit amet ".repeat(11));
            while !stop.load(Ordering::Relaxed) {
                let b = body.clone();
                db.write(move |c| {
                    c.prepare_cached("INSERT INTO bench (who, body) VALUES (?1, ?2)")?
                        .execute(rusqlite::params![w as i64, b])?;
                    Ok(())
                })
                .await
                .expect("write");
                n += 1;
            }
            n
        }));
    }
    // One more writer, every 20 ms, whose acknowledgements time the lag.
    let sampler = {
        let (db, stop) = (db.clone(), stop.clone());
        tokio::spawn(async move {
            let mut acks = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                db.write(|c| {
                    c.execute("INSERT INTO bench (who, body) VALUES (-1, 'sample')", [])?;
                    Ok(())
                })
                .await
                .expect("sample write");
                acks.push(chrono::Utc::now());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            acks
        })
    };
    tokio::time::sleep(dur).await;
    stop.store(true, Ordering::Relaxed);
    let mut writes = 0;
    for t in tasks {
        writes += t.await.expect("writer");
    }
    let secs = start.elapsed().as_secs_f64();
    let acks = sampler.await.expect("sampler");
    let mut lags_ms = Vec::new();
    if let (Some(r), Some(w)) = (rep, watcher) {
        // Let the last samples ship, then stop watching.
        let stop2 = Arc::new(AtomicBool::new(false));
        let late = watch_status(r.shared_status(), stop2.clone());
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop2.store(true, Ordering::Relaxed);
        let mut seen = w.join().expect("watcher");
        seen.extend(late.join().expect("watcher"));
        lags_ms = lags(&acks, &seen);
        assert!(
            lags_ms.len() + 5 >= acks.len(),
            "only {} of {} sampled writes were seen shipped",
            lags_ms.len(),
            acks.len()
        );
        r.shutdown(Duration::from_secs(30)).await;
    }
    Throughput {
        writes,
        secs,
        lags_ms,
        cpu_s: cpu_self() - cpu0,
    }
}

/// Lag under light load: only the 20 ms sampler writes.
async fn light_lag(dir: &Path, port: u16, bucket: &str, dur: Duration) -> Vec<f64> {
    throughput(dir, "light", 0, dur, Some((port, bucket)))
        .await
        .lags_ms
}

// ---------------------------------------------------------------- C and D

/// Row `i` of the C/D workload: ~1 kB, half pseudo-random hex, half text.
fn row(i: u64) -> String {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut s = String::with_capacity(1040);
    while s.len() < 512 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(&format!("{x:016x}"));
    }
    s.push_str(&"customer called about the boiler; technician booked. ".repeat(10)[..512]);
    s
}

const ROWS_PER_TX: u64 = 1000;
const ROW_BYTES: u64 = 1024;

const WORKLOAD_SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS w (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, body TEXT NOT NULL)";

/// Writes `mb` MB of rows through Quant's `Db` (1 MB transactions).
async fn workload_quant(db: &Db, mb: u64) {
    db.write(|c| Ok(c.execute_batch(WORKLOAD_SCHEMA)?))
        .await
        .expect("schema");
    let txs = mb * (1 << 20) / (ROWS_PER_TX * ROW_BYTES);
    for t in 0..txs {
        db.write(move |c| {
            let mut st = c.prepare_cached("INSERT INTO w (n, body) VALUES (?1, ?2)")?;
            for i in 0..ROWS_PER_TX {
                let n = t * ROWS_PER_TX + i;
                st.execute(rusqlite::params![n as i64, row(n)])?;
            }
            Ok(())
        })
        .await
        .expect("write");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The same workload through a plain SQLite connection (for Litestream, and
/// to build the restore database).
fn workload_plain(path: &Path, mb: u64, pause: bool) {
    let c = rusqlite::Connection::open(path).expect("open");
    c.busy_timeout(Duration::from_secs(10)).expect("busy");
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
        .expect("pragmas");
    c.execute_batch(WORKLOAD_SCHEMA).expect("schema");
    let txs = mb * (1 << 20) / (ROWS_PER_TX * ROW_BYTES);
    for t in 0..txs {
        c.execute_batch("BEGIN").expect("begin");
        {
            let mut st = c
                .prepare_cached("INSERT INTO w (n, body) VALUES (?1, ?2)")
                .expect("prepare");
            for i in 0..ROWS_PER_TX {
                let n = t * ROWS_PER_TX + i;
                st.execute(rusqlite::params![n as i64, row(n)])
                    .expect("insert");
            }
        }
        c.execute_batch("COMMIT").expect("commit");
        if pause {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Waits until just after a multiple of 30 s on the wall clock, so the
/// compactions of both replicators (level 1 every 30 s, level 2 every 5 min,
/// on the wall clock) fall at the same points of their runs.
fn align_to_compaction() {
    let ms = chrono::Utc::now().timestamp_millis().rem_euclid(30_000);
    let wait = (30_000 - ms + 500) % 30_000;
    std::thread::sleep(Duration::from_millis(wait as u64));
}

struct Cost {
    cpu_s: f64,
    uploaded: u64,
    secs: f64,
}

async fn cost_quant(dir: &Path, moto_port: u16, mb: u64, replicate: bool) -> Cost {
    let counter = replicate.then(|| Counter::start(moto_port, dir, "quant"));
    let bucket = "cost-quant";
    if replicate {
        create_bucket(moto_port, bucket).await;
    }
    let name = if replicate {
        "cost-on.db"
    } else {
        "cost-off.db"
    };
    let db = open_db(dir.join(name), replicate).await;
    let rep = counter.as_ref().map(|c| {
        Replicator::start(
            db.clone(),
            None,
            &replica_config(c.port, bucket),
            Arc::new(quant::clock::SystemClock),
        )
        .expect("replicator")
    });
    if let Some(r) = &rep {
        let deadline = Instant::now() + Duration::from_secs(30);
        while r.status().rounds_total < 1 {
            assert!(Instant::now() < deadline, "replication did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    if replicate {
        tokio::task::block_in_place(align_to_compaction);
    }
    let up0 = counter.as_ref().map_or(0, Counter::uploaded);
    let cpu0 = cpu_self();
    let start = Instant::now();
    workload_quant(&db, mb).await;
    let uploaded = match &counter {
        Some(c) => {
            tokio::task::block_in_place(|| {
                c.settle(Duration::from_secs(3), Duration::from_secs(120))
            }) - up0
        }
        // Without replication: the same idle tail, for the same CPU baseline.
        None => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            0
        }
    };
    let cost = Cost {
        cpu_s: cpu_self() - cpu0,
        uploaded,
        secs: start.elapsed().as_secs_f64(),
    };
    if let Some(r) = rep {
        r.shutdown(Duration::from_secs(30)).await;
    }
    cost
}

fn cost_litestream(dir: &Path, bin: &Path, moto_port: u16, mb: u64) -> Cost {
    let counter = Counter::start(moto_port, dir, "litestream");
    let db = dir.join("cost-litestream.db");
    {
        // Create the database (and its WAL) before Litestream starts.
        let c = rusqlite::Connection::open(&db).expect("open");
        c.execute_batch("PRAGMA journal_mode=WAL;").expect("wal");
        c.execute_batch(WORKLOAD_SCHEMA).expect("schema");
    }
    let cfg = dir.join("litestream.yml");
    std::fs::write(
        &cfg,
        format!(
            "dbs:\n  - path: {}\n    replica:\n      type: s3\n      bucket: cost-litestream\n      path: db\n      endpoint: http://127.0.0.1:{}\n      region: us-east-1\n      force-path-style: true\n      sync-interval: 1s\n",
            db.display(),
            counter.port
        ),
    )
    .expect("config");
    let child = Command::new(bin)
        .arg("replicate")
        .arg("-config")
        .arg(&cfg)
        .env_remove("AWS_CA_BUNDLE")
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .stdout(std::fs::File::create(dir.join("litestream.out")).expect("log"))
        .stderr(std::fs::File::create(dir.join("litestream.log")).expect("log"))
        .spawn()
        .expect("litestream replicate starts");
    let pid = child.id();
    let _proc = Proc(child);
    // Its first snapshot, then the workload.
    let deadline = Instant::now() + Duration::from_secs(30);
    while counter.uploaded() == 0 {
        assert!(Instant::now() < deadline, "litestream uploaded nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    align_to_compaction();
    let cpu0 = cpu_of(pid);
    let up0 = counter.uploaded();
    let start = Instant::now();
    workload_plain(&db, mb, true);
    let uploaded = counter.settle(Duration::from_secs(3), Duration::from_secs(120)) - up0;
    Cost {
        cpu_s: cpu_of(pid) - cpu0,
        uploaded,
        secs: start.elapsed().as_secs_f64(),
    }
}

/// Row count and a checksum of every row, plus the integrity check.
fn fingerprint(path: &Path) -> (i64, String) {
    use sha2::Digest;
    let c = rusqlite::Connection::open(path).expect("open");
    let ok: String = c
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(ok, "ok", "{}", path.display());
    let mut h = sha2::Sha256::new();
    let mut n = 0;
    let mut st = c
        .prepare("SELECT n, body FROM w ORDER BY id")
        .expect("select");
    let mut rows = st.query([]).expect("query");
    while let Some(r) = rows.next().expect("row") {
        h.update(r.get::<_, i64>(0).expect("n").to_le_bytes());
        h.update(r.get_ref(1).expect("body").as_bytes().expect("text"));
        n += 1;
    }
    (n, hex::encode(h.finalize()))
}

struct RestoreResult {
    db_mb: f64,
    quant: (f64, u64),
    litestream: (f64, u64),
    litestream_full: (f64, u64),
}

async fn restore_bench(
    dir: &Path,
    quant_bin: &Path,
    litestream: &Path,
    moto_port: u16,
    mb: u64,
) -> RestoreResult {
    let src = dir.join("restore-src.db");
    let s2 = src.clone();
    // A database of about `mb` MB: its rows take ~1.4× their size on disk.
    let rows_mb = (mb * 10 / 14).max(1);
    tokio::task::spawn_blocking(move || workload_plain(&s2, rows_mb, false))
        .await
        .expect("build");
    let bucket = "restore";
    create_bucket(moto_port, bucket).await;
    // Quant's replicator writes the bucket: one snapshot of the whole file.
    let db = open_db(src.clone(), true).await;
    let rep = Replicator::start(
        db.clone(),
        None,
        &replica_config(moto_port, bucket),
        Arc::new(quant::clock::SystemClock),
    )
    .expect("replicator");
    let deadline = Instant::now() + Duration::from_secs(600);
    while rep.status().snapshots_total < 1 {
        assert!(Instant::now() < deadline, "no snapshot: {:?}", rep.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rep.shutdown(Duration::from_secs(60)).await;
    drop(db);
    let want = fingerprint(&src);
    let db_mb = std::fs::metadata(&src).expect("size").len() as f64 / 1e6;
    let url = format!("s3://{bucket}/db");
    let endpoint = format!("http://127.0.0.1:{moto_port}");
    let q = dir.join("restored-quant.db");
    let quant = timed(
        Command::new(quant_bin)
            .args(["restore", "--output"])
            .arg(&q)
            .args(["--url", &url, "--endpoint", &endpoint, "--force-path-style"])
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_REGION", "us-east-1"),
    );
    assert_eq!(fingerprint(&q), want, "quant restore");
    let _ = std::fs::remove_file(&q);
    let ls_url = format!("{url}?endpoint={endpoint}&region=us-east-1&forcePathStyle=true");
    let mut runs = Vec::new();
    for check in ["none", "full"] {
        let l = dir.join(format!("restored-litestream-{check}.db"));
        let r = timed(
            Command::new(litestream)
                .args(["restore", "-integrity-check", check, "-o"])
                .arg(&l)
                .arg(&ls_url)
                .env_remove("AWS_CA_BUNDLE")
                .env("AWS_ACCESS_KEY_ID", KEY_ID)
                .env("AWS_SECRET_ACCESS_KEY", SECRET),
        );
        assert_eq!(fingerprint(&l), want, "litestream restore");
        let _ = std::fs::remove_file(&l);
        runs.push(r);
    }
    RestoreResult {
        db_mb,
        quant,
        litestream: runs[0],
        litestream_full: runs[1],
    }
}

// ---------------------------------------------------------------- report

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--proxy") {
        let n = |i: usize| args[i].parse::<u16>().expect("port");
        proxy_main(n(2), n(3), PathBuf::from(&args[4]));
        return;
    }
    let secs = env_num("BENCH_SECS", 10);
    let rounds = env_num("BENCH_ROUNDS", 3).max(1) as usize;
    let writers = env_num("BENCH_WRITERS", 16) as usize;
    let gb_mb = env_num("BENCH_GB_MB", 1024);
    let restore_mb = env_num("BENCH_RESTORE_MB", 1024);
    let parts = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "a,c,d".into());
    let quant_bin = tool("QUANT_BIN");
    let moto_bin = tool("QUANT_TEST_MOTO");
    let litestream = tool("QUANT_TEST_LITESTREAM");
    let tmp = tempfile::Builder::new()
        .prefix("quant-bench-replica")
        .tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into()))
        .expect("temp dir");
    let dir = tmp.path().to_path_buf();
    let _tmp = if std::env::var("BENCH_KEEP").is_ok_and(|v| v == "1") {
        eprintln!("keeping {} (BENCH_KEEP=1)", dir.display());
        let _ = tmp.keep();
        None
    } else {
        Some(tmp)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (moto_proc, port) = moto(&moto_bin);
    let moto_pid = moto_proc.0.id();
    let mut out = String::new();
    let mut say = |s: String| {
        println!("{s}");
        out.push_str(&s);
        out.push('\n');
    };
    say(format!(
        "# Replication benchmarks (BENCH_SECS={secs}, BENCH_WRITERS={writers}, BENCH_GB_MB={gb_mb}, BENCH_RESTORE_MB={restore_mb})"
    ));
    say(String::new());
    let mut verdicts = Vec::new();
    let ms = |v: f64| format!("{v:.0}");
    if parts.contains('a') {
        let dur = Duration::from_secs(secs);
        let (mut off, mut on) = (Vec::new(), Vec::new());
        let mut load_lags = Vec::new();
        let mut moto_cpu = 0.0;
        rt.block_on(async {
            create_bucket(port, "throughput").await;
            for round in 0..rounds {
                off.push(throughput(&dir, &format!("off{round}"), writers, dur, None).await);
                let c0 = cpu_of(moto_pid);
                let t = throughput(
                    &dir,
                    &format!("on{round}"),
                    writers,
                    dur,
                    Some((port, "throughput")),
                )
                .await;
                moto_cpu += cpu_of(moto_pid) - c0;
                load_lags.extend(t.lags_ms.iter().copied());
                on.push(t);
            }
        });
        let rate = |v: &[Throughput]| {
            v.iter().map(|t| t.writes as f64 / t.secs).sum::<f64>() / v.len() as f64
        };
        let (r_off, r_on) = (rate(&off), rate(&on));
        // Each "on" round against the "off" round just before it, so slow
        // drifts of the machine's load cancel; the median of those ratios
        // is the verdict (robust to one disturbed round).
        let mut ratios: Vec<f64> = off
            .iter()
            .zip(&on)
            .map(|(a, b)| (b.writes as f64 / b.secs) / (a.writes as f64 / a.secs))
            .collect();
        let median = stats::sorted_median(&mut ratios);
        let cost = (1.0 - median) * 100.0;
        let mean_cost = (1.0 - r_on / r_off) * 100.0;
        say(format!(
            "## A2. Storage-layer stress: raw inserts through the database layer, {writers} writers, {rounds} × {secs} s per mode, alternating"
        ));
        say(String::new());
        let heads: String = (1..=rounds).map(|i| format!(" round {i} |")).collect();
        say(format!("| replication |{heads} mean writes/s | cost |"));
        say(format!("|---|{}---:|---:|", "---:|".repeat(rounds)));
        let cells = |v: &[Throughput]| -> String {
            v.iter()
                .map(|t| format!(" {:.0} |", t.writes as f64 / t.secs))
                .collect()
        };
        say(format!("| off |{} {r_off:.0} | |", cells(&off)));
        say(format!(
            "| on (Quant → S3, 1 s) |{} {r_on:.0} | {mean_cost:.1} % of the means |",
            cells(&on)
        ));
        let per_write = |v: &[Throughput]| {
            v.iter().map(|t| t.cpu_s).sum::<f64>() * 1e6
                / v.iter().map(|t| t.writes).sum::<u64>().max(1) as f64
        };
        let (c_off, c_on) = (per_write(&off), per_write(&on));
        let pairs: String = ratios.iter().map(|r| format!(" {r:.3}")).collect();
        say(String::new());
        say(format!(
            "Round by round, on ÷ the off round just before it (sorted):{pairs}; median {median:.3} → **cost {cost:.1} %**."
        ));
        say(String::new());
        say(format!(
            "CPU of the whole process per write (writers, writer thread, and on: the replicator until every write is shipped): off {c_off:.2} µs, on {c_on:.2} µs (+{:.1} %), which other load on the machine disturbs much less than throughput.",
            (c_on / c_off - 1.0) * 100.0
        ));
        say(String::new());
        say(format!(
            "The S3 server (moto, Python, at nice 19 on the same 2 cores) used {moto_cpu:.1} CPU s during the {:.0} s of \"on\" rounds.",
            on.iter().map(|t| t.secs).sum::<f64>()
        ));
        say(String::new());
        verdicts.push(format!(
            "storage-layer stress (A2, no goal; the goal is A1's): write cost of replication {cost:.1} % (median of the round pairs; {mean_cost:.1} % of the means){}",
            if cost <= 5.0 { "" } else { ", above 5 %" }
        ));
        load_lags.sort_by(f64::total_cmp);
        let light = rt.block_on(async {
            create_bucket(port, "light").await;
            light_lag(&dir, port, "light", dur).await
        });
        say("## B. Replication lag (write acknowledged → shipped), sync_interval 1 s".into());
        say(String::new());
        say("| load | samples | p50 ms | p90 ms | p99 ms | max ms |".into());
        say("|---|---:|---:|---:|---:|---:|".into());
        for (name, l) in [
            (format!("{writers} writers at full speed"), &load_lags),
            ("one write every 20 ms".to_string(), &light),
        ] {
            say(format!(
                "| {name} | {} | {} | {} | {} | {} |",
                l.len(),
                ms(pct(l, 0.5)),
                ms(pct(l, 0.9)),
                ms(pct(l, 0.99)),
                ms(l.last().copied().unwrap_or(f64::NAN))
            ));
        }
        say(String::new());
        let p99 = pct(&load_lags, 0.99).max(pct(&light, 0.99));
        verdicts.push(format!(
            "replication lag p99 {p99:.0} ms (goal ≤ 1000 ms): {}",
            if p99 <= 1000.0 { "met" } else { "NOT met" }
        ));
    }
    if parts.contains('c') {
        let (off, on) = rt.block_on(async {
            let off = cost_quant(&dir, port, gb_mb, false).await;
            let on = cost_quant(&dir, port, gb_mb, true).await;
            create_bucket(port, "cost-litestream").await;
            (off, on)
        });
        let ls = cost_litestream(&dir, &litestream, port, gb_mb);
        let (q_levels, ls_levels) = rt.block_on(async {
            (
                level_bytes(port, "cost-quant").await,
                level_bytes(port, "cost-litestream").await,
            )
        });
        let gb = gb_mb as f64 / 1024.0;
        let q_cpu = (on.cpu_s - off.cpu_s).max(0.0);
        let l0 = |v: &[u64; 10]| v[0] as f64 / 1e9 / gb;
        let compacted = |v: &[u64; 10]| v[1..9].iter().sum::<u64>() as f64 / 1e6;
        say(format!(
            "## C. CPU and upload per GB written ({gb_mb} MB of ~1 kB rows in 1 MB transactions)"
        ));
        say(String::new());
        say("| replicator | workload s | CPU s | CPU s per GB | level-0 (sync) files per GB written | compacted files MB | on the wire MB (all requests) |".into());
        say("|---|---:|---:|---:|---:|---:|---:|".into());
        say(format!(
            "| Quant (in process: CPU with − without, {:.2} − {:.2}) | {:.1} | {q_cpu:.2} | {:.2} | {:.2} GB | {:.1} | {:.1} |",
            on.cpu_s,
            off.cpu_s,
            on.secs,
            q_cpu / gb,
            l0(&q_levels),
            compacted(&q_levels),
            on.uploaded as f64 / 1e6,
        ));
        say(format!(
            "| litestream replicate 0.5.17 (own process) | {:.1} | {:.2} | {:.2} | {:.2} GB | {:.1} | {:.1} |",
            ls.secs,
            ls.cpu_s,
            ls.cpu_s / gb,
            l0(&ls_levels),
            compacted(&ls_levels),
            ls.uploaded as f64 / 1e6,
        ));
        say(String::new());
        say("Both runs start just after a 30 s boundary of the wall clock, so their compactions (level 1 every 30 s, level 2 every 5 min) fall at the same points; the level-0 bytes are what the syncs alone cost.".into());
        say(String::new());
        verdicts.push(format!(
            "CPU per GB: Quant {:.2} s vs Litestream {:.2} s (goal ≤): {}",
            q_cpu / gb,
            ls.cpu_s / gb,
            if q_cpu <= ls.cpu_s { "met" } else { "NOT met" }
        ));
        verdicts.push(format!(
            "upload per GB written (on the wire): Quant {:.2} GB vs Litestream {:.2} GB (goal ≤): {}; sync files alone {:.2} vs {:.2} GB",
            on.uploaded as f64 / 1e9 / gb,
            ls.uploaded as f64 / 1e9 / gb,
            if on.uploaded <= ls.uploaded { "met" } else { "NOT met" },
            l0(&q_levels),
            l0(&ls_levels),
        ));
    }
    if parts.contains('d') {
        let r = rt.block_on(restore_bench(
            &dir,
            &quant_bin,
            &litestream,
            port,
            restore_mb,
        ));
        say(format!(
            "## D. Restore of a {:.0} MB database from Quant's bucket",
            r.db_mb
        ));
        say(String::new());
        say("| tool | seconds | MB/s | peak memory MB | vs quant |".into());
        say("|---|---:|---:|---:|---:|".into());
        for (name, (s, peak)) in [
            ("quant restore (integrity_check always)", r.quant),
            ("litestream restore (default: no check)", r.litestream),
            (
                "litestream restore -integrity-check full",
                r.litestream_full,
            ),
        ] {
            say(format!(
                "| {name} | {s:.2} | {:.0} | {:.0} | {:.2}× |",
                r.db_mb / s,
                peak as f64 / 1e6,
                s / r.quant.0
            ));
        }
        say(String::new());
        verdicts.push(format!(
            "restore time: Quant {:.2} s vs Litestream {:.2} s without a check, {:.2} s with one (goal ≤ 1×): {:.2}× / {:.2}×",
            r.quant.0,
            r.litestream.0,
            r.litestream_full.0,
            r.quant.0 / r.litestream.0,
            r.quant.0 / r.litestream_full.0
        ));
    }
    say("## Verdicts".into());
    say(String::new());
    for v in verdicts {
        say(format!("- {v}"));
    }
    if let Ok(path) = std::env::var("BENCH_OUT") {
        let mut f = std::fs::File::create(path).expect("BENCH_OUT");
        f.write_all(out.as_bytes()).expect("write report");
    }
}
