//! The storage worker under faults, against real servers: a PostgreSQL outage and a NATS outage
//! in the middle of a stream of batches (on private servers the test stops and restarts), and
//! two workers sharing one durable consumer. Afterwards the stored totals must equal what was
//! published, exactly: nothing lost, nothing counted twice. The worker's `/readyz` says 503
//! while PostgreSQL is away and 200 once it is back, and its `/metrics` count every batch.

use abacus_proto::settings::NatsSettings;
use abacus_proto::v1::{series_aggregate::Aggregate, CounterAggregate};
use abacus_storage_worker::config::Config;
use abacus_tests::servers::{PrivateNats, PrivatePostgres};
use abacus_tests::{single_series_batch, start_storage_worker, unique_nats_settings, TestDatabase};
use anyhow::{bail, Context};
use prost::Message;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Batches per test; batch `i` counts `i`, so a lost or doubled batch changes the total.
const BATCHES: u64 = 300;
const COUNTER: &str = "faults.counted";
/// How long the whole stream may take to be stored once the fault is over.
const PATIENCE: Duration = Duration::from_secs(120);

fn expected_total() -> f64 {
    (BATCHES * (BATCHES + 1) / 2) as f64
}

/// A worker configuration that notices a fault and recovers quickly, so the test is short.
fn worker_config(nats: NatsSettings, database_url: String) -> Config {
    let mut config = Config {
        nats,
        ..Default::default()
    };
    config.database.url = database_url;
    config.database.max_connections = 4;
    config.database.acquire_timeout = Duration::from_secs(1);
    config.storage_worker.max_retry_delay = Duration::from_millis(500);
    // A batch stored while NATS is away cannot be acknowledged; it comes back after this.
    config.storage_worker.ack_wait = Duration::from_secs(3);
    // The test counts the batches stored exactly; the worker's own self-metrics batches
    // would be among them.
    config.storage_worker.publish_self_metrics = false;
    config
}

