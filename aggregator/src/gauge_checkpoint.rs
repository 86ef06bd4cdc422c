//! Gauges that outlive the process. After each flush the publisher writes every gauge the batch
//! carried into a JetStream key-value bucket, and at start-up the aggregator reads its own
//! gauges back, so a `+`/`-` delta after a restart or a deploy applies to the value the gauge
//! had — as if the aggregator had never stopped. (etsy statsd starts every gauge from nothing.)
//!
//! One key per gauge, `<aggregator id>.<hash of the series>`, holding a [`GaugeCheckpoint`]
//! (name, tags, value, window). Per-gauge keys keep a flush's writes proportional to the gauges
//! that changed in it, not to every gauge ever seen, and idle gauges need no clean-up: the
//! bucket's `max_age` is the aggregator's `idle_series_expiry`, the horizon after which the
//! aggregator forgets an idle gauge in memory too. Each aggregator reads back only its own keys,
//! because gauges are per aggregator in memory as well.
//!
//! Checkpoints are best effort by design: a failed write is counted and logged, never retried
//! at the expense of publishing, and start-up waits for the bucket at most
//! `aggregator.gauge_recovery_timeout` before receiving with no gauges, as before this existed.

use crate::stats::{Counter, SelfMetrics};
use abacus_proto::settings::NatsSettings;
use abacus_proto::v1::{series_aggregate::Aggregate, FlushBatch, GaugeCheckpoint};
use async_nats::jetstream::{self, consumer, kv};
use futures::{StreamExt, TryStreamExt};
use prost::Message as _;
use siphasher::sip128::{Hasher128, SipHasher13};
use std::hash::Hasher;
use std::time::Duration;
use tokio::sync::OnceCell;
use tracing::{debug, warn};

/// How many checkpoint writes are in flight at once: enough to hide the round trip, few enough
/// not to crowd out batch publishes on the shared connection.
const WRITES_IN_FLIGHT: usize = 64;

/// A checkpoint write that takes longer than this is abandoned (and counted).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// One aggregator's gauge checkpoints in the shared bucket.
pub(crate) struct GaugeCheckpoints {
    context: jetstream::Context,
    bucket: String,
    /// The bucket's max age: an entry lives as long as an idle gauge is remembered.
    idle_series_expiry: Duration,
    /// Copies of the bucket JetStream keeps, as for the stream (`nats.replicas`).
    replicas: usize,
    /// `<escaped aggregator id>.`: this aggregator's part of the key space.
    key_prefix: String,
    /// Self-metrics are sent fresh from counters each flush, never as deltas on a base.
    self_metrics_prefix: String,
    /// Opened on first use, so an aggregator that starts while NATS is down checkpoints once
    /// NATS is back.
    store: OnceCell<kv::Store>,
    /// The newest window written so far. Batches of late (`|T`) windows follow it and hold
    /// older values, which must not overwrite the current one.
    newest_window_start_ms: std::sync::atomic::AtomicI64,
}

/// A gauge read back from its checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RecoveredGauge {
    pub name: String,
    pub tags: Vec<abacus_proto::v1::Tag>,
    pub value: f64,
    pub window_start_unix_ms: i64,
}

impl GaugeCheckpoints {
    pub(crate) fn new(
        client: async_nats::Client,
        nats: &NatsSettings,
        aggregator_id: &str,
        idle_series_expiry: Duration,
        self_metrics_prefix: &str,
    ) -> Self {
        Self {
            context: jetstream::new(client),
            bucket: abacus_proto::stream::gauge_bucket(nats),
            idle_series_expiry,
            replicas: nats.replicas,
            key_prefix: format!("{}.", escape_key_token(aggregator_id)),
            self_metrics_prefix: format!("{self_metrics_prefix}."),
            store: OnceCell::new(),
            newest_window_start_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
        }
    }

