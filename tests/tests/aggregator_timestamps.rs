//! DogStatsD `|T` timestamps: a sample lands in the interval of its timestamp, even when that
//! window is already closed, and one older than `max_timestamp_lag` is dropped.

use abacus_proto::v1::series_aggregate::Aggregate;
use abacus_tests::{counter_total, AggregatorUnderTest};
use std::time::Duration;

#[tokio::test]
async fn a_timestamped_sample_lands_in_the_batch_of_its_interval() -> anyhow::Result<()> {
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |config| {
        config.aggregator.max_timestamp_lag = Duration::from_secs(600);
    })
    .await?;
    let mut reader = aggregator.batch_reader().await?;
    let now_seconds = abacus_aggregator::flush::unix_now_ms() / 1000;
    let a_minute_ago = now_seconds - 60;
    let two_hours_ago = now_seconds - 7200;
    aggregator
        .send_statsd(&format!(
            "late:100|c|T{two_hours_ago}\n\
             late:1|c|T{a_minute_ago}\n\
             late:2|c\n\
             level:7|g|T{a_minute_ago}"
        ))
        .await?;
    let batches = reader
        .wait_for("the late and the current sample", |batches| {
            counter_total(batches, "late") >= 3.0
        })
        .await?;
    assert_eq!(
        counter_total(&batches, "late"),
        3.0,
        "the sample older than max_timestamp_lag is dropped: {batches:?}"
    );
    let late_batch = batches
        .iter()
        .find(|batch| batch.interval_start_unix_ms == a_minute_ago * 1000)
        .expect("a batch for the interval a minute ago");
    assert_eq!(counter_total(std::slice::from_ref(late_batch), "late"), 1.0);
    assert!(
        late_batch.series.iter().any(|series| series.name == "level"
            && matches!(series.aggregate, Some(Aggregate::Gauge(ref gauge)) if gauge.value == 7.0)),
        "{late_batch:?}"
    );
    let current_batch = batches
        .iter()
        .find(|batch| counter_total(std::slice::from_ref(batch), "late") == 2.0)
        .expect("a batch with the untimestamped sample");
    assert!(current_batch.interval_start_unix_ms > late_batch.interval_start_unix_ms);
    let mut sequences: Vec<u64> = batches.iter().map(|batch| batch.sequence).collect();
    sequences.dedup();
    assert_eq!(
        sequences.len(),
        batches.len(),
        "each batch its own sequence"
    );
    aggregator.stop().await
}
