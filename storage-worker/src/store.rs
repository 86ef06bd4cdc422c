//! Writing one batch to PostgreSQL, exactly once in effect.
//!
//! A batch is stored in one transaction that first records its id in `processed_batches`; if
//! the id is already there the transaction is abandoned and the batch reported as a duplicate.
//! Concurrent workers holding the same batch serialize on that row, so only one applies it.
//! Series are created or touched with one statement per batch, and samples are written with one
//! `unnest` statement per kind: the number of round-trips does not grow with the batch.
//! Counters and gauges are merged on write; timers and sets are appended and merged on read,
//! because merging them needs the histogram or sketch decoded. The day partitions the batch
//! writes to are created first, outside its transaction (see `partitions`). A batch whose
//! interval was already handed to the rollups marks its keys dirty in the same transaction
//! (see `rollup`), so a late batch updates the rollups too.

use crate::partitions::PartitionCache;
use crate::retentions::Retentions;
use abacus_proto::v1::{
    event, series_aggregate::Aggregate, Event, FlushBatch, SetAggregate, Tag, TimerAggregate,
};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;

/// The migrations that create and evolve the schema, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    Stored { series: usize },
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL failed; the batch may be retried.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The batch can never be stored as it is.
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
}

impl StoreError {
    /// Whether retrying the same batch later can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Database(_))
    }
}

/// The kind column of the series catalog.
fn kind_name(aggregate: &Aggregate) -> &'static str {
    match aggregate {
        Aggregate::Counter(_) => "counter",
        Aggregate::Gauge(_) => "gauge",
        Aggregate::Timer(_) => "timer",
        Aggregate::Set(_) => "set",
    }
}

/// Tags as the catalog keeps them: `key:value`, or `key` for a flag, sorted and de-duplicated.
pub fn catalog_tags(tags: &[Tag]) -> Vec<String> {
    let mut tags: Vec<String> = tags
        .iter()
        .map(|tag| {
            if tag.value.is_empty() {
                tag.key.clone()
            } else {
                format!("{}:{}", tag.key, tag.value)
            }
        })
        .collect();
    tags.sort_unstable();
    tags.dedup();
    tags
}

