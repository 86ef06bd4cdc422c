//! Retention and aggregation rules through the running services (issue 17): a bad rule stops
//! the storage worker and the API at start-up with one line naming it, and a point older than
//! every retention of its series is refused and counted on the worker's `/metrics`.

use abacus_proto::storage_schema::RetentionRuleSetting;
use abacus_proto::v1::{FlushBatch, RawPoint};
use abacus_tests::{
    prometheus_value, start_storage_worker, wait_until_consumer_is_idle, PipelineSettings,
};
use prost::Message;
use std::time::Duration;

fn broken_rules() -> Vec<RetentionRuleSetting> {
    vec![
        RetentionRuleSetting {
            pattern: Some("^fine\\.".into()),
            glob: None,
            retentions: "10s:1d,1m:30d".into(),
        },
        RetentionRuleSetting {
            pattern: Some("^broken(".into()),
            glob: None,
            retentions: "10s:1d".into(),
        },
    ]
}

#[tokio::test]
async fn a_bad_rule_stops_the_worker_and_the_api_at_start_up_naming_it() -> anyhow::Result<()> {
    let settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    let mut worker_config = settings.storage_worker_config();
    worker_config.storage_worker.retention_rules = broken_rules();
    let mut api_config = settings.api_config();
    api_config.storage_worker.retention_rules = broken_rules();

    let (_, worker) = start_storage_worker(worker_config).await?;
    let worker_error = worker
        .stop()
        .await
        .expect_err("the worker refuses the rule")
        .to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_error = abacus_api::run(api_config, listener, std::future::pending())
        .await
        .expect_err("the api refuses the rule")
        .to_string();
    for (service, error) in [("worker", worker_error), ("api", api_error)] {
        assert_eq!(error.lines().count(), 1, "{service}: {error}");
        assert!(
            error.contains("`storage_worker.retention_rules` rule 2 (pattern \"^broken(\")"),
            "{service}: {error}"
        );
    }
    settings.database.drop_database().await
}

#[tokio::test]
async fn a_point_older_than_every_retention_is_counted_and_not_stored() -> anyhow::Result<()> {
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_storage_worker = |config| {
        config.storage_worker.retention_rules = vec![RetentionRuleSetting {
            pattern: Some("^short\\.".into()),
            glob: None,
            retentions: "10s:1d,1m:30d".into(),
        }];
    };
    let config = settings.storage_worker_config();
    let consumer = config.storage_worker.consumer.clone();
    let (admin, worker) = start_storage_worker(config).await?;

    // 40 days old: past every retention of `short.*` (30 days), within the default's (5 years).
    let now_ms = chrono::Utc::now().timestamp_millis();
    let old_ms = now_ms - 40 * 86_400_000;
    let point = |name: &str| RawPoint {
        name: name.into(),
        tags: Vec::new(),
        timestamp_unix_ms: old_ms,
        value: 1.5,
    };
    let batch = FlushBatch {
        schema_version: abacus_proto::SCHEMA_VERSION,
        aggregator_id: "too-old-test".into(),
        incarnation: 1,
        sequence: 1,
        interval_start_unix_ms: now_ms - now_ms % 1_000,
        interval_length_ms: 1_000,
        points: vec![point("short.latency"), point("long.latency")],
        ..Default::default()
    };
    let client = abacus_proto::stream::connect(&settings.nats).await?;
    let context = async_nats::jetstream::new(client);
    abacus_proto::stream::ensure_stream(&context, &settings.nats).await?;
    context
        .publish(
            abacus_proto::stream::flush_subject(&settings.nats),
            batch.encode_to_vec().into(),
        )
        .await?
        .await?;
    wait_until_consumer_is_idle(&settings.nats, &consumer, 1).await?;

    let metrics = reqwest::get(format!("{admin}/metrics"))
        .await?
        .text()
        .await?;
    assert_eq!(
        prometheus_value(&metrics, "abacus_storage_points_too_old_total"),
        Some(1.0),
        "{metrics}"
    );
    let pool = sqlx::PgPool::connect(&settings.database.url).await?;
    let stored: Vec<(String, i64)> = sqlx::query_as(
        "select s.name, (select count(*) from raw_points p where p.series_id = s.id)
                      + (select count(*) from point_rollups r where r.series_id = s.id)
         from series s order by s.name",
    )
    .fetch_all(&pool)
    .await?;
    // The long-kept one landed in a rollup (and the coarser bucket above it once rolled up).
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].0, "long.latency");
    assert!(stored[0].1 >= 1, "{stored:?}");
    pool.close().await;

    worker.stop().await?;
    abacus_tests::delete_test_stream(&settings.nats).await?;
    settings.database.drop_database().await
}
