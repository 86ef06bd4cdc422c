#!/usr/bin/env bash
# Build the web app that abacus-api embeds (web/dist), installing what that needs.
#
#   deploy/local/build-web.sh          Node.js and npm checked (installed with apt-get when
#                                      missing and possible), `npm ci` when web/node_modules is
#                                      missing or older than web/package-lock.json, then
#                                      `npm run build` (type check and Vite build)
#   deploy/local/build-web.sh --deps   the same without the build (for `make lint`)
#
# Node.js 20.19 or newer is needed (Vite, ESLint and playwright-core require it). When node is
# missing and we are root (or have password-less sudo), `apt-get install nodejs npm` is tried
# if the distribution's nodejs is new enough (Debian 13 has 20.19; Debian 12 has only 18);
# otherwise we stop and say exactly what to install. Our messages start with "build-web: ".
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WEB_DIR="$REPO_ROOT/web"
NEED_MAJOR=20
NEED_MINOR=19
HINT="install Node.js ${NEED_MAJOR}.${NEED_MINOR} or newer with npm (Debian 13: apt-get install nodejs npm; Debian 12 / Ubuntu: NodeSource's nodejs 20.x or 22.x packages; macOS: brew install node)"

log() { printf 'build-web: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}

# Is "MAJOR.MINOR..." at least the version we need?
new_enough() {
    local major minor
    IFS=. read -r major minor _ <<<"${1#v}"
    [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] || return 1
    ((major > NEED_MAJOR || (major == NEED_MAJOR && minor >= NEED_MINOR)))
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

install_node_with_apt() {
    local prefix candidate packages=()
    command -v apt-get >/dev/null 2>&1 || return 1
    prefix=$(root_prefix) || return 1
    log "Node.js or npm is missing; trying apt-get"
    # shellcheck disable=SC2086 # $prefix is a command prefix, split on purpose.
    $prefix apt-get update -qq >&2 || return 1
    candidate=$(apt-cache policy nodejs 2>/dev/null | awk '/Candidate:/ { print $2 }')
    if ! command -v node >/dev/null 2>&1; then
        # Debian versions look like 20.19.2+dfsg-1 (an epoch, if any, comes first).
        if ! new_enough "${candidate#*:}"; then
            log "apt offers nodejs ${candidate:-(none)}, older than ${NEED_MAJOR}.${NEED_MINOR}"
            return 1
        fi
        packages+=(nodejs)
    fi
    command -v npm >/dev/null 2>&1 || packages+=(npm)
    # shellcheck disable=SC2086
    $prefix DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}" >&2
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    install_node_with_apt || die "Node.js and npm are needed to build the web app: $HINT"
fi
version=$(node --version)
new_enough "$version" || die "Node.js $version is too old to build the web app: $HINT"

stamp="$WEB_DIR/node_modules/.package-lock.json"
if [[ ! -f $stamp || "$WEB_DIR/package-lock.json" -nt $stamp ]]; then
    log "installing the web app's npm dependencies (npm ci)"
    (cd "$WEB_DIR" && npm ci --no-audit --no-fund --no-update-notifier --loglevel=error >&2) ||
        die "npm ci failed (is the npm registry reachable?)"
fi

[[ ${1:-} == --deps ]] && exit 0
# An unchanged build would still rewrite dist/, which makes cargo embed it (and rebuild the
# API) again: build only when a source is newer than the last build.
if [[ -f "$WEB_DIR/dist/index.html" ]] &&
    [[ -z $(find "$WEB_DIR/src" "$WEB_DIR/index.html" "$WEB_DIR/vite.config.ts" "$WEB_DIR/tsconfig.json" \
        "$WEB_DIR/package-lock.json" -newer "$WEB_DIR/dist/index.html" -print -quit) ]]; then
    log "web/dist is up to date"
    exit 0
fi
log "building web/dist (npm run build)"
(cd "$WEB_DIR" && npm run --silent build >&2) || die "npm run build failed"
(cd "$WEB_DIR" && node scripts/size.mjs >&2)
