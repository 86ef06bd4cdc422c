//! The aggregation state of one flush window: counters summed, gauges kept at their last value,
//! timers (and histograms and distributions) summarized with exact moments plus an
//! hdrhistogram, sets counted with a mergeable sketch, and DogStatsD events collected.
//!
//! Series are keyed by a canonical string — the name, then `|#` and the tags sorted by key then
//! value without duplicates when there are any — so the same tags in any order, and the same
//! tag written `;k=v` in the name or `#k:v`, are one series. Looking up a known series that has
//! no tags allocates nothing. Each metric kind has its own map: a counter and a gauge with one
//! name are two series. Timers, histograms and distributions share one map because the wire
//! has one timer aggregate; `x:1|ms` and `x:1|h` feed the same series.
//!
//! This module reads no clock: the window start is passed in when a window is taken, and idle
//! gauges expire by comparing window starts.
//!
//! DogStatsD `|T` timestamps are not looked at here: [`crate::windows`] picks the window (and
//! so the `Aggregates`) a sample belongs to before it is recorded.

use crate::events::wire_event;
use crate::flush::{EncodedSeries, WindowContents};
use crate::gauge_updates::GaugeUpdates;
use crate::parse::{Event, Sample, SampleValue};
use crate::series_table::SeriesTable;
use abacus_proto::histogram::{self, hdrhistogram::Histogram};
use abacus_proto::sketch::SetSketch;
use abacus_proto::timer::TimerMoments;
use abacus_proto::v1::{
    self, series_aggregate::Aggregate, CounterAggregate, GaugeAggregate, SeriesAggregate,
    SetAggregate, Tag, TimerAggregate,
};
use std::time::Duration;

/// How many samples [`Aggregates::record_batch`] looks up together: enough that the cache
/// misses of the batch overlap, few enough that its keys and slots stay in the L1 cache.
pub(crate) const RECORD_BATCH: usize = 16;

const TAGS_SEPARATOR: &str = "|#";

/// At most this many events and service checks are kept per window; more are counted and
/// dropped, so a flood of events cannot grow memory without bound.
pub(crate) const MAX_EVENTS_PER_WINDOW: usize = 10_000;

/// The knobs of aggregation, taken from `aggregator.*` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregationSettings {
    /// Precision of timer histograms, 1..=5 (values outside are clamped into it).
    pub histogram_significant_digits: u8,
    /// A gauge not updated for this long is forgotten: a later delta then starts from zero and
    /// memory does not grow with every gauge name ever seen.
    pub idle_series_expiry: Duration,
}

impl Default for AggregationSettings {
    fn default() -> Self {
        Self {
            histogram_significant_digits: histogram::DEFAULT_SIGNIFICANT_DIGITS,
            idle_series_expiry: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug)]
pub struct Aggregates {
    idle_series_expiry_ms: i64,
    series: SeriesTables,
    events: Vec<v1::Event>,
    events_dropped: u64,
    /// Where tagged samples' canonical keys are built, one after another for a batch; reused,
    /// so looking up known tagged series allocates nothing once the buffer has grown.
    key_scratch: String,
}

/// One table per metric kind (a counter and a gauge with one name are two series): keys
/// interned in a [`SeriesTable`] (see there why not a `HashMap<String, V>`, and how its hash is
/// seeded so that a sender cannot precompute colliding keys for an unauthenticated UDP port).
#[derive(Debug)]
struct SeriesTables {
    /// An empty histogram of the configured precision, cloned for each new timer series.
    empty_histogram: Histogram<u64>,
    /// When the samples being recorded were received (`gauge_updates::ReceiveClock`): gauge updates of
    /// several shards are applied in this order.
    receive_time: u64,
    counters: SeriesTable<f64>,
    gauges: SeriesTable<GaugeState>,
    timers: SeriesTable<TimerState>,
    sets: SeriesTable<SetSketch>,
}

#[derive(Debug)]
struct GaugeState {
    /// The value after the last window that updated it. Only the aggregates that outlive a
    /// window (the receive loop's) remember it; a receive worker's shard hands its updates over
    /// instead.
    value: f64,
    updated_in_window: bool,
    /// This window's updates with their receive times, so that those of several shards apply
    /// in the order they were received.
    window: GaugeUpdates,
    /// Start of the last window in which the gauge was updated; `None` until its first flush.
    last_updated_window_start_ms: Option<i64>,
}

#[derive(Debug)]
struct TimerState {
    /// Σ 1 / sample_rate, Σ value / sample_rate (so that `sum / count` is the mean even for
    /// sampled timers; etsy sums the received values but scales the count, so its sum and
    /// count do not divide), Σ value² / sample_rate, min and max.
    moments: TimerMoments,
    histogram: Histogram<u64>,
}

impl Default for Aggregates {
    fn default() -> Self {
        Self::new(AggregationSettings::default())
    }
}

impl Aggregates {
    pub fn new(settings: AggregationSettings) -> Self {
        let significant_digits = settings.histogram_significant_digits.clamp(
            *histogram::SIGNIFICANT_DIGITS_RANGE.start(),
            *histogram::SIGNIFICANT_DIGITS_RANGE.end(),
        );
        Self {
            idle_series_expiry_ms: i64::try_from(settings.idle_series_expiry.as_millis())
                .unwrap_or(i64::MAX),
            series: SeriesTables {
                empty_histogram: histogram::new_histogram(significant_digits)
                    .expect("precisions in SIGNIFICANT_DIGITS_RANGE are valid for hdrhistogram"),
                receive_time: 0,
                counters: SeriesTable::default(),
                gauges: SeriesTable::default(),
                timers: SeriesTable::default(),
                sets: SeriesTable::default(),
            },
            key_scratch: String::new(),
            events: Vec::new(),
            events_dropped: 0,
        }
    }

