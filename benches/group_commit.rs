//! Durable write throughput: group commit vs one transaction per write.
//!
//! Both modes use the same `quant::db::Db` (WAL, `synchronous=FULL`, one
//! writer thread); only `max_batch` differs (256 vs 1). Each mode runs at
//! concurrency 1, 16 and 64 for a fixed time on a fresh database file and
//! reports writes/s, p50/p99 latency and the ratio. Not a test: run with
//! `scripts/bench/group-commit` (release build).

use quant::db::{Db, DbOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct Run {
    writes: u64,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    commits: u64,
}

async fn run(max_batch: usize, concurrency: usize, dur: Duration) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open_async(
        dir.path().join("bench.db"),
        DbOptions {
            max_batch,
            ..DbOptions::default()
        },
    )
    .await
    .expect("open");
    db.write(|c| {
        c.execute_batch(
            "CREATE TABLE bench (id INTEGER PRIMARY KEY, who INTEGER NOT NULL, body TEXT NOT NULL)",
        )?;
        Ok(())
    })
    .await
    .expect("schema");
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let db = db.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let body = "x".repeat(200);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let b = body.clone();
                db.write(move |c| {
                    c.execute(
                        "INSERT INTO bench (who, body) VALUES (?1, ?2)",
                        rusqlite::params![w as i64, b],
                    )?;
                    Ok(())
                })
                .await
                .expect("write");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    tokio::time::sleep(dur).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    let pct =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    let stored: i64 = db
        .read(|c| Ok(c.query_row("SELECT count(*) FROM bench", [], |r| r.get(0))?))
        .await
        .expect("count");
    assert_eq!(
        stored as usize,
        all.len(),
        "every acknowledged write is stored"
    );
    Run {
        writes: all.len() as u64,
        secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        commits: db.stats().commits.load(Ordering::Relaxed),
    }
}

fn main() {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dur = Duration::from_secs(secs);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "# Group commit vs one transaction per write ({secs} s per cell, WAL, synchronous=FULL)"
    );
    println!();
    println!(
        "| writers | one tx/write: writes/s | p50 ms | p99 ms | group commit: writes/s | p50 ms | p99 ms | writes/commit | ratio |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for conc in [1usize, 16, 64] {
        let single = rt.block_on(run(1, conc, dur));
        let group = rt.block_on(run(256, conc, dur));
        let s_rate = single.writes as f64 / single.secs;
        let g_rate = group.writes as f64 / group.secs;
        println!(
            "| {conc} | {s_rate:.0} | {:.2} | {:.2} | {g_rate:.0} | {:.2} | {:.2} | {:.1} | {:.2}× |",
            single.p50_ms,
            single.p99_ms,
            group.p50_ms,
            group.p99_ms,
            group.writes as f64 / group.commits.max(1) as f64,
            g_rate / s_rate
        );
    }
}
