//! Functions that merge series (graphite-web's group "Combine"): the `*Series` aggregates,
//! `divideSeries`, `asPercent`, `percentileOfSeries`, the grouping functions and the
//! `*WithWildcards` family.
//!
//! Series of different steps are first normalized to their least common multiple step
//! ([`normalize`]). A point where every input is null is null; otherwise nulls are skipped as
//! graphite-web's `safe*` helpers skip them.

use super::alias::aggregation_key;
use super::arguments::{Arguments, NodeOrTag, Value};
use super::context::EvaluationContext;
use super::error::EvaluationError;
use super::series::{
    format_g, format_python_float, normalize, percentile, Aggregation, Consolidation, TimeSeries,
};
use super::SeriesResult;
use std::collections::{BTreeMap, HashMap};

/// graphite-web's `formatPathExpressions`: the distinct path expressions, in order, joined by
/// commas. `sumSeries(a.*)` is named after the pattern, not after every series it matched.
pub(crate) fn format_path_expressions(series: &[TimeSeries]) -> String {
    let mut distinct: Vec<&str> = Vec::new();
    for one in series {
        if !distinct.contains(&one.path_expression.as_str()) {
            distinct.push(&one.path_expression);
        }
    }
    distinct.join(",")
}

/// graphite-web's `aggregate`: one series named `<function>Series(<path expressions>)` whose
/// points apply the aggregation to every input's point. `function_name` may carry graphite's
/// deprecated `Series` suffix (`sumSeries` is `sum`). `x_files_factor` is the share of non-null
/// inputs a point needs (0: at least one).
pub(crate) fn aggregate(
    series: Vec<TimeSeries>,
    function_name: &str,
    x_files_factor: f64,
    caller: &str,
) -> SeriesResult {
    let function_name = function_name
        .strip_suffix("Series")
        .filter(|stripped| !stripped.is_empty())
        .unwrap_or(function_name);
    let aggregation = Aggregation::from_name(function_name).ok_or_else(|| {
        EvaluationError::invalid(
            caller,
            format!("unsupported aggregation function \"{function_name}\""),
        )
    })?;
    let references: Vec<&TimeSeries> = series.iter().collect();
    let Some(normalized) = normalize(&references) else {
        return Ok(Vec::new());
    };
    let name = format!(
        "{function_name}Series({})",
        format_path_expressions(&series)
    );
    let values = (0..normalized.len())
        .map(|index| {
            let row = normalized.row(index);
            let present = row.iter().flatten().count();
            let enough = present > 0 && present as f64 / row.len() as f64 >= x_files_factor;
            enough.then(|| aggregation.apply(&row)).flatten()
        })
        .collect();
    // The tags every input shares, as graphite-web keeps them.
    let mut tags = series[0].tags.clone();
    for one in &series[1..] {
        tags.retain(|key, value| one.tags.get(key) == Some(value));
    }
    tags.entry("name".to_owned())
        .or_insert_with(|| name.clone());
    tags.insert("aggregatedBy".to_owned(), function_name.to_owned());
    // A sum or average of series that all consolidate alike (counts: by summing) still means
    // the same thing, so it keeps their consolidation; graphite-web would fall back to
    // averaging, which under maxDataPoints turns a sum of counts into a mean per bucket.
    let shared_consolidation = series
        .iter()
        .map(|one| one.consolidation)
        .reduce(|shared, next| {
            if shared == next {
                shared
            } else {
                Consolidation::Average
            }
        })
        .filter(|_| matches!(aggregation, Aggregation::Sum | Aggregation::Average))
        .unwrap_or_default();
    Ok(vec![TimeSeries {
        tags,
        consolidation: shared_consolidation,
        ..TimeSeries::new(name, normalized.start, normalized.step, values)
    }])
}

fn flattened(arguments: &mut Arguments) -> Result<Vec<TimeSeries>, EvaluationError> {
    Ok(arguments
        .repeated_series_lists(0)?
        .into_iter()
        .flatten()
        .collect())
}

pub(crate) fn sum_series(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    aggregate(flattened(arguments)?, "sum", 0.0, arguments.function)
}

pub(crate) fn average_series(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    aggregate(flattened(arguments)?, "average", 0.0, arguments.function)
}

pub(crate) fn min_series(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    aggregate(flattened(arguments)?, "min", 0.0, arguments.function)
}

pub(crate) fn max_series(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    aggregate(flattened(arguments)?, "max", 0.0, arguments.function)
}

pub(crate) fn diff_series(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    aggregate(flattened(arguments)?, "diff", 0.0, arguments.function)
}

