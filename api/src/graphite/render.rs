//! `GET`/`POST /render`: Graphite's render endpoint.
//!
//! Parameters as graphite-web takes them, from the query string and a form body alike: any
//! number of `target`, `from`/`until` (see `time`), `maxDataPoints`, `noNullPoints`, and
//! `format=json` (`[{"target", "tags", "datapoints": [[value|null, unix_ts], ...]}]`), `csv`
//! (`target,YYYY-MM-DD HH:MM:SS,value` lines) or `raw` (`target,start,end,step|v,v,None,...`).
//! Each target is parsed and evaluated by the function library (`functions`) over the
//! database (`source`). A bare path is read at the step `maxDataPoints` allows, merging each
//! bucket by kind (true percentiles); a function call reads at the native step (widened only to
//! stay under `api.max_points_per_series`), runs, and its result is then consolidated to
//! `maxDataPoints` as graphite-web does. What each path shows is `fetch`'s business.

use crate::graphite::functions::{self, EvaluateError, EvaluationContext, Expression, TimeSeries};
use crate::graphite::parameters::join_parameters;
use crate::graphite::render_image::{self, ImageOptions};
use crate::http::error::ApiError;
use crate::read::fetch::{FetchError, SeriesFetcher};
use crate::read::source::DatabaseSource;
use crate::state::AppState;
use axum::extract::{RawForm, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One series of a JSON answer.
#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub(crate) struct RenderedSeries {
    pub target: String,
    pub tags: BTreeMap<String, String>,
    /// `[value or null, unix seconds]` pairs.
    #[schema(value_type = Vec<Vec<Option<f64>>>)]
    pub datapoints: Vec<(Option<f64>, i64)>,
}

/// `format`: how the series are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum Format {
    Json,
    Csv,
    Raw,
    Svg,
    Png,
}

/// The parameters of a render request.
#[derive(Debug, PartialEq)]
struct RenderRequest {
    targets: Vec<String>,
    from: i64,
    until: i64,
    /// The time `from` and `until` are relative to and that no point may be after: the
    /// request's `now` (graphite-web's parameter), or the clock's.
    now: i64,
    max_data_points: Option<usize>,
    no_null_points: bool,
    format: Format,
    /// How `svg` and `png` look.
    image: ImageOptions,
}

