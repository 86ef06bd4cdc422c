//! Gauges survive an aggregator restart: a delta sent after the restart applies to the value the
//! gauge had before it (etsy statsd semantics, which etsy itself loses on restart), because the
//! aggregator checkpoints its gauges in a JetStream key-value bucket and reads them back.

use abacus_proto::v1::{series_aggregate::Aggregate, FlushBatch};
use abacus_tests::AggregatorUnderTest;
use std::collections::BTreeMap;
use std::time::Duration;

const GAUGES: usize = 300;
const LINES_PER_DATAGRAM: usize = 30;

/// The gauge values in the batches of one incarnation, by name and tags.
fn gauge_values(batches: &[FlushBatch], incarnation: Option<u64>) -> BTreeMap<String, f64> {
    batches
        .iter()
        .filter(|batch| incarnation.is_none_or(|incarnation| batch.incarnation == incarnation))
        .flat_map(|batch| &batch.series)
        .filter_map(|series| match series.aggregate {
            Some(Aggregate::Gauge(gauge)) => {
                let tags: Vec<String> = series
                    .tags
                    .iter()
                    .map(|tag| format!("{}:{}", tag.key, tag.value))
                    .collect();
                Some((format!("{}#{}", series.name, tags.join(",")), gauge.value))
            }
            _ => None,
        })
        .collect()
}

async fn send_lines(
    aggregator: &AggregatorUnderTest,
    line: impl Fn(usize) -> String,
) -> anyhow::Result<()> {
    let lines: Vec<String> = (0..GAUGES).map(line).collect();
    for datagram in lines.chunks(LINES_PER_DATAGRAM) {
        aggregator.send_statsd(&datagram.join("\n")).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_delta_after_a_restart_applies_to_the_gauge_value_from_before_it() -> anyhow::Result<()> {
    let interval = Duration::from_secs(1);
    let mut first = AggregatorUnderTest::start(interval, |_| {}).await?;
    let mut reader = first.batch_reader().await?;
    // Tags in the name, half of them as DogStatsD tags in another order after the restart.
    send_lines(&first, |index| {
        format!("room{index}.temp;floor={}:50|g", index % 3)
    })
    .await?;
    reader
        .wait_for("every gauge at 50", |batches| {
            let values = gauge_values(batches, None);
            values.len() == GAUGES && values.values().all(|value| *value == 50.0)
        })
        .await?;
    first
        .service
        .take()
        .expect("the first aggregator is running")
        .stop()
        .await?;

    // The same aggregator id and stream: a restart (on new ports).
    let restarted_config = first.config.clone();
    let mut restarted = AggregatorUnderTest::start(interval, move |config| {
        *config = restarted_config;
    })
    .await?;
    let first_incarnation = reader.read_new().await?[0].incarnation;
    send_lines(&restarted, |index| {
        if index % 2 == 0 {
            format!("room{index}.temp:-3|g|#floor:{}", index % 3)
        } else {
            format!("room{index}.temp;floor={}:-3|g", index % 3)
        }
    })
    .await?;
    let batches = reader
        .wait_for("every gauge after the restart", |batches| {
            let after_restart = batches
                .iter()
                .find(|batch| batch.incarnation != first_incarnation)
                .map(|batch| batch.incarnation);
            after_restart.is_some() && gauge_values(batches, after_restart).len() == GAUGES
        })
        .await?;
    let second_incarnation = batches
        .iter()
        .map(|batch| batch.incarnation)
        .find(|incarnation| *incarnation != first_incarnation);
    let after_restart = gauge_values(&batches, second_incarnation);
    let wrong: Vec<_> = after_restart
        .iter()
        .filter(|(_, value)| **value != 47.0)
        .collect();
    assert!(
        wrong.is_empty(),
        "50 then -3 across a restart gave {} of {GAUGES} gauges wrong, first: {:?}",
        wrong.len(),
        wrong.first()
    );

    // Another aggregator does not inherit them: gauges are per aggregator, as in memory.
    let mut other_config = first.config.clone();
    other_config.aggregator.id = format!("{}-other", other_config.aggregator.id);
    let other = AggregatorUnderTest::start(interval, move |config| *config = other_config).await?;
    other.send_statsd("room0.temp;floor=0:-3|g").await?;
    let batches = reader
        .wait_for("the other aggregator's gauge", |batches| {
            batches
                .iter()
                .any(|batch| batch.aggregator_id.ends_with("-other"))
        })
        .await?;
    let other_batch = batches
        .iter()
        .find(|batch| batch.aggregator_id.ends_with("-other"))
        .expect("waited for it");
    assert_eq!(
        gauge_values(std::slice::from_ref(other_batch), None),
        BTreeMap::from([("room0.temp#floor:0".to_owned(), -3.0)])
    );

    restarted
        .service
        .take()
        .expect("the restarted aggregator is running")
        .stop()
        .await?;
    // All three share one stream and bucket, which this deletes.
    other.stop().await
}
