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

mod workloads;

use abacus_aggregator::aggregate::Aggregates;
use std::hint::black_box;
use workloads::{parse_and_record, workload, CASES, LINES};

/// The pass callgrind counts (`--toggle-collect='*measured_pass*'`); never inlined, so it
/// has a symbol of its own.
#[inline(never)]
fn measured_pass(aggregates: &mut Aggregates, buffer: &[u8]) -> usize {
    parse_and_record(aggregates, buffer)
}

fn main() {
    let wanted = std::env::args()
        .skip(1)
        .find(|argument| !argument.starts_with("--"))
        .unwrap_or_else(|| "counters_100k_keys".to_owned());
    let Some((name, keys, line)) = CASES.into_iter().find(|(name, ..)| *name == wanted) else {
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
