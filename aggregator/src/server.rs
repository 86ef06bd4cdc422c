//! The receive loop: reads statsd and Graphite datagrams from the UDP sockets and whole lines
//! from the TCP connections (see [`crate::tcp`]), folds every line into its window, and at each
//! window end hands the finished batches to the publisher.
//!
//! Receiving and flushing share one task, so a window is closed between two packets and no
//! sample can fall between windows. Sealing a window only moves the aggregates out; encoding and
//! publishing happen on the publisher task.

use crate::aggregate::AggregationSettings;
use crate::config::AggregatorSettings;
use crate::flush::{unix_now_ms, BatchSequencer, WindowClock, WindowContents};
use crate::gauge_checkpoint::RecoveredGauge;
use crate::parse::{self, Line, ParseError};
use crate::publish_buffer::PublishBuffer;
use crate::stats::{Counter, CounterDeltas, Gauge, SelfMetrics};
use crate::tcp::{LineChunk, Protocol};
use crate::windows::{Windows, MAX_POINTS_PER_WINDOW};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

pub struct ReceiveLoop {
    /// statsd datagrams.
    pub statsd_socket: UdpSocket,
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
    /// Runs until shutdown, then flushes the partial window and returns.
    pub async fn run(mut self) {
        let mut intake = Intake {
            windows: Windows::new(
                AggregationSettings {
                    histogram_significant_digits: self.settings.histogram_significant_digits,
                    idle_series_expiry: self.settings.idle_series_expiry,
                },
                self.settings.flush_interval,
                self.settings.max_timestamp_lag,
            ),
            metrics: self.metrics.clone(),
            log: RateLimitedLog::new(5, Duration::from_secs(1)),
            current_window_start_ms: 0,
        };
        for gauge in std::mem::take(&mut self.recovered_gauges) {
            intake.windows.current().restore_gauge(
                &gauge.name,
                &gauge.tags,
                gauge.value,
                gauge.window_start_unix_ms,
            );
        }
        let mut clock = WindowClock::new(self.settings.flush_interval, unix_now_ms());
        let mut counter_deltas = CounterDeltas::default();
        // One buffer per socket: both receives are pending in the same select.
        let mut datagram = vec![0u8; self.settings.max_datagram_bytes];
        let mut graphite_datagram = vec![0u8; self.settings.max_datagram_bytes];
        let window_end = tokio::time::sleep(clock.time_until_window_end(unix_now_ms()));
        tokio::pin!(window_end);
        loop {
            intake.current_window_start_ms = clock.current_window_start_ms();
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => {
                    // What the kernel already accepted and the lines the TCP connections have
                    // handed over belong to this window too.
                    while let Ok((length, _peer)) = self.statsd_socket.try_recv_from(&mut datagram) {
                        intake.packet(Protocol::Statsd, &datagram[..length]);
                    }
                    while let Ok((length, _peer)) = self.graphite_socket.try_recv_from(&mut datagram) {
                        intake.packet(Protocol::Graphite, &datagram[..length]);
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
                    self.flush(window_start, &mut intake, &mut counter_deltas);
                    return;
                }
                _ = &mut window_end => {
                    let now_ms = unix_now_ms();
                    let window_end_ms = clock.current_window_start_ms()
                        + self.settings.flush_interval.as_millis() as i64;
                    self.metrics
                        .set(Gauge::TimestampLag, now_ms.saturating_sub(window_end_ms).max(0) as f64);
                    let window_start = clock.close_window(now_ms);
                    self.flush(window_start, &mut intake, &mut counter_deltas);
                    let until_next_end = clock.time_until_window_end(unix_now_ms());
                    window_end.as_mut().reset(tokio::time::Instant::now() + until_next_end);
                }
                Some(chunk) = self.tcp_chunks.recv() => intake.chunk(&chunk),
                received = self.statsd_socket.recv_from(&mut datagram) => match received {
                    Ok((length, _peer)) => intake.packet(Protocol::Statsd, &datagram[..length]),
                    Err(error) => warn!(%error, "statsd udp receive failed"),
                },
                received = self.graphite_socket.recv_from(&mut graphite_datagram) => match received {
                    Ok((length, _peer)) => intake.packet(Protocol::Graphite, &graphite_datagram[..length]),
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
        counter_deltas: &mut CounterDeltas,
    ) {
        let flush_started = Instant::now();
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
            series: current.take_window(window_start),
            events: current.take_events(),
            points,
        };
        series_sealed += contents.series.len();
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
        for part in contents.split_to_fit(max_contents_bytes) {
            if part.encoded_len() > max_contents_bytes {
                // One series, event or point alone is bigger than a message may be.
                self.metrics.increment(Counter::BatchesDropped);
                error!(
                    window_start,
                    bytes = part.encoded_len(),
                    max_contents_bytes,
                    "a single series, event or point exceeds the nats max payload, dropped"
                );
                continue;
            }
            let batch = self.sequencer.seal(window_start, part);
            debug!(
                window_start,
                sequence = batch.sequence,
                series = batch.series.len(),
                events = batch.events.len(),
                points = batch.points.len(),
                "window sealed"
            );
            self.batches.push(batch);
        }
    }
}

/// How long shutdown waits for TCP connections to hand over what they have read.
const TCP_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Room left in a NATS message for everything but the window's contents: the batch's own
/// fields (ids, interval) and the headers (`Nats-Msg-Id`), with a wide margin.
const BATCH_ENVELOPE_BYTES: usize = 4096;

/// Everything one packet's lines go into: the windows, the counts, the rate-limited log.
struct Intake {
    windows: Windows,
    metrics: Arc<SelfMetrics>,
    log: RateLimitedLog,
    /// Set by the receive loop before each packet.
    current_window_start_ms: i64,
}

impl Intake {
    /// Handles the whole lines one TCP read produced, as one packet.
    fn chunk(&mut self, chunk: &LineChunk) {
        if chunk.lines_too_long > 0 {
            self.metrics
                .add(Counter::BadLinesSeen, chunk.lines_too_long);
            if let Some(suppressed) = self.log.permit(Instant::now()) {
                warn!(
                    lines = chunk.lines_too_long,
                    suppressed, "tcp line longer than max_line_bytes, skipped"
                );
            }
        }
        if !chunk.lines.is_empty() {
            self.packet(chunk.protocol, &chunk.lines);
        }
    }

    /// Parses every line of one packet into the windows; a bad line is counted and logged and
    /// the rest of the packet is still used.
    fn packet(&mut self, protocol: Protocol, packet: &[u8]) {
        self.metrics.increment(Counter::PacketsReceived);
        match protocol {
            Protocol::Statsd => {
                for line in parse::lines(packet) {
                    self.statsd_line(line);
                }
            }
            Protocol::Graphite => {
                // `-1` means now; one clock read per packet is enough for whole seconds.
                let now_unix_seconds = unix_now_ms() / 1000;
                for line in parse::lines(packet) {
                    self.graphite_line(line, now_unix_seconds);
                }
            }
        }
    }

    fn statsd_line(&mut self, line: &[u8]) {
        match parse::parse_line(line) {
            Ok(Line::Metric(sample)) => {
                self.metrics.increment(Counter::MetricsReceived);
                if let Err(too_old) = self.windows.record(&sample, self.current_window_start_ms) {
                    self.metrics.increment(Counter::SamplesTooOld);
                    self.log_dropped_line(line, &too_old, "sample too old, dropped");
                }
            }
            Ok(Line::Event(event)) => {
                self.metrics.increment(Counter::EventsReceived);
                // The clock is read only for events: a `d:`-less event happened when received.
                if !self.windows.current().record_event(&event, unix_now_ms()) {
                    self.metrics.increment(Counter::EventsAndPointsDropped);
                    let reason = format!(
                        "more than {} events in one window",
                        crate::aggregate::MAX_EVENTS_PER_WINDOW
                    );
                    self.log_dropped_line(line, &reason, "event dropped");
                }
            }
            Err(error) => self.bad_line(line, error),
        }
    }

    fn graphite_line(&mut self, line: &[u8], now_unix_seconds: i64) {
        match parse::parse_graphite_line(line, now_unix_seconds) {
            Ok(point) => {
                self.metrics.increment(Counter::PointsReceived);
                if !self.windows.record_point(&point) {
                    self.metrics.increment(Counter::EventsAndPointsDropped);
                    let reason = format!("more than {MAX_POINTS_PER_WINDOW} points in one window");
                    self.log_dropped_line(line, &reason, "graphite point dropped");
                }
            }
            Err(error) => self.bad_line(line, error),
        }
    }

    /// Counts a malformed line and logs it, at most a few times per second.
    fn bad_line(&mut self, line: &[u8], error: ParseError) {
        self.metrics.increment(Counter::BadLinesSeen);
        self.log_dropped_line(line, &error, "bad line");
    }

    /// Logs a line that was not used, at most a few times per second, with its first 200 bytes.
    fn log_dropped_line(&mut self, line: &[u8], reason: &dyn std::fmt::Display, message: &str) {
        let Some(suppressed) = self.log.permit(Instant::now()) else {
            return;
        };
        let shown = String::from_utf8_lossy(&line[..line.len().min(200)]);
        warn!(error = %reason, line = %shown, suppressed, "{message}");
    }
}

/// Allows `limit` messages per `period`, and says how many were suppressed since the last one.
struct RateLimitedLog {
    limit: u32,
    period: Duration,
    period_start: Option<Instant>,
    permitted_in_period: u32,
    suppressed: u64,
}

impl RateLimitedLog {
    fn new(limit: u32, period: Duration) -> Self {
        Self {
            limit,
            period,
            period_start: None,
            permitted_in_period: 0,
            suppressed: 0,
        }
    }

    /// `Some(suppressed since last permit)` if a message may be logged now.
    fn permit(&mut self, now: Instant) -> Option<u64> {
        let period_over = self
            .period_start
            .is_none_or(|start| now.duration_since(start) >= self.period);
        if period_over {
            self.period_start = Some(now);
            self.permitted_in_period = 0;
        }
        if self.permitted_in_period >= self.limit {
            self.suppressed += 1;
            return None;
        }
        self.permitted_in_period += 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bad_line_log_is_rate_limited_and_reports_what_it_suppressed() {
        let mut log = RateLimitedLog::new(2, Duration::from_secs(1));
        let start = Instant::now();
        assert_eq!(log.permit(start), Some(0));
        assert_eq!(log.permit(start), Some(0));
        assert_eq!(log.permit(start), None);
        assert_eq!(log.permit(start + Duration::from_millis(500)), None);
        assert_eq!(log.permit(start + Duration::from_secs(1)), Some(2));
    }
}
