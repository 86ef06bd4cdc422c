//! The wire schema between Abacus services, and the few pieces every service shares.
//!
//! * [`v1`]: the protobuf messages generated from `schema/abacus/v1/flush.proto` — the
//!   contract on the JetStream stream; anything that can read protobuf can read Abacus' stream —
//!   and from `gauges.proto`, the aggregator's gauge checkpoints.
//! * [`batch_id`]: the one definition of a batch's identity, used by the aggregator as the
//!   `Nats-Msg-Id` and by the storage worker as its deduplication key.
//! * [`stream`]: the stream's name, subjects and how to connect to it.
//! * [`producer`]: what every producer of batches shares: the clock, the numbering that makes
//!   a batch's identity, publishing one batch under it.
//! * [`catalog`]: how the series catalog names kinds and tags, written by the storage worker
//!   and read by the API.
//! * [`histogram`]: the encoding contract of timer histograms (scale, range, V2 deflate bytes),
//!   shared by the aggregator that records them and the readers that merge them.
//! * [`timer`]: the one merge of timer summaries (moments and histograms), used by the
//!   aggregator, the rollups and the API.
//! * [`sketch`]: the set cardinality sketch (exact while small, HyperLogLog beyond) and its
//!   versioned byte format.
//! * [`limits`]: what a name, tag, event field or timestamp on the stream may be; every edge
//!   (aggregator, API, storage worker) checks records against these same limits.
//! * [`exposition`]: every service's `/metrics` text, written by `prometheus-client`;
//!   [`self_metrics`]: the same numbers published into the stream as series.
//! * [`settings`], [`telemetry`], [`shutdown`]: layered configuration, logging and the
//!   shutdown signal, identical in every service.
//!
//! The wire contract (`v1`, `batch_id`, `catalog`, `producer`'s numbering, `histogram`, `timer`, `sketch`,
//! `limits`) builds alone; `stream`, `exposition`, `self_metrics`,
//! `settings`, `telemetry` and `shutdown` are the services' runtime and come with the default
//! `runtime` feature, so a reader of the stream that takes `default-features = false` does not
//! compile clap, config, tokio or tracing-subscriber.

pub mod catalog;
#[cfg(feature = "runtime")]
pub mod exposition;
pub mod histogram;
pub mod limits;
pub mod producer;
#[cfg(feature = "runtime")]
pub mod self_metrics;
#[cfg(feature = "runtime")]
pub mod settings;
#[cfg(feature = "runtime")]
pub mod shutdown;
pub mod sketch;
#[cfg(feature = "runtime")]
pub mod storage_schema;
#[cfg(feature = "runtime")]
pub mod stream;
#[cfg(feature = "runtime")]
pub mod telemetry;
pub mod timer;

/// Messages of version 1 of the wire schema.
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/abacus.v1.rs"));
}

/// The schema version this build writes and reads. A reader rejects any other version rather
/// than guess at its meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// The identity of a batch: unique across aggregators (their id), across restarts of one
/// aggregator (its incarnation, the start-up time) and within one run (the sequence).
///
/// JetStream deduplicates publishes with the same `Nats-Msg-Id`, and the storage worker records
/// this id in the transaction that stores the batch, so a batch is applied at most once.
pub fn batch_id(batch: &v1::FlushBatch) -> String {
    format!(
        "{}-{}-{}",
        batch.aggregator_id, batch.incarnation, batch.sequence
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn batch_id_separates_restarts_of_the_same_aggregator() {
        let first_run = v1::FlushBatch {
            aggregator_id: "host-a".into(),
            incarnation: 1_700_000_000_000,
            sequence: 7,
            ..Default::default()
        };
        let second_run = v1::FlushBatch {
            incarnation: 1_700_000_500_000,
            ..first_run.clone()
        };
        assert_eq!(batch_id(&first_run), "host-a-1700000000000-7");
        assert_ne!(batch_id(&first_run), batch_id(&second_run));
    }

    #[test]
    fn a_batch_survives_encoding_and_decoding() {
        let batch = v1::FlushBatch {
            schema_version: SCHEMA_VERSION,
            aggregator_id: "host-a".into(),
            incarnation: 1,
            sequence: 2,
            interval_start_unix_ms: 1_700_000_000_000,
            interval_length_ms: 10_000,
            series: vec![v1::SeriesAggregate {
                name: "deploys".into(),
                tags: vec![v1::Tag {
                    key: "env".into(),
                    value: "prod".into(),
                }],
                aggregate: Some(v1::series_aggregate::Aggregate::Counter(
                    v1::CounterAggregate { count: 30.0 },
                )),
            }],
            events: vec![v1::Event {
                kind: v1::event::Kind::ServiceCheck.into(),
                title: "db.up".into(),
                text: "replica lagging".into(),
                timestamp_unix_ms: 1_700_000_001_000,
                service_check_status: 1,
                ..Default::default()
            }],
            points: vec![v1::RawPoint {
                name: "servers.web1.load".into(),
                tags: vec![],
                timestamp_unix_ms: 1_700_000_002_000,
                value: 0.25,
            }],
        };
        let decoded = v1::FlushBatch::decode(batch.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, batch);
    }
}
