//! The Abacus aggregator: statsd in, one batch per flush interval out to NATS JetStream.
//!
//! * [`parse`]: the pure line parser.
//! * [`aggregate`]: the per-window aggregation state.
//! * [`events`]: DogStatsD events and service checks in their wire form.
//! * [`windows`]: the current window and the late windows of `|T` samples.
//! * [`flush`]: the aligned flush schedule and batch numbering.
//! * [`server`]: the receive loop that drives the other three and merges the workers' shards.
//! * [`receive_workers`]: the statsd UDP receive threads, each aggregating its own shard.
//! * [`intake`]: what every received line goes through (parse, count, record).
//! * [`udp`]: the statsd UDP sockets (`SO_REUSEPORT`, `SO_RCVBUF`) and batched receiving.
//! * [`graphite`]: Graphite plaintext points in their wire form.
//! * [`tcp`]: line protocols over TCP, framed into whole lines for the receive loop.
//! * [`publish_buffer`]: the bounded buffer of finished batches, dropping the oldest when full.
//! * [`publish`]: the publisher task that gets batches into JetStream, in order.
//! * [`gauge_checkpoint`]: gauge values kept in a JetStream key-value bucket across restarts.
//! * [`stats`]: the self-metrics every task counts into.
//! * [`admin`]: the admin HTTP server (`/metrics`, `/healthz`).
//! * [`config`]: the settings.
//!
//! Everything is `pub(crate)` unless something outside the crate uses it on purpose: the
//! modules declared `pub` below are the surface the benchmarks (`benches/`), the fuzzer
//! (`fuzz/`), the property tests (`tests/`) and the end-to-end harness (`abacus-tests`) drive,
//! and within them only what those reach is `pub`. `unreachable_pub` keeps it that way: a `pub`
//! item nothing outside can reach is a warning (an error under `make lint`).

#![warn(unreachable_pub)]

pub(crate) mod admin;
pub mod aggregate;
pub mod config;
pub(crate) mod events;
pub mod flush;
pub(crate) mod gauge_checkpoint;
pub(crate) mod gauge_updates;
pub(crate) mod graphite;
pub mod intake;
pub mod parse;
pub(crate) mod publish;
pub(crate) mod publish_buffer;
pub(crate) mod receive_workers;
pub mod series_table;
pub(crate) mod server;
pub mod stats;
pub mod tcp;
pub mod udp;
pub mod windows;

use anyhow::Context;
use config::Config;
use std::future::Future;
use std::sync::Arc;
use tokio::net::{TcpListener, UdpSocket};
use tracing::{error, info, warn};

/// The sockets the aggregator serves, bound before [`run`] so tests can bind port 0.
pub struct Sockets {
    /// statsd over UDP: one socket per receive worker, all bound to one address (see
    /// [`udp::bind_statsd_sockets`]); at least one.
    pub udp: Vec<std::net::UdpSocket>,
    /// statsd over TCP.
    pub tcp: TcpListener,
    /// Graphite plaintext over UDP.
    pub graphite_udp: UdpSocket,
    /// Graphite plaintext over TCP.
    pub graphite_tcp: TcpListener,
    /// The admin HTTP server (`/metrics`, `/healthz`).
    pub admin: TcpListener,
}

impl Sockets {
    /// Binds the addresses named in the configuration.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let address = config.aggregator.udp_address;
        let udp = udp::bind_statsd_sockets(
            address,
            config.aggregator.receive_workers,
            config.aggregator.udp_receive_buffer_bytes,
        )
        .with_context(|| format!("cannot bind udp {address}"))?;
        let address = config.aggregator.tcp_address;
        let tcp = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot bind tcp {address}"))?;
        let address = config.aggregator.graphite_udp_address;
        let graphite_udp = UdpSocket::bind(address)
            .await
            .with_context(|| format!("cannot bind graphite udp {address}"))?;
        let address = config.aggregator.graphite_tcp_address;
        let graphite_tcp = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot bind graphite tcp {address}"))?;
        let address = config.aggregator.admin_address;
        let admin = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot bind admin http {address}"))?;
        Ok(Self {
            udp,
            tcp,
            graphite_udp,
            graphite_tcp,
            admin,
        })
    }
}

