//! The stored samples: raw rows (one per interval and source aggregator), rollups (one per
//! bucket, sources merged) and timestamped points. Each read takes every series of a request at
//! once (`series_id = any($1)`), so a wildcard over a hundred series costs one round-trip per
//! kind, not a hundred. Rows come back as stored; merging the rows of several aggregators,
//! restarts and late batches is the readers' (`read::readers`), because for timers and sets it
//! needs the bytes decoded.

use crate::names::namespace::SeriesKind;
use crate::read::statistics::TimerRow;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// One stored row of a series, in the bucket or interval starting at `start` (unix seconds).
#[derive(Debug, Clone)]
pub(crate) struct StoredRow<V> {
    pub series_id: i64,
    pub start: i64,
    pub value: V,
}

/// A counter's count, or a gauge's or raw point's value with when it was stored (unix
/// microseconds; 0 for counters, whose counts add up whatever their order). Of several values
/// of a gauge in one bucket, the one with the latest `(start, stored_at)` wins; comparing the
/// two here instead of sorting in SQL lets PostgreSQL stream rows in whatever order it reads
/// them, where a sort of a wide read would spill to disk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NumberSample {
    pub value: f64,
    pub stored_at_micros: i64,
}

/// Where rows are read from: the raw tables (one row per interval and source aggregator), or
/// the rollups of one resolution (one row per bucket, sources already merged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowSource {
    Raw,
    Rollup { resolution_seconds: i32 },
}

impl RowSource {
    /// The table and the extra filter of a read of `kind` from this source. Every string is a
    /// literal: nothing of the request goes into SQL text.
    fn shape(self, kind: SeriesKind) -> Option<(&'static str, &'static str)> {
        let rollup_filter = "and resolution_seconds = $4";
        Some(match (self, kind) {
            (RowSource::Raw, SeriesKind::Counter) => ("counter_samples", ""),
            (RowSource::Raw, SeriesKind::Gauge) => ("gauge_samples", ""),
            (RowSource::Raw, SeriesKind::Timer) => ("timer_samples", ""),
            (RowSource::Raw, SeriesKind::Set) => ("set_samples", ""),
            (RowSource::Rollup { .. }, SeriesKind::Counter) => ("counter_rollups", rollup_filter),
            (RowSource::Rollup { .. }, SeriesKind::Gauge) => ("gauge_rollups", rollup_filter),
            (RowSource::Rollup { .. }, SeriesKind::Timer) => ("timer_rollups", rollup_filter),
            (RowSource::Rollup { .. }, SeriesKind::Set) => ("set_rollups", rollup_filter),
            (_, SeriesKind::Raw) => return None,
        })
    }

    fn resolution(self) -> Option<i32> {
        match self {
            RowSource::Raw => None,
            RowSource::Rollup { resolution_seconds } => Some(resolution_seconds),
        }
    }
}

/// The rollup resolutions and how far each is rolled up (`rollup_watermarks`): rollup rows
/// exist for buckets before the watermark; later data is only in the raw tables.
pub(crate) async fn rollup_watermarks(
    pool: &PgPool,
) -> Result<Vec<(i32, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as("select resolution_seconds, rolled_until from rollup_watermarks order by resolution_seconds")
        .fetch_all(pool)
        .await
}

