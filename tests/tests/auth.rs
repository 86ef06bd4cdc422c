//! Users, sessions, tokens and the access policy, from the outside: users made with
//! `abacus-api user add` sign in over HTTP; the session cookie's attributes, its rotation and
//! its CSRF token; the sign-in limits; token scopes, revocation and expiry, Bearer and Basic;
//! `auth.reads = "token"`; admin-only routes; and the 503 while the identity tables are not
//! there. Real PostgreSQL and real HTTP; the API runs with the default policy
//! (`auth.writes = "token"`), not the harness's open writes.

use abacus_tests::{Pipeline, PipelineSettings, RunningService};
use serde_json::{json, Value};
use std::time::Duration;

const ALICE_PASSWORD: &str = "correct horse battery";
const ROOT_PASSWORD: &str = "staple for root";

/// A pipeline whose API's `auth` settings `adjust_api` sets (each test starts from the
/// defaults, not the harness's open writes), once the identity tables are there.
async fn start(adjust_api: fn(&mut abacus_api::config::Config)) -> anyhow::Result<Pipeline> {
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_api = adjust_api;
    let pipeline = Pipeline::start_with_settings(settings).await?;
    pipeline.wait_until_migrated().await?;
    Ok(pipeline)
}

/// The default policy, with `127.0.0.1` as a trusted proxy so that a test can stand for
/// clients at other addresses and over TLS.
fn default_policy_behind_a_local_proxy(config: &mut abacus_api::config::Config) {
    config.auth = abacus_api::config::AuthSettings {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..Default::default()
    };
}

/// Status, headers and JSON body of an answer.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    async fn from(response: reqwest::Response) -> anyhow::Result<Self> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json().await?;
        Ok(Self {
            status,
            headers,
            body,
        })
    }

    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }
}

/// A browser-like session: the cookie and CSRF token sign-in gave.
struct Session {
    cookie: String,
    csrf_token: String,
}

async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    password: &str,
    extra_headers: &[(&str, &str)],
) -> anyhow::Result<Answer> {
    let mut request = http
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"user": user, "password": password}));
    for (name, value) in extra_headers {
        request = request.header(*name, *value);
    }
    Answer::from(request.send().await?).await
}

/// The session a successful sign-in answer holds.
fn session_of(answer: &Answer) -> Session {
    assert_eq!(answer.status, 200, "sign-in failed: {}", answer.body);
    let set_cookie = answer.header("set-cookie");
    let cookie = set_cookie
        .split(';')
        .next()
        .expect("a cookie pair")
        .to_owned();
    Session {
        cookie,
        csrf_token: answer.body["csrf_token"].as_str().unwrap().to_owned(),
    }
}

fn point(metric: &str, value: f64) -> Value {
    json!({"metric": metric, "value": value})
}

