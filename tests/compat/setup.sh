#!/usr/bin/env bash
# Install the third-party programs the compatibility tests run, into the repository's
# (gitignored) .data/compat:
#
#   setup.sh [clients]    the statsd clients the compatibility tests send through:
#     .data/compat/python       a venv with the PyPI packages `statsd` and `datadog`, and
#                               `prometheus_client`, whose OpenMetrics parser reads /metrics
#                               in tests/tests/metrics_exposition.rs
#     .data/compat/node         node_modules with the npm package `hot-shots`
#   setup.sh schemathesis the OpenAPI checker tests/tests/api_schema.rs runs:
#     .data/compat/schemathesis a venv with the PyPI package `schemathesis`
#   setup.sh graphite     the reference tests/tests/compat_graphite.rs holds /render to:
#     .data/compat/graphite     a venv with graphite-web 1.1.10 and whisper
#                               (run by tests/compat/graphite_web.py)
#   setup.sh whisper      the reference tests/tests/compat_whisper_import.rs and
#                         `make bench-import` hold `abacus-import whisper` to:
#     .data/compat/whisper      a venv with the PyPI package `whisper` (its module and
#                               whisper-fetch.py; run by tests/compat/whisper_tree.py)
#
# Idempotent: a stamp file per tree records what was installed, so a second run does nothing
# and needs no network. Quiet: the installers' output goes to a log, printed only on failure.
# Bounded: each installer runs under `timeout`, and fails with a message naming the registry
# when it cannot be reached. The only network used is PyPI and the npm registry.
#
# Used by tests/tests/compat_clients.rs, api_schema.rs, compat_graphite.rs and
# compat_whisper_import.rs (once per test process), and by tests/src/bin/import-bench.rs; can be run
# by hand.
set -euo pipefail

WHAT=${1:-clients}
case "$WHAT" in
clients | schemathesis | graphite | whisper) ;;
*)
    printf 'usage: %s [clients|schemathesis|graphite|whisper]\n' "$0" >&2
    exit 2
    ;;
esac

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
COMPAT_DIR="$REPO_ROOT/.data/compat"
PYTHON_DIR="$COMPAT_DIR/python"
NODE_DIR="$COMPAT_DIR/node"
# Pinned so a new client release cannot change what the tests assert without a commit here.
PYTHON_PACKAGES=(statsd==4.0.1 datadog==0.56.0 prometheus_client==0.21.1)
NODE_PACKAGES=(hot-shots@17.1.1)
SCHEMATHESIS_DIR="$COMPAT_DIR/schemathesis"
SCHEMATHESIS_PACKAGES=(schemathesis==4.32.5)
GRAPHITE_DIR="$COMPAT_DIR/graphite"
# graphite-web 1.1.10 declares Django < 3.1, which does not run on Python 3.11; its render
# path works on Django 3.2, so it is installed without its declared dependencies and these
# beside it. cairocffi is imported by its renderer module (and needs the system's libcairo).
GRAPHITE_PACKAGES=(Django==3.2.25 whisper==1.1.10 pyparsing==3.1.4 six==1.17.0 pytz==2024.2
    urllib3==2.2.3 cairocffi==1.7.1)
GRAPHITE_NO_DEPS_PACKAGES=(graphite-web==1.1.10 django-tagging==0.4.3)
# The same whisper as graphite-web's, alone: no Django or cairo needed to write and read files.
WHISPER_DIR="$COMPAT_DIR/whisper"
WHISPER_PACKAGES=(whisper==1.1.10)
# Per installer; a cold install of either takes well under a minute on a good link.
INSTALL_TIMEOUT_SECONDS=${ABACUS_COMPAT_INSTALL_TIMEOUT:-240}

log() { printf 'compat-setup: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}

# run_logged REGISTRY LOG CMD...: run CMD bounded, its output into LOG; on failure show the
# end of LOG and fail, naming the registry it needed.
INSTALL_LOG_DIR="$COMPAT_DIR"
# shellcheck source-path=SCRIPTDIR source=../../deploy/local/installers.sh
source "$REPO_ROOT/deploy/local/installers.sh"

mkdir -p "$COMPAT_DIR"
# One installer at a time even when several test processes start together.
exec 9>"$COMPAT_DIR/.lock"
flock -w $((2 * INSTALL_TIMEOUT_SECONDS + 30)) 9 || die "timed out waiting for $COMPAT_DIR/.lock"

if [[ $WHAT == schemathesis ]]; then
    python_venv "$SCHEMATHESIS_DIR" "${SCHEMATHESIS_PACKAGES[@]}"
    exit 0
fi

if [[ $WHAT == whisper ]]; then
    python_venv "$WHISPER_DIR" "${WHISPER_PACKAGES[@]}"
    exit 0
fi

if [[ $WHAT == graphite ]]; then
    if ! ldconfig -p 2>/dev/null | grep -q 'libcairo\.so\.2'; then
        # graphite-web's renderer loads the cairo library.
        apt_install libcairo2
    fi
    python_venv "$GRAPHITE_DIR" "${GRAPHITE_PACKAGES[@]}" --no-deps "${GRAPHITE_NO_DEPS_PACKAGES[@]}"
    exit 0
fi

python_venv "$PYTHON_DIR" "${PYTHON_PACKAGES[@]}"

node_stamp="$NODE_DIR/.installed"
if [[ "$(cat "$node_stamp" 2>/dev/null)" != "${NODE_PACKAGES[*]}" ]]; then
    command -v node >/dev/null || die "node is not installed"
    command -v npm >/dev/null || die "npm is not installed"
    log "installing ${NODE_PACKAGES[*]} from the npm registry into $NODE_DIR"
    rm -rf "$NODE_DIR"
    mkdir -p "$NODE_DIR"
    # A package.json of its own so npm does not walk up into the repository looking for one.
    printf '{ "name": "abacus-compat", "private": true }\n' >"$NODE_DIR/package.json"
    run_logged "the npm registry" "$COMPAT_DIR/npm.log" npm install --prefix "$NODE_DIR" --no-audit --no-fund \
        --no-update-notifier --loglevel=error "${NODE_PACKAGES[@]}"
    printf '%s\n' "${NODE_PACKAGES[*]}" >"$node_stamp"
fi
