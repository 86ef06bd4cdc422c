//! Graphite plaintext over UDP and TCP: each valid line becomes a raw point in the next batch,
//! with its own timestamp (`-1` = when received), not aggregated; bad lines do not lose their
//! neighbours.

use abacus_proto::v1::{FlushBatch, RawPoint};
use abacus_tests::{send_datagram, AggregatorUnderTest};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// A point as `(name, tags, value)`.
type PointSummary<'a> = (&'a str, Vec<(&'a str, &'a str)>, f64);

fn points(batches: &[FlushBatch]) -> Vec<RawPoint> {
    let mut points: Vec<RawPoint> = batches
        .iter()
        .flat_map(|batch| batch.points.clone())
        .collect();
    points.sort_by(|left, right| left.name.cmp(&right.name));
    points
}

#[tokio::test]
async fn graphite_lines_become_raw_points() -> anyhow::Result<()> {
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |_| {}).await?;
    let mut reader = aggregator.batch_reader().await?;
    let sent_after_seconds = abacus_aggregator::flush::unix_now_ms() / 1000;
    send_datagram(
        aggregator.addresses.graphite_udp,
        "udp.load 0.5 1700000000\nnot graphite\nudp.load 0.75 1700000010\nudp.now 3 -1\n",
    )
    .await?;
    let mut stream = tokio::net::TcpStream::connect(aggregator.addresses.graphite_tcp).await?;
    stream
        .write_all(b"tcp.temp;room=b;floor=1 21.5 1700000000\ntcp.temp 1 2 3\ntcp.te")
        .await?;
    stream.flush().await?;
    stream.write_all(b"mp 22 1700000060\n").await?;
    stream.shutdown().await?;

    let batches = reader
        .wait_for("five points", |batches| points(batches).len() >= 5)
        .await?;
    let points = points(&batches);
    let summary: Vec<PointSummary> = points
        .iter()
        .map(|point| {
            let tags = point
                .tags
                .iter()
                .map(|tag| (tag.key.as_str(), tag.value.as_str()))
                .collect();
            (point.name.as_str(), tags, point.value)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("tcp.temp", vec![("floor", "1"), ("room", "b")], 21.5),
            ("tcp.temp", vec![], 22.0),
            ("udp.load", vec![], 0.5),
            ("udp.load", vec![], 0.75),
            ("udp.now", vec![], 3.0),
        ]
    );
    let timestamps: Vec<i64> = points.iter().map(|point| point.timestamp_unix_ms).collect();
    assert_eq!(
        timestamps[..4],
        [
            1_700_000_000_000,
            1_700_000_060_000,
            1_700_000_000_000,
            1_700_000_010_000
        ]
    );
    assert!(
        timestamps[4] >= sent_after_seconds * 1000,
        "-1 is the receive time"
    );
    assert!(
        batches.iter().all(|batch| batch.series.is_empty()),
        "points are not aggregated into series: {batches:?}"
    );
    aggregator.stop().await
}
