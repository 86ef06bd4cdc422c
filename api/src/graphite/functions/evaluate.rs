//! Evaluation of a parsed target against a [`SeriesSource`].
//!
//! A path is fetched over the context's range. A call's arguments are bound to its
//! parameters, its expression arguments evaluated (recursively) and the function applied.
//! Four functions read series with a range of their own and are evaluated here:
//!
//! * `timeShift(x, '1d')` evaluates `x` over `[from - 1d, until - 1d)` and moves the result's
//!   timestamps forward by a day;
//! * `movingAverage(x, '5min')` evaluates `x` over `[from - 5min, until)` so that the first
//!   points have a full window; with a window of n points it first evaluates `x` over the
//!   range to learn its step, then again over `[from - n × step, until)`, as graphite-web does;
//! * `hitcount(x, '1h', true)` evaluates `x` from `from` rounded down to the hour (UTC);
//! * `seriesByTag('k=v', ...)` asks the source for tagged series.
//!
//! Nested calls inside those see the changed range too (`timeShift(sumSeries(a.*),'1d')`).

use super::arguments::{bind, Arguments, Bound, Value};
use super::context::{EvaluationContext, SeriesSource};
use super::error::{EvaluateError, EvaluationError};
use super::expression::{Argument, Expression, FunctionCall};
use super::holt_winters;
use super::interval::parse_offset_seconds;
use super::moving::{exponential_moving_average, moving_window, Window};
use super::registry::{self, Implementation};
use super::series::Aggregation;
use super::series::TimeSeries;
use super::transform::hitcount_series;
use super::transform::summarize_series;
use crate::graphite::time::parse_time;
use crate::names::tag_expression;
use std::future::Future;
use std::pin::Pin;

/// Evaluates a parsed target into its series.
pub async fn evaluate<S: SeriesSource>(
    expression: &Expression,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    evaluate_boxed(expression, context, source).await
}

/// What evaluating over `S` gives: series, or why not, the source's own error kept typed.
pub type Evaluated<S> = Result<Vec<TimeSeries>, EvaluateError<<S as SeriesSource>::Error>>;

/// A larger `movingAverage` window is refused: it would read absurdly far back.
const MAXIMUM_WINDOW_POINTS: i64 = 1_000_000;

type SeriesFuture<'a, S> = Pin<Box<dyn Future<Output = Evaluated<S>> + Send + 'a>>;

/// The recursion goes through a boxed future: an `async fn` cannot hold itself.
pub(super) fn evaluate_boxed<'a, S: SeriesSource>(
    expression: &'a Expression,
    context: &'a EvaluationContext,
    source: &'a S,
) -> SeriesFuture<'a, S> {
    Box::pin(async move {
        match expression {
            Expression::Path(pattern) => {
                let mut series = source
                    .fetch(pattern, context.from, context.until)
                    .await
                    .map_err(EvaluateError::Source)?;
                // Aggregates are named after the pattern (sumSeries(a.*)), whatever the source
                // put there.
                for one in &mut series {
                    one.path_expression.clone_from(pattern);
                }
                Ok(series)
            }
            Expression::Call(call) => evaluate_call(call, context, source).await,
        }
    })
}

async fn evaluate_call<S: SeriesSource>(
    call: &FunctionCall,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    let definition = registry::find(&call.name)
        .ok_or_else(|| EvaluationError::UnknownFunction(call.name.clone()))?;
    let bound = bind(
        definition.name,
        definition.parameters,
        call.arguments.iter().collect(),
        call.keyword_arguments
            .iter()
            .map(|(keyword, argument)| (keyword.clone(), argument))
            .collect(),
    )?;
    let function = definition.name;
    match definition.implementation {
        Implementation::Pure(implementation) => {
            let mut arguments = evaluate_arguments(function, bound, context, None, source).await?;
            Ok(implementation(&mut arguments, context)?)
        }
        Implementation::SeriesByTag => series_by_tag(call, function, bound, context, source).await,
        Implementation::Events => {
            super::event_counts::events(function, bound, context, source).await
        }
        Implementation::TimeShift => time_shift(function, bound, context, source).await,
        Implementation::MovingWindow(fixed_function) => {
            moving_window_call(function, fixed_function, bound, context, source).await
        }
        Implementation::ExponentialMovingAverage => {
            exponential_moving_average_call(function, bound, context, source).await
        }
        Implementation::HoltWinters(kind) => {
            holt_winters_call(function, kind, bound, context, source).await
        }
        Implementation::LinearRegression => {
            linear_regression(function, bound, context, source).await
        }
        Implementation::TimeStack => time_stack(function, bound, context, source).await,
        Implementation::SmartSummarize => smart_summarize(function, bound, context, source).await,
        Implementation::Hitcount => hitcount(function, bound, context, source).await,
        Implementation::Requery(requery) => {
            super::requery::evaluate_requery(requery, function, bound, context, source).await
        }
    }
}

