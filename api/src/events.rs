//! Graphite's events: `POST /events/` records one (`what`, `tags`, `when`, `data`), and
//! `GET /events/get_data` lists them (`from`, `until`, `tags`, `set=union|intersection`), as
//! Grafana's annotations read them. DogStatsD events and service checks are listed too.
//!
//! A posted event is published to the stream like everything else and appears once the storage
//! worker has stored it.

use crate::error::ApiError;
use crate::publish::unix_now_ms;
use crate::AppState;
use abacus_proto::v1::{event, Event, Tag};
use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Graphite accepts tags as one space-separated string or as a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum EventTags {
    Joined(String),
    List(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
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
pub fn event_tags(tags: Option<EventTags>) -> Vec<Tag> {
    let tags = match tags {
        None => Vec::new(),
        Some(EventTags::Joined(joined)) => joined.split_whitespace().map(str::to_owned).collect(),
        Some(EventTags::List(list)) => list,
    };
    tags.into_iter()
        .filter(|tag| !tag.trim().is_empty())
        .map(|tag| {
            let (key, value) = tag.split_once(':').unwrap_or((&tag, ""));
            Tag {
                key: key.trim().to_owned(),
                value: value.trim().to_owned(),
            }
        })
        .collect()
}

/// `POST /events/`.
pub async fn post_event(
    State(state): State<AppState>,
    body: Result<Json<NewEvent>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(new_event) = body.map_err(|rejection| {
        ApiError::BadRequest(format!("invalid event: {}", rejection.body_text()))
    })?;
    if new_event.what.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "invalid event: `what` must not be empty".into(),
        ));
    }
    let timestamp_unix_ms = match new_event.when {
        None => unix_now_ms(),
        Some(when) if when.is_finite() && when >= 0.0 => (when * 1000.0) as i64,
        Some(when) => {
            return Err(ApiError::BadRequest(format!(
                "invalid event: `when` {when} is not unix seconds"
            )))
        }
    };
    let event = Event {
        kind: event::Kind::Event.into(),
        title: new_event.what,
        text: new_event.data.unwrap_or_default(),
        timestamp_unix_ms,
        tags: event_tags(new_event.tags),
        ..Default::default()
    };
    let batch_id = state.publisher.publish(Vec::new(), vec![event]).await?;
    Ok(Json(json!({ "status": "ok", "batch_id": batch_id })))
}

/// One event as graphite-web lists it.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct ListedEvent {
    pub id: i64,
    pub when: i64,
    pub what: String,
    pub data: String,
    pub tags: Vec<String>,
}

/// `GET /events/get_data`.
pub async fn get_events(
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
    let (from, until) = crate::time::parse_range(&from, &until, now)?;
    let events: Vec<ListedEvent> = sqlx::query_as(
        "select id, extract(epoch from occurred_at)::bigint as when, title as what, text as data, tags
         from events
         where occurred_at >= $1 and occurred_at < $2
           and (cardinality($3::text[]) = 0
                or (case when $4 then tags && $3::text[] else tags @> $3::text[] end))
         order by occurred_at, id
         limit $5",
    )
    .bind(crate::time::to_datetime(from)?)
    .bind(crate::time::to_datetime(until)?)
    .bind(&tags)
    .bind(union)
    .bind(state.settings.max_series_per_query as i64)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(events))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
