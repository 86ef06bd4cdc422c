//! The durable JetStream consumer loop: pull batches, store each, acknowledge only after the
//! transaction that stored it has committed.
//!
//! A message is acknowledged when its batch is stored or recognized as already stored. While
//! PostgreSQL fails, the message is handed back (`nak` with a delay) and the loop backs off, so
//! nothing is lost and JetStream redelivers it. A message that can never be stored (it does not
//! decode, or its schema version is unknown) is copied to the dead-letter subject with the
//! reason in a header, counted, and only then terminated, so it can neither block the stream nor
//! vanish. Each of these events is counted and logged by [`WorkerMetrics::record`], which also
//! tracks whether PostgreSQL is failing, for `/readyz`.

use crate::config::StorageWorkerSettings;
use crate::metrics::{Event, WorkerMetrics};
use crate::store::{self, StoreOutcome};
use abacus_proto::settings::NatsSettings;
use abacus_proto::v1::FlushBatch;
use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures::StreamExt;
use prost::Message;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
/// How long one pull waits for messages before asking again; bounds how long a shutdown waits.
const PULL_EXPIRY: Duration = Duration::from_millis(500);

/// What happened to one message.
enum Disposition {
    Acknowledge,
    RetryLater,
    DeadLetter { reason: String },
}

pub struct ConsumeLoop {
    pub context: jetstream::Context,
    pub nats: NatsSettings,
    pub settings: StorageWorkerSettings,
    pub pool: PgPool,
    pub store: store::StoreContext,
    pub metrics: Arc<WorkerMetrics>,
    pub shutdown: CancellationToken,
}

impl ConsumeLoop {
    pub async fn run(self) -> anyhow::Result<()> {
        let Some(consumer) = self.durable_consumer().await? else {
            return Ok(());
        };
        info!(consumer = %self.settings.consumer, stream = %self.nats.stream, "consuming");
        let mut retry_delay = FIRST_RETRY_DELAY;
        while !self.shutdown.is_cancelled() {
            let pulled = consumer
                .fetch()
                .max_messages(self.settings.fetch_batch)
                .expires(PULL_EXPIRY)
                .messages()
                .await;
            let mut messages = match pulled {
                Ok(messages) => messages,
                Err(error) => {
                    warn!(%error, "pull failed, retrying");
                    self.pause(retry_delay).await;
                    retry_delay = (retry_delay * 2).min(self.settings.max_retry_delay);
                    continue;
                }
            };
            while let Some(message) = messages.next().await {
                let message = match message {
                    Ok(message) => message,
                    Err(error) => {
                        debug!(%error, "pull ended with an error");
                        break;
                    }
                };
                if self.shutdown.is_cancelled() {
                    // Not started: hand it back at once rather than after the ack wait.
                    let _ = message.ack_with(AckKind::Nak(None)).await;
                    continue;
                }
                match self.handle(&message.payload).await {
                    Disposition::Acknowledge => {
                        retry_delay = FIRST_RETRY_DELAY;
                        if let Err(error) = message.double_ack().await {
                            // The batch is committed; a redelivery will be recognized as a duplicate.
                            warn!(%error, "acknowledgement failed after commit");
                        }
                    }
                    Disposition::DeadLetter { reason } => {
                        match self.dead_letter(&message, &reason).await {
                            Ok(()) => {
                                self.metrics.record(Event::DeadLettered { reason: &reason });
                                if let Err(error) = message.ack_with(AckKind::Term).await {
                                    warn!(%error, "terminating a dead-lettered message failed");
                                }
                            }
                            Err(error) => {
                                self.metrics.record(Event::DeadLetterFailed {
                                    error: &format!("{error:#}"),
                                });
                                let _ = message.ack_with(AckKind::Nak(Some(retry_delay))).await;
                                self.pause(retry_delay).await;
                                retry_delay = (retry_delay * 2).min(self.settings.max_retry_delay);
                            }
                        }
                    }
                    Disposition::RetryLater => {
                        let _ = message.ack_with(AckKind::Nak(Some(retry_delay))).await;
                        self.pause(retry_delay).await;
                        retry_delay = (retry_delay * 2).min(self.settings.max_retry_delay);
                        // The rest of this pull would fail the same way: let it be redelivered.
                        break;
                    }
                }
            }
        }
        info!("consumer stopped");
        Ok(())
    }

