//! The JetStream stream between the aggregator and the storage worker: its subjects, its
//! configuration, and connecting to it. Both sides create the stream if it is missing, with the
//! same configuration, so either can start first.

use crate::settings::NatsSettings;
use async_nats::jetstream;

/// The subject flush batches are published on.
pub fn flush_subject(settings: &NatsSettings) -> String {
    format!("{}.flush", settings.subject_prefix)
}

/// The stream configuration both sides agree on.
pub fn stream_config(settings: &NatsSettings) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: settings.stream.clone(),
        subjects: vec![flush_subject(settings)],
        duplicate_window: settings.duplicate_window,
        max_age: settings.max_age,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    }
}

/// Connects to NATS. The client reconnects by itself for as long as the process lives, and the
/// first connection is retried too, so a service may start before NATS does.
pub async fn connect(
    settings: &NatsSettings,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(settings.url.as_str())
        .await
}

/// Returns the stream, creating it if it does not exist yet.
pub async fn ensure_stream(
    context: &jetstream::Context,
    settings: &NatsSettings,
) -> anyhow::Result<jetstream::stream::Stream> {
    use anyhow::Context as _;
    context
        .get_or_create_stream(stream_config(settings))
        .await
        .with_context(|| format!("cannot get or create stream {}", settings.stream))
}
