#!/usr/bin/env bash
# End-to-end aggregator benchmark: the same statsd load against the release Abacus aggregator
# and against etsy statsd, over loopback, at rising offered rates, with 100 and with 10,000
# distinct keys. Per run it prints lines/s offered, lines/s counted, loss %, the server's
# CPU-seconds per million lines counted (its threads' run time from /proc) and its RSS; then
# the Abacus/etsy ratios.
#
#   tests/bench/aggregator.sh            (make bench-aggregator runs it after the micro-benchmarks)
#
# How lines are counted:
#   * Abacus publishes to a private JetStream stream on the local NATS (NATS_URL, default
#     nats://127.0.0.1:4222); `statsd-load count` sums the counters of the run from the flushed
#     batches once they stop changing, and the stream is deleted at the end.
#   * etsy statsd (npm package `statsd`, installed here into .data/bench/etsy) runs with only
#     tests/bench/etsy-count-backend.js, which adds up the counters of each run at every flush;
#     no console, graphite or repeater backend, dumpMessages off, idle stats deleted (as Abacus
#     does), so it does nothing but receive, parse and aggregate.
# Each run's lines are named `bench.<run>.k<i>`, so runs never mix.
#
# Bounded: every step runs under `timeout`; with the defaults the measuring takes about
# 4 minutes (the first release build and the etsy install come on top). Only loopback is
# used, plus the npm registry once for etsy statsd.
#
# Knobs (environment): BENCH_RATES (lines/s, 0 = as fast as the generator goes; default
# "100000 300000 1000000 2000000 0"), BENCH_KEYS (default "100 10000"), BENCH_SECONDS per run
# (default 5), BENCH_SERVERS (default "abacus etsy"), BENCH_SENDERS source sockets of the
# generator (default 4: several clients, so the aggregator's SO_REUSEPORT workers all get
# traffic; etsy has one socket either way).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO_ROOT"

NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
read -r -a RATES <<<"${BENCH_RATES:-100000 300000 1000000 2000000 0}"
read -r -a KEYSETS <<<"${BENCH_KEYS:-100 10000}"
read -r -a SERVERS <<<"${BENCH_SERVERS:-abacus etsy}"
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
SENDERS=${BENCH_SENDERS:-4}
# Fixed loopback ports away from the defaults, so a `make run` stack does not get the load.
ABACUS_PORT=18125
ETSY_PORT=18135
ETSY_MGMT_PORT=18136
ETSY_VERSION=0.9.0
WORK_DIR="$REPO_ROOT/.data/bench"
ETSY_DIR="$WORK_DIR/etsy"
STREAM="ABACUS_BENCH_$$"
SUBJECT_PREFIX="abacus_bench_$$"
CLOCK_TICKS=$(getconf CLK_TCK)
LOAD=target/release/statsd-load
# BENCH_AGGREGATOR: measure another aggregator binary instead (say a release build of an
# earlier commit, as a baseline in the same conditions).
AGGREGATOR=${BENCH_AGGREGATOR:-target/release/abacus-aggregator}

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}

mkdir -p "$WORK_DIR"

log "building the release aggregator and load generator"
timeout 1800 cargo build --quiet --release -p abacus-aggregator -p abacus-tests \
    --bin abacus-aggregator --bin statsd-load

# etsy statsd, installed once (the stamp records the version).
if [[ "$(cat "$ETSY_DIR/.installed" 2>/dev/null)" != "$ETSY_VERSION" ]]; then
    command -v npm >/dev/null || die "npm is needed to install etsy statsd"
    log "installing etsy statsd $ETSY_VERSION from the npm registry into $ETSY_DIR"
    rm -rf "$ETSY_DIR"
    mkdir -p "$ETSY_DIR"
    printf '{ "name": "abacus-bench-etsy", "private": true }\n' >"$ETSY_DIR/package.json"
    timeout 300 npm install --prefix "$ETSY_DIR" --no-audit --no-fund --no-update-notifier \
        --loglevel=error "statsd@$ETSY_VERSION" >"$WORK_DIR/npm.log" 2>&1 ||
        { tail -n 20 "$WORK_DIR/npm.log" >&2; die "npm install statsd@$ETSY_VERSION failed (is the npm registry reachable?)"; }
    printf '%s\n' "$ETSY_VERSION" >"$ETSY_DIR/.installed"
fi

