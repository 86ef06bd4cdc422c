//! The storage worker's guarantees, checked against the real PostgreSQL and NATS: timers and
//! sets are stored as they arrive, exactly once, and a message that can never be stored goes to
//! the dead-letter subject without holding up the ones behind it.

use abacus_proto::v1::{
    series_aggregate::Aggregate, CounterAggregate, SetAggregate, TimerAggregate,
};
use abacus_tests::{single_series_batch, total, Pipeline};
use prost::Message;
use std::time::Duration;

const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// A row of `timer_samples` with its series name.
#[derive(Debug, PartialEq, sqlx::FromRow)]
struct StoredTimer {
    name: String,
    count: f64,
    sum: f64,
    sum_of_squares: f64,
    min: f64,
    max: f64,
    histogram: Vec<u8>,
}

#[tokio::test]
async fn timers_and_sets_are_stored_once_with_their_histogram_and_sketch() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    let timer = TimerAggregate {
        count: 3.0,
        sum: 600.0,
        sum_of_squares: 140_000.0,
        min: 100.0,
        max: 300.0,
        hdr_histogram: vec![0x1c, 0x84, 0x93, 0x14, 1, 2, 3],
    };
    let set = SetAggregate {
        sketch: vec![1, 9, 8, 7],
    };
    let timer_batch =
        single_series_batch("producer", 1, "latency", Aggregate::Timer(timer.clone()));
    let set_batch = single_series_batch("producer", 2, "users", Aggregate::Set(set.clone()));
    for batch in [&timer_batch, &set_batch, &timer_batch, &set_batch] {
        pipeline
            .publish_to_flush_subject(batch.encode_to_vec())
            .await?;
    }
    pipeline.wait_until_worker_is_idle(4).await?;

    let mut database = pipeline.database_connection().await?;
    let timers: Vec<StoredTimer> = sqlx::query_as(
        "select s.name, t.count, t.sum, t.sum_of_squares, t.min, t.max, t.histogram
         from timer_samples t join series s on s.id = t.series_id where s.kind = 'timer'",
    )
    .fetch_all(&mut database)
    .await?;
    assert_eq!(
        timers,
        vec![StoredTimer {
            name: "latency".to_owned(),
            count: 3.0,
            sum: 600.0,
            sum_of_squares: 140_000.0,
            min: 100.0,
            max: 300.0,
            histogram: timer.hdr_histogram.clone(),
        }]
    );
    let sets: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "select s.name, x.sketch from set_samples x join series s on s.id = x.series_id where s.kind = 'set'",
    )
    .fetch_all(&mut database)
    .await?;
    assert_eq!(sets, vec![("users".to_owned(), set.sketch.clone())]);
    pipeline.stop().await
}

#[tokio::test]
async fn a_poison_message_is_dead_lettered_and_the_stream_keeps_flowing() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    let garbage = b"\xff\xff\xff not protobuf".to_vec();
    let mut future_version = single_series_batch(
        "producer",
        1,
        "from_the_future",
        Aggregate::Counter(CounterAggregate { count: 1.0 }),
    );
    future_version.schema_version = abacus_proto::SCHEMA_VERSION + 1;
    let good = single_series_batch(
        "producer",
        2,
        "after_the_poison",
        Aggregate::Counter(CounterAggregate { count: 5.0 }),
    );
    pipeline.publish_to_flush_subject(garbage.clone()).await?;
    pipeline
        .publish_to_flush_subject(future_version.encode_to_vec())
        .await?;
    pipeline
        .publish_to_flush_subject(good.encode_to_vec())
        .await?;

    let points = pipeline
        .wait_for_datapoints("after_the_poison", "the good batch", |points| {
            total(points) >= 5.0
        })
        .await?;
    assert_eq!(total(&points), 5.0);
    pipeline.wait_until_worker_is_idle(3).await?;
    assert_eq!(pipeline.datapoints("from_the_future").await?, None);

    let dead_letters = read_dead_letters(&pipeline, 2).await?;
    assert_eq!(dead_letters[0].0, garbage);
    assert!(
        dead_letters[0].1.contains("not a flush batch"),
        "{:?}",
        dead_letters[0].1
    );
    assert_eq!(dead_letters[1].0, future_version.encode_to_vec());
    assert!(
        dead_letters[1].1.contains("schema version"),
        "{:?}",
        dead_letters[1].1
    );
    pipeline.stop().await
}

