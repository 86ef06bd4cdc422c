//! The rollup loop: keeps `counter_rollups`, `gauge_rollups`, `timer_rollups` and `set_rollups`
//! equal to the exact merge of the raw rows they cover, continuously, after downtime, with late
//! batches, and with several workers running.
//!
//! # How
//!
//! Work flows through three tables (see the migration `..._rollups.sql`):
//!
//! 1. **Advance** (per resolution): under an exclusive advisory lock, move
//!    `rollup_watermarks.rolled_until` over the buckets that are complete (ended more than
//!    `rollup_delay` ago), at most a bounded span at a time, and record that span in
//!    `rollup_spans`. Storing a batch takes the same lock *shared* and reads the watermark after
//!    it has the lock; a batch whose bucket is already below the watermark is late and inserts
//!    its keys into `rollup_dirty` in its own transaction. The lock makes the two exclusive, so
//!    every committed raw row is either visible to whoever lists the span or marked dirty by its
//!    own batch. Nothing else waits on the lock, and it is held only for two tiny statements.
//! 2. **List** a span: the distinct (series, bucket) keys of raw rows in the span go into
//!    `rollup_dirty`, and the span is deleted, in one transaction.
//! 3. **Recompute** dirty keys: taken with `for update skip locked` (workers never take the same
//!    key), recomputed from raw rows in the same transaction, upserted, deleted. A late batch
//!    upserting a key a worker holds waits for it and then re-inserts the key, so it is
//!    recomputed again with the batch's rows.
//!
//! Every rollup row is always recomputed from raw rows, never from a finer rollup: the merge is
//! exact and idempotent, and no ordering between resolutions is needed. The raw retention is
//! validated to outlast the coarsest bucket, and raw rows are deleted a whole day at a time
//! (a bucket never straddles two days); a dirty key whose day upkeep may have deleted is
//! dropped rather than recomputed from a partial set.
//!
//! Each step is its own short transaction, so a crash loses nothing: the watermark and the span
//! move together, a span is deleted only with its keys listed, a key only with its row written.

use crate::partitions::{floor_to, horizon, samples_kept_from, timestamp, PartitionCache};
use crate::retentions::StorageSchema;
use abacus_proto::catalog::SeriesKind;
use abacus_proto::histogram;
use abacus_proto::sketch::SetSketch;
use abacus_proto::storage_schema::AggregationRule;
use abacus_proto::timer::{merge_histograms, TimerMoments};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// First key of the advisory locks between storing batches and advancing a watermark; the
/// second is the resolution in seconds. ("roll" in ASCII.)
pub(crate) const WATERMARK_LOCK_SPACE: i32 = 0x726f_6c6c;

/// The rollup tables, each partitioned by resolution then time.
pub const ROLLUP_TABLES: [&str; 5] = [
    "counter_rollups",
    "gauge_rollups",
    "timer_rollups",
    "set_rollups",
    "point_rollups",
];

/// Most buckets' worth of time one advance hands over: an hour, or one bucket if coarser.
const LONGEST_SPAN_SECONDS: i64 = 3_600;

/// How far ahead of the clock a recompute judges whether upkeep has deleted a bucket's raw
/// rows, so that upkeep deleting a day while a recompute reads it cannot leave it a partial set.
const UPKEEP_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// Most dirty keys recomputed in one transaction.
const DIRTY_KEYS_PER_TRANSACTION: i64 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum RollupError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot encode a merged histogram: {0}")]
    Histogram(#[from] histogram::HistogramError),
}

/// How long each resolution's rollups lag behind the clock, for `/metrics`.
#[derive(Debug, Default)]
pub struct RollupLag {
    /// Seconds between now and the oldest watermark; 0 before the first advance.
    pub seconds: AtomicI64,
    /// Seconds between now and each resolution's watermark, by resolution in seconds; a
    /// resolution appears once it has a watermark.
    per_resolution: std::sync::Mutex<std::collections::BTreeMap<u32, i64>>,
}

impl RollupLag {
    /// Each resolution (in seconds) with its lag in seconds, finest first.
    pub fn by_resolution(&self) -> Vec<(u32, i64)> {
        let lags = self
            .per_resolution
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        lags.iter()
            .map(|(resolution, lag)| (*resolution, *lag))
            .collect()
    }
}

/// The rollup loop and the steps it repeats.
pub struct Rollups {
    pub pool: PgPool,
    pub partitions: Arc<PartitionCache>,
    /// Which resolutions each series is kept at, and how its points are aggregated.
    pub schema: Arc<StorageSchema>,
    /// How long after a bucket ends before it is rolled up, so on-time batches are in.
    pub delay: Duration,
    /// Pause between two rounds once there is no work left.
    pub every: Duration,
    pub lag: Arc<RollupLag>,
}

