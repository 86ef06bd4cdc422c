//! The API reads rollups: an hour of one-minute batches from two aggregators, rolled up by the
//! storage worker, renders at a one-hour step with the same counts and the same percentiles as
//! the raw values merged — and still does once the raw rows are gone, as they are past the raw
//! retention, which shows the answer came from the rollup.

use abacus_proto::histogram;
use abacus_proto::v1::{
    series_aggregate::Aggregate, CounterAggregate, FlushBatch, SeriesAggregate, TimerAggregate,
};
use abacus_tests::{Pipeline, PipelineSettings};
use prost::Message;
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn adjust_for_fast_rollups(config: &mut abacus_storage_worker::config::Config) {
    config.storage_worker.retentions = "10s:1d,1m:7d,1h:30d".into();
    config.storage_worker.rollup_delay = Duration::ZERO;
    config.storage_worker.rollup_interval = Duration::from_secs(1);
}

/// One one-minute batch of `source`: a counter of 1 and a timer with the given values.
fn batch(
    source: &str,
    sequence: u64,
    interval_start_ms: i64,
    timer_values: &[f64],
) -> anyhow::Result<FlushBatch> {
    let mut recorded = histogram::new_histogram(histogram::DEFAULT_SIGNIFICANT_DIGITS)?;
    for &value in timer_values {
        histogram::record_milliseconds(&mut recorded, value, 1);
    }
    let timer = TimerAggregate {
        count: timer_values.len() as f64,
        sum: timer_values.iter().sum(),
        sum_of_squares: timer_values.iter().map(|value| value * value).sum(),
        min: timer_values.iter().cloned().fold(f64::INFINITY, f64::min),
        max: timer_values
            .iter()
            .cloned()
            .fold(f64::NEG_INFINITY, f64::max),
        hdr_histogram: histogram::encode(&recorded)?,
    };
    Ok(FlushBatch {
        schema_version: abacus_proto::SCHEMA_VERSION,
        aggregator_id: source.into(),
        incarnation: 1,
        sequence,
        interval_start_unix_ms: interval_start_ms,
        interval_length_ms: 60_000,
        series: vec![
            SeriesAggregate {
                name: "checkout.requests".into(),
                tags: vec![],
                aggregate: Some(Aggregate::Counter(CounterAggregate { count: 1.0 })),
            },
            SeriesAggregate {
                name: "checkout.latency".into(),
                tags: vec![],
                aggregate: Some(Aggregate::Timer(timer)),
            },
        ],
        ..Default::default()
    })
}

fn single_value(body: &Value, target: &str) -> Option<f64> {
    let series = body
        .as_array()?
        .iter()
        .find(|series| series["target"] == target)?;
    let points = series["datapoints"].as_array()?;
    match points.as_slice() {
        [point] => point[0].as_f64(),
        _ => None,
    }
}

#[tokio::test]
async fn an_hour_renders_from_its_rollup_exactly() -> anyhow::Result<()> {
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_storage_worker = adjust_for_fast_rollups;
    let aggregator_config = settings.aggregator_config();
    let (statsd_address, aggregator) =
        abacus_tests::start_aggregator(aggregator_config, None).await?;
    let pipeline =
        Pipeline::start_with_aggregator(settings, statsd_address, Some(aggregator)).await?;

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let hour_start = now - now % 3600 - 3 * 3600;
    let hour_end = hour_start + 3600;
    // Two aggregators, every minute of the hour, different latencies each.
    let mut all_values = Vec::new();
    let mut payloads = Vec::new();
    for (source_index, source) in ["edge-a", "edge-b"].into_iter().enumerate() {
        for minute in 0..60_i64 {
            let values: Vec<f64> = (0..3)
                .map(|k| (1 + minute * 3 + k + source_index as i64 * 1_000) as f64)
                .collect();
            all_values.extend(values.iter().copied());
            let start_ms = (hour_start + minute * 60) * 1000;
            payloads.push(batch(source, minute as u64 + 1, start_ms, &values)?.encode_to_vec());
        }
    }
    pipeline.publish_all_to_flush_subject(payloads).await?;
    pipeline.wait_until_worker_is_idle(120).await?;

    // Wait until the hour is rolled up.
    let mut database = pipeline.database_connection().await?;
    let deadline = Instant::now() + abacus_tests::PATIENCE * 2;
    loop {
        let rolled: Option<i64> = sqlx::query_scalar(
            "select extract(epoch from rolled_until)::bigint from rollup_watermarks where resolution_seconds = 3600",
        )
        .fetch_optional(&mut database)
        .await?;
        // Every batch here is late (the hour is long closed), so its keys are queued as dirty
        // and recomputed in later rounds: wait for the queue to drain as well.
        let pending: i64 = sqlx::query_scalar(
            "select (select count(*) from rollup_dirty) + (select count(*) from rollup_spans)",
        )
        .fetch_one(&mut database)
        .await?;
        if rolled.is_some_and(|rolled_until| rolled_until >= hour_end) && pending == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the hour was not rolled up in time: {rolled:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    all_values.sort_by(f64::total_cmp);
    let etsy_upper = |percentile: f64| {
        all_values[((percentile / 100.0 * all_values.len() as f64).round() as usize) - 1]
    };
    let path = format!(
        "/render?target=stats.counters.checkout.requests.count&target=stats.timers.checkout.latency.upper_99\
         &target=stats.timers.checkout.latency.count&target=stats.timers.checkout.latency.median\
         &from={}&until={}&maxDataPoints=1",
        hour_start - 1,
        hour_end - 1
    );
    let read = |body: &Value| {
        (
            single_value(body, "stats.counters.checkout.requests.count"),
            single_value(body, "stats.timers.checkout.latency.count"),
            single_value(body, "stats.timers.checkout.latency.upper_99"),
            single_value(body, "stats.timers.checkout.latency.median"),
        )
    };
    let (status, before) = pipeline.get_json(&path).await?;
    assert_eq!(status, 200, "{before}");
    let (requests, count, upper_99, median) = read(&before);
    assert_eq!(requests, Some(120.0), "{before}");
    assert_eq!(count, Some(360.0), "{before}");
    let within_precision = |actual: Option<f64>, expected: f64| {
        actual.is_some_and(|actual| (actual - expected).abs() <= expected * 1e-3)
    };
    assert!(
        within_precision(upper_99, etsy_upper(99.0)),
        "upper_99 {upper_99:?} vs {}",
        etsy_upper(99.0)
    );
    let middle = all_values.len() / 2;
    let exact_median = (all_values[middle - 1] + all_values[middle]) / 2.0;
    assert!(
        within_precision(median, exact_median),
        "median {median:?} vs {exact_median}"
    );

    // Past raw retention only the rollup is left; the answer must not change.
    for table in ["counter_samples", "timer_samples"] {
        sqlx::query(&format!("delete from {table} where interval_start >= to_timestamp($1) and interval_start < to_timestamp($2)"))
            .bind(hour_start as f64)
            .bind(hour_end as f64)
            .execute(&mut database)
            .await?;
    }
    let (_, after) = pipeline.get_json(&path).await?;
    assert_eq!(
        read(&after),
        read(&before),
        "before: {before}\nafter: {after}"
    );
    pipeline.stop().await
}
