//! Property tests of the line parsers: no input makes them panic, and well-formed lines built
//! from generated values parse back to exactly those values.

use abacus_aggregator::parse::{
    lines, parse_graphite_line, parse_line, sanitize_key, Event, Line, ParseError, SampleValue,
    TimerKind,
};
use proptest::prelude::*;

/// Characters that steer the metric parser into its deeper branches, so random strings reach
/// packed values, fields, events and service checks instead of stopping at the first ':'.
const PROTOCOL_HEAVY: &str = "[a-z0-9_;=:|@#.,T{}ecsmdhgp+ -]{0,60}";

fn metric_name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_.-]{0,24}"
}

fn finite_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e6..1e6f64,
        (-1_000_000i64..1_000_000).prop_map(|whole| whole as f64),
        any::<f64>().prop_filter("finite", |value| value.is_finite()),
    ]
}

fn dogstatsd_tags() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z][a-z0-9_]{0,8}(:[a-z0-9_./-]{0,8})?", 0..4)
        .prop_map(|tags| tags.join(","))
}

/// The metric types whose values are numbers, with whether they must be non-negative.
fn numeric_type() -> impl Strategy<Value = (&'static str, bool)> {
    prop_oneof![
        Just(("c", false)),
        Just(("g", false)),
        Just(("ms", true)),
        Just(("h", true)),
        Just(("d", true)),
    ]
}

/// Formats a value the way a client would: Rust's `Display` for f64 is the shortest text that
/// parses back to the same bits, so equality after parsing is exact.
fn format_values(values: &[f64]) -> String {
    values
        .iter()
        .map(|value| value.to_string())
        .collect::<Vec<_>>()
        .join(":")
}

