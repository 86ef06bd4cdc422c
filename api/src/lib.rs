//! The Abacus API: Graphite-compatible queries over what the storage worker stored.
//! It only reads PostgreSQL.
//!
//! * [`render`]: `GET /render`.
//! * [`find`]: `GET`/`POST /metrics/find`, the metric tree.
//! * [`glob`]: Graphite path globs.
//! * [`health`]: `GET /healthz` and `GET /readyz`.
//! * [`query`]: the SQL that reads series and samples.
//! * [`time`]: Graphite time expressions.
//! * [`error`]: errors as JSON answers.
//! * [`config`]: the settings.

pub mod config;
pub mod error;
pub mod find;
pub mod functions;
pub mod glob;
pub mod health;
pub mod query;
pub mod render;
pub mod time;

use anyhow::Context;
use axum::routing::get;
use axum::Router;
use config::{ApiSettings, Config};
use sqlx::postgres::PgPoolOptions;
use std::future::Future;
use tokio::net::TcpListener;
use tracing::info;

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: sqlx::PgPool,
    pub nats: async_nats::Client,
    pub settings: ApiSettings,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/render", get(render::render))
        .route("/metrics/find", get(find::find_get).post(find::find_post))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests.
/// PostgreSQL and NATS may be down at start; `/readyz` says so until they are up.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(config.database.max_connections)
        .acquire_timeout(config.database.acquire_timeout)
        .connect_lazy(&config.database.url)
        .context("invalid database url")?;
    let nats = abacus_proto::stream::connect(&config.nats)
        .await
        .context("cannot connect to nats")?;
    let state = AppState {
        pool,
        nats,
        settings: config.api.clone(),
    };
    info!(address = %listener.local_addr()?, "api listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("http server failed")?;
    info!("api stopped");
    Ok(())
}
