//! Writing batches to PostgreSQL, many per transaction, each exactly once in effect.
//!
//! A message is first turned into a [`ValidBatch`] (outside any transaction, so a poison message
//! is found before it can spoil the others). A record of it that breaks the stream's limits
//! (`abacus_proto::limits`: a NUL byte, a name or tag list too long for the catalog's index, a
//! time outside what PostgreSQL stores) is moved into the batch's [`RejectedRecords`], to be
//! dead-lettered, and the rest of the batch is stored as usual. The batches gathered for one
//! transaction are then written by [`store_batches`]:
//!
//! 1. Their day partitions are created first, outside the transaction (see `partitions`).
//! 2. All their ids are inserted into `processed_batches` by one statement
//!    (`on conflict do nothing returning batch_id`). Only the batches whose id this statement
//!    inserted are written; the rest were stored before and are reported as duplicates. The
//!    decision is taken inside the transaction: a worker racing on the same redelivered batch
//!    waits on the uncommitted id row and then sees it, so exactly one of them writes it.
//! 3. Series ids come from the catalog cache; only unknown (or long unseen) series are upserted,
//!    with one statement (see `catalog`).
//! 4. Samples are written with one `unnest` statement per kind for all the batches together:
//!    the number of round-trips does not grow with the batches or their size. Counters and
//!    gauges are merged on write (rows of several batches for the same series, interval and
//!    source are merged in memory first, since one statement cannot touch a row twice); timers
//!    and sets are appended and merged on read, because merging them needs the histogram or
//!    sketch decoded.
//! 5. Batches whose interval was already handed to the rollups mark their keys dirty in the same
//!    transaction (see `rollup`), so late batches update the rollups too.
//!
//! Rows that can conflict are written in key order, so two workers' transactions take their
//! row locks in the same order and do not deadlock.

use crate::catalog::{SeenSeries, SeriesCache, SeriesKey};
use crate::partitions::PartitionCache;
use crate::partitions::{floor_to, timestamp};
use crate::retentions::StorageSchema;
use abacus_proto::catalog::{catalog_tags, SeriesKind};
use abacus_proto::limits;
use abacus_proto::v1::{
    event, series_aggregate::Aggregate, Event, FlushBatch, RawPoint, SeriesAggregate, SetAggregate,
    Tag, TimerAggregate,
};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::{hash_map::Entry, HashMap, HashSet};
use std::sync::Arc;

/// The migrations that create and evolve the schema, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreOutcome {
    Stored {
        series: usize,
        /// Points older than every retention of their series: refused, not stored.
        too_old: TooOld,
    },
    Duplicate,
}

/// The points of a batch refused because they are older than every retention of their series
/// (so no resolution could keep them), and the name of one of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TooOld {
    pub points: usize,
    pub example: Option<String>,
}

/// Where a timestamped point goes, decided as carbon does from its age and its series'
/// retentions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Landing {
    /// Into the raw points, to be rolled up like live data.
    Raw,
    /// Straight into the point rollup of `seconds`, the finest whose retention covers its age.
    Rollup {
        seconds: u32,
        /// The raw resolution of the series: the point's time is kept rounded down to it.
        raw_seconds: u32,
        /// The next coarser resolution, whose bucket must be recomputed.
        coarser: Option<u32>,
    },
    /// Older than every retention of its series.
    TooOld,
}

/// Where a point of `name` at `time` lands at `now`.
pub(crate) fn landing(
    schema: &StorageSchema,
    name: &str,
    time: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Landing {
    let age = (now - time).to_std().unwrap_or_default();
    // Most points are live, and live for every rule: no pattern needs matching.
    if age <= schema.shortest_raw_retention() {
        return Landing::Raw;
    }
    let retentions = schema.retentions_for(name);
    match retentions.landing(age) {
        Some(None) => Landing::Raw,
        Some(Some(rollup)) => Landing::Rollup {
            seconds: rollup.seconds,
            raw_seconds: retentions.raw.seconds,
            coarser: retentions
                .coarser_rollup(rollup.seconds)
                .map(|coarser| coarser.seconds),
        },
        None => Landing::TooOld,
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// PostgreSQL failed; the batches may be retried.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The batch can never be stored as it is.
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// The catalog did not return an id for a series it was given: not the batch's fault, and
    /// not expected to heal by waiting either.
    #[error("series catalog: {0}")]
    Catalog(String),
}

impl StoreError {
    /// Whether retrying the same batches later can succeed: PostgreSQL failed for a reason of
    /// its own (unreachable, shutting down, a serialization failure, out of resources), not
    /// because it refused the data.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, StoreError::Database(_)) && !self.is_refused_data()
    }

    /// Whether PostgreSQL refused the data itself: a data exception (SQLSTATE class 22: a NUL
    /// byte, a time out of range, a value out of range), an integrity constraint (23) or a
    /// program limit (54: an index row too large). Retrying the same rows fails the same way;
    /// only the records at fault must go, the rest can be stored. Errors of other classes (a
    /// missing table, say) are no record's fault and never make a record dead-lettered.
    pub(crate) fn is_refused_data(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(error)) = self else {
            return false;
        };
        matches!(
            error.code().as_deref().and_then(|code| code.get(..2)),
            Some("22" | "23" | "54")
        )
    }
}

impl From<crate::catalog::CatalogError> for StoreError {
    fn from(error: crate::catalog::CatalogError) -> Self {
        match error {
            crate::catalog::CatalogError::Database(error) => StoreError::Database(error),
            missing => StoreError::Catalog(missing.to_string()),
        }
    }
}

/// The kind column of the series catalog.
fn kind_name(aggregate: &Aggregate) -> &'static str {
    SeriesKind::of_aggregate(aggregate).catalog_name()
}

fn series_key(kind: &'static str, name: &str, tags: &[Tag]) -> SeriesKey {
    SeriesKey {
        kind,
        name: name.to_owned(),
        tags: catalog_tags(tags).join(","),
    }
}

