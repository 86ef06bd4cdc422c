//! Functions that choose, order or blank out series (graphite-web's groups "Filter Series",
//! "Filter Data" and "Sorting"). Orderings are stable, and a series whose aggregate is null
//! sorts as if it were minus infinity, as graphite-web's `keyFunc` makes it.

use super::arguments::Arguments;
use super::context::EvaluationContext;
use super::series::{format_g, format_python_float, percentile, Aggregation, TimeSeries};
use super::SeriesResult;
use regex::Regex;
use std::cmp::Ordering;

fn sort_key(series: &TimeSeries, aggregation: Aggregation) -> f64 {
    aggregation
        .apply(&series.values)
        .unwrap_or(f64::NEG_INFINITY)
}

/// Sorts by the aggregate, highest first when `descending`; equal keys keep their order.
pub(crate) fn sort_by_aggregate(
    series: &mut [TimeSeries],
    aggregation: Aggregation,
    descending: bool,
) {
    series.sort_by(|left, right| {
        let ordering = sort_key(left, aggregation).total_cmp(&sort_key(right, aggregation));
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
}

fn first_n(mut series: Vec<TimeSeries>, count: i64) -> Vec<TimeSeries> {
    series.truncate(usize::try_from(count).unwrap_or(0));
    series
}

fn top(arguments: &mut Arguments, aggregation: Aggregation, descending: bool) -> SeriesResult {
    let mut series = arguments.series_list(0)?;
    let count = arguments.integer(1)?;
    sort_by_aggregate(&mut series, aggregation, descending);
    Ok(first_n(series, count))
}

/// `highestCurrent(seriesList, n)`: the n series with the highest last value.
pub(crate) fn highest_current(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    top(arguments, Aggregation::Last, true)
}

/// `highestAverage(seriesList, n)`.
pub(crate) fn highest_average(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    top(arguments, Aggregation::Average, true)
}

/// `highestMax(seriesList, n)`.
pub(crate) fn highest_max(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    top(arguments, Aggregation::Max, true)
}

/// `lowestCurrent(seriesList, n)`: the n series with the lowest last value (a series without
/// values counts as lowest, as in graphite-web).
pub(crate) fn lowest_current(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    top(arguments, Aggregation::Last, false)
}

fn ranked_by(arguments: &mut Arguments, descending: bool) -> SeriesResult {
    let mut series = arguments.series_list(0)?;
    let count = arguments.optional_integer(1)?.unwrap_or(1);
    let function = arguments
        .optional_string(2)?
        .unwrap_or_else(|| "average".to_owned());
    let aggregation = Aggregation::from_name(&function).ok_or_else(|| {
        arguments.invalid(format!("unsupported aggregation function \"{function}\""))
    })?;
    sort_by_aggregate(&mut series, aggregation, descending);
    Ok(first_n(series, count))
}

/// `highest(seriesList, n=1, func='average')`.
pub(crate) fn highest(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    ranked_by(arguments, true)
}

/// `lowest(seriesList, n=1, func='average')`.
pub(crate) fn lowest(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    ranked_by(arguments, false)
}

/// `lowestAverage(seriesList, n)`.
pub(crate) fn lowest_average(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    top(arguments, Aggregation::Average, false)
}

/// `limit(seriesList, n)`: the first n series.
pub(crate) fn limit(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let count = arguments.integer(1)?;
    Ok(first_n(series, count))
}

/// `sortByMaxima(seriesList)`: by maximum, highest first.
pub(crate) fn sort_by_maxima(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let mut series = arguments.series_list(0)?;
    sort_by_aggregate(&mut series, Aggregation::Max, true);
    Ok(series)
}

/// Zero-pads every run of digits to 10 places, so that `server2` sorts before `server11`
/// (graphite-web's natural sort key).
fn natural_sort_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, key: &mut String| {
        if !digits.is_empty() {
            let trimmed = digits.trim_start_matches('0');
            let width = 10usize.saturating_sub(trimmed.len().max(1));
            key.extend(std::iter::repeat_n('0', width));
            key.push_str(if trimmed.is_empty() { "0" } else { trimmed });
            digits.clear();
        }
    };
    for character in name.chars() {
        if character.is_ascii_digit() {
            digits.push(character);
        } else {
            flush(&mut digits, &mut key);
            key.push(character);
        }
    }
    flush(&mut digits, &mut key);
    key
}

/// `sortByName(seriesList, natural=False, reverse=False)`.
pub(crate) fn sort_by_name(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let mut series = arguments.series_list(0)?;
    let natural = arguments.boolean_or(1, false)?;
    let reverse = arguments.boolean_or(2, false)?;
    series.sort_by(|left, right| {
        let ordering: Ordering = if natural {
            natural_sort_key(&left.name).cmp(&natural_sort_key(&right.name))
        } else {
            left.name.cmp(&right.name)
        };
        if reverse {
            ordering.reverse()
        } else {
            ordering
        }
    });
    Ok(series)
}

fn remove_values(
    arguments: &mut Arguments,
    function: &str,
    remove: fn(f64, f64) -> bool,
) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let threshold = arguments.number(1)?;
    Ok(series
        .into_iter()
        .map(|one| {
            let name = format!("{function}({}, {})", one.name, format_g(threshold));
            let values = one
                .values
                .iter()
                .map(|value| value.filter(|value| !remove(*value, threshold)))
                .collect();
            TimeSeries { values, ..one }.renamed(name)
        })
        .collect())
}

