//! graphite-web's Special functions added for issue 16, which change names, fall back or
//! mark series rather than compute: `changed`, `cumulative`, `fallbackSeries`,
//! `setXFilesFactor`/`xFilesFactor`, `substr` and `cactiStyle`.

use super::arguments::Arguments;
use super::context::EvaluationContext;
use super::series::{format_g, format_python_float, Consolidation, TimeSeries};
use super::SeriesResult;

/// `changed(seriesList)`: 1 where the value differs from the last value seen, else 0 (also
/// at nulls, and at the first value).
pub(crate) fn changed(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(series
        .into_iter()
        .map(|one| {
            let mut previous: Option<f64> = None;
            let values = one
                .values
                .iter()
                .map(|value| match (previous, *value) {
                    (None, value) => {
                        previous = value;
                        Some(0.0)
                    }
                    (Some(last), Some(value)) if last != value => {
                        previous = Some(value);
                        Some(1.0)
                    }
                    _ => Some(0.0),
                })
                .collect();
            let name = format!("changed({})", one.name);
            TimeSeries { values, ..one }.renamed(name)
        })
        .collect())
}

/// `cumulative(seriesList)`: graphite-web's alias of `consolidateBy(seriesList, 'sum')`.
pub(crate) fn cumulative(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(series
        .into_iter()
        .map(|one| {
            let name = format!("consolidateBy({},\"sum\")", one.name);
            TimeSeries {
                consolidation: Consolidation::Sum,
                ..one
            }
            .renamed(name)
            .tagged("consolidateBy", "sum")
        })
        .collect())
}

/// `fallbackSeries(seriesList, fallback)`: the series, or `fallback` when there are none.
pub(crate) fn fallback_series(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let fallback = arguments.series_list(1)?;
    Ok(if series.is_empty() { fallback } else { series })
}

/// `setXFilesFactor(seriesList, xFilesFactor)`: the share of a bucket that must have values
/// when the series is consolidated (`maxDataPoints`) and the default of the moving windows'
/// factor; the name and the values stay.
pub(crate) fn set_x_files_factor(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let factor = arguments.number(1)?;
    if !(0.0..=1.0).contains(&factor) {
        return Err(arguments.invalid(format!(
            "xFilesFactor must be between 0 and 1, not {}",
            format_g(factor)
        )));
    }
    Ok(series
        .into_iter()
        .map(|one| {
            TimeSeries {
                x_files_factor: factor,
                ..one
            }
            .tagged("xFilesFactor", format_python_float(factor))
        })
        .collect())
}

/// Python's `list[start:stop]` bounds for a list of `length` (negative from the end,
/// clamped); `stop` `None` is the end.
fn python_slice(length: usize, start: i64, stop: Option<i64>) -> std::ops::Range<usize> {
    let length = length as i64;
    let clamp = |index: i64| {
        let index = if index < 0 { index + length } else { index };
        index.clamp(0, length) as usize
    };
    let start = clamp(start);
    let stop = stop.map_or(length as usize, clamp);
    start..stop.max(start)
}

/// `substr(seriesList, start=0, stop=0)`: the name's innermost path (inside the last `(`,
/// before the first `)` and `,`) cut to its nodes `start..stop` (0 is "to the end").
pub(crate) fn substr(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let start = arguments.optional_integer(1)?.unwrap_or(0);
    let stop = arguments.optional_integer(2)?.unwrap_or(0);
    Ok(series
        .into_iter()
        .map(|mut one| {
            let name = &one.name;
            let left = name.rfind('(').map_or(0, |at| at + 1);
            let right = name.find(')').unwrap_or(name.len());
            let clean = name.get(left..right.max(left)).unwrap_or_default();
            let nodes: Vec<&str> = clean.split('.').collect();
            let range = python_slice(nodes.len(), start, (stop != 0).then_some(stop));
            let joined = nodes[range].join(".");
            one.name = match joined.find(',') {
                Some(comma) => joined[..comma].to_owned(),
                None => joined,
            };
            one
        })
        .collect())
}