/// Evaluates bound arguments; the first one over `first_context` when given.
pub(super) async fn evaluate_arguments<S: SeriesSource>(
    function: &'static str,
    bound: Bound<&Argument>,
    context: &EvaluationContext,
    first_context: Option<&EvaluationContext>,
    source: &S,
) -> Result<Arguments, EvaluateError<S::Error>> {
    let mut slots = Vec::with_capacity(bound.slots.len());
    for (index, slot) in bound.slots.into_iter().enumerate() {
        let slot_context = match (index, first_context) {
            (0, Some(first_context)) => first_context,
            _ => context,
        };
        slots.push(match slot {
            Some(argument) => Some(evaluate_argument(argument, slot_context, source).await?),
            None => None,
        });
    }
    let mut repeated = Vec::with_capacity(bound.repeated.len());
    for argument in bound.repeated {
        repeated.push(evaluate_argument(argument, context, source).await?);
    }
    Ok(Arguments {
        function,
        bound: Bound { slots, repeated },
    })
}

async fn evaluate_argument<S: SeriesSource>(
    argument: &Argument,
    context: &EvaluationContext,
    source: &S,
) -> Result<Value, EvaluateError<S::Error>> {
    Ok(match argument {
        Argument::Expression(expression) => {
            Value::SeriesList(evaluate_boxed(expression, context, source).await?)
        }
        Argument::Integer(integer) => Value::Integer(*integer),
        Argument::Float(float) => Value::Float(*float),
        Argument::String(text) => Value::String(text.clone()),
        Argument::Boolean(flag) => Value::Boolean(*flag),
        Argument::None => Value::None,
    })
}

fn wrong_type(function: &str, position: usize, expected: &str) -> EvaluationError {
    EvaluationError::WrongArgumentType {
        function: function.to_owned(),
        position,
        expected: expected.to_owned(),
    }
}

/// The literal string bound to parameter `index`, read before anything is evaluated because it
/// decides the range the series argument is read over.
fn literal_string<'a>(
    function: &str,
    bound: &Bound<&'a Argument>,
    index: usize,
) -> Result<&'a str, EvaluationError> {
    match bound.slots.get(index).copied().flatten() {
        Some(Argument::String(text)) => Ok(text),
        _ => Err(wrong_type(function, index + 1, "time interval string")),
    }
}

async fn series_by_tag<S: SeriesSource>(
    call: &FunctionCall,
    function: &'static str,
    bound: Bound<&Argument>,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    let mut arguments = evaluate_arguments(function, bound, context, None, source).await?;
    let tag_expressions = arguments.repeated_strings(0)?;
    let expressions = tag_expression::parse_all(&tag_expressions)
        .map_err(|error| EvaluationError::invalid(function, error.to_string()))?;
    let mut series = source
        .fetch_by_tags(&expressions, context.from, context.until)
        .await
        .map_err(EvaluateError::Source)?;
    // graphite-web uses the call's text as the path expression of what it matched.
    let path_expression = Expression::Call(call.clone()).to_string();
    for one in &mut series {
        one.path_expression.clone_from(&path_expression);
    }
    Ok(series)
}

/// `timeShift(seriesList, timeShift, resetEnd=True, alignDst=False)`. The path expression is
/// kept (graphite-web does not change it either). `alignDst` has no effect: every time here is
/// UTC, which has no daylight saving.
async fn time_shift<S: SeriesSource>(
    function: &'static str,
    bound: Bound<&Argument>,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    let shift_text = literal_string(function, &bound, 1)?;
    // Without a sign the shift goes back in time, as in graphite-web.
    let shift_text = if shift_text.starts_with(|character: char| character.is_ascii_digit()) {
        format!("-{shift_text}")
    } else {
        shift_text.to_owned()
    };
    let shift = parse_offset_seconds(&shift_text).ok_or_else(|| {
        EvaluationError::invalid(
            function,
            format!("\"{shift_text}\" is not a time shift like '1d', '-1h' or '+30min'"),
        )
    })?;
    let shifted = EvaluationContext {
        from: context.from.saturating_add(shift),
        until: context.until.saturating_add(shift),
        now: context.now,
    };
    let mut arguments =
        evaluate_arguments(function, bound, context, Some(&shifted), source).await?;
    let series = arguments.series_list(0)?;
    let reset_end = arguments.boolean_or(2, true)?;
    arguments.boolean_or(3, false)?;
    Ok(series
        .into_iter()
        .map(|one| {
            let start = one.start.saturating_sub(shift);
            let step = one.step.max(1);
            let mut values = one.values;
            if reset_end {
                // Like graphite-web, the shifted series ends where the unshifted range ends:
                // with the point at `until` when there is one, as the unshifted series has.
                let kept = context.until.saturating_sub(start).div_euclid(step) + 1;
                values.truncate(usize::try_from(kept).unwrap_or(0));
            }
            let name = format!("timeShift({}, \"{shift_text}\")", one.name);
            TimeSeries {
                name,
                start,
                values,
                ..one
            }
            .tagged("timeShift", &shift_text)
        })
        .collect())
}

