//! HTTP ingest, compatible with Trendlines: `POST /api/v1/data` takes `{"metric", "value",
//! "time"?}` or an array of them; `POST /api/v1/data/<metric>` takes `{"value", "timestamp"?}`
//! (or `time`) records for one metric; `GET /api/v1/data/<metric>` lists the stored points with
//! ISO-8601 timestamps. A time is unix seconds or ISO-8601; absent means now.
//!
//! Points are published to the stream (see `publish`), stored by the storage worker as a raw
//! series, and readable by `/render` under the metric's name. A request is all or nothing: one
//! bad record refuses the whole request with its index and the problem, so a client never has
//! to guess which points were kept.
//!
//! Every record is held to `abacus_proto::limits` here, at the edge, with a 400 naming the
//! record and the field: a point the storage worker would have to refuse later (a NUL byte, a
//! name longer than the catalog's index can hold, a time PostgreSQL cannot store) must never
//! be answered 200 and then lost. A posting must say `Content-Type: application/json`
//! (`http::json_body` says why).

pub(crate) mod publish;

use crate::http::error::ApiError;
use crate::http::json_body::json_body_text;
use crate::state::AppState;
use abacus_proto::limits;
use abacus_proto::producer::unix_now_ms;
use abacus_proto::v1::RawPoint;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::Value;

/// Most records one request may carry.
pub(crate) const MAX_RECORDS_PER_REQUEST: usize = 10_000;

/// A time: unix seconds, or ISO-8601 with or without an offset (UTC without).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
// Describes the body for the OpenAPI document only: records are read as JSON values, so
// that a bad one is refused with its index.
#[allow(dead_code)]
pub(crate) enum RecordTime {
    UnixSeconds(f64),
    Iso8601(String),
}

/// One point. Limits: `metric` at most 1,024 bytes of dot-separated segments without spaces
/// or glob characters; `value` finite; `time` between 1970 and 9999.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct IngestRecord {
    /// The series name; optional under `/api/v1/data/{metric}`, where it must match.
    metric: Option<String>,
    value: f64,
    /// Now when absent.
    time: Option<RecordTime>,
    /// The same as `time`.
    timestamp: Option<RecordTime>,
}

/// A record or an array of at most 10,000.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum IngestBody {
    One(IngestRecord),
    Many(Vec<IngestRecord>),
}

/// What an accepted request is answered with.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct IngestAnswer {
    /// Always `ok`.
    status: String,
    /// How many points were published.
    accepted: usize,
    /// The id of the batch they travel in.
    batch_id: String,
}

/// `POST /api/v1/data`: points for any metrics.
#[utoipa::path(
    post,
    path = "/api/v1/data",
    tag = "ingest",
    request_body(content = IngestBody, content_type = "application/json"),
    responses(
        (status = 200, description = "published; readable once stored", body = IngestAnswer),
        (status = 400, description = "a record is invalid or breaks a limit (named by its index)", body = crate::http::error::ErrorBody),
        crate::http::documented_refusals::PublishFailures,
    )
)]
pub(crate) async fn post_data(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<IngestAnswer>, ApiError> {
    let body = json_body_text(&headers, &body)?;
    let points = parse_records(body, None, unix_now_ms())?;
    publish(&state, points).await
}

/// `POST /api/v1/data/<metric>`: points of one metric.
#[utoipa::path(
    post,
    path = "/api/v1/data/{metric}",
    tag = "ingest",
    params(("metric" = String, Path, description = "The series name", example = "signups.daily")),
    request_body(content = IngestBody, content_type = "application/json"),
    responses(
        (status = 200, description = "published; readable once stored", body = IngestAnswer),
        (status = 400, description = "a record is invalid or breaks a limit (named by its index)", body = crate::http::error::ErrorBody),
        crate::http::documented_refusals::PublishFailures,
    )
)]
pub(crate) async fn post_metric_data(
    State(state): State<AppState>,
    Path(metric): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<IngestAnswer>, ApiError> {
    let body = json_body_text(&headers, &body)?;
    let points = parse_records(body, Some(&metric), unix_now_ms())?;
    publish(&state, points).await
}

async fn publish(state: &AppState, points: Vec<RawPoint>) -> Result<Json<IngestAnswer>, ApiError> {
    let accepted = points.len();
    let batch_id = state.publisher.publish(points, Vec::new()).await?;
    Ok(Json(IngestAnswer {
        status: "ok".into(),
        accepted,
        batch_id,
    }))
}

/// Parses a request body into points; `metric` is the one named in the path, if any.
pub(crate) fn parse_records(
    body: &str,
    metric: Option<&str>,
    now_ms: i64,
) -> Result<Vec<RawPoint>, ApiError> {
    let bad = |message: String| ApiError::BadRequest(message);
    let document: Value = serde_json::from_str(body)
        .map_err(|error| bad(format!("the body is not JSON: {error}")))?;
    let records = match document {
        Value::Array(records) => records,
        record @ Value::Object(_) => vec![record],
        _ => {
            return Err(bad(
                "the body must be a record or an array of records".into()
            ))
        }
    };
    if records.is_empty() {
        return Err(bad("the body holds no record".into()));
    }
    if records.len() > MAX_RECORDS_PER_REQUEST {
        return Err(bad(format!(
            "{} records is more than the {MAX_RECORDS_PER_REQUEST} one request may carry",
            records.len()
        )));
    }
    records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            parse_record(record, metric, now_ms)
                .map_err(|problem| bad(format!("record {index}: {problem}")))
        })
        .collect()
}

