//! Functions that change each series' values on their own (graphite-web's group "Transform"):
//! arithmetic, running sums and differences, null filling, and re-bucketing (`summarize`,
//! `hitcount`). `timeShift` lives in `evaluate`, because it reads its series with a shifted
//! range; its renaming is here.
//!
//! Each result is named `function(<input name>,<arguments>)` exactly as graphite-web prints
//! it (numbers with Python's `%g`), and that name becomes its path expression too.

use super::arguments::Arguments;
use super::context::EvaluationContext;
use super::error::EvaluationError;
use super::interval::parse_offset_seconds;
use super::series::{
    format_g, format_python_float, round_to_six_decimals, Aggregation, Consolidation, TimeSeries,
};
use super::SeriesResult;

/// More buckets than this from `summarize`/`hitcount` means an interval far too small for the
/// range; refusing it keeps one request from allocating without bound.
const MAXIMUM_BUCKETS: i64 = 1_000_000;

/// Applies `transform` to every value, renaming each series with `name_of`.
fn map_values(
    series: Vec<TimeSeries>,
    name_of: impl Fn(&str) -> String,
    transform: impl Fn(Option<f64>) -> Option<f64>,
) -> Vec<TimeSeries> {
    series
        .into_iter()
        .map(|one| {
            let name = name_of(&one.name);
            let values = one.values.iter().map(|value| transform(*value)).collect();
            TimeSeries { values, ..one }.renamed(name)
        })
        .collect()
}

/// `scale(seriesList, factor)`: every value times `factor`.
pub(crate) fn scale(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let factor = arguments.number(1)?;
    let text = format_g(factor);
    // graphite-web takes the factor as a float: the tag of `scale(x,2)` is `2.0`.
    let tag = format_python_float(factor);
    Ok(map_values(
        series,
        |name| format!("scale({name},{text})"),
        |value| value.map(|value| value * factor),
    )
    .into_iter()
    .map(|one| one.tagged("scale", &tag))
    .collect())
}

/// `offset(seriesList, factor)`: `factor` added to every value.
pub(crate) fn offset(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let factor = arguments.number(1)?;
    let text = format_g(factor);
    let tag = format_python_float(factor);
    Ok(map_values(
        series,
        |name| format!("offset({name},{text})"),
        |value| value.map(|value| value + factor),
    )
    .into_iter()
    .map(|one| one.tagged("offset", &tag))
    .collect())
}

/// `absolute(seriesList)`.
pub(crate) fn absolute(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(map_values(
        series,
        |name| format!("absolute({name})"),
        |value| value.map(f64::abs),
    )
    .into_iter()
    .map(|one| one.tagged("absolute", "1"))
    .collect())
}

/// Rewrites each series' values with `transform` over the whole list, named `function(name)`.
fn rewrite(
    series: Vec<TimeSeries>,
    function: &str,
    transform: impl Fn(&TimeSeries) -> Vec<Option<f64>>,
) -> Vec<TimeSeries> {
    series
        .into_iter()
        .map(|one| {
            let values = transform(&one);
            let name = format!("{function}({})", one.name);
            TimeSeries { values, ..one }
                .renamed(name)
                .tagged(function, "1")
        })
        .collect()
}

/// `integral(seriesList)`: the running sum; a null stays null and does not reset the sum.
pub(crate) fn integral(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(rewrite(series, "integral", |one| {
        let mut running = 0.0;
        one.values
            .iter()
            .map(|value| {
                value.map(|value| {
                    running += value;
                    running
                })
            })
            .collect()
    }))
}

/// `derivative(seriesList)`: each value minus the previous one; null after or at a null.
pub(crate) fn derivative(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(rewrite(series, "derivative", |one| {
        let mut previous = None;
        one.values
            .iter()
            .map(|value| {
                let delta = match (previous, *value) {
                    (Some(previous), Some(value)) => Some(value - previous),
                    _ => None,
                };
                previous = *value;
                delta
            })
            .collect()
    }))
}

