//! `make bench-import`: how fast `abacus-import whisper` moves a tree of whisper files into
//! Abacus, beside the reference `whisper` package (PyPI) reading the same files, measured in
//! the same run so that the ratio holds on a shared, noisy machine.
//!
//! 1. `tests/compat/whisper_tree.py` writes [`FILES`] whisper files shaped like a carbon
//!    install's (a minute archive for a day, an hour archive for 30 days, gaps).
//! 2. Baseline: `whisper.fetch` of every archive of every file (what `whisper-fetch.py` does,
//!    one archive at a time), best of [`RUNS`].
//! 3. The release `abacus-import` publishes the same tree to a fresh stream, best of [`RUNS`]
//!    (each run its own stream): points per second published.
//! 4. Once more with a storage worker (in-process) consuming the stream into a fresh database:
//!    points per second from the import's start until every batch is stored.
//! 5. The bytes on disk per stored row of `raw_points` and of each `point_rollups`
//!    resolution, in the real partitioned tables.
//!
//! Each side's rate is of its own points: whisper.fetch reads every archive, the import takes
//! a coarser archive's point only where no finer archive holds its bucket. Nothing is asserted
//! beyond the import publishing some points and no more than whisper read; the figures are
//! printed (method and history: tests/bench/README.md).

use abacus_tests::{
    delete_test_stream, repo_root, rows_and_bytes_on_disk, start_storage_worker,
    unique_nats_settings, workspace_binary, TestDatabase,
};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Whisper files in the tree.
const FILES: usize = 200;
/// Timed runs of the baseline and of the publishing import; the best of each is kept.
const RUNS: usize = 3;
/// The bench files' archives, as Abacus retentions: the minute archive is the raw level.
const RETENTIONS: &str = "1m:1d,1h:30d";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let setup = Command::new("bash")
        .arg(repo_root().join("tests/compat/setup.sh"))
        .arg("whisper")
        .status()?;
    if !setup.success() {
        bail!("tests/compat/setup.sh whisper failed");
    }
    let importer = workspace_binary("abacus-storage-worker", "abacus-import")?;
    let directory =
        std::env::temp_dir().join(format!("abacus-import-bench-{}", uuid::Uuid::new_v4()));
    let outcome = run(&importer, &directory).await;
    let _ = std::fs::remove_dir_all(&directory);
    outcome
}

async fn run(importer: &Path, directory: &Path) -> anyhow::Result<()> {
    let tree = directory.join("tree");
    std::fs::create_dir_all(&tree)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        / 10
        * 10;
    eprintln!("import-bench: writing {FILES} whisper files...");
    whisper_tree(&[
        "write",
        &tree.to_string_lossy(),
        "--seed",
        "1",
        "--now",
        &now.to_string(),
        "--shape",
        "bench",
        "--files",
        &FILES.to_string(),
    ])?;

    let mut fetch_runs = Vec::new();
    for _ in 0..RUNS {
        let answer: serde_json::Value =
            serde_json::from_slice(&whisper_tree(&["time-fetch", &tree.to_string_lossy()])?)?;
        let seconds = answer["seconds"].as_f64().context("no seconds")?;
        let points = answer["points"].as_u64().context("no points")?;
        fetch_runs.push((seconds, points));
    }
    let (fetch_seconds, fetch_points) = fetch_runs
        .iter()
        .copied()
        .min_by(|left, right| left.0.total_cmp(&right.0))
        .context("no baseline run")?;

    let mut publish_runs = Vec::new();
    for _ in 0..RUNS {
        let nats = unique_nats_settings();
        let config = write_config(directory, &nats)?;
        let started = Instant::now();
        let (points, _) = import(importer, &tree, &config)?;
        publish_runs.push((started.elapsed(), points));
        delete_test_stream(&nats).await?;
    }
    let (publish_elapsed, imported_points) = publish_runs
        .iter()
        .copied()
        .min_by_key(|(elapsed, _)| *elapsed)
        .context("no import run")?;
    // whisper.fetch reads every archive, the import takes a coarser archive's point only
    // where no finer one holds its bucket: a few percent fewer points.
    if imported_points == 0 || imported_points > fetch_points {
        bail!("the import published {imported_points} points of the {fetch_points} whisper.fetch read");
    }

    // Stored: the import and a worker consuming at once, timed until every batch is stored.
    let database = TestDatabase::create().await?;
    let stored = store(importer, &tree, directory, &database).await;
    let sizes = match &stored {
        Ok(_) => bytes_per_row(&database.url).await,
        Err(_) => Ok(Vec::new()),
    };
    database.drop_database().await?;
    let stored_elapsed = stored?;
    let sizes = sizes?;

    let rate = |points: u64, seconds: f64| points as f64 / seconds.max(1e-9);
    let fetch_rate = rate(fetch_points, fetch_seconds);
    let publish_rate = rate(imported_points, publish_elapsed.as_secs_f64());
    let stored_rate = rate(imported_points, stored_elapsed.as_secs_f64());
    println!(
        "import-bench: {FILES} whisper files; whisper.fetch reads {fetch_points} points, the import takes {imported_points} (retentions {RETENTIONS})"
    );
    println!(
        "{:<44} {:>10} {:>14} {:>10}",
        "", "seconds", "points/s", "ratio"
    );
    println!(
        "{:<44} {:>10.3} {:>14.0} {:>10}",
        "whisper.fetch of every archive (baseline)", fetch_seconds, fetch_rate, "1.00"
    );
    println!(
        "{:<44} {:>10.3} {:>14.0} {:>10.2}",
        "abacus-import, published to JetStream",
        publish_elapsed.as_secs_f64(),
        publish_rate,
        publish_rate / fetch_rate
    );
    println!(
        "{:<44} {:>10.3} {:>14.0} {:>10.2}",
        "abacus-import, stored by the worker",
        stored_elapsed.as_secs_f64(),
        stored_rate,
        stored_rate / fetch_rate
    );
    println!("bytes on disk (table + indexes + toast) per row:");
    println!(
        "{:<24} {:>10} {:>12} {:>10}",
        "table", "rows", "bytes", "bytes/row"
    );
    for (table, rows, bytes) in sizes {
        println!(
            "{table:<24} {rows:>10} {bytes:>12} {:>10.1}",
            bytes as f64 / rows.max(1) as f64
        );
    }
    Ok(())
}

