//! Rollups against the real PostgreSQL and NATS: a rolled-up hour is the exact merge of the raw
//! batches it covers (percentiles of the merged histograms, counts, set cardinalities, the last
//! gauge), a late batch for an already rolled-up hour updates it, and retention drops whole
//! partitions past their resolution's retention while recent data stays.

use abacus_proto::histogram::{self, hdrhistogram::Histogram};
use abacus_proto::sketch::SetSketch;
use abacus_proto::v1::{
    series_aggregate::Aggregate, CounterAggregate, FlushBatch, GaugeAggregate, SeriesAggregate,
    SetAggregate, TimerAggregate,
};
use abacus_tests::{PipelineSettings, RunningService, PATIENCE};
use anyhow::bail;
use prost::Message;
use sqlx::{Connection, PgConnection};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const HOUR: i64 = 3_600;

/// The storage worker alone, with rollups running every 100 ms and no delay.
struct RollupHarness {
    settings: PipelineSettings,
    worker: Option<RunningService>,
}

impl RollupHarness {
    async fn start() -> anyhow::Result<Self> {
        Self::start_with_retentions("10s:1d,1m:7d,1h:30d").await
    }

    async fn start_with_retentions(retentions: &str) -> anyhow::Result<Self> {
        let settings = PipelineSettings::new(Duration::from_secs(10)).await?;
        let mut config = settings.storage_worker_config();
        config.storage_worker.retentions = retentions.into();
        config.storage_worker.rollup_delay = Duration::ZERO;
        config.storage_worker.rollup_interval = Duration::from_millis(100);
        let (_, worker) = abacus_tests::start_storage_worker(config).await?;
        let harness = Self {
            settings,
            worker: Some(worker),
        };
        // The worker applies the migrations at start-up; the test reads the tables they create.
        let mut database = harness.database().await?;
        let deadline = Instant::now() + PATIENCE;
        loop {
            let migrated: bool =
                sqlx::query_scalar("select to_regclass('rollup_watermarks') is not null")
                    .fetch_one(&mut database)
                    .await?;
            if migrated {
                break;
            }
            if Instant::now() > deadline {
                bail!("the storage worker did not migrate the database in time");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(harness)
    }

    async fn publish(&self, batches: &[FlushBatch]) -> anyhow::Result<()> {
        let nats = &self.settings.nats;
        let context = async_nats::jetstream::new(abacus_proto::stream::connect(nats).await?);
        abacus_proto::stream::ensure_stream(&context, nats).await?;
        for batch in batches {
            context
                .publish(
                    abacus_proto::stream::flush_subject(nats),
                    batch.encode_to_vec().into(),
                )
                .await?
                .await?;
        }
        Ok(())
    }

    async fn database(&self) -> anyhow::Result<PgConnection> {
        Ok(PgConnection::connect(&self.settings.database.url).await?)
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(worker) = self.worker.take() {
            worker.stop().await?;
        }
        abacus_tests::delete_test_stream(&self.settings.nats).await?;
        self.settings.database.drop_database().await
    }
}

/// What the raw batches of one hour add up to, computed independently of the worker.
#[derive(Default)]
struct Expected {
    count: f64,
    timer_count: f64,
    timer_sum: f64,
    timer_min: f64,
    timer_max: f64,
    /// Every timer sample of the batches recorded into one histogram at the batches' precision:
    /// what merging their histograms must give, computed without merging (the test checks the
    /// worker's merge, so it must not use it).
    every_timer_sample: Option<Histogram<u64>>,
    members: BTreeSet<String>,
    last_gauge: Option<(i64, f64)>,
}

/// A batch of `source` for the 10-second interval starting at `start` (unix seconds) with a
/// counter, a timer with a real histogram, a set, and (source `a` only) a gauge.
fn batch(source: &str, sequence: u64, start: i64, expected: &mut Expected) -> FlushBatch {
    let seed = sequence as i64 * 31 + start / 10;
    let count = (seed % 17 + 1) as f64;
    expected.count += count;

    let mut histogram = histogram::new_histogram(3).unwrap();
    let first_timer = expected.every_timer_sample.is_none();
    let every_timer_sample = expected
        .every_timer_sample
        .get_or_insert_with(|| histogram::new_histogram(3).unwrap());
    let (mut sum, mut sum_of_squares) = (0.0, 0.0);
    let (mut min, mut max) = (f64::MAX, f64::MIN);
    for sample in 0..50 {
        let milliseconds = ((seed * 13 + sample * 37) % 2_000) as f64 / 4.0 + 0.25;
        histogram::record_milliseconds(&mut histogram, milliseconds, 1);
        histogram::record_milliseconds(every_timer_sample, milliseconds, 1);
        sum += milliseconds;
        sum_of_squares += milliseconds * milliseconds;
        min = min.min(milliseconds);
        max = max.max(milliseconds);
    }
    expected.timer_count += 50.0;
    expected.timer_sum += sum;
    expected.timer_min = if first_timer {
        min
    } else {
        expected.timer_min.min(min)
    };
    expected.timer_max = expected.timer_max.max(max);
    let encoded = histogram::encode(&histogram).unwrap();

    let mut sketch = SetSketch::new();
    for member in 0..10 {
        let name = format!("user{}", (seed * 7 + member) % 60);
        sketch.insert(name.as_bytes());
        expected.members.insert(name);
    }

    let mut series = vec![
        SeriesAggregate {
            name: "hits".into(),
            tags: vec![],
            aggregate: Some(Aggregate::Counter(CounterAggregate { count })),
        },
        SeriesAggregate {
            name: "latency".into(),
            tags: vec![],
            aggregate: Some(Aggregate::Timer(TimerAggregate {
                count: 50.0,
                sum,
                sum_of_squares,
                min,
                max,
                hdr_histogram: encoded,
            })),
        },
        SeriesAggregate {
            name: "users".into(),
            tags: vec![],
            aggregate: Some(Aggregate::Set(SetAggregate {
                sketch: sketch.to_bytes(),
            })),
        },
    ];
    if source == "a" {
        let value = seed as f64 / 3.0;
        if expected.last_gauge.is_none_or(|(time, _)| time < start) {
            expected.last_gauge = Some((start, value));
        }
        series.push(SeriesAggregate {
            name: "temperature".into(),
            tags: vec![],
            aggregate: Some(Aggregate::Gauge(GaugeAggregate { value })),
        });
    }
    FlushBatch {
        schema_version: abacus_proto::SCHEMA_VERSION,
        aggregator_id: source.into(),
        incarnation: 1,
        sequence,
        interval_start_unix_ms: start * 1_000,
        interval_length_ms: 10_000,
        series,
        ..Default::default()
    }
}

/// The hour rollup of each kind, as stored.
#[derive(Debug)]
struct HourRollup {
    count: f64,
    timer: (f64, f64, f64, f64),
    histogram: Histogram<u64>,
    cardinality: u64,
    gauge: f64,
    minute_rows: i64,
    minute_count: f64,
}

async fn hour_rollup(database: &mut PgConnection, hour: i64) -> anyhow::Result<Option<HourRollup>> {
    let at = hour;
    let count: Option<f64> = sqlx::query_scalar(
        "select r.count from counter_rollups r join series s on s.id = r.series_id
         where s.name = 'hits' and r.resolution_seconds = 3600 and r.interval_start = to_timestamp($1)",
    )
    .bind(at)
    .fetch_optional(&mut *database)
    .await?;
    let timer: Option<(f64, f64, f64, f64, Vec<u8>)> = sqlx::query_as(
        "select r.count, r.sum, r.min, r.max, r.histogram from timer_rollups r
         join series s on s.id = r.series_id
         where s.name = 'latency' and r.resolution_seconds = 3600 and r.interval_start = to_timestamp($1)",
    )
    .bind(at)
    .fetch_optional(&mut *database)
    .await?;
    let sketch: Option<Vec<u8>> = sqlx::query_scalar(
        "select r.sketch from set_rollups r join series s on s.id = r.series_id
         where s.name = 'users' and r.resolution_seconds = 3600 and r.interval_start = to_timestamp($1)",
    )
    .bind(at)
    .fetch_optional(&mut *database)
    .await?;
    let gauge: Option<f64> = sqlx::query_scalar(
        "select r.value from gauge_rollups r join series s on s.id = r.series_id
         where s.name = 'temperature' and r.resolution_seconds = 3600 and r.interval_start = to_timestamp($1)",
    )
    .bind(at)
    .fetch_optional(&mut *database)
    .await?;
    let (minute_rows, minute_count): (i64, Option<f64>) = sqlx::query_as(
        "select count(*), sum(r.count) from counter_rollups r join series s on s.id = r.series_id
         where s.name = 'hits' and r.resolution_seconds = 60
           and r.interval_start >= to_timestamp($1) and r.interval_start < to_timestamp($1) + interval '1 hour'",
    )
    .bind(at)
    .fetch_one(&mut *database)
    .await?;
    let (Some(count), Some(timer), Some(sketch), Some(gauge)) = (count, timer, sketch, gauge)
    else {
        return Ok(None);
    };
    Ok(Some(HourRollup {
        count,
        timer: (timer.0, timer.1, timer.2, timer.3),
        histogram: histogram::decode(&timer.4)?,
        cardinality: SetSketch::from_bytes(&sketch)?.cardinality(),
        gauge,
        minute_rows,
        minute_count: minute_count.unwrap_or_default(),
    }))
}

fn matches(rollup: &HourRollup, expected: &Expected, minutes: i64) -> bool {
    let Some(merged) = &expected.every_timer_sample else {
        return false;
    };
    rollup.count == expected.count
        && rollup.timer
            == (
                expected.timer_count,
                expected.timer_sum,
                expected.timer_min,
                expected.timer_max,
            )
        && rollup.histogram.len() == merged.len()
        && [0.5, 0.9, 0.99, 0.999, 1.0].iter().all(|quantile| {
            rollup.histogram.value_at_quantile(*quantile) == merged.value_at_quantile(*quantile)
        })
        && rollup.cardinality == expected.members.len() as u64
        && Some(rollup.gauge) == expected.last_gauge.map(|(_, value)| value)
        && rollup.minute_rows == minutes
        && rollup.minute_count == expected.count
}

/// Polls the rollups of `hour` until they equal `expected` (bounded by [`PATIENCE`]).
async fn wait_for_rollup(
    harness: &RollupHarness,
    hour: i64,
    expected: &Expected,
    minutes: i64,
) -> anyhow::Result<HourRollup> {
    let mut database = harness.database().await?;
    let deadline = Instant::now() + PATIENCE;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(rollup) = hour_rollup(&mut database, hour).await? {
            if matches(&rollup, expected, minutes) {
                return Ok(rollup);
            }
            last = Some(rollup);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "the hour rollup never matched the raw batches; expected count {} cardinality {}, last seen {last:?}",
        expected.count,
        expected.members.len()
    )
}

#[tokio::test]
async fn an_hour_rollup_is_the_exact_merge_and_a_late_batch_updates_it() -> anyhow::Result<()> {
    let harness = RollupHarness::start().await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    // Two hours ago: complete, so the rollup loop takes it as soon as its rows are in.
    let hour = now - now.rem_euclid(HOUR) - 2 * HOUR;
    let mut expected = Expected::default();
    let mut batches = Vec::new();
    // Two aggregators, an interval every five minutes: twelve minutes with data.
    for step in 0..12 {
        let start = hour + step * 300 + 20;
        batches.push(batch("a", step as u64 + 1, start, &mut expected));
        batches.push(batch("b", step as u64 + 1, start, &mut expected));
    }
    harness.publish(&batches).await?;
    let rollup = wait_for_rollup(&harness, hour, &expected, 12).await?;
    // The precondition of the comparison: several histograms really were merged.
    assert_eq!(rollup.histogram.len(), 24 * 50);

    // A third aggregator reports late for a minute without data and one with data.
    let late = [
        batch("c", 1, hour + 3_590, &mut expected),
        batch("c", 2, hour + 20, &mut expected),
    ];
    harness.publish(&late).await?;
    let rollup = wait_for_rollup(&harness, hour, &expected, 13).await?;
    assert_eq!(rollup.histogram.len(), 26 * 50);
    harness.stop().await
}

/// A late batch for an hour that began before the raw horizon (the worker was down for nearly
/// the stream's whole `max_age`): the hour's rows are all still stored (raw rows go a day at a
/// time), so its minute and hour rollups take the batch. Time is simulated by the retention:
/// the raw retention is chosen so that the horizon falls at half past noon of its day.
#[tokio::test]
async fn a_late_batch_for_an_hour_begun_past_the_raw_retention_is_rolled_up() -> anyhow::Result<()>
{
    const DAY: i64 = 86_400;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let half_past_noon = 12 * HOUR + 1_800;
    let raw_retention = DAY + (now.rem_euclid(DAY) - half_past_noon).rem_euclid(DAY);
    let harness =
        RollupHarness::start_with_retentions(&format!("10s:{raw_retention}s,1m:7d,1h:30d")).await?;
    // First an hour stored on time, so the watermarks have passed the old hour when its
    // batches arrive: they are late.
    let recent_hour = now - now.rem_euclid(HOUR) - 2 * HOUR;
    let mut recent = Expected::default();
    harness
        .publish(&[batch("a", 100, recent_hour + 20, &mut recent)])
        .await?;
    wait_for_rollup(&harness, recent_hour, &recent, 1).await?;

    let horizon = now - raw_retention;
    let hour = horizon - 1_800;
    assert_eq!(hour.rem_euclid(DAY), 12 * HOUR);
    let mut expected = Expected::default();
    // Six minutes of the hour older than the raw retention, one newer.
    let mut batches: Vec<FlushBatch> = (0..6)
        .map(|step| batch("a", step + 1, hour + step as i64 * 300 + 20, &mut expected))
        .collect();
    batches.push(batch("a", 7, hour + 2_420, &mut expected));
    harness.publish(&batches).await?;
    wait_for_rollup(&harness, hour, &expected, 7).await?;
    harness.stop().await
}
