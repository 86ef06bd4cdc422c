//! Writing one batch to PostgreSQL, exactly once in effect.
//!
//! A batch is stored in one transaction that first records its id in `processed_batches`; if
//! the id is already there the transaction is abandoned and the batch reported as a duplicate.
//! Concurrent workers holding the same batch serialize on that row, so only one applies it.
//! Series are created or touched with one statement per batch, and samples are written with one
//! `unnest` statement per kind: the number of round-trips does not grow with the batch.
//! Counters and gauges are merged on write; timers and sets are appended and merged on read,
//! because merging them needs the histogram or sketch decoded.

use abacus_proto::v1::{
    series_aggregate::Aggregate, FlushBatch, SeriesAggregate, SetAggregate, TimerAggregate,
};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::HashMap;

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
pub fn catalog_tags(series: &SeriesAggregate) -> Vec<String> {
    let mut tags: Vec<String> = series
        .tags
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
    counters: Vec<(usize, f64)>,
    gauges: Vec<(usize, f64)>,
    timers: Vec<(usize, &'batch TimerAggregate)>,
    sets: Vec<(usize, &'batch SetAggregate)>,
}

impl<'batch> BatchColumns<'batch> {
    fn from_batch(batch: &'batch FlushBatch) -> Result<Self, StoreError> {
        let mut columns = BatchColumns::default();
        let mut index_by_series: HashMap<(&'static str, String, String), usize> = HashMap::new();
        for series in &batch.series {
            let Some(aggregate) = &series.aggregate else {
                return Err(StoreError::InvalidBatch(format!(
                    "series {:?} has no aggregate",
                    series.name
                )));
            };
            let kind = kind_name(aggregate);
            let tags = catalog_tags(series).join(",");
            let key = (kind, series.name.clone(), tags);
            let next_index = index_by_series.len();
            let index = *index_by_series.entry(key.clone()).or_insert_with(|| {
                columns.series_kinds.push(kind);
                columns.series_names.push(key.1);
                columns.series_tags.push(key.2);
                next_index
            });
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
        Ok(columns)
    }
}

/// Stores a batch, or recognizes it as already stored.
pub async fn store_batch(pool: &PgPool, batch: &FlushBatch) -> Result<StoreOutcome, StoreError> {
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
