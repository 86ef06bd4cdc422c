//! graphite-web's Transform functions that rewrite each value on its own or from its
//! neighbours, added for issue 16: `add`, `exp`, `invert`, `isNonNull`, `log`/`logarithm`,
//! `logit`, `minMax`, `offsetToZero`, `pow`, `round`, `scaleToSeconds`, `sigmoid`,
//! `squareRoot`, `delay`, `interpolate`, `timeSlice`.
//!
//! Each follows graphite-web 1.1.10's own code: its `safe*` helpers turn what Python would
//! raise on (a null, a negative root, a division by zero, an overflow) into null, and each
//! result is named as graphite-web prints it (`%d` truncates, `%g` is [`format_g`]).

use super::arguments::Arguments;
use super::context::EvaluationContext;
use super::error::EvaluationError;
use super::series::{format_g, format_python_float, round_to_six_decimals, TimeSeries};
use super::SeriesResult;
use crate::graphite::time::parse_time;

/// Renames every series `name_of(name)`, tags it and rewrites each value with `transform`.
fn each_value(
    series: Vec<TimeSeries>,
    name_of: impl Fn(&str) -> String,
    tag: (&str, &str),
    transform: impl Fn(Option<f64>) -> Option<f64>,
) -> Vec<TimeSeries> {
    series
        .into_iter()
        .map(|one| {
            let name = name_of(&one.name);
            let values = one.values.iter().map(|value| transform(*value)).collect();
            TimeSeries { values, ..one }
                .renamed(name)
                .tagged(tag.0, tag.1)
        })
        .collect()
}

/// Python's `%d` of a float: truncated toward zero.
fn format_d(value: f64) -> String {
    format!("{}", value.trunc() as i64)
}

/// graphite-web's `safePow`: null for a null, and where Python's `math.pow` raises
/// (a negative base with a fractional exponent, zero to a negative power, an overflow).
pub(crate) fn safe_pow(value: Option<f64>, exponent: f64) -> Option<f64> {
    let value = value?;
    if value == 0.0 && exponent < 0.0 {
        return None;
    }
    Some(value.powf(exponent)).filter(|result| result.is_finite() || value.is_infinite())
}

/// Python's `math.exp`, which raises on overflow (graphite-web's `safeExp` does not catch
/// that, so the whole target fails there; null is the kinder answer and never reached by
/// ordinary data).
fn safe_exp(value: Option<f64>) -> Option<f64> {
    Some(value?.exp()).filter(|result| result.is_finite())
}

/// `add(seriesList, constant)`.
pub(crate) fn add(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let constant = arguments.number(1)?;
    let text = format_d(constant);
    Ok(each_value(
        series,
        |name| format!("add({name},{text})"),
        ("add", &format_g(constant)),
        |value| value.map(|value| value + constant),
    ))
}

/// `exp(seriesList)`: e to the power of each value.
pub(crate) fn exp(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(each_value(
        series,
        |name| format!("exp({name})"),
        ("exp", "e"),
        safe_exp,
    ))
}

/// `invert(seriesList)`: 1/value; null at zero.
pub(crate) fn invert(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(each_value(
        series,
        |name| format!("invert({name})"),
        ("invert", "1"),
        |value| safe_pow(value, -1.0),
    ))
}

/// `isNonNull(seriesList)`: 1 where there is a value, 0 where there is none.
pub(crate) fn is_non_null(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(each_value(
        series,
        |name| format!("isNonNull({name})"),
        ("isNonNull", "1"),
        |value| Some(if value.is_some() { 1.0 } else { 0.0 }),
    ))
}

/// `log(seriesList, base=10)`: the logarithm; null for zero and negative values.
pub(crate) fn logarithm(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let base = arguments.optional_number(1)?.unwrap_or(10.0);
    if base <= 0.0 || base == 1.0 {
        return Err(arguments.invalid(format!(
            "the base must be positive and not 1, not {}",
            format_g(base)
        )));
    }
    let text = format_g(base);
    Ok(each_value(
        series,
        |name| format!("log({name}, {text})"),
        ("log", &text),
        // Python's math.log(x, base) is log(x) / log(base).
        |value| {
            value
                .filter(|value| *value > 0.0)
                .map(|value| value.ln() / base.ln())
        },
    ))
}