# CPU seconds (user + system) a process has used so far: the sum of its threads' run time in
# nanoseconds (/proc/<pid>/task/*/schedstat). /proc/<pid>/stat counts in 100 Hz ticks, which on
# a 5 s run at 100k lines/s is a step of 0.02 CPU-s per million lines, a tenth of the figure.
# (A thread that ends during a run takes its time with it; both servers keep theirs.) Without
# schedstat (a kernel built without CONFIG_SCHED_INFO): utime + stime from /proc/<pid>/stat,
# read after the `)` of the command name, so a name with spaces cannot shift the fields.
cpu_seconds() {
    local schedstats=("/proc/$1/task/"*/schedstat)
    if [[ -r ${schedstats[0]} ]]; then
        cat "${schedstats[@]}" 2>/dev/null | awk '{ sum += $1 } END { printf "%.4f", sum / 1e9 }'
        return
    fi
    local stat
    stat=$(<"/proc/$1/stat")
    awk -v ticks="$CLOCK_TICKS" '{ printf "%.3f", ($12 + $13) / ticks }' <<<"${stat##*) }"
}

rss_mib() {
    awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

SERVER_PID=
stop_server() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        # The aggregator publishes its partial window on SIGTERM; give it a moment.
        timeout 15 tail --pid="$SERVER_PID" -f /dev/null || kill -KILL "$SERVER_PID" || true
    fi
    SERVER_PID=
}
cleanup() {
    stop_server
    timeout 30 "$LOAD" delete-stream --nats "$NATS_URL" --stream "$STREAM" >/dev/null 2>&1 || true
}
trap cleanup EXIT

start_abacus() {
    # Flush every second so a run's lines are published soon after it ends. Every other
    # listener on an ephemeral port, so nothing else on this machine is disturbed.
    ABACUS_NATS__URL="$NATS_URL" ABACUS_NATS__STREAM="$STREAM" \
        ABACUS_NATS__SUBJECT_PREFIX="$SUBJECT_PREFIX" ABACUS_NATS__MAX_AGE=1h \
        ABACUS_AGGREGATOR__ID=bench \
        ABACUS_AGGREGATOR__UDP_ADDRESS="127.0.0.1:$ABACUS_PORT" \
        ABACUS_AGGREGATOR__TCP_ADDRESS=127.0.0.1:0 \
        ABACUS_AGGREGATOR__GRAPHITE_UDP_ADDRESS=127.0.0.1:0 \
        ABACUS_AGGREGATOR__GRAPHITE_TCP_ADDRESS=127.0.0.1:0 \
        ABACUS_AGGREGATOR__FLUSH_INTERVAL=1s RUST_LOG=warn,abacus_aggregator::udp=info \
        "$AGGREGATOR" >"$WORK_DIR/abacus.log" 2>&1 &
    SERVER_PID=$!
    sleep 1
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK_DIR/abacus.log" >&2; die "the aggregator did not start"; }
    log "aggregator: $(grep -m1 -o 'sockets.*' "$WORK_DIR/abacus.log" || echo 'socket line not logged')"
}

start_etsy() {
    rm -f "$WORK_DIR/etsy-counts"
    cat >"$WORK_DIR/etsy-config.js" <<CONFIG
{
  address: "127.0.0.1",
  port: $ETSY_PORT,
  mgmt_address: "127.0.0.1",
  mgmt_port: $ETSY_MGMT_PORT,
  flushInterval: 1000,
  dumpMessages: false,
  deleteIdleStats: true,
  backends: ["$REPO_ROOT/tests/bench/etsy-count-backend.js"],
  countBackend: { file: "$WORK_DIR/etsy-counts" }
}
CONFIG
    node "$ETSY_DIR/node_modules/statsd/stats.js" "$WORK_DIR/etsy-config.js" >"$WORK_DIR/etsy.log" 2>&1 &
    SERVER_PID=$!
    sleep 1.5
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK_DIR/etsy.log" >&2; die "etsy statsd did not start"; }
}

# Lines etsy counted for RUN: poll the backend's file until the total has not moved for 2.5 s
# (two and a half flushes), at most 60 s.
etsy_counted() {
    local run=$1 total=-1 now stable=0 i
    for ((i = 0; i < 300; i++)); do
        now=$(awk -v run="$run" '$1 == run { print $2 }' "$WORK_DIR/etsy-counts" 2>/dev/null || true)
        now=${now:-0}
        if [[ $now == "$total" ]]; then
            stable=$((stable + 1))
            ((stable >= 12)) && break
        else
            stable=0
            total=$now
        fi
        sleep 0.2
    done
    printf '%s\n' "$total"
}

