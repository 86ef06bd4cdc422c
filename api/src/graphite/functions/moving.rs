//! Windows that move along a series (graphite-web's Calculate group): `movingWindow` and its
//! short forms `movingAverage`, `movingSum`, `movingMin`, `movingMax`, `movingMedian`;
//! `exponentialMovingAverage`; and `stdev`.
//!
//! The moving windows need points from before the requested range: `evaluate` reads their
//! input again with `from` moved back by the window (as graphite-web does) and hands it here.
//! `stdev` works on the range alone, as in graphite-web.

use super::arguments::Arguments;
use super::context::EvaluationContext;
use super::series::{round_to_six_decimals, Aggregation, TimeSeries};
use super::SeriesResult;

/// A moving window: a number of points, or a time span like `'5min'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Window {
    Points(i64),
    Interval { seconds: i64, text: String },
}

impl Window {
    /// The window as graphite-web prints it in names: `5` or `"5min"`.
    fn argument_text(&self) -> String {
        match self {
            Self::Points(points) => points.to_string(),
            Self::Interval { text, .. } => format!("\"{text}\""),
        }
    }

    fn tag_text(&self) -> String {
        match self {
            Self::Points(points) => points.to_string(),
            Self::Interval { text, .. } => text.clone(),
        }
    }

    /// How many points of a series with this step the window covers.
    fn points(&self, step: i64) -> usize {
        match self {
            Self::Points(points) => usize::try_from(*points).unwrap_or(0),
            Self::Interval { seconds, .. } => usize::try_from(seconds / step.max(1)).unwrap_or(0),
        }
    }
}

