//! Periodic upkeep of the database that no batch triggers by itself.
//!
//! Today: forgetting the ids of batches stored long ago. A batch id must be remembered for as
//! long as the batch could come back — JetStream keeps messages for `nats.max_age`, so a
//! redelivery or a replay of the stream can bring it back until then — and no longer, or the
//! table grows forever. `storage_worker.processed_batch_retention` is validated to exceed
//! `nats.max_age`.

use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Deletes the records of batches processed more than `retention` ago; returns how many.
pub async fn prune_processed_batches(
    pool: &PgPool,
    retention: Duration,
) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query(
        "delete from processed_batches where processed_at < now() - make_interval(secs => $1)",
    )
    .bind(retention.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(deleted)
}

/// Runs the upkeep every `every` until shutdown. Failures are logged and retried next time:
/// upkeep that is late costs disk, not data.
pub async fn run(pool: PgPool, retention: Duration, every: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        match prune_processed_batches(&pool, retention).await {
            Ok(0) => {}
            Ok(deleted) => info!(deleted, "forgot the ids of old processed batches"),
            Err(error) => warn!(%error, "pruning processed batch ids failed"),
        }
    }
}
