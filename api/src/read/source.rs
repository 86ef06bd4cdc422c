//! The function library's view of the database: [`SeriesSource`] over [`SeriesFetcher`], so
//! `sumSeries(stats.timers.api.*.upper_99)` reads exactly what `/render` of the bare paths
//! would show. Its errors stay [`FetchError`]s up to the HTTP edge.

use crate::graphite::functions::{SeriesSource, TimeSeries};
use crate::names::tag_expression::TagExpression;
use crate::read::fetch::{FetchError, SeriesFetcher};

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
}
