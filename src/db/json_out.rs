//! Writing JSON straight from SQLite rows, for the hot list endpoints.
//!
//! Building a struct per row (a `String` per text column) and handing it to
//! serde was most of the cost of a 50-row work-order page: an allocation per
//! field, and serde_json escaping every key and value byte by byte. These
//! helpers append values to a byte buffer instead, reading text in place from
//! the row, with keys written as pre-quoted literals and string escaping that
//! skips 8 clean bytes at a time. The output is byte for byte what serde_json
//! writes for the same values (unit tests compare the two).

use rusqlite::Row;
use rusqlite::types::{FromSqlError, Type};

/// serde_json's escape for byte `b`, or 0 when it is written as is:
/// `"` `\` and the control characters below 0x20 (with the short forms
/// `\b \t \n \f \r`; the rest as `\u00XX`).
const fn escape_of(b: u8) -> u8 {
    match b {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x09 => b't',
        0x0A => b'n',
        0x0C => b'f',
        0x0D => b'r',
        0x00..=0x1F => b'u',
        _ => 0,
    }
}

const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = escape_of(i as u8);
        i += 1;
    }
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the 8 bytes in `x` needs escaping (`< 0x20`, `"` or `\`).
/// Exact in the "no" direction, which is the only one relied on.
#[inline]
fn chunk_needs_escape(x: u64) -> bool {
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS != 0;
    let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGHS != 0;
    below_space || has_zero(x ^ (ONES * u64::from(b'"'))) || has_zero(x ^ (ONES * u64::from(b'\\')))
}

/// Appends the contents of `s` escaped for a JSON string (no quotes).
fn push_escaped(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        if let Some(chunk) = b.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok())
            && !chunk_needs_escape(u64::from_le_bytes(chunk))
        {
            i += 8;
            continue;
        }
        let c = b[i];
        let esc = ESCAPE[c as usize];
        if esc != 0 {
            out.extend_from_slice(&b[start..i]);
            if esc == b'u' {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(c >> 4) as usize],
                    HEX[(c & 0xF) as usize],
                ]);
            } else {
                out.extend_from_slice(&[b'\\', esc]);
            }
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&b[start..]);
}

/// Appends `s` as a JSON string, exactly as serde_json writes it.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    push_escaped(out, s);
    out.push(b'"');
}

/// Appends `prefix` followed by `s` as one JSON string (e.g. a URL built
/// from a fixed path and an id).
pub fn push_str_prefixed(out: &mut Vec<u8>, prefix: &str, s: &str) {
    out.reserve(prefix.len() + s.len() + 2);
    out.push(b'"');
    push_escaped(out, prefix);
    push_escaped(out, s);
    out.push(b'"');
}

/// Appends the digits of `n`, left-padded with zeros to `width`.
fn push_u64_padded(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = i.min(buf.len().saturating_sub(width));
    out.extend_from_slice(&buf[start..]);
}

/// Appends `v` as a JSON integer.
pub fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64_padded(out, v.unsigned_abs(), 1);
}

/// Appends `v / 10^places` as a JSON number with exactly `places` decimals
/// (`-0.05`, `1234.50`) — what `Money::to_decimal` (2 places) and
/// `Ratio4::to_decimal` (4 places) produce. `places` is at most 18.
pub fn push_decimal(out: &mut Vec<u8>, v: i64, places: u32) {
    let scale = 10u64.pow(places.min(18));
    let a = v.unsigned_abs();
    if v < 0 {
        out.push(b'-');
    }
    push_u64_padded(out, a / scale, 1);
    out.push(b'.');
    push_u64_padded(out, a % scale, places as usize);
}

/// Appends `"WO-000123"`: the number zero-padded to six digits, as
/// `domain::work_order::format_number` writes it.
pub fn push_number_with_prefix(out: &mut Vec<u8>, prefix: &str, n: i64, width: usize) {
    out.push(b'"');
    push_escaped(out, prefix);
    if n < 0 {
        // `format!("{n:06}")` puts the sign first and counts it in the width.
        out.push(b'-');
        push_u64_padded(out, n.unsigned_abs(), width.saturating_sub(1));
    } else {
        push_u64_padded(out, n.unsigned_abs(), width);
    }
    out.push(b'"');
}

fn conversion(i: usize, e: FromSqlError) -> rusqlite::Error {
    match e {
        FromSqlError::InvalidType => {
            rusqlite::Error::InvalidColumnType(i, String::new(), Type::Null)
        }
        other => rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(other)),
    }
}

/// Column `i` of `r` as text, read in place. Fails like `r.get::<_, String>(i)`
/// does: on NULL, a non-text value or invalid UTF-8.
pub fn text<'r>(r: &'r Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    r.get_ref(i)?.as_str().map_err(|e| conversion(i, e))
}

/// Column `i` of `r` as optional text, read in place. Fails on a non-text
/// value or invalid UTF-8.
pub fn opt_text<'r>(r: &'r Row<'_>, i: usize) -> rusqlite::Result<Option<&'r str>> {
    r.get_ref(i)?.as_str_or_null().map_err(|e| conversion(i, e))
}

/// Column `i` of `r` as an integer. Fails on NULL or a non-integer value.
pub fn int(r: &Row<'_>, i: usize) -> rusqlite::Result<i64> {
    r.get_ref(i)?.as_i64().map_err(|e| conversion(i, e))
}

/// Column `i` of `r` as an optional integer. Fails on a non-integer value.
pub fn opt_int(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<i64>> {
    r.get_ref(i)?.as_i64_or_null().map_err(|e| conversion(i, e))
}

/// Appends `s` as a JSON string, or `null`.
pub fn push_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => push_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends `v` with `places` decimals ([`push_decimal`]), or `null`.
pub fn push_opt_decimal(out: &mut Vec<u8>, v: Option<i64>, places: u32) {
    match v {
        Some(v) => push_decimal(out, v, places),
        None => out.extend_from_slice(b"null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(s: &str) -> String {
        let mut out = Vec::new();
        push_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_does() {
        for b in 0u8..=0x7F {
            let s = (b as char).to_string();
            assert_eq!(ours(&s), serde_json::to_string(&s).unwrap(), "byte {b:#x}");
        }
        for s in [
            "",
            "plain ascii text that is longer than eight bytes",
            "quote \" in the middle of a long enough string",
            "tab\tnewline\nreturn\r\u{0}\u{1f}\u{7f}",
            "ünïcödé — “quotes” 🚰 and \\ backslash",
            "12345678\"",
            "1234567\\",
        ] {
            assert_eq!(ours(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
        let mut out = Vec::new();
        push_str_prefixed(&mut out, "/api/v1/attachments/", "a\"b");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string("/api/v1/attachments/a\"b").unwrap()
        );
    }

    proptest! {
        #[test]
        fn any_string_is_escaped_as_serde_json_does(s in "(?s).{0,64}", t in "[\\x00-\\x7f]{0,40}") {
            prop_assert_eq!(ours(&s), serde_json::to_string(&s).unwrap());
            prop_assert_eq!(ours(&t), serde_json::to_string(&t).unwrap());
        }

        #[test]
        fn numbers_match_the_domain_formatting(v in any::<i64>(), m in -10_000_000i64..10_000_000) {
            let mut out = Vec::new();
            push_i64(&mut out, v);
            prop_assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
            let mut out = Vec::new();
            push_decimal(&mut out, m, 2);
            prop_assert_eq!(
                String::from_utf8(out).unwrap(),
                crate::domain::money::Money::from_cents(m).to_decimal()
            );
            let mut out = Vec::new();
            push_decimal(&mut out, m, 4);
            prop_assert_eq!(
                String::from_utf8(out).unwrap(),
                crate::domain::work_order::Ratio4(m).to_decimal()
            );
            let mut out = Vec::new();
            push_number_with_prefix(&mut out, "WO-", m, 6);
            prop_assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&crate::domain::work_order::format_number(m)).unwrap()
            );
        }
    }

    #[test]
    fn edge_numbers() {
        for v in [0, 1, -1, 9, 10, 99, 100, 101, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            push_i64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
            let mut out = Vec::new();
            push_decimal(&mut out, v, 2);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                crate::domain::money::Money::from_cents(v).to_decimal()
            );
        }
    }
}
