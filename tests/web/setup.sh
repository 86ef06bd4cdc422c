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

INSTALL_LOG_DIR="$LOG_DIR"
# shellcheck source-path=SCRIPTDIR source=../../deploy/local/installers.sh
source "$REPO_ROOT/deploy/local/installers.sh"

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
    # (Or set ABACUS_CHROMIUM to a Chromium binary.)
    apt_install chromium
    chromium_path >/dev/null || die "apt-get installed chromium but no chromium binary was found"
fi

command -v node >/dev/null || die "node is not installed (Debian: apt-get install nodejs npm; Node.js 20 or newer)"
command -v npm >/dev/null || die "npm is not installed (Debian: apt-get install npm)"
stamp="$WEB_DIR/node_modules/.package-lock.json"
if [[ ! -f $stamp || "$WEB_DIR/package-lock.json" -nt $stamp || ! -d "$WEB_DIR/node_modules/playwright-core" ]]; then
    log "installing the web app's npm dependencies (npm ci)"
    run_logged "the npm registry" "$LOG_DIR/npm-ci.log" npm ci --prefix "$WEB_DIR" --no-audit --no-fund --no-update-notifier --loglevel=error
fi

chromium_path
