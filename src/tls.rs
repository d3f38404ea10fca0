//! TLS with rustls (`[tls]`): loads the configured certificate chain and
//! key, or — with TLS on and no paths — creates a self-signed certificate
//! (rcgen) for this machine's host names, `localhost`, loopback and LAN
//! addresses on first start, keeps it in `<data_dir>/tls/` and reuses it.
//! Builds the rustls [`ServerConfig`] (TLS 1.3 and 1.2 only, aws-lc-rs) and
//! computes the certificate's SHA-256 fingerprint as browsers show it.
//! Also the pure part of the HTTP → HTTPS redirect ([`https_location`]).
//!
//! Why aws-lc-rs: it is the provider the aws-sdk-s3 tree already brings in,
//! so the binary carries one crypto library. Every rustls config built here
//! names its provider explicitly, and [`install_default_provider`] makes it
//! the process default so no other rustls user has to guess.

use crate::config::TlsConfig;
use chrono::{DateTime, Datelike, Utc};
use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `Strict-Transport-Security` value sent on every response while TLS is on.
pub const HSTS: &str = "max-age=31536000";
/// Sub-directory of the data dir holding the generated certificate.
pub const GENERATED_DIR: &str = "tls";
/// File name of the generated certificate (PEM).
pub const CERT_FILE: &str = "cert.pem";
/// File name of the generated private key (PEM, PKCS#8, mode 0600).
pub const KEY_FILE: &str = "key.pem";
/// Validity of a generated certificate. Apple platforms refuse any TLS server
/// certificate valid for more than 825 days, even one the user trusts.
const VALIDITY_DAYS: i64 = 825;
/// A generated certificate this close to expiring is replaced at start.
const RENEW_BEFORE_DAYS: i64 = 30;

/// The protocol versions Quant accepts: TLS 1.3 and 1.2, nothing older.
pub static PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Why TLS could not be set up. Every message names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A configured (or stored) file could not be read.
    #[error("{key}: cannot read {}: {source}", path.display())]
    Read {
        /// The config key the file comes from (`tls.cert_path`, `tls.key_path`).
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("tls.cert_path: {} holds no PEM certificate (expected a -----BEGIN CERTIFICATE----- block, leaf first)", .0.display())]
    NoCertificate(PathBuf),
    /// The key file holds no PEM private key.
    #[error("tls.key_path: {} holds no PEM private key (expected a PKCS#8, PKCS#1 or SEC1 -----BEGIN … PRIVATE KEY----- block)", .0.display())]
    NoKey(PathBuf),
    /// A file is not valid PEM.
    #[error("{key}: {} is not valid PEM: {message}", path.display())]
    BadPem {
        /// The config key the file comes from.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The private key does not belong to the certificate.
    #[error("tls.key_path: the private key in {} does not belong to the certificate in {}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the certificate or key (e.g. an unsupported key type).
    #[error("tls.cert_path: {} / {} cannot be used: {message}", cert.display(), key.display())]
    Rejected {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        message: String,
    },
    /// The generated certificate could not be created or stored.
    #[error("cannot create the self-signed certificate in {}: {message}", path.display())]
    Generate {
        /// The file or directory involved.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

impl TlsError {
    /// Whether the configuration (a path or a file it names) is at fault —
    /// `quant serve` exits 2 then — rather than the machine (exit 1).
    pub fn is_config(&self) -> bool {
        !matches!(self, TlsError::Generate { .. })
    }
}

/// Where the served certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertOrigin {
    /// `tls.cert_path` / `tls.key_path`.
    Configured,
    /// Generated now (first start, or the previous one was about to expire).
    Generated,
    /// Generated on an earlier start and reused.
    Reused,
}

/// TLS ready to serve: the rustls config and what to tell people about it.
#[derive(Clone)]
pub struct Tls {
    /// The rustls server configuration (TLS 1.3 + 1.2, aws-lc-rs).
    pub server_config: Arc<ServerConfig>,
    /// SHA-256 of the leaf certificate, `AB:CD:…` (as browsers show it).
    pub fingerprint: String,
    /// The certificate file in use.
    pub cert_path: PathBuf,
    /// The key file in use.
    pub key_path: PathBuf,
    /// Configured, generated now, or reused.
    pub origin: CertOrigin,
    /// The leaf certificate's `notAfter`, when it could be read.
    pub not_after: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("fingerprint", &self.fingerprint)
            .field("cert_path", &self.cert_path)
            .field("origin", &self.origin)
            .finish()
    }
}

