//! Single sign-on behind a proxy, from the outside: with `auth.proxy_user_header` set, a
//! request from a trusted proxy's address carrying the header is signed in as that user,
//! created on first sight without a password; the same header from any other address changes
//! nothing (a 401 under `auth.reads = "token"`). A user the proxy signs in has what a signed-in
//! session has (their user's rights, no more) and repeats a CSRF token on every
//! state-changing request. Real PostgreSQL, real HTTP: the "proxy" is a client bound to
//! 127.0.0.1, the trusted address, and the stranger one bound to 127.0.0.2, which Linux also
//! routes over loopback.

use abacus_tests::{Pipeline, PipelineSettings};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::Duration;

const PROXY: &str = "127.0.0.1";
const STRANGER: &str = "127.0.0.2";

/// Reads and writes need a credential; 127.0.0.1 is the sign-in proxy.
fn proxy_sign_in_with_reads_by_token(config: &mut abacus_api::config::Config) {
    config.auth = abacus_api::config::AuthSettings {
        reads: abacus_api::config::AccessPolicy::Token,
        trusted_proxies: vec![PROXY.parse().unwrap()],
        proxy_user_header: Some("X-Forwarded-User".into()),
        proxy_email_header: Some("X-Forwarded-Email".into()),
        ..Default::default()
    };
}

/// An HTTP client whose connections come from `address`.
fn client_from(address: &str) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .local_address(address.parse::<IpAddr>()?)
        .build()?)
}

/// Status and JSON body of an answer.
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    async fn from(request: reqwest::RequestBuilder) -> anyhow::Result<Self> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.json().await?;
        Ok(Self { status, body })
    }

    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }
}

fn named(request: reqwest::RequestBuilder, user: &str) -> reqwest::RequestBuilder {
    request.header("x-forwarded-user", user)
}

