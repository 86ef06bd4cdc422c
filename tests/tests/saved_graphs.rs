//! Saved graphs and dashboards from the outside (`/api/v1/graphs`, `/api/v1/dashboards`):
//! every graph a signed-in user views lands in their history, the last 100; they name and
//! star their own; everyone who may read sees the named ones, by user; dashboards are saved as
//! the web app's export JSON, changed and deleted only by their owner, duplicated by anyone
//! signed in. Real PostgreSQL (the storage worker's migrations) and real HTTP, under the
//! default policy (`auth.writes = "token"`, `auth.reads = "open"`).

use abacus_tests::{Pipeline, PipelineSettings};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

async fn start() -> anyhow::Result<Pipeline> {
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_api = |config| config.auth = Default::default();
    let pipeline = Pipeline::start_with_settings(settings).await?;
    pipeline.wait_until_migrated().await?;
    Ok(pipeline)
}

/// Someone calling the API: no credential, a browser's session (cookie and CSRF token), or a
/// token.
#[derive(Clone)]
enum Who {
    Nobody,
    Session { cookie: String, csrf_token: String },
    Token(String),
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        who: &Who,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        match who {
            Who::Nobody => {}
            Who::Session { cookie, csrf_token } => {
                request = request
                    .header("cookie", cookie)
                    .header("x-abacus-csrf", csrf_token)
            }
            Who::Token(token) => request = request.bearer_auth(token),
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    async fn get(&self, who: &Who, path: &str) -> anyhow::Result<(u16, Value)> {
        self.call(who, Method::GET, path, None).await
    }

    async fn send(
        &self,
        who: &Who,
        method: Method,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        self.call(who, method, path, Some(body)).await
    }

    async fn sign_in(&self, user: &str, password: &str) -> anyhow::Result<Who> {
        let response = self
            .http
            .post(format!("{}/api/v1/session", self.base))
            .json(&json!({"user": user, "password": password}))
            .send()
            .await?;
        assert_eq!(response.status(), 200, "{user} signs in");
        let cookie = response.headers()["set-cookie"]
            .to_str()?
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let body: Value = response.json().await?;
        Ok(Who::Session {
            cookie,
            csrf_token: body["csrf_token"].as_str().unwrap().to_owned(),
        })
    }
}

async fn add_users(pipeline: &Pipeline) -> anyhow::Result<()> {
    pipeline
        .api_command(&["user", "add", "alice"], "alice's password\n")
        .await?;
    pipeline
        .api_command(&["user", "add", "bob"], "bob's password\n")
        .await?;
    Ok(())
}

fn graph(targets: &[&str], from: &str) -> Value {
    json!({"targets": targets, "from": from, "until": "now"})
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|one| one["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn viewed_graphs_land_in_history_and_named_ones_are_seen_by_everyone() -> anyhow::Result<()> {
    let pipeline = start().await?;
    add_users(&pipeline).await?;
    let api = Api {
        http: reqwest::Client::new(),
        base: pipeline.api_base_url.clone(),
    };
    let alice = api.sign_in("alice", "alice's password").await?;
    let bob = api.sign_in("bob", "bob's password").await?;

    // Saving needs a user, and a session's CSRF token.
    let (status, body) = api
        .send(
            &Who::Nobody,
            Method::POST,
            "/api/v1/graphs",
            &graph(&["a"], "-1h"),
        )
        .await?;
    assert_eq!(status, 401, "{body}");
    let Who::Session { cookie, .. } = &alice else {
        unreachable!()
    };
    let without_csrf = api
        .http
        .post(format!("{}/api/v1/graphs", api.base))
        .header("cookie", cookie)
        .json(&graph(&["a"], "-1h"))
        .send()
        .await?;
    assert_eq!(without_csrf.status(), 403);

    // Three views; viewing the first again moves it to the top rather than adding a row.
    let mut viewed = Vec::new();
    for targets in [["stats.a"], ["stats.b"], ["sumSeries(stats.*)"]] {
        let (status, saved) = api
            .send(
                &alice,
                Method::POST,
                "/api/v1/graphs",
                &graph(&targets, "-6h"),
            )
            .await?;
        assert_eq!(status, 200, "{saved}");
        assert_eq!(saved["owner"], "alice");
        assert_eq!(saved["name"], Value::Null);
        assert_eq!(saved["targets"], json!(targets));
        viewed.push(saved["id"].as_i64().unwrap());
    }
    let (_, again) = api
        .send(
            &alice,
            Method::POST,
            "/api/v1/graphs",
            &graph(&["stats.a"], "-6h"),
        )
        .await?;
    assert_eq!(again["id"].as_i64().unwrap(), viewed[0]);
    let (status, history) = api.get(&alice, "/api/v1/graphs/history").await?;
    assert_eq!(status, 200);
    assert_eq!(ids(&history), [viewed[0], viewed[2], viewed[1]]);
    let (status, _) = api.get(&Who::Nobody, "/api/v1/graphs/history").await?;
    assert_eq!(status, 401);
    let (_, bobs_history) = api.get(&bob, "/api/v1/graphs/history").await?;
    assert_eq!(bobs_history, json!([]));

    // Unnamed graphs are their owner's alone.
    let (_, shared) = api.get(&Who::Nobody, "/api/v1/graphs").await?;
    assert_eq!(shared, json!([]));
    let unnamed = format!("/api/v1/graphs/{}", viewed[1]);
    assert_eq!(api.get(&Who::Nobody, &unnamed).await?.0, 404);
    assert_eq!(api.get(&bob, &unnamed).await?.0, 404);
    assert_eq!(api.get(&alice, &unnamed).await?.0, 200);

    // Named and starred, it is everyone's to see, by user.
    let named = format!("/api/v1/graphs/{}", viewed[2]);
    let (status, changed) = api
        .send(
            &alice,
            Method::PATCH,
            &named,
            &json!({"name": "  All stats  ", "starred": true}),
        )
        .await?;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (changed["name"].as_str(), changed["starred"].as_bool()),
        (Some("All stats"), Some(true))
    );
    let (_, shared) = api.get(&Who::Nobody, "/api/v1/graphs").await?;
    assert_eq!(ids(&shared), [viewed[2]]);
    assert_eq!(shared[0]["owner"], "alice");
    assert_eq!(
        ids(&api.get(&Who::Nobody, "/api/v1/graphs?user=alice").await?.1),
        [viewed[2]]
    );
    assert_eq!(
        api.get(&Who::Nobody, "/api/v1/graphs?user=bob").await?.1,
        json!([])
    );
    let (status, seen) = api.get(&bob, &named).await?;
    assert_eq!((status, seen["name"].as_str()), (200, Some("All stats")));

    // Only its owner changes or deletes it.
    let (status, refused) = api
        .send(&bob, Method::PATCH, &named, &json!({"name": "mine now"}))
        .await?;
    assert_eq!(status, 403);
    assert_eq!(
        refused["error"],
        format!(
            "graph {} belongs to \"alice\": only its owner may change it",
            viewed[2]
        )
    );
    assert_eq!(api.call(&bob, Method::DELETE, &named, None).await?.0, 403);
    assert_eq!(
        api.send(
            &alice,
            Method::PATCH,
            "/api/v1/graphs/999999",
            &json!({"starred": true})
        )
        .await?
        .0,
        404
    );

    // A graph longer than a btree index entry may be (about 2.7 kB, after compression: the
    // names are pseudo-random so that they do not compress) is kept like any other.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut letter = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        char::from(b'a' + (seed % 26) as u8)
    };
    let long_targets: Vec<String> = (0..20)
        .map(|index| {
            let name: String = (0..3_900).map(|_| letter()).collect();
            format!("sumSeries(stats.{index}.{name})")
        })
        .collect();
    let long = json!({"targets": long_targets, "from": "-1h"});
    let (status, first) = api
        .send(&alice, Method::POST, "/api/v1/graphs", &long)
        .await?;
    assert_eq!(status, 200, "{first}");
    let (_, second) = api
        .send(&alice, Method::POST, "/api/v1/graphs", &long)
        .await?;
    assert_eq!(first["id"], second["id"]);

