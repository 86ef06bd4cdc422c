//! The deployment files, checked offline: `deploy/test/check-files.sh` lints the Dockerfile
//! (hadolint), has docker-compose parse the compose file, renders every kustomize overlay and
//! validates each object strictly against the Kubernetes schemas of the oldest version the
//! README claims, then checks the rendered overlays for what the README promises (probes on
//! the services' health routes, security contexts, replicas, budgets, network policy). The
//! tools are installed by `deploy/test/setup.sh files` when missing. The stack itself is run
//! by `make test-deploy`.

use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn dockerfile_compose_file_and_kubernetes_overlays_pass_their_checks() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the repository");
    let output = Command::new("bash")
        .arg(repo.join("deploy/test/check-files.sh"))
        .current_dir(repo)
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "deploy/test/check-files.sh failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