proptest! {
    /// The parser's single pass over a key (end, etsy tags, whether it is clean) names the
    /// same series as splitting the key at its first `;` and sanitizing both halves.
    #[test]
    fn keys_are_split_and_sanitized_as_etsy_does(key in "[a-zA-Z0-9_.;=/ \t!é-]{0,20}") {
        let line = format!("{key}:1|c");
        let (raw_name, raw_name_tags) = key.split_once(';').unwrap_or((&key, ""));
        let expected_name = sanitize_key(raw_name);
        match parse_line(line.as_bytes()) {
            Ok(Line::Metric(sample)) => {
                prop_assert_eq!(&sample.name, &expected_name);
                prop_assert_eq!(&sample.name_tags, &sanitize_key(raw_name_tags));
            }
            Ok(Line::Event(_)) => return Err(TestCaseError::fail("parsed as an event")),
            Err(error) => {
                prop_assert_eq!(error, ParseError::EmptyName);
                prop_assert!(expected_name.is_empty());
            }
        }
    }

    /// `lines` splits at `\n`, drops one trailing `\r` and skips empty lines.
    #[test]
    fn datagrams_split_into_lines_like_a_plain_split(datagram in "[ab\r\n]{0,30}") {
        let expected: Vec<&[u8]> = datagram
            .as_bytes()
            .split(|byte| *byte == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.is_empty())
            .collect();
        prop_assert_eq!(lines(datagram.as_bytes()).collect::<Vec<_>>(), expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_line(&bytes);
        let _ = parse_graphite_line(&bytes, 1_700_000_000);
    }

    #[test]
    fn protocol_shaped_strings_never_panic(line in PROTOCOL_HEAVY, now in any::<i64>()) {
        let _ = parse_line(line.as_bytes());
        let _ = parse_line(format!("_e{{{line}").as_bytes());
        let _ = parse_line(format!("_sc|{line}").as_bytes());
        let _ = parse_graphite_line(line.as_bytes(), now);
    }

    #[test]
    fn event_headers_with_any_lengths_never_panic(
        title_length in any::<u64>(),
        text_length in any::<u64>(),
        body in "[a-zé|:#]{0,30}",
    ) {
        let line = format!("_e{{{title_length},{text_length}}}:{body}");
        let _ = parse_line(line.as_bytes());
    }

    #[test]
    fn numeric_metric_lines_round_trip(
        name in metric_name(),
        (metric_type, non_negative) in numeric_type(),
        values in prop::collection::vec(finite_value(), 1..5),
        sample_rate in prop::option::of(0.001..=1.0f64),
        tags in dogstatsd_tags(),
        timestamp in prop::option::of(0i64..4_000_000_000),
    ) {
        let values: Vec<f64> = if non_negative {
            values.into_iter().map(f64::abs).collect()
        } else {
            values
        };
        let timestamp = timestamp.filter(|_| matches!(metric_type, "c" | "g"));
        let mut line = format!("{name}:{}|{metric_type}", format_values(&values));
        if let Some(rate) = sample_rate {
            line.push_str(&format!("|@{rate}"));
        }
        if !tags.is_empty() {
            line.push_str(&format!("|#{tags}"));
        }
        if let Some(seconds) = timestamp {
            line.push_str(&format!("|T{seconds}"));
        }

        let Ok(Line::Metric(sample)) = parse_line(line.as_bytes()) else {
            return Err(TestCaseError::fail(format!("{line:?} did not parse as a metric")));
        };
        prop_assert_eq!(sample.name.as_ref(), name.as_str());
        prop_assert_eq!(sample.tags, tags.as_str());
        prop_assert_eq!(sample.timestamp_unix_seconds, timestamp);
        let (parsed_values, parsed_rate) = match sample.value {
            SampleValue::Counter { values, sample_rate } => {
                prop_assert_eq!(metric_type, "c");
                (values, sample_rate)
            }
            SampleValue::Gauge { values } => {
                prop_assert_eq!(metric_type, "g");
                (values, 1.0)
            }
            SampleValue::Timer { kind, values, sample_rate } => {
                let expected_kind = match metric_type {
                    "ms" => TimerKind::Timer,
                    "h" => TimerKind::Histogram,
                    _ => TimerKind::Distribution,
                };
                prop_assert_eq!(kind, expected_kind);
                (values, sample_rate)
            }
            SampleValue::Set { .. } => return Err(TestCaseError::fail("parsed as a set")),
        };
        let parsed: Vec<f64> = parsed_values.iter().map(|number| number.value).collect();
        prop_assert_eq!(parsed, values.clone());
        let deltas: Vec<bool> = parsed_values.iter().map(|number| number.is_delta).collect();
        let expected_deltas: Vec<bool> =
            values.iter().map(|value| value.is_sign_negative()).collect();
        prop_assert_eq!(deltas, expected_deltas);
        if metric_type != "g" {
            prop_assert_eq!(parsed_rate, sample_rate.unwrap_or(1.0));
        }
    }

    #[test]
    fn set_lines_round_trip(
        name in metric_name(),
        member in "[a-zA-Z0-9:._@-]{1,30}",
        tags in dogstatsd_tags(),
    ) {
        let mut line = format!("{name}:{member}|s");
        if !tags.is_empty() {
            line.push_str(&format!("|#{tags}"));
        }
        let Ok(Line::Metric(sample)) = parse_line(line.as_bytes()) else {
            return Err(TestCaseError::fail(format!("{line:?} did not parse as a metric")));
        };
        prop_assert_eq!(sample.name.as_ref(), name.as_str());
        prop_assert_eq!(sample.value, SampleValue::Set { member: member.as_str() });
        prop_assert_eq!(sample.tags, tags.as_str());
    }

    #[test]
    fn etsy_name_tags_join_the_dogstatsd_tags(
        name in metric_name(),
        name_tags in prop::collection::vec(("[a-z][a-z0-9]{0,6}", "[a-z0-9]{1,6}"), 1..4),
    ) {
        let etsy: Vec<String> = name_tags.iter().map(|(key, value)| format!("{key}={value}")).collect();
        let line = format!("{name};{}:1|c", etsy.join(";"));
        let Ok(Line::Metric(sample)) = parse_line(line.as_bytes()) else {
            return Err(TestCaseError::fail(format!("{line:?} did not parse as a metric")));
        };
        prop_assert_eq!(sample.name.as_ref(), name.as_str());
        let pairs: Vec<(String, String)> = sample
            .tag_pairs()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        prop_assert_eq!(pairs, name_tags);
    }

    #[test]
    fn events_round_trip(
        // Any text but a backslash (the `\n` escape), a newline or a NUL byte (refused).
        title in "[^\\\\\n\u{0}]{1,20}",
        text in "[^\\\\\n\u{0}]{0,40}",
        host in "[a-z0-9.-]{1,12}",
        tags in dogstatsd_tags(),
    ) {
        let line = format!(
            "_e{{{},{}}}:{title}|{text}|h:{host}|#{tags}",
            title.len(),
            text.len()
        );
        let Ok(Line::Event(Event::Event(event))) = parse_line(line.as_bytes()) else {
            return Err(TestCaseError::fail(format!("{line:?} did not parse as an event")));
        };
        prop_assert_eq!(event.title.as_ref(), title.as_str());
        prop_assert_eq!(event.text.as_ref(), text.as_str());
        prop_assert_eq!(event.host.as_deref(), Some(host.as_str()));
        prop_assert_eq!(event.tags.as_ref(), tags.as_str());
    }

    #[test]
    fn graphite_lines_round_trip(
        path in "[a-zA-Z0-9_.;=-]{1,40}",
        value in finite_value(),
        timestamp in 0i64..4_000_000_000,
    ) {
        let line = format!("{path} {value} {timestamp}");
        let point = parse_graphite_line(line.as_bytes(), 0);
        prop_assert!(point.is_ok(), "{:?}: {:?}", line, point);
        let point = point.unwrap_or_else(|_| unreachable!());
        prop_assert_eq!(point.path, path.as_str());
        prop_assert_eq!(point.value, value);
        prop_assert_eq!(point.timestamp_unix_seconds, timestamp);
    }
}
