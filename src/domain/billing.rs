//! Invoices and payments: the invoice status machine (draft → sent → paid |
//! void), the payment rules, and the shapes the API shows. Pure: the
//! repository loads an [`InvoiceState`], asks it for the next state and
//! stores what it says.
//!
//! Invariants kept by every transition (property-tested below):
//! `paid + balance = total`; once an invoice has left `draft`, its status is
//! `paid` exactly when its balance is 0 and it is not void; a void invoice
//! never has payments.

use super::DomainError;
use super::money::{MAX_CENTS, Money};
use super::validate::Check;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where an invoice is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvoiceStatus {
    /// Generated, not yet sent to the customer.
    Draft,
    /// Sent; money is owed while the balance is above 0.
    Sent,
    /// Fully paid.
    Paid,
    /// Cancelled; nothing is owed.
    Void,
}

impl InvoiceStatus {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Sent => "sent",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
        }
    }

    /// Parses a stored name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => InvoiceStatus::Draft,
            "sent" => InvoiceStatus::Sent,
            "paid" => InvoiceStatus::Paid,
            "void" => InvoiceStatus::Void,
            _ => return None,
        })
    }
}

impl fmt::Display for InvoiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// Cash.
    Cash,
    /// Cheque.
    Check,
    /// Card.
    Card,
    /// Bank transfer.
    BankTransfer,
    /// Anything else.
    Other,
}

impl PaymentMethod {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Cash => "cash",
            PaymentMethod::Check => "check",
            PaymentMethod::Card => "card",
            PaymentMethod::BankTransfer => "bank_transfer",
            PaymentMethod::Other => "other",
        }
    }

    /// Parses a stored name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "cash" => PaymentMethod::Cash,
            "check" => PaymentMethod::Check,
            "card" => PaymentMethod::Card,
            "bank_transfer" => PaymentMethod::BankTransfer,
            "other" => PaymentMethod::Other,
            _ => return None,
        })
    }
}

/// The part of an invoice the transitions act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvoiceState {
    /// Status.
    pub status: InvoiceStatus,
    /// Total including tax.
    pub total: Money,
    /// Sum of payments.
    pub paid: Money,
}

/// What a transition changed, besides the new state, so the repository knows
/// which timestamps to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state after.
    pub state: InvoiceState,
    /// The invoice was a draft and is now sent (or paid): set `sentAt`.
    pub became_sent: bool,
    /// The invoice is now paid: set `paidAt`.
    pub became_paid: bool,
}

fn conflict(what: &str, status: InvoiceStatus) -> DomainError {
    DomainError::Conflict(format!("cannot {what} an invoice that is {status}"))
}

impl InvoiceState {
    /// `total − paid`.
    pub fn balance(&self) -> Money {
        self.total.minus(self.paid)
    }

    /// After leaving draft, a zero balance means paid.
    fn settle(self, became_sent: bool) -> Transition {
        let paid_now = self.status == InvoiceStatus::Sent && self.balance().cents() <= 0;
        let state = if paid_now {
            InvoiceState {
                status: InvoiceStatus::Paid,
                ..self
            }
        } else {
            self
        };
        Transition {
            state,
            became_sent,
            became_paid: paid_now,
        }
    }

    /// draft → sent (straight to paid when nothing is owed). Fails with a
    /// conflict naming the current status otherwise.
    pub fn send(self) -> Result<Transition, DomainError> {
        match self.status {
            InvoiceStatus::Draft => Ok(InvoiceState {
                status: InvoiceStatus::Sent,
                ..self
            }
            .settle(true)),
            s => Err(conflict("send", s)),
        }
    }

    /// draft | sent → void, only while no payment has been recorded. Fails
    /// with a conflict naming the status, or saying payments exist.
    pub fn void(self) -> Result<Transition, DomainError> {
        match self.status {
            InvoiceStatus::Draft | InvoiceStatus::Sent if self.paid.cents() > 0 => {
                Err(DomainError::Conflict(format!(
                    "cannot void an invoice with payments ({} received); record a refund instead",
                    self.paid
                )))
            }
            InvoiceStatus::Draft | InvoiceStatus::Sent => Ok(Transition {
                state: InvoiceState {
                    status: InvoiceStatus::Void,
                    ..self
                },
                became_sent: false,
                became_paid: false,
            }),
            s => Err(conflict("void", s)),
        }
    }

