//! graphite-web's Graph functions: how series are drawn by `/render?format=svg|png`
//! (`color`, `alpha`, `dashed`, `lineWidth`, `secondYAxis`, `stacked`, `drawAsInfinite`,
//! `areaBetween`) and two lines for a graph (`threshold`, `verticalLine`).
//!
//! They set [`Drawing`] on each series, which `render_image` honours; a JSON answer does not
//! show it, as in graphite-web, except where graphite-web renames the series (`dashed`,
//! `secondYAxis`, `drawAsInfinite`, `stacked`, `areaBetween`) or changes values (`stacked`).

use super::arguments::Arguments;
use super::context::EvaluationContext;
use super::error::EvaluationError;
use super::series::{format_g, TimeSeries};
use super::special::constant_line_series;
use super::transform_values::date_argument;
use super::SeriesResult;
use crate::graphite::render_image::is_color;

fn checked_color(arguments: &Arguments, color: &str) -> Result<String, EvaluationError> {
    if is_color(color) {
        Ok(color.to_owned())
    } else {
        Err(arguments.invalid(format!(
            "\"{color}\" is not a colour: use a graphite colour name or #rrggbb"
        )))
    }
}

/// `color(seriesList, theColor)`.
pub(crate) fn color(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let color = arguments.string(1)?;
    let color = checked_color(arguments, &color)?;
    Ok(series
        .into_iter()
        .map(|mut one| {
            one.drawing.color = Some(color.clone());
            one
        })
        .collect())
}

/// `alpha(seriesList, alpha)`: opacity from 0 to 1.
pub(crate) fn alpha(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let alpha = arguments.number(1)?;
    if !(0.0..=1.0).contains(&alpha) {
        return Err(arguments.invalid(format!(
            "alpha must be from 0 to 1, not {}",
            format_g(alpha)
        )));
    }
    Ok(series
        .into_iter()
        .map(|mut one| {
            one.drawing.alpha = Some(alpha);
            one
        })
        .collect())
}

/// `dashed(seriesList, dashLength=5)`: named `dashed(name, length)`.
pub(crate) fn dashed(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let length = arguments.optional_number(1)?.unwrap_or(5.0);
    if !(length > 0.0 && length <= 1_000.0) {
        return Err(arguments.invalid(format!(
            "the dash length must be from 0 to 1000 pixels, not {}",
            format_g(length)
        )));
    }
    let text = format_g(length);
    Ok(series
        .into_iter()
        .map(|mut one| {
            one.drawing.dash_length = Some(length);
            one.name = format!("dashed({}, {text})", one.name);
            one.tagged("dashed", &text)
        })
        .collect())
}

/// `lineWidth(seriesList, width)`: this series' line width in pixels.
pub(crate) fn line_width(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let width = arguments.number(1)?;
    if !(0.0..=20.0).contains(&width) {
        return Err(arguments.invalid(format!(
            "the line width must be from 0 to 20 pixels, not {}",
            format_g(width)
        )));
    }
    Ok(series
        .into_iter()
        .map(|mut one| {
            one.drawing.line_width = Some(width);
            one
        })
        .collect())
}

/// `secondYAxis(seriesList)`: drawn against a y axis on the right.
pub(crate) fn second_y_axis(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(series
        .into_iter()
        .map(|mut one| {
            one.drawing.second_y_axis = true;
            one.name = format!("secondYAxis({})", one.name);
            one.tagged("secondYAxis", "1")
        })
        .collect())
}

/// `drawAsInfinite(seriesList)`: each non-zero value drawn as a vertical line.
pub(crate) fn draw_as_infinite(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(series
        .into_iter()
        .map(|mut one| {
            one.drawing.draw_as_infinite = true;
            one.name = format!("drawAsInfinite({})", one.name);
            one.tagged("drawAsInfinite", "1")
        })
        .collect())
}

/// `stacked(seriesList, stack='__DEFAULT__')`: each series' values added to those of the
/// series before it (nulls stay null and add nothing), drawn filled; named `stacked(name)`
/// unless a stack name is given. (graphite-web also carries a named stack on to later
/// targets of the same request; here each call stacks its own list.)
pub(crate) fn stacked(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let stack_name = arguments.optional_string(1)?;
    let mut totals: Vec<f64> = Vec::new();
    Ok(series
        .into_iter()
        .map(|mut one| {
            if totals.len() < one.values.len() {
                totals.resize(one.values.len(), 0.0);
            }
            for (total, value) in totals.iter_mut().zip(one.values.iter_mut()) {
                if let Some(present) = value {
                    *total += *present;
                    *value = Some(*total);
                }
            }
            one.drawing.stacked = true;
            // graphite-web copies the series, which makes its name the path expression.
            match &stack_name {
                None => {
                    let name = format!("stacked({})", one.name);
                    one.renamed(name).tagged("stacked", "__DEFAULT__")
                }
                Some(_) => {
                    let name = one.name.clone();
                    one.renamed(name)
                }
            }
        })
        .collect())
}

