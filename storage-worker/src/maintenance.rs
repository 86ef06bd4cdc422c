//! Periodic upkeep of the database that no batch triggers by itself.
//!
//! * Creating the raw day partitions of the next days ahead of time, so the first batch of a
//!   day does not pay for the DDL (it would create the partition itself if it had to).
//! * Retention: dropping the partitions that lie entirely before their resolution's retention
//!   (raw tables: the first entry of `storage_worker.retentions`; rollup tables: their own).
//!   With retention rules, a table's partitions are kept for the longest retention any rule
//!   gives its resolution, and the rows of the series whose rule keeps them shorter are deleted
//!   by `DELETE` ([`delete_rows_past_their_rules`]).
//!   Whole partitions, never `DELETE`: no bloat, no vacuum debt, constant cost. The one
//!   exception is the default partitions, which are never dropped: rows there (a timestamp
//!   outside the window day partitions are made for) are deleted by `DELETE` once past their
//!   retention, like any other row, rather than kept forever. There are few of them.
//! * Forgetting the ids of batches stored long ago.
//!
//! A batch id must be remembered for as long as the batch could come back — JetStream keeps
//! messages for `nats.max_age`, so a redelivery or a replay of the stream can bring it back
//! until then — and no longer, or the table grows forever. `storage_worker.processed_batch_retention` is validated to exceed
//! `nats.max_age`.

use crate::partitions::{horizon, raw_rows_kept_from, PartitionCache, RAW_TABLES};
use crate::retentions::StorageSchema;
use crate::rollup::{resolution_partition, ROLLUP_TABLES};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Deletes the records of batches processed more than `retention` ago; returns how many.
pub async fn prune_processed_batches(
    pool: &PgPool,
    retention: Duration,
) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query(
        "delete from processed_batches where processed_at < now() - make_interval(secs => $1)",
    )
    .bind(retention.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(deleted)
}

/// Drops every raw and rollup partition that ends before `now` minus its retention; returns
/// the names of the partitions dropped.
pub async fn drop_expired_partitions(
    pool: &PgPool,
    partitions: &PartitionCache,
    schema: &StorageSchema,
    now: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    let mut dropped = Vec::new();
    let raw_horizon = horizon(now, schema.longest_raw_retention());
    for (table, _) in RAW_TABLES {
        dropped.extend(partitions.drop_before(pool, table, raw_horizon).await?);
    }
    for (seconds, retention) in rollup_retentions(schema) {
        let rollup_horizon = horizon(now, retention);
        for table in ROLLUP_TABLES {
            let parent = resolution_partition(table, seconds);
            dropped.extend(
                partitions
                    .drop_before(pool, &parent, rollup_horizon)
                    .await?,
            );
        }
    }
    Ok(dropped)
}

/// Deletes the rows of the default partitions (raw and rollup) that are older than their
/// resolution's retention; returns how many. Default partitions hold what no day partition
/// covers, so dropping partitions never reaches these rows.
pub async fn delete_expired_default_rows(
    pool: &PgPool,
    schema: &StorageSchema,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let longest_raw = schema.longest_raw_retention();
    let mut expired: Vec<(String, &str, DateTime<Utc>)> = RAW_TABLES
        .iter()
        .map(|(table, column)| {
            (
                format!("{table}_default"),
                *column,
                raw_rows_kept_from(table, now, longest_raw),
            )
        })
        .collect();
    for (seconds, retention) in rollup_retentions(schema) {
        let rollup_horizon = horizon(now, retention);
        for table in ROLLUP_TABLES {
            let parent = resolution_partition(table, seconds);
            expired.push((
                format!("{parent}_default"),
                "interval_start",
                rollup_horizon,
            ));
        }
    }
    let mut deleted = 0;
    for (default_partition, time_column, horizon) in expired {
        // Rollup resolutions get their partitions on the rollup loop's first round.
        let exists: bool = sqlx::query_scalar("select to_regclass($1) is not null")
            .bind(&default_partition)
            .fetch_one(pool)
            .await?;
        if !exists {
            continue;
        }
        // Both names come from constants of this crate, never from input.
        deleted += sqlx::query(&format!(
            "delete from {default_partition} where {time_column} < $1"
        ))
        .bind(horizon)
        .execute(pool)
        .await?
        .rows_affected();
    }
    Ok(deleted)
}

/// Each rollup resolution of the schema with the longest retention any rule gives it.
fn rollup_retentions(schema: &StorageSchema) -> Vec<(u32, Duration)> {
    schema
        .rollup_resolutions()
        .into_iter()
        .filter_map(|seconds| {
            schema
                .longest_rollup_retention(seconds)
                .map(|retention| (seconds, retention))
        })
        .collect()
}

