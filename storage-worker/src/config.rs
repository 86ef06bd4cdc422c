//! The storage worker's settings: the shared `nats`, `database` and `log` sections plus its own
//! `storage_worker` section. See `abacus_proto::settings` for how they are layered.

use abacus_proto::settings::{
    invalid, DatabaseSettings, LogSettings, NatsSettings, SettingsError, Validate,
};
use abacus_proto::storage_schema::{
    AggregationRuleSetting, RetentionRuleSetting, SchemaSettings, StorageSchema,
};
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    pub nats: NatsSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub storage_worker: StorageWorkerSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageWorkerSettings {
    /// Name of the durable JetStream consumer. Workers with the same name share the work.
    pub consumer: String,
    /// Most batches written in one transaction (and asked for in one pull). More batches per
    /// transaction means fewer commits and round-trips per sample; acknowledgements wait for
    /// the commit.
    pub max_batches_per_transaction: usize,
    /// How long the first batch of a transaction waits for more to join it before it is
    /// written anyway: bounds the latency gathering adds when batches trickle in.
    #[serde(with = "humantime_serde")]
    pub transaction_linger: Duration,
    /// How long JetStream waits for an acknowledgement before redelivering a message.
    #[serde(with = "humantime_serde")]
    pub ack_wait: Duration,
    /// Longest wait between two attempts to store a batch while PostgreSQL is failing.
    #[serde(with = "humantime_serde")]
    pub max_retry_delay: Duration,
    /// How many times one batch may fail to be stored while PostgreSQL answers (so the
    /// failure is the batch's, not an outage's) before it is dead-lettered instead of retried.
    pub max_failed_deliveries: u32,
    /// How long the id of a stored batch is remembered; must exceed `nats.max_age`, the
    /// longest a batch can stay in the stream and be redelivered.
    #[serde(with = "humantime_serde")]
    pub processed_batch_retention: Duration,
    /// How often the upkeep (forgetting old batch ids, creating partitions ahead of time,
    /// dropping partitions past retention) runs.
    #[serde(with = "humantime_serde")]
    pub maintenance_interval: Duration,
    /// Resolutions and how long each is kept, Graphite-style: the first entry is the raw data,
    /// the others rollups (see `retentions`).
    pub retentions: String,
    /// Retentions per metric name, like carbon's storage-schemas.conf: the first rule whose
    /// pattern matches a series' name decides its retentions; `retentions` is the default.
    pub retention_rules: Vec<RetentionRuleSetting>,
    /// How timestamped points are rolled up per metric name, like carbon's
    /// storage-aggregation.conf: first match wins, then the defaults (`abacus_proto::storage_schema`).
    pub aggregation_rules: Vec<AggregationRuleSetting>,
    /// How long after a rollup bucket ends before it is rolled up, so that batches on time
    /// are in; later ones still update the rollup, at the cost of a recomputation.
    #[serde(with = "humantime_serde")]
    pub rollup_delay: Duration,
    /// Pause of the rollup loop once it has caught up.
    #[serde(with = "humantime_serde")]
    pub rollup_interval: Duration,
    /// Where `/healthz`, `/readyz` and `/metrics` are served.
    pub admin_address: SocketAddr,
    /// Whether the worker publishes its self-metrics into the stream, as series under
    /// `self_metrics_prefix`, so they are stored and graphable like any metric (the web app's
    /// Status page reads them).
    pub publish_self_metrics: bool,
    pub self_metrics_prefix: String,
    /// How often the self-metrics are published.
    #[serde(with = "humantime_serde")]
    pub self_metrics_interval: Duration,
    /// The producer id of the self-metrics batches; part of every batch id, so unique per
    /// worker process. Defaults to `storage-worker-<host name>`.
    pub producer_id: String,
}

impl Default for StorageWorkerSettings {
    fn default() -> Self {
        Self {
            consumer: "abacus-storage-worker".into(),
            max_batches_per_transaction: 64,
            transaction_linger: Duration::from_millis(50),
            ack_wait: Duration::from_secs(30),
            max_retry_delay: Duration::from_secs(5),
            max_failed_deliveries: 10,
            processed_batch_retention: Duration::from_secs(8 * 24 * 3600),
            maintenance_interval: Duration::from_secs(600),
            retentions: abacus_proto::storage_schema::DEFAULT_RETENTIONS.into(),
            retention_rules: Vec::new(),
            aggregation_rules: Vec::new(),
            rollup_delay: Duration::from_secs(30),
            rollup_interval: Duration::from_secs(10),
            admin_address: SocketAddr::from(([0, 0, 0, 0], 8127)),
            publish_self_metrics: true,
            self_metrics_prefix: "abacus.storage_worker".into(),
            self_metrics_interval: Duration::from_secs(10),
            producer_id: format!(
                "storage-worker-{}",
                gethostname::gethostname().to_string_lossy()
            ),
        }
    }
}