    /// Records a payment of `amount` on a draft (which becomes sent) or sent
    /// invoice; a zero balance makes it paid. Fails with a conflict on a paid
    /// or void invoice, or a validation error on `amount` when it is not
    /// above 0 and at most the balance.
    pub fn pay(self, amount: Money) -> Result<Transition, DomainError> {
        if matches!(self.status, InvoiceStatus::Paid | InvoiceStatus::Void) {
            return Err(conflict("record a payment on", self.status));
        }
        let balance = self.balance();
        if amount.cents() <= 0 {
            return Err(DomainError::field("amount", "must be more than 0"));
        }
        if amount > balance {
            return Err(DomainError::field(
                "amount",
                format!("must be at most the balance of {balance}"),
            ));
        }
        let became_sent = self.status == InvoiceStatus::Draft;
        Ok(InvoiceState {
            status: InvoiceStatus::Sent,
            paid: self.paid.plus(amount),
            ..self
        }
        .settle(became_sent))
    }
}

/// "INV-000045".
pub fn invoice_number(n: i64) -> String {
    format!("INV-{n:06}")
}

/// "WO-000123".
pub fn work_order_number(n: i64) -> String {
    format!("WO-{n:06}")
}

/// A quantity in thousandths, shown as a JSON number with up to three
/// decimals (`1.5`, `2`, `0.125`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quantity(pub i64);

impl Quantity {
    /// "1.5", "2", "0.125", "-1.25".
    pub fn to_decimal(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        let frac = format!("{:03}", a % 1000);
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            format!("{sign}{}", a / 1000)
        } else {
            format!("{sign}{}.{frac}", a / 1000)
        }
    }
}

impl utoipa::PartialSchema for Quantity {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::money::number_schema("A quantity with up to three decimals (`1.5`, `2`, `0.125`).")
    }
}

impl utoipa::ToSchema for Quantity {}

impl Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match serde_json::value::RawValue::from_string(self.to_decimal()) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_f64(self.0 as f64 / 1000.0),
        }
    }
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceLine {
    /// `labour`, `equipment`, `parts` or `other`.
    pub kind: String,
    /// What was done or used.
    pub description: String,
    /// How many (hours, units).
    pub quantity: Quantity,
    /// Price per unit.
    pub unit_price: Money,
    /// The line's amount.
    pub amount: Money,
}

/// An invoice as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    /// UUIDv7.
    pub id: String,
    /// "INV-000045".
    pub invoice_number: String,
    /// The work order it bills, if any.
    pub work_order_id: Option<String>,
    /// "WO-000123", if any.
    pub work_order_number: Option<String>,
    /// The customer billed.
    pub customer_id: String,
    /// The customer's name.
    pub customer_name: String,
    /// Status.
    pub status: InvoiceStatus,
    /// Sum of the lines.
    pub subtotal: Money,
    /// Tax rate in basis points.
    pub tax_rate_bps: i64,
    /// Tax.
    pub tax: Money,
    /// Subtotal + tax.
    pub total: Money,
    /// Received so far.
    pub paid: Money,
    /// Still owed (`total − paid`).
    pub balance: Money,
    /// Issue date (business time zone).
    #[schema(format = Date)]
    pub issued_date: String,
    /// Due date (business time zone).
    #[schema(format = Date)]
    pub due_date: String,
    /// When it was sent.
    #[schema(format = DateTime)]
    pub sent_at: Option<String>,
    /// When it was paid in full.
    #[schema(format = DateTime)]
    pub paid_at: Option<String>,
    /// When it was voided.
    #[schema(format = DateTime)]
    pub voided_at: Option<String>,
    /// Why it was voided.
    pub void_reason: Option<String>,
    /// Lines, in order.
    pub lines: Vec<InvoiceLine>,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last changed.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl Invoice {
    /// The money state the transitions act on.
    pub fn state(&self) -> InvoiceState {
        InvoiceState {
            status: self.status,
            total: self.total,
            paid: self.paid,
        }
    }
}