/// Counter counts, and gauge or raw values with when they were stored, in no particular
/// order. Times come as `timestamptz` (eight bytes in the binary protocol): converting them to
/// epoch seconds in SQL goes through `numeric` and costs more than reading the rows.
pub(crate) async fn number_rows(
    pool: &PgPool,
    kind: SeriesKind,
    source: RowSource,
    series_ids: &[i64],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<StoredRow<NumberSample>>, sqlx::Error> {
    if kind == SeriesKind::Raw {
        // A point rollup holds one value per bucket; its start stands in for when it was
        // stored (of a bucket's rows, the latest wins when read).
        let sql = match source {
            RowSource::Raw => {
                "select series_id, point_time, value, stored_at
                 from raw_points
                 where series_id = any($1) and point_time >= $2 and point_time < $3"
            }
            RowSource::Rollup { .. } => {
                "select series_id, interval_start, value, interval_start
                 from point_rollups
                 where series_id = any($1) and interval_start >= $2 and interval_start < $3
                   and resolution_seconds = $4"
            }
        };
        return read_rows::<(i64, DateTime<Utc>, f64, DateTime<Utc>), _>(
            pool, sql, source, series_ids, from, until,
        )
        .await;
    }
    let Some((table, filter)) = source.shape(kind) else {
        return Ok(Vec::new());
    };
    match kind {
        SeriesKind::Counter => {
            let sql = format!(
                "select series_id, interval_start, count
                 from {table}
                 where series_id = any($1) and interval_start >= $2 and interval_start < $3 {filter}"
            );
            read_rows::<(i64, DateTime<Utc>, f64), _>(pool, &sql, source, series_ids, from, until)
                .await
        }
        SeriesKind::Gauge => {
            let sql = format!(
                "select series_id, interval_start, value, stored_at
                 from {table}
                 where series_id = any($1) and interval_start >= $2 and interval_start < $3 {filter}"
            );
            read_rows::<(i64, DateTime<Utc>, f64, DateTime<Utc>), _>(
                pool, &sql, source, series_ids, from, until,
            )
            .await
        }
        _ => Ok(Vec::new()),
    }
}

/// The last value of each gauge before `before`: a gauge keeps its value until it changes, so
/// the first interval of a range shows it.
pub(crate) async fn gauge_values_before(
    pool: &PgPool,
    series_ids: &[i64],
    before: DateTime<Utc>,
) -> Result<Vec<(i64, f64)>, sqlx::Error> {
    // Raw rows and rollups together: once raw rows are past their retention, a gauge's last
    // value is only in a rollup.
    let sql = "select distinct on (series_id) series_id, value from (
                 select series_id, interval_start, stored_at, value from gauge_samples
                 where series_id = any($1) and interval_start < $2
                 union all
                 select series_id, interval_start, stored_at, value from gauge_rollups
                 where series_id = any($1) and interval_start < $2
             ) as candidates
             order by series_id, interval_start desc, stored_at desc";
    sqlx::query_as(sql)
        .bind(series_ids)
        .bind(before)
        .fetch_all(pool)
        .await
}

/// The flush interval of each series' latest row before `before`, in milliseconds: the
/// series' native resolution. One index probe per series.
pub(crate) async fn native_intervals_ms(
    pool: &PgPool,
    kind: SeriesKind,
    series_ids: &[i64],
    before: DateTime<Utc>,
) -> Result<Vec<(i64, i32)>, sqlx::Error> {
    let table = match kind {
        SeriesKind::Counter => "counter_samples",
        SeriesKind::Gauge => "gauge_samples",
        SeriesKind::Timer => "timer_samples",
        SeriesKind::Set => "set_samples",
        SeriesKind::Raw => return Ok(Vec::new()),
    };
    // The table name comes from the match above, never from the request.
    let sql = format!(
        "select ids.id, latest.interval_ms
         from unnest($1::bigint[]) as ids (id)
         cross join lateral (
             select interval_ms from {table}
             where series_id = ids.id and interval_start < $2
             order by interval_start desc limit 1
         ) as latest"
    );
    sqlx::query_as(&sql)
        .bind(series_ids)
        .bind(before)
        .fetch_all(pool)
        .await
}

/// Timer rows, in no particular order (their merge is commutative).
pub(crate) async fn timer_rows(
    pool: &PgPool,
    source: RowSource,
    series_ids: &[i64],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<StoredRow<TimerRow>>, sqlx::Error> {
    let Some((table, filter)) = source.shape(SeriesKind::Timer) else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "select series_id, interval_start, count, sum, sum_of_squares, min, max, histogram
         from {table}
         where series_id = any($1) and interval_start >= $2 and interval_start < $3 {filter}"
    );
    read_rows::<TimerSampleRow, _>(pool, &sql, source, series_ids, from, until).await
}

#[derive(sqlx::FromRow)]
struct TimerSampleRow {
    series_id: i64,
    interval_start: DateTime<Utc>,
    #[sqlx(flatten)]
    timer: TimerRow,
}

impl From<TimerSampleRow> for StoredRow<TimerRow> {
    fn from(row: TimerSampleRow) -> Self {
        StoredRow {
            series_id: row.series_id,
            start: row.interval_start.timestamp(),
            value: row.timer,
        }
    }
}

impl From<(i64, DateTime<Utc>, f64)> for StoredRow<NumberSample> {
    fn from((series_id, start, value): (i64, DateTime<Utc>, f64)) -> Self {
        StoredRow {
            series_id,
            start: start.timestamp(),
            value: NumberSample {
                value,
                stored_at_micros: 0,
            },
        }
    }
}

