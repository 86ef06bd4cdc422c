//! The parse + aggregate workloads shared by `parse_aggregate.rs` (criterion, lines per
//! second) and `parse_aggregate_instructions.rs` (callgrind, instructions per line), so the
//! two always measure the same lines the same way.

use abacus_aggregator::aggregate::{Aggregates, RECORD_BATCH};
use abacus_aggregator::parse::{lines, parse_line, Line};

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

/// One buffer of `LINES` newline-separated lines, cycling through `keys` keys.
pub fn workload(keys: usize, line: impl Fn(usize, usize) -> String) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(LINES * 24);
    for index in 0..LINES {
        buffer.extend_from_slice(line(index, index % keys).as_bytes());
        buffer.push(b'\n');
    }
    buffer
}

/// Parses every line of `buffer` and records it, a batch of samples at a time as the receive
/// path (`intake`) does; returns how many were recorded.
pub fn parse_and_record(aggregates: &mut Aggregates, buffer: &[u8]) -> usize {
    let mut recorded = 0;
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    for line in lines(buffer) {
        if let Ok(Line::Metric(sample)) = parse_line(line) {
            batch.push(sample);
            if batch.len() == RECORD_BATCH {
                aggregates.record_batch(&batch);
                batch.clear();
            }
            recorded += 1;
        }
    }
    aggregates.record_batch(&batch);
    recorded
}
