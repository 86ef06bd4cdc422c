//! Time partitions of the sample and rollup tables: creating them before they are needed and
//! dropping them when their data is past retention.
//!
//! The SQL side lives in the migrations (`abacus_ensure_partition`,
//! `abacus_drop_partitions_before`); this module decides which partitions should exist. Raw
//! sample tables have one partition per UTC day. A partition is created ahead of time by the
//! maintenance task and, on demand, before a batch whose days have none is written, so rows
//! land in their day partition rather than the default one. Days outside the window the worker
//! keeps partitions for (older than the raw retention, or far in the future) are not created
//! on demand: their rows go to the default partition instead of littering the schema with
//! partitions a stray timestamp asked for.
//!
//! Which partitions are known to exist is cached per process, so the common case costs no
//! round-trip. Creation is idempotent and serialized in PostgreSQL, so several workers may
//! race to create the same partition.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// The raw sample tables and their time column.
pub(crate) const RAW_TABLES: [(&str, &str); 5] = [
    ("counter_samples", "interval_start"),
    ("gauge_samples", "interval_start"),
    ("timer_samples", "interval_start"),
    ("set_samples", "interval_start"),
    ("raw_points", "point_time"),
];

/// How far into the future partitions are created, ahead of time and on demand.
pub(crate) const DAYS_AHEAD: i64 = 2;

const SECONDS_PER_DAY: i64 = 86_400;

/// The partitions this process knows exist, so a batch normally needs no DDL at all.
#[derive(Debug, Default)]
pub struct PartitionCache {
    /// (parent table, lower bound in unix seconds)
    known: Mutex<HashSet<(String, i64)>>,
}

impl PartitionCache {
    fn is_known(&self, parent: &str, lower_bound: i64) -> bool {
        self.known
            .lock()
            .map(|known| known.contains(&(parent.to_owned(), lower_bound)))
            .unwrap_or(false)
    }

    fn remember(&self, parent: &str, lower_bound: i64) {
        if let Ok(mut known) = self.known.lock() {
            known.insert((parent.to_owned(), lower_bound));
        }
    }

    /// Forgets the partitions of `parent` below `horizon`: retention dropped them.
    fn forget_before(&self, parent: &str, horizon: i64) {
        if let Ok(mut known) = self.known.lock() {
            known.retain(|(table, lower_bound)| table != parent || *lower_bound >= horizon);
        }
    }

    /// Creates the partition [lower_bound, lower_bound + width) of `parent` unless this
    /// process already knows it exists.
    pub async fn ensure(
        &self,
        pool: &PgPool,
        parent: &str,
        time_column: &str,
        lower_bound: i64,
        width_seconds: i64,
    ) -> Result<(), sqlx::Error> {
        if self.is_known(parent, lower_bound) {
            return Ok(());
        }
        let lower = timestamp(lower_bound);
        let upper = timestamp(lower_bound + width_seconds);
        sqlx::query("select abacus_ensure_partition($1, $2, $3, $4)")
            .bind(parent)
            .bind(time_column)
            .bind(lower)
            .bind(upper)
            .execute(pool)
            .await?;
        self.remember(parent, lower_bound);
        Ok(())
    }

    /// Makes sure every raw table has the day partitions of `times` that fall in the window
    /// partitions are kept for: from `raw_retention` ago to [`DAYS_AHEAD`] days ahead.
    pub async fn ensure_raw_days(
        &self,
        pool: &PgPool,
        raw_retention: Duration,
        times: impl IntoIterator<Item = DateTime<Utc>>,
    ) -> Result<(), sqlx::Error> {
        let now = Utc::now().timestamp();
        let oldest = floor_to(now - raw_retention.as_secs() as i64, SECONDS_PER_DAY);
        let newest = floor_to(now, SECONDS_PER_DAY) + DAYS_AHEAD * SECONDS_PER_DAY;
        let mut days: Vec<i64> = times
            .into_iter()
            .map(|time| floor_to(time.timestamp(), SECONDS_PER_DAY))
            .filter(|day| (oldest..=newest).contains(day))
            .collect();
        days.sort_unstable();
        days.dedup();
        for day in days {
            for (table, column) in RAW_TABLES {
                self.ensure(pool, table, column, day, SECONDS_PER_DAY)
                    .await?;
            }
        }
        Ok(())
    }

