//! The durable JetStream consumer loop: gather batches, store them in one transaction,
//! acknowledge them only after that transaction has committed.
//!
//! Each round gathers up to `max_batches_per_transaction` messages: what one pull returns at
//! once, then more for at most `transaction_linger` after the first. Every message is decoded
//! and checked before the transaction; one that can never be stored (it does not decode, its
//! schema version is unknown, it is invalid) is copied to the dead-letter subject with the
//! reason in a header, counted, and only then terminated, so it neither spoils the others nor
//! vanishes. The valid batches are stored together (see `store`), and acknowledged once the
//! transaction has committed — whether each was written or recognized as stored before. While
//! PostgreSQL fails, the whole group is handed back (`nak` with a delay) and the loop backs
//! off, so nothing is lost and JetStream redelivers them. Each of these events is counted and
//! logged by [`WorkerMetrics::record`], which also tracks whether PostgreSQL is failing, for
//! `/readyz`.

use crate::config::StorageWorkerSettings;
use crate::metrics::{Event, WorkerMetrics};
use crate::store::{self, StoreOutcome, ValidBatch};
use abacus_proto::settings::NatsSettings;
use abacus_proto::v1::FlushBatch;
use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures::StreamExt;
use prost::Message;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
/// How long one pull waits for messages before asking again; bounds how long a shutdown waits.
const PULL_EXPIRY: Duration = Duration::from_millis(500);
/// Below this much linger left, another pull is not worth its round-trip.
const SHORTEST_LINGER_PULL: Duration = Duration::from_millis(2);