/// A decoded batch that has passed every check a batch can fail by itself: writing it can
/// only fail because of the database.
#[derive(Debug)]
pub(crate) struct ValidBatch {
    batch: FlushBatch,
    batch_id: String,
    interval_start: DateTime<Utc>,
    /// The time of each of `batch.points`.
    point_times: Vec<DateTime<Utc>>,
    events: EventColumns,
    /// The records taken out of the batch because they can never be stored.
    rejected: RejectedRecords,
}

/// Records of a batch that can never be stored, as a batch of their own (the same aggregator,
/// incarnation, sequence and interval, only these records) with the reason for each: what the
/// consume loop dead-letters, while the rest of the batch is stored.
#[derive(Debug, Default)]
pub(crate) struct RejectedRecords {
    pub batch: FlushBatch,
    pub reasons: Vec<String>,
}

impl RejectedRecords {
    pub(crate) fn is_empty(&self) -> bool {
        self.reasons.is_empty()
    }

    /// How many records were rejected.
    pub(crate) fn len(&self) -> usize {
        self.reasons.len()
    }
}

/// A record's name for a reason: quoted, and cut short (it may be the 60,000-byte name that
/// was refused).
fn shown(name: &str) -> String {
    let mut end = name.len().min(80);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let ellipsis = if end < name.len() { "…" } else { "" };
    format!("{:?}{ellipsis}", &name[..end])
}

fn tag_pairs(tags: &[Tag]) -> impl Iterator<Item = (&str, &str)> {
    tags.iter()
        .map(|tag| (tag.key.as_str(), tag.value.as_str()))
}

/// The records that have no problem; each that has one goes to `reject` with its reason.
fn set_aside<T>(
    records: &mut Vec<T>,
    problem: fn(&T) -> Option<String>,
    mut reject: impl FnMut(T, String),
) -> Vec<T> {
    std::mem::take(records)
        .into_iter()
        .filter_map(|record| match problem(&record) {
            None => Some(record),
            Some(reason) => {
                reject(record, reason);
                None
            }
        })
        .collect()
}

/// The time of each point, checked before by [`point_problem`] to be one `DateTime` holds.
fn point_times(points: &[RawPoint]) -> Vec<DateTime<Utc>> {
    points
        .iter()
        .map(|point| {
            DateTime::<Utc>::from_timestamp_millis(point.timestamp_unix_ms).unwrap_or_default()
        })
        .collect()
}

/// Why a series can never be stored, if it cannot.
fn series_problem(series: &SeriesAggregate) -> Option<String> {
    let problem = match &series.aggregate {
        None => "has no aggregate".to_owned(),
        Some(Aggregate::Timer(timer)) if timer.hdr_histogram.is_empty() => {
            "is a timer without a histogram".to_owned()
        }
        Some(Aggregate::Set(set)) if set.sketch.is_empty() => {
            "is a set without a sketch".to_owned()
        }
        Some(_) => match limits::check_name("name", &series.name)
            .and_then(|()| limits::check_tags("tags", tag_pairs(&series.tags)))
        {
            Ok(()) => return None,
            Err(error) => error.to_string(),
        },
    };
    Some(format!("series {}: {problem}", shown(&series.name)))
}

/// Why a raw point can never be stored, if it cannot.
fn point_problem(point: &RawPoint) -> Option<String> {
    let checked = limits::check_name("name", &point.name)
        .and_then(|()| limits::check_tags("tags", tag_pairs(&point.tags)))
        .and_then(|()| limits::check_time_ms("time", point.timestamp_unix_ms))
        .and_then(|()| limits::check_value("value", point.value));
    let error = checked.err()?;
    Some(format!("point {}: {error}", shown(&point.name)))
}

/// Why an event or service check can never be stored, if it cannot.
fn event_problem(event: &Event) -> Option<String> {
    let problem = match event.kind() {
        event::Kind::Unspecified => "has no kind".to_owned(),
        event::Kind::ServiceCheck if event.service_check_status > 3 => {
            format!("status {} is not 0-3", event.service_check_status)
        }
        _ => {
            let checked = limits::check_text("title", &event.title, limits::MAX_EVENT_TITLE_BYTES)
                .and_then(|()| {
                    limits::check_text("text", &event.text, limits::MAX_EVENT_TEXT_BYTES)
                })
                .and_then(|()| {
                    [
                        ("host", &event.host),
                        ("aggregation key", &event.aggregation_key),
                        ("priority", &event.priority),
                        ("source type", &event.source_type),
                        ("alert type", &event.alert_type),
                    ]
                    .into_iter()
                    .try_for_each(|(field, text)| limits::check_name(field, text))
                })
                .and_then(|()| limits::check_tags("tags", tag_pairs(&event.tags)))
                .and_then(|()| limits::check_time_ms("time", event.timestamp_unix_ms));
            match checked {
                Ok(()) => return None,
                Err(error) => error.to_string(),
            }
        }
    };
    Some(format!("event {}: {problem}", shown(&event.title)))
}