/// Deletes the rows of series whose retention rule keeps a resolution for less than the
/// longest retention of that resolution (partitions are dropped by the longest one); returns
/// how many. Reads the catalog's names once, matching each to its rule; nothing to do without
/// retention rules.
pub async fn delete_rows_past_their_rules(
    pool: &PgPool,
    schema: &StorageSchema,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    if !schema.has_retention_rules() {
        return Ok(0);
    }
    let names: Vec<(i64, String)> = sqlx::query_as("select id, name from series")
        .fetch_all(pool)
        .await?;
    // (table, time column, horizon) -> series ids
    let mut expired: std::collections::BTreeMap<(String, &str, DateTime<Utc>), Vec<i64>> =
        std::collections::BTreeMap::new();
    let longest_raw = schema.longest_raw_retention();
    let longest_rollup: std::collections::HashMap<u32, Duration> =
        rollup_retentions(schema).into_iter().collect();
    for (series_id, name) in names {
        let retentions = schema.retentions_for(&name);
        if retentions.raw.retention < longest_raw {
            for (table, column) in RAW_TABLES {
                let kept_from = raw_rows_kept_from(table, now, retentions.raw.retention);
                expired
                    .entry((table.to_owned(), column, kept_from))
                    .or_default()
                    .push(series_id);
            }
        }
        for seconds in schema.rollup_resolutions() {
            let kept = retentions
                .rollups
                .iter()
                .find(|rollup| rollup.seconds == seconds)
                .map_or(Duration::ZERO, |rollup| rollup.retention);
            if longest_rollup
                .get(&seconds)
                .is_some_and(|longest| kept < *longest)
            {
                for table in ROLLUP_TABLES {
                    expired
                        .entry((
                            resolution_partition(table, seconds),
                            "interval_start",
                            horizon(now, kept),
                        ))
                        .or_default()
                        .push(series_id);
                }
            }
        }
    }
    let mut deleted = 0;
    for ((table, column, horizon), series) in expired {
        let exists: bool = sqlx::query_scalar("select to_regclass($1) is not null")
            .bind(&table)
            .fetch_one(pool)
            .await?;
        if !exists {
            continue;
        }
        // Table and column names come from constants of this crate, never from input.
        deleted += sqlx::query(&format!(
            "delete from {table} where series_id = any($1) and {column} < $2"
        ))
        .bind(&series)
        .bind(horizon)
        .execute(pool)
        .await?
        .rows_affected();
    }
    Ok(deleted)
}

/// What the upkeep works on.
pub(crate) struct Maintenance {
    pub pool: PgPool,
    pub partitions: Arc<PartitionCache>,
    pub schema: Arc<StorageSchema>,
    /// How long the ids of stored batches are remembered.
    pub processed_batch_retention: Duration,
    pub every: Duration,
}

impl Maintenance {
    /// One round of upkeep. Each part is independent: one failing does not skip the others.
    pub(crate) async fn run_once(&self) {
        match prune_processed_batches(&self.pool, self.processed_batch_retention).await {
            Ok(0) => {}
            Ok(deleted) => info!(deleted, "forgot the ids of old processed batches"),
            Err(error) => warn!(%error, "pruning processed batch ids failed"),
        }
        if let Err(error) = self.partitions.create_raw_ahead(&self.pool).await {
            warn!(%error, "creating partitions ahead of time failed");
        }
        match drop_expired_partitions(&self.pool, &self.partitions, &self.schema, Utc::now()).await
        {
            Ok(dropped) if dropped.is_empty() => {}
            Ok(dropped) => info!(?dropped, "dropped partitions past retention"),
            Err(error) => warn!(%error, "dropping partitions past retention failed"),
        }
        match delete_expired_default_rows(&self.pool, &self.schema, Utc::now()).await {
            Ok(0) => {}
            Ok(deleted) => info!(deleted, "deleted default-partition rows past retention"),
            Err(error) => warn!(%error, "deleting default-partition rows past retention failed"),
        }
        match delete_rows_past_their_rules(&self.pool, &self.schema, Utc::now()).await {
            Ok(0) => {}
            Ok(deleted) => info!(deleted, "deleted rows past their retention rule"),
            Err(error) => warn!(%error, "deleting rows past their retention rule failed"),
        }
    }

    /// Runs the upkeep every `every` until shutdown. Failures are logged and retried next
    /// time: upkeep that is late costs disk, not data.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.run_once() => {}
            }
        }
    }
}
