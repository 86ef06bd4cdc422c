//! The aggregator's own metrics, etsy statsd style: what it received, dropped and published.
//!
//! One [`SelfMetrics`] is shared (behind an `Arc`) by the receive loop, the TCP listeners and the
//! publisher. Each of them counts an event where it handles (and logs) it, with a relaxed atomic
//! add, so counting costs nothing measurable on the hot path and needs no lock. Two readers
//! take the values out: the receive loop adds them to every flush batch as ordinary series
//! under `aggregator.self_metrics_prefix` (so they are stored and graphable like any metric),
//! and the admin server renders them in the Prometheus text format.
//!
//! Counters only ever grow (since start-up); a batch carries the increase since the previous
//! flush ([`CounterDeltas`]), as a statsd counter does. Gauges hold their last value, as `f64`
//! bits in an `AtomicU64`.

use abacus_proto::exposition::{Exposition, Metrics};
use abacus_proto::v1::{
    series_aggregate::Aggregate, CounterAggregate, GaugeAggregate, SeriesAggregate,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Events counted since start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// UDP datagrams and TCP reads (chunks of whole lines).
    PacketsReceived,
    /// statsd metric lines parsed successfully.
    MetricsReceived,
    /// Lines that could not be parsed, or TCP lines longer than `max_line_bytes`.
    BadLinesSeen,
    /// `|T` samples older than `max_timestamp_lag`, dropped.
    SamplesTooOld,
    /// Graphite plaintext points parsed successfully.
    PointsReceived,
    /// DogStatsD events and service checks parsed successfully.
    EventsReceived,
    /// Events and points beyond their per-window limit, dropped.
    EventsAndPointsDropped,
    /// Failed publish attempts (each retry counts).
    PublishErrors,
    /// Finished batches that were never published: evicted from a full publish buffer or
    /// still unpublished when the shutdown publish timeout ran out.
    BatchesDropped,
    /// TCP connections closed at once because `max_tcp_connections` were open.
    TcpConnectionsRefused,
    /// Gauge checkpoints that could not be written to the key-value bucket.
    GaugeCheckpointErrors,
    /// UDP datagrams longer than `max_datagram_bytes`, cut to it (the line cut in two is
    /// skipped and counted as a bad line).
    DatagramsTruncated,
}

impl Counter {
    pub const ALL: [Counter; 12] = [
        Counter::PacketsReceived,
        Counter::MetricsReceived,
        Counter::BadLinesSeen,
        Counter::SamplesTooOld,
        Counter::PointsReceived,
        Counter::EventsReceived,
        Counter::EventsAndPointsDropped,
        Counter::PublishErrors,
        Counter::BatchesDropped,
        Counter::TcpConnectionsRefused,
        Counter::GaugeCheckpointErrors,
        Counter::DatagramsTruncated,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Counter::PacketsReceived => "packets_received",
            Counter::MetricsReceived => "metrics_received",
            Counter::BadLinesSeen => "bad_lines_seen",
            Counter::SamplesTooOld => "samples_too_old",
            Counter::PointsReceived => "points_received",
            Counter::EventsReceived => "events_received",
            Counter::EventsAndPointsDropped => "events_and_points_dropped",
            Counter::PublishErrors => "publish_errors",
            Counter::BatchesDropped => "batches_dropped",
            Counter::TcpConnectionsRefused => "tcp_connections_refused",
            Counter::GaugeCheckpointErrors => "gauge_checkpoint_errors",
            Counter::DatagramsTruncated => "datagrams_truncated",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Counter::PacketsReceived => "UDP datagrams and TCP reads received.",
            Counter::MetricsReceived => "statsd metric lines received and parsed.",
            Counter::BadLinesSeen => "Malformed or overlong lines, skipped.",
            Counter::SamplesTooOld => "Timestamped samples older than max_timestamp_lag, dropped.",
            Counter::PointsReceived => "Graphite plaintext points received.",
            Counter::EventsReceived => "DogStatsD events and service checks received.",
            Counter::EventsAndPointsDropped => {
                "Events and points beyond the per-window limit, dropped."
            }
            Counter::PublishErrors => "Failed attempts to publish a batch to JetStream.",
            Counter::BatchesDropped => "Finished batches dropped without being published.",
            Counter::TcpConnectionsRefused => {
                "TCP connections closed because max_tcp_connections were open."
            }
            Counter::GaugeCheckpointErrors => {
                "Gauge values that could not be checkpointed for recovery after a restart."
            }
            Counter::DatagramsTruncated => {
                "UDP datagrams longer than max_datagram_bytes, cut (their last line skipped)."
            }
        }
    }
}

