//! Instructions per series of a window's end, for valgrind's callgrind (deterministic, where a
//! time on a shared machine is not). At a moderate rate with many keys the flush is a fixed
//! cost per series and per window that the lines of the window share, so it shows in the
//! end-to-end CPU per line (`tests/bench/aggregator.sh` flushes every second).
//!
//! Two receive-worker shards each record the same `SERIES` counters, and the window is ended
//! as the receive loop and the publisher end it: both shards are absorbed into the merged
//! windows, the merged window is taken, sealed into batches and each batch encoded. A first
//! window interns every key in the shards and in the merged windows (as a steady stream of the
//! same keys has them); the second is the one counted, in [`measured_flush`]:
//!
//! ```sh
//! cargo bench -p abacus-aggregator --bench flush_instructions --no-run
//! valgrind --tool=callgrind --toggle-collect='*measured_flush*' --callgrind-out-file=cg.out \
//!     target/release/deps/flush_instructions-<hash>
//! callgrind_annotate cg.out | head   # total Ir / 10,000 series = instructions per series
//! ```
//!
//! Not a criterion benchmark: `harness = false`, plain `main`. Without valgrind it only prints
//! what the measured window published.

use abacus_aggregator::aggregate::AggregationSettings;
use abacus_aggregator::flush::{BatchSequencer, WindowContents};
use abacus_aggregator::intake::Intake;
use abacus_aggregator::stats::SelfMetrics;
use abacus_aggregator::windows::Windows;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

/// Distinct counters, as in the end-to-end benchmark's larger key set.
const SERIES: usize = 10_000;
/// Lines each shard records per window: 100,000 lines/s over two workers, one-second windows.
const LINES_PER_SHARD: usize = 50_000;
/// NATS's default max payload.
const MAX_CONTENTS_BYTES: usize = 1 << 20;
const WINDOW_MS: i64 = 1_000;

fn new_windows() -> Windows {
    Windows::new(
        AggregationSettings::default(),
        Duration::from_millis(WINDOW_MS as u64),
        Duration::from_secs(3600),
    )
}

/// The lines of one window of one shard, 20 to a datagram.
fn datagrams() -> Vec<Vec<u8>> {
    let lines: Vec<String> = (0..LINES_PER_SHARD)
        .map(|index| format!("bench.r1.k{}:1|c", index % SERIES))
        .collect();
    lines
        .chunks(20)
        .map(|chunk| chunk.join("\n").into_bytes())
        .collect()
}

/// One window's end: what the bytes published add up to.
struct Published {
    batches: usize,
    series: usize,
    bytes: usize,
}

/// How the merged window becomes batches.
#[derive(Clone, Copy)]
enum Way {
    /// As the receive loop does: counters, timers and sets encoded as they are taken.
    EncodedAsTaken,
    /// The baseline: every series built as a `SeriesAggregate` value, then encoded by prost
    /// (as late windows still are, and as every window was before).
    ValuesThenEncoded,
}

/// Two receive workers' shards, the receive loop's merged windows and its sequencer.
struct Aggregator {
    shards: [Intake; 2],
    merged: Windows,
    sequencer: BatchSequencer,
    datagrams: Vec<Vec<u8>>,
}

impl Aggregator {
    fn new() -> Self {
        let metrics = Arc::new(SelfMetrics::default());
        Self {
            shards: [
                Intake::new(new_windows(), metrics.clone()),
                Intake::new(new_windows(), metrics),
            ],
            merged: new_windows(),
            sequencer: BatchSequencer::new("bench".into(), 1, Duration::from_secs(1)),
            datagrams: datagrams(),
        }
    }

    /// Both shards record a window's lines.
    fn record_window(shards: &mut [Intake], datagrams: &[Vec<u8>]) {
        for shard in shards.iter_mut() {
            shard.statsd_datagrams(
                datagrams
                    .iter()
                    .map(|datagram| (datagram.as_slice(), false)),
            );
        }
    }

    fn end_window(&mut self, window_start_ms: i64, way: Way) -> Published {
        for shard in self.shards.iter_mut() {
            self.merged.absorb(&mut shard.windows);
        }
        let mut contents = WindowContents::default();
        let current = self.merged.current();
        match way {
            Way::EncodedAsTaken => current.take_window_for_batch(window_start_ms, &mut contents),
            Way::ValuesThenEncoded => contents.series = current.take_window(window_start_ms),
        }
        let mut published = Published {
            batches: 0,
            series: 0,
            bytes: 0,
        };
        for (part, _encoded_len) in contents.split_to_fit(MAX_CONTENTS_BYTES) {
            let batch = self.sequencer.seal(window_start_ms, part);
            published.batches += 1;
            published.series += batch.series_count();
            published.bytes += black_box(batch.encode()).len();
        }
        published
    }
}

/// The window callgrind counts (`--toggle-collect='*measured_flush*'`); never inlined, so it
/// has a symbol of its own.
#[inline(never)]
fn measured_flush(aggregator: &mut Aggregator, window_start_ms: i64) -> Published {
    aggregator.end_window(window_start_ms, Way::EncodedAsTaken)
}

fn main() {
    if std::env::args().any(|argument| argument == "--time") {
        return time_windows();
    }
    let mut aggregator = Aggregator::new();
    Aggregator::record_window(&mut aggregator.shards, &aggregator.datagrams);
    let first = aggregator.end_window(0, Way::EncodedAsTaken);
    assert_eq!(first.series, SERIES);
    Aggregator::record_window(&mut aggregator.shards, &aggregator.datagrams);
    let measured = measured_flush(&mut aggregator, WINDOW_MS);
    assert_eq!(measured.series, SERIES);
    println!(
        "measured window: {} series in {} batch(es), {} bytes",
        measured.series, measured.batches, measured.bytes
    );
}

/// `--time`: the median time per series of a window's end over many windows, the receive
/// loop's way alternated with the baseline's ([`Way`]) so both meet the same noise, the shards
/// recorded on another thread (as receive workers record them on other cores) and the merged
/// windows left alone between flushes, so the caches are as the receive loop finds them.
fn time_windows() {
    const WINDOWS: usize = 120;
    let mut aggregator = Aggregator::new();
    let mut encoded_as_taken = Vec::with_capacity(WINDOWS / 2);
    let mut values_then_encoded = Vec::with_capacity(WINDOWS / 2);
    for window in 0..WINDOWS {
        std::thread::scope(|scope| {
            let Aggregator {
                shards, datagrams, ..
            } = &mut aggregator;
            scope.spawn(|| Aggregator::record_window(shards, datagrams));
        });
        let (way, times) = if window % 2 == 0 {
            (Way::EncodedAsTaken, &mut encoded_as_taken)
        } else {
            (Way::ValuesThenEncoded, &mut values_then_encoded)
        };
        let started = std::time::Instant::now();
        let published = aggregator.end_window(window as i64 * WINDOW_MS, way);
        let elapsed = started.elapsed();
        assert_eq!(published.series, SERIES);
        times.push(elapsed.as_nanos() as f64 / SERIES as f64);
    }
    let median = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let encoded_as_taken = median(&mut encoded_as_taken);
    let values_then_encoded = median(&mut values_then_encoded);
    println!(
        "window end of {SERIES} series from two shards, median over {} windows each: \
         {encoded_as_taken:.0} ns per series encoded as taken, {values_then_encoded:.0} ns as \
         values then encoded (baseline): {:.2}x",
        WINDOWS / 2,
        values_then_encoded / encoded_as_taken
    );
}
