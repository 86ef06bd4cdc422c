//! What the client compatibility tests compare: the batches an aggregator published, folded
//! into one readable value per series, so a test can state *every* series a client's traffic
//! must produce and nothing else.
//!
//! Shared by tests/tests/compat_cadence.rs and tests/tests/compat_clients.rs (`mod
//! compat_support;`); a directory module so cargo does not build it as a test of its own.

#![allow(dead_code)] // Each test binary uses a different part.

use abacus_proto::sketch::SetSketch;
use abacus_proto::v1::series_aggregate::Aggregate;
use abacus_proto::v1::{FlushBatch, Tag};
use abacus_tests::{BatchReader, PATIENCE};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The aggregator's own metrics are published in the same batches (under this prefix); they
/// say nothing about the client under test, so the comparison leaves them out.
const SELF_METRICS_PREFIX: &str = "abacus.aggregator.";

/// One series over all batches: counters summed, gauges at their last value, timers'
/// moments combined (plus the total count their histograms hold), sets' sketches unioned.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    Counter(f64),
    Gauge(f64),
    Timer {
        count: f64,
        sum: f64,
        min: f64,
        max: f64,
        /// Samples recorded in the hdrhistogram, weighted by 1 / sample rate.
        histogram_count: u64,
    },
    Set(u64),
}

impl Stored {
    /// A timer whose histogram holds exactly `count` samples.
    pub fn timer(count: f64, sum: f64, min: f64, max: f64) -> Self {
        Stored::Timer {
            count,
            sum,
            min,
            max,
            histogram_count: count as u64,
        }
    }
}

/// `name` or `name#k:v,flag` (tags as the batch carries them: sorted, flags without value).
pub fn series_key(name: &str, tags: &[Tag]) -> String {
    if tags.is_empty() {
        return name.to_owned();
    }
    let tags: Vec<String> = tags
        .iter()
        .map(|tag| match tag.value.as_str() {
            "" => tag.key.clone(),
            value => format!("{}:{value}", tag.key),
        })
        .collect();
    format!("{name}#{}", tags.join(","))
}

/// Folds every series of every batch into one [`Stored`] per series key. Batches are taken in
/// stream order, so the last gauge wins as it does in the store.
pub fn stored(batches: &[FlushBatch]) -> BTreeMap<String, Stored> {
    let mut sets: BTreeMap<String, SetSketch> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for series in batches.iter().flat_map(|batch| &batch.series) {
        if series.name.starts_with(SELF_METRICS_PREFIX) {
            continue;
        }
        let key = series_key(&series.name, &series.tags);
        match &series.aggregate {
            Some(Aggregate::Counter(counter)) => {
                let entry = out.entry(key).or_insert(Stored::Counter(0.0));
                if let Stored::Counter(total) = entry {
                    *total += counter.count;
                }
            }
            Some(Aggregate::Gauge(gauge)) => {
                out.insert(key, Stored::Gauge(gauge.value));
            }
            Some(Aggregate::Timer(timer)) => {
                let histogram_count = abacus_proto::histogram::decode(&timer.hdr_histogram)
                    .map(|histogram| histogram.len())
                    .unwrap_or(u64::MAX);
                let entry = out.entry(key).or_insert(Stored::Timer {
                    count: 0.0,
                    sum: 0.0,
                    min: f64::INFINITY,
                    max: f64::NEG_INFINITY,
                    histogram_count: 0,
                });
                if let Stored::Timer {
                    count,
                    sum,
                    min,
                    max,
                    histogram_count: total,
                } = entry
                {
                    *count += timer.count;
                    *sum += timer.sum;
                    *min = min.min(timer.min);
                    *max = max.max(timer.max);
                    *total = total.saturating_add(histogram_count);
                }
            }
            Some(Aggregate::Set(set)) => {
                let sketch = SetSketch::from_bytes(&set.sketch).expect("a valid set sketch");
                let union = sets.entry(key.clone()).or_default();
                union.merge(&sketch);
                out.insert(key, Stored::Set(union.cardinality()));
            }
            None => panic!("series {key} has no aggregate"),
        }
    }
    out
}

/// Reads batches until they fold into `expected` (or [`PATIENCE`] runs out) and returns the
/// last fold, for the caller to `assert_eq!` so a failure shows the whole difference.
pub async fn wait_for_stored(
    reader: &mut BatchReader,
    expected: &BTreeMap<String, Stored>,
) -> BTreeMap<String, Stored> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let folded = match reader.read_new().await {
            Ok(batches) => stored(batches),
            Err(_) => BTreeMap::new(),
        };
        if &folded == expected || Instant::now() >= deadline {
            return folded;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `[("a", x), …]` as a map, for readable expectations.
pub fn expect<const N: usize>(entries: [(&str, Stored); N]) -> BTreeMap<String, Stored> {
    entries
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}