fn whisper_tree(arguments: &[&str]) -> anyhow::Result<Vec<u8>> {
    let output = Command::new(repo_root().join(".data/compat/whisper/bin/python"))
        .arg(repo_root().join("tests/compat/whisper_tree.py"))
        .args(arguments)
        .output()?;
    if !output.status.success() {
        bail!(
            "whisper_tree.py {arguments:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output.stdout)
}

fn write_config(
    directory: &Path,
    nats: &abacus_proto::settings::NatsSettings,
) -> anyhow::Result<PathBuf> {
    let config = directory.join(format!("{}.toml", nats.stream));
    std::fs::write(
        &config,
        format!(
            "[nats]\nurl = {:?}\nstream = {:?}\nsubject_prefix = {:?}\nmax_age = \"1h\"\n\n\
             [storage_worker]\nretentions = {RETENTIONS:?}\n",
            nats.url, nats.stream, nats.subject_prefix
        ),
    )?;
    Ok(config)
}

/// Runs the import; returns the points and batches it says it published
/// (`imported P points from F files in B batches in Ss`).
fn import(importer: &Path, tree: &Path, config: &Path) -> anyhow::Result<(u64, u64)> {
    let output = Command::new(importer)
        .arg("whisper")
        .arg(tree)
        .arg("--config")
        .arg(config)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "abacus-import failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let words: Vec<&str> = stdout.split_whitespace().collect();
    let number_after = |word: &str| -> anyhow::Result<u64> {
        let position = words
            .iter()
            .position(|candidate| *candidate == word)
            .with_context(|| format!("no {word:?} in {stdout:?}"))?;
        Ok(words
            .get(position + 1)
            .with_context(|| format!("nothing after {word:?} in {stdout:?}"))?
            .parse()?)
    };
    let batches_position = words
        .iter()
        .rposition(|word| *word == "batches")
        .with_context(|| format!("no batch count in {stdout:?}"))?;
    let batches = words[batches_position - 1].parse()?;
    Ok((number_after("imported")?, batches))
}

async fn store(
    importer: &Path,
    tree: &Path,
    directory: &Path,
    database: &TestDatabase,
) -> anyhow::Result<Duration> {
    let nats = unique_nats_settings();
    let config_file = write_config(directory, &nats)?;
    let mut config = abacus_storage_worker::config::Config {
        nats: nats.clone(),
        ..Default::default()
    };
    config.database.url = database.url.clone();
    config.storage_worker.retentions = RETENTIONS.into();
    config.storage_worker.publish_self_metrics = false;
    // Not timed here: only the import's own rows are stored and measured.
    config.storage_worker.rollup_delay = Duration::from_secs(86_400);
    config.storage_worker.rollup_interval = Duration::from_secs(3_600);
    let (_, worker) = start_storage_worker(config).await?;
    let pool = sqlx::PgPool::connect(&database.url).await?;
    // The worker has made its tables before the clock starts.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sqlx::query("select 1 from processed_batches limit 1")
        .execute(&pool)
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("the worker did not migrate its database in a minute");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    let (_, batches) = import(importer, tree, &config_file)?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let stored: i64 = sqlx::query_scalar("select count(*) from processed_batches")
            .fetch_one(&pool)
            .await?;
        if stored >= batches as i64 {
            break;
        }
        if Instant::now() > deadline {
            worker.stop().await?;
            bail!("the worker stored {stored} of {batches} batches in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    worker.stop().await?;
    pool.close().await;
    delete_test_stream(&nats).await?;
    Ok(elapsed)
}

/// (table, rows, bytes) of the raw points and of each point rollup resolution.
async fn bytes_per_row(database_url: &str) -> anyhow::Result<Vec<(String, i64, i64)>> {
    let pool = sqlx::PgPool::connect(database_url).await?;
    sqlx::query("vacuum analyze").execute(&pool).await?;
    let mut sizes = Vec::new();
    let (rows, bytes) = rows_and_bytes_on_disk(&pool, "raw_points").await?;
    sizes.push(("raw_points (1m)".to_owned(), rows, bytes));
    let retentions = abacus_storage_worker::retentions::Retentions::parse(RETENTIONS)
        .map_err(anyhow::Error::msg)?;
    for rollup in retentions.rollups {
        let partition =
            abacus_storage_worker::rollup::resolution_partition("point_rollups", rollup.seconds);
        let (rows, bytes) = rows_and_bytes_on_disk(&pool, &partition).await?;
        sizes.push((format!("point_rollups ({}s)", rollup.seconds), rows, bytes));
    }
    pool.close().await;
    Ok(sizes)
}
