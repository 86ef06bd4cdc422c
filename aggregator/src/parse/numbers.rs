//! Numbers as etsy statsd accepts them, with a fast path for the short decimals clients
//! nearly always send, and whole unix seconds.

use super::ParseError;

/// A number as etsy statsd accepts it: an optional sign, digits with an optional fraction, and
/// an optional exponent. `NaN`, `inf` and hex, which Rust's parser would take, are refused, and
/// so are values too large for an f64.
pub(super) fn parse_number(text: &str) -> Result<f64, ParseError> {
    if let Some(value) = parse_short_decimal(text) {
        return Ok(value);
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let looks_numeric = unsigned
        .bytes()
        .all(|byte| byte.is_ascii_digit() || matches!(byte, b'.' | b'e' | b'E' | b'+' | b'-'))
        && unsigned.bytes().any(|byte| byte.is_ascii_digit());
    if !looks_numeric {
        return Err(ParseError::InvalidValue);
    }
    let value: f64 = text.parse().map_err(|_| ParseError::InvalidValue)?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ParseError::InvalidValue)
    }
}

/// The fast path of [`parse_number`] for what statsd clients nearly always send: an optional
/// sign, then at most 15 digits with at most one `.` among them (`1`, `-3`, `12.25`). `None`
/// for anything else, which the general path then checks and parses.
fn parse_short_decimal(text: &str) -> Option<f64> {
    let (value, length) = short_decimal_prefix(text.as_bytes())?;
    (length == text.len()).then_some(value)
}

/// The short decimal `bytes` start with, and its length: an optional sign, then digits with
/// at most one `.` among them, up to the first other byte, with 1 to 15 digits in all. Such a
/// number is an integer mantissa below 2^53 over a power of ten up to 10^15, both exact in an
/// f64, and IEEE division rounds their quotient correctly, so the result is bit for bit what
/// `str::parse` returns for that text (Clinger's fast path).
#[inline]
pub(super) fn short_decimal_prefix(bytes: &[u8]) -> Option<(f64, usize)> {
    /// 15 decimal digits stay below 2^53, where every integer is an exact f64.
    const MAX_DIGITS: usize = 15;
    const POWERS_OF_TEN: [f64; MAX_DIGITS + 1] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, start) = match bytes.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let mut mantissa: u64 = 0;
    let mut digit_count = 0;
    let mut point = None;
    let mut end = start;
    while let Some(&byte) = bytes.get(end) {
        match byte {
            b'0'..=b'9' if digit_count < MAX_DIGITS => {
                mantissa = mantissa * 10 + u64::from(byte - b'0');
                digit_count += 1;
            }
            // A 16th digit: the mantissa might not be exact any more.
            b'0'..=b'9' => return None,
            b'.' if point.is_none() => point = Some(end),
            _ => break,
        }
        end += 1;
    }
    if digit_count == 0 {
        return None;
    }
    let magnitude = match point {
        // Below 2^53 (checked by the digit count), so the conversion is exact.
        None => mantissa as f64,
        Some(point) => mantissa as f64 / POWERS_OF_TEN[end - point - 1],
    };
    Some((if negative { -magnitude } else { magnitude }, end))
}

/// Whole unix seconds: digits only (no sign, no fraction), within `i64`.
pub(super) fn parse_unix_seconds(text: &str) -> Result<i64, ParseError> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ParseError::InvalidTimestamp);
    }
    text.parse().map_err(|_| ParseError::InvalidTimestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_decimal_fast_path_takes_what_it_can_do_exactly() {
        let cases: &[(&str, Option<f64>)] = &[
            ("1", Some(1.0)),
            ("+5", Some(5.0)),
            ("-0", Some(-0.0)),
            ("12.25", Some(12.25)),
            ("0.1", Some(0.1)),
            (".5", Some(0.5)),
            ("7.", Some(7.0)),
            ("999999999999999", Some(999_999_999_999_999.0)),
            // Too many digits for an exact mantissa, exponents, and non-numbers: general path.
            ("9999999999999999", None),
            ("1e3", None),
            (".", None),
            ("-", None),
            ("", None),
            ("1.2.3", None),
            ("0x10", None),
        ];
        for (text, expected) in cases {
            let fast = parse_short_decimal(text);
            assert_eq!(
                fast.map(f64::to_bits),
                expected.map(f64::to_bits),
                "{text:?}"
            );
        }
    }

    proptest::proptest! {
        /// Whatever the fast path accepts, it parses bit for bit as the standard library does.
        #[test]
        fn the_short_decimal_fast_path_equals_the_standard_parser(
            text in "[+-]?[0-9]{0,17}(\\.[0-9]{0,17})?"
        ) {
            if let Some(fast) = parse_short_decimal(&text) {
                let standard: f64 = text.parse().unwrap();
                proptest::prop_assert_eq!(fast.to_bits(), standard.to_bits(), "{}", text);
            }
        }
    }
}
