//! `make bench-storage`: how fast the storage worker persists a realistic stream, beside the
//! raw binary `COPY` of the same rows into the same tables, measured in the same run so the
//! ratio holds on a shared, noisy machine.
//!
//! It builds `AGGREGATORS × INTERVALS` flush batches (per aggregator and 10-second interval:
//! counters, gauges, timers with real hdrhistograms encoded by `abacus_proto::histogram`, and
//! sets with real sketches), publishes them all to a fresh JetStream stream, and then, for each
//! value of `max_batches_per_transaction` in [`BATCHES_PER_TRANSACTION`] (1 is how the worker
//! stored batches before multi-batch transactions), in a fresh database:
//!
//! 1. starts the storage worker in-process and times it from start until every batch is
//!    committed (persisted samples per second), then checks the stored totals exactly and
//!    fails loudly if any is off;
//!
//! and, in the database of the last run:
//!
//! 2. rolls the data up (one forced round of the rollup loop) and times it;
//! 3. measures the bytes on disk per row of each table and resolution;
//! 4. empties the sample tables and times a binary `COPY` of the very same rows into them.
//!
//! The figure of merit is the worker's rate over the `COPY` rate (issue 4's target: ≥ 0.7).
//! Nothing is asserted beyond the totals; the figures are printed.

use abacus_proto::histogram;
use abacus_proto::settings::NatsSettings;
use abacus_proto::sketch::SetSketch;
use abacus_proto::v1::{
    series_aggregate::Aggregate, CounterAggregate, FlushBatch, GaugeAggregate, SeriesAggregate,
    SetAggregate, TimerAggregate,
};
use abacus_storage_worker::partitions::PartitionCache;
use abacus_storage_worker::retentions::Retentions;
use abacus_storage_worker::rollup::{RollupLag, Rollups};
use abacus_tests::{start_storage_worker, unique_nats_settings, TestDatabase};
use anyhow::{bail, Context};
use prost::Message;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Aggregators publishing, each with its own series (a host each).
const AGGREGATORS: usize = 4;
/// 10-second intervals per aggregator: 15 minutes of data.
const INTERVALS: usize = 90;
const INTERVAL_MS: u64 = 10_000;
/// Series of each kind per aggregator and interval.
const COUNTERS: usize = 500;
const GAUGES: usize = 250;
const TIMERS: usize = 200;
const SETS: usize = 50;
/// Timer values recorded into each histogram, and members added to each set.
const VALUES_PER_TIMER: usize = 40;
const MEMBERS_PER_SET: usize = 20;
/// The worker's setting compared: 1 (one batch per transaction, as before) and the default.
const BATCHES_PER_TRANSACTION: [usize; 2] = [1, 64];
/// Rows per `COPY` data message.
const COPY_CHUNK_BYTES: usize = 1 << 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    // Complete hours well in the past, so that one rollup round rolls every bucket up, and
    // within the raw retention so that nothing lands in a default partition.
    let first_interval_ms = (now - now % 3_600 - 3 * 3_600) * 1_000;
    eprintln!(
        "storage-bench: building {} batches...",
        AGGREGATORS * INTERVALS
    );
    let workload = Workload::build(first_interval_ms)?;
    eprintln!(
        "storage-bench: {} batches, {} samples ({} counters, {} gauges, {} timers, {} sets), {:.1} MB of protobuf",
        workload.batches.len(),
        workload.samples(),
        workload.counter_rows,
        workload.gauge_rows,
        workload.timer_rows,
        workload.set_rows,
        workload.payload_bytes() as f64 / 1e6
    );

    let mut runs = Vec::new();
    let mut last_database = None;
    for batches_per_transaction in BATCHES_PER_TRANSACTION {
        if let Some(database) = last_database.take() {
            TestDatabase::drop_database(&database).await?;
        }
        let database = TestDatabase::create().await?;
        let outcome = persist(&database, &workload, batches_per_transaction).await;
        last_database = Some(database);
        match outcome {
            Ok(run) => runs.push(run),
            Err(error) => {
                if let Some(database) = last_database.take() {
                    database.drop_database().await?;
                }
                return Err(error);
            }
        }
    }
    let Some(database) = last_database else {
        bail!("no run");
    };
    let outcome = after_persisting(&database, &workload, &runs).await;
    database.drop_database().await?;
    outcome
}

