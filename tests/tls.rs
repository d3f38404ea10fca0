//! TLS (`[tls]`): the real App on port 0 serving HTTPS with the generated
//! self-signed certificate or a given one, checked with a verifying rustls
//! client whose only root is that certificate (or its CA); protocol
//! versions (1.3 and 1.2 accepted, 1.1 and 1.0 refused); HSTS and `Secure`
//! cookies over TLS only; the HTTP → HTTPS redirect listener; and the real
//! binary: the logged fingerprint, and exit code 2 for unusable files.
mod common;
use common::*;

use quant::app::{App, AppOptions};
use quant::config::Config;
use quant::domain::user::Role;
use quant::tls::{CertOrigin, fingerprint};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, SupportedProtocolVersion};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// An in-process App with TLS on.
struct Running {
    port: u16,
    redirect_port: Option<u16>,
    fingerprint: String,
    origin: CertOrigin,
    setup_url: Option<String>,
    state: actix_web::web::Data<quant::http::state::AppState>,
    handle: actix_web::dev::ServerHandle,
    join: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
}

impl Running {
    async fn start(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> Running {
        let mut config = test_config(dir.path());
        config.tls.enabled = true;
        tweak(&mut config);
        let app = App::build_with(config, AppOptions::default())
            .await
            .expect("app builds");
        let tls = app.tls().expect("TLS is on");
        let running = Running {
            port: app.port(),
            redirect_port: app.redirect_port(),
            fingerprint: app.tls_fingerprint().unwrap().to_string(),
            origin: tls.origin,
            setup_url: app.setup_url(),
            state: app.state(),
            handle: app.handle(),
            join: tokio::spawn(async move { app.run_until_stopped().await.expect("runs") }),
            dir,
        };
        assert_eq!(running.fingerprint, tls_fingerprint_of(&running.state));
        running
    }

    async fn stop(self) -> tempfile::TempDir {
        self.handle.stop(true).await;
        let _ = self.join.await;
        self.dir
    }

    fn generated_cert(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("tls/cert.pem")).expect("generated cert.pem")
    }
}

fn tls_fingerprint_of(state: &quant::http::state::AppState) -> String {
    state
        .tls_fingerprint
        .clone()
        .expect("state knows the fingerprint")
}

fn ders(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .expect("PEM certificates")
}

/// A verifying client trusting only `roots`, offering only `versions`.
fn client_config(
    roots: &[CertificateDer<'static>],
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut store = RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).expect("root accepted");
    }
    Arc::new(
        ClientConfig::builder_with_provider(
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth(),
    )
}

fn all_versions() -> &'static [&'static SupportedProtocolVersion] {
    rustls::ALL_VERSIONS
}

/// What one HTTPS exchange showed.
struct Exchange {
    response: RawResponse,
    peer: Vec<CertificateDer<'static>>,
    version: ProtocolVersion,
}

