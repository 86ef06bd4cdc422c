//! Parse + aggregate throughput, in lines per second on one core (criterion): what a UDP
//! receive worker does with each datagram, without the socket. Counter lines `bench.k<i>:1|c` over 100 and 100,000
//! keys that are already known to the window ("hot"), so what is measured is the steady state
//! of a busy aggregator: parse, look the series up, add. A tagged variant measures the cost of
//! canonicalizing DogStatsD tags, and a mixed one adds timers and gauges.
//!
//! In those cases the keys are created in the order they are then visited, so the series'
//! memory is walked front to back, which the CPU's prefetchers see through. The `shuffled`
//! case visits 100,000 keys created in order in a fixed pseudo-random order instead, as
//! traffic from many clients does: every lookup goes to an unpredictable place.
//!
//! `make bench-aggregator` runs it; `cargo bench -p abacus-aggregator --bench parse_aggregate`
//! alone works too.

mod workloads;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use workloads::{workload, Receiver, CASES, LINES};

/// `0..keys` in a fixed pseudo-random order (Fisher-Yates driven by xorshift64, seeded with
/// a constant so every run and every build measures the same order).
fn shuffled_keys(keys: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys).collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for index in (1..keys).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(index, (state % (index as u64 + 1)) as usize);
    }
    order
}

fn bench(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("parse_aggregate");
    group.throughput(Throughput::Elements(LINES as u64));
    for (name, keys, line) in CASES {
        let datagrams = workload(keys, line);
        // Warm the window with every key so the measurement is of hot keys only.
        let mut receiver = Receiver::default();
        assert_eq!(receiver.receive(&datagrams), LINES as u64);
        group.bench_function(name, |bencher| {
            bencher.iter_batched_ref(
                || (),
                |()| black_box(receiver.receive(black_box(&datagrams))),
                BatchSize::SmallInput,
            )
        });
    }
    // Created in key order, visited shuffled.
    let keys = 100_000;
    let created = workload(keys, |_, key| format!("bench.k{key}:1|c"));
    let order = shuffled_keys(keys);
    let visited = workload(keys, |_, key| format!("bench.k{}:1|c", order[key]));
    let mut receiver = Receiver::default();
    assert_eq!(receiver.receive(&created), LINES as u64);
    group.bench_function("counters_100k_keys_shuffled", |bencher| {
        bencher.iter_batched_ref(
            || (),
            |()| black_box(receiver.receive(black_box(&visited))),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
