//! From a path pattern to rendered series: resolve the pattern (bare names and the etsy
//! namespace), find the matching series, read their rows for the range, and lay each series'
//! chosen field on its time grid.
//!
//! Each series is shown at its native resolution (its flush interval), widened when the request
//! allows fewer points (`maxDataPoints`). Widening merges the rows of a bucket the way their
//! kind merges — counts add, histograms merge, sketches union, a gauge takes its last value —
//! so a consolidated percentile is a true percentile, not an average of percentiles.
//! Gaps read as statsd + Graphite users expect: once a series exists, a counter is 0, a timer's
//! count is 0 and a set's count is 0 in a quiet bucket, and a gauge keeps its last value; raw
//! series and every other field are null there. Buckets after now and before the series
//! existed are null.

use crate::grid::{consolidated_step, StepGrid};
use crate::namespace::{self, Field, SeriesKind, TimerField};
use crate::query::{self, NumberSample, RowSource, SeriesRow, StoredRow};
use crate::statistics::{SetInterval, StoredValueError, TimerInterval, TimerRow};
use crate::tag_expression::TagExpression;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};
use tracing::warn;

/// A series ready to be shown.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedSeries {
    /// The path it is shown under (`stats.timers.api.upper_99`, or the bare name).
    pub name: String,
    /// The pattern that found it.
    pub path_expression: String,
    /// Graphite tags: the series' tags plus `name`.
    pub tags: BTreeMap<String, String>,
    pub start: i64,
    pub step: i64,
    pub values: Vec<Option<f64>>,
    pub kind: SeriesKind,
    pub field: Field,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid path {pattern:?}: {error}")]
    InvalidPattern {
        pattern: String,
        error: crate::glob::GlobError,
    },
    #[error("time {0} is out of range")]
    TimeOutOfRange(i64),
    /// Counted from the range and step before anything is read or allocated.
    #[error("{path} would have {points} points of {step}s, more than the limit of {limit}; ask for a shorter range, a larger step or set maxDataPoints")]
    TooManyPoints {
        path: String,
        points: usize,
        step: i64,
        limit: usize,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Reads series for one request.
pub struct SeriesFetcher<'request> {
    pub pool: &'request PgPool,
    /// Percentiles a glob over a timer's field segment expands to.
    pub percentiles: &'request [f64],
    /// Step of a series that has no rows to tell its own, and of raw series.
    pub default_step_seconds: i64,
    pub max_data_points: Option<usize>,
    /// Most points one series may have (`api.max_points_per_series`). A grid longer than this
    /// is refused when it is laid out, before any row is read or any value allocated: a bare
    /// path over `from=-1000y` at a 10 s step would otherwise allocate 3 billion values.
    pub max_points_per_series: usize,
    pub now: i64,
}

/// A series found, with the fields to show it as.
struct Selected {
    series: SeriesRow,
    field: Field,
    namespaced: bool,
}

