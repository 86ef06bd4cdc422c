//! Events (DogStatsD events and service checks, Graphite events posted to the API).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// One event as graphite-web lists it.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub(crate) struct ListedEvent {
    pub id: i64,
    pub when: i64,
    pub what: String,
    pub data: String,
    pub tags: Vec<String>,
}

/// The events of `[from, until)` in time order, at most `limit`; with tags, those having any
/// of them (`union`) or all of them.
pub(crate) async fn events_between(
    pool: &PgPool,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    tags: &[String],
    union: bool,
    limit: i64,
) -> Result<Vec<ListedEvent>, sqlx::Error> {
    sqlx::query_as(
        "select id, extract(epoch from occurred_at)::bigint as when, title as what, text as data, tags
         from events
         where occurred_at >= $1 and occurred_at < $2
           and (cardinality($3::text[]) = 0
                or (case when $4 then tags && $3::text[] else tags @> $3::text[] end))
         order by occurred_at, id
         limit $5",
    )
    .bind(from)
    .bind(until)
    .bind(tags)
    .bind(union)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// How many events of `[from, until)` having every one of `tags` (any event when there are
/// none) fall in each bucket of `step` seconds counted from `from`: `(bucket start, count)`
/// for the buckets holding any, in time order. An event's time is rounded down to the
/// second, as graphite-web's `epoch` does before it counts.
pub(crate) async fn event_counts(
    pool: &PgPool,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    step: i64,
    tags: &[String],
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let from_seconds = from.timestamp();
    sqlx::query_as(
        "select $3 + (floor(extract(epoch from occurred_at))::bigint - $3) / $4 * $4 as bucket,
                count(*)
         from events
         where occurred_at >= $1 and occurred_at < $2 and tags @> $5::text[]
         group by 1
         order by 1",
    )
    .bind(from)
    .bind(until)
    .bind(from_seconds)
    .bind(step)
    .bind(tags)
    .fetch_all(pool)
    .await
}
