//! End to end: statsd datagrams into the aggregator, out of `/render`, through the real NATS
//! JetStream and PostgreSQL.

use abacus_proto::v1::{series_aggregate::Aggregate, CounterAggregate};
use abacus_tests::{latest, non_null, single_series_batch, total, Pipeline};
use prost::Message;
use std::time::Duration;

const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_sampled_counter_is_scaled_by_its_sample_rate() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    for _ in 0..3 {
        pipeline.send_statsd("sampled:1|c|@0.1").await?;
    }
    let points = pipeline
        .wait_for_datapoints("sampled", "a total of 30", |points| total(points) >= 30.0)
        .await?;
    assert!(
        (total(&points) - 30.0).abs() < 1e-9,
        "{:?}",
        non_null(&points)
    );
    pipeline.stop().await
}

#[tokio::test]
async fn a_gauge_is_set_then_moved_by_a_delta() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    pipeline.send_statsd("temperature:50|g").await?;
    pipeline
        .wait_for_datapoints("temperature", "the gauge at 50", |points| {
            latest(points) == Some(50.0)
        })
        .await?;
    pipeline.send_statsd("temperature:-3|g").await?;
    let points = pipeline
        .wait_for_datapoints("temperature", "the gauge at 47", |points| {
            latest(points) == Some(47.0)
        })
        .await?;
    // Once set, a gauge keeps its value in quiet intervals up to now.
    let first_value_index = points
        .iter()
        .position(|(value, _)| value.is_some())
        .unwrap();
    let last_past_index = points.len() - 2;
    assert!(
        points[first_value_index..=last_past_index]
            .iter()
            .all(|(value, _)| value.is_some()),
        "{:?}",
        non_null(&points)
    );
    pipeline.stop().await
}

#[tokio::test]
async fn samples_of_two_flush_intervals_land_in_two_datapoints() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    pipeline.send_statsd("logins:2|c").await?;
    pipeline
        .wait_for_datapoints("logins", "the first interval", |points| {
            total(points) == 2.0
        })
        .await?;
    pipeline.send_statsd("logins:5|c").await?;
    let points = pipeline
        .wait_for_datapoints("logins", "the second interval", |points| {
            total(points) == 7.0
        })
        .await?;
    let non_zero: Vec<f64> = points
        .iter()
        .filter_map(|(value, _)| *value)
        .filter(|value| *value != 0.0)
        .collect();
    assert_eq!(non_zero, vec![2.0, 5.0], "{:?}", non_null(&points));
    pipeline.stop().await
}

#[tokio::test]
async fn a_bad_line_does_not_lose_the_good_lines_around_it() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    pipeline
        .send_statsd("mixed:1|c\nthis is not statsd\nmixed:x|c\n\nmixed:2|c\n")
        .await?;
    let points = pipeline
        .wait_for_datapoints("mixed", "a total of 3", |points| total(points) >= 3.0)
        .await?;
    assert_eq!(total(&points), 3.0, "{:?}", non_null(&points));
    pipeline.stop().await
}

#[tokio::test]
async fn a_batch_delivered_twice_is_counted_once() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    let batch = single_series_batch(
        "replayer",
        1,
        "replayed",
        Aggregate::Counter(CounterAggregate { count: 7.0 }),
    );
    // Without a message id JetStream keeps both copies, so the worker sees the batch twice.
    for _ in 0..2 {
        pipeline
            .publish_to_flush_subject(batch.encode_to_vec())
            .await?;
    }
    pipeline
        .wait_for_datapoints("replayed", "the batch", |points| total(points) >= 7.0)
        .await?;
    pipeline.wait_until_worker_is_idle(2).await?;
    let points = pipeline.datapoints("replayed").await?.unwrap_or_default();
    assert_eq!(total(&points), 7.0, "{:?}", non_null(&points));
    pipeline.stop().await
}

#[tokio::test]
async fn readiness_reports_database_and_nats() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    let (status, body) = pipeline.get_json("/healthz").await?;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let deadline = std::time::Instant::now() + abacus_tests::PATIENCE;
    loop {
        let (status, body) = pipeline.get_json("/readyz").await?;
        if status == 200 {
            assert_eq!(body["database"], "ok");
            assert_eq!(body["nats"], "ok");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pipeline.stop().await
}

#[tokio::test]
async fn bad_render_requests_get_a_json_error() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    let cases = [
        ("/render?from=-1h", "missing parameter: target"),
        ("/render?target=a&from=-1fortnight", "unknown unit"),
        (
            "/render?target=a&from=now&until=-1h",
            "from must be before until",
        ),
    ];
    for (path, expected) in cases {
        let (status, body) = pipeline.get_json(path).await?;
        assert_eq!(status, 400, "{path}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{path}: {body}");
    }
    let (status, body) = pipeline.get_json("/no/such/endpoint").await?;
    assert_eq!(status, 404);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("/no/such/endpoint"),
        "{body}"
    );
    let (status, body) = pipeline.get_json("/events/").await?;
    assert_eq!(status, 405);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("GET is not allowed"),
        "{body}"
    );
    pipeline.stop().await
}