impl SeriesFetcher<'_> {
    /// Every series `pattern` names, over `[from, until)`, ordered by the path shown.
    pub async fn fetch(
        &self,
        pattern: &str,
        from: i64,
        until: i64,
    ) -> Result<Vec<FetchedSeries>, FetchError> {
        let resolutions = namespace::resolve(pattern, self.percentiles).map_err(|error| {
            FetchError::InvalidPattern {
                pattern: pattern.to_owned(),
                error,
            }
        })?;
        let mut selected = Vec::new();
        for resolution in &resolutions {
            for series in
                query::series_matching(self.pool, &resolution.name_glob, &resolution.kinds).await?
            {
                let fields = if resolution.fields.is_empty() {
                    vec![Field::default_for(series.kind)]
                } else {
                    resolution.fields.clone()
                };
                for field in fields {
                    selected.push(Selected {
                        series: series.clone(),
                        field,
                        namespaced: resolution.namespaced,
                    });
                }
            }
        }
        self.read(selected, pattern, from, until).await
    }

    /// Every series matching all tag expressions (`seriesByTag`), at most `limit`. A series is
    /// named by its bare name (showing its kind's default field) and, when an expression selects
    /// by `name`, also by each of its names in the etsy namespace, as etsy's graphite backend
    /// writes a tagged series (`stats.counters.<name>.count;env=prod`): whichever of its names
    /// the expressions match is shown, and is its `name` tag.
    pub async fn fetch_by_tags(
        &self,
        expressions: &[TagExpression],
        path_expression: &str,
        from: i64,
        until: i64,
        limit: usize,
    ) -> Result<Vec<FetchedSeries>, FetchError> {
        let exact_name = expressions.iter().find_map(TagExpression::exact_name);
        let by_name = expressions.iter().any(TagExpression::selects_by_name);
        let mut candidates = query::series_named_or_all(self.pool, exact_name, i64::MAX).await?;
        // An exact etsy name also names the series it is a field of. The name is a literal, not
        // a glob: one that does not read as a path names nothing in the namespace.
        if let Some(exact_name) = exact_name {
            for resolution in namespace::resolve(exact_name, self.percentiles)
                .unwrap_or_default()
                .into_iter()
                .filter(|resolution| resolution.namespaced)
            {
                let bare_name = resolution.name_glob.pattern();
                candidates.extend(
                    query::series_named_or_all(self.pool, Some(bare_name), i64::MAX)
                        .await?
                        .into_iter()
                        .filter(|series| resolution.kinds.contains(&series.kind)),
                );
            }
        }
        let mut selected = Vec::new();
        for series in candidates {
            let mut readings = vec![(Field::default_for(series.kind), false)];
            if by_name {
                readings.extend(namespace_readings(series.kind, self.percentiles));
            }
            for (field, namespaced) in readings {
                let name = namespace::display_path(series.kind, &series.name, field, namespaced);
                if expressions
                    .iter()
                    .all(|expression| expression.matches(&name, &series.tags))
                {
                    selected.push(Selected {
                        series: series.clone(),
                        field,
                        namespaced,
                    });
                }
            }
            if selected.len() >= limit {
                selected.truncate(limit);
                break;
            }
        }
        self.read(selected, path_expression, from, until).await
    }

    async fn read(
        &self,
        selected: Vec<Selected>,
        path_expression: &str,
        from: i64,
        until: i64,
    ) -> Result<Vec<FetchedSeries>, FetchError> {
        let mut fetched = Vec::with_capacity(selected.len());
        for kind in SeriesKind::ALL {
            let of_kind: Vec<&Selected> = selected
                .iter()
                .filter(|one| one.series.kind == kind)
                .collect();
            if !of_kind.is_empty() {
                fetched.extend(
                    self.fetch_kind(kind, &of_kind, path_expression, from, until)
                        .await?,
                );
            }
        }
        fetched.sort_by(|left, right| left.name.cmp(&right.name));
        Ok(fetched)
    }

    async fn fetch_kind(
        &self,
        kind: SeriesKind,
        selected: &[&Selected],
        pattern: &str,
        from: i64,
        until: i64,
    ) -> Result<Vec<FetchedSeries>, FetchError> {
        let mut series_ids: Vec<i64> = selected.iter().map(|one| one.series.id).collect();
        series_ids.sort_unstable();
        series_ids.dedup();

        // Independent reads run at once, each on its own connection: a request waits for the
        // slowest of them rather than for their sum.
        let until_time = to_time(until)?;
        let (native_intervals, watermarks) = tokio::try_join!(
            query::native_intervals_ms(self.pool, kind, &series_ids, until_time),
            query::rollup_watermarks(self.pool),
        )?;
        let native_steps: HashMap<i64, i64> = native_intervals
            .into_iter()
            .map(|(series_id, interval_ms)| (series_id, (i64::from(interval_ms) / 1000).max(1)))
            .collect();
        let consolidated = |series_id: i64| {
            let native = native_steps
                .get(&series_id)
                .copied()
                .unwrap_or(self.default_step_seconds);
            consolidated_step(native, from, until, self.max_data_points)
        };
        // The coarsest rollup that can serve every series' buckets exactly: its resolution is
        // at most the smallest step, and each step is rounded up to a whole number of its
        // buckets. Rollups are exact merges, so reading them instead of raw rows changes
        // nothing but the cost.
        let smallest_step = series_ids
            .iter()
            .map(|&id| consolidated(id))
            .min()
            .unwrap_or(1);
        let rollup = watermarks
            .into_iter()
            .filter(|(resolution, _)| i64::from(*resolution) <= smallest_step)
            .max_by_key(|(resolution, _)| *resolution);
        let grids: HashMap<i64, StepGrid> = series_ids
            .iter()
            .map(|&id| {
                let step = match rollup {
                    Some((resolution, _)) => {
                        round_up_to_multiple(consolidated(id), i64::from(resolution))
                    }
                    None => consolidated(id),
                };
                (id, StepGrid::new(from, until, step))
            })
            .collect();
        if let Some((series_id, longest)) = grids.iter().max_by_key(|(_, grid)| grid.len()) {
            if longest.len() > self.max_points_per_series {
                let path = selected
                    .iter()
                    .find(|one| one.series.id == *series_id)
                    .map_or_else(|| pattern.to_owned(), |one| one.series.name.clone());
                return Err(FetchError::TooManyPoints {
                    path,
                    points: longest.len(),
                    step: longest.step,
                    limit: self.max_points_per_series,
                });
            }
        }
        let read_from = grids.values().map(|grid| grid.start).min().unwrap_or(from);
        let read_until = grids.values().map(|grid| grid.end).max().unwrap_or(until);
        let (read_from, read_until) = (to_time(read_from)?, to_time(read_until)?);
        let plan = read_plan(rollup, read_from, read_until);

        let mut values_by_selection: Vec<Vec<Option<f64>>> = Vec::with_capacity(selected.len());
        match kind {
            SeriesKind::Counter | SeriesKind::Gauge | SeriesKind::Raw => {
                let (stored, before) = tokio::try_join!(
                    read_all_parts(&plan, |source, part_from, part_until| {
                        query::number_rows(
                            self.pool,
                            kind,
                            source,
                            &series_ids,
                            part_from,
                            part_until,
                        )
                    }),
                    query::values_before(self.pool, kind, &series_ids, read_from),
                )?;
                let rows = group_by_series(stored);
                let before: HashMap<i64, f64> = before.into_iter().collect();
                for one in selected {
                    let grid = grids[&one.series.id];
                    let series_rows = rows
                        .get(&one.series.id)
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    let existed = existence(&grid, &one.series, self.now);
                    values_by_selection.push(number_values(
                        kind,
                        one.field,
                        &grid,
                        series_rows,
                        before.get(&one.series.id).copied(),
                        &existed,
                    ));
                }
            }
            SeriesKind::Timer => {
                let stored = read_all_parts(&plan, |source, part_from, part_until| {
                    query::timer_rows(self.pool, source, &series_ids, part_from, part_until)
                })
                .await?;
                let rows = group_by_series(stored);
                for one in selected {
                    let grid = grids[&one.series.id];
                    let series_rows = rows
                        .get(&one.series.id)
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    let existed = existence(&grid, &one.series, self.now);
                    let Field::Timer(timer_field) = one.field else {
                        values_by_selection.push(vec![None; grid.len()]);
                        continue;
                    };
                    values_by_selection.push(timer_values(
                        timer_field,
                        &grid,
                        series_rows,
                        &existed,
                        &one.series.name,
                    ));
                }
            }
            SeriesKind::Set => {
                let stored = read_all_parts(&plan, |source, part_from, part_until| {
                    query::set_rows(self.pool, source, &series_ids, part_from, part_until)
                })
                .await?;
                let rows = group_by_series(stored);
                for one in selected {
                    let grid = grids[&one.series.id];
                    let series_rows = rows
                        .get(&one.series.id)
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    let existed = existence(&grid, &one.series, self.now);
                    values_by_selection.push(set_values(
                        &grid,
                        series_rows,
                        &existed,
                        &one.series.name,
                    ));
                }
            }
        }

        Ok(selected
            .iter()
            .zip(values_by_selection)
            .map(|(one, values)| {
                let grid = grids[&one.series.id];
                let path =
                    namespace::display_path(kind, &one.series.name, one.field, one.namespaced);
                let mut tags: BTreeMap<String, String> = one
                    .series
                    .tags
                    .iter()
                    .map(|tag| {
                        let (key, value) = tag.split_once(':').unwrap_or((tag, ""));
                        (key.to_owned(), value.to_owned())
                    })
                    .collect();
                // A tagged series is shown as Graphite names tagged series: `path;key=value;...`.
                let name = tags.iter().fold(path.clone(), |name, (key, value)| {
                    format!("{name};{key}={value}")
                });
                tags.insert("name".into(), path);
                FetchedSeries {
                    name,
                    path_expression: pattern.to_owned(),
                    tags,
                    start: grid.start,
                    step: grid.step,
                    values,
                    kind,
                    field: one.field,
                }
            })
            .collect())
    }
}

