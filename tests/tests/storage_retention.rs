//! Retention against the real PostgreSQL: partitions that lie entirely before their
//! resolution's retention are dropped whole (raw and rollup), while recent partitions, their
//! rows and the default partitions stay; rows in the default partitions are deleted once past
//! retention, and kept (and later moved to their day partition) while within it.

use abacus_storage_worker::maintenance::{delete_expired_default_rows, drop_expired_partitions};
use abacus_storage_worker::partitions::PartitionCache;
use abacus_storage_worker::retentions::{Retentions, StorageSchema};
use abacus_tests::TestDatabase;

#[tokio::test]
async fn partitions_past_retention_are_dropped_and_recent_data_stays() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let pool = sqlx::PgPool::connect(&database.url).await?;
    abacus_storage_worker::store::MIGRATOR.run(&pool).await?;
    // Raw data kept 2 days, minute rollups 7 days.
    let retentions =
        StorageSchema::from(Retentions::parse("10s:2d,1m:7d").map_err(anyhow::Error::msg)?);
    sqlx::raw_sql(
        "insert into series (kind, name, first_seen, last_seen) values ('counter', 'c', now(), now());
         select abacus_ensure_resolution_partition('counter_rollups', 60);
         -- Raw: a day partition five days old and today's.
         select abacus_ensure_partition('counter_samples', 'interval_start',
             date_trunc('day', now() - interval '5 days', 'UTC'),
             date_trunc('day', now() - interval '4 days', 'UTC'));
         select abacus_ensure_partition('counter_samples', 'interval_start',
             date_trunc('day', now(), 'UTC'), date_trunc('day', now() + interval '1 day', 'UTC'));
         insert into counter_samples values
             (1, now() - interval '5 days', 'a', 10000, 1), (1, now(), 'a', 10000, 2);
         -- Minute rollups: a week-wide partition twenty days old and the current one.
         select abacus_ensure_partition('counter_rollups_r60', 'interval_start',
             date_trunc('day', now() - interval '20 days', 'UTC'),
             date_trunc('day', now() - interval '13 days', 'UTC'));
         select abacus_ensure_partition('counter_rollups_r60', 'interval_start',
             date_trunc('day', now() - interval '1 day', 'UTC'),
             date_trunc('day', now() + interval '6 days', 'UTC'));
         insert into counter_rollups values
             (1, 60, date_trunc('minute', now() - interval '19 days'), 3),
             (1, 60, date_trunc('minute', now()), 4);",
    )
    .execute(&pool)
    .await?;

    let partitions = PartitionCache::default();
    let mut dropped = drop_expired_partitions(
        &pool,
        &partitions,
        &retentions,
        sqlx::types::chrono::Utc::now(),
    )
    .await?;
    dropped.sort();
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    assert!(
        dropped[0].starts_with("counter_rollups_r60_p"),
        "{dropped:?}"
    );
    assert!(dropped[1].starts_with("counter_samples_p"), "{dropped:?}");

    let remaining: Vec<(String, f64)> = sqlx::query_as(
        "select 'raw', count from counter_samples union all
         select 'rollup', count from counter_rollups order by 1",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        remaining,
        vec![("raw".to_owned(), 2.0), ("rollup".to_owned(), 4.0)]
    );
    for table in dropped {
        let exists: bool = sqlx::query_scalar("select to_regclass($1) is not null")
            .bind(&table)
            .fetch_one(&pool)
            .await?;
        assert!(!exists, "{table} still exists");
    }
    let defaults: i64 = sqlx::query_scalar(
        "select count(*) from pg_class where relname in ('counter_samples_default', 'counter_rollups_r60_default')",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(defaults, 2);
    // Nothing left to drop: running it again changes nothing.
    let again = drop_expired_partitions(
        &pool,
        &partitions,
        &retentions,
        sqlx::types::chrono::Utc::now(),
    )
    .await?;
    assert!(again.is_empty(), "{again:?}");
    pool.close().await;
    database.drop_database().await
}

#[tokio::test]
async fn default_partition_rows_are_kept_within_retention_and_deleted_past_it() -> anyhow::Result<()>
{
    let database = TestDatabase::create().await?;
    let pool = sqlx::PgPool::connect(&database.url).await?;
    abacus_storage_worker::store::MIGRATOR.run(&pool).await?;
    // Raw data kept 2 days, minute rollups 7 days.
    let retentions =
        StorageSchema::from(Retentions::parse("10s:2d,1m:7d").map_err(anyhow::Error::msg)?);
    sqlx::raw_sql(
        "insert into series (kind, name, first_seen, last_seen) values ('counter', 'c', now(), now());
         select abacus_ensure_resolution_partition('counter_rollups', 60);
         select abacus_ensure_partition('counter_samples', 'interval_start',
             date_trunc('day', now(), 'UTC'), date_trunc('day', now() + interval '1 day', 'UTC'));
         -- No day partition for five days ago nor ten days ahead: both rows go to the default.
         insert into counter_samples values
             (1, now() - interval '5 days', 'a', 10000, 1),
             (1, now(), 'a', 10000, 2),
             (1, now() + interval '10 days', 'a', 10000, 3);
         -- No rollup partition at all: both rows go to the resolution's default.
         insert into counter_rollups values
             (1, 60, date_trunc('minute', now() - interval '20 days'), 4),
             (1, 60, date_trunc('minute', now() - interval '3 days'), 5);",
    )
    .execute(&pool)
    .await?;
    let in_defaults: i64 = sqlx::query_scalar(
        "select (select count(*) from counter_samples_default)
              + (select count(*) from counter_rollups_r60_default)",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(
        in_defaults, 4,
        "the setup should put four rows in default partitions"
    );

    let now = sqlx::types::chrono::Utc::now();
    let partitions = PartitionCache::default();
    drop_expired_partitions(&pool, &partitions, &retentions, now).await?;
    let deleted = delete_expired_default_rows(&pool, &retentions, now).await?;
    assert_eq!(
        deleted, 2,
        "the raw row of 5 days ago and the rollup of 20 days ago"
    );
    let remaining: Vec<(String, f64)> = sqlx::query_as(
        "select 'raw', count from counter_samples union all
         select 'rollup', count from counter_rollups order by 1, 2",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        remaining,
        vec![
            ("raw".to_owned(), 2.0),
            ("raw".to_owned(), 3.0),
            ("rollup".to_owned(), 5.0)
        ]
    );

    // When the future day's partition is created, its row moves there and retention, run
    // again, keeps it.
    sqlx::query(
        "select abacus_ensure_partition('counter_samples', 'interval_start',
             date_trunc('day', now() + interval '10 days', 'UTC'),
             date_trunc('day', now() + interval '11 days', 'UTC'))",
    )
    .execute(&pool)
    .await?;
    drop_expired_partitions(&pool, &partitions, &retentions, now).await?;
    assert_eq!(
        delete_expired_default_rows(&pool, &retentions, now).await?,
        0
    );
    let (in_default, total): (i64, f64) = sqlx::query_as(
        "select (select count(*) from counter_samples_default),
                (select sum(count) from counter_samples)",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!((in_default, total), (0, 5.0));
    pool.close().await;
    database.drop_database().await
}