/// graphite-web's `_nonNegativeDelta`: the increase since `previous`; a decrease is a counter
/// wrap (at `maximum`, or to `minimum`) when those are given, else null. Values beyond the
/// bounds are null and forget the previous value.
fn non_negative_delta(
    value: Option<f64>,
    previous: Option<f64>,
    maximum: Option<f64>,
    minimum: Option<f64>,
) -> (Option<f64>, Option<f64>) {
    if let Some(value) = value {
        if maximum.is_some_and(|maximum| value > maximum)
            || minimum.is_some_and(|minimum| value < minimum)
        {
            return (None, None);
        }
    }
    let (Some(previous), Some(value)) = (previous, value) else {
        return (None, value);
    };
    if value >= previous {
        return (Some(value - previous), Some(value));
    }
    if let Some(maximum) = maximum {
        return (
            Some(maximum + 1.0 + value - previous - minimum.unwrap_or(0.0)),
            Some(value),
        );
    }
    if let Some(minimum) = minimum {
        return (Some(value - minimum), Some(value));
    }
    (None, Some(value))
}

fn non_negative_deltas(
    values: &[Option<f64>],
    maximum: Option<f64>,
    minimum: Option<f64>,
) -> Vec<Option<f64>> {
    let mut previous = None;
    values
        .iter()
        .map(|value| {
            let (delta, next_previous) = non_negative_delta(*value, previous, maximum, minimum);
            previous = next_previous;
            delta
        })
        .collect()
}

/// `nonNegativeDerivative(seriesList, maxValue=None, minValue=None)`.
pub(crate) fn non_negative_derivative(
    arguments: &mut Arguments,
    _: &EvaluationContext,
) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let maximum = arguments.optional_number(1)?;
    let minimum = arguments.optional_number(2)?;
    Ok(rewrite(series, "nonNegativeDerivative", |one| {
        non_negative_deltas(&one.values, maximum, minimum)
    }))
}

/// `perSecond(seriesList, maxValue=None, minValue=None)`: the non-negative derivative divided
/// by the step, rounded to 6 decimals as graphite-web does.
pub(crate) fn per_second(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let maximum = arguments.optional_number(1)?;
    let minimum = arguments.optional_number(2)?;
    Ok(rewrite(series, "perSecond", |one| {
        let step = one.step.max(1) as f64;
        non_negative_deltas(&one.values, maximum, minimum)
            .into_iter()
            .map(|delta| delta.map(|delta| round_to_six_decimals(delta / step)))
            .collect()
    }))
}

/// `keepLastValue(seriesList, limit=INF)`: a run of at most `limit` nulls after a value takes
/// that value; longer runs, and nulls before the first value, stay null.
pub(crate) fn keep_last_value(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let limit = arguments.optional_integer(1)?;
    let within_limit = |run: usize| limit.is_none_or(|limit| run as i64 <= limit);
    Ok(series
        .into_iter()
        .map(|one| {
            let mut values = one.values.clone();
            let mut run = 0usize;
            let mut last = None;
            for index in 0..values.len() {
                match values[index] {
                    None => run += 1,
                    Some(value) => {
                        if run > 0 && within_limit(run) && last.is_some() {
                            values[index - run..index].fill(last);
                        }
                        run = 0;
                        last = Some(value);
                    }
                }
            }
            if run > 0 && within_limit(run) && last.is_some() {
                let length = values.len();
                values[length - run..].fill(last);
            }
            let name = format!("keepLastValue({})", one.name);
            TimeSeries { values, ..one }.renamed(name)
        })
        .collect())
}

