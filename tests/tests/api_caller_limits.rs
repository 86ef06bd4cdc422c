//! The limits per caller (`api.requests_per_second_per_caller`, `request_burst_per_caller`,
//! `concurrent_requests_per_caller`), from the outside over real HTTP: a caller over either
//! limit gets a JSON 429 naming it with `Retry-After`, and nobody else is held up by it. The
//! limits are set low here; a token counts on its own, an anonymous caller by its address.
//!
//! Nothing here depends on timing: the rate test sends until the 429 comes (a slow machine
//! only lets a few more through as the bucket refills), and the request held in flight is
//! known to be admitted because the API has asked for its body (`100 Continue`).

use abacus_api::config::{AccessPolicy, AuthSettings, Config};
use abacus_tests::{Pipeline, PipelineSettings};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The burst of the rate test: this many requests are let through at once, at least.
const BURST: u32 = 3;
/// Requests the rate test sends at most before it expects a 429: at one a second after the
/// burst, only a machine taking over a second per request would get this far.
const MOST_REQUESTS_BEFORE_A_REFUSAL: u32 = 40;

async fn start(adjust_api: fn(&mut Config)) -> anyhow::Result<Pipeline> {
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_api = adjust_api;
    let pipeline = Pipeline::start_with_settings(settings).await?;
    pipeline.wait_until_migrated().await?;
    Ok(pipeline)
}

/// A new user's token of the given scope, made with `abacus-api token create`.
async fn token(pipeline: &Pipeline, user: &str, scope: &str) -> anyhow::Result<String> {
    pipeline
        .api_command(&["user", "add", user], "a long enough password\n")
        .await?;
    let token = pipeline
        .api_command(
            &[
                "token", "create", "--user", user, "--name", "limits", "--scope", scope,
            ],
            "",
        )
        .await?;
    Ok(token.trim().to_owned())
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    content_type: String,
    body: Value,
}

async fn answer(request: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
    let response = request.send().await?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header("retry-after");
    let content_type = header("content-type").unwrap_or_default();
    let status = response.status().as_u16();
    let text = response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(Answer {
        status,
        retry_after,
        content_type,
        body,
    })
}

/// Sends the request until it is refused; returns how many were let through and the refusal.
async fn send_until_refused(
    request: impl Fn() -> reqwest::RequestBuilder,
) -> anyhow::Result<(u32, Answer)> {
    for admitted in 0..MOST_REQUESTS_BEFORE_A_REFUSAL {
        let answer = answer(request()).await?;
        if answer.status == 429 {
            return Ok((admitted, answer));
        }
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    panic!("{MOST_REQUESTS_BEFORE_A_REFUSAL} requests and no 429");
}

/// A JSON 429 with a `Retry-After` of whole seconds, at least 1, naming `limit`.
fn assert_over_limit(refusal: &Answer, who: &str, limit: &str) {
    assert_eq!(refusal.status, 429);
    assert!(
        refusal.content_type.starts_with("application/json"),
        "{}",
        refusal.content_type
    );
    let error = refusal.body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(who) && error.contains(limit),
        "{who}, {limit}: {}",
        refusal.body
    );
    let retry_after: u64 = refusal
        .retry_after
        .as_deref()
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in whole seconds");
    assert!(retry_after >= 1, "Retry-After: {retry_after}");
}

fn low_rate_with_reads_by_token(config: &mut Config) {
    config.api.requests_per_second_per_caller = 1;
    config.api.request_burst_per_caller = BURST;
    // Reads need a token, so that a token is checked and counted on its own; writes stay open
    // (the harness's), so that an anonymous write counts against its address, which the
    // trusted local proxy lets the test choose.
    config.auth = AuthSettings {
        reads: AccessPolicy::Token,
        writes: AccessPolicy::Open,
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..Default::default()
    };
}

