//! Combine functions that pair two lists series by series (graphite-web's group "Combine"):
//! `aggregateSeriesLists` and its shorthands `sumSeriesLists`, `diffSeriesLists`,
//! `multiplySeriesLists`, then `divideSeriesLists` and `weightedAverage`. Both lists must
//! have as many series; the i-th of one meets the i-th of the other.

use super::alias::aggregation_key;
use super::arguments::Arguments;
use super::combine::{aggregate, combine_pair, safe_divide};
use super::context::EvaluationContext;
use super::error::EvaluationError;
use super::series::TimeSeries;
use super::SeriesResult;
use std::collections::{BTreeSet, HashMap};

fn equal_lengths(
    arguments: &Arguments,
    first: &[TimeSeries],
    second: &[TimeSeries],
    names: &str,
) -> Result<(), EvaluationError> {
    if first.len() == second.len() {
        return Ok(());
    }
    Err(arguments.invalid(format!(
        "{names} must have as many series (got {} and {})",
        first.len(),
        second.len()
    )))
}

/// Aggregates the i-th series of each list with `function`; each result is named
/// `<function>Series(<first name>,<second name>)` and keeps the tags `aggregate` gives it.
fn aggregate_pairs(
    arguments: &Arguments,
    first: Vec<TimeSeries>,
    second: Vec<TimeSeries>,
    function: &str,
    x_files_factor: f64,
) -> SeriesResult {
    equal_lengths(
        arguments,
        &first,
        &second,
        "seriesListFirstPos and seriesListSecondPos",
    )?;
    let mut results = Vec::new();
    for (left, right) in first.into_iter().zip(second) {
        let names = format!("{},{}", left.name, right.name);
        let Some(mut aggregated) = aggregate(
            vec![left, right],
            function,
            x_files_factor,
            arguments.function,
        )?
        .into_iter()
        .next() else {
            continue;
        };
        let prefix_end = aggregated.name.find("Series(").unwrap_or(0);
        aggregated.name = format!("{}Series({names})", &aggregated.name[..prefix_end]);
        results.push(aggregated);
    }
    Ok(results)
}

/// `aggregateSeriesLists(seriesListFirstPos, seriesListSecondPos, func, xFilesFactor=None)`.
pub(crate) fn aggregate_series_lists(
    arguments: &mut Arguments,
    _: &EvaluationContext,
) -> SeriesResult {
    let first = arguments.series_list(0)?;
    let second = arguments.series_list(1)?;
    let function = arguments.string(2)?;
    let x_files_factor = arguments.optional_number(3)?.unwrap_or(0.0);
    aggregate_pairs(arguments, first, second, &function, x_files_factor)
}

fn shorthand(arguments: &mut Arguments, function: &str) -> SeriesResult {
    let first = arguments.series_list(0)?;
    let second = arguments.series_list(1)?;
    aggregate_pairs(arguments, first, second, function, 0.0)
}

/// `sumSeriesLists(seriesListFirstPos, seriesListSecondPos)`.
pub(crate) fn sum_series_lists(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    shorthand(arguments, "sum")
}

/// `diffSeriesLists(seriesListFirstPos, seriesListSecondPos)`.
pub(crate) fn diff_series_lists(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    shorthand(arguments, "diff")
}

/// `multiplySeriesLists(seriesListFirstPos, seriesListSecondPos)`.
pub(crate) fn multiply_series_lists(
    arguments: &mut Arguments,
    _: &EvaluationContext,
) -> SeriesResult {
    shorthand(arguments, "multiply")
}

