//! The JetStream stream the storage worker consumes: its subjects, its configuration, and
//! connecting to it. Two services write to it: the aggregator (a flush batch per window) and
//! the API (what its HTTP ingest and events endpoints are given, as flush batches too). Every
//! writer and the storage worker create the stream if it is missing (or bring an older one up
//! to date), with the same configuration, so any of them can start first.
//!
//! Subjects: `<prefix>.flush` carries flush batches; `<prefix>.dead-letter` keeps the messages
//! the storage worker could never store, with the reason in the [`DEAD_LETTER_REASON_HEADER`]
//! header, so they can be inspected and replayed instead of blocking the stream. Beside the
//! stream, the aggregators keep their gauges in the key-value bucket [`gauge_bucket`].

use crate::settings::NatsSettings;
use async_nats::jetstream;

/// The subject flush batches are published on.
pub fn flush_subject(settings: &NatsSettings) -> String {
    format!("{}.flush", settings.subject_prefix)
}

/// The subject of messages the storage worker gave up on.
pub fn dead_letter_subject(settings: &NatsSettings) -> String {
    format!("{}.dead-letter", settings.subject_prefix)
}

/// The JetStream key-value bucket where aggregators checkpoint their gauges (see the
/// aggregator's `gauge_checkpoint` module). Named after the stream, so that every deployment
/// (and every test) that has its own stream has its own bucket.
pub fn gauge_bucket(settings: &NatsSettings) -> String {
    format!("{}_GAUGES", settings.stream)
}

/// The header of a dead-lettered message that says why it could not be stored.
pub const DEAD_LETTER_REASON_HEADER: &str = "Abacus-Dead-Letter-Reason";

/// The stream configuration every writer and the storage worker agree on.
pub fn stream_config(settings: &NatsSettings) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: settings.stream.clone(),
        subjects: vec![flush_subject(settings), dead_letter_subject(settings)],
        duplicate_window: settings.duplicate_window,
        max_age: settings.max_age,
        storage: jetstream::stream::StorageType::File,
        num_replicas: settings.replicas,
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

/// Returns the stream, creating it if it does not exist yet and updating its configuration if
/// an older version of Abacus created it differently.
pub async fn ensure_stream(
    context: &jetstream::Context,
    settings: &NatsSettings,
) -> anyhow::Result<jetstream::stream::Stream> {
    use anyhow::Context as _;
    context
        .create_or_update_stream(stream_config(settings))
        .await
        .with_context(|| format!("cannot create or update stream {}", settings.stream))?;
    context
        .get_stream(&settings.stream)
        .await
        .with_context(|| format!("cannot get stream {}", settings.stream))
}
