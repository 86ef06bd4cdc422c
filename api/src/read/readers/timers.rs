//! Timers: the rows of a bucket merge exactly (counts and sums add, histograms merge), so every
//! field of a wide bucket, percentiles included, is what one interval that long would have
//! shown. A quiet bucket of an existing timer reads as an empty interval (count 0, the rest
//! null).

use super::{merge_into_buckets, read_all_parts, rows_of, KindReader, ReadPart, SeriesRequest};
use crate::names::namespace::Field;
use crate::read::query::{self, StoredRow};
use crate::read::statistics::{TimerInterval, TimerRow};
use sqlx::PgPool;
use std::collections::HashMap;

pub(crate) struct TimerReader {
    rows: HashMap<i64, Vec<StoredRow<TimerRow>>>,
}

impl KindReader for TimerReader {
    const ROLLED_UP: bool = true;

    async fn load(
        pool: &PgPool,
        plan: &[ReadPart],
        series_ids: &[i64],
    ) -> Result<Self, sqlx::Error> {
        let rows = read_all_parts(plan, |part| {
            query::timer_rows(pool, part.source, series_ids, part.from, part.until)
        })
        .await?;
        Ok(Self { rows })
    }

    fn values(&self, series: &SeriesRequest<'_>) -> Vec<Option<f64>> {
        let grid = series.grid;
        let Field::Timer(field) = series.field else {
            return vec![None; grid.len()];
        };
        let rows = rows_of(&self.rows, series.series_id);
        merge_into_buckets(grid, rows, series.series_name, TimerInterval::merge_row)
            .iter()
            .zip(series.existed)
            .map(|(bucket, &existed)| match bucket {
                Some(interval) => interval.field(field, grid.step as f64),
                None if existed => TimerInterval::default().field(field, grid.step as f64),
                None => None,
            })
            .collect()
    }
}
