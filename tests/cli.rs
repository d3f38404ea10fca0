//! The real `quant` binary's command line: version, configuration layering
//! and errors (`check-config`), migrations, users and API tokens — with the
//! exit codes 0 (ok), 1 (runtime failure) and 2 (bad usage or configuration).

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

/// `quant` with `--data DIR` (global flag) and the remaining arguments.
fn quant_in(dir: &Path, args: &[&str]) -> Command {
    let mut c = quant_cmd();
    c.arg("--data").arg(dir).args(args);
    c
}

/// Writes `text` to a `config.toml` in `dir` and returns its path.
fn write_config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("config.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `quant check-config` (with extra setup from `prep`), asserts exit 0,
/// and returns the effective configuration it printed, parsed, and the
/// first (comment) line.
fn check_config(prep: impl FnOnce(&mut Command)) -> (toml::Value, String) {
    let mut c = quant_cmd();
    prep(&mut c);
    c.arg("check-config");
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "check-config failed: {err}");
    let v: toml::Value = toml::from_str(&out).unwrap_or_else(|e| panic!("not TOML ({e}): {out}"));
    (v, out.lines().next().unwrap_or_default().to_string())
}

fn get<'a>(v: &'a toml::Value, key: &str) -> &'a toml::Value {
    key.split('.').fold(v, |v, k| {
        v.get(k).unwrap_or_else(|| panic!("no {key} in {v}"))
    })
}

fn get_str<'a>(v: &'a toml::Value, key: &str) -> &'a str {
    get(v, key)
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

fn get_int(v: &toml::Value, key: &str) -> i64 {
    get(v, key)
        .as_integer()
        .unwrap_or_else(|| panic!("{key} is not an integer"))
}

#[test]
fn version_prints_the_version() {
    let (code, out, err) = run(quant_cmd().arg("version"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("quant {}", env!("CARGO_PKG_VERSION")));
    let (code, out, _) = run(quant_cmd().arg("--version"));
    assert_eq!(code, 0);
    assert!(out.contains(env!("CARGO_PKG_VERSION")), "{out}");
}

#[test]
fn unknown_subcommand_or_flag_is_a_usage_error() {
    let (code, _, err) = run(quant_cmd().arg("frobnicate"));
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(quant_cmd().args(["serve", "--listen", "not-an-address"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--listen"), "{err}");
}

#[test]
fn check_config_without_a_file_prints_the_defaults() {
    assert!(
        !Path::new(quant::config::SYSTEM_CONFIG_PATH).exists(),
        "this test needs a machine without {}",
        quant::config::SYSTEM_CONFIG_PATH
    );
    let (v, first) = check_config(|_| {});
    assert!(first.contains("built-in defaults"), "{first}");
    assert_eq!(get_str(&v, "server.listen"), "127.0.0.1:8080");
    assert_eq!(get_str(&v, "log.level"), "info");
    assert_eq!(get_str(&v, "database.data_dir"), "./data");
    assert_eq!(get_int(&v, "database.read_pool_size"), 4);
    // The whole printout is exactly the defaults the code declares.
    let parsed: quant::config::Config = v.try_into().unwrap();
    assert_eq!(parsed, quant::config::Config::default());
}

const FILE: &str = r#"
[server]
listen = "0.0.0.0:9000"
shutdown_timeout = "7s"

[database]
data_dir = "/srv/from-file"
read_pool_size = 8

[log]
level = "warn"
"#;

#[test]
fn a_config_file_overrides_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), FILE);
    let (v, first) = check_config(|c| {
        c.arg("--config").arg(&file);
    });
    assert!(first.contains(file.to_str().unwrap()), "{first}");
    assert_eq!(get_str(&v, "server.listen"), "0.0.0.0:9000");
    assert_eq!(get_str(&v, "server.shutdown_timeout"), "7s");
    assert_eq!(get_str(&v, "database.data_dir"), "/srv/from-file");
    assert_eq!(get_int(&v, "database.read_pool_size"), 8);
    assert_eq!(get_str(&v, "log.level"), "warn");
    // Keys the file does not mention keep their defaults.
    assert_eq!(get_int(&v, "database.max_batch"), 256);
    assert_eq!(get_int(&v, "rate_limit.api_per_minute"), 1200);
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), FILE);
    let (v, _) = check_config(|c| {
        c.arg("--config")
            .arg(&file)
            .env("QUANT__SERVER__LISTEN", "127.0.0.1:7000")
            .env("QUANT__LOG__LEVEL", "debug")
            .env("QUANT__RATE_LIMIT__API_PER_MINUTE", "0");
    });
    assert_eq!(get_str(&v, "server.listen"), "127.0.0.1:7000");
    assert_eq!(get_str(&v, "log.level"), "debug");
    assert_eq!(get_int(&v, "rate_limit.api_per_minute"), 0);
    // What the environment does not set still comes from the file.
    assert_eq!(get_int(&v, "database.read_pool_size"), 8);
    assert_eq!(get_str(&v, "server.shutdown_timeout"), "7s");
}