#[tokio::test]
async fn a_trusted_proxy_signs_users_in_and_anyone_else_is_ignored() -> anyhow::Result<()> {
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_api = proxy_sign_in_with_reads_by_token;
    let pipeline = Pipeline::start_with_settings(settings).await?;
    pipeline.wait_until_migrated().await?;
    let base = pipeline.api_base_url.clone();
    let proxy = client_from(PROXY)?;
    let stranger = client_from(STRANGER)?;
    pipeline
        .api_command(&["user", "add", "root", "--admin"], "staple for root\n")
        .await?;

    // The web app learns, without a credential, whether the proxy signed it in.
    let methods = |client: &reqwest::Client| {
        named(
            client.get(format!("{base}/api/v1/session/methods")),
            "carol",
        )
    };
    let from_stranger = Answer::from(methods(&stranger)).await?;
    assert_eq!(from_stranger.status, 200);
    assert_eq!(
        from_stranger.body,
        json!({"password": true, "proxy": true, "proxy_names_caller": false})
    );
    let from_proxy = Answer::from(methods(&proxy)).await?;
    assert_eq!(
        from_proxy.body,
        json!({"password": true, "proxy": true, "proxy_names_caller": true})
    );

    // From a stranger the header counts for nothing: no credential, no user made.
    for path in ["/render?target=x&format=json", "/api/v1/session"] {
        let ignored = Answer::from(named(stranger.get(format!("{base}{path}")), "mallory")).await?;
        assert_eq!(ignored.status, 401, "{path}: {}", ignored.body);
        assert!(
            ignored.error().starts_with("no credential"),
            "{path}: {}",
            ignored.body
        );
    }
    // Nor does it lift a stranger's token to the user it names.
    let token = pipeline
        .api_command(
            &[
                "token", "create", "--user", "root", "--name", "reader", "--scope", "read",
            ],
            "",
        )
        .await?;
    let as_token = Answer::from(
        named(stranger.get(format!("{base}/api/v1/session")), "carol").bearer_auth(token.trim()),
    )
    .await?;
    assert_eq!(as_token.status, 200);
    assert_eq!(as_token.body["user"], "root");
    assert_eq!(as_token.body["credential"], "token");
    assert_eq!(as_token.body["scope"], "read");
    let users = pipeline.api_command(&["user", "list"], "").await?;
    assert!(!users.contains("mallory"), "{users}");

    // From the proxy, the header signs carol in, creating her with the email the proxy gives;
    // she posted no sign-in and holds no cookie.
    let who = Answer::from(
        named(proxy.get(format!("{base}/api/v1/session")), "carol")
            .header("x-forwarded-email", "carol@example.org"),
    )
    .await?;
    assert_eq!(who.status, 200, "{}", who.body);
    assert_eq!(who.body["user"], "carol");
    assert_eq!(who.body["admin"], false);
    assert_eq!(who.body["credential"], "proxy");
    // What a signed-in session of a user who is not an admin gets.
    assert_eq!(who.body["scope"], "write");
    let csrf_token = who.body["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(csrf_token.len(), 64);
    let users = pipeline.api_command(&["user", "list"], "").await?;
    assert!(
        users.lines().any(|line| line.starts_with("carol\tuser\t")),
        "{users}"
    );
    // The next request finds her, with the same CSRF token; the proxy's word wins over an
    // Authorization header of its own (oauth2-proxy can pass an ID token on).
    let again = Answer::from(
        named(proxy.get(format!("{base}/api/v1/session")), "carol")
            .bearer_auth("an-id-token-of-the-proxy"),
    )
    .await?;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["user"], "carol");
    assert_eq!(again.body["csrf_token"], csrf_token.as_str());
    // Without the header, the proxy's own requests are nobody's.
    let anonymous = Answer::from(proxy.get(format!("{base}/api/v1/session"))).await?;
    assert_eq!(anonymous.status, 401);

    // She reads.
    let read = proxy
        .get(format!("{base}/render?target=x&format=json"))
        .header("x-forwarded-user", "carol")
        .send()
        .await?;
    assert_eq!(read.status(), 200);

    // A write the proxy authenticates needs her CSRF token, as a session's would.
    let write = |csrf: Option<&str>| {
        let request = named(proxy.post(format!("{base}/api/v1/data")), "carol")
            .json(&json!({"metric": "proxy.signed.in", "value": 1.0}));
        match csrf {
            Some(csrf) => request.header("x-abacus-csrf", csrf),
            None => request,
        }
    };
    let without_csrf = Answer::from(write(None)).await?;
    assert_eq!(without_csrf.status, 403);
    assert!(
        without_csrf
            .error()
            .contains("missing X-Abacus-CSRF header"),
        "{}",
        without_csrf.body
    );
    let wrong_csrf = Answer::from(write(Some(&"0".repeat(64)))).await?;
    assert_eq!(wrong_csrf.status, 403);
    assert!(wrong_csrf.error().contains("does not match"));
    let with_csrf = Answer::from(write(Some(&csrf_token))).await?;
    assert_eq!(with_csrf.status, 200, "{}", with_csrf.body);
    // Another user's token is not hers.
    let dave = Answer::from(named(proxy.get(format!("{base}/api/v1/session")), "dave")).await?;
    let dave_csrf = dave.body["csrf_token"].as_str().unwrap();
    assert_ne!(dave_csrf, csrf_token);
    assert_eq!(Answer::from(write(Some(dave_csrf))).await?.status, 403);

    // Like a signed-in user, she manages her own tokens, but not what only admins may.
    let created = Answer::from(
        named(proxy.post(format!("{base}/api/v1/tokens")), "carol")
            .header("x-abacus-csrf", &csrf_token)
            .json(&json!({"name": "grafana", "scope": "read"})),
    )
    .await?;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["user"], "carol");
    let admin_only =
        Answer::from(named(proxy.get(format!("{base}/api/v1/users")), "carol")).await?;
    assert_eq!(admin_only.status, 403);
    assert!(admin_only
        .error()
        .contains("user \"carol\" is not an admin"));
    // An admin the proxy names is one, and sees carol's email.
    let listed = Answer::from(named(proxy.get(format!("{base}/api/v1/users")), "root")).await?;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let carol = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["name"] == "carol");
    assert_eq!(carol.unwrap()["email"], "carol@example.org");
    assert_eq!(
        listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|user| user["name"] == "root")
            .unwrap()["admin"],
        true
    );

    // There is no session to end: signing out is the proxy's business.
    let sign_out = Answer::from(
        named(proxy.delete(format!("{base}/api/v1/session")), "carol")
            .header("x-abacus-csrf", &csrf_token),
    )
    .await?;
    assert_eq!(sign_out.status, 400);
    assert!(sign_out.error().contains("sign out at the proxy"));

    // A header that cannot be a user name is refused, naming the header.
    let bad = Answer::from(named(proxy.get(format!("{base}/api/v1/session")), "a/b")).await?;
    assert_eq!(bad.status, 401);
    assert!(bad
        .error()
        .contains("X-Forwarded-User header is not a valid user name"));

    // Carol has no password: signing in with one fails like a wrong one, until one is set.
    let sign_in = |password: &'static str| {
        stranger
            .post(format!("{base}/api/v1/session"))
            .json(&json!({"user": "carol", "password": password}))
    };
    let refused = Answer::from(sign_in("whatever it is")).await?;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.error(), "wrong user name or password");
    pipeline
        .api_command(&["user", "passwd", "carol"], "carol's own password\n")
        .await?;
    let signed_in = Answer::from(sign_in("carol's own password")).await?;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    assert_eq!(signed_in.body["credential"], "session");
    pipeline.stop().await
}

#[tokio::test]
async fn without_proxy_sign_in_the_header_is_ignored_even_from_a_trusted_proxy(
) -> anyhow::Result<()> {
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_api = |config| {
        config.auth = abacus_api::config::AuthSettings {
            reads: abacus_api::config::AccessPolicy::Token,
            trusted_proxies: vec![PROXY.parse().unwrap()],
            ..Default::default()
        };
    };
    let pipeline = Pipeline::start_with_settings(settings).await?;
    pipeline.wait_until_migrated().await?;
    let base = pipeline.api_base_url.clone();
    let proxy = client_from(PROXY)?;
    let methods = Answer::from(named(
        proxy.get(format!("{base}/api/v1/session/methods")),
        "carol",
    ))
    .await?;
    assert_eq!(
        methods.body,
        json!({"password": true, "proxy": false, "proxy_names_caller": false})
    );
    let ignored = Answer::from(named(proxy.get(format!("{base}/api/v1/session")), "carol")).await?;
    assert_eq!(ignored.status, 401);
    assert!(ignored.error().starts_with("no credential"));
    pipeline.stop().await
}
