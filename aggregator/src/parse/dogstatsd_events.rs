//! DogStatsD events and service checks, the two kinds of statsd-port line that are not
//! metrics:
//!
//! `_e{title_length,text_length}:title|text|d:ts|h:host|k:key|p:priority|s:source|t:alert|#tags`
//! and `_sc|name|status|d:ts|h:host|#tags|m:message`, parsed into an [`Event`]. Lengths are
//! validated as the Datadog agent does (non-negative integers, non-empty title, the line at
//! least as long as declared), plus two checks it leaves out: the header must end with `}` and
//! the declared lengths must end exactly at `|` separators, so a wrong length is reported
//! rather than silently cutting the text. `\n` escapes in title and text become newlines. A
//! service check's `m:` message runs to the end of the line, as the DogStatsD docs require it
//! to be last, so it may contain `|`.

use super::line_fields::{set_once, split_ascii, split_at_byte};
use super::numbers::parse_unix_seconds;
use super::ParseError;
use abacus_proto::limits::{self, LimitError};
use std::borrow::Cow;

/// A DogStatsD event or service check.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    Event(EventMessage<'a>),
    ServiceCheck(ServiceCheck<'a>),
}

/// `_e{...}`: a DogStatsD event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventMessage<'a> {
    pub title: Cow<'a, str>,
    pub text: Cow<'a, str>,
    /// `d:`, unix seconds; absent means "when received".
    pub timestamp_unix_seconds: Option<i64>,
    /// `h:`
    pub host: Option<Cow<'a, str>>,
    /// `k:`, groups related events.
    pub aggregation_key: Option<Cow<'a, str>>,
    /// `p:`, `normal` unless given.
    pub priority: EventPriority,
    /// `s:`
    pub source_type: Option<Cow<'a, str>>,
    /// `t:`, `info` unless given.
    pub alert_type: EventAlertType,
    /// The raw `#` tag list.
    pub tags: Cow<'a, str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventPriority {
    Normal,
    Low,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAlertType {
    Info,
    Success,
    Warning,
    Error,
}

/// `_sc|...`: a DogStatsD service check.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceCheck<'a> {
    pub name: Cow<'a, str>,
    pub status: ServiceCheckStatus,
    /// `d:`, unix seconds.
    pub timestamp_unix_seconds: Option<i64>,
    /// `h:`
    pub host: Option<Cow<'a, str>>,
    /// The raw `#` tag list.
    pub tags: Cow<'a, str>,
    /// `m:`, the rest of the line.
    pub message: Option<Cow<'a, str>>,
}

/// The DogStatsD service check statuses, with their wire numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceCheckStatus {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl Event<'_> {
    /// A copy that no longer borrows the datagram, to be kept past the receive buffer's reuse.
    pub fn into_owned(self) -> Event<'static> {
        fn own(text: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(text.into_owned())
        }
        match self {
            Event::Event(event) => Event::Event(EventMessage {
                title: own(event.title),
                text: own(event.text),
                timestamp_unix_seconds: event.timestamp_unix_seconds,
                host: event.host.map(own),
                aggregation_key: event.aggregation_key.map(own),
                priority: event.priority,
                source_type: event.source_type.map(own),
                alert_type: event.alert_type,
                tags: own(event.tags),
            }),
            Event::ServiceCheck(check) => Event::ServiceCheck(ServiceCheck {
                name: own(check.name),
                status: check.status,
                timestamp_unix_seconds: check.timestamp_unix_seconds,
                host: check.host.map(own),
                tags: own(check.tags),
                message: check.message.map(own),
            }),
        }
    }
}