#[test]
fn data_flag_overrides_environment_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), FILE);
    let with_env = |c: &mut Command| {
        c.arg("--config")
            .arg(&file)
            .env("QUANT__DATABASE__DATA_DIR", "/srv/from-env");
    };
    let (v, _) = check_config(with_env);
    assert_eq!(get_str(&v, "database.data_dir"), "/srv/from-env");
    let (v, _) = check_config(|c| {
        with_env(c);
        c.args(["--data", "/srv/from-cli"]);
    });
    assert_eq!(get_str(&v, "database.data_dir"), "/srv/from-cli");
    // QUANT_DATA is the flag's environment form: it too beats the config layers.
    let (v, _) = check_config(|c| {
        with_env(c);
        c.env("QUANT_DATA", "/srv/from-quant-data");
    });
    assert_eq!(get_str(&v, "database.data_dir"), "/srv/from-quant-data");
}

#[test]
fn quant_config_env_works_like_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), FILE);
    let (v, first) = check_config(|c| {
        c.env("QUANT_CONFIG", &file);
    });
    assert!(first.contains(file.to_str().unwrap()), "{first}");
    assert_eq!(get_str(&v, "server.listen"), "0.0.0.0:9000");
    assert_eq!(get_str(&v, "log.level"), "warn");

    let missing = dir.path().join("missing.toml");
    let (code, out, err) = run(quant_cmd()
        .env("QUANT_CONFIG", &missing)
        .arg("check-config"));
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
}

/// A bad configuration: what the file says (None: no file), extra
/// environment, and what stderr must mention.
struct Bad {
    file: Option<&'static str>,
    env: &'static [(&'static str, &'static str)],
    expect: &'static [&'static str],
}

