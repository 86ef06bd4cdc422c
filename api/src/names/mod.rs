//! The language of series names, shared by the query surfaces and the read layer, all pure:
//! Graphite path globs ([`glob`]), the etsy namespace that maps `stats.timers.<name>.upper_90`
//! to a series, its kind and field ([`namespace`]), and `seriesByTag` expressions
//! ([`tag_expression`]).

pub mod glob;
pub(crate) mod namespace;
pub(crate) mod tag_expression;
