//! Invoice arithmetic, pure: the lines a completed job is billed with
//! (parts, equipment use, labour), the subtotal, tax and total — all integer
//! cents, rounded only by [`crate::domain::money::div_round`] (through
//! `Money::times_milli`, `Money::per_hour_for` and `Money::apply_bps`).
//!
//! The customer pays the work order's final price before tax. Parts are billed
//! at quantity × unit price, each loadout item at its hourly cost for the
//! actual hours, and labour is what remains: `finalPrice − parts − equipment`.
//! So the lines always add up to the subtotal, which is the final price.

use super::DomainError;
use super::money::{MAX_CENTS, Minutes, Money, div_round};
use serde::Serialize;

/// The largest part quantity accepted (one million units).
pub const MAX_QUANTITY_MILLI: i64 = 1_000_000_000;

/// What an invoice line bills for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    /// The technician's work.
    Labour,
    /// Use of equipment from the job's loadout.
    Equipment,
    /// Parts and materials.
    Parts,
    /// Anything else.
    Other,
}

impl LineKind {
    /// The database name.
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Labour => "labour",
            LineKind::Equipment => "equipment",
            LineKind::Parts => "parts",
            LineKind::Other => "other",
        }
    }
}

/// A part used on the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartLine {
    /// What it is.
    pub description: String,
    /// How many, in thousandths (2.5 → 2500).
    pub quantity_milli: i64,
    /// Price per unit.
    pub unit_price: Money,
}

/// One piece of equipment used for the job's actual duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EquipmentUse {
    /// Its name.
    pub name: String,
    /// What an hour of it costs.
    pub hourly_cost: Money,
}

/// One invoice line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceLine {
    /// Kind.
    pub kind: LineKind,
    /// Description.
    pub description: String,
    /// Quantity in thousandths.
    pub quantity_milli: i64,
    /// Unit price.
    pub unit_price: Money,
    /// Amount billed on this line.
    pub amount: Money,
}

/// The computed content of an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceDraft {
    /// Lines: parts, then equipment, then labour.
    pub lines: Vec<InvoiceLine>,
    /// Sum of the lines (= the final price).
    pub subtotal: Money,
    /// Tax rate in basis points.
    pub tax_rate_bps: i64,
    /// `subtotal × rate`, rounded half away from zero.
    pub tax: Money,
    /// `subtotal + tax`.
    pub total: Money,
}

/// Parses a part quantity given as a JSON number into thousandths.
/// Fails with a message fit for a field error when it is not above 0, has
/// more than three decimals or is absurdly large.
pub fn parse_quantity(q: f64) -> Result<i64, String> {
    if !q.is_finite() || q <= 0.0 {
        return Err("must be more than 0".into());
    }
    if q * 1000.0 > MAX_QUANTITY_MILLI as f64 {
        return Err(format!("must be at most {}", MAX_QUANTITY_MILLI / 1000));
    }
    let milli = (q * 1000.0).round();
    if (q * 1000.0 - milli).abs() > 1e-6 {
        return Err("must have at most three decimal places".into());
    }
    Ok(milli as i64)
}

/// Hours in thousandths for a duration in minutes (90 → 1500).
pub fn hours_milli(m: Minutes) -> i64 {
    div_round(i128::from(m.0) * 1000, 60) as i64
}

/// `(tax, total)` of a subtotal at `tax_rate_bps`.
pub fn tax_and_total(subtotal: Money, tax_rate_bps: i64) -> (Money, Money) {
    let tax = subtotal.apply_bps(tax_rate_bps);
    (tax, subtotal.plus(tax))
}

/// Bills a job: parts at quantity × unit price, each equipment item at its
/// hourly cost for `minutes`, labour = `final_price` − parts − equipment, then
/// tax at `tax_rate_bps` on the subtotal (the final price).
///
/// Fails with a `finalPrice` field error stating the minimum when parts and
/// equipment alone cost more than the final price (labour would be negative).
pub fn build(
    service_type: &str,
    final_price: Money,
    minutes: Minutes,
    parts: &[PartLine],
    equipment: &[EquipmentUse],
    tax_rate_bps: i64,
) -> Result<InvoiceDraft, DomainError> {
    let mut lines = Vec::with_capacity(parts.len() + equipment.len() + 1);
    for p in parts {
        lines.push(InvoiceLine {
            kind: LineKind::Parts,
            description: p.description.clone(),
            quantity_milli: p.quantity_milli,
            unit_price: p.unit_price,
            amount: p.unit_price.times_milli(p.quantity_milli),
        });
    }
    let hours = hours_milli(minutes);
    for e in equipment {
        lines.push(InvoiceLine {
            kind: LineKind::Equipment,
            description: format!("Equipment: {}", e.name),
            quantity_milli: hours,
            unit_price: e.hourly_cost,
            amount: e.hourly_cost.per_hour_for(minutes),
        });
    }
    let billed: i128 = lines.iter().map(|l| i128::from(l.amount.cents())).sum();
    let labour = i128::from(final_price.cents()) - billed;
    if labour < 0 {
        let minimum = if billed > i128::from(MAX_CENTS) {
            "is lower than the parts and equipment on this job".to_string()
        } else {
            format!(
                "must be at least {} (parts and equipment on this job)",
                Money::from_cents(billed as i64)
            )
        };
        return Err(DomainError::field("finalPrice", minimum));
    }
    let labour = Money::from_cents(labour as i64);
    lines.push(InvoiceLine {
        kind: LineKind::Labour,
        description: format!("Labour: {}", service_type.trim()),
        quantity_milli: 1000,
        unit_price: labour,
        amount: labour,
    });
    let (tax, total) = tax_and_total(final_price, tax_rate_bps);
    Ok(InvoiceDraft {
        lines,
        subtotal: final_price,
        tax_rate_bps,
        tax,
        total,
    })
}