/// `transformNull(seriesList, default=0, referenceSeries=None)`: nulls become `default`; with
/// reference series, only where one of them has a value.
pub(crate) fn transform_null(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let given_default = arguments.optional_number(1)?;
    let default = given_default.unwrap_or(0.0);
    let reference = arguments
        .optional_series_list(2)?
        .filter(|reference| !reference.is_empty());
    let text = format_g(default);
    // The tag is the default as graphite-web holds it: its own integer 0, or the float given.
    let tag = given_default.map_or_else(|| "0".to_owned(), format_python_float);
    // Where a reference exists, point i is filled only if some reference has a value there.
    let fill_at: Option<Vec<bool>> = reference.as_ref().map(|reference| {
        let length = reference
            .iter()
            .map(|one| one.values.len())
            .max()
            .unwrap_or(0);
        (0..length)
            .map(|index| {
                reference
                    .iter()
                    .any(|one| one.values.get(index).copied().flatten().is_some())
            })
            .collect()
    });
    Ok(series
        .into_iter()
        .map(|one| {
            let values = one
                .values
                .iter()
                .enumerate()
                .map(|(index, value)| match (value, &fill_at) {
                    (Some(value), _) => Some(*value),
                    (None, None) => Some(default),
                    (None, Some(fill_at)) => fill_at
                        .get(index)
                        .copied()
                        .unwrap_or(false)
                        .then_some(default),
                })
                .collect();
            let name = match fill_at {
                Some(_) => format!("transformNull({},{text},referenceSeries)", one.name),
                None => format!("transformNull({},{text})", one.name),
            };
            let renamed = TimeSeries { values, ..one }
                .renamed(name)
                .tagged("transformNull", &tag);
            if fill_at.is_some() {
                renamed.tagged("referenceSeries", "1")
            } else {
                renamed
            }
        })
        .collect())
}

/// A positive interval argument like `'1h'`, in seconds.
pub(crate) fn positive_interval(arguments: &Arguments, text: &str) -> Result<i64, EvaluationError> {
    match parse_offset_seconds(text) {
        Some(seconds) if seconds > 0 => Ok(seconds),
        _ => Err(arguments.invalid(format!(
            "\"{text}\" is not a positive time interval like '1h' or '5min'"
        ))),
    }
}

pub(crate) fn aggregation_named(
    arguments: &Arguments,
    name: &str,
) -> Result<Aggregation, EvaluationError> {
    Aggregation::from_name(name)
        .ok_or_else(|| arguments.invalid(format!("unsupported aggregation function \"{name}\"")))
}

fn bucket_count(
    arguments: &Arguments,
    start: i64,
    end: i64,
    interval: i64,
) -> Result<usize, EvaluationError> {
    let count = end
        .saturating_sub(start)
        .saturating_add(interval - 1)
        .div_euclid(interval)
        .max(0);
    if count > MAXIMUM_BUCKETS {
        return Err(arguments.invalid(format!(
            "the interval makes {count} buckets, more than {MAXIMUM_BUCKETS}; use a longer interval"
        )));
    }
    Ok(count as usize)
}

/// graphite-web's `_summarizeValues`: the points whose timestamps fall in each
/// `[bucket, bucket + interval)` merged by `aggregation`; a bucket without values is null.
fn summarize_values(
    series: &TimeSeries,
    aggregation: Aggregation,
    interval: i64,
    bucket_start: i64,
    buckets: usize,
) -> Vec<Option<f64>> {
    let step = series.step.max(1);
    let timestamp = |index: usize| series.start + index as i64 * step;
    let mut index = 0;
    let mut values = Vec::with_capacity(buckets);
    for bucket in 0..buckets {
        let bucket_start = bucket_start + bucket as i64 * interval;
        let first = index;
        let mut present = 0;
        while index < series.values.len() && timestamp(index) < bucket_start + interval {
            if timestamp(index) >= bucket_start && series.values[index].is_some() {
                present += 1;
            }
            index += 1;
        }
        let in_bucket = &series.values[first..index];
        values.push(if present > 0 {
            aggregation.apply(in_bucket)
        } else {
            None
        });
    }
    values
}

/// One series summarized into buckets of `interval` from `start` to `end` (also
/// `smartSummarize`'s, which starts them at the series' start); named as the input until the
/// caller renames it.
pub(crate) fn summarize_series(
    arguments: &Arguments,
    series: TimeSeries,
    aggregation: Aggregation,
    interval: i64,
    start: i64,
    end: i64,
) -> Result<TimeSeries, EvaluationError> {
    let buckets = bucket_count(arguments, start, end, interval)?;
    let values = summarize_values(&series, aggregation, interval, start, buckets);
    Ok(TimeSeries {
        start,
        step: interval,
        values,
        ..series
    })
}