/// Polls the worker's `/readyz` until it answers `status`.
async fn wait_for_readiness(admin_url: &str, status: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(response) = reqwest::get(format!("{admin_url}/readyz")).await {
            if response.status().as_u16() == status {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            bail!("/readyz did not answer {status} in time");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One value of the worker's `/metrics`.
async fn metric(admin_url: &str, name: &str) -> anyhow::Result<u64> {
    let text = reqwest::get(format!("{admin_url}/metrics"))
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .with_context(|| format!("no {name} in /metrics:\n{text}"))
}

/// Publishes the test's batches one after the other, each retried until JetStream has
/// acknowledged it (NATS may be down for a while: a retry may store a second copy, which the
/// worker must recognize). `published` counts the acknowledged ones.
async fn publish_batches(nats: NatsSettings, published: Arc<AtomicU64>) -> anyhow::Result<()> {
    let client = abacus_proto::stream::connect(&nats).await?;
    let context = async_nats::jetstream::new(client);
    let subject = abacus_proto::stream::flush_subject(&nats);
    let deadline = Instant::now() + PATIENCE;
    for sequence in 1..=BATCHES {
        let batch = single_series_batch(
            "fault-producer",
            sequence,
            COUNTER,
            Aggregate::Counter(CounterAggregate {
                count: sequence as f64,
            }),
        );
        let payload = batch.encode_to_vec();
        loop {
            let attempt = async {
                context
                    .publish(subject.clone(), payload.clone().into())
                    .await?
                    .await?;
                anyhow::Ok(())
            };
            match attempt.await {
                Ok(()) => break,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => return Err(error.context(format!("publishing batch {sequence}"))),
            }
        }
        published.store(sequence, Ordering::SeqCst);
        // Spread the batches out so that the fault falls in the middle of the stream.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Polls until the worker has stored `at_least` batches.
async fn wait_until_stored(url: &str, at_least: i64) -> anyhow::Result<()> {
    abacus_tests::wait_until_batches_stored(url, at_least, PATIENCE).await
}

/// Waits until every batch was stored and the consumer has nothing pending or unacknowledged,
/// then checks the stored total exactly.
async fn assert_totals_exact(
    nats: &NatsSettings,
    consumer: &str,
    database_url: &str,
) -> anyhow::Result<()> {
    abacus_tests::assert_counter_stored_exactly_once(
        nats,
        consumer,
        database_url,
        COUNTER,
        BATCHES as i64,
        expected_total(),
        PATIENCE,
    )
    .await
}

async fn delete_stream(nats: &NatsSettings) -> anyhow::Result<()> {
    let client = abacus_proto::stream::connect(nats).await?;
    async_nats::jetstream::new(client)
        .delete_stream(&nats.stream)
        .await
        .context("cannot delete the test stream")?;
    Ok(())
}

#[tokio::test]
async fn a_postgresql_outage_mid_stream_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let mut postgres = PrivatePostgres::start().await?;
    let nats = unique_nats_settings();
    let database_url = postgres.url("postgres");
    let config = worker_config(nats.clone(), database_url.clone());
    let consumer = config.storage_worker.consumer.clone();
    let (admin_url, worker) = start_storage_worker(config).await?;

    let published = Arc::new(AtomicU64::new(0));
    let publisher = tokio::spawn(publish_batches(nats.clone(), published.clone()));
    wait_until_stored(&database_url, 20).await?;
    wait_for_readiness(&admin_url, 200).await?;
    postgres.stop()?;
    // Several seconds without a database while batches keep arriving; the worker notices.
    wait_for_readiness(&admin_url, 503).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    postgres.start_again().await?;
    wait_for_readiness(&admin_url, 200).await?;
    publisher.await??;
    assert!(
        published.load(Ordering::SeqCst) == BATCHES,
        "every batch was published"
    );

    assert_totals_exact(&nats, &consumer, &database_url).await?;
    // Not exact: a commit cut off by the shutdown may have happened without the worker
    // hearing so; the batch then comes back as a duplicate.
    assert!(metric(&admin_url, "abacus_storage_batches_stored_total").await? <= BATCHES);
    assert!(metric(&admin_url, "abacus_storage_store_retries_total").await? > 0);
    worker.stop().await?;
    delete_stream(&nats).await
}

#[tokio::test]
async fn a_nats_outage_mid_stream_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let mut nats_server = PrivateNats::start().await?;
    let nats = NatsSettings {
        url: nats_server.url(),
        ..unique_nats_settings()
    };
    let database = TestDatabase::create().await?;
    let config = worker_config(nats.clone(), database.url.clone());
    let consumer = config.storage_worker.consumer.clone();
    let (_, worker) = start_storage_worker(config).await?;

    let published = Arc::new(AtomicU64::new(0));
    let publisher = tokio::spawn(publish_batches(nats.clone(), published.clone()));
    wait_until_stored(&database.url, 20).await?;
    nats_server.stop()?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    nats_server.start_again().await?;
    publisher.await??;

    assert_totals_exact(&nats, &consumer, &database.url).await?;
    worker.stop().await?;
    database.drop_database().await
}

#[tokio::test]
async fn two_workers_on_one_consumer_store_every_batch_once() -> anyhow::Result<()> {
    let nats = unique_nats_settings();
    let database = TestDatabase::create().await?;
    let config = worker_config(nats.clone(), database.url.clone());
    let consumer = config.storage_worker.consumer.clone();
    let (first_admin_url, first) = start_storage_worker(config.clone()).await?;
    let (second_admin_url, second) = start_storage_worker(config).await?;

    let published = Arc::new(AtomicU64::new(0));
    publish_batches(nats.clone(), published).await?;

    assert_totals_exact(&nats, &consumer, &database.url).await?;
    // Each batch was stored by exactly one of them. (Which one did how many is up to
    // JetStream's scheduling, so that both did some is not asserted.)
    let stored_by = |admin_url| metric(admin_url, "abacus_storage_batches_stored_total");
    assert_eq!(
        stored_by(&first_admin_url).await? + stored_by(&second_admin_url).await?,
        BATCHES
    );
    first.stop().await?;
    second.stop().await?;
    delete_stream(&nats).await?;
    database.drop_database().await
}
