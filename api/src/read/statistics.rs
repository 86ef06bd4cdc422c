//! The values shown for one interval of a timer or a set, computed from the stored rows of that
//! interval merged together: several aggregators, restarts and late batches all leave rows for
//! the same interval, and the interval's statistics are those of their union.
//!
//! Timer statistics follow etsy statsd's definitions. The moments (count, sum, sum of squares,
//! min, max) are exact; the order statistics (median and the percentile-threshold fields) come
//! from the merged hdrhistogram, so they are exact to its precision (0.1% at the default three
//! significant digits) — and, unlike statsd + Graphite, they are true percentiles of the whole
//! interval rather than averages of per-flush percentiles. For a threshold P etsy takes the
//! `k = round(P / 100 × n)` smallest values: `upper_P` is the k-th, `sum_P` their sum, `mean_P`
//! their mean and `count_P` is k.

use crate::names::namespace::TimerField;
use abacus_proto::histogram::{self, hdrhistogram::Histogram};
use abacus_proto::sketch::SetSketch;
use abacus_proto::timer::{self, TimerMoments};

/// Why stored bytes could not be read; such a row is skipped and logged, never fatal.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoredValueError {
    #[error("stored histogram is unreadable: {0}")]
    Histogram(String),
    #[error("stored set sketch is unreadable: {0}")]
    Sketch(String),
}

/// One stored timer row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct TimerRow {
    pub count: f64,
    pub sum: f64,
    pub sum_of_squares: f64,
    pub min: f64,
    pub max: f64,
    pub histogram: Vec<u8>,
}

/// The union of the timer rows of one interval.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerInterval {
    moments: TimerMoments,
    histogram: Option<Histogram<u64>>,
}

impl TimerInterval {
    /// Adds one stored row. The moments are added even if the histogram cannot be read, so
    /// the exact fields stay right; the error is returned for the caller to log.
    pub(crate) fn merge_row(&mut self, row: &TimerRow) -> Result<(), StoredValueError> {
        self.moments.merge(&TimerMoments {
            count: row.count,
            sum: row.sum,
            sum_of_squares: row.sum_of_squares,
            min: row.min,
            max: row.max,
        });
        let decoded = histogram::decode(&row.histogram)
            .map_err(|error| StoredValueError::Histogram(error.to_string()))?;
        match &mut self.histogram {
            None => self.histogram = Some(decoded),
            Some(merged) => timer::add_histogram(merged, &decoded),
        }
        Ok(())
    }

    /// The value of `field` for this interval, `None` where etsy would send nothing.
    pub(crate) fn field(&self, field: TimerField, interval_seconds: f64) -> Option<f64> {
        if self.moments.count <= 0.0 {
            return match field {
                TimerField::Count => Some(0.0),
                TimerField::CountPerSecond => Some(0.0),
                _ => None,
            };
        }
        let mean = self.moments.sum / self.moments.count;
        match field {
            TimerField::Count => Some(self.moments.count),
            TimerField::CountPerSecond => Some(self.moments.count / interval_seconds),
            TimerField::Lower => Some(self.moments.min),
            TimerField::Upper => Some(self.moments.max),
            TimerField::Mean => Some(mean),
            TimerField::Sum => Some(self.moments.sum),
            TimerField::SumOfSquares => Some(self.moments.sum_of_squares),
            TimerField::StandardDeviation => Some(
                (self.moments.sum_of_squares / self.moments.count - mean * mean)
                    .max(0.0)
                    .sqrt(),
            ),
            TimerField::Median => self.median(),
            TimerField::UpperPercentile(percentile) => self
                .threshold(percentile.0)
                .map(|threshold| threshold.upper),
            TimerField::SumPercentile(percentile) => {
                self.threshold(percentile.0).map(|threshold| threshold.sum)
            }
            TimerField::SumOfSquaresPercentile(percentile) => self
                .threshold(percentile.0)
                .map(|threshold| threshold.sum_of_squares),
            TimerField::MeanPercentile(percentile) => self
                .threshold(percentile.0)
                .map(|threshold| threshold.sum / threshold.count as f64),
            TimerField::CountPercentile(percentile) => self
                .threshold(percentile.0)
                .map(|threshold| threshold.count as f64),
        }
    }

