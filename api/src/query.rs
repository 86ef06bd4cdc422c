//! Reading the catalog and the stored samples from PostgreSQL. All SQL is parameterized, and
//! each read takes every series of a request at once (`series_id = any($1)`), so a wildcard over
//! a hundred series costs one round-trip per kind, not a hundred.
//!
//! A path glob narrows the catalog in the database by its LIKE translation (`web%.count` for
//! `web*.count`; the literal prefix is served by the `text_pattern_ops` index on
//! `series.name`), so names that cannot match mostly stay there; the Rust matcher has the last
//! word.
//!
//! Rows come back as stored; merging the rows of several aggregators, restarts and late batches
//! is the caller's (see `fetch`), because for timers and sets it needs the bytes decoded.

use crate::glob::PathGlob;
use crate::namespace::SeriesKind;
use crate::statistics::TimerRow;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::{PgPool, Row};

#[derive(Debug, Clone)]
pub struct SeriesRow {
    pub id: i64,
    pub kind: SeriesKind,
    pub name: String,
    pub tags: Vec<String>,
    pub first_seen: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct CatalogRow {
    id: i64,
    kind: String,
    name: String,
    tags: Vec<String>,
    first_seen: DateTime<Utc>,
}

/// The series of `kinds` whose name matches `glob`, tagged or not, ordered by name.
pub async fn series_matching(
    pool: &PgPool,
    glob: &PathGlob,
    kinds: &[SeriesKind],
) -> Result<Vec<SeriesRow>, sqlx::Error> {
    let kind_names: Vec<&str> = kinds.iter().map(|kind| kind.catalog_name()).collect();
    let rows: Vec<CatalogRow> = sqlx::query_as(
        "select id, kind, name, tags, first_seen from series
         where name like $1 escape '\\' and kind = any($2)
         order by name, kind, tags",
    )
    .bind(glob.sql_like_pattern())
    .bind(&kind_names)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|row| glob.matches(&row.name))
        .filter_map(|row| {
            Some(SeriesRow {
                id: row.id,
                kind: SeriesKind::from_catalog_name(&row.kind)?,
                name: row.name,
                tags: row.tags,
                first_seen: row.first_seen,
            })
        })
        .collect())
}

/// Calls `visit` with the (name, kind) of each series of `kinds` whose name is LIKE the prefix
/// translation of `glob`, as the rows arrive, so the caller's work overlaps the read.
///
/// * The LIKE is a superset of what `glob` prefix-matches: the caller matches each name itself
///   (it usually needs a stricter glob anyway).
/// * A name comes once per series, so once per tag set: the caller's nodes are de-duplicated
///   anyway, and a `distinct` would make the database hash every row before sending the first
///   (with 11,000 names it tripled the read).
/// * No particular order: the caller sorts its nodes in byte order, several times faster than
///   the database's collation would.
pub async fn for_each_name_like(
    pool: &PgPool,
    glob: &PathGlob,
    kinds: &[SeriesKind],
    mut visit: impl FnMut(String, SeriesKind),
) -> Result<(), sqlx::Error> {
    let kind_names: Vec<&str> = kinds.iter().map(|kind| kind.catalog_name()).collect();
    let like_pattern = glob.sql_like_prefix_pattern();
    let mut rows = sqlx::query(
        "select name, kind from series
         where name like $1 escape '\\' and kind = any($2)",
    )
    .bind(&like_pattern)
    .bind(&kind_names)
    .fetch(pool);
    while let Some(row) = rows.try_next().await? {
        // The kind is decoded in place: only the name is kept.
        let kind: &str = row.try_get(1)?;
        let Some(kind) = SeriesKind::from_catalog_name(kind) else {
            continue;
        };
        visit(row.try_get(0)?, kind);
    }
    Ok(())
}