/// Makes aws-lc-rs the process-wide default rustls provider, so any rustls
/// user that does not name one (now or in a future dependency) agrees with
/// Quant's. Does nothing when a default is already installed.
pub fn install_default_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// SHA-256 of `der`, as colon-separated uppercase hex (`AB:CD:…`, 95
/// characters) — the form browsers show in their certificate viewer.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let mut out = String::with_capacity(95);
    for (i, b) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// Sets up TLS for `cfg` (which must have `enabled`): the configured files
/// when `cert_path`/`key_path` are set, else the self-signed certificate in
/// `<data_dir>/tls/`, generated when missing or expiring within 30 days.
/// Fails with a [`TlsError`] naming the file at fault.
pub fn setup(cfg: &TlsConfig, data_dir: &Path, now: DateTime<Utc>) -> Result<Tls, TlsError> {
    install_default_provider();
    if cfg.has_paths() {
        return load(&cfg.cert_path, &cfg.key_path, CertOrigin::Configured);
    }
    let dir = data_dir.join(GENERATED_DIR);
    let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    if cert.is_file() && key.is_file() {
        let tls = load(&cert, &key, CertOrigin::Reused)?;
        let expiring = tls
            .not_after
            .is_none_or(|t| t - now < chrono::Duration::days(RENEW_BEFORE_DAYS));
        if !expiring {
            warn_uncovered_names(&tls);
            return Ok(tls);
        }
        tracing::warn!(
            cert = %cert.display(),
            old_fingerprint = %tls.fingerprint,
            "the self-signed certificate expires soon; generating a new one (its fingerprint changes)"
        );
    }
    generate(&dir, &local_names(), now)?;
    load(&cert, &key, CertOrigin::Generated)
}

/// Loads a PEM certificate chain (leaf first) and private key and builds the
/// server config. Fails when a file is missing, unreadable, not PEM, holds
/// no certificate/key, or the key does not match the certificate.
pub fn load(cert_path: &Path, key_path: &Path, origin: CertOrigin) -> Result<Tls, TlsError> {
    let read = |key: &'static str, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            key,
            path: path.to_path_buf(),
            source,
        })
    };
    let bad_pem = |key: &'static str, path: &Path, e: pem::Error| match e {
        pem::Error::Io(source) => TlsError::Read {
            key,
            path: path.to_path_buf(),
            source,
        },
        other => TlsError::BadPem {
            key,
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    };
    let cert_pem = read("tls.cert_path", cert_path)?;
    let key_pem = read("tls.key_path", key_path)?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem("tls.cert_path", cert_path, e))?;
    let Some(leaf) = certs.first() else {
        return Err(TlsError::NoCertificate(cert_path.to_path_buf()));
    };
    let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(k) => k,
        Err(pem::Error::NoItemsFound) => return Err(TlsError::NoKey(key_path.to_path_buf())),
        Err(e) => return Err(bad_pem("tls.key_path", key_path, e)),
    };
    let fp = fingerprint(leaf);
    let not_after = x509_parser::parse_x509_certificate(leaf)
        .ok()
        .and_then(|(_, c)| DateTime::from_timestamp(c.validity().not_after.timestamp(), 0));
    let server_config = server_config(certs, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsError::Mismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            }
        }
        other => TlsError::Rejected {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
            message: other.to_string(),
        },
    })?;
    Ok(Tls {
        server_config: Arc::new(server_config),
        fingerprint: fp,
        cert_path: cert_path.to_path_buf(),
        key_path: key_path.to_path_buf(),
        origin,
        not_after,
    })
}

/// The rustls server config: aws-lc-rs, TLS 1.3 and 1.2 only, no client
/// certificates, the given chain and key. Fails when rustls refuses the key
/// (unsupported type, or it does not match the leaf certificate).
pub fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, rustls::Error> {
    ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_protocol_versions(PROTOCOL_VERSIONS)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
}

