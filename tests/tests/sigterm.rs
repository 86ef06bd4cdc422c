//! A SIGTERM makes the aggregator publish its partial window before it exits.
//!
//! This file is its own test binary, hence its own process: it sends SIGTERM to itself, and
//! the aggregator — started with the same signal handler its binary uses — must flush rather
//! than lose the window. The flush interval is an hour, so nothing else could publish it.

use abacus_tests::{
    non_null, start_aggregator_with_addresses, total, wait_until_aggregator_counted, Pipeline,
    PipelineSettings,
};
use std::time::Duration;

#[tokio::test]
async fn sigterm_publishes_the_partial_window() -> anyhow::Result<()> {
    let settings = PipelineSettings::new(Duration::from_secs(3600)).await?;
    let (addresses, aggregator) = start_aggregator_with_addresses(
        settings.aggregator_config(),
        Some(Box::pin(abacus_proto::shutdown::signal())),
    )
    .await?;
    let pipeline = Pipeline::start_with_aggregator(settings, addresses.statsd_udp, None).await?;

    pipeline.send_statsd("deploys:1|c\ndeploys:2|c").await?;
    // Both lines are in the window before the signal is sent. The signal handler is installed
    // by then too: `run` spawns the task that awaits the shutdown future before it spawns the
    // admin server, and this runtime has one thread that polls tasks in the order they were
    // spawned, so `/metrics` cannot answer before the handler has been installed.
    wait_until_aggregator_counted(
        addresses.admin,
        "abacus_aggregator_metrics_received_total",
        2.0,
    )
    .await?;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()?;
    assert!(status.success(), "kill failed");
    aggregator.stop().await?;

    let points = pipeline
        .wait_for_datapoints("deploys", "the partial window", |points| {
            total(points) >= 3.0
        })
        .await?;
    assert_eq!(total(&points), 3.0, "{:?}", non_null(&points));
    pipeline.stop().await
}
