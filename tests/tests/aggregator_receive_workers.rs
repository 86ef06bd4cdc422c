//! Several statsd receive workers (the harness binds two `SO_REUSEPORT` sockets on one port):
//! many senders are spread over them by the kernel, and what the workers aggregated apart is
//! merged exactly at each window end — counters and timer counts add, and
//! gauge deltas from every sender apply to one remembered value, across windows too.

use abacus_proto::v1::{series_aggregate::Aggregate, FlushBatch};
use abacus_tests::{counter_total, AggregatorUnderTest};
use std::time::Duration;

/// Distinct source sockets: with two workers, all of them landing on one socket has a chance
/// of 2^-63.
const SENDERS: u32 = 64;

fn timer_count(batches: &[FlushBatch], name: &str) -> f64 {
    batches
        .iter()
        .flat_map(|batch| &batch.series)
        .filter(|series| series.name == name)
        .filter_map(|series| match &series.aggregate {
            Some(Aggregate::Timer(timer)) => Some(timer.count),
            _ => None,
        })
        .sum()
}

/// The gauge's value in the last batch (by sequence) that has it.
fn latest_gauge(batches: &[FlushBatch], name: &str) -> Option<f64> {
    let mut with_gauge: Vec<(u64, f64)> = batches
        .iter()
        .flat_map(|batch| {
            batch.series.iter().filter_map(move |series| {
                match (&series.aggregate, series.name == name) {
                    (Some(Aggregate::Gauge(gauge)), true) => Some((batch.sequence, gauge.value)),
                    _ => None,
                }
            })
        })
        .collect();
    with_gauge.sort_by_key(|(sequence, _)| *sequence);
    with_gauge.last().map(|(_, value)| *value)
}

#[tokio::test]
async fn what_several_workers_received_is_merged_exactly() -> anyhow::Result<()> {
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |_| {}).await?;
    let mut reader = aggregator.batch_reader().await?;
    aggregator.send_statsd("level:100|g").await?;
    reader
        .wait_for("the gauge's first value", |batches| {
            latest_gauge(batches, "level") == Some(100.0)
        })
        .await?;
    for sender in 0..SENDERS {
        // Each call sends from a fresh socket, so a new source port.
        aggregator
            .send_statsd(&format!(
                "spread:1|c\nspread.latency:{sender}|ms\nspread.users:u{}|s\nlevel:+1|g",
                sender % 8
            ))
            .await?;
    }
    let expected_level = 100.0 + f64::from(SENDERS);
    let batches = reader
        .wait_for("every sender's lines", |batches| {
            counter_total(batches, "spread") >= f64::from(SENDERS)
                && latest_gauge(batches, "level") == Some(expected_level)
        })
        .await?;
    assert_eq!(counter_total(&batches, "spread"), f64::from(SENDERS));
    assert_eq!(timer_count(&batches, "spread.latency"), f64::from(SENDERS));
    assert_eq!(latest_gauge(&batches, "level"), Some(expected_level));
    aggregator.stop().await
}
