//! What every route shares: errors as JSON answers ([`error`]; [`json_refusals`] makes axum's
//! own refusals JSON too), JSON bodies read by hand ([`json_body`]), the bounds every request is held to ([`request_bounds`]), the HTTP/1
//! server ([`serve`]), service health ([`health`]) and the OpenAPI document of every route
//! ([`openapi`]), the API's own numbers ([`self_metrics`]), with the refusals many routes share described once
//! ([`documented_refusals`]).

pub(crate) mod documented_refusals;
pub(crate) mod error;
pub(crate) mod health;
pub(crate) mod json_body;
pub(crate) mod json_refusals;
pub(crate) mod openapi;
pub(crate) mod request_bounds;
pub(crate) mod self_metrics;
pub(crate) mod serve;
