//! One datagram, as the receive loop handles it: every line through the statsd parser and into
//! the windows, and through the Graphite parser as a raw point; then every window is sealed and
//! its series encoded, as the publisher does. Any panic — in parsing, in aggregation (packed
//! values, rates, histograms, sketches, late `|T` windows) or in encoding — is a bug: a
//! malformed line must only ever be counted as bad.

#![no_main]

use abacus_aggregator::aggregate::AggregationSettings;
use abacus_aggregator::parse::{self, Line};
use abacus_aggregator::windows::Windows;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use std::time::Duration;

/// A fixed "now", so that a crash reproduces; `|T` timestamps around it reach late windows.
const NOW_MS: i64 = 1_795_000_000_000;

fuzz_target!(|packet: &[u8]| {
    let mut windows = Windows::new(
        AggregationSettings::default(),
        Duration::from_secs(10),
        Duration::from_secs(3600),
    );
    for line in parse::lines(packet) {
        match parse::parse_line(line) {
            Ok(Line::Metric(sample)) => {
                let _too_old = windows.record(&sample, NOW_MS);
            }
            Ok(Line::Event(event)) => {
                windows.current().record_event(&event, NOW_MS);
            }
            Err(error) => {
                // What the receive loop logs.
                let _ = error.to_string();
            }
        }
        if let Ok(point) = parse::parse_graphite_line(line, NOW_MS / 1000) {
            windows.record_point(&point);
        }
    }
    for (_window_start, series) in windows.take_late_windows() {
        for aggregate in series {
            aggregate.encode_to_vec();
        }
    }
    let points = windows.take_points();
    let current = windows.current();
    for aggregate in current.take_window(NOW_MS) {
        aggregate.encode_to_vec();
    }
    for event in current.take_events() {
        event.encode_to_vec();
    }
    for point in points {
        point.encode_to_vec();
    }
});
