//! The receive loop: reads statsd datagrams from the UDP socket and whole lines from the TCP
//! connections (see [`crate::tcp`]), folds every line into its window, and at each window end
//! hands the finished batches to the publisher.
//!
//! Receiving and flushing share one task, so a window is closed between two datagrams and no
//! sample can fall between windows. Sealing a window only moves the aggregates out; encoding and
//! publishing happen on the publisher task.

use crate::aggregate::AggregationSettings;
use crate::config::AggregatorSettings;
use crate::flush::{unix_now_ms, BatchSequencer, WindowClock, WindowContents};
use crate::parse::{self, Line, ParseError};
use crate::tcp::LineChunk;
use crate::windows::{TooOld, Windows};
use abacus_proto::v1::FlushBatch;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

/// Counts of what the receive loop has seen since start-up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveStats {
    pub packets_received: u64,
    pub metrics_received: u64,
    /// DogStatsD events and service checks.
    pub events_received: u64,
    pub bad_lines_seen: u64,
    /// `|T` samples older than `max_timestamp_lag`, dropped.
    pub samples_too_old: u64,
    pub batches_dropped: u64,
}

pub struct ReceiveLoop {
    pub socket: UdpSocket,
    /// Whole lines from every TCP connection.
    pub tcp_chunks: mpsc::Receiver<LineChunk>,
    pub settings: AggregatorSettings,
    pub sequencer: BatchSequencer,
    pub batches: mpsc::Sender<FlushBatch>,
    pub shutdown: CancellationToken,
}

impl ReceiveLoop {
    /// Runs until shutdown, then flushes the partial window and returns.
    pub async fn run(mut self) -> ReceiveStats {
        let mut windows = Windows::new(
            AggregationSettings {
                histogram_significant_digits: self.settings.histogram_significant_digits,
                idle_series_expiry: self.settings.idle_series_expiry,
            },
            self.settings.flush_interval,
            self.settings.max_timestamp_lag,
        );
        let mut stats = ReceiveStats::default();
        let mut bad_line_log = RateLimitedLog::new(5, Duration::from_secs(1));
        let mut clock = WindowClock::new(self.settings.flush_interval, unix_now_ms());
        let mut datagram = vec![0u8; self.settings.max_datagram_bytes];
        let window_end = tokio::time::sleep(clock.time_until_window_end(unix_now_ms()));
        tokio::pin!(window_end);
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => {
                    // Datagrams the kernel already accepted belong to this window too.
                    while let Ok((length, _peer)) = self.socket.try_recv_from(&mut datagram) {
                        handle_datagram(&datagram[..length], clock.current_window_start_ms(), &mut windows, &mut stats, &mut bad_line_log);
                    }
                    // And so do the lines the TCP connections have handed over.
                    while let Ok(chunk) = self.tcp_chunks.try_recv() {
                        handle_chunk(&chunk, clock.current_window_start_ms(), &mut windows, &mut stats, &mut bad_line_log);
                    }
                    let window_start = clock.current_window_start_ms();
                    info!(window_start, "shutting down, flushing the partial window");
                    self.flush(window_start, &mut windows, &mut stats);
                    return stats;
                }
                _ = &mut window_end => {
                    let window_start = clock.close_window(unix_now_ms());
                    self.flush(window_start, &mut windows, &mut stats);
                    let until_next_end = clock.time_until_window_end(unix_now_ms());
                    window_end.as_mut().reset(tokio::time::Instant::now() + until_next_end);
                }
                Some(chunk) = self.tcp_chunks.recv() => {
                    handle_chunk(&chunk, clock.current_window_start_ms(), &mut windows, &mut stats, &mut bad_line_log);
                }
                received = self.socket.recv_from(&mut datagram) => {
                    let length = match received {
                        Ok((length, _peer)) => length,
                        Err(error) => {
                            warn!(%error, "udp receive failed");
                            continue;
                        }
                    };
                    handle_datagram(&datagram[..length], clock.current_window_start_ms(), &mut windows, &mut stats, &mut bad_line_log);
                }
            }
        }
    }

    /// Publishes the window that started at `window_start` and every late window, oldest
    /// first, each as its own batch.
    fn flush(&mut self, window_start: i64, windows: &mut Windows, stats: &mut ReceiveStats) {
        for (late_window_start, series) in windows.take_late_windows() {
            let contents = WindowContents {
                series,
                ..WindowContents::default()
            };
            self.seal_and_hand_over(late_window_start, contents, stats);
        }
        let current = windows.current();
        let contents = WindowContents {
            series: current.take_window(window_start),
            events: current.take_events(),
            points: Vec::new(),
        };
        self.seal_and_hand_over(window_start, contents, stats);
    }

    fn seal_and_hand_over(
        &mut self,
        window_start: i64,
        contents: WindowContents,
        stats: &mut ReceiveStats,
    ) {
        if contents.is_empty() {
            return;
        }
        let batch = self.sequencer.seal(window_start, contents);
        debug!(
            window_start,
            sequence = batch.sequence,
            series = batch.series.len(),
            events = batch.events.len(),
            "window sealed"
        );
        if let Err(error) = self.batches.try_send(batch) {
            stats.batches_dropped += 1;
            error!(
                %error,
                dropped = stats.batches_dropped,
                "publish buffer full, batch dropped"
            );
        }
    }
}

