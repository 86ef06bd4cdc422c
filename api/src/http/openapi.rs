//! The OpenAPI document of every HTTP route, served at `GET /api/openapi.json`: the
//! Graphite-compatible ones, ingest, the native API and health. Each route's description sits
//! on its handler (`#[utoipa::path]`), beside the code whose parameters and answers it
//! describes; this module only gathers them, and serves `/version` and `/functions`, which
//! Grafana asks to learn what this Graphite can do.
//!
//! Every route can also answer 431 (headers over the API's limit) and, when it takes text
//! parameters, 400 for a NUL byte in one (`request_bounds`); every route that reads the
//! database can answer 503 (the query timeout, or the database down). Those are listed on each
//! route, so that a client, or schemathesis in `make test`, can hold the API to them. So is
//! the 429 of the limits per caller (`auth::caller_limits`), on every route they apply to.

use axum::Json;
use utoipa::OpenApi;

/// The version `/version` reports. Grafana's Graphite data source reads it to choose which
/// functions and features to offer; Abacus answers for graphite-web 1.1, whose API it follows.
pub(crate) const GRAPHITE_COMPATIBLE_VERSION: &str = "1.1.10";

/// `GET /version`: the graphite-web version whose API Abacus follows.
#[utoipa::path(
    get,
    path = "/version",
    tag = "graphite",
    responses(
        (status = 200, description = "the version, e.g. 1.1.10", body = String, content_type = "text/plain"),
        crate::http::documented_refusals::HeaderRefusal,
    )
)]
pub(crate) async fn version() -> &'static str {
    GRAPHITE_COMPATIBLE_VERSION
}

/// `GET /functions`: the function library, as graphite-web describes it.
#[utoipa::path(
    get,
    path = "/functions",
    tag = "graphite",
    responses(
        (status = 200, description = "`{name: {name, group, description, params}}`", body = Object),
        crate::http::documented_refusals::HeaderRefusal,
    )
)]
pub(crate) async fn functions() -> Json<serde_json::Value> {
    Json(crate::graphite::functions::function_descriptions())
}

/// `GET /api/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "native",
    responses(
        (status = 200, description = "the OpenAPI 3.1 document", body = Object),
        crate::http::documented_refusals::HeaderRefusal,
    )
)]
pub(crate) async fn openapi_document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDocument::openapi())
}

