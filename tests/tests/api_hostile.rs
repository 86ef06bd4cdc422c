//! The API against hostile or careless clients, black-box over HTTP with the real stack: every
//! probe of issue 14's API part gets a 4xx with a JSON body naming the problem, none crashes
//! the process or reaches the database as a 503, and the API still stores and answers good
//! requests afterwards.

use abacus_tests::{Pipeline, PipelineSettings, RunningService};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Sends one request and returns its status and JSON body; fails when the body is not JSON.
async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await?;
    let body = serde_json::from_str(&text).map_err(|error| {
        anyhow::anyhow!("status {status}, {content_type:?}, not JSON ({error}): {text:.200}")
    })?;
    anyhow::ensure!(
        content_type.starts_with("application/json"),
        "status {status}: content type {content_type:?}"
    );
    Ok((status, body))
}

/// Asserts a JSON refusal with `status` whose message contains `expected`.
fn assert_refused(what: &str, (status, body): (u16, Value), expected_status: u16, expected: &str) {
    let message = body["error"].as_str().unwrap_or_default();
    assert_eq!(status, expected_status, "{what}: {body}");
    assert!(
        message.contains(expected),
        "{what}: {message:?} lacks {expected:?}"
    );
}

async fn assert_still_serving(pipeline: &Pipeline) -> anyhow::Result<()> {
    let (status, _) = pipeline.get_text("/version").await?;
    assert_eq!(status, 200, "the API stopped answering");
    Ok(())
}