pub(crate) fn multiply_series(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let lists = arguments.repeated_series_lists(0)?;
    // graphite-web keeps a lone series as it is (its legacy behaviour).
    if let [single] = lists.as_slice() {
        if single.len() == 1 {
            return Ok(single.clone());
        }
    }
    let series = lists.into_iter().flatten().collect();
    aggregate(series, "multiply", 0.0, arguments.function)
}

/// `aggregate(seriesList, func, xFilesFactor=None)`.
pub(crate) fn aggregate_function(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let function_name = arguments.string(1)?;
    let x_files_factor = arguments.optional_number(2)?.unwrap_or(0.0);
    aggregate(series, &function_name, x_files_factor, arguments.function)
}

pub(crate) fn safe_divide(dividend: Option<f64>, divisor: Option<f64>) -> Option<f64> {
    match (dividend, divisor) {
        (Some(dividend), Some(divisor)) if divisor != 0.0 => Some(dividend / divisor),
        _ => None,
    }
}

fn percent_of(value: Option<f64>, total: Option<f64>) -> Option<f64> {
    safe_divide(value, total).map(|ratio| ratio * 100.0)
}

/// Divides `dividend` by `divisor` point by point on their common grid; `combine` makes each
/// point from the dividend's and the divisor's.
pub(crate) fn combine_pair(
    name: String,
    dividend: &TimeSeries,
    divisor: &TimeSeries,
    combine: fn(Option<f64>, Option<f64>) -> Option<f64>,
) -> Option<TimeSeries> {
    let normalized = normalize(&[dividend, divisor])?;
    let values = (0..normalized.len())
        .map(|index| match normalized.row(index).as_slice() {
            [left, right] => combine(*left, *right),
            _ => None,
        })
        .collect();
    Some(TimeSeries::new(
        name,
        normalized.start,
        normalized.step,
        values,
    ))
}

/// `divideSeries(dividendSeriesList, divisorSeries)`: each dividend over the one divisor;
/// a null or zero divisor gives null.
pub(crate) fn divide_series(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let dividends = arguments.series_list(0)?;
    let divisors = arguments.series_list(1)?;
    let divisor = match divisors.as_slice() {
        [] => {
            // graphite-web keeps the dividends, renamed, with every point null.
            return Ok(dividends
                .into_iter()
                .map(|series| {
                    let name = format!("divideSeries({},MISSING)", series.name);
                    let values = vec![None; series.values.len()];
                    TimeSeries { values, ..series }.renamed(name)
                })
                .collect());
        }
        [divisor] => divisor,
        several => {
            return Err(arguments.invalid(format!(
                "the second argument must reference exactly 1 series (got {})",
                several.len()
            )));
        }
    };
    Ok(dividends
        .iter()
        .filter_map(|dividend| {
            let name = format!("divideSeries({},{})", dividend.name, divisor.name);
            combine_pair(name, dividend, divisor, safe_divide)
        })
        .collect())
}

/// `asPercent(seriesList, total=None, *nodes)`: each series as a percentage of a total — the
/// sum of the list, a number, one series, a list of the same length (matched by sorted name),
/// or, with nodes, the total of the same group (as in graphite-web's `groupByNodes`).
pub(crate) fn as_percent(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let total = arguments.any(1);
    let nodes = arguments.repeated_nodes_or_tags(2)?;
    if !nodes.is_empty() {
        return as_percent_by_nodes(arguments, series, total, &nodes);
    }
    match total {
        None => {
            let references: Vec<&TimeSeries> = series.iter().collect();
            let Some(normalized) = normalize(&references) else {
                return Ok(Vec::new());
            };
            let totals: Vec<Option<f64>> = (0..normalized.len())
                .map(|index| Aggregation::Sum.apply(&normalized.row(index)))
                .collect();
            let total_text = format!("sumSeries({})", format_path_expressions(&series));
            Ok(series
                .iter()
                .zip(&normalized.columns)
                .map(|(one, column)| {
                    let values = column
                        .iter()
                        .zip(&totals)
                        .map(|(value, total)| percent_of(*value, *total))
                        .collect();
                    let name = format!("asPercent({},{total_text})", one.name);
                    TimeSeries::new(name, normalized.start, normalized.step, values)
                })
                .collect())
        }
        Some(Value::Integer(_) | Value::Float(_)) => {
            let (total, total_text) = match total {
                Some(Value::Integer(integer)) => (integer as f64, integer.to_string()),
                Some(Value::Float(float)) => (float, format_python_float(float)),
                _ => (f64::NAN, String::new()),
            };
            Ok(series
                .into_iter()
                .map(|one| {
                    let name = format!("asPercent({},{total_text})", one.name);
                    let values = one
                        .values
                        .iter()
                        .map(|value| percent_of(*value, Some(total)))
                        .collect();
                    TimeSeries::new(name, one.start, one.step, values)
                })
                .collect())
        }
        Some(Value::SeriesList(totals)) if totals.len() == 1 => {
            let total = &totals[0];
            Ok(series
                .iter()
                .filter_map(|one| {
                    let name = format!("asPercent({},{})", one.name, total.name);
                    combine_pair(name, one, total, percent_of)
                })
                .collect())
        }
        Some(Value::SeriesList(mut totals)) if totals.len() == series.len() => {
            let mut series = series;
            series.sort_by(|left, right| left.name.cmp(&right.name));
            totals.sort_by(|left, right| left.name.cmp(&right.name));
            Ok(series
                .iter()
                .zip(&totals)
                .filter_map(|(one, total)| {
                    let name = format!("asPercent({},{})", one.name, total.name);
                    combine_pair(name, one, total, percent_of)
                })
                .collect())
        }
        Some(Value::SeriesList(_)) => Err(arguments.invalid(
            "the total must be missing, a number, exactly 1 series or as many series as the first argument",
        )),
        Some(_) => Err(EvaluationError::WrongArgumentType {
            function: arguments.function.to_owned(),
            position: 2,
            expected: "number or series list".to_owned(),
        }),
    }
}