#[tokio::test]
async fn a_caller_over_its_rate_gets_429_with_retry_after_and_others_are_served(
) -> anyhow::Result<()> {
    let pipeline = start(low_rate_with_reads_by_token).await?;
    let base = pipeline.api_base_url.clone();
    let http = reqwest::Client::new();
    let alice = token(&pipeline, "alice", "read").await?;
    let bob = token(&pipeline, "bob", "read").await?;
    let series = |token: &str| http.get(format!("{base}/api/v1/series")).bearer_auth(token);

    // Alice's token runs through its burst and is refused...
    let (admitted, refusal) = send_until_refused(|| series(&alice)).await?;
    assert!(admitted >= BURST, "only {admitted} let through");
    assert_over_limit(&refusal, "this token", "api.requests_per_second_per_caller");
    // ...while Bob's, arriving from the same address, is not held up by it.
    let bobs = answer(series(&bob)).await?;
    assert_eq!(bobs.status, 200, "{}", bobs.body);
    // Health and the unguarded routes are not limited.
    for path in ["/healthz", "/version", "/api/openapi.json"] {
        let open = answer(http.get(format!("{base}{path}")).bearer_auth(&alice)).await?;
        assert_eq!(open.status, 200, "{path}");
    }

    // Anonymous callers count by their client address.
    let write_from = |address: &str| {
        http.post(format!("{base}/api/v1/data"))
            .header("x-forwarded-for", address)
            .json(&json!({"metric": "limits.anonymous", "value": 1}))
    };
    let (admitted, refusal) = send_until_refused(|| write_from("192.0.2.1")).await?;
    assert!(admitted >= BURST, "only {admitted} let through");
    assert_over_limit(
        &refusal,
        "this client address",
        "api.requests_per_second_per_caller",
    );
    let elsewhere = answer(write_from("192.0.2.2")).await?;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.body);
    pipeline.stop().await
}

fn one_request_in_flight_per_caller(config: &mut Config) {
    config.api.concurrent_requests_per_caller = 1;
    // Writes need a token (the default policy), so that each token counts on its own.
    config.auth = AuthSettings::default();
}

/// Reads one HTTP answer's head (through the blank line) from a raw connection.
async fn read_head(stream: &mut tokio::net::TcpStream) -> anyhow::Result<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut byte)).await??;
        anyhow::ensure!(read == 1, "the connection closed after {head:?}");
        head.push(byte[0]);
    }
    Ok(String::from_utf8(head)?)
}

#[tokio::test]
async fn a_caller_with_a_request_in_flight_gets_429_until_it_is_answered() -> anyhow::Result<()> {
    let pipeline = start(one_request_in_flight_per_caller).await?;
    let base = pipeline.api_base_url.clone();
    let http = reqwest::Client::new();
    let alice = token(&pipeline, "alice", "write").await?;
    let bob = token(&pipeline, "bob", "write").await?;
    let point = json!({"metric": "limits.in_flight", "value": 1}).to_string();
    let post = |token: &str| {
        http.post(format!("{base}/api/v1/data"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(point.clone())
    };

    // Alice's first request sends its head and waits to be asked for the body: the API asks
    // (`100 Continue`) only once its handler reads the body, after the guard and the limits
    // admitted the request. Until the body comes, the request is in flight.
    let address = base.trim_start_matches("http://");
    let mut held = tokio::net::TcpStream::connect(address).await?;
    held.write_all(
        format!(
            "POST /api/v1/data HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {alice}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            point.len()
        )
        .as_bytes(),
    )
    .await?;
    let head = read_head(&mut held).await?;
    assert!(head.starts_with("HTTP/1.1 100"), "{head}");

    // A second request of Alice's is one too many at once; Bob's is served.
    let second = answer(post(&alice)).await?;
    assert_over_limit(&second, "this token", "api.concurrent_requests_per_caller");
    assert_eq!(second.retry_after.as_deref(), Some("1"));
    let bobs = answer(post(&bob)).await?;
    assert_eq!(bobs.status, 200, "{}", bobs.body);

    // The held request gets its body and is answered; then Alice is served again.
    held.write_all(point.as_bytes()).await?;
    let head = read_head(&mut held).await?;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    drop(held);
    let again = answer(post(&alice)).await?;
    assert_eq!(again.status, 200, "{}", again.body);
    pipeline.stop().await
}