/// The window of a moving function (argument 2) and how far before `from` its input must be
/// read: the time span, or the window's points times the largest step (found by reading the
/// input over the range first, as graphite-web does). `None` when the input has no series.
async fn window_and_preview<S: SeriesSource>(
    function: &'static str,
    bound: &Bound<&Argument>,
    context: &EvaluationContext,
    source: &S,
) -> Result<Option<(Window, i64)>, EvaluateError<S::Error>> {
    let window = match bound.slots.get(1).copied().flatten() {
        Some(Argument::Integer(points)) if (0..=MAXIMUM_WINDOW_POINTS).contains(points) => {
            Window::Points(*points)
        }
        Some(Argument::Integer(_)) => {
            return Err(EvaluationError::invalid(
                function,
                format!("the window must be between 0 and {MAXIMUM_WINDOW_POINTS} points"),
            )
            .into())
        }
        Some(Argument::String(text)) => {
            // graphite-web takes the size of the span whatever its sign.
            let seconds = parse_offset_seconds(text)
                .map(i64::abs)
                .filter(|seconds| *seconds > 0)
                .ok_or_else(|| {
                    EvaluationError::invalid(
                        function,
                        format!("\"{text}\" is not a positive time interval like '1h' or '5min'"),
                    )
                })?;
            Window::Interval {
                seconds,
                text: text.clone(),
            }
        }
        _ => return Err(wrong_type(function, 2, "number of points or time interval").into()),
    };
    let preview_seconds = match &window {
        Window::Interval { seconds, .. } => *seconds,
        Window::Points(points) => {
            // The step is only known once the series are read.
            let Some(first) = bound.slots.first().copied().flatten() else {
                return Err(wrong_type(function, 1, "series list").into());
            };
            let series = match evaluate_argument(first, context, source).await? {
                Value::SeriesList(series) => series,
                _ => return Err(wrong_type(function, 1, "series list").into()),
            };
            let Some(largest_step) = series.iter().map(|one| one.step.max(1)).max() else {
                return Ok(None);
            };
            largest_step.saturating_mul(*points)
        }
    };
    Ok(Some((window, preview_seconds)))
}

/// The window of a moving function and its arguments, the first series list read from the
/// window's preview before `from` so that the first points have a whole window; `None`
/// where graphite-web answers nothing (see [`window_and_preview`]).
async fn windowed_arguments<S: SeriesSource>(
    function: &'static str,
    bound: Bound<&Argument>,
    context: &EvaluationContext,
    source: &S,
) -> Result<Option<(Window, i64, Arguments)>, EvaluateError<S::Error>> {
    let Some((window, preview_seconds)) =
        window_and_preview(function, &bound, context, source).await?
    else {
        return Ok(None);
    };
    let extended = EvaluationContext {
        from: context.from.saturating_sub(preview_seconds),
        ..*context
    };
    let arguments = evaluate_arguments(function, bound, context, Some(&extended), source).await?;
    Ok(Some((window, preview_seconds, arguments)))
}

/// `movingWindow(seriesList, windowSize, func='average', xFilesFactor=None)` and its short
/// forms (`movingAverage`, `movingSum`, …, with `fixed_function`), whose `xFilesFactor` is
/// their third argument.
async fn moving_window_call<S: SeriesSource>(
    function: &'static str,
    fixed_function: Option<&'static str>,
    bound: Bound<&Argument>,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    let Some((window, _, mut arguments)) =
        windowed_arguments(function, bound, context, source).await?
    else {
        return Ok(Vec::new());
    };
    let series = arguments.series_list(0)?;
    let (function_name, x_files_factor) = match fixed_function {
        Some(name) => (name.to_owned(), arguments.optional_number(2)?),
        None => (
            arguments
                .optional_string(2)?
                .unwrap_or_else(|| "average".to_owned()),
            arguments.optional_number(3)?,
        ),
    };
    let aggregation = Aggregation::from_name(&function_name).ok_or_else(|| {
        EvaluationError::invalid(
            function,
            format!("unsupported aggregation function \"{function_name}\""),
        )
    })?;
    Ok(moving_window(
        series,
        &window,
        &function_name,
        aggregation,
        x_files_factor,
        context.from,
    ))
}

/// `exponentialMovingAverage(seriesList, windowSize)`.
async fn exponential_moving_average_call<S: SeriesSource>(
    function: &'static str,
    bound: Bound<&Argument>,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    let Some((window, preview_seconds, mut arguments)) =
        windowed_arguments(function, bound, context, source).await?
    else {
        return Ok(Vec::new());
    };
    let series = arguments.series_list(0)?;
    Ok(exponential_moving_average(series, &window, preview_seconds))
}