    /// Creates the raw day partitions from today to [`DAYS_AHEAD`] days ahead.
    pub async fn create_raw_ahead(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let today = floor_to(Utc::now().timestamp(), SECONDS_PER_DAY);
        let days = (0..=DAYS_AHEAD).map(|offset| timestamp(today + offset * SECONDS_PER_DAY));
        self.ensure_raw_days(pool, Duration::ZERO, days).await
    }

    /// Drops the partitions of `parent` that end at or before `horizon`; returns their names.
    pub async fn drop_before(
        &self,
        pool: &PgPool,
        parent: &str,
        horizon: DateTime<Utc>,
    ) -> Result<Vec<String>, sqlx::Error> {
        let dropped: Vec<String> =
            sqlx::query_scalar("select abacus_drop_partitions_before($1, $2)")
                .bind(parent)
                .bind(horizon)
                .fetch_all(pool)
                .await?;
        self.forget_before(parent, horizon.timestamp());
        Ok(dropped)
    }
}

/// `seconds` rounded down to a multiple of `width` (also for times before 1970).
pub fn floor_to(seconds: i64, width: i64) -> i64 {
    seconds.div_euclid(width) * width
}

/// Unix seconds as a timestamp; out-of-range values (beyond year 262143) saturate.
pub(crate) fn timestamp(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(seconds, 0).unwrap_or(if seconds < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// The age a retention period stands for, as a time delta (saturating).
pub(crate) fn horizon(now: DateTime<Utc>, retention: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(retention)
        .ok()
        .and_then(|retention| now.checked_sub_signed(retention))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Where the raw rows of the statsd kinds are all still kept under a raw retention of
/// `retention`: from the start of the day the horizon falls in. Those rows go a whole day at a
/// time (day partitions are dropped whole, and rows deleted from a default partition or by a
/// retention rule go by the same day), and a rollup bucket never straddles two days, so a
/// bucket from there on still has every raw row it was or will be computed from.
pub(crate) fn samples_kept_from(now: DateTime<Utc>, retention: Duration) -> DateTime<Utc> {
    timestamp(floor_to(
        horizon(now, retention).timestamp(),
        SECONDS_PER_DAY,
    ))
}

/// The time before which the rows of the raw table `table` are deleted under a raw retention
/// of `retention`: the statsd kinds' samples a whole day at a time ([`samples_kept_from`]);
/// timestamped points at the horizon itself (their rollups are written as carbon writes its
/// archives, from what the finer level holds at the time).
pub(crate) fn raw_rows_kept_from(
    table: &str,
    now: DateTime<Utc>,
    retention: Duration,
) -> DateTime<Utc> {
    if table == "raw_points" {
        horizon(now, retention)
    } else {
        samples_kept_from(now, retention)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_down_to_their_day_also_before_1970() {
        assert_eq!(floor_to(86_400 * 3 + 5, SECONDS_PER_DAY), 86_400 * 3);
        assert_eq!(floor_to(-1, SECONDS_PER_DAY), -86_400);
        assert_eq!(floor_to(0, 60), 0);
    }

    #[test]
    fn samples_are_kept_from_the_start_of_the_horizons_day_and_points_from_the_horizon() {
        let now = timestamp(10 * SECONDS_PER_DAY + 12 * 3_600 + 1_800);
        let week = Duration::from_secs(7 * 86_400);
        let horizon_day = timestamp(3 * SECONDS_PER_DAY);
        assert_eq!(samples_kept_from(now, week), horizon_day);
        assert_eq!(
            raw_rows_kept_from("counter_samples", now, week),
            horizon_day
        );
        assert_eq!(raw_rows_kept_from("timer_samples", now, week), horizon_day);
        assert_eq!(
            raw_rows_kept_from("raw_points", now, week),
            timestamp(3 * SECONDS_PER_DAY + 12 * 3_600 + 1_800)
        );
    }
}