    async fn store(&self) -> anyhow::Result<&kv::Store> {
        use anyhow::Context as _;
        self.store
            .get_or_try_init(|| async {
                // The bucket's stream is created here rather than with `create_key_value`, which
                // first asks for account information in a shape older servers (2.9, Debian's)
                // do not answer in. This is the configuration `nats kv add` gives a bucket.
                self.context
                    .create_or_update_stream(jetstream::stream::Config {
                        name: format!("KV_{}", self.bucket),
                        description: Some("abacus aggregator gauge checkpoints".into()),
                        subjects: vec![format!("$KV.{}.>", self.bucket)],
                        max_messages_per_subject: 1,
                        max_age: self.idle_series_expiry,
                        duplicate_window: self.idle_series_expiry.min(Duration::from_secs(120)),
                        storage: jetstream::stream::StorageType::File,
                        discard: jetstream::stream::DiscardPolicy::New,
                        allow_rollup: true,
                        deny_delete: true,
                        allow_direct: true,
                        num_replicas: self.replicas,
                        ..Default::default()
                    })
                    .await
                    .with_context(|| format!("cannot create key-value bucket {}", self.bucket))?;
                self.context
                    .get_key_value(&self.bucket)
                    .await
                    .with_context(|| format!("cannot open key-value bucket {}", self.bucket))
            })
            .await
    }

    /// Reads back every gauge this aggregator checkpointed (and that has not aged out).
    pub(crate) async fn recover(&self) -> anyhow::Result<Vec<RecoveredGauge>> {
        let store = self.store().await?;
        // The last value of every key under our prefix, read in one pass by an ordered
        // consumer; its pending count at creation says how many there are, so an empty key
        // space ends the read at once instead of waiting for entries that never come.
        let consumer = store
            .stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: format!("{}{}>", store.prefix, self.key_prefix),
                deliver_policy: consumer::DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await?;
        let expected = consumer.cached_info().num_pending;
        let mut messages = consumer.messages().await?;
        let mut recovered = Vec::with_capacity(expected as usize);
        for _ in 0..expected {
            let Some(message) = messages.try_next().await? else {
                break;
            };
            let deleted = message
                .headers
                .as_ref()
                .and_then(|headers| headers.get("KV-Operation"))
                .is_some_and(|operation| operation.as_str() != "PUT");
            if deleted {
                continue;
            }
            match GaugeCheckpoint::decode(message.payload.clone()) {
                Ok(checkpoint) => recovered.push(RecoveredGauge {
                    name: checkpoint.name,
                    tags: checkpoint.tags,
                    value: checkpoint.value,
                    window_start_unix_ms: checkpoint.window_start_unix_ms,
                }),
                Err(error) => {
                    warn!(%error, subject = %message.subject, "gauge checkpoint unreadable, skipped")
                }
            }
        }
        Ok(recovered)
    }

    /// Writes the gauges of a batch that JetStream has acknowledged. Failures are counted in
    /// `gauge_checkpoint_errors` and logged; they never hold up the next batch for long.
    pub(crate) async fn save(&self, batch: &FlushBatch, metrics: &SelfMetrics) {
        use std::sync::atomic::Ordering;
        let window_start_ms = batch.interval_start_unix_ms;
        if window_start_ms < self.newest_window_start_ms.load(Ordering::Relaxed) {
            return;
        }
        self.newest_window_start_ms
            .store(window_start_ms, Ordering::Relaxed);
        let checkpoints: Vec<(String, bytes::Bytes)> = batch
            .series
            .iter()
            .filter(|series| !series.name.starts_with(&self.self_metrics_prefix))
            .filter_map(|series| match series.aggregate {
                Some(Aggregate::Gauge(gauge)) => Some((
                    checkpoint_key(&self.key_prefix, &series.name, &series.tags),
                    GaugeCheckpoint {
                        name: series.name.clone(),
                        tags: series.tags.clone(),
                        value: gauge.value,
                        window_start_unix_ms: window_start_ms,
                    }
                    .encode_to_vec()
                    .into(),
                )),
                _ => None,
            })
            .collect();
        if checkpoints.is_empty() {
            return;
        }
        let store = match self.store().await {
            Ok(store) => store,
            Err(error) => {
                metrics.add(Counter::GaugeCheckpointErrors, checkpoints.len() as u64);
                warn!(error = %format!("{error:#}"), "gauge checkpoints not written");
                return;
            }
        };
        let written = checkpoints.len();
        let failures = futures::stream::iter(checkpoints)
            .map(|(key, value)| async move {
                tokio::time::timeout(WRITE_TIMEOUT, store.put(&key, value)).await
            })
            .buffer_unordered(WRITES_IN_FLIGHT)
            .filter(|outcome| std::future::ready(!matches!(outcome, Ok(Ok(_)))))
            .count()
            .await;
        if failures > 0 {
            metrics.add(Counter::GaugeCheckpointErrors, failures as u64);
            warn!(
                failures,
                written, window_start_ms, "some gauge checkpoints were not written"
            );
            return;
        }
        debug!(written, window_start_ms, "gauges checkpointed");
    }
}