impl StorageWorkerSettings {
    /// The retention and aggregation settings, as the API reads them too.
    pub fn schema_settings(&self) -> SchemaSettings {
        SchemaSettings {
            retentions: self.retentions.clone(),
            retention_rules: self.retention_rules.clone(),
            aggregation_rules: self.aggregation_rules.clone(),
        }
    }

    /// The compiled retention and aggregation rules; [`Validate`] has checked they compile.
    pub fn schema(&self) -> Result<StorageSchema, SettingsError> {
        StorageSchema::from_settings(&self.schema_settings())
            .map_err(|error| invalid(error.key, error.reason))
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), SettingsError> {
        self.nats.validate()?;
        self.database.validate()?;
        let settings = &self.storage_worker;
        let consumer_name_is_valid = !settings.consumer.is_empty()
            && settings
                .consumer
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || "-_".contains(character));
        if !consumer_name_is_valid {
            return Err(invalid(
                "storage_worker.consumer",
                "must be letters, digits, - and _ only",
            ));
        }
        if settings.publish_self_metrics {
            let prefix_is_a_name = !settings.self_metrics_prefix.is_empty()
                && abacus_proto::limits::check_name(
                    "self_metrics_prefix",
                    &settings.self_metrics_prefix,
                )
                .is_ok()
                && settings
                    .self_metrics_prefix
                    .split('.')
                    .all(|segment| !segment.is_empty());
            if !prefix_is_a_name {
                return Err(invalid(
                    "storage_worker.self_metrics_prefix",
                    "must be a dotted metric name such as abacus.storage_worker",
                ));
            }
            if settings.self_metrics_interval < Duration::from_secs(1) {
                return Err(invalid(
                    "storage_worker.self_metrics_interval",
                    "must be at least 1s",
                ));
            }
            if settings.producer_id.trim().is_empty() {
                return Err(invalid("storage_worker.producer_id", "must not be empty"));
            }
        }
        if settings.max_batches_per_transaction == 0 {
            return Err(invalid(
                "storage_worker.max_batches_per_transaction",
                "must be at least 1",
            ));
        }
        if settings.transaction_linger >= settings.ack_wait / 2 {
            return Err(invalid(
                "storage_worker.transaction_linger",
                "must be shorter than half of storage_worker.ack_wait, or gathered batches are redelivered before they are written",
            ));
        }
        if settings.ack_wait < Duration::from_secs(1) {
            return Err(invalid("storage_worker.ack_wait", "must be at least 1s"));
        }
        if self.storage_worker.max_failed_deliveries == 0 {
            return Err(invalid(
                "storage_worker.max_failed_deliveries",
                "must be at least 1",
            ));
        }
        if settings.processed_batch_retention <= self.nats.max_age {
            return Err(invalid(
                "storage_worker.processed_batch_retention",
                format!(
                    "must be longer than nats.max_age ({:?}), or a redelivered batch could be stored twice",
                    self.nats.max_age
                ),
            ));
        }
        if settings.maintenance_interval < Duration::from_secs(1) {
            return Err(invalid(
                "storage_worker.maintenance_interval",
                "must be at least 1s",
            ));
        }
        settings.schema()?;
        if settings.rollup_interval.is_zero() {
            return Err(invalid(
                "storage_worker.rollup_interval",
                "must be longer than 0s",
            ));
        }
        if settings.max_retry_delay.is_zero() {
            return Err(invalid(
                "storage_worker.max_retry_delay",
                "must be longer than 0s",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_ids_must_outlive_the_stream() {
        let mut config = Config::default();
        config.validate().unwrap();
        config.storage_worker.processed_batch_retention = config.nats.max_age;
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("storage_worker.processed_batch_retention"),
            "{error}"
        );
    }

    #[test]
    fn bad_retentions_name_their_key() {
        let mut config = Config::default();
        config.storage_worker.retentions = "1m:7d,10s:90d".into();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("storage_worker.retentions"), "{error}");
    }

    #[test]
    fn a_bad_rule_is_refused_naming_it() {
        let mut config = Config::default();
        config.storage_worker.retention_rules = vec![RetentionRuleSetting {
            pattern: Some("^ok(".into()),
            glob: None,
            retentions: "1m:7d".into(),
        }];
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.starts_with("`storage_worker.retention_rules` rule 1 (pattern \"^ok(\")"),
            "{error}"
        );
    }
}
