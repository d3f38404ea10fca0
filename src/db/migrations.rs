//! Embedded, numbered, append-only migrations. Each is applied in its own
//! transaction together with its row in `schema_migrations`, so a failure
//! leaves the database at the previous version. Re-running is a no-op, and a
//! database whose schema is newer than this binary knows is refused.

use super::DbError;
use rusqlite::Connection;

/// One migration: its number, a short name, and the SQL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version number; versions are 1, 2, 3, … without gaps.
    pub version: i64,
    /// Short name (the file name without number and extension).
    pub name: &'static str,
    /// The SQL applied.
    pub sql: &'static str,
}

/// Every migration this binary knows, in order. Append only: never edit or
/// reorder a migration that has shipped.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "core",
        sql: include_str!("migrations/0001_core.sql"),
    },
    Migration {
        version: 2,
        name: "business",
        sql: include_str!("migrations/0002_business.sql"),
    },
    Migration {
        version: 3,
        name: "work_order_counts",
        sql: include_str!("migrations/0003_work_order_counts.sql"),
    },
    Migration {
        version: 4,
        name: "search_and_booking_indexes",
        sql: include_str!("migrations/0004_search_and_booking_indexes.sql"),
    },
    Migration {
        version: 5,
        name: "generations",
        sql: include_str!("migrations/0005_generations.sql"),
    },
];

/// The highest version this binary knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map(|m| m.version).unwrap_or(0)
}

const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
) STRICT";

/// The highest applied version (0 for a new database). Fails on SQLite errors.
pub fn current(conn: &Connection) -> Result<i64, DbError> {
    let exists: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_migrations'",
        [],
        |r| r.get(0),
    )?;
    if exists == 0 {
        return Ok(0);
    }
    Ok(conn.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?)
}

/// Fails with [`DbError::SchemaTooNew`] when the database has migrations this
/// binary does not know.
pub fn refuse_newer(conn: &Connection) -> Result<(), DbError> {
    let found = current(conn)?;
    if found > latest() {
        return Err(DbError::SchemaTooNew {
            found,
            known: latest(),
        });
    }
    Ok(())
}

/// Number of known migrations not yet applied. Fails on SQLite errors.
pub fn pending(conn: &Connection) -> Result<usize, DbError> {
    let cur = current(conn)?;
    Ok(MIGRATIONS.iter().filter(|m| m.version > cur).count())
}

/// Applies every pending migration in order, each in its own transaction.
/// Returns the versions applied (empty when up to date). Fails on the first
/// migration that does not apply; earlier ones stay applied.
pub fn apply_pending(
    conn: &mut Connection,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<i64>, DbError> {
    refuse_newer(conn)?;
    conn.execute_batch(BOOKKEEPING)?;
    let cur = current(conn)?;
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > cur) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(m.sql).map_err(|e| DbError::Migration {
            version: m.version,
            name: m.name,
            message: e.to_string(),
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![m.version, m.name, crate::clock::format_ts(now)],
        )?;
        tx.commit()?;
        tracing::info!(version = m.version, name = m.name, "migration applied");
        applied.push(m.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_contiguous_and_files_are_all_listed() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "gap before {}", m.name);
        }
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/db/migrations");
        let files = std::fs::read_dir(dir).unwrap().count();
        assert_eq!(
            files,
            MIGRATIONS.len(),
            "a file in {dir} is not in MIGRATIONS"
        );
    }

    #[test]
    fn fresh_then_rerun_is_a_no_op() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(pending(&c).unwrap(), MIGRATIONS.len());
        assert_eq!(
            apply_pending(&mut c, chrono::Utc::now()).unwrap().len(),
            MIGRATIONS.len()
        );
        assert_eq!(
            apply_pending(&mut c, chrono::Utc::now()).unwrap(),
            Vec::<i64>::new()
        );
        assert_eq!(current(&c).unwrap(), latest());
        assert_eq!(pending(&c).unwrap(), 0);
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut c = Connection::open_in_memory().unwrap();
        apply_pending(&mut c, chrono::Utc::now()).unwrap();
        c.execute(
            "INSERT INTO schema_migrations VALUES (?1, 'future', 'x')",
            [latest() + 1],
        )
        .unwrap();
        let e = apply_pending(&mut c, chrono::Utc::now()).unwrap_err();
        assert!(e.to_string().contains("only knows up to version"), "{e}");
    }

    #[test]
    fn search_rows_survive_the_0004_rebuild() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch(BOOKKEEPING).unwrap();
        for m in &MIGRATIONS[..3] {
            c.execute_batch(m.sql).unwrap();
            c.execute(
                "INSERT INTO schema_migrations VALUES (?1, ?2, 'x')",
                rusqlite::params![m.version, m.name],
            )
            .unwrap();
        }
        c.execute_batch(
            "INSERT INTO customers_fts (rowid, customer_id, name, email) VALUES
                 (7, 'c7', 'Ben Dubois', 'bdubois@example.net'), (9, 'c9', 'Ann Duboc', '');",
        )
        .unwrap();
        assert_eq!(
            apply_pending(&mut c, chrono::Utc::now()).unwrap(),
            vec![4, 5]
        );
        let hits: Vec<(i64, String)> = c
            .prepare("SELECT rowid, customer_id FROM customers_fts WHERE customers_fts MATCH '\"dubo\"*' ORDER BY rowid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(hits, vec![(7, "c7".to_string()), (9, "c9".to_string())]);
        let sql: String = c
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'customers_fts'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(sql.contains("prefix = '2 3 4'"), "{sql}");
        let booked: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'work_orders_booked'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(booked, 1);
    }
}