/// Groups series by their key (in order of first appearance).
pub(crate) fn group_by_key(
    series: Vec<TimeSeries>,
    key_of: impl Fn(&TimeSeries) -> String,
) -> Vec<(String, Vec<TimeSeries>)> {
    let mut groups: Vec<(String, Vec<TimeSeries>)> = Vec::new();
    let mut index_of: HashMap<String, usize> = HashMap::new();
    for one in series {
        let key = key_of(&one);
        match index_of.get(&key) {
            Some(&index) => groups[index].1.push(one),
            None => {
                index_of.insert(key.clone(), groups.len());
                groups.push((key, vec![one]));
            }
        }
    }
    groups
}

/// The total of a group: itself when alone, else their sum named `sumSeries(...)`.
fn group_total(
    group: Vec<TimeSeries>,
    caller: &str,
) -> Result<Option<TimeSeries>, EvaluationError> {
    if group.len() == 1 {
        return Ok(group.into_iter().next());
    }
    Ok(aggregate(group, "sum", 0.0, caller)?.into_iter().next())
}

fn as_percent_by_nodes(
    arguments: &Arguments,
    series: Vec<TimeSeries>,
    total: Option<Value>,
    nodes: &[NodeOrTag],
) -> SeriesResult {
    let groups = group_by_key(series, |one| aggregation_key(one, nodes));
    let mut keys: Vec<String> = groups.iter().map(|(key, _)| key.clone()).collect();
    let mut totals: BTreeMap<String, TimeSeries> = BTreeMap::new();
    match total {
        None => {
            for (key, group) in &groups {
                if let Some(total) = group_total(group.clone(), arguments.function)? {
                    totals.insert(key.clone(), total);
                }
            }
        }
        Some(Value::SeriesList(total_series)) => {
            for (key, group) in group_by_key(total_series, |one| aggregation_key(one, nodes)) {
                if !keys.contains(&key) {
                    keys.push(key.clone());
                }
                if let Some(total) = group_total(group, arguments.function)? {
                    totals.insert(key, total);
                }
            }
        }
        Some(_) => {
            return Err(arguments.invalid("with nodes, the total must be None or a series list"))
        }
    }
    let members: HashMap<&str, &Vec<TimeSeries>> = groups
        .iter()
        .map(|(key, group)| (key.as_str(), group))
        .collect();
    let mut results = Vec::new();
    for key in &keys {
        let total = totals.get(key);
        match (members.get(key.as_str()), total) {
            (None, Some(total)) => {
                let name = format!("asPercent(MISSING,{})", total.name);
                let values = vec![None; total.values.len()];
                results.push(TimeSeries::new(name, total.start, total.step, values));
            }
            (Some(group), total) => {
                for one in group.iter() {
                    let Some(total) = total else {
                        let name = format!("asPercent({},MISSING)", one.name);
                        let values = vec![None; one.values.len()];
                        results.push(TimeSeries::new(name, one.start, one.step, values));
                        continue;
                    };
                    let name = format!("asPercent({},{})", one.name, total.name);
                    results.extend(combine_pair(name, one, total, percent_of));
                }
            }
            (None, None) => {}
        }
    }
    Ok(results)
}