fn parse_record(record: &Value, metric: Option<&str>, now_ms: i64) -> Result<RawPoint, String> {
    let Value::Object(fields) = record else {
        return Err("must be an object".into());
    };
    let name = match (fields.get("metric"), metric) {
        (Some(Value::String(name)), None) => name.as_str(),
        (Some(Value::String(name)), Some(path_metric)) if name == path_metric => name.as_str(),
        (Some(_), Some(path_metric)) => {
            return Err(format!("metric differs from {path_metric:?} in the path"))
        }
        (None, Some(path_metric)) => path_metric,
        (Some(_), None) => return Err("metric must be a string".into()),
        (None, None) => return Err("missing metric".into()),
    };
    limits::check_name("metric", name).map_err(|error| error.to_string())?;
    if !is_valid_metric_name(name) {
        return Err(format!(
            "metric {name:?} is not a valid path (non-empty dot-separated segments without spaces)"
        ));
    }
    let value = match fields.get("value") {
        Some(Value::Number(number)) => number.as_f64().filter(|value| value.is_finite()),
        Some(_) => None,
        None => return Err("missing value".into()),
    }
    .ok_or("value must be a finite number")?;
    limits::check_value("value", value).map_err(|error| error.to_string())?;
    let time = fields.get("time").or_else(|| fields.get("timestamp"));
    let timestamp_unix_ms = match time {
        None | Some(Value::Null) => now_ms,
        Some(time) => {
            parse_time(time).ok_or("time must be unix seconds or an ISO-8601 timestamp")?
        }
    };
    // Unix seconds of 1e300 parse, and saturate to i64::MAX milliseconds: refused here, not
    // dead-lettered by the storage worker after a 200.
    limits::check_time_ms("time", timestamp_unix_ms).map_err(|error| error.to_string())?;
    Ok(RawPoint {
        name: name.to_owned(),
        tags: Vec::new(),
        timestamp_unix_ms,
        value,
    })
}

fn is_valid_metric_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|segment| {
            !segment.is_empty()
                && segment.chars().all(|character| {
                    !character.is_whitespace()
                        && !character.is_control()
                        && !"*?[]{}(),".contains(character)
                })
        })
}

/// Unix seconds (a number, or a string of digits) or ISO-8601, with or without an offset
/// (without one it is UTC).
fn parse_time(time: &Value) -> Option<i64> {
    match time {
        Value::Number(number) => number
            .as_f64()
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .map(|seconds| (seconds * 1000.0) as i64),
        Value::String(text) => {
            if let Ok(seconds) = text.parse::<i64>() {
                // Checked: unix seconds near i64::MAX would overflow as milliseconds.
                return seconds.checked_mul(1000).filter(|_| seconds >= 0);
            }
            if let Ok(time) = DateTime::parse_from_rfc3339(text) {
                return Some(time.timestamp_millis());
            }
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|time| time.and_utc().timestamp_millis())
        }
        _ => None,
    }
}

/// One stored point of `GET /api/v1/data/{metric}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct StoredPoint {
    /// RFC 3339 with milliseconds, UTC.
    timestamp: String,
    value: f64,
}

/// The answer of `GET /api/v1/data/{metric}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct StoredPoints {
    metric: String,
    rows: Vec<StoredPoint>,
    /// Present when the range holds more than `api.max_points_per_series` points: the rows
    /// are every point before this time (unix seconds); ask again with `from` set to it, and
    /// the same `until`, for the rest.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_from: Option<i64>,
}

use crate::read::query::{self, RollupPoint};