impl ValidBatch {
    /// Checks a batch; an error says why none of it can ever be stored. Records that cannot
    /// be stored by themselves are moved into [`Self::rejected`], and the rest is valid.
    pub(crate) fn new(mut batch: FlushBatch) -> Result<Self, StoreError> {
        if batch.schema_version != abacus_proto::SCHEMA_VERSION {
            return Err(StoreError::InvalidBatch(format!(
                "schema version {} is not {}",
                batch.schema_version,
                abacus_proto::SCHEMA_VERSION
            )));
        }
        if batch.interval_length_ms == 0 {
            return Err(StoreError::InvalidBatch("interval length is 0".into()));
        }
        if i32::try_from(batch.interval_length_ms).is_err() {
            return Err(StoreError::InvalidBatch(format!(
                "interval length {} ms is out of range",
                batch.interval_length_ms
            )));
        }
        limits::check_time_ms("interval start", batch.interval_start_unix_ms)
            .map_err(|error| StoreError::InvalidBatch(error.to_string()))?;
        let interval_start =
            DateTime::<Utc>::from_timestamp_millis(batch.interval_start_unix_ms)
                .ok_or_else(|| StoreError::InvalidBatch("interval start out of range".into()))?;
        if limits::check_text(
            "aggregator id",
            &batch.aggregator_id,
            limits::MAX_NAME_BYTES,
        )
        .is_err()
        {
            return Err(StoreError::InvalidBatch(
                "aggregator id is longer than a name may be or holds a NUL byte".into(),
            ));
        }
        let mut rejected = RejectedRecords {
            batch: FlushBatch {
                series: Vec::new(),
                points: Vec::new(),
                events: Vec::new(),
                ..batch.clone()
            },
            reasons: Vec::new(),
        };
        batch.series = set_aside(&mut batch.series, series_problem, |series, reason| {
            rejected.batch.series.push(series);
            rejected.reasons.push(reason);
        });
        batch.points = set_aside(&mut batch.points, point_problem, |point, reason| {
            rejected.batch.points.push(point);
            rejected.reasons.push(reason);
        });
        batch.events = set_aside(&mut batch.events, event_problem, |event, reason| {
            rejected.batch.events.push(event);
            rejected.reasons.push(reason);
        });
        let point_times = point_times(&batch.points);
        let mut events = EventColumns::default();
        events.push_events(&batch.events, &batch.aggregator_id);
        Ok(Self {
            batch_id: abacus_proto::batch_id(&batch),
            batch,
            interval_start,
            point_times,
            events,
            rejected,
        })
    }

    pub(crate) fn batch_id(&self) -> &str {
        &self.batch_id
    }

    /// The records taken out of the batch because they can never be stored.
    pub(crate) fn rejected(&self) -> &RejectedRecords {
        &self.rejected
    }

    /// How many records (series, points, events) the batch holds.
    pub(crate) fn record_count(&self) -> usize {
        self.batch.series.len() + self.batch.points.len() + self.batch.events.len()
    }

    /// A batch of the same identity holding only the records at `indices` (in increasing
    /// order), numbered series first, then points, then events.
    pub(crate) fn with_records(&self, indices: &[usize]) -> ValidBatch {
        let mut part = FlushBatch {
            series: Vec::new(),
            points: Vec::new(),
            events: Vec::new(),
            ..self.batch.clone()
        };
        let (series, points) = (self.batch.series.len(), self.batch.points.len());
        for &index in indices {
            if index < series {
                part.series.push(self.batch.series[index].clone());
            } else if index < series + points {
                part.points.push(self.batch.points[index - series].clone());
            } else if let Some(event) = self.batch.events.get(index - series - points) {
                part.events.push(event.clone());
            }
        }
        // Every record of `self` passed the checks, so the part's records need none.
        let mut events = EventColumns::default();
        events.push_events(&part.events, &part.aggregator_id);
        ValidBatch {
            point_times: point_times(&part.points),
            batch: part,
            batch_id: self.batch_id.clone(),
            interval_start: self.interval_start,
            events,
            rejected: RejectedRecords::default(),
        }
    }

    /// Moves the records at `indices` (as in [`Self::with_records`]) into the rejected ones,
    /// each with its reason: PostgreSQL refused them.
    pub(crate) fn reject_records(&mut self, refused: Vec<(usize, String)>) {
        let (series, points) = (self.batch.series.len(), self.batch.points.len());
        for (index, reason) in refused {
            if index < series {
                let record = &self.batch.series[index];
                self.rejected.batch.series.push(record.clone());
                self.rejected
                    .reasons
                    .push(format!("series {}: {reason}", shown(&record.name)));
            } else if index < series + points {
                let record = &self.batch.points[index - series];
                self.rejected.batch.points.push(record.clone());
                self.rejected
                    .reasons
                    .push(format!("point {}: {reason}", shown(&record.name)));
            } else if let Some(record) = self.batch.events.get(index - series - points) {
                self.rejected.batch.events.push(record.clone());
                self.rejected
                    .reasons
                    .push(format!("event {}: {reason}", shown(&record.title)));
            }
        }
    }

    fn interval_ms(&self) -> i32 {
        // Checked to fit by `new`.
        i32::try_from(self.batch.interval_length_ms).unwrap_or(i32::MAX)
    }
}

/// One counter or gauge row before its series id is known.
#[derive(Clone)]
struct MergedRow<'batch> {
    series: usize,
    interval_start: DateTime<Utc>,
    source: &'batch str,
    interval_ms: i32,
    value: f64,
    /// Position of its batch in the transaction: of several gauge values for the same key and
    /// of gauges of several sources for the same interval, the later batch was stored last.
    batch_position: usize,
}

/// One timer, set or raw point row before its series id is known.
struct AppendedRow<T> {
    series: usize,
    /// Position of its batch in the transaction.
    batch: usize,
    value: T,
}

fn appended<T>(series: usize, batch: usize, value: T) -> AppendedRow<T> {
    AppendedRow {
        series,
        batch,
        value,
    }
}

/// The rows of the batches of one transaction, ready to be passed to PostgreSQL as arrays.
#[derive(Default)]
struct TransactionRows<'batch> {
    series: Vec<SeenSeries>,
    index_by_series: HashMap<SeriesKey, usize>,
    counters: Vec<MergedRow<'batch>>,
    gauges: Vec<MergedRow<'batch>>,
    timers: Vec<AppendedRow<&'batch TimerAggregate>>,
    sets: Vec<AppendedRow<&'batch SetAggregate>>,
    /// Time and value; one row per series and time (see `push_point`).
    points: Vec<AppendedRow<(DateTime<Utc>, f64)>>,
    /// The position in `points` of each series' point at a time.
    point_index: HashMap<(usize, DateTime<Utc>), usize>,
    /// Points written straight into a point rollup: resolution, bucket, value, time rounded
    /// to the raw resolution, and the coarser resolution above.
    landed: Vec<AppendedRow<LandedPoint>>,
    /// Points refused as older than every retention, per batch.
    too_old: HashMap<usize, TooOld>,
}

#[derive(Debug, Clone, Copy)]
struct LandedPoint {
    seconds: u32,
    bucket: DateTime<Utc>,
    value: f64,
    point_time: DateTime<Utc>,
    coarser: Option<u32>,
}