/// `areaBetween(seriesList)`: exactly two series, the area between them filled (the lower
/// one invisible); both named `areaBetween(<path expression of the upper>)`.
pub(crate) fn area_between(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let [mut lower, mut upper] = <[TimeSeries; 2]>::try_from(series).map_err(|series| {
        arguments.invalid(format!(
            "the series argument must reference exactly 2 series, not {}",
            series.len()
        ))
    })?;
    lower.drawing.stacked = true;
    lower.drawing.invisible = true;
    upper.drawing.stacked = true;
    let upper = upper.tagged("areaBetween", "1");
    let name = format!("areaBetween({})", upper.path_expression);
    lower.tags = upper.tags.clone();
    lower.name = name.clone();
    Ok(vec![lower, TimeSeries { name, ..upper }])
}

/// `threshold(value, label=None, color=None)`: a horizontal line like `constantLine`,
/// named `label` when given.
pub(crate) fn threshold(arguments: &mut Arguments, context: &EvaluationContext) -> SeriesResult {
    let value = arguments.number(0)?;
    let label = arguments
        .optional_string(1)?
        .filter(|label| !label.is_empty());
    let color = arguments
        .optional_string(2)?
        .filter(|color| !color.is_empty());
    let mut series = constant_line_series(Some(value), context);
    series.path_expression = format!("constantLine({})", series.name);
    if let Some(label) = label {
        series.name = label;
    }
    if let Some(color) = color {
        series.drawing.color = Some(checked_color(arguments, &color)?);
    }
    Ok(vec![series])
}

/// `verticalLine(ts, label=None, color=None)`: one point at `ts`, drawn as a vertical line;
/// `ts` must lie in the range.
pub(crate) fn vertical_line(
    arguments: &mut Arguments,
    context: &EvaluationContext,
) -> SeriesResult {
    let text = arguments.string(0)?;
    let label = arguments.optional_string(1)?;
    let color = arguments
        .optional_string(2)?
        .filter(|color| !color.is_empty());
    let at = date_argument(arguments, &text, context.now)?;
    if at < context.from {
        return Err(arguments.invalid(format!("timestamp {at} exists before start of range")));
    }
    if at > context.until {
        return Err(arguments.invalid(format!("timestamp {at} exists after end of range")));
    }
    let mut series = TimeSeries::new(
        label.unwrap_or_else(|| "None".to_owned()),
        at,
        1,
        vec![Some(1.0)],
    );
    series.drawing.draw_as_infinite = true;
    // graphite-web's series starts and ends at `ts`.
    series.ends_at = Some(at);
    if let Some(color) = color {
        series.drawing.color = Some(checked_color(arguments, &color)?);
    }
    Ok(vec![series])
}

#[cfg(test)]
mod tests {
    use super::super::testing::{evaluate_error, evaluate_target, series};

    #[tokio::test]
    async fn graph_functions_set_drawing_and_names() {
        let stored = [
            series("a.x", &[Some(1.0), None, Some(3.0)]),
            series("a.y", &[Some(10.0), Some(20.0), Some(30.0)]),
        ];
        let colored = evaluate_target("color(alpha(lineWidth(a.x,3),0.5),'red')", &stored).await;
        assert_eq!(colored[0].name, "a.x");
        assert_eq!(colored[0].drawing.color.as_deref(), Some("red"));
        assert_eq!(colored[0].drawing.alpha, Some(0.5));
        assert_eq!(colored[0].drawing.line_width, Some(3.0));
        let dashed = evaluate_target("dashed(a.x)", &stored).await;
        assert_eq!(dashed[0].name, "dashed(a.x, 5)");
        assert_eq!(dashed[0].drawing.dash_length, Some(5.0));
        let second = evaluate_target("secondYAxis(a.y)", &stored).await;
        assert_eq!(second[0].name, "secondYAxis(a.y)");
        assert!(second[0].drawing.second_y_axis);
        let stacked = evaluate_target("stacked(a.*)", &stored).await;
        assert_eq!(stacked[1].name, "stacked(a.y)");
        assert_eq!(stacked[1].values, vec![Some(11.0), Some(20.0), Some(33.0)]);
        let area = evaluate_target("areaBetween(a.*)", &stored).await;
        assert_eq!(area[0].name, "areaBetween(a.*)");
        assert!(area[0].drawing.invisible && area[1].drawing.stacked);
        assert!(evaluate_error("areaBetween(a.x)", &stored)
            .await
            .contains("exactly 2"));
        assert!(evaluate_error("color(a.x,'nope')", &stored)
            .await
            .contains("colour"));
    }
}