    // Bad input is a 400 naming it.
    for (body, reason) in [
        (json!({"targets": []}), "1 to 20 targets"),
        (graph(&["a"], "sometime"), "invalid from"),
        (graph(&["a\u{0}b"], "-1h"), "control character"),
        (json!({"targets": "a"}), "invalid graph"),
    ] {
        let (status, refused) = api
            .send(&alice, Method::POST, "/api/v1/graphs", &body)
            .await?;
        assert_eq!(status, 400, "{body}: {refused}");
        assert!(
            refused["error"].as_str().unwrap().contains(reason),
            "{refused}"
        );
    }
    let (status, refused) = api
        .send(
            &alice,
            Method::PATCH,
            &named,
            &json!({"name": "x".repeat(201)}),
        )
        .await?;
    assert_eq!(status, 400, "{refused}");

    // Tokens: `write` saves, `read` does not.
    let mut tokens = Vec::new();
    for scope in ["write", "read"] {
        let created = pipeline
            .api_command(
                &[
                    "token", "create", "--user", "bob", "--name", scope, "--scope", scope,
                ],
                "",
            )
            .await?;
        tokens.push(Who::Token(created.trim().to_owned()));
    }
    let (write, read) = (&tokens[0], &tokens[1]);
    assert_eq!(
        api.send(write, Method::POST, "/api/v1/graphs", &graph(&["x"], "-1h"))
            .await?
            .0,
        200
    );
    assert_eq!(
        api.send(read, Method::POST, "/api/v1/graphs", &graph(&["x"], "-1h"))
            .await?
            .0,
        403
    );