/// Columns of the rows of one batch, ready to be passed to PostgreSQL as arrays.
#[derive(Default)]
struct BatchColumns<'batch> {
    series_kinds: Vec<&'static str>,
    series_names: Vec<String>,
    /// Comma-joined tags; a DogStatsD tag cannot contain a comma.
    series_tags: Vec<String>,
    index_by_series: HashMap<(&'static str, String, String), usize>,
    counters: Vec<(usize, f64)>,
    gauges: Vec<(usize, f64)>,
    timers: Vec<(usize, &'batch TimerAggregate)>,
    sets: Vec<(usize, &'batch SetAggregate)>,
    /// Series index, time, value.
    points: Vec<(usize, DateTime<Utc>, f64)>,
}

impl<'batch> BatchColumns<'batch> {
    fn from_batch(batch: &'batch FlushBatch) -> Result<Self, StoreError> {
        let mut columns = BatchColumns::default();
        for series in &batch.series {
            let Some(aggregate) = &series.aggregate else {
                return Err(StoreError::InvalidBatch(format!(
                    "series {:?} has no aggregate",
                    series.name
                )));
            };
            let index = columns.series_index(kind_name(aggregate), &series.name, &series.tags);
            match aggregate {
                Aggregate::Counter(counter) => columns.counters.push((index, counter.count)),
                Aggregate::Gauge(gauge) => columns.gauges.push((index, gauge.value)),
                Aggregate::Timer(timer) => {
                    if timer.hdr_histogram.is_empty() {
                        return Err(StoreError::InvalidBatch(format!(
                            "timer {:?} has no histogram",
                            series.name
                        )));
                    }
                    columns.timers.push((index, timer));
                }
                Aggregate::Set(set) => {
                    if set.sketch.is_empty() {
                        return Err(StoreError::InvalidBatch(format!(
                            "set {:?} has no sketch",
                            series.name
                        )));
                    }
                    columns.sets.push((index, set));
                }
            }
        }
        for point in &batch.points {
            let time = DateTime::<Utc>::from_timestamp_millis(point.timestamp_unix_ms).ok_or_else(
                || StoreError::InvalidBatch(format!("point {:?}: time out of range", point.name)),
            )?;
            if !point.value.is_finite() {
                return Err(StoreError::InvalidBatch(format!(
                    "point {:?}: value is not a finite number",
                    point.name
                )));
            }
            let index = columns.series_index("raw", &point.name, &point.tags);
            columns.points.push((index, time, point.value));
        }
        Ok(columns)
    }

    /// The position of a series in the `series_*` columns, adding it the first time.
    fn series_index(&mut self, kind: &'static str, name: &str, tags: &[Tag]) -> usize {
        let key = (kind, name.to_owned(), catalog_tags(tags).join(","));
        let next_index = self.index_by_series.len();
        *self.index_by_series.entry(key).or_insert_with_key(|key| {
            self.series_kinds.push(kind);
            self.series_names.push(key.1.clone());
            self.series_tags.push(key.2.clone());
            next_index
        })
    }
}

/// The columns of the events table for the events of one batch.
#[derive(Default)]
struct EventColumns {
    kinds: Vec<&'static str>,
    occurred_at: Vec<DateTime<Utc>>,
    titles: Vec<String>,
    texts: Vec<String>,
    hosts: Vec<Option<String>>,
    aggregation_keys: Vec<Option<String>>,
    priorities: Vec<Option<String>>,
    source_types: Vec<Option<String>>,
    alert_types: Vec<Option<String>>,
    service_check_statuses: Vec<Option<i16>>,
    tags: Vec<String>,
}

impl EventColumns {
    fn from_events(events: &[Event]) -> Result<Self, StoreError> {
        let mut columns = EventColumns::default();
        let present = |text: &str| (!text.is_empty()).then(|| text.to_owned());
        for event in events {
            let is_service_check = match event.kind() {
                event::Kind::Event => false,
                event::Kind::ServiceCheck => true,
                event::Kind::Unspecified => {
                    return Err(StoreError::InvalidBatch(format!(
                        "event {:?} has no kind",
                        event.title
                    )));
                }
            };
            if is_service_check && event.service_check_status > 3 {
                return Err(StoreError::InvalidBatch(format!(
                    "service check {:?}: status {} is not 0-3",
                    event.title, event.service_check_status
                )));
            }
            let occurred_at = DateTime::<Utc>::from_timestamp_millis(event.timestamp_unix_ms)
                .ok_or_else(|| {
                    StoreError::InvalidBatch(format!("event {:?}: time out of range", event.title))
                })?;
            columns.kinds.push(if is_service_check {
                "service_check"
            } else {
                "event"
            });
            columns.occurred_at.push(occurred_at);
            columns.titles.push(event.title.clone());
            columns.texts.push(event.text.clone());
            columns.hosts.push(present(&event.host));
            columns
                .aggregation_keys
                .push(present(&event.aggregation_key));
            columns.priorities.push(present(&event.priority));
            columns.source_types.push(present(&event.source_type));
            columns.alert_types.push(present(&event.alert_type));
            columns
                .service_check_statuses
                .push(is_service_check.then_some(event.service_check_status as i16));
            columns.tags.push(catalog_tags(&event.tags).join(","));
        }
        Ok(columns)
    }
}

/// What storing a batch needs besides the batch: where partitions are known to exist and how
/// long raw data is kept (partitions are created on demand only within that window).
#[derive(Debug)]
pub struct StoreContext {
    pub partitions: Arc<PartitionCache>,
    pub retentions: Retentions,
}

/// Stores a batch, or recognizes it as already stored.
pub async fn store_batch(
    pool: &PgPool,
    context: &StoreContext,
    batch: &FlushBatch,
) -> Result<StoreOutcome, StoreError> {
    if batch.schema_version != abacus_proto::SCHEMA_VERSION {
        return Err(StoreError::InvalidBatch(format!(
            "schema version {} is not {}",
            batch.schema_version,
            abacus_proto::SCHEMA_VERSION
        )));
    }
    if batch.interval_length_ms == 0 {
        return Err(StoreError::InvalidBatch("interval length is 0".into()));
    }
    let interval_start = DateTime::<Utc>::from_timestamp_millis(batch.interval_start_unix_ms)
        .ok_or_else(|| StoreError::InvalidBatch("interval start out of range".into()))?;
    let columns = BatchColumns::from_batch(batch)?;
    let events = EventColumns::from_events(&batch.events)?;

    // Before the transaction, so that the batch's rows land in their day partitions: DDL
    // inside the batch's transaction would hold locks on the parent tables until it commits.
    let times = std::iter::once(interval_start).chain(columns.points.iter().map(|point| point.1));
    context
        .partitions
        .ensure_raw_days(pool, context.retentions.raw.retention, times)
        .await?;

    let mut transaction = pool.begin().await?;
    let newly_recorded = sqlx::query(
        "insert into processed_batches (batch_id, aggregator_id, incarnation, sequence, interval_start)
         values ($1, $2, $3, $4, $5)
         on conflict (batch_id) do nothing",
    )
    .bind(abacus_proto::batch_id(batch))
    .bind(&batch.aggregator_id)
    .bind(batch.incarnation as i64)
    .bind(batch.sequence as i64)
    .bind(interval_start)
    .execute(&mut *transaction)
    .await?
    .rows_affected();
    if newly_recorded == 0 {
        transaction.rollback().await?;
        return Ok(StoreOutcome::Duplicate);
    }

    let series_ids = upsert_series(&mut transaction, &columns, interval_start).await?;
    // Raw points are not rolled up; every other kind is.
    let aggregate_series: Vec<i64> = columns
        .counters
        .iter()
        .map(|(index, _)| *index)
        .chain(columns.gauges.iter().map(|(index, _)| *index))
        .chain(columns.timers.iter().map(|(index, _)| *index))
        .chain(columns.sets.iter().map(|(index, _)| *index))
        .map(|index| series_ids[index])
        .collect();
    crate::rollup::mark_late_keys(
        &mut transaction,
        &context.retentions,
        &aggregate_series,
        interval_start,
    )
    .await?;
    let interval_ms = batch.interval_length_ms as i32;
    if !columns.counters.is_empty() {
        let (ids, counts): (Vec<i64>, Vec<f64>) = columns
            .counters
            .iter()
            .map(|(index, count)| (series_ids[*index], *count))
            .unzip();
        sqlx::query(
            "insert into counter_samples (series_id, interval_start, source, interval_ms, count)
             select series_id, $3, $4, $5, count from unnest($1::bigint[], $2::float8[]) as rows (series_id, count)
             on conflict (series_id, interval_start, source)
             do update set count = counter_samples.count + excluded.count",
        )
        .bind(&ids)
        .bind(&counts)
        .bind(interval_start)
        .bind(&batch.aggregator_id)
        .bind(interval_ms)
        .execute(&mut *transaction)
        .await?;
    }
    if !columns.gauges.is_empty() {
        let (ids, values): (Vec<i64>, Vec<f64>) = columns
            .gauges
            .iter()
            .map(|(index, value)| (series_ids[*index], *value))
            .unzip();
        sqlx::query(
            "insert into gauge_samples (series_id, interval_start, source, interval_ms, value)
             select series_id, $3, $4, $5, value from unnest($1::bigint[], $2::float8[]) as rows (series_id, value)
             on conflict (series_id, interval_start, source)
             do update set value = excluded.value, stored_at = now()",
        )
        .bind(&ids)
        .bind(&values)
        .bind(interval_start)
        .bind(&batch.aggregator_id)
        .bind(interval_ms)
        .execute(&mut *transaction)
        .await?;
    }
    if !columns.timers.is_empty() {
        let ids: Vec<i64> = columns
            .timers
            .iter()
            .map(|(index, _)| series_ids[*index])
            .collect();
        let column = |field: fn(&TimerAggregate) -> f64| -> Vec<f64> {
            columns
                .timers
                .iter()
                .map(|(_, timer)| field(timer))
                .collect()
        };
        let histograms: Vec<&[u8]> = columns
            .timers
            .iter()
            .map(|(_, timer)| timer.hdr_histogram.as_slice())
            .collect();
        sqlx::query(
            "insert into timer_samples
                 (series_id, interval_start, source, interval_ms, count, sum, sum_of_squares, min, max, histogram)
             select series_id, $8, $9, $10, count, sum, sum_of_squares, min, max, histogram
             from unnest($1::bigint[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::bytea[])
                 as rows (series_id, count, sum, sum_of_squares, min, max, histogram)",
        )
        .bind(&ids)
        .bind(column(|timer| timer.count))
        .bind(column(|timer| timer.sum))
        .bind(column(|timer| timer.sum_of_squares))
        .bind(column(|timer| timer.min))
        .bind(column(|timer| timer.max))
        .bind(&histograms)
        .bind(interval_start)
        .bind(&batch.aggregator_id)
        .bind(interval_ms)
        .execute(&mut *transaction)
        .await?;
    }
    if !columns.sets.is_empty() {
        let (ids, sketches): (Vec<i64>, Vec<&[u8]>) = columns
            .sets
            .iter()
            .map(|(index, set)| (series_ids[*index], set.sketch.as_slice()))
            .unzip();
        sqlx::query(
            "insert into set_samples (series_id, interval_start, source, interval_ms, sketch)
             select series_id, $3, $4, $5, sketch from unnest($1::bigint[], $2::bytea[]) as rows (series_id, sketch)",
        )
        .bind(&ids)
        .bind(&sketches)
        .bind(interval_start)
        .bind(&batch.aggregator_id)
        .bind(interval_ms)
        .execute(&mut *transaction)
        .await?;
    }
    if !columns.points.is_empty() {
        let ids: Vec<i64> = columns
            .points
            .iter()
            .map(|(index, _, _)| series_ids[*index])
            .collect();
        let times: Vec<DateTime<Utc>> = columns.points.iter().map(|(_, time, _)| *time).collect();
        let values: Vec<f64> = columns.points.iter().map(|(_, _, value)| *value).collect();
        sqlx::query(
            "insert into raw_points (series_id, point_time, source, value)
             select series_id, point_time, $4, value
             from unnest($1::bigint[], $2::timestamptz[], $3::float8[]) as rows (series_id, point_time, value)",
        )
        .bind(&ids)
        .bind(&times)
        .bind(&values)
        .bind(&batch.aggregator_id)
        .execute(&mut *transaction)
        .await?;
    }
    if !events.kinds.is_empty() {
        sqlx::query(
            "insert into events (kind, occurred_at, title, text, host, aggregation_key, priority,
                                 source_type, alert_type, service_check_status, tags, source)
             select kind, occurred_at, title, text, host, aggregation_key, priority, source_type,
                    alert_type, service_check_status, coalesce(string_to_array(tags, ','), '{}'), $12
             from unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::text[], $8::text[], $9::text[], $10::smallint[], $11::text[])
                 as rows (kind, occurred_at, title, text, host, aggregation_key, priority, source_type,
                          alert_type, service_check_status, tags)",
        )
        .bind(&events.kinds)
        .bind(&events.occurred_at)
        .bind(&events.titles)
        .bind(&events.texts)
        .bind(&events.hosts)
        .bind(&events.aggregation_keys)
        .bind(&events.priorities)
        .bind(&events.source_types)
        .bind(&events.alert_types)
        .bind(&events.service_check_statuses)
        .bind(&events.tags)
        .bind(&batch.aggregator_id)
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await?;
    Ok(StoreOutcome::Stored {
        series: series_ids.len(),
    })
}

/// Creates the batch's series that are new and moves `last_seen` of the others; returns the
/// series ids in the order of `columns.series_*`.
async fn upsert_series(
    transaction: &mut sqlx::PgConnection,
    columns: &BatchColumns<'_>,
    seen_at: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "with input as (
             select position, kind, name, string_to_array(tags, ',') as tags
             from unnest($1::text[], $2::text[], $3::text[]) with ordinality as rows (kind, name, tags, position)
         ),
         upserted as (
             insert into series (kind, name, tags, first_seen, last_seen)
             select kind, name, coalesce(tags, '{}'), $4, $4 from input
             on conflict (kind, name, tags)
             do update set last_seen = greatest(series.last_seen, excluded.last_seen)
             returning id, kind, name, tags
         )
         select input.position, upserted.id
         from input join upserted
           on upserted.kind = input.kind and upserted.name = input.name
          and upserted.tags = coalesce(input.tags, '{}')",
    )
    .bind(&columns.series_kinds)
    .bind(&columns.series_names)
    .bind(&columns.series_tags)
    .bind(seen_at)
    .fetch_all(&mut *transaction)
    .await?;
    let mut ids = vec![0i64; columns.series_names.len()];
    for (position, id) in rows {
        ids[(position - 1) as usize] = id;
    }
    if ids.contains(&0) {
        return Err(StoreError::InvalidBatch(
            "a series of the batch was not found in the catalog after upsert".into(),
        ));
    }
    Ok(ids)
}
