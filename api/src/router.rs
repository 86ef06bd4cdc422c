//! Every route of the API in one place, and the layers every request goes through. A route's
//! handler lives with its surface (`graphite`, `native`, `ingest`); this file only maps paths
//! to them, so a newcomer finds what answers a URL here first.

use crate::graphite::{events, find, render, tags};
use crate::http::{error, health, json_refusals, openapi, request_bounds, self_metrics};
use crate::state::AppState;
use crate::{ingest, native, web};
use axum::http::{header, HeaderValue, Method};
use axum::routing::{get, post};
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

pub(crate) fn router(state: AppState) -> Router {
    // Set explicitly rather than left at axum's 2 MB default: a body is published as one NATS
    // message, and one larger than the server takes was answered 503 after being read whole.
    let body_limit = axum::extract::DefaultBodyLimit::max(state.settings.max_body_bytes);
    Router::new()
        .route("/render", get(render::render_get).post(render::render_post))
        .route("/metrics/find", get(find::find_get).post(find::find_post))
        .route("/metrics/expand", get(find::expand_get).post(find::expand))
        .route("/metrics/index.json", get(find::index))
        .route("/tags/autoComplete/tags", get(tags::tag_names))
        .route("/tags/autoComplete/values", get(tags::tag_values))
        .route("/events/", post(events::post_event))
        .route("/events", post(events::post_event_without_slash))
        .route("/events/get_data", get(events::get_events))
        .route("/api/v1/data", post(ingest::post_data))
        .route(
            "/api/v1/data/{metric}",
            get(ingest::get_metric_data).post(ingest::post_metric_data),
        )
        .route("/version", get(openapi::version))
        .route("/functions", get(openapi::functions))
        .route("/api/v1/series", get(native::list_series))
        .route("/api/v1/series/{id}", get(native::series_detail))
        .route("/api/v1/query", get(native::query))
        .route("/api/openapi.json", get(openapi::openapi_document))
        // The web app; it answers only paths no route matched, and the API's JSON 404 for
        // unknown paths of the API.
        .fallback(web::fallback)
        .method_not_allowed_fallback(
            |method: axum::http::Method, uri: axum::http::Uri| async move {
                error::ApiError::MethodNotAllowed(format!(
                    "{method} is not allowed on {}",
                    uri.path()
                ))
            },
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(self_metrics::metrics_text))
        .layer(body_limit)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_bounds::bound_request,
        ))
        // Outside the other layers, so that it sees every answer, their refusals included.
        .layer(axum::middleware::from_fn(json_refusals::json_refusals))
        // Counts every answer, refusals of the layers above included.
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            self_metrics::count_answers,
        ))
        // Refusals carry CORS headers too, so a browser shows the JSON error, not a CORS error.
        .layer(tower::util::option_layer(cors_layer(
            &state.settings.cors_allowed_origins,
        )))
        // Grafana asks for gzip; a 100,000-node treejson answer is 1.2 MB of repetitive JSON.
        // The web app's assets are already gzipped at build time and pass through untouched.
        .layer(CompressionLayer::new())
        // Outermost: one span per request, with its method, path and status, at debug level.
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The CORS layer for the configured origins (validated at start-up); none when empty.
fn cors_layer(allowed_origins: &[String]) -> Option<CorsLayer> {
    if allowed_origins.is_empty() {
        return None;
    }
    let origins = if allowed_origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            allowed_origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST, Method::HEAD])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .max_age(std::time::Duration::from_secs(3_600)),
    )
}