#[tokio::test]
async fn globs_select_series_in_render_and_find_walks_the_tree() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    pipeline
        .send_statsd(
            "web01.requests:1|c\nweb02.requests:2|c\ndb01.requests:4|c\nweb01.requests.slow:8|c\nweb02.errors:1|c|#region:eu\nweb02.errors:1|c|#region:us",
        )
        .await?;
    let deadline = std::time::Instant::now() + abacus_tests::PATIENCE;
    let rendered = loop {
        let (status, body) = pipeline
            .get_json("/render?target=web*.requests&target=%7Bdb01%2Cnone%7D.requests&from=-1h&format=json")
            .await?;
        let targets: Vec<(String, f64)> = body
            .as_array()
            .map(|series| {
                series
                    .iter()
                    .map(|one| {
                        let points = one["datapoints"].as_array().cloned().unwrap_or_default();
                        let sum = points.iter().filter_map(|point| point[0].as_f64()).sum();
                        (one["target"].as_str().unwrap_or_default().to_owned(), sum)
                    })
                    .collect()
            })
            .unwrap_or_default();
        if status == 200 && targets.len() == 3 && targets.iter().all(|(_, sum)| *sum > 0.0) {
            break targets;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gave up: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        rendered,
        vec![
            ("web01.requests".to_owned(), 1.0),
            ("web02.requests".to_owned(), 2.0),
            ("db01.requests".to_owned(), 4.0),
        ]
    );

    let (status, tree) = pipeline.get_json("/metrics/find?query=web01.*").await?;
    assert_eq!(status, 200, "{tree}");
    let nodes: Vec<(String, i64, i64)> = tree
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            (
                node["id"].as_str().unwrap().to_owned(),
                node["leaf"].as_i64().unwrap(),
                node["expandable"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        nodes,
        vec![
            ("web01.requests".to_owned(), 0, 1),
            ("web01.requests".to_owned(), 1, 0),
        ]
    );
    let (_, top) = pipeline
        .get_json("/metrics/find?query=*&format=completer")
        .await?;
    let paths: Vec<&str> = top["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|metric| metric["path"].as_str().unwrap())
        .collect();
    // Bare names, and the etsy namespace under `stats`.
    assert_eq!(paths, vec!["db01.", "stats.", "web01.", "web02."]);
    assert_eq!(
        find_ids(&pipeline, "stats.*").await?,
        vec![("stats.counters".to_owned(), 0)]
    );
    assert_eq!(
        find_ids(&pipeline, "stats.counters.web0*").await?,
        vec![
            ("stats.counters.web01".to_owned(), 0),
            ("stats.counters.web02".to_owned(), 0)
        ]
    );
    assert_eq!(
        find_ids(&pipeline, "stats.counters.web01.requests.*").await?,
        vec![
            ("stats.counters.web01.requests.count".to_owned(), 1),
            ("stats.counters.web01.requests.rate".to_owned(), 1),
            ("stats.counters.web01.requests.slow".to_owned(), 0),
        ]
    );
    // One name with two tag sets is two series but one node.
    assert_eq!(
        find_ids(&pipeline, "web02.*").await?,
        vec![
            ("web02.errors".to_owned(), 1),
            ("web02.requests".to_owned(), 1)
        ]
    );
    assert_eq!(
        find_ids(&pipeline, "stats.counters.web02.*").await?,
        vec![
            ("stats.counters.web02.errors".to_owned(), 0),
            ("stats.counters.web02.requests".to_owned(), 0)
        ]
    );
    assert_eq!(
        find_ids(&pipeline, "stats").await?,
        vec![("stats".to_owned(), 0)]
    );
    let (status, error) = pipeline.get_json("/metrics/find?query=a.%5Bb").await?;
    assert_eq!(status, 400);
    assert!(
        error["error"].as_str().unwrap().contains("unclosed '['"),
        "{error}"
    );
    pipeline.stop().await
}

/// The ids and leaf flags `/metrics/find` answers for `query`.
async fn find_ids(pipeline: &Pipeline, query: &str) -> anyhow::Result<Vec<(String, i64)>> {
    let (_, nodes) = pipeline
        .get_json(&format!("/metrics/find?query={query}"))
        .await?;
    Ok(nodes
        .as_array()
        .into_iter()
        .flatten()
        .map(|node| {
            (
                node["id"].as_str().unwrap_or_default().to_owned(),
                node["leaf"].as_i64().unwrap_or(-1),
            )
        })
        .collect())
}
