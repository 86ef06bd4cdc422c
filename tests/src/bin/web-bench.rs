//! `make bench-web`, against the real pipeline in a real browser (issue 18): the Graph page
//! drawing a day of 10 series at 10 s beside a bare fetch of the same `/render` (within 1.5×),
//! and the Metrics page's search over 100,000 series, keystroke by keystroke (each answered in
//! under 100 ms at p95).
//!
//! 1. The three services start in-process (`abacus_tests::Pipeline`: a fresh database and a
//!    stream of their own, both dropped at the end), the API with its default pool and the web
//!    app it embedded when it was compiled.
//! 2. [`GRAPH_SERIES`] series of [`GRAPH_POINTS`] points, one every 10 s up to the last whole
//!    hour, are sent as Graphite plaintext with their timestamps (a seeded random walk each);
//!    once all are stored, `web/bench/graph.mjs` times the Graph page drawing them against the
//!    API (`BENCH_API`), beside a blank page that fetches the very `/render` URL the app
//!    requested and draws it with bare uPlot.
//! 3. 100,000 series are sent over statsd TCP, as an instrumented fleet would send them:
//!    `host-NNNN.<service>.<metric>` for [`HOSTS`] hosts, [`SERVICES`] services and the ten
//!    [`METRICS`] (counters, gauges, timers, histograms, sets), each with DogStatsD tags
//!    `env:prod` and its host's `dc`. The bench waits until the storage worker has put every one
//!    in the catalog.
//! 4. `web/bench/search.mjs` drives Debian's chromium (playwright-core) through the Metrics
//!    page, typing realistic queries character by character, with backspaces, and times each
//!    keystroke from its key event to the list showing the answer for exactly that text; then
//!    fetches the very requests the page made, alone, as the baseline. Its figures are printed.
//!
//! Nothing is asserted about time. Method and history: tests/bench/README.md.

use abacus_tests::{repo_root, start_aggregator_with_addresses, Pipeline, PipelineSettings};
use anyhow::{bail, Context};
use sqlx::Connection;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const HOSTS: usize = 500;
const SERVICES: [&str; 20] = [
    "api",
    "auth",
    "billing",
    "cart",
    "catalog",
    "checkout",
    "email",
    "gateway",
    "inventory",
    "ledger",
    "media",
    "notify",
    "orders",
    "payments",
    "profile",
    "ranking",
    "search",
    "session",
    "shipping",
    "users",
];
/// Each metric with a statsd value and type of its kind.
const METRICS: [(&str, &str); 10] = [
    ("requests", "1|c"),
    ("errors", "1|c"),
    ("bytes_sent", "512|c"),
    ("latency", "12.5|ms"),
    ("payload_size", "2048|h"),
    ("queue_depth", "7|g"),
    ("memory_bytes", "1073741824|g"),
    ("cpu_percent", "42.5|g"),
    ("connections", "120|g"),
    ("active_users", "user-1|s"),
];
const SERIES: usize = HOSTS * SERVICES.len() * METRICS.len();
/// The Graph page's series: `bench.s00` … `bench.s09`, a day of points at 10 s each.
const GRAPH_SERIES: usize = 10;
const GRAPH_POINTS: u64 = 8_640;
const GRAPH_STEP: u64 = 10;
/// How long the storage worker may take to put every series in the catalog.
const SEED_PATIENCE: Duration = Duration::from_secs(300);

/// Runs tests/web/setup.sh; returns the chromium binary it found or installed.
fn chromium() -> anyhow::Result<String> {
    let output = std::process::Command::new("bash")
        .arg(repo_root().join("tests/web/setup.sh"))
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run tests/web/setup.sh")?;
    if !output.status.success() {
        bail!("tests/web/setup.sh failed: {}", output.status);
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if !abacus_api::web::APP_BUILT {
        bail!(
            "the API was compiled without the web app: build it first (make web), then build \
             this benchmark again (make bench-web does both)"
        );
    }
    let chromium = chromium()?;
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    // The API as it runs by default: its own pool size, not the harness's small one.
    settings.adjust_api = |config| {
        config.database.max_connections =
            abacus_proto::settings::DatabaseSettings::default().max_connections;
    };
    let (addresses, aggregator) =
        start_aggregator_with_addresses(settings.aggregator_config(), None).await?;
    let pipeline =
        Pipeline::start_with_aggregator(settings, addresses.statsd_udp, Some(aggregator)).await?;
    let outcome = async {
        graph(&pipeline, addresses.graphite_tcp, &chromium).await?;
        search(&pipeline, addresses.statsd_tcp, &chromium).await
    }
    .await;
    let stopped = pipeline.stop().await;
    outcome?;
    stopped
}

/// Stores the Graph page's day of points, then runs `web/bench/graph.mjs` against the API.
async fn graph(
    pipeline: &Pipeline,
    graphite_tcp: std::net::SocketAddr,
    chromium: &str,
) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let until = now / 3600 * 3600;
    let from = until - GRAPH_POINTS * GRAPH_STEP;
    let expected = GRAPH_SERIES as u64 * GRAPH_POINTS;
    eprintln!(
        "web-bench: sending {expected} Graphite points \
         ({GRAPH_SERIES} series, a day at {GRAPH_STEP} s)..."
    );
    let mut random = Mulberry32(18);
    let mut lines = String::with_capacity(4 << 20);
    for series in 0..GRAPH_SERIES {
        let mut value = 100.0 * (series + 1) as f64;
        for point in 1..=GRAPH_POINTS {
            value = (value + (random.next() - 0.5) * 10.0).max(0.0);
            let time = from + point * GRAPH_STEP;
            lines.push_str(&format!("bench.s{series:02} {value:.3} {time}\n"));
        }
    }
    send_over_tcp(graphite_tcp, &lines).await?;
    wait_until_stored(
        pipeline,
        "select count(*) from raw_points p join series s on s.id = p.series_id \
         where s.name like 'bench.s%'",
        expected,
        "Graphite points",
    )
    .await?;

    run_script(
        "web/bench/graph.mjs",
        chromium,
        &[
            ("BENCH_API", pipeline.api_base_url.clone()),
            ("BENCH_TARGET", "bench.*".into()),
            ("BENCH_FROM", from.to_string()),
            ("BENCH_UNTIL", until.to_string()),
            ("BENCH_SERIES", GRAPH_SERIES.to_string()),
            ("BENCH_POINTS", GRAPH_POINTS.to_string()),
        ],
    )
    .await
}

