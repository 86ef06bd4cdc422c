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
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}
