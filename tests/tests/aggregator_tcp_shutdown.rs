//! TCP at the edges: on shutdown every connection hands over the lines it has received before
//! the final flush, and connections beyond `max_tcp_connections` are closed and counted.

use abacus_tests::{counter_total, AggregatorUnderTest, PATIENCE};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Polls the admin `/metrics` until the unlabelled sample `name` is at least `at_least`.
async fn wait_for_admin_value(
    aggregator: &AggregatorUnderTest,
    name: &str,
    at_least: f64,
) -> anyhow::Result<f64> {
    let url = format!("http://{}/metrics", aggregator.addresses.admin);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = reqwest::get(&url).await?.text().await?;
        let value = text
            .lines()
            .filter_map(|line| line.split_once(' '))
            .find(|(sample, _)| *sample == name)
            .and_then(|(_, value)| value.parse::<f64>().ok());
        if let Some(value) = value.filter(|value| *value >= at_least) {
            return Ok(value);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{name} never reached {at_least}: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn lines_a_connection_received_before_shutdown_are_in_the_final_flush() -> anyhow::Result<()>
{
    // An hour-long window: only the shutdown flush can publish anything.
    let mut aggregator = AggregatorUnderTest::start(Duration::from_secs(3600), |_| {}).await?;
    let mut reader = aggregator.batch_reader().await?;
    let mut stream = TcpStream::connect(aggregator.addresses.statsd_tcp).await?;
    stream.write_all(b"tcp.shutdown:1|c\n").await?;
    // The connection is accepted and served once its first line is counted.
    wait_for_admin_value(&aggregator, "abacus_aggregator_metrics_received_total", 1.0).await?;
    stream
        .write_all(b"tcp.shutdown:2|c\ntcp.shutdown:3|c\n")
        .await?;
    stream.flush().await?;
    // Stop while the connection is still open.
    if let Some(service) = aggregator.service.take() {
        service.stop().await?;
    }
    let batches = reader
        .wait_for("the final flush", |batches| {
            counter_total(batches, "tcp.shutdown") >= 6.0
        })
        .await?;
    assert_eq!(counter_total(&batches, "tcp.shutdown"), 6.0);
    drop(stream);
    aggregator.stop().await
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_and_counted() -> anyhow::Result<()> {
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |config| {
        config.aggregator.max_tcp_connections = 1;
    })
    .await?;
    let mut first = TcpStream::connect(aggregator.addresses.statsd_tcp).await?;
    first.write_all(b"tcp.first:1|c\n").await?;
    wait_for_admin_value(&aggregator, "abacus_aggregator_metrics_received_total", 1.0).await?;

    let mut second = TcpStream::connect(aggregator.addresses.statsd_tcp).await?;
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(PATIENCE, second.read(&mut buffer))
        .await
        .map_err(|_| anyhow::anyhow!("the connection beyond the limit was never closed"))?;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "expected end of stream, got {read:?}"
    );
    let refused = wait_for_admin_value(
        &aggregator,
        "abacus_aggregator_tcp_connections_refused_total",
        1.0,
    )
    .await?;
    assert_eq!(refused, 1.0);
    drop(first);
    aggregator.stop().await
}
