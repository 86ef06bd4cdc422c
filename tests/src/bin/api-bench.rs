//! `make bench-api`: query latency of the API beside the bare SQL that fetches the same rows,
//! measured in the same run so the ratio holds on a shared, noisy machine.
//!
//! It creates a fresh database (migrated by the storage worker's embedded migrations), fills it
//! directly with SQL — the write path is the storage benchmark's business — starts the API
//! in-process on a loopback port, and times three queries from issue 5:
//!
//! * (a) one counter over 30 days of 10-second data at `maxDataPoints=1000`;
//! * (b) `sumSeries(stats.counters.web*.count)` over 100 counters for 24 hours;
//! * (c) `/metrics/find?query=stats.counters.host*.*` over a catalog of 100,000 series.
//!
//! Each is run `ROUNDS` times after a warm-up; p50 and p99 are printed beside those of the bare
//! SQL, with the ratio. No rollups are written, so (a) reads raw rows: the worst case.

use abacus_api::config::Config as ApiConfig;
use abacus_tests::{nats_url, TestDatabase};
use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ROUNDS: usize = 30;
const WARM_UP_ROUNDS: usize = 3;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let outcome = run(&database).await;
    database.drop_database().await?;
    outcome
}

async fn run(database: &TestDatabase) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&database.url)
        .await?;
    abacus_storage_worker::store::MIGRATOR.run(&pool).await?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let now = now - now % 10;
    eprintln!("api-bench: filling the database (about a minute)...");
    let fill_started = Instant::now();
    fill(&pool, now).await?;
    eprintln!(
        "api-bench: filled in {:.1}s",
        fill_started.elapsed().as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut config = ApiConfig::default();
    config.database.url = database.url.clone();
    config.nats.url = nats_url();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn(abacus_api::run(config, listener, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();

    let thirty_days = 30 * 86_400;
    let day = 86_400;
    let cases: Vec<(&str, String, String)> = vec![
        (
            "(a) 1 series, 30 days, maxDataPoints=1000",
            "/render?target=stats.counters.long.series.count&from=-30d&until=now&maxDataPoints=1000&format=json".to_owned(),
            format!(
                "select extract(epoch from c.interval_start)::bigint, c.count from counter_samples c
                 join series s on s.id = c.series_id
                 where s.name = 'long.series' and s.kind = 'counter'
                   and c.interval_start >= to_timestamp({}) and c.interval_start < to_timestamp({now})",
                now - thirty_days
            ),
        ),
        (
            "(b) sumSeries over 100 series, 24 hours",
            "/render?target=sumSeries(stats.counters.web*.count)&from=-24h&until=now&format=json".to_owned(),
            format!(
                "select c.series_id, extract(epoch from c.interval_start)::bigint, c.count from counter_samples c
                 join series s on s.id = c.series_id
                 where s.name like 'web%' and s.kind = 'counter'
                   and c.interval_start >= to_timestamp({}) and c.interval_start < to_timestamp({now})",
                now - day
            ),
        ),
        (
            "(c) /metrics/find over 100k series",
            "/metrics/find?query=stats.counters.host1*.*".to_owned(),
            "select distinct name, kind from series where name like 'host1%' order by name".to_owned(),
        ),
    ];

    println!(
        "{:<46} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8}",
        "query", "api p50", "api p99", "sql p50", "sql p99", "p50 x", "p99 x"
    );
    for (label, path, sql) in cases {
        let url = format!("{base}{path}");
        let api_times = time_rounds(|| async {
            let response = http.get(&url).send().await?;
            anyhow::ensure!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            response.bytes().await?;
            Ok(())
        })
        .await
        .with_context(|| format!("timing {label}"))?;
        let sql_times = time_rounds(|| async {
            sqlx::query(&sql).fetch_all(&pool).await?;
            Ok(())
        })
        .await?;
        let (api_p50, api_p99) = percentiles(api_times);
        let (sql_p50, sql_p99) = percentiles(sql_times);
        println!(
            "{label:<46} {:>8.1}ms {:>8.1}ms {:>8.1}ms {:>8.1}ms {:>7.2}x {:>7.2}x",
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
    pool.close().await;
    Ok(())
}

/// Writes the catalog and samples the three queries read, straight into the tables.
async fn fill(pool: &sqlx::PgPool, now: i64) -> anyhow::Result<()> {
    let thirty_days_ago = now - 30 * 86_400;
    // Day partitions, as the storage worker would have created them.
    for day in 0..=31 {
        let lower = thirty_days_ago - thirty_days_ago % 86_400 + day * 86_400;
        sqlx::query("select abacus_ensure_partition('counter_samples', 'interval_start', to_timestamp($1), to_timestamp($2))")
            .bind(lower as f64)
            .bind((lower + 86_400) as f64)
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
    .bind(now - 86_400)
    .bind(now)
    .execute(pool)
    .await?;
    sqlx::query("analyze").execute(pool).await?;
    Ok(())
}

async fn time_rounds<F, Fut>(mut one_round: F) -> anyhow::Result<Vec<Duration>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    for _ in 0..WARM_UP_ROUNDS {
        one_round().await?;
    }
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        one_round().await?;
        times.push(started.elapsed());
    }
    Ok(times)
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