    /// Says when the samples recorded next were received (`ReceiveClock::now_micros`), once
    /// per receive call: gauge updates are ordered by it when shards are merged.
    pub fn set_receive_time(&mut self, received_at: u64) {
        self.series.receive_time = received_at;
    }

    /// Folds one sample (all of its packed values) into the current window.
    pub fn record(&mut self, sample: &Sample<'_>) {
        self.key_scratch.clear();
        let key: &str = if write_canonical_key(sample, &mut self.key_scratch) {
            &self.key_scratch
        } else {
            &sample.name
        };
        let hash = self.series.hash(&sample.value, key);
        self.series.apply(sample, key, hash);
    }

    /// Folds `samples` in order, exactly as [`Self::record`] would one after another, but
    /// looks up [`RECORD_BATCH`] of them at a time in three passes — hash every key and
    /// prefetch its index slots; read the slots and prefetch each series' value and key
    /// bytes; then apply — so that with many series the cache misses of a batch overlap
    /// instead of being waited for one after another.
    pub fn record_batch(&mut self, samples: &[Sample<'_>]) {
        for batch in samples.chunks(RECORD_BATCH) {
            // Where each sample's key is: its name, or a range of the scratch buffer.
            let mut built_keys = [(0, 0); RECORD_BATCH];
            let mut has_built_key = [false; RECORD_BATCH];
            self.key_scratch.clear();
            for (index, sample) in batch.iter().enumerate() {
                let start = self.key_scratch.len();
                if write_canonical_key(sample, &mut self.key_scratch) {
                    built_keys[index] = (start, self.key_scratch.len());
                    has_built_key[index] = true;
                }
            }
            let scratch = &self.key_scratch;
            let key = |index: usize| -> &str {
                if has_built_key[index] {
                    let (start, end) = built_keys[index];
                    &scratch[start..end]
                } else {
                    &batch[index].name
                }
            };
            let mut hashes = [0; RECORD_BATCH];
            for (index, sample) in batch.iter().enumerate() {
                hashes[index] = self.series.hash(&sample.value, key(index));
                self.series.prefetch_slot(&sample.value, hashes[index]);
            }
            for (index, sample) in batch.iter().enumerate() {
                self.series
                    .prefetch_series(&sample.value, hashes[index], key(index));
            }
            for (index, sample) in batch.iter().enumerate() {
                self.series.apply(sample, key(index), hashes[index]);
            }
        }
    }

    /// Keeps an event or service check, received at `received_unix_ms` (its time unless it
    /// has its own `d:`), for the current window's batch. Returns `false` when the window
    /// already holds [`MAX_EVENTS_PER_WINDOW`] and the event was dropped.
    pub fn record_event(&mut self, event: &Event<'_>, received_unix_ms: i64) -> bool {
        if self.events.len() >= MAX_EVENTS_PER_WINDOW {
            self.events_dropped += 1;
            return false;
        }
        self.events.push(wire_event(event, received_unix_ms));
        true
    }

    /// The events and service checks recorded since the last call, in arrival order.
    pub fn take_events(&mut self) -> Vec<v1::Event> {
        std::mem::take(&mut self.events)
    }

    /// How many events were dropped since start-up because a window already had
    /// [`MAX_EVENTS_PER_WINDOW`].
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }

    /// Remembers a gauge value from before a restart (see [`crate::gauge_checkpoint`]) as if it
    /// had been set in the window starting at `window_start_ms`: later deltas apply to it and
    /// it expires as an idle gauge would, but it is not sent again until it changes. A gauge
    /// already set since start-up keeps its newer value.
    pub fn restore_gauge(&mut self, name: &str, tags: &[Tag], value: f64, window_start_ms: i64) {
        let key = series_key(name, tags);
        let gauges = &mut self.series.gauges;
        let hash = gauges.hash(&key);
        gauges.get_or_insert_with(hash, &key, || GaugeState {
            value,
            updated_in_window: false,
            window: GaugeUpdates::default(),
            last_updated_window_start_ms: Some(window_start_ms),
        });
    }

    /// How many gauges are remembered (updated or idle but not yet expired).
    pub fn remembered_gauges(&self) -> usize {
        self.series.gauges.len()
    }

