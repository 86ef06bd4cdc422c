//! The Graphite function library: render targets parsed into expressions and evaluated over a
//! [`SeriesSource`], with graphite-web's functions, names and null semantics.
//!
//! It is pure: no SQL, no HTTP, no clock. The API wires it into `/render` with a source that
//! reads PostgreSQL and a context carrying the request's range and "now".
//!
//! * [`expression`]: the target grammar and [`parse_target`].
//! * [`series`]: [`TimeSeries`], [`consolidate`] (maxDataPoints) and the shared arithmetic.
//! * [`context`]: [`EvaluationContext`] (range and "now") and [`SeriesSource`], what every
//!   function module depends on.
//! * [`evaluate`](mod@evaluate): [`evaluate`](fn@evaluate) and the functions that read series
//!   with a range of their own (timeShift, movingAverage, hitcount, seriesByTag).
//! * The functions by graphite-web's groups: `combine` (with `aggregates`, `series_lists` and
//!   `map_reduce`), `transform` and `transform_values`, `calculate`, `moving`,
//!   `holt_winters`, `filter` (with `filter_series` and `sort`), `alias`, `special` and
//!   `special_series`, `generated` (series from the range alone), `graph` (drawing options);
//!   `requery` holds those that evaluate targets they build (`applyByNode`, `aliasQuery`,
//!   `useSeriesAbove`); `registry` lists them all for evaluation and for `GET /functions`.

mod aggregates;
mod alias;
mod arguments;
mod calculate;
mod combine;
pub mod context;
pub mod error;
pub mod evaluate;
mod event_counts;
pub mod expression;
mod filter;
mod filter_series;
mod generated;
mod graph;
mod holt_winters;
#[cfg(test)]
mod hostile_targets;
mod interval;
mod map_reduce;
mod moving;
mod registry;
mod requery;
pub mod series;
mod series_lists;
mod sort;
mod special;
mod special_series;
#[cfg(test)]
mod testing;
mod transform;
mod transform_values;

pub use context::{EvaluationContext, EventCounts, SeriesSource};
pub use error::{EvaluateError, EvaluationError};
pub use evaluate::{evaluate, Evaluated};
pub use expression::{parse_target, Argument, Expression, FunctionCall, TargetParseError};
pub use registry::function_descriptions;
pub use series::{consolidate, Consolidation, Drawing, TimeSeries};

/// What every function returns.
pub(crate) type SeriesResult = Result<Vec<TimeSeries>, EvaluationError>;
