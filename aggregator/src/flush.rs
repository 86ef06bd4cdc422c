//! Turning windows into batches: the wall-clock aligned flush schedule and the numbering that
//! gives every batch an identity unique across restarts.

use abacus_proto::v1::{Event, FlushBatch, RawPoint, SeriesAggregate};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the unix epoch, the time unit of the wire schema.
pub fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since_epoch| since_epoch.as_millis() as i64)
}

/// The flush schedule: windows are `[k * interval, (k + 1) * interval)` in wall-clock time, so
/// every aggregator closes its windows at the same moments and their batches line up.
#[derive(Debug)]
pub struct WindowClock {
    interval_ms: i64,
    current_window_start_ms: i64,
}

impl WindowClock {
    pub fn new(interval: Duration, now_ms: i64) -> Self {
        let interval_ms = interval.as_millis() as i64;
        Self {
            interval_ms,
            current_window_start_ms: now_ms - now_ms.rem_euclid(interval_ms),
        }
    }

    pub fn current_window_start_ms(&self) -> i64 {
        self.current_window_start_ms
    }

    /// How long until the current window ends, from `now_ms`.
    pub fn time_until_window_end(&self, now_ms: i64) -> Duration {
        let end_ms = self.current_window_start_ms + self.interval_ms;
        Duration::from_millis(end_ms.saturating_sub(now_ms).max(0) as u64)
    }

    /// Closes the current window and returns its start. The next window is the one containing
    /// `now_ms`, or the one right after the closed window if the timer fired a little early.
    /// Windows skipped while the process was suspended simply had no samples.
    pub fn close_window(&mut self, now_ms: i64) -> i64 {
        let closed_start_ms = self.current_window_start_ms;
        let window_containing_now = now_ms - now_ms.rem_euclid(self.interval_ms);
        self.current_window_start_ms =
            window_containing_now.max(closed_start_ms + self.interval_ms);
        closed_start_ms
    }
}

/// Seals windows into numbered batches for one incarnation of one aggregator.
#[derive(Debug)]
pub struct BatchSequencer {
    aggregator_id: String,
    incarnation: u64,
    interval_length_ms: u32,
    last_sequence: u64,
}

impl BatchSequencer {
    pub fn new(aggregator_id: String, incarnation: u64, interval: Duration) -> Self {
        Self {
            aggregator_id,
            incarnation,
            interval_length_ms: interval.as_millis() as u32,
            last_sequence: 0,
        }
    }

    /// Numbers one window's contents as the next batch of this incarnation.
    pub fn seal(&mut self, interval_start_unix_ms: i64, contents: WindowContents) -> FlushBatch {
        self.last_sequence += 1;
        FlushBatch {
            schema_version: abacus_proto::SCHEMA_VERSION,
            aggregator_id: self.aggregator_id.clone(),
            incarnation: self.incarnation,
            sequence: self.last_sequence,
            interval_start_unix_ms,
            interval_length_ms: self.interval_length_ms,
            series: contents.series,
            events: contents.events,
            points: contents.points,
        }
    }
}

/// What one window produced, before it is numbered into a batch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WindowContents {
    pub series: Vec<SeriesAggregate>,
    pub events: Vec<Event>,
    pub points: Vec<RawPoint>,
}

impl WindowContents {
    /// A window without anything in it is not published: quiet intervals cost nothing.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty() && self.events.is_empty() && self.points.is_empty()
    }
}

impl WindowContents {
    /// How many series, events and points there are.
    pub fn item_count(&self) -> usize {
        self.series.len() + self.events.len() + self.points.len()
    }

    /// The encoded size of these contents inside a batch (the batch's own fields excluded).
    pub fn encoded_len(&self) -> usize {
        use prost::encoding::message::encoded_len_repeated;
        // The field numbers only decide the key length, one byte for all three.
        encoded_len_repeated(1, &self.series)
            + encoded_len_repeated(1, &self.events)
            + encoded_len_repeated(1, &self.points)
    }

