#!/usr/bin/env bash
# Prepare the web app's browser test (tests/tests/web_app.rs, web/e2e/run.mjs):
#
#   chromium          Debian's package, which playwright-core drives (no browser download);
#                     installed with apt-get when missing and we are root (or have sudo)
#   web/node_modules  `npm ci` from web/package-lock.json (playwright-core, axe-core), when
#                     missing or older than the lockfile
#
# Idempotent and quiet when everything is there; installers' output goes to a log, printed on
# failure. Prints the chromium path on stdout (the test passes it to the script).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WEB_DIR="$REPO_ROOT/web"
LOG_DIR="$REPO_ROOT/.data/web"
INSTALL_TIMEOUT_SECONDS=${ABACUS_WEB_INSTALL_TIMEOUT:-600}

log() { printf 'web-setup: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}

mkdir -p "$LOG_DIR"
# One installer at a time even when several test processes start together.
exec 9>"$LOG_DIR/.lock"
flock -w $((2 * INSTALL_TIMEOUT_SECONDS)) 9 || die "timed out waiting for $LOG_DIR/.lock"

run_logged() {
    local what=$1 logfile=$2 status=0
    shift 2
    timeout "$INSTALL_TIMEOUT_SECONDS" "$@" >"$logfile" 2>&1 || status=$?
    [[ $status -eq 0 ]] && return 0
    tail -n 30 "$logfile" >&2 || true
    die "$what failed with status $status (log: $logfile)"
}

# How to run a command as root: directly, through password-less sudo, or not at all.
ROOT=()
can_be_root() {
    if [[ $(id -u) -eq 0 ]]; then
        ROOT=(env)
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        ROOT=(sudo -n env)
    else
        return 1
    fi
}

chromium_path() {
    local candidate
    for candidate in "${ABACUS_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
        [[ -n $candidate && -x $candidate ]] && {
            printf '%s\n' "$candidate"
            return 0
        }
    done
    return 1
}

if ! chromium_path >/dev/null; then
    command -v apt-get >/dev/null 2>&1 || die "chromium is not installed: install Debian's chromium package (or set ABACUS_CHROMIUM to a Chromium binary)"
    log "installing chromium with apt-get"
    can_be_root || die "chromium is not installed and this user cannot install it: run 'apt-get install chromium' as root"
    run_logged "apt-get update" "$LOG_DIR/apt-update.log" "${ROOT[@]}" apt-get update
    run_logged "apt-get install chromium" "$LOG_DIR/apt-install.log" \
        "${ROOT[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
    chromium_path >/dev/null || die "apt-get installed chromium but no chromium binary was found"
fi

command -v node >/dev/null || die "node is not installed (Debian: apt-get install nodejs npm; Node.js 20 or newer)"
command -v npm >/dev/null || die "npm is not installed (Debian: apt-get install npm)"
stamp="$WEB_DIR/node_modules/.package-lock.json"
if [[ ! -f $stamp || "$WEB_DIR/package-lock.json" -nt $stamp || ! -d "$WEB_DIR/node_modules/playwright-core" ]]; then
    log "installing the web app's npm dependencies (npm ci)"
    run_logged "npm ci" "$LOG_DIR/npm-ci.log" npm ci --prefix "$WEB_DIR" --no-audit --no-fund --no-update-notifier --loglevel=error
fi

chromium_path
