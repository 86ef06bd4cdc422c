//! Every route of the API in one place, what each needs of its caller (`auth::policy`), and
//! the layers every request goes through. A route's handler lives with its surface
//! (`graphite`, `native`, `ingest`, `auth`); this file only maps paths to them, so a newcomer
//! finds what answers a URL, and who may call it, here first. Health, the web app's files,
//! `/version`, `/functions`, the OpenAPI document and signing in are open whatever the policy.
//! Every guarded route, and signing in, is also held to the limits per caller
//! (`auth::caller_limits`); health, `/metrics`, the web app's files, `/version`, `/functions`
//! and the OpenAPI document are not.

use crate::auth::policy::{self, Access};
use crate::auth::{caller_limits, session, tokens, users};
use crate::graphite::{events, find, render, tags};
use crate::http::{error, health, json_refusals, openapi, request_bounds, self_metrics};
use crate::saved::{dashboards, graphs};
use crate::state::AppState;
use crate::{ingest, native, web};
use axum::http::{header, HeaderValue, Method};
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

pub(crate) fn router(state: AppState) -> Router {
    // Set explicitly rather than left at axum's 2 MB default: a body is published as one NATS
    // message, and one larger than the server takes was answered 503 after being read whole.
    let body_limit = axum::extract::DefaultBodyLimit::max(state.settings.max_body_bytes);
    // What each guarded route needs (auth::policy): a query, a write, any credential, one's
    // own account, or admin. The policy (`auth.reads`, `auth.writes`) decides whether reads
    // and writes need a credential at all. Right inside the guard, once it knows the caller,
    // the limits per caller (auth::caller_limits): before the handler reads the body, so a
    // slow upload holds its caller's slot too.
    let limited =
        || axum::middleware::from_fn_with_state(state.clone(), caller_limits::limit_caller);
    let needs = |access: Access| {
        tower::ServiceBuilder::new()
            .layer(axum::middleware::from_fn_with_state(
                (state.clone(), access),
                policy::guard,
            ))
            .layer(limited())
    };
    let routes = Router::new()
        .route(
            "/render",
            get(render::render_get)
                .post(render::render_post)
                .route_layer(needs(Access::Read)),
        )
        .route(
            "/metrics/find",
            get(find::find_get)
                .post(find::find_post)
                .route_layer(needs(Access::Read)),
        )
        .route(
            "/metrics/expand",
            get(find::expand_get)
                .post(find::expand)
                .route_layer(needs(Access::Read)),
        )
        .route(
            "/metrics/index.json",
            get(find::index).route_layer(needs(Access::Read)),
        )
        .route(
            "/tags/autoComplete/tags",
            get(tags::tag_names).route_layer(needs(Access::Read)),
        )
        .route(
            "/tags/autoComplete/values",
            get(tags::tag_values).route_layer(needs(Access::Read)),
        )
        .route(
            "/events/",
            post(events::post_event).route_layer(needs(Access::Write)),
        )
        .route(
            "/events",
            post(events::post_event_without_slash).route_layer(needs(Access::Write)),
        )
        .route(
            "/events/get_data",
            get(events::get_events).route_layer(needs(Access::Read)),
        )
        .route(
            "/api/v1/data",
            post(ingest::post_data).route_layer(needs(Access::Write)),
        )
        .route(
            "/api/v1/data/{metric}",
            get(ingest::get_metric_data)
                .route_layer(needs(Access::Read))
                .merge(post(ingest::post_metric_data).route_layer(needs(Access::Write))),
        )
        .route(
            "/api/v1/series",
            get(native::list_series).route_layer(needs(Access::Read)),
        )
        .route(
            "/api/v1/series/{id}",
            get(native::series_detail).route_layer(needs(Access::Read)),
        )
        .route(
            "/api/v1/query",
            get(native::query).route_layer(needs(Access::Read)),
        )
        // Signing in is open (and limited per user name and address); who-am-I and signing
        // out need the session (or a token) they are about.
        .route(
            "/api/v1/session",
            // Signing in has no caller yet: limited per client address (a password hash costs
            // tens of milliseconds of CPU), besides the failed sign-ins' own limits.
            post(session::sign_in).route_layer(limited()).merge(
                get(session::who_am_i)
                    .delete(session::sign_out)
                    .route_layer(needs(Access::Identified)),
            ),
        )
        // Open: the web app asks whether a sign-in proxy may have signed its browser in.
        .route("/api/v1/session/methods", get(session::sign_in_methods))
        .route(
            "/api/v1/tokens",
            get(tokens::list_tokens)
                .post(tokens::create_token)
                .route_layer(needs(Access::Account)),
        )
        .route(
            "/api/v1/tokens/{id}",
            delete(tokens::revoke_token).route_layer(needs(Access::Account)),
        )
        .route(
            "/api/v1/users",
            get(users::list_users).route_layer(needs(Access::Admin)),
        )
        // Saved graphs and dashboards: reading them follows `auth.reads`; saving and changing
        // them needs a signed-in user (or a `write` token), and being the owner (`saved`).
        .route(
            "/api/v1/graphs",
            get(graphs::named_graphs)
                .route_layer(needs(Access::Read))
                .merge(post(graphs::record_view).route_layer(needs(Access::Own))),
        )
        .route(
            "/api/v1/graphs/history",
            get(graphs::history).route_layer(needs(Access::Identified)),
        )
        .route(
            "/api/v1/graphs/{id}",
            get(graphs::graph)
                .route_layer(needs(Access::ReadKnowingCaller))
                .merge(
                    patch(graphs::change_graph)
                        .delete(graphs::delete_graph)
                        .route_layer(needs(Access::Own)),
                ),
        )
        .route(
            "/api/v1/dashboards",
            get(dashboards::list_dashboards)
                .route_layer(needs(Access::Read))
                .merge(post(dashboards::create_dashboard).route_layer(needs(Access::Own))),
        )
        .route(
            "/api/v1/dashboards/{id}",
            get(dashboards::dashboard)
                .route_layer(needs(Access::Read))
                .merge(
                    put(dashboards::replace_dashboard)
                        .delete(dashboards::delete_dashboard)
                        .route_layer(needs(Access::Own)),
                ),
        )
        .route(
            "/api/v1/dashboards/{id}/duplicate",
            post(dashboards::duplicate_dashboard).route_layer(needs(Access::Own)),
        )
        // Open whatever the policy: what this Graphite can do, the API's description.
        .route("/version", get(openapi::version))
        .route("/functions", get(openapi::functions))
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
        .route("/metrics", get(self_metrics::metrics_text));
    // Behind a reverse proxy that keeps its path prefix (`api.url_prefix = "/abacus"`), every
    // route and the web app live under the prefix; any other path is the API's JSON 404, and
    // the bare prefix redirects to the app's first page (its relative asset URLs need the
    // trailing slash).
    let prefix = state.settings.url_prefix.clone();
    let app = if prefix.is_empty() {
        routes
    } else {
        let app_root = format!("{prefix}/");
        Router::new()
            .route(
                &prefix,
                get(move || async move { axum::response::Redirect::permanent(&app_root) }),
            )
            .nest(&format!("{prefix}/"), routes)
            .fallback(|uri: axum::http::Uri| async move {
                error::ApiError::NotFound(format!("no endpoint at {}", uri.path()))
            })
    };
    app.layer(body_limit)
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
