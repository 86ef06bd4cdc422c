//! The API's errors and how they are answered: a status code and a JSON body
//! `{"error": "<what is wrong>"}` naming the problem.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The body of every error answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What is wrong, e.g. `invalid from: "-1x" has an unknown unit`.
    pub error: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The request is wrong; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// What the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The body is not of a type the endpoint takes (ingest takes only JSON).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body, or what it would become on the stream, is larger than one message may be.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request's headers are larger than the API reads.
    #[error("{0}")]
    HeadersTooLarge(String),
    /// No credential, or one that does not hold; the message says which and what the route
    /// needs.
    #[error("{0}")]
    Unauthorized(String),
    /// The credential holds but does not reach far enough (scope, admin, the CSRF header).
    #[error("{0}")]
    Forbidden(String),
    /// Too many failed sign-ins; try again after `retry_after`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: std::time::Duration,
    },
    /// The identity tables are not there yet (the storage worker creates them).
    #[error("{0}")]
    IdentityUnavailable(String),
    #[error("the query took longer than {0:?}")]
    QueryTimeout(std::time::Duration),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A failure of the API itself (drawing a graph failed); logged, answered 500.
    #[error("internal error")]
    Internal(String),
    /// What was posted could not be handed to the stream; nothing of it was kept.
    #[error("cannot accept data now: {0}")]
    Unavailable(crate::ingest::publish::PublishError),
}

impl From<crate::ingest::publish::PublishError> for ApiError {
    fn from(error: crate::ingest::publish::PublishError) -> Self {
        match error {
            too_large @ crate::ingest::publish::PublishError::TooLarge { .. } => {
                ApiError::PayloadTooLarge(too_large.to_string())
            }
            unavailable => ApiError::Unavailable(unavailable),
        }
    }
}

impl From<crate::auth::store::StoreError> for ApiError {
    fn from(error: crate::auth::store::StoreError) -> Self {
        use crate::auth::store::StoreError;
        match error {
            missing @ StoreError::TablesMissing => {
                ApiError::IdentityUnavailable(missing.to_string())
            }
            no_user @ StoreError::NoSuchUser(_) => ApiError::NotFound(no_user.to_string()),
            exists @ StoreError::UserExists(_) => ApiError::BadRequest(exists.to_string()),
            StoreError::Database(error) => ApiError::Database(error),
        }
    }
}

impl From<crate::auth::accounts::AccountError> for ApiError {
    fn from(error: crate::auth::accounts::AccountError) -> Self {
        use crate::auth::accounts::AccountError;
        match error {
            AccountError::Invalid(message) => ApiError::BadRequest(message),
            AccountError::ScopeTooHigh(message) => ApiError::Forbidden(message),
            AccountError::Store(error) => error.into(),
        }
    }
}

impl From<crate::graphite::time::TimeRangeError> for ApiError {
    fn from(error: crate::graphite::time::TimeRangeError) -> Self {
        ApiError::BadRequest(error.to_string())
    }
}

impl From<crate::read::fetch::FetchError> for ApiError {
    fn from(error: crate::read::fetch::FetchError) -> Self {
        match error {
            crate::read::fetch::FetchError::Database(error) => ApiError::Database(error),
            invalid => ApiError::BadRequest(invalid.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::IdentityUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::QueryTimeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unavailable(error) => {
                tracing::warn!(%error, "publishing to the stream failed");
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(message) => {
                tracing::error!(error = %message, "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::Database(error) => {
                tracing::error!(%error, "query failed");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        let mut response = (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        match &self {
            // A 401 names the scheme to answer with (RFC 9110); Bearer, not Basic, so that a
            // browser never pops up its own password dialog over the web app.
            ApiError::Unauthorized(_) => {
                response.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer realm=\"abacus\""),
                );
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                // Whole seconds, rounded up, so a client that waits that long is let in.
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(seconds),
                );
            }
            _ => {}
        }
        response
    }
}
