//! A record that can never be stored costs only itself: the storage worker stores every other
//! record of its batch, dead-letters the record with the reason, and goes on storing.
//!
//! The batches here are published straight to the stream, as a producer that skipped the
//! aggregator's and the API's checks would (or an older build of them); the end-to-end test of
//! the same lines sent over statsd is in `poison_lines.rs`.

use abacus_proto::v1::{
    event, series_aggregate::Aggregate, CounterAggregate, Event, FlushBatch, RawPoint,
    SeriesAggregate, Tag,
};
use abacus_tests::{single_series_batch, Pipeline, PipelineSettings};
use prost::Message;
use std::time::Duration;

const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

fn counter(name: &str, count: f64) -> SeriesAggregate {
    SeriesAggregate {
        name: name.into(),
        tags: vec![],
        aggregate: Some(Aggregate::Counter(CounterAggregate { count })),
    }
}

fn good_counters(batch: &mut FlushBatch, count: usize) {
    for index in 0..count {
        batch
            .series
            .push(counter(&format!("good.c{index:02}"), index as f64 + 1.0));
    }
}

/// The sum of every stored count of the counters named `good.*`, and how many there are.
async fn stored_good_counters(pipeline: &Pipeline) -> anyhow::Result<(i64, f64)> {
    let mut database = pipeline.database_connection().await?;
    let (series, total): (i64, Option<f64>) = sqlx::query_as(
        "select count(distinct s.id), sum(c.count) from counter_samples c
         join series s on s.id = c.series_id where s.name like 'good.%'",
    )
    .fetch_one(&mut database)
    .await?;
    Ok((series, total.unwrap_or(0.0)))
}

/// A dead letter: its payload decoded as a batch, its reason and record count headers.
struct DeadLetter {
    batch: FlushBatch,
    reason: String,
    records: Option<usize>,
}

/// Reads the first `count` messages of the dead-letter subject, decoded.
async fn read_dead_letters(pipeline: &Pipeline, count: usize) -> anyhow::Result<Vec<DeadLetter>> {
    pipeline
        .read_dead_letters(count)
        .await?
        .into_iter()
        .map(|message| {
            let header = |name: &str| Pipeline::dead_letter_header(&message, name);
            Ok(DeadLetter {
                batch: FlushBatch::decode(message.payload.clone())?,
                reason: header(abacus_proto::stream::DEAD_LETTER_REASON_HEADER).unwrap_or_default(),
                records: header("Abacus-Dead-Letter-Records").and_then(|text| text.parse().ok()),
            })
        })
        .collect()
}

