//! One receive call's datagrams, as a receive worker handles them: every line through the
//! statsd intake (parser, batched recording into the worker's shard), twice, then once a
//! datagram at a time, the shard merged into the receive loop's windows after each; every line through the Graphite parser as a raw point; then every window
//! is sealed (twice, the second time with nothing new) and its series encoded, as the publisher
//! does; the current window's batch, most of its series encoded as they were taken, must decode
//! to the same series as the same window taken as values and encoded by prost. Any panic — in parsing, in aggregation (packed
//! values, rates, histograms, sketches, late `|T` windows) or in encoding — is a bug: a
//! malformed line must only ever be counted as bad.

#![no_main]

use abacus_aggregator::aggregate::AggregationSettings;
use abacus_aggregator::flush::{BatchSequencer, WindowContents};
use abacus_aggregator::intake::Intake;
use abacus_aggregator::parse;
use abacus_aggregator::stats::SelfMetrics;
use abacus_aggregator::tcp::Protocol;
use abacus_aggregator::windows::Windows;
use abacus_proto::v1::{FlushBatch, SeriesAggregate};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use std::sync::Arc;
use std::time::Duration;

/// A fixed "now", so that a crash reproduces; `|T` timestamps around it reach late windows.
const NOW_MS: i64 = 1_795_000_000_000;

fn new_windows() -> Windows {
    Windows::new(
        AggregationSettings::default(),
        Duration::from_secs(10),
        Duration::from_secs(3600),
    )
}

/// The receive loop's windows after `packet` went through a worker's shard as described above.
fn received(packet: &[u8]) -> Windows {
    let mut shard = Intake::new(new_windows(), Arc::new(SelfMetrics::default()));
    shard.current_window_start_ms = NOW_MS;
    let mut windows = new_windows();
    // The input is one receive call's datagrams, split at 0xff bytes (never valid UTF-8, so
    // never inside a line that parses); every third is handled as one the kernel truncated.
    let datagrams = || {
        packet
            .split(|byte| *byte == 0xff)
            .enumerate()
            .map(|(index, datagram)| (datagram, index % 3 == 2))
    };
    // Twice: the second time the shard's series are already interned from the first.
    for _ in 0..2 {
        shard.statsd_datagrams(datagrams());
        windows.absorb(&mut shard.windows);
    }
    // And once a datagram at a time, as TCP chunks and Graphite datagrams go.
    for (datagram, truncated) in datagrams() {
        shard.datagram(Protocol::Statsd, datagram, truncated);
    }
    windows.absorb(&mut shard.windows);
    for line in parse::lines(packet) {
        if let Ok(point) = parse::parse_graphite_line(line, NOW_MS / 1000) {
            windows.record_point(&point, abacus_aggregator::windows::WhenFull::Drop);
        }
    }
    windows
}

/// Every series, each encoded on its own, sorted: the same series in any order compare equal
/// (and a NaN value equals itself).
fn sorted_encodings(series: &[SeriesAggregate]) -> Vec<Vec<u8>> {
    let mut encodings: Vec<Vec<u8>> = series.iter().map(Message::encode_to_vec).collect();
    encodings.sort();
    encodings
}

fuzz_target!(|packet: &[u8]| {
    let mut windows = received(packet);
    for (_window_start, series) in windows.take_late_windows() {
        for aggregate in series {
            aggregate.encode_to_vec();
        }
    }
    let points = windows.take_points();
    let current = windows.current();
    // The current window as the receive loop seals it (most series encoded as they are
    // taken), against the same window taken as values: one batch, the same series.
    let mut contents = WindowContents {
        events: current.take_events(),
        points,
        ..WindowContents::default()
    };
    current.take_window_for_batch(NOW_MS, &mut contents);
    let sealed =
        BatchSequencer::new("fuzz".into(), 1, Duration::from_secs(10)).seal(NOW_MS, contents);
    let decoded = FlushBatch::decode(sealed.encode().as_slice()).expect("a sealed batch decodes");
    let mut as_values = received(packet);
    let values = as_values.current().take_window(NOW_MS);
    assert_eq!(sorted_encodings(&decoded.series), sorted_encodings(&values));
    // A window with nothing new: idle series are forgotten, gauges kept.
    for aggregate in current.take_window(NOW_MS + 10_000) {
        aggregate.encode_to_vec();
    }
});
