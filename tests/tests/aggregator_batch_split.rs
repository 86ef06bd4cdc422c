//! A window bigger than NATS accepts in one message is published as several batches that
//! together hold every series exactly once: the publisher is never left retrying a message the
//! server will always refuse, and nothing is lost.

use abacus_proto::v1::series_aggregate::Aggregate;
use abacus_tests::servers::PrivateNats;
use abacus_tests::{counter_total, wait_until_aggregator_counted, AggregatorUnderTest};
use std::collections::BTreeSet;
use std::time::Duration;

const MAX_PAYLOAD_BYTES: usize = 16 * 1024;
const COUNTERS: usize = 3_000;
const LINES_PER_DATAGRAM: usize = 50;

#[tokio::test]
async fn a_window_larger_than_the_max_payload_is_split_into_batches_that_all_arrive(
) -> anyhow::Result<()> {
    let nats = PrivateNats::start_with_max_payload(MAX_PAYLOAD_BYTES).await?;
    let url = nats.url();
    // One long window, so every counter is in the same window and only splitting can make
    // several batches of it.
    let mut aggregator = AggregatorUnderTest::start(Duration::from_secs(3600), |config| {
        config.nats.url = url;
    })
    .await?;
    let mut reader = aggregator.batch_reader().await?;

    let lines: Vec<String> = (0..COUNTERS)
        .map(|index| format!("split.counter_number_{index:05}:2|c"))
        .collect();
    for datagram in lines.chunks(LINES_PER_DATAGRAM) {
        aggregator.send_statsd(&datagram.join("\n")).await?;
        // Loopback UDP drops nothing at this pace, so the count below is exact.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Every line is in the windows before shutdown flushes them.
    wait_until_aggregator_counted(
        aggregator.addresses.admin,
        "abacus_aggregator_metrics_received_total",
        COUNTERS as f64,
    )
    .await?;
    // Stopping flushes the window; the stream stays until the end of the test.
    aggregator
        .service
        .take()
        .expect("the aggregator is running")
        .stop()
        .await?;
    let batches = reader.read_new().await?.to_vec();
    assert!(
        batches.len() >= 3,
        "{} counters of ~40 bytes cannot fit in {MAX_PAYLOAD_BYTES} bytes: {} batches",
        COUNTERS,
        batches.len()
    );
    let window_starts: BTreeSet<i64> = batches
        .iter()
        .map(|batch| batch.interval_start_unix_ms)
        .collect();
    assert_eq!(window_starts.len(), 1, "all parts are of one window");
    let sequences: Vec<u64> = batches.iter().map(|batch| batch.sequence).collect();
    assert_eq!(sequences, (1..=batches.len() as u64).collect::<Vec<_>>());
    let names: BTreeSet<&str> = batches
        .iter()
        .flat_map(|batch| &batch.series)
        .filter(|series| matches!(series.aggregate, Some(Aggregate::Counter(_))))
        .map(|series| series.name.as_str())
        .collect();
    assert_eq!(names.len(), COUNTERS, "every series once");
    let series_total: usize = batches.iter().map(|batch| batch.series.len()).sum();
    assert_eq!(series_total, COUNTERS, "no series in two parts");
    let total: f64 = (0..COUNTERS)
        .map(|index| counter_total(&batches, &format!("split.counter_number_{index:05}")))
        .sum();
    assert_eq!(total, 2.0 * COUNTERS as f64);
    abacus_tests::delete_test_stream(&aggregator.config.nats).await
}
