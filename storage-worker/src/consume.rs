//! The durable JetStream consumer loop: gather batches, store them in one transaction,
//! acknowledge them only after that transaction has committed.
//!
//! Each round gathers up to `max_batches_per_transaction` messages: what one pull returns at
//! once, then more for at most `transaction_linger` after the first. Every message is decoded
//! and checked before the transaction; one that can never be stored (it does not decode, its
//! schema version is unknown, it is invalid) is copied to the dead-letter subject with the
//! reason in a header, counted, and only then terminated, so it neither spoils the others nor
//! vanishes. The valid batches are stored together (see `store`), and acknowledged once the
//! transaction has committed — whether each was written or recognized as stored before.
//!
//! Records of a batch that can never be stored (see `store::RejectedRecords`) are dead-lettered
//! as a batch of their own once the rest is committed, before the message is acknowledged.
//! When storing fails, the loop first asks whether PostgreSQL answers at all:
//! * it does not: the whole group is handed back (`nak` with a delay) and the loop backs off,
//!   so nothing is lost and JetStream redelivers them, however long the outage lasts;
//! * it does: the failure has to do with these batches. A group is split and each batch stored
//!   alone. A batch PostgreSQL refuses the data of is stored without the refused records
//!   (`isolate`). A batch that fails for any other reason is handed back with a growing delay
//!   and, once it has failed `max_failed_deliveries` times while PostgreSQL answered,
//!   dead-lettered whole rather than retried forever.
//!
//! Each of these events is counted and logged by [`WorkerMetrics::record`], which also tracks
//! whether PostgreSQL is failing, for `/readyz`.

use crate::config::StorageWorkerSettings;
use crate::isolate;
use crate::metrics::{Event, WorkerMetrics};
use crate::store::{self, RejectedRecords, StoreError, StoreOutcome, ValidBatch};
use abacus_proto::settings::NatsSettings;
use abacus_proto::v1::FlushBatch;
use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures::StreamExt;
use prost::Message;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
/// How long one pull waits for messages before asking again; bounds how long a shutdown waits.
const PULL_EXPIRY: Duration = Duration::from_millis(500);
/// Below this much linger left, another pull is not worth its round-trip.
const SHORTEST_LINGER_PULL: Duration = Duration::from_millis(2);
/// How long the check whether PostgreSQL answers may take before it counts as "no".
const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts to publish a batch's rejected records to the dead-letter subject after the rest
/// was committed, before the message is handed back instead.
const DEAD_LETTER_ATTEMPTS: u32 = 3;
/// A dead-letter reason header is cut to this many bytes.
const MAX_REASON_BYTES: usize = 4096;

/// How a round went, for the loop's backoff.
enum Round {
    /// Everything gathered was stored, recognized or dead-lettered.
    Done,
    /// Something was handed back to be redelivered; wait before the next round.
    RetryLater,
}

pub(crate) struct ConsumeLoop {
    pub context: jetstream::Context,
    pub nats: NatsSettings,
    pub settings: StorageWorkerSettings,
    pub pool: PgPool,
    pub store: store::StoreContext,
    pub metrics: Arc<WorkerMetrics>,
    pub shutdown: CancellationToken,
    /// How often each message (by stream sequence) failed to be stored while PostgreSQL
    /// answered; forgotten once it is stored or dead-lettered.
    pub failures: Mutex<HashMap<u64, u32>>,
}