/// `logit(seriesList)`: log(v / (1 - v)); null outside (0, 1).
pub(crate) fn logit(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(each_value(
        series,
        |name| format!("logit({name})"),
        ("logit", "logit"),
        |value| {
            let value = value?;
            if value == 1.0 {
                return None;
            }
            let odds = value / (1.0 - value);
            (odds > 0.0).then(|| odds.ln())
        },
    ))
}

/// `sigmoid(seriesList)`: 1 / (1 + e^-v).
pub(crate) fn sigmoid(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(each_value(
        series,
        |name| format!("sigmoid({name})"),
        ("sigmoid", "sigmoid"),
        |value| Some(1.0 / (1.0 + safe_exp(value.map(|value| -value))?)),
    ))
}

/// `pow(seriesList, factor)`.
pub(crate) fn pow(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let factor = arguments.number(1)?;
    let text = format_g(factor);
    // graphite-web takes the factor as a float: the tag of `pow(x,2)` is `2.0`.
    let tag = format_python_float(factor);
    Ok(each_value(
        series,
        |name| format!("pow({name},{text})"),
        ("pow", &tag),
        |value| safe_pow(value, factor),
    ))
}

/// `squareRoot(seriesList)`: null for negative values.
pub(crate) fn square_root(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(each_value(
        series,
        |name| format!("squareRoot({name})"),
        ("squareRoot", "1"),
        |value| safe_pow(value, 0.5),
    ))
}

/// Python's `round(value, digits)`: correctly rounded to `digits` decimals, exact halves to
/// even (`round(2.5)` is 2.0). Rust's formatting rounds the exact binary value the same way.
pub(crate) fn python_round(value: f64, digits: i64) -> f64 {
    if !value.is_finite() {
        return value;
    }
    if digits <= 0 {
        let scale = 10f64.powi(
            i32::try_from(digits.saturating_neg())
                .unwrap_or(i32::MAX)
                .min(308),
        );
        return (value / scale).round_ties_even() * scale;
    }
    let digits = usize::try_from(digits).unwrap_or(0).min(300);
    format!("{value:.digits$}").parse().unwrap_or(value)
}

/// `round(seriesList, precision=None)`.
pub(crate) fn round(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let precision = arguments.optional_integer(1)?;
    let digits = precision.unwrap_or(0);
    Ok(each_value(
        series,
        |name| match precision {
            None => format!("round({name})"),
            Some(precision) => format!("round({name},{precision})"),
        },
        ("round", &digits.to_string()),
        |value| value.map(|value| python_round(value, digits)),
    ))
}

/// `scaleToSeconds(seriesList, seconds)`: each value as a rate per `seconds` instead of per
/// step, rounded to 6 decimals as graphite-web does.
pub(crate) fn scale_to_seconds(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let seconds = arguments.number(1)?;
    let text = format_d(seconds);
    Ok(series
        .into_iter()
        .map(|one| {
            let factor = seconds / one.step.max(1) as f64;
            let values = one
                .values
                .iter()
                .map(|value| value.map(|value| round_to_six_decimals(value * factor)))
                .collect();
            let name = format!("scaleToSeconds({},{text})", one.name);
            TimeSeries { values, ..one }
                .renamed(name)
                .tagged("scaleToSeconds", format_python_float(seconds))
        })
        .collect())
}

/// `minMax(seriesList)`: each value scaled to [0, 1] between the series' minimum and
/// maximum; 0 when they are equal.
pub(crate) fn min_max(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(series
        .into_iter()
        .map(|one| {
            let present = one.values.iter().flatten().copied();
            let minimum = present.clone().reduce(f64::min).unwrap_or(0.0);
            let maximum = present.reduce(f64::max).unwrap_or(0.0);
            let values = one
                .values
                .iter()
                .map(|value| {
                    value.map(|value| {
                        if maximum == minimum {
                            0.0
                        } else {
                            (value - minimum) / (maximum - minimum)
                        }
                    })
                })
                .collect();
            let name = format!("minMax({})", one.name);
            TimeSeries { values, ..one }.renamed(name)
        })
        .collect())
}

