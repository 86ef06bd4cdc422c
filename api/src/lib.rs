//! The Abacus API: Graphite-compatible queries over what the storage worker stored, a native
//! JSON API, HTTP ingest, users and tokens, and the web app. It reads the metric data in
//! PostgreSQL and publishes what it is given to the stream; the only tables it writes are its
//! identity tables (`auth`).
//!
//! The crate is laid out by surface, each a folder (ARCHITECTURE.md has the map):
//!
//! * [`graphite`]: the Graphite-compatible surface: `/render` and its function library,
//!   `/metrics/find`, tags, events, Graphite time expressions.
//! * [`native`]: the native JSON API (`/api/v1/series`, `/api/v1/query`).
//! * [`ingest`]: HTTP ingest (`/api/v1/data`, Trendlines-compatible) and the publisher that
//!   hands what the API is given to the stream.
//! * [`read`]: the read layer over PostgreSQL: all SQL (`read::query`), and from a path to
//!   values on a time grid, a reader per kind.
//! * [`names`]: the language of series names shared by the surfaces and the read layer:
//!   Graphite globs, the etsy namespace, seriesByTag expressions.
//! * [`auth`]: users, sessions and tokens; the guard that holds each route to the policy
//!   (`auth.reads`, `auth.writes`).
//! * [`cli`]: `abacus-api user|token ...`, the commands that manage users and tokens.
//! * [`http`]: what every route shares: errors as JSON, request bounds, the server, health,
//!   the OpenAPI document.
//! * [`web`]: the embedded web app, the router's fallback.
//! * [`router`]: every route; [`state`]: what handlers reach; [`config`]: the settings.
//!
//! The public surface is what the binary, the tests, the benchmarks and the fuzzers use: `run`,
//! `config` and the command line (`cli`), the function library and Graphite times (fuzzed), the path glob and the time
//! grid (benchmarked), whether the web app was built. Everything else is `pub(crate)`, and
//! `unreachable_pub` keeps it that way.
#![warn(unreachable_pub)]

pub(crate) mod auth;
pub mod cli;
pub mod config;
pub mod graphite;
pub(crate) mod http;
pub(crate) mod ingest;
pub mod names;
pub(crate) mod native;
pub mod read;
pub(crate) mod router;
pub(crate) mod saved;
pub(crate) mod state;
pub mod web;

use anyhow::Context;
use config::Config;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use state::AppState;
use std::future::Future;
use std::str::FromStr;
use tokio::net::TcpListener;
use tracing::info;

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests.
/// PostgreSQL and NATS may be down at start; `/readyz` says so until they are up.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let pool = database_pool(&config)?;
    let nats = abacus_proto::stream::connect(&config.nats)
        .await
        .context("cannot connect to nats")?;
    let publisher = ingest::publish::BatchPublisher::new(
        nats.clone(),
        config.nats.clone(),
        config.api.producer_id.clone(),
    );
    let state = AppState {
        pool,
        nats,
        publisher: std::sync::Arc::new(publisher),
        settings: config.api.clone(),
        auth: config.auth.clone(),
        sign_in_limits: std::sync::Arc::new(auth::sign_in_limits::SignInLimits::new(
            config.auth.sign_in_failures_per_user,
            config.auth.sign_in_failures_per_address,
            config.auth.sign_in_window,
        )),
        caller_limits: std::sync::Arc::new(auth::caller_limits::CallerLimits::new(
            auth::caller_limits::LimitsPerCaller::from_settings(&config.api),
        )),
        schema: std::sync::Arc::new(
            abacus_proto::storage_schema::StorageSchema::from_settings(&config.storage_worker)
                .map_err(|error| anyhow::anyhow!("invalid configuration: {error}"))?,
        ),
        metrics: Default::default(),
    };
    let shutdown = abacus_proto::shutdown::token_from(shutdown);
    let self_metrics = config.api.publish_self_metrics.then(|| {
        let publisher = abacus_proto::self_metrics::SelfMetricsPublisher {
            context: async_nats::jetstream::new(state.nats.clone()),
            nats: config.nats.clone(),
            metrics: state.metrics.clone(),
            prefix: config.api.self_metrics_prefix.clone(),
            every: config.api.self_metrics_interval,
            // Its own batch numbering: the ingest publisher numbers the producer id's batches.
            producer_id: format!("{}-self-metrics", config.api.producer_id),
        };
        tokio::spawn(publisher.run(shutdown.clone()))
    });
    info!(address = %listener.local_addr()?, "api listening");
    let limits = http::serve::ConnectionLimits {
        header_read_timeout: config.api.header_read_timeout,
        max_connections: config.api.max_connections,
    };
    http::serve::serve(
        listener,
        router::router(state),
        limits,
        shutdown.clone().cancelled_owned(),
    )
    .await;
    shutdown.cancel();
    if let Some(self_metrics) = self_metrics {
        self_metrics.await.context("self-metrics task failed")?;
    }
    info!("api stopped");
    Ok(())
}

/// The API's connection pool, connecting lazily (the database may be down at start-up). The
/// `cli` commands use the same pool.
pub(crate) fn database_pool(config: &Config) -> anyhow::Result<sqlx::PgPool> {
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
    Ok(PgPoolOptions::new()
        .max_connections(config.database.max_connections)
        .acquire_timeout(config.database.acquire_timeout)
        .connect_lazy_with(connect_options))
}