impl<'batch> TransactionRows<'batch> {
    fn from_batches(
        batches: &[&'batch ValidBatch],
        schema: &StorageSchema,
        now: DateTime<Utc>,
    ) -> Self {
        let mut rows = TransactionRows::default();
        for (position, valid) in batches.iter().enumerate() {
            let batch = &valid.batch;
            for series in &batch.series {
                // Checked by `ValidBatch::new`.
                let Some(aggregate) = &series.aggregate else {
                    continue;
                };
                let index = rows.series_index(
                    series_key(kind_name(aggregate), &series.name, &series.tags),
                    valid.interval_start,
                );
                let merged = |value| MergedRow {
                    series: index,
                    interval_start: valid.interval_start,
                    source: &batch.aggregator_id,
                    interval_ms: valid.interval_ms(),
                    value,
                    batch_position: position,
                };
                match aggregate {
                    Aggregate::Counter(counter) => rows.counters.push(merged(counter.count)),
                    Aggregate::Gauge(gauge) => rows.gauges.push(merged(gauge.value)),
                    Aggregate::Timer(timer) => rows.timers.push(appended(index, position, timer)),
                    Aggregate::Set(set) => rows.sets.push(appended(index, position, set)),
                }
            }
            for (point, time) in batch.points.iter().zip(&valid.point_times) {
                let landing = landing(schema, &point.name, *time, now);
                if landing == Landing::TooOld {
                    let too_old = rows.too_old.entry(position).or_default();
                    too_old.points += 1;
                    too_old.example.get_or_insert_with(|| point.name.clone());
                    continue;
                }
                let index = rows.series_index(
                    series_key(SeriesKind::Raw.catalog_name(), &point.name, &point.tags),
                    *time,
                );
                match landing {
                    Landing::Rollup {
                        seconds,
                        raw_seconds,
                        coarser,
                    } => {
                        let at = time.timestamp();
                        rows.landed.push(appended(
                            index,
                            position,
                            LandedPoint {
                                seconds,
                                bucket: timestamp(floor_to(at, i64::from(seconds))),
                                value: point.value,
                                point_time: timestamp(floor_to(at, i64::from(raw_seconds))),
                                coarser,
                            },
                        ));
                    }
                    _ => rows.push_point(appended(index, position, (*time, point.value))),
                }
            }
        }
        rows
    }

    /// Adds a raw point; one the transaction already holds for its series and time is
    /// replaced. Rows written by one statement share one `stored_at`, so two of one time
    /// would tie and a read could show either: like carbon, the last one received is the
    /// value (batches come in delivery order, each batch's points in arrival order).
    fn push_point(&mut self, row: AppendedRow<(DateTime<Utc>, f64)>) {
        match self.point_index.entry((row.series, row.value.0)) {
            Entry::Occupied(earlier) => self.points[*earlier.get()] = row,
            Entry::Vacant(slot) => {
                slot.insert(self.points.len());
                self.points.push(row);
            }
        }
    }

    /// The position of a series in `series`, adding it the first time.
    fn series_index(&mut self, key: SeriesKey, seen_at: DateTime<Utc>) -> usize {
        if let Some(index) = self.index_by_series.get(&key) {
            let seen = &mut self.series[*index];
            seen.first_seen = seen.first_seen.min(seen_at);
            seen.last_seen = seen.last_seen.max(seen_at);
            return *index;
        }
        let index = self.series.len();
        self.series.push(SeenSeries {
            key: key.clone(),
            first_seen: seen_at,
            last_seen: seen_at,
        });
        self.index_by_series.insert(key, index);
        index
    }
}

/// The columns of the events table for the events of some batches.
#[derive(Debug, Default)]
struct EventColumns {
    kinds: Vec<&'static str>,
    occurred_at: Vec<DateTime<Utc>>,
    titles: Vec<String>,
    texts: Vec<String>,
    hosts: Vec<Option<String>>,
    aggregation_keys: Vec<Option<String>>,
    priorities: Vec<Option<String>>,
    source_types: Vec<Option<String>>,
    alert_types: Vec<Option<String>>,
    service_check_statuses: Vec<Option<i16>>,
    tags: Vec<String>,
    sources: Vec<String>,
}

impl EventColumns {
    /// Adds the events of one batch, checked before by [`event_problem`].
    fn push_events(&mut self, events: &[Event], source: &str) {
        let present = |text: &str| (!text.is_empty()).then(|| text.to_owned());
        for event in events {
            let is_service_check = event.kind() == event::Kind::ServiceCheck;
            let occurred_at =
                DateTime::<Utc>::from_timestamp_millis(event.timestamp_unix_ms).unwrap_or_default();
            self.kinds.push(if is_service_check {
                "service_check"
            } else {
                "event"
            });
            self.occurred_at.push(occurred_at);
            self.titles.push(event.title.clone());
            self.texts.push(event.text.clone());
            self.hosts.push(present(&event.host));
            self.aggregation_keys.push(present(&event.aggregation_key));
            self.priorities.push(present(&event.priority));
            self.source_types.push(present(&event.source_type));
            self.alert_types.push(present(&event.alert_type));
            self.service_check_statuses
                .push(is_service_check.then_some(event.service_check_status as i16));
            self.tags.push(catalog_tags(&event.tags).join(","));
            self.sources.push(source.to_owned());
        }
    }

    fn extend(&mut self, other: &EventColumns) {
        self.kinds.extend_from_slice(&other.kinds);
        self.occurred_at.extend_from_slice(&other.occurred_at);
        self.titles.extend_from_slice(&other.titles);
        self.texts.extend_from_slice(&other.texts);
        self.hosts.extend_from_slice(&other.hosts);
        self.aggregation_keys
            .extend_from_slice(&other.aggregation_keys);
        self.priorities.extend_from_slice(&other.priorities);
        self.source_types.extend_from_slice(&other.source_types);
        self.alert_types.extend_from_slice(&other.alert_types);
        self.service_check_statuses
            .extend_from_slice(&other.service_check_statuses);
        self.tags.extend_from_slice(&other.tags);
        self.sources.extend_from_slice(&other.sources);
    }
}

/// What storing batches needs besides the batches: where partitions are known to exist, how
/// long raw data is kept (partitions are created on demand only within that window), and the
/// series ids already known.
#[derive(Debug)]
pub(crate) struct StoreContext {
    pub partitions: Arc<PartitionCache>,
    pub schema: Arc<StorageSchema>,
    pub series: Arc<SeriesCache>,
}

impl StoreContext {
    pub(crate) fn new(partitions: Arc<PartitionCache>, schema: Arc<StorageSchema>) -> Self {
        Self {
            partitions,
            schema,
            series: Arc::default(),
        }
    }