fn parse_request(parameters: &str, now: i64) -> Result<RenderRequest, ApiError> {
    let mut targets = Vec::new();
    let mut from = "-24h".to_owned();
    let mut until = "now".to_owned();
    let mut now_text = None;
    let mut max_data_points = None;
    let mut no_null_points = false;
    let mut format = Format::Json;
    let mut image = ImageOptions::default();
    for (key, value) in form_urlencoded::parse(parameters.as_bytes()) {
        if image
            .set(&key, &value)
            .map_err(|error| ApiError::BadRequest(error.to_string()))?
        {
            continue;
        }
        match key.as_ref() {
            "target" if !value.trim().is_empty() => targets.push(value.into_owned()),
            "from" => from = value.into_owned(),
            "until" => until = value.into_owned(),
            "now" => now_text = Some(value.into_owned()),
            "maxDataPoints" => {
                let points: f64 = value.parse().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "invalid maxDataPoints {value:?}: expected a positive number"
                    ))
                })?;
                if points.is_nan() || points < 1.0 {
                    return Err(ApiError::BadRequest(format!(
                        "invalid maxDataPoints {value:?}: expected a positive number"
                    )));
                }
                max_data_points = Some(points as usize);
            }
            "noNullPoints" => no_null_points = matches!(value.as_ref(), "true" | "1" | "True"),
            "format" => {
                format = match value.as_ref() {
                    "json" => Format::Json,
                    "csv" => Format::Csv,
                    "raw" => Format::Raw,
                    "svg" => Format::Svg,
                    "png" => Format::Png,
                    other => {
                        return Err(ApiError::BadRequest(format!(
                            "format {other:?} is not supported; use json, csv, raw, svg or png"
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    if targets.is_empty() {
        return Err(ApiError::BadRequest("missing parameter: target".into()));
    }
    let now = match now_text {
        Some(text) => crate::graphite::time::parse_time(&text, now)
            .map_err(|error| ApiError::BadRequest(format!("invalid now: {error}")))?,
        None => now,
    };
    let (from, until) = crate::graphite::time::parse_range(&from, &until, now)?;
    if from >= until {
        return Err(ApiError::BadRequest(
            "invalid range: from must be before until".into(),
        ));
    }
    // A picture has no use for more points than it is pixels wide; graphite-web does the same.
    if matches!(format, Format::Svg | Format::Png) && max_data_points.is_none() {
        max_data_points = Some(image.width as usize);
    }
    Ok(RenderRequest {
        targets,
        from,
        until,
        now,
        max_data_points,
        no_null_points,
        format,
        image,
    })
}

/// Graphite's render: the series of one or more targets over a time range.
#[utoipa::path(
    get,
    path = "/render",
    tag = "graphite",
    params(
        ("target" = Vec<String>, Query, description = "A target: a path (glob) or a function call; repeatable. Nesting (calls and pipes) is limited to 64 levels.", explode = true, example = json!(["api.hits", "sumSeries(stats.timers.api.latency.upper_90)"])),
        ("from" = Option<String>, Query, description = "A Graphite time (-1h, now, unix seconds, HH:MM_YYYYMMDD, YYYYMMDD) between 0001-01-01 and 9999-12-31; default -24h", example = "-1h"),
        ("until" = Option<String>, Query, description = "A Graphite time; default now", example = "now"),
        ("now" = Option<String>, Query, description = "The time that `now` means in from and until, and after which no point is shown (graphite-web's parameter); default the clock's", example = "now"),
        ("maxDataPoints" = Option<f64>, Query, description = "At most this many points per series (at least 1): steps widen to fit", example = 500),
        ("noNullPoints" = Option<bool>, Query, description = "Leave out null points"),
        ("format" = Option<Format>, Query, description = "json (default), csv, raw, or a picture: svg or png"),
        ("width" = Option<u32>, Query, description = "svg/png: width in pixels (1 to 4000, default 330)", minimum = 1, maximum = 4000),
        ("height" = Option<u32>, Query, description = "svg/png: height in pixels (1 to 4000, default 250)", minimum = 1, maximum = 4000),
        ("title" = Option<String>, Query, description = "svg/png: a title above the graph"),
        ("hideLegend" = Option<bool>, Query, description = "svg/png: no legend"),
        ("hideAxes" = Option<bool>, Query, description = "svg/png: no axes"),
        ("graphOnly" = Option<bool>, Query, description = "svg/png: neither axes nor legend"),
        ("colorList" = Option<String>, Query, description = "svg/png: line colours, comma-separated graphite-web names or rrggbb"),
        ("bgcolor" = Option<String>, Query, description = "svg/png: background colour"),
        ("fgcolor" = Option<String>, Query, description = "svg/png: axes and text colour"),
        ("lineWidth" = Option<f64>, Query, description = "svg/png: line width in pixels (0 to 20)"),
        ("yMin" = Option<f64>, Query, description = "svg/png: bottom of the y axis"),
        ("yMax" = Option<f64>, Query, description = "svg/png: top of the y axis"),
    ),
    responses(
        (status = 200, description = "the series", content(
            (Vec<RenderedSeries> = "application/json"),
            (String = "text/csv"),
            (String = "text/plain"),
            (String = "image/svg+xml"),
            (Vec<u8> = "image/png"),
        )),
        (status = 400, description = "a parameter is invalid, or the answer would exceed a limit", body = crate::http::error::ErrorBody),
        crate::http::documented_refusals::QueryFailures,
    )
)]
pub(crate) async fn render_get(
    state: State<AppState>,
    RawQuery(raw_query): RawQuery,
) -> Result<Response, ApiError> {
    render(state, raw_query.unwrap_or_default()).await
}

/// `POST /render` with a form body; query-string parameters count too.
#[utoipa::path(
    post,
    path = "/render",
    tag = "graphite",
    request_body(content = RenderForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "the series", content(
            (Vec<RenderedSeries> = "application/json"),
            (String = "text/csv"),
            (String = "text/plain"),
            (String = "image/svg+xml"),
            (Vec<u8> = "image/png"),
        )),
        (status = 400, description = "a parameter is invalid, or the answer would exceed a limit", body = crate::http::error::ErrorBody),
        (status = 413, description = "the body is larger than api.max_body_bytes", body = crate::http::error::ErrorBody),
        (status = 415, description = "the body is not sent as application/x-www-form-urlencoded", body = crate::http::error::ErrorBody),
        crate::http::documented_refusals::QueryFailures,
    )
)]
pub(crate) async fn render_post(
    state: State<AppState>,
    RawQuery(raw_query): RawQuery,
    RawForm(form): RawForm,
) -> Result<Response, ApiError> {
    render(state, join_parameters(raw_query, &form)).await
}

/// The form `POST /render` takes: the parameters of `GET /render`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)] // Describes the form for the OpenAPI document only.
pub(crate) struct RenderForm {
    target: Vec<String>,
    from: Option<String>,
    until: Option<String>,
    now: Option<String>,
    maxDataPoints: Option<f64>,
    noNullPoints: Option<bool>,
    format: Option<Format>,
}

