//! THE merge of timer summaries. A timer's interval is summarised by its exact moments
//! ([`TimerMoments`]: count, sum, sum of squares, min, max) and an hdrhistogram of its values
//! (see [`crate::histogram`] for the encoding). Summaries of the same timer are merged in three
//! places — the aggregator's receive workers at a window end, the storage worker's rollups and
//! the API's wide buckets — and all three merge through here, so a percentile read from a
//! rollup is the one the raw rows would give.
//!
//! * Moments add and extremes widen; they are exact whatever the histograms' precision.
//! * Histograms add at the finest precision among the inputs: adding a finer histogram into a
//!   coarser one first rebuilds the sum at the finer precision, so no input loses digits and
//!   the result does not depend on the order of the inputs.
//! * Adding never runs out of range: the sum auto-resizes, and should hdrhistogram refuse
//!   anyway, the values are recorded saturating rather than lost.

use crate::histogram::{self, hdrhistogram::Histogram, HistogramError};

/// The exact part of a timer's summary, with sample rates applied: `count` is Σ 1/rate, `sum`
/// Σ value/rate, `sum_of_squares` Σ value²/rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimerMoments {
    pub count: f64,
    pub sum: f64,
    pub sum_of_squares: f64,
    pub min: f64,
    pub max: f64,
}

impl TimerMoments {
    /// No values: counts 0, extremes at their identities so any value replaces them.
    pub const EMPTY: Self = Self {
        count: 0.0,
        sum: 0.0,
        sum_of_squares: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    /// Records one value seen with `weight` = 1 / sample rate.
    pub fn record(&mut self, value: f64, weight: f64) {
        self.count += weight;
        self.sum += value * weight;
        self.sum_of_squares += value * value * weight;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Adds the moments of another summary of the same timer.
    pub fn merge(&mut self, other: &Self) {
        self.count += other.count;
        self.sum += other.sum;
        self.sum_of_squares += other.sum_of_squares;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

impl Default for TimerMoments {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// Adds `addend` into `merged`, at the finer precision of the two.
pub fn add_histogram(merged: &mut Histogram<u64>, addend: &Histogram<u64>) {
    if addend.sigfig() > merged.sigfig() {
        if let Ok(mut finer) = histogram::new_histogram(addend.sigfig()) {
            add_saturating(&mut finer, merged);
            *merged = finer;
        }
    }
    add_saturating(merged, addend);
}

/// The sum of `histograms` at the finest precision among them; an empty histogram of the
/// default precision when there are none.
pub fn merge_histograms(histograms: &[Histogram<u64>]) -> Result<Histogram<u64>, HistogramError> {
    let significant_digits = histograms
        .iter()
        .map(Histogram::sigfig)
        .max()
        .unwrap_or(histogram::DEFAULT_SIGNIFICANT_DIGITS);
    let mut merged = histogram::new_histogram(significant_digits)?;
    for one in histograms {
        add_saturating(&mut merged, one);
    }
    Ok(merged)
}

fn add_saturating(merged: &mut Histogram<u64>, addend: &Histogram<u64>) {
    merged.auto(true);
    if merged.add(addend).is_err() {
        for value in addend.iter_recorded() {
            merged.saturating_record_n(value.value_iterated_to(), value.count_at_value());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram_of(significant_digits: u8, milliseconds: &[f64]) -> Histogram<u64> {
        let mut histogram = histogram::new_histogram(significant_digits).unwrap();
        for value in milliseconds {
            histogram::record_milliseconds(&mut histogram, *value, 1);
        }
        histogram
    }

    #[test]
    fn moments_add_and_extremes_widen() {
        let mut left = TimerMoments::EMPTY;
        left.record(100.0, 1.0);
        left.record(300.0, 1.0);
        let mut right = TimerMoments::EMPTY;
        right.record(50.0, 10.0);
        left.merge(&right);
        assert_eq!(
            left,
            TimerMoments {
                count: 12.0,
                sum: 900.0,
                sum_of_squares: 100_000.0 + 25_000.0,
                min: 50.0,
                max: 300.0,
            }
        );
        let mut empty = TimerMoments::EMPTY;
        empty.merge(&TimerMoments::EMPTY);
        assert_eq!(empty, TimerMoments::EMPTY);
    }

    #[test]
    fn histograms_merge_at_the_finest_precision_whatever_the_order() {
        // 1.2345 ms is 1234.5 recorded units: two significant digits cannot tell it from
        // 1.24 ms, five can.
        let coarse = histogram_of(2, &[1.0, 2.0]);
        let fine = histogram_of(5, &[1.2345]);
        let mut coarse_first = coarse.clone();
        add_histogram(&mut coarse_first, &fine);
        let mut fine_first = fine.clone();
        add_histogram(&mut fine_first, &coarse);
        for merged in [&coarse_first, &fine_first] {
            assert_eq!(merged.sigfig(), 5);
            assert_eq!(merged.len(), 3);
            assert_eq!(merged.value_at_quantile(0.5), fine.value_at_quantile(0.5));
        }
        let all = merge_histograms(&[coarse, fine.clone()]).unwrap();
        assert_eq!(all.sigfig(), 5);
        assert_eq!(all.len(), 3);
        assert_eq!(
            all.value_at_quantile(0.5),
            coarse_first.value_at_quantile(0.5)
        );
    }

    #[test]
    fn adding_grows_the_range_instead_of_failing() {
        let mut small = histogram::new_histogram(3).unwrap();
        histogram::record_milliseconds(&mut small, 1.0, 1);
        let huge = histogram_of(3, &[1e9]);
        add_histogram(&mut small, &huge);
        assert_eq!(small.len(), 2);
        assert_eq!(small.max(), huge.max());
        assert!(merge_histograms(&[]).unwrap().is_empty());
    }

    #[test]
    fn merged_histograms_answer_like_one_histogram_of_all_values() {
        let mut all = histogram::new_histogram(3).unwrap();
        let mut parts = Vec::new();
        for part in 0..4 {
            let mut histogram = histogram::new_histogram(3).unwrap();
            for value in 0..100 {
                let milliseconds = f64::from(part * 1_000 + value * 7);
                histogram::record_milliseconds(&mut histogram, milliseconds, 1);
                histogram::record_milliseconds(&mut all, milliseconds, 1);
            }
            parts.push(histogram);
        }
        let merged = merge_histograms(&parts).unwrap();
        for quantile in [0.5, 0.9, 0.99, 0.999] {
            assert_eq!(
                merged.value_at_quantile(quantile),
                all.value_at_quantile(quantile)
            );
        }
        assert_eq!(merged.len(), 400);
    }
}
