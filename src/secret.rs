//! Secrets and tokens. Secret values are wrapped in [`secrecy::SecretString`] so
//! `Debug`/logging prints `[REDACTED]`; bearer, session and setup tokens are random
//! 256-bit values of which only the SHA-256 hash is ever stored.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub use secrecy::{ExposeSecret, SecretString};

/// Generates a new random token with a readable prefix (e.g. `qt_`), 32 random
/// bytes encoded as URL-safe base64. Never fails.
pub fn new_token(prefix: &str) -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    SecretString::from(format!("{prefix}{body}"))
}

/// Hex SHA-256 of a token: the only form in which tokens are stored.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_redacted_in_debug() {
        let a = new_token("qt_");
        let b = new_token("qt_");
        assert!(a.expose_secret().starts_with("qt_"));
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret().len(), 3 + 43);
        let dbg = format!("{a:?}");
        assert!(!dbg.contains(a.expose_secret()), "{dbg}");
    }

    #[test]
    fn hash_is_stable_hex() {
        assert_eq!(hash_token("abc").len(), 64);
        assert_eq!(hash_token("abc"), hash_token("abc"));
        assert_ne!(hash_token("abc"), hash_token("abd"));
    }
}

/// Hashes a password with argon2id (default parameters, random salt) into a PHC
/// string. CPU-heavy: call off the async runtime. Fails only if the hasher
/// rejects its input (e.g. a password longer than argon2 allows).
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(&{
        let mut b = [0u8; 16];
        rand::rng().fill_bytes(&mut b);
        b
    })
    .map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a stored PHC hash. `false` for a wrong password
/// or a malformed hash. CPU-heavy: call off the async runtime.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        Ok(h) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A valid hash of a random password, for spending the same time on logins for
/// unknown e-mail addresses as on real ones.
pub fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password(new_token("").expose_secret()).unwrap_or_default())
}

#[cfg(test)]
mod password_tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterx", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
