//! The function library's view of the database: [`SeriesSource`] over [`SeriesFetcher`], so
//! `sumSeries(stats.timers.api.*.upper_99)` reads exactly what `/render` of the bare paths
//! would show.
//!
//! Each series carries the consolidation its kind calls for when a function or maxDataPoints
//! later merges its points: counts add up, everything else averages (Graphite's default), and
//! `consolidateBy` can still choose otherwise.

use crate::fetch::{FetchError, FetchedSeries, SeriesFetcher};
use crate::functions::{Consolidation, EvaluationError, SeriesSource, TimeSeries};
use crate::namespace::{Field, SeriesKind, TimerField};
use crate::tag_expression;

pub struct DatabaseSource<'request> {
    pub fetcher: SeriesFetcher<'request>,
    /// Most series one tag query may select.
    pub max_series: usize,
}

impl SeriesSource for DatabaseSource<'_> {
    async fn fetch(
        &self,
        pattern: &str,
        from: i64,
        until: i64,
    ) -> Result<Vec<TimeSeries>, EvaluationError> {
        let fetched = self
            .fetcher
            .fetch(pattern, from, until)
            .await
            .map_err(source_error)?;
        Ok(fetched.into_iter().map(time_series).collect())
    }

    async fn fetch_by_tags(
        &self,
        tag_expressions: &[String],
        from: i64,
        until: i64,
    ) -> Result<Vec<TimeSeries>, EvaluationError> {
        let expressions = tag_expression::parse_all(tag_expressions).map_err(|error| {
            EvaluationError::InvalidArgument {
                function: "seriesByTag".into(),
                message: error.to_string(),
            }
        })?;
        let quoted: Vec<String> = tag_expressions
            .iter()
            .map(|expression| format!("'{expression}'"))
            .collect();
        let path_expression = format!("seriesByTag({})", quoted.join(","));
        let fetched = self
            .fetcher
            .fetch_by_tags(
                &expressions,
                &path_expression,
                from,
                until,
                self.max_series + 1,
            )
            .await
            .map_err(source_error)?;
        Ok(fetched.into_iter().map(time_series).collect())
    }
}

/// A bad path is the request's fault (400); a database failure is not (503).
fn source_error(error: FetchError) -> EvaluationError {
    match error {
        FetchError::Database(error) => EvaluationError::Source(error.to_string()),
        invalid => EvaluationError::InvalidArgument {
            function: "series path".into(),
            message: invalid.to_string(),
        },
    }
}

pub fn time_series(fetched: FetchedSeries) -> TimeSeries {
    let consolidation = match (fetched.kind, fetched.field) {
        (SeriesKind::Counter, Field::Count)
        | (SeriesKind::Timer, Field::Timer(TimerField::Count | TimerField::CountPercentile(_))) => {
            Consolidation::Sum
        }
        _ => Consolidation::Average,
    };
    TimeSeries {
        name: fetched.name,
        path_expression: fetched.path_expression,
        tags: fetched.tags,
        start: fetched.start,
        step: fetched.step,
        values: fetched.values,
        consolidation,
    }
}
