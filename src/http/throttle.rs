//! Login throttling: failed logins are counted per account and per client
//! IP within a window (`auth.login_lockout`); past the limit, further
//! attempts are refused with 429 and `Retry-After` until the window that
//! started with the first failure ends. A successful login clears the
//! account's count (not the IP's).
//!
//! Hand-written rather than `governor`: a GCRA limiter spends a cell on every
//! check, but only *failures* may count here, or a busy office behind one IP
//! address would lock itself out by logging in. Memory is bounded: at most
//! [`MAX_KEYS`] keys, expired ones pruned first, then the oldest.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// Most keys kept at once.
pub const MAX_KEYS: usize = 50_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    failures: u32,
    started: DateTime<Utc>,
}

/// Failure counts by key.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    windows: Mutex<HashMap<String, Window>>,
}

/// The limits in force (from `[auth]`, re-read on every call so a reload applies).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures per account (0 = none).
    pub per_account: u32,
    /// Failures per IP (0 = none).
    pub per_ip: u32,
    /// Window and lockout length.
    pub window: Duration,
}

impl Limits {
    /// The limits configured in `[auth]`.
    pub fn from_config(c: &crate::config::AuthConfig) -> Self {
        Self {
            per_account: c.login_max_failures_per_account,
            per_ip: c.login_max_failures_per_ip,
            window: c.login_lockout,
        }
    }
}

fn account_key(account: &str) -> String {
    format!("a:{}", account.trim().to_lowercase())
}

fn ip_key(ip: Option<IpAddr>) -> Option<String> {
    ip.map(|ip| format!("i:{ip}"))
}

impl LoginThrottle {
    /// `Err(seconds)` when the account or the IP is locked out now.
    pub fn check(
        &self,
        account: &str,
        ip: Option<IpAddr>,
        limits: Limits,
        now: DateTime<Utc>,
    ) -> Result<(), u64> {
        let map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let window = chrono::Duration::from_std(limits.window).unwrap_or(chrono::Duration::zero());
        let locked = |key: &str, limit: u32| -> Option<u64> {
            let w = map.get(key)?;
            let ends = w.started + window;
            (limit > 0 && w.failures >= limit && ends > now)
                .then(|| (ends - now).num_seconds().max(1) as u64)
        };
        let a = locked(&account_key(account), limits.per_account);
        let i = ip_key(ip).and_then(|k| locked(&k, limits.per_ip));
        match a.max(i) {
            Some(secs) => Err(secs),
            None => Ok(()),
        }
    }

    /// Records a failed attempt for the account and the IP.
    pub fn failed(&self, account: &str, ip: Option<IpAddr>, limits: Limits, now: DateTime<Utc>) {
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let window = chrono::Duration::from_std(limits.window).unwrap_or(chrono::Duration::zero());
        if map.len() >= MAX_KEYS {
            map.retain(|_, w| w.started + window > now);
            if map.len() >= MAX_KEYS
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, w)| w.started)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        for key in std::iter::once(account_key(account)).chain(ip_key(ip)) {
            let w = map.entry(key).or_insert(Window {
                failures: 0,
                started: now,
            });
            if w.started + window <= now {
                *w = Window {
                    failures: 0,
                    started: now,
                };
            }
            w.failures = w.failures.saturating_add(1);
        }
    }

    /// Clears the account's failures after a successful login.
    pub fn succeeded(&self, account: &str) {
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&account_key(account));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            per_account: 3,
            per_ip: 5,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn locks_after_the_limit_and_unlocks_when_the_window_ends() {
        let t = LoginThrottle::default();
        let now = Utc::now();
        let ip: Option<IpAddr> = "10.0.0.1".parse().ok();
        for _ in 0..3 {
            assert!(t.check("A@x.com", ip, limits(), now).is_ok());
            t.failed("a@x.com", ip, limits(), now);
        }
        assert_eq!(t.check("a@x.com", ip, limits(), now), Err(60));
        let later = now + chrono::Duration::seconds(59);
        assert_eq!(t.check("a@x.com", ip, limits(), later), Err(1));
        let after = now + chrono::Duration::seconds(60);
        assert!(t.check("a@x.com", ip, limits(), after).is_ok());
        // Another account from the same IP: the IP limit (5) applies.
        t.failed("b@x.com", ip, limits(), now);
        t.failed("c@x.com", ip, limits(), now);
        assert_eq!(t.check("d@x.com", ip, limits(), now), Err(60));
        assert!(
            t.check("d@x.com", "10.0.0.2".parse().ok(), limits(), now)
                .is_ok()
        );
    }

    #[test]
    fn success_clears_the_account_and_zero_means_no_limit() {
        let t = LoginThrottle::default();
        let now = Utc::now();
        t.failed("a@x.com", None, limits(), now);
        t.failed("a@x.com", None, limits(), now);
        t.succeeded("a@x.com");
        t.failed("a@x.com", None, limits(), now);
        t.failed("a@x.com", None, limits(), now);
        assert!(t.check("a@x.com", None, limits(), now).is_ok());
        let off = Limits {
            per_account: 0,
            per_ip: 0,
            window: Duration::from_secs(60),
        };
        for _ in 0..10 {
            t.failed("z@x.com", None, off, now);
        }
        assert!(t.check("z@x.com", None, off, now).is_ok());
    }
}