#[tokio::test]
async fn users_sign_in_with_a_rotated_cookie_a_csrf_token_and_limited_attempts(
) -> anyhow::Result<()> {
    let pipeline = start(default_policy_behind_a_local_proxy).await?;
    let base = pipeline.api_base_url.clone();
    let http = reqwest::Client::new();

    let added = pipeline
        .api_command(&["user", "add", "alice"], &format!("{ALICE_PASSWORD}\n"))
        .await?;
    assert_eq!(added.trim(), "added user alice");
    pipeline
        .api_command(&["user", "add", "bob"], "bob's password\n")
        .await?;
    let too_short = pipeline
        .api_command(&["user", "add", "carol"], "short\n")
        .await;
    assert!(
        too_short.unwrap_err().to_string().contains("at least 8"),
        "a short password is refused"
    );
    let again = pipeline
        .api_command(&["user", "add", "alice"], "another password\n")
        .await;
    assert!(again.unwrap_err().to_string().contains("already exists"));
    let listed = pipeline.api_command(&["user", "list"], "").await?;
    let names: Vec<&str> = listed
        .lines()
        .map(|line| line.split('\t').next().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);

    // A wrong password and a user who does not exist: the same answer.
    let wrong_password = sign_in(&http, &base, "alice", "not her password", &[]).await?;
    let unknown_user = sign_in(&http, &base, "mallory", "whatever it is", &[]).await?;
    assert_eq!(wrong_password.status, 401);
    assert_eq!(unknown_user.status, 401);
    assert_eq!(wrong_password.body, unknown_user.body);
    assert_eq!(wrong_password.error(), "wrong user name or password");
    // A name no user can have (PostgreSQL's text cannot hold a NUL byte) is just as unknown.
    let impossible_name = sign_in(&http, &base, "al\u{0}ice", "whatever it is", &[]).await?;
    assert_eq!(impossible_name.body, unknown_user.body);
    assert!(wrong_password.header("set-cookie").is_empty());

    // Signed in: an HttpOnly, SameSite=Lax cookie for a week, not Secure over plain HTTP.
    let signed_in = sign_in(&http, &base, "alice", ALICE_PASSWORD, &[]).await?;
    let first = session_of(&signed_in);
    let set_cookie = signed_in.header("set-cookie").to_owned();
    let attributes: Vec<&str> = set_cookie.split("; ").skip(1).collect();
    assert_eq!(
        attributes,
        ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=604800"]
    );
    let (name, id) = first.cookie.split_once('=').unwrap();
    assert_eq!(name, "abacus_session");
    assert_eq!(id.len(), 64, "256 random bits in hex");
    assert_eq!(signed_in.body["user"], "alice");
    assert_eq!(signed_in.body["scope"], "write");
    assert_ne!(first.csrf_token, id);

    // Over TLS through a trusted proxy, the cookie is Secure.
    let over_tls = sign_in(
        &http,
        &base,
        "alice",
        ALICE_PASSWORD,
        &[("x-forwarded-proto", "https")],
    )
    .await?;
    assert!(over_tls.header("set-cookie").ends_with("; Secure"));

    // Who am I: the session and its CSRF token (for the web app after a reload).
    let who = Answer::from(
        http.get(format!("{base}/api/v1/session"))
            .header("cookie", &first.cookie)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(who.status, 200);
    assert_eq!(who.body["credential"], "session");
    assert_eq!(who.body["csrf_token"], first.csrf_token.as_str());

    // A write the cookie authenticates needs the CSRF header, with the session's token.
    let post_with = |headers: Vec<(&'static str, String)>| {
        let mut request = http
            .post(format!("{base}/api/v1/data"))
            .json(&point("signed.in.writes", 1.0));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let without_csrf =
        Answer::from(post_with(vec![("cookie", first.cookie.clone())]).await?).await?;
    assert_eq!(without_csrf.status, 403);
    assert!(without_csrf
        .error()
        .contains("missing X-Abacus-CSRF header"));
    let wrong_csrf = Answer::from(
        post_with(vec![
            ("cookie", first.cookie.clone()),
            ("x-abacus-csrf", "0".repeat(64)),
        ])
        .await?,
    )
    .await?;
    assert_eq!(wrong_csrf.status, 403);
    assert!(wrong_csrf.error().contains("does not match"));
    let with_csrf = Answer::from(
        post_with(vec![
            ("cookie", first.cookie.clone()),
            ("x-abacus-csrf", first.csrf_token.clone()),
        ])
        .await?,
    )
    .await?;
    assert_eq!(with_csrf.status, 200, "{}", with_csrf.body);

    // Signing in again from the same browser rotates the session: the old id is dead.
    let rotated = session_of(
        &sign_in(
            &http,
            &base,
            "alice",
            ALICE_PASSWORD,
            &[("cookie", &first.cookie)],
        )
        .await?,
    );
    assert_ne!(rotated.cookie, first.cookie);
    let old = Answer::from(
        http.get(format!("{base}/api/v1/session"))
            .header("cookie", &first.cookie)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(old.status, 401);
    assert_eq!(
        old.error(),
        "the session expired or was signed out: sign in again"
    );

    // Signing out needs the CSRF header too, then ends the session and clears the cookie.
    let sign_out = |csrf: Option<String>| {
        let mut request = http
            .delete(format!("{base}/api/v1/session"))
            .header("cookie", &rotated.cookie);
        if let Some(csrf) = csrf {
            request = request.header("x-abacus-csrf", csrf);
        }
        request.send()
    };
    assert_eq!(Answer::from(sign_out(None).await?).await?.status, 403);
    let signed_out = Answer::from(sign_out(Some(rotated.csrf_token.clone())).await?).await?;
    assert_eq!(signed_out.status, 200);
    assert!(signed_out.header("set-cookie").contains("Max-Age=0"));
    let after = Answer::from(
        http.get(format!("{base}/api/v1/session"))
            .header("cookie", &rotated.cookie)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(after.status, 401);

    // A new password ends every session of the user.
    let before_passwd = session_of(&sign_in(&http, &base, "alice", ALICE_PASSWORD, &[]).await?);
    pipeline
        .api_command(&["user", "passwd", "alice"], "a brand new password\n")
        .await?;
    let stale = Answer::from(
        http.get(format!("{base}/api/v1/session"))
            .header("cookie", &before_passwd.cookie)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(stale.status, 401);
    assert_eq!(
        sign_in(&http, &base, "alice", "a brand new password", &[])
            .await?
            .status,
        200
    );

    // Per user name: five failures (from several addresses) lock the name, even for the right
    // password, and the answer says when to come back.
    for attempt in 0..5 {
        let address = format!("192.0.2.{}", 10 + attempt);
        let failed = sign_in(
            &http,
            &base,
            "bob",
            "not bob's password",
            &[("x-forwarded-for", &address)],
        )
        .await?;
        assert_eq!(failed.status, 401, "attempt {attempt}");
    }
    let locked = sign_in(
        &http,
        &base,
        "bob",
        "bob's password",
        &[("x-forwarded-for", "192.0.2.99")],
    )
    .await?;
    assert_eq!(locked.status, 429);
    assert!(locked.error().contains("too many failed sign-ins"));
    let retry_after: u64 = locked.header("retry-after").parse()?;
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    // Another name from the same address is not locked.
    assert_eq!(
        sign_in(
            &http,
            &base,
            "alice",
            "a brand new password",
            &[("x-forwarded-for", "192.0.2.99")]
        )
        .await?
        .status,
        200
    );

    // Per address: twenty failures from one address, over any names, lock the address.
    for attempt in 0..20 {
        let failed = sign_in(
            &http,
            &base,
            &format!("guess{attempt}"),
            "password guess",
            &[("x-forwarded-for", "198.51.100.7")],
        )
        .await?;
        assert_eq!(failed.status, 401, "attempt {attempt}");
    }
    let from_locked_address = sign_in(
        &http,
        &base,
        "alice",
        "a brand new password",
        &[("x-forwarded-for", "198.51.100.7")],
    )
    .await?;
    assert_eq!(from_locked_address.status, 429);
    assert_eq!(
        sign_in(
            &http,
            &base,
            "alice",
            "a brand new password",
            &[("x-forwarded-for", "198.51.100.8")]
        )
        .await?
        .status,
        200
    );

    // Removing a user removes their sessions and tokens with them.
    pipeline.api_command(&["user", "remove", "bob"], "").await?;
    let listed = pipeline.api_command(&["user", "list"], "").await?;
    assert!(!listed.contains("bob"));
    pipeline.stop().await
}

#[tokio::test]
async fn tokens_have_scopes_and_can_be_revoked_expire_and_be_sent_as_basic_passwords(
) -> anyhow::Result<()> {
    let pipeline = start(|config| config.auth = Default::default()).await?;
    let base = pipeline.api_base_url.clone();
    let http = reqwest::Client::new();
    pipeline
        .api_command(&["user", "add", "alice"], &format!("{ALICE_PASSWORD}\n"))
        .await?;
    pipeline
        .api_command(
            &["user", "add", "root", "--admin"],
            &format!("{ROOT_PASSWORD}\n"),
        )
        .await?;
    let alice = session_of(&sign_in(&http, &base, "alice", ALICE_PASSWORD, &[]).await?);

    let create = |session: &Session, body: Value| {
        http.post(format!("{base}/api/v1/tokens"))
            .header("cookie", &session.cookie)
            .header("x-abacus-csrf", &session.csrf_token)
            .json(&body)
            .send()
    };
    let read =
        Answer::from(create(&alice, json!({"name": "dashboards", "scope": "read"})).await?).await?;
    assert_eq!(read.status, 201, "{}", read.body);
    let read_token = read.body["token"].as_str().unwrap().to_owned();
    assert!(read_token.starts_with("abacus_"));
    assert_eq!(read.body["user"], "alice");
    let write =
        Answer::from(create(&alice, json!({"name": "collector", "scope": "write"})).await?).await?;
    assert_eq!(write.status, 201);
    let write_token = write.body["token"].as_str().unwrap().to_owned();
    // Alice is no admin: no admin token for her, and no token for anyone else.
    let admin = Answer::from(create(&alice, json!({"name": "x", "scope": "admin"})).await?).await?;
    assert_eq!(admin.status, 403);
    assert!(admin.error().contains("not an admin"), "{}", admin.body);
    let for_root = Answer::from(
        create(
            &alice,
            json!({"name": "x", "scope": "read", "user": "root"}),
        )
        .await?,
    )
    .await?;
    assert_eq!(for_root.status, 403);
    // Creating a token with the cookie alone is refused (CSRF).
    let no_csrf = Answer::from(
        http.post(format!("{base}/api/v1/tokens"))
            .header("cookie", &alice.cookie)
            .json(&json!({"name": "x", "scope": "read"}))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(no_csrf.status, 403);

    let ingest = |authorization: Option<String>, metric: &'static str| {
        let mut request = http
            .post(format!("{base}/api/v1/data"))
            .json(&point(metric, 2.0));
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        request.send()
    };
    // No credential and a wrong one are told apart.
    let none = Answer::from(ingest(None, "nobody").await?).await?;
    assert_eq!(none.status, 401);
    assert!(
        none.error()
            .starts_with("no credential: this route needs a `write` token"),
        "{}",
        none.body
    );
    assert_eq!(none.header("www-authenticate"), "Bearer realm=\"abacus\"");
    let wrong = Answer::from(ingest(Some("Bearer abacus_0000".into()), "wrong").await?).await?;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.error(), "the token is not valid");
    let garbled = Answer::from(ingest(Some("Token x".into()), "garbled").await?).await?;
    assert_eq!(garbled.status, 401);
    assert!(garbled
        .error()
        .contains("neither `Bearer <token>` nor Basic"));

    // A read token cannot write; a write token can, as Bearer and as a Basic password.
    let read_only =
        Answer::from(ingest(Some(format!("Bearer {read_token}")), "read.only").await?).await?;
    assert_eq!(read_only.status, 403);
    assert_eq!(
        read_only.error(),
        "this route needs `write`; the token's scope is `read`"
    );
    let written =
        Answer::from(ingest(Some(format!("Bearer {write_token}")), "via.bearer").await?).await?;
    assert_eq!(written.status, 200, "{}", written.body);
    let basic = Answer::from(
        http.post(format!("{base}/api/v1/data"))
            .basic_auth("grafana", Some(&write_token))
            .json(&point("via.basic", 3.0))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(basic.status, 200, "{}", basic.body);
    let event = Answer::from(
        http.post(format!("{base}/events/"))
            .bearer_auth(&write_token)
            .json(&json!({"what": "deploy", "tags": "env:test"}))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(event.status, 200, "{}", event.body);
    let event_without = Answer::from(
        http.post(format!("{base}/events/"))
            .json(&json!({"what": "deploy"}))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(event_without.status, 401);
    // What the write token posted is stored and readable (reads are open by default).
    pipeline
        .wait_for_datapoints("via.basic", "the point posted with Basic auth", |points| {
            abacus_tests::latest(points) == Some(3.0)
        })
        .await?;

    // Tokens are listed without their secrets, with their last use.
    let listed = Answer::from(
        http.get(format!("{base}/api/v1/tokens"))
            .header("cookie", &alice.cookie)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(listed.status, 200);
    let tokens = listed.body.as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(tokens.iter().all(|token| token.get("token").is_none()));
    let collector = tokens
        .iter()
        .find(|token| token["name"] == "collector")
        .unwrap();
    assert!(collector["last_used_at"].is_string(), "{collector}");
    // A write token does not manage tokens.
    let by_token = Answer::from(
        http.get(format!("{base}/api/v1/tokens"))
            .bearer_auth(&write_token)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(by_token.status, 403);
    assert!(by_token.error().starts_with("managing tokens needs"));

    // Revoked: refused as revoked.
    let read_id = read.body["id"].as_i64().unwrap();
    let revoked = Answer::from(
        http.delete(format!("{base}/api/v1/tokens/{read_id}"))
            .header("cookie", &alice.cookie)
            .header("x-abacus-csrf", &alice.csrf_token)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let who = Answer::from(
        http.get(format!("{base}/api/v1/session"))
            .bearer_auth(&read_token)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(who.status, 401);
    assert!(who.error().starts_with("the token was revoked at "));

    // Expired: refused as expired.
    let short_lived = pipeline
        .api_command(
            &[
                "token",
                "create",
                "--user",
                "alice",
                "--name",
                "short",
                "--scope",
                "write",
                "--expires-in",
                "1s",
            ],
            "",
        )
        .await?;
    let short_lived = short_lived.trim().to_owned();
    let fresh = Answer::from(ingest(Some(format!("Bearer {short_lived}")), "short").await?).await?;
    assert_eq!(fresh.status, 200);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let expired =
        Answer::from(ingest(Some(format!("Bearer {short_lived}")), "short").await?).await?;
    assert_eq!(expired.status, 401);
    assert!(expired.error().starts_with("the token expired at "));

    // Admin routes: not for alice's session or her write token; for root's admin token.
    let users_as = |authorization: (&'static str, String)| {
        http.get(format!("{base}/api/v1/users"))
            .header(authorization.0, authorization.1)
            .send()
    };
    let as_alice = Answer::from(users_as(("cookie", alice.cookie.clone())).await?).await?;
    assert_eq!(as_alice.status, 403);
    assert_eq!(
        as_alice.error(),
        "this route needs `admin`; user \"alice\" is not an admin"
    );
    let as_writer =
        Answer::from(users_as(("authorization", format!("Bearer {write_token}"))).await?).await?;
    assert_eq!(as_writer.status, 403);
    let root_token = pipeline
        .api_command(
            &[
                "token", "create", "--user", "root", "--name", "ops", "--scope", "admin",
            ],
            "",
        )
        .await?;
    let root_token = root_token.trim().to_owned();
    let as_root =
        Answer::from(users_as(("authorization", format!("Bearer {root_token}"))).await?).await?;
    assert_eq!(as_root.status, 200);
    let names: Vec<&str> = as_root
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "root"]);
    // An admin token makes and revokes tokens for others, and sees everyone's.
    let for_alice = Answer::from(
        http.post(format!("{base}/api/v1/tokens"))
            .bearer_auth(&root_token)
            .json(&json!({"name": "given", "scope": "read", "user": "alice", "expires_in": "30d"}))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(for_alice.status, 201, "{}", for_alice.body);
    assert_eq!(for_alice.body["user"], "alice");
    assert!(for_alice.body["expires_at"].is_string());
    let all = Answer::from(
        http.get(format!("{base}/api/v1/tokens"))
            .bearer_auth(&root_token)
            .send()
            .await?,
    )
    .await?;
    let owners: Vec<&str> = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|token| token["user"].as_str().unwrap())
        .collect();
    // Newest first, revoked ones left out, expired ones listed (with their expiry):
    // given, ops, short (expired), collector.
    assert_eq!(owners, ["alice", "root", "alice", "alice"]);
    // Alice cannot revoke root's token: to her it does not exist.
    let root_id = all.body[1]["id"].as_i64().unwrap();
    let not_hers = Answer::from(
        http.delete(format!("{base}/api/v1/tokens/{root_id}"))
            .header("cookie", &alice.cookie)
            .header("x-abacus-csrf", &alice.csrf_token)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(not_hers.status, 404);
    // The CLI lists and revokes too.
    let cli_list = pipeline
        .api_command(&["token", "list", "--user", "root"], "")
        .await?;
    assert!(cli_list.starts_with(&format!("{root_id}\troot\tops\tadmin\t")));
    pipeline
        .api_command(&["token", "revoke", &root_id.to_string()], "")
        .await?;
    let after_revoke =
        Answer::from(users_as(("authorization", format!("Bearer {root_token}"))).await?).await?;
    assert_eq!(after_revoke.status, 401);
    pipeline.stop().await
}

#[tokio::test]
async fn with_reads_by_token_nothing_is_read_without_a_credential() -> anyhow::Result<()> {
    let pipeline = start(|config| {
        config.auth = abacus_api::config::AuthSettings {
            reads: abacus_api::config::AccessPolicy::Token,
            ..Default::default()
        };
    })
    .await?;
    let base = pipeline.api_base_url.clone();
    let http = reqwest::Client::new();
    pipeline
        .api_command(&["user", "add", "grafana"], "grafana's password\n")
        .await?;
    let token = pipeline
        .api_command(
            &[
                "token", "create", "--user", "grafana", "--name", "grafana", "--scope", "read",
            ],
            "",
        )
        .await?;
    let token = token.trim().to_owned();

    let queries = [
        "/render?target=x&format=json",
        "/metrics/find?query=*",
        "/metrics/expand?query=*",
        "/metrics/index.json",
        "/tags/autoComplete/tags",
        "/tags/autoComplete/values?tag=x",
        "/events/get_data",
        "/api/v1/data/x",
        "/api/v1/series",
        "/api/v1/series/1",
        "/api/v1/query?name=x",
        "/api/v1/graphs",
        "/api/v1/graphs/1",
        "/api/v1/dashboards",
        "/api/v1/dashboards/1",
    ];
    for query in queries {
        let refused = Answer::from(http.get(format!("{base}{query}")).send().await?).await?;
        assert_eq!(refused.status, 401, "{query}: {}", refused.body);
        assert!(
            refused
                .error()
                .starts_with("no credential: this route needs a `read` token"),
            "{query}: {}",
            refused.body
        );
        let bearer = http
            .get(format!("{base}{query}"))
            .bearer_auth(&token)
            .send()
            .await?;
        assert!(
            ![401, 403].contains(&bearer.status().as_u16()),
            "{query} with a read token: {}",
            bearer.status()
        );
    }
    // Grafana's Graphite data source posts its render form with Basic auth.
    let rendered = http
        .post(format!("{base}/render"))
        .basic_auth("grafana", Some(&token))
        .form(&[("target", "x"), ("format", "json")])
        .send()
        .await?;
    assert_eq!(rendered.status(), 200);
    let posted_without = http
        .post(format!("{base}/render"))
        .form(&[("target", "x"), ("format", "json")])
        .send()
        .await?;
    assert_eq!(posted_without.status(), 401);
    // Health, what this Graphite can do, the API's description, the web app and sign-in stay
    // open.
    for open in [
        "/healthz",
        "/readyz",
        "/version",
        "/functions",
        "/api/openapi.json",
        "/",
    ] {
        let answer = http.get(format!("{base}{open}")).send().await?;
        assert_eq!(answer.status(), 200, "{open}");
    }
    let sign_in = sign_in(&http, &base, "grafana", "grafana's password", &[]).await?;
    assert_eq!(sign_in.status, 200);
    // A session reads too.
    let with_session = http
        .get(format!("{base}/render?target=x&format=json"))
        .header("cookie", session_of(&sign_in).cookie)
        .send()
        .await?;
    assert_eq!(with_session.status(), 200);
    pipeline.stop().await
}

#[tokio::test]
async fn before_the_worker_made_the_identity_tables_guarded_routes_answer_503() -> anyhow::Result<()>
{
    // The API alone on an empty database: the storage worker has not run its migrations.
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_api = |config| config.auth = Default::default();
    let config = settings.api_config();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let api = RunningService::spawn(move |shutdown| abacus_api::run(config, listener, shutdown));
    let http = reqwest::Client::new();

    let with_token = Answer::from(
        http.post(format!("{base}/api/v1/data"))
            .bearer_auth("abacus_0123")
            .json(&point("x", 1.0))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(with_token.status, 503);
    assert_eq!(
        with_token.error(),
        "the identity tables do not exist yet: the storage worker creates them when it starts"
    );
    let signing_in = sign_in(&http, &base, "alice", ALICE_PASSWORD, &[]).await?;
    assert_eq!(signing_in.status, 503);
    // Without a credential the refusal is the usual 401, and open routes serve.
    let without = Answer::from(
        http.post(format!("{base}/api/v1/data"))
            .json(&point("x", 1.0))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(without.status, 401);
    assert_eq!(
        http.get(format!("{base}/healthz")).send().await?.status(),
        200
    );
    api.stop().await?;
    settings.database.drop_database().await
}
