//! What an evaluation runs against: the request's range and clock ([`EvaluationContext`]) and
//! where series come from ([`SeriesSource`]). Every function module depends on this file and
//! on nothing of the evaluator, so the library has no import cycle.

use super::series::TimeSeries;
use crate::names::tag_expression::TagExpression;
use std::future::Future;

/// Where series come from (`read::source::DatabaseSource` over PostgreSQL; the tests use one
/// in memory). Its error stays its own type up to the HTTP edge, which decides from it whether
/// a failure was the request's fault (400) or the database's (503).
pub trait SeriesSource: Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Every series whose path matches a Graphite glob pattern, over [from, until).
    fn fetch(
        &self,
        pattern: &str,
        from: i64,
        until: i64,
    ) -> impl Future<Output = Result<Vec<TimeSeries>, Self::Error>> + Send;

    /// seriesByTag('name=~x', 'env=prod', ...): every series matching all tag expressions,
    /// parsed and checked by the evaluator.
    fn fetch_by_tags(
        &self,
        expressions: &[TagExpression],
        from: i64,
        until: i64,
    ) -> impl Future<Output = Result<Vec<TimeSeries>, Self::Error>> + Send;

    /// `events('deploy', ...)`: how many Graphite events having every one of `tags` (any
    /// event when there are none) fall in each bucket of [from, until), the buckets
    /// [`EventCounts::step_for`] the source's point limit.
    fn event_counts(
        &self,
        tags: &[String],
        from: i64,
        until: i64,
    ) -> impl Future<Output = Result<EventCounts, Self::Error>> + Send;
}

/// Events counted per bucket: the bucket width and, for each bucket holding events, its
/// start (from the range's start, in whole steps) and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCounts {
    pub step: i64,
    pub counts: Vec<(i64, u64)>,
}

impl EventCounts {
    /// graphite-web counts events per second. A range longer than `max_points` seconds is
    /// counted in the narrowest whole number of seconds that keeps it within `max_points`
    /// buckets (the counts add up, as the series' `sum` consolidation would merge them),
    /// where every other series would be widened too, rather than refused.
    pub fn step_for(from: i64, until: i64, max_points: usize) -> i64 {
        let seconds = until.saturating_sub(from).max(1);
        let max_points = i64::try_from(max_points.max(1)).unwrap_or(i64::MAX);
        ((seconds + max_points - 1) / max_points).max(1)
    }
}

/// The range asked for, in unix seconds, and the time of the request (functions never read a
/// clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvaluationContext {
    pub from: i64,
    pub until: i64,
    pub now: i64,
}
