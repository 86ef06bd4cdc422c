//! The layers every API answer goes through, seen from a client: compressed when the client
//! accepts it (Grafana asks for gzip), with CORS headers for the configured origins only,
//! refusals keeping their JSON bodies under both, and everything under `api.url_prefix` when
//! one is set.

use abacus_tests::{PipelineSettings, RunningService};
use std::io::Read;
use std::time::Duration;

/// Starts the API alone with `cors_allowed_origins`; returns its base URL.
async fn start_api(
    settings: &PipelineSettings,
    cors_allowed_origins: &[&str],
) -> anyhow::Result<(String, RunningService)> {
    start_api_with(settings, |config| {
        config.api.cors_allowed_origins = cors_allowed_origins
            .iter()
            .map(|origin| (*origin).to_owned())
            .collect();
    })
    .await
}

/// Starts the API alone after `adjust` has changed its settings; returns its base URL.
async fn start_api_with(
    settings: &PipelineSettings,
    adjust: impl FnOnce(&mut abacus_api::config::Config),
) -> anyhow::Result<(String, RunningService)> {
    let mut config = settings.api_config();
    adjust(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let api = RunningService::spawn(move |shutdown| abacus_api::run(config, listener, shutdown));
    Ok((base_url, api))
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

#[tokio::test]
async fn answers_are_gzipped_when_the_client_accepts_it() -> anyhow::Result<()> {
    let settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    let (base_url, api) = start_api(&settings, &[]).await?;
    // reqwest here decompresses nothing itself (no gzip feature), so the bytes are as sent.
    let http = reqwest::Client::new();
    let url = format!("{base_url}/api/openapi.json");

    let plain = http.get(&url).send().await?;
    assert_eq!(plain.status(), 200);
    assert_eq!(header(&plain, "content-encoding"), None);
    let plain_body = plain.bytes().await?;

    let gzipped = http
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await?;
    assert_eq!(gzipped.status(), 200);
    assert_eq!(header(&gzipped, "content-encoding"), Some("gzip"));
    let compressed = gzipped.bytes().await?;
    let mut decompressed = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_ref()).read_to_end(&mut decompressed)?;
    assert_eq!(
        decompressed,
        plain_body.as_ref(),
        "gzip changed the document"
    );
    assert!(
        compressed.len() * 4 < plain_body.len(),
        "{} gzipped bytes of {} plain",
        compressed.len(),
        plain_body.len()
    );

    // A refusal is still JSON once decompressed.
    let refused = http
        .get(format!("{base_url}/render?target=a&from=nonsense"))
        .header("accept-encoding", "gzip")
        .send()
        .await?;
    assert_eq!(refused.status(), 400);
    let body = refused.bytes().await?;
    let text = if body.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::GzDecoder::new(body.as_ref()).read_to_string(&mut text)?;
        text
    } else {
        String::from_utf8(body.to_vec())?
    };
    let refusal: serde_json::Value = serde_json::from_str(&text)?;
    assert!(refusal["error"].as_str().is_some(), "{text}");
    api.stop().await
}

#[tokio::test]
async fn cors_headers_go_to_configured_origins_only() -> anyhow::Result<()> {
    let settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    let allowed = "https://grafana.example.com";
    let (base_url, api) = start_api(&settings, &[allowed]).await?;
    let http = reqwest::Client::new();

    let from_allowed = http
        .get(format!("{base_url}/version"))
        .header("origin", allowed)
        .send()
        .await?;
    assert_eq!(from_allowed.status(), 200);
    assert_eq!(
        header(&from_allowed, "access-control-allow-origin"),
        Some(allowed)
    );

    let from_elsewhere = http
        .get(format!("{base_url}/version"))
        .header("origin", "https://evil.example.com")
        .send()
        .await?;
    assert_eq!(from_elsewhere.status(), 200);
    assert_eq!(header(&from_elsewhere, "access-control-allow-origin"), None);

    // A browser's preflight for a JSON POST is answered by the layer.
    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{base_url}/api/v1/data"))
        .header("origin", allowed)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await?;
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        header(&preflight, "access-control-allow-origin"),
        Some(allowed)
    );
    let allowed_methods = header(&preflight, "access-control-allow-methods").unwrap_or_default();
    assert!(allowed_methods.contains("POST"), "{allowed_methods}");

    // A refusal carries the header too, so the page sees the JSON error.
    let refused = http
        .get(format!("{base_url}/api/v1/series/nope"))
        .header("origin", allowed)
        .send()
        .await?;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        header(&refused, "access-control-allow-origin"),
        Some(allowed)
    );
    api.stop().await
}

#[tokio::test]
async fn without_configured_origins_no_cors_headers_are_sent() -> anyhow::Result<()> {
    let settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    let (base_url, api) = start_api(&settings, &[]).await?;
    let answer = reqwest::Client::new()
        .get(format!("{base_url}/version"))
        .header("origin", "https://grafana.example.com")
        .send()
        .await?;
    assert_eq!(answer.status(), 200);
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
    api.stop().await
}

#[tokio::test]
async fn under_a_url_prefix_everything_lives_below_it() -> anyhow::Result<()> {
    let settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    let (base_url, api) = start_api_with(&settings, |config| {
        config.api.url_prefix = "/abacus".into();
    })
    .await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let get = |path: &str| http.get(format!("{base_url}{path}")).send();

    let version = get("/abacus/version").await?;
    assert_eq!(version.status(), 200);
    assert_eq!(version.text().await?, "1.1.10");
    // A refusal under the prefix is the route's own.
    let refused = get("/abacus/render?target=a&from=nonsense").await?;
    assert_eq!(refused.status(), 400);
    let refusal: serde_json::Value = refused.json().await?;
    assert!(
        refusal["error"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid from"),
        "{refusal}"
    );
    // The web app's first page, and the bare prefix sent there.
    let page = get("/abacus/").await?;
    assert_eq!(page.status(), 200);
    assert!(header(&page, "content-type")
        .unwrap_or_default()
        .starts_with("text/html"));
    let bare = get("/abacus").await?;
    assert_eq!(bare.status(), 308);
    assert_eq!(header(&bare, "location"), Some("/abacus/"));
    // Nothing answers outside the prefix but the JSON 404.
    for outside in ["/version", "/render?target=a", "/", "/abacusx/version"] {
        let answer = get(outside).await?;
        assert_eq!(answer.status(), 404, "{outside}");
        let body: serde_json::Value = answer.json().await?;
        assert!(body["error"].as_str().is_some(), "{outside}: {body}");
    }
    api.stop().await
}

#[test]
fn a_url_prefix_must_be_a_path() {
    for bad in ["abacus", "/abacus/", "/a//b", "/a?b", "/"] {
        let mut config = abacus_api::config::Config::default();
        config.api.url_prefix = bad.into();
        let error = abacus_proto::settings::Validate::validate(&config).unwrap_err();
        assert!(
            error.to_string().contains("api.url_prefix"),
            "{bad}: {error}"
        );
    }
}