    /// Creates the day partitions the batches' rows need. Before the transaction, so that the
    /// rows land in their day partitions: DDL inside the transaction would hold locks on the
    /// parent tables until it commits.
    pub(crate) async fn ensure_partitions(
        &self,
        pool: &PgPool,
        batches: &[ValidBatch],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut raw_times = Vec::new();
        let mut landed: HashMap<u32, Vec<DateTime<Utc>>> = HashMap::new();
        for batch in batches {
            raw_times.push(batch.interval_start);
            for (point, time) in batch.batch.points.iter().zip(&batch.point_times) {
                match landing(&self.schema, &point.name, *time, now) {
                    Landing::Raw => raw_times.push(*time),
                    Landing::Rollup { seconds, .. } => landed
                        .entry(seconds)
                        .or_default()
                        .push(timestamp(floor_to(time.timestamp(), i64::from(seconds)))),
                    Landing::TooOld => {}
                }
            }
        }
        self.partitions
            .ensure_raw_days(pool, self.schema.longest_raw_retention(), raw_times)
            .await?;
        for (seconds, buckets) in landed {
            crate::rollup::ensure_rollup_partitions(
                pool,
                &self.partitions,
                &["point_rollups"],
                seconds,
                &buckets,
            )
            .await?;
        }
        Ok(())
    }
}

/// Stores `batches` in one transaction; returns what happened to each, in their order. On an
/// error nothing was stored.
pub(crate) async fn store_batches(
    pool: &PgPool,
    context: &StoreContext,
    batches: &[ValidBatch],
) -> Result<Vec<StoreOutcome>, StoreError> {
    let now = Utc::now();
    context.ensure_partitions(pool, batches, now).await?;
    let mut transaction = pool.begin().await?;
    let newly_recorded = record_batch_ids(&mut transaction, batches).await?;
    // The first copy of a batch id that this transaction recorded is written; any other copy
    // (stored before, or a second copy in this very transaction) is a duplicate.
    let mut written_ids: HashSet<&str> = HashSet::new();
    let mut outcomes = Vec::with_capacity(batches.len());
    let mut to_write: Vec<&ValidBatch> = Vec::new();
    // Position of each written batch in `to_write`, by its position in `batches`.
    let mut written_at = Vec::new();
    for (position, batch) in batches.iter().enumerate() {
        if newly_recorded.contains(batch.batch_id()) && written_ids.insert(batch.batch_id()) {
            written_at.push((position, to_write.len()));
            to_write.push(batch);
            outcomes.push(StoreOutcome::Stored {
                series: batch.batch.series.len() + batch.batch.points.len(),
                too_old: TooOld::default(),
            });
        } else {
            outcomes.push(StoreOutcome::Duplicate);
        }
    }
    if to_write.is_empty() {
        transaction.commit().await?;
        return Ok(outcomes);
    }
    let (resolved, mut too_old) = write_batches(&mut transaction, context, &to_write, now).await?;
    transaction.commit().await?;
    context.series.remember(resolved);
    for (position, written) in written_at {
        if let (
            Some(refused),
            StoreOutcome::Stored {
                series,
                too_old: counted,
            },
        ) = (too_old.remove(&written), &mut outcomes[position])
        {
            *series -= refused.points;
            *counted = refused;
        }
    }
    Ok(outcomes)
}

/// Writes the records of `to_write`, whose ids the transaction has recorded: series ids,
/// rollup keys to recompute, then one statement per kind; points older than their retentions
/// are not written. Returns the series ids it learnt, to be remembered once the transaction
/// has committed, and the points refused as too old by position in `to_write`.
pub(crate) async fn write_batches(
    transaction: &mut PgConnection,
    context: &StoreContext,
    to_write: &[&ValidBatch],
    now: DateTime<Utc>,
) -> Result<(crate::catalog::ResolvedSeries, HashMap<usize, TooOld>), StoreError> {
    let rows = TransactionRows::from_batches(to_write, &context.schema, now);
    let (series_ids, resolved) = context
        .series
        .resolve(&mut *transaction, &rows.series)
        .await?;
    let mut rolled_keys: Vec<(i64, DateTime<Utc>)> = rows
        .counters
        .iter()
        .chain(&rows.gauges)
        .map(|row| (series_ids[row.series], row.interval_start))
        .chain(
            rows.timers
                .iter()
                .map(|row| (series_ids[row.series], to_write[row.batch].interval_start)),
        )
        .chain(
            rows.sets
                .iter()
                .map(|row| (series_ids[row.series], to_write[row.batch].interval_start)),
        )
        .chain(
            rows.points
                .iter()
                .map(|row| (series_ids[row.series], row.value.0)),
        )
        .collect();
    rolled_keys.sort_unstable();
    rolled_keys.dedup();
    crate::rollup::mark_late_keys(
        &mut *transaction,
        &context.schema.rollup_resolutions(),
        &rolled_keys,
    )
    .await?;
    write_landed_points(&mut *transaction, &rows.landed, &series_ids).await?;
    write_counters(&mut *transaction, &rows.counters, &series_ids).await?;
    write_gauges(&mut *transaction, &rows.gauges, &series_ids).await?;
    write_timers(&mut *transaction, &rows.timers, &series_ids, to_write).await?;
    write_sets(&mut *transaction, &rows.sets, &series_ids, to_write).await?;
    write_points(&mut *transaction, &rows.points, &series_ids, to_write).await?;
    let mut events = EventColumns::default();
    for batch in to_write {
        events.extend(&batch.events);
    }
    write_events(&mut *transaction, &events).await?;
    Ok((resolved, rows.too_old))
}

/// Writes points older than the raw retention straight into the point rollup that keeps them
/// (the slot's value is replaced, as carbon overwrites an archive's slot; of several points of
/// one slot in these batches the last wins) and marks the bucket above each dirty.
async fn write_landed_points(
    transaction: &mut PgConnection,
    rows: &[AppendedRow<LandedPoint>],
    series_ids: &[i64],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    // The last row of each key, in batch and point order.
    let mut last: std::collections::BTreeMap<(u32, i64, DateTime<Utc>), &LandedPoint> =
        std::collections::BTreeMap::new();
    for row in rows {
        let point = &row.value;
        last.insert((point.seconds, series_ids[row.series], point.bucket), point);
    }
    let mut by_resolution: std::collections::BTreeMap<u32, crate::rollup::PointRollupColumns> =
        std::collections::BTreeMap::new();
    let mut coarser_keys = Vec::new();
    for ((seconds, series_id, bucket), point) in last {
        by_resolution.entry(seconds).or_default().push(
            series_id,
            bucket,
            point.value,
            1,
            point.point_time,
        );
        if let Some(coarser) = point.coarser {
            let coarser_bucket = timestamp(floor_to(bucket.timestamp(), i64::from(coarser)));
            coarser_keys.push((series_id, coarser as i32, coarser_bucket));
        }
    }
    for (seconds, columns) in by_resolution {
        columns.upsert(&mut *transaction, seconds as i32).await?;
    }
    // Far below every watermark, and never listed from raw rows: marked whatever the
    // watermarks say.
    crate::rollup::mark_dirty(transaction, coarser_keys).await?;
    Ok(())
}

/// Inserts the ids of `batches` into `processed_batches`, in id order (so racing transactions
/// wait on each other's ids in one order); returns the ids this statement inserted.
pub(crate) async fn record_batch_ids(
    transaction: &mut PgConnection,
    batches: &[ValidBatch],
) -> Result<HashSet<String>, sqlx::Error> {
    let mut ids = Vec::with_capacity(batches.len());
    let mut aggregators = Vec::with_capacity(batches.len());
    let mut incarnations = Vec::with_capacity(batches.len());
    let mut sequences = Vec::with_capacity(batches.len());
    let mut interval_starts = Vec::with_capacity(batches.len());
    let mut seen = HashSet::new();
    let mut sorted: Vec<&ValidBatch> = batches.iter().collect();
    sorted.sort_by(|left, right| left.batch_id.cmp(&right.batch_id));
    for batch in sorted {
        // One row per id: a statement cannot insert the same key twice.
        if !seen.insert(batch.batch_id.as_str()) {
            continue;
        }
        ids.push(batch.batch_id.as_str());
        aggregators.push(batch.batch.aggregator_id.as_str());
        incarnations.push(batch.batch.incarnation as i64);
        sequences.push(batch.batch.sequence as i64);
        interval_starts.push(batch.interval_start);
    }
    let inserted: Vec<String> = sqlx::query_scalar(
        "insert into processed_batches (batch_id, aggregator_id, incarnation, sequence, interval_start)
         select batch_id, aggregator_id, incarnation, sequence, interval_start
         from unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[])
             with ordinality as rows (batch_id, aggregator_id, incarnation, sequence, interval_start, position)
         order by position
         on conflict (batch_id) do nothing
         returning batch_id",
    )
    .bind(&ids)
    .bind(&aggregators)
    .bind(&incarnations)
    .bind(&sequences)
    .bind(&interval_starts)
    .fetch_all(&mut *transaction)
    .await?;
    Ok(inserted.into_iter().collect())
}

