//! Test support: an in-memory [`SeriesSource`] that behaves like the database-backed one (a
//! glob over names, points laid on the step grid of the requested range, nulls where nothing
//! is stored), and helpers that evaluate a target and return names or values.

use super::{
    evaluate, parse_target, EvaluateError, EvaluationContext, EventCounts, SeriesSource, TimeSeries,
};
use crate::names::glob::PathGlob;
use crate::names::tag_expression::TagExpression;

/// Why the in-memory source could not answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct TestSourceError(String);

/// Where test series start: a whole number of days, so every step and interval divides it.
pub(crate) const START: i64 = 20 * 86_400;
/// The step of test series.
pub(crate) const STEP: i64 = 10;

/// A stored series starting at [`START`] with a [`STEP`] step.
pub(crate) fn series(name: &str, values: &[Option<f64>]) -> TimeSeries {
    TimeSeries::new(name, START, STEP, values.to_vec())
}

/// Series (and Graphite events: time and tags) stored in memory; `fetch` and
/// `event_counts` answer like the database-backed source.
pub(crate) struct InMemorySource {
    series: Vec<TimeSeries>,
    events: Vec<(i64, Vec<String>)>,
}

/// Most points a series is laid out with here, refused beyond like the database-backed source
/// refuses a grid longer than `api.max_points_per_series` before it allocates anything (a
/// hostile `movingAverage(f(x),'1000y')` reads back a thousand years).
pub(crate) const MAXIMUM_POINTS: i64 = 1_000_000;

impl InMemorySource {
    pub(crate) fn new(series: Vec<TimeSeries>) -> Self {
        Self {
            series,
            events: Vec::new(),
        }
    }

    pub(crate) fn with_events(self, events: Vec<(i64, Vec<String>)>) -> Self {
        Self { events, ..self }
    }

    fn laid_on_grid(
        stored: &TimeSeries,
        from: i64,
        until: i64,
    ) -> Result<TimeSeries, TestSourceError> {
        let step = stored.step.max(1);
        let first = from - from.rem_euclid(step);
        let points = (until.saturating_sub(first).saturating_add(step - 1) / step).max(0);
        if points > MAXIMUM_POINTS {
            return Err(TestSourceError(format!(
                "{} would have {points} points, more than {MAXIMUM_POINTS}",
                stored.name
            )));
        }
        let length = points as usize;
        let values = (0..length)
            .map(|slot| {
                let timestamp = first + slot as i64 * step;
                let offset = timestamp - stored.start;
                if offset < 0 || offset % step != 0 {
                    return None;
                }
                stored
                    .values
                    .get((offset / step) as usize)
                    .copied()
                    .flatten()
            })
            .collect();
        Ok(TimeSeries {
            start: first,
            values,
            ..stored.clone()
        })
    }
}

impl SeriesSource for InMemorySource {
    type Error = TestSourceError;

    async fn fetch(
        &self,
        pattern: &str,
        from: i64,
        until: i64,
    ) -> Result<Vec<TimeSeries>, TestSourceError> {
        let glob = PathGlob::new(pattern).map_err(|error| TestSourceError(error.to_string()))?;
        self.series
            .iter()
            .filter(|stored| glob.matches(stored.name.split(';').next().unwrap_or_default()))
            .map(|stored| Self::laid_on_grid(stored, from, until))
            .collect()
    }

    async fn fetch_by_tags(
        &self,
        expressions: &[TagExpression],
        from: i64,
        until: i64,
    ) -> Result<Vec<TimeSeries>, TestSourceError> {
        let matches = |stored: &TimeSeries| {
            expressions
                .iter()
                .all(|expression| expression.matches_tags(&stored.tags))
        };
        self.series
            .iter()
            .filter(|stored| matches(stored))
            .map(|stored| Self::laid_on_grid(stored, from, until))
            .collect()
    }

    async fn event_counts(
        &self,
        tags: &[String],
        from: i64,
        until: i64,
    ) -> Result<EventCounts, TestSourceError> {
        let step = EventCounts::step_for(from, until, MAXIMUM_POINTS as usize);
        let mut counts: std::collections::BTreeMap<i64, u64> = Default::default();
        for (time, event_tags) in &self.events {
            if (from..until).contains(time) && tags.iter().all(|tag| event_tags.contains(tag)) {
                *counts
                    .entry(from + (time - from).div_euclid(step) * step)
                    .or_default() += 1;
            }
        }
        Ok(EventCounts {
            step,
            counts: counts.into_iter().collect(),
        })
    }
}

/// A source whose database is down.
pub(crate) struct FailingSource;

impl SeriesSource for FailingSource {
    type Error = TestSourceError;

    async fn fetch(&self, _: &str, _: i64, _: i64) -> Result<Vec<TimeSeries>, TestSourceError> {
        Err(TestSourceError("connection refused".into()))
    }

    async fn fetch_by_tags(
        &self,
        _: &[TagExpression],
        _: i64,
        _: i64,
    ) -> Result<Vec<TimeSeries>, TestSourceError> {
        Err(TestSourceError("connection refused".into()))
    }

    async fn event_counts(
        &self,
        _: &[String],
        _: i64,
        _: i64,
    ) -> Result<EventCounts, TestSourceError> {
        Err(TestSourceError("connection refused".into()))
    }
}

/// The range covering every stored point.
pub(crate) fn context_for(stored: &[TimeSeries]) -> EvaluationContext {
    let until = stored
        .iter()
        .map(TimeSeries::end)
        .max()
        .unwrap_or(START + STEP);
    EvaluationContext {
        from: START,
        until,
        now: until,
    }
}

pub(crate) async fn evaluate_with(
    target: &str,
    stored: &[TimeSeries],
    context: &EvaluationContext,
) -> Result<Vec<TimeSeries>, EvaluateError<TestSourceError>> {
    let expression = parse_target(target).unwrap_or_else(|error| panic!("{target}: {error}"));
    evaluate(&expression, context, &InMemorySource::new(stored.to_vec())).await
}

pub(crate) async fn evaluate_target(target: &str, stored: &[TimeSeries]) -> Vec<TimeSeries> {
    evaluate_with(target, stored, &context_for(stored))
        .await
        .unwrap_or_else(|error| panic!("{target}: {error}"))
}

pub(crate) async fn evaluate_names(target: &str, stored: &[TimeSeries]) -> Vec<String> {
    evaluate_target(target, stored)
        .await
        .into_iter()
        .map(|one| one.name)
        .collect()
}

/// The name and values of every result series.
pub(crate) type NamedValues = Vec<(String, Vec<Option<f64>>)>;

/// Name and values of every result.
pub(crate) async fn evaluate_values(target: &str, stored: &[TimeSeries]) -> NamedValues {
    evaluate_target(target, stored)
        .await
        .into_iter()
        .map(|one| (one.name, one.values))
        .collect()
}

pub(crate) async fn evaluate_error(target: &str, stored: &[TimeSeries]) -> String {
    match evaluate_with(target, stored, &context_for(stored)).await {
        Ok(series) => panic!("{target} evaluated to {series:?}"),
        Err(error) => error.to_string(),
    }
}

/// `Some` of each number: `values(&[1.0, 2.0])`.
pub(crate) fn values(numbers: &[f64]) -> Vec<Option<f64>> {
    numbers.iter().copied().map(Some).collect()
}