const BAD: &[Bad] = &[
    Bad {
        file: Some("[server\nlisten = 1\n"),
        env: &[],
        expect: &["not valid TOML", "line 1"],
    },
    Bad {
        file: Some("[server]\nbogus = 1\n"),
        env: &[],
        expect: &["server.bogus", "unknown key"],
    },
    Bad {
        file: Some("[nosuch]\na = 1\n"),
        env: &[],
        expect: &["nosuch", "unknown key"],
    },
    Bad {
        file: Some("[database]\nread_pool_size = \"x\"\n"),
        env: &[],
        expect: &["database.read_pool_size", "invalid type"],
    },
    Bad {
        file: Some("[database]\nread_pool_size = 0\n"),
        env: &[],
        expect: &["database.read_pool_size", "between 1 and 64"],
    },
    Bad {
        file: Some("[server]\nshutdown_timeout = \"soon\"\n"),
        env: &[],
        expect: &["server.shutdown_timeout", "duration"],
    },
    Bad {
        file: Some("[log]\nlevel = \"loud\"\n"),
        env: &[],
        expect: &["log.level", "loud"],
    },
    Bad {
        file: Some("[server]\nlisten = \"localhost\"\n"),
        env: &[],
        expect: &["server.listen"],
    },
    Bad {
        file: Some("[server]\nlisten = \"127.0.0.1:99999\"\n"),
        env: &[],
        expect: &["server.listen"],
    },
    Bad {
        file: Some("[server]\npublic_url = \"ftp://example.com\"\n"),
        env: &[],
        expect: &["server.public_url", "http://"],
    },
    Bad {
        file: None,
        env: &[("QUANT__SERVER__BOGUS", "1")],
        expect: &["server.bogus", "QUANT__SERVER__BOGUS"],
    },
    Bad {
        file: None,
        env: &[("QUANT__DATABASE__READ_POOL_SIZE", "lots")],
        expect: &["database.read_pool_size", "QUANT__DATABASE__READ_POOL_SIZE"],
    },
    Bad {
        file: None,
        env: &[("QUANT__LOG__LEVEL", "loud")],
        expect: &["log.level"],
    },
    // Every problem is reported, not only the first.
    Bad {
        file: Some("[database]\nread_pool_size = 0\nmax_batch = 0\n[server]\npublic_url = \"x\"\n"),
        env: &[],
        expect: &[
            "database.read_pool_size",
            "database.max_batch",
            "server.public_url",
        ],
    },
];

#[test]
fn every_config_error_exits_2_and_names_the_key() {
    for (i, bad) in BAD.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = quant_cmd();
        if let Some(text) = bad.file {
            c.arg("--config").arg(write_config(dir.path(), text));
        }
        for (k, v) in bad.env {
            c.env(k, v);
        }
        c.arg("check-config");
        let (code, out, err) = run(&mut c);
        assert_eq!(
            code, 2,
            "case {i} ({:?} {:?}) should fail with 2; stdout {out}",
            bad.file, bad.env
        );
        assert!(out.is_empty(), "case {i}: nothing on stdout, got {out}");
        for want in bad.expect {
            assert!(
                err.contains(want),
                "case {i}: stderr should mention {want:?}: {err}"
            );
        }
    }
}

#[test]
fn a_missing_config_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let (code, _, err) = run(quant_cmd()
        .arg("--config")
        .arg(&missing)
        .arg("check-config"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
}

#[test]
fn serve_and_migrate_refuse_a_bad_config_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), "[database]\nread_pool_size = 0\n");
    for args in [&["serve", "--listen", "127.0.0.1:0"][..], &["migrate"][..]] {
        let mut c = quant_in(dir.path(), args);
        c.arg("--config").arg(&file);
        let (code, _, err) = run(&mut c);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("database.read_pool_size"), "{args:?}: {err}");
    }
    // Nothing was created: configuration is checked before the database is touched.
    assert!(!dir.path().join("quant.db").exists());
}

fn schema_versions(db: &Path) -> Vec<i64> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn migrate_applies_then_reports_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let latest = quant::db::migrations::latest();
    let (code, out, err) = run(&mut quant_in(dir.path(), &["migrate"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("schema version 0 -> {latest}")),
        "{out}"
    );
    assert!(out.contains("applied"), "{out}");
    assert_eq!(
        schema_versions(&dir.path().join("quant.db")),
        (1..=latest).collect::<Vec<_>>()
    );

    let (code, out, err) = run(&mut quant_in(dir.path(), &["migrate"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("up to date (schema version {latest})")),
        "{out}"
    );
    assert!(!out.contains("applied"), "{out}");
}

#[test]
fn a_newer_schema_is_refused_by_serve_migrate_and_user_add() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&mut quant_in(dir.path(), &["migrate"]));
    assert_eq!(code, 0, "{err}");
    {
        let c = rusqlite::Connection::open(dir.path().join("quant.db")).unwrap();
        c.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', '2099-01-01T00:00:00Z')",
            [],
        )
        .unwrap();
    }
    let known = quant::db::migrations::latest();
    let check = |args: &[&str], stdin: &str| {
        let (code, _, err) = run_with_stdin(&mut quant_in(dir.path(), args), stdin);
        assert_eq!(code, 1, "{args:?} must refuse a newer schema: {err}");
        assert!(err.contains("only knows up to version"), "{args:?}: {err}");
        assert!(err.contains("9999"), "{args:?}: {err}");
        assert!(err.contains(&format!("version {known}")), "{args:?}: {err}");
    };
    check(&["serve", "--listen", "127.0.0.1:0"], "");
    check(&["migrate"], "");
    check(
        &[
            "user",
            "add",
            "--email",
            "o@example.com",
            "--role",
            "owner",
            "--password-stdin",
        ],
        PASSWORD,
    );
    // Refusing did not touch the recorded versions.
    let mut want: Vec<i64> = (1..=known).collect();
    want.push(9999);
    assert_eq!(schema_versions(&dir.path().join("quant.db")), want);
}

