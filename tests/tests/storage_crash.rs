//! A crash of the storage worker process: it is killed with `SIGKILL` (no shutdown, whatever
//! transaction it is in is cut off) while batches flow, started again, and afterwards the
//! stored total equals what was published, exactly. The process is `storage-worker-process`,
//! which runs what the `abacus-storage-worker` binary runs.

use abacus_proto::settings::NatsSettings;
use abacus_proto::v1::{series_aggregate::Aggregate, CounterAggregate};
use abacus_tests::{single_series_batch, unique_nats_settings, TestDatabase};
use prost::Message;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Batch `i` counts `i`, so a lost or doubled batch changes the total.
const BATCHES: u64 = 300;
const COUNTER: &str = "crash.counted";
const PATIENCE: Duration = Duration::from_secs(120);

/// The worker process, killed when dropped so that a failing test leaves none behind.
struct Worker(Child);

impl Worker {
    /// `SIGKILL`, and wait for it to be gone.
    fn kill(&mut self) -> anyhow::Result<()> {
        self.0.kill()?;
        self.0.wait()?;
        Ok(())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Starts the worker process, configured only through its environment, as in production.
fn spawn_worker(nats: &NatsSettings, database_url: &str) -> anyhow::Result<Worker> {
    let child = Command::new(env!("CARGO_BIN_EXE_storage-worker-process"))
        .env("DATABASE_URL", database_url)
        .env("NATS_URL", &nats.url)
        .env("ABACUS_NATS__STREAM", &nats.stream)
        .env("ABACUS_NATS__SUBJECT_PREFIX", &nats.subject_prefix)
        .env("ABACUS_DATABASE__ACQUIRE_TIMEOUT", "1s")
        .env("ABACUS_STORAGE_WORKER__ACK_WAIT", "3s")
        .env("ABACUS_STORAGE_WORKER__MAX_RETRY_DELAY", "500ms")
        // Any free port: several workers may run on this machine at once.
        .env("ABACUS_STORAGE_WORKER__ADMIN_ADDRESS", "127.0.0.1:0")
        // The test counts the batches stored exactly; the worker's own self-metrics batches
        // would be among them.
        .env("ABACUS_STORAGE_WORKER__PUBLISH_SELF_METRICS", "false")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()?;
    Ok(Worker(child))
}

async fn wait_until_stored(url: &str, at_least: i64) -> anyhow::Result<()> {
    abacus_tests::wait_until_batches_stored(url, at_least, PATIENCE).await
}

#[tokio::test]
async fn a_worker_killed_mid_stream_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let nats = unique_nats_settings();
    let database = TestDatabase::create().await?;
    let mut worker = spawn_worker(&nats, &database.url)?;

    let publisher = {
        let nats = nats.clone();
        tokio::spawn(async move {
            let context = async_nats::jetstream::new(abacus_proto::stream::connect(&nats).await?);
            abacus_proto::stream::ensure_stream(&context, &nats).await?;
            let subject = abacus_proto::stream::flush_subject(&nats);
            for sequence in 1..=BATCHES {
                let batch = single_series_batch(
                    "crash-producer",
                    sequence,
                    COUNTER,
                    Aggregate::Counter(CounterAggregate {
                        count: sequence as f64,
                    }),
                );
                context
                    .publish(subject.clone(), batch.encode_to_vec().into())
                    .await?
                    .await?;
                // Spread the batches out so that the kill falls in the middle of the stream.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            anyhow::Ok(())
        })
    };

    wait_until_stored(&database.url, 50).await?;
    worker.kill()?;
    let mut worker = spawn_worker(&nats, &database.url)?;
    publisher.await??;

    // Every batch recorded once; then nothing in flight, then the exact total.
    abacus_tests::assert_counter_stored_exactly_once(
        &nats,
        "abacus-storage-worker",
        &database.url,
        COUNTER,
        BATCHES as i64,
        (BATCHES * (BATCHES + 1) / 2) as f64,
        PATIENCE,
    )
    .await?;

    worker.kill()?;
    async_nats::jetstream::new(abacus_proto::stream::connect(&nats).await?)
        .delete_stream(&nats.stream)
        .await?;
    database.drop_database().await
}