/// The stored points of a series, each time from the finest level that holds it: the raw
/// points, then each point rollup (finest first) only before everything finer holds. A rollup
/// bucket that stands for one point is that point, at its own time (rounded to the raw
/// resolution); a bucket of several is shown at its start. In time order.
fn finest_points(
    raw: &[(DateTime<Utc>, f64)],
    rollups: &[RollupPoint],
) -> Vec<(DateTime<Utc>, f64)> {
    let mut points: Vec<(DateTime<Utc>, f64)> = raw.to_vec();
    let mut finer_start = raw.iter().map(|(time, _)| *time).min();
    let mut resolutions: Vec<i32> = rollups.iter().map(|row| row.0).collect();
    resolutions.dedup();
    for resolution in resolutions {
        let rows: Vec<&RollupPoint> = rollups.iter().filter(|row| row.0 == resolution).collect();
        for (_, bucket, point_time, slots, value) in &rows {
            let bucket_end = *bucket + chrono::TimeDelta::seconds(i64::from(resolution));
            if finer_start.is_none_or(|start| bucket_end <= start) {
                points.push((if *slots == 1 { *point_time } else { *bucket }, *value));
            }
        }
        let oldest = rows.iter().map(|row| row.1).min();
        finer_start = match (finer_start, oldest) {
            (Some(start), Some(oldest)) => Some(start.min(oldest)),
            (start, oldest) => start.or(oldest),
        };
    }
    points.sort_by_key(|(time, _)| *time);
    points
}

/// `GET /api/v1/data/<metric>?from=&until=` (Graphite time expressions, default the last day).
#[utoipa::path(
    get,
    path = "/api/v1/data/{metric}",
    tag = "ingest",
    params(
        ("metric" = String, Path, description = "The series name", example = "signups.daily"),
        ("from" = Option<String>, Query, description = "A Graphite time; default -24h", example = "-1h"),
        ("until" = Option<String>, Query, description = "A Graphite time; default now", example = "now"),
    ),
    responses(
        (status = 200, description = "the stored points, oldest first, at most api.max_points_per_series (then `next_from` says where the rest begins)", body = StoredPoints),
        (status = 400, description = "a parameter is invalid or holds a NUL byte", body = crate::http::error::ErrorBody),
        crate::http::documented_refusals::QueryFailures,
    )
)]
pub(crate) async fn get_metric_data(
    State(state): State<AppState>,
    Path(metric): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<StoredPoints>, ApiError> {
    let now = Utc::now().timestamp();
    let mut from = "-24h".to_owned();
    let mut until = "now".to_owned();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "from" => from = value.into_owned(),
            "until" => until = value.into_owned(),
            _ => {}
        }
    }
    let (from, until) = crate::graphite::time::parse_range(&from, &until, now)?;
    let (from, until) = (
        crate::graphite::time::to_datetime(from)?,
        crate::graphite::time::to_datetime(until)?,
    );
    let most = state.settings.max_points_per_series;
    // One row more than an answer carries, of each level, tells whether the range holds more.
    let limit = most as i64 + 1;
    // A raw point reads back at its time rounded down to the raw resolution, as whisper and
    // the rollups keep it; points past the raw retention live on in the point rollups, one
    // value per bucket.
    let raw_seconds = i64::from(state.schema.retentions_for(&metric).raw.seconds);
    let (raw, rollups) = tokio::try_join!(
        query::point_slots_of(&state.pool, &metric, from, until, raw_seconds, limit),
        query::point_rollups_of(&state.pool, &metric, from, until, limit),
    )?;
    let read_through = read_through(&raw, &rollups, most);
    let mut points = finest_points(&raw, &rollups);
    points.retain(|(time, _)| {
        (from..until).contains(time) && read_through.is_none_or(|through| *time < through)
    });
    let next_from = if points.len() > most {
        let next = points[most].0;
        points.truncate(most);
        Some(next)
    } else {
        read_through
    };
    let rows = points
        .into_iter()
        .map(|(time, value)| StoredPoint {
            timestamp: time.to_rfc3339_opts(SecondsFormat::Millis, true),
            value,
        })
        .collect();
    Ok(Json(StoredPoints {
        metric,
        rows,
        next_from: next_from.map(|time| time.timestamp()),
    }))
}

