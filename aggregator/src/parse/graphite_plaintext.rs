//! Graphite plaintext: [`parse_graphite_line`] reads `path value timestamp`, the carbon
//! plaintext protocol. Paths are kept exactly as sent (they are not statsd keys), and checked
//! against the limits of the stream.

use super::numbers::parse_number;
use super::ParseError;
use abacus_proto::limits::{self, LimitError};

/// One Graphite plaintext data point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GraphitePoint<'a> {
    /// The path exactly as sent (Graphite paths are not statsd keys: no sanitizing).
    pub path: &'a str,
    pub value: f64,
    pub timestamp_unix_seconds: i64,
}

/// Parses a carbon plaintext line, `path value timestamp`, separated by whitespace. A timestamp
/// of `-1` means `now_unix_seconds`; fractional timestamps are truncated to whole seconds, the
/// resolution Graphite stores. Never panics, whatever the bytes.
pub fn parse_graphite_line(
    line: &[u8],
    now_unix_seconds: i64,
) -> Result<GraphitePoint<'_>, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
    let mut fields = line.split_whitespace();
    let (Some(path), Some(raw_value), Some(raw_timestamp), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(ParseError::GraphiteFieldCount);
    };
    let value = parse_number(raw_value)?;
    let timestamp_unix_seconds = if raw_timestamp == "-1" {
        now_unix_seconds
    } else {
        let seconds = parse_number(raw_timestamp).map_err(|_| ParseError::InvalidTimestamp)?;
        // The bound also keeps the cast exact.
        let earliest = limits::EARLIEST_UNIX_SECONDS as f64;
        let latest = limits::LATEST_UNIX_SECONDS as f64;
        if !(earliest..latest + 1.0).contains(&seconds) {
            return Err(LimitError::TimeOutOfRange {
                field: "graphite timestamp",
                unix_ms: (seconds * 1000.0) as i64,
            }
            .into());
        }
        seconds.trunc() as i64
    };
    let (name, tags) = path.split_once(';').unwrap_or((path, ""));
    limits::check_name("graphite path", name)?;
    if !tags.is_empty() {
        limits::check_tags(
            "graphite tags",
            tags.split(';')
                .filter(|tag| !tag.is_empty())
                .map(|tag| tag.split_once('=').unwrap_or((tag, ""))),
        )?;
    }
    Ok(GraphitePoint {
        path,
        value,
        timestamp_unix_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::test_errors::{nul, out_of_range};

    #[test]
    fn graphite_lines() {
        let now = 1_700_000_123;
        /// Path, value and timestamp of a parsed point.
        type Point = (&'static str, f64, i64);
        let cases: &[(&str, Result<Point, ParseError>)] = &[
            (
                "servers.a.load 1.5 1700000000",
                Ok(("servers.a.load", 1.5, 1_700_000_000)),
            ),
            (
                "  servers.a.load\t-2  1700000000.9 ",
                Ok(("servers.a.load", -2.0, 1_700_000_000)),
            ),
            ("a.b 3 -1", Ok(("a.b", 3.0, now))),
            (
                "disk.used;host=a 7 1700000000",
                Ok(("disk.used;host=a", 7.0, 1_700_000_000)),
            ),
            ("a.b 3", Err(ParseError::GraphiteFieldCount)),
            ("", Err(ParseError::GraphiteFieldCount)),
            ("a b 3 1700000000", Err(ParseError::GraphiteFieldCount)),
            ("a.b x 1700000000", Err(ParseError::InvalidValue)),
            ("a.b nan 1700000000", Err(ParseError::InvalidValue)),
            ("a.b 1 -2", Err(out_of_range("graphite timestamp", -2_000))),
            ("a.b 1 soon", Err(ParseError::InvalidTimestamp)),
            (
                "a.b 1 1e300",
                Err(out_of_range("graphite timestamp", i64::MAX)),
            ),
            (
                "a.b 1 1e14",
                Err(out_of_range("graphite timestamp", 100_000_000_000_000_000)),
            ),
            (
                "a.b 1 253402300799",
                Ok(("a.b", 1.0, limits::LATEST_UNIX_SECONDS)),
            ),
            (
                "a.b 1 253402300800",
                Err(out_of_range("graphite timestamp", 253_402_300_800_000)),
            ),
            ("a\0.b 1 -1", Err(nul("graphite path"))),
            ("a.b;k=\0 1 -1", Err(nul("graphite tags"))),
        ];
        for (line, expected) in cases {
            let parsed = parse_graphite_line(line.as_bytes(), now)
                .map(|point| (point.path, point.value, point.timestamp_unix_seconds));
            assert_eq!(parsed, *expected, "{line:?}");
        }
        assert_eq!(
            parse_graphite_line(b"a \xff 1", now),
            Err(ParseError::NotUtf8)
        );
    }
}