pub(super) fn parse_event(line: &str) -> Result<EventMessage<'_>, ParseError> {
    let (header, body) = line.split_once(':').ok_or(ParseError::InvalidEventHeader)?;
    let lengths = header
        .strip_prefix("_e{")
        .and_then(|header| header.strip_suffix('}'))
        .ok_or(ParseError::InvalidEventHeader)?;
    let (raw_title_length, raw_text_length) = lengths
        .split_once(',')
        .ok_or(ParseError::InvalidEventHeader)?;
    let title_length = parse_length(raw_title_length)?;
    let text_length = parse_length(raw_text_length)?;
    if title_length == 0 {
        return Err(ParseError::EmptyEventTitle);
    }
    // Lengths are bytes, as in the agent. Checked arithmetic: the lengths are attacker-chosen.
    let text_start = title_length
        .checked_add(1)
        .ok_or(ParseError::EventShorterThanDeclared)?;
    let text_end = text_start
        .checked_add(text_length)
        .ok_or(ParseError::EventShorterThanDeclared)?;
    if body.len() < text_end {
        return Err(ParseError::EventShorterThanDeclared);
    }
    let title = body
        .get(..title_length)
        .ok_or(ParseError::EventLengthMismatch)?;
    if body.as_bytes().get(title_length) != Some(&b'|') {
        return Err(ParseError::EventLengthMismatch);
    }
    let text = body
        .get(text_start..text_end)
        .ok_or(ParseError::EventLengthMismatch)?;
    let optional_fields = match body.get(text_end..) {
        Some("") => None,
        Some(rest) => Some(
            rest.strip_prefix('|')
                .ok_or(ParseError::EventLengthMismatch)?,
        ),
        None => return Err(ParseError::EventLengthMismatch),
    };

    let mut event = EventMessage {
        title: unescape_newlines(title),
        text: unescape_newlines(text),
        timestamp_unix_seconds: None,
        host: None,
        aggregation_key: None,
        priority: EventPriority::Normal,
        source_type: None,
        alert_type: EventAlertType::Info,
        tags: Cow::Borrowed(""),
    };
    let (mut priority, mut alert_type, mut tags) = (None, None, None);
    for field in optional_fields
        .into_iter()
        .flat_map(|fields| fields.split('|'))
    {
        if let Some(seconds) = field.strip_prefix("d:") {
            set_once(
                &mut event.timestamp_unix_seconds,
                parse_unix_seconds(seconds)?,
            )?;
        } else if let Some(host) = field.strip_prefix("h:") {
            set_once(&mut event.host, Cow::Borrowed(host))?;
        } else if let Some(key) = field.strip_prefix("k:") {
            set_once(&mut event.aggregation_key, Cow::Borrowed(key))?;
        } else if let Some(raw_priority) = field.strip_prefix("p:") {
            let parsed = match raw_priority {
                "normal" => EventPriority::Normal,
                "low" => EventPriority::Low,
                _ => return Err(ParseError::InvalidEventPriority),
            };
            set_once(&mut priority, parsed)?;
        } else if let Some(source) = field.strip_prefix("s:") {
            set_once(&mut event.source_type, Cow::Borrowed(source))?;
        } else if let Some(raw_alert_type) = field.strip_prefix("t:") {
            let parsed = match raw_alert_type {
                "error" => EventAlertType::Error,
                "warning" => EventAlertType::Warning,
                "info" => EventAlertType::Info,
                "success" => EventAlertType::Success,
                _ => return Err(ParseError::InvalidEventAlertType),
            };
            set_once(&mut alert_type, parsed)?;
        } else if let Some(tag_list) = field.strip_prefix('#') {
            set_once(&mut tags, tag_list)?;
        } else if is_origin_detection_field(field) {
            // Accepted and ignored, as on metrics.
        } else {
            return Err(ParseError::UnknownField);
        }
    }
    event.priority = priority.unwrap_or(EventPriority::Normal);
    event.alert_type = alert_type.unwrap_or(EventAlertType::Info);
    event.tags = Cow::Borrowed(tags.unwrap_or_default());
    limits::check_text("event title", &event.title, limits::MAX_EVENT_TITLE_BYTES)?;
    limits::check_text("event text", &event.text, limits::MAX_EVENT_TEXT_BYTES)?;
    check_event_fields(
        event.timestamp_unix_seconds,
        [
            ("event host", event.host.as_deref()),
            ("event aggregation key", event.aggregation_key.as_deref()),
            ("event source type", event.source_type.as_deref()),
        ],
        &event.tags,
    )?;
    Ok(event)
}

