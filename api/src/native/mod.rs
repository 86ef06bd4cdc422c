//! The native JSON API, for scripts rather than Grafana: list and search series, read one
//! series' metadata, and query one field of a series with explicit units and the resolution
//! used. Described by an OpenAPI document at `GET /api/openapi.json`, generated from these
//! handlers (utoipa) so it cannot drift from them.
//!
//! Queries go through the same `fetch` as `/render`, so values, gaps and consolidation are the
//! same whichever API reads them.

use crate::http::error::ApiError;
use crate::names::glob::PathGlob;
use crate::names::namespace::{Field, NamespaceKind, SeriesKind};
use crate::read::fetch::SeriesFetcher;
use crate::read::query;
use crate::state::AppState;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

const DEFAULT_LIST_LIMIT: i64 = 1_000;

use crate::http::error::ErrorBody;

pub(crate) use crate::read::query::SeriesInfo;

/// A series with the fields that can be queried from it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SeriesDetail {
    #[serde(flatten)]
    pub series: SeriesInfo,
    /// Field names for `/api/v1/query` (timers take any percentile too, e.g. `upper_99_9`).
    pub fields: Vec<String>,
}

/// The kinds a series can be, as the API names them. Parameters stay strings in the handlers
/// so that an unknown kind gets the API's own message naming the valid ones.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // Describes the parameter for the OpenAPI document only.
pub(crate) enum SeriesKindName {
    Counter,
    Gauge,
    Timer,
    Set,
    Raw,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SeriesListParameters {
    /// A Graphite glob over the name, e.g. `api.*.latency`; every series when absent.
    #[serde(rename = "match")]
    #[param(example = "api.*")]
    pub pattern: Option<String>,
    /// Only series of this kind.
    #[param(value_type = Option<SeriesKindName>)]
    pub kind: Option<String>,
    /// Only series carrying this tag (`key:value` or a flag).
    pub tag: Option<String>,
    /// Only series seen since this time (a Graphite time expression such as `-1h`).
    pub seen_since: Option<String>,
    /// Only series whose name contains this text (a search box's substring, which a glob
    /// cannot say: its `*` stays within one segment).
    pub contains: Option<String>,
    /// At most this many series (default 1000).
    pub limit: Option<i64>,
}

/// List and search the series catalog.
#[utoipa::path(
    get,
    path = "/api/v1/series",
    tag = "native",
    params(SeriesListParameters),
    responses(
        (status = 200, description = "the matching series, by name", body = [SeriesInfo]),
        (status = 400, description = "a parameter is invalid", body = ErrorBody),
        crate::http::documented_refusals::QueryFailures,
    )
)]
pub(crate) async fn list_series(
    State(state): State<AppState>,
    parameters: Result<Query<SeriesListParameters>, QueryRejection>,
) -> Result<Json<Vec<SeriesInfo>>, ApiError> {
    let Query(parameters) = parameters.map_err(bad_parameters)?;
    let glob = parameters
        .pattern
        .as_deref()
        .map(PathGlob::new)
        .transpose()
        .map_err(|error| ApiError::BadRequest(format!("invalid match: {error}")))?;
    let kind = parameters.kind.as_deref().map(parse_kind).transpose()?;
    let seen_since = parameters
        .seen_since
        .as_deref()
        .map(|since| {
            let seconds = crate::graphite::time::parse_time(since, Utc::now().timestamp())
                .map_err(|error| ApiError::BadRequest(format!("invalid seen_since: {error}")))?;
            DateTime::<Utc>::from_timestamp(seconds, 0).ok_or_else(|| {
                ApiError::BadRequest(format!("invalid seen_since: {since:?} is out of range"))
            })
        })
        .transpose()?;
    let limit = parameters.limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if !(1..=100_000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "invalid limit: expected 1 to 100000".into(),
        ));
    }
    let filter = query::SeriesFilter {
        glob: glob.as_ref(),
        name_contains: parameters.contains.as_deref(),
        kind,
        tag: parameters.tag.as_deref(),
        seen_since,
        limit,
    };
    Ok(Json(query::list_series(&state.pool, &filter).await?))
}

