//! Compatibility with the Rust `cadence` client: every metric kind it can send — counters
//! (with a sample rate), gauges, timers, histograms, distributions, sets — with its DogStatsD
//! extensions (default and per-metric tags, flag tags, `|T` timestamps, `|c:` container ids,
//! packed values) through its buffered UDP sink, which packs many lines per datagram, and
//! exactly these series in the published batches.

mod compat_support;

use abacus_tests::AggregatorUnderTest;
use cadence::prelude::*;
use cadence::{BufferedUdpMetricSink, StatsdClient};
use compat_support::{expect, wait_for_stored, Stored};
use std::net::UdpSocket;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[tokio::test]
async fn everything_cadence_sends_is_stored_exactly() -> anyhow::Result<()> {
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |_| {}).await?;
    let mut reader = aggregator.batch_reader().await?;

    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let sink = BufferedUdpMetricSink::from(aggregator.addresses.statsd_udp, socket)?;
    let client = StatsdClient::builder("rs", sink)
        .with_tag("client", "cadence")
        .build();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();

    client.count("requests", 3)?;
    client.incr("requests")?;
    client.decr("requests")?;
    // cadence leaves the dice to the caller and only writes `|@0.25`: each send counts 4.
    client
        .count_with_tags("sampled", 1)
        .with_sampling_rate(0.25)
        .try_send()?;
    client
        .count_with_tags("sampled", 1)
        .with_sampling_rate(0.25)
        .try_send()?;
    // The same tags in another order are the same series; a flag tag makes another.
    client
        .count_with_tags("by_region", 5)
        .with_tag("region", "eu")
        .with_tag("env", "test")
        .try_send()?;
    client
        .count_with_tags("by_region", 2)
        .with_tag("env", "test")
        .with_tag("region", "eu")
        .try_send()?;
    client
        .count_with_tags("by_region", 1)
        .with_tag_value("canary")
        .try_send()?;
    client
        .count_with_tags("stamped", 6)
        .with_timestamp(now)
        .try_send()?;
    client
        .count_with_tags("containerized", 1)
        .with_container_id("3f2a1b")
        .try_send()?;
    client.gauge("queue_depth", 42_u64)?;
    client.gauge("queue_depth", 40_u64)?;
    client.gauge("temperature", 21.5_f64)?;
    client.time("db_ms", 100_u64)?;
    client.time("db_ms", 200_u64)?;
    client.time("db_ms", Duration::from_millis(300))?;
    // Vectors go out packed, `name:1:2:3|ms`.
    client.time("packed_ms", vec![1_u64, 2, 3])?;
    client.histogram("payload_bytes", 512_u64)?;
    client.histogram("payload_bytes", vec![256.0_f64, 1024.0])?;
    client.distribution("latency_ms", 0.5_f64)?;
    client
        .distribution_with_tags("latency_ms", 1.5_f64)
        .with_sampling_rate(0.5)
        .try_send()?;
    client.set("users", 1_i64)?;
    client.set("users", 2_i64)?;
    client.set("users", 1_i64)?;
    client.flush()?;

    let expected = expect([
        ("rs.requests#client:cadence", Stored::Counter(3.0)),
        ("rs.sampled#client:cadence", Stored::Counter(8.0)),
        (
            "rs.by_region#client:cadence,env:test,region:eu",
            Stored::Counter(7.0),
        ),
        ("rs.by_region#canary,client:cadence", Stored::Counter(1.0)),
        ("rs.stamped#client:cadence", Stored::Counter(6.0)),
        ("rs.containerized#client:cadence", Stored::Counter(1.0)),
        ("rs.queue_depth#client:cadence", Stored::Gauge(40.0)),
        ("rs.temperature#client:cadence", Stored::Gauge(21.5)),
        (
            "rs.db_ms#client:cadence",
            Stored::timer(3.0, 600.0, 100.0, 300.0),
        ),
        (
            "rs.packed_ms#client:cadence",
            Stored::timer(3.0, 6.0, 1.0, 3.0),
        ),
        (
            "rs.payload_bytes#client:cadence",
            Stored::timer(3.0, 1792.0, 256.0, 1024.0),
        ),
        // 1.5 at rate 0.5 weighs two samples: count 1 + 2, sum 0.5 + 1.5 / 0.5.
        (
            "rs.latency_ms#client:cadence",
            Stored::timer(3.0, 3.5, 0.5, 1.5),
        ),
        ("rs.users#client:cadence", Stored::Set(2)),
    ]);
    let stored = wait_for_stored(&mut reader, &expected).await;
    assert_eq!(stored, expected);
    aggregator.stop().await
}