/// Counter or gauge rows with their series ids, sorted by key (series, interval, source) and
/// merged so that each key appears once: `merge(kept, later)` folds a later row into the one
/// kept.
fn merged_rows<'batch>(
    rows: &[MergedRow<'batch>],
    series_ids: &[i64],
    merge: fn(&mut MergedRow<'batch>, &MergedRow<'batch>),
) -> MergedColumns {
    let key = |row: &MergedRow<'batch>| (series_ids[row.series], row.interval_start, row.source);
    let mut sorted: Vec<&MergedRow<'batch>> = rows.iter().collect();
    // Stable, so the rows of one key stay in batch order.
    sorted.sort_by(|left, right| key(left).cmp(&key(right)));
    let mut columns = MergedColumns::default();
    let mut pending: Option<MergedRow<'batch>> = None;
    for row in sorted {
        match &mut pending {
            Some(kept) if key(kept) == key(row) => merge(kept, row),
            _ => {
                if let Some(done) = pending.replace(row.clone()) {
                    columns.push(series_ids[done.series], &done);
                }
            }
        }
    }
    if let Some(done) = pending {
        columns.push(series_ids[done.series], &done);
    }
    columns
}

#[derive(Default)]
struct MergedColumns {
    series_ids: Vec<i64>,
    interval_starts: Vec<DateTime<Utc>>,
    sources: Vec<String>,
    interval_ms: Vec<i32>,
    values: Vec<f64>,
    batch_positions: Vec<i32>,
}

impl MergedColumns {
    fn push(&mut self, series_id: i64, row: &MergedRow<'_>) {
        self.series_ids.push(series_id);
        self.interval_starts.push(row.interval_start);
        self.sources.push(row.source.to_owned());
        self.interval_ms.push(row.interval_ms);
        self.values.push(row.value);
        self.batch_positions
            .push(i32::try_from(row.batch_position).unwrap_or(i32::MAX));
    }
}

async fn write_counters(
    transaction: &mut PgConnection,
    rows: &[MergedRow<'_>],
    series_ids: &[i64],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let columns = merged_rows(rows, series_ids, |kept, later| kept.value += later.value);
    sqlx::query(
        "insert into counter_samples (series_id, interval_start, source, interval_ms, count)
         select * from unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::integer[], $5::float8[])
         on conflict (series_id, interval_start, source)
         do update set count = counter_samples.count + excluded.count",
    )
    .bind(&columns.series_ids)
    .bind(&columns.interval_starts)
    .bind(&columns.sources)
    .bind(&columns.interval_ms)
    .bind(&columns.values)
    .execute(&mut *transaction)
    .await?;
    Ok(())
}