/// How a round went, for the loop's backoff.
enum Round {
    /// Everything gathered was stored, recognized or dead-lettered.
    Done,
    /// Something was handed back to be redelivered; wait before the next round.
    RetryLater,
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
            let gathered = match self.gather(&consumer).await {
                Ok(gathered) => gathered,
                Err(error) => {
                    warn!(%error, "pull failed, retrying");
                    self.pause(retry_delay).await;
                    retry_delay = (retry_delay * 2).min(self.settings.max_retry_delay);
                    continue;
                }
            };
            if gathered.is_empty() {
                continue;
            }
            if self.shutdown.is_cancelled() {
                // Not started: hand them back at once rather than after the ack wait.
                hand_back(&gathered, None).await;
                break;
            }
            match self.store_gathered(gathered, retry_delay).await {
                Round::Done => retry_delay = FIRST_RETRY_DELAY,
                Round::RetryLater => {
                    self.pause(retry_delay).await;
                    retry_delay = (retry_delay * 2).min(self.settings.max_retry_delay);
                }
            }
        }
        info!("consumer stopped");
        Ok(())
    }

    /// Up to `max_batches_per_transaction` messages: waits (at most [`PULL_EXPIRY`]) for the
    /// first, then keeps pulling for at most `transaction_linger`. Empty when there was none.
    async fn gather(
        &self,
        consumer: &jetstream::consumer::PullConsumer,
    ) -> anyhow::Result<Vec<jetstream::Message>> {
        let most = self.settings.max_batches_per_transaction;
        let mut gathered = Vec::with_capacity(most);
        // `fetch` returns what is there as soon as there is something.
        let first = consumer
            .fetch()
            .max_messages(most)
            .expires(PULL_EXPIRY)
            .messages()
            .await?;
        collect(first, &mut gathered).await;
        if gathered.is_empty() {
            return Ok(gathered);
        }
        let linger_ends = Instant::now() + self.settings.transaction_linger;
        while gathered.len() < most && !self.shutdown.is_cancelled() {
            let linger_left = linger_ends.saturating_duration_since(Instant::now());
            if linger_left < SHORTEST_LINGER_PULL {
                break;
            }
            // `batch` waits until it has them all or the linger is over.
            let more = consumer
                .batch()
                .max_messages(most - gathered.len())
                .expires(linger_left)
                .messages()
                .await;
            match more {
                Ok(more) => collect(more, &mut gathered).await,
                Err(error) => {
                    // What was gathered is still ours to store.
                    debug!(%error, "pull for more batches failed");
                    break;
                }
            }
        }
        Ok(gathered)
    }

    /// Dead-letters what can never be stored, stores the rest in one transaction, and
    /// acknowledges or hands back each message accordingly.
    async fn store_gathered(
        &self,
        gathered: Vec<jetstream::Message>,
        retry_delay: Duration,
    ) -> Round {
        let mut round = Round::Done;
        let mut batches = Vec::with_capacity(gathered.len());
        let mut messages = Vec::with_capacity(gathered.len());
        for message in gathered {
            let valid = FlushBatch::decode(&message.payload[..])
                .map_err(|error| format!("not a flush batch: {error}"))
                .and_then(|batch| {
                    let batch_id = abacus_proto::batch_id(&batch);
                    ValidBatch::new(batch).map_err(|error| format!("batch {batch_id}: {error}"))
                });
            match valid {
                Ok(batch) => {
                    batches.push(batch);
                    messages.push(message);
                }
                Err(reason) => {
                    if let Round::RetryLater = self
                        .dead_letter_or_hand_back(&message, &reason, retry_delay)
                        .await
                    {
                        round = Round::RetryLater;
                    }
                }
            }
        }
        if batches.is_empty() {
            return round;
        }
        match self.store_together(batches, messages, retry_delay).await {
            Round::Done => round,
            Round::RetryLater => Round::RetryLater,
        }
    }

    /// Stores `batches` in one transaction and acknowledges their `messages` after the commit.
    /// Should the transaction fail for a reason a retry cannot fix, each batch is tried alone,
    /// so that only the culprit is dead-lettered.
    async fn store_together(
        &self,
        batches: Vec<ValidBatch>,
        messages: Vec<jetstream::Message>,
        retry_delay: Duration,
    ) -> Round {
        let error = match store::store_batches(&self.pool, &self.store, &batches).await {
            Ok(outcomes) => {
                for (batch, outcome) in batches.iter().zip(outcomes) {
                    self.metrics.record(match outcome {
                        StoreOutcome::Stored { series } => Event::Stored {
                            batch_id: batch.batch_id(),
                            series,
                        },
                        StoreOutcome::Duplicate => Event::Duplicate {
                            batch_id: batch.batch_id(),
                        },
                    });
                }
                acknowledge(&messages).await;
                return Round::Done;
            }
            Err(error) => error,
        };
        if error.is_transient() {
            self.metrics.record(Event::StoreFailed {
                batches: batches.len(),
                error: &error.to_string(),
            });
            hand_back(&messages, Some(retry_delay)).await;
            return Round::RetryLater;
        }
        if batches.len() == 1 {
            let reason = format!("batch {}: {error}", batches[0].batch_id());
            return self
                .dead_letter_or_hand_back(&messages[0], &reason, retry_delay)
                .await;
        }
        warn!(%error, batches = batches.len(), "storing batches together failed, storing each alone");
        let mut round = Round::Done;
        for (batch, message) in batches.into_iter().zip(messages) {
            // Boxed: the call recurses (once, with a single batch).
            let alone = Box::pin(self.store_together(vec![batch], vec![message], retry_delay));
            if let Round::RetryLater = alone.await {
                round = Round::RetryLater;
            }
        }
        round
    }

    /// Moves a message that can never be stored to the dead-letter subject and terminates it;
    /// if that fails, hands it back to be tried again.
    async fn dead_letter_or_hand_back(
        &self,
        message: &jetstream::Message,
        reason: &str,
        retry_delay: Duration,
    ) -> Round {
        match self.dead_letter(message, reason).await {
            Ok(()) => {
                self.metrics.record(Event::DeadLettered { reason });
                if let Err(error) = message.ack_with(AckKind::Term).await {
                    warn!(%error, "terminating a dead-lettered message failed");
                }
                Round::Done
            }
            Err(error) => {
                self.metrics.record(Event::DeadLetterFailed {
                    error: &format!("{error:#}"),
                });
                let _ = message.ack_with(AckKind::Nak(Some(retry_delay))).await;
                Round::RetryLater
            }
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

/// Appends the messages of one pull to `gathered`; a pull ending with an error (expired, say)
/// simply ends.
async fn collect(mut pulled: pull::Batch, gathered: &mut Vec<jetstream::Message>) {
    while let Some(message) = pulled.next().await {
        match message {
            Ok(message) => gathered.push(message),
            Err(error) => {
                debug!(%error, "pull ended with an error");
                break;
            }
        }
    }
}

/// Acknowledges committed messages, all at once rather than one round-trip after another.
async fn acknowledge(messages: &[jetstream::Message]) {
    let acknowledged =
        futures::future::join_all(messages.iter().map(|message| message.double_ack())).await;
    for error in acknowledged.into_iter().filter_map(Result::err) {
        // The batch is committed; a redelivery will be recognized as a duplicate.
        warn!(%error, "acknowledgement failed after commit");
    }
}

/// Hands messages back unacknowledged, to be redelivered after `delay` (at once with `None`).
async fn hand_back(messages: &[jetstream::Message], delay: Option<Duration>) {
    futures::future::join_all(
        messages
            .iter()
            .map(|message| message.ack_with(AckKind::Nak(delay))),
    )
    .await;
}
