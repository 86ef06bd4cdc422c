//! Functions that compute new values from a window or the whole of a series (graphite-web's
//! group "Calculate"): `nPercentile` here; the moving windows (`movingAverage`, …) are in
//! `moving`, the Holt-Winters forecasts in `holt_winters`.

use super::arguments::Arguments;
use super::context::EvaluationContext;
use super::series::{format_g, format_python_float, percentile, TimeSeries};
use super::SeriesResult;

/// `nPercentile(seriesList, n)`: a flat line at the n-th percentile of each series' values;
/// series without values are dropped.
pub(crate) fn n_percentile(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let percent = arguments.number(1)?;
    if percent <= 0.0 {
        return Err(arguments.invalid("the requested percent must be greater than 0"));
    }
    let text = format_g(percent);
    Ok(series
        .into_iter()
        .filter_map(|one| {
            let value = percentile(&one.values, percent, false)?;
            let name = format!("nPercentile({}, {text})", one.name);
            let values = vec![Some(value); one.values.len()];
            Some(
                TimeSeries { values, ..one }
                    .renamed(name)
                    .tagged("nPercentile", format_python_float(percent)),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{
        evaluate_error, evaluate_values, evaluate_with, series, values, NamedValues, START, STEP,
    };
    use super::super::EvaluationContext;

    #[tokio::test]
    async fn moving_average_reads_history_before_from() {
        // Ten points; the requested range is the last five, so windows reach back into history.
        let stored = [series(
            "m",
            &values(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]),
        )];
        let context = EvaluationContext {
            from: START + 5 * STEP,
            until: START + 10 * STEP,
            now: START + 10 * STEP,
        };
        let cases: &[(&str, &str, &[Option<f64>])] = &[
            // The range holds the points after `from` (7 to 10, as on the whisper-style grid);
            // at 7 the three points up to it are 5, 6 and 7, as graphite-web 1.1.9 and later
            // count them.
            (
                "movingAverage(m,3)",
                "movingAverage(m,3)",
                &[Some(6.0), Some(7.0), Some(8.0), Some(9.0)],
            ),
            (
                "movingAverage(m,'30s')",
                "movingAverage(m,\"30s\")",
                &[Some(6.0), Some(7.0), Some(8.0), Some(9.0)],
            ),
            // A window of one point is the point itself.
            (
                "movingAverage(m,1)",
                "movingAverage(m,1)",
                &[Some(7.0), Some(8.0), Some(9.0), Some(10.0)],
            ),
            (
                "movingAverage(m,windowSize='20s')",
                "movingAverage(m,\"20s\")",
                &[Some(6.5), Some(7.5), Some(8.5), Some(9.5)],
            ),
        ];
        for (target, name, expected) in cases {
            let result = evaluate_with(target, &stored, &context).await.unwrap();
            assert_eq!(result.len(), 1, "{target}");
            assert_eq!(result[0].name, *name, "{target}");
            assert_eq!(result[0].values, *expected, "{target}");
            assert_eq!(result[0].start, START + 6 * STEP, "{target}");
        }
    }

    #[tokio::test]
    async fn moving_average_nulls_table() {
        let stored = [series(
            "n",
            &[Some(2.0), None, None, Some(4.0), None, None, None, None],
        )];
        let context = EvaluationContext {
            from: START,
            until: START + 8 * STEP,
            now: START + 8 * STEP,
        };
        let cases: &[(&str, &[Option<f64>])] = &[
            // Each window is the point and the one before it, from the first point after
            // `from` on.
            (
                "movingAverage(n,2)",
                &[Some(2.0), None, Some(4.0), Some(4.0), None, None, None],
            ),
            // Half the window must hold values.
            (
                "movingAverage(n,2,0.5)",
                &[Some(2.0), None, Some(4.0), Some(4.0), None, None, None],
            ),
            (
                "movingAverage(n,2,1)",
                &[None, None, None, None, None, None, None],
            ),
            ("movingAverage(n,0)", &[None; 7]),
        ];
        for (target, expected) in cases {
            let result = evaluate_with(target, &stored, &context).await.unwrap();
            assert_eq!(result[0].values, *expected, "{target}");
        }
        assert!(evaluate_error("movingAverage(n,'x')", &stored)
            .await
            .contains("not a positive time interval"));
        assert_eq!(
            evaluate_error("movingAverage(n,true)", &stored).await,
            "wrong argument type for movingAverage: expected number of points or time interval at argument 2"
        );
    }

    #[tokio::test]
    async fn n_percentile_table() {
        let stored = [
            series("p", &values(&[15.0, 20.0, 35.0, 40.0, 50.0])),
            series("empty", &[None, None, None, None, None]),
        ];
        let cases: &[(&str, NamedValues)] = &[
            (
                "nPercentile(p,50)",
                vec![("nPercentile(p, 50)".into(), vec![Some(35.0); 5])],
            ),
            (
                "nPercentile(p,30)",
                vec![("nPercentile(p, 30)".into(), vec![Some(20.0); 5])],
            ),
            (
                "nPercentile(p,100)",
                vec![("nPercentile(p, 100)".into(), vec![Some(50.0); 5])],
            ),
            ("nPercentile(empty,50)", vec![]),
        ];
        for (target, expected) in cases {
            assert_eq!(
                evaluate_values(target, &stored).await,
                *expected,
                "{target}"
            );
        }
        assert!(evaluate_error("nPercentile(p,0)", &stored)
            .await
            .contains("greater than 0"));
    }
}
