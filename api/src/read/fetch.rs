//! From a path pattern, tag expressions or one named series to series on a time grid: resolve
//! the names (bare names and the etsy namespace), find the matching series in the catalog,
//! plan the read (the step of each series, the rollup that serves it), and hand the rows of
//! each kind to that kind's reader (`readers`).
//!
//! Each series is shown at the resolution its own retention rule keeps for the age of `from`
//! (its native resolution, its flush interval, while the raw data covers it; a rollup's
//! beyond), as whisper picks an archive, widened when the request allows fewer points
//! (`maxDataPoints`); how a kind's rows merge into wider buckets is its reader's. Buckets
//! after now and before the series existed are null.

use crate::graphite::functions::{Consolidation, TimeSeries};
use crate::names::namespace::{self, Field, NamespaceKind, SeriesKind, TimerField};
use crate::names::tag_expression::TagExpression;
use crate::read::grid::{consolidated_step, StepGrid};
use crate::read::query::{self, RowSource, SeriesRow};
use crate::read::readers::counters::CounterReader;
use crate::read::readers::gauges::GaugeReader;
use crate::read::readers::points::PointReader;
use crate::read::readers::sets::SetReader;
use crate::read::readers::timers::TimerReader;
use crate::read::readers::{KindReader, PointRule, ReadPart, SeriesRequest};
use abacus_proto::catalog::split_catalog_tag;
use abacus_proto::storage_schema::{Aggregation, Retentions, StorageSchema};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Why series could not be read: the request's fault (a path that is no glob, a time out of
/// range, a grid too long: 400), or the database's (503). Kept typed up to the HTTP edge.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("invalid path {pattern:?}: {error}")]
    InvalidPattern {
        pattern: String,
        error: crate::names::glob::GlobError,
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
pub(crate) struct SeriesFetcher<'request> {
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
    /// The retention and aggregation rules: a point series is widened, and its function
    /// results consolidated, by its aggregation rule.
    pub schema: &'request StorageSchema,
    /// Whether point series (Graphite plaintext, HTTP ingest, imports) are widened here, by
    /// their aggregation rule, to honour `max_data_points`. `/render` leaves them at their
    /// stored step (widened only to stay within `max_points_per_series`) and consolidates them
    /// as graphite-web does, whose buckets are the reference for such series; the statsd kinds
    /// are always widened here, because only here can they merge as their kind merges.
    pub widen_points: bool,
}

/// How one series is read: its grid, and the rollup (resolution and watermark) that serves it
/// up to the watermark, if any does.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SeriesPlan {
    grid: StepGrid,
    rollup: Option<(i32, DateTime<Utc>)>,
}

/// A series found, with the field to show it as.
struct Selected {
    series: SeriesRow,
    field: Field,
    namespaced: bool,
}