/// Runs one of the browser benchmark scripts with node; its figures go to this process's output.
async fn run_script(script: &str, chromium: &str, env: &[(&str, String)]) -> anyhow::Result<()> {
    let status = tokio::process::Command::new("node")
        .arg(repo_root().join(script))
        .env("ABACUS_CHROMIUM", chromium)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .status()
        .await?;
    if !status.success() {
        bail!("{script} failed: {status}");
    }
    Ok(())
}

/// The seeded generator `web/bench/browser.mjs` has (mulberry32): numbers in [0, 1).
struct Mulberry32(u32);

impl Mulberry32 {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x6d2b_79f5);
        let mut t = self.0;
        t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
        f64::from(t ^ (t >> 14)) / 4_294_967_296.0
    }
}

/// Writes `text` to a new TCP connection and closes it.
async fn send_over_tcp(address: std::net::SocketAddr, text: &str) -> anyhow::Result<()> {
    let mut connection = tokio::net::TcpStream::connect(address).await?;
    connection.write_all(text.as_bytes()).await?;
    connection.shutdown().await?;
    Ok(())
}

/// Waits until `count_query` counts `expected` rows, then settles the statistics, as
/// autovacuum would have them on tables that grew slowly.
async fn wait_until_stored(
    pipeline: &Pipeline,
    count_query: &str,
    expected: u64,
    what: &str,
) -> anyhow::Result<()> {
    let mut database = pipeline.database_connection().await?;
    let deadline = Instant::now() + SEED_PATIENCE;
    loop {
        // The worker creates the tables; until then the count fails, which means "not yet".
        let stored: i64 = sqlx::query_scalar(count_query)
            .fetch_one(&mut database)
            .await
            .unwrap_or(0);
        if stored == expected as i64 {
            break;
        }
        if stored > expected as i64 {
            bail!("{stored} {what} are stored, more than the {expected} sent");
        }
        if Instant::now() >= deadline {
            bail!("{stored} of the {expected} {what} are stored after {SEED_PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sqlx::query("vacuum analyze").execute(&mut database).await?;
    database.close().await?;
    Ok(())
}

/// Sends the 100,000 series, then runs `web/bench/search.mjs` against the API.
async fn search(
    pipeline: &Pipeline,
    statsd_tcp: std::net::SocketAddr,
    chromium: &str,
) -> anyhow::Result<()> {
    eprintln!("web-bench: sending {SERIES} series over statsd TCP...");
    let started = Instant::now();
    let mut lines = String::with_capacity(8 << 20);
    for host in 0..HOSTS {
        let dc = host % 4 + 1;
        for service in SERVICES {
            for (metric, value) in METRICS {
                lines.push_str(&format!(
                    "host-{host:04}.{service}.{metric}:{value}|#env:prod,dc:eu-{dc}\n"
                ));
            }
        }
    }
    send_over_tcp(statsd_tcp, &lines).await?;
    wait_until_stored(
        pipeline,
        "select count(*) from series where name like 'host-%'",
        SERIES as u64,
        "series",
    )
    .await?;
    eprintln!(
        "web-bench: {SERIES} series in the catalog after {:.1}s",
        started.elapsed().as_secs_f64()
    );

    run_script(
        "web/bench/search.mjs",
        chromium,
        &[
            ("ABACUS_URL", format!("{}/", pipeline.api_base_url)),
            ("BENCH_SERIES", SERIES.to_string()),
        ],
    )
    .await
}
