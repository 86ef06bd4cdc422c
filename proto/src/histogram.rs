//! THE encoding contract of `TimerAggregate.hdr_histogram`: how a timer, histogram or
//! distribution value in milliseconds becomes an integer in an hdrhistogram, and how that
//! histogram becomes bytes.
//!
//! The aggregator records with these helpers; the storage worker and the API decode and merge
//! with them. Changing anything here changes the meaning of every stored histogram, so it needs a
//! new schema version, not an edit.
//!
//! # The contract
//!
//! * **Scale.** A value of `v` milliseconds is recorded as the integer
//!   `round(v × RECORDED_UNITS_PER_MILLISECOND)`, i.e. in microseconds: statsd timers are
//!   milliseconds with at most a few fractional digits in practice, and three decimal places keep
//!   them all while staying an integer, which hdrhistogram requires. Convert back with
//!   [`milliseconds_from_recorded`].
//! * **Range.** Recorded values are clamped to `0..=HIGHEST_RECORDED_VALUE` (about 101 days).
//!   hdrhistogram's memory grows with the logarithm of the largest value it holds, so one absurd
//!   value (`x:1e300|ms`) must not make a series' histogram huge. The exact `min`, `max`, `sum`
//!   and `sum_of_squares` of `TimerAggregate` are not clamped; only the histogram buckets are.
//! * **Precision.** The histogram keeps `significant_digits` decimal digits (1..=5, default 3:
//!   every percentile is within 0.1% of the true value). Histograms of different precisions
//!   can still be added together by hdrhistogram; the result has the receiver's precision.
//! * **Counts.** A sample with sample rate `r` is recorded `max(1, round(1 / r))` times (capped at
//!   [`HIGHEST_SAMPLE_WEIGHT`]), so percentiles weigh sampled series correctly; the exact
//!   `TimerAggregate.count` keeps the unrounded Σ 1/r.
//! * **Bytes.** hdrhistogram's "V2 + DEFLATE" serialization (cookie `0x1c849314`), the format
//!   every HdrHistogram implementation (Java, Go, C, Rust) reads. Its integer-to-double ratio
//!   field is always 1.0: the scale above is this contract's, not the format's.

use hdrhistogram::serialization::{
    Deserializer, Serializer, V2DeflateSerializeError, V2DeflateSerializer,
};
use hdrhistogram::Histogram;
use std::ops::RangeInclusive;

pub use hdrhistogram;

/// How many recorded units make one millisecond: values are recorded in microseconds.
pub const RECORDED_UNITS_PER_MILLISECOND: f64 = 1_000.0;

/// The largest recorded value, 2^43 µs ≈ 101.8 days; larger values are recorded as this.
pub const HIGHEST_RECORDED_VALUE: u64 = 1 << 43;

/// The largest number of times one sample is recorded, whatever its sample rate. Keeps the
/// histogram's counts far below `i64::MAX`, which the V2 format cannot encode.
pub const HIGHEST_SAMPLE_WEIGHT: u64 = u32::MAX as u64;

/// The precision used when the configuration says nothing.
pub const DEFAULT_SIGNIFICANT_DIGITS: u8 = 3;

/// The precisions accepted: hdrhistogram supports 0..=5, and 0 is too coarse to be useful.
pub const SIGNIFICANT_DIGITS_RANGE: RangeInclusive<u8> = 1..=5;