/// Values that are set rather than counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gauge {
    /// How late the last flush ran after its window ended, in ms.
    TimestampLag,
    /// How long the last flush took to seal its windows into batches, in ms.
    ProcessingTime,
    /// How long publishing the last batch took, from the publisher taking it to JetStream's
    /// acknowledgement (retries included), in ms.
    FlushTime,
    /// Finished batches waiting for the publisher.
    BatchesBuffered,
    /// Series in the batches of the last flush.
    Series,
}

impl Gauge {
    pub const ALL: [Gauge; 5] = [
        Gauge::TimestampLag,
        Gauge::ProcessingTime,
        Gauge::FlushTime,
        Gauge::BatchesBuffered,
        Gauge::Series,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Gauge::TimestampLag => "timestamp_lag",
            Gauge::ProcessingTime => "processing_time",
            Gauge::FlushTime => "flush_time",
            Gauge::BatchesBuffered => "batches_buffered",
            Gauge::Series => "series",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Gauge::TimestampLag => "Milliseconds the last flush ran after its window ended.",
            Gauge::ProcessingTime => "Milliseconds the last flush took to seal its batches.",
            Gauge::FlushTime => "Milliseconds publishing the last batch took, retries included.",
            Gauge::BatchesBuffered => "Finished batches waiting to be published.",
            Gauge::Series => "Series in the batches of the last flush.",
        }
    }
}

/// The shared counters and gauges.
#[derive(Debug, Default)]
pub struct SelfMetrics {
    counters: [AtomicU64; Counter::ALL.len()],
    /// `f64::to_bits` of each gauge.
    gauges: [AtomicU64; Gauge::ALL.len()],
}

impl SelfMetrics {
    pub fn add(&self, counter: Counter, increment: u64) {
        // Relaxed: each value is independent and only ever read as a whole number.
        self.counters[counter as usize].fetch_add(increment, Ordering::Relaxed);
    }

    pub fn increment(&self, counter: Counter) {
        self.add(counter, 1);
    }

    pub fn set(&self, gauge: Gauge, value: f64) {
        self.gauges[gauge as usize].store(value.to_bits(), Ordering::Relaxed);
    }

    pub fn counter(&self, counter: Counter) -> u64 {
        self.counters[counter as usize].load(Ordering::Relaxed)
    }

    pub fn gauge(&self, gauge: Gauge) -> f64 {
        f64::from_bits(self.gauges[gauge as usize].load(Ordering::Relaxed))
    }

    /// Everything in the OpenMetrics text format Prometheus scrapes, names prefixed with the
    /// self-metrics prefix made a Prometheus namespace (every character Prometheus does not
    /// allow made `_`). Counters get the format's `_total` suffix.
    pub fn prometheus_text(self: &Arc<Self>, prefix: &str) -> String {
        let namespace = prometheus_namespace(prefix);
        abacus_proto::exposition::render(Arc::clone(self), namespace.trim_end_matches('_'))
    }
}

impl Metrics for SelfMetrics {
    fn expose(&self, exposition: &mut Exposition<'_, '_>) -> std::fmt::Result {
        for counter in Counter::ALL {
            exposition.counter(counter.name(), counter.help(), self.counter(counter))?;
        }
        for gauge in Gauge::ALL {
            exposition.gauge(gauge.name(), gauge.help(), self.gauge(gauge))?;
        }
        Ok(())
    }
}

/// Counts kept by one thread and added to the shared [`SelfMetrics`] now and then: a receive
/// worker counts every line, and an atomic add per line from several cores would make them
/// contend for one cache line.
#[derive(Debug, Default)]
pub(crate) struct PendingCounts {
    counts: [u64; Counter::ALL.len()],
}

impl PendingCounts {
    pub(crate) fn add(&mut self, counter: Counter, increment: u64) {
        self.counts[counter as usize] += increment;
    }

    pub(crate) fn increment(&mut self, counter: Counter) {
        self.add(counter, 1);
    }