impl ConsumeLoop {
    pub(crate) async fn run(self) -> anyhow::Result<()> {
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
            Ok(outcomes) => return self.finish(&batches, outcomes, &messages).await,
            Err(error) => error,
        };
        if error.is_transient() && !self.database_answers().await {
            self.metrics.record(Event::StoreFailed {
                batches: batches.len(),
                error: &error.to_string(),
            });
            hand_back(&messages, Some(retry_delay)).await;
            return Round::RetryLater;
        }
        // PostgreSQL answers, so the failure has to do with these batches.
        if batches.len() > 1 {
            warn!(%error, batches = batches.len(), "storing batches together failed, storing each alone");
            let mut round = Round::Done;
            for (batch, message) in batches.into_iter().zip(messages) {
                // Boxed: the call recurses (once, with a single batch).
                let alone = Box::pin(self.store_together(vec![batch], vec![message], retry_delay));
                if let Round::RetryLater = alone.await {
                    round = Round::RetryLater;
                }
            }
            return round;
        }
        let (Some(mut batch), Some(message)) = (batches.into_iter().next(), messages.first())
        else {
            return Round::Done;
        };
        let error = if error.is_refused_data() {
            match isolate::store_isolating(&self.pool, &self.store, &batch).await {
                Ok(isolated) => {
                    batch.reject_records(isolated.refused);
                    return self
                        .finish(
                            std::slice::from_ref(&batch),
                            vec![isolated.outcome],
                            std::slice::from_ref(message),
                        )
                        .await;
                }
                Err(error) => error,
            }
        } else {
            error
        };
        if let StoreError::InvalidBatch(_) | StoreError::Catalog(_) = error {
            let reason = format!("batch {}: {error}", batch.batch_id());
            return self
                .dead_letter_or_hand_back(message, &reason, retry_delay)
                .await;
        }
        let failures = self.count_failure(message);
        if failures >= self.settings.max_failed_deliveries {
            let reason = format!(
                "batch {}: failed {failures} times while the database answered: {error}",
                batch.batch_id()
            );
            return self
                .dead_letter_or_hand_back(message, &reason, retry_delay)
                .await;
        }
        self.metrics.record(Event::BatchFailed {
            batch_id: batch.batch_id(),
            failures,
            error: &error.to_string(),
        });
        // The delay grows with the failures, so a batch that keeps failing costs ever less.
        let delay = FIRST_RETRY_DELAY
            .saturating_mul(1 << failures.min(16))
            .min(self.settings.max_retry_delay);
        hand_back(std::slice::from_ref(message), Some(delay)).await;
        Round::RetryLater
    }

    /// After the commit: counts what happened to each batch, dead-letters each batch's
    /// rejected records, and acknowledges its message; a message whose rejected records could
    /// not be dead-lettered is handed back instead (its batch is stored, so the redelivery is
    /// a duplicate whose rejected records are dead-lettered again).
    async fn finish(
        &self,
        batches: &[ValidBatch],
        outcomes: Vec<StoreOutcome>,
        messages: &[jetstream::Message],
    ) -> Round {
        let mut round = Round::Done;
        let mut to_acknowledge = Vec::with_capacity(messages.len());
        for ((batch, outcome), message) in batches.iter().zip(outcomes).zip(messages) {
            self.metrics.record(match outcome {
                StoreOutcome::Stored { series, too_old } => Event::Stored {
                    batch_id: batch.batch_id(),
                    series,
                    too_old,
                },
                StoreOutcome::Duplicate => Event::Duplicate {
                    batch_id: batch.batch_id(),
                },
            });
            self.forget_failures(message);
            let rejected = batch.rejected();
            if !rejected.is_empty() && !self.dead_letter_records(batch, message, rejected).await {
                hand_back(std::slice::from_ref(message), Some(FIRST_RETRY_DELAY)).await;
                round = Round::RetryLater;
                continue;
            }
            to_acknowledge.push(message);
        }
        acknowledge(to_acknowledge).await;
        round
    }

    /// Publishes a batch's rejected records to the dead-letter subject, as a batch of their
    /// own, with every reason. Deduplicated by JetStream on the batch id, so a redelivered
    /// batch's records are dead-lettered once. Whether it worked.
    async fn dead_letter_records(
        &self,
        batch: &ValidBatch,
        message: &jetstream::Message,
        rejected: &RejectedRecords,
    ) -> bool {
        let reasons = cut_to(rejected.reasons.join("; "), MAX_REASON_BYTES);
        let payload = rejected.batch.encode_to_vec();
        let mut last_error = None;
        for attempt in 0..DEAD_LETTER_ATTEMPTS {
            let mut headers = self.dead_letter_headers(message, &reasons);
            headers.insert(
                "Nats-Msg-Id",
                format!("{}-rejected", batch.batch_id()).as_str(),
            );
            headers.insert(
                "Abacus-Dead-Letter-Records",
                rejected.len().to_string().as_str(),
            );
            match self
                .publish_dead_letter(headers, payload.clone().into())
                .await
            {
                Ok(()) => {
                    self.metrics.record(Event::RecordsDeadLettered {
                        batch_id: batch.batch_id(),
                        records: rejected.len(),
                        reasons: &reasons,
                    });
                    return true;
                }
                Err(error) => last_error = Some(error),
            }
            self.pause(FIRST_RETRY_DELAY * 2u32.pow(attempt)).await;
        }
        if let Some(error) = last_error {
            self.metrics.record(Event::DeadLetterFailed {
                error: &format!("{error:#}"),
            });
        }
        false
    }

    /// Whether PostgreSQL answers a trivial query now: tells an outage (every batch fails,
    /// wait) from a failure of particular batches (split them, count their failures).
    async fn database_answers(&self) -> bool {
        let probe = sqlx::query("select 1").execute(&self.pool);
        matches!(
            tokio::time::timeout(DATABASE_PROBE_TIMEOUT, probe).await,
            Ok(Ok(_))
        )
    }

    /// Counts one more failure of the message while PostgreSQL answered; returns how many.
    fn count_failure(&self, message: &jetstream::Message) -> u32 {
        let Ok(info) = message.info() else {
            return 1;
        };
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let count = failures.entry(info.stream_sequence).or_default();
        *count += 1;
        *count
    }

    fn forget_failures(&self, message: &jetstream::Message) {
        if let Ok(info) = message.info() {
            self.failures
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .remove(&info.stream_sequence);
        }
    }

    /// Moves a message that can never be stored to the dead-letter subject and terminates it;
    /// if that fails, hands it back to be tried again.
    async fn dead_letter_or_hand_back(
        &self,
        message: &jetstream::Message,
        reason: &str,
        retry_delay: Duration,
    ) -> Round {
        let reason = cut_to(reason.to_owned(), MAX_REASON_BYTES);
        let headers = self.dead_letter_headers(message, &reason);
        match self
            .publish_dead_letter(headers, message.payload.clone())
            .await
        {
            Ok(()) => {
                self.forget_failures(message);
                self.metrics.record(Event::DeadLettered { reason: &reason });
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

    /// The headers of a dead letter: why it was given up and where it came from.
    fn dead_letter_headers(
        &self,
        message: &jetstream::Message,
        reason: &str,
    ) -> async_nats::HeaderMap {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(abacus_proto::stream::DEAD_LETTER_REASON_HEADER, reason);
        headers.insert("Abacus-Original-Subject", message.subject.as_str());
        if let Ok(info) = message.info() {
            headers.insert(
                "Abacus-Original-Sequence",
                info.stream_sequence.to_string().as_str(),
            );
        }
        headers
    }

    /// Publishes a dead letter and waits for JetStream to store it.
    async fn publish_dead_letter(
        &self,
        headers: async_nats::HeaderMap,
        payload: bytes::Bytes,
    ) -> anyhow::Result<()> {
        self.context
            .publish_with_headers(
                abacus_proto::stream::dead_letter_subject(&self.nats),
                headers,
                payload,
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

/// `text` cut to at most `limit` bytes, on a character boundary.
fn cut_to(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Acknowledges committed messages, all at once rather than one round-trip after another.
async fn acknowledge(messages: Vec<&jetstream::Message>) {
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
