//! `abacus-import whisper <dir or files>... [--prefix p] [--from t] [--until t]`: reads Graphite
//! whisper files and publishes their points to the stream, like any other ingest; the storage
//! worker stores each where its age puts it, as for points sent over Graphite plaintext.
//!
//! Points of many files are packed into each batch (at most `--batch-points`), so a tree of
//! many small files costs one message per batch, not per file or point. A batch's id is derived
//! from its contents (a fixed-key hash) and its place in the run, so running the same import
//! twice, or again after an interruption, publishes the same ids: JetStream and the worker's
//! batch ids store each once. Progress goes to the terminal (stderr) once a second.

use abacus_proto::settings::CommandLine;
use abacus_proto::v1::{FlushBatch, RawPoint};
use abacus_storage_worker::config::Config;
use abacus_storage_worker::whisper::{metric_name, WhisperFile};
use anyhow::Context as _;
use async_nats::jetstream;
use clap::Parser;
use prost::Message as _;
use std::hash::Hasher as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Parser)]
#[command(name = "abacus-import", about = "Import Graphite data into Abacus")]
struct Arguments {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Import whisper files: every file under each directory, or the files named.
    Whisper(WhisperArguments),
}

#[derive(Debug, clap::Args)]
struct WhisperArguments {
    /// Directories (walked for `*.wsp`) and whisper files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Put before every metric name (`prefix.servers.web1.load`).
    #[arg(long)]
    prefix: Option<String>,
    /// Only points at or after this time: unix seconds, or `-30d` (s, min, h, d, w, y).
    #[arg(long)]
    from: Option<String>,
    /// Only points at or before this time, written like `--from`.
    #[arg(long)]
    until: Option<String>,
    /// Most points in one published batch.
    #[arg(long, default_value_t = 10_000)]
    batch_points: usize,
    /// Most batches waiting for JetStream's acknowledgement at once.
    #[arg(long, default_value_t = 32)]
    in_flight: usize,
    #[command(flatten)]
    settings: CommandLine,
}

/// The producer id of imported batches.
const PRODUCER: &str = "abacus-import-whisper";

#[tokio::main]
async fn main() {
    let arguments = Arguments::parse();
    let Command::Whisper(arguments) = arguments.command;
    let config: Config =
        abacus_proto::settings::load_or_exit("abacus-import", arguments.settings.config.as_deref());
    if let Err(error) = import_whisper(&config, &arguments).await {
        eprintln!("abacus-import: {error:#}");
        std::process::exit(1);
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

/// Unix seconds, or `-<n><unit>` before now.
fn parse_time(text: &str, now: i64) -> anyhow::Result<i64> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    let relative = text
        .strip_prefix('-')
        .with_context(|| format!("{text:?} is neither unix seconds nor -<n><unit>"))?;
    let digits = relative
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(relative.len());
    let (number, unit) = relative.split_at(digits);
    let number: i64 = number
        .parse()
        .with_context(|| format!("{text:?}: no number"))?;
    let unit_seconds = match unit {
        "s" => 1,
        "min" | "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "y" => 365 * 86_400,
        _ => anyhow::bail!("{text:?}: unknown unit {unit:?}"),
    };
    Ok(now - number * unit_seconds)
}

/// The whisper files to read, each with the root its name is taken relative to, sorted so a
/// run is repeatable.
fn whisper_files(paths: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut pending = vec![path.clone()];
            while let Some(directory) = pending.pop() {
                for entry in std::fs::read_dir(&directory)
                    .with_context(|| format!("cannot read {}", directory.display()))?
                {
                    let entry = entry?;
                    let entry_path = entry.path();
                    if entry.file_type()?.is_dir() {
                        pending.push(entry_path);
                    } else if entry_path
                        .extension()
                        .is_some_and(|extension| extension == "wsp")
                    {
                        files.push((path.clone(), entry_path));
                    }
                }
            }
        } else {
            let root = path.parent().unwrap_or(Path::new("")).to_path_buf();
            files.push((root, path.clone()));
        }
    }
    files.sort();
    Ok(files)
}

/// A batch being filled, and how its identity is derived from what it holds.
struct Pending {
    points: Vec<RawPoint>,
    hasher: siphasher::sip::SipHasher13,
}

impl Pending {
    fn new() -> Self {
        Self {
            points: Vec::new(),
            hasher: siphasher::sip::SipHasher13::new_with_keys(
                0x6162_6163_7573,
                0x0077_6869_7370_6572,
            ),
        }
    }

    fn push(&mut self, name: &str, timestamp: i64, value: f64) {
        self.hasher.write(name.as_bytes());
        self.hasher.write_i64(timestamp);
        self.hasher.write_u64(value.to_bits());
        self.points.push(RawPoint {
            name: name.to_owned(),
            tags: Vec::new(),
            timestamp_unix_ms: timestamp * 1_000,
            value,
        });
    }

    /// The batch, numbered `sequence` in this run; its incarnation is the hash of its points,
    /// so the same points in the same place get the same id on every run.
    fn seal(self, sequence: u64, now: i64) -> FlushBatch {
        FlushBatch {
            schema_version: abacus_proto::SCHEMA_VERSION,
            aggregator_id: PRODUCER.into(),
            incarnation: self.hasher.finish() >> 1,
            sequence,
            interval_start_unix_ms: now * 1_000,
            interval_length_ms: 1_000,
            series: Vec::new(),
            events: Vec::new(),
            points: self.points,
        }
    }
}