/// The limits the fields an event and a service check share must keep: the `d:` time, the
/// short text fields (host, aggregation key, source type) and the `#` tags.
fn check_event_fields<const N: usize>(
    timestamp_unix_seconds: Option<i64>,
    short_fields: [(&'static str, Option<&str>); N],
    tags: &str,
) -> Result<(), LimitError> {
    if let Some(seconds) = timestamp_unix_seconds {
        limits::check_time_ms("event time (d:)", seconds.saturating_mul(1000))?;
    }
    for (field, text) in short_fields {
        limits::check_name(field, text.unwrap_or_default())?;
    }
    limits::check_tags(
        "event tags",
        split_ascii(tags, b',')
            .filter(|tag| !tag.is_empty())
            .map(|tag| split_at_byte(tag, b':').unwrap_or((tag, ""))),
    )
}

/// `body` is the line after `_sc|`.
pub(super) fn parse_service_check(body: &str) -> Result<ServiceCheck<'_>, ParseError> {
    let (name, rest) = body
        .split_once('|')
        .ok_or(ParseError::InvalidServiceCheck)?;
    if name.is_empty() {
        return Err(ParseError::EmptyServiceCheckName);
    }
    let (raw_status, mut optional_fields) = match rest.split_once('|') {
        Some((status, fields)) => (status, Some(fields)),
        None => (rest, None),
    };
    let status = match raw_status {
        "0" => ServiceCheckStatus::Ok,
        "1" => ServiceCheckStatus::Warning,
        "2" => ServiceCheckStatus::Critical,
        "3" => ServiceCheckStatus::Unknown,
        _ => return Err(ParseError::InvalidServiceCheckStatus),
    };
    let mut check = ServiceCheck {
        name: Cow::Borrowed(name),
        status,
        timestamp_unix_seconds: None,
        host: None,
        tags: Cow::Borrowed(""),
        message: None,
    };
    let mut tags = None;
    while let Some(fields) = optional_fields {
        if let Some(message) = fields.strip_prefix("m:") {
            // The message is the last field and may itself contain '|'.
            check.message = Some(Cow::Borrowed(message));
            break;
        }
        let (field, rest) = match fields.split_once('|') {
            Some((field, rest)) => (field, Some(rest)),
            None => (fields, None),
        };
        optional_fields = rest;
        if let Some(seconds) = field.strip_prefix("d:") {
            set_once(
                &mut check.timestamp_unix_seconds,
                parse_unix_seconds(seconds)?,
            )?;
        } else if let Some(host) = field.strip_prefix("h:") {
            set_once(&mut check.host, Cow::Borrowed(host))?;
        } else if let Some(tag_list) = field.strip_prefix('#') {
            set_once(&mut tags, tag_list)?;
        } else if is_origin_detection_field(field) {
            // Accepted and ignored, as on metrics.
        } else {
            return Err(ParseError::UnknownField);
        }
    }
    check.tags = Cow::Borrowed(tags.unwrap_or_default());
    limits::check_text(
        "service check name",
        &check.name,
        limits::MAX_EVENT_TITLE_BYTES,
    )?;
    limits::check_text(
        "service check message",
        check.message.as_deref().unwrap_or_default(),
        limits::MAX_EVENT_TEXT_BYTES,
    )?;
    check_event_fields(
        check.timestamp_unix_seconds,
        [("service check host", check.host.as_deref())],
        &check.tags,
    )?;
    Ok(check)
}

fn is_origin_detection_field(field: &str) -> bool {
    ["c:", "e:", "card:"]
        .iter()
        .any(|prefix| field.starts_with(prefix))
}

/// The agent turns the two characters `\n` into a newline in event titles and texts.
fn unescape_newlines(text: &str) -> Cow<'_, str> {
    if text.contains("\\n") {
        Cow::Owned(text.replace("\\n", "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

fn parse_length(text: &str) -> Result<usize, ParseError> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ParseError::InvalidEventHeader);
    }
    text.parse().map_err(|_| ParseError::InvalidEventHeader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::test_errors::{nul, out_of_range};
    use crate::parse::{parse_line, Line};

    /// Lines at and just past each limit: the largest allowed parses, one byte or tag more is
    /// refused with the limit named.
    #[test]
    fn event_lines_at_and_past_the_limits() {
        let long_title = "t".repeat(limits::MAX_EVENT_TITLE_BYTES + 1);
        let event = format!("_e{{{},1}}:{long_title}|x", long_title.len());
        assert!(matches!(
            parse_line(event.as_bytes()),
            Err(ParseError::OverLimit(LimitError::TooLong {
                field: "event title",
                ..
            }))
        ));
        let cases: &[(&[u8], ParseError)] = &[
            (b"_e{5,4}:ti\0le|text", nul("event title")),
            (b"_e{5,4}:title|te\0t", nul("event text")),
            (b"_e{5,4}:title|text|h:\0", nul("event host")),
            (b"_e{5,4}:title|text|#env:\0", nul("event tags")),
            (
                b"_e{5,4}:title|text|d:99999999999999",
                out_of_range("event time (d:)", 99_999_999_999_999_000),
            ),
            (b"_sc|na\0e|0", nul("service check name")),
            (b"_sc|name|0|m:\0", nul("service check message")),
            (
                b"_sc|name|0|d:99999999999999",
                out_of_range("event time (d:)", 99_999_999_999_999_000),
            ),
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

    fn event(line: &str) -> EventMessage<'_> {
        match parse_line(line.as_bytes()) {
            Ok(Line::Event(Event::Event(event))) => event,
            other => panic!("{line:?} should parse as an event, got {other:?}"),
        }
    }

    #[test]
    fn events_with_every_field() {
        let parsed = event(
            "_e{5,15}:title|text\\nwith|pipe|d:1700000000|h:web-1|k:deploy|p:low|s:jenkins|t:error|#env:prod,canary|c:abc",
        );
        assert_eq!(parsed.title, "title");
        assert_eq!(parsed.text, "text\nwith|pipe");
        assert_eq!(parsed.timestamp_unix_seconds, Some(1_700_000_000));
        assert_eq!(parsed.host.as_deref(), Some("web-1"));
        assert_eq!(parsed.aggregation_key.as_deref(), Some("deploy"));
        assert_eq!(parsed.priority, EventPriority::Low);
        assert_eq!(parsed.source_type.as_deref(), Some("jenkins"));
        assert_eq!(parsed.alert_type, EventAlertType::Error);
        assert_eq!(parsed.tags, "env:prod,canary");
    }

    #[test]
    fn events_default_to_normal_priority_and_info() {
        let parsed = event("_e{2,0}:hi|");
        assert_eq!((parsed.title.as_ref(), parsed.text.as_ref()), ("hi", ""));
        assert_eq!(parsed.priority, EventPriority::Normal);
        assert_eq!(parsed.alert_type, EventAlertType::Info);
        assert_eq!(parsed.tags, "");
        // Lengths count bytes, as in the agent: "é" is two.
        assert_eq!(event("_e{2,3}:é|a|b").text, "a|b");
    }

    #[test]
    fn malformed_events() {
        let cases: &[(&str, ParseError)] = &[
            ("_e{5,4}", ParseError::InvalidEventHeader),
            ("_e{5,4:title|text", ParseError::InvalidEventHeader),
            ("_e{}:a|b", ParseError::InvalidEventHeader),
            ("_e{5}:title|text", ParseError::InvalidEventHeader),
            ("_e{-1,4}:title|text", ParseError::InvalidEventHeader),
            ("_e{5,x}:title|text", ParseError::InvalidEventHeader),
            ("_e{0,4}:|text", ParseError::EmptyEventTitle),
            ("_e{5,5}:title|text", ParseError::EventShorterThanDeclared),
            ("_e{9,4}:title|text", ParseError::EventShorterThanDeclared),
            (
                "_e{18446744073709551615,1}:a|b",
                ParseError::EventShorterThanDeclared,
            ),
            (
                "_e{99999999999999999999999,1}:a|b",
                ParseError::InvalidEventHeader,
            ),
            ("_e{4,4}:title|text", ParseError::EventLengthMismatch),
            ("_e{5,3}:title|text", ParseError::EventLengthMismatch),
            ("_e{1,1}:é|a", ParseError::EventLengthMismatch),
            (
                "_e{5,4}:title|text|p:urgent",
                ParseError::InvalidEventPriority,
            ),
            (
                "_e{5,4}:title|text|t:fatal",
                ParseError::InvalidEventAlertType,
            ),
            ("_e{5,4}:title|text|d:soon", ParseError::InvalidTimestamp),
            ("_e{5,4}:title|text|x:1", ParseError::UnknownField),
            ("_e{5,4}:title|text|h:a|h:b", ParseError::DuplicateField),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_line(line.as_bytes()), Err(*expected), "{line:?}");
        }
    }

    fn service_check(line: &str) -> ServiceCheck<'_> {
        match parse_line(line.as_bytes()) {
            Ok(Line::Event(Event::ServiceCheck(check))) => check,
            other => panic!("{line:?} should parse as a service check, got {other:?}"),
        }
    }

    #[test]
    fn service_checks() {
        let parsed =
            service_check("_sc|db.up|2|d:1700000000|h:db-1|#env:prod|m:replica lag|10s|#not-a-tag");
        assert_eq!(parsed.name, "db.up");
        assert_eq!(parsed.status, ServiceCheckStatus::Critical);
        assert_eq!(parsed.timestamp_unix_seconds, Some(1_700_000_000));
        assert_eq!(parsed.host.as_deref(), Some("db-1"));
        assert_eq!(parsed.tags, "env:prod");
        assert_eq!(
            parsed.message.as_deref(),
            Some("replica lag|10s|#not-a-tag")
        );

        let minimal = service_check("_sc|x|0");
        assert_eq!(minimal.status, ServiceCheckStatus::Ok);
        assert_eq!(minimal.message, None);
        assert_eq!(service_check("_sc|x|3").status as u8, 3);
        // A metric whose name merely starts with `_sc` stays a metric.
        assert!(matches!(parse_line(b"_sc.x:1|c"), Ok(Line::Metric(_))));
    }

    #[test]
    fn malformed_service_checks() {
        let cases: &[(&str, ParseError)] = &[
            ("_sc|", ParseError::InvalidServiceCheck),
            ("_sc|name", ParseError::InvalidServiceCheck),
            ("_sc||0", ParseError::EmptyServiceCheckName),
            ("_sc|name|", ParseError::InvalidServiceCheckStatus),
            ("_sc|name|4", ParseError::InvalidServiceCheckStatus),
            ("_sc|name|ok", ParseError::InvalidServiceCheckStatus),
            ("_sc|name|0|d:x", ParseError::InvalidTimestamp),
            ("_sc|name|0|q:x", ParseError::UnknownField),
            ("_sc|name|0|#a|#b", ParseError::DuplicateField),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_line(line.as_bytes()), Err(*expected), "{line:?}");
        }
    }

    #[test]
    fn events_outlive_their_datagram_once_owned() {
        let owned = {
            let datagram = String::from("_e{1,1}:a|b|h:x");
            match parse_line(datagram.as_bytes()) {
                Ok(Line::Event(event)) => event.into_owned(),
                other => panic!("{other:?}"),
            }
        };
        let Event::Event(event) = owned else {
            panic!("expected an event");
        };
        assert_eq!(event.host.as_deref(), Some("x"));
    }
}
