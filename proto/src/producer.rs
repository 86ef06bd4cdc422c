//! What every producer of batches shares: the wire schema's clock ([`unix_now_ms`]), the
//! numbering that gives each batch an identity unique across producers and restarts
//! ([`BatchNumbering`]), and, with the `runtime` feature, publishing one batch under that
//! identity ([`publish_batch`]). The aggregator (a batch per flush window) and the API (a
//! batch per HTTP request) both produce through here, so a batch's identity and the way it is
//! handed to JetStream are written once.

use crate::v1::FlushBatch;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the unix epoch, the time unit of the wire schema.
pub fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since_epoch| since_epoch.as_millis() as i64)
}

/// Numbers the batches of one run of one producer: its id, its incarnation (the start-up
/// time in milliseconds, so a restart never reuses an identity) and a sequence from 1. See
/// [`crate::batch_id`] for the identity these make.
#[derive(Debug)]
pub struct BatchNumbering {
    producer_id: String,
    incarnation: u64,
    last_sequence: AtomicU64,
}

impl BatchNumbering {
    pub fn new(producer_id: String, incarnation: u64) -> Self {
        Self {
            producer_id,
            incarnation,
            last_sequence: AtomicU64::new(0),
        }
    }

    /// A producer whose incarnation is now.
    pub fn starting_now(producer_id: String) -> Self {
        Self::new(producer_id, unix_now_ms() as u64)
    }

    /// The next batch of this run, empty, with its identity and interval set.
    pub fn next_batch(&self, interval_start_unix_ms: i64, interval_length_ms: u32) -> FlushBatch {
        FlushBatch {
            schema_version: crate::SCHEMA_VERSION,
            aggregator_id: self.producer_id.clone(),
            incarnation: self.incarnation,
            sequence: self.last_sequence.fetch_add(1, Ordering::Relaxed) + 1,
            interval_start_unix_ms,
            interval_length_ms,
            series: Vec::new(),
            events: Vec::new(),
            points: Vec::new(),
        }
    }
}

/// Publishes one encoded batch on `subject` with its id as `Nats-Msg-Id` (JetStream drops a
/// second publish of the same id within its duplicate window, so a retry of a publish that did
/// land stores nothing twice) and waits until JetStream has stored it.
#[cfg(feature = "runtime")]
pub async fn publish_batch(
    context: &async_nats::jetstream::Context,
    subject: String,
    batch_id: &str,
    payload: bytes::Bytes,
) -> anyhow::Result<async_nats::jetstream::publish::PublishAck> {
    let message = async_nats::jetstream::message::PublishMessage::build()
        .payload(payload)
        .message_id(batch_id);
    let acknowledgement = context.send_publish(subject, message).await?;
    Ok(acknowledgement.await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_numbered_from_one_within_an_incarnation() {
        let numbering = BatchNumbering::new("api-1".into(), 42);
        let first = numbering.next_batch(10_000, 1_000);
        let second = numbering.next_batch(11_000, 1_000);
        assert_eq!(crate::batch_id(&first), "api-1-42-1");
        assert_eq!(crate::batch_id(&second), "api-1-42-2");
        assert_eq!(second.interval_start_unix_ms, 11_000);
        assert_eq!(second.schema_version, crate::SCHEMA_VERSION);
    }
}