async fn render(State(state): State<AppState>, parameters: String) -> Result<Response, ApiError> {
    let request = parse_request(&parameters, Utc::now().timestamp())?;
    let timeout = state.settings.query_timeout;
    let series = tokio::time::timeout(timeout, fetch_targets(&state, &request))
        .await
        .map_err(|_| ApiError::QueryTimeout(timeout))??;
    Ok(match request.format {
        Format::Json => Json(as_json(series, request.no_null_points)).into_response(),
        Format::Csv => ([(header::CONTENT_TYPE, "text/csv")], as_csv(&series)).into_response(),
        Format::Raw => ([(header::CONTENT_TYPE, "text/plain")], as_raw(&series)).into_response(),
        Format::Svg | Format::Png => {
            let (from, until, image, format) =
                (request.from, request.until, request.image, request.format);
            // Drawing is CPU work: off the async workers.
            let drawn = tokio::task::spawn_blocking(move || {
                let document = render_image::svg(&series, from, until, &image)?;
                Ok::<_, render_image::DrawError>(match format {
                    Format::Png => ("image/png", render_image::png(&document, &image)?),
                    _ => ("image/svg+xml", document.into_bytes()),
                })
            })
            .await
            .map_err(|error| ApiError::Internal(format!("drawing stopped: {error}")))?
            .map_err(|error| ApiError::Internal(error.to_string()))?;
            ([(header::CONTENT_TYPE, drawn.0)], drawn.1).into_response()
        }
    })
}

async fn fetch_targets(
    state: &AppState,
    request: &RenderRequest,
) -> Result<Vec<TimeSeries>, ApiError> {
    let now = request.now;
    let context = EvaluationContext {
        from: request.from,
        until: request.until,
        now,
    };
    let mut all = Vec::new();
    for target in &request.targets {
        let expression = functions::parse_target(target)
            .map_err(|error| ApiError::BadRequest(format!("invalid target {target:?}: {error}")))?;
        let is_bare_path = matches!(expression, Expression::Path(_));
        let source = DatabaseSource {
            fetcher: SeriesFetcher {
                pool: &state.pool,
                percentiles: &state.settings.timer_percentiles,
                default_step_seconds: state.settings.default_step.as_secs().max(1) as i64,
                max_data_points: if is_bare_path {
                    request.max_data_points
                } else {
                    Some(state.settings.max_points_per_series)
                },
                max_points_per_series: state.settings.max_points_per_series,
                now,
                schema: &state.schema,
                widen_points: false,
            },
            max_series: state.settings.max_series_per_query,
        };
        let series = functions::evaluate(&expression, &context, &source)
            .await
            .map_err(|error| evaluation_error(target, error))?;
        all.extend(series);
        check_limits(state, &all)?;
    }
    let Some(max_data_points) = request.max_data_points else {
        return Ok(all);
    };
    // graphite-web consolidates over the time range of the whole answer.
    let earliest_start = all.iter().map(|one| one.start).min().unwrap_or(0);
    let latest_end = all.iter().map(TimeSeries::graphite_end).max().unwrap_or(0);
    let time_range = latest_end - earliest_start;
    Ok(all
        .iter()
        .map(|one| functions::consolidate(one, max_data_points, time_range))
        .collect())
}

/// A mistake in the target, or a path the read layer refuses, is the request's (400); a
/// database failure is not (503).
fn evaluation_error(target: &str, error: EvaluateError<FetchError>) -> ApiError {
    match error {
        EvaluateError::Source(FetchError::Database(error)) => ApiError::Database(error),
        EvaluateError::Source(refused) => {
            ApiError::BadRequest(format!("cannot evaluate {target:?}: {refused}"))
        }
        EvaluateError::Invalid(invalid) => {
            ApiError::BadRequest(format!("cannot evaluate {target:?}: {invalid}"))
        }
    }
}

/// The request limits: too many series or points is refused with a clear 400, never a
/// response the API cannot afford to build.
fn check_limits(state: &AppState, series: &[TimeSeries]) -> Result<(), ApiError> {
    let limits = &state.settings;
    if series.len() > limits.max_series_per_query {
        return Err(ApiError::BadRequest(format!(
            "the targets match more than {} series; narrow them or raise api.max_series_per_query",
            limits.max_series_per_query
        )));
    }
    if let Some(long) = series
        .iter()
        .find(|one| one.values.len() > limits.max_points_per_series)
    {
        return Err(ApiError::BadRequest(format!(
            "{} would have {} points of {}s, more than the limit of {}; ask for a shorter range or set maxDataPoints",
            long.name,
            long.values.len(),
            long.step,
            limits.max_points_per_series
        )));
    }
    Ok(())
}