/// Which Holt-Winters function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HoltWintersKind {
    Forecast,
    ConfidenceBands,
    ConfidenceArea,
    Aberration,
}

/// An interval argument given as a literal string (or its default), in seconds.
fn literal_interval(
    function: &str,
    bound: &Bound<&Argument>,
    index: usize,
    default: &str,
) -> Result<i64, EvaluationError> {
    let text = match bound.slots.get(index).copied().flatten() {
        None | Some(Argument::None) => default,
        Some(Argument::String(text)) => text,
        Some(_) => return Err(wrong_type(function, index + 1, "time interval string")),
    };
    parse_offset_seconds(text)
        .map(i64::abs)
        .filter(|seconds| *seconds > 0)
        .ok_or_else(|| {
            EvaluationError::invalid(
                function,
                format!("\"{text}\" is not a positive time interval like '1d' or '7d'"),
            )
        })
}

/// The Holt-Winters functions: the input is read again from `from − bootstrapInterval` to
/// train the model (graphite-web's "preview"); `holtWintersAberration` also reads it over the
/// range, to compare with the bands.
async fn holt_winters_call<S: SeriesSource>(
    function: &'static str,
    kind: HoltWintersKind,
    bound: Bound<&Argument>,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    // Forecast takes (seriesList, bootstrapInterval, seasonality); the others a delta first.
    let first_interval = if kind == HoltWintersKind::Forecast {
        1
    } else {
        2
    };
    let bootstrap_seconds = literal_interval(function, &bound, first_interval, "7d")?;
    let seasonality_seconds = literal_interval(function, &bound, first_interval + 1, "1d")?;
    let Some(first) = bound.slots.first().copied().flatten() else {
        return Err(wrong_type(function, 1, "series list").into());
    };
    let preview_context = EvaluationContext {
        from: context.from.saturating_sub(bootstrap_seconds),
        ..*context
    };
    let previews = match evaluate_argument(first, &preview_context, source).await? {
        Value::SeriesList(series) => series,
        _ => return Err(wrong_type(function, 1, "series list").into()),
    };
    let mut arguments = evaluate_arguments(function, bound, context, None, source).await?;
    let series = arguments.series_list(0)?;
    let delta = if kind == HoltWintersKind::Forecast {
        0.0
    } else {
        arguments.optional_number(1)?.unwrap_or(3.0)
    };
    Ok(match kind {
        HoltWintersKind::Forecast => {
            holt_winters::holt_winters_forecast(previews, bootstrap_seconds, seasonality_seconds)
        }
        HoltWintersKind::ConfidenceBands => holt_winters::holt_winters_confidence_bands(
            previews,
            delta,
            bootstrap_seconds,
            seasonality_seconds,
        ),
        HoltWintersKind::ConfidenceArea => holt_winters::holt_winters_confidence_area(
            previews,
            delta,
            bootstrap_seconds,
            seasonality_seconds,
        ),
        HoltWintersKind::Aberration => holt_winters::holt_winters_aberration(
            series,
            &previews,
            delta,
            bootstrap_seconds,
            seasonality_seconds,
        ),
    })
}

/// A literal date argument (`'-1h'`, `'1700000000'`), `None` when absent.
fn literal_date(
    function: &str,
    bound: &Bound<&Argument>,
    index: usize,
    now: i64,
) -> Result<Option<i64>, EvaluationError> {
    match bound.slots.get(index).copied().flatten() {
        None | Some(Argument::None) => Ok(None),
        Some(Argument::String(text)) => parse_time(text, now).map(Some).map_err(|error| {
            EvaluationError::invalid(function, format!("\"{text}\" is not a date: {error}"))
        }),
        // A number is a unix time, held to the same bounds as one written as a string.
        Some(Argument::Integer(seconds)) => parse_time(&seconds.to_string(), now)
            .map(Some)
            .map_err(|error| {
                EvaluationError::invalid(function, format!("{seconds} is not a date: {error}"))
            }),
        Some(_) => Err(wrong_type(function, index + 1, "date")),
    }
}

