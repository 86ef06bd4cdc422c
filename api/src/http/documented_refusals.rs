//! The refusals many routes share, described once for the OpenAPI document: a route's
//! `#[utoipa::path]` names one of these beside its own answers instead of repeating each
//! status and description. They describe answers only (the answers themselves are `ApiError`s);
//! nothing constructs them.
//!
//! Every route that names [`QueryFailures`], [`PublishFailures`] or [`CallerRefusals`] goes
//! through the guard and so through the limits per caller (`auth::caller_limits`): each lists
//! their 429.
#![allow(dead_code)]

use super::error::ErrorBody;
use utoipa::IntoResponses;

/// What any route may answer before it looks at the request: headers too large.
#[derive(IntoResponses)]
pub(crate) enum HeaderRefusal {
    #[response(status = 431, description = "the headers are too large")]
    HeadersTooLarge(ErrorBody),
}

/// What a route that reads PostgreSQL may answer besides its own refusals.
#[derive(IntoResponses)]
pub(crate) enum QueryFailures {
    #[response(
        status = 429,
        description = "the caller (its token, its user, else its client address) is over api.requests_per_second_per_caller or api.concurrent_requests_per_caller; the body names the limit",
        headers(("Retry-After" = u64, description = "whole seconds to wait before trying again, at least 1"))
    )]
    TooManyRequests(ErrorBody),
    #[response(status = 431, description = "the headers are too large")]
    HeadersTooLarge(ErrorBody),
    #[response(
        status = 503,
        description = "the query timed out or the database is unavailable"
    )]
    Unavailable(ErrorBody),
}

/// What a route whose JSON body is published to the stream may answer besides its own 400.
#[derive(IntoResponses)]
pub(crate) enum PublishFailures {
    #[response(
        status = 413,
        description = "the body is larger than api.max_body_bytes or one stream message"
    )]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "the body is not sent as application/json")]
    NotJson(ErrorBody),
    #[response(
        status = 429,
        description = "the caller (its token, its user, else its client address) is over api.requests_per_second_per_caller or api.concurrent_requests_per_caller; the body names the limit",
        headers(("Retry-After" = u64, description = "whole seconds to wait before trying again, at least 1"))
    )]
    TooManyRequests(ErrorBody),
    #[response(status = 431, description = "the headers are too large")]
    HeadersTooLarge(ErrorBody),
    #[response(
        status = 503,
        description = "the stream is unavailable, or the request timed out"
    )]
    Unavailable(ErrorBody),
}

/// What a route that needs to know its caller may answer besides its own refusals: the guard's
/// (`auth::policy`) 401 and 403, and the identity tables' 503. Every identity, token, saved
/// graph and dashboard route names this instead of repeating the four.
#[derive(IntoResponses)]
pub(crate) enum CallerRefusals {
    #[response(
        status = 401,
        description = "no credential, or one that is not valid (unknown, revoked, expired, a session that ended)"
    )]
    Unauthorized(ErrorBody),
    #[response(
        status = 403,
        description = "the credential does not reach far enough (its scope, not an admin, not the owner), or a session's X-Abacus-CSRF header is missing or wrong on a change"
    )]
    Forbidden(ErrorBody),
    #[response(
        status = 429,
        description = "the caller (its token, its user, else its client address) is over api.requests_per_second_per_caller or api.concurrent_requests_per_caller; the body names the limit",
        headers(("Retry-After" = u64, description = "whole seconds to wait before trying again, at least 1"))
    )]
    TooManyRequests(ErrorBody),
    #[response(status = 431, description = "the headers are too large")]
    HeadersTooLarge(ErrorBody),
    #[response(
        status = 503,
        description = "the application tables or the database are unavailable"
    )]
    Unavailable(ErrorBody),
}