/// One series' metadata and queryable fields.
#[utoipa::path(
    get,
    path = "/api/v1/series/{id}",
    tag = "native",
    params(("id" = i64, Path, description = "the series id")),
    responses(
        (status = 200, body = SeriesDetail),
        (status = 400, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 404, description = "no such series", body = ErrorBody),
        crate::http::documented_refusals::QueryFailures,
    )
)]
pub(crate) async fn series_detail(
    State(state): State<AppState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<SeriesDetail>, ApiError> {
    let Path(id) = id.map_err(|rejection| {
        ApiError::BadRequest(format!("invalid series id: {}", rejection.body_text()))
    })?;
    let series = query::series_by_id(&state.pool, id).await?;
    let series = series.ok_or_else(|| ApiError::NotFound(format!("no series with id {id}")))?;
    let kind = parse_kind(&series.kind)?;
    let mut fields: Vec<String> = kind
        .namespace_fields(&state.settings.timer_percentiles)
        .into_iter()
        .map(Field::name)
        .collect();
    if fields.is_empty() {
        fields.push(Field::default_for(kind).name());
    }
    Ok(Json(SeriesDetail { series, fields }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct QueryParameters {
    /// The series name.
    pub name: String,
    /// Its kind: `counter`, `gauge`, `timer`, `set` or `raw`.
    #[param(value_type = SeriesKindName)]
    pub kind: String,
    /// The field (see `/api/v1/series/{id}`); the kind's default when absent.
    pub field: Option<String>,
    /// A Graphite time expression; default `-1h`.
    pub from: Option<String>,
    /// A Graphite time expression; default `now`.
    pub until: Option<String>,
    /// The wanted step in seconds; the answer's step is the smallest whole multiple of the
    /// series' resolution that is at least this.
    pub step: Option<u32>,
    /// The series' tags, comma-separated `key:value` (or a flag), when several series share
    /// the name; an untagged series when absent.
    pub tags: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueryPoint {
    /// Start of the point's interval.
    pub time: DateTime<Utc>,
    pub value: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueryAnswer {
    pub name: String,
    pub kind: String,
    pub field: String,
    /// `count`, `per_second`, `milliseconds`, `milliseconds_squared` or `value`.
    pub unit: String,
    /// Seconds between points: the series' resolution, widened to honour `step`.
    pub step_seconds: i64,
    pub points: Vec<QueryPoint>,
}

/// One field of one series over a time range.
#[utoipa::path(
    get,
    path = "/api/v1/query",
    tag = "native",
    params(QueryParameters),
    responses(
        (status = 200, body = QueryAnswer),
        (status = 400, description = "a parameter is invalid, or the range holds more than api.max_points_per_series points", body = ErrorBody),
        (status = 404, description = "no such series", body = ErrorBody),
        crate::http::documented_refusals::QueryFailures,
    )
)]
pub(crate) async fn query(
    State(state): State<AppState>,
    parameters: Result<Query<QueryParameters>, QueryRejection>,
) -> Result<Json<QueryAnswer>, ApiError> {
    let Query(parameters) = parameters.map_err(bad_parameters)?;
    let kind = parse_kind(&parameters.kind)?;
    let field = match parameters.field.as_deref() {
        None => Field::default_for(kind),
        Some(name) => Field::parse(kind, name).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "invalid field {name:?} for a {}",
                kind.catalog_name()
            ))
        })?,
    };
    let now = Utc::now().timestamp();
    let (from, until) = crate::graphite::time::parse_range(
        parameters.from.as_deref().unwrap_or("-1h"),
        parameters.until.as_deref().unwrap_or("now"),
        now,
    )?;
    if from >= until {
        return Err(ApiError::BadRequest(
            "invalid range: from must be before until".into(),
        ));
    }
    let max_data_points = match parameters.step {
        Some(0) => {
            return Err(ApiError::BadRequest(
                "invalid step: must be at least 1".into(),
            ))
        }
        Some(step) => Some(((until - from) as u64).div_ceil(u64::from(step)).max(1) as usize),
        None => None,
    };
    let fetcher = SeriesFetcher {
        pool: &state.pool,
        percentiles: &state.settings.timer_percentiles,
        default_step_seconds: state.settings.default_step.as_secs().max(1) as i64,
        max_data_points,
        max_points_per_series: state.settings.max_points_per_series,
        now,
        schema: &state.schema,
        widen_points: true,
    };
    let tags: Vec<String> = parameters
        .tags
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .map(str::to_owned)
        .collect();
    let found = fetcher
        .fetch_one(kind, &parameters.name, &tags, field, from, until)
        .await?;
    let series = found.ok_or_else(|| {
        let tags = parameters
            .tags
            .as_deref()
            .map(|tags| format!(" with tags {tags:?}"))
            .unwrap_or_default();
        ApiError::NotFound(format!(
            "no {} named {:?}{tags}",
            kind.catalog_name(),
            parameters.name
        ))
    })?;
    if series.values.len() > state.settings.max_points_per_series {
        return Err(ApiError::BadRequest(format!(
            "the range holds {} points, more than the limit of {}; ask for a larger step",
            series.values.len(),
            state.settings.max_points_per_series
        )));
    }
    let points = series
        .values
        .iter()
        .enumerate()
        .filter_map(|(index, value)| {
            let time =
                DateTime::<Utc>::from_timestamp(series.start + index as i64 * series.step, 0)?;
            Some(QueryPoint {
                time,
                value: *value,
            })
        })
        .collect();
    Ok(Json(QueryAnswer {
        name: parameters.name,
        kind: kind.catalog_name().into(),
        field: field.name(),
        unit: field.unit().into(),
        step_seconds: series.step,
        points,
    }))
}

/// Missing or mistyped parameters answer with the JSON error every other problem gets.
fn bad_parameters(rejection: QueryRejection) -> ApiError {
    ApiError::BadRequest(format!("invalid parameters: {}", rejection.body_text()))
}

fn parse_kind(text: &str) -> Result<SeriesKind, ApiError> {
    SeriesKind::from_catalog_name(text).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "invalid kind {text:?}: use counter, gauge, timer, set or raw"
        ))
    })
}
