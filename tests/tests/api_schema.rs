//! The API against its own OpenAPI document, checked by schemathesis (PyPI, installed by
//! `tests/compat/setup.sh schemathesis` into .data/compat): every operation of
//! `/api/openapi.json` is called with generated examples, valid and not, and every answer must
//! be no server error, have a documented status and content type, and match its documented
//! schema.
//!
//! The number of examples is bounded ([`EXAMPLES_PER_OPERATION`]) and the seed fixed, so a run
//! takes under a minute and a failure reproduces. The install needs PyPI the first time.

use abacus_tests::Pipeline;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Generated examples per operation and phase.
const EXAMPLES_PER_OPERATION: u32 = 100;
/// The seed unless `ABACUS_SCHEMATHESIS_SEED` names another (for a longer hunt by hand).
const DEFAULT_SEED: &str = "14";
/// The longest a whole run may take before the test gives up.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn install_schemathesis() -> PathBuf {
    let output = std::process::Command::new("bash")
        .arg(repo_root().join("tests/compat/setup.sh"))
        .arg("schemathesis")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("cannot run tests/compat/setup.sh");
    assert!(
        output.status.success(),
        "tests/compat/setup.sh schemathesis failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    repo_root().join(".data/compat/schemathesis/bin/schemathesis")
}

#[tokio::test]
async fn every_operation_conforms_to_the_openapi_document() -> anyhow::Result<()> {
    let schemathesis = install_schemathesis();
    let pipeline = Pipeline::start(Duration::from_secs(1)).await?;
    // Something to find, render, list and query, so that answers with content are checked too.
    pipeline
        .send_statsd("api.hits:3|c\napi.latency:12|ms\napi.load:0.5|g\napi.users:7|s")
        .await?;
    let (status, _) = pipeline
        .post_json(
            "/api/v1/data",
            &json!({"metric": "signups.daily", "value": 3}),
        )
        .await?;
    assert_eq!(status, 200);
    let (status, _) = pipeline
        .post_json("/events/", &json!({"what": "deploy", "tags": "env:prod"}))
        .await?;
    assert_eq!(status, 200);
    pipeline
        .wait_for_json("/api/v1/series", "five series", |body| {
            body.as_array().is_some_and(|series| series.len() == 5)
        })
        .await?;

    // An admin token on every request, so that the user and token routes are exercised past
    // their 401 (creating, listing and revoking tokens with generated bodies and ids; the
    // token may revoke itself, after which the 401s it then gets are checked too).
    pipeline.wait_until_migrated().await?;
    pipeline
        .api_command(
            &["user", "add", "schema", "--admin"],
            "schemathesis password\n",
        )
        .await?;
    let admin_token = pipeline
        .api_command(
            &[
                "token",
                "create",
                "--user",
                "schema",
                "--name",
                "schemathesis",
                "--scope",
                "admin",
            ],
            "",
        )
        .await?;
    let authorization = format!("Authorization: Bearer {}", admin_token.trim());

    let seed = std::env::var("ABACUS_SCHEMATHESIS_SEED").unwrap_or_else(|_| DEFAULT_SEED.into());
    let document_url = format!("{}/api/openapi.json", pipeline.api_base_url);
    let run = tokio::process::Command::new(&schemathesis)
        .args([
            "run",
            &document_url,
            "--url",
            &pipeline.api_base_url,
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            &EXAMPLES_PER_OPERATION.to_string(),
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            &seed,
            // One worker: Debian's Python 3.11 can fail an `ast.parse` that runs in two
            // threads at once ("AST constructor recursion depth mismatch", CPython gh-106905),
            // and schemathesis' coverage phase parses in its workers.
            "--workers",
            "1",
            "--max-failures",
            "20",
            // No example database in the working tree: every run starts from the seed alone.
            "--generation-database",
            "none",
            "--header",
            &authorization,
        ])
        .env("NO_COLOR", "1")
        // schemathesis keeps a cache (.schemathesis/) in its working directory: not the tree.
        .current_dir(repo_root().join(".data/compat"))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(RUN_TIMEOUT, run)
        .await
        .map_err(|_| anyhow::anyhow!("schemathesis ran longer than {RUN_TIMEOUT:?}"))??;
    let report = String::from_utf8_lossy(&output.stdout);
    // The summary (operations, test cases, failures) is worth seeing in the test log.
    println!("{report}");
    assert!(
        output.status.success(),
        "schemathesis found problems ({}):\n{report}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    pipeline.stop().await
}
