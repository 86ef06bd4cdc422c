//! The rest of graphite-web's `*Series` aggregates (group "Combine"): `countSeries`,
//! `rangeOfSeries`, `stddevSeries`, `powSeries`, and `aggregateWithWildcards` with its
//! shorthand `multiplySeriesWithWildcards`. Most are `combine::aggregate` with another
//! function, named and tagged as graphite-web names and tags them.

use super::arguments::Arguments;
use super::combine::format_path_expressions;
use super::combine::{aggregate, aggregate_groups, group_by_key, name_without_positions};
use super::context::EvaluationContext;
use super::series::{normalize, TimeSeries};
use super::SeriesResult;

fn flattened(arguments: &mut Arguments) -> Result<Vec<TimeSeries>, super::EvaluationError> {
    Ok(arguments
        .repeated_series_lists(0)?
        .into_iter()
        .flatten()
        .collect())
}

/// `rangeOfSeries(*seriesLists)`: the highest less the lowest value at each point, named
/// `rangeOfSeries(...)` and tagged `aggregatedBy=rangeOf` as in graphite-web.
pub(crate) fn range_of_series(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    aggregate(flattened(arguments)?, "rangeOf", 0.0, arguments.function)
}

/// `stddevSeries(*seriesLists)`: the population standard deviation at each point.
pub(crate) fn stddev_series(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    aggregate(flattened(arguments)?, "stddev", 0.0, arguments.function)
}

/// `countSeries(*seriesLists)`: how many series there are, at every point. Without series it
/// is graphite-web's `constantLine(0)` over the range.
pub(crate) fn count_series(arguments: &mut Arguments, context: &EvaluationContext) -> SeriesResult {
    let series = flattened(arguments)?;
    let references: Vec<&TimeSeries> = series.iter().collect();
    let Some(normalized) = normalize(&references) else {
        let step = ((context.until - context.from) / 2).max(1);
        let mut zero = TimeSeries::new("0", context.from, step, vec![Some(0.0); 3]);
        zero.path_expression = "countSeries()".to_owned();
        return Ok(vec![zero]);
    };
    let name = format!("countSeries({})", format_path_expressions(&series));
    let count = Some(series.len() as f64);
    Ok(vec![TimeSeries::new(
        name,
        normalized.start,
        normalized.step,
        vec![count; normalized.len()],
    )])
}

/// Python's `math.pow` as graphite-web's `safePow` uses it: no result (null) where Python
/// raises, for a negative base with a fractional exponent, zero to a negative power or an
/// overflow.
fn safe_pow(base: Option<f64>, exponent: Option<f64>) -> Option<f64> {
    let result = base?.powf(exponent?);
    result.is_finite().then_some(result)
}

/// `powSeries(*seriesLists)`: the first series to the power of the second, that to the power
/// of the third, … at each point; named after the series' names.
pub(crate) fn pow_series(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = flattened(arguments)?;
    let references: Vec<&TimeSeries> = series.iter().collect();
    let Some(normalized) = normalize(&references) else {
        return Ok(Vec::new());
    };
    let names: Vec<&str> = series.iter().map(|one| one.name.as_str()).collect();
    let name = format!("powSeries({})", names.join(","));
    let values = (0..normalized.len())
        .map(|index| {
            let row = normalized.row(index);
            let (first, rest) = row.split_first()?;
            rest.iter()
                .fold(*first, |power, exponent| safe_pow(power, *exponent))
        })
        .collect();
    Ok(vec![TimeSeries::new(
        name,
        normalized.start,
        normalized.step,
        values,
    )])
}

/// Groups by the name without the nodes at `positions` and aggregates each group with
/// `function`, naming each result after its group.
pub(crate) fn aggregate_by_wildcards(
    series: Vec<TimeSeries>,
    positions: &[i64],
    function: &str,
    caller: &str,
) -> SeriesResult {
    let groups = group_by_key(series, |one| name_without_positions(&one.name, positions));
    aggregate_groups(groups, function, caller)
}

/// `aggregateWithWildcards(seriesList, func, *positions)`.
pub(crate) fn aggregate_with_wildcards(
    arguments: &mut Arguments,
    _: &EvaluationContext,
) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let function = arguments.string(1)?;
    let positions = arguments.repeated_integers(2)?;
    aggregate_by_wildcards(series, &positions, &function, arguments.function)
}

/// `multiplySeriesWithWildcards(seriesList, *position)`.
pub(crate) fn multiply_series_with_wildcards(
    arguments: &mut Arguments,
    _: &EvaluationContext,
) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let positions = arguments.repeated_integers(1)?;
    aggregate_by_wildcards(series, &positions, "multiply", arguments.function)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{evaluate_target, evaluate_values, series, NamedValues};

    fn named(name: &str, values: &[Option<f64>]) -> (String, Vec<Option<f64>>) {
        (name.to_owned(), values.to_vec())
    }

    #[tokio::test]
    async fn aggregates_table() {
        let stored = vec![
            series("a.x.n", &[Some(1.0), None, Some(3.0), Some(-8.0)]),
            series("a.y.n", &[Some(4.0), Some(2.0), None, Some(0.5)]),
            series("b.x.n", &[Some(2.0), Some(5.0), Some(1.0), Some(-1.0)]),
        ];
        let cases: Vec<(&str, NamedValues)> = vec![
            (
                "rangeOfSeries(a.*.n,b.x.n)",
                vec![named(
                    "rangeOfSeries(a.*.n,b.x.n)",
                    &[Some(3.0), Some(3.0), Some(2.0), Some(8.5)],
                )],
            ),
            (
                "stddevSeries(a.*.n)",
                vec![named(
                    "stddevSeries(a.*.n)",
                    &[Some(1.5), Some(0.0), Some(0.0), Some(4.25)],
                )],
            ),
            (
                "countSeries(a.*.n,b.x.n)",
                vec![named("countSeries(a.*.n,b.x.n)", &[Some(3.0); 4])],
            ),
            (
                // (-8)^0.5 has no real value; 4^2 = 16; 3^null is null.
                "powSeries(a.x.n,a.y.n)",
                vec![named(
                    "powSeries(a.x.n,a.y.n)",
                    &[Some(1.0), None, None, None],
                )],
            ),
            (
                "powSeries(a.y.n,b.x.n)",
                vec![named(
                    "powSeries(a.y.n,b.x.n)",
                    &[Some(16.0), Some(32.0), None, Some(2.0)],
                )],
            ),
            (
                "aggregateWithWildcards(*.*.n,'max',1)",
                vec![
                    named("a.n", &[Some(4.0), Some(2.0), Some(3.0), Some(0.5)]),
                    named("b.n", &[Some(2.0), Some(5.0), Some(1.0), Some(-1.0)]),
                ],
            ),
            (
                "multiplySeriesWithWildcards(*.*.n,0,1)",
                vec![named("n", &[Some(8.0), None, None, Some(4.0)])],
            ),
        ];
        for (target, expected) in cases {
            assert_eq!(evaluate_values(target, &stored).await, expected, "{target}");
        }
        let ranged = evaluate_target("rangeOfSeries(a.*.n)", &stored).await;
        assert_eq!(
            ranged[0].tags.get("aggregatedBy").map(String::as_str),
            Some("rangeOf")
        );
        let counted = evaluate_target("countSeries()", &stored).await;
        assert_eq!(counted[0].name, "0");
        assert_eq!(counted[0].values, vec![Some(0.0); 3]);
    }
}