    /// Folds `shard` — what one receive worker aggregated of the same window — into these
    /// aggregates and leaves it empty for the next window: its values reset, its series still
    /// interned if this window touched them (a worker sees mostly the same keys window after
    /// window), forgotten otherwise. Returns how many of its events were dropped because the
    /// window already holds [`MAX_EVENTS_PER_WINDOW`].
    ///
    /// Counters add, timers add their moments and histograms, sets union. Gauges: the shard
    /// remembers nothing across windows; its updates of the window, with their receive times,
    /// are merged with those recorded here and in other shards (see [`GaugeUpdates`]), so the
    /// window's value is that of applying every update in the order it was received, whichever
    /// socket it came in on and whichever shard is absorbed first.
    pub fn absorb(&mut self, shard: &mut Aggregates) -> u64 {
        let merged = &mut self.series;
        let shard_series = &mut shard.series;
        // Every table hashes alike and each shard series remembers where its key is in the
        // merged table, so a key folded before is neither hashed nor probed for again.
        shard_series.counters.end_window_into(
            &mut merged.counters,
            |count, touched, merged_count| {
                if touched {
                    *merged_count.get_or_insert_with(|| 0.0) += std::mem::take(count);
                }
                touched
            },
        );
        shard_series
            .gauges
            .end_window_into(&mut merged.gauges, |update, touched, merged_gauge| {
                let update = std::mem::replace(update, GaugeState::new());
                if update.updated_in_window {
                    let gauge = merged_gauge.get_or_insert_with(GaugeState::new);
                    gauge.window.merge(update.window);
                    gauge.updated_in_window = true;
                }
                touched
            });
        let empty_histogram = &shard_series.empty_histogram;
        shard_series
            .timers
            .end_window_into(&mut merged.timers, |timer, touched, merged_timer| {
                if touched {
                    let fresh = || TimerState::new(empty_histogram);
                    merged_timer.move_or_merge(timer, fresh, TimerState::merge);
                }
                touched
            });
        shard_series
            .sets
            .end_window_into(&mut merged.sets, |sketch, touched, merged_sketch| {
                if touched {
                    merged_sketch.move_or_merge(sketch, SetSketch::new, SetSketch::merge);
                }
                touched
            });
        let room = MAX_EVENTS_PER_WINDOW.saturating_sub(self.events.len());
        let dropped = shard.events.len().saturating_sub(room) as u64;
        self.events.extend(shard.events.drain(..).take(room));
        self.events_dropped += dropped;
        dropped
    }

    /// Ends the window that started at `window_start_ms`: returns every series that received
    /// samples in it (see [`Self::take_window_into`]).
    pub fn take_window(&mut self, window_start_ms: i64) -> Vec<SeriesAggregate> {
        let tables = &self.series;
        let mut series = Vec::with_capacity(
            tables.counters.len() + tables.timers.len() + tables.sets.len() + tables.gauges.len(),
        );
        self.take_window_into(window_start_ms, |key, aggregate| {
            series.push(series_aggregate(key, aggregate));
        });
        series
    }

    /// Ends the window that started at `window_start_ms` into a batch's `contents`: gauges as
    /// values (the publisher checkpoints them from the batch), every other series encoded at
    /// once ([`EncodedSeries`]).
    pub fn take_window_for_batch(&mut self, window_start_ms: i64, contents: &mut WindowContents) {
        let tables = &self.series;
        contents.encoded_series.reserve(
            tables.counters.len() + tables.timers.len() + tables.sets.len(),
            tables.counters.key_bytes() + tables.timers.key_bytes() + tables.sets.key_bytes(),
        );
        self.take_window_into(window_start_ms, |key, aggregate| match aggregate {
            Aggregate::Gauge(_) => contents.series.push(series_aggregate(key, aggregate)),
            _ => encode_series(key, &aggregate, &mut contents.encoded_series),
        });
    }

    /// Ends the window that started at `window_start_ms`: hands every series that received
    /// samples in it to `take` as its canonical key and aggregate, resets counters, timers and
    /// sets (which stay interned for the next window if they received samples in this one, and
    /// are forgotten otherwise), keeps gauge values so later deltas apply to them, and forgets
    /// gauges idle for `idle_series_expiry` or longer.
    fn take_window_into(&mut self, window_start_ms: i64, mut take: impl FnMut(&str, Aggregate)) {
        let tables = &mut self.series;
        tables.counters.end_window(|key, count, touched| {
            if touched {
                take(
                    key,
                    Aggregate::Counter(CounterAggregate {
                        count: std::mem::take(count),
                    }),
                );
            }
            touched
        });
        let idle_series_expiry_ms = self.idle_series_expiry_ms;
        tables.gauges.end_window(|key, gauge, _touched| {
            if std::mem::take(&mut gauge.updated_in_window) {
                // A gauge set in an earlier window (or restored) is changed by a delta; one
                // that does not exist is set by it, as etsy does.
                let remembered = gauge
                    .last_updated_window_start_ms
                    .is_some()
                    .then_some(gauge.value);
                gauge.value = gauge.window.apply(remembered);
                gauge.last_updated_window_start_ms = Some(window_start_ms);
                take(key, Aggregate::Gauge(GaugeAggregate { value: gauge.value }));
                return true;
            }
            gauge
                .last_updated_window_start_ms
                .is_some_and(|last_updated| {
                    window_start_ms.saturating_sub(last_updated) < idle_series_expiry_ms
                })
        });
        let empty_histogram = &tables.empty_histogram;
        tables.timers.end_window(|key, timer, touched| {
            if !touched {
                return false;
            }
            let timer = std::mem::replace(timer, TimerState::new(empty_histogram));
            let hdr_histogram = histogram::encode(&timer.histogram).unwrap_or_else(|error| {
                // Only possible with a bucket count beyond i64::MAX (2^31 samples of the
                // largest weight in one window). The storage worker refuses a timer without
                // histogram bytes, so an empty histogram goes out instead: the exact count, sum
                // and extremes survive, and the batch is not poisoned.
                tracing::warn!(%error, series = %key, "timer histogram not encodable, sent empty");
                histogram::encode(empty_histogram).unwrap_or_default()
            });
            take(
                key,
                Aggregate::Timer(TimerAggregate {
                    count: timer.moments.count,
                    sum: timer.moments.sum,
                    sum_of_squares: timer.moments.sum_of_squares,
                    min: timer.moments.min,
                    max: timer.moments.max,
                    hdr_histogram,
                }),
            );
            true
        });
        tables.sets.end_window(|key, sketch, touched| {
            if !touched {
                return false;
            }
            take(
                key,
                Aggregate::Set(SetAggregate {
                    sketch: std::mem::replace(sketch, SetSketch::new()).to_bytes(),
                }),
            );
            true
        });
    }
}

impl SeriesTables {
    /// The hash of `key` in the table of `value`'s kind.
    #[inline]
    fn hash(&self, value: &SampleValue<'_>, key: &str) -> u64 {
        match value {
            SampleValue::Counter { .. } => self.counters.hash(key),
            SampleValue::Gauge { .. } => self.gauges.hash(key),
            SampleValue::Timer { .. } => self.timers.hash(key),
            SampleValue::Set { .. } => self.sets.hash(key),
        }
    }

