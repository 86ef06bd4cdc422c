//! The line parsers: pure functions from the bytes of one line to what it means, with no
//! sockets, clocks or allocation for the common case. Names and tags borrow from the input.
//!
//! A datagram or a TCP chunk is split into lines by [`lines`] ([`datagram_lines`]). A line of
//! the statsd ports goes to [`parse_line`], which tells the three kinds apart by their first
//! bytes: a metric sample ([`statsd`]: etsy statsd's format with the DogStatsD extensions), or
//! a DogStatsD event or service check ([`dogstatsd_events`]). A line of the Graphite ports goes
//! to [`parse_graphite_line`] ([`graphite_plaintext`]). What they share lives here: the
//! [`Line`] a statsd-port line becomes and the [`ParseError`] that says why a line was refused;
//! beside them, splitting a line into its fields ([`line_fields`]) and reading numbers the way
//! etsy statsd accepts them ([`numbers`]).
//!
//! This is the aggregator's hot path (tens of millions of lines a second): the `#[inline]`,
//! `#[inline(always)]` and `#[inline(never)]` marks and the shapes of the loops are measured
//! choices (`cargo bench -p abacus-aggregator --bench parse_aggregate`); change them with the
//! benchmark, not by taste. Each file keeps its table-driven tests beside its code.

mod datagram_lines;
mod dogstatsd_events;
mod graphite_plaintext;
mod line_fields;
mod numbers;
mod statsd;

pub use datagram_lines::{lines, Lines};
pub use dogstatsd_events::{
    Event, EventAlertType, EventMessage, EventPriority, ServiceCheck, ServiceCheckStatus,
};
pub use graphite_plaintext::{parse_graphite_line, GraphitePoint};
pub use statsd::{sanitize_key, NumericValue, PackedValues, Sample, SampleValue, TimerKind};

use abacus_proto::limits::LimitError;
use dogstatsd_events::{parse_event, parse_service_check};
pub(crate) use statsd::parse_metric;

/// One parsed line: a metric sample or an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Line<'a> {
    Metric(Sample<'a>),
    Event(Event<'a>),
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
    #[error("timer, histogram and distribution values must not be negative")]
    NegativeTimerValue,
    #[error("sample rate must be '@' followed by a non-negative number")]
    InvalidSampleRate,
    #[error("sample rate must not be 0")]
    ZeroSampleRate,
    #[error("unknown field after the type")]
    UnknownField,
    #[error("a field appears twice")]
    DuplicateField,
    #[error("timestamp must be whole unix seconds")]
    InvalidTimestamp,
    #[error("a '|T' timestamp is only allowed on counters and gauges")]
    TimestampNotAllowed,
    #[error("event header must be '_e{{title_length,text_length}}'")]
    InvalidEventHeader,
    #[error("event title must not be empty")]
    EmptyEventTitle,
    #[error("event is shorter than its declared title and text lengths")]
    EventShorterThanDeclared,
    #[error("event title and text lengths do not end at a '|'")]
    EventLengthMismatch,
    #[error("event priority must be 'normal' or 'low'")]
    InvalidEventPriority,
    #[error("event alert type must be 'error', 'warning', 'info' or 'success'")]
    InvalidEventAlertType,
    #[error("service check must be '_sc|name|status'")]
    InvalidServiceCheck,
    #[error("service check name must not be empty")]
    EmptyServiceCheckName,
    #[error("service check status must be 0, 1, 2 or 3")]
    InvalidServiceCheckStatus,
    #[error("graphite line must be 'path value timestamp'")]
    GraphiteFieldCount,
    /// A name, tag, set member, event field or timestamp breaks one of the limits every record
    /// on the stream keeps (`abacus_proto::limits`).
    #[error(transparent)]
    OverLimit(#[from] LimitError),
}

/// Parses one line (without its newline): a metric, an event (`_e{`) or a service check
/// (`_sc|`). Never panics, whatever the bytes.
#[inline]
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, ParseError> {
    let line = utf8(line)?;
    // One byte decides the common case: a metric name rarely starts with `_`.
    if line.as_bytes().first() == Some(&b'_') {
        if line.starts_with("_e{") {
            return parse_event(line).map(|event| Line::Event(Event::Event(event)));
        }
        // `_sc|` rather than the agent's bare `_sc` prefix, so a metric named `_sc.x` stays a
        // metric.
        if let Some(body) = line.strip_prefix("_sc|") {
            return parse_service_check(body).map(|check| Line::Event(Event::ServiceCheck(check)));
        }
    }
    parse_metric(line).map(Line::Metric)
}

/// The line as a `str`: ASCII (what statsd clients send) is checked a word at a time, and
/// anything else by the full UTF-8 validation.
#[inline]
fn utf8(line: &[u8]) -> Result<&str, ParseError> {
    if line.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(line) });
    }
    std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parse_error_has_a_lowercase_message() {
        for error in [
            ParseError::NegativeTimerValue,
            ParseError::ZeroSampleRate,
            ParseError::EventLengthMismatch,
            ParseError::GraphiteFieldCount,
        ] {
            let message = error.to_string();
            assert_eq!(message, message.to_lowercase(), "{error:?}");
        }
    }
}

/// Errors the tests of several parsers expect.
#[cfg(test)]
mod test_errors {
    use super::ParseError;
    use abacus_proto::limits::LimitError;

    pub(super) fn nul(field: &'static str) -> ParseError {
        ParseError::OverLimit(LimitError::NulByte { field })
    }

    pub(super) fn out_of_range(field: &'static str, unix_ms: i64) -> ParseError {
        ParseError::OverLimit(LimitError::TimeOutOfRange { field, unix_ms })
    }
}
