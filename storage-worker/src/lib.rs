//! The Abacus storage worker: a durable JetStream consumer that persists flush batches to
//! PostgreSQL, idempotently. It is the only component that writes metric data to PostgreSQL
//! (the API writes only its identity tables).
//!
//! * [`consume`]: the consumer loop and its acknowledgement rules.
//! * [`metrics`]: the one place each event of that loop is counted and logged.
//! * [`admin`]: `/healthz`, `/readyz` and `/metrics`.
//! * [`store`]: writing the batches of one transaction, and the embedded migrations.
//! * [`catalog`]: series ids for the write path, remembered so a batch rarely asks for them.
//! * [`maintenance`]: periodic upkeep (partitions ahead of time, forgetting the ids of
//!   long-stored batches).
//! * [`rollup`]: the rollup loop (coarser resolutions, exact merges, late batches).
//! * [`partitions`]: which time partitions exist, creating and dropping them.
//! * [`retentions`]: the Graphite-style `resolution:retention` setting and the per-pattern
//!   retention and aggregation rules (defined in `abacus_proto::storage_schema`).
//! * [`whisper`]: reading Graphite whisper files, for the `abacus-import` binary.
//! * [`config`]: the settings.
//!
//! Everything is `pub(crate)` unless something outside the crate uses it on purpose: the
//! modules declared `pub` below are the surface the end-to-end tests and the benchmark tools
//! of `abacus-tests` drive (the settings, the migrations, partition and retention upkeep, the
//! rollup loop), and within them only what those reach is `pub`. `unreachable_pub` keeps it that
//! way: a `pub` item nothing outside can reach is a warning (an error under `make lint`).

#![warn(unreachable_pub)]

pub(crate) mod admin;
pub(crate) mod catalog;
pub mod config;
pub(crate) mod consume;
pub(crate) mod isolate;
pub mod maintenance;
pub(crate) mod metrics;
pub mod partitions;
pub mod retentions;
pub mod rollup;
pub mod store;
pub mod whisper;

use anyhow::Context;
use config::Config;
use sqlx::postgres::PgPoolOptions;
use std::future::Future;
use std::sync::Arc;
use tracing::{info, warn};

/// The sockets the storage worker serves, bound before [`run`] so tests can bind port 0.
pub struct Sockets {
    /// The admin endpoints (`/healthz`, `/readyz`, `/metrics`).
    pub admin: tokio::net::TcpListener,
}

impl Sockets {
    /// Binds the addresses named in the configuration.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let address = config.storage_worker.admin_address;
        let admin = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot bind the admin address {address}"))?;
        Ok(Self { admin })
    }
}

/// Connects to PostgreSQL with the configured pool settings.
pub async fn connect_database(config: &Config) -> anyhow::Result<sqlx::PgPool> {
    PgPoolOptions::new()
        .max_connections(config.database.max_connections)
        .acquire_timeout(config.database.acquire_timeout)
        .connect(&config.database.url)
        .await
        .context("cannot connect to postgresql")
}

/// Applies the schema migrations, then consumes batches until `shutdown` resolves, serving the
/// admin endpoints on `sockets.admin` (bound by the caller, so tests can use a free port). A
/// batch being stored when shutdown comes is finished and acknowledged first.
pub async fn run(
    config: Config,
    sockets: Sockets,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let admin_listener = sockets.admin;
    let shutdown = abacus_proto::shutdown::token_from(shutdown);
    let schema = Arc::new(config.storage_worker.schema()?);
    let raw_retention = schema.shortest_raw_retention();
    if config.nats.max_age > raw_retention {
        // Allowed (a longer buffer through an outage is worth having), but a batch delivered
        // after its raw day is gone can no longer reach the rollups.
        warn!(
            max_age = ?config.nats.max_age,
            ?raw_retention,
            "nats.max_age is longer than a raw retention: a batch delivered later than that is not rolled up"
        );
    }
    let pool = connect_database(&config).await?;
    store::MIGRATOR
        .run(&pool)
        .await
        .context("cannot apply database migrations")?;
    info!("database schema is up to date");
    rollup::ensure_resolution_partitions(&pool, &schema)
        .await
        .context("cannot create the rollup tables' resolution partitions")?;

    let client = abacus_proto::stream::connect(&config.nats)
        .await
        .context("cannot connect to nats")?;
    let metrics = Arc::new(metrics::WorkerMetrics::default());
    info!(address = %admin_listener.local_addr()?, "admin endpoints listening");
    let admin = tokio::spawn(admin::serve(
        admin_listener,
        metrics.clone(),
        client.clone(),
        shutdown.clone(),
    ));
    let partitions = Arc::new(partitions::PartitionCache::default());
    let maintenance = maintenance::Maintenance {
        pool: pool.clone(),
        partitions: partitions.clone(),
        schema: schema.clone(),
        processed_batch_retention: config.storage_worker.processed_batch_retention,
        every: config.storage_worker.maintenance_interval,
    };
    let maintenance = tokio::spawn(maintenance.run(shutdown.clone()));
    let rollups = rollup::Rollups {
        pool: pool.clone(),
        partitions: partitions.clone(),
        schema: schema.clone(),
        delay: config.storage_worker.rollup_delay,
        every: config.storage_worker.rollup_interval,
        lag: metrics.rollup_lag.clone(),
    };
    let rollups = tokio::spawn(rollups.run(shutdown.clone()));
    let self_metrics = config.storage_worker.publish_self_metrics.then(|| {
        let publisher = abacus_proto::self_metrics::SelfMetricsPublisher {
            context: async_nats::jetstream::new(client.clone()),
            nats: config.nats.clone(),
            metrics: metrics.clone(),
            prefix: config.storage_worker.self_metrics_prefix.clone(),
            every: config.storage_worker.self_metrics_interval,
            producer_id: config.storage_worker.producer_id.clone(),
        };
        tokio::spawn(publisher.run(shutdown.clone()))
    });
    let consume_loop = consume::ConsumeLoop {
        context: async_nats::jetstream::new(client),
        nats: config.nats.clone(),
        settings: config.storage_worker.clone(),
        pool: pool.clone(),
        store: store::StoreContext::new(partitions, schema),
        metrics,
        shutdown: shutdown.clone(),
        failures: Default::default(),
    };
    let consumed = consume_loop.run().await;
    // However the loop ended, the other tasks stop with it.
    shutdown.cancel();
    consumed?;
    maintenance.await.context("maintenance task failed")?;
    rollups.await.context("rollup task failed")?;
    if let Some(self_metrics) = self_metrics {
        self_metrics.await.context("self-metrics task failed")?;
    }
    admin
        .await
        .context("admin task failed")?
        .context("admin server failed")?;
    pool.close().await;
    info!("storage worker stopped");
    Ok(())
}