    /// etsy's median: the middle value, or the mean of the two middle values.
    fn median(&self) -> Option<f64> {
        let histogram = self.histogram.as_ref()?;
        let recorded = histogram.len();
        if recorded == 0 {
            return None;
        }
        if recorded % 2 == 1 {
            return Some(self.smallest(recorded.div_ceil(2))?.upper);
        }
        let lower_middle = self.smallest(recorded / 2)?.upper;
        let upper_middle = self.smallest(recorded / 2 + 1)?.upper;
        Some((lower_middle + upper_middle) / 2.0)
    }

    fn threshold(&self, percentile: f64) -> Option<Threshold> {
        let recorded = self.histogram.as_ref()?.len();
        let in_threshold = (percentile / 100.0 * recorded as f64).round() as u64;
        if in_threshold == 0 {
            return None;
        }
        self.smallest(in_threshold)
    }

    /// The `k` smallest recorded values: the largest of them, their sum and the sum of their
    /// squares, each value taken at the middle of its histogram bucket.
    fn smallest(&self, k: u64) -> Option<Threshold> {
        let histogram = self.histogram.as_ref()?;
        let mut taken = 0u64;
        let (mut sum, mut sum_of_squares) = (0.0, 0.0);
        for bucket in histogram.iter_recorded() {
            let value = histogram::milliseconds_from_recorded(
                histogram.median_equivalent(bucket.value_iterated_to()),
            );
            let take = bucket.count_at_value().min(k - taken);
            sum += value * take as f64;
            sum_of_squares += value * value * take as f64;
            taken += take;
            if taken == k {
                return Some(Threshold {
                    upper: value,
                    sum,
                    sum_of_squares,
                    count: k,
                });
            }
        }
        None
    }
}

struct Threshold {
    upper: f64,
    sum: f64,
    sum_of_squares: f64,
    count: u64,
}

/// The union of the set sketches of one interval.
#[derive(Debug, Clone, Default)]
pub(crate) struct SetInterval {
    sketch: SetSketch,
}

impl SetInterval {
    pub(crate) fn merge_bytes(&mut self, bytes: &[u8]) -> Result<(), StoredValueError> {
        let sketch = SetSketch::from_bytes(bytes)
            .map_err(|error| StoredValueError::Sketch(error.to_string()))?;
        self.sketch.merge(&sketch);
        Ok(())
    }