/// `cactiStyle(seriesList, system=None, units=None)`: each name followed by the series'
/// current, maximum and minimum values in aligned columns, as Cacti's legends show them.
pub(crate) fn cacti_style(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let system = arguments.optional_string(1)?;
    let units = arguments.optional_string(2)?;
    if let Some(system) = &system {
        if system != "si" && system != "binary" {
            return Err(arguments.invalid(format!(
                "unknown unit system \"{system}\": use si or binary"
            )));
        }
    }
    let format = |value: f64| match (&system, &units) {
        (Some(system), units) => {
            let (scaled, prefix) = format_units(value, system == "binary");
            match units {
                Some(units) => format!("{scaled:.2} {prefix}{units}"),
                None => format!("{scaled:.2}{prefix}"),
            }
        }
        (None, Some(units)) => format!("{value:.2} {units}"),
        (None, None) => format!("{value:.2}"),
    };
    let last = |one: &TimeSeries| one.values.iter().rev().flatten().next().copied();
    let maximum = |one: &TimeSeries| one.values.iter().flatten().copied().reduce(f64::max);
    let minimum = |one: &TimeSeries| one.values.iter().flatten().copied().reduce(f64::min);
    // graphite-web sizes each column by the whole-number part of the values (3 for none or 0).
    let width = |pick: &dyn Fn(&TimeSeries) -> Option<f64>| {
        series
            .iter()
            .map(|one| {
                let value = pick(one).map_or(3.0, f64::trunc);
                let value = if value == 0.0 { 3.0 } else { value };
                format(value).chars().count()
            })
            .max()
            .unwrap_or(0)
            + 3
    };
    let name_width = series
        .iter()
        .map(|one| one.name.chars().count())
        .max()
        .unwrap_or(0);
    let (last_width, maximum_width, minimum_width) =
        (width(&last), width(&maximum), width(&minimum));
    let text = |value: Option<f64>| value.map_or_else(|| "nan".to_owned(), format);
    Ok(series
        .iter()
        .map(|one| {
            let name = format!(
                "{:<name_width$} Current:{:<last_width$} Max:{:<maximum_width$} Min:{:<minimum_width$} ",
                one.name,
                text(last(one)),
                text(maximum(one)),
                text(minimum(one)),
            );
            TimeSeries {
                name,
                ..one.clone()
            }
        })
        .collect())
}

/// graphite-web's `format_units` without a step: the value scaled by the largest SI (1000)
/// or binary (1024) prefix it reaches, and that prefix (its `UnitSystems`).
fn format_units(value: f64, binary: bool) -> (f64, &'static str) {
    let prefixes: &[(f64, &str)] = if binary {
        &[
            (1_125_899_906_842_624.0, "Pi"),
            (1_099_511_627_776.0, "Ti"),
            (1_073_741_824.0, "Gi"),
            (1_048_576.0, "Mi"),
            (1024.0, "Ki"),
        ]
    } else {
        &[(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
    };
    for (size, prefix) in prefixes {
        if value.abs() >= *size {
            return (value / size, prefix);
        }
    }
    (value, "")
}

#[cfg(test)]
mod tests {
    use super::super::testing::{evaluate_values, series};

    /// The named values a target evaluates to.
    type Expected = &'static [(&'static str, &'static [Option<f64>])];

    #[tokio::test]
    async fn special_functions_table() {
        let stored = [
            series("a.b.c", &[None, Some(1.0), Some(1.0), None, Some(2.0)]),
            series("x.y", &[Some(1500.0), Some(3.0)]),
        ];
        let cases: &[(&str, Expected)] = &[
            (
                "changed(a.b.c)",
                &[(
                    "changed(a.b.c)",
                    &[Some(0.0), Some(0.0), Some(0.0), Some(0.0), Some(1.0)],
                )],
            ),
            (
                "substr(a.b.c,1)",
                &[("b.c", &[None, Some(1.0), Some(1.0), None, Some(2.0)])],
            ),
            (
                "substr(scale(a.b.c,2),0,-1)",
                &[("a.b", &[None, Some(2.0), Some(2.0), None, Some(4.0)])],
            ),
            (
                "fallbackSeries(nope.*,x.y)",
                &[("x.y", &[Some(1500.0), Some(3.0), None, None, None])],
            ),
            (
                "fallbackSeries(x.y,a.b.c)",
                &[("x.y", &[Some(1500.0), Some(3.0), None, None, None])],
            ),
            (
                "cumulative(x.y)",
                &[(
                    "consolidateBy(x.y,\"sum\")",
                    &[Some(1500.0), Some(3.0), None, None, None],
                )],
            ),
        ];
        for (target, expected) in cases {
            let actual = evaluate_values(target, &stored).await;
            let expected: Vec<(String, Vec<Option<f64>>)> = expected
                .iter()
                .map(|(name, values)| ((*name).to_owned(), values.to_vec()))
                .collect();
            assert_eq!(actual, expected, "{target}");
        }
        let cacti = evaluate_values("cactiStyle(x.y)", &stored).await;
        assert_eq!(
            cacti[0].0,
            "x.y Current:3.00    Max:1500.00    Min:3.00    "
        );
        let si = evaluate_values("cactiStyle(x.y,'si','b')", &stored).await;
        assert_eq!(
            si[0].0,
            "x.y Current:3.00 b    Max:1.50 kb    Min:3.00 b    "
        );
    }
}