/// Reads the first `count` messages of the dead-letter subject: payload and reason.
async fn read_dead_letters(
    pipeline: &Pipeline,
    count: usize,
) -> anyhow::Result<Vec<(Vec<u8>, String)>> {
    Ok(pipeline
        .read_dead_letters(count)
        .await?
        .into_iter()
        .map(|message| {
            let reason = Pipeline::dead_letter_header(
                &message,
                abacus_proto::stream::DEAD_LETTER_REASON_HEADER,
            )
            .unwrap_or_default();
            (message.payload.to_vec(), reason)
        })
        .collect())
}

#[tokio::test]
async fn ids_of_long_stored_batches_are_forgotten_and_recent_ones_kept() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    for sequence in 1..=2 {
        let batch = single_series_batch(
            "pruner",
            sequence,
            "pruned",
            Aggregate::Counter(CounterAggregate { count: 1.0 }),
        );
        pipeline
            .publish_to_flush_subject(batch.encode_to_vec())
            .await?;
    }
    pipeline.wait_until_worker_is_idle(2).await?;
    let mut database = pipeline.database_connection().await?;
    sqlx::query(
        "update processed_batches set processed_at = now() - interval '9 days' where sequence = 1",
    )
    .execute(&mut database)
    .await?;

    let pool = sqlx::PgPool::connect(&pipeline.settings.database.url).await?;
    let retention = Duration::from_secs(8 * 24 * 3600);
    let deleted =
        abacus_storage_worker::maintenance::prune_processed_batches(&pool, retention).await?;
    assert_eq!(deleted, 1);
    let remaining: Vec<(i64,)> = sqlx::query_as("select sequence from processed_batches")
        .fetch_all(&mut database)
        .await?;
    assert_eq!(remaining, vec![(2,)]);
    pool.close().await;
    pipeline.stop().await
}

#[tokio::test]
async fn raw_points_and_events_are_stored_once() -> anyhow::Result<()> {
    use abacus_proto::v1::{event, Event, RawPoint, Tag};
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    // An hour ago: within the raw retention, which the worker's maintenance enforces on rows
    // of any age (an older point could be deleted before it is read back).
    let now_seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let base = now_seconds - now_seconds % 60 - 3600;
    let mut batch = single_series_batch(
        "producer",
        1,
        "with_extras",
        Aggregate::Counter(CounterAggregate { count: 1.0 }),
    );
    batch.points = vec![
        RawPoint {
            name: "servers.web1.load".into(),
            tags: vec![],
            timestamp_unix_ms: base * 1000,
            value: 0.5,
        },
        RawPoint {
            name: "servers.web1.load".into(),
            tags: vec![],
            timestamp_unix_ms: (base + 60) * 1000,
            value: 0.75,
        },
    ];
    batch.events = vec![
        Event {
            kind: event::Kind::Event.into(),
            title: "deploy".into(),
            text: "v1.2.3 to prod".into(),
            timestamp_unix_ms: (base + 10) * 1000,
            priority: "normal".into(),
            alert_type: "info".into(),
            tags: vec![
                Tag {
                    key: "service".into(),
                    value: "web".into(),
                },
                Tag {
                    key: "canary".into(),
                    value: String::new(),
                },
            ],
            ..Default::default()
        },
        Event {
            kind: event::Kind::ServiceCheck.into(),
            title: "db.up".into(),
            text: "replica lagging".into(),
            timestamp_unix_ms: (base + 20) * 1000,
            service_check_status: 1,
            host: "db1".into(),
            ..Default::default()
        },
    ];
    for _ in 0..2 {
        pipeline
            .publish_to_flush_subject(batch.encode_to_vec())
            .await?;
    }
    pipeline.wait_until_worker_is_idle(2).await?;

    let mut database = pipeline.database_connection().await?;
    let points: Vec<(String, String, i64, f64)> = sqlx::query_as(
        "select s.name, s.kind, extract(epoch from p.point_time)::bigint, p.value
         from raw_points p join series s on s.id = p.series_id order by p.point_time",
    )
    .fetch_all(&mut database)
    .await?;
    assert_eq!(
        points,
        vec![
            ("servers.web1.load".to_owned(), "raw".to_owned(), base, 0.5),
            (
                "servers.web1.load".to_owned(),
                "raw".to_owned(),
                base + 60,
                0.75
            ),
        ]
    );
    let events: Vec<StoredEvent> = sqlx::query_as(
        "select kind, extract(epoch from occurred_at)::bigint as occurred_at, title, text, host,
                priority, service_check_status, tags
         from events order by occurred_at",
    )
    .fetch_all(&mut database)
    .await?;
    assert_eq!(
        events,
        vec![
            StoredEvent {
                kind: "event".into(),
                occurred_at: base + 10,
                title: "deploy".into(),
                text: "v1.2.3 to prod".into(),
                host: None,
                priority: Some("normal".into()),
                service_check_status: None,
                tags: vec!["canary".into(), "service:web".into()],
            },
            StoredEvent {
                kind: "service_check".into(),
                occurred_at: base + 20,
                title: "db.up".into(),
                text: "replica lagging".into(),
                host: Some("db1".into()),
                priority: None,
                service_check_status: Some(1),
                tags: vec![],
            },
        ]
    );
    pipeline.stop().await
}