    pub(crate) fn cardinality(&self) -> f64 {
        self.sketch.cardinality() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::namespace::Percentile;

    fn timer_row(values: &[f64]) -> TimerRow {
        let mut recorded = histogram::new_histogram(histogram::DEFAULT_SIGNIFICANT_DIGITS).unwrap();
        for &value in values {
            histogram::record_milliseconds(&mut recorded, value, 1);
        }
        TimerRow {
            count: values.len() as f64,
            sum: values.iter().sum(),
            sum_of_squares: values.iter().map(|value| value * value).sum(),
            min: values.iter().cloned().fold(f64::INFINITY, f64::min),
            max: values.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            histogram: histogram::encode(&recorded).unwrap(),
        }
    }

    fn interval(rows: &[&[f64]]) -> TimerInterval {
        let mut interval = TimerInterval::default();
        for row in rows {
            interval.merge_row(&timer_row(row)).unwrap();
        }
        interval
    }

    fn assert_close(actual: Option<f64>, expected: f64, what: &str) {
        let actual = actual.unwrap_or_else(|| panic!("{what}: no value"));
        // Order statistics are exact to the histogram's 0.1%; the moments are exact.
        assert!(
            (actual - expected).abs() <= expected.abs() * 1e-3 + 1e-9,
            "{what}: {actual} is not {expected}"
        );
    }

    #[test]
    fn etsy_golden_values_for_100_200_300() {
        let timer = interval(&[&[100.0, 200.0, 300.0]]);
        let p = |value| Percentile(value);
        let cases = [
            (TimerField::Count, 3.0),
            (TimerField::CountPerSecond, 0.3),
            (TimerField::Lower, 100.0),
            (TimerField::Upper, 300.0),
            (TimerField::Mean, 200.0),
            (TimerField::Median, 200.0),
            (TimerField::StandardDeviation, 81.6497),
            (TimerField::Sum, 600.0),
            (TimerField::SumOfSquares, 140_000.0),
            (TimerField::UpperPercentile(p(90.0)), 300.0),
            (TimerField::SumPercentile(p(90.0)), 600.0),
            // 100² + 200² + 300², as etsy's sum_squares_90.
            (TimerField::SumOfSquaresPercentile(p(90.0)), 140_000.0),
            (TimerField::MeanPercentile(p(90.0)), 200.0),
            (TimerField::CountPercentile(p(90.0)), 3.0),
            (TimerField::UpperPercentile(p(50.0)), 200.0),
            (TimerField::SumPercentile(p(50.0)), 300.0),
            (TimerField::SumOfSquaresPercentile(p(50.0)), 50_000.0),
            (TimerField::MeanPercentile(p(50.0)), 150.0),
            (TimerField::CountPercentile(p(50.0)), 2.0),
        ];
        for (field, expected) in cases {
            assert_close(timer.field(field, 10.0), expected, &format!("{field:?}"));
        }
        // round(0.1 × 3) = 0: etsy sends nothing for such a threshold.
        assert_eq!(
            timer.field(TimerField::UpperPercentile(p(10.0)), 10.0),
            None
        );
    }

    #[test]
    fn rows_of_one_interval_merge_into_the_statistics_of_their_union() {
        let merged = interval(&[&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0, 9.0, 10.0]]);
        let whole = interval(&[&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]]);
        for field in [
            TimerField::Count,
            TimerField::Mean,
            TimerField::Median,
            TimerField::StandardDeviation,
            TimerField::Lower,
            TimerField::Upper,
            TimerField::UpperPercentile(Percentile(90.0)),
            TimerField::MeanPercentile(Percentile(90.0)),
        ] {
            assert_close(
                merged.field(field, 10.0),
                whole.field(field, 10.0).unwrap(),
                &format!("{field:?}"),
            );
        }
        assert_close(merged.field(TimerField::Median, 10.0), 5.5, "even median");
        assert_close(
            merged.field(TimerField::UpperPercentile(Percentile(90.0)), 10.0),
            9.0,
            "upper_90",
        );
    }

    #[test]
    fn an_empty_interval_counts_zero_and_shows_nothing_else() {
        let empty = TimerInterval::default();
        assert_eq!(empty.field(TimerField::Count, 10.0), Some(0.0));
        assert_eq!(empty.field(TimerField::Mean, 10.0), None);
        assert_eq!(
            empty.field(TimerField::UpperPercentile(Percentile(90.0)), 10.0),
            None
        );
    }

    #[test]
    fn an_unreadable_histogram_keeps_the_exact_moments() {
        let mut timer = TimerInterval::default();
        let mut row = timer_row(&[10.0, 20.0]);
        row.histogram = vec![1, 2, 3];
        assert!(timer.merge_row(&row).is_err());
        assert_close(timer.field(TimerField::Mean, 10.0), 15.0, "mean");
        assert_eq!(timer.field(TimerField::Median, 10.0), None);
    }

    #[test]
    fn set_intervals_union_their_sketches() {
        let sketch = |members: &[&str]| {
            let mut sketch = SetSketch::new();
            for member in members {
                sketch.insert(member.as_bytes());
            }
            sketch.to_bytes()
        };
        let mut users = SetInterval::default();
        users.merge_bytes(&sketch(&["alice", "bob"])).unwrap();
        users.merge_bytes(&sketch(&["bob", "carol"])).unwrap();
        assert_eq!(users.cardinality(), 3.0);
        assert!(users.merge_bytes(&[0xff]).is_err());
    }
}