    async fn handle(&self, payload: &[u8]) -> Disposition {
        let batch = match FlushBatch::decode(payload) {
            Ok(batch) => batch,
            Err(error) => {
                return Disposition::DeadLetter {
                    reason: format!("not a flush batch: {error}"),
                };
            }
        };
        let batch_id = abacus_proto::batch_id(&batch);
        match store::store_batch(&self.pool, &self.store, &batch).await {
            Ok(StoreOutcome::Stored { series }) => {
                self.metrics.record(Event::Stored {
                    batch_id: &batch_id,
                    series,
                });
                Disposition::Acknowledge
            }
            Ok(StoreOutcome::Duplicate) => {
                self.metrics.record(Event::Duplicate {
                    batch_id: &batch_id,
                });
                Disposition::Acknowledge
            }
            Err(error) if error.is_transient() => {
                self.metrics.record(Event::StoreFailed {
                    batch_id: &batch_id,
                    error: &error.to_string(),
                });
                Disposition::RetryLater
            }
            Err(error) => Disposition::DeadLetter {
                reason: format!("batch {batch_id}: {error}"),
            },
        }
    }

    /// Publishes a copy of the message on the dead-letter subject, with why it was given up and
    /// where it came from, and waits for JetStream to store it.
    async fn dead_letter(&self, message: &jetstream::Message, reason: &str) -> anyhow::Result<()> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(abacus_proto::stream::DEAD_LETTER_REASON_HEADER, reason);
        headers.insert("Abacus-Original-Subject", message.subject.as_str());
        if let Ok(info) = message.info() {
            headers.insert(
                "Abacus-Original-Sequence",
                info.stream_sequence.to_string().as_str(),
            );
        }
        self.context
            .publish_with_headers(
                abacus_proto::stream::dead_letter_subject(&self.nats),
                headers,
                message.payload.clone(),
            )
            .await
            .context("cannot publish to the dead-letter subject")?
            .await
            .context("the dead-letter subject did not acknowledge")?;
        Ok(())
    }

    /// Gets or creates the durable consumer, retrying while NATS is unavailable. `None` when
    /// shutdown came first.
    async fn durable_consumer(&self) -> anyhow::Result<Option<jetstream::consumer::PullConsumer>> {
        let mut retry_delay = FIRST_RETRY_DELAY;
        loop {
            let attempt = async {
                let stream = abacus_proto::stream::ensure_stream(&self.context, &self.nats).await?;
                stream
                    .get_or_create_consumer(
                        &self.settings.consumer,
                        pull::Config {
                            durable_name: Some(self.settings.consumer.clone()),
                            filter_subject: abacus_proto::stream::flush_subject(&self.nats),
                            ack_policy: jetstream::consumer::AckPolicy::Explicit,
                            ack_wait: self.settings.ack_wait,
                            ..Default::default()
                        },
                    )
                    .await
                    .context("cannot get or create the durable consumer")
            };
            tokio::select! {
                _ = self.shutdown.cancelled() => return Ok(None),
                consumer = attempt => match consumer {
                    Ok(consumer) => return Ok(Some(consumer)),
                    Err(error) => {
                        warn!(error = %format!("{error:#}"), "consumer unavailable, retrying");
                    }
                },
            }
            self.pause(retry_delay).await;
            retry_delay = (retry_delay * 2).min(self.settings.max_retry_delay);
        }
    }

    /// Sleeps, but no longer than until shutdown.
    async fn pause(&self, delay: Duration) {
        tokio::select! {
            _ = self.shutdown.cancelled() => {}
            _ = tokio::time::sleep(delay) => {}
        }
    }
}