/// Why a histogram could not be created, encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    #[error("histogram precision must be 1 to 5 significant digits, got {0}")]
    InvalidSignificantDigits(u8),
    #[error("cannot encode the histogram: {0}")]
    Encode(#[from] V2DeflateSerializeError),
    #[error("cannot decode the histogram: {0}")]
    Decode(#[from] hdrhistogram::serialization::DeserializeError),
    #[error("the histogram bytes continue after the encoded histogram")]
    TrailingBytes,
}

/// An empty, auto-resizing histogram of the given precision. It starts tiny and grows only up
/// to the largest value actually recorded (at most [`HIGHEST_RECORDED_VALUE`]).
pub fn new_histogram(significant_digits: u8) -> Result<Histogram<u64>, HistogramError> {
    if !SIGNIFICANT_DIGITS_RANGE.contains(&significant_digits) {
        return Err(HistogramError::InvalidSignificantDigits(significant_digits));
    }
    Histogram::new(significant_digits)
        .map_err(|_| HistogramError::InvalidSignificantDigits(significant_digits))
}

/// The integer recorded for `milliseconds`. Negative values and NaN become 0 (the parser refuses
/// them, this only keeps the function total); huge values become [`HIGHEST_RECORDED_VALUE`].
pub fn recorded_from_milliseconds(milliseconds: f64) -> u64 {
    let scaled = (milliseconds * RECORDED_UNITS_PER_MILLISECOND).round();
    if scaled.is_nan() || scaled <= 0.0 {
        return 0;
    }
    // `as` saturates for floats above u64::MAX, then the clamp applies the contract's range.
    (scaled as u64).min(HIGHEST_RECORDED_VALUE)
}

/// The milliseconds a recorded integer stands for.
pub fn milliseconds_from_recorded(recorded: u64) -> f64 {
    recorded as f64 / RECORDED_UNITS_PER_MILLISECOND
}

/// How many times a sample with `sample_rate` is recorded: `round(1 / sample_rate)`, at least 1
/// (a rate above 1 still saw the sample once) and at most [`HIGHEST_SAMPLE_WEIGHT`].
pub fn sample_weight(sample_rate: f64) -> u64 {
    let weight = (1.0 / sample_rate).round();
    if weight.is_nan() || weight < 1.0 {
        return 1;
    }
    (weight as u64).min(HIGHEST_SAMPLE_WEIGHT)
}

/// Records `milliseconds` `weight` times, following the contract's scale and range.
pub fn record_milliseconds(histogram: &mut Histogram<u64>, milliseconds: f64, weight: u64) {
    let recorded = recorded_from_milliseconds(milliseconds);
    // With auto-resize on and the value within HIGHEST_RECORDED_VALUE this cannot fail; should
    // it ever, clamping to the current range is better than losing the sample.
    if histogram.record_n(recorded, weight).is_err() {
        histogram.saturating_record_n(recorded, weight);
    }
}

/// The V2 + DEFLATE bytes of `histogram`.
pub fn encode(histogram: &Histogram<u64>) -> Result<Vec<u8>, HistogramError> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new().serialize(histogram, &mut bytes)?;
    Ok(bytes)
}

/// Decodes bytes written by [`encode`] (or any V2 / V2 + DEFLATE HdrHistogram encoder).
pub fn decode(bytes: &[u8]) -> Result<Histogram<u64>, HistogramError> {
    let mut reader = bytes;
    let histogram = Deserializer::new().deserialize(&mut reader)?;
    if !reader.is_empty() {
        return Err(HistogramError::TrailingBytes);
    }
    Ok(histogram)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_are_recorded_as_microseconds_within_range() {
        assert_eq!(recorded_from_milliseconds(1.0), 1_000);
        assert_eq!(recorded_from_milliseconds(0.0015), 2);
        assert_eq!(recorded_from_milliseconds(0.0004), 0);
        assert_eq!(recorded_from_milliseconds(-5.0), 0);
        assert_eq!(recorded_from_milliseconds(f64::NAN), 0);
        assert_eq!(recorded_from_milliseconds(1e300), HIGHEST_RECORDED_VALUE);
        assert_eq!(milliseconds_from_recorded(123_456), 123.456);
    }

    #[test]
    fn sample_weights_round_and_stay_at_least_one() {
        assert_eq!(sample_weight(1.0), 1);
        assert_eq!(sample_weight(0.1), 10);
        assert_eq!(sample_weight(0.3), 3);
        assert_eq!(sample_weight(2.0), 1);
        assert_eq!(sample_weight(1e-300), HIGHEST_SAMPLE_WEIGHT);
    }

    #[test]
    fn precision_outside_one_to_five_is_refused() {
        assert!(new_histogram(0).is_err());
        assert!(new_histogram(6).is_err());
        assert!(new_histogram(DEFAULT_SIGNIFICANT_DIGITS).is_ok());
    }

    #[test]
    fn a_histogram_survives_encoding_and_decoding() {
        let mut histogram = new_histogram(3).unwrap();
        for milliseconds in [0.5, 100.0, 200.0, 300.0, 86_400_000.0] {
            record_milliseconds(&mut histogram, milliseconds, 2);
        }
        let bytes = encode(&histogram).unwrap();
        assert_eq!(
            &bytes[..4],
            &[0x1c, 0x84, 0x93, 0x14],
            "V2 + DEFLATE cookie"
        );
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded, histogram);
        assert_eq!(decoded.len(), 10);
        let median = milliseconds_from_recorded(decoded.value_at_quantile(0.5));
        assert!((median - 200.0).abs() <= 0.2, "median {median}");
    }

    #[test]
    fn garbage_and_trailing_bytes_are_refused() {
        assert!(decode(b"").is_err());
        assert!(decode(b"not a histogram").is_err());
        let mut bytes = encode(&new_histogram(3).unwrap()).unwrap();
        bytes.push(0);
        assert!(matches!(decode(&bytes), Err(HistogramError::TrailingBytes)));
    }
}