impl Rollups {
    /// Rolls up until shutdown: a round of work, a pause, again. Errors are logged once per
    /// change of state and retried next round; raw rows stay, so nothing is lost by waiting.
    pub async fn run(self, shutdown: CancellationToken) {
        if self.schema.rollup_resolutions().is_empty() {
            return;
        }
        let failing = AtomicBool::new(false);
        loop {
            let round = tokio::select! {
                _ = shutdown.cancelled() => return,
                round = self.run_once(&shutdown) => round,
            };
            match round {
                Ok(_) => {
                    if failing.swap(false, Ordering::Relaxed) {
                        info!("rollups are running again");
                    }
                }
                Err(error) => {
                    if !failing.swap(true, Ordering::Relaxed) {
                        warn!(%error, "rollups failing, retrying");
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.every) => {}
            }
        }
    }

    /// Does all the rollup work there is now; returns how many keys it recomputed.
    pub async fn run_once(&self, shutdown: &CancellationToken) -> Result<u64, RollupError> {
        ensure_resolution_partitions(&self.pool, &self.schema).await?;
        let resolutions = self.schema.rollup_resolutions();
        for &resolution in &resolutions {
            while !shutdown.is_cancelled() && self.advance(resolution).await? {}
        }
        while !shutdown.is_cancelled() && self.list_span().await? {}
        // Finest first, one resolution per transaction: a point rollup is computed from the
        // one below it, which marks the bucket above it dirty when it changes, so a round
        // carries a late point all the way up.
        let mut recomputed = 0;
        for &resolution in &resolutions {
            while !shutdown.is_cancelled() {
                let keys = self.recompute_dirty(resolution).await?;
                if keys == 0 {
                    break;
                }
                recomputed += keys;
            }
        }
        self.update_lag().await?;
        Ok(recomputed)
    }

    /// Moves the watermark of `resolution` over the next complete span, if any; returns
    /// whether it moved.
    async fn advance(&self, resolution_seconds: u32) -> Result<bool, RollupError> {
        let seconds = i64::from(resolution_seconds);
        let now = Utc::now();
        let mut transaction = self.pool.begin().await?;
        sqlx::query("select pg_advisory_xact_lock($1, $2)")
            .bind(WATERMARK_LOCK_SPACE)
            .bind(resolution_seconds as i32)
            .execute(&mut *transaction)
            .await?;
        let watermark: Option<DateTime<Utc>> = sqlx::query_scalar(
            "select rolled_until from rollup_watermarks where resolution_seconds = $1",
        )
        .bind(resolution_seconds as i32)
        .fetch_optional(&mut *transaction)
        .await?;
        // Raw rows of days upkeep has dropped (or is about to) are gone: start (or resume)
        // after them, at the start of the oldest day whose rows are all kept.
        let oldest_complete =
            samples_kept_from(now + UPKEEP_MARGIN, self.schema.longest_raw_retention()).timestamp();
        let from = match watermark {
            Some(watermark) if watermark.timestamp() >= oldest_complete => watermark.timestamp(),
            Some(watermark) => {
                warn!(
                    resolution_seconds = seconds,
                    %watermark,
                    "rollups fell behind the raw retention; skipping to the oldest raw data"
                );
                oldest_complete
            }
            None => oldest_complete,
        };
        let complete_until = floor_to(
            (now - chrono::TimeDelta::from_std(self.delay).unwrap_or_default()).timestamp(),
            seconds,
        );
        let until = complete_until.min(from + LONGEST_SPAN_SECONDS.max(seconds));
        if until <= from {
            if watermark.map(|watermark| watermark.timestamp()) != Some(from) {
                upsert_watermark(&mut transaction, resolution_seconds, timestamp(from)).await?;
            }
            transaction.commit().await?;
            return Ok(false);
        }
        sqlx::query(
            "insert into rollup_spans (resolution_seconds, span_start, span_end) values ($1, $2, $3)
             on conflict (resolution_seconds, span_start) do update set span_end = greatest(rollup_spans.span_end, excluded.span_end)",
        )
        .bind(resolution_seconds as i32)
        .bind(timestamp(from))
        .bind(timestamp(until))
        .execute(&mut *transaction)
        .await?;
        upsert_watermark(&mut transaction, resolution_seconds, timestamp(until)).await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Lists the keys of one span as dirty; returns whether there was a span to take.
    async fn list_span(&self) -> Result<bool, RollupError> {
        let mut transaction = self.pool.begin().await?;
        let span: Option<(i32, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
            "select resolution_seconds, span_start, span_end from rollup_spans
             order by span_start limit 1 for update skip locked",
        )
        .fetch_optional(&mut *transaction)
        .await?;
        let Some((resolution, start, end)) = span else {
            return Ok(false);
        };
        let buckets = |table: &str, column: &str| {
            format!(
                "select distinct series_id, $1::integer,
                        to_timestamp(floor(extract(epoch from {column}) / $1) * $1)
                 from {table} where {column} >= $2 and {column} < $3"
            )
        };
        // UNION (not UNION ALL) so no key appears twice in the one upsert.
        let sql = format!(
            "insert into rollup_dirty (series_id, resolution_seconds, interval_start)
             {} union {} union {} union {} union {}
             on conflict (series_id, resolution_seconds, interval_start)
             do update set marked_at = excluded.marked_at",
            buckets("counter_samples", "interval_start"),
            buckets("gauge_samples", "interval_start"),
            buckets("timer_samples", "interval_start"),
            buckets("set_samples", "interval_start"),
            buckets("raw_points", "point_time"),
        );
        sqlx::query(&sql)
            .bind(resolution)
            .bind(start)
            .bind(end)
            .execute(&mut *transaction)
            .await?;
        sqlx::query("delete from rollup_spans where resolution_seconds = $1 and span_start = $2")
            .bind(resolution)
            .bind(start)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Recomputes up to [`DIRTY_KEYS_PER_TRANSACTION`] dirty keys of one resolution; returns
    /// how many it took.
    async fn recompute_dirty(&self, resolution_seconds: u32) -> Result<u64, RollupError> {
        // Creating a partition is DDL on another connection, and it waits for the locks that
        // this round's rollup writes hold; done inside the transaction it would wait forever,
        // unseen by PostgreSQL's deadlock detector. So the partitions of the keys about to be
        // taken are created first, and a key locked below whose partition was not prepared
        // (it became dirty in between) stays dirty for the next round.
        let resolution = resolution_seconds as i32;
        let peeked: Vec<DateTime<Utc>> = sqlx::query_scalar(
            "select interval_start from rollup_dirty where resolution_seconds = $1
             order by interval_start limit $2",
        )
        .bind(resolution)
        .bind(DIRTY_KEYS_PER_TRANSACTION)
        .fetch_all(&self.pool)
        .await?;
        if peeked.is_empty() {
            return Ok(0);
        }
        self.ensure_rollup_partitions(resolution_seconds, &peeked)
            .await?;
        let prepared: std::collections::HashSet<DateTime<Utc>> = peeked.into_iter().collect();

        let mut transaction = self.pool.begin().await?;
        // A custom plan, made for the parameters at hand, probes every partition for every
        // key (780 ms for 1,000 keys over 30 days); the generic plan prunes them per key at run
        // time (15 ms). PostgreSQL would only switch to it after five executions.
        sqlx::query("set local plan_cache_mode = force_generic_plan")
            .execute(&mut *transaction)
            .await?;
        let locked: Vec<(i64, DateTime<Utc>, String, String)> = sqlx::query_as(
            "select d.series_id, d.interval_start, s.kind, s.name
             from (select series_id, interval_start from rollup_dirty
                   where resolution_seconds = $1
                   order by interval_start limit $2 for update skip locked) d
             left join series s on s.id = d.series_id",
        )
        .bind(resolution)
        .bind(DIRTY_KEYS_PER_TRANSACTION)
        .fetch_all(&mut *transaction)
        .await?;
        let keys: Vec<(i64, DateTime<Utc>, String, String)> = locked
            .into_iter()
            .filter(|(_, bucket, _, _)| prepared.contains(bucket))
            .collect();
        if keys.is_empty() {
            return Ok(0);
        }
        let now = Utc::now();
        let seconds = i64::from(resolution_seconds);
        let mut skipped = 0;
        let (mut series, mut buckets) = (Vec::new(), Vec::new());
        let mut points = Vec::new();
        for (series_id, bucket, kind, name) in &keys {
            // A series whose retentions have no such resolution gets no rollup there.
            let retentions = self.schema.retentions_for(name);
            let Some(rollup) = retentions
                .rollups
                .iter()
                .find(|rollup| rollup.seconds == resolution_seconds)
            else {
                continue;
            };
            // Past the rollup's own retention its row would be dropped anyway.
            if *bucket < horizon(now, rollup.retention) {
                skipped += 1;
                continue;
            }
            if kind == SeriesKind::Raw.catalog_name() {
                // Computed from the level below, while all of the bucket's rows are there;
                // after that the row stays as it was computed (or written by an old point).
                let finer = retentions.finer_rollup(resolution_seconds);
                let finer_retention =
                    finer.map_or(retentions.raw.retention, |finer| finer.retention);
                if bucket.timestamp() + seconds <= horizon(now, finer_retention).timestamp() {
                    continue;
                }
                points.push(PointKey {
                    series_id: *series_id,
                    bucket: *bucket,
                    finer: match finer {
                        Some(finer) => Finer::Rollup(finer.seconds),
                        None => Finer::Raw(retentions.raw.seconds),
                    },
                    rule: self.schema.aggregation_for(name),
                    coarser: retentions
                        .coarser_rollup(resolution_seconds)
                        .map(|coarser| coarser.seconds),
                });
                continue;
            }
            // A bucket whose day upkeep has dropped (or is about to) may have only part of its
            // raw rows; one that began past the raw retention in a day still kept has them all,
            // so a late batch there (the worker was down for nearly the stream's whole
            // `max_age`) still reaches the rollups.
            if *bucket < samples_kept_from(now + UPKEEP_MARGIN, retentions.raw.retention) {
                skipped += 1;
                continue;
            }
            series.push(*series_id);
            buckets.push(*bucket);
        }
        if !series.is_empty() {
            recompute(&mut transaction, resolution, &series, &buckets).await?;
        }
        if !points.is_empty() {
            recompute_points(&mut transaction, resolution_seconds, &points).await?;
        }
        if skipped > 0 {
            warn!(
                skipped,
                "late rows for buckets past retention were not rolled up"
            );
        }
        let (series, buckets): (Vec<i64>, Vec<DateTime<Utc>>) =
            keys.iter().map(|key| (key.0, key.1)).unzip();
        sqlx::query(
            "delete from rollup_dirty d
             using unnest($1::bigint[], $2::timestamptz[]) as k (series_id, interval_start)
             where d.series_id = k.series_id and d.resolution_seconds = $3
               and d.interval_start = k.interval_start",
        )
        .bind(&series)
        .bind(&buckets)
        .bind(resolution)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(keys.len() as u64)
    }

    /// Creates the time partitions the rollup rows of `buckets` go to.
    async fn ensure_rollup_partitions(
        &self,
        resolution_seconds: u32,
        buckets: &[DateTime<Utc>],
    ) -> Result<(), sqlx::Error> {
        ensure_rollup_partitions(
            &self.pool,
            &self.partitions,
            &ROLLUP_TABLES,
            resolution_seconds,
            buckets,
        )
        .await
    }

    async fn update_lag(&self) -> Result<(), sqlx::Error> {
        let watermarks: Vec<(i32, DateTime<Utc>)> =
            sqlx::query_as("select resolution_seconds, rolled_until from rollup_watermarks")
                .fetch_all(&self.pool)
                .await?;
        let now = Utc::now();
        let lags: std::collections::BTreeMap<u32, i64> = watermarks
            .into_iter()
            .map(|(resolution, rolled_until)| {
                (resolution as u32, (now - rolled_until).num_seconds().max(0))
            })
            .collect();
        if let Some(oldest) = lags.values().max() {
            self.lag.seconds.store(*oldest, Ordering::Relaxed);
        }
        *self
            .lag
            .per_resolution
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = lags;
        Ok(())
    }
}

/// Creates the list partition of every rollup resolution of `schema` in every rollup table.
/// Idempotent; run at start-up (so the first old point finds its table) and every round.
pub async fn ensure_resolution_partitions(
    pool: &PgPool,
    schema: &StorageSchema,
) -> Result<(), sqlx::Error> {
    for table in ROLLUP_TABLES {
        for resolution in schema.rollup_resolutions() {
            sqlx::query("select abacus_ensure_resolution_partition($1, $2)")
                .bind(table)
                .bind(resolution as i32)
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

/// Creates the time partitions of `tables` (rollup tables) that rows of `buckets` at
/// `resolution_seconds` go to.
pub(crate) async fn ensure_rollup_partitions(
    pool: &PgPool,
    partitions: &PartitionCache,
    tables: &[&str],
    resolution_seconds: u32,
    buckets: &[DateTime<Utc>],
) -> Result<(), sqlx::Error> {
    let width = rollup_partition_seconds(resolution_seconds);
    let mut lower_bounds: Vec<i64> = buckets
        .iter()
        .map(|bucket| floor_to(bucket.timestamp(), width))
        .collect();
    lower_bounds.sort_unstable();
    lower_bounds.dedup();
    for table in tables {
        let parent = resolution_partition(table, resolution_seconds);
        for lower_bound in &lower_bounds {
            partitions
                .ensure(pool, &parent, "interval_start", *lower_bound, width)
                .await?;
        }
    }
    Ok(())
}

/// The list partition of `table` holding `resolution_seconds`.
pub fn resolution_partition(table: &str, resolution_seconds: u32) -> String {
    format!("{table}_r{resolution_seconds}")
}

/// How much time one partition of a rollup resolution covers: a day of 10-second-or-finer
/// rows, a week below an hour, four weeks otherwise. A function of the resolution alone, so
/// partition boundaries never change when retentions are reconfigured.
pub fn rollup_partition_seconds(resolution_seconds: u32) -> i64 {
    const DAY: i64 = 86_400;
    match resolution_seconds {
        0..=59 => DAY,
        60..=3_599 => 7 * DAY,
        _ => 28 * DAY,
    }
}

async fn upsert_watermark(
    connection: &mut PgConnection,
    resolution_seconds: u32,
    until: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into rollup_watermarks (resolution_seconds, rolled_until) values ($1, $2)
         on conflict (resolution_seconds) do update set rolled_until = excluded.rolled_until",
    )
    .bind(resolution_seconds as i32)
    .bind(until)
    .execute(connection)
    .await?;
    Ok(())
}

/// The keys `($2 series, $3 bucket)` joined to the raw rows of `table` they cover.
///
/// Written as a lateral subquery (kept one by `offset 0`) so that each key is one index probe
/// of the one day partition its bucket lies in. As a plain join the planner hashes the keys and
/// scans every partition of the table — 6 s for 1,000 keys over 30 days of 20 series, 11.5 s
/// once the statement's plan turned generic — where the probes take 15 ms. The pruning of the
/// other partitions happens at run time, which needs the generic plan the recompute
/// transaction asks for (see [`Rollups::recompute_dirty`]).
fn covered(table: &str) -> String {
    format!(
        "from unnest($2::bigint[], $3::timestamptz[]) as k (series_id, bucket)
         cross join lateral (
             select * from {table} raw
             where raw.series_id = k.series_id and raw.interval_start >= k.bucket
               and raw.interval_start < k.bucket + make_interval(secs => $1)
             offset 0
         ) s"
    )
}

/// Rewrites the rollup rows of the keys (series, bucket) at `resolution` from the raw rows.
async fn recompute(
    connection: &mut PgConnection,
    resolution: i32,
    series: &[i64],
    buckets: &[DateTime<Utc>],
) -> Result<(), RollupError> {
    sqlx::query(&format!(
        "insert into counter_rollups (series_id, resolution_seconds, interval_start, count)
         select k.series_id, $1, k.bucket, sum(s.count) {}
         group by k.series_id, k.bucket
         on conflict (series_id, resolution_seconds, interval_start)
         do update set count = excluded.count",
        covered("counter_samples")
    ))
    .bind(resolution)
    .bind(series)
    .bind(buckets)
    .execute(&mut *connection)
    .await?;
    // The last value: latest interval, then latest stored; the source breaks exact ties so the
    // choice is deterministic.
    sqlx::query(&format!(
        "insert into gauge_rollups (series_id, resolution_seconds, interval_start, value, stored_at)
         select distinct on (k.series_id, k.bucket) k.series_id, $1, k.bucket, s.value, s.stored_at {}
         order by k.series_id, k.bucket, s.interval_start desc, s.stored_at desc, s.source desc
         on conflict (series_id, resolution_seconds, interval_start)
         do update set value = excluded.value, stored_at = excluded.stored_at",
        covered("gauge_samples")
    ))
    .bind(resolution)
    .bind(series)
    .bind(buckets)
    .execute(&mut *connection)
    .await?;
    recompute_timers(connection, resolution, series, buckets).await?;
    recompute_sets(connection, resolution, series, buckets).await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct TimerRow {
    series_id: i64,
    bucket: DateTime<Utc>,
    count: f64,
    sum: f64,
    sum_of_squares: f64,
    min: f64,
    max: f64,
    histogram: Vec<u8>,
}

impl TimerRow {
    fn moments(&self) -> TimerMoments {
        TimerMoments {
            count: self.count,
            sum: self.sum,
            sum_of_squares: self.sum_of_squares,
            min: self.min,
            max: self.max,
        }
    }
}

/// A timer bucket being merged.
struct MergedTimer {
    moments: TimerMoments,
    histograms: Vec<histogram::hdrhistogram::Histogram<u64>>,
}

/// Folds raw rows, sorted by (series, bucket), into one merge per bucket: `start` begins a
/// bucket's merge from its first row and `add` folds in each further row; both say whether the
/// row's bytes (histogram, sketch) decoded. Rows whose bytes do not decode cannot be merged:
/// they are left out (their exact fields still count) and counted in one warning.
fn merge_by_bucket<Row, Merged>(
    rows: Vec<Row>,
    key: fn(&Row) -> (i64, DateTime<Utc>),
    start: impl Fn(Row) -> (Merged, bool),
    add: impl Fn(&mut Merged, Row) -> bool,
    what: &str,
) -> Vec<((i64, DateTime<Utc>), Merged)> {
    let mut merged: Vec<((i64, DateTime<Utc>), Merged)> = Vec::new();
    let mut undecodable = 0u64;
    for row in rows {
        let row_key = key(&row);
        let decoded = match merged.last_mut() {
            Some((last_key, last)) if *last_key == row_key => add(last, row),
            _ => {
                let (first, decoded) = start(row);
                merged.push((row_key, first));
                decoded
            }
        };
        if !decoded {
            undecodable += 1;
        }
    }
    if undecodable > 0 {
        warn!(
            undecodable,
            what, "stored bytes that do not decode were left out of rollups"
        );
    }
    merged
}

async fn recompute_timers(
    connection: &mut PgConnection,
    resolution: i32,
    series: &[i64],
    buckets: &[DateTime<Utc>],
) -> Result<(), RollupError> {
    let rows: Vec<TimerRow> = sqlx::query_as(&format!(
        "select k.series_id, k.bucket, s.count, s.sum, s.sum_of_squares, s.min, s.max, s.histogram {}
         order by k.series_id, k.bucket",
        covered("timer_samples")
    ))
    .bind(resolution)
    .bind(series)
    .bind(buckets)
    .fetch_all(&mut *connection)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let merged = merge_by_bucket(
        rows,
        |row| (row.series_id, row.bucket),
        |row| {
            let decoded = histogram::decode(&row.histogram);
            let is_decoded = decoded.is_ok();
            let timer = MergedTimer {
                moments: row.moments(),
                histograms: decoded.into_iter().collect(),
            };
            (timer, is_decoded)
        },
        |timer, row| {
            timer.moments.merge(&row.moments());
            let decoded = histogram::decode(&row.histogram);
            let is_decoded = decoded.is_ok();
            timer.histograms.extend(decoded.ok());
            is_decoded
        },
        "timer histograms",
    );
    let mut columns = TimerColumns::default();
    for ((series_id, bucket), timer) in merged {
        let histogram = merge_histograms(&timer.histograms)?;
        columns.series.push(series_id);
        columns.buckets.push(bucket);
        columns.counts.push(timer.moments.count);
        columns.sums.push(timer.moments.sum);
        columns.sums_of_squares.push(timer.moments.sum_of_squares);
        columns.mins.push(timer.moments.min);
        columns.maxes.push(timer.moments.max);
        columns.histograms.push(histogram::encode(&histogram)?);
    }
    sqlx::query(
        "insert into timer_rollups (series_id, resolution_seconds, interval_start, count, sum,
                                    sum_of_squares, min, max, histogram)
         select series_id, $1, bucket, count, sum, sum_of_squares, min, max, histogram
         from unnest($2::bigint[], $3::timestamptz[], $4::float8[], $5::float8[], $6::float8[],
                     $7::float8[], $8::float8[], $9::bytea[])
             as rows (series_id, bucket, count, sum, sum_of_squares, min, max, histogram)
         on conflict (series_id, resolution_seconds, interval_start)
         do update set count = excluded.count, sum = excluded.sum,
                       sum_of_squares = excluded.sum_of_squares, min = excluded.min,
                       max = excluded.max, histogram = excluded.histogram",
    )
    .bind(resolution)
    .bind(&columns.series)
    .bind(&columns.buckets)
    .bind(&columns.counts)
    .bind(&columns.sums)
    .bind(&columns.sums_of_squares)
    .bind(&columns.mins)
    .bind(&columns.maxes)
    .bind(&columns.histograms)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

#[derive(Default)]
struct TimerColumns {
    series: Vec<i64>,
    buckets: Vec<DateTime<Utc>>,
    counts: Vec<f64>,
    sums: Vec<f64>,
    sums_of_squares: Vec<f64>,
    mins: Vec<f64>,
    maxes: Vec<f64>,
    histograms: Vec<Vec<u8>>,
}

async fn recompute_sets(
    connection: &mut PgConnection,
    resolution: i32,
    series: &[i64],
    buckets: &[DateTime<Utc>],
) -> Result<(), RollupError> {
    let rows: Vec<(i64, DateTime<Utc>, Vec<u8>)> = sqlx::query_as(&format!(
        "select k.series_id, k.bucket, s.sketch {} order by k.series_id, k.bucket",
        covered("set_samples")
    ))
    .bind(resolution)
    .bind(series)
    .bind(buckets)
    .fetch_all(&mut *connection)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let merged = merge_by_bucket(
        rows,
        |row| (row.0, row.1),
        |(_, _, bytes)| match SetSketch::from_bytes(&bytes) {
            Ok(sketch) => (sketch, true),
            Err(_) => (SetSketch::default(), false),
        },
        |merged, (_, _, bytes)| match SetSketch::from_bytes(&bytes) {
            Ok(sketch) => {
                merged.merge(&sketch);
                true
            }
            Err(_) => false,
        },
        "set sketches",
    );
    let mut series = Vec::with_capacity(merged.len());
    let mut buckets = Vec::with_capacity(merged.len());
    let mut sketches = Vec::with_capacity(merged.len());
    for ((series_id, bucket), sketch) in merged {
        series.push(series_id);
        buckets.push(bucket);
        sketches.push(sketch.to_bytes());
    }
    sqlx::query(
        "insert into set_rollups (series_id, resolution_seconds, interval_start, sketch)
         select series_id, $1, bucket, sketch
         from unnest($2::bigint[], $3::timestamptz[], $4::bytea[]) as rows (series_id, bucket, sketch)
         on conflict (series_id, resolution_seconds, interval_start)
         do update set sketch = excluded.sketch",
    )
    .bind(resolution)
    .bind(&series)
    .bind(&buckets)
    .bind(&sketches)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Marks the keys (series, interval start) of the batches being stored whose bucket was already
/// handed to the rollups, at each of `resolutions`. Runs in the batches' transaction.
pub(crate) async fn mark_late_keys(
    connection: &mut PgConnection,
    resolutions: &[u32],
    keys: &[(i64, DateTime<Utc>)],
) -> Result<(), sqlx::Error> {
    let mut rollup_keys = Vec::with_capacity(keys.len() * resolutions.len());
    for &resolution in resolutions {
        for (series_id, interval_start) in keys {
            let bucket = timestamp(floor_to(interval_start.timestamp(), i64::from(resolution)));
            rollup_keys.push((*series_id, resolution as i32, bucket));
        }
    }
    mark_dirty_if_late(connection, rollup_keys).await
}

/// Marks the rollup keys (series, resolution, bucket) dirty whose bucket is below its
/// resolution's watermark (a bucket above it is listed when the watermark passes it). Takes the
/// watermark locks shared, then reads the watermarks (in a separate statement, so its snapshot
/// is taken after the locks are held).
pub(crate) async fn mark_dirty_if_late(
    connection: &mut PgConnection,
    mut keys: Vec<(i64, i32, DateTime<Utc>)>,
) -> Result<(), sqlx::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut resolutions: Vec<i32> = keys.iter().map(|key| key.1).collect();
    resolutions.sort_unstable();
    resolutions.dedup();
    sqlx::query("select pg_advisory_xact_lock_shared($1, resolution) from unnest($2::integer[]) as r (resolution) order by resolution")
        .bind(WATERMARK_LOCK_SPACE)
        .bind(&resolutions)
        .execute(&mut *connection)
        .await?;
    let watermarks: std::collections::HashMap<i32, DateTime<Utc>> = sqlx::query_as(
        "select resolution_seconds, rolled_until from rollup_watermarks
         where resolution_seconds = any($1)",
    )
    .bind(&resolutions)
    .fetch_all(&mut *connection)
    .await?
    .into_iter()
    .collect();
    keys.retain(|(_, resolution, bucket)| {
        watermarks
            .get(resolution)
            .is_some_and(|rolled_until| bucket < rolled_until)
    });
    mark_dirty(connection, keys).await
}

/// Marks the rollup keys (series, resolution, bucket) dirty, whatever the watermarks.
pub(crate) async fn mark_dirty(
    connection: &mut PgConnection,
    mut keys: Vec<(i64, i32, DateTime<Utc>)>,
) -> Result<(), sqlx::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    // Distinct and in key order: one statement cannot upsert a row twice, and concurrent
    // transactions lock the dirty keys in the same order.
    keys.sort_unstable();
    keys.dedup();
    let (mut series, mut resolutions, mut buckets) = (vec![], vec![], vec![]);
    for (series_id, resolution, bucket) in keys {
        series.push(series_id);
        resolutions.push(resolution);
        buckets.push(bucket);
    }
    sqlx::query(
        "insert into rollup_dirty (series_id, resolution_seconds, interval_start)
         select series_id, resolution_seconds, interval_start
         from unnest($1::bigint[], $2::integer[], $3::timestamptz[])
             as keys (series_id, resolution_seconds, interval_start)
         on conflict (series_id, resolution_seconds, interval_start)
         do update set marked_at = excluded.marked_at",
    )
    .bind(&series)
    .bind(&resolutions)
    .bind(&buckets)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Where a point rollup's bucket takes its slots from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Finer {
    /// The raw points, rounded down to slots of this many seconds (the raw resolution).
    Raw(u32),
    /// The point rollup of this resolution.
    Rollup(u32),
}

/// A point rollup bucket to recompute, with what its series' rules say about it.
struct PointKey {
    series_id: i64,
    bucket: DateTime<Utc>,
    finer: Finer,
    rule: AggregationRule,
    /// The next coarser resolution of the series, whose bucket depends on this one.
    coarser: Option<u32>,
}

/// A finer slot: its time, value, and how many raw slots it stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Slot {
    pub time: i64,
    pub value: f64,
    pub slots: i32,
    pub point_time: i64,
}

/// A point rollup bucket's row: its value, raw slots and latest point time; `None` when too
/// few finer slots hold a value (`x_files_factor`).
pub(crate) fn point_bucket(
    rule: AggregationRule,
    slots: &[Slot],
    finer_slots_per_bucket: u32,
) -> Option<(f64, i32, i64)> {
    let values: Vec<f64> = slots.iter().map(|slot| slot.value).collect();
    let value = rule.bucket_value(&values, finer_slots_per_bucket)?;
    let raw_slots = slots.iter().map(|slot| slot.slots).sum();
    let point_time = slots.iter().map(|slot| slot.point_time).max()?;
    Some((value, raw_slots, point_time))
}

/// Raw points (sorted by time, then storage order) rounded down to slots of `slot_seconds`,
/// the latest of each slot winning, as a whisper archive holds them.
pub(crate) fn raw_slots(points: &[(i64, f64)], slot_seconds: i64) -> Vec<Slot> {
    let mut slots: Vec<Slot> = Vec::new();
    for &(time, value) in points {
        let slot_time = floor_to(time, slot_seconds);
        match slots.last_mut() {
            Some(last) if last.time == slot_time => last.value = value,
            _ => slots.push(Slot {
                time: slot_time,
                value,
                slots: 1,
                point_time: slot_time,
            }),
        }
    }
    slots
}

/// Raw points (unix seconds, value) by rollup key (series, bucket).
type KeyedPoints = std::collections::HashMap<(i64, DateTime<Utc>), Vec<(i64, f64)>>;

/// A finer point rollup row under a key: series, bucket, its own start, value, slots, time.
type FinerRollupRow = (i64, DateTime<Utc>, DateTime<Utc>, f64, i32, DateTime<Utc>);

/// Recomputes point rollup buckets at `resolution_seconds` from the level below each, writes
/// (or deletes) their rows, and marks the buckets above them dirty.
async fn recompute_points(
    connection: &mut PgConnection,
    resolution_seconds: u32,
    keys: &[PointKey],
) -> Result<(), RollupError> {
    let resolution = resolution_seconds as i32;
    let mut finers: Vec<Finer> = keys.iter().map(|key| key.finer).collect();
    finers.sort_unstable_by_key(|finer| match finer {
        Finer::Raw(seconds) => (0, *seconds),
        Finer::Rollup(seconds) => (1, *seconds),
    });
    finers.dedup();
    let mut slots_by_key: std::collections::HashMap<(i64, DateTime<Utc>), Vec<Slot>> =
        std::collections::HashMap::new();
    for finer in finers {
        let of_finer: Vec<&PointKey> = keys.iter().filter(|key| key.finer == finer).collect();
        let series: Vec<i64> = of_finer.iter().map(|key| key.series_id).collect();
        let buckets: Vec<DateTime<Utc>> = of_finer.iter().map(|key| key.bucket).collect();
        match finer {
            Finer::Raw(slot_seconds) => {
                let rows: Vec<(i64, DateTime<Utc>, DateTime<Utc>, f64)> = sqlx::query_as(
                    "select k.series_id, k.bucket, s.point_time, s.value
                     from unnest($2::bigint[], $3::timestamptz[]) as k (series_id, bucket)
                     cross join lateral (
                         select * from raw_points raw
                         where raw.series_id = k.series_id and raw.point_time >= k.bucket
                           and raw.point_time < k.bucket + make_interval(secs => $1)
                         offset 0
                     ) s
                     order by k.series_id, k.bucket, s.point_time, s.stored_at, s.source",
                )
                .bind(resolution)
                .bind(&series)
                .bind(&buckets)
                .fetch_all(&mut *connection)
                .await?;
                let mut points: KeyedPoints = std::collections::HashMap::new();
                for (series_id, bucket, time, value) in rows {
                    points
                        .entry((series_id, bucket))
                        .or_default()
                        .push((time.timestamp(), value));
                }
                for (key, points) in points {
                    slots_by_key.insert(key, raw_slots(&points, i64::from(slot_seconds)));
                }
            }
            Finer::Rollup(finer_seconds) => {
                let rows: Vec<FinerRollupRow> = sqlx::query_as(
                    "select k.series_id, k.bucket, s.interval_start, s.value, s.slots, s.point_time
                         from unnest($2::bigint[], $3::timestamptz[]) as k (series_id, bucket)
                         cross join lateral (
                             select * from point_rollups finer
                             where finer.series_id = k.series_id
                               and finer.resolution_seconds = $4
                               and finer.interval_start >= k.bucket
                               and finer.interval_start < k.bucket + make_interval(secs => $1)
                             offset 0
                         ) s
                         order by k.series_id, k.bucket, s.interval_start",
                )
                .bind(resolution)
                .bind(&series)
                .bind(&buckets)
                .bind(finer_seconds as i32)
                .fetch_all(&mut *connection)
                .await?;
                for (series_id, bucket, time, value, slots, point_time) in rows {
                    slots_by_key
                        .entry((series_id, bucket))
                        .or_default()
                        .push(Slot {
                            time: time.timestamp(),
                            value,
                            slots,
                            point_time: point_time.timestamp(),
                        });
                }
            }
        }
    }
    let mut written = PointRollupColumns::default();
    let (mut emptied_series, mut emptied_buckets) = (Vec::new(), Vec::new());
    let mut parents = Vec::new();
    for key in keys {
        let finer_seconds = match key.finer {
            Finer::Raw(seconds) | Finer::Rollup(seconds) => seconds,
        };
        let slots = slots_by_key
            .get(&(key.series_id, key.bucket))
            .map(Vec::as_slice)
            .unwrap_or_default();
        match point_bucket(key.rule, slots, resolution_seconds / finer_seconds.max(1)) {
            Some((value, slots, point_time)) => {
                written.push(
                    key.series_id,
                    key.bucket,
                    value,
                    slots,
                    timestamp(point_time),
                );
            }
            None => {
                emptied_series.push(key.series_id);
                emptied_buckets.push(key.bucket);
            }
        }
        if let Some(coarser) = key.coarser {
            let bucket = floor_to(key.bucket.timestamp(), i64::from(coarser));
            parents.push((key.series_id, coarser as i32, timestamp(bucket)));
        }
    }
    written.upsert(&mut *connection, resolution).await?;
    if !emptied_series.is_empty() {
        sqlx::query(
            "delete from point_rollups p
             using unnest($2::bigint[], $3::timestamptz[]) as k (series_id, bucket)
             where p.resolution_seconds = $1 and p.series_id = k.series_id
               and p.interval_start = k.bucket",
        )
        .bind(resolution)
        .bind(&emptied_series)
        .bind(&emptied_buckets)
        .execute(&mut *connection)
        .await?;
    }
    mark_dirty_if_late(connection, parents).await?;
    Ok(())
}

/// Point rollup rows of one resolution, as arrays for one upsert.
#[derive(Debug, Default)]
pub(crate) struct PointRollupColumns {
    series: Vec<i64>,
    buckets: Vec<DateTime<Utc>>,
    values: Vec<f64>,
    slots: Vec<i32>,
    point_times: Vec<DateTime<Utc>>,
}

impl PointRollupColumns {
    pub(crate) fn push(
        &mut self,
        series_id: i64,
        bucket: DateTime<Utc>,
        value: f64,
        slots: i32,
        point_time: DateTime<Utc>,
    ) {
        self.series.push(series_id);
        self.buckets.push(bucket);
        self.values.push(value);
        self.slots.push(slots);
        self.point_times.push(point_time);
    }

    /// Writes the rows (each key once, in key order), replacing what the buckets held.
    pub(crate) async fn upsert(
        &self,
        connection: &mut PgConnection,
        resolution: i32,
    ) -> Result<(), sqlx::Error> {
        if self.series.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "insert into point_rollups (series_id, resolution_seconds, interval_start, value, slots, point_time)
             select series_id, $1, bucket, value, slots, point_time
             from unnest($2::bigint[], $3::timestamptz[], $4::float8[], $5::integer[], $6::timestamptz[])
                 as rows (series_id, bucket, value, slots, point_time)
             order by series_id, bucket
             on conflict (series_id, resolution_seconds, interval_start)
             do update set value = excluded.value, slots = excluded.slots,
                           point_time = excluded.point_time",
        )
        .bind(resolution)
        .bind(&self.series)
        .bind(&self.buckets)
        .bind(&self.values)
        .bind(&self.slots)
        .bind(&self.point_times)
        .execute(connection)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_points_become_slots_the_latest_of_each_winning() {
        let slots = raw_slots(&[(100, 1.0), (103, 2.0), (110, 5.0), (135, 7.0)], 10);
        let shown: Vec<(i64, f64)> = slots.iter().map(|slot| (slot.time, slot.value)).collect();
        assert_eq!(shown, vec![(100, 2.0), (110, 5.0), (130, 7.0)]);
        let average = AggregationRule {
            aggregation: abacus_proto::storage_schema::Aggregation::Average,
            x_files_factor: 0.5,
        };
        // Three of six 10 s slots of a minute: enough for 0.5.
        assert_eq!(point_bucket(average, &slots, 6), Some((14.0 / 3.0, 3, 130)));
        assert_eq!(point_bucket(average, &slots[..2], 6), None);
        assert_eq!(point_bucket(average, &[], 6), None);
    }

    #[test]
    fn rollup_partitions_depend_on_the_resolution_only() {
        assert_eq!(rollup_partition_seconds(10), 86_400);
        assert_eq!(rollup_partition_seconds(60), 7 * 86_400);
        assert_eq!(rollup_partition_seconds(3_600), 28 * 86_400);
    }
}
