//! Counters: the counts of a bucket add up, whichever aggregator, restart or late batch they
//! came from; a quiet bucket reads 0 once the series exists; the rate is the count per second
//! of the bucket's step.

use super::{read_all_parts, rows_of, KindReader, ReadPart, SeriesRequest};
use crate::names::namespace::{Field, SeriesKind};
use crate::read::grid::StepGrid;
use crate::read::query::{self, NumberSample, StoredRow};
use sqlx::PgPool;
use std::collections::HashMap;

pub(crate) struct CounterReader {
    rows: HashMap<i64, Vec<StoredRow<NumberSample>>>,
}

impl KindReader for CounterReader {
    const ROLLED_UP: bool = true;

    async fn load(
        pool: &PgPool,
        plan: &[ReadPart],
        series_ids: &[i64],
    ) -> Result<Self, sqlx::Error> {
        let rows = read_all_parts(plan, |part| {
            query::number_rows(
                pool,
                SeriesKind::Counter,
                part.source,
                series_ids,
                part.from,
                part.until,
            )
        })
        .await?;
        Ok(Self { rows })
    }

    fn values(&self, series: &SeriesRequest<'_>) -> Vec<Option<f64>> {
        counter_values(
            series.field,
            series.grid,
            rows_of(&self.rows, series.series_id),
            series.existed,
        )
    }
}

fn counter_values(
    field: Field,
    grid: &StepGrid,
    rows: &[StoredRow<NumberSample>],
    existed: &[bool],
) -> Vec<Option<f64>> {
    let mut counts: Vec<Option<f64>> = vec![None; grid.len()];
    for row in rows {
        if let Some(slot) = grid.slot_of(row.start) {
            *counts[slot].get_or_insert(0.0) += row.value.value;
        }
    }
    counts
        .into_iter()
        .zip(existed)
        .map(|(count, &existed)| {
            let count = count.or(existed.then_some(0.0))?;
            Some(match field {
                Field::Rate => count / grid.step as f64,
                _ => count,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::row;
    use super::*;

    #[test]
    fn counters_sum_per_bucket_and_read_zero_once_they_exist() {
        let grid = StepGrid::new(1_000, 1_050, 10);
        let existed = [false, true, true, true, true];
        let rows = [row(1_020, 30.0), row(1_020, 5.0), row(1_040, 1.0)];
        assert_eq!(
            counter_values(Field::Count, &grid, &rows, &existed),
            vec![None, Some(35.0), Some(0.0), Some(1.0), Some(0.0)]
        );
        assert_eq!(
            counter_values(Field::Rate, &grid, &rows, &existed),
            vec![None, Some(3.5), Some(0.0), Some(0.1), Some(0.0)]
        );
    }

    #[test]
    fn a_wider_step_sums_the_counts_it_covers() {
        // Buckets [1020, 1050) and [1050, 1080).
        let grid = StepGrid::new(1_000, 1_060, 30);
        let rows = [row(1_020, 1.0), row(1_030, 2.0), row(1_040, 4.0)];
        assert_eq!(
            counter_values(Field::Count, &grid, &rows, &[true, true]),
            vec![Some(7.0), Some(0.0)]
        );
    }
}
