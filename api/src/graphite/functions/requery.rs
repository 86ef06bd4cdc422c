//! Functions that build new targets from the names of their series and evaluate them
//! (graphite-web's `evaluateTarget` inside a function): `applyByNode` (group "Combine"),
//! `aliasQuery` (group "Alias") and `useSeriesAbove` (group "Filter Series"). They run over
//! the request's range and source, like the target that calls them.

use super::alias::regex_substitute;
use super::arguments::{Arguments, Bound};
use super::context::{EvaluationContext, SeriesSource};
use super::error::EvaluationError;
use super::evaluate::{evaluate_arguments, evaluate_boxed, Evaluated};
use super::expression::{parse_target, Argument};
use super::series::{format_g, format_python_float, Aggregation, TimeSeries};

/// Which of the functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Requery {
    ApplyByNode,
    AliasQuery,
    UseSeriesAbove,
}

/// Evaluates the call's arguments, then the function.
pub(crate) async fn evaluate_requery<S: SeriesSource>(
    requery: Requery,
    function: &'static str,
    bound: Bound<&Argument>,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    let mut arguments = evaluate_arguments(function, bound, context, None, source).await?;
    match requery {
        Requery::ApplyByNode => apply_by_node(&mut arguments, context, source).await,
        Requery::AliasQuery => alias_query(&mut arguments, context, source).await,
        Requery::UseSeriesAbove => use_series_above(&mut arguments, context, source).await,
    }
}

/// Parses and evaluates a target a function built.
async fn evaluate_text<S: SeriesSource>(
    function: &str,
    target: &str,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    let expression = parse_target(target).map_err(|error| {
        EvaluationError::invalid(function, format!("cannot parse \"{target}\": {error}"))
    })?;
    evaluate_boxed(&expression, context, source).await
}

/// `applyByNode(seriesList, nodeNum, templateFunction, newName=None)`: for each distinct
/// prefix of the names up to node `nodeNum` (sorted), the template with every `%` replaced by
/// the prefix is evaluated; its series are named `newName` with `%` replaced, when given.
async fn apply_by_node<S: SeriesSource>(
    arguments: &mut Arguments,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    let series = arguments.series_list(0)?;
    let node = arguments.integer(1)?;
    let template = arguments.string(2)?;
    let new_name = arguments.optional_string(3)?;
    let mut prefixes: Vec<String> = series
        .iter()
        .map(|one| {
            let nodes: Vec<&str> = one.name.split('.').collect();
            // Python's `nodes[:nodeNum + 1]`.
            let end = node.saturating_add(1);
            let end = if end < 0 {
                (nodes.len() as i64 + end).max(0)
            } else {
                end.min(nodes.len() as i64)
            };
            nodes[..end as usize].join(".")
        })
        .collect();
    prefixes.sort();
    prefixes.dedup();
    let mut results = Vec::new();
    for prefix in prefixes {
        let target = template.replace('%', &prefix);
        for mut one in evaluate_text(arguments.function, &target, context, source).await? {
            if let Some(new_name) = &new_name {
                one.name = new_name.replace('%', &prefix);
            }
            one.path_expression.clone_from(&prefix);
            results.push(one);
        }
    }
    Ok(results)
}

/// Python's `template % value` for one number: `%s`, `%d`/`%i`, `%f`/`%.Nf`, `%g`/`%.Ng`,
/// `%e`/`%.Ne` and `%%`; `None` when the template is not one of those with exactly one
/// conversion (Python raises then).
fn python_format(template: &str, value: f64) -> Option<String> {
    let mut formatted = String::new();
    let mut conversions = 0;
    let mut characters = template.chars().peekable();
    while let Some(character) = characters.next() {
        if character != '%' {
            formatted.push(character);
            continue;
        }
        let mut precision: Option<usize> = None;
        if characters.next_if_eq(&'.').is_some() {
            let mut digits = String::new();
            while let Some(digit) = characters.next_if(char::is_ascii_digit) {
                digits.push(digit);
            }
            precision = Some(digits.parse().unwrap_or(0));
        }
        let text = match (characters.next()?, precision) {
            ('%', None) => {
                formatted.push('%');
                continue;
            }
            ('s' | 'r', None) => format_python_float(value),
            ('d' | 'i', None) => format!("{}", value.trunc() as i64),
            ('f' | 'F', precision) => format!("{value:.*}", precision.unwrap_or(6)),
            ('e', precision) => {
                let text = format!("{value:.*e}", precision.unwrap_or(6));
                let (mantissa, exponent) = text.split_once('e')?;
                let exponent: i32 = exponent.parse().ok()?;
                let sign = if exponent < 0 { '-' } else { '+' };
                format!("{mantissa}e{sign}{:02}", exponent.abs())
            }
            ('g', None) => format_g(value),
            _ => return None,
        };
        conversions += 1;
        formatted.push_str(&text);
    }
    (conversions == 1).then_some(formatted)
}

