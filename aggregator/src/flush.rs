//! Turning windows into batches: the wall-clock aligned flush schedule, the numbering that
//! gives every batch an identity unique across restarts, and the series encoded as they are
//! taken ([`EncodedSeries`]).

use abacus_proto::producer::BatchNumbering;
use abacus_proto::v1::{series_aggregate::Aggregate, Event, FlushBatch, RawPoint, SeriesAggregate};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::Message;
use std::time::Duration;

pub use abacus_proto::producer::unix_now_ms;

/// The flush schedule: windows are `[k * interval, (k + 1) * interval)` in wall-clock time, so
/// every aggregator closes its windows at the same moments and their batches line up.
#[derive(Debug)]
pub(crate) struct WindowClock {
    interval_ms: i64,
    current_window_start_ms: i64,
}

impl WindowClock {
    pub(crate) fn new(interval: Duration, now_ms: i64) -> Self {
        let interval_ms = interval.as_millis() as i64;
        Self {
            interval_ms,
            current_window_start_ms: now_ms - now_ms.rem_euclid(interval_ms),
        }
    }

    pub(crate) fn current_window_start_ms(&self) -> i64 {
        self.current_window_start_ms
    }

    /// How long until the current window ends, from `now_ms`.
    pub(crate) fn time_until_window_end(&self, now_ms: i64) -> Duration {
        let end_ms = self.current_window_start_ms + self.interval_ms;
        Duration::from_millis(end_ms.saturating_sub(now_ms).max(0) as u64)
    }

    /// Closes the current window and returns its start. The next window is the one containing
    /// `now_ms`, or the one right after the closed window if the timer fired a little early.
    /// Windows skipped while the process was suspended simply had no samples.
    pub(crate) fn close_window(&mut self, now_ms: i64) -> i64 {
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
    numbering: BatchNumbering,
    interval_length_ms: u32,
}

impl BatchSequencer {
    pub fn new(aggregator_id: String, incarnation: u64, interval: Duration) -> Self {
        Self {
            numbering: BatchNumbering::new(aggregator_id, incarnation),
            interval_length_ms: interval.as_millis() as u32,
        }
    }

    /// Numbers one window's contents as the next batch of this incarnation.
    pub fn seal(&mut self, interval_start_unix_ms: i64, contents: WindowContents) -> SealedBatch {
        let batch = FlushBatch {
            series: contents.series,
            events: contents.events,
            points: contents.points,
            ..self
                .numbering
                .next_batch(interval_start_unix_ms, self.interval_length_ms)
        };
        SealedBatch {
            batch,
            encoded_series: contents.encoded_series,
        }
    }
}

/// A numbered batch as the publisher gets it: a [`FlushBatch`] and more of its series already
/// in their wire form.
#[derive(Debug, Clone, PartialEq)]
pub struct SealedBatch {
    /// The batch's identity, its events and points, and the series kept as values (gauges,
    /// which the publisher checkpoints from here, self-metrics and late windows').
    pub batch: FlushBatch,
    /// The other series of the batch, encoded.
    pub encoded_series: EncodedSeries,
}

impl SealedBatch {
    /// The batch's wire form: `batch` encoded, then the encoded series. A repeated field's
    /// entries may come anywhere in a message and are read in order of appearance, so this
    /// decodes as one `FlushBatch` holding both sets of series.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes =
            Vec::with_capacity(self.batch.encoded_len() + self.encoded_series.bytes.len());
        self.batch
            .encode(&mut bytes)
            .expect("a Vec grows to hold the whole message");
        bytes.extend_from_slice(&self.encoded_series.bytes);
        bytes
    }

    /// How many series the batch carries.
    pub fn series_count(&self) -> usize {
        self.batch.series.len() + self.encoded_series.len()
    }
}

/// Series in their wire form, each a complete `series` entry (field 7) of a [`FlushBatch`],
/// written as a window is taken. A window with many series is otherwise built as one
/// [`SeriesAggregate`] per series, with its own name `String`, then encoded, then freed: three
/// passes and an allocation per series where this is one pass over bytes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EncodedSeries {
    bytes: Vec<u8>,
    /// Where each entry ends in `bytes`, so the series can be split between batches.
    ends: Vec<usize>,
}