/// The key of one gauge: the aggregator's prefix, then a 128-bit hash of the series. The hash
/// is SipHash-1-3 with a fixed key, stable across processes and versions, because a restarted
/// aggregator must find the keys its predecessor wrote.
fn checkpoint_key(key_prefix: &str, name: &str, tags: &[abacus_proto::v1::Tag]) -> String {
    let mut hasher = SipHasher13::new();
    hasher.write(name.as_bytes());
    for tag in tags {
        // Separators that cannot occur in sanitized names keep `a` + `bc` from hashing like
        // `ab` + `c`.
        hasher.write_u8(0);
        hasher.write(tag.key.as_bytes());
        hasher.write_u8(1);
        hasher.write(tag.value.as_bytes());
    }
    format!("{key_prefix}{:032x}", hasher.finish128().as_u128())
}

/// Makes an aggregator id one key token: bytes outside `[A-Za-z0-9_-]` become `=XX`. Injective,
/// so two ids never share checkpoints, and readable for the usual host names.
fn escape_key_token(id: &str) -> String {
    let mut escaped = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            escaped.push(byte as char);
        } else {
            escaped.push_str(&format!("={byte:02X}"));
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape_key_token;
    use abacus_proto::v1::Tag;

    fn key(aggregator_id: &str, name: &str, tags: &[(&str, &str)]) -> String {
        let tags: Vec<Tag> = tags
            .iter()
            .map(|(key, value)| Tag {
                key: (*key).into(),
                value: (*value).into(),
            })
            .collect();
        let key_prefix = format!("{}.", escape_key_token(aggregator_id));
        super::checkpoint_key(&key_prefix, name, &tags)
    }

    /// A restarted aggregator finds its gauges only if the keys are computed exactly as its
    /// predecessor computed them: this pins the hash (a change here orphans every checkpoint).
    #[test]
    fn gauge_keys_are_stable_and_tell_tags_apart() {
        assert_eq!(
            key("web.1", "room.temp", &[("floor", "2")]),
            "web=2E1.862ebc462ca8862e19e30951d3409519"
        );
        assert_ne!(
            key("web.1", "room.temp", &[("floor", "2")]),
            key("web.1", "room.temp", &[("floo", "r2")])
        );
        assert_ne!(key("web.1", "ab", &[]), key("web.1", "a", &[("b", "")]));
    }

    #[test]
    fn aggregator_ids_become_distinct_valid_key_tokens() {
        let cases = [
            ("web-1", "web-1"),
            ("web_1", "web_1"),
            ("web.1", "web=2E1"),
            ("web=2E1", "web=3D2E1"),
            ("a b*>", "a=20b=2A=3E"),
            ("é", "=C3=A9"),
        ];
        for (id, token) in cases {
            assert_eq!(escape_key_token(id), token, "{id}");
        }
    }
}
