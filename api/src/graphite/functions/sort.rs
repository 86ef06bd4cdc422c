//! graphite-web's group "Sorting" beyond `sortByMaxima` and `sortByName` (in `filter`):
//! `sortBy` an aggregation function, `sortByTotal` and `sortByMinima`. Sorts are stable and a
//! series whose aggregate is null sorts as minus infinity, as graphite-web's `keyFunc` makes
//! it.

use super::arguments::Arguments;
use super::context::EvaluationContext;
use super::filter::sort_by_aggregate;
use super::series::Aggregation;
use super::SeriesResult;

/// `sortBy(seriesList, func='average', reverse=False)`: ascending by the aggregate unless
/// reversed.
pub(crate) fn sort_by(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let mut series = arguments.series_list(0)?;
    let function = arguments
        .optional_string(1)?
        .unwrap_or_else(|| "average".to_owned());
    let reverse = arguments.boolean_or(2, false)?;
    let aggregation = Aggregation::from_name(&function).ok_or_else(|| {
        arguments.invalid(format!("unsupported aggregation function \"{function}\""))
    })?;
    sort_by_aggregate(&mut series, aggregation, reverse);
    Ok(series)
}

/// `sortByTotal(seriesList)`: by the sum, highest first.
pub(crate) fn sort_by_total(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let mut series = arguments.series_list(0)?;
    sort_by_aggregate(&mut series, Aggregation::Sum, true);
    Ok(series)
}

/// `sortByMinima(seriesList)`: by the minimum, lowest first, keeping only the series with a
/// value above zero (graphite-web drops the others: they would draw nothing above the axis).
pub(crate) fn sort_by_minima(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let mut positive: Vec<_> = series
        .into_iter()
        .filter(|one| Aggregation::Max.apply(&one.values).unwrap_or(0.0) > 0.0)
        .collect();
    sort_by_aggregate(&mut positive, Aggregation::Min, false);
    Ok(positive)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{evaluate_error, evaluate_names, series};

    #[tokio::test]
    async fn sorting_table() {
        let stored = vec![
            // sum 12, average 4, min 1, max 9
            series("s.a", &[Some(1.0), Some(9.0), Some(2.0)]),
            // sum 15, average 5, min 5
            series("s.b", &[Some(5.0), Some(5.0), Some(5.0)]),
            // sum 9, average 4.5, min 1
            series("s.c", &[Some(8.0), Some(1.0), None]),
            series("s.d", &[None, None, None]),
            // never above zero
            series("s.e", &[Some(-1.0), Some(0.0), None]),
        ];
        let cases: &[(&str, &[&str])] = &[
            ("sortBy(s.*)", &["s.d", "s.e", "s.a", "s.c", "s.b"]),
            (
                "sortBy(s.*,'max',true)",
                &["s.a", "s.c", "s.b", "s.e", "s.d"],
            ),
            ("sortBy(s.[abc],'min')", &["s.a", "s.c", "s.b"]),
            ("sortByTotal(s.*)", &["s.b", "s.a", "s.c", "s.e", "s.d"]),
            ("sortByMinima(s.*)", &["s.a", "s.c", "s.b"]),
        ];
        for (target, expected) in cases {
            assert_eq!(evaluate_names(target, &stored).await, *expected, "{target}");
        }
        assert!(evaluate_error("sortBy(s.*,'nope')", &stored)
            .await
            .contains("unsupported aggregation function \"nope\""));
    }
}
