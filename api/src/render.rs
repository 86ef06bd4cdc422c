//! `GET /render`: Graphite's render endpoint, answering in its JSON shape
//! `[{"target": "...", "tags": {...}, "datapoints": [[value, unix_ts], ...]}]`.
//!
//! Datapoints are aligned to the series' step (its flush interval) and cover the whole
//! requested range. Like statsd + Graphite, a counter reads 0 in an interval where nothing
//! arrived once the series exists, and a gauge keeps its last value until it changes.
//! Intervals before a series existed, and in the future, are null.

use crate::error::ApiError;
use crate::glob::PathGlob;
use crate::query::{self, IntervalValue, SeriesKind, SeriesRow};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize, PartialEq)]
pub struct RenderedSeries {
    pub target: String,
    pub tags: BTreeMap<String, String>,
    pub datapoints: Vec<(Option<f64>, i64)>,
}

/// The parameters of a render request.
#[derive(Debug, PartialEq)]
struct RenderRequest {
    targets: Vec<String>,
    from: i64,
    until: i64,
}

fn parse_request(raw_query: &str, now: i64) -> Result<RenderRequest, ApiError> {
    let mut targets = Vec::new();
    let mut from = "-24h".to_owned();
    let mut until = "now".to_owned();
    for (key, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        match key.as_ref() {
            "target" => targets.push(value.into_owned()),
            "from" => from = value.into_owned(),
            "until" => until = value.into_owned(),
            "format" if value != "json" => {
                return Err(ApiError::BadRequest(format!(
                    "format {value:?} is not supported; use format=json"
                )));
            }
            _ => {}
        }
    }
    if targets.is_empty() {
        return Err(ApiError::BadRequest("missing parameter: target".into()));
    }
    let bad_time = |name: &str, error: crate::time::TimeParseError| {
        ApiError::BadRequest(format!("invalid {name}: {error}"))
    };
    let from = crate::time::parse_time(&from, now).map_err(|error| bad_time("from", error))?;
    let until = crate::time::parse_time(&until, now).map_err(|error| bad_time("until", error))?;
    if from >= until {
        return Err(ApiError::BadRequest(
            "invalid range: from must be before until".into(),
        ));
    }
    Ok(RenderRequest {
        targets,
        from,
        until,
    })
}

pub async fn render(
    State(state): State<AppState>,
    RawQuery(raw_query): RawQuery,
) -> Result<Json<Vec<RenderedSeries>>, ApiError> {
    let now = Utc::now().timestamp();
    let request = parse_request(raw_query.as_deref().unwrap_or_default(), now)?;
    let timeout = state.settings.query_timeout;
    let rendered = tokio::time::timeout(timeout, render_all(&state, &request, now))
        .await
        .map_err(|_| ApiError::QueryTimeout(timeout))??;
    Ok(Json(rendered))
}

async fn render_all(
    state: &AppState,
    request: &RenderRequest,
    now: i64,
) -> Result<Vec<RenderedSeries>, ApiError> {
    let mut rendered = Vec::new();
    for target in &request.targets {
        let glob = PathGlob::new(target)
            .map_err(|error| ApiError::BadRequest(format!("invalid target {target:?}: {error}")))?;
        for series in query::series_matching(&state.pool, &glob).await? {
            rendered.push(render_series(state, &series, request, now).await?);
        }
    }
    Ok(rendered)
}

async fn render_series(
    state: &AppState,
    series: &SeriesRow,
    request: &RenderRequest,
    now: i64,
) -> Result<RenderedSeries, ApiError> {
    let step_seconds = query::latest_interval_ms(&state.pool, series)
        .await?
        .map_or(10, |interval_ms| (i64::from(interval_ms) / 1000).max(1));
    let grid = StepGrid::new(request.from, request.until, step_seconds);
    if grid.len() > state.settings.max_points_per_series {
        return Err(ApiError::BadRequest(format!(
            "the range holds {} points of {step_seconds}s, more than the limit of {}; ask for a shorter range",
            grid.len(),
            state.settings.max_points_per_series
        )));
    }
    let from = unix_seconds_to_time(grid.first_start)?;
    let until = unix_seconds_to_time(grid.end)?;
    let stored = query::intervals(&state.pool, series, from, until).await?;
    let carried_gauge = match series.kind {
        SeriesKind::Gauge => query::gauge_value_before(&state.pool, series, from).await?,
        SeriesKind::Counter => None,
    };
    let mut tags: BTreeMap<String, String> = series
        .tags
        .iter()
        .map(|tag| {
            let (key, value) = tag.split_once(':').unwrap_or((tag, ""));
            (key.to_owned(), value.to_owned())
        })
        .collect();
    tags.insert("name".into(), series.name.clone());
    Ok(RenderedSeries {
        target: series.name.clone(),
        tags,
        datapoints: fill_datapoints(
            &grid,
            series.kind,
            &stored,
            carried_gauge,
            series.first_seen.timestamp(),
            now,
        ),
    })
}