/// `percentileOfSeries(seriesList, n, interpolate=False)`: at each point, the n-th percentile
/// of the series' values there.
pub(crate) fn percentile_of_series(
    arguments: &mut Arguments,
    _: &EvaluationContext,
) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let percent = arguments.number(1)?;
    let interpolate = arguments.boolean_or(2, false)?;
    if percent <= 0.0 {
        return Err(arguments.invalid("the requested percent must be greater than 0"));
    }
    let references: Vec<&TimeSeries> = series.iter().collect();
    let Some(normalized) = normalize(&references) else {
        return Ok(Vec::new());
    };
    let name = format!(
        "percentileOfSeries({},{})",
        series[0].path_expression,
        format_g(percent)
    );
    let values = (0..normalized.len())
        .map(|index| percentile(&normalized.row(index), percent, interpolate))
        .collect();
    Ok(vec![TimeSeries::new(
        name,
        normalized.start,
        normalized.step,
        values,
    )])
}

/// Aggregates each group and names the result after its key.
pub(crate) fn aggregate_groups(
    groups: Vec<(String, Vec<TimeSeries>)>,
    callback: &str,
    caller: &str,
) -> SeriesResult {
    let mut results = Vec::new();
    for (key, group) in groups {
        if let Some(mut aggregated) = aggregate(group, callback, 0.0, caller)?.into_iter().next() {
            aggregated.name = key;
            results.push(aggregated);
        }
    }
    Ok(results)
}

/// `groupByNode(seriesList, nodeNum, callback='average')`: one aggregate per distinct value of
/// a node (or tag), named by that value.
pub(crate) fn group_by_node(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let node = arguments.node_or_tag(1)?;
    let callback = arguments
        .optional_string(2)?
        .unwrap_or_else(|| "average".to_owned());
    let nodes = [node];
    let groups = group_by_key(series, |one| aggregation_key(one, &nodes));
    aggregate_groups(groups, &callback, arguments.function)
}

/// `groupByNodes(seriesList, callback, *nodes)`.
pub(crate) fn group_by_nodes(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let callback = arguments.string(1)?;
    let nodes = arguments.repeated_nodes_or_tags(2)?;
    let groups = group_by_key(series, |one| aggregation_key(one, &nodes));
    aggregate_groups(groups, &callback, arguments.function)
}

