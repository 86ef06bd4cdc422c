//! What every request is held to before and while a handler runs, whichever route it takes:
//!
//! * **No NUL byte in any parameter.** PostgreSQL's `text` cannot hold one, so a `%00` in a
//!   render target, a find query, a tag prefix or a path segment used to reach the database and
//!   come back as a 503 "database error". A NUL byte can only arrive percent-encoded (a raw one
//!   is not valid in a URI, and hyper refuses it), so `%00` in the path, the query string or a
//!   form body is exactly the set of requests that would carry one; they are refused with a 400
//!   before any handler sees them. JSON bodies are checked field by field by their handlers
//!   (`abacus_proto::limits`), where the 400 can name the field.
//! * **Headers within [`MAX_HEADER_BYTES`] and [`MAX_HEADER_COUNT`]**, else a JSON 431. hyper
//!   reads headers up to a larger buffer (see `serve`) so that this answer, with its JSON body,
//!   is the one clients see.
//! * **The query timeout on every route**, not only `/render`: a handler (body extraction
//!   included) that has not produced its answer within `api.query_timeout` is dropped, and with
//!   it its database queries, and the client gets a 503 naming the timeout.

use crate::http::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Most bytes of header names and values one request may carry (a browser sends a few KiB;
/// Grafana's largest, a cookie, well under this).
pub(crate) const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most header lines one request may carry.
pub(crate) const MAX_HEADER_COUNT: usize = 100;

/// Refuses requests with too large headers or a NUL byte in their parameters, and bounds the
/// handler by the query timeout.
pub(crate) async fn bound_request(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(refusal) = check_headers(&request) {
        return refusal.into_response();
    }
    let request = match refuse_nul_bytes(request, state.settings.max_body_bytes).await {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let timeout = state.settings.query_timeout;
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::QueryTimeout(timeout).into_response(),
    }
}

fn check_headers(request: &Request) -> Result<(), ApiError> {
    let headers = request.headers();
    if headers.len() > MAX_HEADER_COUNT {
        return Err(ApiError::HeadersTooLarge(format!(
            "{} header lines, more than {MAX_HEADER_COUNT}",
            headers.len()
        )));
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge(format!(
            "the headers hold {bytes} bytes, more than {MAX_HEADER_BYTES}"
        )));
    }
    Ok(())
}

/// Whether percent-encoded text decodes to a NUL byte somewhere.
pub(crate) fn encodes_nul_byte(text: &[u8]) -> bool {
    text.windows(3)
        .any(|window| window[0] == b'%' && window[1] == b'0' && window[2] == b'0')
}

/// Refuses a request whose path, query string or form body decodes to a NUL byte. A form body
/// is read here (within the body limit) and handed on unchanged.
async fn refuse_nul_bytes(request: Request, body_limit: usize) -> Result<Request, ApiError> {
    let uri = request.uri();
    if encodes_nul_byte(uri.path().as_bytes()) {
        return Err(nul_byte("the path"));
    }
    if uri
        .query()
        .is_some_and(|query| encodes_nul_byte(query.as_bytes()))
    {
        return Err(nul_byte("a query parameter"));
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, body_limit).await.map_err(|_| {
        ApiError::PayloadTooLarge(format!(
            "the body is larger than {body_limit} bytes, or was cut off"
        ))
    })?;
    if encodes_nul_byte(&bytes) {
        return Err(nul_byte("a form parameter"));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn nul_byte(place: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "{place} contains a NUL byte (%00), which no name, tag or time can hold"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoded_nul_bytes_are_found() {
        // `%%00` decodes to `%` and a NUL: the first `%` starts no escape.
        for text in ["%00", "target=a%00b", "%%00", "x=%00&y=1"] {
            assert!(encodes_nul_byte(text.as_bytes()), "{text}");
        }
        // `%2500` is an escaped `%` followed by `00`: the text `%00`, not a NUL.
        for text in ["", "target=a.b&from=-1h", "%01", "%0", "100", "a%2500"] {
            assert!(!encodes_nul_byte(text.as_bytes()), "{text}");
        }
    }
}
