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
    let (status, _) = pipeline
        .post_json(
            "/api/v1/data/signups.daily",
            &json!({"value": 8, "timestamp": "2020-01-01T00:00:00Z"}),
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
        json!({"timestamp": "2020-01-01T00:00:00.000Z", "value": 8.0})
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
async fn posted_events_are_listed_with_tag_filters() -> anyhow::Result<()> {
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
    let all = pipeline
        .wait_for_json(
            "/events/get_data?from=-1h&until=%2B1h",
            "two events",
            |body| body.as_array().is_some_and(|events| events.len() == 2),
        )
        .await?;
    let whats: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["what"].as_str().unwrap())
        .collect();
    assert_eq!(whats, vec!["deploy web", "deploy db"], "{all}");
    assert_eq!(all[0]["data"], "v1.2.3");
    assert_eq!(all[0]["tags"], json!(["deploy", "env:prod"]));

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
    assert_eq!(either.as_array().unwrap().len(), 2, "{either}");

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
