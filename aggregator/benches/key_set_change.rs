//! What it costs a series table when its key set changes: a window in which 10,000 new keys
//! replace the 10,000 of the window before (both live in that window; the old ones are
//! forgotten at its end), beside a window of the same 10,000 keys as the one before, the
//! baseline, in the same run (criterion). Each window records 5 samples of each key, as a
//! receive worker's shard does at 100k lines/s with one-second windows, and ends.
//!
//! A key set changes when senders restart with new names in their keys (a host or pod name,
//! a deploy's version), and in `tests/bench/aggregator.sh`, whose every run has its own key
//! prefix. `make bench-aggregator` runs it; `cargo bench -p abacus-aggregator --bench
//! key_set_change` alone works too.

use abacus_aggregator::series_table::SeriesTable;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const KEYS: usize = 10_000;
const SAMPLES_PER_KEY: usize = 5;
/// Key sets the changing case cycles through, so each window's keys are new to the table.
const KEY_SETS: usize = 4;

fn key_set(set: usize) -> Vec<String> {
    (0..KEYS)
        .map(|key| format!("bench.r{set}.k{key}"))
        .collect()
}

/// One window: every sample recorded, then the window ended keeping the touched series.
fn window(table: &mut SeriesTable<f64>, keys: &[String]) {
    for _ in 0..SAMPLES_PER_KEY {
        for key in keys {
            let hash = table.hash(key);
            *table.get_or_insert_with(hash, key, || 0.0) += 1.0;
        }
    }
    table.end_window(|_, count, touched| {
        black_box(std::mem::take(count));
        touched
    });
}

fn bench(criterion: &mut Criterion) {
    let key_sets: Vec<Vec<String>> = (0..KEY_SETS).map(key_set).collect();
    let mut group = criterion.benchmark_group("key_set_change");
    group.throughput(Throughput::Elements((KEYS * SAMPLES_PER_KEY) as u64));

    let mut table = SeriesTable::default();
    window(&mut table, &key_sets[0]);
    group.bench_function("window of the same 10,000 keys (baseline)", |bencher| {
        bencher.iter(|| window(&mut table, &key_sets[0]))
    });

    let mut table = SeriesTable::default();
    window(&mut table, &key_sets[0]);
    let mut next_set = 1;
    group.bench_function(
        "window of 10,000 new keys replacing the 10,000 before",
        |bencher| {
            bencher.iter(|| {
                window(&mut table, &key_sets[next_set]);
                next_set = (next_set + 1) % KEY_SETS;
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
