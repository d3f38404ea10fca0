//! Repository for invoices, their lines and payments: reading them (with the
//! work order number and customer name), and the status changes — send,
//! void, record a payment — each decided by
//! [`crate::domain::billing::InvoiceState`] and audited in the same write.
//! Invoices themselves are created when a work order is completed
//! (`db::work_orders`).

use super::audit::{self, Actor, Change};
use super::{DbError, util::optional};
use crate::clock::format_ts;
use crate::domain::billing::{
    Invoice, InvoiceLine, InvoiceStatus, Payment, PaymentFields, PaymentMethod, Quantity,
    Transition, invoice_number, work_order_number,
};
use crate::domain::money::Money;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, Row, params};
use serde_json::Value;

const SELECT: &str = "SELECT i.id, i.number, i.work_order_id, w.number, i.customer_id, cu.name,
        i.status, i.subtotal_cents, i.tax_rate_bps, i.tax_cents, i.total_cents, i.paid_cents,
        i.issued_date, i.due_date, i.sent_at, i.paid_at, i.voided_at, i.void_reason,
        i.created_at, i.updated_at
    FROM invoices i
    JOIN customers cu ON cu.id = i.customer_id
    LEFT JOIN work_orders w ON w.id = i.work_order_id";

fn bad_value(col: usize, what: &str, v: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        format!("unknown {what} {v:?}").into(),
    )
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Invoice> {
    let status: String = r.get(6)?;
    let total = Money::from_cents(r.get(10)?);
    let paid = Money::from_cents(r.get(11)?);
    Ok(Invoice {
        id: r.get(0)?,
        invoice_number: invoice_number(r.get(1)?),
        work_order_id: r.get(2)?,
        work_order_number: r.get::<_, Option<i64>>(3)?.map(work_order_number),
        customer_id: r.get(4)?,
        customer_name: r.get(5)?,
        status: InvoiceStatus::parse(&status).ok_or_else(|| bad_value(6, "status", &status))?,
        subtotal: Money::from_cents(r.get(7)?),
        tax_rate_bps: r.get(8)?,
        tax: Money::from_cents(r.get(9)?),
        total,
        paid,
        balance: total.minus(paid),
        issued_date: r.get(12)?,
        due_date: r.get(13)?,
        sent_at: r.get(14)?,
        paid_at: r.get(15)?,
        voided_at: r.get(16)?,
        void_reason: r.get(17)?,
        lines: Vec::new(),
        created_at: r.get(18)?,
        updated_at: r.get(19)?,
    })
}

fn line_from(r: &Row<'_>) -> rusqlite::Result<(String, InvoiceLine)> {
    Ok((
        r.get(0)?,
        InvoiceLine {
            kind: r.get(1)?,
            description: r.get(2)?,
            quantity: Quantity(r.get(3)?),
            unit_price: Money::from_cents(r.get(4)?),
            amount: Money::from_cents(r.get(5)?),
        },
    ))
}

/// Fills in the lines of `invoices` with one query.
fn attach_lines(c: &Connection, invoices: &mut [Invoice]) -> Result<(), DbError> {
    if invoices.is_empty() {
        return Ok(());
    }
    let ids = Value::from(invoices.iter().map(|i| i.id.clone()).collect::<Vec<_>>()).to_string();
    let mut st = c.prepare(
        "SELECT invoice_id, kind, description, quantity_milli, unit_price_cents, amount_cents
         FROM invoice_lines WHERE invoice_id IN (SELECT value FROM json_each(?1))
         ORDER BY invoice_id, position",
    )?;
    let rows = st.query_map([ids], line_from)?;
    for row in rows {
        let (id, line) = row?;
        if let Some(inv) = invoices.iter_mut().find(|i| i.id == id) {
            inv.lines.push(line);
        }
    }
    Ok(())
}

fn view(i: &Invoice) -> Value {
    serde_json::to_value(i).unwrap_or(Value::Null)
}

