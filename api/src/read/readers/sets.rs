//! Sets: the sketches of a bucket union, so a wide bucket counts each member once however many
//! intervals saw it; a quiet bucket of an existing set counts 0.

use super::{merge_into_buckets, read_all_parts, rows_of, KindReader, ReadPart, SeriesRequest};
use crate::read::query::{self, StoredRow};
use crate::read::statistics::SetInterval;
use sqlx::PgPool;
use std::collections::HashMap;

pub(crate) struct SetReader {
    rows: HashMap<i64, Vec<StoredRow<Vec<u8>>>>,
}

impl KindReader for SetReader {
    const ROLLED_UP: bool = true;

    async fn load(
        pool: &PgPool,
        plan: &[ReadPart],
        series_ids: &[i64],
    ) -> Result<Self, sqlx::Error> {
        let rows = read_all_parts(plan, |part| {
            query::set_rows(pool, part.source, series_ids, part.from, part.until)
        })
        .await?;
        Ok(Self { rows })
    }

    fn values(&self, series: &SeriesRequest<'_>) -> Vec<Option<f64>> {
        let rows = rows_of(&self.rows, series.series_id);
        merge_into_buckets(
            series.grid,
            rows,
            series.series_name,
            |interval: &mut SetInterval, sketch: &Vec<u8>| interval.merge_bytes(sketch),
        )
        .iter()
        .zip(series.existed)
        .map(|(bucket, &existed)| match bucket {
            Some(interval) => Some(interval.cardinality()),
            None => existed.then_some(0.0),
        })
        .collect()
    }
}