/// A row of `events`, as the test reads it back.
#[derive(Debug, PartialEq, sqlx::FromRow)]
struct StoredEvent {
    kind: String,
    occurred_at: i64,
    title: String,
    text: String,
    host: Option<String>,
    priority: Option<String>,
    service_check_status: Option<i16>,
    tags: Vec<String>,
}

/// Batches gathered into one transaction: rows of several batches for the same series, interval
/// and source merge as they would one transaction at a time (counts add, the later gauge
/// wins), a second copy of a batch counts once, and a poison message among them is
/// dead-lettered without holding up the rest.
#[tokio::test]
async fn batches_stored_together_merge_dedup_and_survive_a_poison_message() -> anyhow::Result<()> {
    let settings = abacus_tests::PipelineSettings::new(FLUSH_INTERVAL).await?;
    let counter = |sequence, count| {
        single_series_batch(
            "splitter",
            sequence,
            "split_counter",
            Aggregate::Counter(CounterAggregate { count }),
        )
    };
    let gauge = |sequence, value| {
        single_series_batch(
            "splitter",
            sequence,
            "split_gauge",
            Aggregate::Gauge(abacus_proto::v1::GaugeAggregate { value }),
        )
    };
    let payloads = vec![
        counter(1, 1.0).encode_to_vec(),
        counter(2, 2.0).encode_to_vec(),
        b"\x00\xff poison".to_vec(),
        counter(2, 2.0).encode_to_vec(),
        gauge(3, 10.0).encode_to_vec(),
        counter(4, 4.0).encode_to_vec(),
        gauge(5, 20.0).encode_to_vec(),
    ];
    // Published before the worker starts, so its first pull takes them all at once.
    let nats = &settings.nats;
    let context = async_nats::jetstream::new(abacus_proto::stream::connect(nats).await?);
    abacus_proto::stream::ensure_stream(&context, nats).await?;
    for payload in payloads {
        context
            .publish(abacus_proto::stream::flush_subject(nats), payload.into())
            .await?
            .await?;
    }
    // No aggregator: the batches above are all there is.
    let no_statsd_address = "127.0.0.1:9".parse()?;
    let pipeline = Pipeline::start_with_aggregator(settings, no_statsd_address, None).await?;
    pipeline.wait_until_worker_is_idle(7).await?;

    let mut database = pipeline.database_connection().await?;
    let counters: Vec<f64> = sqlx::query_scalar(
        "select c.count from counter_samples c join series s on s.id = c.series_id
         where s.name = 'split_counter'",
    )
    .fetch_all(&mut database)
    .await?;
    assert_eq!(counters, vec![7.0]);
    let gauges: Vec<f64> = sqlx::query_scalar(
        "select g.value from gauge_samples g join series s on s.id = g.series_id
         where s.name = 'split_gauge'",
    )
    .fetch_all(&mut database)
    .await?;
    assert_eq!(gauges, vec![20.0]);
    let stored: i64 = sqlx::query_scalar("select count(*) from processed_batches")
        .fetch_one(&mut database)
        .await?;
    assert_eq!(stored, 5);
    let dead_letters = read_dead_letters(&pipeline, 1).await?;
    assert_eq!(dead_letters[0].0, b"\x00\xff poison".to_vec());
    pipeline.stop().await
}
