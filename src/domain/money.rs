//! Money and durations. Money is integer cents everywhere in Rust and in the
//! database; the JSON API shows it as a decimal number with exactly two places
//! (`12.50`). Rates are basis points. Every division that produces cents goes
//! through [`div_round`], the one rounding rule: **half away from zero**.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The largest amount accepted from a client: $100,000,000.00. Anything larger
/// is treated as a typing mistake.
pub const MAX_CENTS: i64 = 10_000_000_000;

/// Divides `num` by `den` (den > 0), rounding half away from zero.
/// `div_round(5, 2) == 3`, `div_round(-5, 2) == -3`, `div_round(4, 3) == 1`.
/// A zero or negative `den` returns 0 rather than panicking.
pub fn div_round(num: i128, den: i128) -> i128 {
    if den <= 0 {
        return 0;
    }
    let q = num / den;
    let r = num % den;
    if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    }
}

/// An amount of money in integer cents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// From cents.
    pub const fn from_cents(c: i64) -> Self {
        Money(c)
    }

    /// The amount in cents.
    pub const fn cents(self) -> i64 {
        self.0
    }

    /// `self × bps / 10 000`, rounded by [`div_round`] (e.g. tax at a rate in basis points).
    pub fn apply_bps(self, bps: i64) -> Money {
        Money(div_round(i128::from(self.0) * i128::from(bps), 10_000) as i64)
    }

    /// Cost of `minutes` at `self` per hour, rounded by [`div_round`].
    pub fn per_hour_for(self, minutes: Minutes) -> Money {
        Money(div_round(i128::from(self.0) * i128::from(minutes.0), 60) as i64)
    }

    /// `self × quantity / 1000` for quantities in thousandths, rounded by [`div_round`].
    pub fn times_milli(self, milli: i64) -> Money {
        Money(div_round(i128::from(self.0) * i128::from(milli), 1000) as i64)
    }

    /// Saturating sum.
    pub fn plus(self, o: Money) -> Money {
        Money(self.0.saturating_add(o.0))
    }

    /// Saturating difference.
    pub fn minus(self, o: Money) -> Money {
        Money(self.0.saturating_sub(o.0))
    }

    /// "1234.50" (no currency sign, always two decimals).
    pub fn to_decimal(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", a / 100, a % 100)
    }

    /// Parses a decimal with at most two places ("12", "12.5", "-0.05").
    /// Fails with a message fit for a field error.
    pub fn parse_decimal(s: &str) -> Result<Money, String> {
        let s = s.trim();
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits_ok = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !digits_ok(whole)
            || !digits_ok(frac)
            || (body.contains('.') && frac.is_empty())
        {
            return Err("must be an amount like 125.50".into());
        }
        if frac.len() > 2 {
            return Err("must have at most two decimal places".into());
        }
        if whole.len() > 12 {
            return Err("is too large".into());
        }
        let whole: i64 = whole.parse().map_err(|_| "is too large".to_string())?;
        let frac: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
        let cents = whole * 100 + frac;
        if cents > MAX_CENTS {
            return Err("is too large".into());
        }
        Ok(Money(if neg { -cents } else { cents }))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_decimal())
    }
}

impl Serialize for Money {
    /// A JSON number with exactly two decimals (`12.50`).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match serde_json::value::RawValue::from_string(self.to_decimal()) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_f64(self.0 as f64 / 100.0),
        }
    }
}

struct MoneyVisitor;

impl Visitor<'_> for MoneyVisitor {
    type Value = Money;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an amount with at most two decimal places")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Money, E> {
        v.checked_mul(100)
            .filter(|c| c.abs() <= MAX_CENTS)
            .map(Money)
            .ok_or_else(|| E::custom("is too large"))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Money, E> {
        i64::try_from(v)
            .map_err(|_| E::custom("is too large"))
            .and_then(|v| self.visit_i64(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Money, E> {
        if !v.is_finite() || v.abs() * 100.0 > MAX_CENTS as f64 {
            return Err(E::custom("is too large"));
        }
        let scaled = v * 100.0;
        let cents = scaled.round();
        if (scaled - cents).abs() > 1e-6 {
            return Err(E::custom("must have at most two decimal places"));
        }
        Ok(Money(cents as i64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Money, E> {
        Money::parse_decimal(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Accepts a JSON number or a decimal string with at most two places.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        d.deserialize_any(MoneyVisitor)
    }
}

/// A duration in whole minutes. The API shows it as hours with two decimals
/// (`1.50`) and accepts hours with at most two decimals, rounded to the minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Minutes(pub i64);

/// The longest duration accepted from a client: 1000 hours.
pub const MAX_MINUTES: i64 = 60_000;

impl Minutes {
    /// Hours as "1.50".
    pub fn to_hours_decimal(self) -> String {
        Money(div_round(i128::from(self.0) * 100, 60) as i64).to_decimal()
    }

    /// From hours given as an f64 with at most two decimals. Fails with a message.
    pub fn from_hours(h: f64) -> Result<Minutes, String> {
        if !h.is_finite() || h < 0.0 {
            return Err("must be a positive number of hours".into());
        }
        if h * 60.0 > MAX_MINUTES as f64 {
            return Err(format!("must be at most {} hours", MAX_MINUTES / 60));
        }
        let hundredths = (h * 100.0).round();
        if (h * 100.0 - hundredths).abs() > 1e-6 {
            return Err("must have at most two decimal places".into());
        }
        Ok(Minutes(div_round(hundredths as i128 * 60, 100) as i64))
    }
}

impl Serialize for Minutes {
    /// Hours as a JSON number with two decimals.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match serde_json::value::RawValue::from_string(self.to_hours_decimal()) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_f64(self.0 as f64 / 60.0),
        }
    }
}

impl<'de> Deserialize<'de> for Minutes {
    /// Accepts hours as a JSON number.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Minutes, D::Error> {
        let h = f64::deserialize(d)?;
        Minutes::from_hours(h).map_err(de::Error::custom)
    }
}

/// A JSON number in the OpenAPI document (`format: double`) with `description`.
pub(crate) fn number_schema(
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    ObjectBuilder::new()
        .schema_type(Type::Number)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
        .description(Some(description))
        .into()
}

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        number_schema(
            "Decimal amount of money with two places (`12.50`); requests may also send it as a \
             string (`\"12.50\"`).",
        )
    }
}

impl utoipa::ToSchema for Money {}

impl utoipa::PartialSchema for Minutes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        number_schema("A duration in hours with at most two decimals (`1.50` = 90 minutes).")
    }
}

