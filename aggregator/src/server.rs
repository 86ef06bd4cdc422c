//! The receive loop: starts the statsd UDP receive workers (see [`crate::receive_workers`]),
//! reads Graphite datagrams from their UDP socket and whole lines from the TCP connections
//! (see [`crate::tcp`]), and at each window end merges the workers' shards into its own
//! windows and hands the finished batches to the publisher.
//!
//! The receive loop owns the windows that outlive a flush (gauge values, late windows); the
//! workers' shards hold one window's worth and are swapped out at its end, so a window closes
//! between two batches of every worker and no sample can fall between windows. Sealing a
//! window only moves the aggregates out; encoding and publishing happen on the publisher task.

use crate::aggregate::AggregationSettings;
use crate::config::AggregatorSettings;
use crate::flush::{unix_now_ms, BatchSequencer, WindowClock, WindowContents};
use crate::gauge_checkpoint::RecoveredGauge;
use crate::intake::Intake;
use crate::publish_buffer::PublishBuffer;
use crate::receive_workers::ReceiveWorkers;
use crate::stats::{Counter, CounterDeltas, Gauge, SelfMetrics};
use crate::tcp::{LineChunk, Protocol};
use crate::windows::Windows;
use anyhow::Context;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

pub(crate) struct ReceiveLoop {
    /// statsd datagrams: one socket per receive worker, all on one address.
    pub statsd_sockets: Vec<std::net::UdpSocket>,
    /// Graphite plaintext datagrams.
    pub graphite_socket: UdpSocket,
    /// Whole lines from every TCP connection, of either protocol.
    pub tcp_chunks: mpsc::Receiver<LineChunk>,
    pub settings: AggregatorSettings,
    pub sequencer: BatchSequencer,
    /// Where sealed batches wait for the publisher; pushing never waits.
    pub batches: Arc<PublishBuffer>,
    /// The largest message NATS accepts now (the server's `max_payload`); bigger batches are
    /// split before they are numbered.
    pub max_batch_bytes: Box<dyn Fn() -> usize + Send>,
    /// Shared with the TCP listeners, the publisher and the admin server.
    pub metrics: Arc<SelfMetrics>,
    /// Gauge values from before the last restart, the bases of later deltas.
    pub recovered_gauges: Vec<RecoveredGauge>,
    pub shutdown: CancellationToken,
}

