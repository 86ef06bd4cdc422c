//! Where a sample goes: the current window, or — for a DogStatsD `|T` timestamp in a window that
//! is already closed — a "late window" of that timestamp.
//!
//! A late window is a separate [`Aggregates`] keyed by its aligned start. At the next flush it
//! is published as a batch of its own, with its own sequence and its own `interval_start`, and
//! forgotten; more late samples for the same interval make another batch later, which the store
//! merges like batches of two aggregators (counts add, the later gauge wins). So a window closes
//! on time and late data still lands in the interval it belongs to.
//!
//! Graphite plaintext points are not aggregated: they carry their own timestamps, so they all
//! ride in the current window's batch (several batches when they do not fit in one message).
//! A window holds at most [`MAX_POINTS_PER_WINDOW`] points received over UDP; beyond that
//! they are dropped and counted. Over TCP nothing is dropped: once the window is full the
//! receive loop stops taking TCP lines until the window ends (see [`Windows::has_room_for_points`]),
//! so senders are slowed down by TCP's flow control and their points go into the next batches.
//!
//! Rules:
//! * A timestamp in the current window or in the future goes into the current window. A future
//!   window's batch could only be published once that window closes, holding state for windows
//!   that do not exist yet on the strength of a client clock that is simply ahead; the current
//!   window is the nearest one that is still open, and a clock a few seconds fast (the usual
//!   case) lands within one interval of the truth.
//! * A timestamp older than `max_timestamp_lag` before the current window is refused
//!   ([`TooOld`]): it bounds how many late windows can exist (lag / interval) and the store
//!   would otherwise be asked to rewrite arbitrarily old intervals.
//! * Gauges in a late window start from nothing, as a gauge new to the aggregator does: a delta
//!   there sets the value unless the gauge was already set in that late window. The current
//!   gauge value is newer than the late sample, so it is neither used as the base nor changed.

use crate::aggregate::{Aggregates, AggregationSettings};
use crate::graphite::raw_point;
use crate::parse::{GraphitePoint, Sample};
use abacus_proto::v1::{RawPoint, SeriesAggregate};
use std::collections::BTreeMap;
use std::time::Duration;

/// A sample whose timestamp lies further in the past than `max_timestamp_lag` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timestamp is {lag_ms} ms before the current window, more than max_timestamp_lag")]
pub struct TooOld {
    pub lag_ms: i64,
}

/// A window holds this many points before UDP points are dropped and TCP lines wait: about
/// 10 MB, so a flood cannot grow memory without bound.
pub const MAX_POINTS_PER_WINDOW: usize = 100_000;

/// What to do with a Graphite point when the window already holds [`MAX_POINTS_PER_WINDOW`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// A UDP datagram cannot be asked to wait: its points are dropped and counted.
    Drop,
    /// Lines a TCP connection handed over are kept: the receive loop takes no more until the
    /// window ends, so the window goes over the limit by at most one chunk of lines.
    Keep,
}

#[derive(Debug)]
pub struct Windows {
    settings: AggregationSettings,
    interval_ms: i64,
    max_timestamp_lag_ms: i64,
    current: Aggregates,
    late: BTreeMap<i64, Aggregates>,
    points: Vec<RawPoint>,
    /// When the samples being recorded were received (see `gauge_updates`).
    receive_time: u64,
}

impl Windows {
    pub fn new(
        settings: AggregationSettings,
        interval: Duration,
        max_timestamp_lag: Duration,
    ) -> Self {
        Self {
            settings,
            interval_ms: i64::try_from(interval.as_millis()).unwrap_or(i64::MAX),
            max_timestamp_lag_ms: i64::try_from(max_timestamp_lag.as_millis()).unwrap_or(i64::MAX),
            current: Aggregates::new(settings),
            late: BTreeMap::new(),
            points: Vec::new(),
            receive_time: 0,
        }
    }

    /// Says when the samples recorded next were received, once per receive call: gauge
    /// updates of several receive workers are applied in this order.
    pub fn set_receive_time(&mut self, received_at: u64) {
        self.receive_time = received_at;
        self.current.set_receive_time(received_at);
    }

