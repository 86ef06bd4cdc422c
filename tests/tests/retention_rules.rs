//! Retention rules through the running services (issue 17), with statsd series:
//!
//! * a series is read from its rollups once its raw partitions are dropped, at the step of
//!   the level that still holds the range, as whisper picks an archive by the age of `from`;
//! * where rules overlap the first that matches decides, both for what the worker rolls up
//!   and for which rollup `/render` reads for each series;
//! * a rule's shorter retention deletes only the rows of the series it matches, at each
//!   resolution by its own retention, while the partitions stay for the longest.
//!
//! Batches are published straight to the stream with old windows, as an aggregator that was
//! cut off would publish them, so that no test waits for real minutes or hours to pass.

use abacus_proto::storage_schema::RetentionRuleSetting;
use abacus_proto::v1::{
    series_aggregate::Aggregate, CounterAggregate, FlushBatch, SeriesAggregate,
};
use abacus_storage_worker::config::Config as WorkerConfig;
use abacus_storage_worker::maintenance::drop_expired_partitions;
use abacus_storage_worker::partitions::PartitionCache;
use abacus_storage_worker::retentions::StorageSchema;
use abacus_tests::{start_storage_worker, Pipeline, PipelineSettings};
use prost::Message;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

fn fast_rollups(config: &mut WorkerConfig) {
    config.storage_worker.retentions = "10s:1d,1m:7d,1h:30d".into();
    config.storage_worker.rollup_delay = Duration::ZERO;
    config.storage_worker.rollup_interval = Duration::from_millis(500);
}

fn rule(glob: &str, retentions: &str) -> RetentionRuleSetting {
    RetentionRuleSetting {
        pattern: None,
        glob: Some(glob.into()),
        retentions: retentions.into(),
    }
}

