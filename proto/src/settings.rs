//! Layered configuration, the same in every service.
//!
//! Values come from, in increasing priority: the defaults in code (each settings struct's
//! `Default`), an optional TOML file (`--config abacus.toml`), then environment variables named
//! `ABACUS_<SECTION>__<KEY>` (for example `ABACUS_AGGREGATOR__FLUSH_INTERVAL=1s`). The
//! conventional `DATABASE_URL`, `NATS_URL` and `RUST_LOG` are honoured too, above everything else.
//!
//! This module is the only place that reads the process environment. Each service then
//! validates what it loaded before starting, and a bad value stops it with one line naming the
//! key and exit code 2.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The exit code of a service that was given a configuration it cannot run with.
pub const EXIT_CODE_BAD_CONFIG: i32 = 2;

/// The command line every service binary accepts.
#[derive(Debug, clap::Parser)]
pub struct CommandLine {
    /// Path of a TOML configuration file; environment variables override what it says.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Load(#[from] config::ConfigError),
    #[error("`{key}` {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// A service's settings check themselves before the service starts.
pub trait Validate {
    fn validate(&self) -> Result<(), SettingsError>;
}

/// Loads `T` from the layers described in the module documentation and validates it.
pub fn load<T: DeserializeOwned + Validate>(file: Option<&Path>) -> Result<T, SettingsError> {
    let mut builder = config::Config::builder();
    if let Some(file) = file {
        builder = builder.add_source(config::File::from(file).required(true));
    }
    let settings: T = builder
        .add_source(
            config::Environment::with_prefix("ABACUS")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true),
        )
        .set_override_option("database.url", std::env::var("DATABASE_URL").ok())?
        .set_override_option("nats.url", std::env::var("NATS_URL").ok())?
        .set_override_option("log.filter", std::env::var("RUST_LOG").ok())?
        .build()?
        .try_deserialize()?;
    settings.validate()?;
    Ok(settings)
}

/// Loads settings for a service binary, or prints one line naming the problem and exits with
/// [`EXIT_CODE_BAD_CONFIG`].
pub fn load_or_exit<T: DeserializeOwned + Validate>(service: &str, file: Option<&Path>) -> T {
    match load(file) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("{service}: invalid configuration: {error}");
            std::process::exit(EXIT_CODE_BAD_CONFIG);
        }
    }
}

/// Where NATS is and how the stream between aggregator and storage worker is laid out.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsSettings {
    /// Server address, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// Name of the JetStream stream that carries flush batches.
    pub stream: String,
    /// First token of every subject Abacus publishes on; batches go to `<prefix>.flush`.
    pub subject_prefix: String,
    /// How long JetStream remembers message ids to drop duplicate publishes.
    #[serde(with = "humantime_serde")]
    pub duplicate_window: Duration,
    /// How long the stream keeps messages, acknowledged or not.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// How many JetStream servers keep a copy of the stream and of the gauge checkpoint
    /// bucket: 1 on a single server, 3 on a three-node cluster so that one node can fail.
    pub replicas: usize,
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            stream: "ABACUS".into(),
            subject_prefix: "abacus".into(),
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(7 * 24 * 3600),
            replicas: 1,
        }
    }
}

impl Validate for NatsSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        if self.url.trim().is_empty() {
            return Err(invalid("nats.url", "must not be empty"));
        }
        if !is_valid_stream_name(&self.stream) {
            return Err(invalid(
                "nats.stream",
                format!(
                    "{:?} is not a valid stream name (letters, digits, - and _ only)",
                    self.stream
                ),
            ));
        }
        if !is_valid_subject_prefix(&self.subject_prefix) {
            return Err(invalid(
                "nats.subject_prefix",
                format!(
                    "{:?} is not a valid subject prefix (dot-separated tokens without spaces, * or >)",
                    self.subject_prefix
                ),
            ));
        }
        if self.duplicate_window.is_zero() {
            return Err(invalid("nats.duplicate_window", "must be longer than 0s"));
        }
        if self.max_age < self.duplicate_window {
            return Err(invalid(
                "nats.max_age",
                "must be at least nats.duplicate_window",
            ));
        }
        // JetStream's own bound on a stream's replicas.
        if !(1..=5).contains(&self.replicas) {
            return Err(invalid("nats.replicas", "must be 1 to 5"));
        }
        Ok(())
    }
}

/// Where PostgreSQL is.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Connection URL, e.g. `postgres://postgres@127.0.0.1:5432/abacus`.
    pub url: String,
    /// Size of the connection pool.
    pub max_connections: u32,
    /// How long to wait for a connection from the pool.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "postgres://postgres@127.0.0.1:5432/abacus".into(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl Validate for DatabaseSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        if !(self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")) {
            return Err(invalid(
                "database.url",
                "must be a postgres:// or postgresql:// URL",
            ));
        }
        if self.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        Ok(())
    }
}

/// How a service logs.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter directive such as `info` or `abacus_aggregator=debug,info`.
    pub filter: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            filter: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Builds the error for a value that parsed but cannot be used.
pub fn invalid(key: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        reason: reason.into(),
    }
}

fn is_valid_stream_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "-_".contains(character))
}

fn is_valid_subject_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.split('.').all(|token| {
            !token.is_empty()
                && token
                    .chars()
                    .all(|character| !character.is_whitespace() && !"*>".contains(character))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_and_subject_prefixes_are_checked() {
        assert!(is_valid_stream_name("ABACUS_test-1"));
        assert!(!is_valid_stream_name("has.dot"));
        assert!(!is_valid_stream_name(""));
        assert!(is_valid_subject_prefix("abacus.test_1"));
        assert!(!is_valid_subject_prefix("abacus..x"));
        assert!(!is_valid_subject_prefix("abacus.*"));
        assert!(!is_valid_subject_prefix("a b"));
    }

    #[test]
    fn nats_replicas_are_one_to_five() {
        for (replicas, valid) in [(0, false), (1, true), (3, true), (5, true), (6, false)] {
            let settings = NatsSettings {
                replicas,
                ..NatsSettings::default()
            };
            assert_eq!(settings.validate().is_ok(), valid, "replicas = {replicas}");
        }
    }

    #[test]
    fn default_settings_are_valid() {
        NatsSettings::default().validate().unwrap();
        DatabaseSettings::default().validate().unwrap();
    }
}
