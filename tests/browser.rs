//! The browser suite: `quant demo` (the real binary, seeded demo business)
//! driven by Playwright in Debian's headless Chromium, through
//! `tests/browser/run.mjs` (see its header). Screenshots land in
//! `target/screenshots/`. Needs `node`, `/usr/bin/chromium` and
//! `tests/browser/node_modules` (`scripts/test` installs them); without them
//! the test is skipped, unless `QUANT_TEST_REQUIRE_TOOLS=1` (as in CI), when
//! it fails.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn tools() -> Option<(PathBuf, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let node = which("node")?;
    let ok = chromium.exists()
        && root
            .join("tests/browser/node_modules/playwright-core")
            .exists();
    ok.then_some((node, chromium))
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.exists())
}

/// Runs the browser specs against a freshly seeded demo.
#[test]
fn browser_suite_in_headless_chromium() {
    let Some((node, chromium)) = tools() else {
        if std::env::var("QUANT_TEST_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!(
                "node, /usr/bin/chromium or tests/browser/node_modules missing (run scripts/test)"
            );
        }
        eprintln!(
            "SKIPPED: node, chromium or playwright-core not installed (scripts/test installs them)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = quant_cmd();
    cmd.args([
        "--data",
        dir.path().to_str().unwrap(),
        "demo",
        "--listen",
        "127.0.0.1:0",
    ]);
    let s = serve(cmd);
    assert!(
        s.wait_line(Duration::from_secs(60), |l| l
            .contains("is running at http://"))
            .is_some(),
        "the demo did not start"
    );
    let db = rusqlite::Connection::open(dir.path().join("quant.db")).unwrap();
    let mut st = db
        .prepare("SELECT email, role, name FROM users WHERE active = 1 ORDER BY created_at, email")
        .unwrap();
    let logins: Vec<serde_json::Value> = st
        .query_map([], |r| {
            Ok(serde_json::json!({
                "email": r.get::<_, String>(0)?,
                "role": r.get::<_, String>(1)?,
                "name": r.get::<_, String>(2)?,
            }))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(st);
    drop(db);
    assert!(logins.len() >= 10, "{logins:?}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shots = root.join("target/screenshots");
    if std::env::var_os("QUANT_BROWSER_SPECS").is_none() {
        let _ = std::fs::remove_dir_all(&shots);
    }
    let mut run = Command::new(node);
    run.arg(root.join("tests/browser/run.mjs"))
        .env("QUANT_BASE_URL", s.base())
        .env("QUANT_LOGINS", serde_json::to_string(&logins).unwrap())
        .env("QUANT_PASSWORD", quant::demo::DEMO_PASSWORD)
        .env("QUANT_SCREENSHOTS", &shots)
        .env("CHROMIUM", chromium);
    if let Ok(only) = std::env::var("QUANT_BROWSER_SPECS") {
        run.args(only.split(',').filter(|s| !s.is_empty()));
    }
    let out = run.output().expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser specs failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
