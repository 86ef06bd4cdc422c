//! The storage worker publishes its self-metrics into the stream, where they are stored like
//! any series: the batches it stored are counted under `abacus.storage_worker`, readable
//! through `/render` as etsy-namespace counters.

use abacus_proto::v1::{series_aggregate::Aggregate, CounterAggregate};
use abacus_tests::{single_series_batch, Pipeline, PipelineSettings};
use prost::Message;
use std::time::Duration;

#[tokio::test]
async fn the_worker_counts_what_it_stores_in_series_of_its_own() -> anyhow::Result<()> {
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_storage_worker = |config| {
        config.storage_worker.publish_self_metrics = true;
        config.storage_worker.self_metrics_interval = Duration::from_secs(1);
    };
    let pipeline = Pipeline::start_with_aggregator(settings, "127.0.0.1:9".parse()?, None).await?;
    // Three batches of someone else's, each stored once.
    let batches = (1..=3)
        .map(|sequence| {
            single_series_batch(
                "other",
                sequence,
                "x",
                Aggregate::Counter(CounterAggregate { count: 1.0 }),
            )
            .encode_to_vec()
        })
        .collect();
    pipeline.publish_all_to_flush_subject(batches).await?;
    let target = "/render?target=stats.counters.abacus.storage_worker.batches_stored.count&from=-5min&format=json";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        // 503 until the worker has created the schema.
        let (status, answer) = pipeline.get_json(target).await?;
        let stored: f64 = answer[0]["datapoints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|point| point[0].as_f64())
            .sum();
        // The worker's own batches are stored too, and counted: at least the three, and the
        // count only grows.
        if status == 200 && stored >= 3.0 {
            let (_, failing) = pipeline
                .get_json(
                    "/render?target=stats.gauges.abacus.storage_worker.database_failing&from=-5min",
                )
                .await?;
            let last = failing[0]["datapoints"]
                .as_array()
                .and_then(|points| points.iter().rev().find_map(|point| point[0].as_f64()));
            assert_eq!(last, Some(0.0), "{failing}");
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the worker's batches_stored never reached 3: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    pipeline.stop().await
}
