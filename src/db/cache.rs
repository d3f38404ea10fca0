//! Bounded in-process read caches keyed by the database's data version
//! ([`super::Db::data_version`]): an entry is served only while no write has
//! been committed since it was computed — by this process or any other (the
//! CLI) — and the whole cache is dropped at the first read that sees a newer
//! version. Used where a benchmark shows it pays (docs/performance.md, "Cost
//! per request"): the work-order list pages and the API token lookup.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

/// Values of one kind computed from the database at one data version.
#[derive(Debug)]
pub struct VersionedCache<K, V> {
    state: Mutex<State<K, V>>,
    max_entries: usize,
    max_weight: usize,
}

#[derive(Debug)]
struct State<K, V> {
    version: i64,
    entries: HashMap<K, V>,
    weight: usize,
}

impl<K: Eq + Hash, V: Clone> VersionedCache<K, V> {
    /// An empty cache holding at most `max_entries` values weighing at most
    /// `max_weight` together (see [`VersionedCache::put`]); with
    /// `max_entries` 0 it never stores anything.
    pub fn new(max_entries: usize, max_weight: usize) -> Self {
        Self {
            state: Mutex::new(State {
                version: i64::MIN,
                entries: HashMap::new(),
                weight: 0,
            }),
            max_entries,
            max_weight,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<K, V>> {
        // Every update is a single insert or clear: a panic elsewhere while
        // the lock was held cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value stored for `key` at data version `version`; `None` when
    /// there is none (never stored, evicted, or stored at another version).
    pub fn get(&self, version: i64, key: &K) -> Option<V> {
        let s = self.lock();
        if s.version != version {
            return None;
        }
        s.entries.get(key).cloned()
    }

    /// Stores `value` for `key`, computed from the database at data version
    /// `version`. A newer version drops every entry first; a value from an
    /// older version than the entries held is not stored. When the cache is
    /// full (entries or weight) it is emptied first; a value heavier than the
    /// whole budget is not stored.
    pub fn put(&self, version: i64, key: K, value: V, weight: usize) {
        if self.max_entries == 0 || weight > self.max_weight {
            return;
        }
        let mut s = self.lock();
        if version < s.version {
            return;
        }
        if version > s.version {
            s.entries.clear();
            s.weight = 0;
            s.version = version;
        }
        if s.entries.len() >= self.max_entries || s.weight + weight > self.max_weight {
            s.entries.clear();
            s.weight = 0;
        }
        if s.entries.insert(key, value).is_none() {
            s.weight += weight;
        }
    }

    /// Whether the cache can hold anything (`max_entries` > 0).
    pub fn enabled(&self) -> bool {
        self.max_entries > 0
    }

    /// Values held now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_only_the_version_it_was_computed_at_and_stays_bounded() {
        let c: VersionedCache<u32, String> = VersionedCache::new(3, 10);
        c.put(5, 1, "a".into(), 1);
        assert_eq!(c.get(5, &1).as_deref(), Some("a"));
        assert_eq!(c.get(6, &1), None, "a newer version never sees it");
        assert_eq!(c.get(4, &1), None);
        // Older results never replace newer ones.
        c.put(4, 2, "old".into(), 1);
        assert_eq!(c.get(4, &2), None);
        assert_eq!(c.len(), 1);
        // A newer version drops the older entries.
        c.put(6, 2, "b".into(), 1);
        assert_eq!(c.get(6, &2).as_deref(), Some("b"));
        assert_eq!(c.get(5, &1), None);
        assert_eq!(c.len(), 1);
        // Entry bound: the 4th entry empties the cache first.
        c.put(6, 3, "c".into(), 1);
        c.put(6, 4, "d".into(), 1);
        assert_eq!(c.len(), 3);
        c.put(6, 5, "e".into(), 1);
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(6, &5).as_deref(), Some("e"));
        // Weight bound.
        c.put(6, 6, "f".into(), 9);
        assert_eq!(c.len(), 2, "1 + 9 fits in 10");
        c.put(6, 8, "g".into(), 1);
        assert_eq!(c.len(), 1, "10 + 1 > 10 empties first");
        assert_eq!(c.get(6, &8).as_deref(), Some("g"));
        c.put(6, 7, "too heavy".into(), 11);
        assert_eq!(c.get(6, &7), None);
        assert!(!c.is_empty());
        // Disabled.
        let off: VersionedCache<u32, String> = VersionedCache::new(0, 10);
        off.put(1, 1, "a".into(), 1);
        assert_eq!(off.get(1, &1), None);
        assert!(!off.enabled() && c.enabled());
        assert!(off.is_empty());
    }
}
