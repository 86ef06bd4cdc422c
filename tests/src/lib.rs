//! The harness of the black-box integration tests: the three real services, started in-process
//! through their `run` functions, against the real PostgreSQL and NATS.
//!
//! Each [`Pipeline`] gets its own database (created fresh, dropped at the end) and its own
//! JetStream stream and subjects, so tests run in parallel without seeing each other's data.
//! Where the servers are comes from `DATABASE_URL` and `NATS_URL` (set by `make test`), with the
//! local default ports as fallback.

pub mod servers;

use abacus_proto::settings::{DatabaseSettings, NatsSettings};
use anyhow::{bail, Context};
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a test waits for a value to appear before it fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn database_server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A database created for one test.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    server_url: String,
}

impl TestDatabase {
    pub async fn create() -> anyhow::Result<Self> {
        let server_url = database_server_url();
        let name = format!("abacus_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server_url)
            .await
            .with_context(|| format!("cannot connect to {server_url}"))?;
        sqlx::query(&format!("create database {name}"))
            .execute(&mut admin)
            .await?;
        let url = replace_database_name(&server_url, &name);
        Ok(Self {
            name,
            url,
            server_url,
        })
    }

    pub async fn drop_database(&self) -> anyhow::Result<()> {
        let mut admin = PgConnection::connect(&self.server_url).await?;
        sqlx::query(&format!(
            "drop database if exists {} with (force)",
            self.name
        ))
        .execute(&mut admin)
        .await?;
        Ok(())
    }
}

/// Swaps the database name in a PostgreSQL URL, keeping user, host and query parameters.
fn replace_database_name(url: &str, database: &str) -> String {
    let (without_query, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = without_query.find("://").map_or(0, |index| index + 3);
    let base = match without_query[scheme_end..].find('/') {
        Some(slash) => &without_query[..scheme_end + slash],
        None => without_query,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// NATS settings with a stream and subjects no other test uses.
pub fn unique_nats_settings() -> NatsSettings {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    NatsSettings {
        url: nats_url(),
        stream: format!("ABACUS_TEST_{unique}"),
        subject_prefix: format!("abacus_test_{unique}"),
        max_age: Duration::from_secs(3600),
        ..NatsSettings::default()
    }
}

/// Deletes a test's stream and, when an aggregator created it, its gauge checkpoint bucket.
pub async fn delete_test_stream(nats: &NatsSettings) -> anyhow::Result<()> {
    let context = async_nats::jetstream::new(abacus_proto::stream::connect(nats).await?);
    context
        .delete_stream(&nats.stream)
        .await
        .context("cannot delete the test stream")?;
    let bucket = abacus_proto::stream::gauge_bucket(nats);
    if context.get_key_value(&bucket).await.is_ok() {
        context
            .delete_key_value(&bucket)
            .await
            .context("cannot delete the test gauge bucket")?;
    }
    Ok(())
}

/// How many batches the storage worker has recorded as stored; 0 while the server or the
/// worker's schema is not there yet (a fault test may be restarting it).
pub async fn stored_batches(database_url: &str) -> i64 {
    let Ok(mut connection) = PgConnection::connect(database_url).await else {
        return 0;
    };
    sqlx::query_scalar("select count(*) from processed_batches")
        .fetch_one(&mut connection)
        .await
        .unwrap_or(0)
}

/// Polls until the storage worker has stored `at_least` batches, for at most `patience`.
pub async fn wait_until_batches_stored(
    database_url: &str,
    at_least: i64,
    patience: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + patience;
    while stored_batches(database_url).await < at_least {
        if Instant::now() >= deadline {
            bail!("the worker did not store {at_least} batches in time");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// The delivery check of the storage fault tests: waits (at most `patience`) until `batches`
/// batches are stored and the durable `consumer` has nothing pending or unacknowledged, then
/// asserts that exactly `batches` were recorded and that the counter `counter` adds up to
/// exactly `expected_total`: nothing lost, nothing stored twice.
pub async fn assert_counter_stored_exactly_once(
    nats: &NatsSettings,
    consumer: &str,
    database_url: &str,
    counter: &str,
    batches: i64,
    expected_total: f64,
    patience: Duration,
) -> anyhow::Result<()> {
    wait_until_batches_stored(database_url, batches, patience).await?;
    wait_until_consumer_is_idle(nats, consumer, 0).await?;
    let mut connection = PgConnection::connect(database_url).await?;
    let total: f64 = sqlx::query_scalar(
        "select coalesce(sum(c.count), 0) from counter_samples c
         join series s on s.id = c.series_id where s.name = $1",
    )
    .bind(counter)
    .fetch_one(&mut connection)
    .await?;
    let recorded: i64 = sqlx::query_scalar("select count(*) from processed_batches")
        .fetch_one(&mut connection)
        .await?;
    assert_eq!(recorded, batches, "batches recorded as stored");
    assert_eq!(total, expected_total, "stored total");
    Ok(())
}

/// Waits until the storage worker's durable `consumer` has been delivered at least
/// `delivered_at_least` messages and has none pending or unacknowledged. Errors (a NATS server
/// a fault test is restarting, a consumer not created yet) only mean "not yet", until
/// [`PATIENCE`] runs out.
pub async fn wait_until_consumer_is_idle(
    nats: &NatsSettings,
    consumer: &str,
    delivered_at_least: u64,
) -> anyhow::Result<()> {
    let context = async_nats::jetstream::new(abacus_proto::stream::connect(nats).await?);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let idle = async {
            let stream = context.get_stream(&nats.stream).await?;
            let mut consumer = stream
                .get_consumer::<async_nats::jetstream::consumer::pull::Config>(consumer)
                .await
                .map_err(|error| anyhow::anyhow!("cannot get the consumer: {error}"))?;
            let info = consumer.info().await?;
            anyhow::Ok(
                info.num_pending == 0
                    && info.num_ack_pending == 0
                    && info.delivered.consumer_sequence >= delivered_at_least,
            )
        };
        if idle.await.unwrap_or(false) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("consumer {consumer} did not take {delivered_at_least} messages and become idle in time");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A service running on its own task, stopped by resolving its shutdown future.
pub struct RunningService {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningService {
    pub fn spawn<F, Fut>(start: F) -> Self
    where
        F: FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        Self {
            stop: Some(stop),
            task: tokio::spawn(start(shutdown)),
        }
    }

    /// Resolves the shutdown future and waits for the service to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .context("service did not stop within 30s")??
    }
}

/// Everything a pipeline test needs to start the services its own way.
pub struct PipelineSettings {
    pub database: TestDatabase,
    pub nats: NatsSettings,
    pub flush_interval: Duration,
    /// Changes a test makes to the storage worker's configuration (rollup timing, say).
    pub adjust_storage_worker: fn(&mut abacus_storage_worker::config::Config),
    /// Changes a test makes to the API's configuration, after the harness's own (see
    /// [`PipelineSettings::api_config`]).
    pub adjust_api: fn(&mut abacus_api::config::Config),
}

impl PipelineSettings {
    pub async fn new(flush_interval: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            database: TestDatabase::create().await?,
            nats: unique_nats_settings(),
            flush_interval,
            adjust_storage_worker: |_| {},
            adjust_api: |_| {},
        })
    }

    pub fn database_settings(&self) -> DatabaseSettings {
        DatabaseSettings {
            url: self.database.url.clone(),
            max_connections: 4,
            ..DatabaseSettings::default()
        }
    }

    pub fn aggregator_config(&self) -> abacus_aggregator::config::Config {
        let mut config = abacus_aggregator::config::Config {
            nats: self.nats.clone(),
            ..Default::default()
        };
        config.aggregator.id = format!("test-{}", uuid::Uuid::new_v4().simple());
        config.aggregator.flush_interval = self.flush_interval;
        // Pipeline tests count the series and batches that reach the store exactly; the
        // self-metrics have their own test (tests/tests/aggregator_self_metrics.rs).
        config.aggregator.publish_self_metrics = false;
        config
    }

    pub fn storage_worker_config(&self) -> abacus_storage_worker::config::Config {
        let mut config = abacus_storage_worker::config::Config {
            nats: self.nats.clone(),
            database: self.database_settings(),
            ..Default::default()
        };
        // As for the aggregator: tests count what reaches the store exactly. The worker's
        // self-metrics are tested in tests/tests/storage_self_metrics.rs and shown on the
        // web app's Status page (tests/tests/web_app.rs).
        config.storage_worker.publish_self_metrics = false;
        (self.adjust_storage_worker)(&mut config);
        config
    }

    /// The API's settings, with the worker's retention and aggregation rules (as one
    /// configuration file gives both services the same), except that writes are open
    /// (`auth.writes = "open"`), as `make run` has them: tests that are not about auth post
    /// points and events without a credential. `tests/tests/auth.rs` puts the default policy
    /// back through `adjust_api` and holds the API to it.
    pub fn api_config(&self) -> abacus_api::config::Config {
        let mut config = abacus_api::config::Config {
            nats: self.nats.clone(),
            database: self.database_settings(),
            storage_worker: self
                .storage_worker_config()
                .storage_worker
                .schema_settings(),
            ..Default::default()
        };
        // As for the other services: tests count stored series exactly.
        config.api.publish_self_metrics = false;
        config.auth.writes = abacus_api::config::AccessPolicy::Open;
        (self.adjust_api)(&mut config);
        config
    }
}

/// The three services, each on an ephemeral port.
pub struct Pipeline {
    pub settings: PipelineSettings,
    pub statsd_address: SocketAddr,
    pub api_base_url: String,
    pub aggregator: Option<RunningService>,
    pub storage_worker: Option<RunningService>,
    pub api: Option<RunningService>,
    http: reqwest::Client,
}

impl Pipeline {
    /// Starts all three services with the aggregator stopped by its own shutdown future.
    pub async fn start(flush_interval: Duration) -> anyhow::Result<Self> {
        Self::start_with_settings(PipelineSettings::new(flush_interval).await?).await
    }

    /// Starts all three services with settings the caller adjusted.
    pub async fn start_with_settings(settings: PipelineSettings) -> anyhow::Result<Self> {
        let aggregator_config = settings.aggregator_config();
        let (statsd_address, aggregator) = start_aggregator(aggregator_config, None).await?;
        Self::start_with_aggregator(settings, statsd_address, Some(aggregator)).await
    }

    /// Starts the storage worker and the API around an aggregator the caller started.
    pub async fn start_with_aggregator(
        settings: PipelineSettings,
        statsd_address: SocketAddr,
        aggregator: Option<RunningService>,
    ) -> anyhow::Result<Self> {
        let (_, storage_worker) = start_storage_worker(settings.storage_worker_config()).await?;
        let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api_base_url = format!("http://{}", api_listener.local_addr()?);
        let api_config = settings.api_config();
        let api = RunningService::spawn(move |shutdown| {
            abacus_api::run(api_config, api_listener, shutdown)
        });
        Ok(Self {
            settings,
            statsd_address,
            api_base_url,
            aggregator,
            storage_worker: Some(storage_worker),
            api: Some(api),
            http: reqwest::Client::new(),
        })
    }

    /// Sends one UDP datagram to the aggregator.
    pub async fn send_statsd(&self, datagram: &str) -> anyhow::Result<()> {
        send_datagram(self.statsd_address, datagram).await
    }

    /// Sends `authorization` (an `Authorization` header's value: `Bearer …`, `Basic …`) with
    /// every request the helpers below make, as a client configured with a credential does.
    pub fn send_authorization(&mut self, authorization: &str) -> anyhow::Result<()> {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, authorization.parse()?);
        self.http = reqwest::Client::builder()
            .default_headers(headers)
            .build()?;
        Ok(())
    }

    pub async fn get_json(&self, path_and_query: &str) -> anyhow::Result<(u16, Value)> {
        let response = self
            .http
            .get(format!("{}{path_and_query}", self.api_base_url))
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// The `(timestamp, value)` rows of a `GET /api/v1/data/<metric>…` answer, which must be
    /// a 200.
    pub async fn stored_points(&self, path_and_query: &str) -> anyhow::Result<Vec<(String, f64)>> {
        let (status, answer) = self.get_json(path_and_query).await?;
        anyhow::ensure!(status == 200, "{path_and_query}: {status} {answer}");
        let rows = answer["rows"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("{path_and_query}: no rows in {answer}"))?;
        rows.iter()
            .map(|row| {
                Ok((
                    row["timestamp"]
                        .as_str()
                        .ok_or_else(|| anyhow::anyhow!("a row without a timestamp: {row}"))?
                        .to_owned(),
                    row["value"]
                        .as_f64()
                        .ok_or_else(|| anyhow::anyhow!("a row without a value: {row}"))?,
                ))
            })
            .collect()
    }

    /// POSTs a JSON body and returns the status and the JSON answer.
    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let response = self
            .http
            .post(format!("{}{path}", self.api_base_url))
            .json(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// POSTs a form, as Grafana's Graphite data source does, and returns the status and the
    /// JSON answer.
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> anyhow::Result<(u16, Value)> {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .http
            .post(format!("{}{path}", self.api_base_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// GETs a path and returns the status and the body as text.
    pub async fn get_text(&self, path_and_query: &str) -> anyhow::Result<(u16, String)> {
        let response = self
            .http
            .get(format!("{}{path_and_query}", self.api_base_url))
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    /// Polls `path` until `accept` holds for its JSON answer, and returns it.
    pub async fn wait_for_json(
        &self,
        path: &str,
        what: &str,
        accept: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + PATIENCE;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            let (status, body) = self.get_json(path).await?;
            if status == 200 && accept(&body) {
                return Ok(body);
            }
            last = body;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{path}: gave up waiting for {what}; last answer: {last}")
    }

    /// The datapoints of the one series `/render` returns for `target` over the last hour, or
    /// `None` while the series does not exist yet.
    pub async fn datapoints(
        &self,
        target: &str,
    ) -> anyhow::Result<Option<Vec<(Option<f64>, i64)>>> {
        let (status, body) = self
            .get_json(&format!(
                "/render?target={target}&from=-1h&until=now&format=json"
            ))
            .await?;
        if status != 200 {
            return Ok(None);
        }
        let series = body.as_array().context("render answers an array")?;
        let Some(first) = series.first() else {
            return Ok(None);
        };
        if series.len() != 1 {
            bail!("expected one series for {target}, got {body}");
        }
        let points = first["datapoints"]
            .as_array()
            .context("datapoints is an array")?
            .iter()
            .map(|point| (point[0].as_f64(), point[1].as_i64().unwrap_or_default()))
            .collect();
        Ok(Some(points))
    }

    /// Polls `/render` until `accept` holds for the datapoints of `target`, and returns them.
    pub async fn wait_for_datapoints(
        &self,
        target: &str,
        what: &str,
        accept: impl Fn(&[(Option<f64>, i64)]) -> bool,
    ) -> anyhow::Result<Vec<(Option<f64>, i64)>> {
        let deadline = Instant::now() + PATIENCE;
        let mut last_seen = None;
        while Instant::now() < deadline {
            if let Some(points) = self.datapoints(target).await? {
                if accept(&points) {
                    return Ok(points);
                }
                last_seen = Some(points);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let non_null = non_null(&last_seen.unwrap_or_default());
        bail!("{target}: gave up waiting for {what}; last non-null datapoints: {non_null:?}")
    }

    /// Publishes raw bytes on the flush subject, as an aggregator (or a broken producer) would,
    /// without a message id so JetStream keeps every copy.
    pub async fn publish_to_flush_subject(&self, payload: Vec<u8>) -> anyhow::Result<()> {
        self.publish_all_to_flush_subject(vec![payload]).await
    }

    /// Publishes many payloads in order over one connection.
    pub async fn publish_all_to_flush_subject(&self, payloads: Vec<Vec<u8>>) -> anyhow::Result<()> {
        let nats = &self.settings.nats;
        let context = async_nats::jetstream::new(abacus_proto::stream::connect(nats).await?);
        abacus_proto::stream::ensure_stream(&context, nats).await?;
        for payload in payloads {
            context
                .publish(abacus_proto::stream::flush_subject(nats), payload.into())
                .await?
                .await?;
        }
        Ok(())
    }

    /// The first `count` messages of the dead-letter subject, waiting for them at most
    /// [`PATIENCE`]; fails when fewer arrive.
    pub async fn read_dead_letters(
        &self,
        count: usize,
    ) -> anyhow::Result<Vec<async_nats::jetstream::Message>> {
        use futures::StreamExt;
        let nats = &self.settings.nats;
        let context = async_nats::jetstream::new(abacus_proto::stream::connect(nats).await?);
        let stream = abacus_proto::stream::ensure_stream(&context, nats).await?;
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::Config {
                filter_subject: abacus_proto::stream::dead_letter_subject(nats),
                ..Default::default()
            })
            .await?;
        let mut dead_letters = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        while dead_letters.len() < count && Instant::now() < deadline {
            let mut messages = consumer
                .fetch()
                .max_messages(count - dead_letters.len())
                .expires(Duration::from_secs(2))
                .messages()
                .await?;
            while let Some(message) = messages.next().await {
                dead_letters.push(message.map_err(|error| anyhow::anyhow!(error))?);
            }
        }
        anyhow::ensure!(
            dead_letters.len() == count,
            "expected {count} dead letters, got {}",
            dead_letters.len()
        );
        Ok(dead_letters)
    }

    /// A header of a dead letter (`Abacus-Dead-Letter-Reason`, ...), if it has it.
    pub fn dead_letter_header(
        message: &async_nats::jetstream::Message,
        name: &str,
    ) -> Option<String> {
        message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(name))
            .map(|value| value.to_string())
    }

    /// Waits until the storage worker's consumer has been delivered at least
    /// `delivered_at_least` messages and acknowledged everything.
    pub async fn wait_until_worker_is_idle(&self, delivered_at_least: u64) -> anyhow::Result<()> {
        let consumer = self
            .settings
            .storage_worker_config()
            .storage_worker
            .consumer;
        wait_until_consumer_is_idle(&self.settings.nats, &consumer, delivered_at_least).await
    }

    /// Waits until the storage worker has applied every one of its migrations (the identity
    /// tables the API's `user` and `token` commands and sign-in need are then there, with
    /// every column). Each migration commits on its own, so one table existing says nothing
    /// of the migrations after it.
    pub async fn wait_until_migrated(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + PATIENCE;
        let migrations = abacus_storage_worker::store::MIGRATOR.iter().count() as i64;
        loop {
            if let Ok(mut connection) = self.database_connection().await {
                let applied: Option<i64> =
                    sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
                        .fetch_one(&mut connection)
                        .await
                        .ok();
                if applied == Some(migrations) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                bail!("the storage worker did not apply its {migrations} migrations in time");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `abacus-api <args>` (a `user` or `token` command) against this test's database,
    /// with `stdin` as its standard input; returns what it printed on stdout.
    pub async fn api_command(&self, args: &[&str], stdin: &str) -> anyhow::Result<String> {
        use clap::Parser as _;
        let command_line = abacus_api::cli::CommandLine::try_parse_from(
            std::iter::once("abacus-api").chain(args.iter().copied()),
        )?;
        let input = abacus_api::cli::PasswordInput::Lines(Box::new(std::io::Cursor::new(
            stdin.as_bytes().to_vec(),
        )));
        let mut output = Vec::new();
        abacus_api::cli::run_management_command(
            &self.settings.api_config(),
            command_line,
            input,
            &mut output,
        )
        .await?;
        Ok(String::from_utf8(output)?)
    }

    /// A connection to this test's database, to look at what the storage worker wrote.
    pub async fn database_connection(&self) -> anyhow::Result<PgConnection> {
        Ok(PgConnection::connect(&self.settings.database.url).await?)
    }

    /// Stops every service still running and drops the test database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        for service in [
            self.aggregator.take(),
            self.storage_worker.take(),
            self.api.take(),
        ]
        .into_iter()
        .flatten()
        {
            service.stop().await?;
        }
        delete_test_stream(&self.settings.nats).await?;
        self.settings.database.drop_database().await
    }
}

/// A batch with one series, for tests that publish batches themselves. Its interval is the
/// 10-second interval before the current one, so `/render?from=-1h` shows it.
pub fn single_series_batch(
    aggregator_id: &str,
    sequence: u64,
    name: &str,
    aggregate: abacus_proto::v1::series_aggregate::Aggregate,
) -> abacus_proto::v1::FlushBatch {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since_epoch| since_epoch.as_millis() as i64);
    abacus_proto::v1::FlushBatch {
        schema_version: abacus_proto::SCHEMA_VERSION,
        aggregator_id: aggregator_id.into(),
        incarnation: 1,
        sequence,
        interval_start_unix_ms: now_ms - now_ms % 10_000 - 10_000,
        interval_length_ms: 10_000,
        series: vec![abacus_proto::v1::SeriesAggregate {
            name: name.into(),
            tags: vec![],
            aggregate: Some(aggregate),
        }],
        ..Default::default()
    }
}

/// Starts a storage worker with its admin endpoints on a free loopback port; returns their
/// base URL (`http://127.0.0.1:PORT`) and the running worker.
pub async fn start_storage_worker(
    config: abacus_storage_worker::config::Config,
) -> anyhow::Result<(String, RunningService)> {
    let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let admin_url = format!("http://{}", admin_listener.local_addr()?);
    let worker = RunningService::spawn(move |shutdown| {
        abacus_storage_worker::run(
            config,
            abacus_storage_worker::Sockets {
                admin: admin_listener,
            },
            shutdown,
        )
    });
    Ok((admin_url, worker))
}

/// Binds a UDP port on loopback and starts an aggregator on it. With `shutdown` the caller
/// supplies the shutdown future (for example the real signal handler); otherwise the returned
/// service stops it.
pub async fn start_aggregator(
    config: abacus_aggregator::config::Config,
    shutdown: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
) -> anyhow::Result<(SocketAddr, RunningService)> {
    let (addresses, service) = start_aggregator_with_addresses(config, shutdown).await?;
    Ok((addresses.statsd_udp, service))
}

/// Where an aggregator under test listens, every socket on an ephemeral loopback port.
#[derive(Debug, Clone, Copy)]
pub struct AggregatorAddresses {
    pub statsd_udp: SocketAddr,
    pub statsd_tcp: SocketAddr,
    pub graphite_udp: SocketAddr,
    pub graphite_tcp: SocketAddr,
    /// The admin HTTP server (`/metrics`, `/healthz`).
    pub admin: SocketAddr,
}

/// Like [`start_aggregator`], returning every address the aggregator listens on.
pub async fn start_aggregator_with_addresses(
    config: abacus_aggregator::config::Config,
    shutdown: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
) -> anyhow::Result<(AggregatorAddresses, RunningService)> {
    // Two statsd receive workers on one port, so every test goes through the sharded path
    // (each test sender lands on one of them; the merge at the window end is always run).
    let udp = abacus_aggregator::udp::bind_statsd_sockets(
        "127.0.0.1:0".parse()?,
        2,
        config.aggregator.udp_receive_buffer_bytes,
    )?;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let graphite_udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let graphite_tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addresses = AggregatorAddresses {
        admin: admin.local_addr()?,
        statsd_udp: udp[0].local_addr()?,
        statsd_tcp: tcp.local_addr()?,
        graphite_udp: graphite_udp.local_addr()?,
        graphite_tcp: graphite_tcp.local_addr()?,
    };
    let sockets = abacus_aggregator::Sockets {
        udp,
        tcp,
        graphite_udp,
        graphite_tcp,
        admin,
    };
    let service = match shutdown {
        None => {
            RunningService::spawn(move |shutdown| abacus_aggregator::run(config, sockets, shutdown))
        }
        Some(shutdown) => {
            RunningService::spawn(move |_unused| abacus_aggregator::run(config, sockets, shutdown))
        }
    };
    Ok((addresses, service))
}

/// An aggregator alone, with its own stream, for tests that read what it publishes straight
/// from JetStream and need no storage worker or database.
pub struct AggregatorUnderTest {
    pub config: abacus_aggregator::config::Config,
    pub addresses: AggregatorAddresses,
    pub service: Option<RunningService>,
}

impl AggregatorUnderTest {
    /// Starts an aggregator with a unique stream, after `adjust` has changed its settings.
    pub async fn start(
        flush_interval: Duration,
        adjust: impl FnOnce(&mut abacus_aggregator::config::Config),
    ) -> anyhow::Result<Self> {
        let mut config = abacus_aggregator::config::Config {
            nats: unique_nats_settings(),
            ..Default::default()
        };
        config.aggregator.id = format!("test-{}", uuid::Uuid::new_v4().simple());
        config.aggregator.flush_interval = flush_interval;
        // Off unless a test asks for them: most tests check exactly which series and how many
        // batches an aggregator publishes.
        config.aggregator.publish_self_metrics = false;
        adjust(&mut config);
        let (addresses, service) = start_aggregator_with_addresses(config.clone(), None).await?;
        Ok(Self {
            config,
            addresses,
            service: Some(service),
        })
    }

    pub async fn send_statsd(&self, datagram: &str) -> anyhow::Result<()> {
        send_datagram(self.addresses.statsd_udp, datagram).await
    }

    /// A reader of this aggregator's stream from its first message.
    pub async fn batch_reader(&self) -> anyhow::Result<BatchReader> {
        BatchReader::connect(&self.config.nats).await
    }

    /// Stops the aggregator (it publishes what it has) and deletes the test stream.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(service) = self.service.take() {
            service.stop().await?;
        }
        delete_test_stream(&self.config.nats).await
    }
}

/// Reads the flush batches on a stream in stream order, straight from JetStream, message by
/// message (by sequence number, so it needs no consumer and survives a NATS restart).
pub struct BatchReader {
    stream: async_nats::jetstream::stream::Stream,
    flush_subject: String,
    next_sequence: u64,
    batches: Vec<abacus_proto::v1::FlushBatch>,
}

impl BatchReader {
    pub async fn connect(nats: &NatsSettings) -> anyhow::Result<Self> {
        let context = async_nats::jetstream::new(abacus_proto::stream::connect(nats).await?);
        let stream = abacus_proto::stream::ensure_stream(&context, nats).await?;
        Ok(Self {
            stream,
            flush_subject: abacus_proto::stream::flush_subject(nats),
            next_sequence: 1,
            batches: Vec::new(),
        })
    }

    /// Reads the messages stored since the last call and returns every batch read so far.
    pub async fn read_new(&mut self) -> anyhow::Result<&[abacus_proto::v1::FlushBatch]> {
        use prost::Message as _;
        let last_sequence = self.stream.info().await?.state.last_sequence;
        while self.next_sequence <= last_sequence {
            let message = self.stream.get_raw_message(self.next_sequence).await?;
            self.next_sequence += 1;
            if message.subject.as_str() == self.flush_subject {
                self.batches
                    .push(abacus_proto::v1::FlushBatch::decode(message.payload)?);
            }
        }
        Ok(&self.batches)
    }

    /// Polls until `accept` holds for the batches read so far, and returns them.
    pub async fn wait_for(
        &mut self,
        what: &str,
        accept: impl Fn(&[abacus_proto::v1::FlushBatch]) -> bool,
    ) -> anyhow::Result<Vec<abacus_proto::v1::FlushBatch>> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            // A NATS restart makes a read fail for a moment; the deadline still bounds it.
            if let Ok(batches) = self.read_new().await {
                if accept(batches) {
                    return Ok(batches.to_vec());
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "gave up waiting for {what}; read {} batches: {:?}",
                    self.batches.len(),
                    self.batches
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The sum of a counter over batches (all tags, all intervals).
pub fn counter_total(batches: &[abacus_proto::v1::FlushBatch], name: &str) -> f64 {
    use abacus_proto::v1::series_aggregate::Aggregate;
    batches
        .iter()
        .flat_map(|batch| &batch.series)
        .filter(|series| series.name == name)
        .filter_map(|series| match &series.aggregate {
            Some(Aggregate::Counter(counter)) => Some(counter.count),
            _ => None,
        })
        .sum()
}

pub async fn send_datagram(address: SocketAddr, datagram: &str) -> anyhow::Result<()> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    socket.send_to(datagram.as_bytes(), address).await?;
    Ok(())
}

/// The value of an unlabelled sample in Prometheus text, if present.
pub fn prometheus_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (sample_name, value) = line.split_once(' ')?;
            (sample_name == name).then(|| value.parse().ok())?
        })
}

/// Polls an aggregator's `/metrics` (on its admin address) until the Prometheus sample `name`
/// is at least `at_least`. This is how a test knows the aggregator has taken in what it sent
/// (`abacus_aggregator_metrics_received_total` counts lines once they are in the windows)
/// instead of sleeping and hoping it has.
pub async fn wait_until_aggregator_counted(
    admin: SocketAddr,
    name: &str,
    at_least: f64,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = reqwest::get(format!("http://{admin}/metrics"))
            .await?
            .text()
            .await?;
        let value = prometheus_value(&text, name);
        if value.is_some_and(|value| value >= at_least) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("gave up waiting for {name} >= {at_least} on /metrics; it is {value:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The datapoints that have a value, for readable failure messages.
pub fn non_null(points: &[(Option<f64>, i64)]) -> Vec<(f64, i64)> {
    points
        .iter()
        .filter_map(|(value, timestamp)| value.map(|value| (value, *timestamp)))
        .collect()
}

/// The sum of the non-null datapoints.
pub fn total(points: &[(Option<f64>, i64)]) -> f64 {
    points.iter().filter_map(|(value, _)| *value).sum()
}

/// The latest non-null datapoint.
pub fn latest(points: &[(Option<f64>, i64)]) -> Option<f64> {
    points.iter().rev().find_map(|(value, _)| *value)
}

/// The repository's root directory.
/// The rows of a table and the bytes on disk of its leaf partitions (heap, indexes, toast),
/// for the benchmarks' bytes per row. Run `vacuum analyze` first for settled sizes.
pub async fn rows_and_bytes_on_disk(
    pool: &sqlx::PgPool,
    partitioned: &str,
) -> anyhow::Result<(i64, i64)> {
    let bytes: i64 = sqlx::query_scalar(
        "select coalesce(sum(pg_total_relation_size(relid)), 0)::bigint
         from pg_partition_tree($1::regclass) where isleaf",
    )
    .bind(partitioned)
    .fetch_one(pool)
    .await?;
    // The name is the caller's constant, never input.
    let rows: i64 = sqlx::query_scalar(&format!("select count(*) from {partitioned}"))
        .fetch_one(pool)
        .await?;
    Ok((rows, bytes))
}

pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the repository")
        .to_path_buf()
}

/// Builds the binary `bin` of the workspace package `package` (in the profile this test was
/// built with, into the same target directory) and returns its path: the real binary, for
/// tests of a command line or of start-up. Cargo's own lock serializes concurrent builds.
pub fn workspace_binary(package: &str, bin: &str) -> anyhow::Result<std::path::PathBuf> {
    // A test binary lives in <target>/<profile>/deps, a bench binary in <target>/<profile>.
    let executable = std::env::current_exe()?;
    let mut profile_dir = executable
        .parent()
        .context("the running binary is in no directory")?;
    if profile_dir.file_name().is_some_and(|name| name == "deps") {
        profile_dir = profile_dir
            .parent()
            .context("the test binary is not in <target>/<profile>/deps")?;
    }
    let profile_dir = profile_dir.to_path_buf();
    let mut command = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
    command
        .current_dir(repo_root())
        .args(["build", "--quiet", "-p", package, "--bin", bin]);
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        command.arg("--release");
    }
    if let Some(target) = profile_dir.parent() {
        command.env("CARGO_TARGET_DIR", target);
    }
    let status = command.status()?;
    if !status.success() {
        bail!("cargo build -p {package} --bin {bin} failed: {status}");
    }
    Ok(profile_dir.join(bin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced_in_urls() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/t",
            ),
            (
                "postgres://u:p@h/abacus?sslmode=disable",
                "postgres://u:p@h/t?sslmode=disable",
            ),
            ("postgres://h:5432", "postgres://h:5432/t"),
        ];
        for (url, expected) in cases {
            assert_eq!(replace_database_name(url, "t"), expected);
        }
    }
}