    #[inline]
    fn prefetch_slot(&self, value: &SampleValue<'_>, hash: u64) {
        match value {
            SampleValue::Counter { .. } => self.counters.prefetch_slot(hash),
            SampleValue::Gauge { .. } => self.gauges.prefetch_slot(hash),
            SampleValue::Timer { .. } => self.timers.prefetch_slot(hash),
            SampleValue::Set { .. } => self.sets.prefetch_slot(hash),
        }
    }

    #[inline]
    fn prefetch_series(&self, value: &SampleValue<'_>, hash: u64, key: &str) {
        match value {
            SampleValue::Counter { .. } => self.counters.prefetch_series(hash, key),
            SampleValue::Gauge { .. } => self.gauges.prefetch_series(hash, key),
            SampleValue::Timer { .. } => self.timers.prefetch_series(hash, key),
            SampleValue::Set { .. } => self.sets.prefetch_series(hash, key),
        }
    }

    /// Folds `sample`, whose series key is `key` with hash `hash` (from [`Self::hash`]).
    #[inline]
    fn apply(&mut self, sample: &Sample<'_>, key: &str, hash: u64) {
        match sample.value {
            SampleValue::Counter {
                values,
                sample_rate,
            } => {
                let increment = values.counter_increment(sample_rate);
                *self.counters.get_or_insert_with(hash, key, || 0.0) += increment;
            }
            SampleValue::Gauge { values } => {
                let received_at = self.receive_time;
                let gauge = self.gauges.get_or_insert_with(hash, key, GaugeState::new);
                // etsy statsd: a signed value changes an existing gauge and sets a new one;
                // which it does is decided when the window ends (`GaugeUpdates::apply`).
                for number in values.iter() {
                    if number.is_delta {
                        gauge.window.add(received_at, number.value);
                    } else {
                        gauge.window.set(received_at, number.value);
                    }
                }
                gauge.updated_in_window = true;
            }
            SampleValue::Timer {
                values,
                sample_rate,
                ..
            } => {
                let empty_histogram = &self.empty_histogram;
                let timer = self
                    .timers
                    .get_or_insert_with(hash, key, || TimerState::new(empty_histogram));
                let weight = 1.0 / sample_rate;
                let histogram_weight = histogram::sample_weight(sample_rate);
                for number in values.iter() {
                    let value = number.value;
                    timer.moments.record(value, weight);
                    histogram::record_milliseconds(&mut timer.histogram, value, histogram_weight);
                }
            }
            SampleValue::Set { member } => {
                self.sets
                    .get_or_insert_with(hash, key, SetSketch::new)
                    .insert(member.as_bytes());
            }
        }
    }
}

impl GaugeState {
    fn new() -> Self {
        Self {
            value: 0.0,
            updated_in_window: false,
            window: GaugeUpdates::default(),
            last_updated_window_start_ms: None,
        }
    }
}

impl TimerState {
    fn new(empty_histogram: &Histogram<u64>) -> Self {
        Self {
            moments: TimerMoments::EMPTY,
            histogram: empty_histogram.clone(),
        }
    }