/// What was done, for the progress line and the summary.
#[derive(Default)]
struct Progress {
    files: usize,
    points: u64,
    batches: u64,
    /// Batches the stream already held (sent by an earlier run of the same import).
    already_sent: u64,
    unreadable: Vec<String>,
    /// Files whose aggregation differs from the rule their name matches.
    differing: Vec<String>,
}

async fn import_whisper(config: &Config, arguments: &WhisperArguments) -> anyhow::Result<()> {
    let now = unix_now();
    let from = arguments
        .from
        .as_deref()
        .map(|text| parse_time(text, now))
        .transpose()?
        .unwrap_or(i64::MIN);
    let until = arguments
        .until
        .as_deref()
        .map(|text| parse_time(text, now))
        .transpose()?
        .unwrap_or(i64::MAX);
    let schema = config.storage_worker.schema()?;
    let files = whisper_files(&arguments.paths)?;
    let total_files = files.len();
    let client = abacus_proto::stream::connect(&config.nats)
        .await
        .context("cannot connect to nats")?;
    let context = jetstream::new(client.clone());
    abacus_proto::stream::ensure_stream(&context, &config.nats).await?;
    let subject = abacus_proto::stream::flush_subject(&config.nats);
    let max_payload = client.server_info().max_payload.max(64 * 1024);

    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut progress = Progress::default();
    let mut pending = Pending::new();
    let mut pending_bytes = 0usize;
    let mut in_flight = futures::stream::FuturesOrdered::new();
    let mut sequence = 0u64;

    let publish = |batch: FlushBatch| {
        let batch_id = abacus_proto::batch_id(&batch);
        let payload = batch.encode_to_vec();
        let context = context.clone();
        let subject = subject.clone();
        async move {
            let acknowledgement =
                abacus_proto::producer::publish_batch(&context, subject, &batch_id, payload.into())
                    .await
                    .with_context(|| format!("cannot publish batch {batch_id}"))?;
            // The stream already held this batch: an earlier run sent it, within the
            // stream's duplicate window.
            anyhow::Ok(acknowledgement.duplicate)
        }
    };

    for (root, file) in &files {
        progress.files += 1;
        let Some(name) = metric_name(root, file, arguments.prefix.as_deref()) else {
            progress
                .unreadable
                .push(format!("{}: no metric name", file.display()));
            continue;
        };
        let parsed = match std::fs::read(file)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| WhisperFile::parse(&bytes).map_err(anyhow::Error::from))
        {
            Ok(parsed) => parsed,
            Err(error) => {
                progress
                    .unreadable
                    .push(format!("{}: {error}", file.display()));
                continue;
            }
        };
        let rule = schema.aggregation_for(&name);
        let same_method = parsed.aggregation == Some(rule.aggregation);
        let same_factor = (f64::from(parsed.x_files_factor) - rule.x_files_factor).abs() < 1e-6;
        if !(same_method && same_factor) {
            let method = parsed.aggregation.map_or_else(
                || format!("method {}", parsed.aggregation_code),
                |method| method.name().to_owned(),
            );
            progress.differing.push(format!(
                "{name}: the file aggregates by {method} with xFilesFactor {}, its rule by {} with {}",
                parsed.x_files_factor,
                rule.aggregation.name(),
                rule.x_files_factor
            ));
        }
        for (timestamp, value) in parsed.points(from, until) {
            if !value.is_finite() {
                continue;
            }
            pending_bytes += name.len() + 24;
            pending.push(&name, timestamp, value);
            progress.points += 1;
            if pending.points.len() >= arguments.batch_points
                || pending_bytes * 10 >= max_payload * 9
            {
                sequence += 1;
                let full = std::mem::replace(&mut pending, Pending::new());
                pending_bytes = 0;
                in_flight.push_back(publish(full.seal(sequence, now)));
                progress.batches += 1;
                while in_flight.len() >= arguments.in_flight {
                    if let Some(result) = futures::StreamExt::next(&mut in_flight).await {
                        progress.already_sent += u64::from(result?);
                    }
                }
            }
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            report(&progress, total_files, started.elapsed());
        }
    }
    if !pending.points.is_empty() {
        sequence += 1;
        in_flight.push_back(publish(pending.seal(sequence, now)));
        progress.batches += 1;
    }
    while let Some(result) = futures::StreamExt::next(&mut in_flight).await {
        progress.already_sent += u64::from(result?);
    }
    report(&progress, total_files, started.elapsed());
    eprintln!();
    for problem in &progress.unreadable {
        eprintln!("abacus-import: skipped {problem}");
    }
    if !progress.differing.is_empty() {
        eprintln!(
            "abacus-import: {} files aggregate differently from the rule their name matches \
             (add storage_worker.aggregation_rules to keep rolling them up as whisper did):",
            progress.differing.len()
        );
        for line in progress.differing.iter().take(20) {
            eprintln!("  {line}");
        }
    }
    println!(
        "imported {} points from {} files in {} batches in {:.1}s",
        progress.points,
        total_files - progress.unreadable.len(),
        progress.batches,
        started.elapsed().as_secs_f64()
    );
    if progress.already_sent > 0 {
        println!(
            "{} of these batches were already in the stream: an earlier run sent them",
            progress.already_sent
        );
    }
    Ok(())
}

fn report(progress: &Progress, total_files: usize, elapsed: Duration) {
    let rate = progress.points as f64 / elapsed.as_secs_f64().max(1e-3);
    eprint!(
        "\rabacus-import: {}/{} files, {} points, {} batches, {:.0} points/s   ",
        progress.files, total_files, progress.points, progress.batches, rate
    );
}