/// `aliasQuery(seriesList, search, replace, newName)`: for each series, the target made by
/// replacing `search` with `replace` in its name is evaluated, and the series is named
/// `newName % <last value of the first series found>` (Python's `%` formatting).
async fn alias_query<S: SeriesSource>(
    arguments: &mut Arguments,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    let series = arguments.series_list(0)?;
    let search = arguments.string(1)?;
    let replace = arguments.string(2)?;
    let new_name = arguments.string(3)?;
    let substitute = regex_substitute(arguments, &search, &replace)?;
    let mut results = Vec::with_capacity(series.len());
    for one in series {
        let query = substitute(&one.name);
        let found = evaluate_text(arguments.function, &query, context, source).await?;
        let Some(first) = found.first() else {
            return Err(arguments
                .invalid(format!("no series found with query: {query}"))
                .into());
        };
        let Some(current) = Aggregation::Last.apply(&first.values) else {
            return Err(arguments
                .invalid(format!("cannot get last value of series: {}", first.name))
                .into());
        };
        let Some(name) = python_format(&new_name, current) else {
            return Err(arguments
                .invalid(format!(
                    "\"{new_name}\" is not a name with one number conversion like %d or %.2f"
                ))
                .into());
        };
        results.push(TimeSeries { name, ..one });
    }
    Ok(results)
}

/// `useSeriesAbove(seriesList, value, search, replace)`: for each series whose maximum is
/// above `value`, the series named like it with `search` replaced by `replace`.
async fn use_series_above<S: SeriesSource>(
    arguments: &mut Arguments,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    let series = arguments.series_list(0)?;
    let value = arguments.number(1)?;
    let search = arguments.string(2)?;
    let replace = arguments.string(3)?;
    let substitute = regex_substitute(arguments, &search, &replace)?;
    let names: Vec<String> = series
        .iter()
        .filter(|one| {
            Aggregation::Max
                .apply(&one.values)
                .is_some_and(|max| max > value)
        })
        .map(|one| substitute(&one.name))
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let target = format!("group({})", names.join(","));
    let found = evaluate_text(arguments.function, &target, context, source).await?;
    Ok(found
        .into_iter()
        .filter(|one| !one.values.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{evaluate_error, evaluate_names, evaluate_values, series};
    use super::*;

    #[test]
    fn python_formats() {
        let cases = [
            ("%d cores", 3.7, Some("3 cores")),
            ("%s", 2.0, Some("2.0")),
            ("at %.2f%%", 1.005, Some("at 1.00%")),
            ("%f", 0.5, Some("0.500000")),
            ("%g", 1e7, Some("1e+07")),
            ("%.1e", 12345.0, Some("1.2e+04")),
            ("none", 1.0, None),
            ("%d and %d", 1.0, None),
            ("%x", 1.0, None),
        ];
        for (template, value, expected) in cases {
            assert_eq!(
                python_format(template, value).as_deref(),
                expected,
                "{template}"
            );
        }
    }

    #[tokio::test]
    async fn requery_table() {
        let stored = vec![
            series("srv.a.used", &[Some(1.0), Some(3.0)]),
            series("srv.a.total", &[Some(4.0), Some(4.0)]),
            series("srv.b.used", &[Some(2.0), None]),
            series("srv.b.total", &[Some(8.0), Some(2.0)]),
            series("srv.a.cores", &[Some(2.0), Some(8.0)]),
            series("srv.b.cores", &[Some(4.0), None]),
        ];
        assert_eq!(
            evaluate_values(
                "applyByNode(srv.*.used,1,'divideSeries(%.used,%.total)')",
                &stored
            )
            .await,
            vec![
                (
                    "divideSeries(srv.a.used,srv.a.total)".to_owned(),
                    vec![Some(0.25), Some(0.75)]
                ),
                (
                    "divideSeries(srv.b.used,srv.b.total)".to_owned(),
                    vec![Some(0.25), None]
                ),
            ]
        );
        assert_eq!(
            evaluate_names("applyByNode(srv.*.*,1,'sumSeries(%.*)','%.sum')", &stored).await,
            ["srv.a.sum", "srv.b.sum"]
        );
        assert_eq!(
            evaluate_names(
                r"aliasQuery(srv.*.used,'\.used$','.cores','%d cores')",
                &stored
            )
            .await,
            ["8 cores", "4 cores"]
        );
        assert_eq!(
            evaluate_names(r"useSeriesAbove(srv.*.used,2.5,'used','total')", &stored).await,
            ["srv.a.total"]
        );
        assert_eq!(
            evaluate_names(r"useSeriesAbove(srv.*.used,9,'used','total')", &stored).await,
            Vec::<String>::new()
        );
        assert!(
            evaluate_error(r"aliasQuery(srv.a.used,'used','nothing','%d')", &stored)
                .await
                .contains("no series found with query: srv.a.nothing")
        );
        assert!(evaluate_error(
            r"aliasQuery(srv.a.used,'used','total','no number')",
            &stored
        )
        .await
        .contains("is not a name with one number conversion"));
    }
}
