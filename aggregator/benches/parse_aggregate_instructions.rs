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

use std::hint::black_box;
use workloads::{workload, Receiver, CASES, LINES};

/// The pass callgrind counts (`--toggle-collect='*measured_pass*'`); never inlined, so it
/// has a symbol of its own.
#[inline(never)]
fn measured_pass(receiver: &mut Receiver, datagrams: &[Vec<u8>]) -> u64 {
    receiver.receive(datagrams)
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
    let datagrams = workload(keys, line);
    let mut receiver = Receiver::default();
    assert_eq!(receiver.receive(&datagrams), LINES as u64);
    let recorded = measured_pass(&mut receiver, black_box(&datagrams));
    assert_eq!(recorded, LINES as u64);
    println!("{name}: {recorded} lines in the measured pass");
    black_box(&receiver);
}
