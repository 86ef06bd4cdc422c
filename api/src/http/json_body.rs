//! JSON bodies read by hand, for the routes that must tell a wrong media type (415) from a bad
//! body (400) and name the problem themselves: ingest and sign-in. A body must be declared
//! `Content-Type: application/json`: a web page can make a browser send a `text/plain` or form
//! body to any origin without asking, but not a JSON one, so requiring it keeps other sites
//! from posting through a visitor's browser.

use crate::http::error::ApiError;
use axum::http::{header, HeaderMap};

/// The body as text, once its declared type is JSON (415 otherwise) and it is UTF-8 (400).
pub(crate) fn json_body_text<'body>(
    headers: &HeaderMap,
    body: &'body [u8],
) -> Result<&'body str, ApiError> {
    if !is_json_content_type(headers) {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be sent with Content-Type: application/json".into(),
        ));
    }
    std::str::from_utf8(body)
        .map_err(|error| ApiError::BadRequest(format!("the body is not UTF-8: {error}")))
}

/// `application/json`, with or without parameters such as `charset=utf-8`.
fn is_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_content_types_are_accepted() {
        let with_type = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            headers
        };
        assert!(is_json_content_type(&with_type("application/json")));
        assert!(is_json_content_type(&with_type(
            "Application/JSON; charset=utf-8"
        )));
        for refused in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
        ] {
            assert!(!is_json_content_type(&with_type(refused)), "{refused}");
        }
        assert!(!is_json_content_type(&HeaderMap::new()));
        assert!(matches!(
            json_body_text(&with_type("text/plain"), b"{}"),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            json_body_text(&with_type("application/json"), b"\xff"),
            Err(ApiError::BadRequest(_))
        ));
    }
}