/// `linearRegression(seriesList, startSourceAt=None, endSourceAt=None)`: the least-squares
/// line through each series' values between the source dates (the range by default), drawn
/// over the range. Series whose source has fewer than two values are dropped.
async fn linear_regression<S: SeriesSource>(
    function: &'static str,
    bound: Bound<&Argument>,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    let source_context = EvaluationContext {
        from: literal_date(function, &bound, 1, context.now)?.unwrap_or(context.from),
        until: literal_date(function, &bound, 2, context.now)?.unwrap_or(context.until),
        now: context.now,
    };
    let Some(first) = bound.slots.first().copied().flatten() else {
        return Err(wrong_type(function, 1, "series list").into());
    };
    let sources = match evaluate_argument(first, &source_context, source).await? {
        Value::SeriesList(series) => series,
        _ => return Err(wrong_type(function, 1, "series list").into()),
    };
    let mut arguments = evaluate_arguments(function, bound, context, None, source).await?;
    let series = arguments.series_list(0)?;
    Ok(series
        .into_iter()
        .zip(sources)
        .filter_map(|(one, source)| {
            let (factor, offset) = linear_regression_analysis(&source)?;
            let step = one.step.max(1);
            let values = (0..one.values.len())
                .map(|index| Some(offset + (one.start + index as i64 * step) as f64 * factor))
                .collect();
            let range = format!("{}, {}", source_context.from, source_context.until);
            let name = format!("linearRegression({}, {range})", one.name);
            Some(
                TimeSeries { values, ..one }
                    .renamed(name)
                    .tagged("linearRegressions", range),
            )
        })
        .collect())
}

/// graphite-web's `_linearRegressionAnalysis`: slope per second and offset at time 0 of the
/// least-squares line through the values (by index); `None` without two distinct points.
fn linear_regression_analysis(series: &TimeSeries) -> Option<(f64, f64)> {
    let present: Vec<(f64, f64)> = series
        .values
        .iter()
        .enumerate()
        .filter_map(|(index, value)| value.map(|value| (index as f64, value)))
        .collect();
    let count = present.len() as f64;
    let sum_i: f64 = present.iter().map(|(index, _)| index).sum();
    let sum_v: f64 = present.iter().map(|(_, value)| value).sum();
    let sum_ii: f64 = present.iter().map(|(index, _)| index * index).sum();
    let sum_iv: f64 = present.iter().map(|(index, value)| index * value).sum();
    let denominator = count * sum_ii - sum_i * sum_i;
    if denominator == 0.0 {
        return None;
    }
    let factor = (count * sum_iv - sum_i * sum_v) / denominator / series.step.max(1) as f64;
    let offset = (sum_ii * sum_v - sum_iv * sum_i) / denominator - factor * series.start as f64;
    Some((factor, offset))
}

/// `timeStack(seriesList, timeShiftUnit='1d', timeShiftStart=0, timeShiftEnd=7)`: the input
/// read again shifted by each of `start..end` units, every copy drawn over the range and
/// named `timeShift(name, unit, n)`.
async fn time_stack<S: SeriesSource>(
    function: &'static str,
    bound: Bound<&Argument>,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    let unit_text = match bound.slots.get(1).copied().flatten() {
        None | Some(Argument::None) => "1d".to_owned(),
        Some(Argument::String(text)) => text.clone(),
        Some(_) => return Err(wrong_type(function, 2, "time interval string").into()),
    };
    // Without a sign the unit goes back in time, as in graphite-web.
    let unit_text = if unit_text.starts_with(|character: char| character.is_ascii_digit()) {
        format!("-{unit_text}")
    } else {
        unit_text
    };
    let unit = parse_offset_seconds(&unit_text).ok_or_else(|| {
        EvaluationError::invalid(
            function,
            format!("\"{unit_text}\" is not a time shift like '1d' or '-1h'"),
        )
    })?;
    let integer_at = |index: usize, default: i64| match bound.slots.get(index).copied().flatten() {
        None | Some(Argument::None) => Ok(default),
        Some(Argument::Integer(value)) => Ok(*value),
        Some(_) => Err(wrong_type(function, index + 1, "integer")),
    };
    let first_shift = integer_at(2, 0)?;
    let end_shift = integer_at(3, 7)?;
    if end_shift.saturating_sub(first_shift) > 100 {
        return Err(EvaluationError::invalid(function, "at most 100 shifts").into());
    }
    let Some(first) = bound.slots.first().copied().flatten() else {
        return Err(wrong_type(function, 1, "series list").into());
    };
    // graphite-web gives every copy the start of the first series over the range.
    let unshifted = match evaluate_argument(first, context, source).await? {
        Value::SeriesList(series) => series,
        _ => return Err(wrong_type(function, 1, "series list").into()),
    };
    let Some(anchor_start) = unshifted.first().map(|one| one.start) else {
        return Ok(Vec::new());
    };
    let mut results = Vec::new();
    for shift in first_shift..end_shift {
        let offset = unit.saturating_mul(shift);
        let shifted = EvaluationContext {
            from: context.from.saturating_add(offset),
            until: context.until.saturating_add(offset),
            now: context.now,
        };
        let series = match evaluate_argument(first, &shifted, source).await? {
            Value::SeriesList(series) => series,
            _ => return Err(wrong_type(function, 1, "series list").into()),
        };
        for one in series {
            let name = format!("timeShift({}, {unit_text}, {shift})", one.name);
            results.push(
                TimeSeries {
                    start: anchor_start,
                    ..one
                }
                .renamed(name)
                .tagged("timeShiftUnit", &unit_text)
                .tagged("timeShift", shift.to_string()),
            );
        }
    }
    Ok(results)
}