/// How many TCP reads may wait for the receive loop before connections are slowed down.
const TCP_CHUNKS_IN_FLIGHT: usize = 1024;

/// Runs the aggregator until `shutdown` resolves, then publishes the partial window and
/// whatever is still buffered (for at most `aggregator.shutdown_publish_timeout`).
///
/// The order is the point: the admin server first (so `/healthz` answers while NATS is still
/// being reached), then the gauges recovered before the first datagram is read, then the
/// publisher, the TCP listeners and the receive loop; on the way out the receive loop stops
/// first and the publisher drains after it.
pub async fn run(
    config: Config,
    sockets: Sockets,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !sockets.udp.is_empty(),
        "no statsd udp socket to receive on"
    );
    let shutdown = abacus_proto::shutdown::token_from(shutdown);
    let settings = config.aggregator.clone();
    let incarnation = flush::unix_now_ms() as u64;
    log_start(&settings, incarnation, &sockets)?;

    let metrics = Arc::new(stats::SelfMetrics::default());
    let admin_server = tokio::spawn(admin::serve(
        sockets.admin,
        metrics.clone(),
        settings.self_metrics_prefix.clone(),
        shutdown.clone(),
    ));

    let client = abacus_proto::stream::connect(&config.nats)
        .await
        .context("cannot connect to nats")?;
    let gauge_checkpoints = Arc::new(gauge_checkpoint::GaugeCheckpoints::new(
        client.clone(),
        &config.nats,
        &settings.id,
        settings.idle_series_expiry,
        &settings.self_metrics_prefix,
    ));
    // Before the first datagram is read (the kernel holds them meanwhile), so that the first
    // delta applies to the recovered value.
    let recovered_gauges =
        recover_gauges_in_time(&gauge_checkpoints, settings.gauge_recovery_timeout).await;
    let publish_buffer = Arc::new(publish_buffer::PublishBuffer::new(
        settings.publish_buffer_batches,
        metrics.clone(),
    ));
    let publisher = tokio::spawn(publish::run(
        client.clone(),
        config.nats.clone(),
        publish_buffer.clone(),
        gauge_checkpoints,
        metrics.clone(),
    ));

    let tcp_chunks = start_tcp_listeners(
        [
            (sockets.tcp, tcp::Protocol::Statsd),
            (sockets.graphite_tcp, tcp::Protocol::Graphite),
        ],
        &settings,
        &metrics,
        &shutdown,
    );
    let receive_loop = server::ReceiveLoop {
        statsd_sockets: sockets.udp,
        graphite_socket: sockets.graphite_udp,
        tcp_chunks,
        sequencer: flush::BatchSequencer::new(
            settings.id.clone(),
            incarnation,
            settings.flush_interval,
        ),
        settings: settings.clone(),
        batches: publish_buffer.clone(),
        max_batch_bytes: Box::new(move || client.max_payload()),
        metrics: metrics.clone(),
        recovered_gauges,
        shutdown,
    };
    let received = receive_loop.run().await;
    info!(
        packets_received = metrics.counter(stats::Counter::PacketsReceived),
        bad_lines_seen = metrics.counter(stats::Counter::BadLinesSeen),
        "receive loop stopped, publishing what is buffered"
    );

    // Even when the receive loop could not start, what is buffered is published.
    publish_what_is_buffered(
        publisher,
        &publish_buffer,
        settings.shutdown_publish_timeout,
    )
    .await?;
    wait_for_admin_server(admin_server).await;
    info!("aggregator stopped");
    received
}

