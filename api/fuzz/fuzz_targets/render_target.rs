//! A render target as a client may send it: any bytes, read as `/render` reads its parameters
//! (lossy UTF-8), through the target parser; a target that parses is displayed (as names and
//! errors show it) and evaluated over a small in-memory source. Any panic, stack overflow or
//! runaway allocation is a bug: a bad target must only ever be refused with an error value.

#![no_main]

use abacus_api::graphite::functions::{
    evaluate, parse_target, EvaluationContext, EvaluationError, SeriesSource, TimeSeries,
};
use libfuzzer_sys::fuzz_target;

/// A fixed "now", so that a crash reproduces.
const NOW: i64 = 1_795_000_000;
const STEP: i64 = 10;

/// Every pattern finds two short series laid on the asked range's grid (at most 1,000 points,
/// as the database source is bounded by `api.max_points_per_series`), so functions run over
/// real values, nulls and extremes.
struct TwoSeries;

impl TwoSeries {
    fn laid_out(from: i64, until: i64) -> Vec<TimeSeries> {
        let start = from - from.rem_euclid(STEP);
        let length = ((until.saturating_sub(start)) / STEP).clamp(0, 1_000) as usize;
        let values = |offset: usize| -> Vec<Option<f64>> {
            (0..length)
                .map(|index| match (index + offset) % 5 {
                    0 => None,
                    1 => Some(f64::MAX),
                    2 => Some(-0.0),
                    _ => Some(index as f64 - 3.5),
                })
                .collect()
        };
        vec![
            TimeSeries::new("a.b;env=prod", start, STEP, values(0)),
            TimeSeries::new("a.c", start, STEP, values(2)),
        ]
    }
}

impl SeriesSource for TwoSeries {
    async fn fetch(
        &self,
        _pattern: &str,
        from: i64,
        until: i64,
    ) -> Result<Vec<TimeSeries>, EvaluationError> {
        Ok(Self::laid_out(from, until))
    }

    async fn fetch_by_tags(
        &self,
        _tag_expressions: &[String],
        from: i64,
        until: i64,
    ) -> Result<Vec<TimeSeries>, EvaluationError> {
        Ok(Self::laid_out(from, until))
    }
}

fuzz_target!(|data: &[u8]| {
    let target = String::from_utf8_lossy(data);
    let Ok(expression) = parse_target(&target) else {
        return;
    };
    let _ = expression.to_string();
    let context = EvaluationContext {
        from: NOW - 600,
        until: NOW,
        now: NOW,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let _ = runtime.block_on(evaluate(&expression, &context, &TwoSeries));
});