/// `smartSummarize(seriesList, intervalString, func='sum', alignTo=None)`: like `summarize`
/// with buckets from the series' start; with `alignTo` (a unit: '1y', '1w', '1d', '1h',
/// '1min', '1s'), the input is read again from `from` rounded down to that unit (UTC).
async fn smart_summarize<S: SeriesSource>(
    function: &'static str,
    bound: Bound<&Argument>,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    let align_to = match bound.slots.get(3).copied().flatten() {
        Some(Argument::String(text)) => Some(text.clone()),
        _ => None,
    };
    let aligned = match &align_to {
        None => None,
        Some(unit) => Some(EvaluationContext {
            from: aligned_start(function, unit, context.from)?,
            ..*context
        }),
    };
    let mut arguments =
        evaluate_arguments(function, bound, context, aligned.as_ref(), source).await?;
    let series = arguments.series_list(0)?;
    let interval_text = arguments.string(1)?;
    let function_name = arguments
        .optional_string(2)?
        .unwrap_or_else(|| "sum".to_owned());
    let interval = parse_offset_seconds(&interval_text)
        .filter(|seconds| *seconds > 0)
        .ok_or_else(|| {
            EvaluationError::invalid(
                function,
                format!("\"{interval_text}\" is not a positive time interval like '1h' or '5min'"),
            )
        })?;
    let aggregation = Aggregation::from_name(&function_name).ok_or_else(|| {
        EvaluationError::invalid(
            function,
            format!("unsupported aggregation function \"{function_name}\""),
        )
    })?;
    let mut results = Vec::with_capacity(series.len());
    for one in series {
        let name = format!(
            "smartSummarize({}, \"{interval_text}\", \"{function_name}\")",
            one.name
        );
        let start = one.start;
        let end = one.end();
        let summarized = summarize_series(&arguments, one, aggregation, interval, start, end)?;
        results.push(
            summarized
                .renamed(name)
                .tagged("smartSummarize", &interval_text)
                .tagged("smartSummarizeFunction", &function_name),
        );
    }
    Ok(results)
}

/// `from` rounded down to the start of its year, month, ISO week (Monday, or the weekday
/// 1–7 ending the unit: '1w3' is Wednesday), day, hour, minute or second, in UTC.
fn aligned_start(function: &str, unit: &str, from: i64) -> Result<i64, EvaluationError> {
    use chrono::{Datelike, TimeZone, Timelike, Utc};
    let invalid = || {
        EvaluationError::invalid(
            function,
            format!(
                "\"{unit}\" is not a unit to align to: use a number and y, mon, w, d, h, min or s"
            ),
        )
    };
    let letters = unit.trim_start_matches(|character: char| character.is_ascii_digit());
    let time = Utc.timestamp_opt(from, 0).single().ok_or_else(invalid)?;
    let day_start = |date: chrono::NaiveDate| {
        date.and_hms_opt(0, 0, 0)
            .map(|start| start.and_utc().timestamp())
            .ok_or_else(invalid)
    };
    if letters.starts_with('y') {
        return day_start(chrono::NaiveDate::from_ymd_opt(time.year(), 1, 1).ok_or_else(invalid)?);
    }
    if letters.starts_with("mon") {
        return day_start(
            chrono::NaiveDate::from_ymd_opt(time.year(), time.month(), 1).ok_or_else(invalid)?,
        );
    }
    if letters.starts_with('w') {
        let weekday = letters
            .chars()
            .last()
            .and_then(|last| last.to_digit(10))
            .map_or(1, i64::from);
        let back = (i64::from(time.weekday().number_from_monday()) - weekday).rem_euclid(7);
        return Ok(day_start(time.date_naive())? - back * 86_400);
    }
    if letters.starts_with('d') {
        return day_start(time.date_naive());
    }
    if letters.starts_with('h') {
        return Ok(from - i64::from(time.minute()) * 60 - i64::from(time.second()));
    }
    if letters.starts_with("min") || letters.starts_with('m') {
        return Ok(from - i64::from(time.second()));
    }
    if letters.starts_with('s') {
        return Ok(from);
    }
    Err(invalid())
}

