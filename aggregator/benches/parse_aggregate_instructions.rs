//! Instructions per line of parse + aggregate, for valgrind's callgrind, which counts them
//! deterministically (a shared, noisy machine cannot distort the count, unlike a time). The
//! workloads are those of `parse_aggregate.rs`; every key is recorded once first (so all are
//! hot), then one measured pass over the same lines runs in [`measured_pass`], which callgrind
//! is told to count alone:
//!
//! ```sh
//! cargo bench -p abacus-aggregator --bench parse_aggregate_instructions --no-run
//! valgrind --tool=callgrind --toggle-collect='*measured_pass*' --callgrind-out-file=cg.out \
//!     target/release/deps/parse_aggregate_instructions-<hash> counters_100k_keys
//! callgrind_annotate cg.out | head   # total Ir / 100,000 lines = instructions per line
//! ```
//!
//! Not a criterion benchmark: `harness = false`, plain `main`, one case per run (the first
//! argument that names one; `cargo bench` adds `--bench`). Without valgrind it only prints how
//! many lines the pass recorded.

use abacus_aggregator::aggregate::{Aggregates, RECORD_BATCH};
use abacus_aggregator::parse::{lines, parse_line, Line};
use std::hint::black_box;

/// Lines per pass, as in `parse_aggregate.rs`.
const LINES: usize = 100_000;

fn workload(keys: usize, line: impl Fn(usize, usize) -> String) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(LINES * 24);
    for index in 0..LINES {
        buffer.extend_from_slice(line(index, index % keys).as_bytes());
        buffer.push(b'\n');
    }
    buffer
}

/// What the receive path does with a buffer of lines, as in `parse_aggregate.rs`.
fn parse_and_record(aggregates: &mut Aggregates, buffer: &[u8]) -> usize {
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

/// The pass callgrind counts (`--toggle-collect='*measured_pass*'`); never inlined, so it
/// has a symbol of its own.
#[inline(never)]
fn measured_pass(aggregates: &mut Aggregates, buffer: &[u8]) -> usize {
    parse_and_record(aggregates, buffer)
}

fn main() {
    type LineFn = fn(usize, usize) -> String;
    let cases: [(&str, usize, LineFn); 5] = [
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
        ("mixed_100k_keys", 100_000, |index, key| match index % 3 {
            0 => format!("bench.c{key}:1|c"),
            1 => format!("bench.t{key}:{}|ms", index % 1000),
            _ => format!("bench.g{key}:{index}|g"),
        }),
    ];
    let wanted = std::env::args()
        .skip(1)
        .find(|argument| !argument.starts_with("--"))
        .unwrap_or_else(|| "counters_100k_keys".to_owned());
    let Some((name, keys, line)) = cases.into_iter().find(|(name, ..)| *name == wanted) else {
        eprintln!("unknown case {wanted:?}");
        std::process::exit(2);
    };
    let buffer = workload(keys, line);
    let mut aggregates = Aggregates::default();
    assert_eq!(parse_and_record(&mut aggregates, &buffer), LINES);
    let recorded = measured_pass(&mut aggregates, black_box(&buffer));
    assert_eq!(recorded, LINES);
    println!("{name}: {recorded} lines in the measured pass");
    black_box(&aggregates);
}
