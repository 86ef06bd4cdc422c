//! Graphite plaintext points sent over TCP faster than one window may hold are all published:
//! once a window holds its limit the aggregator stops taking TCP lines until the window ends,
//! so TCP's flow control slows the sender down and the points ride in the next batches. Over
//! UDP, which cannot be slowed down, points beyond the limit are dropped and counted.

use abacus_aggregator::windows::MAX_POINTS_PER_WINDOW;
use abacus_tests::AggregatorUnderTest;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn points_beyond_a_windows_limit_over_tcp_go_into_the_next_batches() -> anyhow::Result<()> {
    // One and a half windows' worth: with one-second windows and loopback TCP, far more than
    // the limit arrives within one window unless the sender is held back.
    let points = MAX_POINTS_PER_WINDOW * 3 / 2;
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |_| {}).await?;
    let mut reader = aggregator.batch_reader().await?;

    let mut lines = String::with_capacity(points * 40);
    for index in 0..points {
        // Every point its own series and value, so a lost or doubled one is seen.
        lines.push_str(&format!("flood.p{index} {index} 1700000000\n"));
    }
    let mut connection = tokio::net::TcpStream::connect(aggregator.addresses.graphite_tcp).await?;
    connection.write_all(lines.as_bytes()).await?;
    connection.shutdown().await?;

    let deadline = Instant::now() + Duration::from_secs(120);
    let (published, batches) = loop {
        let batches = reader.read_new().await?;
        let published: usize = batches.iter().map(|batch| batch.points.len()).sum();
        if published >= points || Instant::now() >= deadline {
            break (published, batches.to_vec());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        published, points,
        "every point sent over tcp is published once"
    );
    let names: BTreeSet<&str> = batches
        .iter()
        .flat_map(|batch| &batch.points)
        .map(|point| point.name.as_str())
        .collect();
    assert_eq!(names.len(), points, "no point twice");
    let windows: BTreeSet<i64> = batches
        .iter()
        .filter(|batch| !batch.points.is_empty())
        .map(|batch| batch.interval_start_unix_ms)
        .collect();
    assert!(
        windows.len() >= 2,
        "{points} points cannot fit in one window of {MAX_POINTS_PER_WINDOW}"
    );
    aggregator.stop().await
}
