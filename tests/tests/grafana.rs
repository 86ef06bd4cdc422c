//! A replay of what Grafana's stock Graphite data source sends — the data source health check,
//! the query editor's metric and tag browsing, panel queries with maxDataPoints and functions,
//! the function list, the version probe and annotations — each checked for a well-formed
//! answer with the right values.

use abacus_api::config::AccessPolicy;
use abacus_tests::{Pipeline, PipelineSettings};
use serde_json::{json, Value};
use std::time::Duration;

const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

fn values_of(series: &Value) -> Vec<f64> {
    series["datapoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|point| point[0].as_f64())
        .collect()
}

#[tokio::test]
async fn grafanas_graphite_data_source_gets_well_formed_answers() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    replay(&pipeline).await?;
    pipeline.stop().await
}

/// With `auth.reads = "token"`, as the production deployment sets it, the data source is
/// given a `read` token: as the password of its "Basic auth" (any user name), or as an
/// `Authorization: Bearer` custom header. The same replay gets the same answers either way,
/// and none without the token.
#[tokio::test]
async fn grafana_reads_with_a_token_as_basic_password_or_bearer_header() -> anyhow::Result<()> {
    for scheme in ["Basic", "Bearer"] {
        let mut settings = PipelineSettings::new(FLUSH_INTERVAL).await?;
        settings.adjust_api = |config| config.auth.reads = AccessPolicy::Token;
        let mut pipeline = Pipeline::start_with_settings(settings).await?;
        pipeline.wait_until_migrated().await?;
        pipeline
            .api_command(&["user", "add", "grafana"], "the grafana user's password\n")
            .await?;
        let token = pipeline
            .api_command(
                &[
                    "token", "create", "--user", "grafana", "--name", "grafana", "--scope", "read",
                ],
                "",
            )
            .await?;
        let token = token.trim();
        let (status, refused) = pipeline
            .post_form("/render", &[("target", "constantLine(100)")])
            .await?;
        assert_eq!(status, 401, "{scheme}: without the token: {refused}");
        let authorization = match scheme {
            // The header reqwest's own Basic auth builds, as Grafana's would be.
            "Basic" => reqwest::Client::new()
                .get(&pipeline.api_base_url)
                .basic_auth("grafana", Some(token))
                .build()?
                .headers()[reqwest::header::AUTHORIZATION]
                .to_str()?
                .to_owned(),
            _ => format!("Bearer {token}"),
        };
        pipeline.send_authorization(&authorization)?;
        replay(&pipeline).await?;
        pipeline.stop().await?;
    }
    Ok(())
}