/// The `series` field of [`FlushBatch`].
const FLUSH_BATCH_SERIES_FIELD: u32 = 7;
/// The fields of [`SeriesAggregate`] and of its tags.
const SERIES_NAME_FIELD: u32 = 1;
const SERIES_TAGS_FIELD: u32 = 2;
const TAG_KEY_FIELD: u32 = 1;
const TAG_VALUE_FIELD: u32 = 2;
/// What an encoded counter takes beyond its key's bytes: the series field's key and length
/// (3), the name's (2), the aggregate's (2) and the count's key and value (9).
const ENCODED_COUNTER_OVERHEAD_BYTES: usize = 16;

impl EncodedSeries {
    /// How many series there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Makes room for `series` more series whose keys take `key_bytes` in all, so a window of
    /// many series is written into one allocation rather than one that doubles a dozen times,
    /// copying what it holds each time. The room is what as many counters take; a timer's
    /// histogram or a set's sketch is more, and the buffer grows for those.
    pub fn reserve(&mut self, series: usize, key_bytes: usize) {
        self.ends.reserve(series);
        self.bytes
            .reserve(key_bytes + ENCODED_COUNTER_OVERHEAD_BYTES * series);
    }

    /// Appends the series `name` with `tags` (canonical: sorted, de-duplicated) and
    /// `aggregate`, encoded exactly as prost encodes the same [`SeriesAggregate`] inside a
    /// batch.
    pub fn push<'tag>(
        &mut self,
        name: &str,
        tags: impl Iterator<Item = (&'tag str, &'tag str)> + Clone,
        aggregate: &Aggregate,
    ) {
        let tag_len = |key: &str, value: &str| string_field_len(key) + string_field_len(value);
        let series_len = string_field_len(name)
            + tags
                .clone()
                .map(|(key, value)| length_delimited_len(tag_len(key, value)))
                .sum::<usize>()
            + aggregate.encoded_len();
        let bytes = &mut self.bytes;
        encode_key(FLUSH_BATCH_SERIES_FIELD, WireType::LengthDelimited, bytes);
        encode_varint(series_len as u64, bytes);
        encode_string_field(SERIES_NAME_FIELD, name, bytes);
        for (key, value) in tags {
            encode_key(SERIES_TAGS_FIELD, WireType::LengthDelimited, bytes);
            encode_varint(tag_len(key, value) as u64, bytes);
            encode_string_field(TAG_KEY_FIELD, key, bytes);
            encode_string_field(TAG_VALUE_FIELD, value, bytes);
        }
        aggregate.encode(bytes);
        self.ends.push(bytes.len());
    }

    /// Moves the last `count` series into a new `EncodedSeries`.
    fn split_off_last(&mut self, count: usize) -> EncodedSeries {
        let kept = self.ends.len() - count;
        let kept_bytes = kept.checked_sub(1).map_or(0, |last| self.ends[last]);
        let moved = EncodedSeries {
            bytes: self.bytes.split_off(kept_bytes),
            ends: self.ends[kept..]
                .iter()
                .map(|end| end - kept_bytes)
                .collect(),
        };
        self.ends.truncate(kept);
        moved
    }
}

/// The length of a string field as prost writes it: nothing for an empty string (proto3's
/// default), else a length-delimited field.
fn string_field_len(value: &str) -> usize {
    if value.is_empty() {
        0
    } else {
        length_delimited_len(value.len())
    }
}

/// Key, length and `length` bytes. Every field number used here fits a one-byte key.
fn length_delimited_len(length: usize) -> usize {
    key_len(1) + encoded_len_varint(length as u64) + length
}

fn encode_string_field(field: u32, value: &str, bytes: &mut Vec<u8>) {
    if value.is_empty() {
        return;
    }
    encode_key(field, WireType::LengthDelimited, bytes);
    encode_varint(value.len() as u64, bytes);
    bytes.extend_from_slice(value.as_bytes());
}

