//! What every received line goes through, on whichever thread received it: split a packet
//! into lines, parse each, count it and record it into that thread's windows, logging bad
//! lines at a bounded rate.
//!
//! The coordinating receive loop ([`crate::server`]) has one `Intake` for TCP and Graphite;
//! each statsd UDP receive worker ([`crate::receive_workers`]) has its own. Counts are kept
//! in [`PendingCounts`] and added to the shared self-metrics by the owner after each batch
//! ([`Intake::publish_counts`]), not one atomic add per line.

use crate::aggregate::RECORD_BATCH;
use crate::flush::unix_now_ms;
use crate::gauge_updates::ReceiveClock;
use crate::parse::{self, Line, ParseError, Sample};
use crate::stats::{Counter, PendingCounts, SelfMetrics};
use crate::tcp::{LineChunk, Protocol};
use crate::windows::{WhenFull, Windows, MAX_POINTS_PER_WINDOW};
use smallvec::SmallVec;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::warn;

/// Everything one packet's lines go into: the windows, the counts, the rate-limited log.
pub struct Intake {
    pub windows: Windows,
    metrics: Arc<SelfMetrics>,
    counts: PendingCounts,
    log: RateLimitedLog,
    /// Where the window open now starts; set by the owner before each packet, so `|T` samples
    /// of closed windows go to late windows.
    pub current_window_start_ms: i64,
}

impl Intake {
    pub fn new(windows: Windows, metrics: Arc<SelfMetrics>) -> Self {
        Self {
            windows,
            metrics,
            counts: PendingCounts::default(),
            log: RateLimitedLog::new(5, Duration::from_secs(1)),
            current_window_start_ms: 0,
        }
    }

    /// Adds what was counted since the last call to the shared self-metrics.
    pub fn publish_counts(&mut self) {
        self.counts.publish(&self.metrics);
    }

    /// Handles the whole lines one TCP read produced, as one packet.
    pub fn chunk(&mut self, chunk: &LineChunk) {
        if chunk.lines_too_long > 0 {
            self.counts.add(Counter::BadLinesSeen, chunk.lines_too_long);
            if let Some(suppressed) = self.log.permit(Instant::now()) {
                warn!(
                    lines = chunk.lines_too_long,
                    suppressed, "tcp line longer than max_line_bytes, skipped"
                );
            }
        }
        if chunk.lines.is_empty() {
            return;
        }
        match chunk.protocol {
            Protocol::Statsd => self.statsd_datagrams([(&chunk.lines[..], false)]),
            Protocol::Graphite => self.graphite_packet(&chunk.lines, WhenFull::Keep),
        }
    }

    /// Handles one UDP datagram, `truncated` when it was longer than `max_datagram_bytes` and
    /// the kernel cut it. The line the cut went through is incomplete — parsed, `a:1|c|@0.1`
    /// cut to `a:1|c` would count ten times too much — so it is skipped and counted as a bad
    /// line, and the whole lines before it are used.
    pub fn datagram(&mut self, protocol: Protocol, datagram: &[u8], truncated: bool) {
        let whole_lines = self.whole_lines(datagram, truncated);
        self.packet(protocol, whole_lines);
    }

    /// Handles the statsd datagrams one receive call returned, each with whether it was
    /// truncated (as in [`Self::datagram`]). The current window's samples are recorded
    /// [`RECORD_BATCH`] at a time across datagram boundaries: a datagram holds 10 to 30 lines,
    /// and batching each one apart left a short batch, whose lookups barely overlap, at the end
    /// of nearly every one.
    pub fn statsd_datagrams<'datagram>(
        &mut self,
        datagrams: impl IntoIterator<Item = (&'datagram [u8], bool)>,
    ) {
        let mut batch = SmallVec::new();
        // One reading for the whole receive call: the order gauge updates of several workers
        // are applied in (see `gauge_updates`).
        self.windows.set_receive_time(ReceiveClock::now_micros());
        for (datagram, truncated) in datagrams {
            let whole_lines = self.whole_lines(datagram, truncated);
            self.statsd_packet(whole_lines, &mut batch);
        }
        self.windows.record_current(&batch);
    }

