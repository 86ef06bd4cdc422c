//! The bounded buffer of finished batches between the receive loop and the publisher.
//!
//! The receive loop only ever pushes, which never waits: receiving must not slow down because
//! NATS is slow or gone. The publisher takes batches oldest first. While NATS is unreachable
//! batches pile up to `aggregator.publish_buffer_batches`; beyond that the **oldest** batch is
//! dropped and counted (`batches_dropped`). Oldest, because the newest windows are the ones
//! dashboards and alerts look at when NATS comes back, a long outage then costs its beginning
//! rather than everything after the buffer filled up, and gauges in the newest batches carry
//! the current values.
//!
//! The batch the publisher is working on has left the buffer (it is never dropped under the
//! publisher's feet, which would break "published in order, each once"); it is tracked as in
//! flight so that giving up at shutdown counts it too.

use crate::flush::SealedBatch;
use crate::stats::{Counter, Gauge, SelfMetrics};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;
use tracing::error;

#[derive(Debug)]
pub(crate) struct PublishBuffer {
    capacity: usize,
    state: Mutex<BufferState>,
    batch_available: Notify,
    metrics: Arc<SelfMetrics>,
}

#[derive(Debug, Default)]
struct BufferState {
    batches: VecDeque<SealedBatch>,
    /// The publisher holds a batch it has not got acknowledged yet.
    in_flight: bool,
    /// No more batches will be pushed.
    closed: bool,
}

impl PublishBuffer {
    pub(crate) fn new(capacity: usize, metrics: Arc<SelfMetrics>) -> Self {
        Self {
            capacity: capacity.max(1),
            state: Mutex::new(BufferState::default()),
            batch_available: Notify::new(),
            metrics,
        }
    }

    fn state(&self) -> MutexGuard<'_, BufferState> {
        // A panic while holding this lock cannot leave the queue half-changed (every change is
        // one VecDeque call), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a finished batch; never waits. When the buffer is full the oldest batch is dropped.
    pub(crate) fn push(&self, batch: SealedBatch) {
        let mut state = self.state();
        if state.batches.len() >= self.capacity {
            if let Some(dropped) = state.batches.pop_front() {
                self.metrics.increment(Counter::BatchesDropped);
                // At most one line per flush interval, so this needs no rate limit.
                error!(
                    batch_id = abacus_proto::batch_id(&dropped.batch),
                    capacity = self.capacity,
                    dropped_total = self.metrics.counter(Counter::BatchesDropped),
                    "publish buffer full, oldest batch dropped"
                );
            }
        }
        state.batches.push_back(batch);
        self.metrics
            .set(Gauge::BatchesBuffered, state.batches.len() as f64);
        drop(state);
        self.batch_available.notify_one();
    }

    /// No more batches will come; [`Self::next`] returns `None` once the buffer is empty.
    pub(crate) fn close(&self) {
        self.state().closed = true;
        self.batch_available.notify_one();
    }

    /// The oldest batch, waiting for one; `None` once closed and empty. The batch is in flight
    /// until [`Self::acknowledged`].
    pub(crate) async fn next(&self) -> Option<SealedBatch> {
        loop {
            {
                let mut state = self.state();
                state.in_flight = false;
                if let Some(batch) = state.batches.pop_front() {
                    state.in_flight = true;
                    self.metrics
                        .set(Gauge::BatchesBuffered, state.batches.len() as f64);
                    return Some(batch);
                }
                if state.closed {
                    return None;
                }
            }
            // A push between the unlock above and this wait leaves a permit, so no wake-up is
            // lost.
            self.batch_available.notified().await;
        }
    }

    /// The batch returned by the last [`Self::next`] is published.
    pub(crate) fn acknowledged(&self) {
        self.state().in_flight = false;
    }

    /// Gives up on everything not yet published (shutdown ran out of time): empties the
    /// buffer, counts every batch lost (buffered and in flight) as dropped, and returns how
    /// many that was.
    pub(crate) fn abandon(&self) -> u64 {
        let mut state = self.state();
        let lost = state.batches.len() as u64 + u64::from(std::mem::take(&mut state.in_flight));
        state.batches.clear();
        self.metrics.set(Gauge::BatchesBuffered, 0.0);
        self.metrics.add(Counter::BatchesDropped, lost);
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(sequence: u64) -> SealedBatch {
        SealedBatch {
            batch: abacus_proto::v1::FlushBatch {
                sequence,
                ..Default::default()
            },
            encoded_series: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_full_buffer_drops_its_oldest_batch_and_keeps_order() {
        let metrics = Arc::new(SelfMetrics::default());
        let buffer = PublishBuffer::new(2, metrics.clone());
        for sequence in 1..=4 {
            buffer.push(batch(sequence));
        }
        buffer.close();
        assert_eq!(buffer.next().await.map(|b| b.batch.sequence), Some(3));
        assert_eq!(buffer.next().await.map(|b| b.batch.sequence), Some(4));
        assert_eq!(buffer.next().await, None);
        assert_eq!(metrics.counter(Counter::BatchesDropped), 2);
    }

    #[tokio::test]
    async fn abandoning_counts_the_buffered_and_the_in_flight_batch() {
        let metrics = Arc::new(SelfMetrics::default());
        let buffer = PublishBuffer::new(10, metrics.clone());
        buffer.push(batch(1));
        buffer.push(batch(2));
        assert_eq!(buffer.next().await.map(|b| b.batch.sequence), Some(1));
        assert_eq!(buffer.abandon(), 2);
        assert_eq!(metrics.counter(Counter::BatchesDropped), 2);
        assert_eq!(metrics.gauge(Gauge::BatchesBuffered), 0.0);
    }

    #[tokio::test]
    async fn next_waits_for_a_push() {
        let metrics = Arc::new(SelfMetrics::default());
        let buffer = Arc::new(PublishBuffer::new(10, metrics));
        let waiting = tokio::spawn({
            let buffer = buffer.clone();
            async move { buffer.next().await.map(|b| b.batch.sequence) }
        });
        tokio::task::yield_now().await;
        buffer.push(batch(7));
        assert_eq!(waiting.await.unwrap(), Some(7));
    }
}
