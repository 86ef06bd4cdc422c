//! Graphite's time offsets as function arguments (`'5min'`, `'-1d'`, `'+1h'`, `'1h30min'`),
//! graphite-web's `parseTimeOffset`: an optional sign, then one or more `<number><unit>`.
//! Units are recognised by prefix as graphite-web does: `s…` seconds, `min…` or `m…` minutes,
//! `h…` hours, `d…` days, `w…` weeks, `mon…` 30 days, `y…` 365 days.

/// Offsets beyond a thousand years are refused: no graph needs them, and the bound keeps
/// timestamp arithmetic with intervals (buckets, shifts, windows) far from overflowing.
const MAXIMUM_OFFSET_SECONDS: i64 = 1_000 * 365 * 86_400;

/// The offset in seconds (negative for `-…`), or `None` when it is not an offset.
pub(crate) fn parse_offset_seconds(text: &str) -> Option<i64> {
    let text = text.trim();
    let (sign, mut rest) = match text.as_bytes().first()? {
        b'-' => (-1, &text[1..]),
        b'+' => (1, &text[1..]),
        _ => (1, text),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|character: char| !character.is_ascii_digit())
            .unwrap_or(rest.len());
        let amount: i64 = rest[..digits_end].parse().ok()?;
        rest = &rest[digits_end..];
        let unit_end = rest
            .find(|character: char| !character.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit_seconds = unit_seconds(&rest[..unit_end])?;
        rest = &rest[unit_end..];
        total = total.checked_add(amount.checked_mul(unit_seconds)?)?;
    }
    (total <= MAXIMUM_OFFSET_SECONDS).then_some(total * sign)
}

fn unit_seconds(unit: &str) -> Option<i64> {
    // The order matters: "min" and "mon" before the bare "m".
    let seconds = if unit.starts_with('s') {
        1
    } else if unit.starts_with("min") {
        60
    } else if unit.starts_with('h') {
        3_600
    } else if unit.starts_with('d') {
        86_400
    } else if unit.starts_with('w') {
        7 * 86_400
    } else if unit.starts_with("mon") {
        30 * 86_400
    } else if unit.starts_with('m') {
        60
    } else if unit.starts_with('y') {
        365 * 86_400
    } else {
        return None;
    };
    Some(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_table() {
        let cases = [
            ("5min", Some(300)),
            ("5m", Some(300)),
            ("10s", Some(10)),
            ("30seconds", Some(30)),
            ("1h", Some(3_600)),
            ("2hours", Some(7_200)),
            ("1d", Some(86_400)),
            ("-7d", Some(-604_800)),
            ("+1h", Some(3_600)),
            ("1w", Some(604_800)),
            ("1mon", Some(2_592_000)),
            ("1y", Some(31_536_000)),
            ("1h30min", Some(5_400)),
            ("-1h30min", Some(-5_400)),
            ("", None),
            ("-", None),
            ("h", None),
            ("5", None),
            ("5parsecs", None),
            ("1h-", None),
            ("99999999999999999999y", None),
            ("1000y", Some(31_536_000_000)),
            ("1001y", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_offset_seconds(text), expected, "{text:?}");
        }
    }
}