/// `offsetToZero(seriesList)`: the series' minimum subtracted from every value.
pub(crate) fn offset_to_zero(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(series
        .into_iter()
        .map(|one| {
            let minimum = one.values.iter().flatten().copied().reduce(f64::min);
            let values = match minimum {
                Some(minimum) => one
                    .values
                    .iter()
                    .map(|value| value.map(|value| value - minimum))
                    .collect(),
                None => one.values.clone(),
            };
            let name = format!("offsetToZero({})", one.name);
            let tag = minimum.map_or_else(|| "None".to_owned(), format_g);
            TimeSeries { values, ..one }
                .renamed(name)
                .tagged("offsetToZero", tag)
        })
        .collect())
}

/// `delay(seriesList, steps)`: the values moved `steps` points later (earlier when negative),
/// nulls filling the gap; the timestamps stay.
pub(crate) fn delay(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let steps = arguments.integer(1)?;
    Ok(series
        .into_iter()
        .map(|one| {
            let length = one.values.len();
            let shift = usize::try_from(steps.unsigned_abs())
                .unwrap_or(usize::MAX)
                .min(length);
            let values = if steps == 0 {
                // graphite-web's `series[:-0]` is empty: delay(x,0) has no points at all.
                Vec::new()
            } else if steps > 0 {
                let mut values = vec![None; shift];
                values.extend_from_slice(&one.values[..length - shift]);
                values
            } else {
                let mut values = one.values[shift..].to_vec();
                values.extend(std::iter::repeat_n(None, shift));
                values
            };
            let name = format!("delay({},{steps})", one.name);
            TimeSeries { values, ..one }
                .renamed(name)
                .tagged("delay", steps.to_string())
        })
        .collect())
}

/// `interpolate(seriesList, limit=inf)`: runs of at most `limit` nulls between two values
/// filled on the straight line between them; leading and trailing nulls stay.
pub(crate) fn interpolate(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let limit = arguments.optional_number(1)?.unwrap_or(f64::INFINITY);
    Ok(series
        .into_iter()
        .map(|one| {
            let mut values = one.values.clone();
            let mut previous: Option<(usize, f64)> = None;
            for index in 0..values.len() {
                let Some(value) = values[index] else { continue };
                if let Some((before, before_value)) = previous {
                    let gap = index - before - 1;
                    if gap > 0 && gap as f64 <= limit {
                        for (offset, slot) in values[before + 1..index].iter_mut().enumerate() {
                            *slot = Some(
                                before_value
                                    + (offset + 1) as f64 * (value - before_value)
                                        / (gap + 1) as f64,
                            );
                        }
                    }
                }
                previous = Some((index, value));
            }
            let name = format!("interpolate({})", one.name);
            TimeSeries { values, ..one }.renamed(name)
        })
        .collect())
}

/// `integralByInterval(seriesList, intervalUnit)`: the running sum, back to 0 at every
/// multiple of the interval counted from `from`; a null adds nothing and shows the sum so far.
pub(crate) fn integral_by_interval(
    arguments: &mut Arguments,
    context: &EvaluationContext,
) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let unit_text = arguments.string(1)?;
    let interval = super::interval::parse_offset_seconds(&unit_text)
        .map(i64::abs)
        .filter(|seconds| *seconds > 0)
        .ok_or_else(|| {
            arguments.invalid(format!(
                "\"{unit_text}\" is not a positive time interval like '1h' or '1d'"
            ))
        })?;
    Ok(series
        .into_iter()
        .map(|one| {
            let step = one.step.max(1);
            let mut running = 0.0;
            let values = one
                .values
                .iter()
                .enumerate()
                .map(|(index, value)| {
                    let since_from = one.start + index as i64 * step - context.from;
                    if since_from.div_euclid(interval) != (since_from - step).div_euclid(interval) {
                        running = 0.0;
                    }
                    running += value.unwrap_or(0.0);
                    Some(running)
                })
                .collect();
            let name = format!("integralByInterval({},'{unit_text}')", one.name);
            TimeSeries { values, ..one }
                .renamed(name)
                .tagged("integralByInterval", &unit_text)
        })
        .collect())
}