/// Where a level read was cut (it returned `most + 1` rows): before the first row it left
/// out, the answer knows every row of every level; the earliest such time of all levels, or
/// `None` when none was cut.
fn read_through(
    raw: &[(DateTime<Utc>, f64)],
    rollups: &[RollupPoint],
    most: usize,
) -> Option<DateTime<Utc>> {
    let mut through = raw.get(most).map(|(time, _)| *time);
    let mut resolutions: Vec<i32> = rollups.iter().map(|row| row.0).collect();
    resolutions.dedup();
    for resolution in resolutions {
        let cut = rollups
            .iter()
            .filter(|row| row.0 == resolution)
            .nth(most)
            .map(|row| row.1);
        through = match (through, cut) {
            (Some(through), Some(cut)) => Some(through.min(cut)),
            (through, cut) => through.or(cut),
        };
    }
    through
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_points_come_from_the_finest_level_holding_them() {
        let at = |seconds: i64| DateTime::<Utc>::from_timestamp(seconds, 0).unwrap();
        let raw = vec![(at(1_000_010), 1.0), (at(1_000_020), 2.0)];
        let rollups = vec![
            // The minute of the raw points: finer data holds it.
            (60, at(999_960), at(1_000_020), 2, 1.5),
            // A point landed in the minute rollup, and a minute of several slots.
            (60, at(900_000), at(900_030), 1, 7.0),
            (60, at(899_940), at(899_990), 3, 6.0),
            // Hours: only the one before every minute row.
            (3_600, at(896_400), at(899_990), 4, 6.25),
            (3_600, at(892_800), at(893_000), 1, 5.0),
        ];
        assert_eq!(
            finest_points(&raw, &rollups),
            vec![
                (at(893_000), 5.0),
                (at(899_940), 6.0),
                (at(900_030), 7.0),
                (at(1_000_010), 1.0),
                (at(1_000_020), 2.0)
            ]
        );
    }

    const NOW_MS: i64 = 1_700_000_000_000;

    fn point(name: &str, timestamp_unix_ms: i64, value: f64) -> RawPoint {
        RawPoint {
            name: name.into(),
            tags: vec![],
            timestamp_unix_ms,
            value,
        }
    }

    #[test]
    fn accepted_bodies() {
        let cases: &[(&str, Option<&str>, Vec<RawPoint>)] = &[
            (
                r#"{"metric":"a.b","value":5}"#,
                None,
                vec![point("a.b", NOW_MS, 5.0)],
            ),
            (
                r#"[{"metric":"a","value":1,"time":1600000000},{"metric":"b","value":-2.5,"time":"2023-11-14T22:13:20Z"}]"#,
                None,
                vec![
                    point("a", 1_600_000_000_000, 1.0),
                    point("b", 1_700_000_000_000, -2.5),
                ],
            ),
            (
                r#"{"timestamp":"2023-11-14T22:13:20.500","value":3}"#,
                Some("c"),
                vec![point("c", 1_700_000_000_500, 3.0)],
            ),
            (
                r#"{"metric":"c","value":3,"time":"1600000000"}"#,
                Some("c"),
                vec![point("c", 1_600_000_000_000, 3.0)],
            ),
        ];
        for (body, metric, expected) in cases {
            assert_eq!(
                &parse_records(body, *metric, NOW_MS).unwrap(),
                expected,
                "{body}"
            );
        }
    }

    #[test]
    fn refused_bodies_name_the_record_and_the_problem() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("nope", None, "the body is not JSON"),
            ("3", None, "a record or an array"),
            ("[]", None, "no record"),
            (r#"{"value":1}"#, None, "record 0: missing metric"),
            (
                r#"[{"metric":"a","value":1},{"metric":"b"}]"#,
                None,
                "record 1: missing value",
            ),
            (
                r#"{"metric":"a","value":"x"}"#,
                None,
                "record 0: value must be a finite number",
            ),
            (r#"{"metric":"a b","value":1}"#, None, "is not a valid path"),
            (
                r#"{"metric":"a..b","value":1}"#,
                None,
                "is not a valid path",
            ),
            (
                r#"{"metric":"a","value":1,"time":"yesterday"}"#,
                None,
                "time must be",
            ),
            (
                r#"{"metric":"a","value":1,"time":-5}"#,
                None,
                "time must be",
            ),
            (
                r#"{"metric":"x","value":1}"#,
                Some("y"),
                "differs from \"y\"",
            ),
            (
                r#"{"metric":"a","value":1,"time":1e300}"#,
                None,
                "record 0: time must be a time between 1970-01-01 and 9999-12-31",
            ),
            (
                r#"{"metric":"a","value":1,"time":"99999999999999"}"#,
                None,
                "record 0: time must be a time between",
            ),
            (
                r#"{"metric":"a","value":1,"time":"+275760-09-13T00:00:00Z"}"#,
                None,
                "time must be",
            ),
            (
                r#"{"metric":"a","value":1,"time":"9223372036854775807"}"#,
                None,
                "record 0: time must be",
            ),
            (
                r#"{"metric":"a\u0000b","value":1}"#,
                None,
                "record 0: metric contains a NUL byte",
            ),
            (
                r#"{"metric":"a","value":1e999}"#,
                None,
                "the body is not JSON",
            ),
        ];
        for (body, metric, expected) in cases {
            let error = parse_records(body, *metric, NOW_MS)
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{body}: {error}");
        }
        let long_name = format!(r#"{{"metric":"{}","value":1}}"#, "a".repeat(1_025));
        let error = parse_records(&long_name, None, NOW_MS)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("record 0: metric is 1025 bytes long, more than 1024"),
            "{error}"
        );
    }
}
