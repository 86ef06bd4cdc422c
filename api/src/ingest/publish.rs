//! Publishing what the API is given (HTTP-ingested points, posted events) to JetStream, so it
//! travels the same path as the aggregator's flushes: the API never writes to PostgreSQL, and
//! the storage worker's exactly-once rules cover these writes too.
//!
//! The API is a producer like an aggregator: it has an id, an incarnation (its start-up time)
//! and a sequence, so each request becomes one batch with a unique id, published with that id as
//! `Nats-Msg-Id`. A request is answered only once JetStream has stored its batch.
//!
//! One request is one message, so a request's batch must fit the server's `max_payload`
//! (1 MiB unless the server says otherwise). Request bodies are limited to that size before
//! they are read (see `lib.rs`), and protobuf is smaller than the JSON it comes from, so only a
//! server configured below the body limit can make a batch too large; it is then refused with
//! 413 rather than split, because a split request could be half stored when the second
//! message fails, and a request is all or nothing.

use abacus_proto::producer::{publish_batch, unix_now_ms, BatchNumbering};
use abacus_proto::settings::NatsSettings;
use abacus_proto::v1::{Event, RawPoint};
use async_nats::jetstream;
use prost::Message;

#[derive(Debug, thiserror::Error)]
pub(crate) enum PublishError {
    #[error("cannot reach the stream: {0}")]
    Stream(String),
    #[error("the stream did not store the batch: {0}")]
    Publish(String),
    /// The client's fault, not the stream's: the request carries more than one message may.
    #[error("the request becomes a message of {bytes} bytes, more than the {limit} the stream takes; send fewer records at once")]
    TooLarge { bytes: usize, limit: usize },
}

/// Publishes batches for this API process.
pub(crate) struct BatchPublisher {
    /// Kept for the server's current `max_payload`.
    client: async_nats::Client,
    context: jetstream::Context,
    nats: NatsSettings,
    numbering: BatchNumbering,
    /// Set once the stream is known to exist; a failure leaves it unset so the next request
    /// tries again.
    stream_ready: tokio::sync::OnceCell<()>,
}

impl BatchPublisher {
    pub(crate) fn new(client: async_nats::Client, nats: NatsSettings, producer_id: String) -> Self {
        Self {
            context: jetstream::new(client.clone()),
            client,
            nats,
            numbering: BatchNumbering::starting_now(producer_id),
            stream_ready: tokio::sync::OnceCell::new(),
        }
    }

    /// Publishes points and events as one batch and waits until JetStream has stored it.
    /// Returns the batch id.
    pub(crate) async fn publish(
        &self,
        points: Vec<RawPoint>,
        events: Vec<Event>,
    ) -> Result<String, PublishError> {
        let now_ms = unix_now_ms();
        // The batch carries no aggregates; its interval only records when it was sent.
        let mut batch = self
            .numbering
            .next_batch(now_ms - now_ms.rem_euclid(1_000), 1_000);
        batch.events = events;
        batch.points = points;
        let batch_id = abacus_proto::batch_id(&batch);
        self.stream_ready
            .get_or_try_init(|| async {
                abacus_proto::stream::ensure_stream(&self.context, &self.nats)
                    .await
                    .map(|_| ())
                    .map_err(|error| PublishError::Stream(format!("{error:#}")))
            })
            .await?;
        let payload = batch.encode_to_vec();
        let limit = self.client.server_info().max_payload;
        // A server that has not said yet (max_payload 0) is left to refuse for itself.
        if limit > 0 && payload.len() > limit {
            return Err(PublishError::TooLarge {
                bytes: payload.len(),
                limit,
            });
        }
        let subject = abacus_proto::stream::flush_subject(&self.nats);
        publish_batch(&self.context, subject, &batch_id, payload.into())
            .await
            .map_err(|error| PublishError::Publish(format!("{error:#}")))?;
        Ok(batch_id)
    }
}