    /// The whole lines of a datagram, counting and logging the line a truncation cut.
    fn whole_lines<'datagram>(
        &mut self,
        datagram: &'datagram [u8],
        truncated: bool,
    ) -> &'datagram [u8] {
        if !truncated {
            return datagram;
        }
        self.counts.increment(Counter::DatagramsTruncated);
        let whole_lines_end = datagram
            .iter()
            .rposition(|byte| *byte == b'\n')
            .map_or(0, |newline| newline + 1);
        let (whole_lines, cut_line) = datagram.split_at(whole_lines_end);
        self.counts.increment(Counter::BadLinesSeen);
        self.log_dropped_line(
            cut_line,
            &"datagram longer than max_datagram_bytes",
            "line cut off by max_datagram_bytes, skipped",
        );
        whole_lines
    }

    /// Parses every line of one packet into the windows; a bad line is counted and logged and
    /// the rest of the packet is still used.
    pub fn packet(&mut self, protocol: Protocol, packet: &[u8]) {
        match protocol {
            Protocol::Statsd => self.statsd_datagrams([(packet, false)]),
            Protocol::Graphite => self.graphite_packet(packet, WhenFull::Drop),
        }
    }

    /// Parses every line of one Graphite packet into the window's points.
    fn graphite_packet(&mut self, packet: &[u8], when_full: WhenFull) {
        self.counts.increment(Counter::PacketsReceived);
        // `-1` means now; one clock read per packet is enough for whole seconds.
        let now_unix_seconds = unix_now_ms() / 1000;
        for line in parse::lines(packet) {
            self.graphite_line(line, now_unix_seconds, when_full);
        }
    }

    /// Parses every line of one statsd packet. Samples of the current window go into `batch`,
    /// which is recorded whenever it is full (so their lookups overlap, see
    /// `Aggregates::record_batch`), and the caller records what is left; everything else is
    /// recorded as it comes.
    fn statsd_packet<'packet>(
        &mut self,
        packet: &'packet [u8],
        batch: &mut SmallVec<[Sample<'packet>; RECORD_BATCH]>,
    ) {
        self.counts.increment(Counter::PacketsReceived);
        for line in parse::lines(packet) {
            self.statsd_line(line, batch);
            if batch.len() == RECORD_BATCH {
                self.windows.record_current(batch);
                batch.clear();
            }
        }
    }

    /// Handles one statsd line, except a sample of the current window, which it adds to
    /// `batch` for the caller to record. Pushed here, where it was parsed, rather than
    /// returned: each move of a just-built sample costs more than parsing it.
    #[inline(always)]
    fn statsd_line<'line>(
        &mut self,
        line: &'line [u8],
        batch: &mut SmallVec<[Sample<'line>; RECORD_BATCH]>,
    ) {
        match parse::parse_line(line) {
            Ok(Line::Metric(sample)) => {
                self.counts.increment(Counter::MetricsReceived);
                if self
                    .windows
                    .is_current(&sample, self.current_window_start_ms)
                {
                    batch.push(sample);
                    return;
                }
                if let Err(too_old) = self.windows.record(&sample, self.current_window_start_ms) {
                    self.counts.increment(Counter::SamplesTooOld);
                    self.log_dropped_line(line, &too_old, "sample too old, dropped");
                }
            }
            Ok(Line::Event(event)) => {
                self.counts.increment(Counter::EventsReceived);
                // The clock is read only for events: a `d:`-less event happened when received.
                if !self.windows.current().record_event(&event, unix_now_ms()) {
                    self.counts.increment(Counter::EventsAndPointsDropped);
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

    fn graphite_line(&mut self, line: &[u8], now_unix_seconds: i64, when_full: WhenFull) {
        match parse::parse_graphite_line(line, now_unix_seconds) {
            Ok(point) => {
                self.counts.increment(Counter::PointsReceived);
                if !self.windows.record_point(&point, when_full) {
                    self.counts.increment(Counter::EventsAndPointsDropped);
                    let reason = format!("more than {MAX_POINTS_PER_WINDOW} points in one window");
                    self.log_dropped_line(line, &reason, "graphite point dropped");
                }
            }
            Err(error) => self.bad_line(line, error),
        }
    }

    /// Counts a malformed line and logs it, at most a few times per second.
    fn bad_line(&mut self, line: &[u8], error: ParseError) {
        self.counts.increment(Counter::BadLinesSeen);
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
    use abacus_proto::v1::series_aggregate::Aggregate;
    use abacus_proto::v1::{CounterAggregate, GaugeAggregate};

    fn intake(metrics: &Arc<SelfMetrics>) -> Intake {
        Intake::new(
            Windows::new(
                crate::aggregate::AggregationSettings::default(),
                Duration::from_secs(10),
                Duration::from_secs(3600),
            ),
            metrics.clone(),
        )
    }

    #[test]
    fn a_truncated_datagram_loses_only_the_line_the_cut_went_through() {
        let metrics = Arc::new(SelfMetrics::default());
        let mut intake = intake(&metrics);
        intake.datagram(Protocol::Statsd, b"a:1|c\nb:2|c\nc:1|c|@0", true);
        intake.datagram(Protocol::Statsd, b"d:1|c|@0.1", true);
        intake.datagram(Protocol::Statsd, b"e:1|c\n", false);
        intake.publish_counts();
        assert_eq!(metrics.counter(Counter::DatagramsTruncated), 2);
        assert_eq!(metrics.counter(Counter::BadLinesSeen), 2);
        assert_eq!(metrics.counter(Counter::MetricsReceived), 3);
        let mut names: Vec<String> = intake
            .windows
            .current()
            .take_window(0)
            .into_iter()
            .map(|series| series.name)
            .collect();
        names.sort();
        assert_eq!(names, ["a", "b", "e"]);
    }

    /// One receive call's datagrams are batched together, yet each is still its own packet:
    /// samples keep their order across datagrams (the last gauge value wins), a truncated
    /// datagram loses only its cut line, and a bad line loses nothing around it.
    #[test]
    fn datagrams_of_one_receive_call_are_recorded_in_order_and_apart() {
        let metrics = Arc::new(SelfMetrics::default());
        let mut intake = intake(&metrics);
        // More samples than one record batch, so batches cross datagram boundaries.
        let many_counts: String = (0..RECORD_BATCH + 3).map(|_| "n:1|c\n").collect();
        let datagrams: [(&[u8], bool); 4] = [
            (b"g:1|g\nbad line\nn:1|c", false),
            (many_counts.as_bytes(), false),
            (b"g:2|g\nn:1|c\nn:5|c|@0.1", true),
            (b"g:+4|g", false),
        ];
        intake.statsd_datagrams(datagrams);
        intake.publish_counts();
        assert_eq!(metrics.counter(Counter::PacketsReceived), 4);
        assert_eq!(metrics.counter(Counter::DatagramsTruncated), 1);
        assert_eq!(metrics.counter(Counter::BadLinesSeen), 2);
        let mut values: Vec<(String, Option<Aggregate>)> = intake
            .windows
            .current()
            .take_window(0)
            .into_iter()
            .map(|series| (series.name, series.aggregate))
            .collect();
        values.sort_by(|a, b| a.0.cmp(&b.0));
        let expected_count = (1 + RECORD_BATCH + 3 + 1) as f64;
        assert_eq!(
            values,
            [
                (
                    "g".to_owned(),
                    Some(Aggregate::Gauge(GaugeAggregate { value: 6.0 }))
                ),
                (
                    "n".to_owned(),
                    Some(Aggregate::Counter(CounterAggregate {
                        count: expected_count
                    }))
                ),
            ]
        );
    }

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
