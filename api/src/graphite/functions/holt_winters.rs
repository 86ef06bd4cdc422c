//! Holt-Winters forecasting (graphite-web's `holtWintersForecast`,
//! `holtWintersConfidenceBands`, `holtWintersConfidenceArea`, `holtWintersAberration`):
//! triple exponential smoothing with graphite-web's fixed factors (α = γ = 0.1,
//! β = 0.0035) and a season of `seasonality` (a day by default).
//!
//! The model is trained on a bootstrap interval before the range (a week by default):
//! `evaluate` reads the input again from `from − bootstrap` and hands that "preview" here; the
//! answers cover the range only (the preview's points from `bootstrap` on).

use super::series::{Drawing, TimeSeries};

const ALPHA: f64 = 0.1;
const GAMMA: f64 = 0.1;
const BETA: f64 = 0.0035;

/// The predictions and deviations of graphite-web's `holtWintersAnalysis`, one per point.
struct Analysis {
    predictions: Vec<Option<f64>>,
    deviations: Vec<Option<f64>>,
}

fn analyse(values: &[Option<f64>], season_length: usize) -> Analysis {
    let mut intercepts: Vec<Option<f64>> = Vec::with_capacity(values.len());
    let mut slopes: Vec<f64> = Vec::with_capacity(values.len());
    let mut seasonals: Vec<f64> = Vec::with_capacity(values.len());
    let mut predictions: Vec<Option<f64>> = Vec::with_capacity(values.len());
    let mut deviations: Vec<f64> = Vec::with_capacity(values.len());
    let season_before = |list: &[f64], index: usize| {
        index
            .checked_sub(season_length)
            .and_then(|at| list.get(at).copied())
            .unwrap_or(0.0)
    };
    let mut next_prediction: Option<f64> = None;
    for (index, actual) in values.iter().enumerate() {
        let Some(actual) = *actual else {
            // A missing value breaks the math: graphite-web records a gap and goes on.
            intercepts.push(None);
            slopes.push(0.0);
            seasonals.push(0.0);
            predictions.push(next_prediction);
            deviations.push(0.0);
            next_prediction = None;
            continue;
        };
        let (last_intercept, last_slope, prediction) = if index == 0 {
            (actual, 0.0, Some(actual))
        } else {
            (
                intercepts.last().copied().flatten().unwrap_or(actual),
                slopes.last().copied().unwrap_or(0.0),
                next_prediction,
            )
        };
        let last_seasonal = season_before(&seasonals, index);
        let next_last_seasonal = season_before(&seasonals, index + 1);
        let last_seasonal_deviation = season_before(&deviations, index);
        let intercept =
            ALPHA * (actual - last_seasonal) + (1.0 - ALPHA) * (last_intercept + last_slope);
        let slope = BETA * (intercept - last_intercept) + (1.0 - BETA) * last_slope;
        let seasonal = GAMMA * (actual - intercept) + (1.0 - GAMMA) * last_seasonal;
        next_prediction = Some(intercept + slope + next_last_seasonal);
        let deviation = GAMMA * (actual - prediction.unwrap_or(0.0)).abs()
            + (1.0 - GAMMA) * last_seasonal_deviation;
        intercepts.push(Some(intercept));
        slopes.push(slope);
        seasonals.push(seasonal);
        predictions.push(prediction);
        deviations.push(deviation);
    }
    Analysis {
        predictions,
        deviations: deviations.into_iter().map(Some).collect(),
    }
}

/// One preview series analysed, cut to the range: its forecast and deviation from
/// `bootstrap_seconds` on.
struct Forecast {
    start: i64,
    predictions: Vec<Option<f64>>,
    deviations: Vec<Option<f64>>,
}

fn forecast(preview: &TimeSeries, bootstrap_seconds: i64, seasonality_seconds: i64) -> Forecast {
    let step = preview.step.max(1);
    let season_length = usize::try_from(seasonality_seconds / step).unwrap_or(0);
    let analysis = analyse(&preview.values, season_length);
    let skipped = usize::try_from(bootstrap_seconds / step)
        .unwrap_or(0)
        .min(preview.values.len());
    Forecast {
        start: preview.start + bootstrap_seconds,
        predictions: analysis.predictions[skipped..].to_vec(),
        deviations: analysis.deviations[skipped..].to_vec(),
    }
}

/// `holtWintersForecast(seriesList, bootstrapInterval='7d', seasonality='1d')`.
pub(crate) fn holt_winters_forecast(
    previews: Vec<TimeSeries>,
    bootstrap_seconds: i64,
    seasonality_seconds: i64,
) -> Vec<TimeSeries> {
    previews
        .into_iter()
        .map(|preview| {
            let forecast = forecast(&preview, bootstrap_seconds, seasonality_seconds);
            let name = format!("holtWintersForecast({})", preview.name);
            TimeSeries {
                start: forecast.start,
                values: forecast.predictions,
                ..preview
            }
            .renamed(name)
            // graphite-web's analysis makes the forecast and deviation series as copies that
            // share one tags dict, so each carries the other's tag too.
            .tagged("holtWintersDeviation", "1")
            .tagged("holtWintersForecast", "1")
        })
        .collect()
}

