//! The statsd line parser: a pure function from bytes to a [`Sample`], with no sockets, clocks
//! or allocation. Names and tags borrow from the input.
//!
//! A line is `name:value|type[|@sample_rate][|#tag,key:value]`. This slice understands counters
//! (`c`) and gauges (`g`, where a leading `+` or `-` marks a delta, as in etsy statsd).

use std::borrow::Cow;

/// One parsed statsd line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The metric name, sanitized the way etsy statsd does it.
    pub name: Cow<'a, str>,
    /// The raw DogStatsD tag list (`k:v,flag`), unsorted; empty when the line has none.
    pub tags: &'a str,
    pub value: SampleValue,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SampleValue {
    /// Add `value / sample_rate` to the counter.
    Counter { value: f64, sample_rate: f64 },
    /// Set the gauge to `value`, or add `value` to it when `is_delta` and the gauge exists.
    Gauge { value: f64, is_delta: bool },
}

/// Why a line was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("line is not valid utf-8")]
    NotUtf8,
    #[error("missing ':' between name and value")]
    MissingValue,
    #[error("empty metric name")]
    EmptyName,
    #[error("missing '|type'")]
    MissingType,
    #[error("unknown metric type")]
    UnknownType,
    #[error("value is not a number")]
    InvalidValue,
    #[error("sample rate must be '@' followed by a non-negative number")]
    InvalidSampleRate,
    #[error("unknown field after the type")]
    UnknownField,
    #[error("a sample rate is only allowed on counters")]
    SampleRateNotAllowed,
}

/// Parses one line (without its newline).
pub fn parse_line(line: &[u8]) -> Result<Sample<'_>, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
    let (raw_name, rest) = line.split_once(':').ok_or(ParseError::MissingValue)?;
    let name = sanitize_key(raw_name);
    if name.is_empty() {
        return Err(ParseError::EmptyName);
    }
    let mut fields = rest.split('|');
    let raw_value = fields.next().unwrap_or_default();
    let metric_type = fields.next().ok_or(ParseError::MissingType)?;

    let mut sample_rate = None;
    let mut tags = "";
    for field in fields {
        if let Some(rate) = field.strip_prefix('@') {
            sample_rate = Some(parse_sample_rate(rate)?);
        } else if let Some(tag_list) = field.strip_prefix('#') {
            tags = tag_list;
        } else {
            return Err(ParseError::UnknownField);
        }
    }

    let value = match metric_type {
        "c" => SampleValue::Counter {
            value: parse_number(raw_value)?,
            sample_rate: sample_rate.unwrap_or(1.0),
        },
        "g" => {
            if sample_rate.is_some() {
                return Err(ParseError::SampleRateNotAllowed);
            }
            SampleValue::Gauge {
                value: parse_number(raw_value)?,
                is_delta: raw_value.starts_with(['+', '-']),
            }
        }
        "" => return Err(ParseError::MissingType),
        _ => return Err(ParseError::UnknownType),
    };
    Ok(Sample { name, tags, value })
}

/// Splits a datagram into lines, skipping empty ones (statsd clients often end with `\n`).
pub fn lines(datagram: &[u8]) -> impl Iterator<Item = &[u8]> {
    datagram
        .split(|byte| *byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
}

/// Sanitizes a key exactly like etsy statsd: runs of whitespace become `_`, `/` becomes `-`,
/// and any character outside `[A-Za-z0-9_.;=-]` is dropped. Borrows when nothing changes.
pub fn sanitize_key(key: &str) -> Cow<'_, str> {
    let is_kept = |character: char| {
        character.is_ascii_alphanumeric() || matches!(character, '_' | '-' | '.' | ';' | '=')
    };
    if key.chars().all(is_kept) {
        return Cow::Borrowed(key);
    }
    let mut sanitized = String::with_capacity(key.len());
    let mut previous_was_whitespace = false;
    for character in key.chars() {
        if character.is_whitespace() {
            if !previous_was_whitespace {
                sanitized.push('_');
            }
            previous_was_whitespace = true;
            continue;
        }
        previous_was_whitespace = false;
        if character == '/' {
            sanitized.push('-');
        } else if is_kept(character) {
            sanitized.push(character);
        }
    }
    Cow::Owned(sanitized)
}