/// `summarize(seriesList, intervalString, func='sum', alignToFrom=False)`: one point per
/// interval. Buckets are aligned to multiples of the interval (so 22:32 falls in 22:00-23:00
/// for '1h'), or to the series' start with `alignToFrom`. Like graphite-web, the unaligned
/// form ends with the bucket after the one holding the series' end.
pub(crate) fn summarize(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let interval_text = arguments.string(1)?;
    let function = arguments
        .optional_string(2)?
        .unwrap_or_else(|| "sum".to_owned());
    let align_to_from = arguments.boolean_or(3, false)?;
    let interval = positive_interval(arguments, &interval_text)?;
    let aggregation = aggregation_named(arguments, &function)?;
    let mut results = Vec::with_capacity(series.len());
    for one in series {
        let (start, end) = if align_to_from {
            (one.start, one.end())
        } else {
            let end = one.end();
            (
                one.start - one.start.rem_euclid(interval),
                end - end.rem_euclid(interval) + interval,
            )
        };
        let buckets = bucket_count(arguments, start, end, interval)?;
        let values = summarize_values(&one, aggregation, interval, start, buckets);
        let name = format!(
            "summarize({}, \"{interval_text}\", \"{function}\"{})",
            one.name,
            if align_to_from { ", true" } else { "" }
        );
        results.push(
            TimeSeries {
                start,
                step: interval,
                values,
                ..one
            }
            .renamed(name)
            .tagged("summarize", &interval_text)
            .tagged("summarizeFunction", &function),
        );
    }
    Ok(results)
}

/// graphite-web's `hitcount` for one series: values are rates per second, each bucket of
/// `interval` seconds receives `rate × seconds of the point inside the bucket`, so points
/// straddling buckets are split. Buckets end at `end` (the series' end).
pub(crate) fn hitcount_series(
    arguments: &Arguments,
    series: TimeSeries,
    interval_text: &str,
    interval: i64,
    end: i64,
    align_to_interval: bool,
) -> Result<TimeSeries, EvaluationError> {
    let step = series.step.max(1);
    let buckets = bucket_count(arguments, series.start, end, interval)?;
    let new_start = end - buckets as i64 * interval;
    let mut sums: Vec<Option<f64>> = vec![None; buckets];
    let mut add = |bucket: i64, hits: f64| {
        if let Some(sum) = usize::try_from(bucket)
            .ok()
            .and_then(|bucket| sums.get_mut(bucket))
        {
            *sum = Some(sum.unwrap_or(0.0) + hits);
        }
    };
    let last_bucket = buckets as i64 - 1;
    for (index, value) in series.values.iter().enumerate() {
        let Some(value) = *value else { continue };
        let start_time = series.start + index as i64 * step;
        let start_bucket = (start_time - new_start).div_euclid(interval);
        let start_offset = (start_time - new_start).rem_euclid(interval);
        let end_time = start_time + step;
        let mut end_bucket = (end_time - new_start).div_euclid(interval);
        let mut end_offset = (end_time - new_start).rem_euclid(interval);
        if end_bucket > last_bucket {
            end_bucket = last_bucket;
            end_offset = interval;
        }
        if start_bucket == end_bucket {
            add(start_bucket, value * (end_offset - start_offset) as f64);
        } else {
            add(start_bucket, value * (interval - start_offset) as f64);
            for bucket in start_bucket + 1..end_bucket {
                add(bucket, value * interval as f64);
            }
            if end_offset > 0 {
                add(end_bucket, value * end_offset as f64);
            }
        }
    }
    let name = format!(
        "hitcount({}, \"{interval_text}\"{})",
        series.name,
        if align_to_interval { ", true" } else { "" }
    );
    Ok(TimeSeries {
        start: new_start,
        step: interval,
        values: sums,
        ..series
    }
    .renamed(name)
    .tagged("hitcount", interval_text))
}

