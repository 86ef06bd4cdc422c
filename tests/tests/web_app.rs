//! The web app in a real browser, against the real pipeline. Data goes in over statsd (a
//! counter, several flush windows of it) and Graphite plaintext (points over the last hours
//! and the same hours a week ago, for the compare view), an event is posted, then
//! web/e2e/run.mjs drives Debian's chromium through playwright-core: search and tree on the
//! Metrics page, the Graph page checked against /render, zoom, compare a week back, the
//! sequential x-axis, event markers, a parse error, the Table and JSON tabs, a dashboard from
//! its URL, a graph added to a dashboard with the target editor and a preview, the Status page, the app under a path prefix behind a proxy, the dark theme, an
//! accessibility pass (axe-core), and no console errors.
//!
//! tests/web/setup.sh installs chromium (apt) and the app's npm dependencies when missing. The
//! API serves the app it embedded when it was compiled, so the app must be built before
//! (`make test` does: `make web` first). Screenshots land in web/test-results/.

use abacus_tests::{start_aggregator_with_addresses, Pipeline, PipelineSettings};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;

const PREFIX: &str = "web.e2e";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the repository")
        .to_path_buf()
}

/// Runs tests/web/setup.sh; returns the chromium binary it found or installed.
fn setup() -> String {
    let output = std::process::Command::new("bash")
        .arg(repo_root().join("tests/web/setup.sh"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("cannot run tests/web/setup.sh");
    assert!(
        output.status.success(),
        "tests/web/setup.sh failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("a path")
        .trim()
        .to_owned()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_web_app_works_in_a_browser() -> anyhow::Result<()> {
    assert!(
        abacus_api::web::APP_BUILT,
        "the API was compiled without the web app: build it first (make web, or \
         cd web && npm ci && npm run build), then run the tests again (make test does both)"
    );
    let chromium = setup();

    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    // Graphite points are raw points, kept only for the raw retention (7 days by default);
    // the week-old ones must outlive it.
    // The Status page shows the worker's self-metrics too, published every second here.
    settings.adjust_storage_worker = |config| {
        config.storage_worker.retentions = "10s:30d,1m:90d,1h:5y".into();
        config.storage_worker.publish_self_metrics = true;
        config.storage_worker.self_metrics_interval = Duration::from_secs(1);
    };
    settings.adjust_api = |config| {
        config.api.publish_self_metrics = true;
        config.api.self_metrics_interval = Duration::from_secs(1);
    };
    // The Status page shows the services' self-metrics.
    let mut aggregator_config = settings.aggregator_config();
    aggregator_config.aggregator.publish_self_metrics = true;
    let (addresses, aggregator) = start_aggregator_with_addresses(aggregator_config, None).await?;
    let pipeline =
        Pipeline::start_with_aggregator(settings, addresses.statsd_udp, Some(aggregator)).await?;

    // Graphite plaintext: a point every 10 minutes over the last 2.5 hours (10 each) and at
    // the same times a week ago (5 each): comparing a week back shows +100%.
    let now = now();
    let mut lines = String::new();
    for step in 0..16 {
        let time = now - 9_000 + step * 600;
        lines.push_str(&format!("{PREFIX}.load 10 {time}\n"));
        lines.push_str(&format!("{PREFIX}.load 5 {}\n", time - 7 * 86_400));
    }
    let mut graphite = tokio::net::TcpStream::connect(addresses.graphite_tcp).await?;
    graphite.write_all(lines.as_bytes()).await?;
    graphite.shutdown().await?;

    // statsd: a counter over several flush windows.
    for _ in 0..6 {
        pipeline
            .send_statsd(&format!("{PREFIX}.requests:5|c"))
            .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (status, answer) = pipeline
        .post_json(
            "/events/",
            &serde_json::json!({ "what": "deploy 42", "tags": "deploy", "data": "from the e2e test" }),
        )
        .await?;
    assert_eq!(status, 200, "posting the event: {answer}");

    pipeline
        .wait_for_datapoints(
            &format!("stats.counters.{PREFIX}.requests.count"),
            "all 30 requests",
            |points| points.iter().filter_map(|point| point.0).sum::<f64>() == 30.0,
        )
        .await?;
    pipeline
        .wait_for_json(
            &format!("/render?target={PREFIX}.load&from=-8d&format=json"),
            "both weeks of Graphite points",
            |body| {
                body[0]["datapoints"]
                    .as_array()
                    .is_some_and(|points| points.iter().filter(|p| !p[0].is_null()).count() == 32)
            },
        )
        .await?;
    pipeline
        .wait_for_json("/events/get_data?from=-1h", "the event", |body| {
            body.as_array().is_some_and(|events| events.len() == 1)
        })
        .await?;

    let output = tokio::process::Command::new("node")
        .arg(repo_root().join("web/e2e/run.mjs"))
        .env("ABACUS_URL", format!("{}/", pipeline.api_base_url))
        .env("ABACUS_CHROMIUM", &chromium)
        .env("ABACUS_E2E_PREFIX", PREFIX)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), output)
        .await
        .expect("the browser test finished within 5 minutes")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    pipeline.stop().await?;
    assert!(
        output.status.success(),
        "web/e2e/run.mjs failed ({}); screenshots in web/test-results/",
        output.status
    );
    assert!(stdout.contains(", 0 failed"), "{stdout}");
    Ok(())
}

/// Users in the browser (web/e2e/users.mjs), under the default policy (`auth.writes =
/// "token"`): sign in and back, post an event with the session, a viewed graph in the history,
/// star and name it, a saved dashboard, a token made and revoked, sign out; another user sees
/// the dashboard read-only, fails to change it, and duplicates it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_in_users_keep_graphs_and_share_dashboards_in_a_browser() -> anyhow::Result<()> {
    assert!(
        abacus_api::web::APP_BUILT,
        "the API was compiled without the web app: build it first (make web), then run the \
         tests again (make test does both)"
    );
    let chromium = setup();
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_api = |config| config.auth = Default::default();
    let pipeline = Pipeline::start_with_settings(settings).await?;
    pipeline.wait_until_migrated().await?;
    pipeline
        .api_command(&["user", "add", "alice"], "alice's password\n")
        .await?;
    pipeline
        .api_command(&["user", "add", "bob"], "bob's password\n")
        .await?;
    let metric = "stats.counters.web.users.hits.count";
    for _ in 0..3 {
        pipeline.send_statsd("web.users.hits:2|c").await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    pipeline
        .wait_for_datapoints(metric, "the hits", |points| {
            points.iter().filter_map(|point| point.0).sum::<f64>() == 6.0
        })
        .await?;

    let output = tokio::process::Command::new("node")
        .arg(repo_root().join("web/e2e/users.mjs"))
        .env("ABACUS_URL", format!("{}/", pipeline.api_base_url))
        .env("ABACUS_CHROMIUM", &chromium)
        .env("ABACUS_E2E_METRIC", metric)
        .env(
            "ABACUS_E2E_USERS",
            "alice:alice's password,bob:bob's password",
        )
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), output)
        .await
        .expect("the browser test finished within 5 minutes")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    // What the browser did is in the database: alice's named, starred graph and dashboard, and
    // bob's copy of it.
    let (_, graphs) = pipeline.get_json("/api/v1/graphs").await?;
    let (_, dashboards) = pipeline.get_json("/api/v1/dashboards").await?;
    pipeline.stop().await?;
    assert!(
        output.status.success(),
        "web/e2e/users.mjs failed ({}); screenshots in web/test-results/",
        output.status
    );
    assert!(stdout.contains(", 0 failed"), "{stdout}");
    assert_eq!(graphs[0]["name"], "Hits", "{graphs}");
    assert_eq!(graphs[0]["starred"], true);
    assert_eq!(graphs[0]["targets"], serde_json::json!([metric]));
    let owned: Vec<String> = dashboards
        .as_array()
        .unwrap()
        .iter()
        .map(|one| {
            format!(
                "{}:{}",
                one["owner"].as_str().unwrap(),
                one["title"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(owned, ["alice:Alice's board", "bob:Copy of Alice's board"]);
    Ok(())
}

/// Single sign-on behind a proxy in the browser (web/e2e/proxy.mjs): the browser sends
/// `X-Forwarded-User` from 127.0.0.1, the trusted proxy's address, as oauth2-proxy would; the
/// app shows the user signed in without a sign-in form, and their viewed graph is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_the_sign_in_proxy_names_is_signed_in_in_the_browser() -> anyhow::Result<()> {
    assert!(
        abacus_api::web::APP_BUILT,
        "the API was compiled without the web app: build it first (make web), then run the \
         tests again (make test does both)"
    );
    let chromium = setup();
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_api = |config| {
        config.auth = abacus_api::config::AuthSettings {
            trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
            proxy_user_header: Some("X-Forwarded-User".into()),
            ..Default::default()
        }
    };
    let pipeline = Pipeline::start_with_settings(settings).await?;
    pipeline.wait_until_migrated().await?;
    let metric = "stats.counters.web.proxy.hits.count";
    for _ in 0..2 {
        pipeline.send_statsd("web.proxy.hits:1|c").await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    pipeline
        .wait_for_datapoints(metric, "the hits", |points| {
            points.iter().filter_map(|point| point.0).sum::<f64>() == 2.0
        })
        .await?;

    let output = tokio::process::Command::new("node")
        .arg(repo_root().join("web/e2e/proxy.mjs"))
        .env("ABACUS_URL", format!("{}/", pipeline.api_base_url))
        .env("ABACUS_CHROMIUM", &chromium)
        .env("ABACUS_E2E_METRIC", metric)
        .env("ABACUS_E2E_USER", "erin")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), output)
        .await
        .expect("the browser test finished within 5 minutes")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    // The proxy's user now exists, made on first sight, and has no password.
    let users = pipeline.api_command(&["user", "list"], "").await?;
    pipeline.stop().await?;
    assert!(
        output.status.success(),
        "web/e2e/proxy.mjs failed ({}); screenshots in web/test-results/",
        output.status
    );
    assert!(stdout.contains("e2e: 4 passed, 0 failed"), "{stdout}");
    assert!(
        users.lines().any(|line| line.starts_with("erin\tuser\t")),
        "{users}"
    );
    Ok(())
}

/// The Metrics page's search box: plain text finds names containing it at any depth, which a
/// glob cannot (`*` stays within a segment).
#[tokio::test]
async fn series_are_searched_by_substring_across_segments() -> anyhow::Result<()> {
    let pipeline = abacus_tests::Pipeline::start(Duration::from_secs(1)).await?;
    pipeline
        .send_statsd("shop.demo.orders:1|c\nshopdemo:2|g\nother.thing:3|c\ndeep.a.b.c.demox:1|ms")
        .await?;
    pipeline
        .wait_for_json("/api/v1/series", "all four series", |body| {
            body.as_array().is_some_and(|series| series.len() == 4)
        })
        .await?;
    let (status, found) = pipeline.get_json("/api/v1/series?contains=demo").await?;
    assert_eq!(status, 200);
    assert_eq!(
        names(&found),
        ["deep.a.b.c.demox", "shop.demo.orders", "shopdemo"]
    );
    let (_, found) = pipeline
        .get_json("/api/v1/series?contains=demo&kind=counter")
        .await?;
    assert_eq!(names(&found), ["shop.demo.orders"]);
    let (_, found) = pipeline
        .get_json("/api/v1/series?contains=demo&match=shop*")
        .await?;
    assert_eq!(names(&found), ["shopdemo"]);
    let (_, found) = pipeline.get_json("/api/v1/series?contains=nothing").await?;
    assert_eq!(names(&found), Vec::<String>::new());
    pipeline.stop().await
}

/// The search box's text is a literal substring even where LIKE would read a wildcard (`_` is
/// common in names), odd text is answered, not refused with a 5xx, and the catalog carries the
/// trigram index that finds a substring without reading every name, where pg_trgm exists.
#[tokio::test]
async fn substrings_are_literal_and_indexed() -> anyhow::Result<()> {
    let pipeline = abacus_tests::Pipeline::start(Duration::from_secs(1)).await?;
    pipeline
        .send_statsd("disk_used.a:1|g\ndiskXused.b:1|g\ndisk.used:1|g")
        .await?;
    pipeline
        .wait_for_json("/api/v1/series", "all three series", |body| {
            body.as_array().is_some_and(|series| series.len() == 3)
        })
        .await?;
    let (status, found) = pipeline.get_json("/api/v1/series?contains=k_u").await?;
    assert_eq!(status, 200);
    assert_eq!(names(&found), ["disk_used.a"]);
    for odd in ["%25", "%5C", "_", "%5C%25_", "'", "%E2%9C%93"] {
        let (status, found) = pipeline
            .get_json(&format!("/api/v1/series?contains={odd}"))
            .await?;
        assert_eq!(status, 200, "contains={odd}: {found}");
    }
    let (_, found) = pipeline.get_json("/api/v1/series?contains=_").await?;
    assert_eq!(names(&found), ["disk_used.a"]);

    let mut database = pipeline.database_connection().await?;
    let trigrams_available: bool = sqlx::query_scalar(
        "select exists (select 1 from pg_available_extensions where name = 'pg_trgm')",
    )
    .fetch_one(&mut database)
    .await?;
    let index: Option<String> = sqlx::query_scalar(
        "select indexdef from pg_indexes where tablename = 'series' and indexname = 'series_name_trigrams'",
    )
    .fetch_optional(&mut database)
    .await?;
    if trigrams_available {
        let index = index.expect("the catalog has no trigram index on the name");
        assert!(index.contains("gin_trgm_ops"), "{index}");
    }
    pipeline.stop().await
}

/// A glob is matched in Rust after SQL narrowed the catalog: when it refuses most of what SQL
/// read, the search reads on until it has its limit, and the names deeper than the glob are
/// never candidates.
#[tokio::test]
async fn a_glob_search_reads_on_until_its_limit() -> anyhow::Result<()> {
    let pipeline = abacus_tests::Pipeline::start(Duration::from_secs(1)).await?;
    let lines: Vec<String> = (0..30)
        .map(|index| format!("g.x{index:02}.v:1|c"))
        .chain([
            "g:1|c".to_owned(),
            "top:1|c".to_owned(),
            "g.x01.v.deeper:1|c".to_owned(),
        ])
        .collect();
    pipeline.send_statsd(&lines.join("\n")).await?;
    pipeline
        .wait_for_json("/api/v1/series?limit=100", "all 33 series", |body| {
            body.as_array().is_some_and(|series| series.len() == 33)
        })
        .await?;
    // SQL reads g.%.v: 30 candidates, of which the alternatives keep 2, the 2nd and the last.
    let (status, found) = pipeline
        .get_json("/api/v1/series?match=g.%7Bx01,x28%7D.v&limit=2")
        .await?;
    assert_eq!(status, 200, "{found}");
    assert_eq!(names(&found), ["g.x01.v", "g.x28.v"]);
    let (_, found) = pipeline
        .get_json("/api/v1/series?match=g.%7Bx01,x28%7D.v&limit=1")
        .await?;
    assert_eq!(names(&found), ["g.x01.v"]);
    let (_, found) = pipeline
        .get_json("/api/v1/series?match=g.x[0-9]1.v&limit=5")
        .await?;
    assert_eq!(names(&found), ["g.x01.v", "g.x11.v", "g.x21.v"]);
    let (_, found) = pipeline.get_json("/api/v1/series?match=*").await?;
    assert_eq!(names(&found), ["g", "top"]);
    let (_, found) = pipeline.get_json("/api/v1/series?match=*.*.*.*").await?;
    assert_eq!(names(&found), ["g.x01.v.deeper"]);
    let (status, found) = pipeline.get_json("/api/v1/series?match=g.").await?;
    assert_eq!(status, 400, "{found}");
    pipeline.stop().await
}

fn names(body: &serde_json::Value) -> Vec<String> {
    body.as_array()
        .expect("an array of series")
        .iter()
        .map(|series| series["name"].as_str().unwrap().to_owned())
        .collect()
}
