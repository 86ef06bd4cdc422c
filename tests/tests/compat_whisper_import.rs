//! `abacus-import whisper` held to the reference `whisper` package (PyPI, installed by
//! `tests/compat/setup.sh whisper`): tests/compat/whisper_tree.py writes a tree of whisper files
//! as carbon would have (three archives, 10s:1d, 1m:30d and 1h:1y; gaps; each aggregation
//! method, with xFilesFactor 0 and 0.5; points of every age an archive keeps; what is left of
//! older turns of the rings), the real `abacus-import` binary publishes them to a pipeline whose
//! retentions and aggregation rules are the files', and then, per file:
//!
//! `GET /api/v1/data/<metric>` answers exactly the points `whisper.fetch` shows of every
//! archive where the finest wins (a coarser archive's point only where no finer archive holds
//! a point of its bucket): every time and every value, and the import counts as many points.
//!
//! Whisper's "now" is the file's last update (tests/compat/whisper_tree.py writes every file up
//! to the same time and reads it back at that time; the import finds it in the file). Run
//! twice, the import stores nothing more. The data is seeded: set `ABACUS_COMPAT_SEED` to try
//! other data.
//!
//! And one time written again and again (within one ingest batch and across batches) reads as
//! whisper shows the same writes: the last one written.

use abacus_proto::storage_schema::{Aggregation, AggregationRuleSetting};
use abacus_tests::{repo_root, workspace_binary, Pipeline, PipelineSettings};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The files' archives, as Abacus retentions.
const RETENTIONS: &str = "10s:1d,1m:30d,1h:1y";
/// How far carbon writes on after the first import: a point every 10 s per file.
const APPENDED_SECONDS: i64 = 300;
const METHODS: [(&str, Aggregation); 5] = [
    ("average", Aggregation::Average),
    ("sum", Aggregation::Sum),
    ("min", Aggregation::Min),
    ("max", Aggregation::Max),
    ("last", Aggregation::Last),
];

/// An aggregation rule per directory of the tree, as the files aggregate (the `unruled` file
/// has none, so the import must list it).
fn aggregation_rules() -> Vec<AggregationRuleSetting> {
    let mut rules = Vec::new();
    for (method, aggregation) in METHODS {
        for (directory, x_files_factor) in [("xff0", 0.0), ("xff50", 0.5)] {
            rules.push(AggregationRuleSetting {
                pattern: None,
                glob: Some(format!("{method}.{directory}.*")),
                aggregation,
                x_files_factor,
            });
        }
    }
    rules
}

fn toml_rules() -> String {
    aggregation_rules()
        .iter()
        .map(|rule| {
            format!(
                "[[storage_worker.aggregation_rules]]\nglob = {:?}\naggregation = {:?}\nx_files_factor = {}\n",
                rule.glob.as_deref().unwrap_or_default(),
                rule.aggregation.name(),
                rule.x_files_factor
            )
        })
        .collect()
}

fn python() -> std::path::PathBuf {
    repo_root().join(".data/compat/whisper/bin/python")
}

fn whisper_tree(arguments: &[&str]) -> anyhow::Result<Vec<u8>> {
    let output = Command::new(python())
        .arg(repo_root().join("tests/compat/whisper_tree.py"))
        .args(arguments)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "whisper_tree.py {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output.stdout)
}

