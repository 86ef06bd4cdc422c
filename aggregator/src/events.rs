//! DogStatsD events and service checks as wire [`v1::Event`]s.
//!
//! The parser keeps an event's `d:` timestamp optional because it reads no clock; here the
//! receive time, read by the receive loop, stands in for a missing one, as the Datadog agent
//! does. Tags become the same sorted, de-duplicated `Tag` list series carry, so the storage
//! worker and the API treat an event's tags like a series' tags.

use crate::parse::{Event, EventAlertType, EventPriority};
use abacus_proto::v1::{self, event::Kind, Tag};

/// The wire form of a parsed event or service check received at `received_unix_ms`.
pub(crate) fn wire_event(event: &Event<'_>, received_unix_ms: i64) -> v1::Event {
    let timestamp_unix_ms = |seconds: Option<i64>| {
        seconds.map_or(received_unix_ms, |seconds| seconds.saturating_mul(1000))
    };
    match event {
        Event::Event(message) => v1::Event {
            kind: Kind::Event.into(),
            title: message.title.to_string(),
            text: message.text.to_string(),
            timestamp_unix_ms: timestamp_unix_ms(message.timestamp_unix_seconds),
            host: message.host.as_deref().unwrap_or_default().to_owned(),
            aggregation_key: message
                .aggregation_key
                .as_deref()
                .unwrap_or_default()
                .to_owned(),
            priority: match message.priority {
                EventPriority::Normal => "normal",
                EventPriority::Low => "low",
            }
            .to_owned(),
            source_type: message
                .source_type
                .as_deref()
                .unwrap_or_default()
                .to_owned(),
            alert_type: match message.alert_type {
                EventAlertType::Info => "info",
                EventAlertType::Success => "success",
                EventAlertType::Warning => "warning",
                EventAlertType::Error => "error",
            }
            .to_owned(),
            service_check_status: 0,
            tags: wire_tags(&message.tags),
        },
        Event::ServiceCheck(check) => v1::Event {
            kind: Kind::ServiceCheck.into(),
            title: check.name.to_string(),
            text: check.message.as_deref().unwrap_or_default().to_owned(),
            timestamp_unix_ms: timestamp_unix_ms(check.timestamp_unix_seconds),
            host: check.host.as_deref().unwrap_or_default().to_owned(),
            service_check_status: check.status as u32,
            tags: wire_tags(&check.tags),
            ..v1::Event::default()
        },
    }
}

/// A DogStatsD tag list (`k:v,flag`) as wire tags sorted by key then value, without
/// duplicates; flags get an empty value.
pub(crate) fn wire_tags(tag_list: &str) -> Vec<Tag> {
    let mut pairs: Vec<(&str, &str)> = tag_list
        .split(',')
        .filter(|tag| !tag.is_empty())
        .map(|tag| tag.split_once(':').unwrap_or((tag, "")))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
        .into_iter()
        .map(|(key, value)| Tag {
            key: key.to_owned(),
            value: value.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_line, Line};

    const RECEIVED_MS: i64 = 1_700_000_123_456;

    fn wire(line: &str) -> v1::Event {
        match parse_line(line.as_bytes()) {
            Ok(Line::Event(event)) => wire_event(&event, RECEIVED_MS),
            other => panic!("{line:?} is not an event: {other:?}"),
        }
    }

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn an_event_keeps_every_field_and_its_own_timestamp() {
        let event = wire(
            "_e{6,10}:deploy|v1\\nrolled|d:1700000000|h:web-1|k:rel-7|p:low|s:ci|t:success|#b:2,a,b:2",
        );
        assert_eq!(
            event,
            v1::Event {
                kind: Kind::Event.into(),
                title: "deploy".into(),
                text: "v1\nrolled".into(),
                timestamp_unix_ms: 1_700_000_000_000,
                host: "web-1".into(),
                aggregation_key: "rel-7".into(),
                priority: "low".into(),
                source_type: "ci".into(),
                alert_type: "success".into(),
                service_check_status: 0,
                tags: vec![tag("a", ""), tag("b", "2")],
            }
        );
    }

    #[test]
    fn an_event_without_a_timestamp_gets_the_receive_time_and_the_defaults() {
        let event = wire("_e{2,0}:hi|");
        assert_eq!(event.timestamp_unix_ms, RECEIVED_MS);
        assert_eq!(
            (event.priority.as_str(), event.alert_type.as_str()),
            ("normal", "info")
        );
        assert!(event.tags.is_empty() && event.host.is_empty());
    }

    #[test]
    fn a_service_check_carries_status_message_and_tags() {
        let check = wire("_sc|db.up|2|h:db-1|#env:prod|m:replica | lagging");
        assert_eq!(
            check,
            v1::Event {
                kind: Kind::ServiceCheck.into(),
                title: "db.up".into(),
                text: "replica | lagging".into(),
                timestamp_unix_ms: RECEIVED_MS,
                host: "db-1".into(),
                service_check_status: 2,
                tags: vec![tag("env", "prod")],
                ..v1::Event::default()
            }
        );
    }
}