/// One HTTP/1.1 request over TLS to 127.0.0.1:`port`, verifying the server
/// as `name`. Fails with the TLS or I/O error as text.
fn https(
    config: Arc<ClientConfig>,
    name: &str,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Exchange, String> {
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(config, server_name).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {name}:{port}\r\nConnection: close\r\n");
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
    req.push_str(body.unwrap_or(""));
    tls.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // Servers may close without close_notify once the response is sent.
            Err(_) if !raw.is_empty() => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    let response = parse_response(&raw)?;
    let peer = tls
        .conn
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
        .unwrap_or_default();
    let version = tls.conn.protocol_version().ok_or("no protocol version")?;
    Ok(Exchange {
        response,
        peer,
        version,
    })
}

fn get(config: &Arc<ClientConfig>, name: &str, port: u16, path: &str) -> Exchange {
    https(config.clone(), name, port, "GET", path, &[], None)
        .unwrap_or_else(|e| panic!("GET https://{name}:{port}{path}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_certificate_is_served_shown_and_reused_on_restart() {
    let app = Running::start(tempfile::tempdir().unwrap(), |_| {}).await;
    assert_eq!(app.origin, CertOrigin::Generated);
    let pem = app.generated_cert();
    let certs = ders(&pem);
    assert_eq!(certs.len(), 1, "one self-signed certificate");
    let key = app.dir.path().join("tls/key.pem");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "key.pem mode {mode:o}");
    }

    // A client that trusts only this certificate verifies it by name and by IP.
    let trust = client_config(&certs, all_versions());
    for name in ["localhost", "127.0.0.1"] {
        let x = get(&trust, name, app.port, "/healthz");
        assert_eq!(x.response.status, 200, "{name}");
        assert_eq!(x.peer[0], certs[0], "served certificate is the stored one");
        assert_eq!(fingerprint(&x.peer[0]), app.fingerprint);
        assert_eq!(x.version, ProtocolVersion::TLSv1_3, "1.3 preferred");
    }
    // The fingerprint is SHA-256 of the served DER, as browsers show it.
    {
        use sha2::Digest;
        let hex: Vec<String> = sha2::Sha256::digest(&certs[0])
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(app.fingerprint, hex.join(":"));
    }

    // It covers localhost, loopback and every LAN address of this machine.
    let names = quant::tls::certificate_names(&certs[0]);
    for n in quant::tls::local_names() {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    for n in ["localhost", "127.0.0.1", "::1"] {
        assert!(names.contains(n), "{n} missing from {names:?}");
    }

    // The setup page (over HTTPS) shows the fingerprint.
    let setup = app.setup_url.clone().expect("no owner yet: setup link");
    assert!(setup.starts_with("https://"), "{setup}");
    let path = &setup[setup.find("/setup").unwrap()..];
    let page = get(&trust, "localhost", app.port, path).response;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&app.fingerprint),
        "setup page shows the fingerprint: {}",
        page.body
    );
    assert!(
        page.body
            .contains("Check that your browser shows this fingerprint")
    );

    // An unrelated certificate as the only root: the handshake fails.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let stranger = client_config(&[other.cert.der().clone()], all_versions());
    let refused = https(
        stranger,
        "localhost",
        app.port,
        "GET",
        "/healthz",
        &[],
        None,
    );
    assert!(refused.is_err(), "an untrusted certificate must not verify");

    // Restart on the same data dir: the same certificate is reused.
    let dir = app.stop().await;
    let again = Running::start(dir, |_| {}).await;
    assert_eq!(again.origin, CertOrigin::Reused);
    assert_eq!(again.generated_cert(), pem, "cert.pem unchanged");
    let x = get(&trust, "localhost", again.port, "/healthz");
    assert_eq!(x.response.status, 200);
    assert_eq!(fingerprint(&x.peer[0]), again.fingerprint);
    assert_eq!(again.fingerprint, fingerprint(&certs[0]));
    again.stop().await;
}