    // The history keeps the last 100 views; named and starred graphs stay beyond them.
    for index in 0..105 {
        let target = format!("stats.many.{index}");
        let (status, _) = api
            .send(
                &alice,
                Method::POST,
                "/api/v1/graphs",
                &graph(&[&target], "-1h"),
            )
            .await?;
        assert_eq!(status, 200);
    }
    let (_, history) = api.get(&alice, "/api/v1/graphs/history").await?;
    assert_eq!(history.as_array().unwrap().len(), 100);
    assert_eq!(history[0]["targets"], json!(["stats.many.104"]));
    assert_eq!(history[99]["targets"], json!(["stats.many.5"]));
    assert_eq!(
        api.get(&alice, &named).await?.0,
        200,
        "the named graph is kept"
    );
    assert_eq!(
        api.get(&alice, &unnamed).await?.0,
        404,
        "an old view is forgotten"
    );

    // Deleting.
    assert_eq!(api.call(&alice, Method::DELETE, &named, None).await?.0, 200);
    assert_eq!(api.get(&alice, &named).await?.0, 404);
    pipeline.stop().await
}

#[tokio::test]
async fn dashboards_are_changed_by_their_owner_and_viewed_by_everyone() -> anyhow::Result<()> {
    let pipeline = start().await?;
    add_users(&pipeline).await?;
    let api = Api {
        http: reqwest::Client::new(),
        base: pipeline.api_base_url.clone(),
    };
    let alice = api.sign_in("alice", "alice's password").await?;
    let bob = api.sign_in("bob", "bob's password").await?;

    // The web app's export file, as it is.
    let exported = json!({
        "title": "Checkout",
        "from": "-1d",
        "until": "now",
        "graphs": [
            {"title": "orders", "targets": ["stats.counters.orders.count"]},
            {"title": "", "targets": ["stats.timers.pay.upper_90", "stats.timers.pay.mean"]},
        ],
    });
    assert_eq!(
        api.send(&Who::Nobody, Method::POST, "/api/v1/dashboards", &exported)
            .await?
            .0,
        401
    );
    let (status, created) = api
        .send(&alice, Method::POST, "/api/v1/dashboards", &exported)
        .await?;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["owner"], "alice");
    for field in ["title", "from", "until", "graphs"] {
        assert_eq!(created[field], exported[field], "{field}");
    }
    let id = created["id"].as_i64().unwrap();
    let path = format!("/api/v1/dashboards/{id}");

    // Everyone who may read views it; an answer can be posted back as an import.
    let (status, viewed) = api.get(&Who::Nobody, &path).await?;
    assert_eq!((status, &viewed), (200, &created));
    let (status, imported) = api
        .send(&bob, Method::POST, "/api/v1/dashboards", &viewed)
        .await?;
    assert_eq!(status, 201, "{imported}");
    assert_eq!(imported["owner"], "bob");
    assert_eq!(imported["graphs"], exported["graphs"]);

    // Another user can neither replace nor delete it; duplicating makes their own copy.
    let edited = json!({"title": "Checkout (bob)", "graphs": []});
    let (status, refused) = api.send(&bob, Method::PUT, &path, &edited).await?;
    assert_eq!(status, 403, "{refused}");
    assert!(refused["error"]
        .as_str()
        .unwrap()
        .contains("belongs to \"alice\""));
    assert_eq!(api.call(&bob, Method::DELETE, &path, None).await?.0, 403);
    let (status, copy) = api
        .call(&bob, Method::POST, &format!("{path}/duplicate"), None)
        .await?;
    assert_eq!(status, 201, "{copy}");
    assert_eq!(
        (copy["owner"].as_str(), copy["title"].as_str()),
        (Some("bob"), Some("Copy of Checkout"))
    );
    let (_, unchanged) = api.get(&bob, &path).await?;
    assert_eq!(unchanged, created);

    // By user.
    let titles = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|one| {
                format!(
                    "{}:{}",
                    one["owner"].as_str().unwrap(),
                    one["title"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        titles(&api.get(&Who::Nobody, "/api/v1/dashboards").await?.1),
        ["alice:Checkout", "bob:Checkout", "bob:Copy of Checkout"]
    );
    assert_eq!(
        titles(
            &api.get(&Who::Nobody, "/api/v1/dashboards?user=alice")
                .await?
                .1
        ),
        ["alice:Checkout"]
    );

    // The owner replaces and deletes it.
    let (status, replaced) = api.send(&alice, Method::PUT, &path, &edited).await?;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(
        (replaced["title"].as_str(), replaced["from"].as_str()),
        (Some("Checkout (bob)"), Some("-6h"))
    );
    assert_eq!(replaced["graphs"], json!([]));
    assert_eq!(api.call(&alice, Method::DELETE, &path, None).await?.0, 200);
    assert_eq!(api.get(&alice, &path).await?.0, 404);
    assert_eq!(api.send(&alice, Method::PUT, &path, &edited).await?.0, 404);
    assert_eq!(
        api.call(&alice, Method::POST, &format!("{path}/duplicate"), None)
            .await?
            .0,
        404
    );

    // Bad dashboards are a 400 naming the problem.
    for (body, reason) in [
        (json!({"title": " "}), "title"),
        (
            json!({"title": "x", "graphs": [{"targets": []}]}),
            "graph 1",
        ),
        (json!({"title": "x", "until": "whenever"}), "invalid until"),
        (json!({"graphs": []}), "invalid dashboard"),
    ] {
        let (status, refused) = api
            .send(&alice, Method::POST, "/api/v1/dashboards", &body)
            .await?;
        assert_eq!(status, 400, "{body}: {refused}");
        assert!(
            refused["error"].as_str().unwrap().contains(reason),
            "{refused}"
        );
    }
    let not_json = api
        .http
        .post(format!("{}/api/v1/dashboards", api.base))
        .header(
            "cookie",
            match &alice {
                Who::Session { cookie, .. } => cookie.clone(),
                _ => unreachable!(),
            },
        )
        .header(
            "x-abacus-csrf",
            match &alice {
                Who::Session { csrf_token, .. } => csrf_token.clone(),
                _ => unreachable!(),
            },
        )
        .body("{}")
        .send()
        .await?;
    assert_eq!(not_json.status(), 415);
    pipeline.stop().await
}