    /// Adds another summary of the same series and window (`abacus_proto::timer`'s merge).
    fn merge(&mut self, other: &TimerState) {
        self.moments.merge(&other.moments);
        abacus_proto::timer::add_histogram(&mut self.histogram, &other.histogram);
    }
}

/// Tags beyond this many are sorted in a heap buffer; up to it, on the stack.
const INLINE_TAGS: usize = 8;

/// When the sample has tags (from the name or from `#`), appends its canonical key to
/// `buffer` — the name, `|#`, and the tags sorted by key then value, de-duplicated and joined
/// as `k:v,flag` — and returns `true`; returns `false` and leaves `buffer` alone when it has
/// none, the key then being the name itself.
fn write_canonical_key(sample: &Sample<'_>, buffer: &mut String) -> bool {
    // Decided before the tag buffer is initialized: that costs more than an untagged line's
    // whole lookup.
    if sample.name_tags.is_empty() && sample.tags.is_empty() {
        return false;
    }
    let mut inline = [("", ""); INLINE_TAGS];
    let mut spilled = Vec::new();
    let mut count = 0;
    for pair in sample.tag_pairs() {
        if count < INLINE_TAGS {
            inline[count] = pair;
        } else {
            if spilled.is_empty() {
                spilled.extend_from_slice(&inline);
            }
            spilled.push(pair);
        }
        count += 1;
    }
    if count == 0 {
        return false;
    }
    let pairs: &mut [(&str, &str)] = if count > INLINE_TAGS {
        &mut spilled
    } else {
        &mut inline[..count]
    };
    pairs.sort_unstable();
    buffer.push_str(&sample.name);
    buffer.push_str(TAGS_SEPARATOR);
    let mut previous = None;
    for pair in pairs.iter() {
        if previous == Some(*pair) {
            continue;
        }
        if previous.is_some() {
            buffer.push(',');
        }
        let (key, value) = *pair;
        buffer.push_str(key);
        if !value.is_empty() {
            buffer.push(':');
            buffer.push_str(value);
        }
        previous = Some(*pair);
    }
    true
}

/// The key of the series a [`SeriesAggregate`] with this name and these (canonical) tags came
/// from: the inverse of [`series_aggregate`].
fn series_key(name: &str, tags: &[Tag]) -> String {
    if tags.is_empty() {
        return name.to_owned();
    }
    let mut key = format!("{name}{TAGS_SEPARATOR}");
    for (index, tag) in tags.iter().enumerate() {
        if index > 0 {
            key.push(',');
        }
        key.push_str(&tag.key);
        if !tag.value.is_empty() {
            key.push(':');
            key.push_str(&tag.value);
        }
    }
    key
}

fn series_aggregate(key: &str, aggregate: Aggregate) -> SeriesAggregate {
    let Some((name, tags)) = split_series_key(key) else {
        // Most keys have no tags: one copy of the name, and no tag list to allocate.
        return SeriesAggregate {
            name: key.to_owned(),
            tags: Vec::new(),
            aggregate: Some(aggregate),
        };
    };
    SeriesAggregate {
        name: name.to_owned(),
        tags: tag_pairs(tags)
            .map(|(key, value)| Tag {
                key: key.to_owned(),
                value: value.to_owned(),
            })
            .collect(),
        aggregate: Some(aggregate),
    }
}

/// Appends the series of a canonical key to `encoded`, in the wire form of the
/// [`series_aggregate`] of the same key.
fn encode_series(key: &str, aggregate: &Aggregate, encoded: &mut EncodedSeries) {
    match split_series_key(key) {
        None => encoded.push(key, std::iter::empty(), aggregate),
        Some((name, tags)) => encoded.push(name, tag_pairs(tags), aggregate),
    }
}

/// The `(key, value)` pairs of a canonical key's tags (`k:v,flag`).
fn tag_pairs(tags: &str) -> impl Iterator<Item = (&str, &str)> + Clone {
    tags.split(',')
        .filter(|tag| !tag.is_empty())
        .map(|tag| tag.split_once(':').unwrap_or((tag, "")))
}

/// A canonical key's name and tags, split at the first [`TAGS_SEPARATOR`]; `None` when it has
/// no tags. What `key.split_once(TAGS_SEPARATOR)` answers, but with a plain scan: keys are
/// short, and both a substring searcher's set-up and a vectorized search's cost more than the
/// scan for every series of every window.
fn split_series_key(key: &str) -> Option<(&str, &str)> {
    let separator = TAGS_SEPARATOR.as_bytes();
    let bytes = key.as_bytes();
    let mut from = 0;
    while let Some(offset) = bytes[from..].iter().position(|&byte| byte == separator[0]) {
        let index = from + offset;
        if bytes[index..].starts_with(separator) {
            return Some((&key[..index], &key[index + separator.len()..]));
        }
        from = index + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_line, Line};
    use abacus_proto::histogram::milliseconds_from_recorded;

    const WINDOW_MS: i64 = 10_000;

    fn aggregate_lines(aggregates: &mut Aggregates, lines: &[&str]) {
        for line in lines {
            match parse_line(line.as_bytes()) {
                Ok(Line::Metric(sample)) => aggregates.record(&sample),
                Ok(Line::Event(event)) => {
                    aggregates.record_event(&event, 0);
                }
                Err(error) => panic!("{line:?}: {error}"),
            }
        }
    }

    fn values(mut series: Vec<SeriesAggregate>) -> Vec<(String, Vec<String>, Aggregate)> {
        series.sort_by(|left, right| left.name.cmp(&right.name));
        series
            .into_iter()
            .map(|series| {
                let tags = series
                    .tags
                    .iter()
                    .map(|tag| format!("{}={}", tag.key, tag.value))
                    .collect();
                (series.name, tags, series.aggregate.unwrap())
            })
            .collect()
    }

    fn only_series(series: Vec<SeriesAggregate>) -> Aggregate {
        assert_eq!(series.len(), 1, "{series:?}");
        series.into_iter().next().unwrap().aggregate.unwrap()
    }

    fn counter(count: f64) -> Aggregate {
        Aggregate::Counter(CounterAggregate { count })
    }

    fn gauge(value: f64) -> Aggregate {
        Aggregate::Gauge(GaugeAggregate { value })
    }

    fn timer(aggregate: Aggregate) -> TimerAggregate {
        match aggregate {
            Aggregate::Timer(timer) => timer,
            other => panic!("expected a timer, got {other:?}"),
        }
    }

    fn set_cardinality(aggregate: Aggregate) -> u64 {
        match aggregate {
            Aggregate::Set(set) => SetSketch::from_bytes(&set.sketch).unwrap().cardinality(),
            other => panic!("expected a set, got {other:?}"),
        }
    }

    #[test]
    fn counters_sum_value_over_sample_rate_and_reset_each_window() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(&mut aggregates, &["a:1|c|@0.1", "a:1|c|@0.1", "a:1|c|@0.1"]);
        let Aggregate::Counter(CounterAggregate { count }) = only_series(aggregates.take_window(0))
        else {
            panic!("expected a counter");
        };
        assert!((count - 30.0).abs() < 1e-9, "count was {count}");
        assert!(aggregates.take_window(WINDOW_MS).is_empty());
    }