impl ReceiveLoop {
    /// Runs until shutdown, then flushes the partial window and returns. Fails only when the
    /// receive worker threads cannot be started.
    pub(crate) async fn run(mut self) -> anyhow::Result<()> {
        let aggregation = AggregationSettings {
            histogram_significant_digits: self.settings.histogram_significant_digits,
            idle_series_expiry: self.settings.idle_series_expiry,
        };
        let (flush_interval, max_timestamp_lag) = (
            self.settings.flush_interval,
            self.settings.max_timestamp_lag,
        );
        let new_windows = move || Windows::new(aggregation, flush_interval, max_timestamp_lag);
        let mut intake = Intake::new(new_windows(), self.metrics.clone());
        let mut clock = WindowClock::new(self.settings.flush_interval, unix_now_ms());
        let mut workers = ReceiveWorkers::spawn(
            std::mem::take(&mut self.statsd_sockets),
            self.settings.max_datagram_bytes,
            clock.current_window_start_ms(),
            new_windows,
            self.metrics.clone(),
        )
        .context("cannot start the statsd udp receive workers")?;
        for gauge in std::mem::take(&mut self.recovered_gauges) {
            intake.windows.current().restore_gauge(
                &gauge.name,
                &gauge.tags,
                gauge.value,
                gauge.window_start_unix_ms,
            );
        }
        let mut counter_deltas = CounterDeltas::default();
        // One byte more than a datagram may have: see `graphite_datagram_received`.
        let mut graphite_datagram = vec![0u8; self.settings.max_datagram_bytes + 1];
        let window_end = tokio::time::sleep(clock.time_until_window_end(unix_now_ms()));
        tokio::pin!(window_end);
        loop {
            intake.current_window_start_ms = clock.current_window_start_ms();
            workers.set_current_window_start(intake.current_window_start_ms);
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => {
                    // What the kernel already accepted and the lines the TCP connections have
                    // handed over belong to this window too. The workers drain their sockets.
                    workers.stop().await;
                    while let Ok((length, _peer)) = self.graphite_socket.try_recv_from(&mut graphite_datagram) {
                        graphite_datagram_received(&mut intake, &graphite_datagram, length);
                    }
                    // Every TCP connection hands over what it has read and ends, closing the
                    // channel; bounded, so a wedged task cannot hold up the final flush.
                    let tcp_drained = async {
                        while let Some(chunk) = self.tcp_chunks.recv().await {
                            intake.chunk(&chunk);
                        }
                    };
                    if tokio::time::timeout(TCP_DRAIN_TIMEOUT, tcp_drained).await.is_err() {
                        warn!(timeout = ?TCP_DRAIN_TIMEOUT, "tcp connections did not finish in time");
                    }
                    let window_start = clock.current_window_start_ms();
                    info!(window_start, "shutting down, flushing the partial window");
                    self.flush(window_start, &mut intake, &mut workers, &mut counter_deltas);
                    return Ok(());
                }
                _ = &mut window_end => {
                    let now_ms = unix_now_ms();
                    let window_end_ms = clock.current_window_start_ms()
                        + self.settings.flush_interval.as_millis() as i64;
                    self.metrics
                        .set(Gauge::TimestampLag, now_ms.saturating_sub(window_end_ms).max(0) as f64);
                    let window_start = clock.close_window(now_ms);
                    // The workers judge `|T` samples against the new window from here on;
                    // what they recorded before their shard is swapped is in the closed one.
                    workers.set_current_window_start(clock.current_window_start_ms());
                    self.flush(window_start, &mut intake, &mut workers, &mut counter_deltas);
                    let until_next_end = clock.time_until_window_end(unix_now_ms());
                    window_end.as_mut().reset(tokio::time::Instant::now() + until_next_end);
                }
                // While the window is full of points, TCP lines wait (see `windows`).
                Some(chunk) = self.tcp_chunks.recv(), if intake.windows.has_room_for_points() => {
                    intake.chunk(&chunk);
                    intake.publish_counts();
                }
                received = self.graphite_socket.recv_from(&mut graphite_datagram) => match received {
                    Ok((length, _peer)) => {
                        graphite_datagram_received(&mut intake, &graphite_datagram, length);
                        intake.publish_counts();
                    }
                    Err(error) => warn!(%error, "graphite udp receive failed"),
                },
            }
        }
    }

    /// Publishes every late window, oldest first, then the window that started at
    /// `window_start` (with the self-metrics when they are published), each as its own batch.
    fn flush(
        &mut self,
        window_start: i64,
        intake: &mut Intake,
        workers: &mut ReceiveWorkers,
        counter_deltas: &mut CounterDeltas,
    ) {
        let flush_started = Instant::now();
        let dropped = workers.absorb_into(&mut intake.windows);
        if dropped > 0 {
            self.metrics.add(Counter::EventsAndPointsDropped, dropped);
            warn!(
                dropped,
                "events beyond the per-window limit when merging the receive workers, dropped"
            );
        }
        intake.publish_counts();
        let mut series_sealed = 0;
        for (late_window_start, series) in intake.windows.take_late_windows() {
            let contents = WindowContents {
                series,
                ..WindowContents::default()
            };
            series_sealed += contents.series.len();
            self.seal_and_hand_over(late_window_start, contents);
        }
        let points = intake.windows.take_points();
        let current = intake.windows.current();
        let mut contents = WindowContents {
            events: current.take_events(),
            points,
            ..WindowContents::default()
        };
        current.take_window_for_batch(window_start, &mut contents);
        series_sealed += contents.series.len() + contents.encoded_series.len();
        // Set before the self-metrics are taken, so the batch reports this flush's work; the
        // time is the sealing so far, which is nearly all of it.
        self.metrics.set(Gauge::Series, series_sealed as f64);
        self.metrics.set(
            Gauge::ProcessingTime,
            flush_started.elapsed().as_secs_f64() * 1000.0,
        );
        if self.settings.publish_self_metrics {
            contents
                .series
                .extend(counter_deltas.series(&self.metrics, &self.settings.self_metrics_prefix));
        }
        self.seal_and_hand_over(window_start, contents);
    }

    /// Numbers the window's contents into one batch, or several when one would be larger than
    /// NATS accepts (a publisher stuck retrying a message the server always refuses would stall
    /// every batch after it), and hands them to the publisher.
    fn seal_and_hand_over(&mut self, window_start: i64, contents: WindowContents) {
        if contents.is_empty() {
            return;
        }
        let max_contents_bytes = (self.max_batch_bytes)().saturating_sub(BATCH_ENVELOPE_BYTES);
        for (part, encoded_len) in contents.split_to_fit(max_contents_bytes) {
            if encoded_len > max_contents_bytes {
                // One series, event or point alone is bigger than a message may be.
                self.metrics.increment(Counter::BatchesDropped);
                error!(
                    window_start,
                    bytes = encoded_len,
                    max_contents_bytes,
                    "a single series, event or point exceeds the nats max payload, dropped"
                );
                continue;
            }
            let batch = self.sequencer.seal(window_start, part);
            debug!(
                window_start,
                sequence = batch.batch.sequence,
                series = batch.series_count(),
                events = batch.batch.events.len(),
                points = batch.batch.points.len(),
                "window sealed"
            );
            self.batches.push(batch);
        }
    }
}

/// Hands a Graphite datagram of `length` bytes in `buffer` to the intake. The buffer is one
/// byte longer than `max_datagram_bytes`, so a datagram that fills it was longer than allowed
/// and has been cut by the kernel.
fn graphite_datagram_received(intake: &mut Intake, buffer: &[u8], length: usize) {
    let max_datagram_bytes = buffer.len() - 1;
    intake.datagram(
        Protocol::Graphite,
        &buffer[..length.min(max_datagram_bytes)],
        length > max_datagram_bytes,
    );
}

/// How long shutdown waits for TCP connections to hand over what they have read.
const TCP_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Room left in a NATS message for everything but the window's contents: the batch's own
/// fields (ids, interval) and the headers (`Nats-Msg-Id`), with a wide margin.
const BATCH_ENVELOPE_BYTES: usize = 4096;
