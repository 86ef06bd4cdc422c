//! History is kept: timestamped points 3, 30, 60 and 200 days old, sent over Graphite plaintext
//! and the HTTP ingest, land where carbon would put them (raw, the minute rollup, the hour
//! rollup), survive upkeep (forced here, with the default retentions), and read back exactly
//! from `GET /api/v1/data/<metric>` (their own times, rounded to the raw resolution) and from
//! `/render` at each resolution's step; a point six years old is refused (stored nowhere).

use abacus_storage_worker::maintenance::{delete_expired_default_rows, drop_expired_partitions};
use abacus_storage_worker::partitions::PartitionCache;
use abacus_storage_worker::retentions::{Retentions, StorageSchema, DEFAULT_RETENTIONS};
use abacus_tests::{start_aggregator_with_addresses, Pipeline, PipelineSettings};
use serde_json::json;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const DAY: i64 = 86_400;

/// (age in days, value); the last is older than every default retention.
const POINTS: [(i64, f64); 5] = [
    (3, 3.5),
    (30, 30.25),
    (60, 60.0),
    (200, 200.5),
    (6 * 365, 6.0),
];

#[tokio::test]
async fn old_points_from_graphite_and_http_are_kept_where_carbon_puts_them() -> anyhow::Result<()> {
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_storage_worker = |config| {
        config.storage_worker.rollup_delay = Duration::from_secs(1);
        config.storage_worker.rollup_interval = Duration::from_millis(200);
        config.storage_worker.maintenance_interval = Duration::from_secs(1);
    };
    let (addresses, aggregator) =
        start_aggregator_with_addresses(settings.aggregator_config(), None).await?;
    let pipeline =
        Pipeline::start_with_aggregator(settings, addresses.statsd_udp, Some(aggregator)).await?;

    // Not on a minute or hour boundary, so a wrong rounding shows.
    let now = chrono::Utc::now().timestamp();
    let time_of = |age_days: i64| now - age_days * DAY - 7 * 60 - 23;

    let body: Vec<_> = POINTS
        .iter()
        .map(|(age, value)| json!({"metric": "history.http", "value": value, "timestamp": time_of(*age)}))
        .collect();
    let (status, answer) = pipeline.post_json("/api/v1/data", &json!(body)).await?;
    assert_eq!(status, 200, "{answer}");

    let mut graphite = tokio::net::TcpStream::connect(addresses.graphite_tcp).await?;
    for (age, value) in POINTS {
        graphite
            .write_all(format!("history.graphite {value} {}\n", time_of(age)).as_bytes())
            .await?;
    }
    graphite.shutdown().await?;
    drop(graphite);

    // Both batches stored, then upkeep as the worker runs it, with the default retentions.
    pipeline.wait_until_worker_is_idle(2).await?;
    let pool = sqlx::PgPool::connect(&pipeline.settings.database.url).await?;
    let schema =
        StorageSchema::from(Retentions::parse(DEFAULT_RETENTIONS).map_err(anyhow::Error::msg)?);
    let partitions = PartitionCache::default();
    drop_expired_partitions(&pool, &partitions, &schema, chrono::Utc::now()).await?;
    delete_expired_default_rows(&pool, &schema, chrono::Utc::now()).await?;

    for metric in ["history.http", "history.graphite"] {
        // Every point but the six-year-old one, at its own time rounded to the raw 10 s.
        let expected: Vec<(String, f64)> = POINTS[..4]
            .iter()
            .rev()
            .map(|(age, value)| {
                let rounded = time_of(*age).div_euclid(10) * 10;
                let time = chrono::DateTime::from_timestamp(rounded, 0).unwrap();
                (
                    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    *value,
                )
            })
            .collect();
        let path = format!("/api/v1/data/{metric}?from=-7y");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let rows = loop {
            let rows = pipeline.stored_points(&path).await?;
            if rows == expected || tokio::time::Instant::now() > deadline {
                break rows;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(rows, expected, "{metric}");

        // /render at each resolution's step: the minute rollup for 30 and 60 days, the hour
        // rollup for 200 days (the minute rollup keeps 90 days), raw rows for 3 days.
        for (age, value, step) in [
            (3, 3.5, 10),
            (30, 30.25, 60),
            (60, 60.0, 60),
            (200, 200.5, 3_600),
        ] {
            let time = time_of(age);
            let from = time - 12 * 3_600;
            let until = time + 12 * 3_600;
            let points = (until - from) / step;
            // With maxDataPoints at the resolution's own count, and without: as whisper picks
            // an archive, the age of `from` alone chooses the resolution that still holds it.
            for path in [
                format!(
                    "/render?target={metric}&from={from}&until={until}&maxDataPoints={points}&format=json"
                ),
                format!("/render?target={metric}&from={from}&until={until}&format=json"),
            ] {
            // A resolution is read once the rollup loop's first round has given it a
            // watermark (a second or two after start-up).
            let expected = vec![(value, time.div_euclid(step) * step)];
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            let values = loop {
                let (status, answer) = pipeline.get_json(&path).await?;
                assert_eq!(status, 200, "{answer}");
                let values: Vec<(f64, i64)> = answer[0]["datapoints"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|point| Some((point[0].as_f64()?, point[1].as_i64()?)))
                    .collect();
                if values == expected || tokio::time::Instant::now() > deadline {
                    break values;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            assert_eq!(values, expected, "{metric} {age} days: {path}");
            }
        }
    }

    // The six-year-old points were refused: stored nowhere, not even to be deleted later.
    let too_old: i64 = sqlx::query_scalar(
        "select (select count(*) from raw_points where point_time < now() - interval '5 years')
              + (select count(*) from point_rollups where interval_start < now() - interval '5 years')",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(too_old, 0);
    pipeline.stop().await?;
    Ok(())
}

/// `GET /api/v1/data/<metric>` carries at most `api.max_points_per_series` points (3 here);
/// `next_from` pages through the rest, and the pages together are every stored point once:
/// hourly rollups (points 30 to 60 days old), minute rollups and raw points, several posted
/// into one raw slot (the latest counts).
#[tokio::test]
async fn stored_points_page_through_every_level_with_next_from() -> anyhow::Result<()> {
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_api = |config| config.api.max_points_per_series = 3;
    let pipeline = Pipeline::start_with_settings(settings).await?;
    let now = chrono::Utc::now().timestamp();
    let hour = |age_hours: i64| (now - age_hours * 3_600) / 3_600 * 3_600;
    let minute = |age_minutes: i64| (now - 2 * DAY - age_minutes * 60) / 60 * 60;
    let second = |age_seconds: i64| (now - 3_600 - age_seconds) / 10 * 10;
    let mut expected: Vec<(i64, f64)> = Vec::new();
    let mut body = Vec::new();
    for (index, time) in [hour(100 * 24), hour(95 * 24), hour(91 * 24 + 5)]
        .into_iter()
        .chain([minute(60 * 24 * 20), minute(60 * 24 * 10), minute(7)])
        .chain([second(70), second(50), second(30), second(10)])
        .enumerate()
    {
        let value = index as f64 + 0.5;
        body.push(json!({"metric": "paged.points", "value": value, "timestamp": time}));
        expected.push((time, value));
    }
    // An earlier value in the newest raw slot, stored first (its own request, so its own
    // batch): the one stored later counts.
    let (status, answer) = pipeline
        .post_json(
            "/api/v1/data",
            &json!([{"metric": "paged.points", "value": -1.0, "timestamp": second(10)}]),
        )
        .await?;
    assert_eq!(status, 200, "{answer}");
    pipeline.wait_until_worker_is_idle(1).await?;
    let (status, answer) = pipeline.post_json("/api/v1/data", &json!(body)).await?;
    assert_eq!(status, 200, "{answer}");
    pipeline.wait_until_worker_is_idle(2).await?;

    let until = now + 60;
    let mut from = now - 200 * DAY;
    let mut read: Vec<(i64, f64)> = Vec::new();
    let mut pages = 0;
    loop {
        let (status, page) = pipeline
            .get_json(&format!(
                "/api/v1/data/paged.points?from={from}&until={until}"
            ))
            .await?;
        assert_eq!(status, 200, "{page}");
        let rows = page["rows"].as_array().expect("rows");
        assert!(rows.len() <= 3, "a page of {} rows: {page}", rows.len());
        for row in rows {
            let time = chrono::DateTime::parse_from_rfc3339(row["timestamp"].as_str().unwrap())?
                .timestamp();
            read.push((time, row["value"].as_f64().unwrap()));
        }
        pages += 1;
        assert!(pages <= 10, "paging does not end: {page}");
        match page["next_from"].as_i64() {
            Some(next) => {
                assert!(next > from, "next_from {next} does not move past {from}");
                from = next;
            }
            None => break,
        }
    }
    assert_eq!(read, expected, "in {pages} pages");
    assert!(
        pages >= 4,
        "{} points in {pages} pages of at most 3",
        read.len()
    );
    pipeline.stop().await
}

/// A point sent again with the value its time already has is not stored again (a whisper
/// import run over a tree carbon has written on since, a client resending its backlog), while
/// a value sent again after another one is stored and counts: the latest write wins.
#[tokio::test]
async fn a_point_sent_again_is_one_row_and_the_latest_write_still_wins() -> anyhow::Result<()> {
    let settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    let pipeline = Pipeline::start_with_settings(settings).await?;
    let time = (chrono::Utc::now().timestamp() - 3_600) / 10 * 10 + 3;
    let path = format!(
        "/api/v1/data/resent.point?from={}&until={}",
        time - 60,
        time + 60
    );
    let mut delivered = 0;
    let mut raw_rows = Vec::new();
    for value in [5.0, 5.0, 7.0, 5.0, 5.0] {
        // Each its own request, so each its own batch.
        let (status, answer) = pipeline
            .post_json(
                "/api/v1/data",
                &json!([{"metric": "resent.point", "value": value, "timestamp": time}]),
            )
            .await?;
        assert_eq!(status, 200, "{answer}");
        delivered += 1;
        pipeline.wait_until_worker_is_idle(delivered).await?;
        let rows = pipeline.stored_points(&path).await?;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].1, value, "after sending {value}: {rows:?}");
        raw_rows.push(raw_point_rows(&pipeline).await?);
    }
    assert_eq!(raw_rows, [1, 1, 2, 3, 3]);
    pipeline.stop().await
}

/// Several points of one series at one time in one batch (a client sending a time twice
/// within one flush, or one ingest request): like carbon, the last one received is the value,
/// stored once. Before, all were stored with one `stored_at`, and a read could show any.
#[tokio::test]
async fn points_at_one_time_in_one_batch_keep_the_last_received() -> anyhow::Result<()> {
    let settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    let pipeline = Pipeline::start_with_settings(settings).await?;
    let time = (chrono::Utc::now().timestamp() - 3_600) / 10 * 10 + 3;
    let point =
        |metric: &str, value: f64| json!({"metric": metric, "value": value, "timestamp": time});
    let batches = [
        // The other series at the same time is its own point.
        vec![
            point("twice.a", 5.0),
            point("twice.b", 1.0),
            point("twice.a", 7.0),
            point("twice.a", 5.0),
            point("twice.a", 9.0),
            point("twice.a", 3.0),
        ],
        // Ends on the value the time already holds: nothing new to store.
        vec![point("twice.a", 4.0), point("twice.a", 3.0)],
        // Ends on another value: stored, and it wins.
        vec![point("twice.a", 3.0), point("twice.a", 8.0)],
    ];
    let mut expected = Vec::new();
    for (delivered, batch) in (1..).zip(&batches) {
        // One request, one batch.
        let (status, answer) = pipeline.post_json("/api/v1/data", &json!(batch)).await?;
        assert_eq!(status, 200, "{answer}");
        pipeline.wait_until_worker_is_idle(delivered).await?;
        let mut values = Vec::new();
        for metric in ["twice.a", "twice.b"] {
            let path = format!(
                "/api/v1/data/{metric}?from={}&until={}",
                time - 60,
                time + 60
            );
            let rows = pipeline.stored_points(&path).await?;
            assert_eq!(rows.len(), 1, "{metric}: {rows:?}");
            values.push(rows[0].1);
        }
        expected.push((values, raw_point_rows(&pipeline).await?));
    }
    assert_eq!(
        expected,
        [
            (vec![3.0, 1.0], 2),
            (vec![3.0, 1.0], 2),
            (vec![8.0, 1.0], 3)
        ]
    );
    pipeline.stop().await
}

/// How many raw point rows are stored, of every series.
async fn raw_point_rows(pipeline: &Pipeline) -> anyhow::Result<i64> {
    let mut connection = pipeline.database_connection().await?;
    Ok(sqlx::query_scalar("select count(*) from raw_points")
        .fetch_one(&mut connection)
        .await?)
}
