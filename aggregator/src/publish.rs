//! Publishing finished batches to JetStream, in order, each exactly once in effect.
//!
//! Batches come from the [`PublishBuffer`] oldest first, so receiving never waits for NATS and
//! batches reach the stream in sequence order, also after an outage. Each is published with its batch id as `Nats-Msg-Id` and retried with capped backoff until
//! JetStream acknowledges it; a retry of a publish that did land is dropped by JetStream's
//! duplicate window. Once a batch is in the stream its gauges are checkpointed (see
//! [`crate::gauge_checkpoint`]), so the checkpoints never run ahead of what was published. The
//! task ends when the buffer is closed and drained; at shutdown the caller bounds how long that
//! may take.

use crate::flush::SealedBatch;
use crate::gauge_checkpoint::GaugeCheckpoints;
use crate::publish_buffer::PublishBuffer;
use crate::stats::{Counter, Gauge, SelfMetrics};
use abacus_proto::settings::NatsSettings;
use async_nats::jetstream;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

pub(crate) async fn run(
    client: async_nats::Client,
    nats: NatsSettings,
    batches: Arc<PublishBuffer>,
    gauge_checkpoints: Arc<GaugeCheckpoints>,
    metrics: Arc<SelfMetrics>,
) {
    let context = jetstream::new(client);
    let subject = abacus_proto::stream::flush_subject(&nats);
    let mut retry_delay = FIRST_RETRY_DELAY;
    while let Err(error) = abacus_proto::stream::ensure_stream(&context, &nats).await {
        warn!(error = %format!("{error:#}"), stream = %nats.stream, "stream unavailable, retrying");
        tokio::time::sleep(retry_delay).await;
        retry_delay = (retry_delay * 2).min(MAX_RETRY_DELAY);
    }
    while let Some(batch) = batches.next().await {
        let started = Instant::now();
        publish_until_acknowledged(&context, &subject, &batch, &metrics).await;
        gauge_checkpoints.save(&batch.batch, &metrics).await;
        batches.acknowledged();
        metrics.set(Gauge::FlushTime, started.elapsed().as_secs_f64() * 1000.0);
    }
    debug!("publisher drained");
}

async fn publish_until_acknowledged(
    context: &jetstream::Context,
    subject: &str,
    batch: &SealedBatch,
    metrics: &SelfMetrics,
) {
    let batch_id = abacus_proto::batch_id(&batch.batch);
    let payload = bytes::Bytes::from(batch.encode());
    let mut retry_delay = FIRST_RETRY_DELAY;
    let mut failures = 0u32;
    loop {
        let outcome = abacus_proto::producer::publish_batch(
            context,
            subject.to_owned(),
            &batch_id,
            payload.clone(),
        )
        .await;
        match outcome {
            Ok(acknowledgement) => {
                if failures > 0 {
                    info!(batch_id, failures, "batch published after retries");
                }
                debug!(
                    batch_id,
                    series = batch.series_count(),
                    duplicate = acknowledgement.duplicate,
                    "batch published"
                );
                return;
            }
            Err(error) => {
                failures += 1;
                metrics.increment(Counter::PublishErrors);
                // One line when publishing starts failing, then one every 10 failures, so an
                // outage does not flood the log.
                if failures == 1 || failures.is_multiple_of(10) {
                    warn!(%error, batch_id, failures, "publish failed, retrying");
                }
                tokio::time::sleep(retry_delay).await;
                retry_delay = (retry_delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }
}