/// A payment as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// UUIDv7.
    pub id: String,
    /// The invoice paid.
    pub invoice_id: String,
    /// Amount.
    pub amount: Money,
    /// Method.
    pub method: PaymentMethod,
    /// Date received (business time zone).
    #[schema(format = Date)]
    pub received_date: String,
    /// Cheque number, transaction id… ("" if none).
    pub reference: String,
    /// The user who recorded it.
    pub created_by: Option<String>,
    /// Recorded at.
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Body of `POST /invoices/{id}/payments`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PaymentInput {
    /// Amount (> 0, ≤ balance).
    pub amount: Money,
    /// Method.
    pub method: PaymentMethod,
    /// Date received, `YYYY-MM-DD`; default today.
    #[schema(format = Date)]
    pub received_date: Option<String>,
    /// Reference (0..100).
    pub reference: Option<String>,
}

/// A payment's validated fields (the amount is checked against the balance
/// by [`InvoiceState::pay`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentFields {
    /// Amount.
    pub amount: Money,
    /// Method.
    pub method: PaymentMethod,
    /// Date received.
    pub received_date: NaiveDate,
    /// Reference.
    pub reference: String,
}

impl PaymentFields {
    /// Validates `input`; `today` (business time zone) is the default and the
    /// latest allowed received date. Fails with every bad field.
    pub fn parse(input: PaymentInput, today: NaiveDate) -> Result<PaymentFields, DomainError> {
        let mut c = Check::new();
        if input.amount.cents() <= 0 {
            c.fail("amount", "must be more than 0");
        } else if input.amount.cents() > MAX_CENTS {
            c.fail("amount", "is too large");
        }
        let received = c.date_opt("receivedDate", input.received_date.as_deref());
        if received.is_some_and(|d| d > today) {
            c.fail("receivedDate", "must not be in the future");
        }
        let reference = c.text(
            "reference",
            input.reference.as_deref().unwrap_or(""),
            0,
            100,
        );
        c.finish()?;
        Ok(PaymentFields {
            amount: input.amount,
            method: input.method,
            received_date: received.unwrap_or(today),
            reference,
        })
    }
}

/// Body of `POST /invoices/{id}/void`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VoidInput {
    /// Why (1..500).
    pub reason: Option<String>,
}