impl SeriesFetcher<'_> {
    /// Every series `pattern` names, over `[from, until)`, ordered by the path shown.
    pub(crate) async fn fetch(
        &self,
        pattern: &str,
        from: i64,
        until: i64,
    ) -> Result<Vec<TimeSeries>, FetchError> {
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
    /// the expressions match is shown, and is its `name` tag. The caller names the result's
    /// path expression.
    pub(crate) async fn fetch_by_tags(
        &self,
        expressions: &[TagExpression],
        from: i64,
        until: i64,
        limit: usize,
    ) -> Result<Vec<TimeSeries>, FetchError> {
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
        self.read(selected, "", from, until).await
    }

    /// The one series of `kind` named `name` with exactly these catalog tags (`key:value`, or
    /// `key` for a flag; any order), showing `field`: what the native API asks for.
    pub(crate) async fn fetch_one(
        &self,
        kind: SeriesKind,
        name: &str,
        tags: &[String],
        field: Field,
        from: i64,
        until: i64,
    ) -> Result<Option<TimeSeries>, FetchError> {
        let mut wanted_tags = tags.to_vec();
        wanted_tags.sort_unstable();
        let found = query::series_named_or_all(self.pool, Some(name), i64::MAX)
            .await?
            .into_iter()
            .find(|series| series.kind == kind && series.tags == wanted_tags);
        let Some(series) = found else {
            return Ok(None);
        };
        let selected = vec![Selected {
            series,
            field,
            namespaced: true,
        }];
        let shown_path = namespace::display_path(kind, name, field, true);
        Ok(self
            .read(selected, &shown_path, from, until)
            .await?
            .into_iter()
            .next())
    }

    async fn read(
        &self,
        selected: Vec<Selected>,
        path_expression: &str,
        from: i64,
        until: i64,
    ) -> Result<Vec<TimeSeries>, FetchError> {
        let mut fetched = Vec::with_capacity(selected.len());
        for kind in SeriesKind::ALL {
            let of_kind: Vec<&Selected> = selected
                .iter()
                .filter(|one| one.series.kind == kind)
                .collect();
            if of_kind.is_empty() {
                continue;
            }
            let range = ReadRange {
                kind,
                selected: &of_kind,
                path_expression,
                from,
                until,
            };
            fetched.extend(match kind {
                SeriesKind::Counter => self.read_kind::<CounterReader>(range).await?,
                SeriesKind::Gauge => self.read_kind::<GaugeReader>(range).await?,
                SeriesKind::Raw => self.read_kind::<PointReader>(range).await?,
                SeriesKind::Timer => self.read_kind::<TimerReader>(range).await?,
                SeriesKind::Set => self.read_kind::<SetReader>(range).await?,
            });
        }
        fetched.sort_by(|left, right| left.name.cmp(&right.name));
        Ok(fetched)
    }

    /// Plans the read of the selected series of one kind (their steps, the rollup that serves
    /// them, which rows from where), has the kind's reader load the rows and lays each series
    /// on its grid.
    async fn read_kind<Reader: KindReader>(
        &self,
        range: ReadRange<'_>,
    ) -> Result<Vec<TimeSeries>, FetchError> {
        let ReadRange {
            kind,
            selected,
            path_expression,
            from,
            until,
        } = range;
        let mut series_ids: Vec<i64> = selected.iter().map(|one| one.series.id).collect();
        series_ids.sort_unstable();
        series_ids.dedup();

        // Independent reads run at once, each on its own connection: a request waits for the
        // slowest of them rather than for their sum.
        let until_time = to_time(until)?;
        let (native_intervals, watermarks) = tokio::try_join!(
            query::native_intervals_ms(self.pool, kind, &series_ids, until_time),
            async {
                if Reader::ROLLED_UP {
                    query::rollup_watermarks(self.pool).await
                } else {
                    Ok(Vec::new())
                }
            },
        )?;
        let native_steps: HashMap<i64, i64> = native_intervals
            .into_iter()
            .map(|(series_id, interval_ms)| (series_id, (i64::from(interval_ms) / 1000).max(1)))
            .collect();
        let watermarks: HashMap<i32, DateTime<Utc>> = watermarks.into_iter().collect();
        let names: HashMap<i64, &str> = selected
            .iter()
            .map(|one| (one.series.id, one.series.name.as_str()))
            .collect();
        let plans: HashMap<i64, SeriesPlan> = series_ids
            .iter()
            .map(|&id| {
                let native = native_steps
                    .get(&id)
                    .copied()
                    .unwrap_or(self.default_step_seconds);
                let plan = self.plan_series(
                    kind,
                    self.schema.retentions_for(names[&id]),
                    native,
                    &watermarks,
                    from,
                    until,
                );
                (id, plan)
            })
            .collect();
        if let Some((series_id, longest)) = plans
            .iter()
            .map(|(id, plan)| (id, plan.grid))
            .max_by_key(|(_, grid)| grid.len())
        {
            if longest.len() > self.max_points_per_series {
                let path = names
                    .get(series_id)
                    .map_or_else(|| path_expression.to_owned(), |name| (*name).to_owned());
                return Err(FetchError::TooManyPoints {
                    path,
                    points: longest.len(),
                    step: longest.step,
                    limit: self.max_points_per_series,
                });
            }
        }
        // Series served by the same rollup are read together: one load per rollup in use
        // (usually one), all at once.
        let mut by_rollup: BTreeMap<Option<(i32, DateTime<Utc>)>, Vec<i64>> = BTreeMap::new();
        for &id in &series_ids {
            by_rollup.entry(plans[&id].rollup).or_default().push(id);
        }
        let loads = by_rollup.iter().map(|(&rollup, ids)| {
            let grids = ids.iter().map(|id| plans[id].grid);
            let read_from = grids.clone().map(|grid| grid.start).min().unwrap_or(from);
            let read_until = grids.map(|grid| grid.end).max().unwrap_or(until);
            async move {
                let plan = read_plan(rollup, to_time(read_from)?, to_time(read_until)?);
                Ok::<_, FetchError>(Reader::load(self.pool, &plan, ids).await?)
            }
        });
        let readers = futures::future::try_join_all(loads).await?;
        let reader_of: HashMap<i64, &Reader> = by_rollup
            .values()
            .zip(&readers)
            .flat_map(|(ids, reader)| ids.iter().map(move |&id| (id, reader)))
            .collect();

        Ok(selected
            .iter()
            .map(|one| {
                let grid = &plans[&one.series.id].grid;
                let existed = existence(grid, &one.series, self.now);
                let point_rule = (kind == SeriesKind::Raw).then(|| {
                    let retentions = self.schema.retentions_for(&one.series.name);
                    PointRule {
                        aggregation: self.schema.aggregation_for(&one.series.name),
                        raw_seconds: i64::from(retentions.raw.seconds),
                        rollup_levels: &retentions.rollups,
                    }
                });
                let values = reader_of[&one.series.id].values(&SeriesRequest {
                    series_id: one.series.id,
                    series_name: &one.series.name,
                    field: one.field,
                    grid,
                    existed: &existed,
                    point_rule,
                });
                let consolidation = point_rule.map(|rule| rule.aggregation.aggregation);
                shown_series(kind, one, grid, values, path_expression, consolidation)
            })
            .collect())
    }
}

