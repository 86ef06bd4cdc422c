//! The authorization matrix of issue 19: with `auth.reads = "token"` and `auth.writes =
//! "token"` (the production policy), every route of the API is asked with each kind of
//! credential: none, a `read`, `write` and `admin` token, a made-up token, an expired and a
//! revoked one, a signed-in session, and that session without its CSRF header. Each answer
//! must be exactly what the README's policy says: 401 without a credential that checks out,
//! 403 for one that does not reach far enough (or a session changing something without its
//! CSRF token), and otherwise not a refusal at all (the route's own answer to an empty
//! request: 200, 400, 404...).
//!
//! The table of routes below is written from the documented policy, not read from the
//! router, and the test fails when the OpenAPI document has an operation the table lacks, so
//! a new route cannot go untested.

use abacus_api::config::AccessPolicy;
use abacus_tests::{Pipeline, PipelineSettings};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// What a route needs, as the README's "Users and tokens" section states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// Whatever the policy: the API's description, health, signing in.
    Open,
    /// A query: a `read` token or a session (`auth.reads = "token"`).
    Read,
    /// Ingest and events: a `write` token or a session (`auth.writes = "token"`).
    Write,
    /// Any valid credential: who am I, sign out, one's own history.
    Identified,
    /// One's own tokens: a session or an `admin` token.
    Account,
    /// Others' accounts: an `admin` token or an admin's session.
    Admin,
    /// One's own saved graphs and dashboards: a session or a `write` token.
    Own,
}

use Needs::*;

/// Every route, with the credential it needs. Signing out comes last: it ends the session
/// the later rows would use.
const ROUTES: &[(&str, &str, Needs)] = &[
    ("GET", "/render", Read),
    ("POST", "/render", Read),
    ("GET", "/metrics/find", Read),
    ("POST", "/metrics/find", Read),
    ("GET", "/metrics/expand", Read),
    ("POST", "/metrics/expand", Read),
    ("GET", "/metrics/index.json", Read),
    ("GET", "/tags/autoComplete/tags", Read),
    ("GET", "/tags/autoComplete/values", Read),
    ("POST", "/events/", Write),
    ("POST", "/events", Write),
    ("GET", "/events/get_data", Read),
    ("POST", "/api/v1/data", Write),
    ("GET", "/api/v1/data/{metric}", Read),
    ("POST", "/api/v1/data/{metric}", Write),
    ("GET", "/api/v1/series", Read),
    ("GET", "/api/v1/series/{id}", Read),
    ("GET", "/api/v1/query", Read),
    ("POST", "/api/v1/session", Open),
    ("GET", "/api/v1/session", Identified),
    ("GET", "/api/v1/session/methods", Open),
    ("GET", "/api/v1/tokens", Account),
    ("POST", "/api/v1/tokens", Account),
    ("DELETE", "/api/v1/tokens/{id}", Account),
    ("GET", "/api/v1/users", Admin),
    ("GET", "/api/v1/graphs", Read),
    ("POST", "/api/v1/graphs", Own),
    ("GET", "/api/v1/graphs/history", Identified),
    ("GET", "/api/v1/graphs/{id}", Read),
    ("PATCH", "/api/v1/graphs/{id}", Own),
    ("DELETE", "/api/v1/graphs/{id}", Own),
    ("GET", "/api/v1/dashboards", Read),
    ("POST", "/api/v1/dashboards", Own),
    ("GET", "/api/v1/dashboards/{id}", Read),
    ("PUT", "/api/v1/dashboards/{id}", Own),
    ("DELETE", "/api/v1/dashboards/{id}", Own),
    ("POST", "/api/v1/dashboards/{id}/duplicate", Own),
    ("GET", "/version", Open),
    ("GET", "/functions", Open),
    ("GET", "/api/openapi.json", Open),
    ("GET", "/healthz", Open),
    ("GET", "/readyz", Open),
    ("GET", "/metrics", Open),
    ("DELETE", "/api/v1/session", Identified),
];

/// The kinds of credential each route is asked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    Nothing,
    ReadToken,
    WriteToken,
    AdminToken,
    WrongToken,
    ExpiredToken,
    RevokedToken,
    Session,
    SessionWithoutCsrf,
}

const CREDENTIALS: [Credential; 9] = [
    Credential::Nothing,
    Credential::ReadToken,
    Credential::WriteToken,
    Credential::AdminToken,
    Credential::WrongToken,
    Credential::ExpiredToken,
    Credential::RevokedToken,
    Credential::Session,
    Credential::SessionWithoutCsrf,
];

/// The refusal the policy calls for, or `None` where the route must answer for itself. The
/// session is an ordinary user's (not an admin); the tokens are an admin's, so that each
/// scope is all they carry.
fn expected_refusal(needs: Needs, credential: Credential, method: &str) -> Option<u16> {
    if needs == Open {
        return None;
    }
    match credential {
        Credential::Nothing
        | Credential::WrongToken
        | Credential::ExpiredToken
        | Credential::RevokedToken => Some(401),
        Credential::ReadToken => match needs {
            Read | Identified => None,
            _ => Some(403),
        },
        Credential::WriteToken => match needs {
            Read | Write | Identified | Own => None,
            _ => Some(403),
        },
        Credential::AdminToken => None,
        Credential::Session => match needs {
            Admin => Some(403),
            _ => None,
        },
        Credential::SessionWithoutCsrf => {
            let changes_something = method != "GET" && needs != Read;
            if changes_something || needs == Admin {
                Some(403)
            } else {
                None
            }
        }
    }
}