impl VoidInput {
    /// The trimmed reason. Fails when it is missing, empty or too long.
    pub fn reason(self) -> Result<String, DomainError> {
        let mut c = Check::new();
        let r = c.text("reason", self.reason.as_deref().unwrap_or(""), 1, 500);
        c.finish()?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn st(status: InvoiceStatus, total: i64, paid: i64) -> InvoiceState {
        InvoiceState {
            status,
            total: Money::from_cents(total),
            paid: Money::from_cents(paid),
        }
    }

    fn field(e: DomainError) -> (String, String) {
        match e {
            DomainError::Validation(f) => f.into_iter().next().unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn send_void_pay_follow_the_rules() {
        use InvoiceStatus::*;
        let t = st(Draft, 10_000, 0).send().unwrap();
        assert_eq!(
            (t.state.status, t.became_sent, t.became_paid),
            (Sent, true, false)
        );
        assert!(
            matches!(st(Sent, 1, 0).send(), Err(DomainError::Conflict(m)) if m.contains("sent"))
        );
        assert!(st(Paid, 1, 1).send().is_err());
        assert!(st(Void, 1, 0).send().is_err());
        // Nothing owed: sending settles it.
        let t = st(Draft, 0, 0).send().unwrap();
        assert_eq!((t.state.status, t.became_paid), (Paid, true));

        assert_eq!(st(Draft, 5, 0).void().unwrap().state.status, Void);
        assert_eq!(st(Sent, 5, 0).void().unwrap().state.status, Void);
        assert!(
            matches!(st(Sent, 5, 2).void(), Err(DomainError::Conflict(m)) if m.contains("payments"))
        );
        assert!(st(Paid, 5, 5).void().is_err());
        assert!(st(Void, 5, 0).void().is_err());

        // A partial payment on a draft sends it.
        let t = st(Draft, 10_000, 0).pay(Money::from_cents(4_000)).unwrap();
        assert_eq!(
            (t.state.status, t.became_sent, t.became_paid),
            (Sent, true, false)
        );
        assert_eq!(t.state.balance(), Money::from_cents(6_000));
        let t = t.state.pay(Money::from_cents(6_000)).unwrap();
        assert_eq!(
            (t.state.status, t.became_sent, t.became_paid),
            (Paid, false, true)
        );
        let (f, why) = field(
            st(Sent, 10_000, 4_000)
                .pay(Money::from_cents(6_001))
                .unwrap_err(),
        );
        assert_eq!(
            (f.as_str(), why.as_str()),
            ("amount", "must be at most the balance of 60.00")
        );
        assert_eq!(
            field(st(Sent, 1, 0).pay(Money::ZERO).unwrap_err()).0,
            "amount"
        );
        assert!(matches!(
            st(Paid, 1, 1).pay(Money::from_cents(1)),
            Err(DomainError::Conflict(_))
        ));
        assert!(matches!(
            st(Void, 9, 0).pay(Money::from_cents(1)),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn numbers_and_quantities_format() {
        assert_eq!(invoice_number(45), "INV-000045");
        assert_eq!(work_order_number(123_456), "WO-123456");
        for (milli, text) in [
            (1500, "1.5"),
            (2000, "2"),
            (125, "0.125"),
            (-1250, "-1.25"),
            (0, "0"),
        ] {
            assert_eq!(serde_json::to_string(&Quantity(milli)).unwrap(), text);
        }
    }

    #[test]
    fn payment_input_is_validated() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        let input = |amount: i64, date: Option<&str>, reference: Option<String>| PaymentInput {
            amount: Money::from_cents(amount),
            method: PaymentMethod::Card,
            received_date: date.map(Into::into),
            reference,
        };
        let ok = PaymentFields::parse(input(100, None, Some(" 42 ".into())), today).unwrap();
        assert_eq!((ok.received_date, ok.reference.as_str()), (today, "42"));
        let DomainError::Validation(f) =
            PaymentFields::parse(input(-1, Some("2026-03-16"), Some("x".repeat(101))), today)
                .unwrap_err()
        else {
            panic!()
        };
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(PaymentFields::parse(input(1, Some("15/03/2026"), None), today).is_err());
        assert!(
            VoidInput {
                reason: Some("  ".into())
            }
            .reason()
            .is_err()
        );
        assert_eq!(
            VoidInput {
                reason: Some(" dup ".into())
            }
            .reason()
            .unwrap(),
            "dup"
        );
    }

    #[derive(Debug, Clone, Copy)]
    enum Op {
        Send,
        Void,
        Pay(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Send),
            Just(Op::Void),
            (-100i64..200_000).prop_map(Op::Pay),
        ]
    }

    proptest! {
        #[test]
        fn invariants_hold_through_any_sequence(total in 1i64..150_000, ops in prop::collection::vec(op(), 0..20)) {
            let mut s = st(InvoiceStatus::Draft, total, 0);
            let mut had_payment = false;
            for o in ops {
                let before = s;
                let r = match o {
                    Op::Send => s.send(),
                    Op::Void => s.void(),
                    Op::Pay(a) => s.pay(Money::from_cents(a)),
                };
                match r {
                    Ok(t) => {
                        if let Op::Pay(a) = o {
                            had_payment = true;
                            prop_assert!(a > 0 && a <= before.balance().cents());
                            prop_assert_eq!(t.state.paid.cents(), before.paid.cents() + a);
                        }
                        prop_assert_eq!(t.became_sent, before.status == InvoiceStatus::Draft && t.state.status != InvoiceStatus::Void);
                        prop_assert_eq!(t.became_paid, t.state.status == InvoiceStatus::Paid && before.status != InvoiceStatus::Paid);
                        s = t.state;
                    }
                    Err(_) => {
                        // A refused transition: the rules say why.
                        let refused = match o {
                            Op::Send => before.status != InvoiceStatus::Draft,
                            Op::Void => matches!(before.status, InvoiceStatus::Paid | InvoiceStatus::Void) || before.paid.cents() > 0,
                            Op::Pay(a) => matches!(before.status, InvoiceStatus::Paid | InvoiceStatus::Void) || a <= 0 || a > before.balance().cents(),
                        };
                        prop_assert!(refused, "{:?} refused on {:?}", o, before);
                    }
                }
                prop_assert_eq!(s.total.cents(), total);
                prop_assert_eq!(s.paid.plus(s.balance()), s.total);
                prop_assert!(s.paid.cents() >= 0 && s.balance().cents() >= 0);
                if s.status != InvoiceStatus::Draft {
                    prop_assert_eq!(
                        s.status == InvoiceStatus::Paid,
                        s.balance().cents() == 0 && s.status != InvoiceStatus::Void
                    );
                }
                if s.status == InvoiceStatus::Void {
                    prop_assert!(!had_payment && s.paid.cents() == 0);
                }
            }
        }
    }
}