/// `removeBelowValue(seriesList, n)`: values below n become null.
pub(crate) fn remove_below_value(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    remove_values(arguments, "removeBelowValue", |value, threshold| {
        value < threshold
    })
}

/// `removeAboveValue(seriesList, n)`: values above n become null.
pub(crate) fn remove_above_value(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    remove_values(arguments, "removeAboveValue", |value, threshold| {
        value > threshold
    })
}

/// `removeAbovePercentile` and `removeBelowPercentile`: the values beyond the series' own
/// n-th percentile become null. As in graphite-web, a series without values keeps its nulls
/// and is renamed all the same.
fn remove_beyond_percentile(
    arguments: &mut Arguments,
    function: &str,
    remove: fn(f64, f64) -> bool,
) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let percent = arguments.number(1)?;
    Ok(series
        .into_iter()
        .map(|one| {
            let name = format!("{function}({}, {})", one.name, format_g(percent));
            let Some(threshold) = percentile(&one.values, percent, false) else {
                return one.renamed(name);
            };
            let values = one
                .values
                .iter()
                .map(|value| value.filter(|value| !remove(*value, threshold)))
                .collect();
            // graphite-web's nPercentile tags the series it reads.
            TimeSeries { values, ..one }
                .renamed(name)
                .tagged("nPercentile", format_python_float(percent))
        })
        .collect())
}

/// `removeAbovePercentile(seriesList, n)`: values above the series' n-th percentile become
/// null.
pub(crate) fn remove_above_percentile(
    arguments: &mut Arguments,
    _: &EvaluationContext,
) -> SeriesResult {
    remove_beyond_percentile(arguments, "removeAbovePercentile", |value, threshold| {
        value > threshold
    })
}

/// `removeBelowPercentile(seriesList, n)`: values below the series' n-th percentile become
/// null.
pub(crate) fn remove_below_percentile(
    arguments: &mut Arguments,
    _: &EvaluationContext,
) -> SeriesResult {
    remove_beyond_percentile(arguments, "removeBelowPercentile", |value, threshold| {
        value < threshold
    })
}

fn filter_by_name(arguments: &mut Arguments, keep_matching: bool) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let pattern = arguments.string(1)?;
    let regex = Regex::new(&pattern).map_err(|error| {
        arguments.invalid(format!("invalid regular expression \"{pattern}\": {error}"))
    })?;
    Ok(series
        .into_iter()
        .filter(|one| regex.is_match(&one.name) == keep_matching)
        .collect())
}

/// `exclude(seriesList, pattern)`: drops series whose name matches the regular expression.
pub(crate) fn exclude(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    filter_by_name(arguments, false)
}