/// `compressPeriodicGaps(seriesList)`: a series that has a value only every n-th step (a
/// value, n − 1 nulls, a value surrounded by nulls) is resampled to that period, each point
/// the last value in its period, from its first value on; any other series is kept as it is.
/// The period is guessed from the first non-zero values, as graphite-web does.
pub(crate) fn compress_periodic_gaps(
    arguments: &mut Arguments,
    _: &EvaluationContext,
) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let mut results = Vec::with_capacity(series.len());
    for one in series {
        let name = format!("compressPeriodicGaps({})", one.name);
        let one = one.renamed(name);
        let truthy = |index: usize| {
            one.values
                .get(index)
                .copied()
                .flatten()
                .is_some_and(|value| value != 0.0)
        };
        // graphite-web's detection, quirks included: a first value at index 0 does not count.
        let (mut first_seen, mut second_seen) = (0usize, 0usize);
        for index in 0..one.values.len() {
            if truthy(index) {
                if first_seen > 0 {
                    second_seen = index;
                    break;
                }
                first_seen = index;
            }
        }
        let step_guess = second_seen as i64 - first_seen as i64;
        let third_seen = second_seen as i64 + step_guess;
        let periodic = step_guess > 1
            && third_seen <= one.values.len() as i64 - 2
            && truthy(third_seen as usize)
            && one.values[third_seen as usize - 1].is_none()
            && one.values[third_seen as usize + 1].is_none();
        if !periodic {
            results.push(one);
            continue;
        }
        let interval = step_guess * one.step.max(1);
        let start = one.start + first_seen as i64 * one.step.max(1);
        let end = one.end();
        let summarized = super::transform::summarize_series(
            arguments,
            one,
            super::series::Aggregation::Last,
            interval,
            start,
            end,
        )?;
        // graphite-web ends the resampled series on its last point.
        let ends_at = summarized.start + interval * (summarized.values.len() as i64 - 1);
        results.push(TimeSeries {
            ends_at: Some(ends_at),
            ..summarized
        });
    }
    Ok(results)
}

/// A date argument (`'-1h'`, `'now'`, `'1700000000'`, `'12:00_20240101'`) in unix seconds.
pub(crate) fn date_argument(
    arguments: &Arguments,
    text: &str,
    now: i64,
) -> Result<i64, EvaluationError> {
    parse_time(text, now)
        .map_err(|error| arguments.invalid(format!("\"{text}\" is not a date: {error}")))
}

