//! `make bench-api`: query latency of the API beside the bare SQL that fetches the same rows,
//! measured in the same run so the ratio holds on a shared, noisy machine.
//!
//! It creates a fresh database (migrated by the storage worker's embedded migrations), fills it
//! directly with SQL — the write path is the storage benchmark's business — starts the API
//! in-process on a loopback port, and times three queries from issue 5:
//!
//! * (a) one counter over 30 days at `maxDataPoints=1000`;
//! * (b) `sumSeries(stats.counters.web*.count)` over 100 counters for 24 hours;
//! * (c) `/metrics/find?query=stats.counters.host1*.*` over a catalog of 100,000 series.
//!
//! Two phases. First the worst case: 30 days of raw 10-second rows and no rollups at all, so
//! (a) reads every raw row. Then the steady state the storage worker keeps with the default
//! retentions: 1-minute and 1-hour rollups (written as its recomputation writes them, see
//! [`roll_up_and_expire`]) with their watermarks, and the raw day partitions older than 7 days
//! dropped by its own retention (`maintenance::drop_expired_partitions`). Each query is run `ROUNDS` times after a warm-up, alternating with its bare SQL; p50 and p99 are printed beside
//! those of the bare SQL reading the same rows from the same tables (and the same columns the
//! API's own queries select), with the ratio.

use abacus_api::config::Config as ApiConfig;
use abacus_api::read::grid::{consolidated_step, StepGrid};
use abacus_storage_worker::maintenance::drop_expired_partitions;
use abacus_storage_worker::partitions::{floor_to, PartitionCache};
use abacus_storage_worker::retentions::{Retentions, DEFAULT_RETENTIONS};
use abacus_storage_worker::rollup::{
    resolution_partition, rollup_partition_seconds, ROLLUP_TABLES,
};
use abacus_tests::{nats_url, TestDatabase};
use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Enough rounds that p99 is a percentile (the 99th of 100) and not just the slowest round.
const ROUNDS: usize = 100;
const WARM_UP_ROUNDS: usize = 3;
const DAY: i64 = 86_400;
const THIRTY_DAYS: i64 = 30 * DAY;
/// The step of the stored raw rows.
const RAW_STEP: i64 = 10;
const MAX_DATA_POINTS: usize = 1000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let outcome = run(&database).await;
    database.drop_database().await?;
    outcome
}

/// One timed query: the API request and the bare SQL reading the same rows.
struct Case {
    label: &'static str,
    path: String,
    sql: String,
}

async fn run(database: &TestDatabase) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&database.url)
        .await?;
    abacus_storage_worker::store::MIGRATOR.run(&pool).await?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let now = now - now % RAW_STEP;
    eprintln!("api-bench: filling the database (about a minute)...");
    let fill_started = Instant::now();
    fill(&pool, now).await?;
    eprintln!(
        "api-bench: filled in {:.1}s",
        fill_started.elapsed().as_secs_f64()
    );
    // (a) asks for an absolute range so the bare SQL can read exactly the rows the API reads.
    let (a_from, a_until) = (now - THIRTY_DAYS, now);
    let a_path = format!(
        "/render?target=stats.counters.long.series.count&from={a_from}&until={a_until}&maxDataPoints={MAX_DATA_POINTS}&format=json"
    );
    let raw_grid = StepGrid::new(
        a_from,
        a_until,
        consolidated_step(RAW_STEP, a_from, a_until, Some(MAX_DATA_POINTS)),
    );

    println!(
        "{:<58} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8}",
        "query", "api p50", "api p99", "sql p50", "sql p99", "p50 x", "p99 x"
    );
    let worst_case = [Case {
        label: "(a) worst case: no rollups, 30 d of raw 10 s rows",
        path: a_path.clone(),
        sql: format!(
            "select c.series_id, c.interval_start, c.count from counter_samples c
             join series s on s.id = c.series_id
             where s.name = 'long.series' and s.kind = 'counter'
               and c.interval_start >= to_timestamp({}) and c.interval_start < to_timestamp({})",
            raw_grid.start, raw_grid.end
        ),
    }];
    time_cases(database, &pool, &worst_case).await?;

    eprintln!("api-bench: rolling up as the storage worker does, then applying its retention...");
    let rollup_started = Instant::now();
    roll_up_and_expire(&pool, now).await?;
    eprintln!(
        "api-bench: rolled up in {:.1}s",
        rollup_started.elapsed().as_secs_f64()
    );
    let watermark: i64 = sqlx::query_scalar(
        "select extract(epoch from rolled_until)::bigint from rollup_watermarks where resolution_seconds = 60",
    )
    .fetch_one(&pool)
    .await
    .context("the 1-minute rollup has no watermark")?;
    // The API's choice for (a): the coarsest rollup whose buckets divide the consolidated step
    // (1 minute: 2,592 s rounds up to 2,640 s), read below its watermark, raw rows above it.
    let minute_step = (raw_grid.step + 59) / 60 * 60;
    let minute_grid = StepGrid::new(a_from, a_until, minute_step);
    let boundary = watermark.clamp(minute_grid.start, minute_grid.end);
    let steady_state = [
        Case {
            label: "(a) 1 series, 30 d, maxDataPoints=1000 (1 min rollup)",
            path: a_path,
            sql: format!(
                "select c.series_id, c.interval_start, c.count from counter_rollups c
                 join series s on s.id = c.series_id
                 where s.name = 'long.series' and s.kind = 'counter' and c.resolution_seconds = 60
                   and c.interval_start >= to_timestamp({start}) and c.interval_start < to_timestamp({boundary})
                 union all
                 select c.series_id, c.interval_start, c.count from counter_samples c
                 join series s on s.id = c.series_id
                 where s.name = 'long.series' and s.kind = 'counter'
                   and c.interval_start >= to_timestamp({boundary}) and c.interval_start < to_timestamp({end})",
                start = minute_grid.start,
                end = minute_grid.end,
            ),
        },
        Case {
            label: "(b) sumSeries over 100 series, 24 h (raw 10 s rows)",
            path: format!(
                "/render?target=sumSeries(stats.counters.web*.count)&from={}&until={now}&format=json",
                now - DAY
            ),
            sql: {
                let grid = StepGrid::new(now - DAY, now, RAW_STEP);
                format!(
                    "select c.series_id, c.interval_start, c.count from counter_samples c
                     join series s on s.id = c.series_id
                     where s.name like 'web%' and s.kind = 'counter'
                       and c.interval_start >= to_timestamp({}) and c.interval_start < to_timestamp({})",
                    grid.start, grid.end
                )
            },
        },
        Case {
            label: "(c) /metrics/find over 100k series",
            path: "/metrics/find?query=stats.counters.host1*.*".to_owned(),
            // The API's catalog read for the `stats.counters` branch, as it sends it (the
            // owner pattern `host1*`); the API de-duplicates and sorts the nodes itself.
            sql: "select name, kind from series where name like 'host1%' escape '\\' and kind = any('{counter}')"
                .to_owned(),
        },
    ];
    time_cases(database, &pool, &steady_state).await?;
    pool.close().await;
    Ok(())
}