/// The names a generated certificate covers: the host name (and
/// `<host>.local` for mDNS when it has no dot), `localhost`, `127.0.0.1`,
/// `::1`, and the address of every non-loopback, non-link-local interface.
/// Never fails: a name that cannot be learnt is left out.
pub fn local_names() -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut push = |n: String| {
        if !names.contains(&n) {
            names.push(n);
        }
    };
    if let Some(h) = host_name() {
        let dotted = h.contains('.');
        push(h.clone());
        if !dotted && h != "localhost" {
            push(format!("{h}.local"));
        }
    }
    push("localhost".into());
    push("127.0.0.1".into());
    push("::1".into());
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback() && !i.is_link_local())
        .map(|i| i.ip())
        .collect();
    ips.sort();
    for ip in ips {
        push(ip.to_string());
    }
    names
}

/// This machine's host name, lower-cased, when it is a valid DNS name.
fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for `buf.len()` bytes; gethostname writes at
    // most that many and we stop at the first NUL (or the end).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end]).ok()?.to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    valid.then_some(name)
}

/// Generates a self-signed ECDSA P-256 certificate for `names` (IP literals
/// become IP SANs), valid from a day before `now` for 825 days, and writes
/// `cert.pem` and `key.pem` (mode 0600) into `dir` (mode 0700), each via a
/// temporary file, fsync and rename. Fails when a name is invalid or the
/// files cannot be written.
pub fn generate(dir: &Path, names: &[String], now: DateTime<Utc>) -> Result<(), TlsError> {
    use rcgen::{
        CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
        KeyUsagePurpose,
    };
    let fail = |path: &Path, message: String| TlsError::Generate {
        path: path.to_path_buf(),
        message,
    };
    let mut params =
        CertificateParams::new(names.to_vec()).map_err(|e| fail(dir, e.to_string()))?;
    let mut dn = DistinguishedName::new();
    let host = names.first().map(String::as_str).unwrap_or("localhost");
    dn.push(DnType::CommonName, format!("Quant on {host}"));
    dn.push(DnType::OrganizationName, "Quant (self-signed)");
    params.distinguished_name = dn;
    let ymd = |t: DateTime<Utc>| {
        let d = t.date_naive();
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    params.not_before = ymd(now - chrono::Duration::days(1));
    params.not_after = ymd(now + chrono::Duration::days(VALIDITY_DAYS));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(|e| fail(dir, e.to_string()))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| fail(dir, e.to_string()))?;
    create_private_dir(dir).map_err(|e| fail(dir, e.to_string()))?;
    let key_path = dir.join(KEY_FILE);
    write_atomic(&key_path, key.serialize_pem().as_bytes(), 0o600)
        .map_err(|e| fail(&key_path, e.to_string()))?;
    let cert_path = dir.join(CERT_FILE);
    write_atomic(&cert_path, cert.pem().as_bytes(), 0o644)
        .map_err(|e| fail(&cert_path, e.to_string()))?;
    tracing::info!(cert = %cert_path.display(), names = ?names, "generated a self-signed TLS certificate");
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let tmp = path.with_extension("pem.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    // The umask may have narrowed `mode`; the key must be exactly 0600.
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// The DNS names and IP addresses a certificate covers (its SANs); empty
/// when it cannot be parsed.
pub fn certificate_names(der: &[u8]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return out;
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => {
                    out.insert(d.to_ascii_lowercase());
                }
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        out.insert(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// A reused self-signed certificate keeps its fingerprint even when the
/// machine got a new name or address; say so instead of silently failing
/// those browsers.
fn warn_uncovered_names(tls: &Tls) {
    let Ok(pem) = std::fs::read(&tls.cert_path) else {
        return;
    };
    let Some(Ok(leaf)) = CertificateDer::pem_slice_iter(&pem).next() else {
        return;
    };
    let covered = certificate_names(&leaf);
    let missing: Vec<String> = local_names()
        .into_iter()
        .filter(|n| !covered.contains(n))
        .collect();
    if !missing.is_empty() {
        tracing::warn!(
            missing = ?missing,
            dir = %tls.cert_path.parent().unwrap_or(Path::new(".")).display(),
            "the self-signed certificate does not cover these names or addresses; delete the directory and restart to generate a new one (its fingerprint will change)"
        );
    }
}

/// Where the HTTP → HTTPS redirect sends a request for `path_and_query`
/// with the given `Host` header: `public_url` when it is an `https://` URL,
/// else `https://HOST[:https_port]` with the port left out when it is 443.
/// `None` when there is no usable host (missing, or not a plain host name
/// or IP literal) — the redirect then answers 400.
pub fn https_location(
    host_header: Option<&str>,
    path_and_query: &str,
    https_port: u16,
    public_url: &str,
) -> Option<String> {
    let path = if path_and_query.starts_with('/') {
        path_and_query
    } else {
        "/"
    };
    if let Some(base) = public_url
        .strip_prefix("https://")
        .map(|rest| rest.trim_end_matches('/'))
        .filter(|rest| !rest.is_empty())
    {
        return Some(format!("https://{base}{path}"));
    }
    let host = host_header?.trim();
    let host = if let Some(rest) = host.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(all_digits)) {
            return None;
        }
        inner.parse::<std::net::Ipv6Addr>().ok()?;
        format!("[{inner}]")
    } else {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if all_digits(port) => name,
            Some(_) => return None,
            None => host,
        };
        let ok = !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            return None;
        }
        name.to_ascii_lowercase()
    };
    Some(if https_port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{https_port}{path}")
    })
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_colon_separated_uppercase_sha256() {
        let fp = fingerprint(b"abc");
        assert_eq!(
            fp,
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
        assert_eq!(fp.len(), 95);
    }

    #[test]
    fn https_location_keeps_host_and_path_and_swaps_the_port() {
        let loc =
            |h: Option<&str>, p: &str, port: u16, public: &str| https_location(h, p, port, public);
        assert_eq!(
            loc(Some("quant.lan:8080"), "/jobs?day=1", 8443, "").as_deref(),
            Some("https://quant.lan:8443/jobs?day=1")
        );
        assert_eq!(
            loc(Some("Quant.LAN"), "/", 443, "").as_deref(),
            Some("https://quant.lan/")
        );
        assert_eq!(
            loc(Some("[::1]:80"), "/x", 8443, "").as_deref(),
            Some("https://[::1]:8443/x")
        );
        assert_eq!(
            loc(Some("192.168.1.9"), "/a", 443, "").as_deref(),
            Some("https://192.168.1.9/a")
        );
        assert_eq!(
            loc(Some("x:80"), "/p?q", 8443, "https://quant.example.com/").as_deref(),
            Some("https://quant.example.com/p?q")
        );
        // An http:// public URL is no help: the Host header decides.
        assert_eq!(
            loc(Some("x"), "/p", 8443, "http://quant.example.com").as_deref(),
            Some("https://x:8443/p")
        );
        for bad in [
            None,
            Some(""),
            Some("evil.com/x"),
            Some("a b"),
            Some("host:port"),
            Some("[::1"),
            Some("[zz]:1"),
            Some("x@y"),
        ] {
            assert_eq!(loc(bad, "/", 8443, ""), None, "{bad:?}");
        }
    }

    #[test]
    fn local_names_cover_loopback_and_localhost() {
        let names = local_names();
        for n in ["localhost", "127.0.0.1", "::1"] {
            assert!(names.contains(&n.to_string()), "{names:?}");
        }
        let unique: BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "no duplicates: {names:?}");
    }

    #[test]
    fn generated_certificate_covers_its_names_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let tls_dir = dir.path().join("tls");
        let names: Vec<String> = ["box.local", "localhost", "127.0.0.1", "::1", "10.1.2.3"]
            .map(String::from)
            .to_vec();
        let now = Utc::now();
        generate(&tls_dir, &names, now).unwrap();
        let tls = load(
            &tls_dir.join(CERT_FILE),
            &tls_dir.join(KEY_FILE),
            CertOrigin::Generated,
        )
        .unwrap();
        let pem = std::fs::read(&tls.cert_path).unwrap();
        let leaf = CertificateDer::pem_slice_iter(&pem)
            .next()
            .unwrap()
            .unwrap();
        let covered = certificate_names(&leaf);
        let want: BTreeSet<String> = names.into_iter().collect();
        assert_eq!(covered, want);
        assert_eq!(tls.fingerprint, fingerprint(&leaf));
        let days = (tls.not_after.unwrap() - now).num_days();
        assert!(
            (VALIDITY_DAYS - 1..=VALIDITY_DAYS).contains(&days),
            "{days}"
        );
    }
}