abacus_counted() {
    timeout 90 "$LOAD" count --nats "$NATS_URL" --stream "$STREAM" \
        --subject-prefix "$SUBJECT_PREFIX" --prefix "bench.$1." \
        --settle-seconds 2.5 --timeout-seconds 60 | sed -n 's/^counted_lines=//p'
}

log "$(nproc) cores; $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) memory;" \
    "net.core.rmem_default=$(cat /proc/sys/net/core/rmem_default)" \
    "net.core.rmem_max=$(cat /proc/sys/net/core/rmem_max) (Abacus asks for 8 MiB per socket);" \
    "$SENDERS generator source sockets"
printf '%-7s %6s %12s %12s %12s %7s %10s %8s\n' server keys target_lps offered_lps counted_lps loss_% cpu_s/Mline rss_MiB
declare -A RESULT
run_number=0
for server in "${SERVERS[@]}"; do
    for keys in "${KEYSETS[@]}"; do
        case $server in
            abacus) start_abacus; port=$ABACUS_PORT ;;
            etsy) start_etsy; port=$ETSY_PORT ;;
            *) die "unknown server $server (abacus or etsy)" ;;
        esac
        for rate in "${RATES[@]}"; do
            run_number=$((run_number + 1))
            run="r${run_number}"
            cpu_before=$(cpu_seconds "$SERVER_PID")
            sent=$(timeout $((SECONDS_PER_RUN + 30)) "$LOAD" send --target "127.0.0.1:$port" \
                --rate "$rate" --seconds "$SECONDS_PER_RUN" --keys "$keys" --prefix "bench.$run" \
                --senders "$SENDERS")
            offered=$(sed -n 's/.*offered_lines=\([0-9]*\).*/\1/p' <<<"$sent")
            seconds=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<<"$sent")
            case $server in
                abacus) counted=$(abacus_counted "$run") ;;
                etsy) counted=$(etsy_counted "$run") ;;
            esac
            kill -0 "$SERVER_PID" 2>/dev/null || die "$server died during run $run"
            cpu_after=$(cpu_seconds "$SERVER_PID")
            rss=$(rss_mib "$SERVER_PID")
            row=$(awk -v o="$offered" -v c="$counted" -v s="$seconds" -v c0="$cpu_before" -v c1="$cpu_after" \
                'BEGIN { printf "%.0f %.0f %.2f %.3f", o / s, c / s, (o > 0 ? 100 * (o - c) / o : 0), (c > 0 ? (c1 - c0) / c * 1e6 : 0) }')
            read -r offered_lps counted_lps loss cpu_per_million <<<"$row"
            target=$rate
            [[ $rate == 0 ]] && target=max
            printf '%-7s %6s %12s %12s %12s %7s %10s %8s\n' "$server" "$keys" "$target" \
                "$offered_lps" "$counted_lps" "$loss" "$cpu_per_million" "$rss"
            RESULT[$server,$keys,$rate]="$counted_lps $cpu_per_million"
        done
        stop_server
    done
done

if [[ " ${SERVERS[*]} " == *" abacus "* && " ${SERVERS[*]} " == *" etsy "* ]]; then
    echo
    echo "Abacus / etsy statsd (counted lines/s: higher is better for Abacus; CPU per line: etsy's over Abacus's)"
    printf '%6s %12s %16s %18s\n' keys target_lps counted_ratio cpu_efficiency
    for keys in "${KEYSETS[@]}"; do
        for rate in "${RATES[@]}"; do
            read -r abacus_lps abacus_cpu <<<"${RESULT[abacus,$keys,$rate]}"
            read -r etsy_lps etsy_cpu <<<"${RESULT[etsy,$keys,$rate]}"
            target=$rate
            [[ $rate == 0 ]] && target=max
            awk -v k="$keys" -v t="$target" -v al="$abacus_lps" -v el="$etsy_lps" -v ac="$abacus_cpu" -v ec="$etsy_cpu" \
                'BEGIN { printf "%6s %12s %15.2fx %17.2fx\n", k, t, (el > 0 ? al / el : 0), (ac > 0 ? ec / ac : 0) }'
        done
    done
fi