/// What one window produced, before it is numbered into a batch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WindowContents {
    pub series: Vec<SeriesAggregate>,
    pub encoded_series: EncodedSeries,
    pub events: Vec<Event>,
    pub points: Vec<RawPoint>,
}

impl WindowContents {
    /// A window without anything in it is not published: quiet intervals cost nothing.
    pub fn is_empty(&self) -> bool {
        self.item_count() == 0
    }

    /// How many series, events and points there are.
    pub fn item_count(&self) -> usize {
        self.series.len() + self.encoded_series.len() + self.events.len() + self.points.len()
    }

    /// The encoded size of these contents inside a batch (the batch's own fields excluded).
    pub fn encoded_len(&self) -> usize {
        use prost::encoding::message::encoded_len_repeated;
        // The field numbers only decide the key length, one byte for all three.
        encoded_len_repeated(1, &self.series)
            + self.encoded_series.bytes.len()
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
        let encoded_to_move = items_to_move.min(self.encoded_series.len());
        second.encoded_series = self.encoded_series.split_off_last(encoded_to_move);
        items_to_move -= encoded_to_move;
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
        assert_eq!((first.batch.sequence, second.batch.sequence), (1, 2));
        assert_eq!(abacus_proto::batch_id(&second.batch), "a-42-2");
        assert_eq!(second.batch.interval_length_ms, 10_000);
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

    fn encoded(series: &[SeriesAggregate]) -> EncodedSeries {
        let mut encoded = EncodedSeries::default();
        for one in series {
            let tags = one
                .tags
                .iter()
                .map(|tag| (tag.key.as_str(), tag.value.as_str()));
            encoded.push(&one.name, tags, one.aggregate.as_ref().unwrap());
        }
        encoded
    }

    /// Encoded series are byte for byte what prost writes for the same series in a batch,
    /// empty names, tags without values and multi-byte lengths included.
    #[test]
    fn encoded_series_are_what_prost_encodes() {
        use abacus_proto::v1::{GaugeAggregate, SetAggregate, Tag, TimerAggregate};
        let tag = |key: &str, value: &str| Tag {
            key: key.into(),
            value: value.into(),
        };
        let series = vec![
            counter("requests"),
            counter(""),
            SeriesAggregate {
                name: "latency".into(),
                tags: vec![tag("env", "prod"), tag("canary", ""), tag("", "x")],
                aggregate: Some(Aggregate::Timer(TimerAggregate {
                    count: 3.0,
                    sum: 600.0,
                    sum_of_squares: 140_000.0,
                    min: 100.0,
                    max: 300.0,
                    hdr_histogram: vec![7; 300],
                })),
            },
            SeriesAggregate {
                name: "n".repeat(200),
                tags: vec![],
                aggregate: Some(Aggregate::Gauge(GaugeAggregate { value: 0.0 })),
            },
            SeriesAggregate {
                name: "users".into(),
                tags: vec![tag("k", "v".repeat(130).as_str())],
                aggregate: Some(Aggregate::Set(SetAggregate { sketch: vec![1, 2] })),
            },
        ];
        let batch = FlushBatch {
            series: series.clone(),
            ..FlushBatch::default()
        };
        let sealed = SealedBatch {
            batch: FlushBatch::default(),
            encoded_series: encoded(&series),
        };
        assert_eq!(sealed.encode(), batch.encode_to_vec());
        assert_eq!(sealed.series_count(), series.len());
    }

    #[test]
    fn contents_too_big_are_split_in_order_into_parts_that_fit() {
        let contents = WindowContents {
            series: (0..100)
                .map(|index| counter(&format!("series.{index:03}")))
                .collect(),
            encoded_series: encoded(
                &(0..50)
                    .map(|index| counter(&format!("encoded.{index:03}")))
                    .collect::<Vec<_>>(),
            ),
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
                all.encoded_series
                    .bytes
                    .extend_from_slice(&part.encoded_series.bytes);
                let offset = all.encoded_series.ends.last().copied().unwrap_or(0);
                all.encoded_series
                    .ends
                    .extend(part.encoded_series.ends.iter().map(|end| end + offset));
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
