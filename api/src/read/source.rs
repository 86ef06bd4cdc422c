//! The function library's view of the database: [`SeriesSource`] over [`SeriesFetcher`], so
//! `sumSeries(stats.timers.api.*.upper_99)` reads exactly what `/render` of the bare paths
//! would show. Its errors stay [`FetchError`]s up to the HTTP edge.

use crate::graphite::functions::{EventCounts, SeriesSource, TimeSeries};
use crate::names::tag_expression::TagExpression;
use crate::read::fetch::{to_time, FetchError, SeriesFetcher};
use crate::read::query;

pub(crate) struct DatabaseSource<'request> {
    pub(crate) fetcher: SeriesFetcher<'request>,
    /// Most series one tag query may select.
    pub(crate) max_series: usize,
}

impl SeriesSource for DatabaseSource<'_> {
    type Error = FetchError;

    async fn fetch(
        &self,
        pattern: &str,
        from: i64,
        until: i64,
    ) -> Result<Vec<TimeSeries>, FetchError> {
        self.fetcher.fetch(pattern, from, until).await
    }

    async fn fetch_by_tags(
        &self,
        expressions: &[TagExpression],
        from: i64,
        until: i64,
    ) -> Result<Vec<TimeSeries>, FetchError> {
        // One more than the limit, so that the caller can tell "exactly the limit" from "more".
        self.fetcher
            .fetch_by_tags(expressions, from, until, self.max_series + 1)
            .await
    }

    async fn event_counts(
        &self,
        tags: &[String],
        from: i64,
        until: i64,
    ) -> Result<EventCounts, FetchError> {
        let step = EventCounts::step_for(from, until, self.fetcher.max_points_per_series);
        let counts = query::events::event_counts(
            self.fetcher.pool,
            to_time(from)?,
            to_time(until)?,
            step,
            tags,
        )
        .await?;
        Ok(EventCounts {
            step,
            counts: counts
                .into_iter()
                .map(|(bucket, count)| (bucket, count.max(0) as u64))
                .collect(),
        })
    }
}