/// Waits until the good counters are stored with exactly `total`, and returns how many.
async fn wait_for_good_counters(pipeline: &Pipeline, total: f64) -> anyhow::Result<i64> {
    let deadline = std::time::Instant::now() + abacus_tests::PATIENCE;
    loop {
        // Until the worker has migrated the new database, the tables are not there.
        let (series, stored) = stored_good_counters(pipeline).await.unwrap_or((0, 0.0));
        if stored >= total || std::time::Instant::now() >= deadline {
            assert_eq!(stored, total, "the good counters, exactly");
            return Ok(series);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a test's DDL on a table the worker is writing: PostgreSQL may pick it as the victim of
/// a deadlock with the worker's partition upkeep (`40P01`), and then it is simply run again.
async fn alter_under_load(
    database: &mut sqlx::PgConnection,
    statement: &str,
) -> anyhow::Result<()> {
    for _ in 0..20 {
        match sqlx::query(statement).execute(&mut *database).await {
            Ok(_) => return Ok(()),
            Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("40P01") => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
    anyhow::bail!("{statement}: deadlocked 20 times")
}

/// After a poison batch, a fresh one is still stored: the pipeline has not stalled.
async fn assert_still_storing(pipeline: &Pipeline, sequence: u64) -> anyhow::Result<()> {
    let fresh = single_series_batch(
        "producer",
        sequence,
        "fresh_after_poison",
        Aggregate::Counter(CounterAggregate { count: 7.0 }),
    );
    pipeline
        .publish_to_flush_subject(fresh.encode_to_vec())
        .await?;
    let points = pipeline
        .wait_for_datapoints(
            "fresh_after_poison",
            "the batch after the poison",
            |points| abacus_tests::total(points) >= 7.0,
        )
        .await?;
    assert_eq!(abacus_tests::total(&points), 7.0);
    Ok(())
}

#[tokio::test]
async fn records_breaking_the_limits_are_dead_lettered_and_the_rest_of_their_batch_stored(
) -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    let mut batch = single_series_batch(
        "producer",
        1,
        "good.first",
        Aggregate::Counter(CounterAggregate { count: 100.0 }),
    );
    good_counters(&mut batch, 12);
    // Each of these made PostgreSQL refuse the whole batch, or its time could not be stored.
    batch.series.push(SeriesAggregate {
        name: "nul.tag".into(),
        tags: vec![Tag {
            key: "env".into(),
            value: "pr\0d".into(),
        }],
        aggregate: Some(Aggregate::Counter(CounterAggregate { count: 1.0 })),
    });
    batch.series.push(counter(&"x".repeat(60_000), 1.0));
    batch.series.push(SeriesAggregate {
        name: "many.tags".into(),
        tags: (0..10_000)
            .map(|index| Tag {
                key: format!("t{index}"),
                value: "v".into(),
            })
            .collect(),
        aggregate: Some(Aggregate::Counter(CounterAggregate { count: 1.0 })),
    });
    batch.points.push(RawPoint {
        name: "far.future".into(),
        tags: vec![],
        timestamp_unix_ms: 100_000_000_000_000_000,
        value: 1.0,
    });
    batch.points.push(RawPoint {
        name: "graphite\0path".into(),
        tags: vec![],
        timestamp_unix_ms: 1_700_000_000_000,
        value: 1.0,
    });
    batch.events.push(Event {
        kind: event::Kind::Event.into(),
        title: "deploy".into(),
        timestamp_unix_ms: 99_999_999_999_999_000,
        ..Default::default()
    });
    batch.events.push(Event {
        kind: event::Kind::Event.into(),
        title: "dep\0loy".into(),
        timestamp_unix_ms: 1_700_000_000_000,
        ..Default::default()
    });
    pipeline
        .publish_to_flush_subject(batch.encode_to_vec())
        .await?;

    // 100 for `good.first`, 1 + 2 + ... + 12 for the others.
    let series = wait_for_good_counters(&pipeline, 100.0 + 78.0).await?;
    assert_eq!(series, 13);
    let dead_letters = read_dead_letters(&pipeline, 1).await?;
    let rejected = &dead_letters[0];
    assert_eq!(rejected.records, Some(7));
    assert_eq!(rejected.batch.series.len(), 3);
    assert_eq!(rejected.batch.points.len(), 2);
    assert_eq!(rejected.batch.events.len(), 2);
    assert_eq!(
        rejected.batch.sequence, 1,
        "the rejected records keep their batch's identity"
    );
    for expected in [
        "series \"nul.tag\": tags contains a NUL byte",
        "60000 bytes long, more than 1024",
        "10000 tags, more than 64",
        "point \"far.future\": time must be a time between",
        "point \"graphite\\0path\": name contains a NUL byte",
        "event \"deploy\": time must be a time between",
        "event \"dep\\0loy\": title contains a NUL byte",
    ] {
        assert!(
            rejected.reason.contains(expected),
            "{expected:?} in {:?}",
            rejected.reason
        );
    }
    assert_still_storing(&pipeline, 2).await?;
    pipeline.stop().await
}

#[tokio::test]
async fn records_postgresql_refuses_are_found_and_the_rest_of_their_batch_stored(
) -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    // Once the worker has migrated the database, a check constraint makes PostgreSQL itself
    // refuse some rows that pass every check of the worker's own: what a limit this build
    // does not know about would do.
    assert_still_storing(&pipeline, 1).await?;
    let mut database = pipeline.database_connection().await?;
    alter_under_load(
        &mut database,
        "alter table counter_samples add constraint counts_below_a_million check (count < 1e6)",
    )
    .await?;
    let mut batch = single_series_batch(
        "producer",
        2,
        "good.first",
        Aggregate::Counter(CounterAggregate { count: 100.0 }),
    );
    good_counters(&mut batch, 40);
    for position in [3, 17, 30] {
        batch
            .series
            .insert(position, counter(&format!("refused.{position}"), 1e9));
    }
    pipeline
        .publish_to_flush_subject(batch.encode_to_vec())
        .await?;
    // 100 for `good.first`, 1 + 2 + ... + 40 for the others.
    let series = wait_for_good_counters(&pipeline, 100.0 + 820.0).await?;
    assert_eq!(series, 41);
    let dead_letters = read_dead_letters(&pipeline, 1).await?;
    let rejected = &dead_letters[0];
    let names: Vec<&str> = rejected
        .batch
        .series
        .iter()
        .map(|series| series.name.as_str())
        .collect();
    assert_eq!(names, ["refused.3", "refused.17", "refused.30"]);
    assert!(
        rejected.reason.contains("counts_below_a_million"),
        "{:?}",
        rejected.reason
    );
    assert_still_storing(&pipeline, 3).await?;
    // Exactly once: a redelivered copy is a duplicate, not stored again.
    pipeline
        .publish_to_flush_subject(batch.encode_to_vec())
        .await?;
    pipeline.wait_until_worker_is_idle(4).await?;
    assert_eq!(stored_good_counters(&pipeline).await?.1, 920.0);
    pipeline.stop().await
}

#[tokio::test]
async fn a_batch_that_keeps_failing_while_the_database_answers_is_dead_lettered_in_the_end(
) -> anyhow::Result<()> {
    let mut settings = PipelineSettings::new(FLUSH_INTERVAL).await?;
    settings.adjust_storage_worker = |config| {
        config.storage_worker.max_failed_deliveries = 3;
        config.storage_worker.max_retry_delay = Duration::from_millis(200);
    };
    let (statsd_address, aggregator) =
        abacus_tests::start_aggregator(settings.aggregator_config(), None).await?;
    let pipeline =
        Pipeline::start_with_aggregator(settings, statsd_address, Some(aggregator)).await?;
    assert_still_storing(&pipeline, 1).await?;
    // A trigger that fails one series' rows with an error that is no data exception: to the
    // worker it looks like a failure a retry might cure, for that batch only.
    let mut database = pipeline.database_connection().await?;
    sqlx::query(
        "create function refuse_thirteen() returns trigger language plpgsql as $$
         begin
             if new.count = 13 then raise exception 'thirteen is unlucky'; end if;
             return new;
         end $$",
    )
    .execute(&mut database)
    .await?;
    alter_under_load(
        &mut database,
        "create trigger refuse_thirteen before insert on counter_samples
         for each row execute function refuse_thirteen()",
    )
    .await?;
    let unlucky = single_series_batch(
        "producer",
        2,
        "unlucky",
        Aggregate::Counter(CounterAggregate { count: 13.0 }),
    );
    pipeline
        .publish_to_flush_subject(unlucky.encode_to_vec())
        .await?;
    let dead_letters = read_dead_letters(&pipeline, 1).await?;
    assert_eq!(dead_letters[0].batch, unlucky, "the whole batch, as it was");
    assert!(
        dead_letters[0]
            .reason
            .contains("failed 3 times while the database answered"),
        "{:?}",
        dead_letters[0].reason
    );
    assert!(dead_letters[0].reason.contains("thirteen is unlucky"));
    assert_still_storing(&pipeline, 3).await?;
    pipeline.stop().await
}
