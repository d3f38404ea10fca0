//! Repository for customers and contacts, including the FTS5 index, which is
//! rewritten by the same transaction as every customer write.

use super::audit::{self, Actor, Change};
use super::{DbError, util::optional};
use crate::clock::format_ts;
use crate::domain::customer::{Address, Contact, ContactFields, Customer, CustomerFields};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use serde_json::Value;

const COLS: &str =
    "id, name, company, email, phone, addresses, notes, tags, created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Customer> {
    let addresses: String = r.get(5)?;
    let tags: String = r.get(7)?;
    Ok(Customer {
        id: r.get(0)?,
        fields: CustomerFields {
            name: r.get(1)?,
            company: r.get(2)?,
            email: r.get(3)?,
            phone: r.get(4)?,
            addresses: serde_json::from_str(&addresses).unwrap_or_default(),
            notes: r.get(6)?,
            tags: serde_json::from_str(&tags).unwrap_or_default(),
        },
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

fn view(c: &Customer) -> Value {
    serde_json::to_value(c).unwrap_or(Value::Null)
}

/// Rewrites the customer's search row from its current fields.
fn reindex(c: &Connection, cust: &Customer) -> Result<(), DbError> {
    c.execute(
        "DELETE FROM customers_fts WHERE customer_id = ?1",
        [&cust.id],
    )?;
    let f = &cust.fields;
    let address = f
        .addresses
        .iter()
        .map(Address::one_line)
        .collect::<Vec<_>>()
        .join(" | ");
    let phone = format!("{} {}", f.phone, f.phone_digits());
    c.execute(
        "INSERT INTO customers_fts (customer_id, name, company, email, phone, address, notes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![cust.id, f.name, f.company, f.email, phone, address, f.notes],
    )?;
    Ok(())
}

/// The customer with `id`, if any.
pub fn get(c: &Connection, id: &str) -> Result<Option<Customer>, DbError> {
    optional(c.query_row(
        &format!("SELECT {COLS} FROM customers WHERE id = ?1"),
        [id],
        from_row,
    ))
}

/// Inserts a customer (with its search row and audit record).
pub fn insert(
    c: &Connection,
    actor: &Actor,
    id: &str,
    fields: CustomerFields,
    now: DateTime<Utc>,
) -> Result<Customer, DbError> {
    let ts = format_ts(now);
    let cust = Customer {
        id: id.to_string(),
        fields,
        created_at: ts.clone(),
        updated_at: ts,
    };
    write_row(c, &cust, true)?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "customer",
            entity_id: id,
            action: "create",
            before: &Value::Null,
            after: &view(&cust),
        },
    )?;
    Ok(cust)
}

fn write_row(c: &Connection, cust: &Customer, insert: bool) -> Result<(), DbError> {
    let f = &cust.fields;
    let addresses = serde_json::to_string(&f.addresses).unwrap_or_else(|_| "[]".into());
    let tags = serde_json::to_string(&f.tags).unwrap_or_else(|_| "[]".into());
    let digits = f.phone_digits();
    if insert {
        c.execute(
            "INSERT INTO customers (id, name, company, email, phone, phone_digits, addresses, notes, tags, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
            params![cust.id, f.name, f.company, f.email, f.phone, digits, addresses, f.notes, tags, cust.created_at],
        )?;
    } else {
        c.execute(
            "UPDATE customers SET name = ?2, company = ?3, email = ?4, phone = ?5, phone_digits = ?6,
             addresses = ?7, notes = ?8, tags = ?9, updated_at = ?10 WHERE id = ?1",
            params![cust.id, f.name, f.company, f.email, f.phone, digits, addresses, f.notes, tags, cust.updated_at],
        )?;
    }
    reindex(c, cust)
}