/// `timeSlice(seriesList, startSliceAt, endSliceAt='now')`: values outside
/// `[startSliceAt, endSliceAt]` become null. Like graphite-web, point i is taken to be at
/// `from + i × step`.
pub(crate) fn time_slice(arguments: &mut Arguments, context: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let start_text = arguments.string(1)?;
    let end_text = arguments
        .optional_string(2)?
        .unwrap_or_else(|| "now".to_owned());
    let start = date_argument(arguments, &start_text, context.now)?;
    let end = date_argument(arguments, &end_text, context.now)?;
    Ok(series
        .into_iter()
        .map(|one| {
            let step = one.step.max(1);
            let values = one
                .values
                .iter()
                .enumerate()
                .map(|(index, value)| {
                    let at = context
                        .from
                        .saturating_add((index as i64).saturating_mul(step));
                    value.filter(|_| (start..=end).contains(&at))
                })
                .collect();
            let name = format!("timeSlice({}, {start}, {end})", one.name);
            TimeSeries {
                name,
                values,
                ..one
            }
            .tagged("timeSliceStart", start.to_string())
            .tagged("timeSliceEnd", end.to_string())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{evaluate_error, evaluate_values, series};
    use super::*;

    #[tokio::test]
    async fn value_functions_table() {
        let stored = [series(
            "a",
            &[
                Some(4.0),
                None,
                Some(-1.0),
                Some(0.0),
                Some(0.25),
                Some(2.5),
            ],
        )];
        let cases: &[(&str, &str, &[Option<f64>])] = &[
            (
                "add(a,1.5)",
                "add(a,1)",
                &[Some(5.5), None, Some(0.5), Some(1.5), Some(1.75), Some(4.0)],
            ),
            (
                "invert(a)",
                "invert(a)",
                &[Some(0.25), None, Some(-1.0), None, Some(4.0), Some(0.4)],
            ),
            (
                "isNonNull(a)",
                "isNonNull(a)",
                &[
                    Some(1.0),
                    Some(0.0),
                    Some(1.0),
                    Some(1.0),
                    Some(1.0),
                    Some(1.0),
                ],
            ),
            (
                "log(a,2)",
                "log(a, 2)",
                &[Some(2.0), None, None, None, Some(-2.0), Some(2.5f64.log2())],
            ),
            (
                "pow(a,2)",
                "pow(a,2)",
                &[
                    Some(16.0),
                    None,
                    Some(1.0),
                    Some(0.0),
                    Some(0.0625),
                    Some(6.25),
                ],
            ),
            (
                "squareRoot(a)",
                "squareRoot(a)",
                &[
                    Some(2.0),
                    None,
                    None,
                    Some(0.0),
                    Some(0.5),
                    Some(2.5f64.sqrt()),
                ],
            ),
            (
                "round(a)",
                "round(a)",
                &[Some(4.0), None, Some(-1.0), Some(0.0), Some(0.0), Some(2.0)],
            ),
            (
                "round(a,1)",
                "round(a,1)",
                &[Some(4.0), None, Some(-1.0), Some(0.0), Some(0.2), Some(2.5)],
            ),
            (
                "minMax(a)",
                "minMax(a)",
                &[Some(1.0), None, Some(0.0), Some(0.2), Some(0.25), Some(0.7)],
            ),
            (
                "offsetToZero(a)",
                "offsetToZero(a)",
                &[Some(5.0), None, Some(0.0), Some(1.0), Some(1.25), Some(3.5)],
            ),
            (
                "delay(a,2)",
                "delay(a,2)",
                &[None, None, Some(4.0), None, Some(-1.0), Some(0.0)],
            ),
            (
                "delay(a,-1)",
                "delay(a,-1)",
                &[None, Some(-1.0), Some(0.0), Some(0.25), Some(2.5), None],
            ),
            (
                "interpolate(a)",
                "interpolate(a)",
                &[
                    Some(4.0),
                    Some(1.5),
                    Some(-1.0),
                    Some(0.0),
                    Some(0.25),
                    Some(2.5),
                ],
            ),
            (
                "logit(a)",
                "logit(a)",
                &[None, None, None, None, Some((0.25f64 / 0.75).ln()), None],
            ),
            (
                "scaleToSeconds(a,60)",
                "scaleToSeconds(a,60)",
                &[
                    Some(24.0),
                    None,
                    Some(-6.0),
                    Some(0.0),
                    Some(1.5),
                    Some(15.0),
                ],
            ),
        ];
        for (target, name, expected) in cases {
            let actual = evaluate_values(target, &stored).await;
            assert_eq!(actual.len(), 1, "{target}");
            assert_eq!(actual[0].0, *name, "{target}");
            for (ours, theirs) in actual[0].1.iter().zip(expected.iter()) {
                match (ours, theirs) {
                    (Some(ours), Some(theirs)) => assert!(
                        (ours - theirs).abs() < 1e-12,
                        "{target}: {ours} vs {theirs}"
                    ),
                    _ => assert_eq!(ours, theirs, "{target}"),
                }
            }
        }
        assert!(evaluate_error("log(a,1)", &stored).await.contains("base"));
    }

    #[test]
    fn python_rounding_table() {
        for (value, digits, expected) in [
            (2.5, 0, 2.0),
            (3.5, 0, 4.0),
            (-2.5, 0, -2.0),
            (1.25, 1, 1.2),
            (1.35, 1, 1.4),
            (2.675, 2, 2.67),
            (1234.0, -2, 1200.0),
        ] {
            assert_eq!(python_round(value, digits), expected, "{value} {digits}");
        }
    }
}
