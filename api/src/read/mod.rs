//! The read layer over PostgreSQL: what the surfaces ask of stored data.
//!
//! * [`query`]: all SQL the API runs, parameterized, a file per table group.
//! * [`fetch`]: from a path pattern, tag expressions or one named series to series on a time
//!   grid: selection and the read plan.
//! * [`readers`]: one reader per kind: its rows merged into the buckets of a grid.
//! * [`grid`]: the whisper-style time grid and maxDataPoints steps.
//! * [`statistics`]: pure: timer fields from merged histograms, set cardinality from sketches.
//! * [`source`]: the function library's `SeriesSource` over [`fetch`].

pub(crate) mod fetch;
pub mod grid;
pub(crate) mod query;
pub(crate) mod readers;
pub(crate) mod source;
pub(crate) mod statistics;
