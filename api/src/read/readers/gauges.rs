//! Gauges: a bucket shows the gauge's last value in it, and a quiet bucket keeps the value
//! before it (from the range's start, the last value stored before the range), as a gauge holds
//! its value until it changes.

use super::{last_per_bucket, read_all_parts, rows_of, KindReader, ReadPart, SeriesRequest};
use crate::names::namespace::SeriesKind;
use crate::read::grid::StepGrid;
use crate::read::query::{self, NumberSample, StoredRow};
use sqlx::PgPool;
use std::collections::HashMap;

pub(crate) struct GaugeReader {
    rows: HashMap<i64, Vec<StoredRow<NumberSample>>>,
    /// Each gauge's last value before the first part of the read.
    before_range: HashMap<i64, f64>,
}

impl KindReader for GaugeReader {
    const ROLLED_UP: bool = true;

    async fn load(
        pool: &PgPool,
        plan: &[ReadPart],
        series_ids: &[i64],
    ) -> Result<Self, sqlx::Error> {
        let rows = read_all_parts(plan, |part| {
            query::number_rows(
                pool,
                SeriesKind::Gauge,
                part.source,
                series_ids,
                part.from,
                part.until,
            )
        });
        let before = async {
            match plan.iter().map(|part| part.from).min() {
                Some(read_from) => query::gauge_values_before(pool, series_ids, read_from).await,
                None => Ok(Vec::new()),
            }
        };
        let (rows, before) = tokio::try_join!(rows, before)?;
        Ok(Self {
            rows,
            before_range: before.into_iter().collect(),
        })
    }

    fn values(&self, series: &SeriesRequest<'_>) -> Vec<Option<f64>> {
        gauge_values(
            series.grid,
            rows_of(&self.rows, series.series_id),
            self.before_range.get(&series.series_id).copied(),
            series.existed,
        )
    }
}

fn gauge_values(
    grid: &StepGrid,
    rows: &[StoredRow<NumberSample>],
    value_before_range: Option<f64>,
    existed: &[bool],
) -> Vec<Option<f64>> {
    let mut last_value = value_before_range;
    last_per_bucket(grid, rows)
        .into_iter()
        .zip(existed)
        .map(|(bucket, &existed)| {
            if bucket.is_some() {
                last_value = bucket;
            }
            bucket.or(last_value.filter(|_| existed))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::stored_row;
    use super::*;

    #[test]
    fn gauges_keep_their_last_value() {
        let grid = StepGrid::new(1_000, 1_040, 10);
        let existed = [true, true, true, false];
        // Out of order: the value stored last wins whatever order the rows come in.
        let rows = [stored_row(1_020, 48.0, 2), stored_row(1_020, 47.0, 1)];
        assert_eq!(
            gauge_values(&grid, &rows, Some(50.0), &existed),
            vec![Some(50.0), Some(48.0), Some(48.0), None]
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
        assert_eq!(gauge_values(&grid, &rows, None, &[true]), vec![Some(7.0)]);
    }
}
