//! Time partitioning of the sample tables, against the real PostgreSQL and NATS: an existing
//! install's rows survive the migration to partitioned tables, and a batch's rows land in the
//! day partition of their time (created on demand), or in the default partition when their
//! time is outside the window partitions are kept for.

use abacus_proto::v1::{series_aggregate::Aggregate, CounterAggregate, RawPoint};
use abacus_tests::{single_series_batch, Pipeline, TestDatabase};
use prost::Message;
use sqlx::{Connection, PgConnection};
use std::time::Duration;

/// The version of the last migration before partitioning.
const LAST_UNPARTITIONED_VERSION: &str = "20261122000004";

#[tokio::test]
async fn rows_of_an_unpartitioned_install_survive_the_migration() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let mut connection = PgConnection::connect(&database.url).await?;

    // Apply the migrations as an older release did, from a copy of their files.
    let old_migrations = std::env::temp_dir().join(format!(
        "abacus-old-migrations-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&old_migrations)?;
    let source =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../storage-worker/migrations");
    for entry in std::fs::read_dir(&source)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name
            .get(..14)
            .is_some_and(|version| version <= LAST_UNPARTITIONED_VERSION)
        {
            std::fs::copy(&path, old_migrations.join(&name))?;
        }
    }
    sqlx::migrate::Migrator::new(old_migrations.as_path())
        .await?
        .run(&mut connection)
        .await?;
    std::fs::remove_dir_all(&old_migrations)?;

    sqlx::raw_sql(
        "insert into series (kind, name, first_seen, last_seen) values
             ('counter', 'c', now(), now()), ('gauge', 'g', now(), now()),
             ('timer', 't', now(), now()), ('set', 's', now(), now()), ('raw', 'r', now(), now());
         insert into counter_samples values
             (1, '2026-01-01 10:00:00+00', 'a', 10000, 2), (1, '2026-01-02 23:59:50+00', 'a', 10000, 3);
         insert into gauge_samples (series_id, interval_start, source, interval_ms, value) values
             (2, '2026-01-01 10:00:00+00', 'a', 10000, 1.5);
         insert into timer_samples values
             (3, '2026-01-02 00:00:00+00', 'a', 10000, 1, 2, 4, 2, 2, '\\x01');
         insert into set_samples values (4, '2026-01-03 00:00:00+00', 'a', 10000, '\\x02');
         insert into raw_points (series_id, point_time, source, value) values
             (5, '2025-12-31 23:59:59+00', 'a', 7);",
    )
    .execute(&mut connection)
    .await?;

    abacus_storage_worker::store::MIGRATOR
        .run(&mut connection)
        .await?;

    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "select 'counter', tableoid::regclass::text, count::bigint from counter_samples
         union all select 'gauge', tableoid::regclass::text, (value * 10)::bigint from gauge_samples
         union all select 'timer', tableoid::regclass::text, sum::bigint from timer_samples
         union all select 'set', tableoid::regclass::text, length(sketch)::bigint from set_samples
         union all select 'raw', tableoid::regclass::text, value::bigint from raw_points
         order by 1, 2",
    )
    .fetch_all(&mut connection)
    .await?;
    let expected = [
        ("counter", "counter_samples_p20260101", 2),
        ("counter", "counter_samples_p20260102", 3),
        ("gauge", "gauge_samples_p20260101", 15),
        ("raw", "raw_points_p20251231", 7),
        ("set", "set_samples_p20260103", 1),
        ("timer", "timer_samples_p20260102", 2),
    ];
    let expected: Vec<(String, String, i64)> = expected
        .iter()
        .map(|(kind, partition, value)| (kind.to_string(), partition.to_string(), *value))
        .collect();
    assert_eq!(rows, expected);
    let partitioned: Vec<String> = sqlx::query_scalar(
        "select relname::text from pg_class where relkind = 'p' and relname like '%_samples'
         or relkind = 'p' and relname = 'raw_points' order by 1",
    )
    .fetch_all(&mut connection)
    .await?;
    assert_eq!(
        partitioned,
        [
            "counter_samples",
            "gauge_samples",
            "raw_points",
            "set_samples",
            "timer_samples"
        ]
    );
    connection.close().await?;
    database.drop_database().await
}

#[tokio::test]
async fn batches_land_in_day_partitions_created_on_demand() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(Duration::from_secs(1)).await?;
    let mut batch = single_series_batch(
        "producer",
        1,
        "partitioned",
        Aggregate::Counter(CounterAggregate { count: 4.0 }),
    );
    batch.points = vec![RawPoint {
        name: "from.long.ago".into(),
        tags: vec![],
        // 2023: far outside the raw retention, so no partition is created for it.
        timestamp_unix_ms: 1_700_000_000_000,
        value: 1.0,
    }];
    pipeline
        .publish_to_flush_subject(batch.encode_to_vec())
        .await?;
    pipeline.wait_until_worker_is_idle(1).await?;

    let mut database = pipeline.database_connection().await?;
    let (partition, expected): (String, String) = sqlx::query_as(
        "select tableoid::regclass::text,
                'counter_samples_p' || to_char(interval_start at time zone 'UTC', 'YYYYMMDD')
         from counter_samples",
    )
    .fetch_one(&mut database)
    .await?;
    assert_eq!(partition, expected);
    // No day partition is made for a day past retention: the point goes to the default
    // partition, where maintenance deletes it as past retention (its first run races with
    // this batch, so the point may already be gone, but never in a partition of its own).
    let point_partitions: Vec<String> =
        sqlx::query_scalar("select tableoid::regclass::text from raw_points")
            .fetch_all(&mut database)
            .await?;
    assert!(
        point_partitions
            .iter()
            .all(|partition| partition == "raw_points_default"),
        "{point_partitions:?}"
    );
    let day_partitions: i64 = sqlx::query_scalar(
        "select count(*) from pg_inherits i join pg_class c on c.oid = i.inhrelid
         where i.inhparent = 'raw_points'::regclass and c.relname = 'raw_points_p20231114'",
    )
    .fetch_one(&mut database)
    .await?;
    assert_eq!(day_partitions, 0, "no partition for a day past retention");
    pipeline.stop().await
}
