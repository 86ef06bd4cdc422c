#!/usr/bin/env bash
# Build and run the whole Abacus stack locally: storage worker, aggregator and api, with
# their output interleaved on this terminal, each line prefixed by the service name.
#
# Meant to run under with-services.sh, which provides DATABASE_URL and NATS_URL:
#   bash deploy/local/with-services.sh bash deploy/local/run-stack.sh     (= make run)
#
# Runs until Ctrl-C / SIGTERM, then stops the services gracefully and exits 0. If a service
# exits on its own, the others are stopped and the script exits non-zero, naming it.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
cd "$REPO_ROOT"

API_URL=http://127.0.0.1:8080
HEALTH_WAIT_SECS=60 # the api has to connect to PostgreSQL first; be generous, but bounded
STOP_WAIT_SECS=15   # per shutdown phase, before SIGKILL

log() { printf 'run-stack: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}

: "${DATABASE_URL:?is not set; run this through deploy/local/with-services.sh (make run)}"
: "${NATS_URL:?is not set; run this through deploy/local/with-services.sh (make run)}"
export RUST_LOG="${RUST_LOG:-info}"

log "building release binaries (cargo build --release --bins)"
cargo build --release --bins

config_args=()
if [[ -f abacus.toml ]]; then
    config_args=(--config abacus.toml)
    log "using $REPO_ROOT/abacus.toml"
fi

# A laptop's stack takes HTTP writes (ingest, the web app's event markers) without a token, as
# it did before users and tokens existed; an abacus.toml with an [auth] section, or
# ABACUS_AUTH__WRITES, decides otherwise (README, "Users and tokens").
if [[ -z ${ABACUS_AUTH__WRITES:-} ]] && ! { [[ -f abacus.toml ]] && grep -q '^\[auth\]' abacus.toml; }; then
    export ABACUS_AUTH__WRITES=open
    log "auth.writes = open for this local stack (set it in abacus.toml's [auth] to require tokens)"
fi

# GNU sed -u flushes every line; elsewhere (BSD sed) fall back to awk with fflush().
if sed -u '' </dev/null >/dev/null 2>&1; then
    prefix_lines() { exec sed -u "s/^/[$1] /"; }
else
    prefix_lines() { exec awk -v p="[$1] " '{ print p $0; fflush() }'; }
fi

names=()
pids=()

# start NAME BINARY: run target/release/BINARY in the background, output prefixed by
# "[NAME] ". The service runs in its own session (setsid), so a Ctrl-C on the terminal
# reaches only this script, which then stops the services in data-flow order; setsid execs
# without forking here, so $! is the service's own pid. The prefixer ignores INT/TERM: it
# must outlive the service to pass on whatever it logs while shutting down; it ends by
# itself when the service closes its output.
start() {
    local name=$1 bin=target/release/$2
    [[ -x $bin ]] || die "$bin was not built"
    setsid "$bin" ${config_args[@]+"${config_args[@]}"} </dev/null > >(
        trap '' INT TERM
        prefix_lines "$name"
    ) 2>&1 &
    names+=("$name")
    pids+=("$!")
    log "started $2 (pid $!)"
}

alive() { kill -0 "$1" 2>/dev/null; }

print_examples() {
    printf '  %s\n' \
        'echo "deploys:1|c" | nc -u -w0 127.0.0.1 8125     (without nc: echo "deploys:1|c" > /dev/udp/127.0.0.1/8125)' \
        "curl '$API_URL/render?target=deploys&from=-10min&format=json'" \
        "open $API_URL/ in a browser: the web app (search for deploys, click it for its graph)" >&2
}

# Signal and wait for the services whose names are given, bounded, then SIGKILL.
stop_services() {
    local i deadline pending
    for i in "${!names[@]}"; do
        if [[ " $* " == *" ${names[$i]} "* ]] && alive "${pids[$i]}"; then
            kill -TERM "${pids[$i]}" 2>/dev/null || true
        fi
    done
    deadline=$((SECONDS + STOP_WAIT_SECS))
    while :; do
        pending=""
        for i in "${!names[@]}"; do
            if [[ " $* " == *" ${names[$i]} "* ]] && alive "${pids[$i]}"; then
                pending+=" ${names[$i]}"
            fi
        done
        [[ -z $pending ]] && break
        if ((SECONDS >= deadline)); then
            log "still running after ${STOP_WAIT_SECS}s, killing:$pending"
            for i in "${!names[@]}"; do
                if [[ " $pending " == *" ${names[$i]} "* ]]; then
                    kill -KILL "${pids[$i]}" 2>/dev/null || true
                fi
            done
            break
        fi
        sleep 0.2 || true
    done
}

# Stop in data-flow order: the aggregator first (its last flush goes to NATS) and the api,
# then the worker, so that it can still store what the aggregator flushed on the way out.
stop_all() {
    log "stopping the services"
    stop_services aggregator api
    stop_services worker
    # Reap them (statuses are irrelevant now) and give the prefixers a moment to print the
    # last lines before the shell prompt comes back.
    wait "${pids[@]}" 2>/dev/null || true
    sleep 0.3 || true
}

# Safety net: whatever way this script ends (an unexpected error included), do not leave
# services running in the background.
kill_leftovers() {
    local pid
    for pid in ${pids[@]+"${pids[@]}"}; do
        kill -TERM "$pid" 2>/dev/null || true
    done
}
trap kill_leftovers EXIT

stop_requested=0
# Only set a flag: the main loop notices within half a second and stops things in order.
trap 'stop_requested=1' INT TERM

start worker abacus-storage-worker
start aggregator abacus-aggregator
start api abacus-api

announced=0
health_deadline=$((SECONDS + HEALTH_WAIT_SECS))
if ! command -v curl >/dev/null 2>&1; then
    log "curl is not installed; not waiting for the api to answer"
    health_deadline=0
fi

while :; do
    if ((stop_requested)); then
        stop_all
        log "stopped"
        exit 0
    fi
    for i in "${!names[@]}"; do
        if ! alive "${pids[$i]}"; then
            status=0
            wait "${pids[$i]}" || status=$?
            log "${names[$i]} exited on its own (status $status); stopping the others"
            stop_all
            die "${names[$i]} exited unexpectedly (status $status); see the [${names[$i]}] lines above"
        fi
    done
    if ((!announced)); then
        if ((health_deadline)) && curl -fsS --max-time 2 "$API_URL/healthz" >/dev/null 2>&1; then
            announced=1
            log "the stack is up (Ctrl-C stops it). Try:"
            print_examples
        elif ((SECONDS >= health_deadline)); then
            announced=1
            if ((health_deadline)); then
                log "warning: the api did not answer $API_URL/healthz within ${HEALTH_WAIT_SECS}s; still running. Try:"
            else
                log "the stack is starting (Ctrl-C stops it). Try:"
            fi
            print_examples
        fi
    fi
    # A Ctrl-C also kills this sleep (non-zero status), which must not trip `set -e`.
    sleep 0.5 || true
done
