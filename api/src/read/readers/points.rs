//! Points with their own timestamps (Graphite plaintext, HTTP ingest, whisper imports), read
//! as whisper keeps them: of several points in one raw slot the latest counts; a bucket wider
//! than what is stored merges what it covers by the series' aggregation rule (the rule its
//! rollups are computed by: average, sum, min, max or last); a bucket without a point is null.
//!
//! Rollup rows (below the watermark) are each one bucket of the rollup's resolution already.
//! Raw rows read beside them (above the watermark) are first merged into buckets of that same
//! resolution as the rollup loop will: level by level, each resolution from the one before by
//! the rule and its xFilesFactor (so an hour of averages is the average of its minutes, as
//! whisper propagates), and a bucket reads the same before and after it is rolled up; then
//! each bucket of the grid merges those by the rule (maxDataPoints consolidation).

use super::{read_all_parts, rows_of, KindReader, PointRule, ReadPart, SeriesRequest};
use crate::names::namespace::SeriesKind;
use crate::read::grid::StepGrid;
use crate::read::query::{self, NumberSample, RowSource, StoredRow};
use abacus_proto::storage_schema::{Aggregation, AggregationRule};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};

pub(crate) struct PointReader {
    raw: HashMap<i64, Vec<StoredRow<NumberSample>>>,
    rollup: HashMap<i64, Vec<StoredRow<NumberSample>>>,
    /// The resolution of the rollup the plan reads, if it reads one.
    rollup_seconds: Option<i64>,
}

impl KindReader for PointReader {
    const ROLLED_UP: bool = true;

    async fn load(
        pool: &PgPool,
        plan: &[ReadPart],
        series_ids: &[i64],
    ) -> Result<Self, sqlx::Error> {
        let read = |part: ReadPart| {
            query::number_rows(
                pool,
                SeriesKind::Raw,
                part.source,
                series_ids,
                part.from,
                part.until,
            )
        };
        let (raw_parts, rollup_parts): (Vec<ReadPart>, Vec<ReadPart>) =
            plan.iter().partition(|part| part.source == RowSource::Raw);
        let (raw, rollup) = futures::future::try_join(
            read_all_parts(&raw_parts, read),
            read_all_parts(&rollup_parts, read),
        )
        .await?;
        let rollup_seconds = rollup_parts.iter().find_map(|part| match part.source {
            RowSource::Rollup { resolution_seconds } => Some(i64::from(resolution_seconds)),
            RowSource::Raw => None,
        });
        Ok(Self {
            raw,
            rollup,
            rollup_seconds,
        })
    }

    fn values(&self, series: &SeriesRequest<'_>) -> Vec<Option<f64>> {
        let rule = series.point_rule.unwrap_or(PointRule {
            aggregation: AggregationRule {
                aggregation: Aggregation::Average,
                x_files_factor: 0.0,
            },
            raw_seconds: 1,
            rollup_levels: &[],
        });
        point_values(
            series.grid,
            rows_of(&self.raw, series.series_id),
            rows_of(&self.rollup, series.series_id),
            self.rollup_seconds,
            rule,
        )
    }
}

/// The latest value of each row's bucket of `seconds` (by `(start, stored_at)`), by bucket.
fn latest_per_bucket(rows: &[StoredRow<NumberSample>], seconds: i64) -> BTreeMap<i64, f64> {
    let mut latest: BTreeMap<i64, ((i64, i64), f64)> = BTreeMap::new();
    for row in rows {
        let bucket = row.start.div_euclid(seconds) * seconds;
        let version = (row.start, row.value.stored_at_micros);
        match latest.get(&bucket) {
            Some((kept, _)) if *kept > version => {}
            _ => {
                latest.insert(bucket, (version, row.value.value));
            }
        }
    }
    latest
        .into_iter()
        .map(|(bucket, (_, value))| (bucket, value))
        .collect()
}

/// Buckets of `finer_seconds` merged into buckets of `seconds` by the rule and its
/// xFilesFactor, as the rollup loop computes one resolution from the one before.
fn merge_into_buckets(
    finer: BTreeMap<i64, f64>,
    finer_seconds: i64,
    seconds: i64,
    rule: PointRule<'_>,
) -> BTreeMap<i64, f64> {
    let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (start, value) in finer {
        buckets
            .entry(start.div_euclid(seconds) * seconds)
            .or_default()
            .push(value);
    }
    let finer_per_bucket = u32::try_from(seconds / finer_seconds.max(1)).unwrap_or(u32::MAX);
    buckets
        .into_iter()
        .filter_map(|(bucket, values)| {
            rule.aggregation
                .bucket_value(&values, finer_per_bucket)
                .map(|value| (bucket, value))
        })
        .collect()
}