/// One timed run of the worker.
struct WorkerRun {
    batches_per_transaction: usize,
    elapsed: Duration,
    samples: usize,
}

impl WorkerRun {
    fn samples_per_second(&self) -> f64 {
        self.samples as f64 / self.elapsed.as_secs_f64()
    }
}

async fn after_persisting(
    database: &TestDatabase,
    workload: &Workload,
    runs: &[WorkerRun],
) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&database.url)
        .await?;
    let rollup = roll_up(&pool).await?;
    let sizes = bytes_on_disk(&pool).await?;
    let copy = copy_same_rows(&database.url, workload).await?;
    pool.close().await;

    println!();
    println!(
        "storage worker vs binary COPY of the same rows ({} samples):",
        workload.samples()
    );
    println!(
        "{:<40} {:>10} {:>14} {:>10}",
        "writer", "seconds", "samples/s", "vs COPY"
    );
    for run in runs {
        println!(
            "{:<40} {:>10.2} {:>14.0} {:>9.2}x",
            format!(
                "worker, {} batch(es)/transaction",
                run.batches_per_transaction
            ),
            run.elapsed.as_secs_f64(),
            run.samples_per_second(),
            run.samples_per_second() / copy.rows_per_second()
        );
    }
    println!(
        "{:<40} {:>10.2} {:>14.0} {:>9.2}x",
        "binary COPY, one connection",
        copy.elapsed.as_secs_f64(),
        copy.rows_per_second(),
        1.0
    );
    println!();
    println!(
        "rollup round (delay 0): {:.2} s, {} raw rows read per resolution, {} rollup rows written",
        rollup.elapsed.as_secs_f64(),
        rollup.raw_rows,
        rollup.rollup_rows
    );
    println!(
        "  {:.0} raw rows rolled/s (x {} resolutions), {:.0} rollup rows written/s",
        (rollup.raw_rows as f64 * rollup.resolutions as f64) / rollup.elapsed.as_secs_f64(),
        rollup.resolutions,
        rollup.rollup_rows as f64 / rollup.elapsed.as_secs_f64()
    );
    println!();
    println!("bytes on disk (table + indexes + toast) per row:");
    println!(
        "{:<22} {:>10} {:>12} {:>14} {:>10}",
        "table", "resolution", "rows", "bytes", "bytes/row"
    );
    for size in &sizes {
        println!(
            "{:<22} {:>10} {:>12} {:>14} {:>10.1}",
            size.table,
            size.resolution,
            size.rows,
            size.bytes,
            size.bytes as f64 / size.rows.max(1) as f64
        );
    }
    let mut by_resolution: Vec<(&str, i64, i64)> = Vec::new();
    for size in &sizes {
        match by_resolution
            .iter_mut()
            .find(|(resolution, _, _)| *resolution == size.resolution)
        {
            Some(entry) => {
                entry.1 += size.rows;
                entry.2 += size.bytes;
            }
            None => by_resolution.push((&size.resolution, size.rows, size.bytes)),
        }
    }
    for (resolution, rows, bytes) in by_resolution {
        println!(
            "{:<22} {:>10} {:>12} {:>14} {:>10.1}",
            "all kinds",
            resolution,
            rows,
            bytes,
            bytes as f64 / rows.max(1) as f64
        );
    }
    Ok(())
}

/// The batches, and the rows they must become.
struct Workload {
    batches: Vec<FlushBatch>,
    payloads: Vec<Vec<u8>>,
    counter_rows: usize,
    gauge_rows: usize,
    timer_rows: usize,
    set_rows: usize,
    counter_total: f64,
    timer_count_total: f64,
}

