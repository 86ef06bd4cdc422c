//! The parse + aggregate workloads shared by `parse_aggregate.rs` (criterion, lines per
//! second) and `parse_aggregate_instructions.rs` (callgrind, instructions per line), so the
//! two always measure the same lines the same way. Both run the lines through a receive
//! worker's own [`Intake`], datagram by datagram, so what they measure is the code a UDP
//! worker runs for every datagram it reads, only the socket left out.

use abacus_aggregator::aggregate::AggregationSettings;
use abacus_aggregator::intake::Intake;
use abacus_aggregator::stats::{Counter, SelfMetrics};
use abacus_aggregator::udp::DATAGRAMS_PER_CALL;
use abacus_aggregator::windows::Windows;
use std::sync::Arc;
use std::time::Duration;

/// Lines per measured pass: enough that per-pass overhead is noise.
pub const LINES: usize = 100_000;

/// Makes line number `index`, for key number `key`.
pub type LineFn = fn(usize, usize) -> String;

/// The named cases: how many distinct keys, and what a line looks like.
pub const CASES: [(&str, usize, LineFn); 5] = [
    ("counters_100_keys", 100, |_, key| {
        format!("bench.k{key}:1|c")
    }),
    ("counters_100k_keys", 100_000, |_, key| {
        format!("bench.k{key}:1|c")
    }),
    ("tagged_counters_100_keys", 100, |_, key| {
        format!("bench.k{key}:1|c|#region:eu,env:prod")
    }),
    ("tagged_counters_100k_keys", 100_000, |_, key| {
        format!("bench.k{key}:1|c|#region:eu,env:prod")
    }),
    // A third each of counters, timers and gauges.
    ("mixed_100k_keys", 100_000, |index, key| match index % 3 {
        0 => format!("bench.c{key}:1|c"),
        1 => format!("bench.t{key}:{}|ms", index % 1000),
        _ => format!("bench.g{key}:{index}|g"),
    }),
];

/// `LINES` lines cycling through `keys` keys, packed into datagrams of 10 to 30 lines (20 on
/// average) the way the end-to-end load generator (`statsd-load`) packs them.
pub fn workload(keys: usize, line: impl Fn(usize, usize) -> String) -> Vec<Vec<u8>> {
    let mut datagrams = Vec::new();
    let mut index = 0;
    while index < LINES {
        let count = (10 + datagrams.len() % 21).min(LINES - index);
        let mut datagram = Vec::with_capacity(count * 24);
        for _ in 0..count {
            if !datagram.is_empty() {
                datagram.push(b'\n');
            }
            datagram.extend_from_slice(line(index, index % keys).as_bytes());
            index += 1;
        }
        datagrams.push(datagram);
    }
    datagrams
}

/// What a UDP receive worker runs for each batch of datagrams it reads, without the socket:
/// its [`Intake`] splits, parses, counts and records every line into its windows.
pub struct Receiver {
    intake: Intake,
    metrics: Arc<SelfMetrics>,
}

impl Default for Receiver {
    fn default() -> Self {
        let metrics = Arc::new(SelfMetrics::default());
        let windows = Windows::new(
            AggregationSettings::default(),
            Duration::from_secs(10),
            Duration::from_secs(3600),
        );
        Self {
            intake: Intake::new(windows, metrics.clone()),
            metrics,
        }
    }
}

impl Receiver {
    /// Takes the datagrams as a receive worker does, [`DATAGRAMS_PER_CALL`] per receive call;
    /// returns how many lines were parsed as metrics (the intake's own `metrics_received`
    /// count).
    pub fn receive(&mut self, datagrams: &[Vec<u8>]) -> u64 {
        let before = self.metrics.counter(Counter::MetricsReceived);
        for call in datagrams.chunks(DATAGRAMS_PER_CALL) {
            self.intake
                .statsd_datagrams(call.iter().map(|datagram| (datagram.as_slice(), false)));
        }
        self.intake.publish_counts();
        self.metrics.counter(Counter::MetricsReceived) - before
    }
}