    /// The current window's state, for what has no timestamp of its own (and for events).
    pub fn current(&mut self) -> &mut Aggregates {
        &mut self.current
    }

    /// Records a sample in the window of its `|T` timestamp, or in the current window (which
    /// starts at `current_window_start_ms`) when it has none or one that is not in the past.
    pub fn record(
        &mut self,
        sample: &Sample<'_>,
        current_window_start_ms: i64,
    ) -> Result<(), TooOld> {
        let window_start_ms = match self.late_window_of(sample, current_window_start_ms) {
            None => {
                self.current.record(sample);
                return Ok(());
            }
            Some(window_start_ms) => window_start_ms,
        };
        let lag_ms = current_window_start_ms.saturating_sub(window_start_ms);
        if lag_ms > self.max_timestamp_lag_ms {
            return Err(TooOld { lag_ms });
        }
        let settings = self.settings;
        let late = self
            .late
            .entry(window_start_ms)
            .or_insert_with(|| Aggregates::new(settings));
        late.set_receive_time(self.receive_time);
        late.record(sample);
        Ok(())
    }

    /// Records samples that all belong to the current window ([`Self::is_current`]), in
    /// order, as [`Aggregates::record_batch`] does.
    pub fn record_current(&mut self, samples: &[Sample<'_>]) {
        self.current.record_batch(samples);
    }

    /// Whether `sample` goes to the current window (which starts at `current_window_start_ms`):
    /// it has no `|T` timestamp, or one that is not in the past.
    pub fn is_current(&self, sample: &Sample<'_>, current_window_start_ms: i64) -> bool {
        self.late_window_of(sample, current_window_start_ms)
            .is_none()
    }

    /// The start of the closed window `sample`'s timestamp lies in; `None` when the sample
    /// belongs to the current window.
    fn late_window_of(&self, sample: &Sample<'_>, current_window_start_ms: i64) -> Option<i64> {
        let timestamp_ms = sample.timestamp_unix_seconds?.saturating_mul(1000);
        let window_start_ms = timestamp_ms - timestamp_ms.rem_euclid(self.interval_ms);
        (window_start_ms < current_window_start_ms).then_some(window_start_ms)
    }

    /// Keeps a Graphite point for the current window's batch; `false` when the window already
    /// holds [`MAX_POINTS_PER_WINDOW`] and the point was dropped ([`WhenFull::Drop`]).
    pub fn record_point(&mut self, point: &GraphitePoint<'_>, when_full: WhenFull) -> bool {
        if when_full == WhenFull::Drop && !self.has_room_for_points() {
            return false;
        }
        self.points.push(raw_point(point));
        true
    }

    /// Whether the window holds fewer than [`MAX_POINTS_PER_WINDOW`] points; the receive loop
    /// takes TCP lines only while it does.
    pub fn has_room_for_points(&self) -> bool {
        self.points.len() < MAX_POINTS_PER_WINDOW
    }

    /// The points recorded since the last call, in arrival order.
    pub fn take_points(&mut self) -> Vec<RawPoint> {
        std::mem::take(&mut self.points)
    }

    /// Folds a receive worker's shard of the same windows into these (see
    /// [`Aggregates::absorb`]) and leaves it empty. Returns how many of its events and points
    /// were dropped because a window already held its limit.
    pub fn absorb(&mut self, shard: &mut Windows) -> u64 {
        let mut dropped = self.current.absorb(&mut shard.current);
        let settings = self.settings;
        for (window_start_ms, mut late) in std::mem::take(&mut shard.late) {
            dropped += self
                .late
                .entry(window_start_ms)
                .or_insert_with(|| Aggregates::new(settings))
                .absorb(&mut late);
        }
        let room = MAX_POINTS_PER_WINDOW.saturating_sub(self.points.len());
        dropped += shard.points.len().saturating_sub(room) as u64;
        self.points.extend(shard.points.drain(..).take(room));
        dropped
    }

    /// How many late windows hold samples now.
    pub fn late_windows(&self) -> usize {
        self.late.len()
    }

    /// Takes every late window, oldest first, as `(window start, series)`.
    pub fn take_late_windows(&mut self) -> Vec<(i64, Vec<SeriesAggregate>)> {
        std::mem::take(&mut self.late)
            .into_iter()
            .map(|(window_start_ms, mut aggregates)| {
                (window_start_ms, aggregates.take_window(window_start_ms))
            })
            .filter(|(_, series)| !series.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_metric;
    use abacus_proto::v1::{series_aggregate::Aggregate, CounterAggregate, GaugeAggregate};

    const INTERVAL: Duration = Duration::from_secs(10);
    const CURRENT_WINDOW_MS: i64 = 1_700_000_100_000;

    fn windows() -> Windows {
        Windows::new(
            AggregationSettings::default(),
            INTERVAL,
            Duration::from_secs(60),
        )
    }

    fn record(windows: &mut Windows, line: &str) -> Result<(), TooOld> {
        windows.record(&parse_metric(line).unwrap(), CURRENT_WINDOW_MS)
    }

    fn counter(count: f64) -> Aggregate {
        Aggregate::Counter(CounterAggregate { count })
    }

    fn only_aggregates(series: Vec<SeriesAggregate>) -> Vec<Aggregate> {
        series
            .into_iter()
            .map(|series| series.aggregate.unwrap())
            .collect()
    }

    #[test]
    fn a_timestamp_in_a_closed_window_lands_in_that_window() {
        let mut windows = windows();
        record(&mut windows, "a:1|c|T1700000095").unwrap();
        record(&mut windows, "a:2|c|T1700000091").unwrap();
        record(&mut windows, "a:4|c|T1700000080").unwrap();
        record(&mut windows, "a:8|c").unwrap();
        assert_eq!(windows.late_windows(), 2);
        let late: Vec<(i64, Vec<Aggregate>)> = windows
            .take_late_windows()
            .into_iter()
            .map(|(start, series)| (start, only_aggregates(series)))
            .collect();
        assert_eq!(
            late,
            vec![
                (1_700_000_080_000, vec![counter(4.0)]),
                (1_700_000_090_000, vec![counter(3.0)]),
            ]
        );
        assert_eq!(windows.late_windows(), 0, "late windows are taken once");
        assert_eq!(
            only_aggregates(windows.current().take_window(CURRENT_WINDOW_MS)),
            vec![counter(8.0)]
        );
    }

    #[test]
    fn current_and_future_timestamps_land_in_the_current_window() {
        let mut windows = windows();
        record(&mut windows, "a:1|c|T1700000100").unwrap();
        record(&mut windows, "a:2|c|T1700000109").unwrap();
        record(&mut windows, "a:4|c|T1800000000").unwrap();
        assert_eq!(windows.late_windows(), 0);
        assert_eq!(
            only_aggregates(windows.current().take_window(CURRENT_WINDOW_MS)),
            vec![counter(7.0)]
        );
    }

    #[test]
    fn timestamps_beyond_the_maximum_lag_are_refused() {
        let mut windows = windows();
        record(&mut windows, "a:1|c|T1700000040").unwrap();
        assert_eq!(
            record(&mut windows, "a:1|c|T1700000039"),
            Err(TooOld { lag_ms: 70_000 })
        );
        assert_eq!(
            record(&mut windows, "a:1|c|T0"),
            Err(TooOld {
                lag_ms: CURRENT_WINDOW_MS
            })
        );
        assert_eq!(windows.late_windows(), 1);
    }

    #[test]
    fn a_late_gauge_neither_uses_nor_moves_the_current_value() {
        let mut windows = windows();
        record(&mut windows, "g:50|g").unwrap();
        record(&mut windows, "g:-3|g|T1700000095").unwrap();
        record(&mut windows, "g:-1|g").unwrap();
        let late = windows.take_late_windows();
        assert_eq!(
            only_aggregates(late.into_iter().next().unwrap().1),
            vec![Aggregate::Gauge(GaugeAggregate { value: -3.0 })]
        );
        assert_eq!(
            only_aggregates(windows.current().take_window(CURRENT_WINDOW_MS)),
            vec![Aggregate::Gauge(GaugeAggregate { value: 49.0 })]
        );
    }
}