/// Logs what this aggregator is and where it listens, once, as it starts.
fn log_start(
    settings: &config::AggregatorSettings,
    incarnation: u64,
    sockets: &Sockets,
) -> anyhow::Result<()> {
    info!(
        aggregator_id = %settings.id,
        incarnation,
        udp = %sockets.udp[0].local_addr()?,
        receive_workers = sockets.udp.len(),
        tcp = %sockets.tcp.local_addr()?,
        graphite_udp = %sockets.graphite_udp.local_addr()?,
        graphite_tcp = %sockets.graphite_tcp.local_addr()?,
        admin = %sockets.admin.local_addr()?,
        flush_interval = ?settings.flush_interval,
        "aggregator starting"
    );
    Ok(())
}

/// The gauges checkpointed by this aggregator's previous run, or none when they cannot be read
/// within `timeout`: an aggregator that cannot recover its gauges still starts (its gauges then
/// begin again from their next value) rather than leave every metric unreceived meanwhile.
async fn recover_gauges_in_time(
    gauge_checkpoints: &gauge_checkpoint::GaugeCheckpoints,
    timeout: std::time::Duration,
) -> Vec<gauge_checkpoint::RecoveredGauge> {
    match tokio::time::timeout(timeout, gauge_checkpoints.recover()).await {
        Ok(Ok(gauges)) => {
            info!(gauges = gauges.len(), "gauges recovered");
            gauges
        }
        Ok(Err(error)) => {
            warn!(error = %format!("{error:#}"), "gauges not recovered, starting without them");
            Vec::new()
        }
        Err(_) => {
            warn!(
                ?timeout,
                "gauges not recovered in time, starting without them"
            );
            Vec::new()
        }
    }
}

/// Starts an accept loop on each TCP listener and returns the one channel their connections
/// frame whole lines into, for the receive loop.
fn start_tcp_listeners(
    listeners: [(TcpListener, tcp::Protocol); 2],
    settings: &config::AggregatorSettings,
    metrics: &Arc<stats::SelfMetrics>,
    shutdown: &tokio_util::sync::CancellationToken,
) -> tokio::sync::mpsc::Receiver<tcp::LineChunk> {
    // Room for a burst from many connections; when full, connections wait (TCP flow control).
    let (chunk_sender, chunk_receiver) = tokio::sync::mpsc::channel(TCP_CHUNKS_IN_FLIGHT);
    let connection_slots = Arc::new(tokio::sync::Semaphore::new(settings.max_tcp_connections));
    for (listener, protocol) in listeners {
        tokio::spawn(tcp::accept_loop(
            listener,
            tcp::ConnectionSettings {
                protocol,
                max_line_bytes: settings.max_line_bytes,
                idle_timeout: settings.tcp_idle_timeout,
            },
            chunk_sender.clone(),
            connection_slots.clone(),
            metrics.clone(),
            shutdown.clone(),
        ));
    }
    // From here only the listeners and connections hold senders: the channel closes when
    // the last of them is done, which is how the receive loop knows TCP is drained.
    drop(chunk_sender);
    chunk_receiver
}

/// Closes the publish buffer and lets the publisher drain it for at most `timeout`; what NATS
/// has not taken by then is abandoned (and counted in the log), so that a NATS outage cannot
/// keep a stopping aggregator alive forever.
async fn publish_what_is_buffered(
    publisher: tokio::task::JoinHandle<()>,
    publish_buffer: &publish_buffer::PublishBuffer,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    publish_buffer.close();
    let publisher_abort = publisher.abort_handle();
    match tokio::time::timeout(timeout, publisher).await {
        Ok(joined) => joined.context("publisher task failed")?,
        Err(_) => {
            publisher_abort.abort();
            let lost = publish_buffer.abandon();
            error!(
                ?timeout,
                lost, "nats did not take the buffered batches in time; they are lost"
            );
        }
    }
    Ok(())
}

/// Waits for the admin server to stop; its failure is logged, not returned, because by now
/// the aggregator's work is done and only its metrics endpoint was affected.
async fn wait_for_admin_server(
    admin_server: tokio::task::JoinHandle<Result<(), admin::AdminError>>,
) {
    match admin_server.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => error!(%error, "admin http server stopped with an error"),
        Err(error) => error!(%error, "admin http server task failed"),
    }
}