/// A test CA and a leaf for localhost/127.0.0.1 it signed, written as
/// `chain.pem` (leaf, then CA) and `leaf.key` in `dir`. Returns the CA and
/// leaf certificates.
fn write_ca_and_leaf(dir: &Path) -> (CertificateDer<'static>, CertificateDer<'static>) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Quant test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    std::fs::write(dir.join("chain.pem"), format!("{}{}", leaf.pem(), ca.pem())).unwrap();
    std::fs::write(dir.join("leaf.key"), leaf_key.serialize_pem()).unwrap();
    (ca.der().clone(), leaf.der().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_certificate_and_key_are_served() {
    let files = tempfile::tempdir().unwrap();
    let (ca, leaf) = write_ca_and_leaf(files.path());
    let (cert_path, key_path) = (
        files.path().join("chain.pem"),
        files.path().join("leaf.key"),
    );
    let app = Running::start(tempfile::tempdir().unwrap(), |c| {
        c.tls.cert_path = cert_path.clone();
        c.tls.key_path = key_path.clone();
    })
    .await;
    assert_eq!(app.origin, CertOrigin::Configured);
    assert_eq!(app.fingerprint, fingerprint(&leaf));
    let trust_ca = client_config(std::slice::from_ref(&ca), all_versions());
    let x = get(&trust_ca, "localhost", app.port, "/healthz");
    assert_eq!(x.response.status, 200);
    assert_eq!(x.peer, vec![leaf.clone(), ca.clone()], "leaf then CA");
    assert!(
        !app.dir.path().join("tls").exists(),
        "no certificate generated when one is given"
    );
    app.stop().await;
}

/// A TLS ClientHello offering only `version` (0x0301 = TLS 1.0, 0x0302 =
/// TLS 1.1) with classic ECDHE/RSA CBC suites. It also carries a
/// signature_algorithms extension (which real 1.0/1.1 clients omit, and
/// whose absence rustls refuses first with handshake_failure), so that the
/// only thing wrong with it is the version.
fn legacy_client_hello(version: u16) -> Vec<u8> {
    let [vh, vl] = version.to_be_bytes();
    let mut body = vec![vh, vl];
    body.extend_from_slice(&[0x5a; 32]); // random
    body.push(0); // no session id
    let suites: [u16; 4] = [0xc013, 0xc014, 0x002f, 0x0035];
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // null compression
    // extensions: signature_algorithms [ecdsa_secp256r1_sha256, rsa_pkcs1_sha256]
    let sig_algs: [u8; 10] = [0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x04, 0x01];
    body.extend_from_slice(&(sig_algs.len() as u16).to_be_bytes());
    body.extend_from_slice(&sig_algs);
    let mut hs = vec![1u8]; // client_hello
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

/// Sends `hello` and returns the first record the server answers with.
fn first_record(port: u16, hello: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(hello).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    while out.len() < 7 {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    out
}

/// Runs `openssl s_client` against 127.0.0.1:`port` with `flag`; returns
/// (handshake completed, output). `None` when openssl is not installed.
fn openssl(port: u16, flag: &str) -> Option<(bool, String)> {
    let out = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
            flag,
            // OpenSSL 3 disables TLS < 1.2 at its default security level;
            // level 0 makes the client really offer them.
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let done = text.contains("BEGIN CERTIFICATE") || text.contains("Server certificate");
    Some((done, text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_1_3_and_1_2_are_accepted_and_older_versions_refused() {
    let app = Running::start(tempfile::tempdir().unwrap(), |_| {}).await;
    let certs = ders(&app.generated_cert());
    for (only, want) in [
        (&rustls::version::TLS13, ProtocolVersion::TLSv1_3),
        (&rustls::version::TLS12, ProtocolVersion::TLSv1_2),
    ] {
        let cfg = client_config(&certs, &[only]);
        let x = get(&cfg, "localhost", app.port, "/healthz");
        assert_eq!(x.version, want);
        assert_eq!(x.response.status, 200, "{want:?}");
    }

    // rustls cannot offer TLS 1.1 or 1.0, so such a ClientHello is sent by
    // hand: the server answers with a fatal protocol_version alert.
    for version in [0x0302u16, 0x0301] {
        let answer = first_record(app.port, &legacy_client_hello(version));
        assert!(answer.len() >= 7, "an alert record, got {answer:02x?}");
        assert_eq!(answer[0], 0x15, "alert record, got {answer:02x?}");
        assert_eq!(
            (answer[5], answer[6]),
            (2, 70),
            "fatal protocol_version for {version:#06x}, got {answer:02x?}"
        );
    }

    // And a real TLS stack, when this machine has one.
    match openssl(app.port, "-tls1_3") {
        Some((ok13, out13)) => {
            assert!(ok13, "openssl -tls1_3 must connect:\n{out13}");
            let (ok12, out12) = openssl(app.port, "-tls1_2").unwrap();
            assert!(ok12, "openssl -tls1_2 must connect:\n{out12}");
            for flag in ["-tls1_1", "-tls1"] {
                let (ok, out) = openssl(app.port, flag).unwrap();
                assert!(!ok, "openssl {flag} must be refused:\n{out}");
                // A real 1.1/1.0 client sends no signature_algorithms, so the
                // server's alert is handshake_failure rather than protocol_version.
                assert!(
                    out.contains("SSL alert number"),
                    "openssl {flag} refused by a server alert:\n{out}"
                );
                assert!(
                    !out.contains("no protocols available"),
                    "openssl {flag} did not even offer it:\n{out}"
                );
            }
        }
        None => {
            eprintln!("openssl is not installed: TLS 1.1/1.0 checked with raw ClientHellos only")
        }
    }
    app.stop().await;
}

async fn login_over_tls(app: &Running, trust: &Arc<ClientConfig>) -> RawResponse {
    let clock = app.state.clock.clone();
    quant::accounts::create_user(
        &app.state.db,
        &clock,
        "owner@tls.example",
        "Owner",
        Role::Owner,
        PASSWORD.to_string().into(),
        10,
    )
    .await
    .unwrap();
    let body = serde_json::json!({"email": "owner@tls.example", "password": PASSWORD}).to_string();
    https(
        trust.clone(),
        "localhost",
        app.port,
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&body),
    )
    .unwrap()
    .response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_and_secure_cookies_over_tls_only() {
    let app = Running::start(tempfile::tempdir().unwrap(), |_| {}).await;
    let trust = client_config(&ders(&app.generated_cert()), all_versions());
    // Every kind of response carries HSTS: ok, not found, unauthenticated, the setup page.
    for (path, status) in [
        ("/healthz", 200),
        ("/no-such-page", 404),
        ("/api/v1/me", 401),
        ("/", 200),
    ] {
        let r = get(&trust, "localhost", app.port, path).response;
        assert_eq!(r.status, status, "{path}");
        assert_eq!(
            r.header("strict-transport-security"),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    let login = login_over_tls(&app, &trust).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = login.header("set-cookie").expect("session cookie");
    assert!(cookie.starts_with("quant_session="), "{cookie}");
    assert!(cookie.contains("; Secure"), "Secure over TLS: {cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    app.stop().await;

    // The same over plain HTTP: no HSTS, no Secure.
    let plain = TestApp::start().await;
    let r = client().get(plain.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("strict-transport-security").is_none());
    plain.user("owner@plain.example", Role::Owner).await;
    let r = client()
        .post(plain.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "owner@plain.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("strict-transport-security").is_none());
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("quant_session="), "{cookie}");
    assert!(!cookie.contains("Secure"), "no Secure over HTTP: {cookie}");
    plain.stop().await;
}

/// A plain HTTP/1.1 GET to `addr` with the given `Host` header.
fn plain_with_host(addr: &str, path: &str, host: &str) -> RawResponse {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    read_response(&mut s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redirect_listener_answers_308_to_https() {
    let app = Running::start(tempfile::tempdir().unwrap(), |c| {
        c.tls.redirect_http = "127.0.0.1:0".into();
    })
    .await;
    let rport = app.redirect_port.expect("redirect listener bound");
    assert_ne!(rport, app.port);
    let addr = format!("127.0.0.1:{rport}");
    let host = format!("quant.lan:{rport}");
    let r = plain_with_host(&addr, "/work-orders?day=2026-03-01&x=%20y", &host);
    assert_eq!(r.status, 308, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some(
            format!(
                "https://quant.lan:{}/work-orders?day=2026-03-01&x=%20y",
                app.port
            )
            .as_str()
        )
    );
    assert!(
        r.header("strict-transport-security").is_none(),
        "no HSTS over plain HTTP"
    );
    // POST keeps its method across a 308; the redirect applies to it too.
    let r = http(&addr, "POST", "/api/v1/auth/login", &[], Some("{}"));
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        Some(format!("https://127.0.0.1:{}/api/v1/auth/login", app.port).as_str())
    );
    // Following it lands on the HTTPS server.
    let trust = client_config(&ders(&app.generated_cert()), all_versions());
    let r = plain_with_host(&addr, "/healthz", "localhost");
    let location = r.header("location").unwrap().to_string();
    assert_eq!(location, format!("https://localhost:{}/healthz", app.port));
    assert_eq!(
        get(&trust, "localhost", app.port, "/healthz")
            .response
            .status,
        200
    );
    // A Host that is not a host name is refused rather than echoed.
    let r = plain_with_host(&addr, "/", "evil.example/x");
    assert_eq!(r.status, 400);
    app.stop().await;
}

fn quant_in(data: &Path) -> std::process::Command {
    let mut c = quant_cmd();
    c.arg("--data").arg(data);
    c
}

#[test]
fn unusable_certificate_files_are_a_startup_error_with_exit_2() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let (_, _) = write_ca_and_leaf(files.path());
    let chain = files.path().join("chain.pem");
    let key = files.path().join("leaf.key");
    let other_key = files.path().join("other.key");
    std::fs::write(
        &other_key,
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let missing = files.path().join("missing.pem");
    let cases: [(&Path, &Path, &str); 4] = [
        (&missing, &key, "tls.cert_path: cannot read"),
        (&key, &key, "holds no PEM certificate"),
        (&chain, &chain, "holds no PEM private key"),
        (&chain, &other_key, "does not belong to the certificate"),
    ];
    for (cert, k, why) in cases {
        for sub in [
            &["serve", "--listen", "127.0.0.1:0"][..],
            &["check-config"][..],
        ] {
            let (code, _out, err) = run(quant_in(data.path())
                .args(sub)
                .env("QUANT__TLS__ENABLED", "true")
                .env("QUANT__TLS__CERT_PATH", cert)
                .env("QUANT__TLS__KEY_PATH", k));
            assert_eq!(code, 2, "{sub:?} {why}: {err}");
            assert!(err.contains(why), "{sub:?}: {err}");
            let named = if why.contains("key") || why.contains("belong") {
                k
            } else {
                cert
            };
            assert!(
                err.contains(&named.display().to_string()),
                "{sub:?} names the file: {err}"
            );
        }
    }
    // Half a pair is a configuration error naming the key.
    let (code, _, err) = run(quant_in(data.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("QUANT__TLS__ENABLED", "true")
        .env("QUANT__TLS__CERT_PATH", &chain));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("tls.cert_path: set both"), "{err}");
    // The good pair passes check-config, given through the environment.
    let (code, out, err) = run(quant_in(data.path())
        .arg("check-config")
        .env("QUANT__TLS__ENABLED", "true")
        .env("QUANT__TLS__CERT_PATH", &chain)
        .env("QUANT__TLS__KEY_PATH", &key)
        .env("QUANT__TLS__REDIRECT_HTTP", "0.0.0.0:8081"));
    assert_eq!(code, 0, "{err}");
    let shown: toml::Value = toml::from_str(
        &out.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    assert_eq!(shown["tls"]["enabled"].as_bool(), Some(true));
    assert_eq!(
        shown["tls"]["cert_path"].as_str(),
        Some(chain.display().to_string().as_str())
    );
    assert_eq!(shown["tls"]["redirect_http"].as_str(), Some("0.0.0.0:8081"));
    assert!(
        !data.path().join("quant.db").exists(),
        "nothing opened before TLS was checked"
    );
}

#[test]
fn the_binary_logs_the_fingerprint_of_the_certificate_it_serves() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = quant_in(data.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("QUANT__TLS__ENABLED", "true");
    let s = serve(cmd);
    let line = s
        .wait_line(Duration::from_secs(10), |l| l.contains("tls_fingerprint"))
        .expect("fingerprint logged");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let logged = v["tls_fingerprint"].as_str().unwrap().to_string();
    let certs = ders(&std::fs::read(data.path().join("tls/cert.pem")).unwrap());
    assert_eq!(logged, fingerprint(&certs[0]));
    let port: u16 = s.addr.rsplit(':').next().unwrap().parse().unwrap();
    let x = get(
        &client_config(&certs, all_versions()),
        "localhost",
        port,
        "/readyz",
    );
    assert_eq!(x.response.status, 200);
    assert_eq!(fingerprint(&x.peer[0]), logged, "served = logged");
    // The printed setup link is https and the fingerprint is printed with it.
    let link = s
        .wait_line(Duration::from_secs(5), |l| l.contains("/setup?token="))
        .expect("setup link printed");
    assert!(link.trim().starts_with("https://"), "{link}");
    assert!(
        s.wait_line(Duration::from_secs(5), |l| l.trim() == logged)
            .is_some(),
        "fingerprint printed next to the setup link"
    );
}

/// `quant --data DIR serve --listen DECOY` with `listener` passed as fd 3
/// (`LISTEN_FDS=1`, `LISTEN_PID` = the child), as systemd's socket unit does.
fn socket_activated(
    dir: &Path,
    listener: &std::net::TcpListener,
    decoy: &str,
) -> std::process::Command {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let mut c = std::process::Command::new("/bin/sh");
    for (k, v) in quant_cmd().get_envs() {
        if v.is_none() {
            c.env_remove(k);
        }
    }
    c.arg("-c")
        .arg(r#"LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@""#)
        .arg(quant_bin())
        .arg("--data")
        .arg(dir)
        .args(["serve", "--listen", decoy])
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
fn socket_activation_serves_https_on_the_inherited_socket() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // --listen names a taken address: serving at all proves fd 3 was used.
    let decoy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let decoy_addr = decoy.local_addr().unwrap().to_string();
    let mut cmd = socket_activated(dir.path(), &listener, &decoy_addr);
    cmd.env("QUANT__TLS__ENABLED", "true");
    let s = serve(cmd);
    drop(listener);
    assert_eq!(s.addr, format!("127.0.0.1:{port}"));
    let certs = ders(&std::fs::read(dir.path().join("tls/cert.pem")).unwrap());
    let x = get(
        &client_config(&certs, all_versions()),
        "localhost",
        port,
        "/healthz",
    );
    assert_eq!(x.response.status, 200);
    assert_eq!(
        x.response.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    // Plain HTTP on the same socket gets no HTTP answer.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        plain,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(
        !String::from_utf8_lossy(&got).contains("HTTP/1.1 200"),
        "no plain HTTP on the TLS socket: {got:02x?}"
    );
}
