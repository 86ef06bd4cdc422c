//! The web app, embedded in the binary (`build.rs` reads `web/dist`): its files, gzipped when
//! the client accepts it, hashed assets cached for a year, `index.html` revalidated by ETag.
//!
//! Mounted as the router's fallback, so it never shadows an API route: it only sees paths no
//! route matched. Of those it answers a file of the app, or `index.html` for a page of the app
//! (a single path segment such as `/` or `/graph`, so the app's relative asset URLs resolve),
//! and the API's JSON 404 for everything else, for every path under an API route's first
//! segment (`/render…`, `/metrics/…`, `/api/…`) and for other methods than GET and HEAD.
//!
//! Without `web/dist` at build time the binary still builds; pages then say how to build the
//! app.

use crate::http::error::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One embedded file of the app.
pub struct Asset {
    /// Relative to `web/dist`, e.g. `index.html`, `assets/index-3f2a.js`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub etag: &'static str,
    pub bytes: &'static [u8],
    /// The same file gzipped, when that is smaller.
    pub gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// First path segments that belong to the API: an unknown path below them is the API's 404,
/// never the app.
const API_SEGMENTS: &[&str] = &[
    "render",
    "metrics",
    "events",
    "api",
    "tags",
    "functions",
    "version",
    "healthz",
    "readyz",
];

/// What a browser sees when the binary was built without the app.
const NOT_BUILT_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Abacus</title></head><body><h1>Abacus</h1><p>This API was built without its web app.</p>\
<p>Build the app, then the API again: <code>make build</code>, or by hand \
<code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code> then <code>cargo build -p abacus-api</code> \
(needs Node.js 20 and npm).</p><p>The API itself works: try \
<a href=\"metrics/find?query=*\">metrics/find?query=*</a>.</p></body></html>";

pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

/// The app's pages, as its router names them (`web/src/main.ts`): only these answer with
/// `index.html`, so any other address is the API's JSON 404, for a browser and a script alike.
const APP_PAGES: &[&str] = &[
    "",
    "graph",
    "dashboard",
    "status",
    "signin",
    "tokens",
    "saved",
];

/// Is this an address the app answers with `index.html`?
fn is_app_page(path: &str) -> bool {
    let rest = path.trim_start_matches('/');
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    APP_PAGES.contains(&rest)
}

fn api_not_found(uri: &Uri) -> Response {
    ApiError::NotFound(format!("no endpoint at {}", uri.path())).into_response()
}

/// The router's fallback.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return api_not_found(&uri);
    }
    let path = uri.path();
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if API_SEGMENTS.contains(&first) {
        return api_not_found(&uri);
    }
    if let Some(found) = asset(path.trim_start_matches('/')) {
        if found.path != "index.html" {
            return serve(found, &headers, true);
        }
    }
    if !is_app_page(path) {
        return api_not_found(&uri);
    }
    match asset("index.html") {
        Some(index) if APP_BUILT => serve(index, &headers, false),
        _ => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            NOT_BUILT_PAGE,
        )
            .into_response(),
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|parameter| {
                parameter
                    .trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>() == Ok(0.0))
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// A file of the app; `hashed` files (Vite's `assets/` carry a content hash in their name) are
/// cached for a year, the rest revalidated.
fn serve(asset: &'static Asset, headers: &HeaderMap, hashed: bool) -> Response {
    let cache = if hashed && asset.path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let etag = HeaderValue::from_static(asset.etag);
    let not_modified = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| tag.trim() == asset.etag || tag.trim() == "*");
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match asset.gzip {
            Some(gzip) if accepts_gzip(headers) => {
                let mut response = Response::new(Body::from(gzip));
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                response
            }
            _ => Response::new(Body::from(asset.bytes)),
        }
    };
    let response_headers = response.headers_mut();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response_headers.insert(header::ETAG, etag);
    response_headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn app_pages_are_single_segments_outside_the_api() {
        for page in [
            "/",
            "/graph",
            "/dashboard/",
            "/status",
            "/signin",
            "/tokens",
            "/saved",
        ] {
            assert!(is_app_page(page), "{page}");
        }
        for not_page in ["/render", "/metrics", "/graph/x", "/favicon.ico", "/api"] {
            assert!(!is_app_page(not_page), "{not_page}");
        }
    }

    #[test]
    fn gzip_is_sent_only_to_clients_that_accept_it() {
        assert!(accepts_gzip(&headers(&[(
            header::ACCEPT_ENCODING,
            "gzip, deflate, br"
        )])));
        assert!(accepts_gzip(&headers(&[(
            header::ACCEPT_ENCODING,
            "br;q=1.0, GZIP;q=0.5"
        )])));
        assert!(!accepts_gzip(&headers(&[(
            header::ACCEPT_ENCODING,
            "gzip;q=0"
        )])));
        assert!(!accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, "br")])));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn unknown_api_paths_stay_json_404s() {
        for path in [
            "/render/x",
            "/api/v2/nothing",
            "/metrics/nothing",
            "/a/b/c",
            "/nope",
        ] {
            let response = fallback(Method::GET, path.parse().unwrap(), HeaderMap::new()).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "application/json",
                "{path}"
            );
        }
        let response = fallback(Method::POST, "/graph".parse().unwrap(), HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn pages_answer_html_built_or_not() {
        let response = fallback(Method::GET, "/graph".parse().unwrap(), HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
    }

    #[tokio::test]
    async fn embedded_assets_are_cached_compressed_and_revalidated() {
        let script = ASSETS.iter().find(|asset| asset.path.ends_with(".js"));
        assert_eq!(
            script.is_some(),
            APP_BUILT,
            "a built app, and only a built app, has a script"
        );
        let Some(script) = script else {
            return;
        };
        let uri: Uri = format!("/{}", script.path).parse().unwrap();
        let gzip = headers(&[(header::ACCEPT_ENCODING, "gzip")]);
        let response = fallback(Method::GET, uri.clone(), gzip).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain)
            .unwrap();
        assert_eq!(plain, script.bytes);

        let revalidate = headers(&[(header::IF_NONE_MATCH, script.etag)]);
        let response = fallback(Method::GET, uri, revalidate).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    }
}