/// Starts the API, times each case's request and bare SQL, prints a line per case, stops it.
async fn time_cases(
    database: &TestDatabase,
    pool: &sqlx::PgPool,
    cases: &[Case],
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut config = ApiConfig::default();
    config.database.url = database.url.clone();
    config.nats.url = nats_url();
    // Nothing but the measured queries: no self-metrics batches onto the stream.
    config.api.publish_self_metrics = false;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn(abacus_api::run(config, listener, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    for case in cases {
        let url = format!("{base}{}", case.path);
        let (api_times, sql_times) = time_rounds(
            || async {
                let response = http.get(&url).send().await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "{}: {}",
                    case.path,
                    response.status()
                );
                response.bytes().await?;
                Ok(())
            },
            || async {
                sqlx::query(&case.sql).fetch_all(pool).await?;
                Ok(())
            },
        )
        .await
        .with_context(|| format!("timing {}", case.label))?;
        let (api_p50, api_p99) = percentiles(api_times);
        let (sql_p50, sql_p99) = percentiles(sql_times);
        println!(
            "{:<58} {:>8.1}ms {:>8.1}ms {:>8.1}ms {:>8.1}ms {:>7.2}x {:>7.2}x",
            case.label,
            millis(api_p50),
            millis(api_p99),
            millis(sql_p50),
            millis(sql_p99),
            api_p50.as_secs_f64() / sql_p50.as_secs_f64(),
            api_p99.as_secs_f64() / sql_p99.as_secs_f64(),
        );
    }
    let _ = stop.send(());
    api.await??;
    Ok(())
}

/// Writes the catalog and the raw samples the three queries read, straight into the tables:
/// 30 days of 10-second counts for (a), 24 hours for each of (b)'s 100 series.
async fn fill(pool: &sqlx::PgPool, now: i64) -> anyhow::Result<()> {
    let thirty_days_ago = now - THIRTY_DAYS;
    // Day partitions, as the storage worker would have created them.
    for day in 0..=31 {
        let lower = thirty_days_ago - thirty_days_ago % DAY + day * DAY;
        sqlx::query("select abacus_ensure_partition('counter_samples', 'interval_start', to_timestamp($1), to_timestamp($2))")
            .bind(lower as f64)
            .bind((lower + DAY) as f64)
            .execute(pool)
            .await?;
    }
    let first_seen = format!("to_timestamp({thirty_days_ago})");
    sqlx::query(&format!(
        "insert into series (kind, name, tags, first_seen, last_seen)
         select 'counter', 'long.series', '{{}}'::text[], {first_seen}, now()
         union all
         select 'counter', 'web' || i, '{{}}'::text[], {first_seen}, now() from generate_series(1, 100) i
         union all
         select 'counter', 'host' || i || '.requests', '{{}}'::text[], {first_seen}, now() from generate_series(1, 99899) i"
    ))
    .execute(pool)
    .await?;
    sqlx::query(
        "insert into counter_samples (series_id, interval_start, source, interval_ms, count)
         select s.id, to_timestamp(t), 'bench', 10000, (t % 7)::float8
         from series s, generate_series($1::bigint, $2::bigint - 10, 10) t
         where s.name = 'long.series'",
    )
    .bind(thirty_days_ago)
    .bind(now)
    .execute(pool)
    .await?;
    sqlx::query(
        "insert into counter_samples (series_id, interval_start, source, interval_ms, count)
         select s.id, to_timestamp(t), 'bench', 10000, 1
         from series s, generate_series($1::bigint, $2::bigint - 10, 10) t
         where s.name like 'web%'",
    )
    .bind(now - DAY)
    .bind(now)
    .execute(pool)
    .await?;
    sqlx::query("analyze").execute(pool).await?;
    Ok(())
}

/// Brings the database to the state a storage worker running with the default retentions
/// for the last 30 days would have left: 1-minute and 1-hour counter rollups with their
/// watermarks, then its retention dropping the raw day partitions older than 7 days.
///
/// The rollup rows are written with the statement the worker's recomputation uses for counters
/// (`storage-worker/src/rollup.rs`, `recompute`: the sum of the counts of the raw rows of each
/// series and bucket) in one pass, into partitions created by the worker's own functions, and
/// the watermarks are put where its advance would have left them (the last bucket ended
/// `rollup_delay` ago). Running the worker's loop itself would be truer still, but it
/// recomputes about a thousand keys a minute on this machine (hours for these 190,000 keys).
async fn roll_up_and_expire(pool: &sqlx::PgPool, now: i64) -> anyhow::Result<()> {
    let retentions = Retentions::parse(DEFAULT_RETENTIONS).map_err(anyhow::Error::msg)?;
    let partitions = PartitionCache::default();
    let rollup_delay = 30;
    for resolution in &retentions.rollups {
        let seconds = i64::from(resolution.seconds);
        let width = rollup_partition_seconds(resolution.seconds);
        for table in ROLLUP_TABLES {
            sqlx::query("select abacus_ensure_resolution_partition($1, $2)")
                .bind(table)
                .bind(resolution.seconds as i32)
                .execute(pool)
                .await?;
            let parent = resolution_partition(table, resolution.seconds);
            let mut lower_bound = floor_to(now - THIRTY_DAYS, width);
            while lower_bound <= now {
                partitions
                    .ensure(pool, &parent, "interval_start", lower_bound, width)
                    .await?;
                lower_bound += width;
            }
        }
        let watermark = floor_to(now - rollup_delay, seconds);
        sqlx::query(
            "insert into counter_rollups (series_id, resolution_seconds, interval_start, count)
             select series_id, $1, to_timestamp(floor(extract(epoch from interval_start) / $1) * $1), sum(count)
             from counter_samples where interval_start < to_timestamp($2)
             group by 1, 3",
        )
        .bind(resolution.seconds as i32)
        .bind(watermark as f64)
        .execute(pool)
        .await?;
        sqlx::query(
            "insert into rollup_watermarks (resolution_seconds, rolled_until) values ($1, to_timestamp($2))",
        )
        .bind(resolution.seconds as i32)
        .bind(watermark as f64)
        .execute(pool)
        .await?;
    }
    let dropped = drop_expired_partitions(
        pool,
        &partitions,
        &retentions.clone().into(),
        sqlx::types::chrono::Utc::now(),
    )
    .await?;
    eprintln!("api-bench: {} expired partitions dropped", dropped.len());
    sqlx::query("analyze").execute(pool).await?;
    Ok(())
}

/// Times `ROUNDS` requests and `ROUNDS` bare SQL reads after a warm-up of each, alternating
/// one and the other, so a burst of load on the shared machine falls on both alike rather
/// than on whichever happened to run then.
async fn time_rounds<Api, ApiRound, Sql, SqlRound>(
    mut api_round: Api,
    mut sql_round: Sql,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)>
where
    Api: FnMut() -> ApiRound,
    ApiRound: std::future::Future<Output = anyhow::Result<()>>,
    Sql: FnMut() -> SqlRound,
    SqlRound: std::future::Future<Output = anyhow::Result<()>>,
{
    for _ in 0..WARM_UP_ROUNDS {
        api_round().await?;
        sql_round().await?;
    }
    let mut api_times = Vec::with_capacity(ROUNDS);
    let mut sql_times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        api_round().await?;
        api_times.push(started.elapsed());
        let started = Instant::now();
        sql_round().await?;
        sql_times.push(started.elapsed());
    }
    Ok((api_times, sql_times))
}

fn percentiles(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    let at = |quantile: f64| {
        times[((quantile * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1]
    };
    (at(0.5), at(0.99))
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
