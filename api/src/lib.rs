//! The Abacus API: Graphite-compatible queries over what the storage worker stored.
//! It only reads PostgreSQL.
//!
//! * [`render`]: `GET /render`.
//! * [`find`]: `/metrics/find`, `/metrics/expand`, `/metrics/index.json`: the metric tree.
//! * [`tags`]: tag autocompletion (`/tags/autoComplete/tags` and `values`).
//! * [`events`]: `POST /events/`, `GET /events/get_data`.
//! * [`ingest`]: `/api/v1/data`, HTTP ingest compatible with Trendlines.
//! * [`native`]: the native JSON API (`/api/v1/series`, `/api/v1/query`).
//! * [`openapi`]: the OpenAPI document of every route (`/api/openapi.json`), `/version` and
//!   `/functions`.
//! * [`publish`]: what the API is given goes to the stream, never straight to PostgreSQL.
//! * [`namespace`], [`fetch`], [`statistics`], [`grid`]: from a path to values.
//! * [`glob`]: Graphite path globs.
//! * [`health`]: `GET /healthz` and `GET /readyz`.
//! * [`query`]: the SQL that reads series and samples.
//! * [`time`]: Graphite time expressions.
//! * [`error`]: errors as JSON answers; [`json_refusals`]: so are axum's own refusals.
//! * [`request_bounds`]: what every request is held to (NUL bytes, header size, the query
//!   timeout); [`serve`]: the HTTP server (header-read timeout, connection cap).
//! * [`web`]: the embedded web app, the router's fallback.
//! * [`config`]: the settings.

pub mod config;
pub mod error;
pub mod events;
pub mod fetch;
pub mod find;
pub mod functions;
pub mod glob;
pub mod grid;
pub mod health;
pub mod ingest;
pub mod json_refusals;
pub mod namespace;
pub mod native;
pub mod openapi;
pub mod publish;
pub mod query;
pub mod render;
pub mod request_bounds;
pub mod serve;
pub mod source;
pub mod statistics;
pub mod tag_expression;
pub mod tags;
pub mod time;
pub mod web;

use anyhow::Context;
use axum::routing::get;
use axum::Router;
use config::{ApiSettings, Config};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::future::Future;
use std::str::FromStr;
use tokio::net::TcpListener;
use tracing::info;

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: sqlx::PgPool,
    pub nats: async_nats::Client,
    pub publisher: std::sync::Arc<publish::BatchPublisher>,
    pub settings: ApiSettings,
    /// Retention and aggregation rules, shared with the storage worker.
    pub schema: std::sync::Arc<abacus_proto::storage_schema::StorageSchema>,
}

/// The version `/version` reports. Grafana's Graphite data source reads it to choose which
/// functions and features to offer; Abacus answers for graphite-web 1.1, whose API it follows.
pub const GRAPHITE_COMPATIBLE_VERSION: &str = "1.1.10";

pub fn router(state: AppState) -> Router {
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
        .route("/events/", axum::routing::post(events::post_event))
        .route(
            "/events",
            axum::routing::post(events::post_event_without_slash),
        )
        .route("/events/get_data", get(events::get_events))
        .route("/api/v1/data", axum::routing::post(ingest::post_data))
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
        .layer(body_limit)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_bounds::bound_request,
        ))
        // Outermost, so that it sees every answer, the other layers' refusals included.
        .layer(axum::middleware::from_fn(json_refusals::json_refusals))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests.
/// PostgreSQL and NATS may be down at start; `/readyz` says so until they are up.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let connect_options = PgConnectOptions::from_str(&config.database.url)
        .context("invalid database url")?
        // sqlx prepares every statement, and after five executions PostgreSQL may switch a
        // prepared statement to a generic plan, costed without the parameter values: it
        // guesses a few hundred rows for `series_id = any($1)` over any time range, picks
        // index scans for reads of tens of thousands of rows and cannot prune partitions when
        // planning (measured: 115 ms instead of 33 ms for a month of 1-minute rollups, plus
        // 20 ms of planning). Planning each read for its own ids and range costs about a
        // millisecond and keeps every read on the plan its parameters call for.
        .options([("plan_cache_mode", "force_custom_plan")]);
    let pool = PgPoolOptions::new()
        .max_connections(config.database.max_connections)
        .acquire_timeout(config.database.acquire_timeout)
        .connect_lazy_with(connect_options);
    let nats = abacus_proto::stream::connect(&config.nats)
        .await
        .context("cannot connect to nats")?;
    let publisher = publish::BatchPublisher::new(
        nats.clone(),
        config.nats.clone(),
        config.api.producer_id.clone(),
    );
    let state = AppState {
        pool,
        nats,
        publisher: std::sync::Arc::new(publisher),
        settings: config.api.clone(),
        schema: std::sync::Arc::new(
            abacus_proto::storage_schema::StorageSchema::from_settings(&config.storage_worker)
                .map_err(|error| anyhow::anyhow!("invalid configuration: {error}"))?,
        ),
    };
    info!(address = %listener.local_addr()?, "api listening");
    let limits = serve::ConnectionLimits {
        header_read_timeout: config.api.header_read_timeout,
        max_connections: config.api.max_connections,
    };
    serve::serve(listener, router(state), limits, shutdown).await;
    info!("api stopped");
    Ok(())
}