    /// Splits the contents into parts that each encode to at most `max_bytes`, halving
    /// series, events and points alike until every part fits; each part comes with its
    /// [`Self::encoded_len`] (a pass over every item, so the caller need not make another).
    /// A part holding a single item that is still too big is returned as it is; the caller
    /// decides what to do with it.
    pub fn split_to_fit(self, max_bytes: usize) -> Vec<(WindowContents, usize)> {
        let mut fitting = Vec::new();
        let mut pending = vec![self];
        while let Some(contents) = pending.pop() {
            let encoded_len = contents.encoded_len();
            if encoded_len <= max_bytes || contents.item_count() <= 1 {
                fitting.push((contents, encoded_len));
                continue;
            }
            let (first, second) = contents.halves();
            // Pushed second first so the parts come out in their original order.
            pending.push(second);
            pending.push(first);
        }
        fitting
    }

    /// Two non-empty parts of about half the items each, the earlier items in the first
    /// (the caller guarantees at least two items).
    fn halves(mut self) -> (WindowContents, WindowContents) {
        let mut items_to_move = self.item_count() / 2;
        let mut second = WindowContents::default();
        move_tail(&mut self.points, &mut second.points, &mut items_to_move);
        move_tail(&mut self.events, &mut second.events, &mut items_to_move);
        move_tail(&mut self.series, &mut second.series, &mut items_to_move);
        (self, second)
    }
}

/// Moves up to `items_to_move` items from the end of `from` to `to`.
fn move_tail<T>(from: &mut Vec<T>, to: &mut Vec<T>, items_to_move: &mut usize) {
    let moved = (*items_to_move).min(from.len());
    *to = from.split_off(from.len() - moved);
    *items_to_move -= moved;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_to_wall_clock_multiples() {
        let mut clock = WindowClock::new(Duration::from_secs(10), 1_700_000_003_500);
        assert_eq!(clock.current_window_start_ms(), 1_700_000_000_000);
        assert_eq!(
            clock.time_until_window_end(1_700_000_003_500),
            Duration::from_millis(6_500)
        );
        assert_eq!(clock.close_window(1_700_000_010_001), 1_700_000_000_000);
        assert_eq!(clock.current_window_start_ms(), 1_700_000_010_000);
    }

    #[test]
    fn a_timer_firing_early_still_advances_one_window() {
        let mut clock = WindowClock::new(Duration::from_secs(10), 1_700_000_000_000);
        assert_eq!(clock.close_window(1_700_000_009_998), 1_700_000_000_000);
        assert_eq!(clock.current_window_start_ms(), 1_700_000_010_000);
    }

    #[test]
    fn sequences_increase_by_one_from_one() {
        let mut sequencer = BatchSequencer::new("a".into(), 42, Duration::from_secs(10));
        let first = sequencer.seal(0, WindowContents::default());
        let second = sequencer.seal(10_000, WindowContents::default());
        assert_eq!((first.sequence, second.sequence), (1, 2));
        assert_eq!(abacus_proto::batch_id(&second), "a-42-2");
        assert_eq!(second.interval_length_ms, 10_000);
    }

    fn counter(name: &str) -> SeriesAggregate {
        SeriesAggregate {
            name: name.into(),
            tags: vec![],
            aggregate: Some(abacus_proto::v1::series_aggregate::Aggregate::Counter(
                abacus_proto::v1::CounterAggregate { count: 1.0 },
            )),
        }
    }

    #[test]
    fn contents_too_big_are_split_in_order_into_parts_that_fit() {
        let contents = WindowContents {
            series: (0..100)
                .map(|index| counter(&format!("series.{index:03}")))
                .collect(),
            events: vec![Event::default()],
            points: vec![RawPoint::default(); 3],
        };
        let limit = contents.encoded_len() / 5;
        let parts = contents.clone().split_to_fit(limit);
        assert!(parts.len() >= 5, "{} parts", parts.len());
        assert!(
            parts
                .iter()
                .all(|(part, encoded_len)| part.encoded_len() == *encoded_len
                    && *encoded_len <= limit)
        );
        let rejoined = parts
            .into_iter()
            .fold(WindowContents::default(), |mut all, (part, _)| {
                all.series.extend(part.series);
                all.events.extend(part.events);
                all.points.extend(part.points);
                all
            });
        assert_eq!(rejoined, contents);
    }

    #[test]
    fn a_single_item_too_big_is_left_alone_and_small_contents_are_not_split() {
        let one = WindowContents {
            series: vec![counter("a")],
            ..WindowContents::default()
        };
        let encoded_len = one.encoded_len();
        assert_eq!(
            one.clone().split_to_fit(1),
            vec![(one.clone(), encoded_len)]
        );
        assert_eq!(one.clone().split_to_fit(1 << 20), vec![(one, encoded_len)]);
    }
}
