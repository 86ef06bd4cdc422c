#!/usr/bin/env bash
# The deployment files checked offline (run by tests/tests/deploy_files.rs in `make test`):
#
#   - hadolint accepts deploy/image/Dockerfile;
#   - docker-compose (Debian's) accepts deploy/compose/compose.yaml (`config -q`);
#   - `kubectl kustomize` renders every overlay of deploy/kubernetes, and every object it
#     renders validates strictly (unknown fields are errors) against the schemas of the
#     oldest Kubernetes the README claims (KUBERNETES_VERSION), with kubernetes-validate;
#   - check_manifests.py finds in each overlay what the README promises: the three services
#     with probes on their health routes, non-root, read-only, no capabilities, resources,
#     replicas, the HPA, the PodDisruptionBudgets, the Services and the NetworkPolicy.
#
# The tools are installed by deploy/test/setup.sh files when missing. Prints each problem and
# exits 1 if there is any; every check runs even after one fails.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO_ROOT"
TOOLS="$REPO_ROOT/.data/deploy/tools/bin"
# The oldest Kubernetes the README's "Kubernetes" section claims.
KUBERNETES_VERSION=1.27.0
RENDERED="$REPO_ROOT/.data/deploy/rendered"

log() { printf 'check-files: %s\n' "$*" >&2; }
failures=0
fail() {
    log "FAILED: $*"
    failures=$((failures + 1))
}

bash deploy/test/setup.sh files

log "hadolint deploy/image/Dockerfile"
"$TOOLS/hadolint" deploy/image/Dockerfile || fail "hadolint refuses deploy/image/Dockerfile"

log "docker-compose config -q"
# The variables a user sets in .env; the defaults in compose.yaml apply without them.
(cd deploy/compose && timeout 60 docker-compose -f compose.yaml config -q) ||
    fail "docker-compose refuses deploy/compose/compose.yaml"
(cd deploy/compose && timeout 60 docker-compose --env-file .env.example -f compose.yaml config -q) ||
    fail "docker-compose refuses deploy/compose/compose.yaml with .env.example"

mkdir -p "$RENDERED"
overlays=(deploy/kubernetes/overlays/*/)
((${#overlays[@]} >= 2)) || fail "no overlays found under deploy/kubernetes/overlays"
for overlay in "${overlays[@]}"; do
    overlay=${overlay%/}
    name=$(basename "$overlay")
    out="$RENDERED/$name.yaml"
    log "kubectl kustomize $overlay"
    if ! timeout 60 kubectl kustomize "$overlay" >"$out"; then
        fail "kubectl kustomize cannot render $overlay"
        continue
    fi
    log "kubernetes-validate --strict -k $KUBERNETES_VERSION ($name: $(grep -c '^kind:' "$out") objects)"
    "$TOOLS/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" "$out" ||
        fail "$overlay does not validate against Kubernetes $KUBERNETES_VERSION"
    "$TOOLS/python" deploy/test/check_manifests.py <"$out" ||
        fail "$overlay lacks what the README promises (above)"
done

if ((failures)); then
    log "$failures check(s) failed"
    exit 1
fi
log "OK"