fn datapoints(series: &TimeSeries) -> impl Iterator<Item = (Option<f64>, i64)> + '_ {
    series
        .values
        .iter()
        .enumerate()
        .map(|(index, value)| (*value, series.start + index as i64 * series.step))
}

fn as_json(series: Vec<TimeSeries>, no_null_points: bool) -> Vec<RenderedSeries> {
    series
        .into_iter()
        .map(|one| RenderedSeries {
            datapoints: datapoints(&one)
                .filter(|(value, _)| !no_null_points || value.is_some())
                .collect(),
            target: one.name,
            tags: one.tags,
        })
        .collect()
}

fn as_csv(series: &[TimeSeries]) -> String {
    let mut csv = String::new();
    for one in series {
        for (value, timestamp) in datapoints(one) {
            let time = DateTime::<Utc>::from_timestamp(timestamp, 0)
                .map(|time| time.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default();
            let value = value.map(|value| value.to_string()).unwrap_or_default();
            let _ = writeln!(csv, "{},{time},{value}", one.name);
        }
    }
    csv
}

fn as_raw(series: &[TimeSeries]) -> String {
    let mut raw = String::new();
    for one in series {
        let end = one.start + one.values.len() as i64 * one.step;
        let values: Vec<String> = one
            .values
            .iter()
            .map(|value| value.map_or_else(|| "None".to_owned(), |value| value.to_string()))
            .collect();
        let _ = writeln!(
            raw,
            "{},{},{end},{}|{}",
            one.name,
            one.start,
            one.step,
            values.join(",")
        );
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: Vec<Option<f64>>) -> TimeSeries {
        TimeSeries {
            name: "a.b".into(),
            path_expression: "a.*".into(),
            tags: BTreeMap::from([("name".to_owned(), "a.b".to_owned())]),
            start: 1_700_000_000,
            step: 10,
            values,
            consolidation: functions::Consolidation::Sum,
            x_files_factor: 0.0,
            ends_at: None,
            drawing: Default::default(),
        }
    }

    #[test]
    fn render_requests_are_parsed_and_checked() {
        let request = parse_request(
            "target=a&target=b.c&from=-1h&until=now&format=csv&maxDataPoints=500&noNullPoints=true",
            10_000,
        )
        .unwrap();
        assert_eq!(
            request,
            RenderRequest {
                targets: vec!["a".into(), "b.c".into()],
                from: 6_400,
                until: 10_000,
                now: 10_000,
                max_data_points: Some(500),
                no_null_points: true,
                format: Format::Csv,
                image: ImageOptions::default(),
            }
        );
        // A picture gets as many points as it is wide unless maxDataPoints says otherwise.
        // `now` moves what relative times mean, as in graphite-web.
        let moved = parse_request("target=a&from=-1h&now=20000", 10_000).unwrap();
        assert_eq!(
            (moved.from, moved.until, moved.now),
            (16_400, 20_000, 20_000)
        );
        let picture = parse_request("target=a&format=png&width=640", 10_000).unwrap();
        assert_eq!(picture.max_data_points, Some(640));
        assert_eq!(picture.image.width, 640);
        let refused = [
            ("from=-1h", "missing parameter: target"),
            ("target=", "missing parameter: target"),
            ("target=a&from=-1x", "invalid from"),
            ("target=a&now=soon", "invalid now"),
            ("target=a&from=now&until=-1h", "from must be before until"),
            (
                "target=a&format=pickle",
                "format \"pickle\" is not supported",
            ),
            ("target=a&maxDataPoints=0", "invalid maxDataPoints"),
            ("target=a&maxDataPoints=lots", "invalid maxDataPoints"),
            ("target=a&format=svg&width=0", "invalid width"),
            ("target=a&format=png&colorList=nope", "invalid colorList"),
        ];
        for (query, expected) in refused {
            let error = parse_request(query, 10_000).unwrap_err().to_string();
            assert!(error.contains(expected), "{query}: {error}");
        }
    }

    #[test]
    fn formats_follow_graphite() {
        let one = series(vec![Some(1.5), None]);
        assert_eq!(
            as_csv(std::slice::from_ref(&one)),
            "a.b,2023-11-14 22:13:20,1.5\na.b,2023-11-14 22:13:30,\n"
        );
        assert_eq!(
            as_raw(std::slice::from_ref(&one)),
            "a.b,1700000000,1700000020,10|1.5,None\n"
        );
        let json = as_json(vec![one.clone()], false);
        assert_eq!(
            json[0].datapoints,
            vec![(Some(1.5), 1_700_000_000), (None, 1_700_000_010)]
        );
        let without_nulls = as_json(vec![one], true);
        assert_eq!(
            without_nulls[0].datapoints,
            vec![(Some(1.5), 1_700_000_000)]
        );
    }
}
