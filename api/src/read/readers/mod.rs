//! One reader per kind, behind [`KindReader`]: how the stored rows of a kind are read for a
//! request and merged into the buckets of a series' time grid.
//!
//! Widening merges the rows of a bucket the way their kind merges — counts add, histograms
//! merge, sketches union, a gauge takes its last value — so a consolidated percentile is a true
//! percentile, not an average of percentiles. Gaps read as statsd + Graphite users expect: once
//! a series exists, a counter is 0, a timer's count is 0 and a set's count is 0 in a quiet
//! bucket, and a gauge keeps its last value; points and every other field are null there.
//!
//! * [`counters`], [`gauges`], [`points`] (Graphite plaintext and HTTP ingest), [`timers`],
//!   [`sets`].

pub(crate) mod counters;
pub(crate) mod gauges;
pub(crate) mod points;
pub(crate) mod sets;
pub(crate) mod timers;

use crate::names::namespace::Field;
use crate::read::grid::StepGrid;
use crate::read::query::{NumberSample, RowSource, StoredRow};
use crate::read::statistics::StoredValueError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::HashMap;
use std::future::Future;
use tracing::warn;

/// One part of a read: rows of `source` in `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadPart {
    pub(crate) source: RowSource,
    pub(crate) from: DateTime<Utc>,
    pub(crate) until: DateTime<Utc>,
}

/// What a reader is asked for one series: the field to show, on which grid, and in which
/// buckets the series existed (and was not in the future).
pub(crate) struct SeriesRequest<'a> {
    pub(crate) series_id: i64,
    pub(crate) series_name: &'a str,
    pub(crate) field: Field,
    pub(crate) grid: &'a StepGrid,
    pub(crate) existed: &'a [bool],
    /// For a point series: how its buckets are rolled up, and its raw resolution.
    pub(crate) point_rule: Option<PointRule<'a>>,
}

/// How the buckets of a point series merge: its aggregation rule (the one its rollups are
/// computed by), its raw resolution (of several points in one raw slot the latest counts) and
/// its rollup resolutions, finest first (each rolled up from the one before, as whisper
/// propagates an archive into the next).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PointRule<'a> {
    pub(crate) aggregation: abacus_proto::storage_schema::AggregationRule,
    pub(crate) raw_seconds: i64,
    pub(crate) rollup_levels: &'a [abacus_proto::storage_schema::Resolution],
}

/// How one kind is read: [`load`](KindReader::load) reads the rows of every series of a request
/// at once (one query per part of the plan, run together), then
/// [`values`](KindReader::values) lays each requested series on its grid.
pub(crate) trait KindReader: Sized + Send {
    /// Whether the kind has rollups: if not, every read is of raw rows.
    const ROLLED_UP: bool;

    fn load(
        pool: &PgPool,
        plan: &[ReadPart],
        series_ids: &[i64],
    ) -> impl Future<Output = Result<Self, sqlx::Error>> + Send;

    fn values(&self, series: &SeriesRequest<'_>) -> Vec<Option<f64>>;
}

/// Reads every part of a plan at once (each part is its own query on its own connection) and
/// returns their rows grouped by series.
pub(crate) async fn read_all_parts<Row, Read>(
    plan: &[ReadPart],
    read: impl Fn(ReadPart) -> Read,
) -> Result<HashMap<i64, Vec<StoredRow<Row>>>, sqlx::Error>
where
    Read: Future<Output = Result<Vec<StoredRow<Row>>, sqlx::Error>>,
{
    let parts = futures::future::try_join_all(plan.iter().map(|&part| read(part))).await?;
    let mut grouped: HashMap<i64, Vec<StoredRow<Row>>> = HashMap::new();
    for row in parts.into_iter().flatten() {
        grouped.entry(row.series_id).or_default().push(row);
    }
    Ok(grouped)
}

/// The rows of one series, none when it has none in the range.
pub(crate) fn rows_of<Row>(
    rows: &HashMap<i64, Vec<StoredRow<Row>>>,
    series_id: i64,
) -> &[StoredRow<Row>] {
    rows.get(&series_id).map(Vec::as_slice).unwrap_or_default()
}

/// Merges each row into the bucket of the grid it falls in; a row whose stored bytes cannot be
/// read is skipped and logged, and the rest of its bucket still counts.
pub(crate) fn merge_into_buckets<Value, Interval: Default + Clone>(
    grid: &StepGrid,
    rows: &[StoredRow<Value>],
    series_name: &str,
    merge: impl Fn(&mut Interval, &Value) -> Result<(), StoredValueError>,
) -> Vec<Option<Interval>> {
    let mut buckets: Vec<Option<Interval>> = vec![None; grid.len()];
    for row in rows {
        let Some(slot) = grid.slot_of(row.start) else {
            continue;
        };
        let interval = buckets[slot].get_or_insert_with(Interval::default);
        if let Err(error) = merge(interval, &row.value) {
            warn!(%error, series = series_name, start = row.start, "skipping an unreadable stored row");
        }
    }
    buckets
}

/// The last value of each bucket: the row with the latest `(start, stored_at)`, so rows may
/// come in any order (a late batch stored after a later interval does not win over it).
pub(crate) fn last_per_bucket(
    grid: &StepGrid,
    rows: &[StoredRow<NumberSample>],
) -> Vec<Option<f64>> {
    let mut buckets: Vec<Option<(f64, (i64, i64))>> = vec![None; grid.len()];
    for row in rows {
        let Some(slot) = grid.slot_of(row.start) else {
            continue;
        };
        let version = (row.start, row.value.stored_at_micros);
        if buckets[slot].is_none_or(|(_, kept)| kept <= version) {
            buckets[slot] = Some((row.value.value, version));
        }
    }
    buckets
        .into_iter()
        .map(|bucket| bucket.map(|(value, _)| value))
        .collect()
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::read::query::{NumberSample, StoredRow};

    pub(crate) fn row(start: i64, value: f64) -> StoredRow<NumberSample> {
        stored_row(start, value, 0)
    }

    pub(crate) fn stored_row(
        start: i64,
        value: f64,
        stored_at_micros: i64,
    ) -> StoredRow<NumberSample> {
        StoredRow {
            series_id: 1,
            start,
            value: NumberSample {
                value,
                stored_at_micros,
            },
        }
    }
}
