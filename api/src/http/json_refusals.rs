//! Every refusal is JSON: `{"error": "<what is wrong>"}`, whoever produced it.
//!
//! The API's own errors are JSON already (`error`), but axum's extractors and layers answer some
//! problems themselves in plain text before a handler runs: a body over the limit (413), a
//! missing `Content-Type: application/json` (415), a path segment that is not UTF-8 or not a
//! number (400). A client, or a schema checker, that parses every error body as JSON would
//! fail on those. This layer sits outside all routes and rewrites any 4xx or 5xx answer that is
//! not JSON into the same shape, keeping its status and its text as the message (or the
//! status's reason when it had none).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// The longest plain-text refusal carried over into the JSON message; axum's are one line.
const MAX_REFUSAL_TEXT_BYTES: usize = 4 * 1024;

/// Rewrites a non-JSON error answer into `{"error": ...}` with the same status.
pub(crate) async fn json_refusals(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REFUSAL_TEXT_BYTES)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        default_message(status)
    } else {
        text
    };
    let body = serde_json::json!({ "error": message }).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

fn default_message(status: StatusCode) -> String {
    status
        .canonical_reason()
        .map_or_else(|| status.to_string(), |reason| reason.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    async fn answer(router: Router, uri: &str) -> (StatusCode, String, serde_json::Value) {
        let response = router
            .layer(axum::middleware::from_fn(json_refusals))
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            content_type,
            serde_json::from_slice(&bytes).unwrap_or_default(),
        )
    }

    #[tokio::test]
    async fn plain_text_refusals_become_json_with_their_status_and_text() {
        let router = Router::new()
            .route(
                "/number/{id}",
                get(|_: axum::extract::Path<i64>| async { "ok" }),
            )
            .route("/empty", get(|| async { StatusCode::PAYLOAD_TOO_LARGE }));
        let (status, content_type, body) = answer(router.clone(), "/number/x").await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::BAD_REQUEST, "application/json")
        );
        assert!(
            body["error"].as_str().unwrap().contains("Cannot parse"),
            "{body}"
        );
        let (status, _, body) = answer(router.clone(), "/empty").await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"], "payload too large");
    }

    #[tokio::test]
    async fn successes_and_json_refusals_are_left_alone() {
        let router = Router::new().route("/ok", get(|| async { "plain" })).route(
            "/json",
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(serde_json::json!({"error": "mine"})),
                )
            }),
        );
        let (status, content_type, _) = answer(router.clone(), "/ok").await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "text/plain; charset=utf-8")
        );
        let (status, _, body) = answer(router, "/json").await;
        assert_eq!(
            (status, body),
            (StatusCode::NOT_FOUND, serde_json::json!({"error": "mine"}))
        );
    }
}
