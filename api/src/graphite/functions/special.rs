//! Functions that make series from nothing but their arguments (graphite-web's group
//! "Special"): `constantLine`. (`seriesByTag` reads the source and lives in `evaluate`;
//! `consolidateBy` in `transform`.)

use super::arguments::{Arguments, Value};
use super::context::EvaluationContext;
use super::series::{format_python_float, TimeSeries};
use super::SeriesResult;

/// `constantLine(value)`: three points, at `from`, halfway and `until`, named after the value
/// as Python prints it (`constantLine(100)` is named `100`). Grafana sends
/// `constantLine(100)` to test a Graphite data source.
pub(crate) fn constant_line(
    arguments: &mut Arguments,
    context: &EvaluationContext,
) -> SeriesResult {
    let (value, text) = match arguments.any(0) {
        // graphite-web takes the value as a float, so `constantLine(42)` is named `42.0`.
        Some(Value::Integer(integer)) => (integer as f64, format_python_float(integer as f64)),
        Some(Value::Float(float)) => (float, format_python_float(float)),
        _ => {
            return Err(super::error::EvaluationError::WrongArgumentType {
                function: arguments.function.to_owned(),
                position: 1,
                expected: "number".to_owned(),
            })
        }
    };
    let mut series = constant_line_series(Some(value), context).renamed(text.clone());
    series.path_expression = format!("constantLine({text})");
    Ok(vec![series])
}

/// Three points of `value`, at `from`, halfway and `until` (also `aggregateLine`'s and
/// `threshold`'s line); named after the value until the caller renames it.
pub(crate) fn constant_line_series(value: Option<f64>, context: &EvaluationContext) -> TimeSeries {
    let step = ((context.until - context.from) / 2).max(1);
    let name = value.map_or_else(|| "None".to_owned(), format_python_float);
    TimeSeries::new(name, context.from, step, vec![value; 3])
}

#[cfg(test)]
mod tests {
    use super::super::testing::evaluate_with;
    use super::super::EvaluationContext;

    #[tokio::test]
    async fn constant_line_table() {
        let context = EvaluationContext {
            from: 1_000,
            until: 1_600,
            now: 1_600,
        };
        let cases = [
            ("constantLine(100)", "100.0", 100.0),
            ("constantLine(-2.5)", "-2.5", -2.5),
            ("constantLine(3.0)", "3.0", 3.0),
        ];
        for (target, name, value) in cases {
            let result = evaluate_with(target, &[], &context).await.unwrap();
            assert_eq!(result.len(), 1);
            assert_eq!(result[0].name, name);
            assert_eq!(result[0].path_expression, format!("constantLine({name})"));
            assert_eq!(result[0].start, 1_000);
            assert_eq!(result[0].step, 300);
            assert_eq!(result[0].values, vec![Some(value); 3]);
        }
        let names = evaluate_with("sumSeries(constantLine(1),constantLine(2))", &[], &context)
            .await
            .unwrap();
        assert_eq!(
            names[0].name,
            "sumSeries(constantLine(1.0),constantLine(2.0))"
        );
        assert_eq!(names[0].values, vec![Some(3.0); 3]);
        let error = evaluate_with("constantLine('x')", &[], &context)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "wrong argument type for constantLine: expected number at argument 1"
        );
    }
}