#[tokio::test]
async fn ingest_and_events_refuse_what_the_store_would_refuse() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", pipeline.api_base_url);
    let cases = [
        (
            json!({"metric": "a", "value": 1, "time": 1e300}),
            "record 0: time must be a time between",
        ),
        (
            json!({"metric": "a\u{0}b", "value": 1}),
            "record 0: metric contains a NUL byte",
        ),
        (
            json!({"metric": "a".repeat(60_000), "value": 1}),
            "record 0: metric is 60000 bytes long",
        ),
        (
            json!({"metric": "a", "value": 1, "time": -1}),
            "record 0: time must be",
        ),
    ];
    for (record, expected) in cases {
        let refused = send(http.post(url("/api/v1/data")).json(&record)).await?;
        assert_refused("/api/v1/data", refused, 400, expected);
    }
    let event_cases = [
        (
            json!({"what": "x", "when": 1e300}),
            "when must be a time between",
        ),
        (json!({"what": "a\u{0}b"}), "what contains a NUL byte"),
        (
            json!({"what": "x", "tags": ["env:pr\u{0}d"]}),
            "tags contains a NUL byte",
        ),
        (
            json!({"what": "x", "tags": (0..10_000).map(|index| format!("t{index}")).collect::<Vec<_>>()}),
            "10000 tags, more than 64",
        ),
        (
            json!({"what": "x", "data": "d".repeat(20_000)}),
            "data is 20000 bytes long",
        ),
    ];
    for (event, expected) in event_cases {
        let refused = send(http.post(url("/events/")).json(&event)).await?;
        assert_refused("/events/", refused, 400, expected);
    }

    // A body no cross-origin form may send, and one not JSON at all.
    let plain = http
        .post(url("/api/v1/data"))
        .header("content-type", "text/plain")
        .body(r#"{"metric":"a","value":1}"#);
    assert_refused(
        "text/plain ingest",
        send(plain).await?,
        415,
        "Content-Type: application/json",
    );
    let form = http
        .post(url("/api/v1/data/a"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("value=1");
    assert_refused("form ingest", send(form).await?, 415, "application/json");
    let event_as_text = http
        .post(url("/events/"))
        .header("content-type", "text/plain")
        .body(r#"{"what":"x"}"#);
    assert_refused(
        "text/plain event",
        send(event_as_text).await?,
        415,
        "invalid event",
    );
    let not_utf8 = http
        .post(url("/api/v1/data"))
        .header("content-type", "application/json")
        .body(vec![b'"', 0xff, b'"']);
    assert_refused("invalid UTF-8", send(not_utf8).await?, 400, "UTF-8");

    // Bodies beyond what one NATS message carries: 413, with JSON, before they are published.
    let records: Vec<Value> = (0..10_000)
        .map(|index| json!({"metric": format!("bulk.{}.{index:05}", "segment".repeat(12)), "value": index, "time": 1_700_000_000 + index}))
        .collect();
    assert!(serde_json::to_vec(&records)?.len() > 1024 * 1024);
    let large = send(http.post(url("/api/v1/data")).json(&records)).await?;
    assert_refused("10,000 records", large, 413, "");
    let long_title = send(
        http.post(url("/events/"))
            .json(&json!({"what": "t".repeat(1_500_000)})),
    )
    .await?;
    assert_refused("1.5 MB title", long_title, 413, "");

    // Refused requests stored nothing, and a good one still goes all the way through.
    let (status, answer) = pipeline
        .post_json(
            "/api/v1/data",
            &json!({"metric": "after.hostile", "value": 7}),
        )
        .await?;
    assert_eq!(status, 200, "{answer}");
    pipeline
        .wait_for_json(
            "/api/v1/data/after.hostile?from=-1h&until=%2B1h",
            "the good point",
            |body| body["rows"].as_array().is_some_and(|rows| rows.len() == 1),
        )
        .await?;
    let (_, stored) = pipeline.get_json("/api/v1/series?limit=100").await?;
    let names: Vec<&str> = stored
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|series| series["name"].as_str())
        .collect();
    assert_eq!(names, vec!["after.hostile"], "{stored}");
    pipeline.stop().await
}

#[tokio::test]
async fn no_request_crashes_the_api_or_runs_unbounded() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    // A series to read, so that ranges reach the grid.
    let (status, _) = pipeline
        .post_json(
            "/api/v1/data",
            &json!({"metric": "probe.series", "value": 1}),
        )
        .await?;
    assert_eq!(status, 200);
    pipeline.send_statsd("probe.count:1|c").await?;
    pipeline
        .wait_for_json("/api/v1/series?match=probe.*", "the series", |body| {
            body.as_array().is_some_and(|series| series.len() == 2)
        })
        .await?;
    let http = reqwest::Client::new();
    let get = |path: String| http.get(format!("{}{path}", pipeline.api_base_url));

    let piped = format!("probe.series{}", "|absolute()".repeat(1_000));
    let refused = send(get(format!("/render?target={piped}"))).await?;
    assert_refused("1,000 pipes", refused, 400, "levels of nested expressions");
    let nested = format!(
        "{}probe.series{}",
        "absolute(".repeat(1_000),
        ")".repeat(1_000)
    );
    let refused = send(get(format!("/render?target={nested}"))).await?;
    assert_refused(
        "1,000 nested calls",
        refused,
        400,
        "levels of nested expressions",
    );
    assert_still_serving(&pipeline).await?;

    // A range older than every retention is answered as whisper answers it: from the oldest
    // time the series' rule keeps (5 years by default), at the coarsest step, so centuries
    // cost no more than the retention itself.
    let now = chrono::Utc::now().timestamp();
    let five_years = 5 * 365 * 86_400;
    for path in [
        "/render?target=probe.series&from=-1000y",
        "/render?target=probe.series&from=-1000y&maxDataPoints=1e18",
        "/render?target=probe.count&from=-1000y",
    ] {
        let (status, body) = send(get(path.into())).await?;
        assert_eq!(status, 200, "{path}: {body:.300}");
        let points = body[0]["datapoints"].as_array().expect("datapoints");
        let first = points[0][1].as_i64().expect("a timestamp");
        assert!(
            first >= now - five_years - 3_600 && points.len() <= 5 * 365 * 24 + 2,
            "{path}: {} points from {first}, not the 5 years kept at 1h",
            points.len()
        );
        let second = points[1][1].as_i64().expect("a timestamp");
        assert_eq!(second - first, 3_600, "{path}: the coarsest step");
    }
    let (status, body) = send(get(
        "/api/v1/query?name=probe.series&kind=raw&from=-1000y".into()
    ))
    .await?;
    assert_eq!(status, 200, "{body:.300}");

    // A range wholly older than the retention keeps its length, and a grid longer than
    // api.max_points_per_series is refused before anything is read.
    let started = Instant::now();
    let refused = send(get(
        "/render?target=probe.count&from=-1000y&until=-900y".into()
    ))
    .await?;
    assert_refused(
        "100 years at 1h, a counter",
        refused,
        400,
        "more than the limit of 100000",
    );
    let refused = send(get(
        "/api/v1/query?name=probe.series&kind=raw&from=-1000y&until=-900y".into(),
    ))
    .await?;
    assert_refused(
        "query without a step",
        refused,
        400,
        "more than the limit of 100000",
    );
    let refused = send(get(
        "/api/v1/query?name=probe.series&kind=raw&from=-1000y&until=-900y&step=1".into(),
    ))
    .await?;
    assert_refused("query with step=1", refused, 400, "more than the limit");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refusals took {:?}",
        started.elapsed()
    );
    // With maxDataPoints the same range is fine: the step widens.
    let (status, body) = send(get(
        "/render?target=probe.count&from=-1000y&until=-900y&maxDataPoints=100".into(),
    ))
    .await?;
    assert_eq!(status, 200, "{body}");

    for path in [
        "/render?target=probe.series&from=-100000y",
        "/render?target=probe.series&until=%2B100000y",
        "/api/v1/query?name=probe.series&kind=raw&from=-100000y",
        "/api/v1/data/probe.series?from=-100000y",
        "/events/get_data?from=-100000y",
        "/api/v1/series?seen_since=-100000y",
    ] {
        assert_refused(
            path,
            send(get(path.into())).await?,
            400,
            "outside 0001-01-01 to 9999-12-31",
        );
    }

    // As a form: 5,000 patterns are longer than a URI may be.
    let patterns: String = (0..5_000)
        .map(|index| format!("query=p{index}.*&"))
        .collect();
    let started = Instant::now();
    let expand = http
        .post(format!("{}/metrics/expand", pipeline.api_base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(patterns);
    let refused = send(expand).await?;
    assert_refused(
        "5,000 patterns",
        refused,
        400,
        "more than the 100 one expand may carry",
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_still_serving(&pipeline).await?;
    pipeline.stop().await
}

#[tokio::test]
async fn a_nul_byte_in_any_text_parameter_is_a_400() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", pipeline.api_base_url);
    for path in [
        "/render?target=a%00b",
        "/render?target=a&from=-1h%00",
        "/metrics/find?query=a%00",
        "/metrics/expand?query=a%00",
        "/tags/autoComplete/tags?tagPrefix=%00",
        "/tags/autoComplete/values?tag=name&valuePrefix=a%00",
        "/events/get_data?tags=a%00",
        "/api/v1/series?tag=%00",
        "/api/v1/series?match=a%00",
        "/api/v1/query?name=a%00&kind=counter",
        "/api/v1/data/a%00b",
    ] {
        assert_refused(path, send(http.get(url(path))).await?, 400, "NUL byte");
    }
    let form = http
        .post(url("/render"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("target=a%00b");
    assert_refused("render form", send(form).await?, 400, "NUL byte");
    let posted = http
        .post(url("/api/v1/data/a%00b"))
        .json(&json!({"value": 1}));
    assert_refused("ingest path", send(posted).await?, 400, "NUL byte");
    assert_still_serving(&pipeline).await?;
    pipeline.stop().await
}

#[tokio::test]
async fn every_refusal_is_json() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(FLUSH_INTERVAL).await?;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", pipeline.api_base_url);

    let mut large_header = http.get(url("/version"));
    large_header = large_header.header("x-padding", "p".repeat(100_000));
    assert_refused(
        "100 KB header",
        send(large_header).await?,
        431,
        "more than 65536",
    );
    let mut many_headers = http.get(url("/version"));
    for index in 0..150 {
        many_headers = many_headers.header(format!("x-header-{index}"), "1");
    }
    assert_refused(
        "150 headers",
        send(many_headers).await?,
        431,
        "header lines",
    );

    assert_refused(
        "series id beyond i64",
        send(http.get(url("/api/v1/series/9223372036854775808"))).await?,
        400,
        "invalid series id",
    );
    assert_refused(
        "series id not a number",
        send(http.get(url("/api/v1/series/x"))).await?,
        400,
        "invalid series id",
    );
    assert_refused(
        "unknown route",
        send(http.get(url("/nope"))).await?,
        404,
        "no endpoint",
    );
    assert_refused(
        "wrong method",
        send(http.delete(url("/render"))).await?,
        405,
        "not allowed",
    );
    assert_refused(
        "path not UTF-8",
        send(http.get(url("/api/v1/data/%FF"))).await?,
        400,
        "UTF-8",
    );
    assert_refused(
        "unknown kind",
        send(http.get(url("/api/v1/query?name=a&kind=nope"))).await?,
        400,
        "invalid kind",
    );
    pipeline.stop().await
}

/// Starts the API alone with a short header-read timeout and a small connection cap.
async fn start_api_with_connection_limits(
    settings: &PipelineSettings,
    header_read_timeout: Duration,
    max_connections: usize,
) -> anyhow::Result<(String, RunningService)> {
    let mut config = settings.api_config();
    config.api.header_read_timeout = header_read_timeout;
    config.api.max_connections = max_connections;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let api = RunningService::spawn(move |shutdown| abacus_api::run(config, listener, shutdown));
    Ok((address, api))
}

/// Whether the server closed the connection within `patience`.
async fn closed_within(stream: &mut tokio::net::TcpStream, patience: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let deadline = Instant::now() + patience;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // hyper may answer 408 before closing; keep reading until the end.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_one() -> anyhow::Result<()> {
    let settings = PipelineSettings::new(FLUSH_INTERVAL).await?;
    let (address, api) =
        start_api_with_connection_limits(&settings, Duration::from_secs(1), 8).await?;

    // Half-sent requests fill the cap...
    let mut half_sent = Vec::new();
    for _ in 0..8 {
        let mut stream = tokio::net::TcpStream::connect(&address).await?;
        stream
            .write_all(b"GET /version HTTP/1.1\r\nHost: x\r\n")
            .await?;
        half_sent.push(stream);
    }
    // ...so a whole request waits (the connection is accepted by the kernel, not served)...
    let started = Instant::now();
    let waiting = tokio::spawn({
        let url = format!("http://{address}/version");
        async move {
            reqwest::get(url)
                .await
                .map(|response| response.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "a connection beyond the cap was served at once"
    );
    // ...until the header-read timeout closes them, and then it is answered.
    for stream in &mut half_sent {
        assert!(
            closed_within(stream, Duration::from_secs(5)).await,
            "a half-sent request stayed open"
        );
    }
    assert_eq!(waiting.await??, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    api.stop().await?;
    settings.database.drop_database().await
}

#[tokio::test]
async fn half_sent_requests_are_closed_after_the_header_read_timeout() -> anyhow::Result<()> {
    let settings = PipelineSettings::new(FLUSH_INTERVAL).await?;
    let (address, api) =
        start_api_with_connection_limits(&settings, Duration::from_secs(1), 1024).await?;
    let mut streams = Vec::new();
    for _ in 0..500 {
        let mut stream = tokio::net::TcpStream::connect(&address).await?;
        stream.write_all(b"GET /vers").await?;
        streams.push(stream);
    }
    let mut open = 0;
    for stream in &mut streams {
        if !closed_within(stream, Duration::from_secs(10)).await {
            open += 1;
        }
    }
    assert_eq!(open, 0, "half-sent connections still open");
    api.stop().await?;
    settings.database.drop_database().await
}