/// The values of a point series on `grid`: raw rows (latest per raw slot) merged into buckets
/// of the rollup read beside them by the rule and its xFilesFactor, the rollup's rows as
/// they are, and each bucket of the grid the merge of what it covers by the rule.
fn point_values(
    grid: &StepGrid,
    raw: &[StoredRow<NumberSample>],
    rollup: &[StoredRow<NumberSample>],
    rollup_seconds: Option<i64>,
    rule: PointRule<'_>,
) -> Vec<Option<f64>> {
    let raw_seconds = rule.raw_seconds.max(1);
    let slots = latest_per_bucket(raw, raw_seconds);
    // What each stored bucket holds, at the rollup's resolution (or the raw one), in time order.
    let mut stored: BTreeMap<i64, f64> = latest_per_bucket(rollup, raw_seconds);
    match rollup_seconds {
        Some(seconds) if seconds > raw_seconds => {
            // The levels the rollup loop goes through to reach the rollup read, finest first;
            // the rollup itself is always one of them, but a rule without it still ends there.
            let mut levels: Vec<i64> = rule
                .rollup_levels
                .iter()
                .map(|level| i64::from(level.seconds))
                .filter(|&level| level > raw_seconds && level < seconds)
                .collect();
            levels.push(seconds);
            let mut finer_seconds = raw_seconds;
            let mut finer = slots;
            for level_seconds in levels {
                finer = merge_into_buckets(finer, finer_seconds, level_seconds, rule);
                finer_seconds = level_seconds;
            }
            stored.extend(finer);
        }
        _ => stored.extend(slots),
    }
    let mut by_grid_bucket: Vec<Vec<f64>> = vec![Vec::new(); grid.len()];
    for (start, value) in stored {
        if let Some(slot) = grid.slot_of(start) {
            by_grid_bucket[slot].push(value);
        }
    }
    by_grid_bucket
        .iter()
        .map(|values| rule.aggregation.aggregation.apply(values))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::stored_row;
    use super::*;
    use abacus_proto::storage_schema::Resolution;
    use std::time::Duration;

    const LEVELS: [Resolution; 2] = [
        Resolution {
            seconds: 60,
            retention: Duration::from_secs(90 * 86_400),
        },
        Resolution {
            seconds: 3_600,
            retention: Duration::from_secs(5 * 365 * 86_400),
        },
    ];

    fn rule(aggregation: Aggregation, x_files_factor: f64) -> PointRule<'static> {
        PointRule {
            aggregation: AggregationRule {
                aggregation,
                x_files_factor,
            },
            raw_seconds: 10,
            rollup_levels: &LEVELS,
        }
    }

    #[test]
    fn a_slot_shows_its_latest_point_and_no_point_is_null() {
        let grid = StepGrid::new(1_000, 1_040, 10);
        let rows = [stored_row(1_020, 48.0, 2), stored_row(1_020, 47.0, 1)];
        assert_eq!(
            point_values(&grid, &rows, &[], None, rule(Aggregation::Sum, 0.0)),
            vec![None, Some(48.0), None, None]
        );
    }

    #[test]
    fn a_widened_bucket_merges_its_slots_by_the_rule() {
        let grid = StepGrid::new(960, 1_020, 30);
        // Slots 1_000 (twice: the later point counts), 1_010, 1_020, 1_030.
        let rows = [
            stored_row(1_000, 9.0, 1),
            stored_row(1_003, 1.0, 2),
            stored_row(1_010, 2.0, 1),
            stored_row(1_020, 3.0, 1),
            stored_row(1_030, 6.0, 1),
        ];
        let cases = [
            (Aggregation::Average, vec![Some(1.5), Some(4.5)]),
            (Aggregation::Sum, vec![Some(3.0), Some(9.0)]),
            (Aggregation::Min, vec![Some(1.0), Some(3.0)]),
            (Aggregation::Max, vec![Some(2.0), Some(6.0)]),
            (Aggregation::Last, vec![Some(2.0), Some(6.0)]),
        ];
        for (aggregation, expected) in cases {
            assert_eq!(
                point_values(&grid, &rows, &[], None, rule(aggregation, 0.0)),
                expected,
                "{aggregation:?}"
            );
        }
    }

    #[test]
    fn raw_rows_beside_a_rollup_merge_into_its_buckets_as_the_rollup_will() {
        let grid = StepGrid::new(840, 1_080, 120);
        // The minute 960 rolled up (the sum of its slots); the minutes 1_020 and 1_080 not yet.
        let rollup = [stored_row(960, 10.0, 1)];
        let raw = [
            stored_row(1_020, 1.0, 1),
            stored_row(1_030, 2.0, 1),
            stored_row(1_080, 5.0, 1),
        ];
        assert_eq!(
            point_values(&grid, &raw, &rollup, Some(60), rule(Aggregation::Sum, 0.0)),
            vec![Some(13.0), Some(5.0)]
        );
        // With xFilesFactor 0.3 a minute needs two of its six slots: 1_080 has one.
        assert_eq!(
            point_values(&grid, &raw, &rollup, Some(60), rule(Aggregation::Sum, 0.3)),
            vec![Some(13.0), None]
        );
        assert_eq!(
            // The average of the minutes: 10 and (1 + 2) / 2.
            point_values(
                &grid,
                &raw,
                &rollup,
                Some(60),
                rule(Aggregation::Average, 0.0)
            ),
            vec![Some(5.75), Some(5.0)]
        );
    }

    #[test]
    fn raw_rows_reach_an_hour_through_its_minutes_as_whisper_propagates() {
        let grid = StepGrid::new(-3_600, 0, 3_600);
        // Minute 0 has one slot (value 0), minute 60 has three (6 each): the hour's average is
        // that of its minutes, 3, not of its slots, 4.5.
        let raw = [
            stored_row(0, 0.0, 1),
            stored_row(60, 6.0, 1),
            stored_row(70, 6.0, 1),
            stored_row(80, 6.0, 1),
        ];
        assert_eq!(
            point_values(
                &grid,
                &raw,
                &[],
                Some(3_600),
                rule(Aggregation::Average, 0.0)
            ),
            vec![Some(3.0)]
        );
        // xFilesFactor 0.3: minute 0 (1 of 6 slots) has no value, minute 60 (3 of 6) does,
        // and the hour has 1 of 60 minutes, too few.
        assert_eq!(
            point_values(
                &grid,
                &raw,
                &[],
                Some(3_600),
                rule(Aggregation::Average, 0.3)
            ),
            vec![None]
        );
    }
}