fn user_add(dir: &Path, email: &str, role: &str, stdin: &str) -> (i32, String, String) {
    run_with_stdin(
        &mut quant_in(
            dir,
            &[
                "user",
                "add",
                "--email",
                email,
                "--role",
                role,
                "--password-stdin",
            ],
        ),
        stdin,
    )
}

fn user_count(dir: &Path) -> i64 {
    let c = rusqlite::Connection::open(dir.join("quant.db")).unwrap();
    c.query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn user_add_succeeds_once_and_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, out, err) = user_add(d, "owner@example.com", "owner", &format!("{PASSWORD}\n"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("owner@example.com"), "{out}");
    assert!(!out.contains(PASSWORD) && !err.contains(PASSWORD));
    assert_eq!(user_count(d), 1);

    // The same e-mail again, in any case: a runtime conflict.
    for email in ["owner@example.com", "OWNER@Example.com"] {
        let (code, _, err) = user_add(d, email, "office", PASSWORD);
        assert_eq!(code, 1, "duplicate {email}: {err}");
        assert!(err.contains("already exists"), "{err}");
    }
    let (code, _, err) = user_add(d, "x@example.com", "king", PASSWORD);
    assert_eq!(code, 2, "bad role: {err}");
    assert!(err.contains("king"), "{err}");
    let (code, _, err) = user_add(d, "not-an-email", "office", PASSWORD);
    assert_eq!(code, 2, "bad e-mail: {err}");
    assert!(err.contains("email"), "{err}");
    let (code, _, err) = user_add(d, "y@example.com", "office", "short\n");
    assert_eq!(code, 2, "short password: {err}");
    assert!(err.contains("password"), "{err}");
    let (code, _, err) = user_add(d, "z@example.com", "office", "");
    assert_eq!(code, 2, "empty password: {err}");

    // No --password-stdin and standard input is not a terminal.
    let (code, _, err) = run_with_stdin(
        &mut quant_in(
            d,
            &[
                "user",
                "add",
                "--email",
                "t@example.com",
                "--role",
                "technician",
            ],
        ),
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(code, 2, "no terminal: {err}");
    assert!(err.contains("--password-stdin"), "{err}");

    assert_eq!(user_count(d), 1, "no failed attempt created a user");
}

#[test]
fn reset_password_for_known_and_unknown_users() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(user_add(d, "o@example.com", "owner", PASSWORD).0, 0);
    let reset = |email: &str, stdin: &str| {
        run_with_stdin(
            &mut quant_in(
                d,
                &[
                    "user",
                    "reset-password",
                    "--email",
                    email,
                    "--password-stdin",
                ],
            ),
            stdin,
        )
    };
    let (code, out, err) = reset("o@example.com", "a brand new password\n");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("o@example.com"), "{out}");
    let (code, _, err) = reset("nobody@example.com", "a brand new password\n");
    assert_eq!(code, 1, "unknown user: {err}");
    let (code, _, err) = reset("o@example.com", "short\n");
    assert_eq!(code, 2, "short password: {err}");
    let (code, _, err) = run_with_stdin(
        &mut quant_in(d, &["user", "reset-password", "--email", "o@example.com"]),
        "a brand new password\n",
    );
    assert_eq!(code, 2, "no terminal: {err}");
}