fn round_up_to_multiple(step: i64, resolution: i64) -> i64 {
    let resolution = resolution.max(1);
    step.div_euclid(resolution) * resolution
        + if step.rem_euclid(resolution) == 0 {
            0
        } else {
            resolution
        }
}

/// Which rows to read for `[from, until)`: with a rollup, its rows before its watermark and raw
/// rows from the watermark on (rollups lag the raw data by design); otherwise raw rows only.
/// The parts never overlap, so no row is counted twice, and rollup rows come first, keeping
/// rows in time order.
/// Reads every part of a [`read_plan`] at once (each part is its own query on its own
/// connection) and returns their rows together.
async fn read_all_parts<Row, Read>(
    plan: &[(RowSource, DateTime<Utc>, DateTime<Utc>)],
    read: impl Fn(RowSource, DateTime<Utc>, DateTime<Utc>) -> Read,
) -> Result<Vec<Row>, sqlx::Error>
where
    Read: std::future::Future<Output = Result<Vec<Row>, sqlx::Error>>,
{
    let parts = futures::future::try_join_all(
        plan.iter()
            .map(|&(source, part_from, part_until)| read(source, part_from, part_until)),
    )
    .await?;
    Ok(parts.into_iter().flatten().collect())
}

fn read_plan(
    rollup: Option<(i32, DateTime<Utc>)>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<(RowSource, DateTime<Utc>, DateTime<Utc>)> {
    let Some((resolution_seconds, watermark)) = rollup else {
        return vec![(RowSource::Raw, from, until)];
    };
    let boundary = watermark.clamp(from, until);
    let mut plan = Vec::with_capacity(2);
    if from < boundary {
        plan.push((RowSource::Rollup { resolution_seconds }, from, boundary));
    }
    if boundary < until {
        plan.push((RowSource::Raw, boundary, until));
    }
    plan
}

fn to_time(unix_seconds: i64) -> Result<DateTime<Utc>, FetchError> {
    DateTime::from_timestamp(unix_seconds, 0).ok_or(FetchError::TimeOutOfRange(unix_seconds))
}

fn group_by_series<V>(rows: Vec<StoredRow<V>>) -> HashMap<i64, Vec<StoredRow<V>>> {
    let mut grouped: HashMap<i64, Vec<StoredRow<V>>> = HashMap::new();
    for row in rows {
        grouped.entry(row.series_id).or_default().push(row);
    }
    grouped
}

/// For each bucket, whether the series existed then (and it is not in the future).
fn existence(grid: &StepGrid, series: &SeriesRow, now: i64) -> Vec<bool> {
    let first_seen = series.first_seen.timestamp();
    (0..grid.len())
        .map(|slot| {
            let start = grid.bucket_start(slot);
            start + grid.step > first_seen && start <= now
        })
        .collect()
}

/// Counter, gauge and raw values: counts summed per bucket (0 in a quiet bucket once the series
/// exists); gauges the last value (carried across quiet buckets); raw points the last point.
/// "Last" is the latest `(start, stored_at)` of the bucket's rows, so rows may come in any
/// order.
fn number_values(
    kind: SeriesKind,
    field: Field,
    grid: &StepGrid,
    rows: &[StoredRow<NumberSample>],
    value_before_range: Option<f64>,
    existed: &[bool],
) -> Vec<Option<f64>> {
    // Per bucket: the value so far and, for last-value kinds, the (start, stored_at) it has.
    let mut buckets: Vec<Option<(f64, (i64, i64))>> = vec![None; grid.len()];
    for row in rows {
        let Some(slot) = grid.slot_of(row.start) else {
            continue;
        };
        let version = (row.start, row.value.stored_at_micros);
        buckets[slot] = match (kind, buckets[slot]) {
            (SeriesKind::Counter, Some((sum, _))) => Some((sum + row.value.value, version)),
            (_, Some(kept)) if kept.1 > version => Some(kept),
            _ => Some((row.value.value, version)),
        };
    }
    let mut last_gauge = value_before_range;
    buckets
        .iter()
        .map(|bucket| bucket.map(|(value, _)| value))
        .zip(existed)
        .map(|(bucket, &existed)| match kind {
            SeriesKind::Counter => {
                let count = bucket.or(existed.then_some(0.0))?;
                Some(match field {
                    Field::Rate => count / grid.step as f64,
                    _ => count,
                })
            }
            SeriesKind::Gauge => {
                if bucket.is_some() {
                    last_gauge = bucket;
                }
                bucket.or(last_gauge.filter(|_| existed))
            }
            _ => bucket,
        })
        .collect()
}

/// Merges each row into the bucket of the grid it falls in; a row whose stored bytes cannot be
/// read is skipped and logged, and the rest of its bucket still counts.
fn merge_into_buckets<Value, Interval: Default + Clone>(
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

fn timer_values(
    field: TimerField,
    grid: &StepGrid,
    rows: &[StoredRow<TimerRow>],
    existed: &[bool],
    series_name: &str,
) -> Vec<Option<f64>> {
    merge_into_buckets(grid, rows, series_name, TimerInterval::merge_row)
        .iter()
        .zip(existed)
        .map(|(bucket, &existed)| match bucket {
            Some(interval) => interval.field(field, grid.step as f64),
            None if existed => TimerInterval::default().field(field, grid.step as f64),
            None => None,
        })
        .collect()
}

fn set_values(
    grid: &StepGrid,
    rows: &[StoredRow<Vec<u8>>],
    existed: &[bool],
    series_name: &str,
) -> Vec<Option<f64>> {
    merge_into_buckets(
        grid,
        rows,
        series_name,
        |interval: &mut SetInterval, sketch: &Vec<u8>| interval.merge_bytes(sketch),
    )
    .iter()
    .zip(existed)
    .map(|(bucket, &existed)| match bucket {
        Some(interval) => Some(interval.cardinality()),
        None => existed.then_some(0.0),
    })
    .collect()
}

/// The etsy namespace's readings of a series of `kind`: each field under `stats.<kind>.` (a
/// gauge's value has no field segment); none for kinds outside the namespace.
fn namespace_readings(kind: SeriesKind, percentiles: &[f64]) -> Vec<(Field, bool)> {
    if kind.namespace_segment().is_none() {
        return Vec::new();
    }
    let fields = kind.namespace_fields(percentiles);
    if fields.is_empty() {
        return vec![(Field::default_for(kind), true)];
    }
    fields.into_iter().map(|field| (field, true)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(start: i64, value: f64) -> StoredRow<NumberSample> {
        stored_row(start, value, 0)
    }

    fn stored_row(start: i64, value: f64, stored_at_micros: i64) -> StoredRow<NumberSample> {
        StoredRow {
            series_id: 1,
            start,
            value: NumberSample {
                value,
                stored_at_micros,
            },
        }
    }

    #[test]
    fn reads_split_at_the_rollup_watermark() {
        let time = |seconds: i64| DateTime::<Utc>::from_timestamp(seconds, 0).unwrap();
        let minute = RowSource::Rollup {
            resolution_seconds: 60,
        };
        assert_eq!(
            read_plan(None, time(0), time(600)),
            vec![(RowSource::Raw, time(0), time(600))]
        );
        assert_eq!(
            read_plan(Some((60, time(300))), time(0), time(600)),
            vec![
                (minute, time(0), time(300)),
                (RowSource::Raw, time(300), time(600))
            ]
        );
        assert_eq!(
            read_plan(Some((60, time(900))), time(0), time(600)),
            vec![(minute, time(0), time(600))]
        );
        assert_eq!(
            read_plan(Some((60, time(0))), time(60), time(600)),
            vec![(RowSource::Raw, time(60), time(600))]
        );
        assert_eq!(round_up_to_multiple(2_600, 60), 2_640);
        assert_eq!(round_up_to_multiple(3_600, 60), 3_600);
    }

    #[test]
    fn counters_sum_per_bucket_and_read_zero_once_they_exist() {
        let grid = StepGrid::new(1_000, 1_050, 10);
        let existed = [false, true, true, true, true];
        let rows = [row(1_020, 30.0), row(1_020, 5.0), row(1_040, 1.0)];
        let counts = number_values(
            SeriesKind::Counter,
            Field::Count,
            &grid,
            &rows,
            None,
            &existed,
        );
        assert_eq!(
            counts,
            vec![None, Some(35.0), Some(0.0), Some(1.0), Some(0.0)]
        );
        let rates = number_values(
            SeriesKind::Counter,
            Field::Rate,
            &grid,
            &rows,
            None,
            &existed,
        );
        assert_eq!(
            rates,
            vec![None, Some(3.5), Some(0.0), Some(0.1), Some(0.0)]
        );
    }

    #[test]
    fn a_wider_step_sums_the_counts_it_covers() {
        // Buckets [1020, 1050) and [1050, 1080).
        let grid = StepGrid::new(1_000, 1_060, 30);
        let rows = [row(1_020, 1.0), row(1_030, 2.0), row(1_040, 4.0)];
        let existed = [true, true];
        assert_eq!(
            number_values(
                SeriesKind::Counter,
                Field::Count,
                &grid,
                &rows,
                None,
                &existed
            ),
            vec![Some(7.0), Some(0.0)]
        );
    }

    #[test]
    fn gauges_keep_their_last_value_and_raw_points_do_not() {
        let grid = StepGrid::new(1_000, 1_040, 10);
        let existed = [true, true, true, false];
        // Out of order: the value stored last wins whatever order the rows come in.
        let rows = [stored_row(1_020, 48.0, 2), stored_row(1_020, 47.0, 1)];
        assert_eq!(
            number_values(
                SeriesKind::Gauge,
                Field::Value,
                &grid,
                &rows,
                Some(50.0),
                &existed
            ),
            vec![Some(50.0), Some(48.0), Some(48.0), None]
        );
        assert_eq!(
            number_values(SeriesKind::Raw, Field::Value, &grid, &rows, None, &existed),
            vec![None, Some(48.0), None, None]
        );
    }

    #[test]
    fn in_a_wide_bucket_the_latest_interval_wins_before_the_latest_store() {
        // One bucket [1020, 1050): the row of 1040 is the gauge's last value even though the
        // row of 1030 was stored later (a late batch), and row order does not matter.
        let grid = StepGrid::new(1_000, 1_030, 30);
        let rows = [
            stored_row(1_040, 6.0, 1),
            stored_row(1_030, 5.0, 9),
            stored_row(1_040, 7.0, 3),
        ];
        assert_eq!(
            number_values(SeriesKind::Gauge, Field::Value, &grid, &rows, None, &[true]),
            vec![Some(7.0)]
        );
    }
}