    #[test]
    fn packed_counter_values_all_count() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(&mut aggregates, &["a:1:2:3|c|@0.5"]);
        assert_eq!(only_series(aggregates.take_window(0)), counter(12.0));
    }

    #[test]
    fn gauges_take_the_last_value_and_apply_deltas_across_windows() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(&mut aggregates, &["temp:-5|g", "temp:50|g"]);
        assert_eq!(
            values(aggregates.take_window(0)),
            vec![("temp".into(), vec![], gauge(50.0))]
        );
        aggregate_lines(&mut aggregates, &["temp:-3|g"]);
        assert_eq!(
            values(aggregates.take_window(WINDOW_MS)),
            vec![("temp".into(), vec![], gauge(47.0))]
        );
        assert!(
            aggregates.take_window(2 * WINDOW_MS).is_empty(),
            "an idle gauge is not re-sent"
        );
    }

    #[test]
    fn a_delta_on_an_unknown_gauge_sets_it_and_packed_gauge_values_apply_in_order() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(&mut aggregates, &["temp:-3|g"]);
        assert_eq!(only_series(aggregates.take_window(0)), gauge(-3.0));
        aggregate_lines(&mut aggregates, &["fresh:+4:10:+1:-2|g"]);
        assert_eq!(only_series(aggregates.take_window(WINDOW_MS)), gauge(9.0));
    }

    #[test]
    fn a_restored_gauge_is_the_base_of_later_deltas_and_is_not_resent_until_it_changes() {
        let mut before_restart = Aggregates::default();
        aggregate_lines(
            &mut before_restart,
            &["temp:50|g|#room:b,floor:2", "plain:7|g"],
        );
        let checkpointed = before_restart.take_window(0);

        let mut after_restart = Aggregates::new(AggregationSettings {
            idle_series_expiry: Duration::from_secs(30),
            ..AggregationSettings::default()
        });
        for series in &checkpointed {
            let Some(Aggregate::Gauge(GaugeAggregate { value })) = series.aggregate else {
                panic!("expected gauges, got {series:?}");
            };
            after_restart.restore_gauge(&series.name, &series.tags, value, 0);
        }
        assert!(after_restart.take_window(WINDOW_MS).is_empty());
        // The tags in another order (and another syntax) are the same series.
        aggregate_lines(
            &mut after_restart,
            &["temp;floor=2:-3|g|#room:b", "plain:+1|g"],
        );
        assert_eq!(
            values(after_restart.take_window(2 * WINDOW_MS)),
            vec![
                ("plain".into(), vec![], gauge(8.0)),
                (
                    "temp".into(),
                    vec!["floor=2".into(), "room=b".into()],
                    gauge(47.0)
                ),
            ]
        );
        // A value set since start-up is newer than any checkpoint.
        after_restart.restore_gauge("plain", &[], 1000.0, 0);
        aggregate_lines(&mut after_restart, &["plain:+1|g"]);
        assert_eq!(
            only_series(after_restart.take_window(3 * WINDOW_MS)),
            gauge(9.0)
        );
    }

    #[test]
    fn idle_gauges_are_forgotten_after_the_expiry() {
        let mut aggregates = Aggregates::new(AggregationSettings {
            idle_series_expiry: Duration::from_secs(30),
            ..AggregationSettings::default()
        });
        aggregate_lines(&mut aggregates, &["temp:50|g"]);
        aggregates.take_window(0);
        aggregates.take_window(WINDOW_MS);
        aggregates.take_window(2 * WINDOW_MS);
        assert_eq!(aggregates.remembered_gauges(), 1, "idle 20s of 30s");
        aggregates.take_window(3 * WINDOW_MS);
        assert_eq!(aggregates.remembered_gauges(), 0, "idle 30s");
        // Forgotten: a delta now starts from nothing again.
        aggregate_lines(&mut aggregates, &["temp:-3|g"]);
        assert_eq!(
            only_series(aggregates.take_window(4 * WINDOW_MS)),
            gauge(-3.0)
        );
    }

    #[test]
    fn timers_match_etsy_golden_values() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(&mut aggregates, &["t:100|ms", "t:200|ms", "t:300|ms"]);
        let timer = timer(only_series(aggregates.take_window(0)));
        assert_eq!(timer.count, 3.0);
        assert_eq!(timer.sum, 600.0);
        assert_eq!(timer.sum / timer.count, 200.0);
        assert_eq!((timer.min, timer.max), (100.0, 300.0));
        let mean = timer.sum / timer.count;
        let population_deviation = (timer.sum_of_squares / timer.count - mean * mean).sqrt();
        assert!(
            (population_deviation - 81.6497).abs() < 1e-4,
            "{population_deviation}"
        );
        let histogram = histogram::decode(&timer.hdr_histogram).unwrap();
        assert_eq!(histogram.len(), 3);
        let median = milliseconds_from_recorded(histogram.value_at_quantile(0.5));
        assert!((median - 200.0).abs() <= 200.0 * 1e-3, "median {median}");
        assert!(aggregates.take_window(WINDOW_MS).is_empty(), "timers reset");
    }

    #[test]
    fn the_histogram_precision_is_configurable_and_clamped() {
        for (configured, used) in [(2, 2), (5, 5), (0, 1), (9, 5)] {
            let mut aggregates = Aggregates::new(AggregationSettings {
                histogram_significant_digits: configured,
                ..AggregationSettings::default()
            });
            aggregate_lines(&mut aggregates, &["t:1|ms"]);
            let timer = timer(only_series(aggregates.take_window(0)));
            let histogram = histogram::decode(&timer.hdr_histogram).unwrap();
            assert_eq!(histogram.sigfig(), used, "configured {configured}");
        }
    }

    #[test]
    fn sampled_timers_count_and_weigh_by_the_inverse_rate() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(&mut aggregates, &["a:100|ms|@0.1"]);
        let timer = timer(only_series(aggregates.take_window(0)));
        assert!((timer.count - 10.0).abs() < 1e-9);
        assert!((timer.sum - 1000.0).abs() < 1e-9);
        assert_eq!(histogram::decode(&timer.hdr_histogram).unwrap().len(), 10);
    }

    #[test]
    fn histograms_distributions_and_timers_share_one_series() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(&mut aggregates, &["x:1:2|ms", "x:3|h", "x:4.5|d"]);
        let timer = timer(only_series(aggregates.take_window(0)));
        assert_eq!((timer.count, timer.sum, timer.max), (4.0, 10.5, 4.5));
    }

    #[test]
    fn sets_count_distinct_members() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(&mut aggregates, &["users:a|s", "users:b|s", "users:a|s"]);
        assert_eq!(set_cardinality(only_series(aggregates.take_window(0))), 2);
        assert!(aggregates.take_window(WINDOW_MS).is_empty(), "sets reset");
    }

    #[test]
    fn the_same_tags_in_any_order_and_either_syntax_are_one_series() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(
            &mut aggregates,
            &[
                "req:1|c|#b:2,a:1",
                "req:1|c|#a:1,b:2,a:1",
                "req;b=2:1|c|#a:1",
                "req;a=1;b=2:1|c",
                "req:1|c|#canary",
            ],
        );
        let mut window = values(aggregates.take_window(0));
        window.sort_by(|left, right| left.1.cmp(&right.1));
        assert_eq!(
            window,
            vec![
                ("req".into(), vec!["a=1".into(), "b=2".into()], counter(4.0)),
                ("req".into(), vec!["canary=".into()], counter(1.0)),
            ]
        );
    }

    #[test]
    fn tags_sort_by_key_then_value() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(&mut aggregates, &["req:1|c|#a.b:1,a:2,a:1"]);
        let series = aggregates.take_window(0);
        let tags: Vec<(&str, &str)> = series[0]
            .tags
            .iter()
            .map(|tag| (tag.key.as_str(), tag.value.as_str()))
            .collect();
        assert_eq!(tags, vec![("a", "1"), ("a", "2"), ("a.b", "1")]);
    }

    #[test]
    fn more_tags_than_fit_inline_sort_and_deduplicate_alike() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(
            &mut aggregates,
            &[
                "req:1|c|#t9,t8,t7,t6,t5,t4,t3,t2,t1,t0,t5",
                "req;t0=;t1=:1|c|#t2,t3,t4,t5,t6,t7,t8,t9",
            ],
        );
        let series = aggregates.take_window(0);
        assert_eq!(series.len(), 1, "{series:?}");
        let keys: Vec<&str> = series[0].tags.iter().map(|tag| tag.key.as_str()).collect();
        assert_eq!(
            keys,
            vec!["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"]
        );
        assert_eq!(series[0].aggregate, Some(counter(2.0)));
    }

    proptest::proptest! {
        /// The key is split where `split_once` would split it, also with stray `|` and `#`.
        #[test]
        fn a_series_key_splits_at_its_first_tags_separator(key in "[a|#:,]{0,12}") {
            proptest::prop_assert_eq!(split_series_key(&key), key.split_once(TAGS_SEPARATOR));
        }
    }

    #[test]
    fn every_kind_with_one_name_is_its_own_series() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(&mut aggregates, &["x:1|c", "x:5|g", "x:5|ms", "x:5|s"]);
        assert_eq!(aggregates.take_window(0).len(), 4);
    }

    #[test]
    fn events_are_collected_per_window_apart_from_the_series() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(&mut aggregates, &["_e{2,2}:hi|yo", "_sc|db|0", "x:1|c"]);
        assert_eq!(aggregates.take_window(0).len(), 1);
        let events = aggregates.take_events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].kind(), v1::event::Kind::ServiceCheck);
        assert!(aggregates.take_events().is_empty());
    }

    /// Aggregates `shards` (one list of lines each) apart, then absorbs them in order into
    /// `merged`, as the receive loop does with its workers' shards at a window end.
    fn absorb_shards(merged: &mut Aggregates, shards: &[&[&str]]) {
        for lines in shards {
            let mut shard = Aggregates::default();
            aggregate_lines(&mut shard, lines);
            merged.absorb(&mut shard);
            assert!(
                shard.take_window(0).is_empty(),
                "absorbing empties the shard"
            );
        }
    }

    #[test]
    fn absorbed_shards_equal_one_aggregates_for_counters_timers_and_sets() {
        let shards: [&[&str]; 3] = [
            &[
                "a:1|c",
                "t:100|ms",
                "u:x|s",
                "a:2|c|@0.5",
                "tagged:1|c|#k:v",
            ],
            &["a:3|c", "t:300|ms", "u:y|s", "t:200|ms|@0.1"],
            &["u:x|s", "b:1|c", "tagged:2|c|#k:v"],
        ];
        let mut merged = Aggregates::default();
        absorb_shards(&mut merged, &shards);
        let mut single = Aggregates::default();
        for lines in shards {
            aggregate_lines(&mut single, lines);
        }
        let mut merged_series = merged.take_window(0);
        let mut single_series = single.take_window(0);
        for series in [&mut merged_series, &mut single_series] {
            series.sort_by_key(|one| (one.name.clone(), format!("{:?}", one.tags)));
            for one in series.iter_mut() {
                // Histogram bytes may differ in layout; compare what they hold.
                if let Some(Aggregate::Timer(timer)) = &mut one.aggregate {
                    let histogram = histogram::decode(&timer.hdr_histogram).unwrap();
                    timer.hdr_histogram = histogram
                        .iter_recorded()
                        .flat_map(|value| [value.value_iterated_to(), value.count_at_value()])
                        .flat_map(u64::to_le_bytes)
                        .collect();
                }
            }
        }
        assert_eq!(merged_series, single_series);
        assert_eq!(merged_series.len(), 5);
    }

    /// A worker's shard lives on from window to window. Its timers and sets are handed over
    /// at each window's end, whether their key is new to the merged table (moved) or already
    /// there (merged), and either way the shard starts the next window without them.
    #[test]
    fn a_shard_hands_over_its_timers_and_sets_whole_at_every_window_end() {
        let mut merged = Aggregates::default();
        let mut shard = Aggregates::default();
        for window in 0..3 {
            // From the second window on, the merged table already holds both keys when the
            // shard is absorbed: the first window moves them, the later ones merge.
            if window > 0 {
                aggregate_lines(&mut merged, &["t:50|ms", "u:a|s"]);
            }
            // New members every window: a sketch the shard kept would show in the count.
            let members = [format!("u:b{window}|s"), format!("u:c{window}|s")];
            aggregate_lines(
                &mut shard,
                &["t:100|ms", "t:300|ms", &members[0], &members[1]],
            );
            merged.absorb(&mut shard);
            let series = values(merged.take_window(window * 1000));
            let [(t_name, _, t), (u_name, _, u)] = <[_; 2]>::try_from(series).unwrap();
            assert_eq!((t_name.as_str(), u_name.as_str()), ("t", "u"));
            let t = timer(t);
            let (count, sum) = if window == 0 {
                (2.0, 400.0)
            } else {
                (3.0, 450.0)
            };
            assert_eq!((t.count, t.sum), (count, sum), "window {window}");
            let members = if window == 0 { 2 } else { 3 };
            assert_eq!(set_cardinality(u), members, "window {window}");
        }
    }

    #[test]
    fn absorbed_gauge_deltas_apply_to_the_remembered_value() {
        let mut merged = Aggregates::default();
        aggregate_lines(&mut merged, &["g:10|g"]);
        merged.take_window(0);
        // Two workers saw only deltas: both change the value of the previous window.
        absorb_shards(&mut merged, &[&["g:+5|g"], &["g:-2|g", "g:+1|g"]]);
        assert_eq!(only_series(merged.take_window(WINDOW_MS)), gauge(14.0));
        // A value set in one worker, then deltas after it there and in a later worker.
        absorb_shards(
            &mut merged,
            &[&["g:+100|g", "g:3|g", "g:+1|g"], &["g:+2|g"]],
        );
        assert_eq!(only_series(merged.take_window(2 * WINDOW_MS)), gauge(6.0));
        // Deltas for a gauge nobody knows set it to their sum, as one delta would.
        absorb_shards(&mut merged, &[&["new:+4|g"], &["new:+1|g"]]);
        assert_eq!(only_series(merged.take_window(3 * WINDOW_MS)), gauge(5.0));
    }

    #[test]
    fn of_two_workers_setting_one_gauge_the_later_worker_wins() {
        let mut merged = Aggregates::default();
        absorb_shards(&mut merged, &[&["g:1|g"], &["g:2|g"]]);
        assert_eq!(only_series(merged.take_window(0)), gauge(2.0));
    }

    #[test]
    fn absorbed_events_respect_the_per_window_limit() {
        let mut merged = Aggregates::default();
        let mut shard = Aggregates::default();
        for _ in 0..MAX_EVENTS_PER_WINDOW {
            aggregate_lines(&mut merged, &["_sc|db|0"]);
        }
        aggregate_lines(&mut shard, &["_sc|db|0", "_sc|db|1"]);
        assert_eq!(merged.absorb(&mut shard), 2);
        assert_eq!(merged.take_events().len(), MAX_EVENTS_PER_WINDOW);
        assert_eq!(merged.events_dropped(), 2);
    }

    #[test]
    fn events_beyond_the_per_window_limit_are_dropped_and_counted() {
        let mut aggregates = Aggregates::default();
        for _ in 0..MAX_EVENTS_PER_WINDOW + 3 {
            aggregate_lines(&mut aggregates, &["_sc|db|0"]);
        }
        assert_eq!(aggregates.take_events().len(), MAX_EVENTS_PER_WINDOW);
        assert_eq!(aggregates.events_dropped(), 3);
    }
}