/// `divideSeriesLists(dividendSeriesList, divisorSeriesList)`: the i-th dividend over the
/// i-th divisor, named `divideSeries(<dividend>,<divisor>)`; a null or zero divisor gives null.
pub(crate) fn divide_series_lists(
    arguments: &mut Arguments,
    _: &EvaluationContext,
) -> SeriesResult {
    let dividends = arguments.series_list(0)?;
    let divisors = arguments.series_list(1)?;
    equal_lengths(
        arguments,
        &dividends,
        &divisors,
        "dividendSeriesList and divisorSeriesList",
    )?;
    Ok(dividends
        .iter()
        .zip(&divisors)
        .filter_map(|(dividend, divisor)| {
            let name = format!("divideSeries({},{})", dividend.name, divisor.name);
            combine_pair(name, dividend, divisor, safe_divide)
        })
        .collect())
}

/// `weightedAverage(seriesListAvg, seriesListWeight, *nodes)`: the average of the first list
/// weighted by the second, paired by the given nodes (or tags) of their names: at each point
/// the sum of value × weight over the pairs, divided by the sum of all the weights.
pub(crate) fn weighted_average(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let averages = arguments.series_list(0)?;
    let weights = arguments.series_list(1)?;
    let nodes = arguments.repeated_nodes_or_tags(2)?;
    if averages.len() != weights.len() {
        return Err(arguments.invalid(format!(
            "seriesListAvg and seriesListWeight must have as many series (got {} and {})",
            averages.len(),
            weights.len()
        )));
    }
    // Pairs by key, in the order keys first appear (graphite-web's dict), the last series of
    // a key winning.
    let mut keys: Vec<String> = Vec::new();
    let mut pairs: HashMap<String, (Option<&TimeSeries>, Option<&TimeSeries>)> = HashMap::new();
    for (average, weight) in averages.iter().zip(&weights) {
        for (series, is_weight) in [(average, false), (weight, true)] {
            let key = aggregation_key(series, &nodes);
            let entry = pairs.entry(key.clone()).or_insert_with(|| {
                keys.push(key);
                (None, None)
            });
            if is_weight {
                entry.1 = Some(series);
            } else {
                entry.0 = Some(series);
            }
        }
    }
    let products: Vec<TimeSeries> = keys
        .iter()
        .filter_map(|key| match pairs.get(key) {
            Some((Some(average), Some(weight))) => {
                let values = (0..average.values.len().max(weight.values.len()))
                    .map(|index| {
                        let value = average.values.get(index).copied().flatten()?;
                        let factor = weight.values.get(index).copied().flatten()?;
                        Some(value * factor)
                    })
                    .collect();
                let name = format!("product({},{})", weight.name, average.name);
                Some(TimeSeries::new(name, average.start, average.step, values))
            }
            _ => None,
        })
        .collect();
    if products.is_empty() {
        return Ok(Vec::new());
    }
    let caller = arguments.function;
    let (Some(product_sum), Some(weight_sum)) = (
        aggregate(products, "sum", 0.0, caller)?.into_iter().next(),
        aggregate(weights.clone(), "sum", 0.0, caller)?
            .into_iter()
            .next(),
    ) else {
        return Ok(Vec::new());
    };
    let values = (0..product_sum.values.len().max(weight_sum.values.len()))
        .map(|index| {
            safe_divide(
                product_sum.values.get(index).copied().flatten(),
                weight_sum.values.get(index).copied().flatten(),
            )
        })
        .collect();
    let sorted_paths = |list: &[TimeSeries]| {
        list.iter()
            .map(|one| one.path_expression.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(",")
    };
    let node_text: Vec<String> = nodes
        .iter()
        .map(|node| match node {
            super::arguments::NodeOrTag::Node(index) => index.to_string(),
            super::arguments::NodeOrTag::Tag(tag) => tag.clone(),
        })
        .collect();
    let name = format!(
        "weightedAverage({}, {}, {})",
        sorted_paths(&averages),
        sorted_paths(&weights),
        node_text.join(",")
    );
    Ok(vec![TimeSeries::new(
        name,
        product_sum.start,
        product_sum.step,
        values,
    )])
}

#[cfg(test)]
mod tests {
    use super::super::testing::NamedValues;
    use super::super::testing::{evaluate_error, evaluate_target, evaluate_values, series};

    fn named(name: &str, values: &[Option<f64>]) -> (String, Vec<Option<f64>>) {
        (name.to_owned(), values.to_vec())
    }

    #[tokio::test]
    async fn series_lists_table() {
        let stored = vec![
            series("used.a", &[Some(1.0), None, Some(3.0)]),
            series("used.b", &[Some(2.0), Some(4.0), Some(6.0)]),
            series("total.a", &[Some(4.0), Some(2.0), Some(0.0)]),
            series("total.b", &[Some(8.0), None, Some(3.0)]),
        ];
        let cases: Vec<(&str, NamedValues)> = vec![
            (
                "sumSeriesLists(used.*,total.*)",
                vec![
                    named(
                        "sumSeries(used.a,total.a)",
                        &[Some(5.0), Some(2.0), Some(3.0)],
                    ),
                    named(
                        "sumSeries(used.b,total.b)",
                        &[Some(10.0), Some(4.0), Some(9.0)],
                    ),
                ],
            ),
            (
                "diffSeriesLists(used.*,total.*)",
                vec![
                    named(
                        "diffSeries(used.a,total.a)",
                        &[Some(-3.0), Some(2.0), Some(3.0)],
                    ),
                    named(
                        "diffSeries(used.b,total.b)",
                        &[Some(-6.0), Some(4.0), Some(3.0)],
                    ),
                ],
            ),
            (
                "multiplySeriesLists(used.*,total.*)",
                vec![
                    named(
                        "multiplySeries(used.a,total.a)",
                        &[Some(4.0), None, Some(0.0)],
                    ),
                    named(
                        "multiplySeries(used.b,total.b)",
                        &[Some(16.0), None, Some(18.0)],
                    ),
                ],
            ),
            (
                "aggregateSeriesLists(used.*,total.*,'maxSeries')",
                vec![
                    named(
                        "maxSeries(used.a,total.a)",
                        &[Some(4.0), Some(2.0), Some(3.0)],
                    ),
                    named(
                        "maxSeries(used.b,total.b)",
                        &[Some(8.0), Some(4.0), Some(6.0)],
                    ),
                ],
            ),
            (
                "aggregateSeriesLists(used.*,total.*,'sum',0.6)",
                vec![
                    named("sumSeries(used.a,total.a)", &[Some(5.0), None, Some(3.0)]),
                    named("sumSeries(used.b,total.b)", &[Some(10.0), None, Some(9.0)]),
                ],
            ),
            (
                "divideSeriesLists(used.*,total.*)",
                vec![
                    named("divideSeries(used.a,total.a)", &[Some(0.25), None, None]),
                    named(
                        "divideSeries(used.b,total.b)",
                        &[Some(0.25), None, Some(2.0)],
                    ),
                ],
            ),
            (
                // (1×4 + 2×8) / 12, (null + null) / 2 → null, (3×0 + 6×3) / 3.
                "weightedAverage(used.*,total.*,1)",
                vec![named(
                    "weightedAverage(used.*, total.*, 1)",
                    &[Some(20.0 / 12.0), None, Some(6.0)],
                )],
            ),
        ];
        for (target, expected) in cases {
            assert_eq!(evaluate_values(target, &stored).await, expected, "{target}");
        }
        let summed = evaluate_target("sumSeriesLists(used.a,total.a)", &stored).await;
        assert_eq!(
            summed[0].tags.get("name").map(String::as_str),
            Some("sumSeries(used.a,total.a)")
        );
        assert!(evaluate_error("sumSeriesLists(used.*,total.a)", &stored)
            .await
            .contains("must have as many series (got 2 and 1)"));
        assert!(evaluate_error("divideSeriesLists(used.*,total.a)", &stored)
            .await
            .contains("must have as many series (got 2 and 1)"));
    }
}