async fn write_gauges(
    transaction: &mut PgConnection,
    rows: &[MergedRow<'_>],
    series_ids: &[i64],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let columns = merged_rows(rows, series_ids, |kept, later| {
        kept.value = later.value;
        kept.batch_position = later.batch_position;
    });
    // `stored_at` orders the reports of several aggregators for one interval (the one stored
    // last wins). All batches of a transaction share its `now()`, so each batch's position in
    // the transaction is added in microseconds to keep them in the order they were consumed.
    sqlx::query(
        "insert into gauge_samples (series_id, interval_start, source, interval_ms, value, stored_at)
         select series_id, interval_start, source, interval_ms, value,
                now() + batch_position * interval '1 microsecond'
         from unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::integer[], $5::float8[], $6::integer[])
             as rows (series_id, interval_start, source, interval_ms, value, batch_position)
         on conflict (series_id, interval_start, source)
         do update set value = excluded.value, stored_at = excluded.stored_at",
    )
    .bind(&columns.series_ids)
    .bind(&columns.interval_starts)
    .bind(&columns.sources)
    .bind(&columns.interval_ms)
    .bind(&columns.values)
    .bind(&columns.batch_positions)
    .execute(&mut *transaction)
    .await?;
    Ok(())
}

/// The per-row columns every appended sample has: series, interval start, source, interval.
fn appended_columns<T>(
    rows: &[AppendedRow<T>],
    series_ids: &[i64],
    batches: &[&ValidBatch],
) -> (Vec<i64>, Vec<DateTime<Utc>>, Vec<String>, Vec<i32>) {
    let mut ids = Vec::with_capacity(rows.len());
    let mut interval_starts = Vec::with_capacity(rows.len());
    let mut sources = Vec::with_capacity(rows.len());
    let mut interval_ms = Vec::with_capacity(rows.len());
    for row in rows {
        let batch = batches[row.batch];
        ids.push(series_ids[row.series]);
        interval_starts.push(batch.interval_start);
        sources.push(batch.batch.aggregator_id.clone());
        interval_ms.push(batch.interval_ms());
    }
    (ids, interval_starts, sources, interval_ms)
}

async fn write_timers(
    transaction: &mut PgConnection,
    rows: &[AppendedRow<&TimerAggregate>],
    series_ids: &[i64],
    batches: &[&ValidBatch],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let (ids, interval_starts, sources, interval_ms) = appended_columns(rows, series_ids, batches);
    let column = |field: fn(&TimerAggregate) -> f64| -> Vec<f64> {
        rows.iter().map(|row| field(row.value)).collect()
    };
    let histograms: Vec<&[u8]> = rows
        .iter()
        .map(|row| row.value.hdr_histogram.as_slice())
        .collect();
    sqlx::query(
        "insert into timer_samples
             (series_id, interval_start, source, interval_ms, count, sum, sum_of_squares, min, max, histogram)
         select * from unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::integer[], $5::float8[],
                              $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::bytea[])",
    )
    .bind(&ids)
    .bind(&interval_starts)
    .bind(&sources)
    .bind(&interval_ms)
    .bind(column(|timer| timer.count))
    .bind(column(|timer| timer.sum))
    .bind(column(|timer| timer.sum_of_squares))
    .bind(column(|timer| timer.min))
    .bind(column(|timer| timer.max))
    .bind(&histograms)
    .execute(&mut *transaction)
    .await?;
    Ok(())
}

async fn write_sets(
    transaction: &mut PgConnection,
    rows: &[AppendedRow<&SetAggregate>],
    series_ids: &[i64],
    batches: &[&ValidBatch],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let (ids, interval_starts, sources, interval_ms) = appended_columns(rows, series_ids, batches);
    let sketches: Vec<&[u8]> = rows.iter().map(|row| row.value.sketch.as_slice()).collect();
    sqlx::query(
        "insert into set_samples (series_id, interval_start, source, interval_ms, sketch)
         select * from unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::integer[], $5::bytea[])",
    )
    .bind(&ids)
    .bind(&interval_starts)
    .bind(&sources)
    .bind(&interval_ms)
    .bind(&sketches)
    .execute(&mut *transaction)
    .await?;
    Ok(())
}

async fn write_points(
    transaction: &mut PgConnection,
    rows: &[AppendedRow<(DateTime<Utc>, f64)>],
    series_ids: &[i64],
    batches: &[&ValidBatch],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = rows.iter().map(|row| series_ids[row.series]).collect();
    let times: Vec<DateTime<Utc>> = rows.iter().map(|row| row.value.0).collect();
    let values: Vec<f64> = rows.iter().map(|row| row.value.1).collect();
    let sources: Vec<&str> = rows
        .iter()
        .map(|row| batches[row.batch].batch.aggregator_id.as_str())
        .collect();
    // A point that is already the latest row at its exact time, with the same value, would
    // change no read and no rollup: it is not stored again. That keeps a re-sent point (a
    // whisper import run again over a tree carbon has written on since, which packs its
    // batches differently, or a client resending its backlog) one row, while a later point
    // with another value, or the first value again after another one, is stored and wins.
    sqlx::query(
        "insert into raw_points (series_id, point_time, source, value)
         select p.series_id, p.point_time, p.source, p.value
         from unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::float8[])
             as p (series_id, point_time, source, value)
         where p.value is distinct from (
             select latest.value from raw_points latest
             where latest.series_id = p.series_id and latest.point_time = p.point_time
             order by latest.stored_at desc, latest.source desc
             limit 1)",
    )
    .bind(&ids)
    .bind(&times)
    .bind(&sources)
    .bind(&values)
    .execute(&mut *transaction)
    .await?;
    Ok(())
}

