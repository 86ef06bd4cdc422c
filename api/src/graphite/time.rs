//! Graphite's time expressions for `from` and `until`, as a pure function of the text and the
//! current time.
//!
//! Accepted: `now`; a relative offset `-<n><unit>` (or `+`) where the unit is one of
//! s/sec/second(s), min/minute(s), h/hour(s), d/day(s), w/week(s), mon/month(s) (30 days) and
//! y/year(s) (365 days), as in graphite-web; unix seconds; and the absolute forms
//! `HH:MM_YYYYMMDD` and `YYYYMMDD` (midnight), read as UTC.
//!
//! Every time must lie between 0001-01-01 and 9999-12-31 (UTC): PostgreSQL's `timestamptz`
//! stops at 4713 BC, so `from=-100000y` reached the database and came back as a 503; this range
//! is one every format the API writes (RFC 3339, Graphite's dates) can show too.

/// Why a time expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeParseError {
    #[error("{0:?} is not a time: use now, -<number><unit> (e.g. -1h), unix seconds, HH:MM_YYYYMMDD or YYYYMMDD")]
    Unrecognized(String),
    #[error("{0:?} has an unknown unit: use s, min, h, d, w, mon or y")]
    UnknownUnit(String),
    #[error("{0:?} is outside 0001-01-01 to 9999-12-31")]
    OutOfRange(String),
}

/// 0001-01-01T00:00:00Z, the earliest time a request may name.
pub const EARLIEST_UNIX_SECONDS: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z, the latest (the same bound the stream's records keep).
pub const LATEST_UNIX_SECONDS: i64 = abacus_proto::limits::LATEST_UNIX_SECONDS;

/// Why a request's time range was refused; each names the parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeRangeError {
    #[error("invalid from: {0}")]
    From(TimeParseError),
    #[error("invalid until: {0}")]
    Until(TimeParseError),
    #[error("time {0} is out of range")]
    OutOfRange(i64),
}

/// Resolves a request's `from` and `until` expressions to unix seconds.
pub fn parse_range(
    from: &str,
    until: &str,
    now_unix_seconds: i64,
) -> Result<(i64, i64), TimeRangeError> {
    let from = parse_time(from, now_unix_seconds).map_err(TimeRangeError::From)?;
    let until = parse_time(until, now_unix_seconds).map_err(TimeRangeError::Until)?;
    Ok((from, until))
}

/// Unix seconds as a time PostgreSQL can be given.
pub fn to_datetime(unix_seconds: i64) -> Result<chrono::DateTime<chrono::Utc>, TimeRangeError> {
    chrono::DateTime::from_timestamp(unix_seconds, 0)
        .ok_or(TimeRangeError::OutOfRange(unix_seconds))
}

/// Resolves a Graphite time expression to unix seconds, between [`EARLIEST_UNIX_SECONDS`] and
/// [`LATEST_UNIX_SECONDS`].
pub fn parse_time(text: &str, now_unix_seconds: i64) -> Result<i64, TimeParseError> {
    let time = parse_unbounded_time(text, now_unix_seconds)?;
    if !(EARLIEST_UNIX_SECONDS..=LATEST_UNIX_SECONDS).contains(&time) {
        return Err(TimeParseError::OutOfRange(text.trim().to_owned()));
    }
    Ok(time)
}

fn parse_unbounded_time(text: &str, now_unix_seconds: i64) -> Result<i64, TimeParseError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("now") {
        return Ok(now_unix_seconds);
    }
    // Saturating: an offset near i64::MAX seconds must become an out-of-range time, not wrap.
    if let Some(offset) = text.strip_prefix('-') {
        return Ok(now_unix_seconds.saturating_sub(parse_offset_seconds(offset, text)?));
    }
    if let Some(offset) = text.strip_prefix('+') {
        return Ok(now_unix_seconds.saturating_add(parse_offset_seconds(offset, text)?));
    }
    if let Some(absolute) = parse_absolute(text) {
        return Ok(absolute);
    }
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| TimeParseError::Unrecognized(text.to_owned()));
    }
    Err(TimeParseError::Unrecognized(text.to_owned()))
}

/// `HH:MM_YYYYMMDD` or `YYYYMMDD`. Eight digits are a date, not unix seconds: graphite-web
/// reads them the same way, and unix seconds of eight digits lie in 1970.
fn parse_absolute(text: &str) -> Option<i64> {
    use chrono::{NaiveDate, NaiveTime};
    let (time, date) = match text.split_once('_') {
        Some((time, date)) => (NaiveTime::parse_from_str(time, "%H:%M").ok()?, date),
        None => (NaiveTime::MIN, text),
    };
    if date.len() != 8 || !date.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let date = NaiveDate::parse_from_str(date, "%Y%m%d").ok()?;
    Some(date.and_time(time).and_utc().timestamp())
}

fn parse_offset_seconds(offset: &str, whole: &str) -> Result<i64, TimeParseError> {
    let digits_end = offset
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(offset.len());
    let (amount, unit) = offset.split_at(digits_end);
    if amount.is_empty() {
        return Err(TimeParseError::Unrecognized(whole.to_owned()));
    }
    let amount: i64 = amount
        .parse()
        .map_err(|_| TimeParseError::Unrecognized(whole.to_owned()))?;
    let unit_seconds = match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        "mon" | "month" | "months" => 30 * 86_400,
        "y" | "year" | "years" => 365 * 86_400,
        _ => return Err(TimeParseError::UnknownUnit(whole.to_owned())),
    };
    amount
        .checked_mul(unit_seconds)
        .ok_or_else(|| TimeParseError::Unrecognized(whole.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn accepted_expressions() {
        let cases = [
            ("now", NOW),
            ("NOW", NOW),
            ("-10s", NOW - 10),
            ("-10min", NOW - 600),
            ("-1h", NOW - 3_600),
            ("-7d", NOW - 7 * 86_400),
            ("-2w", NOW - 14 * 86_400),
            ("-1mon", NOW - 30 * 86_400),
            ("-1y", NOW - 365 * 86_400),
            ("-3hours", NOW - 3 * 3_600),
            ("+5min", NOW + 300),
            ("1600000000", 1_600_000_000),
            ("20231114", 1_699_920_000),
            ("22:13_20231114", 1_699_999_980),
            ("00:00_20240229", 1_709_164_800),
            ("-1000y", NOW - 1_000 * 365 * 86_400),
            ("253402300799", LATEST_UNIX_SECONDS),
            ("00:00_00010101", EARLIEST_UNIX_SECONDS),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_time(text, NOW), Ok(expected), "{text}");
        }
    }

    #[test]
    fn refused_expressions() {
        let cases = [
            ("", TimeParseError::Unrecognized("".into())),
            ("-h", TimeParseError::Unrecognized("-h".into())),
            (
                "-1fortnight",
                TimeParseError::UnknownUnit("-1fortnight".into()),
            ),
            (
                "yesterday-ish",
                TimeParseError::Unrecognized("yesterday-ish".into()),
            ),
            (
                "-99999999999999999999y",
                TimeParseError::Unrecognized("-99999999999999999999y".into()),
            ),
            ("-100000y", TimeParseError::OutOfRange("-100000y".into())),
            ("+8000y", TimeParseError::OutOfRange("+8000y".into())),
            (
                "-9223372036854775807s",
                TimeParseError::OutOfRange("-9223372036854775807s".into()),
            ),
            (
                "253402300800",
                TimeParseError::OutOfRange("253402300800".into()),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_time(text, NOW), Err(expected), "{text}");
        }
    }
}
