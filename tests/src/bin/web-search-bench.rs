//! `make bench-web`, second half: the Metrics page's search over 100,000 series, keystroke by
//! keystroke, in a real browser against the real pipeline (issue 18: each keystroke answered in
//! under 100 ms at p95).
//!
//! 1. The three services start in-process (`abacus_tests::Pipeline`: a fresh database and a
//!    stream of their own, both dropped at the end), the API with its default pool and the web
//!    app it embedded when it was compiled.
//! 2. 100,000 series are sent over statsd TCP, as an instrumented fleet would send them:
//!    `host-NNNN.<service>.<metric>` for [`HOSTS`] hosts, [`SERVICES`] services and the ten
//!    [`METRICS`] (counters, gauges, timers, histograms, sets), each with DogStatsD tags
//!    `env:prod` and its host's `dc`. The bench waits until the storage worker has put every one
//!    in the catalog.
//! 3. `web/bench/search.mjs` drives Debian's chromium (playwright-core) through the Metrics
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
    let outcome = run(&pipeline, addresses.statsd_tcp, &chromium).await;
    let stopped = pipeline.stop().await;
    outcome?;
    stopped
}

async fn run(
    pipeline: &Pipeline,
    statsd_tcp: std::net::SocketAddr,
    chromium: &str,
) -> anyhow::Result<()> {
    eprintln!("web-search-bench: sending {SERIES} series over statsd TCP...");
    let started = Instant::now();
    let mut statsd = tokio::net::TcpStream::connect(statsd_tcp).await?;
    let mut lines = String::with_capacity(1 << 20);
    for host in 0..HOSTS {
        let dc = host % 4 + 1;
        for service in SERVICES {
            for (metric, value) in METRICS {
                lines.push_str(&format!(
                    "host-{host:04}.{service}.{metric}:{value}|#env:prod,dc:eu-{dc}\n"
                ));
            }
        }
        if lines.len() > 512 * 1024 {
            statsd.write_all(lines.as_bytes()).await?;
            lines.clear();
        }
    }
    statsd.write_all(lines.as_bytes()).await?;
    statsd.shutdown().await?;
    drop(statsd);

    let mut database = pipeline.database_connection().await?;
    let deadline = Instant::now() + SEED_PATIENCE;
    loop {
        // The worker creates the table; until then the count fails, which means "not yet".
        let stored: i64 = sqlx::query_scalar("select count(*) from series")
            .fetch_one(&mut database)
            .await
            .unwrap_or(0);
        if stored == SERIES as i64 {
            break;
        }
        if stored > SERIES as i64 {
            bail!("the catalog holds {stored} series, more than the {SERIES} sent");
        }
        if Instant::now() >= deadline {
            bail!("the catalog holds {stored} of the {SERIES} series after {SEED_PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Settled statistics, as autovacuum would have them on a catalog that grew slowly.
    sqlx::query("vacuum analyze series")
        .execute(&mut database)
        .await?;
    database.close().await?;
    eprintln!(
        "web-search-bench: {SERIES} series in the catalog after {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let status = tokio::process::Command::new("node")
        .arg(repo_root().join("web/bench/search.mjs"))
        .env("ABACUS_URL", format!("{}/", pipeline.api_base_url))
        .env("ABACUS_CHROMIUM", chromium)
        .env("BENCH_SERIES", SERIES.to_string())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .status()
        .await?;
    if !status.success() {
        bail!("web/bench/search.mjs failed: {status}");
    }
    Ok(())
}