/// What Grafana's Graphite data source sends, and the answers it must get.
async fn replay(pipeline: &Pipeline) -> anyhow::Result<()> {
    pipeline
        .send_statsd(
            "web01.hits:2|c\nweb02.hits:3|c\ndb01.hits:100|c\napi.latency:100|ms\napi.latency:300|ms\n\
             tagged.requests:5|c|#env:prod,region:eu\ntagged.requests:7|c|#env:staging",
        )
        .await?;
    // Wait until everything is stored.
    pipeline
        .wait_for_json("/metrics/index.json", "the series", |index| {
            index.as_array().is_some_and(|names| names.len() == 5)
        })
        .await?;

    // "Save & test": Grafana renders constantLine(100) over the last hour.
    let (status, health) = pipeline
        .post_form(
            "/render",
            &[
                ("target", "constantLine(100)"),
                ("from", "-1h"),
                ("until", "now"),
                ("format", "json"),
                ("maxDataPoints", "100"),
            ],
        )
        .await?;
    assert_eq!(status, 200, "{health}");
    assert!(
        !values_of(&health[0]).is_empty()
            && values_of(&health[0]).iter().all(|value| *value == 100.0),
        "{health}"
    );

    // The query editor browses the tree and the functions.
    let (status, top) = pipeline
        .post_form(
            "/metrics/find",
            &[("query", "*"), ("from", "-6h"), ("until", "now")],
        )
        .await?;
    assert_eq!(status, 200);
    let top_ids: Vec<&str> = top
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        top_ids,
        vec!["api", "db01", "stats", "tagged", "web01", "web02"]
    );
    for node in top.as_array().unwrap() {
        for key in ["text", "id", "leaf", "expandable", "allowChildren"] {
            assert!(node.get(key).is_some(), "{key} missing in {node}");
        }
    }
    let (status, functions) = pipeline.get_json("/functions").await?;
    assert_eq!(status, 200);
    for name in [
        "sumSeries",
        "alias",
        "seriesByTag",
        "constantLine",
        "movingAverage",
    ] {
        assert!(
            functions[name]["params"].is_array(),
            "{name} missing from /functions"
        );
    }
    let (status, version) = pipeline.get_text("/version").await?;
    assert_eq!((status, version.as_str()), (200, "1.1.10"));

    // A panel: a sum over a glob, an alias, and a timer percentile, with maxDataPoints as
    // Grafana computes it from the panel width.
    let (status, panel) = pipeline
        .post_form(
            "/render",
            &[
                (
                    "target",
                    "alias(sumSeries(stats.counters.web*.hits.count),'web hits')",
                ),
                ("target", "stats.timers.api.latency.upper_90"),
                ("target", "stats.counters.db01.hits.count|scale(0.5)"),
                ("from", "-1h"),
                ("until", "now"),
                ("format", "json"),
                ("maxDataPoints", "1"),
            ],
        )
        .await?;
    assert_eq!(status, 200, "{panel}");
    let targets: Vec<&str> = panel
        .as_array()
        .unwrap()
        .iter()
        .map(|series| series["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        vec![
            "web hits",
            "stats.timers.api.latency.upper_90",
            "scale(stats.counters.db01.hits.count,0.5)"
        ]
    );
    assert_eq!(values_of(&panel[0]).iter().sum::<f64>(), 5.0, "{panel}");
    let upper_90 = values_of(&panel[1]);
    assert!(
        (upper_90.last().copied().unwrap_or_default() - 300.0).abs() < 0.3,
        "{panel}"
    );
    assert_eq!(values_of(&panel[2]).iter().sum::<f64>(), 50.0, "{panel}");

    // Tag browsing and a tag query, as the editor builds them.
    let (_, tag_names) = pipeline
        .get_json("/tags/autoComplete/tags?expr=name%3Dtagged.requests&limit=100")
        .await?;
    assert_eq!(tag_names, json!(["env", "name", "region"]));
    let (_, env_values) = pipeline
        .get_json("/tags/autoComplete/values?tag=env&expr=name%3Dtagged.requests&limit=100")
        .await?;
    assert_eq!(env_values, json!(["prod", "staging"]));
    let (status, tagged) = pipeline
        .post_form(
            "/render",
            &[
                ("target", "seriesByTag('name=tagged.requests','env=prod')"),
                ("from", "-1h"),
                ("until", "now"),
                ("format", "json"),
            ],
        )
        .await?;
    assert_eq!(status, 200, "{tagged}");
    assert_eq!(tagged.as_array().unwrap().len(), 1, "{tagged}");
    assert_eq!(tagged[0]["target"], "tagged.requests;env=prod;region=eu");
    assert_eq!(tagged[0]["tags"]["env"], "prod");
    assert_eq!(values_of(&tagged[0]).iter().sum::<f64>(), 5.0);

    // Annotations: events posted, then read back by tag.
    let (status, _) = pipeline
        .post_json(
            "/events/",
            &json!({"what": "deploy", "tags": "deploy", "data": "v2"}),
        )
        .await?;
    assert_eq!(status, 200);
    let annotations = pipeline
        .wait_for_json(
            "/events/get_data?from=-6h&until=now&tags=deploy",
            "the annotation",
            |events| events.as_array().is_some_and(|events| events.len() == 1),
        )
        .await?;
    assert_eq!(annotations[0]["what"], "deploy");
    assert!(annotations[0]["when"].is_i64());

    // Mistakes get a JSON error naming the position.
    let (status, error) = pipeline
        .post_form("/render", &[("target", "sumSeries(a.b"), ("from", "-1h")])
        .await?;
    assert_eq!(status, 400);
    assert!(
        error["error"].as_str().unwrap().contains("position"),
        "{error}"
    );
    let (status, error) = pipeline
        .post_form(
            "/render",
            &[("target", "noSuchFunction(a.b)"), ("from", "-1h")],
        )
        .await?;
    assert_eq!(status, 400);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("unknown function"),
        "{error}"
    );
    Ok(())
}
