//! The aggregator's own metrics: what it received and skipped is counted exactly, reported in
//! the flush batches under `abacus.aggregator.*` and on the admin port at `/metrics` in the
//! Prometheus text format; `/healthz` answers.

use abacus_proto::v1::{series_aggregate::Aggregate, FlushBatch};
use abacus_tests::{counter_total, prometheus_value, send_datagram, AggregatorUnderTest, PATIENCE};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

fn has_gauge(batches: &[FlushBatch], name: &str) -> bool {
    batches
        .iter()
        .flat_map(|batch| &batch.series)
        .any(|series| series.name == name && matches!(series.aggregate, Some(Aggregate::Gauge(_))))
}

#[tokio::test]
async fn received_and_bad_lines_are_counted_in_batches_and_on_the_admin_port() -> anyhow::Result<()>
{
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |config| {
        config.aggregator.max_line_bytes = 32;
        config.aggregator.publish_self_metrics = true;
    })
    .await?;
    let mut reader = aggregator.batch_reader().await?;
    let http = reqwest::Client::new();
    let admin = format!("http://{}", aggregator.addresses.admin);

    // 3 statsd datagrams: 4 good metric lines, 3 bad lines, 1 event.
    aggregator.send_statsd("a:1|c\nb:2|g\nnot a metric").await?;
    aggregator.send_statsd("c:1|ms\nd:x|c\n_e{1,1}:t|x").await?;
    aggregator.send_statsd("e:1|s\nf:1|q").await?;
    // 1 graphite datagram: 2 points, 1 bad line.
    send_datagram(
        aggregator.addresses.graphite_udp,
        "g.h 1 -1\ng.i 2 -1\nbroken",
    )
    .await?;
    // 1 TCP connection: 1 good line and 1 line longer than max_line_bytes (a bad line).
    let mut stream = tokio::net::TcpStream::connect(aggregator.addresses.statsd_tcp).await?;
    stream
        .write_all(format!("j:1|c\nk:{}|c\n", "1".repeat(64)).as_bytes())
        .await?;
    stream.shutdown().await?;
    drop(stream);

    let expected = [
        ("metrics_received", 5.0),
        ("bad_lines_seen", 5.0),
        ("events_received", 1.0),
        ("points_received", 2.0),
    ];
    let batches = reader
        .wait_for("the self-metrics of every line", |batches| {
            expected.iter().all(|(name, count)| {
                counter_total(batches, &format!("abacus.aggregator.{name}")) >= *count
            })
        })
        .await?;
    for (name, count) in expected {
        assert_eq!(
            counter_total(&batches, &format!("abacus.aggregator.{name}")),
            count,
            "{name}"
        );
    }
    // The TCP connection may deliver its lines in one read or two.
    let packets = counter_total(&batches, "abacus.aggregator.packets_received");
    assert!((5.0..=6.0).contains(&packets), "packets_received {packets}");
    assert_eq!(
        counter_total(&batches, "abacus.aggregator.samples_too_old"),
        0.0
    );
    assert_eq!(
        counter_total(&batches, "abacus.aggregator.batches_dropped"),
        0.0
    );
    for gauge in [
        "timestamp_lag",
        "processing_time",
        "flush_time",
        "batches_buffered",
        "series",
    ] {
        assert!(
            has_gauge(&batches, &format!("abacus.aggregator.{gauge}")),
            "gauge {gauge} missing"
        );
    }

    let deadline = Instant::now() + PATIENCE;
    let text = loop {
        let response = http.get(format!("{admin}/metrics")).send().await?;
        assert_eq!(response.status().as_u16(), 200);
        let text = response.text().await?;
        if prometheus_value(&text, "abacus_aggregator_metrics_received_total") == Some(5.0) {
            break text;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "/metrics never showed 5 metrics: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // OpenMetrics: the metadata names the counter family; its sample carries `_total`.
    assert!(text.contains("# TYPE abacus_aggregator_bad_lines_seen counter"));
    assert!(text.contains("# HELP abacus_aggregator_packets_received "));
    assert!(text.contains("# TYPE abacus_aggregator_batches_buffered gauge"));
    assert_eq!(
        prometheus_value(&text, "abacus_aggregator_bad_lines_seen_total"),
        Some(5.0)
    );
    assert_eq!(
        prometheus_value(&text, "abacus_aggregator_points_received_total"),
        Some(2.0)
    );
    assert_eq!(
        prometheus_value(&text, "abacus_aggregator_events_received_total"),
        Some(1.0)
    );

    let health = http.get(format!("{admin}/healthz")).send().await?;
    assert_eq!(health.status().as_u16(), 200);
    aggregator.stop().await
}