/// Python's `str.capitalize`: the first letter upper-case, the rest lower-case
/// (`movingAvg_zero` from `avg_zero`).
fn capitalized(text: &str) -> String {
    let mut characters = text.chars();
    match characters.next() {
        Some(first) => first
            .to_uppercase()
            .chain(characters.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// graphite-web's `movingWindow`: each point is `function_name` (an aggregation) of the
/// `window` points up to and including it (graphite-web 1.1.9 and later; earlier versions
/// left the point itself out, one step behind); null when none of them has a value or fewer
/// than `x_files_factor` of them do. The result is named `moving<Function>(name,window)`.
/// `series` must start early enough (a window before `from`); the result starts at the first
/// point at or after `from` that has a whole window up to it.
///
/// graphite-web starts the result at `start + window seconds`, which is off the step grid for
/// windows that are not a whole number of steps; here it stays on the grid.
pub(crate) fn moving_window(
    series: Vec<TimeSeries>,
    window: &Window,
    function_name: &str,
    aggregation: Aggregation,
    x_files_factor: Option<f64>,
    from: i64,
) -> Vec<TimeSeries> {
    let function = format!("moving{}", capitalized(function_name));
    series
        .into_iter()
        .map(|one| {
            let step = one.step.max(1);
            let window_points = window.points(step);
            let name = format!("{function}({},{})", one.name, window.argument_text());
            // The first point of the range is the first after `from`, as on the whisper-style
            // grid every series is read on (`grid::StepGrid`).
            let first_after_from = from.div_euclid(step) * step + step;
            let first_in_range =
                usize::try_from((first_after_from - one.start).div_euclid(step)).unwrap_or(0);
            let first = window_points.saturating_sub(1).max(first_in_range);
            let values = (first..one.values.len())
                .map(|index| {
                    let window_values =
                        &one.values[(index + 1).saturating_sub(window_points)..=index];
                    let present: Vec<Option<f64>> = window_values
                        .iter()
                        .filter(|value| value.is_some())
                        .copied()
                        .collect();
                    let share = present.len() as f64 / window_points.max(1) as f64;
                    let enough = !present.is_empty()
                        && window_points > 0
                        && share >= x_files_factor.unwrap_or(one.x_files_factor);
                    if enough {
                        aggregation.apply(&present)
                    } else {
                        None
                    }
                })
                .collect();
            TimeSeries {
                start: one.start + first as i64 * step,
                values,
                ..one
            }
            .renamed(name)
            .tagged(&function, window.tag_text())
        })
        .collect()
}

/// graphite-web's `exponentialMovingAverage`: seeded with the average of the first window
/// (0 when it has no values), then `ema = c × value + (1 − c) × ema` at each value, with
/// `c = 2 / (window + 1)` (the window in points, or in *seconds* for a time span, as
/// graphite-web has it); a null stays null. Values are rounded to 6 decimals. `series` was
/// read from `preview_seconds` before the range; like graphite-web, the result starts
/// `preview_seconds` after the series and ends with it, so the seed sits on the first point
/// after the first window and each later average one step after the value it takes in.
pub(crate) fn exponential_moving_average(
    series: Vec<TimeSeries>,
    window: &Window,
    preview_seconds: i64,
) -> Vec<TimeSeries> {
    let constant = match window {
        Window::Points(points) => 2.0 / (*points as f64 + 1.0),
        Window::Interval { seconds, .. } => 2.0 / (*seconds as f64 + 1.0),
    };
    series
        .into_iter()
        .map(|one| {
            let step = one.step.max(1);
            let window_points = window.points(step).min(one.values.len());
            let name = format!(
                "exponentialMovingAverage({},{})",
                one.name,
                window.argument_text()
            );
            let seed = Aggregation::Average
                .apply(&one.values[..window_points])
                .unwrap_or(0.0);
            let mut average = seed;
            let mut values = vec![Some(round_to_six_decimals(seed))];
            for value in &one.values[window_points..] {
                values.push(value.map(|value| {
                    average = constant * value + (1.0 - constant) * average;
                    round_to_six_decimals(average)
                }));
            }
            let start = one.start + preview_seconds;
            // graphite-web keeps the series' end and labels points up to and including it.
            let timestamps = usize::try_from((one.end() - start).div_euclid(step) + 1).unwrap_or(0);
            values.truncate(timestamps);
            TimeSeries {
                start,
                values,
                ends_at: Some(one.end()),
                ..one
            }
            .renamed(name)
            .tagged("exponentialMovingAverage", window.tag_text())
        })
        .collect()
}

/// `stdev(seriesList, points, windowTolerance=0.1)`: the standard deviation of each window
/// of `points` values up to and including each point (fewer at the start), computed from
/// running sums as graphite-web does; null where fewer than `windowTolerance` of the window
/// have values.
pub(crate) fn stdev(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let points = arguments.integer(1)?;
    let tolerance = arguments.optional_number(2)?.unwrap_or(0.1);
    if points <= 0 {
        return Err(arguments.invalid(format!("points must be positive, not {points}")));
    }
    let window = usize::try_from(points).unwrap_or(usize::MAX);
    Ok(series
        .into_iter()
        .map(|one| {
            let mut valid = 0usize;
            let mut sum = 0.0;
            let mut sum_of_squares = 0.0;
            let values = (0..one.values.len())
                .map(|index| {
                    let dropped = index.checked_sub(window).and_then(|at| one.values[at]);
                    if let Some(dropped) = dropped {
                        valid -= 1;
                        sum -= dropped;
                        sum_of_squares -= dropped * dropped;
                    }
                    if let Some(value) = one.values[index] {
                        valid += 1;
                        sum += value;
                        sum_of_squares += value * value;
                    }
                    if valid > 0 && valid as f64 / points as f64 >= tolerance {
                        let count = valid as f64;
                        let variance = count * sum_of_squares - sum * sum;
                        (variance >= 0.0).then(|| variance.sqrt() / count)
                    } else {
                        None
                    }
                })
                .collect();
            let name = format!("stdev({},{points})", one.name);
            TimeSeries { values, ..one }
                .renamed(name)
                .tagged("stdev", points.to_string())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{evaluate_values, series};
    use super::*;

    #[test]
    fn capitalized_as_python() {
        assert_eq!(capitalized("sum"), "Sum");
        assert_eq!(capitalized("avg_zero"), "Avg_zero");
        assert_eq!(capitalized("rangeOf"), "Rangeof");
    }

    #[tokio::test]
    async fn stdev_table() {
        let stored = [series(
            "a",
            &[Some(1.0), Some(3.0), None, Some(5.0), Some(5.0)],
        )];
        let actual = evaluate_values("stdev(a,2)", &stored).await;
        assert_eq!(actual[0].0, "stdev(a,2)");
        assert_eq!(
            actual[0].1,
            vec![Some(0.0), Some(1.0), Some(0.0), Some(0.0), Some(0.0)]
        );
    }

    #[test]
    fn exponential_moving_average_seeds_with_the_first_window() {
        let one = TimeSeries::new(
            "a",
            0,
            10,
            vec![Some(2.0), Some(4.0), Some(6.0), None, Some(8.0)],
        );
        let result = exponential_moving_average(vec![one], &Window::Points(2), 20);
        // c = 2/3; seed 3; then 6 → 5; null; 8 → 7; at 20, 30, 40 and the end, 50.
        assert_eq!(result[0].name, "exponentialMovingAverage(a,2)");
        assert_eq!(result[0].start, 20);
        assert_eq!(
            result[0].values,
            vec![Some(3.0), Some(5.0), None, Some(7.0)]
        );
    }
}