fn token_create(dir: &Path, user: &str, name: &str) -> (i32, String, String) {
    run(&mut quant_in(
        dir,
        &["token", "create", "--user", user, "--name", name],
    ))
}

fn serve_in(dir: &Path) -> Served {
    serve(quant_in(dir, &["serve", "--listen", "127.0.0.1:0"]))
}

#[test]
fn token_create_prints_a_token_the_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(user_add(d, "o@example.com", "owner", PASSWORD).0, 0);
    let (code, out, err) = token_create(d, "o@example.com", "ci");
    assert_eq!(code, 0, "{err}");
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("qt_"),
        "token alone on the last line: {out:?}"
    );
    assert_eq!(last.trim(), last);
    assert!(!last.contains(' '), "{last:?}");
    assert!(last.len() > 20, "{last:?}");
    assert!(!err.contains(last), "the token is not logged");

    let (code, _, err) = token_create(d, "o@example.com", "ci");
    assert_eq!(code, 1, "duplicate name: {err}");
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = token_create(d, "nobody@example.com", "ci2");
    assert_eq!(code, 1, "unknown user: {err}");
    let (code, _, err) = token_create(d, "o@example.com", "   ");
    assert_eq!(code, 2, "blank name: {err}");

    let s = serve_in(d);
    let auth = format!("Bearer {last}");
    let r = http(
        &s.addr,
        "GET",
        "/api/v1/me",
        &[("Authorization", &auth)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let me = r.json();
    assert_eq!(me["email"], "o@example.com");
    assert_eq!(me["authMethod"], "token");
    // A token that is one character off is not accepted.
    let mut wrong = last.to_string();
    let c = wrong.pop().unwrap();
    wrong.push(if c == 'A' { 'B' } else { 'A' });
    let r = http(
        &s.addr,
        "GET",
        "/api/v1/me",
        &[("Authorization", &format!("Bearer {wrong}"))],
        None,
    );
    assert_eq!(r.status, 401);
}

fn login(addr: &str, email: &str, password: &str) -> RawResponse {
    let body = serde_json::json!({"email": email, "password": password}).to_string();
    http(addr, "POST", "/api/v1/auth/login", &[], Some(&body))
}

#[test]
fn login_uses_the_password_given_on_stdin_and_reset_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = "first password given on stdin";
    let second = "second password after reset";
    let (code, _, err) = user_add(d, "Owner@Example.com", "owner", &format!("{first}\n"));
    assert_eq!(code, 0, "{err}");
    let s = serve_in(d);

    let r = login(&s.addr, "owner@example.com", first);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["user"]["email"], "owner@example.com");
    let cookie = r
        .header("set-cookie")
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("quant_session="), "{cookie}");
    let me = http(&s.addr, "GET", "/api/v1/me", &[("Cookie", &cookie)], None);
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["authMethod"], "session");

    // Only that password: not with its newline, not another one.
    assert_eq!(
        login(&s.addr, "owner@example.com", &format!("{first}\n")).status,
        401
    );
    assert_eq!(login(&s.addr, "owner@example.com", PASSWORD).status, 401);

    // Reset while the server runs: the new password works, the old one and
    // the session it opened do not.
    let (code, _, err) = run_with_stdin(
        &mut quant_in(
            d,
            &[
                "user",
                "reset-password",
                "--email",
                "owner@example.com",
                "--password-stdin",
            ],
        ),
        &format!("{second}\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(login(&s.addr, "owner@example.com", first).status, 401);
    assert_eq!(login(&s.addr, "owner@example.com", second).status, 200);
    let me = http(&s.addr, "GET", "/api/v1/me", &[("Cookie", &cookie)], None);
    assert_eq!(me.status, 401, "the old session ended: {}", me.body);
}
