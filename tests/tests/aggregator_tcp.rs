//! statsd over TCP: newline-delimited lines from many connections, split anywhere across
//! writes, feed the same windows as UDP; overlong lines are skipped without losing their
//! neighbours; idle connections are closed.

use abacus_tests::{counter_total, AggregatorUnderTest, PATIENCE};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn lines_from_many_connections_split_anywhere_all_count() -> anyhow::Result<()> {
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |config| {
        config.aggregator.max_line_bytes = 64;
    })
    .await?;
    let mut reader = aggregator.batch_reader().await?;
    let address = aggregator.addresses.statsd_tcp;
    let connections = 20;
    let mut clients = Vec::new();
    for client in 0..connections {
        clients.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(address).await?;
            let overlong = format!("tcp.total:{}|c\n", "1".repeat(100));
            let text = format!("tcp.total:1|c\n{overlong}tcp.total:2|c\ntcp.per_client:1|c|#client:{client}\ntcp.total:3|c");
            // Split at every few bytes so lines straddle writes; a short pause between writes
            // makes the server see them as separate reads.
            for piece in text.as_bytes().chunks(5) {
                stream.write_all(piece).await?;
                stream.flush().await?;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            // The last line has no newline: closing the connection ends it.
            stream.shutdown().await?;
            anyhow::Ok(())
        }));
    }
    for client in clients {
        client.await??;
    }
    aggregator.send_statsd("tcp.total:1000|c").await?;
    let expected = 6.0 * f64::from(connections) + 1000.0;
    let batches = reader
        .wait_for("every line of every connection", |batches| {
            counter_total(batches, "tcp.total") >= expected
        })
        .await?;
    assert_eq!(counter_total(&batches, "tcp.total"), expected);
    assert_eq!(
        counter_total(&batches, "tcp.per_client"),
        f64::from(connections)
    );
    aggregator.stop().await
}

#[tokio::test]
async fn an_idle_connection_is_closed() -> anyhow::Result<()> {
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |config| {
        config.aggregator.tcp_idle_timeout = Duration::from_millis(300);
    })
    .await?;
    let mut stream = TcpStream::connect(aggregator.addresses.statsd_tcp).await?;
    stream.write_all(b"idle.before:1|c\n").await?;
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
        .await
        .map_err(|_| anyhow::anyhow!("the idle connection was never closed"))?;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "expected end of stream, got {read:?}"
    );
    let mut reader = aggregator.batch_reader().await?;
    reader
        .wait_for("the line sent before going idle", |batches| {
            counter_total(batches, "idle.before") == 1.0
        })
        .await?;
    aggregator.stop().await
}
