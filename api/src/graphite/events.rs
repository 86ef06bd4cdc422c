//! Graphite's events: `POST /events/` records one (`what`, `tags`, `when`, `data`), and
//! `GET /events/get_data` lists them (`from`, `until`, `tags`, `set=union|intersection`), as
//! Grafana's annotations read them. DogStatsD events and service checks are listed too.
//!
//! A posted event is published to the stream like everything else and appears once the storage
//! worker has stored it. It is held to `abacus_proto::limits` first (title, text, tags, time),
//! with a 400 naming the field, so nothing the storage worker would refuse is answered 200.

use crate::http::error::ApiError;
use crate::read::query;
use crate::state::AppState;
use abacus_proto::catalog::split_catalog_tag;
use abacus_proto::limits::{self, LimitError};
use abacus_proto::producer::unix_now_ms;
use abacus_proto::v1::{event, Event, Tag};
use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};

/// Graphite accepts tags as one space-separated string or as a list.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum EventTags {
    Joined(String),
    List(Vec<String>),
}

/// An event to record. Limits: `what` 1 to 1,024 bytes, `data` 16 KiB, 64 tags of 256 bytes
/// (1,024 together), no NUL byte, `when` between 1970 and 9999.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewEvent {
    /// The title.
    pub what: String,
    #[serde(default)]
    pub tags: Option<EventTags>,
    /// Unix seconds; now when absent.
    #[serde(default)]
    pub when: Option<f64>,
    #[serde(default)]
    pub data: Option<String>,
}

/// Splits Graphite event tags into the catalog's form (`key:value`, or a flag).
pub(crate) fn event_tags(tags: Option<EventTags>) -> Vec<Tag> {
    let tags = match tags {
        None => Vec::new(),
        Some(EventTags::Joined(joined)) => joined.split_whitespace().map(str::to_owned).collect(),
        Some(EventTags::List(list)) => list,
    };
    tags.into_iter()
        .filter(|tag| !tag.trim().is_empty())
        .map(|tag| {
            let (key, value) = split_catalog_tag(&tag);
            Tag {
                key: key.trim().to_owned(),
                value: value.trim().to_owned(),
            }
        })
        .collect()
}

/// What a posting is answered with once the stream has stored it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PublishedEvent {
    /// Always `ok`.
    pub status: String,
    /// The id of the batch it travels in.
    pub batch_id: String,
}

/// `POST /events/` (and `/events`): records a Graphite event.
#[utoipa::path(
    post,
    path = "/events/",
    tag = "graphite",
    request_body(content = NewEvent, content_type = "application/json"),
    responses(
        (status = 200, description = "published; listed once stored", body = PublishedEvent),
        (status = 400, description = "the event is invalid or breaks a limit", body = crate::http::error::ErrorBody),
        crate::http::documented_refusals::PublishFailures,
    )
)]
pub(crate) async fn post_event(
    State(state): State<AppState>,
    body: Result<Json<NewEvent>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<PublishedEvent>, ApiError> {
    let Json(new_event) = body.map_err(|rejection| {
        let message = format!("invalid event: {}", rejection.body_text());
        // A body without `Content-Type: application/json` is the wrong media type, not a bad
        // event; axum tells the two apart by the status it would answer.
        if rejection.status() == axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE {
            ApiError::UnsupportedMediaType(message)
        } else if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(message)
        } else {
            ApiError::BadRequest(message)
        }
    })?;
    let event = checked_event(new_event, unix_now_ms())
        .map_err(|problem| ApiError::BadRequest(format!("invalid event: {problem}")))?;
    let batch_id = state.publisher.publish(Vec::new(), vec![event]).await?;
    Ok(Json(PublishedEvent {
        status: "ok".into(),
        batch_id,
    }))
}

/// The event a posting becomes, once every field is within `abacus_proto::limits`.
fn checked_event(new_event: NewEvent, now_ms: i64) -> Result<Event, String> {
    if new_event.what.trim().is_empty() {
        return Err("`what` must not be empty".into());
    }
    let limit_error = |error: LimitError| error.to_string();
    limits::check_text("what", &new_event.what, limits::MAX_EVENT_TITLE_BYTES)
        .map_err(limit_error)?;
    let text = new_event.data.unwrap_or_default();
    limits::check_text("data", &text, limits::MAX_EVENT_TEXT_BYTES).map_err(limit_error)?;
    let timestamp_unix_ms = match new_event.when {
        None => now_ms,
        // `as` saturates: 1e300 seconds becomes i64::MAX ms, which the range check refuses.
        Some(when) if when.is_finite() => (when * 1000.0) as i64,
        Some(when) => return Err(format!("`when` {when} is not unix seconds")),
    };
    limits::check_time_ms("when", timestamp_unix_ms).map_err(limit_error)?;
    let tags = event_tags(new_event.tags);
    limits::check_tags(
        "tags",
        tags.iter()
            .map(|tag| (tag.key.as_str(), tag.value.as_str())),
    )
    .map_err(limit_error)?;
    Ok(Event {
        kind: event::Kind::Event.into(),
        title: new_event.what,
        text,
        timestamp_unix_ms,
        tags,
        ..Default::default()
    })
}

