//! Points with their own timestamps (Graphite plaintext, HTTP ingest): a bucket shows its last
//! point, as a whisper slot keeps the last value written to it; a bucket without a point is
//! null.

use super::{last_per_bucket, read_all_parts, rows_of, KindReader, ReadPart, SeriesRequest};
use crate::names::namespace::SeriesKind;
use crate::read::query::{self, NumberSample, StoredRow};
use sqlx::PgPool;
use std::collections::HashMap;

pub(crate) struct PointReader {
    rows: HashMap<i64, Vec<StoredRow<NumberSample>>>,
}

impl KindReader for PointReader {
    const ROLLED_UP: bool = true;

    async fn load(
        pool: &PgPool,
        plan: &[ReadPart],
        series_ids: &[i64],
    ) -> Result<Self, sqlx::Error> {
        let rows = read_all_parts(plan, |part| {
            query::number_rows(
                pool,
                SeriesKind::Raw,
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
        last_per_bucket(series.grid, rows_of(&self.rows, series.series_id))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::stored_row;
    use super::*;
    use crate::read::grid::StepGrid;

    #[test]
    fn a_bucket_shows_its_last_point_and_no_point_is_null() {
        let grid = StepGrid::new(1_000, 1_040, 10);
        let rows = [stored_row(1_020, 48.0, 2), stored_row(1_020, 47.0, 1)];
        assert_eq!(
            last_per_bucket(&grid, &rows),
            vec![None, Some(48.0), None, None]
        );
    }
}
