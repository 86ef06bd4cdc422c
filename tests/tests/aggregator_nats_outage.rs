//! NATS going away does not lose data: while a private nats-server is down the aggregator keeps
//! receiving, holds its finished batches, and publishes every one of them, in sequence order
//! and exactly once, when the server is back.

use abacus_proto::v1::FlushBatch;
use abacus_tests::servers::PrivateNats;
use abacus_tests::{counter_total, AggregatorUnderTest};
use std::time::Duration;

/// The sequences of the batches read, in stream order.
fn sequences(batches: &[FlushBatch]) -> Vec<u64> {
    batches.iter().map(|batch| batch.sequence).collect()
}

#[tokio::test]
async fn batches_held_during_an_outage_arrive_once_and_in_order() -> anyhow::Result<()> {
    let mut nats = PrivateNats::start().await?;
    let url = nats.url();
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |config| {
        config.nats.url = url;
        config.aggregator.shutdown_publish_timeout = Duration::from_secs(20);
    })
    .await?;
    let mut reader = aggregator.batch_reader().await?;

    aggregator.send_statsd("outage.sent:1|c").await?;
    reader
        .wait_for("the count sent before the outage", |batches| {
            counter_total(batches, "outage.sent") >= 1.0
        })
        .await?;

    nats.stop()?;
    // Spread over several flush intervals, so several batches wait for NATS.
    let sent_during_outage = 30;
    for _ in 0..sent_during_outage {
        aggregator.send_statsd("outage.sent:1|c").await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    nats.start_again().await?;
    aggregator.send_statsd("outage.sent:1|c").await?;

    let expected = f64::from(sent_during_outage + 2);
    let batches = reader
        .wait_for("every count, after the outage", |batches| {
            counter_total(batches, "outage.sent") >= expected
        })
        .await?;
    assert_eq!(counter_total(&batches, "outage.sent"), expected);
    let sequences = sequences(&batches);
    let in_order: Vec<u64> = (1..=sequences.len() as u64).collect();
    assert_eq!(
        sequences, in_order,
        "every batch once, in sequence order, none lost"
    );
    assert!(
        batches.len() >= 3,
        "the outage spanned several flushes: {sequences:?}"
    );
    aggregator.stop().await?;
    nats.stop()
}