impl Workload {
    fn build(first_interval_ms: i64) -> anyhow::Result<Self> {
        let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut workload = Workload {
            batches: Vec::new(),
            payloads: Vec::new(),
            counter_rows: 0,
            gauge_rows: 0,
            timer_rows: 0,
            set_rows: 0,
            counter_total: 0.0,
            timer_count_total: 0.0,
        };
        for interval in 0..INTERVALS {
            for aggregator in 0..AGGREGATORS {
                let mut series = Vec::with_capacity(COUNTERS + GAUGES + TIMERS + SETS);
                for index in 0..COUNTERS {
                    let count = (random.next() % 1_000) as f64;
                    workload.counter_total += count;
                    series.push(aggregate(
                        format!("app.host{aggregator}.requests.endpoint{index}"),
                        Aggregate::Counter(CounterAggregate { count }),
                    ));
                }
                for index in 0..GAUGES {
                    let value = (random.next() % 100_000) as f64 / 100.0;
                    series.push(aggregate(
                        format!("app.host{aggregator}.queue.depth{index}"),
                        Aggregate::Gauge(GaugeAggregate { value }),
                    ));
                }
                for index in 0..TIMERS {
                    let timer = timer(&mut random)?;
                    workload.timer_count_total += timer.count;
                    series.push(aggregate(
                        format!("app.host{aggregator}.latency.endpoint{index}"),
                        Aggregate::Timer(timer),
                    ));
                }
                for index in 0..SETS {
                    let mut sketch = SetSketch::new();
                    for _ in 0..MEMBERS_PER_SET {
                        sketch.insert(format!("user{}", random.next() % 10_000).as_bytes());
                    }
                    series.push(aggregate(
                        format!("app.host{aggregator}.users.page{index}"),
                        Aggregate::Set(SetAggregate {
                            sketch: sketch.to_bytes(),
                        }),
                    ));
                }
                workload.counter_rows += COUNTERS;
                workload.gauge_rows += GAUGES;
                workload.timer_rows += TIMERS;
                workload.set_rows += SETS;
                let batch = FlushBatch {
                    schema_version: abacus_proto::SCHEMA_VERSION,
                    aggregator_id: format!("bench-{aggregator}"),
                    incarnation: 1,
                    sequence: interval as u64 + 1,
                    interval_start_unix_ms: first_interval_ms
                        + (interval as u64 * INTERVAL_MS) as i64,
                    interval_length_ms: INTERVAL_MS as u32,
                    series,
                    ..Default::default()
                };
                workload.payloads.push(batch.encode_to_vec());
                workload.batches.push(batch);
            }
        }
        Ok(workload)
    }

    fn samples(&self) -> usize {
        self.counter_rows + self.gauge_rows + self.timer_rows + self.set_rows
    }

    fn payload_bytes(&self) -> usize {
        self.payloads.iter().map(Vec::len).sum()
    }
}

fn aggregate(name: String, aggregate: Aggregate) -> SeriesAggregate {
    SeriesAggregate {
        name,
        tags: vec![],
        aggregate: Some(aggregate),
    }
}

/// A timer of `VALUES_PER_TIMER` latencies (log-normal-ish: mostly fast, a slow tail).
fn timer(random: &mut XorShift) -> anyhow::Result<TimerAggregate> {
    let mut recorded = histogram::new_histogram(histogram::DEFAULT_SIGNIFICANT_DIGITS)?;
    let mut timer = TimerAggregate {
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        ..Default::default()
    };
    for _ in 0..VALUES_PER_TIMER {
        let uniform = (random.next() % 1_000_000) as f64 / 1_000_000.0;
        let milliseconds = (5.0 * (uniform * 4.0).exp() * 100.0).round() / 100.0;
        histogram::record_milliseconds(&mut recorded, milliseconds, 1);
        timer.count += 1.0;
        timer.sum += milliseconds;
        timer.sum_of_squares += milliseconds * milliseconds;
        timer.min = timer.min.min(milliseconds);
        timer.max = timer.max.max(milliseconds);
    }
    timer.hdr_histogram = histogram::encode(&recorded)?;
    Ok(timer)
}