impl SeriesFetcher<'_> {
    /// The grid and rollup of one series, by its own retention rule, as whisper reads a file:
    /// the finest level whose retention covers the age of `from` gives the step (so a range
    /// older than the raw retention is read from the rollup that still holds it, at its step),
    /// widened for `max_data_points`; then the coarsest of the series' own rollups that can
    /// serve that step exactly (rollups are exact merges, so reading one instead of finer
    /// rows changes nothing but the cost), the step rounded up to a whole number of its
    /// buckets.
    fn plan_series(
        &self,
        kind: SeriesKind,
        retentions: &Retentions,
        native_step: i64,
        watermarks: &HashMap<i32, DateTime<Utc>>,
        from: i64,
        until: i64,
    ) -> SeriesPlan {
        // Whisper answers a range that starts before the file's longest retention from the
        // oldest time it keeps: nothing can be stored earlier, so the grid starts there rather
        // than carrying centuries of nulls. A range wholly older than that stays as asked.
        let oldest_kept = self.now.saturating_sub(
            i64::try_from(retentions.longest_retention().as_secs()).unwrap_or(i64::MAX),
        );
        let from = if until >= oldest_kept {
            from.max(oldest_kept)
        } else {
            from
        };
        let age_of_from = Duration::from_secs(self.now.saturating_sub(from).max(0) as u64);
        let level_step = match retentions.landing(age_of_from) {
            Some(None) => native_step,
            Some(Some(rollup)) => i64::from(rollup.seconds).max(native_step),
            // Older than every level: whisper answers from its coarsest archive.
            None => retentions.rollups.last().map_or(native_step, |rollup| {
                i64::from(rollup.seconds).max(native_step)
            }),
        };
        let max_data_points = if kind == SeriesKind::Raw && !self.widen_points {
            Some(self.max_points_per_series)
        } else {
            self.max_data_points
        };
        let step = consolidated_step(level_step, from, until, max_data_points);
        let rollup = retentions
            .rollups
            .iter()
            .filter(|rollup| i64::from(rollup.seconds) <= step)
            .filter_map(|rollup| {
                let resolution = rollup.seconds as i32;
                watermarks
                    .get(&resolution)
                    .map(|watermark| (resolution, *watermark))
            })
            .max_by_key(|(resolution, _)| *resolution);
        let step = match rollup {
            Some((resolution, _)) => round_up_to_multiple(step, i64::from(resolution)),
            None => step,
        };
        SeriesPlan {
            grid: StepGrid::new(from, until, step),
            rollup,
        }
    }
}

/// The selected series of one kind and the range to read them over.
struct ReadRange<'a> {
    kind: SeriesKind,
    selected: &'a [&'a Selected],
    path_expression: &'a str,
    from: i64,
    until: i64,
}

