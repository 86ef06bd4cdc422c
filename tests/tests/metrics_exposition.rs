//! The aggregator's, the storage worker's and the API's `/metrics` read by the reference: the strict
//! OpenMetrics parser of Prometheus' Python client (`tests/compat/parse_openmetrics.py`,
//! installed by `tests/compat/setup.sh`). Whatever it refuses, Prometheus would too.

use abacus_tests::{
    start_storage_worker, wait_until_aggregator_counted, AggregatorUnderTest, PipelineSettings,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the repository")
        .to_path_buf()
}

/// Scrapes `url`, checks the content type, and parses the text with the reference parser.
async fn scrape_and_parse(url: &str) -> anyhow::Result<Value> {
    let response = reqwest::get(url).await?;
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{url}: content type {content_type:?}"
    );
    let text = response.text().await?;
    let mut parser =
        tokio::process::Command::new(repo_root().join(".data/compat/python/bin/python"))
            .arg(repo_root().join("tests/compat/parse_openmetrics.py"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = parser.stdin.take().expect("piped stdin");
        stdin.write_all(text.as_bytes()).await?;
    }
    let output = parser.wait_with_output().await?;
    anyhow::ensure!(
        output.status.success(),
        "the OpenMetrics parser refused {url}:\n{}\n--- text ---\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn install_reference() {
    let output = std::process::Command::new("bash")
        .arg(repo_root().join("tests/compat/setup.sh"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("cannot run tests/compat/setup.sh");
    assert!(
        output.status.success(),
        "tests/compat/setup.sh failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn aggregator_and_worker_metrics_parse_as_openmetrics() -> anyhow::Result<()> {
    install_reference();
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |_| {}).await?;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    socket
        .send_to(b"a:1|c\nb:2|c\nnot a line", aggregator.addresses.statsd_udp)
        .await?;
    let admin = aggregator.addresses.admin;
    wait_until_aggregator_counted(admin, "abacus_aggregator_metrics_received_total", 2.0).await?;
    wait_until_aggregator_counted(admin, "abacus_aggregator_bad_lines_seen_total", 1.0).await?;

    let families = scrape_and_parse(&format!("http://{admin}/metrics")).await?;
    let received = &families["abacus_aggregator_metrics_received"];
    assert_eq!(received["type"], "counter", "{received}");
    assert_eq!(
        received["samples"]["abacus_aggregator_metrics_received_total"],
        2.0
    );
    assert_eq!(
        families["abacus_aggregator_bad_lines_seen"]["samples"]
            ["abacus_aggregator_bad_lines_seen_total"],
        1.0
    );
    assert_eq!(
        families["abacus_aggregator_batches_buffered"]["type"],
        "gauge"
    );
    aggregator.stop().await?;

    let settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    let (worker_url, worker) = start_storage_worker(settings.storage_worker_config()).await?;
    let families = scrape_and_parse(&format!("{worker_url}/metrics")).await?;
    for counter in [
        "abacus_storage_batches_stored",
        "abacus_storage_dead_lettered",
        "abacus_storage_points_too_old",
    ] {
        assert_eq!(
            families[counter]["type"], "counter",
            "{counter}: {families}"
        );
        assert_eq!(
            families[counter]["samples"][format!("{counter}_total")],
            0.0
        );
    }
    assert_eq!(families["abacus_storage_database_failing"]["type"], "gauge");
    assert_eq!(
        families["abacus_storage_rollup_lag_seconds"]["type"],
        "gauge"
    );
    worker.stop().await
}