/// The lower and upper bands (`forecast ∓ delta × deviation`) of one preview series, named
/// `holtWintersConfidenceLower(name)` and `…Upper(name)`, with the input's path expression.
fn bands(
    preview: &TimeSeries,
    delta: f64,
    bootstrap_seconds: i64,
    seasonality_seconds: i64,
) -> (TimeSeries, TimeSeries) {
    let forecast = forecast(preview, bootstrap_seconds, seasonality_seconds);
    let band = |sign: f64| -> Vec<Option<f64>> {
        forecast
            .predictions
            .iter()
            .zip(&forecast.deviations)
            .map(|(prediction, deviation)| match (prediction, deviation) {
                (Some(prediction), Some(deviation)) => Some(prediction + sign * delta * deviation),
                _ => None,
            })
            .collect()
    };
    // In graphite-web every series of one analysis shares one tags dict: both bands carry
    // the tags of the forecast, the deviation and each other.
    let band_series = |name: String, values: Vec<Option<f64>>| {
        TimeSeries {
            name,
            start: forecast.start,
            values,
            ..preview.clone()
        }
        .tagged("holtWintersConfidenceLower", "1")
        .tagged("holtWintersConfidenceUpper", "1")
        .tagged("holtWintersDeviation", "1")
        .tagged("holtWintersForecast", "1")
    };
    (
        band_series(
            format!("holtWintersConfidenceLower({})", preview.name),
            band(-1.0),
        ),
        band_series(
            format!("holtWintersConfidenceUpper({})", preview.name),
            band(1.0),
        ),
    )
}

/// `holtWintersConfidenceBands(seriesList, delta=3, bootstrapInterval='7d',
/// seasonality='1d')`: for each series its lower band, then its upper band.
pub(crate) fn holt_winters_confidence_bands(
    previews: Vec<TimeSeries>,
    delta: f64,
    bootstrap_seconds: i64,
    seasonality_seconds: i64,
) -> Vec<TimeSeries> {
    previews
        .iter()
        .flat_map(|preview| {
            let (lower, upper) = bands(preview, delta, bootstrap_seconds, seasonality_seconds);
            [lower, upper]
        })
        .collect()
}

/// `holtWintersConfidenceArea(…)`: the bands drawn as the area between them (graphite-web's
/// `areaBetween`): both named `holtWintersConfidenceArea(<path expression>)`, the lower one
/// invisible, both stacked.
pub(crate) fn holt_winters_confidence_area(
    previews: Vec<TimeSeries>,
    delta: f64,
    bootstrap_seconds: i64,
    seasonality_seconds: i64,
) -> Vec<TimeSeries> {
    previews
        .iter()
        .flat_map(|preview| {
            let (lower, upper) = bands(preview, delta, bootstrap_seconds, seasonality_seconds);
            let name = format!("holtWintersConfidenceArea({})", preview.path_expression);
            let lower = TimeSeries {
                drawing: Drawing {
                    stacked: true,
                    invisible: true,
                    ..lower.drawing.clone()
                },
                ..lower
            };
            let upper = TimeSeries {
                drawing: Drawing {
                    stacked: true,
                    ..upper.drawing.clone()
                },
                ..upper
            };
            [lower, upper].map(|one| {
                one.renamed(name.clone())
                    .tagged("holtWintersConfidenceArea", "1")
            })
        })
        .collect()
}

/// `holtWintersAberration(…)`: for each series (read over the range), how far each value lies
/// outside its confidence bands (positive above, negative below, 0 inside or at a null).
pub(crate) fn holt_winters_aberration(
    series: Vec<TimeSeries>,
    previews: &[TimeSeries],
    delta: f64,
    bootstrap_seconds: i64,
    seasonality_seconds: i64,
) -> Vec<TimeSeries> {
    series
        .into_iter()
        .filter_map(|one| {
            let preview = previews.iter().find(|preview| preview.name == one.name)?;
            let (lower, upper) = bands(preview, delta, bootstrap_seconds, seasonality_seconds);
            let values = one
                .values
                .iter()
                .enumerate()
                .map(|(index, value)| {
                    let Some(value) = *value else {
                        return Some(0.0);
                    };
                    let upper = upper.values.get(index).copied().flatten();
                    let lower = lower.values.get(index).copied().flatten();
                    Some(match (upper, lower) {
                        (Some(upper), _) if value > upper => value - upper,
                        (_, Some(lower)) if value < lower => value - lower,
                        _ => 0.0,
                    })
                })
                .collect();
            let name = format!("holtWintersAberration({})", one.name);
            Some(
                TimeSeries { values, ..one }
                    .renamed(name)
                    .tagged("holtWintersAberration", "1"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_series_is_forecast_flat_with_no_deviation() {
        let preview = TimeSeries::new("a", 0, 10, vec![Some(5.0); 12]);
        let forecast = holt_winters_forecast(vec![preview.clone()], 60, 3_600);
        assert_eq!(forecast[0].name, "holtWintersForecast(a)");
        assert_eq!(forecast[0].start, 60);
        assert_eq!(forecast[0].values.len(), 6);
        for value in &forecast[0].values {
            assert!((value.unwrap() - 5.0).abs() < 1e-12, "{value:?}");
        }
        let bands = holt_winters_confidence_bands(vec![preview.clone()], 3.0, 60, 3_600);
        assert_eq!(bands[0].name, "holtWintersConfidenceLower(a)");
        assert_eq!(bands[1].name, "holtWintersConfidenceUpper(a)");
        let spike = TimeSeries::new("a", 60, 10, vec![Some(5.0), Some(50.0), None]);
        let aberration = holt_winters_aberration(vec![spike], &[preview], 3.0, 60, 3_600);
        let values = &aberration[0].values;
        assert_eq!(values[0], Some(0.0));
        assert!(values[1].unwrap() > 40.0, "{values:?}");
        assert_eq!(values[2], Some(0.0));
    }
}