    /// Adds what was counted since the last call to `metrics`.
    pub(crate) fn publish(&mut self, metrics: &SelfMetrics) {
        for (counter, pending) in Counter::ALL.into_iter().zip(self.counts.iter_mut()) {
            if *pending > 0 {
                metrics.add(counter, std::mem::take(pending));
            }
        }
    }
}

/// `abacus.aggregator` → `abacus_aggregator_`; empty stays empty.
fn prometheus_namespace(prefix: &str) -> String {
    if prefix.is_empty() {
        return String::new();
    }
    let mut namespace: String = prefix
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || character == '_' {
                character
            } else {
                '_'
            }
        })
        .collect();
    if namespace.starts_with(|character: char| character.is_ascii_digit()) {
        namespace.insert(0, '_');
    }
    namespace.push('_');
    namespace
}

/// Turns the ever-growing counters into per-flush increases, as statsd counters are.
#[derive(Debug, Default)]
pub(crate) struct CounterDeltas {
    last_reported: [u64; Counter::ALL.len()],
}

impl CounterDeltas {
    /// Every counter (its increase since the previous call) and every gauge as series named
    /// `<prefix>.<name>`.
    pub(crate) fn series(&mut self, metrics: &SelfMetrics, prefix: &str) -> Vec<SeriesAggregate> {
        let mut series = Vec::with_capacity(Counter::ALL.len() + Gauge::ALL.len());
        for counter in Counter::ALL {
            let now = metrics.counter(counter);
            let increase = now.saturating_sub(self.last_reported[counter as usize]);
            self.last_reported[counter as usize] = now;
            series.push(self_series(
                prefix,
                counter.name(),
                Aggregate::Counter(CounterAggregate {
                    count: increase as f64,
                }),
            ));
        }
        for gauge in Gauge::ALL {
            series.push(self_series(
                prefix,
                gauge.name(),
                Aggregate::Gauge(GaugeAggregate {
                    value: metrics.gauge(gauge),
                }),
            ));
        }
        series
    }
}

fn self_series(prefix: &str, name: &str, aggregate: Aggregate) -> SeriesAggregate {
    SeriesAggregate {
        name: if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        },
        tags: Vec::new(),
        aggregate: Some(aggregate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_text_is_openmetrics_with_total_suffixed_counters() {
        let metrics = Arc::new(SelfMetrics::default());
        metrics.add(Counter::BadLinesSeen, 3);
        metrics.set(Gauge::BatchesBuffered, 2.0);
        let text = metrics.prometheus_text("abacus.aggregator");
        // OpenMetrics: the TYPE line names the counter family, its sample has `_total`.
        assert!(
            text.contains("# TYPE abacus_aggregator_bad_lines_seen counter\n"),
            "{text}"
        );
        assert!(
            text.contains("\nabacus_aggregator_bad_lines_seen_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP abacus_aggregator_batches_buffered "),
            "{text}"
        );
        assert!(
            text.contains("\nabacus_aggregator_batches_buffered 2.0\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn batches_carry_counter_increases_since_the_previous_flush() {
        let metrics = SelfMetrics::default();
        let mut deltas = CounterDeltas::default();
        let count = |series: &[SeriesAggregate], name: &str| {
            series
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| match s.aggregate {
                    Some(Aggregate::Counter(CounterAggregate { count })) => Some(count),
                    _ => None,
                })
        };
        metrics.add(Counter::PacketsReceived, 5);
        let first = deltas.series(&metrics, "abacus.aggregator");
        assert_eq!(
            count(&first, "abacus.aggregator.packets_received"),
            Some(5.0)
        );
        metrics.add(Counter::PacketsReceived, 2);
        let second = deltas.series(&metrics, "abacus.aggregator");
        assert_eq!(
            count(&second, "abacus.aggregator.packets_received"),
            Some(2.0)
        );
        assert_eq!(first.len(), Counter::ALL.len() + Gauge::ALL.len());
    }

    #[test]
    fn prefixes_become_prometheus_namespaces() {
        assert_eq!(
            prometheus_namespace("abacus.aggregator"),
            "abacus_aggregator_"
        );
        assert_eq!(prometheus_namespace("9-lives"), "_9_lives_");
        assert_eq!(prometheus_namespace(""), "");
    }
}
