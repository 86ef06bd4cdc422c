//! Series made from the request's range alone (graphite-web's `identity`, `time`/
//! `timeFunction`, `sin`/`sinFunction`, `randomWalk`/`randomWalkFunction`) and
//! `aggregateLine`, a flat line at one aggregate of each series.
//!
//! The generators lay points from `from` every `step` seconds while before `until`, as
//! graphite-web does. `randomWalk` is random in graphite-web; here its steps come from a
//! generator seeded with the name and the range, so one request always draws the same walk
//! (a refreshed dashboard does not jump) and two names draw different ones.

use super::arguments::Arguments;
use super::context::EvaluationContext;
use super::error::EvaluationError;
use super::series::{format_g, TimeSeries};
use super::special::constant_line_series;
use super::transform::aggregation_named;
use super::SeriesResult;

/// More points than this from a generator means a step far too small for the range.
const MAXIMUM_POINTS: i64 = 1_000_000;
/// A step beyond a thousand years is refused, like intervals: it keeps timestamp arithmetic
/// with the step far from overflowing.
const MAXIMUM_STEP_SECONDS: i64 = 1_000 * 365 * 86_400;

/// The timestamps `from, from + step, …` before `until`.
fn timestamps(
    arguments: &Arguments,
    context: &EvaluationContext,
    step: i64,
) -> Result<Vec<i64>, EvaluationError> {
    if !(1..=MAXIMUM_STEP_SECONDS).contains(&step) {
        return Err(arguments.invalid(format!(
            "the step must be from 1 to {MAXIMUM_STEP_SECONDS} seconds, not {step}"
        )));
    }
    let span = i128::from(context.until) - i128::from(context.from);
    let count = i64::try_from(((span + i128::from(step) - 1) / i128::from(step)).max(0))
        .unwrap_or(i64::MAX);
    if count > MAXIMUM_POINTS {
        return Err(arguments.invalid(format!(
            "a step of {step} s makes {count} points, more than {MAXIMUM_POINTS}"
        )));
    }
    Ok((0..count)
        .map(|index| context.from + index * step)
        .collect())
}

fn generated(
    name: String,
    context: &EvaluationContext,
    step: i64,
    values: Vec<Option<f64>>,
) -> TimeSeries {
    TimeSeries {
        ends_at: Some(context.until),
        ..TimeSeries::new(name, context.from, step, values)
    }
}

/// `identity(name)`: the timestamp itself as the value, every minute.
pub(crate) fn identity(arguments: &mut Arguments, context: &EvaluationContext) -> SeriesResult {
    let name = arguments.string(0)?;
    let times = timestamps(arguments, context, 60)?;
    let values = times.iter().map(|time| Some(*time as f64)).collect();
    let mut series = generated(name.clone(), context, 60, values);
    series.path_expression = format!("identity(\"{name}\")");
    Ok(vec![series])
}

/// `timeFunction(name, step=60)`: the timestamp as the value.
pub(crate) fn time_function(
    arguments: &mut Arguments,
    context: &EvaluationContext,
) -> SeriesResult {
    let name = arguments.string(0)?;
    let step = arguments.optional_integer(1)?.unwrap_or(60);
    let times = timestamps(arguments, context, step)?;
    let values = times.iter().map(|time| Some(*time as f64)).collect();
    Ok(vec![generated(name, context, step, values)])
}

/// `sinFunction(name, amplitude=1, step=60)`: sin(timestamp) × amplitude.
pub(crate) fn sin_function(arguments: &mut Arguments, context: &EvaluationContext) -> SeriesResult {
    let name = arguments.string(0)?;
    let amplitude = arguments.optional_number(1)?.unwrap_or(1.0);
    let step = arguments.optional_integer(2)?.unwrap_or(60);
    let times = timestamps(arguments, context, step)?;
    let values = times
        .iter()
        .map(|time| Some((*time as f64).sin() * amplitude))
        .collect();
    Ok(vec![generated(name, context, step, values)])
}

/// `randomWalk(name, step=60)`: starts at 0 and moves by a uniform step in [-0.5, 0.5).
pub(crate) fn random_walk(arguments: &mut Arguments, context: &EvaluationContext) -> SeriesResult {
    let name = arguments.string(0)?;
    let step = arguments.optional_integer(1)?.unwrap_or(60);
    let times = timestamps(arguments, context, step)?;
    let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    }) ^ (context.from as u64).rotate_left(17)
        ^ (context.until as u64);
    let mut random = fastrand::Rng::with_seed(seed);
    let mut current = 0.0;
    let values = times
        .iter()
        .map(|_| {
            let value = current;
            current += random.f64() - 0.5;
            Some(value)
        })
        .collect();
    Ok(vec![generated(name, context, step, values)])
}

/// `aggregateLine(seriesList, func='average', keepStep=False)`: for each series a flat line
/// at `func` of its values, across the range (three points, like `constantLine`) or on the
/// series' own steps with `keepStep`.
pub(crate) fn aggregate_line(
    arguments: &mut Arguments,
    context: &EvaluationContext,
) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let function = arguments
        .optional_string(1)?
        .unwrap_or_else(|| "average".to_owned());
    let keep_step = arguments.boolean_or(2, false)?;
    let aggregation = aggregation_named(arguments, &function)?;
    Ok(series
        .into_iter()
        .map(|one| {
            let value = aggregation.apply(&one.values);
            let name = match value {
                Some(value) => format!("aggregateLine({}, {})", one.name, format_g(value)),
                None => format!("aggregateLine({}, None)", one.name),
            };
            if keep_step {
                let values = vec![value; one.values.len()];
                TimeSeries { values, ..one }.renamed(name)
            } else {
                constant_line_series(value, context).renamed(name)
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::testing::evaluate_with;
    use super::super::EvaluationContext;

    #[tokio::test]
    async fn generators_table() {
        let context = EvaluationContext {
            from: 1_000,
            until: 1_150,
            now: 1_150,
        };
        let identity = evaluate_with("identity('t')", &[], &context).await.unwrap();
        assert_eq!(identity[0].name, "t");
        assert_eq!(
            identity[0].values,
            vec![Some(1_000.0), Some(1_060.0), Some(1_120.0)]
        );
        let time = evaluate_with("time('t',50)", &[], &context).await.unwrap();
        assert_eq!(
            time[0].values,
            vec![Some(1_000.0), Some(1_050.0), Some(1_100.0)]
        );
        let sin = evaluate_with("sin('s',2,100)", &[], &context)
            .await
            .unwrap();
        assert_eq!(
            sin[0].values,
            vec![Some(1_000f64.sin() * 2.0), Some(1_100f64.sin() * 2.0)]
        );
        let walk = evaluate_with("randomWalk('w',10)", &[], &context)
            .await
            .unwrap();
        let again = evaluate_with("randomWalk('w',10)", &[], &context)
            .await
            .unwrap();
        assert_eq!(walk, again, "one request draws one walk");
        assert_eq!(walk[0].values.len(), 15);
        assert_eq!(walk[0].values[0], Some(0.0));
        for pair in walk[0].values.windows(2) {
            let step = pair[1].unwrap() - pair[0].unwrap();
            assert!((-0.5..0.5).contains(&step), "{step}");
        }
        assert!(evaluate_with("time('t',0)", &[], &context).await.is_err());
    }
}
