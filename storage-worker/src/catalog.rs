//! The series catalog from the write side: turning (kind, name, tags) into series ids without a
//! round-trip per sample, and mostly without any.
//!
//! Ids never change once a series exists (nothing deletes from `series`), so this process
//! remembers every id it has resolved. A transaction upserts, in one statement, only the
//! series it has not seen before and those whose `last_seen` it would move by more than
//! [`LAST_SEEN_PRECISION`]; in steady state (the same series every flush) most transactions
//! touch the catalog not at all. Ids learnt in a transaction are remembered only after it
//! commits: a series created by a transaction that rolled back does not exist.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;
use std::collections::HashMap;
use std::sync::Mutex;

/// How stale `series.last_seen` may get before a batch moves it: the catalog answers "seen
/// since" queries to within this, and a worker rewrites a busy series' catalog row at most
/// this often instead of once per batch.
pub(crate) const LAST_SEEN_PRECISION: TimeDelta = TimeDelta::minutes(10);

/// Most ids remembered; past it the cache starts over (bounds memory with millions of series;
/// forgetting costs one upsert per series, never correctness).
const MAX_CACHED_SERIES: usize = 2_000_000;

/// A series as the catalog keys it: kind, name, and its tags comma-joined (sorted
/// `key:value` strings; a DogStatsD tag cannot contain a comma).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SeriesKey {
    pub kind: &'static str,
    pub name: String,
    pub tags: String,
}

#[derive(Debug, Clone, Copy)]
struct KnownSeries {
    id: i64,
    /// The `last_seen` this process last wrote (or found) for it.
    last_seen: DateTime<Utc>,
}

/// The ids this process knows, shared by every transaction it runs.
#[derive(Debug, Default)]
pub(crate) struct SeriesCache {
    known: Mutex<HashMap<SeriesKey, KnownSeries>>,
}

/// A series a transaction writes, with the span of time it was seen in.
#[derive(Debug)]
pub(crate) struct SeenSeries {
    pub key: SeriesKey,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// Ids resolved within a transaction, to be remembered once it has committed.
#[derive(Debug, Default)]
#[must_use = "remember the resolved ids after the commit"]
pub(crate) struct ResolvedSeries {
    learnt: Vec<(SeriesKey, KnownSeries)>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CatalogError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("series {0:?} was not returned by its upsert")]
    Missing(SeriesKey),
}

impl SeriesCache {
    /// The ids of `series`, in their order: from memory where possible, the rest created or
    /// touched with one statement (in key order, so concurrent transactions lock catalog rows
    /// in the same order and cannot deadlock on them).
    pub(crate) async fn resolve(
        &self,
        transaction: &mut PgConnection,
        series: &[SeenSeries],
    ) -> Result<(Vec<i64>, ResolvedSeries), CatalogError> {
        let mut ids = vec![0i64; series.len()];
        let mut to_upsert: Vec<usize> = Vec::new();
        {
            let known = self
                .known
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for (position, seen) in series.iter().enumerate() {
                match known.get(&seen.key) {
                    Some(known) if seen.last_seen <= known.last_seen + LAST_SEEN_PRECISION => {
                        ids[position] = known.id;
                    }
                    _ => to_upsert.push(position),
                }
            }
        }
        if to_upsert.is_empty() {
            return Ok((ids, ResolvedSeries::default()));
        }
        to_upsert.sort_by(|left, right| series[*left].key.cmp(&series[*right].key));
        let column = |field: fn(&SeenSeries) -> String| -> Vec<String> {
            to_upsert
                .iter()
                .map(|position| field(&series[*position]))
                .collect()
        };
        let times = |field: fn(&SeenSeries) -> DateTime<Utc>| -> Vec<DateTime<Utc>> {
            to_upsert
                .iter()
                .map(|position| field(&series[*position]))
                .collect()
        };
        let rows: Vec<(i64, i64, DateTime<Utc>)> = sqlx::query_as(
            "with input as (
                 select position, kind, name, coalesce(string_to_array(tags, ','), '{}') as tags,
                        first_seen, last_seen
                 from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
                     with ordinality as rows (kind, name, tags, first_seen, last_seen, position)
             ),
             upserted as (
                 insert into series (kind, name, tags, first_seen, last_seen)
                 select kind, name, tags, first_seen, last_seen from input order by position
                 on conflict (kind, name, tags)
                 do update set last_seen = greatest(series.last_seen, excluded.last_seen)
                 returning id, kind, name, tags, last_seen
             )
             select input.position, upserted.id, upserted.last_seen
             from input join upserted
               on upserted.kind = input.kind and upserted.name = input.name
              and upserted.tags = input.tags",
        )
        .bind(column(|seen| seen.key.kind.to_owned()))
        .bind(column(|seen| seen.key.name.clone()))
        .bind(column(|seen| seen.key.tags.clone()))
        .bind(times(|seen| seen.first_seen))
        .bind(times(|seen| seen.last_seen))
        .fetch_all(&mut *transaction)
        .await?;
        let mut resolved = ResolvedSeries::default();
        for (ordinal, id, last_seen) in rows {
            let Some(position) = usize::try_from(ordinal - 1)
                .ok()
                .and_then(|index| to_upsert.get(index))
            else {
                continue;
            };
            ids[*position] = id;
            resolved
                .learnt
                .push((series[*position].key.clone(), KnownSeries { id, last_seen }));
        }
        if let Some(position) = ids.iter().position(|id| *id == 0) {
            return Err(CatalogError::Missing(series[position].key.clone()));
        }
        Ok((ids, resolved))
    }

    /// Remembers the ids a committed transaction resolved.
    pub(crate) fn remember(&self, resolved: ResolvedSeries) {
        if resolved.learnt.is_empty() {
            return;
        }
        let mut known = self
            .known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if known.len() + resolved.learnt.len() > MAX_CACHED_SERIES {
            known.clear();
        }
        for (key, series) in resolved.learnt {
            known.insert(key, series);
        }
    }
}