/// "INV-000045" (at least six digits).
pub fn format_number(n: i64) -> String {
    format!("INV-{n:06}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(c: i64) -> Money {
        Money::from_cents(c)
    }

    #[test]
    fn a_job_with_parts_equipment_and_tax() {
        let d = build(
            "Drain cleaning",
            m(45_000),
            Minutes(90),
            &[
                PartLine {
                    description: "P-trap".into(),
                    quantity_milli: 2500,
                    unit_price: m(1234),
                },
                PartLine {
                    description: "Sealant".into(),
                    quantity_milli: 1000,
                    unit_price: m(1999),
                },
            ],
            &[
                EquipmentUse {
                    name: "Pipe camera".into(),
                    hourly_cost: m(1500),
                },
                EquipmentUse {
                    name: "Jetter".into(),
                    hourly_cost: m(2250),
                },
            ],
            825,
        )
        .unwrap();
        let amounts: Vec<i64> = d.lines.iter().map(|l| l.amount.cents()).collect();
        // 2.5 × 12.34 = 30.85; 19.99; 1.5 h × 15 = 22.50; 1.5 h × 22.50 = 33.75.
        assert_eq!(amounts, [3085, 1999, 2250, 3375, 34_291]);
        assert_eq!(d.lines[2].quantity_milli, 1500);
        assert_eq!(d.lines[4].kind, LineKind::Labour);
        // 8.25 % of 450.00 = 37.125 → 37.13 (half away from zero).
        assert_eq!(
            (d.subtotal, d.tax, d.total),
            (m(45_000), m(3713), m(48_713))
        );
    }

    #[test]
    fn negative_labour_names_the_minimum() {
        let e = build(
            "X",
            m(1000),
            Minutes(60),
            &[PartLine {
                description: "Pump".into(),
                quantity_milli: 1000,
                unit_price: m(1500),
            }],
            &[],
            0,
        )
        .unwrap_err();
        assert_eq!(
            e,
            DomainError::field(
                "finalPrice",
                "must be at least 15.00 (parts and equipment on this job)"
            )
        );
    }

    #[test]
    fn quantities_are_thousandths() {
        assert_eq!(parse_quantity(2.5), Ok(2500));
        assert_eq!(parse_quantity(0.001), Ok(1));
        assert_eq!(parse_quantity(3.0), Ok(3000));
        assert!(parse_quantity(0.0).is_err());
        assert!(parse_quantity(-1.0).is_err());
        assert!(parse_quantity(1.0005).is_err());
        assert!(parse_quantity(2e6).is_err());
        assert_eq!(hours_milli(Minutes(20)), 333);
        assert_eq!(format_number(45), "INV-000045");
    }

    fn part() -> impl Strategy<Value = PartLine> {
        (1i64..50_000, 0i64..100_000).prop_map(|(q, p)| PartLine {
            description: "p".into(),
            quantity_milli: q,
            unit_price: m(p),
        })
    }

    fn equipment() -> impl Strategy<Value = EquipmentUse> {
        (0i64..20_000).prop_map(|c| EquipmentUse {
            name: "e".into(),
            hourly_cost: m(c),
        })
    }

    proptest! {
        #[test]
        fn totals_add_up(
            final_cents in 0i64..MAX_CENTS,
            minutes in 0i64..6000,
            parts in prop::collection::vec(part(), 0..8),
            eq in prop::collection::vec(equipment(), 0..5),
            bps in 0i64..=10_000,
        ) {
            let billed: i64 = parts.iter().map(|p| p.unit_price.times_milli(p.quantity_milli).cents()).sum::<i64>()
                + eq.iter().map(|e| e.hourly_cost.per_hour_for(Minutes(minutes)).cents()).sum::<i64>();
            match build("Job", m(final_cents), Minutes(minutes), &parts, &eq, bps) {
                Ok(d) => {
                    prop_assert!(billed <= final_cents);
                    prop_assert_eq!(d.total.cents(), d.subtotal.cents() + d.tax.cents());
                    prop_assert_eq!(d.lines.iter().map(|l| l.amount.cents()).sum::<i64>(), d.subtotal.cents());
                    prop_assert_eq!(d.subtotal.cents(), final_cents);
                    prop_assert!(d.lines.iter().all(|l| l.amount.cents() >= 0));
                    prop_assert_eq!(d.lines.len(), parts.len() + eq.len() + 1);
                    let exact = final_cents as f64 * bps as f64 / 10_000.0;
                    prop_assert!((d.tax.cents() as f64 - exact).abs() <= 0.5 + 1e-6);
                }
                Err(DomainError::Validation(f)) => {
                    prop_assert!(billed > final_cents);
                    prop_assert!(f.contains_key("finalPrice"));
                }
                Err(e) => prop_assert!(false, "unexpected {e:?}"),
            }
        }

        #[test]
        fn tax_is_within_half_a_cent(sub in 0i64..MAX_CENTS, bps in 0i64..=10_000) {
            let (tax, total) = tax_and_total(m(sub), bps);
            let exact = i128::from(sub) * i128::from(bps);
            // |tax × 10000 − sub × bps| ≤ 5000, i.e. within half a cent.
            prop_assert!((i128::from(tax.cents()) * 10_000 - exact).abs() <= 5_000);
            prop_assert_eq!(total.cents(), sub + tax.cents());
        }
    }
}