impl utoipa::ToSchema for Minutes {
    fn name() -> std::borrow::Cow<'static, str> {
        "Hours".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -3);
        assert_eq!(div_round(4, 3), 1);
        assert_eq!(div_round(-4, 3), -1);
        assert_eq!(div_round(1, 2), 1);
        assert_eq!(div_round(1, 3), 0);
        assert_eq!(div_round(7, 0), 0);
        // 8.25% tax on $10.10 = 83.325 cents -> 83
        assert_eq!(
            Money::from_cents(1010).apply_bps(825),
            Money::from_cents(83)
        );
        // 8.25% on $10.30 = 84.975 -> 85
        assert_eq!(
            Money::from_cents(1030).apply_bps(825),
            Money::from_cents(85)
        );
        // 90 minutes at $45.00/h = $67.50
        assert_eq!(
            Money::from_cents(4500).per_hour_for(Minutes(90)),
            Money::from_cents(6750)
        );
    }

    #[test]
    fn json_shows_two_places_and_parses_numbers_and_strings() {
        assert_eq!(
            serde_json::to_string(&Money::from_cents(1250)).unwrap(),
            "12.50"
        );
        assert_eq!(
            serde_json::to_string(&Money::from_cents(-5)).unwrap(),
            "-0.05"
        );
        assert_eq!(
            serde_json::to_string(&Money::from_cents(0)).unwrap(),
            "0.00"
        );
        for (text, cents) in [
            ("12.5", 1250),
            ("12", 1200),
            ("\"0.07\"", 7),
            ("19.99", 1999),
            ("-3.10", -310),
        ] {
            assert_eq!(
                serde_json::from_str::<Money>(text).unwrap().cents(),
                cents,
                "{text}"
            );
        }
        for bad in [
            "1.005",
            "\"1.\"",
            "\"abc\"",
            "1e300",
            "\"\"",
            "100000001",
            "true",
        ] {
            assert!(
                serde_json::from_str::<Money>(bad).is_err(),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn hours_round_to_the_minute() {
        assert_eq!(Minutes::from_hours(1.5).unwrap(), Minutes(90));
        assert_eq!(Minutes::from_hours(0.33).unwrap(), Minutes(20));
        assert_eq!(Minutes(90).to_hours_decimal(), "1.50");
        assert_eq!(Minutes(20).to_hours_decimal(), "0.33");
        assert!(Minutes::from_hours(-1.0).is_err());
        assert!(Minutes::from_hours(1.234).is_err());
        assert!(Minutes::from_hours(5000.0).is_err());
    }

    proptest! {
        #[test]
        fn decimal_text_round_trips(c in -MAX_CENTS..=MAX_CENTS) {
            let m = Money::from_cents(c);
            prop_assert_eq!(Money::parse_decimal(&m.to_decimal()).unwrap(), m);
            let json = serde_json::to_string(&m).unwrap();
            prop_assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
        }

        #[test]
        fn div_round_is_within_half_and_symmetric(n in -1_000_000_000_000i128..1_000_000_000_000, d in 1i128..1_000_000) {
            let q = div_round(n, d);
            // |q*d - n| <= d/2
            prop_assert!(2 * (q * d - n).abs() <= d);
            prop_assert_eq!(div_round(-n, d), -q);
        }

        #[test]
        fn tax_never_exceeds_rate_bounds(c in 0i64..MAX_CENTS, bps in 0i64..=10_000) {
            let t = Money::from_cents(c).apply_bps(bps).cents();
            prop_assert!(t >= 0 && t <= c);
            let exact = c as f64 * bps as f64 / 10_000.0;
            prop_assert!((t as f64 - exact).abs() <= 0.5 + 1e-6);
        }
    }
}