/// `hitcount(seriesList, intervalString, alignToInterval=False)`.
async fn hitcount<S: SeriesSource>(
    function: &'static str,
    bound: Bound<&Argument>,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    let align_to_interval = matches!(
        bound.slots.get(2).copied().flatten(),
        Some(Argument::Boolean(true))
    );
    let interval_text = literal_string(function, &bound, 1)?.to_owned();
    let interval = parse_offset_seconds(&interval_text)
        .filter(|seconds| *seconds > 0)
        .ok_or_else(|| {
            EvaluationError::invalid(
                function,
                format!("\"{interval_text}\" is not a positive time interval like '1h' or '5min'"),
            )
        })?;
    let aligned = align_to_interval.then(|| {
        // graphite-web rounds the start down to the day, hour or minute (here in UTC).
        let unit = [86_400, 3_600, 60]
            .into_iter()
            .find(|unit| interval >= *unit)
            .unwrap_or(1);
        EvaluationContext {
            from: context.from.div_euclid(unit) * unit,
            ..*context
        }
    });
    let mut arguments =
        evaluate_arguments(function, bound, context, aligned.as_ref(), source).await?;
    let series = arguments.series_list(0)?;
    arguments.boolean_or(2, false)?;
    let counted: Result<Vec<TimeSeries>, EvaluationError> = series
        .into_iter()
        .map(|one| {
            let end = if align_to_interval {
                let whole_intervals = (one.end() - one.start).div_euclid(interval);
                one.start + whole_intervals * interval + interval
            } else {
                one.end()
            };
            hitcount_series(
                &arguments,
                one,
                &interval_text,
                interval,
                end,
                align_to_interval,
            )
        })
        .collect();
    Ok(counted?)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{
        evaluate_error, evaluate_values, evaluate_with, series, values, FailingSource,
        InMemorySource, START, STEP,
    };
    use super::super::{parse_target, TimeSeries};
    use super::*;

    #[tokio::test]
    async fn paths_fetch_and_name_by_pattern() {
        let stored = [series("a.b", &[Some(1.0)]), series("a.c", &[Some(2.0)])];
        let context = EvaluationContext {
            from: START,
            until: START + STEP,
            now: START + STEP,
        };
        let result = evaluate_with("a.*", &stored, &context).await.unwrap();
        assert_eq!(result.len(), 2);
        assert!(result.iter().all(|one| one.path_expression == "a.*"));
        assert_eq!(result[0].name, "a.b");
        let nothing = evaluate_with("nope.*", &stored, &context).await.unwrap();
        assert!(nothing.is_empty());
    }

    #[tokio::test]
    async fn errors_table() {
        let stored = [series("a", &[Some(1.0)])];
        let cases = [
            ("nope(a)", "unknown function \"nope\""),
            (
                "scale(a,2,3)",
                "too many arguments for scale: it takes at most 2",
            ),
            (
                "scale(a,fator=2)",
                "unknown keyword argument \"fator\" for scale",
            ),
            ("sumSeries()", "missing required argument \"seriesLists\" for sumSeries"),
            (
                "sumSeries(a,1)",
                "wrong argument type for sumSeries: expected series list at argument 2",
            ),
            (
                "timeShift(a,3)",
                "wrong argument type for timeShift: expected time interval string at argument 2",
            ),
            (
                "timeShift(a,'soon')",
                "invalid argument for timeShift: \"soon\" is not a time shift like '1d', '-1h' or '+30min'",
            ),
            (
                "movingAverage(a,-1)",
                "invalid argument for movingAverage: the window must be between 0 and 1000000 points",
            ),
            (
                "timeShift(a,'5000y')",
                "invalid argument for timeShift: \"-5000y\" is not a time shift like '1d', '-1h' or '+30min'",
            ),
            (
                "hitcount(a,'0s')",
                "invalid argument for hitcount: \"0s\" is not a positive time interval like '1h' or '5min'",
            ),
        ];
        for (target, expected) in cases {
            assert_eq!(evaluate_error(target, &stored).await, expected, "{target}");
        }
        let expression = parse_target("sumSeries(a.*)").unwrap();
        let context = EvaluationContext {
            from: 0,
            until: 10,
            now: 10,
        };
        let error = evaluate(&expression, &context, &FailingSource)
            .await
            .unwrap_err();
        assert!(matches!(error, EvaluateError::Source(_)), "{error:?}");
        assert_eq!(error.to_string(), "cannot read series: connection refused");
    }

    #[tokio::test]
    async fn time_shift_reads_the_shifted_range_and_restamps() {
        // A day of history at 1 h steps: value = hour index.
        let day: Vec<Option<f64>> = (0..48).map(|hour| Some(hour as f64)).collect();
        let stored = [TimeSeries::new("h", START, 3_600, day)];
        let context = EvaluationContext {
            from: START + 24 * 3_600,
            until: START + 27 * 3_600,
            now: START + 27 * 3_600,
        };
        let cases: &[(&str, &str, &[Option<f64>])] = &[
            ("h", "h", &[Some(24.0), Some(25.0), Some(26.0)]),
            (
                "timeShift(h,'1d')",
                "timeShift(h, \"-1d\")",
                &[Some(0.0), Some(1.0), Some(2.0)],
            ),
            (
                "timeShift(h,'-2h')",
                "timeShift(h, \"-2h\")",
                &[Some(22.0), Some(23.0), Some(24.0)],
            ),
            (
                "timeShift(h,'+1h')",
                "timeShift(h, \"+1h\")",
                &[Some(25.0), Some(26.0), Some(27.0)],
            ),
            (
                "timeShift(sumSeries(h),'1d')",
                "timeShift(sumSeries(h), \"-1d\")",
                &[Some(0.0), Some(1.0), Some(2.0)],
            ),
            (
                "h|timeShift('3h')|scale(2)",
                "scale(timeShift(h, \"-3h\"),2)",
                &[Some(42.0), Some(44.0), Some(46.0)],
            ),
        ];
        for (target, name, expected) in cases {
            let result = evaluate_with(target, &stored, &context).await.unwrap();
            assert_eq!(result[0].name, *name, "{target}");
            assert_eq!(result[0].values, *expected, "{target}");
            assert_eq!(result[0].start, context.from, "{target}");
        }
        let shifted = evaluate_with("timeShift(h,'1d')", &stored, &context)
            .await
            .unwrap();
        assert_eq!(shifted[0].path_expression, "h");
        assert_eq!(
            shifted[0].tags.get("timeShift").map(String::as_str),
            Some("-1d")
        );
    }

    #[tokio::test]
    async fn series_by_tag_asks_the_source() {
        let stored = [
            series("cpu;dc=west;host=a", &[Some(1.0)]),
            series("cpu;dc=east;host=b", &[Some(2.0)]),
            series("mem;dc=west;host=a", &[Some(3.0)]),
        ];
        let cases: &[(&str, &[&str])] = &[
            (
                "seriesByTag('name=cpu')",
                &["cpu;dc=west;host=a", "cpu;dc=east;host=b"],
            ),
            ("seriesByTag('name=cpu','dc=west')", &["cpu;dc=west;host=a"]),
            (
                "seriesByTag(\"dc=~we.*\")",
                &["cpu;dc=west;host=a", "mem;dc=west;host=a"],
            ),
            ("seriesByTag('name=cpu','host!=a')", &["cpu;dc=east;host=b"]),
        ];
        for (target, expected) in cases {
            let names: Vec<String> = evaluate_values(target, &stored)
                .await
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            assert_eq!(names, *expected, "{target}");
        }
        let summed = evaluate_values("sumSeries(seriesByTag(\"name=cpu\"))", &stored).await;
        assert_eq!(
            summed,
            vec![(
                "sumSeries(seriesByTag('name=cpu'))".to_owned(),
                vec![Some(3.0)]
            )]
        );
        assert_eq!(
            evaluate_error("seriesByTag(1)", &stored).await,
            "wrong argument type for seriesByTag: expected string at argument 1"
        );
    }

    #[tokio::test]
    async fn hitcount_table() {
        // Rates per second at a 10 s step: each point holds rate × 10 hits.
        let stored = [series("r", &values(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))];
        let cases: &[(&str, &str, &[Option<f64>], i64)] = &[
            (
                "hitcount(r,'30s')",
                "hitcount(r, \"30s\")",
                &[Some(60.0), Some(150.0)],
                START,
            ),
            (
                "hitcount(r,'1min')",
                "hitcount(r, \"1min\")",
                &[Some(210.0)],
                START,
            ),
            (
                // 60 s of data into 25 s buckets ending at the series' end: the first bucket
                // starts 15 s before the data and gets only its 10 s of the first point.
                "hitcount(r,'25s')",
                "hitcount(r, \"25s\")",
                &[
                    Some(10.0),
                    Some(20.0 + 30.0 + 20.0),
                    Some(20.0 + 50.0 + 60.0),
                ],
                START - 15,
            ),
        ];
        for (target, name, expected, start) in cases {
            let result = evaluate_values(target, &stored).await;
            assert_eq!(
                result,
                vec![((*name).to_owned(), expected.to_vec())],
                "{target}"
            );
            let full = evaluate_with(
                target,
                &stored,
                &super::super::testing::context_for(&stored),
            )
            .await
            .unwrap();
            assert_eq!(full[0].start, *start, "{target}");
        }
        // Aligned to the minute: the range starts mid-minute, the read starts on the minute.
        let context = EvaluationContext {
            from: START + 30,
            until: START + 60,
            now: START + 60,
        };
        let aligned = evaluate_with("hitcount(r,'1min',true)", &stored, &context)
            .await
            .unwrap();
        assert_eq!(aligned[0].name, "hitcount(r, \"1min\", true)");
        assert_eq!(aligned[0].start, START);
        // As in graphite-web, the end moves to a whole interval past the data: one more bucket.
        assert_eq!(aligned[0].values, vec![Some(210.0), None]);
    }

    #[tokio::test]
    async fn the_source_is_used_through_a_send_future() {
        fn assert_send<T: Send>(_: &T) {}
        let expression = parse_target("a").unwrap();
        let source = InMemorySource::new(Vec::new());
        let context = EvaluationContext {
            from: 0,
            until: 10,
            now: 10,
        };
        let future = evaluate(&expression, &context, &source);
        assert_send(&future);
        assert!(future.await.unwrap().is_empty());
    }
}