/// `grep(seriesList, pattern)`: keeps series whose name matches the regular expression.
pub(crate) fn grep(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    filter_by_name(arguments, true)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{evaluate_error, evaluate_names, evaluate_values, series};
    use super::*;

    fn stored() -> Vec<TimeSeries> {
        vec![
            series("server1.load", &[Some(1.0), Some(9.0), Some(2.0)]),
            series("server2.load", &[Some(5.0), Some(5.0), Some(5.0)]),
            series("server11.load", &[Some(8.0), Some(1.0), None]),
            series("server3.load", &[None, None, None]),
        ]
    }

    #[tokio::test]
    async fn selection_and_sorting_table() {
        let stored = stored();
        let cases: &[(&str, &[&str])] = &[
            // Last values: 2, 5, 1 (server11's last non-null), none.
            (
                "highestCurrent(server*.load,2)",
                &["server2.load", "server1.load"],
            ),
            (
                "lowestCurrent(server*.load,2)",
                &["server3.load", "server11.load"],
            ),
            // Averages: 4, 5, 4.5, none.
            ("highestAverage(server*.load,1)", &["server2.load"]),
            (
                "highestAverage(server*.load,3)",
                &["server2.load", "server11.load", "server1.load"],
            ),
            // Maxima: 9, 5, 8, none.
            (
                "highestMax(server*.load,2)",
                &["server1.load", "server11.load"],
            ),
            (
                "sortByMaxima(server*.load)",
                &[
                    "server1.load",
                    "server11.load",
                    "server2.load",
                    "server3.load",
                ],
            ),
            ("highest(server*.load,1,'max')", &["server1.load"]),
            ("lowest(server*.load)", &["server3.load"]),
            ("limit(server*.load,2)", &["server1.load", "server2.load"]),
            ("limit(server*.load,0)", &[]),
            (
                "sortByName(server*.load)",
                &[
                    "server1.load",
                    "server11.load",
                    "server2.load",
                    "server3.load",
                ],
            ),
            (
                "sortByName(server*.load,true)",
                &[
                    "server1.load",
                    "server2.load",
                    "server3.load",
                    "server11.load",
                ],
            ),
            (
                "sortByName(server*.load,natural=true,reverse=true)",
                &[
                    "server11.load",
                    "server3.load",
                    "server2.load",
                    "server1.load",
                ],
            ),
            (
                "exclude(server*.load,'server1')",
                &["server2.load", "server3.load"],
            ),
            (
                "grep(server*.load,'server1')",
                &["server1.load", "server11.load"],
            ),
            (
                "grep(server*.load,'^server[23]\\.')",
                &["server2.load", "server3.load"],
            ),
        ];
        for (target, expected) in cases {
            assert_eq!(evaluate_names(target, &stored).await, *expected, "{target}");
        }
        assert!(evaluate_error("grep(server*.load,'(')", &stored)
            .await
            .starts_with("invalid argument for grep: invalid regular expression \"(\""));
    }

    #[tokio::test]
    async fn removing_values_table() {
        let stored = [series("a", &[Some(1.0), Some(5.0), None, Some(10.0)])];
        let cases: &[(&str, &str, &[Option<f64>])] = &[
            (
                "removeBelowValue(a,5)",
                "removeBelowValue(a, 5)",
                &[None, Some(5.0), None, Some(10.0)],
            ),
            (
                "removeAboveValue(a,5)",
                "removeAboveValue(a, 5)",
                &[Some(1.0), Some(5.0), None, None],
            ),
            (
                // The 50th percentile of 1, 5, 10 is 5.
                "removeAbovePercentile(a,50)",
                "removeAbovePercentile(a, 50)",
                &[Some(1.0), Some(5.0), None, None],
            ),
            (
                "removeBelowPercentile(a,50)",
                "removeBelowPercentile(a, 50)",
                &[None, Some(5.0), None, Some(10.0)],
            ),
            (
                "removeAboveValue(a,0.5)",
                "removeAboveValue(a, 0.5)",
                &[None, None, None, None],
            ),
        ];
        for (target, name, expected) in cases {
            let result = evaluate_values(target, &stored).await;
            assert_eq!(
                result,
                vec![((*name).to_owned(), expected.to_vec())],
                "{target}"
            );
        }
    }

    #[test]
    fn natural_keys() {
        assert_eq!(natural_sort_key("server11"), "server0000000011");
        assert_eq!(natural_sort_key("a0b"), "a0000000000b");
    }
}