/// Replaces a customer's fields with `merge(current)`; `merge` validates.
/// Fails with `NotFound`, or `merge`'s error.
pub fn update(
    c: &Connection,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
    merge: impl FnOnce(&CustomerFields) -> Result<CustomerFields, DbError>,
) -> Result<Customer, DbError> {
    let before = get(c, id)?.ok_or(DbError::NotFound)?;
    let after = Customer {
        fields: merge(&before.fields)?,
        updated_at: format_ts(now),
        ..before.clone()
    };
    write_row(c, &after, false)?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "customer",
            entity_id: id,
            action: "update",
            before: &view(&before),
            after: &view(&after),
        },
    )?;
    Ok(after)
}

/// Deletes a customer with no work orders, invoices, leads or follow-ups.
/// Fails with `NotFound`, or `Rejected` saying what still refers to it.
pub fn delete(c: &Connection, actor: &Actor, id: &str, now: DateTime<Utc>) -> Result<(), DbError> {
    let before = get(c, id)?.ok_or(DbError::NotFound)?;
    let (wo, inv, leads, fu): (i64, i64, i64, i64) = c.query_row(
        "SELECT (SELECT count(*) FROM work_orders WHERE customer_id = ?1),
                (SELECT count(*) FROM invoices WHERE customer_id = ?1),
                (SELECT count(*) FROM leads WHERE customer_id = ?1),
                (SELECT count(*) FROM follow_ups WHERE customer_id = ?1)",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    if wo + inv + leads + fu > 0 {
        return Err(DbError::Rejected(format!(
            "this customer has {wo} work order(s), {inv} invoice(s), {leads} lead(s) and {fu} follow-up(s); it cannot be deleted"
        )));
    }
    c.execute("DELETE FROM customers_fts WHERE customer_id = ?1", [id])?;
    c.execute("DELETE FROM customers WHERE id = ?1", [id])?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "customer",
            entity_id: id,
            action: "delete",
            before: &view(&before),
            after: &Value::Null,
        },
    )
}

/// Filters for [`list`].
#[derive(Debug, Default, Clone)]
pub struct CustomerFilter {
    /// FTS5 query (from [`crate::domain::customer::fts_query`]); ranked when set.
    pub fts: Option<String>,
    /// Only customers with this tag (case-insensitive).
    pub tag: Option<String>,
}