/// A number as etsy statsd accepts it: an optional sign, digits with an optional fraction, and
/// an optional exponent. `NaN`, `inf` and hex, which Rust's parser would take, are refused.
fn parse_number(text: &str) -> Result<f64, ParseError> {
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

fn parse_sample_rate(text: &str) -> Result<f64, ParseError> {
    if text.starts_with(['+', '-']) {
        return Err(ParseError::InvalidSampleRate);
    }
    let rate = parse_number(text).map_err(|_| ParseError::InvalidSampleRate)?;
    // A rate of 0 would make every sample infinitely heavy; etsy accepts it but it is
    // meaningless, so it is refused here rather than poisoning the counter.
    if rate <= 0.0 {
        return Err(ParseError::InvalidSampleRate);
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(value: f64, sample_rate: f64) -> SampleValue {
        SampleValue::Counter { value, sample_rate }
    }

    fn gauge(value: f64, is_delta: bool) -> SampleValue {
        SampleValue::Gauge { value, is_delta }
    }

    #[test]
    fn well_formed_lines() {
        let cases: &[(&str, &str, &str, SampleValue)] = &[
            ("deploys:1|c", "deploys", "", counter(1.0, 1.0)),
            ("a:1|c|@0.1", "a", "", counter(1.0, 0.1)),
            ("a:1|c|@.2", "a", "", counter(1.0, 0.2)),
            ("a:1|c|@2e-1", "a", "", counter(1.0, 0.2)),
            ("a:-4|c", "a", "", counter(-4.0, 1.0)),
            ("a.b-c_d:2.5|c", "a.b-c_d", "", counter(2.5, 1.0)),
            ("temp:50|g", "temp", "", gauge(50.0, false)),
            ("temp:-3|g", "temp", "", gauge(-3.0, true)),
            ("temp:+3|g", "temp", "", gauge(3.0, true)),
            ("temp:1e3|g", "temp", "", gauge(1000.0, false)),
            (
                "req:1|c|#env:prod,canary",
                "req",
                "env:prod,canary",
                counter(1.0, 1.0),
            ),
            (
                "req:1|c|@0.5|#env:prod",
                "req",
                "env:prod",
                counter(1.0, 0.5),
            ),
            ("my key/x:1|c", "my_key-x", "", counter(1.0, 1.0)),
            ("a\t \tb:1|c", "a_b", "", counter(1.0, 1.0)),
            ("a$%b:1|c", "ab", "", counter(1.0, 1.0)),
            ("name;env=prod:1|c", "name;env=prod", "", counter(1.0, 1.0)),
        ];
        for (line, name, tags, value) in cases {
            let sample = parse_line(line.as_bytes()).unwrap_or_else(|error| {
                panic!("{line:?} should parse but failed with {error}");
            });
            assert_eq!(sample.name, *name, "name of {line:?}");
            assert_eq!(sample.tags, *tags, "tags of {line:?}");
            assert_eq!(sample.value, *value, "value of {line:?}");
        }
    }

    #[test]
    fn malformed_lines() {
        let cases: &[(&[u8], ParseError)] = &[
            (b"deploys", ParseError::MissingValue),
            (b"deploys:1", ParseError::MissingType),
            (b"deploys:1|", ParseError::MissingType),
            (b":1|c", ParseError::EmptyName),
            (b"$$:1|c", ParseError::EmptyName),
            (b"a:1|x", ParseError::UnknownType),
            (b"a:abc|c", ParseError::InvalidValue),
            (b"a:|c", ParseError::InvalidValue),
            (b"a:NaN|g", ParseError::InvalidValue),
            (b"a:inf|c", ParseError::InvalidValue),
            (b"a:0x10|c", ParseError::InvalidValue),
            (b"a:1|c|@", ParseError::InvalidSampleRate),
            (b"a:1|c|@-1", ParseError::InvalidSampleRate),
            (b"a:1|c|@.1.", ParseError::InvalidSampleRate),
            (b"a:1|c|@0", ParseError::InvalidSampleRate),
            (b"a:1|c|foo", ParseError::UnknownField),
            (b"a:1|g|@0.5", ParseError::SampleRateNotAllowed),
            (b"a:\xff|c", ParseError::NotUtf8),
        ];
        for (line, expected) in cases {
            assert_eq!(
                parse_line(line),
                Err(*expected),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn datagrams_split_into_non_empty_lines() {
        let datagram = b"a:1|c\n\nb:2|g\r\nc:3|c\n";
        let lines: Vec<&[u8]> = lines(datagram).collect();
        assert_eq!(lines, vec![&b"a:1|c"[..], b"b:2|g", b"c:3|c"]);
    }

    #[test]
    fn a_clean_key_is_borrowed_not_copied() {
        assert!(matches!(sanitize_key("api.requests"), Cow::Borrowed(_)));
        assert!(matches!(sanitize_key("api requests"), Cow::Owned(_)));
    }
}