/// The invoice with `id` and its lines, if any.
pub fn get(c: &Connection, id: &str) -> Result<Option<Invoice>, DbError> {
    let Some(inv) = optional(c.query_row(&format!("{SELECT} WHERE i.id = ?1"), [id], from_row))?
    else {
        return Ok(None);
    };
    let mut one = [inv];
    attach_lines(c, &mut one)?;
    let [inv] = one;
    Ok(Some(inv))
}

/// The invoice billing work order `work_order_id` and its lines, if any.
pub fn for_work_order(c: &Connection, work_order_id: &str) -> Result<Option<Invoice>, DbError> {
    let id: Option<String> = optional(c.query_row(
        "SELECT id FROM invoices WHERE work_order_id = ?1",
        [work_order_id],
        |r| r.get(0),
    ))?;
    match id {
        Some(id) => get(c, &id),
        None => Ok(None),
    }
}

/// Filters for [`list`]; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct InvoiceFilter {
    /// Status.
    pub status: Option<InvoiceStatus>,
    /// Customer id.
    pub customer_id: Option<String>,
    /// Issued on or after (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Issued on or before (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// Only sent invoices with a balance due before this date (`YYYY-MM-DD`,
    /// today in the business time zone).
    pub overdue_on: Option<String>,
}

/// One page of invoices (with lines), newest issue date first, with the total.
pub fn list(
    c: &Connection,
    f: &InvoiceFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Invoice>, i64), DbError> {
    const WHERE: &str = "(?1 IS NULL OR i.status = ?1) AND (?2 IS NULL OR i.customer_id = ?2)
        AND (?3 IS NULL OR i.issued_date >= ?3) AND (?4 IS NULL OR i.issued_date <= ?4)
        AND (?5 IS NULL OR (i.status = 'sent' AND i.total_cents > i.paid_cents AND i.due_date < ?5))";
    let status = f.status.map(InvoiceStatus::as_str);
    let total: i64 = c.query_row(
        &format!("SELECT count(*) FROM invoices i WHERE {WHERE}"),
        params![status, f.customer_id, f.from, f.to, f.overdue_on],
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "{SELECT} WHERE {WHERE} ORDER BY i.issued_date DESC, i.number DESC LIMIT ?6 OFFSET ?7"
    ))?;
    let rows = st.query_map(
        params![
            status,
            f.customer_id,
            f.from,
            f.to,
            f.overdue_on,
            limit,
            offset
        ],
        from_row,
    )?;
    let mut invoices: Vec<Invoice> = rows.collect::<Result<_, _>>()?;
    attach_lines(c, &mut invoices)?;
    Ok((invoices, total))
}

fn payment_from(r: &Row<'_>) -> rusqlite::Result<Payment> {
    let method: String = r.get(3)?;
    Ok(Payment {
        id: r.get(0)?,
        invoice_id: r.get(1)?,
        amount: Money::from_cents(r.get(2)?),
        method: PaymentMethod::parse(&method).ok_or_else(|| bad_value(3, "method", &method))?,
        reference: r.get(4)?,
        received_date: r.get(5)?,
        created_by: r.get(6)?,
        created_at: r.get(7)?,
    })
}