fn unix_seconds_to_time(seconds: i64) -> Result<DateTime<Utc>, ApiError> {
    DateTime::from_timestamp(seconds, 0)
        .ok_or_else(|| ApiError::BadRequest(format!("time {seconds} is out of range")))
}

/// The aligned timestamps of a range: `first_start`, `first_start + step`, … up to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StepGrid {
    first_start: i64,
    end: i64,
    step: i64,
}

impl StepGrid {
    fn new(from: i64, until: i64, step: i64) -> Self {
        let first_start = from - from.rem_euclid(step);
        Self {
            first_start,
            end: until,
            step,
        }
    }

    fn len(&self) -> usize {
        ((self.end - self.first_start + self.step - 1) / self.step).max(0) as usize
    }

    fn slot_of(&self, unix_seconds: i64) -> Option<usize> {
        let slot = (unix_seconds - self.first_start).div_euclid(self.step);
        (slot >= 0 && (slot as usize) < self.len()).then_some(slot as usize)
    }
}

/// Lays the stored intervals on the grid with statsd's reading of the gaps: counters are 0
/// and gauges keep their last value once the series exists, up to now.
fn fill_datapoints(
    grid: &StepGrid,
    kind: SeriesKind,
    stored: &[IntervalValue],
    gauge_before_range: Option<f64>,
    first_seen_unix_seconds: i64,
    now: i64,
) -> Vec<(Option<f64>, i64)> {
    let mut values: Vec<Option<f64>> = vec![None; grid.len()];
    for interval in stored {
        let Some(slot) = grid.slot_of(interval.start_unix_seconds) else {
            continue;
        };
        values[slot] = match (kind, values[slot]) {
            (SeriesKind::Counter, Some(sum)) => Some(sum + interval.value),
            _ => Some(interval.value),
        };
    }
    let mut last_gauge = gauge_before_range;
    (0..grid.len())
        .map(|slot| {
            let start = grid.first_start + slot as i64 * grid.step;
            let series_existed = start + grid.step > first_seen_unix_seconds && start <= now;
            let value = match (kind, values[slot]) {
                (_, Some(value)) => Some(value),
                (SeriesKind::Counter, None) => series_existed.then_some(0.0),
                (SeriesKind::Gauge, None) => last_gauge.filter(|_| series_existed),
            };
            if kind == SeriesKind::Gauge && values[slot].is_some() {
                last_gauge = values[slot];
            }
            (value, start)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(start: i64, value: f64) -> IntervalValue {
        IntervalValue {
            start_unix_seconds: start,
            interval_ms: 10_000,
            value,
        }
    }

    #[test]
    fn the_grid_is_aligned_to_the_step() {
        let grid = StepGrid::new(1_005, 1_040, 10);
        assert_eq!(grid.first_start, 1_000);
        assert_eq!(grid.len(), 4);
        assert_eq!(grid.slot_of(1_000), Some(0));
        assert_eq!(grid.slot_of(1_039), Some(3));
        assert_eq!(grid.slot_of(1_040), None);
        assert_eq!(grid.slot_of(990), None);
    }

    #[test]
    fn counters_read_zero_in_quiet_intervals_after_they_appear() {
        let grid = StepGrid::new(1_000, 1_060, 10);
        let points = fill_datapoints(
            &grid,
            SeriesKind::Counter,
            &[
                interval(1_020, 30.0),
                interval(1_020, 5.0),
                interval(1_040, 1.0),
            ],
            None,
            1_020,
            1_050,
        );
        assert_eq!(
            points,
            vec![
                (None, 1_000),
                (None, 1_010),
                (Some(35.0), 1_020),
                (Some(0.0), 1_030),
                (Some(1.0), 1_040),
                (Some(0.0), 1_050),
            ]
        );
    }

    #[test]
    fn gauges_keep_their_last_value_until_now() {
        let grid = StepGrid::new(1_000, 1_050, 10);
        let points = fill_datapoints(
            &grid,
            SeriesKind::Gauge,
            &[interval(1_020, 47.0)],
            Some(50.0),
            900,
            1_030,
        );
        assert_eq!(
            points,
            vec![
                (Some(50.0), 1_000),
                (Some(50.0), 1_010),
                (Some(47.0), 1_020),
                (Some(47.0), 1_030),
                (None, 1_040),
            ]
        );
    }

    #[test]
    fn render_requests_are_parsed_and_checked() {
        let request =
            parse_request("target=a&target=b.c&from=-1h&until=now&format=json", 10_000).unwrap();
        assert_eq!(
            request,
            RenderRequest {
                targets: vec!["a".into(), "b.c".into()],
                from: 6_400,
                until: 10_000,
            }
        );
        let refused = [
            ("from=-1h", "missing parameter: target"),
            ("target=a&from=-1x", "invalid from"),
            ("target=a&from=now&until=-1h", "from must be before until"),
            (
                "target=a&format=pickle",
                "format \"pickle\" is not supported",
            ),
        ];
        for (query, expected) in refused {
            let error = parse_request(query, 10_000).unwrap_err().to_string();
            assert!(error.contains(expected), "{query}: {error}");
        }
    }
}
