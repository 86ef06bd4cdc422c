//! The API's endpoints besides render, end to end: HTTP ingest and events go through the stream
//! and the storage worker and come back out; tag autocompletion, expand, index and version
//! answer as graphite-web does.

use abacus_tests::Pipeline;
use serde_json::json;
use std::time::Duration;

const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

#[tokio::test]
async fn ingested_points_come_back_from_the_data_api_and_render() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let first = now - now % 60 - 120;
    let (status, answer) = pipeline
        .post_json(
            "/api/v1/data",
            &json!([
                {"metric": "signups.daily", "value": 3, "time": first},
                {"metric": "signups.daily", "value": 5, "time": first + 60},
            ]),
        )
        .await?;
    assert_eq!(
        (status, answer["accepted"].as_i64()),
        (200, Some(2)),
        "{answer}"
    );
    // An ISO-8601 time, days back but within the raw retention (a week by default): a point
    // older than that is stored in the default partition and deleted by the worker's next
    // upkeep round, and its first round runs while this test is waiting.
    let two_days_ago = chrono::Utc::now().date_naive() - chrono::Days::new(2);
    let two_days_ago = two_days_ago.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let (status, _) = pipeline
        .post_json(
            "/api/v1/data/signups.daily",
            &json!({"value": 8, "timestamp": two_days_ago.format("%Y-%m-%dT%H:%M:%SZ").to_string()}),
        )
        .await?;
    assert_eq!(status, 200);

    let stored = pipeline
        .wait_for_json(
            "/api/v1/data/signups.daily?from=-10y",
            "three points",
            |body| body["rows"].as_array().is_some_and(|rows| rows.len() == 3),
        )
        .await?;
    assert_eq!(
        stored["rows"][0],
        json!({"timestamp": two_days_ago.format("%Y-%m-%dT%H:%M:%S.000Z").to_string(), "value": 8.0})
    );
    assert_eq!(stored["rows"][1]["value"], json!(3.0));
    assert_eq!(stored["rows"][2]["value"], json!(5.0));

    let (status, body) = pipeline
        .get_json("/render?target=signups.daily&from=-10min&format=json")
        .await?;
    assert_eq!(status, 200);
    let values: Vec<f64> = body[0]["datapoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|point| point[0].as_f64())
        .collect();
    assert_eq!(values, vec![3.0, 5.0], "{body}");

    let (status, error) = pipeline
        .post_json(
            "/api/v1/data",
            &json!([{"metric": "a", "value": 1}, {"metric": "b"}]),
        )
        .await?;
    assert_eq!(status, 400);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("record 1: missing value"),
        "{error}"
    );
    pipeline.stop().await
}

#[tokio::test]
async fn posted_and_dogstatsd_events_are_listed_with_tag_filters() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    let (status, _) = pipeline
        .post_json(
            "/events/",
            &json!({"what": "deploy web", "tags": "deploy env:prod", "data": "v1.2.3"}),
        )
        .await?;
    assert_eq!(status, 200);
    let (status, _) = pipeline
        .post_json(
            "/events/",
            &json!({"what": "deploy db", "tags": ["deploy", "env:staging"]}),
        )
        .await?;
    assert_eq!(status, 200);
    // A DogStatsD event through the aggregator is listed beside the posted ones.
    pipeline
        .send_statsd("_e{6,4}:outage|down|t:error|#env:prod")
        .await?;
    let all = pipeline
        .wait_for_json(
            "/events/get_data?from=-1h&until=%2B1h",
            "three events",
            |body| body.as_array().is_some_and(|events| events.len() == 3),
        )
        .await?;
    let mut whats: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["what"].as_str().unwrap())
        .collect();
    whats.sort();
    assert_eq!(whats, vec!["deploy db", "deploy web", "outage"], "{all}");
    let deploy_web = all
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["what"] == "deploy web")
        .unwrap();
    assert_eq!(deploy_web["data"], "v1.2.3");
    assert_eq!(deploy_web["tags"], json!(["deploy", "env:prod"]));

    let (_, both) = pipeline
        .get_json("/events/get_data?from=-1h&until=%2B1h&tags=deploy%20env:prod")
        .await?;
    let both: Vec<&str> = both
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["what"].as_str().unwrap())
        .collect();
    assert_eq!(both, vec!["deploy web"]);
    let (_, either) = pipeline
        .get_json("/events/get_data?from=-1h&until=%2B1h&tags=env:prod%20env:staging&set=union")
        .await?;
    assert_eq!(either.as_array().unwrap().len(), 3, "{either}");

    let (status, error) = pipeline
        .post_json("/events/", &json!({"tags": "x"}))
        .await?;
    assert_eq!(status, 400);
    assert!(error["error"].as_str().unwrap().contains("what"), "{error}");
    pipeline.stop().await
}

