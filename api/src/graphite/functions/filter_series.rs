//! The rest of graphite-web's group "Filter Series": keeping the series whose aggregate
//! passes a comparison (`filterSeries` and its shorthands `averageAbove`, `currentBelow`, …),
//! the most deviant ones, the ones outside a percentile band, the non-empty and the first of
//! each name. Every function keeps the series it picks unchanged and in their order.

use super::arguments::Arguments;
use super::context::EvaluationContext;
use super::series::{percentile, Aggregation, TimeSeries};
use super::SeriesResult;
use std::collections::HashSet;

/// graphite-web's `operatorFuncs`: a null aggregate passes `!=`, `<` and `<=` only.
fn compare(operator: &str, value: Option<f64>, threshold: f64) -> Option<bool> {
    Some(match (operator, value) {
        ("=", value) => value == Some(threshold),
        ("!=", value) => value != Some(threshold),
        (">", value) => value.is_some_and(|value| value > threshold),
        (">=", value) => value.is_some_and(|value| value >= threshold),
        ("<", value) => value.is_none_or(|value| value < threshold),
        ("<=", value) => value.is_none_or(|value| value <= threshold),
        _ => return None,
    })
}

/// The operators `filterSeries` accepts.
pub(crate) const OPERATORS: &[&str] = &["!=", "<", "<=", "=", ">", ">="];

fn filter_by(
    arguments: &Arguments,
    series: Vec<TimeSeries>,
    function: &str,
    operator: &str,
    threshold: f64,
) -> SeriesResult {
    let aggregation = Aggregation::from_name(function).ok_or_else(|| {
        arguments.invalid(format!("unsupported aggregation function \"{function}\""))
    })?;
    if compare(operator, None, threshold).is_none() {
        return Err(arguments.invalid(format!(
            "unsupported operator \"{operator}\" (one of {})",
            OPERATORS.join(" ")
        )));
    }
    Ok(series
        .into_iter()
        .filter(|one| compare(operator, aggregation.apply(&one.values), threshold) == Some(true))
        .collect())
}

/// `filterSeries(seriesList, func, operator, threshold)`.
pub(crate) fn filter_series(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let function = arguments.string(1)?;
    let operator = arguments.string(2)?;
    let threshold = arguments.number(3)?;
    filter_by(arguments, series, &function, &operator, threshold)
}

/// The shorthands of `filterSeries(seriesList, <function>, <operator>, n)`.
fn shorthand(arguments: &mut Arguments, function: &str, operator: &str) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let threshold = arguments.number(1)?;
    filter_by(arguments, series, function, operator, threshold)
}

pub(crate) fn average_above(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    shorthand(arguments, "average", ">")
}

pub(crate) fn average_below(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    shorthand(arguments, "average", "<=")
}

pub(crate) fn current_above(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    shorthand(arguments, "last", ">")
}

pub(crate) fn current_below(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    shorthand(arguments, "last", "<=")
}

pub(crate) fn maximum_above(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    shorthand(arguments, "max", ">")
}

pub(crate) fn maximum_below(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    shorthand(arguments, "max", "<=")
}

pub(crate) fn minimum_above(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    shorthand(arguments, "min", ">")
}

pub(crate) fn minimum_below(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    shorthand(arguments, "min", "<=")
}

/// `mostDeviant(seriesList, n)`: the n series with the largest variance (the mean of the
/// squared deviations over the non-null points); series without values are dropped.
pub(crate) fn most_deviant(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let count = usize::try_from(arguments.integer(1)?).unwrap_or(0);
    let mut deviants: Vec<(f64, TimeSeries)> = series
        .into_iter()
        .filter_map(|one| {
            let mean = Aggregation::Average.apply(&one.values)?;
            let present: Vec<f64> = one.values.iter().flatten().copied().collect();
            let square_sum: f64 = present.iter().map(|value| (value - mean).powi(2)).sum();
            Some((square_sum / present.len() as f64, one))
        })
        .collect();
    // Stable and highest first, as Python's sort(reverse=True).
    deviants.sort_by(|left, right| right.0.total_cmp(&left.0));
    Ok(deviants
        .into_iter()
        .take(count)
        .map(|(_, one)| one)
        .collect())
}

/// graphite-web folds a percentile below 50 onto its mirror: 10 and 90 both mean the band
/// between the 10th and the 90th percentile.
fn band_percent(percent: f64) -> f64 {
    if percent < 50.0 {
        100.0 - percent
    } else {
        percent
    }
}

/// Strictly inside the band; a null bound or value is never inside (Python compares None
/// below every number, and `low < None` is false).
fn inside(value: Option<f64>, low: Option<f64>, high: Option<f64>) -> bool {
    match (low, value, high) {
        (Some(low), Some(value), Some(high)) => low < value && value < high,
        // `None < value` is true in graphite's Python 2 ordering; Python 3 raises instead,
        // so with a null bound the value counts as outside.
        _ => false,
    }
}

/// `averageOutsidePercentile(seriesList, n)`: the series whose average is outside the band
/// between the (100-n)th and the nth percentile of the averages.
pub(crate) fn average_outside_percentile(
    arguments: &mut Arguments,
    _: &EvaluationContext,
) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let percent = band_percent(arguments.number(1)?);
    let averages: Vec<Option<f64>> = series
        .iter()
        .map(|one| Aggregation::Average.apply(&one.values))
        .collect();
    let low = percentile(&averages, 100.0 - percent, false);
    let high = percentile(&averages, percent, false);
    Ok(series
        .into_iter()
        .zip(averages)
        .filter(|(_, average)| !inside(*average, low, high))
        .map(|(one, _)| one)
        .collect())
}