/// A series as the function library and every surface sees it: named by its path (a tagged
/// one as Graphite names tagged series, `path;key=value;...`), its tags plus `name`, and the
/// consolidation its kind calls for when a function or maxDataPoints later merges its points:
/// counts add up, a point series goes by its aggregation rule (`point_aggregation`),
/// everything else averages (Graphite's default), and `consolidateBy` can still choose
/// otherwise.
fn shown_series(
    kind: SeriesKind,
    one: &Selected,
    grid: &StepGrid,
    values: Vec<Option<f64>>,
    path_expression: &str,
    point_aggregation: Option<Aggregation>,
) -> TimeSeries {
    let path = namespace::display_path(kind, &one.series.name, one.field, one.namespaced);
    let mut tags: BTreeMap<String, String> = one
        .series
        .tags
        .iter()
        .map(|tag| {
            let (key, value) = split_catalog_tag(tag);
            (key.to_owned(), value.to_owned())
        })
        .collect();
    let name = tags.iter().fold(path.clone(), |name, (key, value)| {
        format!("{name};{key}={value}")
    });
    tags.insert("name".into(), path);
    let consolidation = match (kind, one.field) {
        (SeriesKind::Raw, _) => match point_aggregation.unwrap_or(Aggregation::Average) {
            Aggregation::Average => Consolidation::Average,
            Aggregation::Sum => Consolidation::Sum,
            Aggregation::Min => Consolidation::Min,
            Aggregation::Max => Consolidation::Max,
            Aggregation::Last => Consolidation::Last,
        },
        (SeriesKind::Counter, Field::Count)
        | (SeriesKind::Timer, Field::Timer(TimerField::Count | TimerField::CountPercentile(_))) => {
            Consolidation::Sum
        }
        _ => Consolidation::Average,
    };
    TimeSeries {
        path_expression: if path_expression.is_empty() {
            name.clone()
        } else {
            path_expression.to_owned()
        },
        name,
        tags,
        start: grid.start,
        step: grid.step,
        values,
        consolidation,
        x_files_factor: 0.0,
        ends_at: None,
        drawing: Default::default(),
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
fn read_plan(
    rollup: Option<(i32, DateTime<Utc>)>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<ReadPart> {
    let part = |source, from, until| ReadPart {
        source,
        from,
        until,
    };
    let Some((resolution_seconds, watermark)) = rollup else {
        return vec![part(RowSource::Raw, from, until)];
    };
    let boundary = watermark.clamp(from, until);
    let mut plan = Vec::with_capacity(2);
    if from < boundary {
        plan.push(part(
            RowSource::Rollup { resolution_seconds },
            from,
            boundary,
        ));
    }
    if boundary < until {
        plan.push(part(RowSource::Raw, boundary, until));
    }
    plan
}

pub(crate) fn to_time(unix_seconds: i64) -> Result<DateTime<Utc>, FetchError> {
    DateTime::from_timestamp(unix_seconds, 0).ok_or(FetchError::TimeOutOfRange(unix_seconds))
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

    #[test]
    fn reads_split_at_the_rollup_watermark() {
        let time = |seconds: i64| DateTime::<Utc>::from_timestamp(seconds, 0).unwrap();
        let part = |source, from, until| ReadPart {
            source,
            from: time(from),
            until: time(until),
        };
        let minute = RowSource::Rollup {
            resolution_seconds: 60,
        };
        assert_eq!(
            read_plan(None, time(0), time(600)),
            vec![part(RowSource::Raw, 0, 600)]
        );
        assert_eq!(
            read_plan(Some((60, time(300))), time(0), time(600)),
            vec![part(minute, 0, 300), part(RowSource::Raw, 300, 600)]
        );
        assert_eq!(
            read_plan(Some((60, time(900))), time(0), time(600)),
            vec![part(minute, 0, 600)]
        );
        assert_eq!(
            read_plan(Some((60, time(0))), time(60), time(600)),
            vec![part(RowSource::Raw, 60, 600)]
        );
        assert_eq!(round_up_to_multiple(2_600, 60), 2_640);
        assert_eq!(round_up_to_multiple(3_600, 60), 3_600);
    }
}
