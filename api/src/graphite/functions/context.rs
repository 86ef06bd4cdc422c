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
}

/// The range asked for, in unix seconds, and the time of the request (functions never read a
/// clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvaluationContext {
    pub from: i64,
    pub until: i64,
    pub now: i64,
}
