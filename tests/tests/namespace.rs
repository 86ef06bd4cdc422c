//! The etsy statsd namespace end to end: statsd lines into the aggregator, etsy's paths out of
//! `/render`, with etsy's golden values; and percentiles over many flush windows that equal the
//! percentiles of all the raw values (within the histogram's 0.1%), which statsd + Graphite,
//! averaging per-flush percentiles, cannot give.

use abacus_proto::v1::{series_aggregate::Aggregate, FlushBatch};
use abacus_tests::{BatchReader, Pipeline};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Renders `targets` over the last hour as ONE point each (maxDataPoints=1 merges every
/// interval) and returns target → value, polling until `ready` accepts the answer.
async fn one_point_each(
    pipeline: &Pipeline,
    targets: &[&str],
    ready: impl Fn(&BTreeMap<String, Option<f64>>) -> bool,
) -> anyhow::Result<BTreeMap<String, Option<f64>>> {
    let query: String = targets
        .iter()
        .map(|target| format!("target={target}&"))
        .collect();
    let deadline = Instant::now() + abacus_tests::PATIENCE;
    loop {
        let (status, body) = pipeline
            .get_json(&format!(
                "/render?{query}from=-1h&until=now&maxDataPoints=1&format=json"
            ))
            .await?;
        let values = read_single_points(&body);
        if status == 200 && ready(&values) {
            return Ok(values);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "gave up waiting: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn read_single_points(body: &Value) -> BTreeMap<String, Option<f64>> {
    body.as_array()
        .into_iter()
        .flatten()
        .map(|series| {
            let points = series["datapoints"].as_array().cloned().unwrap_or_default();
            // The last bucket holds now; the whole hour is in the one before it or in it.
            let value = points
                .iter()
                .filter_map(|point| point[0].as_f64())
                .reduce(|_, last| last);
            (
                series["target"].as_str().unwrap_or_default().to_owned(),
                value,
            )
        })
        .collect()
}

fn assert_close(values: &BTreeMap<String, Option<f64>>, target: &str, expected: f64) {
    let actual = values
        .get(target)
        .copied()
        .flatten()
        .unwrap_or_else(|| panic!("{target} missing from {values:?}"));
    assert!(
        (actual - expected).abs() <= expected.abs() * 1e-3 + 1e-9,
        "{target}: {actual} is not {expected}"
    );
}

#[tokio::test]
async fn statsd_lines_come_out_in_the_etsy_namespace_with_etsy_values() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    pipeline
        .send_statsd(
            "api.latency:100|ms\napi.latency:200|ms\napi.latency:300|ms\n\
             api.hits:10|c\napi.hits:1|c|@0.1\npool.size:50|g\npool.size:-3|g\n\
             users:alice|s\nusers:bob|s\nusers:alice|s",
        )
        .await?;
    let timer_fields = [
        "count",
        "lower",
        "upper",
        "mean",
        "median",
        "std",
        "sum",
        "sum_squares",
        "upper_90",
        "mean_90",
        "sum_90",
        "count_90",
        "sum_squares_90",
        "upper_50",
        "sum_squares_50",
    ];
    let mut targets: Vec<String> = timer_fields
        .iter()
        .map(|field| format!("stats.timers.api.latency.{field}"))
        .collect();
    targets.extend(
        [
            "stats.counters.api.hits.count",
            "stats.gauges.pool.size",
            "stats.sets.users.count",
            "api.latency",
            "api.hits",
        ]
        .map(String::from),
    );
    let target_refs: Vec<&str> = targets.iter().map(String::as_str).collect();
    let values = one_point_each(&pipeline, &target_refs, |values| {
        values.len() == target_refs.len() && values.values().all(Option::is_some)
    })
    .await?;
    let golden = [
        ("stats.timers.api.latency.count", 3.0),
        ("stats.timers.api.latency.lower", 100.0),
        ("stats.timers.api.latency.upper", 300.0),
        ("stats.timers.api.latency.mean", 200.0),
        ("stats.timers.api.latency.median", 200.0),
        ("stats.timers.api.latency.std", 81.6497),
        ("stats.timers.api.latency.sum", 600.0),
        ("stats.timers.api.latency.sum_squares", 140_000.0),
        ("stats.timers.api.latency.upper_90", 300.0),
        ("stats.timers.api.latency.mean_90", 200.0),
        ("stats.timers.api.latency.sum_90", 600.0),
        ("stats.timers.api.latency.count_90", 3.0),
        ("stats.timers.api.latency.upper_50", 200.0),
        // etsy's graphite backend: the squares of the values within the threshold.
        ("stats.timers.api.latency.sum_squares_90", 140_000.0),
        ("stats.timers.api.latency.sum_squares_50", 50_000.0),
        ("stats.counters.api.hits.count", 20.0),
        ("stats.gauges.pool.size", 47.0),
        ("stats.sets.users.count", 2.0),
        // The bare names: a timer shows its mean, a counter its count.
        ("api.latency", 200.0),
        ("api.hits", 20.0),
    ];
    for (target, expected) in golden {
        assert_close(&values, target, expected);
    }

    // A counter's rate is per second of the bucket: one bucket for the hour is 3600 s wide.
    let rate = one_point_each(&pipeline, &["stats.counters.api.hits.rate"], |values| {
        values.values().all(Option::is_some)
    })
    .await?;
    assert_close(&rate, "stats.counters.api.hits.rate", 20.0 / 3600.0);
    pipeline.stop().await
}

#[tokio::test]
async fn a_percentile_over_many_windows_is_the_percentile_of_all_the_values() -> anyhow::Result<()>
{
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    // 1..=100 ms spread over four flush windows, so no single window holds them all.
    for chunk in (1..=100).collect::<Vec<i32>>().chunks(25) {
        let lines: Vec<String> = chunk
            .iter()
            .map(|value| format!("spread:{value}|ms"))
            .collect();
        pipeline.send_statsd(&lines.join("\n")).await?;
        tokio::time::sleep(FLUSH_INTERVAL + Duration::from_millis(100)).await;
    }
    let targets = [
        "stats.timers.spread.count",
        "stats.timers.spread.median",
        "stats.timers.spread.upper_90",
        "stats.timers.spread.upper_99",
        "stats.timers.spread.mean_90",
    ];
    let values = one_point_each(&pipeline, &targets, |values| {
        values.get("stats.timers.spread.count").copied().flatten() == Some(100.0)
    })
    .await?;
    assert_close(&values, "stats.timers.spread.median", 50.5);
    assert_close(&values, "stats.timers.spread.upper_90", 90.0);
    assert_close(&values, "stats.timers.spread.upper_99", 99.0);
    assert_close(&values, "stats.timers.spread.mean_90", 45.5);

    // The windows really were separate: the aggregator published the timer once per window,
    // four windows of 25 samples each (read from the stream, where each window is its own
    // batch, rather than from a render whose buckets could hold several windows).
    let mut reader = BatchReader::connect(&pipeline.settings.nats).await?;
    let batches = reader
        .wait_for("the four windows of spread", |batches| {
            spread_count_per_window(batches).values().sum::<f64>() >= 100.0
        })
        .await?;
    let per_window: Vec<f64> = spread_count_per_window(&batches).into_values().collect();
    assert_eq!(per_window, vec![25.0; 4], "samples per window");
    pipeline.stop().await
}

/// etsy's graphite backend writes `conf.tagged:1|c|#env:prod,host:a` as the tagged series
/// `stats.counters.conf.tagged.count;env=prod;host=a`, so that is the name Grafana users ask
/// `seriesByTag` for; the answer carries it as its `name` tag, for `aliasByTags` and
/// `groupByTags`.
#[tokio::test]
async fn series_by_tag_knows_the_etsy_names_of_tagged_statsd_series() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    pipeline
        .send_statsd(
            "conf.tagged:1|c|#env:prod,host:a\nconf.tagged:2|c|#env:dev,host:b\n\
             conf.latency:100|ms|#env:prod\nconf.latency:300|ms|#env:prod\nconf.level:7|g|#env:prod",
        )
        .await?;
    let cases: &[(&str, &[(&str, f64)])] = &[
        (
            "seriesByTag('name=stats.counters.conf.tagged.count','env=prod')",
            &[("stats.counters.conf.tagged.count;env=prod;host=a", 1.0)],
        ),
        (
            "seriesByTag('name=stats.counters.conf.tagged.count')",
            &[
                ("stats.counters.conf.tagged.count;env=dev;host=b", 2.0),
                ("stats.counters.conf.tagged.count;env=prod;host=a", 1.0),
            ],
        ),
        (
            "seriesByTag('name=stats.timers.conf.latency.upper_90','env=prod')",
            &[("stats.timers.conf.latency.upper_90;env=prod", 300.0)],
        ),
        (
            "seriesByTag('name=stats.gauges.conf.level')",
            &[("stats.gauges.conf.level;env=prod", 7.0)],
        ),
        (
            "seriesByTag('name=~stats\\.counters\\.conf\\..*\\.count','host=b')",
            &[("stats.counters.conf.tagged.count;env=dev;host=b", 2.0)],
        ),
        // The `name` tag is the etsy name.
        (
            "aliasByTags(seriesByTag('name=stats.counters.conf.tagged.count','env=prod'),'name')",
            &[("stats.counters.conf.tagged.count", 1.0)],
        ),
        (
            "groupByTags(seriesByTag('name=stats.counters.conf.tagged.count'),'sum','name')",
            &[("stats.counters.conf.tagged.count", 3.0)],
        ),
        // The bare name still works.
        (
            "seriesByTag('name=conf.tagged','env=prod')",
            &[("conf.tagged;env=prod;host=a", 1.0)],
        ),
    ];
    let deadline = Instant::now() + abacus_tests::PATIENCE;
    for (target, expected) in cases {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("target", target)
            .append_pair("from", "-1h")
            .append_pair("until", "now")
            .append_pair("maxDataPoints", "1")
            .append_pair("format", "json")
            .finish();
        loop {
            let (status, body) = pipeline.get_json(&format!("/render?{query}")).await?;
            let values = read_single_points(&body);
            let wanted: BTreeMap<String, Option<f64>> = expected
                .iter()
                .map(|(name, value)| (name.to_string(), Some(*value)))
                .collect();
            // Timer fields come from the histogram: within its 0.1%.
            let close = |value: &Option<f64>, wanted: &Option<f64>| match (value, wanted) {
                (Some(value), Some(wanted)) => (value - wanted).abs() <= wanted.abs() * 1e-3,
                _ => false,
            };
            let matches = values.len() == wanted.len()
                && values.iter().zip(&wanted).all(
                    |((name, value), (wanted_name, wanted_value))| {
                        name == wanted_name && close(value, wanted_value)
                    },
                );
            if status == 200 && matches {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{target}: {status} {values:?}, expected {wanted:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    pipeline.stop().await
}

/// The count of the timer `spread` in each window it was published in, by window start.
fn spread_count_per_window(batches: &[FlushBatch]) -> BTreeMap<i64, f64> {
    let mut per_window = BTreeMap::new();
    for batch in batches {
        for series in &batch.series {
            if let (true, Some(Aggregate::Timer(timer))) =
                (series.name == "spread", &series.aggregate)
            {
                *per_window.entry(batch.interval_start_unix_ms).or_default() += timer.count;
            }
        }
    }
    per_window
}