/// One page of customers: ranked by relevance when searching, else by name.
/// Returns the page and the total number of matches.
pub fn list(
    c: &Connection,
    f: &CustomerFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Customer>, i64), DbError> {
    if let (Some(fts), None) = (&f.fts, &f.tag) {
        return search(c, fts, limit, offset);
    }
    let tag_clause = "(?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(c.tags) t WHERE lower(t.value) = lower(?2)))";
    let (count_sql, page_sql) = if f.fts.is_some() {
        (
            if f.tag.is_some() {
                format!(
                    "SELECT count(*) FROM customers_fts f JOIN customers c ON c.id = f.customer_id
                     WHERE customers_fts MATCH ?1 AND {tag_clause}"
                )
            } else {
                // Every search row belongs to exactly one customer (written
                // and deleted with it), so without a tag the join only costs.
                "SELECT count(*) FROM customers_fts WHERE customers_fts MATCH ?1 AND ?2 IS NULL"
                    .to_string()
            },
            format!(
                "SELECT {} FROM customers_fts f JOIN customers c ON c.id = f.customer_id
                 WHERE customers_fts MATCH ?1 AND {tag_clause}
                 ORDER BY bm25(customers_fts, 0.0, 10.0, 6.0, 4.0, 4.0, 2.0, 1.0), c.name COLLATE NOCASE, c.id
                 LIMIT ?3 OFFSET ?4",
                prefixed("c")
            ),
        )
    } else {
        (
            format!("SELECT count(*) FROM customers c WHERE ?1 IS NULL AND {tag_clause}"),
            format!(
                "SELECT {} FROM customers c WHERE ?1 IS NULL AND {tag_clause}
                 ORDER BY c.name COLLATE NOCASE, c.id LIMIT ?3 OFFSET ?4",
                prefixed("c")
            ),
        )
    };
    let total: i64 = c
        .prepare_cached(&count_sql)?
        .query_row(params![f.fts, f.tag], |r| r.get(0))?;
    let mut st = c.prepare_cached(&page_sql)?;
    let rows = st.query_map(params![f.fts, f.tag, limit, offset], from_row)?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

/// [`list`] for a search without a tag filter, in one pass over the
/// matches: every match's rank (`bm25`, with the column weights below) and
/// name come out of the search index, are ordered here — rank, then name
/// (SQLite's `NOCASE`: ASCII case folded), then id, exactly the `ORDER BY`
/// of the tagged query — and only the page's customers are read. The total is
/// the number of matches, so no second `count(*)` pass over the index.
/// Fails only on database errors.
fn search(
    c: &Connection,
    fts: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Customer>, i64), DbError> {
    let mut st = c.prepare_cached(
        "SELECT customer_id, bm25(customers_fts, 0.0, 10.0, 6.0, 4.0, 4.0, 2.0, 1.0), name
         FROM customers_fts WHERE customers_fts MATCH ?1",
    )?;
    let mut hits: Vec<(f64, String, String)> = st
        .query_map([fts], |r| Ok((r.get(1)?, r.get(2)?, r.get(0)?)))?
        .collect::<Result<_, _>>()?;
    let total = hits.len() as i64;
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(hits.len());
    let end = start
        .saturating_add(usize::try_from(limit).unwrap_or(0))
        .min(hits.len());
    if start == end {
        return Ok((Vec::new(), total));
    }
    let order = |a: &(f64, String, String), b: &(f64, String, String)| {
        a.0.partial_cmp(&b.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| nocase_cmp(&a.1, &b.1))
            .then_with(|| a.2.cmp(&b.2))
    };
    // Only the first `end` need to be in order.
    if end < hits.len() {
        hits.select_nth_unstable_by(end - 1, order);
        hits.truncate(end);
    }
    hits.sort_unstable_by(order);
    let page = &hits[start..end];
    let ids: Vec<&str> = page.iter().map(|h| h.2.as_str()).collect();
    let ids_json = serde_json::to_string(&ids).map_err(|e| DbError::Task(e.to_string()))?;
    let mut found: std::collections::HashMap<String, Customer> = c
        .prepare_cached(&format!(
            "SELECT {COLS} FROM customers WHERE id IN (SELECT value FROM json_each(?1))"
        ))?
        .query_map([ids_json], from_row)?
        .map(|r| r.map(|cust| (cust.id.clone(), cust)))
        .collect::<Result<_, _>>()?;
    let rows = page.iter().filter_map(|h| found.remove(&h.2)).collect();
    Ok((rows, total))
}

/// SQLite's `NOCASE` collation: bytes compared with ASCII letters folded to
/// lower case, a shorter prefix first.
fn nocase_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|x| x.to_ascii_lowercase())
        .cmp(b.bytes().map(|x| x.to_ascii_lowercase()))
}