/// One batch of `length_seconds` starting at `start`: a counter of 1 for each name.
fn counter_batch(sequence: u64, start: i64, length_seconds: i64, names: &[&str]) -> Vec<u8> {
    FlushBatch {
        schema_version: abacus_proto::SCHEMA_VERSION,
        aggregator_id: "retention-rules".into(),
        incarnation: 1,
        sequence,
        interval_start_unix_ms: start * 1_000,
        interval_length_ms: u32::try_from(length_seconds * 1_000).expect("a short window"),
        series: names
            .iter()
            .map(|name| SeriesAggregate {
                name: (*name).into(),
                tags: vec![],
                aggregate: Some(Aggregate::Counter(CounterAggregate { count: 1.0 })),
            })
            .collect(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Publishes a counter of 1 per name for every `length_seconds` of `[start, end)` and waits
/// until the worker has stored them and rolled them up at each of `resolutions` past `end`.
async fn publish_and_roll_up(
    pipeline: &Pipeline,
    (start, end): (i64, i64),
    length_seconds: i64,
    names: &[&str],
    resolutions: &[i32],
) -> anyhow::Result<()> {
    let payloads: Vec<Vec<u8>> = (0..(end - start) / length_seconds)
        .map(|index| {
            counter_batch(
                index as u64 + 1,
                start + index * length_seconds,
                length_seconds,
                names,
            )
        })
        .collect();
    let count = payloads.len() as u64;
    pipeline.publish_all_to_flush_subject(payloads).await?;
    pipeline.wait_until_worker_is_idle(count).await?;
    let mut database = pipeline.database_connection().await?;
    let deadline = Instant::now() + abacus_tests::PATIENCE * 2;
    loop {
        let rolled: Option<i64> = sqlx::query_scalar(
            "select min(extract(epoch from rolled_until))::bigint from rollup_watermarks
             where resolution_seconds = any($1)
             having count(*) = cardinality($1)",
        )
        .bind(resolutions)
        .fetch_optional(&mut database)
        .await?;
        // Every batch is late, so its keys are recomputed from the dirty queue: wait for it
        // to drain too.
        let pending: i64 = sqlx::query_scalar(
            "select (select count(*) from rollup_dirty) + (select count(*) from rollup_spans)",
        )
        .fetch_one(&mut database)
        .await?;
        if rolled.is_some_and(|rolled_until| rolled_until >= end) && pending == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not rolled up at {resolutions:?} s in time: {rolled:?}, {pending} pending"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Per series name: per rollup resolution, (rows, total count).
async fn counter_rollups(
    pipeline: &Pipeline,
) -> anyhow::Result<BTreeMap<String, Vec<(i32, i64, f64)>>> {
    let mut database = pipeline.database_connection().await?;
    let rows: Vec<(String, i32, i64, f64)> = sqlx::query_as(
        "select s.name, r.resolution_seconds, count(*), sum(r.count)
         from counter_rollups r join series s on s.id = r.series_id
         group by 1, 2 order by 1, 2",
    )
    .fetch_all(&mut database)
    .await?;
    let mut by_name: BTreeMap<String, Vec<(i32, i64, f64)>> = BTreeMap::new();
    for (name, resolution, rows, total) in rows {
        by_name
            .entry(name)
            .or_default()
            .push((resolution, rows, total));
    }
    Ok(by_name)
}

/// Raw counter rows per series name.
async fn raw_counter_rows_by_name(pipeline: &Pipeline) -> anyhow::Result<BTreeMap<String, i64>> {
    let mut database = pipeline.database_connection().await?;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "select s.name, count(*) from counter_samples c join series s on s.id = c.series_id group by 1",
    )
    .fetch_all(&mut database)
    .await?;
    Ok(rows.into_iter().collect())
}

async fn raw_counter_rows(pipeline: &Pipeline) -> anyhow::Result<i64> {
    let mut database = pipeline.database_connection().await?;
    Ok(sqlx::query_scalar("select count(*) from counter_samples")
        .fetch_one(&mut database)
        .await?)
}

/// The (value, time) points of the series named `name` in a render answer, nulls left out.
fn points_of(answer: &Value, name: &str) -> Vec<(f64, i64)> {
    answer
        .as_array()
        .and_then(|all| all.iter().find(|series| series["target"] == name))
        .and_then(|series| series["datapoints"].as_array())
        .map(|points| {
            points
                .iter()
                .filter_map(|point| Some((point[0].as_f64()?, point[1].as_i64()?)))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_series_is_read_from_its_rollups_once_its_raw_partitions_are_dropped(
) -> anyhow::Result<()> {
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_storage_worker = fast_rollups;
    let pipeline = Pipeline::start_with_settings(settings).await?;
    let now = chrono::Utc::now().timestamp();
    let start = now - now.rem_euclid(HOUR) - 2 * HOUR;
    let end = start + 30 * 60;
    // Thirty minutes of 10-second windows: six a minute.
    publish_and_roll_up(&pipeline, (start, end), 10, &["live.requests"], &[60]).await?;

    // Two days on, the upkeep drops the raw partitions (kept one day); the minute rollup
    // (kept a week) still holds the half hour.
    let two_days_on = now + 2 * DAY;
    let pool = sqlx::PgPool::connect(&pipeline.settings.database.url).await?;
    let schema = StorageSchema::from_settings(
        &pipeline
            .settings
            .storage_worker_config()
            .storage_worker
            .schema_settings(),
    )
    .map_err(|error| anyhow::anyhow!("{error}"))?;
    let dropped = drop_expired_partitions(
        &pool,
        &PartitionCache::default(),
        &schema,
        chrono::DateTime::from_timestamp(two_days_on, 0).unwrap(),
    )
    .await?;
    assert!(!dropped.is_empty(), "no partition dropped");
    assert_eq!(raw_counter_rows(&pipeline).await?, 0, "raw rows left");

    // Asked as of two days on, with no maxDataPoints: the range is older than the raw
    // retention, so it is read from the minute rollup at its step, every minute whole.
    let name = "stats.counters.live.requests.count";
    let path = format!(
        "/render?target={name}&from={}&until={}&now={two_days_on}&format=json",
        start - 1,
        end - 1
    );
    let (status, answer) = pipeline.get_json(&path).await?;
    assert_eq!(status, 200, "{answer}");
    let expected: Vec<(f64, i64)> = (0..30).map(|minute| (6.0, start + minute * 60)).collect();
    assert_eq!(points_of(&answer, name), expected, "{path}: {answer}");
    pipeline.stop().await
}

fn overlapping_rules(config: &mut WorkerConfig) {
    fast_rollups(config);
    config.storage_worker.retention_rules = vec![
        rule("keep.long.*", "10s:1d,1h:30d"),
        // A glob's `*` is one node, as in Graphite: this matches keep.long.a too.
        rule("keep.*.*", "10s:1d,1m:7d"),
    ];
}

#[tokio::test]
async fn where_rules_overlap_the_first_match_decides_what_is_rolled_up_and_read(
) -> anyhow::Result<()> {
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_storage_worker = overlapping_rules;
    let pipeline = Pipeline::start_with_settings(settings).await?;
    let now = chrono::Utc::now().timestamp();
    let hour_start = now - now.rem_euclid(HOUR) - 3 * HOUR;
    let hour_end = hour_start + HOUR;
    let names = ["keep.long.a", "keep.short.b", "other.c"];
    publish_and_roll_up(&pipeline, (hour_start, hour_end), 60, &names, &[60, 3_600]).await?;

    // keep.long.a matches both rules: the first (hours only) decides. keep.short.b the
    // second (minutes only). other.c neither: the default (both).
    let rollups = counter_rollups(&pipeline).await?;
    let expected: BTreeMap<String, Vec<(i32, i64, f64)>> = [
        ("keep.long.a", vec![(3_600, 1, 60.0)]),
        ("keep.short.b", vec![(60, 60, 60.0)]),
        ("other.c", vec![(60, 60, 60.0), (3_600, 1, 60.0)]),
    ]
    .into_iter()
    .map(|(name, rows)| (name.to_owned(), rows))
    .collect();
    assert_eq!(rollups, expected);

    // Past their raw retention only the rollups are left; one bucket of the hour reads each
    // series from its own rule's rollup.
    let mut database = pipeline.database_connection().await?;
    sqlx::query("delete from counter_samples")
        .execute(&mut database)
        .await?;
    let targets: Vec<String> = names
        .iter()
        .map(|name| format!("target=stats.counters.{name}.count"))
        .collect();
    let path = format!(
        "/render?{}&from={}&until={}&maxDataPoints=1&format=json",
        targets.join("&"),
        hour_start - 1,
        hour_end - 1
    );
    let (status, answer) = pipeline.get_json(&path).await?;
    assert_eq!(status, 200, "{answer}");
    for name in names {
        assert_eq!(
            points_of(&answer, &format!("stats.counters.{name}.count")),
            vec![(60.0, hour_start)],
            "{name}: {answer}"
        );
    }
    pipeline.stop().await
}

/// The worker that stores and rolls up first: raw rows kept three days, no rules.
fn three_days_raw(config: &mut WorkerConfig) {
    fast_rollups(config);
    config.storage_worker.retentions = "10s:3d,1m:7d,1h:30d".into();
}

fn brief_rule() -> Vec<RetentionRuleSetting> {
    vec![rule("brief.*", "10s:1d,1m:2d,1h:3d")]
}

#[tokio::test]
async fn a_rule_expires_only_the_rows_of_the_series_it_matches() -> anyhow::Result<()> {
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_storage_worker = three_days_raw;
    // The API reads with the rule from the start; the worker gets it at its restart below,
    // as when an operator adds a rule to the file both services read.
    settings.adjust_api = |config| config.storage_worker.retention_rules = brief_rule();
    let mut pipeline = Pipeline::start_with_settings(settings).await?;
    // An hour two and a half days old: within the raw retention the first worker has (3
    // days), past brief's raw (1 day) and minute (2 days) retentions, within its hour one.
    let now = chrono::Utc::now().timestamp();
    let hour_start = now - now.rem_euclid(HOUR) - 60 * HOUR;
    let hour_end = hour_start + HOUR;
    let names = ["brief.x", "lasting.y"];
    // This worker's upkeep ran at its start and next runs in ten minutes.
    publish_and_roll_up(&pipeline, (hour_start, hour_end), 60, &names, &[60, 3_600]).await?;
    let both = vec![(60, 60, 60.0), (3_600, 1, 60.0)];
    let rollups = counter_rollups(&pipeline).await?;
    assert_eq!(rollups.get("brief.x"), Some(&both));
    assert_eq!(rollups.get("lasting.y"), Some(&both));

    // A worker with the rule, whose upkeep runs every second, takes over.
    pipeline
        .storage_worker
        .take()
        .expect("the pipeline runs a worker")
        .stop()
        .await?;
    let mut config = pipeline.settings.storage_worker_config();
    config.storage_worker.retention_rules = brief_rule();
    config.storage_worker.maintenance_interval = Duration::from_secs(1);
    let (_, worker) = start_storage_worker(config).await?;
    pipeline.storage_worker = Some(worker);
    let deadline = Instant::now() + abacus_tests::PATIENCE * 2;
    let (rollups, raw) = loop {
        let rollups = counter_rollups(&pipeline).await?;
        let raw = raw_counter_rows_by_name(&pipeline).await?;
        if rollups.get("brief.x").map(Vec::len) == Some(1) && !raw.contains_key("brief.x") {
            break (rollups, raw);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "upkeep did not expire brief.x: {rollups:?}, raw rows {raw:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // brief.x lost its raw rows and its minutes; lasting.y lost nothing.
    assert_eq!(rollups.get("brief.x"), Some(&vec![(3_600, 1, 60.0)]));
    assert_eq!(rollups.get("lasting.y"), Some(&both));
    assert_eq!(raw.get("lasting.y"), Some(&60));

    // Read as whisper would: each series at the finest level its own rule keeps for that
    // age, lasting.y from its raw rows, brief.x from its hour rollup.
    let path = format!(
        "/render?target=stats.counters.brief.x.count&target=stats.counters.lasting.y.count\
         &from={}&until={}&format=json",
        hour_start - 1,
        hour_end - 1
    );
    let (status, answer) = pipeline.get_json(&path).await?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        points_of(&answer, "stats.counters.brief.x.count"),
        vec![(60.0, hour_start)],
        "{answer}"
    );
    let minutes: Vec<(f64, i64)> = (0..60)
        .map(|minute| (1.0, hour_start + minute * 60))
        .collect();
    assert_eq!(
        points_of(&answer, "stats.counters.lasting.y.count"),
        minutes,
        "{answer}"
    );
    pipeline.stop().await
}