/// Which of `kinds` have at least one series. Each is one probe of the catalog's
/// `(kind, name, tags)` index, whatever the size of the catalog.
pub async fn kinds_present(
    pool: &PgPool,
    kinds: &[SeriesKind],
) -> Result<Vec<SeriesKind>, sqlx::Error> {
    let kind_names: Vec<&str> = kinds.iter().map(|kind| kind.catalog_name()).collect();
    let present: Vec<String> = sqlx::query_scalar(
        "select wanted.kind from unnest($1::text[]) as wanted(kind)
         where exists (select 1 from series where series.kind = wanted.kind)",
    )
    .bind(&kind_names)
    .fetch_all(pool)
    .await?;
    Ok(present
        .iter()
        .filter_map(|kind| SeriesKind::from_catalog_name(kind))
        .collect())
}

/// The series named `name`, or every series when `name` is `None` (for tag queries, which
/// filter in Rust), at most `limit`.
pub async fn series_named_or_all(
    pool: &PgPool,
    name: Option<&str>,
    limit: i64,
) -> Result<Vec<SeriesRow>, sqlx::Error> {
    let rows: Vec<CatalogRow> = sqlx::query_as(
        "select id, kind, name, tags, first_seen from series
         where $1::text is null or name = $1
         order by name, kind, tags limit $2",
    )
    .bind(name)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(SeriesRow {
                id: row.id,
                kind: SeriesKind::from_catalog_name(&row.kind)?,
                name: row.name,
                tags: row.tags,
                first_seen: row.first_seen,
            })
        })
        .collect())
}

/// Every series name, once, in byte order (graphite-web's order). Sorted here rather than by
/// the database, whose collation compares several times slower than bytes do.
pub async fn all_names(pool: &PgPool, limit: usize) -> Result<Vec<String>, sqlx::Error> {
    // Distinct in SQL, so that the limit counts names and not series (one name, many tags).
    let mut names: Vec<String> = sqlx::query_scalar("select distinct name from series limit $1")
        .bind(limit as i64)
        .fetch_all(pool)
        .await?;
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

/// One stored row of a series, in the bucket or interval starting at `start` (unix seconds).
#[derive(Debug, Clone)]
pub struct StoredRow<V> {
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
pub struct NumberSample {
    pub value: f64,
    pub stored_at_micros: i64,
}

/// Where rows are read from: the raw tables (one row per interval and source aggregator), or
/// the rollups of one resolution (one row per bucket, sources already merged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowSource {
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
pub async fn rollup_watermarks(pool: &PgPool) -> Result<Vec<(i32, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as("select resolution_seconds, rolled_until from rollup_watermarks order by resolution_seconds")
        .fetch_all(pool)
        .await
}

/// Counter counts, and gauge or raw values with when they were stored, in no particular
/// order. Times come as `timestamptz` (eight bytes in the binary protocol): converting them to
/// epoch seconds in SQL goes through `numeric` and costs more than reading the rows.
pub async fn number_rows(
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

/// The last value of each gauge (or raw series) before `before`: a gauge keeps its value
/// until it changes, so the first interval of a range shows it.
pub async fn values_before(
    pool: &PgPool,
    kind: SeriesKind,
    series_ids: &[i64],
    before: DateTime<Utc>,
) -> Result<Vec<(i64, f64)>, sqlx::Error> {
    // Raw rows and rollups together: once raw rows are past their retention, a gauge's last
    // value is only in a rollup.
    let sql = match kind {
        SeriesKind::Gauge => {
            "select distinct on (series_id) series_id, value from (
                 select series_id, interval_start, stored_at, value from gauge_samples
                 where series_id = any($1) and interval_start < $2
                 union all
                 select series_id, interval_start, stored_at, value from gauge_rollups
                 where series_id = any($1) and interval_start < $2
             ) as candidates
             order by series_id, interval_start desc, stored_at desc"
        }
        _ => return Ok(Vec::new()),
    };
    sqlx::query_as(sql)
        .bind(series_ids)
        .bind(before)
        .fetch_all(pool)
        .await
}

/// The flush interval of each series' latest row before `before`, in milliseconds: the
/// series' native resolution. One index probe per series.
pub async fn native_intervals_ms(
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
pub async fn timer_rows(
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
pub async fn set_rows(
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