/// `removeBetweenPercentile(seriesList, n)`: the series with at least one point outside the
/// band between the (100-n)th and the nth percentile of all the series' points there.
pub(crate) fn remove_between_percentile(
    arguments: &mut Arguments,
    _: &EvaluationContext,
) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let percent = band_percent(arguments.number(1)?);
    // Python's zip stops at the shortest series.
    let length = series.iter().map(|one| one.values.len()).min().unwrap_or(0);
    let bands: Vec<(Option<f64>, Option<f64>)> = (0..length)
        .map(|index| {
            let column: Vec<Option<f64>> = series.iter().map(|one| one.values[index]).collect();
            (
                percentile(&column, 100.0 - percent, false),
                percentile(&column, percent, false),
            )
        })
        .collect();
    Ok(series
        .into_iter()
        .filter(|one| {
            one.values
                .iter()
                .zip(&bands)
                .any(|(value, (low, high))| !inside(*value, *low, *high))
        })
        .collect())
}

/// `removeEmptySeries(seriesList, xFilesFactor=0)`: the series with values, at least the
/// given share of their points.
pub(crate) fn remove_empty_series(
    arguments: &mut Arguments,
    _: &EvaluationContext,
) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let x_files_factor = arguments.optional_number(1)?.unwrap_or(0.0);
    Ok(series
        .into_iter()
        .filter(|one| {
            let present = one.values.iter().flatten().count();
            present > 0 && present as f64 / one.values.len() as f64 >= x_files_factor
        })
        .collect())
}

/// `unique(*seriesLists)`: the first series of each name.
pub(crate) fn unique(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let lists = arguments.repeated_series_lists(0)?;
    let mut seen = HashSet::new();
    Ok(lists
        .into_iter()
        .flatten()
        .filter(|one| seen.insert(one.name.clone()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{evaluate_error, evaluate_names, series};
    use super::*;

    fn stored() -> Vec<TimeSeries> {
        vec![
            // average 4, last 2, max 9, min 1
            series("s.a", &[Some(1.0), Some(9.0), Some(2.0)]),
            // average 5, last 5, max 5, min 5
            series("s.b", &[Some(5.0), Some(5.0), Some(5.0)]),
            // average 4.5, last 1, max 8, min 1
            series("s.c", &[Some(8.0), Some(1.0), None]),
            series("s.d", &[None, None, None]),
        ]
    }

    #[tokio::test]
    async fn filter_table() {
        let stored = stored();
        let cases: &[(&str, &[&str])] = &[
            ("averageAbove(s.*,4)", &["s.b", "s.c"]),
            ("averageBelow(s.*,4)", &["s.a", "s.d"]),
            ("currentAbove(s.*,1)", &["s.a", "s.b"]),
            ("currentBelow(s.*,1)", &["s.c", "s.d"]),
            ("maximumAbove(s.*,8)", &["s.a"]),
            ("maximumBelow(s.*,8)", &["s.b", "s.c", "s.d"]),
            ("minimumAbove(s.*,1)", &["s.b"]),
            ("minimumBelow(s.*,1)", &["s.a", "s.c", "s.d"]),
            ("filterSeries(s.*,'sum','=',15)", &["s.b"]),
            ("filterSeries(s.*,'sum','!=',15)", &["s.a", "s.c", "s.d"]),
            ("filterSeries(s.*,'max','>=',8)", &["s.a", "s.c"]),
            ("filterSeries(s.*,'min','<',5)", &["s.a", "s.c", "s.d"]),
            // Variances: 38/3, 0, 12.25.
            ("mostDeviant(s.*,2)", &["s.a", "s.c"]),
            ("mostDeviant(s.*,9)", &["s.a", "s.c", "s.b"]),
            ("removeEmptySeries(s.*)", &["s.a", "s.b", "s.c"]),
            ("removeEmptySeries(s.*,0.8)", &["s.a", "s.b"]),
            ("unique(s.a,s.*,s.a)", &["s.a", "s.b", "s.c", "s.d"]),
            // Averages 4, 5, 4.5: the 10th percentile is 4, the 90th 5; 4.5 is inside.
            ("averageOutsidePercentile(s.[abc],90)", &["s.a", "s.b"]),
            ("averageOutsidePercentile(s.[abc],10)", &["s.a", "s.b"]),
            // Per point: [1,5,8] → band (1,8); [9,5,1] → (1,9); [2,5] → (2,5).
            (
                "removeBetweenPercentile(s.[abc],90)",
                &["s.a", "s.b", "s.c"],
            ),
            ("removeBetweenPercentile(s.[ab],60)", &["s.a", "s.b"]),
        ];
        for (target, expected) in cases {
            assert_eq!(evaluate_names(target, &stored).await, *expected, "{target}");
        }
        assert!(evaluate_error("filterSeries(s.*,'sum','~',1)", &stored)
            .await
            .contains("unsupported operator \"~\""));
        assert!(evaluate_error("filterSeries(s.*,'nope','>',1)", &stored)
            .await
            .contains("unsupported aggregation function \"nope\""));
    }
}
