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