/// `groupByTags(seriesList, callback, *tags)`: one aggregate per distinct combination of the
/// tags, named `<name>;tag=value;...` (tags sorted) and tagged accordingly. `<name>` is the
/// common `name` tag of the inputs, or the callback when they differ.
pub(crate) fn group_by_tags(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let callback = arguments.string(1)?;
    let tags = arguments.repeated_strings(2)?;
    let grouping_by_name = tags.iter().any(|tag| tag == "name");
    let mut names: Vec<&str> = series
        .iter()
        .map(|one| one.tags.get("name").map_or("", String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    let common_name = match names.as_slice() {
        [single] => (*single).to_owned(),
        _ => callback.clone(),
    };
    let key_of = |one: &TimeSeries| {
        let mut pairs: Vec<String> = tags
            .iter()
            .filter(|tag| tag.as_str() != "name")
            .map(|tag| format!("{tag}={}", one.tags.get(tag).map_or("", String::as_str)))
            .collect();
        pairs.sort();
        let name = if grouping_by_name {
            one.tags.get("name").cloned().unwrap_or_default()
        } else {
            common_name.clone()
        };
        std::iter::once(name)
            .chain(pairs)
            .collect::<Vec<_>>()
            .join(";")
    };
    let groups = group_by_key(series, key_of);
    let mut results = aggregate_groups(groups, &callback, arguments.function)?;
    for result in &mut results {
        result.path_expression = result.name.clone();
        result.tags = super::series::tags_from_name(&result.name);
    }
    Ok(results)
}

/// The name with the nodes at `positions` removed (graphite-web's `aggregateWithWildcards`).
pub(crate) fn name_without_positions(name: &str, positions: &[i64]) -> String {
    name.split('.')
        .enumerate()
        .filter(|(index, _)| !positions.contains(&(*index as i64)))
        .map(|(_, node)| node)
        .collect::<Vec<_>>()
        .join(".")
}

fn aggregate_with_wildcards(arguments: &mut Arguments, function_name: &str) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let positions = arguments.repeated_integers(1)?;
    let groups = group_by_key(series, |one| name_without_positions(&one.name, &positions));
    aggregate_groups(groups, function_name, arguments.function)
}

/// `sumSeriesWithWildcards(seriesList, *position)`.
pub(crate) fn sum_series_with_wildcards(
    arguments: &mut Arguments,
    _: &EvaluationContext,
) -> SeriesResult {
    aggregate_with_wildcards(arguments, "sum")
}

/// `averageSeriesWithWildcards(seriesList, *position)`.
pub(crate) fn average_series_with_wildcards(
    arguments: &mut Arguments,
    _: &EvaluationContext,
) -> SeriesResult {
    aggregate_with_wildcards(arguments, "average")
}

#[cfg(test)]
mod tests {
    use super::super::series::Consolidation;
    use super::super::testing::{
        context_for, evaluate_error, evaluate_target, evaluate_values, evaluate_with, series,
        values, NamedValues, START,
    };
    use super::*;

    fn named(name: &str, values: &[Option<f64>]) -> (String, Vec<Option<f64>>) {
        (name.to_owned(), values.to_vec())
    }

    fn stored() -> Vec<TimeSeries> {
        vec![
            series("a.x", &[Some(1.0), None, Some(3.0), None]),
            series("a.y", &[Some(10.0), Some(20.0), None, None]),
            series("b.z", &[Some(2.0), Some(4.0), Some(0.0), Some(5.0)]),
        ]
    }

    #[tokio::test]
    async fn sums_and_averages_of_counts_keep_summing_when_consolidated() {
        let mut stored = stored();
        for one in &mut stored {
            one.consolidation = Consolidation::Sum;
        }
        let cases = [
            ("sumSeries(a.*)", Consolidation::Sum),
            ("averageSeries(a.*)", Consolidation::Sum),
            ("maxSeries(a.*)", Consolidation::Average),
        ];
        for (target, expected) in cases {
            let result = evaluate_target(target, &stored).await;
            assert_eq!(result[0].consolidation, expected, "{target}");
        }
        stored[1].consolidation = Consolidation::Max;
        let mixed = evaluate_target("sumSeries(a.*)", &stored).await;
        assert_eq!(mixed[0].consolidation, Consolidation::Average);
    }

    #[tokio::test]
    async fn aggregates_table() {
        let stored = stored();
        let cases: Vec<(&str, NamedValues)> = vec![
            (
                "sumSeries(a.*)",
                vec![named(
                    "sumSeries(a.*)",
                    &[Some(11.0), Some(20.0), Some(3.0), None],
                )],
            ),
            (
                "sum(a.*,b.z)",
                vec![named(
                    "sumSeries(a.*,b.z)",
                    &[Some(13.0), Some(24.0), Some(3.0), Some(5.0)],
                )],
            ),
            (
                "averageSeries(a.*)",
                vec![named(
                    "averageSeries(a.*)",
                    &[Some(5.5), Some(20.0), Some(3.0), None],
                )],
            ),
            (
                "avg(a.x,b.z)",
                vec![named(
                    "averageSeries(a.x,b.z)",
                    &[Some(1.5), Some(4.0), Some(1.5), Some(5.0)],
                )],
            ),
            (
                "minSeries(a.*)",
                vec![named(
                    "minSeries(a.*)",
                    &[Some(1.0), Some(20.0), Some(3.0), None],
                )],
            ),
            (
                "maxSeries(a.*)",
                vec![named(
                    "maxSeries(a.*)",
                    &[Some(10.0), Some(20.0), Some(3.0), None],
                )],
            ),
            (
                // graphite-web's safeDiff skips nulls: where a.y is null, a.x is the result;
                // where a.x is null, a.y's value becomes the minuend.
                "diffSeries(a.y,a.x)",
                vec![named(
                    "diffSeries(a.y,a.x)",
                    &[Some(9.0), Some(20.0), Some(3.0), None],
                )],
            ),
            (
                "multiplySeries(a.x,b.z)",
                vec![named(
                    "multiplySeries(a.x,b.z)",
                    &[Some(2.0), None, Some(0.0), None],
                )],
            ),
            (
                "multiplySeries(b.z)",
                vec![named("b.z", &[Some(2.0), Some(4.0), Some(0.0), Some(5.0)])],
            ),
            (
                "aggregate(a.*,'max')",
                vec![named(
                    "maxSeries(a.*)",
                    &[Some(10.0), Some(20.0), Some(3.0), None],
                )],
            ),
            (
                "aggregate(a.*,'sumSeries')",
                vec![named(
                    "sumSeries(a.*)",
                    &[Some(11.0), Some(20.0), Some(3.0), None],
                )],
            ),
            (
                // Half the inputs must have a value.
                "aggregate(a.*,'sum',0.6)",
                vec![named("sumSeries(a.*)", &[Some(11.0), None, None, None])],
            ),
            (
                "sumSeries(scale(a.*,2))",
                vec![named(
                    "sumSeries(scale(a.x,2),scale(a.y,2))",
                    &[Some(22.0), Some(40.0), Some(6.0), None],
                )],
            ),
            ("sumSeries(nothing.*)", vec![]),
        ];
        for (target, expected) in cases {
            assert_eq!(evaluate_values(target, &stored).await, expected, "{target}");
        }
        let summed = evaluate_target("sumSeries(a.*)", &stored).await;
        assert_eq!(summed[0].path_expression, "sumSeries(a.*)");
        assert_eq!(
            summed[0].tags.get("name").map(String::as_str),
            Some("sumSeries(a.*)")
        );
        assert_eq!(
            summed[0].tags.get("aggregatedBy").map(String::as_str),
            Some("sum")
        );
        assert!(evaluate_error("aggregate(a.*,'nope')", &stored)
            .await
            .contains("unsupported aggregation function \"nope\""));
    }

    #[tokio::test]
    async fn aggregates_keep_shared_tags() {
        let stored = [
            series("cpu;dc=west;host=a", &[Some(1.0)]),
            series("cpu;dc=west;host=b", &[Some(2.0)]),
        ];
        let summed = evaluate_target("sumSeries(seriesByTag('name=cpu'))", &stored).await;
        let tags: Vec<(&str, &str)> = summed[0]
            .tags
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        assert_eq!(
            tags,
            vec![("aggregatedBy", "sum"), ("dc", "west"), ("name", "cpu")]
        );
    }

    #[tokio::test]
    async fn different_steps_meet_at_the_least_common_multiple() {
        // A 10 s counter (summed when consolidated) and a 30 s one over the same minute.
        let mut fine = TimeSeries::new("fine", START, 10, values(&[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]));
        fine.consolidation = Consolidation::Sum;
        let coarse = TimeSeries::new("coarse", START, 30, values(&[10.0, 20.0]));
        let stored = [fine.clone(), coarse];
        let result = evaluate_with("sumSeries(fine,coarse)", &stored, &context_for(&stored))
            .await
            .unwrap();
        assert_eq!(result[0].step, 30);
        assert_eq!(result[0].values, vec![Some(13.0), Some(26.0)]);
        // Averaged by default.
        let averaged = [TimeSeries {
            consolidation: Consolidation::Average,
            ..fine
        }];
        let mut both = averaged.to_vec();
        both.push(TimeSeries::new("coarse", START, 30, values(&[10.0, 20.0])));
        let result = evaluate_with("sumSeries(fine,coarse)", &both, &context_for(&both))
            .await
            .unwrap();
        assert_eq!(result[0].values, vec![Some(11.0), Some(22.0)]);
    }

    #[tokio::test]
    async fn divide_series_table() {
        let stored = [
            series("n.a", &[Some(10.0), Some(5.0), None, Some(3.0)]),
            series("n.b", &[Some(1.0), Some(2.0), Some(3.0), Some(4.0)]),
            series("d", &[Some(2.0), Some(0.0), Some(1.0), None]),
        ];
        let cases: Vec<(&str, NamedValues)> = vec![
            (
                "divideSeries(n.a,d)",
                vec![named("divideSeries(n.a,d)", &[Some(5.0), None, None, None])],
            ),
            (
                "divideSeries(n.*,d)",
                vec![
                    named("divideSeries(n.a,d)", &[Some(5.0), None, None, None]),
                    named("divideSeries(n.b,d)", &[Some(0.5), None, Some(3.0), None]),
                ],
            ),
            (
                "divideSeries(n.a,missing)",
                vec![named(
                    "divideSeries(n.a,MISSING)",
                    &[None, None, None, None],
                )],
            ),
        ];
        for (target, expected) in cases {
            assert_eq!(evaluate_values(target, &stored).await, expected, "{target}");
        }
        assert_eq!(
            evaluate_error("divideSeries(d,n.*)", &stored).await,
            "invalid argument for divideSeries: the second argument must reference exactly 1 series (got 2)"
        );
    }

    #[tokio::test]
    async fn as_percent_table() {
        let stored = [
            series("s1.used", &[Some(1.0), Some(3.0), None]),
            series("s1.total", &[Some(4.0), Some(4.0), Some(4.0)]),
            series("s2.used", &[Some(2.0), Some(1.0), Some(1.0)]),
            series("s2.total", &[Some(8.0), Some(0.0), Some(2.0)]),
        ];
        let cases: Vec<(&str, NamedValues)> = vec![
            (
                "asPercent(s*.used)",
                vec![
                    named(
                        "asPercent(s1.used,sumSeries(s*.used))",
                        &[Some(1.0 / 3.0 * 100.0), Some(75.0), None],
                    ),
                    named(
                        "asPercent(s2.used,sumSeries(s*.used))",
                        &[Some(2.0 / 3.0 * 100.0), Some(25.0), Some(100.0)],
                    ),
                ],
            ),
            (
                "asPercent(s1.used,4)",
                vec![named(
                    "asPercent(s1.used,4)",
                    &[Some(25.0), Some(75.0), None],
                )],
            ),
            (
                "asPercent(s1.used,0.5)",
                vec![named(
                    "asPercent(s1.used,0.5)",
                    &[Some(200.0), Some(600.0), None],
                )],
            ),
            (
                "asPercent(s*.used,s1.total)",
                vec![
                    named(
                        "asPercent(s1.used,s1.total)",
                        &[Some(25.0), Some(75.0), None],
                    ),
                    named(
                        "asPercent(s2.used,s1.total)",
                        &[Some(50.0), Some(25.0), Some(25.0)],
                    ),
                ],
            ),
            (
                // Same length: matched by sorted name; a zero total is null.
                "asPercent(s*.used,s*.total)",
                vec![
                    named(
                        "asPercent(s1.used,s1.total)",
                        &[Some(25.0), Some(75.0), None],
                    ),
                    named(
                        "asPercent(s2.used,s2.total)",
                        &[Some(25.0), None, Some(50.0)],
                    ),
                ],
            ),
            (
                "asPercent(s*.used,s*.total,0)",
                vec![
                    named(
                        "asPercent(s1.used,s1.total)",
                        &[Some(25.0), Some(75.0), None],
                    ),
                    named(
                        "asPercent(s2.used,s2.total)",
                        &[Some(25.0), None, Some(50.0)],
                    ),
                ],
            ),
            (
                "asPercent(s{1,2}.used,s{1,3}.total,0)",
                vec![
                    named(
                        "asPercent(s1.used,s1.total)",
                        &[Some(25.0), Some(75.0), None],
                    ),
                    named("asPercent(s2.used,MISSING)", &[None, None, None]),
                ],
            ),
            (
                "asPercent(s*.*,None,0)",
                vec![
                    named(
                        "asPercent(s1.used,sumSeries(s*.*))",
                        &[Some(20.0), Some(3.0 / 7.0 * 100.0), None],
                    ),
                    named(
                        "asPercent(s1.total,sumSeries(s*.*))",
                        &[Some(80.0), Some(4.0 / 7.0 * 100.0), Some(100.0)],
                    ),
                    named(
                        "asPercent(s2.used,sumSeries(s*.*))",
                        &[Some(20.0), Some(100.0), Some(1.0 / 3.0 * 100.0)],
                    ),
                    named(
                        "asPercent(s2.total,sumSeries(s*.*))",
                        &[Some(80.0), Some(0.0), Some(2.0 / 3.0 * 100.0)],
                    ),
                ],
            ),
        ];
        for (target, expected) in cases {
            assert_eq!(evaluate_values(target, &stored).await, expected, "{target}");
        }
        assert!(evaluate_error("asPercent(s*.used,s*.*)", &stored)
            .await
            .contains("the total must be missing, a number, exactly 1 series"));
        assert!(evaluate_error("asPercent(s*.used,4,0)", &stored)
            .await
            .contains("with nodes, the total must be None or a series list"));
    }

    #[tokio::test]
    async fn percentile_of_series_table() {
        let stored = [
            series("p.a", &[Some(1.0), Some(5.0)]),
            series("p.b", &[Some(2.0), None]),
            series("p.c", &[Some(3.0), Some(7.0)]),
            series("p.d", &[Some(4.0), None]),
        ];
        let cases: Vec<(&str, NamedValues)> = vec![
            (
                "percentileOfSeries(p.*,50)",
                vec![named("percentileOfSeries(p.*,50)", &[Some(3.0), Some(7.0)])],
            ),
            (
                "percentileOfSeries(p.*,75)",
                vec![named("percentileOfSeries(p.*,75)", &[Some(4.0), Some(7.0)])],
            ),
            (
                "percentileOfSeries(p.*,50,true)",
                vec![named("percentileOfSeries(p.*,50)", &[Some(2.5), Some(6.0)])],
            ),
        ];
        for (target, expected) in cases {
            assert_eq!(evaluate_values(target, &stored).await, expected, "{target}");
        }
        assert!(evaluate_error("percentileOfSeries(p.*,0)", &stored)
            .await
            .contains("greater than 0"));
    }

    #[tokio::test]
    async fn grouping_table() {
        let stored = [
            series("dc1.web1.cpu", &[Some(1.0), Some(2.0)]),
            series("dc1.web2.cpu", &[Some(3.0), None]),
            series("dc2.web1.cpu", &[Some(5.0), Some(6.0)]),
            series("dc1.web1.mem", &[Some(7.0), Some(8.0)]),
        ];
        let cases: Vec<(&str, NamedValues)> = vec![
            (
                "groupByNode(*.*.cpu,0,'sum')",
                vec![
                    named("dc1", &[Some(4.0), Some(2.0)]),
                    named("dc2", &[Some(5.0), Some(6.0)]),
                ],
            ),
            (
                "groupByNode(*.*.cpu,0)",
                vec![
                    named("dc1", &[Some(2.0), Some(2.0)]),
                    named("dc2", &[Some(5.0), Some(6.0)]),
                ],
            ),
            (
                "groupByNode(*.*.*,-1,'maxSeries')",
                vec![
                    named("cpu", &[Some(5.0), Some(6.0)]),
                    named("mem", &[Some(7.0), Some(8.0)]),
                ],
            ),
            (
                "groupByNodes(*.*.*,'sum',1,2)",
                vec![
                    named("web1.cpu", &[Some(6.0), Some(8.0)]),
                    named("web2.cpu", &[Some(3.0), None]),
                    named("web1.mem", &[Some(7.0), Some(8.0)]),
                ],
            ),
            (
                "sumSeriesWithWildcards(*.*.cpu,1)",
                vec![
                    named("dc1.cpu", &[Some(4.0), Some(2.0)]),
                    named("dc2.cpu", &[Some(5.0), Some(6.0)]),
                ],
            ),
            (
                "averageSeriesWithWildcards(*.*.*,0,1)",
                vec![
                    named("cpu", &[Some(3.0), Some(4.0)]),
                    named("mem", &[Some(7.0), Some(8.0)]),
                ],
            ),
            (
                "sumSeriesWithWildcards(*.*.cpu)",
                vec![
                    named("dc1.web1.cpu", &[Some(1.0), Some(2.0)]),
                    named("dc1.web2.cpu", &[Some(3.0), None]),
                    named("dc2.web1.cpu", &[Some(5.0), Some(6.0)]),
                ],
            ),
        ];
        for (target, expected) in cases {
            assert_eq!(evaluate_values(target, &stored).await, expected, "{target}");
        }
        let grouped = evaluate_target("groupByNode(*.*.cpu,0,'sum')", &stored).await;
        assert_eq!(grouped[0].path_expression, "sumSeries(*.*.cpu)");
        assert!(evaluate_error("groupByNode(*.*.cpu,0,'nope')", &stored)
            .await
            .contains("unsupported aggregation function \"nope\""));
    }

    #[tokio::test]
    async fn group_by_tags_table() {
        let stored = [
            series("cpu;dc=west;host=a", &[Some(1.0)]),
            series("cpu;dc=west;host=b", &[Some(2.0)]),
            series("cpu;dc=east;host=c", &[Some(4.0)]),
            series("mem;dc=east;host=c", &[Some(8.0)]),
        ];
        let cases: Vec<(&str, NamedValues)> = vec![
            (
                "seriesByTag('name=cpu')|groupByTags('sum','dc')",
                vec![
                    named("cpu;dc=west", &[Some(3.0)]),
                    named("cpu;dc=east", &[Some(4.0)]),
                ],
            ),
            (
                "seriesByTag('dc=~.*')|groupByTags('max','dc')",
                vec![
                    named("max;dc=west", &[Some(2.0)]),
                    named("max;dc=east", &[Some(8.0)]),
                ],
            ),
            (
                "seriesByTag('dc=east')|groupByTags('sum','name','dc')",
                vec![
                    named("cpu;dc=east", &[Some(4.0)]),
                    named("mem;dc=east", &[Some(8.0)]),
                ],
            ),
        ];
        for (target, expected) in cases {
            assert_eq!(evaluate_values(target, &stored).await, expected, "{target}");
        }
        let grouped =
            evaluate_target("seriesByTag('name=cpu')|groupByTags('sum','dc')", &stored).await;
        assert_eq!(grouped[0].path_expression, "cpu;dc=west");
        assert_eq!(grouped[0].tags.get("dc").map(String::as_str), Some("west"));
        assert_eq!(grouped[0].tags.get("name").map(String::as_str), Some("cpu"));
        assert_eq!(grouped[0].tags.len(), 2);
    }
}