const ADMIN_PASSWORD: &str = "matrix admin's password";
const USER_PASSWORD: &str = "matrix user's password";

/// A token the CLI makes for `user`; returns it as printed.
async fn token(
    pipeline: &Pipeline,
    user: &str,
    name: &str,
    scope: &str,
    expires_in: Option<&str>,
) -> anyhow::Result<String> {
    let mut arguments = vec![
        "token", "create", "--user", user, "--name", name, "--scope", scope,
    ];
    if let Some(expires_in) = expires_in {
        arguments.extend(["--expires-in", expires_in]);
    }
    Ok(pipeline
        .api_command(&arguments, "")
        .await?
        .trim()
        .to_owned())
}

/// A session cookie and its CSRF token, from signing in.
async fn session(http: &reqwest::Client, base: &str) -> anyhow::Result<(String, String)> {
    let response = http
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"user": "member", "password": USER_PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "sign-in: {}", response.status());
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let body: Value = response.json().await?;
    let csrf_token = body["csrf_token"]
        .as_str()
        .expect("a CSRF token")
        .to_owned();
    Ok((cookie, csrf_token))
}

#[tokio::test]
async fn every_route_answers_each_credential_as_the_policy_says() -> anyhow::Result<()> {
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_api = |config| {
        config.auth.reads = AccessPolicy::Token;
        config.auth.writes = AccessPolicy::Token;
    };
    let pipeline = Pipeline::start_with_settings(settings).await?;
    pipeline.wait_until_migrated().await?;
    let base = pipeline.api_base_url.clone();
    let http = reqwest::Client::new();

    pipeline
        .api_command(
            &["user", "add", "chief", "--admin"],
            &format!("{ADMIN_PASSWORD}\n"),
        )
        .await?;
    pipeline
        .api_command(&["user", "add", "member"], &format!("{USER_PASSWORD}\n"))
        .await?;
    pipeline
        .api_command(&["user", "add", "leaver"], &format!("{USER_PASSWORD}\n"))
        .await?;
    let read_token = token(&pipeline, "chief", "reader", "read", None).await?;
    let write_token = token(&pipeline, "chief", "writer", "write", None).await?;
    let admin_token = token(&pipeline, "chief", "admin", "admin", None).await?;
    let expired_token = token(&pipeline, "chief", "short", "admin", Some("1s")).await?;
    let revoked_token = token(&pipeline, "leaver", "gone", "write", None).await?;
    let listed = pipeline
        .api_command(&["token", "list", "--user", "leaver"], "")
        .await?;
    let revoked_id = listed
        .split('\t')
        .next()
        .expect("the token's id")
        .to_owned();
    pipeline
        .api_command(&["token", "revoke", &revoked_id], "")
        .await?;
    // A one-second expiry has passed once a second and a half has.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (cookie, csrf_token) = session(&http, &base).await?;
    let (cookie_without_csrf, _) = session(&http, &base).await?;

    // Every operation of the OpenAPI document is in the table.
    let document: Value = http
        .get(format!("{base}/api/openapi.json"))
        .bearer_auth(&read_token)
        .send()
        .await?
        .json()
        .await?;
    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path, _)| (method.to_string(), path.to_string()))
        .collect();
    let mut untested = Vec::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            let method = method.to_uppercase();
            if !listed.contains(&(method.clone(), path.clone())) {
                untested.push(format!("{method} {path}"));
            }
        }
    }
    assert!(
        untested.is_empty(),
        "operations the matrix does not test: {untested:?}"
    );

    let mut wrong = Vec::new();
    let mut asked = 0;
    for &(method, template, needs) in ROUTES {
        let path = template
            .replace("{metric}", "matrix.probe")
            .replace("{id}", "999999");
        for credential in CREDENTIALS {
            let mut request = http.request(method.parse()?, format!("{base}{path}"));
            if method != "GET" {
                request = request.json(&json!({}));
            }
            request = match credential {
                Credential::Nothing => request,
                Credential::ReadToken => request.bearer_auth(&read_token),
                Credential::WriteToken => request.bearer_auth(&write_token),
                // Basic with the token as the password, as Grafana's data source sends it.
                Credential::AdminToken => request.basic_auth("grafana", Some(&admin_token)),
                Credential::WrongToken => request.bearer_auth("abacus_not_a_token_we_made"),
                Credential::ExpiredToken => request.bearer_auth(&expired_token),
                Credential::RevokedToken => request.bearer_auth(&revoked_token),
                Credential::Session => request
                    .header("cookie", &cookie)
                    .header("x-abacus-csrf", &csrf_token),
                Credential::SessionWithoutCsrf => request.header("cookie", &cookie_without_csrf),
            };
            let response = request.send().await?;
            let status = response.status().as_u16();
            let body = response.text().await?;
            asked += 1;
            let expected = expected_refusal(needs, credential, method);
            let as_expected = match expected {
                Some(refusal) => status == refusal && body.contains("\"error\""),
                None => ![401, 403].contains(&status) && status < 500,
            };
            if !as_expected {
                wrong.push(format!(
                    "{method} {template} with {credential:?}: {status}, expected {} ({body:.160})",
                    expected.map_or("no refusal".to_owned(), |status| status.to_string())
                ));
            }
        }
    }
    println!(
        "{asked} answers: {} routes × {} credentials",
        ROUTES.len(),
        CREDENTIALS.len()
    );
    assert!(
        wrong.is_empty(),
        "{} of {asked} answers are not what the policy says:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    pipeline.stop().await
}