/// The payments of an invoice, oldest first. Fails with `NotFound` for an
/// unknown invoice.
pub fn payments(c: &Connection, invoice_id: &str) -> Result<Vec<Payment>, DbError> {
    let exists: Option<i64> = optional(c.query_row(
        "SELECT 1 FROM invoices WHERE id = ?1",
        [invoice_id],
        |r| r.get(0),
    ))?;
    exists.ok_or(DbError::NotFound)?;
    let mut st = c.prepare(
        "SELECT id, invoice_id, amount_cents, method, reference, received_date, created_by, created_at
         FROM payments WHERE invoice_id = ?1 ORDER BY created_at, rowid",
    )?;
    let rows = st.query_map([invoice_id], payment_from)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Stores the outcome of a transition: status, paid amount and the
/// timestamps it implies; returns the invoice re-read.
fn apply(
    c: &Connection,
    before: &Invoice,
    t: Transition,
    now: DateTime<Utc>,
    void_reason: Option<&str>,
) -> Result<Invoice, DbError> {
    let ts = format_ts(now);
    let voided = t.state.status == InvoiceStatus::Void;
    c.execute(
        "UPDATE invoices SET status = ?2, paid_cents = ?3,
            sent_at = CASE WHEN ?4 THEN ?7 ELSE sent_at END,
            paid_at = CASE WHEN ?5 THEN ?7 ELSE paid_at END,
            voided_at = CASE WHEN ?6 THEN ?7 ELSE voided_at END,
            void_reason = CASE WHEN ?6 THEN ?8 ELSE void_reason END,
            updated_at = ?7
         WHERE id = ?1",
        params![
            before.id,
            t.state.status.as_str(),
            t.state.paid.cents(),
            t.became_sent,
            t.became_paid,
            voided,
            ts,
            void_reason
        ],
    )?;
    get(c, &before.id)?.ok_or(DbError::NotFound)
}

fn audit_invoice(
    c: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    action: &str,
    before: &Invoice,
    after: &Invoice,
) -> Result<(), DbError> {
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "invoice",
            entity_id: &before.id,
            action,
            before: &view(before),
            after: &view(after),
        },
    )
}

/// draft → sent. Fails with `NotFound`, or a conflict naming the status.
pub fn send(
    c: &Connection,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Invoice, DbError> {
    let before = get(c, id)?.ok_or(DbError::NotFound)?;
    let t = before.state().send()?;
    let after = apply(c, &before, t, now, None)?;
    audit_invoice(c, actor, now, "send", &before, &after)?;
    Ok(after)
}

/// draft | sent → void with `reason`. Fails with `NotFound`, or a conflict
/// when the invoice is paid, already void, or has payments.
pub fn void(
    c: &Connection,
    actor: &Actor,
    id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Invoice, DbError> {
    let before = get(c, id)?.ok_or(DbError::NotFound)?;
    let t = before.state().void()?;
    let after = apply(c, &before, t, now, Some(reason))?;
    audit_invoice(c, actor, now, "void", &before, &after)?;
    Ok(after)
}

/// Records a payment with id `payment_id` and updates the invoice (a draft
/// becomes sent; a zero balance makes it paid). Returns the payment and the
/// invoice after. Fails with `NotFound`, a conflict when the invoice is paid
/// or void, or a validation error on `amount` above the balance.
pub fn record_payment(
    c: &Connection,
    actor: &Actor,
    invoice_id: &str,
    payment_id: &str,
    p: PaymentFields,
    now: DateTime<Utc>,
) -> Result<(Payment, Invoice), DbError> {
    let before = get(c, invoice_id)?.ok_or(DbError::NotFound)?;
    let t = before.state().pay(p.amount)?;
    let payment = Payment {
        id: payment_id.to_string(),
        invoice_id: invoice_id.to_string(),
        amount: p.amount,
        method: p.method,
        received_date: fmt_date(p.received_date),
        reference: p.reference,
        created_by: actor.user_id.clone(),
        created_at: format_ts(now),
    };
    c.execute(
        "INSERT INTO payments (id, invoice_id, amount_cents, method, reference, received_date, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            payment.id,
            payment.invoice_id,
            payment.amount.cents(),
            payment.method.as_str(),
            payment.reference,
            payment.received_date,
            payment.created_by,
            payment.created_at
        ],
    )?;
    audit::record(
        c,
        actor,
        now,
        Change {
            entity: "payment",
            entity_id: payment_id,
            action: "create",
            before: &Value::Null,
            after: &serde_json::to_value(&payment).unwrap_or(Value::Null),
        },
    )?;
    let after = apply(c, &before, t, now, None)?;
    audit_invoice(c, actor, now, "record_payment", &before, &after)?;
    Ok((payment, after))
}

fn fmt_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}