async fn write_events(
    transaction: &mut PgConnection,
    events: &EventColumns,
) -> Result<(), sqlx::Error> {
    if events.kinds.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "insert into events (kind, occurred_at, title, text, host, aggregation_key, priority,
                             source_type, alert_type, service_check_status, tags, source)
         select kind, occurred_at, title, text, host, aggregation_key, priority, source_type,
                alert_type, service_check_status, coalesce(string_to_array(tags, ','), '{}'), source
         from unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::smallint[], $11::text[], $12::text[])
             as rows (kind, occurred_at, title, text, host, aggregation_key, priority, source_type,
                      alert_type, service_check_status, tags, source)",
    )
    .bind(&events.kinds)
    .bind(&events.occurred_at)
    .bind(&events.titles)
    .bind(&events.texts)
    .bind(&events.hosts)
    .bind(&events.aggregation_keys)
    .bind(&events.priorities)
    .bind(&events.source_types)
    .bind(&events.alert_types)
    .bind(&events.service_check_statuses)
    .bind(&events.tags)
    .bind(&events.sources)
    .execute(&mut *transaction)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        series: usize,
        start_seconds: i64,
        source: &str,
        value: f64,
        batch: usize,
    ) -> MergedRow<'_> {
        MergedRow {
            series,
            interval_start: DateTime::<Utc>::from_timestamp(start_seconds, 0).unwrap_or_default(),
            source,
            interval_ms: 10_000,
            value,
            batch_position: batch,
        }
    }

    #[test]
    fn rows_of_one_key_from_several_batches_become_one_row() {
        // Series index 0 has id 7, index 1 has id 3: the output is in id order.
        let series_ids = [7, 3];
        let rows = [
            row(0, 10, "a", 1.0, 0),
            row(1, 10, "a", 5.0, 0),
            row(0, 10, "a", 2.0, 1),
            row(0, 10, "b", 4.0, 1),
            row(0, 20, "a", 8.0, 2),
            row(0, 10, "a", 3.0, 3),
        ];
        let summed = merged_rows(&rows, &series_ids, |kept, later| kept.value += later.value);
        assert_eq!(summed.series_ids, vec![3, 7, 7, 7]);
        assert_eq!(summed.sources, vec!["a", "a", "b", "a"]);
        assert_eq!(summed.values, vec![5.0, 6.0, 4.0, 8.0]);

        let last = merged_rows(&rows, &series_ids, |kept, later| {
            kept.value = later.value;
            kept.batch_position = later.batch_position;
        });
        assert_eq!(last.values, vec![5.0, 3.0, 4.0, 8.0]);
        assert_eq!(last.batch_positions, vec![0, 3, 1, 2]);
    }

    #[test]
    fn a_bad_interval_spoils_a_batch_and_a_bad_record_only_itself() {
        let good = abacus_proto::v1::SeriesAggregate {
            name: "good".into(),
            tags: vec![],
            aggregate: Some(Aggregate::Counter(abacus_proto::v1::CounterAggregate {
                count: 2.0,
            })),
        };
        let without_aggregate = abacus_proto::v1::SeriesAggregate {
            name: "c".into(),
            tags: vec![],
            aggregate: None,
        };
        let mut batch = FlushBatch {
            schema_version: abacus_proto::SCHEMA_VERSION,
            aggregator_id: "a".into(),
            interval_length_ms: 10_000,
            series: vec![without_aggregate.clone(), good.clone()],
            ..Default::default()
        };
        let valid = ValidBatch::new(batch.clone()).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(valid.batch.series, vec![good.clone()]);
        assert_eq!(valid.rejected().batch.series, vec![without_aggregate]);
        assert_eq!(
            valid.rejected().reasons,
            vec!["series \"c\": has no aggregate"]
        );

        batch.series.clear();
        batch.interval_length_ms = u32::MAX;
        let error = ValidBatch::new(batch.clone()).unwrap_err();
        assert!(!error.is_transient(), "{error}");
        batch.interval_length_ms = 10_000;
        batch.interval_start_unix_ms = -10_000;
        assert!(ValidBatch::new(batch.clone()).is_err(), "before the epoch");
        batch.interval_start_unix_ms = 1_700_000_000_000;
        assert!(ValidBatch::new(batch).is_ok());
    }

    #[test]
    fn a_part_of_a_batch_keeps_its_identity_and_only_the_records_asked_for() {
        let counter = |name: &str| abacus_proto::v1::SeriesAggregate {
            name: name.into(),
            tags: vec![],
            aggregate: Some(Aggregate::Counter(abacus_proto::v1::CounterAggregate {
                count: 1.0,
            })),
        };
        let point = |name: &str| RawPoint {
            name: name.into(),
            tags: vec![],
            timestamp_unix_ms: 1_700_000_000_000,
            value: 1.0,
        };
        let batch = FlushBatch {
            schema_version: abacus_proto::SCHEMA_VERSION,
            aggregator_id: "a".into(),
            sequence: 9,
            interval_start_unix_ms: 1_700_000_000_000,
            interval_length_ms: 10_000,
            series: vec![counter("s0"), counter("s1")],
            points: vec![point("p0"), point("p1")],
            events: vec![Event {
                kind: event::Kind::Event.into(),
                title: "e0".into(),
                timestamp_unix_ms: 1_700_000_000_000,
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut valid = ValidBatch::new(batch).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(valid.record_count(), 5);
        let part = valid.with_records(&[1, 3, 4]);
        assert_eq!(part.batch_id(), valid.batch_id());
        assert_eq!(part.batch.series, vec![counter("s1")]);
        assert_eq!(part.batch.points, vec![point("p1")]);
        assert_eq!(part.point_times.len(), 1);
        assert_eq!(part.events.titles, vec!["e0"]);
        valid.reject_records(vec![(0, "refused".into()), (2, "refused too".into())]);
        assert_eq!(valid.rejected().batch.series, vec![counter("s0")]);
        assert_eq!(valid.rejected().batch.points, vec![point("p0")]);
        assert_eq!(
            valid.rejected().reasons,
            vec!["series \"s0\": refused", "point \"p0\": refused too"]
        );
    }
}
