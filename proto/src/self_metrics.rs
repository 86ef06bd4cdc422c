//! A service's self-metrics published into the stream, as the aggregator publishes its own:
//! every interval one batch of series under a prefix (`abacus.storage_worker.batches_stored`,
//! `abacus.api.requests`, …), stored like any series, so they are graphable and the web app's
//! Status page shows them. The services never call each other: one reads another's numbers
//! from the database, not from its `/metrics`.
//!
//! A service describes its numbers as [`Reading`]s, the one list its `/metrics` (through
//! [`crate::exposition`]) and its batches are both made from. Counters go out as their
//! increase since the previous batch that reached the stream (a batch that fails to publish
//! is not lost: the next one carries its increase too), gauges as their value. Several
//! processes' counters add up in the same series; a gauge shows the last one's value.

use crate::producer::{publish_batch, unix_now_ms, BatchNumbering};
use crate::settings::NatsSettings;
use crate::v1::{
    series_aggregate::Aggregate, CounterAggregate, FlushBatch, GaugeAggregate, SeriesAggregate,
};
use prost::Message;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// One counter or gauge of a service.
pub struct Reading {
    pub name: &'static str,
    pub help: &'static str,
    pub value: ReadingValue,
}

pub enum ReadingValue {
    /// Grows since start-up.
    Counter(u64),
    Gauge(f64),
}

impl Reading {
    pub fn counter(name: &'static str, help: &'static str, value: u64) -> Self {
        Self {
            name,
            help,
            value: ReadingValue::Counter(value),
        }
    }

    pub fn gauge(name: &'static str, help: &'static str, value: f64) -> Self {
        Self {
            name,
            help,
            value: ReadingValue::Gauge(value),
        }
    }
}

/// What a service's numbers are now.
pub trait Readings: Send + Sync + 'static {
    fn readings(&self) -> Vec<Reading>;
}

/// Writes readings into a scrape's exposition.
pub fn expose(
    readings: Vec<Reading>,
    exposition: &mut crate::exposition::Exposition<'_, '_>,
) -> std::fmt::Result {
    for reading in readings {
        match reading.value {
            ReadingValue::Counter(value) => {
                exposition.counter(reading.name, reading.help, value)?
            }
            ReadingValue::Gauge(value) => exposition.gauge(reading.name, reading.help, value)?,
        }
    }
    Ok(())
}

/// Publishes a service's readings into the stream until shut down.
pub struct SelfMetricsPublisher<R> {
    pub context: async_nats::jetstream::Context,
    pub nats: NatsSettings,
    pub metrics: Arc<R>,
    pub prefix: String,
    pub every: Duration,
    pub producer_id: String,
}

impl<R: Readings> SelfMetricsPublisher<R> {
    pub async fn run(self, shutdown: CancellationToken) {
        let numbering = BatchNumbering::starting_now(self.producer_id.clone());
        let subject = crate::stream::flush_subject(&self.nats);
        let mut published_counters = CounterBaseline::default();
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; there is nothing to report yet.
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let interval_ms = self.every.as_millis() as i64;
            let now_ms = unix_now_ms();
            let mut batch = numbering.next_batch(
                now_ms - now_ms.rem_euclid(interval_ms) - interval_ms,
                interval_ms as u32,
            );
            let (series, counters_now) = self.series(&published_counters);
            batch.series = series;
            let batch_id = crate::batch_id(&batch);
            match publish(&self.context, &subject, &batch_id, &batch).await {
                Ok(()) => {
                    published_counters.0 = counters_now;
                    debug!(batch_id, "self-metrics published");
                }
                Err(error) => {
                    warn!(%error, batch_id, "self-metrics not published, the next batch carries them")
                }
            }
        }
    }

    /// The batch's series, and each counter's value they bring the baseline to.
    fn series(
        &self,
        baseline: &CounterBaseline,
    ) -> (Vec<SeriesAggregate>, HashMap<&'static str, u64>) {
        let mut counters_now = HashMap::new();
        let series = self
            .metrics
            .readings()
            .into_iter()
            .map(|reading| {
                let aggregate = match reading.value {
                    ReadingValue::Counter(value) => {
                        counters_now.insert(reading.name, value);
                        let increase = value
                            .saturating_sub(baseline.0.get(reading.name).copied().unwrap_or(0));
                        Aggregate::Counter(CounterAggregate {
                            count: increase as f64,
                        })
                    }
                    ReadingValue::Gauge(value) => Aggregate::Gauge(GaugeAggregate { value }),
                };
                SeriesAggregate {
                    name: format!("{}.{}", self.prefix, reading.name),
                    tags: Vec::new(),
                    aggregate: Some(aggregate),
                }
            })
            .collect();
        (series, counters_now)
    }
}

/// Each counter's value at the last batch that reached the stream.
#[derive(Default)]
struct CounterBaseline(HashMap<&'static str, u64>);

async fn publish(
    context: &async_nats::jetstream::Context,
    subject: &str,
    batch_id: &str,
    batch: &FlushBatch,
) -> anyhow::Result<()> {
    publish_batch(
        context,
        subject.to_owned(),
        batch_id,
        batch.encode_to_vec().into(),
    )
    .await?;
    Ok(())
}
