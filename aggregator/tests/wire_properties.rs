//! Property tests of what the aggregator puts on the wire: set sketches and timer histograms
//! decode without panicking whatever the bytes, round-trip, and merge as unions; aggregation
//! of generated lines matches a direct computation.

use abacus_aggregator::aggregate::Aggregates;
use abacus_aggregator::parse::{parse_line, Line};
use abacus_proto::histogram;
use abacus_proto::sketch::{SetSketch, EXACT_MEMBER_LIMIT};
use abacus_proto::v1::series_aggregate::Aggregate;
use proptest::prelude::*;
use std::collections::BTreeSet;

fn sketch_of(members: &BTreeSet<String>) -> SetSketch {
    let mut sketch = SetSketch::new();
    for member in members {
        sketch.insert(member.as_bytes());
    }
    sketch
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = SetSketch::from_bytes(&bytes);
        let _ = histogram::decode(&bytes);
    }

    #[test]
    fn sketch_shaped_bytes_never_panic(
        kind in 0u8..4,
        precision in 0u8..24,
        rest in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = vec![1, kind, precision];
        bytes.extend(rest);
        if let Ok(sketch) = SetSketch::from_bytes(&bytes) {
            // Whatever decoded must be usable: merged, counted and written again.
            let mut merged = SetSketch::new();
            merged.insert(b"x");
            merged.merge(&sketch);
            let _ = merged.cardinality();
            prop_assert!(SetSketch::from_bytes(&sketch.to_bytes()).is_ok());
        }
    }

    #[test]
    fn small_sketches_are_exact_and_merge_as_unions(
        left in prop::collection::btree_set("[a-z0-9]{1,6}", 0..100),
        right in prop::collection::btree_set("[a-z0-9]{1,6}", 0..100),
    ) {
        let union: BTreeSet<String> = left.union(&right).cloned().collect();
        prop_assume!(union.len() <= EXACT_MEMBER_LIMIT);
        let mut merged = sketch_of(&left);
        merged.merge(&sketch_of(&right));
        prop_assert_eq!(merged.cardinality(), union.len() as u64);
        let decoded = SetSketch::from_bytes(&merged.to_bytes());
        prop_assert_eq!(decoded, Ok(merged));
    }

    #[test]
    fn timer_histograms_round_trip_with_every_sample(
        values in prop::collection::vec(0.0..1e5f64, 1..50),
        significant_digits in 1u8..=5,
    ) {
        let mut recorded = histogram::new_histogram(significant_digits)
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        for value in &values {
            histogram::record_milliseconds(&mut recorded, *value, 1);
        }
        let bytes = histogram::encode(&recorded)
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        let decoded = histogram::decode(&bytes)
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        prop_assert_eq!(decoded.len(), values.len() as u64);
        let largest = values.iter().cloned().fold(0.0, f64::max);
        let decoded_max = histogram::milliseconds_from_recorded(decoded.max());
        // Within the histogram's precision (plus the 0.001 ms recording resolution).
        let tolerance = largest * 10f64.powi(-i32::from(significant_digits)) + 0.001;
        prop_assert!((decoded_max - largest).abs() <= tolerance, "{} vs {}", decoded_max, largest);
    }

    #[test]
    fn counters_aggregate_to_the_sum_of_value_over_rate(
        samples in prop::collection::vec((-1000i32..1000, prop_oneof![Just(1.0), Just(0.5), Just(0.1)]), 1..40),
    ) {
        let mut aggregates = Aggregates::default();
        let mut expected = 0.0;
        for (value, rate) in &samples {
            let line = format!("hits:{value}|c|@{rate}");
            let Ok(Line::Metric(sample)) = parse_line(line.as_bytes()) else {
                return Err(TestCaseError::fail(format!("{line:?} did not parse")));
            };
            aggregates.record(&sample);
            expected += f64::from(*value) / rate;
        }
        let series = aggregates.take_window(0);
        prop_assert_eq!(series.len(), 1);
        let Some(Aggregate::Counter(counter)) = &series[0].aggregate else {
            return Err(TestCaseError::fail("not a counter"));
        };
        prop_assert!((counter.count - expected).abs() < 1e-6 * expected.abs().max(1.0));
    }
}
