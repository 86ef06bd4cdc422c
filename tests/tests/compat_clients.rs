//! Compatibility with the statsd clients of other languages, run as real programs: the PyPI
//! `statsd` and `datadog` packages and the npm `hot-shots` package. tests/compat/setup.sh
//! installs them into .data/compat (once per test process here; it is idempotent and locked
//! across processes too), then each tests/compat/send_* script sends its documented, fixed set
//! of metrics to an aggregator and the test checks every series (and event) it produced.
//!
//! The installs need PyPI and the npm registry the first time; without them these tests fail
//! with setup.sh's message saying which installer could not reach its registry.

mod compat_support;

use abacus_proto::v1::{event::Kind, FlushBatch};
use abacus_tests::{AggregatorUnderTest, PATIENCE};
use compat_support::{expect, series_key, wait_for_stored, Stored};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the repository")
        .to_path_buf()
}

/// Runs tests/compat/setup.sh once per process; every test gets its outcome.
fn installed_clients() -> Result<(), String> {
    static SETUP: OnceLock<Result<(), String>> = OnceLock::new();
    SETUP
        .get_or_init(|| {
            let output = std::process::Command::new("bash")
                .arg(repo_root().join("tests/compat/setup.sh"))
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|error| format!("cannot run tests/compat/setup.sh: {error}"))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "tests/compat/setup.sh failed ({}):\n{}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                ))
            }
        })
        .clone()
}

/// Runs one client script against `aggregator`'s statsd UDP port, bounded in time.
async fn send_with(aggregator: &AggregatorUnderTest, program: &str, script: &str) {
    if let Err(message) = installed_clients() {
        panic!("{message}");
    }
    let root = repo_root();
    let address = aggregator.addresses.statsd_udp;
    let program = if program == "python" {
        root.join(".data/compat/python/bin/python")
    } else {
        PathBuf::from(program)
    };
    let child = tokio::process::Command::new(&program)
        .arg(root.join("tests/compat").join(script))
        .arg(address.ip().to_string())
        .arg(address.port().to_string())
        .env("NODE_PATH", root.join(".data/compat/node/node_modules"))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(PATIENCE, child)
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {PATIENCE:?}"))
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", program.display()));
    assert!(
        output.status.success(),
        "{script} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Events and service checks as `kind title|text|alert_type|status|tags`, sorted.
fn events(batches: &[FlushBatch]) -> Vec<String> {
    let mut events: Vec<String> = batches
        .iter()
        .flat_map(|batch| &batch.events)
        .map(|event| {
            let kind = match event.kind() {
                Kind::Event => "event",
                Kind::ServiceCheck => "check",
                Kind::Unspecified => "unspecified",
            };
            format!(
                "{kind} {}|{}|{}|{}",
                event.title,
                event.text,
                event.alert_type,
                series_key(&event.service_check_status.to_string(), &event.tags)
            )
        })
        .collect();
    events.sort();
    events
}

/// Waits until `expected` events were read (they ride in the same batches as the metrics).
async fn wait_for_events(reader: &mut abacus_tests::BatchReader, expected: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let seen = reader.read_new().await.map(events).unwrap_or_default();
        if seen == expected || Instant::now() >= deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn python_statsd_package() -> anyhow::Result<()> {
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |_| {}).await?;
    let mut reader = aggregator.batch_reader().await?;
    send_with(&aggregator, "python", "send_python_statsd.py").await;
    let expected = expect([
        ("py.requests", Stored::Counter(3.0)),
        ("py.sampled", Stored::Counter(4.0)),
        ("py.temperature", Stored::Gauge(25.0)),
        ("py.below_zero", Stored::Gauge(-5.0)),
        ("py.latency", Stored::timer(3.0, 600.0, 100.0, 300.0)),
        ("py.sampled_latency", Stored::timer(4.0, 200.0, 50.0, 50.0)),
        ("py.users", Stored::Set(2)),
        ("py.piped", Stored::Counter(3.0)),
        ("py.piped_latency", Stored::timer(1.0, 7.0, 7.0, 7.0)),
    ]);
    assert_eq!(wait_for_stored(&mut reader, &expected).await, expected);
    aggregator.stop().await
}

#[tokio::test]
async fn python_datadog_package() -> anyhow::Result<()> {
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |_| {}).await?;
    let mut reader = aggregator.batch_reader().await?;
    send_with(&aggregator, "python", "send_datadog.py").await;
    let expected = expect([
        (
            "dd.requests#client:datadog,env:test,region:eu",
            Stored::Counter(2.0),
        ),
        ("dd.requests#client:datadog,env:prod", Stored::Counter(10.0)),
        ("dd.sampled#client:datadog", Stored::Counter(4.0)),
        ("dd.flagged#canary,client:datadog", Stored::Counter(1.0)),
        ("dd.queue_depth#client:datadog,queue:a", Stored::Gauge(40.0)),
        ("dd.stamped#client:datadog", Stored::Gauge(7.0)),
        (
            "dd.payload_bytes#client:datadog",
            Stored::timer(3.0, 60.0, 10.0, 30.0),
        ),
        ("dd.db_ms#client:datadog", Stored::timer(2.0, 4.0, 1.5, 2.5)),
        (
            "dd.render_ms#client:datadog",
            Stored::timer(1.0, 250.0, 250.0, 250.0),
        ),
        ("dd.visitors#client:datadog", Stored::Set(3)),
    ]);
    assert_eq!(wait_for_stored(&mut reader, &expected).await, expected);
    let expected_events = [
        "check app.can_connect|fine||0#client:datadog",
        "event Deployed|version 1.2|success|0#client:datadog,env:test",
    ];
    assert_eq!(
        wait_for_events(&mut reader, &expected_events).await,
        expected_events
    );
    aggregator.stop().await
}

#[tokio::test]
async fn node_hot_shots_package() -> anyhow::Result<()> {
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |_| {}).await?;
    let mut reader = aggregator.batch_reader().await?;
    send_with(&aggregator, "node", "send_hot_shots.js").await;
    let expected = expect([
        (
            "node.requests#client:hot-shots,env:test,region:eu",
            Stored::Counter(2.0),
        ),
        ("node.sampled#client:hot-shots", Stored::Counter(4.0)),
        ("node.flagged#canary,client:hot-shots", Stored::Counter(1.0)),
        // `-2|g` moves the existing gauge: etsy's delta rule.
        ("node.queue_depth#client:hot-shots", Stored::Gauge(40.0)),
        (
            "node.payload_bytes#client:hot-shots",
            Stored::timer(3.0, 60.0, 10.0, 30.0),
        ),
        (
            "node.db_ms#client:hot-shots",
            Stored::timer(2.0, 4.0, 1.5, 2.5),
        ),
        (
            "node.render_ms#client:hot-shots",
            Stored::timer(2.0, 500.0, 250.0, 250.0),
        ),
        ("node.visitors#client:hot-shots", Stored::Set(2)),
    ]);
    assert_eq!(wait_for_stored(&mut reader, &expected).await, expected);
    let expected_events = [
        "check node.app.can_connect|fine||0#client:hot-shots",
        "event node.Deployed|version 1.2|success|0#client:hot-shots",
    ];
    assert_eq!(
        wait_for_events(&mut reader, &expected_events).await,
        expected_events
    );
    aggregator.stop().await
}