fn prefixed(alias: &str) -> String {
    COLS.split(", ")
        .map(|col| format!("{alias}.{col}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A customer matching `email` (case-insensitive) or, failing that, the phone
/// digits, preferring the oldest. Used by lead conversion.
pub fn find_match(
    c: &Connection,
    email: &str,
    phone_digits: &str,
) -> Result<Option<Customer>, DbError> {
    if !email.is_empty() {
        let hit = optional(c.query_row(
            &format!("SELECT {COLS} FROM customers WHERE email = ?1 COLLATE NOCASE ORDER BY created_at, id LIMIT 1"),
            [email],
            from_row,
        ))?;
        if hit.is_some() {
            return Ok(hit);
        }
    }
    if phone_digits.len() >= 7 {
        return optional(c.query_row(
            &format!("SELECT {COLS} FROM customers WHERE phone_digits = ?1 ORDER BY created_at, id LIMIT 1"),
            [phone_digits],
            from_row,
        ));
    }
    Ok(None)
}

/// The oldest customer whose name is exactly `name` (trimmed, compared
/// case-insensitively), if any. Fails only on database errors.
pub fn find_by_name(c: &Connection, name: &str) -> Result<Option<Customer>, DbError> {
    optional(c.query_row(
        &format!(
            "SELECT {COLS} FROM customers WHERE name = ?1 COLLATE NOCASE
             ORDER BY created_at, id LIMIT 1"
        ),
        [name.trim()],
        from_row,
    ))
}

/// The customer a form typed as `fields.name` means: the one with id `hint`
/// (a suggestion the user picked) when it exists and has that name, else the
/// oldest customer with exactly that name (case-insensitive), else a new
/// customer with `fields` and id `new_id` (inserted and audited here, so call
/// it in the write that uses the customer). Returns the customer and whether
/// it was created. Fails only on database errors.
pub fn pick_or_create(
    c: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    hint: Option<&str>,
    fields: CustomerFields,
    new_id: &str,
) -> Result<(Customer, bool), DbError> {
    let same_name = |cust: &Customer| {
        cust.fields.name.trim().to_lowercase() == fields.name.trim().to_lowercase()
    };
    if let Some(id) = hint
        && let Some(cust) = get(c, id)?
        && same_name(&cust)
    {
        return Ok((cust, false));
    }
    if let Some(cust) = find_by_name(c, &fields.name)? {
        return Ok((cust, false));
    }
    insert(c, actor, new_id, fields, now).map(|cust| (cust, true))
}

const CONTACT_COLS: &str = "id, customer_id, name, role, email, phone, created_at, updated_at";

fn contact_from(r: &Row<'_>) -> rusqlite::Result<Contact> {
    Ok(Contact {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        fields: ContactFields {
            name: r.get(2)?,
            role: r.get(3)?,
            email: r.get(4)?,
            phone: r.get(5)?,
        },
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

/// A customer's contacts, oldest first (at most 200).
pub fn contacts(c: &Connection, customer_id: &str) -> Result<Vec<Contact>, DbError> {
    let mut st = c.prepare(&format!(
        "SELECT {CONTACT_COLS} FROM contacts WHERE customer_id = ?1 ORDER BY created_at, id LIMIT 200"
    ))?;
    let rows = st.query_map([customer_id], contact_from)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One contact of one customer.
pub fn contact(c: &Connection, customer_id: &str, id: &str) -> Result<Option<Contact>, DbError> {
    optional(c.query_row(
        &format!("SELECT {CONTACT_COLS} FROM contacts WHERE id = ?1 AND customer_id = ?2"),
        [id, customer_id],
        contact_from,
    ))
}

/// Adds a contact to an existing customer. Fails with `NotFound` for an unknown customer.
pub fn insert_contact(
    c: &Connection,
    actor: &Actor,
    customer_id: &str,
    id: &str,
    fields: ContactFields,
    now: DateTime<Utc>,
) -> Result<Contact, DbError> {
    get(c, customer_id)?.ok_or(DbError::NotFound)?;
    let ts = format_ts(now);
    c.execute(
        "INSERT INTO contacts (id, customer_id, name, role, email, phone, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            id,
            customer_id,
            fields.name,
            fields.role,
            fields.email,
            fields.phone,
            ts
        ],
    )?;
    let contact = Contact {
        id: id.into(),
        customer_id: customer_id.into(),
        fields,
        created_at: ts.clone(),
        updated_at: ts,
    };
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "contact",
            entity_id: id,
            action: "create",
            before: &Value::Null,
            after: &serde_json::to_value(&contact).unwrap_or(Value::Null),
        },
    )?;
    Ok(contact)
}

/// Updates a contact with `merge(current)`. Fails with `NotFound` or `merge`'s error.
pub fn update_contact(
    c: &Connection,
    actor: &Actor,
    customer_id: &str,
    id: &str,
    now: DateTime<Utc>,
    merge: impl FnOnce(&ContactFields) -> Result<ContactFields, DbError>,
) -> Result<Contact, DbError> {
    let before = contact(c, customer_id, id)?.ok_or(DbError::NotFound)?;
    let after = Contact {
        fields: merge(&before.fields)?,
        updated_at: format_ts(now),
        ..before.clone()
    };
    let f = &after.fields;
    c.execute(
        "UPDATE contacts SET name = ?2, role = ?3, email = ?4, phone = ?5, updated_at = ?6 WHERE id = ?1",
        params![id, f.name, f.role, f.email, f.phone, after.updated_at],
    )?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "contact",
            entity_id: id,
            action: "update",
            before: &serde_json::to_value(&before).unwrap_or(Value::Null),
            after: &serde_json::to_value(&after).unwrap_or(Value::Null),
        },
    )?;
    Ok(after)
}

/// Deletes a contact. Fails with `NotFound`.
pub fn delete_contact(
    c: &Connection,
    actor: &Actor,
    customer_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let before = contact(c, customer_id, id)?.ok_or(DbError::NotFound)?;
    c.execute("DELETE FROM contacts WHERE id = ?1", [id])?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "contact",
            entity_id: id,
            action: "delete",
            before: &serde_json::to_value(&before).unwrap_or(Value::Null),
            after: &Value::Null,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_pages_match_the_sql_order_and_total() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrations::apply_pending(&mut c, Utc::now()).unwrap();
        // Ties everywhere: the same words in different case and columns, so
        // rank, then name (NOCASE), then id decide.
        c.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
             INSERT INTO customers (id, name, company, notes, created_at, updated_at)
             SELECT printf('id-%03d', (i * 37) % 301),
                 CASE i % 4 WHEN 0 THEN 'Ben Dubois' WHEN 1 THEN 'ben dubois' WHEN 2 THEN 'Benoit_Dubonnet'
                     ELSE 'Bengt Dubrovnik' END,
                 CASE WHEN i % 5 = 0 THEN 'Dubois Plumbing' ELSE '' END,
                 CASE WHEN i % 7 = 0 THEN 'ben ben ben dubois' ELSE 'x' END, 't', 't'
             FROM n;
             INSERT INTO customers_fts (customer_id, name, company, email, phone, address, notes)
             SELECT id, name, company, email, phone, '', notes FROM customers;",
        )
        .unwrap();
        for q in [
            "\"ben\"* \"dub\"*",
            "\"dubo\"*",
            "\"benoit\"*",
            "\"nobody\"*",
        ] {
            let sql_total: i64 = c
                .query_row(
                    "SELECT count(*) FROM customers_fts WHERE customers_fts MATCH ?1",
                    [q],
                    |r| r.get(0),
                )
                .unwrap();
            for (limit, offset) in [(20, 0), (20, 20), (7, 35), (100, 0), (100, 250), (5, 1000)] {
                let sql_ids: Vec<String> = c
                    .prepare(
                        "SELECT c.id FROM customers_fts f JOIN customers c ON c.id = f.customer_id
                         WHERE customers_fts MATCH ?1
                         ORDER BY bm25(customers_fts, 0.0, 10.0, 6.0, 4.0, 4.0, 2.0, 1.0),
                             c.name COLLATE NOCASE, c.id
                         LIMIT ?2 OFFSET ?3",
                    )
                    .unwrap()
                    .query_map(params![q, limit, offset], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                let f = CustomerFilter {
                    fts: Some(q.into()),
                    tag: None,
                };
                let (rows, total) = list(&c, &f, limit, offset).unwrap();
                assert_eq!(total, sql_total, "{q}");
                let ids: Vec<String> = rows.into_iter().map(|r| r.id).collect();
                assert_eq!(ids, sql_ids, "{q} limit {limit} offset {offset}");
            }
        }
    }
}