/// `POST /events`: the same as `POST /events/` (graphite-web clients send either).
#[utoipa::path(
    post,
    path = "/events",
    tag = "graphite",
    request_body(content = NewEvent, content_type = "application/json"),
    responses(
        (status = 200, description = "published; listed once stored", body = PublishedEvent),
        (status = 400, description = "the event is invalid or breaks a limit", body = crate::http::error::ErrorBody),
        crate::http::documented_refusals::PublishFailures,
    )
)]
pub(crate) async fn post_event_without_slash(
    state: State<AppState>,
    body: Result<Json<NewEvent>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<PublishedEvent>, ApiError> {
    post_event(state, body).await
}

pub(crate) use crate::read::query::events::ListedEvent;

/// `set` of `/events/get_data`: whether an event needs one of the tags or all of them.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // Describes the parameter for the OpenAPI document only.
pub(crate) enum TagSet {
    Union,
    Intersection,
}

/// `GET /events/get_data`: events in a time range, earliest first, at most
/// `api.max_series_per_query` of them.
#[utoipa::path(
    get,
    path = "/events/get_data",
    tag = "graphite",
    params(
        ("from" = Option<String>, Query, description = "A Graphite time; default -24h", example = "-1h"),
        ("until" = Option<String>, Query, description = "A Graphite time; default now", example = "now"),
        ("tags" = Option<String>, Query, description = "Space-separated tags the events must carry"),
        ("set" = Option<TagSet>, Query, description = "intersection (default: every tag) or union (any)"),
    ),
    responses(
        (status = 200, description = "the events", body = Vec<ListedEvent>),
        (status = 400, description = "a parameter is invalid or holds a NUL byte", body = crate::http::error::ErrorBody),
        crate::http::documented_refusals::QueryFailures,
    )
)]
pub(crate) async fn get_events(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<ListedEvent>>, ApiError> {
    let now = Utc::now().timestamp();
    let mut from = "-24h".to_owned();
    let mut until = "now".to_owned();
    let mut tags: Vec<String> = Vec::new();
    let mut union = false;
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "from" => from = value.into_owned(),
            "until" => until = value.into_owned(),
            "tags" => tags.extend(value.split_whitespace().map(str::to_owned)),
            "set" => {
                union = match value.as_ref() {
                    "union" => true,
                    "intersection" => false,
                    other => {
                        return Err(ApiError::BadRequest(format!(
                            "invalid set {other:?}: use union or intersection"
                        )))
                    }
                }
            }
            _ => {}
        }
    }
    let (from, until) = crate::graphite::time::parse_range(&from, &until, now)?;
    let events = query::events::events_between(
        &state.pool,
        crate::graphite::time::to_datetime(from)?,
        crate::graphite::time::to_datetime(until)?,
        &tags,
        union,
        state.settings.max_series_per_query as i64,
    )
    .await?;
    Ok(Json(events))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn graphite_event_tags_become_catalog_tags() {
        assert_eq!(
            event_tags(Some(EventTags::Joined("deploy  env:prod ".into()))),
            vec![tag("deploy", ""), tag("env", "prod")]
        );
        assert_eq!(
            event_tags(Some(EventTags::List(vec![
                "a".into(),
                "".into(),
                "b:c:d".into()
            ]))),
            vec![tag("a", ""), tag("b", "c:d")]
        );
        assert_eq!(event_tags(None), vec![]);
    }

    fn posted(body: serde_json::Value) -> Result<Event, String> {
        checked_event(serde_json::from_value(body).unwrap(), 1_700_000_000_000)
    }

    #[test]
    fn posted_events_within_the_limits_are_accepted() {
        let event = posted(
            json!({"what": "deploy", "tags": "env:prod", "when": 1_600_000_000.5, "data": "v1"}),
        )
        .unwrap();
        assert_eq!(
            (
                event.title.as_str(),
                event.text.as_str(),
                event.timestamp_unix_ms
            ),
            ("deploy", "v1", 1_600_000_000_500)
        );
        assert_eq!(event.tags, vec![tag("env", "prod")]);
        assert_eq!(
            posted(json!({"what": "x"})).unwrap().timestamp_unix_ms,
            1_700_000_000_000
        );
    }

    #[test]
    fn posted_events_beyond_the_limits_are_refused_naming_the_field() {
        let many_tags: Vec<String> = (0..=limits::MAX_TAGS)
            .map(|index| format!("t{index}"))
            .collect();
        let cases = [
            (json!({"what": " "}), "`what` must not be empty"),
            (json!({"what": "a\u{0}b"}), "what contains a NUL byte"),
            (
                json!({"what": "t".repeat(limits::MAX_EVENT_TITLE_BYTES + 1)}),
                "what is 1025 bytes long",
            ),
            (
                json!({"what": "x", "data": "d".repeat(limits::MAX_EVENT_TEXT_BYTES + 1)}),
                "data is 16385 bytes long",
            ),
            (
                json!({"what": "x", "data": "a\u{0}"}),
                "data contains a NUL byte",
            ),
            (
                json!({"what": "x", "when": 1e300}),
                "when must be a time between",
            ),
            (
                json!({"what": "x", "when": -1}),
                "when must be a time between",
            ),
            (
                json!({"what": "x", "when": 99_999_999_999_999_i64}),
                "when must be a time between",
            ),
            (
                json!({"what": "x", "tags": "env:pr\u{0}d"}),
                "tags contains a NUL byte",
            ),
            (
                json!({"what": "x", "tags": many_tags}),
                "tags: 65 tags, more than 64",
            ),
            (
                json!({"what": "x", "tags": [format!("k:{}", "v".repeat(300))]}),
                "tags is 302 bytes long",
            ),
        ];
        for (body, expected) in cases {
            let error = posted(body.clone()).unwrap_err();
            assert!(error.contains(expected), "{body}: {error}");
        }
    }
}