fn iso(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .expect("a time whisper holds")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Runs the import of `tree` with `config`; returns its standard output and error.
fn import(binary: &Path, tree: &Path, config: &Path) -> anyhow::Result<(String, String)> {
    let output = Command::new(binary)
        .arg("whisper")
        .arg(tree)
        .arg("--config")
        .arg(config)
        .output()?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    anyhow::ensure!(
        output.status.success(),
        "abacus-import failed: {stdout}\n{stderr}"
    );
    Ok((stdout, stderr))
}

/// `imported P points from F files in B batches in Ss` → (P, B).
fn imported(stdout: &str) -> anyhow::Result<(u64, u64)> {
    let line = stdout
        .lines()
        .find(|line| line.starts_with("imported "))
        .ok_or_else(|| anyhow::anyhow!("no summary in {stdout:?}"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |word: &str| -> anyhow::Result<u64> {
        let position = words
            .iter()
            .position(|candidate| *candidate == word)
            .ok_or_else(|| anyhow::anyhow!("no {word:?} in {stdout:?}"))?;
        Ok(words[position + 1].parse()?)
    };
    Ok((after("imported")?, words[words.len() - 4].parse()?))
}

/// `N of these batches were already in the stream` → N (0 without that line).
fn already_sent(stdout: &str) -> u64 {
    stdout
        .lines()
        .find(|line| line.contains("already in the stream"))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or(0)
}

/// Row counts once the rollup loop has nothing left to do below `stable_before`: no span to
/// list, no dirty key, and every watermark past it.
async fn row_counts(pipeline: &Pipeline, stable_before: i64) -> anyhow::Result<(i64, i64)> {
    let pool = sqlx::PgPool::connect(&pipeline.settings.database.url).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let settled: bool = sqlx::query_scalar(
            "select not exists (select 1 from rollup_spans)
                and not exists (select 1 from rollup_dirty)
                and (select count(*) from rollup_watermarks where rolled_until >= to_timestamp($1)) = 2",
        )
        .bind(stable_before as f64)
        .fetch_one(&pool)
        .await?;
        if settled {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the rollups did not settle"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Rollup rows of buckets that end before the files' last hour: those the rollup loop has
    // no more reason to touch once the import is stored.
    let counts = sqlx::query_as(
        "select (select count(*) from raw_points),
                (select count(*) from point_rollups
                  where interval_start + make_interval(secs => resolution_seconds) <= to_timestamp($1))",
    )
    .bind(stable_before as f64)
    .fetch_one(&pool)
    .await?;
    pool.close().await;
    Ok(counts)
}

/// The first differences between two point lists, for the failure message.
fn differences(ours: &[(String, f64)], theirs: &[(String, f64)]) -> String {
    let ours_by_time: BTreeMap<&str, f64> = ours.iter().map(|(t, v)| (t.as_str(), *v)).collect();
    let theirs_by_time: BTreeMap<&str, f64> =
        theirs.iter().map(|(t, v)| (t.as_str(), *v)).collect();
    let mut lines = Vec::new();
    for (time, value) in &theirs_by_time {
        match ours_by_time.get(time) {
            None => lines.push(format!("{time}: whisper {value}, abacus none")),
            Some(ours) if ours.to_bits() != value.to_bits() => {
                lines.push(format!("{time}: whisper {value}, abacus {ours}"))
            }
            _ => {}
        }
    }
    for (time, value) in &ours_by_time {
        if !theirs_by_time.contains_key(time) {
            lines.push(format!("{time}: whisper none, abacus {value}"));
        }
    }
    let count = lines.len();
    lines.truncate(8);
    format!("{count} differences, first: {}", lines.join("; "))
}

/// How many points `whisper.fetch` shows of the whole tree (finest archive wins).
fn point_count(reference: &Value) -> u64 {
    reference["files"]
        .as_object()
        .unwrap()
        .values()
        .map(|file| file["points"].as_array().unwrap().len() as u64)
        .sum()
}

/// Per file whose `GET /api/v1/data` differs from the points `whisper.fetch` shows (`reference`,
/// the output of `whisper_tree.py fetch`): the metric and its first differences.
async fn data_differences(pipeline: &Pipeline, reference: &Value) -> anyhow::Result<Vec<String>> {
    let now = reference["now"].as_i64().unwrap();
    let mut failures = Vec::new();
    for (metric, file) in reference["files"].as_object().unwrap() {
        let expected: Vec<(String, f64)> = file["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|point| (iso(point[0].as_i64().unwrap()), point[1].as_f64().unwrap()))
            .collect();
        let path = format!(
            "/api/v1/data/{metric}?from={}&until={}",
            now - 366 * 86_400,
            now + 10
        );
        let rows = pipeline.stored_points(&path).await?;
        if rows != expected {
            failures.push(format!(
                "{metric} ({} points): {}",
                expected.len(),
                differences(&rows, &expected)
            ));
        }
    }
    Ok(failures)
}

/// Installs the reference (`tests/compat/setup.sh whisper`), once per machine.
fn install_whisper() -> anyhow::Result<()> {
    let setup = Command::new("bash")
        .arg(repo_root().join("tests/compat/setup.sh"))
        .arg("whisper")
        .status()?;
    anyhow::ensure!(setup.success(), "tests/compat/setup.sh whisper failed");
    Ok(())
}

#[tokio::test]
async fn imported_whisper_files_read_back_as_whisper_fetch_shows_them() -> anyhow::Result<()> {
    install_whisper()?;
    let importer = workspace_binary("abacus-storage-worker", "abacus-import")?;

    let seed = std::env::var("ABACUS_COMPAT_SEED").unwrap_or_else(|_| "17".into());
    // Ten minutes back, so that carbon's next writes (appended below) are not in the future.
    let now = chrono::Utc::now().timestamp() / 10 * 10 - APPENDED_SECONDS - 300;
    let directory = std::env::temp_dir().join(format!("abacus-whisper-{}", uuid::Uuid::new_v4()));
    let tree = directory.join("tree");
    std::fs::create_dir_all(&tree)?;
    let tree_text = tree.to_string_lossy().into_owned();
    whisper_tree(&[
        "write",
        &tree_text,
        "--seed",
        &seed,
        "--now",
        &now.to_string(),
    ])?;
    let reference: Value = serde_json::from_slice(&whisper_tree(&["fetch", &tree_text])?)?;

    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_storage_worker = |config| {
        config.storage_worker.retentions = RETENTIONS.into();
        config.storage_worker.aggregation_rules = aggregation_rules();
        config.storage_worker.rollup_delay = Duration::from_secs(1);
        config.storage_worker.rollup_interval = Duration::from_millis(200);
    };
    let pipeline = Pipeline::start_with_aggregator(settings, "127.0.0.1:9".parse()?, None).await?;
    let nats = &pipeline.settings.nats;
    let config = directory.join("abacus.toml");
    std::fs::write(
        &config,
        format!(
            "[nats]\nurl = {:?}\nstream = {:?}\nsubject_prefix = {:?}\nmax_age = \"1h\"\n\n\
             [storage_worker]\nretentions = {RETENTIONS:?}\n{}",
            nats.url,
            nats.stream,
            nats.subject_prefix,
            toml_rules()
        ),
    )?;

    let (stdout, stderr) = import(&importer, &tree, &config)?;
    let (points, batches) = imported(&stdout)?;
    assert_eq!(points, point_count(&reference), "{stdout}");
    // Only the file no rule describes is listed as aggregating differently.
    let listed: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("aggregates by"))
        .collect();
    assert_eq!(listed.len(), 1, "{stderr}");
    assert!(
        listed[0]
            .trim_start()
            .starts_with("unruled.load: the file aggregates by max with xFilesFactor 0.1"),
        "{stderr}"
    );
    pipeline.wait_until_worker_is_idle(batches).await?;

    let files = reference["files"].as_object().unwrap();
    let failures = data_differences(&pipeline, &reference).await?;
    assert!(
        failures.is_empty(),
        "/api/v1/data:\n{}",
        failures.join("\n")
    );

    // Run again: every batch is the same one, stored once.
    let stable_before = now - 3_600;
    let before = row_counts(&pipeline, stable_before).await?;

    // /render over each archive's window, as of the files' time, reads that archive's
    // resolution (whisper picks the archive by the age of `from`) and shows what
    // whisper.fetch shows of the archive, slot for slot.
    // The `unruled` file aggregates by max while Abacus rolls it up by its default rule
    // (average; the import reports it), so its coarser archives are not expected to agree.
    let mut archive_failures = Vec::new();
    for (metric, file) in files
        .iter()
        .filter(|(metric, _)| !metric.starts_with("unruled"))
    {
        for archive in file["archives"].as_array().unwrap() {
            let step = archive["step"].as_i64().unwrap();
            let start = archive["start"].as_i64().unwrap();
            let theirs: Vec<Option<f64>> = archive["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(Value::as_f64)
                .collect();
            let until = start + (theirs.len() as i64 - 1) * step;
            let path = format!(
                "/render?target={metric}&from={}&until={until}&now={now}&format=json",
                start - 1
            );
            let (status, answer) = pipeline.get_json(&path).await?;
            assert_eq!(status, 200, "{path}: {answer}");
            let points = answer[0]["datapoints"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let ours: Vec<(Option<f64>, i64)> = points
                .iter()
                .map(|point| (point[0].as_f64(), point[1].as_i64().unwrap_or_default()))
                .collect();
            let mut wrong: Vec<String> = Vec::new();
            if ours.len() != theirs.len() || ours.first().map(|(_, time)| *time) != Some(start) {
                wrong.push(format!(
                    "{} slots from {:?}, whisper {} from {start}",
                    ours.len(),
                    ours.first().map(|(_, time)| *time),
                    theirs.len()
                ));
            } else {
                for (index, ((our, time), their)) in ours.iter().zip(&theirs).enumerate() {
                    let agree = match (our, their) {
                        (None, None) => true,
                        (Some(our), Some(their)) => {
                            (our - their).abs() <= 1e-9 * our.abs().max(their.abs())
                        }
                        _ => false,
                    };
                    if !agree {
                        wrong.push(format!("slot {index} ({time}): {our:?}, whisper {their:?}"));
                    }
                }
            }
            if !wrong.is_empty() {
                let count = wrong.len();
                wrong.truncate(4);
                archive_failures.push(format!(
                    "{metric} at {step}s: {count} differ: {}",
                    wrong.join("; ")
                ));
            }
        }
    }
    assert!(
        archive_failures.is_empty(),
        "/render per archive:\n{}",
        archive_failures.join("\n")
    );
    let (again, _) = import(&importer, &tree, &config)?;
    assert_eq!(imported(&again)?, (points, batches), "{again}");
    pipeline.wait_until_worker_is_idle(batches).await?;
    assert_eq!(row_counts(&pipeline, stable_before).await?, before);
    // And once before: a raw row per point of the last day.
    let last_day = files
        .values()
        .flat_map(|file| file["points"].as_array().unwrap())
        .filter(|point| point[0].as_i64().unwrap() > now - 86_400)
        .count();
    assert_eq!(before.0, last_day as i64);

    // Carbon writes on, and the tree is imported again: every file changed, so every batch is
    // a new one, yet only the new points are stored as new rows and the whole tree reads back
    // as whisper.fetch now shows it.
    let until = now + APPENDED_SECONDS;
    whisper_tree(&[
        "append",
        &tree_text,
        "--seed",
        &seed,
        "--until",
        &until.to_string(),
    ])?;
    let appended: Value = serde_json::from_slice(&whisper_tree(&["fetch", &tree_text])?)?;
    let (third, _) = import(&importer, &tree, &config)?;
    let (points_now, batches_now) = imported(&third)?;
    assert_eq!(points_now, point_count(&appended), "{third}");
    assert!(batches_now > already_sent(&third), "{third}");
    pipeline
        .wait_until_worker_is_idle(batches + batches_now - already_sent(&third))
        .await?;
    let failures = data_differences(&pipeline, &appended).await?;
    assert!(
        failures.is_empty(),
        "/api/v1/data after carbon wrote on:\n{}",
        failures.join("\n")
    );
    let new_points = files.len() as i64 * APPENDED_SECONDS / 10;
    let after = row_counts(&pipeline, stable_before).await?;
    assert_eq!(
        after.0,
        before.0 + new_points,
        "raw rows after the third import"
    );

    pipeline.stop().await?;
    std::fs::remove_dir_all(&directory)?;
    Ok(())
}

/// One time written again and again, in rounds (each round one HTTP ingest request, so one
/// batch: values repeated within a batch, and across batches): after each round Abacus reads
/// the value whisper shows after the same writes in the same order, the last one written.
#[tokio::test]
async fn a_time_written_again_reads_as_whisper_keeps_it() -> anyhow::Result<()> {
    install_whisper()?;
    let rounds: [&[f64]; 3] = [&[5.0, 7.0, 5.0, 9.0, 3.0], &[4.0, 3.0], &[3.0, 8.0]];
    let time = (chrono::Utc::now().timestamp() - 3_600) / 10 * 10 + 3;
    let directory = std::env::temp_dir().join(format!("abacus-whisper-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&directory)?;
    let shown = whisper_tree(&[
        "overwrite",
        &directory.to_string_lossy(),
        "--at",
        &time.to_string(),
        "--writes",
        &serde_json::to_string(&rounds)?,
    ])?;
    std::fs::remove_dir_all(&directory)?;
    let whisper_shows: Vec<f64> = serde_json::from_slice(&shown)?;

    let pipeline =
        Pipeline::start_with_settings(PipelineSettings::new(Duration::from_secs(1)).await?).await?;
    let path = format!(
        "/api/v1/data/overwritten?from={}&until={}",
        time - 60,
        time + 60
    );
    let mut abacus_shows = Vec::new();
    for (delivered, values) in (1..).zip(rounds) {
        let points: Vec<Value> = values
            .iter()
            .map(|value| serde_json::json!({"metric": "overwritten", "value": value, "timestamp": time}))
            .collect();
        let (status, answer) = pipeline
            .post_json("/api/v1/data", &Value::from(points))
            .await?;
        assert_eq!(status, 200, "{answer}");
        pipeline.wait_until_worker_is_idle(delivered).await?;
        let rows = pipeline.stored_points(&path).await?;
        assert_eq!(rows.len(), 1, "{rows:?}");
        abacus_shows.push(rows[0].1);
    }
    assert_eq!(abacus_shows, whisper_shows);
    pipeline.stop().await
}