impl From<(i64, DateTime<Utc>, f64, DateTime<Utc>)> for StoredRow<NumberSample> {
    fn from(
        (series_id, start, value, stored_at): (i64, DateTime<Utc>, f64, DateTime<Utc>),
    ) -> Self {
        StoredRow {
            series_id,
            start: start.timestamp(),
            value: NumberSample {
                value,
                stored_at_micros: stored_at.timestamp_micros(),
            },
        }
    }
}

impl From<(i64, DateTime<Utc>, Vec<u8>)> for StoredRow<Vec<u8>> {
    fn from((series_id, start, value): (i64, DateTime<Utc>, Vec<u8>)) -> Self {
        StoredRow {
            series_id,
            start: start.timestamp(),
            value,
        }
    }
}

/// Runs one of the row reads above: `$1` the series ids, `$2`..`$3` the time range and, for a
/// rollup, `$4` its resolution.
async fn read_rows<Row, V>(
    pool: &PgPool,
    sql: &str,
    source: RowSource,
    series_ids: &[i64],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<StoredRow<V>>, sqlx::Error>
where
    Row: for<'row> sqlx::FromRow<'row, sqlx::postgres::PgRow> + Send + Unpin + Into<StoredRow<V>>,
{
    let mut query = sqlx::query_as::<_, Row>(sql)
        .bind(series_ids)
        .bind(from)
        .bind(until);
    if let Some(resolution) = source.resolution() {
        query = query.bind(resolution);
    }
    Ok(query
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Set sketches, in no particular order (their union is commutative).
pub(crate) async fn set_rows(
    pool: &PgPool,
    source: RowSource,
    series_ids: &[i64],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<StoredRow<Vec<u8>>>, sqlx::Error> {
    let Some((table, filter)) = source.shape(SeriesKind::Set) else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "select series_id, interval_start, sketch
         from {table}
         where series_id = any($1) and interval_start >= $2 and interval_start < $3 {filter}"
    );
    read_rows::<(i64, DateTime<Utc>, Vec<u8>), _>(pool, &sql, source, series_ids, from, until).await
}

/// The raw slots (of `slot_seconds`) of the timestamped series `name` in `[from, until)`, in
/// time order, at most `limit`: each slot at its start, with the value of its latest point (by
/// time, then storage), as whisper keeps one value per slot.
pub(crate) async fn point_slots_of(
    pool: &PgPool,
    name: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    slot_seconds: i64,
    limit: i64,
) -> Result<Vec<(DateTime<Utc>, f64)>, sqlx::Error> {
    sqlx::query_as(
        "select to_timestamp(slot * $6), value
         from (select distinct on (slot) slot, value
               from (select floor(extract(epoch from p.point_time) / $6)::bigint as slot,
                            p.point_time, p.stored_at, p.value
                     from raw_points p join series s on s.id = p.series_id
                     where s.kind = $5 and s.name = $1
                       and p.point_time >= $2 and p.point_time < $3) points
               order by slot, point_time desc, stored_at desc) slots
         order by slot
         limit $4",
    )
    .bind(name)
    .bind(from)
    .bind(until)
    .bind(limit)
    .bind(SeriesKind::Raw.catalog_name())
    .bind(slot_seconds.max(1))
    .fetch_all(pool)
    .await
}

/// A point rollup row: resolution, bucket start, the latest point's time (rounded to the raw
/// resolution), how many raw slots it stands for, value.
pub(crate) type RollupPoint = (i32, DateTime<Utc>, DateTime<Utc>, i32, f64);

/// The point rollup rows of the timestamped series `name` overlapping `[from, until)`, by
/// resolution then time, at most `limit` of each resolution (the oldest).
pub(crate) async fn point_rollups_of(
    pool: &PgPool,
    name: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<RollupPoint>, sqlx::Error> {
    sqlx::query_as(
        "select resolution_seconds, interval_start, point_time, slots, value
         from (select r.resolution_seconds, r.interval_start, r.point_time, r.slots, r.value,
                      row_number() over (partition by r.resolution_seconds
                                         order by r.interval_start) as nth
               from point_rollups r join series s on s.id = r.series_id
               where s.kind = $5 and s.name = $1 and r.interval_start < $3
                 and r.interval_start + make_interval(secs => r.resolution_seconds) > $2) rows
         where nth <= $4
         order by resolution_seconds, interval_start",
    )
    .bind(name)
    .bind(from)
    .bind(until)
    .bind(limit)
    .bind(SeriesKind::Raw.catalog_name())
    .fetch_all(pool)
    .await
}