/// `consolidateBy(seriesList, consolidationFunc)`: how the series merges points when it is
/// consolidated for `maxDataPoints` or combined with coarser series.
pub(crate) fn consolidate_by(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let function = arguments.string(1)?;
    let consolidation = Consolidation::from_name(&function).ok_or_else(|| {
        arguments.invalid(format!(
            "unsupported consolidation function \"{function}\": use sum, average, avg, min, max, first or last"
        ))
    })?;
    Ok(series
        .into_iter()
        .map(|one| {
            let name = format!("consolidateBy({},\"{function}\")", one.name);
            TimeSeries {
                consolidation,
                ..one
            }
            .renamed(name)
            .tagged("consolidateBy", &function)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{
        context_for, evaluate_error, evaluate_target, evaluate_values, evaluate_with, series,
        values, START,
    };
    use super::*;

    type Expected = &'static [(&'static str, &'static [Option<f64>])];

    async fn check(stored: &[TimeSeries], cases: &[(&str, Expected)]) {
        for (target, expected) in cases {
            let actual = evaluate_values(target, stored).await;
            let expected: Vec<(String, Vec<Option<f64>>)> = expected
                .iter()
                .map(|(name, values)| ((*name).to_owned(), values.to_vec()))
                .collect();
            assert_eq!(actual, expected, "{target}");
        }
    }

    #[tokio::test]
    async fn arithmetic_table() {
        let stored = [series("a.b", &[Some(1.0), None, Some(-3.0), Some(4.5)])];
        check(
            &stored,
            &[
                (
                    "scale(a.b,2)",
                    &[("scale(a.b,2)", &[Some(2.0), None, Some(-6.0), Some(9.0)])],
                ),
                (
                    "scale(a.b,0.5)",
                    &[("scale(a.b,0.5)", &[Some(0.5), None, Some(-1.5), Some(2.25)])],
                ),
                (
                    "a.b|scale(-1)",
                    &[("scale(a.b,-1)", &[Some(-1.0), None, Some(3.0), Some(-4.5)])],
                ),
                (
                    "offset(a.b,10)",
                    &[("offset(a.b,10)", &[Some(11.0), None, Some(7.0), Some(14.5)])],
                ),
                (
                    "offset(a.b,-0.5)",
                    &[(
                        "offset(a.b,-0.5)",
                        &[Some(0.5), None, Some(-3.5), Some(4.0)],
                    )],
                ),
                (
                    "absolute(a.b)",
                    &[("absolute(a.b)", &[Some(1.0), None, Some(3.0), Some(4.5)])],
                ),
                (
                    "absolute(scale(a.b,2))",
                    &[(
                        "absolute(scale(a.b,2))",
                        &[Some(2.0), None, Some(6.0), Some(9.0)],
                    )],
                ),
            ],
        )
        .await;
        let scaled = evaluate_target("scale(a.b,2)", &stored).await;
        assert_eq!(scaled[0].path_expression, "scale(a.b,2)");
        // graphite-web holds the factor as a float: its tag is `2.0`, as in issue 16.
        assert_eq!(scaled[0].tags.get("scale").map(String::as_str), Some("2.0"));
        let nulls = evaluate_target("transformNull(a.b,-1)", &stored).await;
        assert_eq!(
            nulls[0].tags.get("transformNull").map(String::as_str),
            Some("-1.0")
        );
        let defaulted = evaluate_target("transformNull(a.b)", &stored).await;
        assert_eq!(
            defaulted[0].tags.get("transformNull").map(String::as_str),
            Some("0")
        );
        assert_eq!(scaled[0].tags.get("name").map(String::as_str), Some("a.b"));
        assert_eq!(
            evaluate_error("scale(a.b,'x')", &stored).await,
            "wrong argument type for scale: expected number at argument 2"
        );
        assert_eq!(
            evaluate_error("scale(a.b)", &stored).await,
            "missing required argument \"factor\" for scale"
        );
        assert_eq!(
            evaluate_error("scale(1,2)", &stored).await,
            "wrong argument type for scale: expected series list at argument 1"
        );
    }

    #[tokio::test]
    async fn running_sums_and_differences_table() {
        let stored = [series(
            "c",
            &[Some(1.0), Some(3.0), None, Some(6.0), Some(2.0), Some(5.0)],
        )];
        check(
            &stored,
            &[
                (
                    "integral(c)",
                    &[(
                        "integral(c)",
                        &[
                            Some(1.0),
                            Some(4.0),
                            None,
                            Some(10.0),
                            Some(12.0),
                            Some(17.0),
                        ],
                    )],
                ),
                (
                    "derivative(c)",
                    &[(
                        "derivative(c)",
                        &[None, Some(2.0), None, None, Some(-4.0), Some(3.0)],
                    )],
                ),
                (
                    "nonNegativeDerivative(c)",
                    &[(
                        "nonNegativeDerivative(c)",
                        &[None, Some(2.0), None, None, None, Some(3.0)],
                    )],
                ),
                (
                    // Wraps at 10: 6 → 2 is 10 + 1 + 2 - 6 = 7.
                    "nonNegativeDerivative(c,10)",
                    &[(
                        "nonNegativeDerivative(c)",
                        &[None, Some(2.0), None, None, Some(7.0), Some(3.0)],
                    )],
                ),
                (
                    // Resets to 1: 6 → 2 is 2 - 1 = 1.
                    "nonNegativeDerivative(c,minValue=1)",
                    &[(
                        "nonNegativeDerivative(c)",
                        &[None, Some(2.0), None, None, Some(1.0), Some(3.0)],
                    )],
                ),
                (
                    // Above the maximum: null, and the next delta has no previous value.
                    "nonNegativeDerivative(c,5)",
                    &[(
                        "nonNegativeDerivative(c)",
                        &[None, Some(2.0), None, None, None, Some(3.0)],
                    )],
                ),
                (
                    "perSecond(c)",
                    &[(
                        "perSecond(c)",
                        &[None, Some(0.2), None, None, None, Some(0.3)],
                    )],
                ),
                (
                    "perSecond(c,10)",
                    &[(
                        "perSecond(c)",
                        &[None, Some(0.2), None, None, Some(0.7), Some(0.3)],
                    )],
                ),
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn null_filling_table() {
        let stored = [
            series(
                "g",
                &[None, Some(1.0), None, None, Some(4.0), None, None, None],
            ),
            series(
                "r",
                &[
                    Some(0.0),
                    None,
                    Some(0.0),
                    None,
                    None,
                    None,
                    Some(0.0),
                    None,
                ],
            ),
        ];
        check(
            &stored,
            &[
                (
                    "keepLastValue(g)",
                    &[(
                        "keepLastValue(g)",
                        &[
                            None,
                            Some(1.0),
                            Some(1.0),
                            Some(1.0),
                            Some(4.0),
                            Some(4.0),
                            Some(4.0),
                            Some(4.0),
                        ],
                    )],
                ),
                (
                    "keepLastValue(g,2)",
                    &[(
                        "keepLastValue(g)",
                        &[
                            None,
                            Some(1.0),
                            Some(1.0),
                            Some(1.0),
                            Some(4.0),
                            None,
                            None,
                            None,
                        ],
                    )],
                ),
                (
                    "transformNull(g)",
                    &[(
                        "transformNull(g,0)",
                        &[
                            Some(0.0),
                            Some(1.0),
                            Some(0.0),
                            Some(0.0),
                            Some(4.0),
                            Some(0.0),
                            Some(0.0),
                            Some(0.0),
                        ],
                    )],
                ),
                (
                    "transformNull(g,-1.5)",
                    &[(
                        "transformNull(g,-1.5)",
                        &[
                            Some(-1.5),
                            Some(1.0),
                            Some(-1.5),
                            Some(-1.5),
                            Some(4.0),
                            Some(-1.5),
                            Some(-1.5),
                            Some(-1.5),
                        ],
                    )],
                ),
                (
                    "transformNull(g,7,r)",
                    &[(
                        "transformNull(g,7,referenceSeries)",
                        &[
                            Some(7.0),
                            Some(1.0),
                            Some(7.0),
                            None,
                            Some(4.0),
                            None,
                            Some(7.0),
                            None,
                        ],
                    )],
                ),
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn summarize_table() {
        // Twelve 10 s points from START (a multiple of a day): two whole minutes.
        let stored = [series(
            "s",
            &[
                Some(1.0),
                Some(2.0),
                None,
                Some(4.0),
                Some(5.0),
                Some(6.0),
                None,
                None,
                None,
                None,
                None,
                None,
            ],
        )];
        let context = context_for(&stored);
        let cases: &[(&str, &str, Vec<Option<f64>>, i64)] = &[
            // The end (START + 120) is a multiple of 60, so graphite-web adds a trailing bucket.
            (
                "summarize(s,'1min')",
                "summarize(s, \"1min\", \"sum\")",
                vec![Some(18.0), None, None],
                60,
            ),
            (
                "summarize(s,'1min','avg')",
                "summarize(s, \"1min\", \"avg\")",
                vec![Some(3.6), None, None],
                60,
            ),
            (
                "summarize(s,'30s','max')",
                "summarize(s, \"30s\", \"max\")",
                vec![Some(2.0), Some(6.0), None, None, None],
                30,
            ),
            (
                "summarize(s,'30s','min')",
                "summarize(s, \"30s\", \"min\")",
                vec![Some(1.0), Some(4.0), None, None, None],
                30,
            ),
            (
                "summarize(s,'30s','last')",
                "summarize(s, \"30s\", \"last\")",
                vec![Some(2.0), Some(6.0), None, None, None],
                30,
            ),
            (
                "summarize(s,'1min','sum',true)",
                "summarize(s, \"1min\", \"sum\", true)",
                vec![Some(18.0), None],
                60,
            ),
        ];
        for (target, name, expected, step) in cases {
            let result = evaluate_with(target, &stored, &context).await.unwrap();
            assert_eq!(result[0].name, *name, "{target}");
            assert_eq!(result[0].values, *expected, "{target}");
            assert_eq!(result[0].step, *step, "{target}");
            assert_eq!(result[0].start, START, "{target}");
        }
        // alignToFrom starts buckets at the series' start, not at a multiple of the interval.
        let offset = [TimeSeries::new(
            "t",
            START + 20,
            10,
            values(&[1.0, 2.0, 3.0, 4.0]),
        )];
        let aligned = evaluate_with("summarize(t,'30s')", &offset, &context).await;
        let from_start = evaluate_with("summarize(t,'30s','sum',true)", &offset, &context).await;
        // In the in-memory source the range starts at START, so the fetched series starts
        // there with two nulls: buckets [START, +30) and [+30, +60) hold 1 and 2+3+4.
        assert_eq!(aligned.unwrap()[0].values[..2], [Some(1.0), Some(9.0)]);
        assert_eq!(from_start.unwrap()[0].values[..2], [Some(1.0), Some(9.0)]);
        assert!(evaluate_error("summarize(s,'-1h')", &stored)
            .await
            .contains("is not a positive time interval"));
        assert!(evaluate_error("summarize(s,'1h','nope')", &stored)
            .await
            .contains("unsupported aggregation function \"nope\""));
        assert!(evaluate_error(
            "summarize(s,'1s','sum')",
            &[TimeSeries::new("s", 0, 10_000_000, vec![Some(1.0); 2],)]
        )
        .await
        .contains("buckets"));
    }

    #[tokio::test]
    async fn consolidate_by_table() {
        let stored = [series("a", &[Some(1.0)])];
        for (function, expected) in [
            ("sum", Consolidation::Sum),
            ("avg", Consolidation::Average),
            ("average", Consolidation::Average),
            ("min", Consolidation::Min),
            ("max", Consolidation::Max),
            ("first", Consolidation::First),
            ("last", Consolidation::Last),
        ] {
            let target = format!("consolidateBy(a,'{function}')");
            let result = evaluate_target(&target, &stored).await;
            assert_eq!(result[0].consolidation, expected, "{target}");
            assert_eq!(result[0].name, format!("consolidateBy(a,\"{function}\")"));
        }
        assert!(evaluate_error("consolidateBy(a,'median')", &stored)
            .await
            .contains("unsupported consolidation function \"median\""));
    }
}