/// The OpenAPI description of the whole API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Abacus API",
        description = "Graphite-compatible queries (render, find, expand, index, tags, events, functions, version), HTTP ingest, the native JSON API, users and tokens, saved graphs and dashboards, and health. Every refusal is a 4xx (or 503) with a JSON body {\"error\": \"...\"}. Under `auth.writes = \"token\"` (the default) ingest and posting events need a `write` token or a session (else 401/403); under `auth.reads = \"token\"` every query needs a `read` token or a session. Saving graphs and dashboards needs a session or a `write` token, and changing one, being its owner."
    ),
    paths(
        crate::graphite::render::render_get,
        crate::graphite::render::render_post,
        crate::graphite::find::find_get,
        crate::graphite::find::find_post,
        crate::graphite::find::expand_get,
        crate::graphite::find::expand,
        crate::graphite::find::index,
        crate::graphite::tags::tag_names,
        crate::graphite::tags::tag_values,
        crate::graphite::events::post_event,
        crate::graphite::events::post_event_without_slash,
        crate::graphite::events::get_events,
        crate::ingest::post_data,
        crate::ingest::post_metric_data,
        crate::ingest::get_metric_data,
        crate::native::list_series,
        crate::native::series_detail,
        crate::native::query,
        crate::auth::session::sign_in,
        crate::auth::session::who_am_i,
        crate::auth::session::sign_out,
        crate::auth::session::sign_in_methods,
        crate::auth::tokens::create_token,
        crate::auth::tokens::list_tokens,
        crate::auth::tokens::revoke_token,
        crate::auth::users::list_users,
        crate::saved::graphs::record_view,
        crate::saved::graphs::history,
        crate::saved::graphs::named_graphs,
        crate::saved::graphs::graph,
        crate::saved::graphs::change_graph,
        crate::saved::graphs::delete_graph,
        crate::saved::dashboards::list_dashboards,
        crate::saved::dashboards::create_dashboard,
        crate::saved::dashboards::dashboard,
        crate::saved::dashboards::replace_dashboard,
        crate::saved::dashboards::duplicate_dashboard,
        crate::saved::dashboards::delete_dashboard,
        version,
        functions,
        openapi_document,
        crate::http::health::healthz,
        crate::http::health::readyz,
    ),
    // Schemas referenced only by parameters are not gathered from the paths.
    components(schemas(
        crate::native::SeriesKindName,
        crate::graphite::events::TagSet,
        crate::graphite::render::Format,
        crate::graphite::find::FindFormat,
        crate::auth::Scope,
    ))
)]
pub(crate) struct ApiDocument;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_describes_every_route() {
        let document = serde_json::to_value(ApiDocument::openapi()).unwrap();
        let routes = [
            ("get", "/render"),
            ("post", "/render"),
            ("get", "/metrics/find"),
            ("post", "/metrics/find"),
            ("get", "/metrics/expand"),
            ("post", "/metrics/expand"),
            ("get", "/metrics/index.json"),
            ("get", "/tags/autoComplete/tags"),
            ("get", "/tags/autoComplete/values"),
            ("post", "/events/"),
            ("post", "/events"),
            ("get", "/events/get_data"),
            ("post", "/api/v1/data"),
            ("get", "/api/v1/data/{metric}"),
            ("post", "/api/v1/data/{metric}"),
            ("get", "/version"),
            ("get", "/functions"),
            ("get", "/api/v1/series"),
            ("get", "/api/v1/series/{id}"),
            ("get", "/api/v1/query"),
            ("get", "/api/openapi.json"),
            ("post", "/api/v1/session"),
            ("get", "/api/v1/session"),
            ("delete", "/api/v1/session"),
            ("get", "/api/v1/session/methods"),
            ("post", "/api/v1/tokens"),
            ("get", "/api/v1/tokens"),
            ("delete", "/api/v1/tokens/{id}"),
            ("get", "/api/v1/users"),
            ("post", "/api/v1/graphs"),
            ("get", "/api/v1/graphs"),
            ("get", "/api/v1/graphs/history"),
            ("get", "/api/v1/graphs/{id}"),
            ("patch", "/api/v1/graphs/{id}"),
            ("delete", "/api/v1/graphs/{id}"),
            ("get", "/api/v1/dashboards"),
            ("post", "/api/v1/dashboards"),
            ("get", "/api/v1/dashboards/{id}"),
            ("put", "/api/v1/dashboards/{id}"),
            ("delete", "/api/v1/dashboards/{id}"),
            ("post", "/api/v1/dashboards/{id}/duplicate"),
            ("get", "/healthz"),
            ("get", "/readyz"),
        ];
        for (method, path) in routes {
            let operation = &document["paths"][path][method];
            assert!(operation.is_object(), "{method} {path} missing");
            // Every route can refuse large headers, with JSON.
            assert!(
                operation["responses"]["431"]["content"]["application/json"].is_object(),
                "{method} {path} does not document 431"
            );
            // Every route but the unlimited ones (auth::caller_limits) can refuse a caller
            // over its limits, with JSON and Retry-After.
            let unlimited = [
                "/version",
                "/functions",
                "/api/openapi.json",
                "/api/v1/session/methods",
                "/healthz",
                "/readyz",
            ];
            let too_many = &operation["responses"]["429"];
            if unlimited.contains(&path) {
                assert!(too_many.is_null(), "{method} {path} documents 429");
            } else {
                assert!(
                    too_many["content"]["application/json"].is_object()
                        && too_many["headers"]["Retry-After"].is_object(),
                    "{method} {path} does not document 429 with Retry-After"
                );
            }
        }
        let query_parameters: Vec<&str> = document["paths"]["/api/v1/query"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|parameter| parameter["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            query_parameters,
            vec!["name", "kind", "field", "from", "until", "step", "tags"]
        );
        assert!(document["components"]["schemas"]["QueryAnswer"]["properties"]["unit"].is_object());
        // Parameters that take fixed values say which.
        assert_eq!(
            document["components"]["schemas"]["SeriesKindName"]["enum"],
            serde_json::json!(["counter", "gauge", "timer", "set", "raw"])
        );
        assert_eq!(
            document["components"]["schemas"]["Format"]["enum"],
            serde_json::json!(["json", "csv", "raw", "svg", "png"])
        );
    }
}