/// A small deterministic generator: the same workload every run, no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Publishes every batch to a fresh stream, starts the worker on it, and times it until every
/// batch is committed; then checks the totals.
async fn persist(
    database: &TestDatabase,
    workload: &Workload,
    batches_per_transaction: usize,
) -> anyhow::Result<WorkerRun> {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&database.url)
        .await?;
    abacus_storage_worker::store::MIGRATOR.run(&pool).await?;
    // The worker's rollup loop would otherwise spend its first round catching up on a week of
    // empty spans while being timed; a day back is where a running system's watermark is.
    sqlx::query(
        "insert into rollup_watermarks (resolution_seconds, rolled_until)
         select resolution, to_timestamp(floor(extract(epoch from now() - interval '1 day') / resolution) * resolution)
         from unnest($1::integer[]) as r (resolution)",
    )
    .bind(default_retentions()?.rollup_seconds())
    .execute(&pool)
    .await?;

    let nats = unique_nats_settings();
    eprintln!(
        "storage-bench: publishing {} batches to {}...",
        workload.payloads.len(),
        nats.stream
    );
    publish(&nats, &workload.payloads).await?;

    let mut config = abacus_storage_worker::config::Config {
        nats: nats.clone(),
        ..Default::default()
    };
    config.database.url = database.url.clone();
    config.storage_worker.max_batches_per_transaction = batches_per_transaction;
    // Only the workload's batches are timed and counted.
    config.storage_worker.publish_self_metrics = false;
    // Not timed here: the rollups get their own measurement below.
    config.storage_worker.rollup_delay = Duration::from_secs(86_400);
    config.storage_worker.rollup_interval = Duration::from_secs(3_600);
    eprintln!("storage-bench: worker with {batches_per_transaction} batch(es)/transaction...");
    let started = Instant::now();
    let (_, worker) = start_storage_worker(config).await?;
    let expected = workload.batches.len() as i64;
    let deadline = started + Duration::from_secs(600);
    loop {
        let stored: i64 = sqlx::query_scalar("select count(*) from processed_batches")
            .fetch_one(&pool)
            .await?;
        if stored >= expected {
            break;
        }
        if Instant::now() > deadline {
            worker.stop().await?;
            bail!("the worker stored {stored} of {expected} batches in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    worker.stop().await?;
    delete_stream(&nats).await?;
    check_totals(&pool, workload).await?;
    pool.close().await;
    Ok(WorkerRun {
        batches_per_transaction,
        elapsed,
        samples: workload.samples(),
    })
}

async fn publish(nats: &NatsSettings, payloads: &[Vec<u8>]) -> anyhow::Result<()> {
    let context = async_nats::jetstream::new(abacus_proto::stream::connect(nats).await?);
    abacus_proto::stream::ensure_stream(&context, nats).await?;
    let subject = abacus_proto::stream::flush_subject(nats);
    let mut acknowledgements = Vec::with_capacity(payloads.len());
    for payload in payloads {
        acknowledgements.push(
            context
                .publish(subject.clone(), payload.clone().into())
                .await?,
        );
    }
    for acknowledgement in acknowledgements {
        acknowledgement.await.context("publish not acknowledged")?;
    }
    Ok(())
}

async fn delete_stream(nats: &NatsSettings) -> anyhow::Result<()> {
    let context = async_nats::jetstream::new(abacus_proto::stream::connect(nats).await?);
    context
        .delete_stream(&nats.stream)
        .await
        .context("cannot delete the bench stream")?;
    Ok(())
}

/// Fails loudly unless every row is stored exactly once.
async fn check_totals(pool: &PgPool, workload: &Workload) -> anyhow::Result<()> {
    let (counter_rows, counter_total): (i64, f64) =
        sqlx::query_as("select count(*), coalesce(sum(count), 0) from counter_samples")
            .fetch_one(pool)
            .await?;
    let gauge_rows: i64 = sqlx::query_scalar("select count(*) from gauge_samples")
        .fetch_one(pool)
        .await?;
    let (timer_rows, timer_count_total): (i64, f64) =
        sqlx::query_as("select count(*), coalesce(sum(count), 0) from timer_samples")
            .fetch_one(pool)
            .await?;
    let set_rows: i64 = sqlx::query_scalar("select count(*) from set_samples")
        .fetch_one(pool)
        .await?;
    let expected = (
        workload.counter_rows as i64,
        workload.counter_total,
        workload.gauge_rows as i64,
        workload.timer_rows as i64,
        workload.timer_count_total,
        workload.set_rows as i64,
    );
    let stored = (
        counter_rows,
        counter_total,
        gauge_rows,
        timer_rows,
        timer_count_total,
        set_rows,
    );
    if stored != expected {
        bail!(
            "STORED TOTALS ARE WRONG: (counter rows, counter sum, gauge rows, timer rows, timer count, set rows) \
             stored {stored:?}, expected {expected:?}"
        );
    }
    Ok(())
}

fn default_retentions() -> anyhow::Result<Retentions> {
    Retentions::parse(abacus_storage_worker::retentions::DEFAULT_RETENTIONS)
        .map_err(|reason| anyhow::anyhow!("default retentions: {reason}"))
}

struct RollupRun {
    elapsed: Duration,
    resolutions: usize,
    raw_rows: i64,
    rollup_rows: i64,
}

/// One forced round of the rollup loop (no delay) over the stored data.
async fn roll_up(pool: &PgPool) -> anyhow::Result<RollupRun> {
    let retentions = default_retentions()?;
    let resolutions = retentions.rollups.len();
    let rollups = Rollups {
        pool: pool.clone(),
        partitions: Arc::new(PartitionCache::default()),
        schema: Arc::new(retentions.into()),
        delay: Duration::ZERO,
        every: Duration::from_secs(1),
        lag: Arc::new(RollupLag::default()),
    };
    eprintln!("storage-bench: rolling up...");
    let started = Instant::now();
    rollups
        .run_once(&tokio_util::sync::CancellationToken::new())
        .await
        .context("rollup round failed")?;
    let elapsed = started.elapsed();
    let raw_rows: i64 = sqlx::query_scalar(
        "select (select count(*) from counter_samples) + (select count(*) from gauge_samples)
              + (select count(*) from timer_samples) + (select count(*) from set_samples)",
    )
    .fetch_one(pool)
    .await?;
    let rollup_rows: i64 = sqlx::query_scalar(
        "select (select count(*) from counter_rollups) + (select count(*) from gauge_rollups)
              + (select count(*) from timer_rollups) + (select count(*) from set_rollups)",
    )
    .fetch_one(pool)
    .await?;
    let dirty_left: i64 = sqlx::query_scalar("select count(*) from rollup_dirty")
        .fetch_one(pool)
        .await?;
    if dirty_left > 0 || rollup_rows == 0 {
        bail!("the rollup round left {dirty_left} dirty keys and wrote {rollup_rows} rows");
    }
    Ok(RollupRun {
        elapsed,
        resolutions,
        raw_rows,
        rollup_rows,
    })
}

struct TableSize {
    table: String,
    resolution: String,
    rows: i64,
    bytes: i64,
}

/// Bytes of every leaf partition (heap, indexes, toast) of each table and resolution, and its
/// rows.
async fn bytes_on_disk(pool: &PgPool) -> anyhow::Result<Vec<TableSize>> {
    sqlx::query("vacuum analyze").execute(pool).await?;
    let mut sizes = Vec::new();
    for table in [
        "counter_samples",
        "gauge_samples",
        "timer_samples",
        "set_samples",
    ] {
        sizes.push(table_size(pool, table, table, "raw 10s").await?);
    }
    for resolution in default_retentions()?.rollups {
        for table in [
            "counter_rollups",
            "gauge_rollups",
            "timer_rollups",
            "set_rollups",
        ] {
            let partition =
                abacus_storage_worker::rollup::resolution_partition(table, resolution.seconds);
            sizes.push(
                table_size(pool, table, &partition, &format!("{}s", resolution.seconds)).await?,
            );
        }
    }
    Ok(sizes)
}

async fn table_size(
    pool: &PgPool,
    table: &str,
    partitioned: &str,
    resolution: &str,
) -> anyhow::Result<TableSize> {
    let (rows, bytes) = abacus_tests::rows_and_bytes_on_disk(pool, partitioned).await?;
    Ok(TableSize {
        table: table.to_owned(),
        resolution: resolution.to_owned(),
        rows,
        bytes,
    })
}

struct CopyRun {
    elapsed: Duration,
    rows: u64,
}

impl CopyRun {
    fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64()
    }
}

/// Empties the sample tables and copies the same rows into them with binary `COPY`, one table
/// after the other on one connection.
async fn copy_same_rows(url: &str, workload: &Workload) -> anyhow::Result<CopyRun> {
    let mut connection = PgConnection::connect(url).await?;
    let ids: HashMap<(String, String), i64> =
        sqlx::query_as::<_, (i64, String, String)>("select id, kind, name from series")
            .fetch_all(&mut connection)
            .await?
            .into_iter()
            .map(|(id, kind, name)| ((kind, name), id))
            .collect();
    sqlx::query("truncate counter_samples, gauge_samples, timer_samples, set_samples")
        .execute(&mut connection)
        .await?;
    let mut counters = BinaryCopy::new();
    let mut gauges = BinaryCopy::new();
    let mut timers = BinaryCopy::new();
    let mut sets = BinaryCopy::new();
    eprintln!("storage-bench: encoding the same rows for COPY...");
    for batch in &workload.batches {
        let interval_start = postgres_microseconds(batch.interval_start_unix_ms);
        let interval_ms = batch.interval_length_ms as i32;
        for series in &batch.series {
            let (kind, target) = match &series.aggregate {
                Some(Aggregate::Counter(_)) => ("counter", &mut counters),
                Some(Aggregate::Gauge(_)) => ("gauge", &mut gauges),
                Some(Aggregate::Timer(_)) => ("timer", &mut timers),
                Some(Aggregate::Set(_)) => ("set", &mut sets),
                None => continue,
            };
            let id = *ids
                .get(&(kind.to_owned(), series.name.clone()))
                .with_context(|| format!("series {kind} {} not in the catalog", series.name))?;
            let columns = match &series.aggregate {
                Some(Aggregate::Timer(_)) => 10,
                _ => 5,
            };
            target.start_row(columns);
            target.int8(id);
            target.int8(interval_start);
            target.text(&batch.aggregator_id);
            target.int4(interval_ms);
            match &series.aggregate {
                Some(Aggregate::Counter(counter)) => target.float8(counter.count),
                Some(Aggregate::Gauge(gauge)) => target.float8(gauge.value),
                Some(Aggregate::Timer(timer)) => {
                    target.float8(timer.count);
                    target.float8(timer.sum);
                    target.float8(timer.sum_of_squares);
                    target.float8(timer.min);
                    target.float8(timer.max);
                    target.bytes(&timer.hdr_histogram);
                }
                Some(Aggregate::Set(set)) => target.bytes(&set.sketch),
                None => {}
            }
        }
    }
    let copies = [
        (
            "copy counter_samples (series_id, interval_start, source, interval_ms, count) from stdin (format binary)",
            counters,
        ),
        (
            "copy gauge_samples (series_id, interval_start, source, interval_ms, value) from stdin (format binary)",
            gauges,
        ),
        (
            "copy timer_samples (series_id, interval_start, source, interval_ms, count, sum, sum_of_squares, min, max, histogram) from stdin (format binary)",
            timers,
        ),
        (
            "copy set_samples (series_id, interval_start, source, interval_ms, sketch) from stdin (format binary)",
            sets,
        ),
    ];
    eprintln!("storage-bench: binary COPY...");
    let started = Instant::now();
    let mut rows = 0;
    for (statement, data) in copies {
        let data = data.finish();
        let mut copy = connection.copy_in_raw(statement).await?;
        for chunk in data.chunks(COPY_CHUNK_BYTES) {
            copy.send(chunk).await?;
        }
        rows += copy.finish().await?;
    }
    let elapsed = started.elapsed();
    if rows != workload.samples() as u64 {
        bail!("COPY wrote {rows} rows, expected {}", workload.samples());
    }
    Ok(CopyRun { elapsed, rows })
}

/// Microseconds since 2000-01-01 UTC, PostgreSQL's binary `timestamptz`.
fn postgres_microseconds(unix_ms: i64) -> i64 {
    const POSTGRES_EPOCH_UNIX_SECONDS: i64 = 946_684_800;
    (unix_ms - POSTGRES_EPOCH_UNIX_SECONDS * 1_000) * 1_000
}

/// The binary `COPY` format: a header, then per row a field count and each field as length
/// and big-endian bytes, then a trailer.
struct BinaryCopy {
    data: Vec<u8>,
}

impl BinaryCopy {
    fn new() -> Self {
        let mut data = Vec::with_capacity(1 << 20);
        data.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        data.extend_from_slice(&0i32.to_be_bytes()); // flags
        data.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        Self { data }
    }

    fn start_row(&mut self, columns: i16) {
        self.data.extend_from_slice(&columns.to_be_bytes());
    }

    fn field(&mut self, bytes: &[u8]) {
        self.data
            .extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        self.data.extend_from_slice(bytes);
    }

    fn int8(&mut self, value: i64) {
        self.field(&value.to_be_bytes());
    }

    fn int4(&mut self, value: i32) {
        self.field(&value.to_be_bytes());
    }

    fn float8(&mut self, value: f64) {
        self.field(&value.to_bits().to_be_bytes());
    }

    fn text(&mut self, value: &str) {
        self.field(value.as_bytes());
    }

    fn bytes(&mut self, value: &[u8]) {
        self.field(value);
    }

    fn finish(mut self) -> Vec<u8> {
        self.data.extend_from_slice(&(-1i16).to_be_bytes());
        self.data
    }
}