/// Parses every line of one datagram into the window; a bad line is counted and logged and the
/// rest of the datagram is still used.
fn handle_datagram(
    datagram: &[u8],
    current_window_start_ms: i64,
    windows: &mut Windows,
    stats: &mut ReceiveStats,
    bad_line_log: &mut RateLimitedLog,
) {
    stats.packets_received += 1;
    for line in parse::lines(datagram) {
        match parse::parse_line(line) {
            Ok(Line::Metric(sample)) => {
                stats.metrics_received += 1;
                if let Err(too_old) = windows.record(&sample, current_window_start_ms) {
                    stats.samples_too_old += 1;
                    log_sample_too_old(bad_line_log, line, too_old);
                }
            }
            Ok(Line::Event(event)) => {
                stats.events_received += 1;
                let current = windows.current();
                // The clock is read only for events: a `d:`-less event happened when received.
                if !current.record_event(&event, unix_now_ms()) {
                    log_event_dropped(bad_line_log, current.events_dropped());
                }
            }
            Err(error) => {
                stats.bad_lines_seen += 1;
                log_bad_line(bad_line_log, line, error);
            }
        }
    }
}

/// Handles the whole lines one TCP read produced, as one packet.
fn handle_chunk(
    chunk: &LineChunk,
    current_window_start_ms: i64,
    windows: &mut Windows,
    stats: &mut ReceiveStats,
    bad_line_log: &mut RateLimitedLog,
) {
    if chunk.lines_too_long > 0 {
        stats.bad_lines_seen += chunk.lines_too_long;
        log_lines_too_long(bad_line_log, chunk.lines_too_long);
    }
    if chunk.lines.is_empty() {
        return;
    }
    handle_datagram(
        &chunk.lines,
        current_window_start_ms,
        windows,
        stats,
        bad_line_log,
    );
}

/// Logs TCP lines skipped for their length, at most a few times per second.
fn log_lines_too_long(log: &mut RateLimitedLog, lines: u64) {
    let Some(suppressed) = log.permit(Instant::now()) else {
        return;
    };
    warn!(
        lines,
        suppressed, "tcp line longer than max_line_bytes, skipped"
    );
}

/// Logs a `|T` sample dropped for its age, at most a few times per second.
fn log_sample_too_old(log: &mut RateLimitedLog, line: &[u8], too_old: TooOld) {
    let Some(suppressed) = log.permit(Instant::now()) else {
        return;
    };
    let shown = String::from_utf8_lossy(&line[..line.len().min(200)]);
    warn!(error = %too_old, line = %shown, suppressed, "sample too old, dropped");
}

/// Logs that the window's event limit was reached, at most a few times per second.
fn log_event_dropped(log: &mut RateLimitedLog, dropped_since_start: u64) {
    let Some(suppressed) = log.permit(Instant::now()) else {
        return;
    };
    warn!(
        limit = crate::aggregate::MAX_EVENTS_PER_WINDOW,
        dropped_since_start, suppressed, "too many events in one window, event dropped"
    );
}

/// Logs a malformed line, at most a few times per second, with its first 200 bytes.
fn log_bad_line(log: &mut RateLimitedLog, line: &[u8], error: ParseError) {
    let Some(suppressed) = log.permit(Instant::now()) else {
        return;
    };
    let shown = String::from_utf8_lossy(&line[..line.len().min(200)]);
    warn!(%error, line = %shown, suppressed, "bad line");
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