#[tokio::test]
async fn tags_expand_index_and_version_answer_like_graphite_web() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    pipeline
        .send_statsd("http.requests:1|c|#env:prod,region:eu\nhttp.requests:1|c|#env:staging\nhttp.errors:1|c")
        .await?;
    pipeline
        .wait_for_json("/metrics/index.json", "the series", |body| {
            body.as_array().is_some_and(|names| names.len() == 2)
        })
        .await?;
    let (_, index) = pipeline.get_json("/metrics/index.json").await?;
    assert_eq!(index, json!(["http.errors", "http.requests"]));
    let (_, tag_names) = pipeline.get_json("/tags/autoComplete/tags").await?;
    assert_eq!(tag_names, json!(["env", "name", "region"]));
    let (_, prefixed) = pipeline
        .get_json("/tags/autoComplete/tags?tagPrefix=re")
        .await?;
    assert_eq!(prefixed, json!(["region"]));
    let (_, env_values) = pipeline
        .get_json("/tags/autoComplete/values?tag=env")
        .await?;
    assert_eq!(env_values, json!(["prod", "staging"]));
    let (_, names) = pipeline
        .get_json("/tags/autoComplete/values?tag=name&valuePrefix=http.e")
        .await?;
    assert_eq!(names, json!(["http.errors"]));
    let (status, _) = pipeline.get_json("/tags/autoComplete/values").await?;
    assert_eq!(status, 400);

    let (_, expanded) = pipeline
        .get_json("/metrics/expand?query=http.*&leavesOnly=1")
        .await?;
    assert_eq!(
        expanded,
        json!({"results": ["http.errors", "http.requests"]})
    );
    let (_, counters) = pipeline
        .get_json("/metrics/expand?query=stats.counters.http.*")
        .await?;
    assert_eq!(
        counters,
        json!({"results": ["stats.counters.http.errors", "stats.counters.http.requests"]})
    );
    let (status, version) = pipeline.get_text("/version").await?;
    assert_eq!((status, version.as_str()), (200, "1.1.10"));
    pipeline.stop().await
}

#[tokio::test]
async fn the_native_api_lists_describes_and_queries_series_with_units() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    pipeline
        .send_statsd("checkout.latency:100|ms\ncheckout.latency:300|ms\ncheckout.orders:4|c|#env:prod\nqueue.depth:7|g")
        .await?;
    let listed = pipeline
        .wait_for_json("/api/v1/series?match=checkout.*", "two series", |body| {
            body.as_array().is_some_and(|series| series.len() == 2)
        })
        .await?;
    let listed: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|series| {
            (
                series["name"].as_str().unwrap(),
                series["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            ("checkout.latency", "timer"),
            ("checkout.orders", "counter")
        ]
    );
    let (_, tagged) = pipeline.get_json("/api/v1/series?tag=env:prod").await?;
    assert_eq!(tagged.as_array().unwrap().len(), 1);
    let (_, gauges) = pipeline
        .get_json("/api/v1/series?kind=gauge&seen_since=-1h")
        .await?;
    assert_eq!(gauges[0]["name"], "queue.depth");

    let timer_id = {
        let (_, timers) = pipeline.get_json("/api/v1/series?kind=timer").await?;
        timers[0]["id"].as_i64().unwrap()
    };
    let (status, detail) = pipeline
        .get_json(&format!("/api/v1/series/{timer_id}"))
        .await?;
    assert_eq!(status, 200);
    let fields: Vec<&str> = detail["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field.as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"mean") && fields.contains(&"upper_90"),
        "{detail}"
    );
    let (status, _) = pipeline.get_json("/api/v1/series/999999999").await?;
    assert_eq!(status, 404);

    let answer = pipeline
        .wait_for_json(
            "/api/v1/query?name=checkout.latency&kind=timer&field=mean&from=-1h&step=3600",
            "the mean",
            |body| {
                body["points"]
                    .as_array()
                    .is_some_and(|points| points.iter().any(|point| point["value"].is_number()))
            },
        )
        .await?;
    assert_eq!(answer["unit"], "milliseconds");
    assert_eq!(answer["field"], "mean");
    assert_eq!(answer["step_seconds"], 3600);
    let means: Vec<f64> = answer["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|point| point["value"].as_f64())
        .collect();
    assert_eq!(means, vec![200.0], "{answer}");
    let (_, rate) = pipeline
        .get_json("/api/v1/query?name=checkout.orders&kind=counter&field=rate&from=-1h&step=3600&tags=env:prod")
        .await?;
    assert_eq!(rate["unit"], "per_second", "{rate}");
    let rates: Vec<f64> = rate["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|point| point["value"].as_f64())
        .collect();
    assert_eq!(rates.iter().sum::<f64>(), 4.0 / 3600.0, "{rate}");
    let (status, untagged) = pipeline
        .get_json("/api/v1/query?name=checkout.orders&kind=counter&from=-1h")
        .await?;
    assert_eq!(status, 404, "the series is tagged: {untagged}");

    let refusals = [
        (
            "/api/v1/query?name=checkout.latency&kind=timer&field=bogus",
            400,
            "invalid field",
        ),
        (
            "/api/v1/query?name=checkout.latency&kind=histogram",
            400,
            "invalid kind",
        ),
        (
            "/api/v1/query?name=nothing.here&kind=gauge",
            404,
            "no gauge named",
        ),
        ("/api/v1/series?match=a.%5Bb", 400, "invalid match"),
        ("/api/v1/query?kind=timer", 400, "missing field `name`"),
        (
            "/api/v1/query?name=a&kind=timer&step=soon",
            400,
            "invalid parameters",
        ),
        ("/api/v1/series/abc", 400, "invalid series id"),
    ];
    for (path, status, message) in refusals {
        let (actual_status, text) = pipeline.get_text(path).await?;
        let body: serde_json::Value = serde_json::from_str(&text).map_err(|error| {
            anyhow::anyhow!("{path} answered {actual_status} without JSON ({error}): {text}")
        })?;
        assert_eq!(actual_status, status, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap_or_default().contains(message),
            "{path}: {body}"
        );
    }
    let (status, document) = pipeline.get_json("/api/openapi.json").await?;
    assert_eq!(status, 200);
    assert!(document["paths"]["/api/v1/query"].is_object());
    pipeline.stop().await
}
