#!/usr/bin/env bash
# `make test-deploy`: build the image with podman from deploy/image/Dockerfile, run
# deploy/compose/compose.yaml with podman-compose (PyPI's, see setup.sh), and check the stack
# end to end:
#
#   1. statsd counters sent over UDP and TCP to the published port are read back, exactly,
#      through the API's published port (/render);
#   2. a storage-worker container killed (SIGKILL) is restarted by its restart policy and
#      nothing sent around the kill is lost or doubled;
#   3. `down` then `up` with the volumes kept: everything stored is still there, and the stack
#      stores again;
#   4. `down -v` at the end (also on failure or Ctrl-C), leaving no container, volume or
#      network behind.
# It prints the image size, the stack's cold and warm start times and its own duration.
#
# No registry is reachable where this runs, so the public base images are replaced by
# stand-ins built from Debian's packages and cached in podman's storage under .data/deploy
# (debootstrap of a minimal Debian, imported; PostgreSQL and nats-server installed into it).
# They are passed as the Dockerfile's RUNTIME_IMAGE and compose's POSTGRES_IMAGE and
# NATS_IMAGE. The image's binaries are the host's build (BINARIES=prebuilt), so the
# workspace is not compiled a second time inside a container; the runtime stage is the one
# users get. The build is the release profile unless ABACUS_TEST_DEPLOY_PROFILE=dev: CI runs
# this right after `make test`, whose debug build it then reuses instead of compiling the
# whole workspace again with optimizations (about 19 minutes on a 2-core machine). The
# binaries behave the same; only their speed and size differ.
#
# ABACUS_TEST_DEPLOY_BINARIES=compiled builds the image the way `docker compose up --build`
# does instead (BINARIES=compiled: the web app and the workspace compiled in the Dockerfile's
# build stages, with its cache mounts), from two more stand-ins: RUST_IMAGE with the host's
# Rust toolchain and NODE_IMAGE with the host's Node.js and npm (nothing can be downloaded
# for them here; crates and npm packages are). Not run by CI: a cold build compiles the whole
# release build again (about 14 minutes on 2 shared cores); after that, the cache mounts (in
# /var/tmp/buildah-cache, outside .data) keep cargo's target directory, so a rebuild compiles
# only the crates that changed (under 4 minutes for one file of the API).
#
# Podman 4.3 (Debian 12's) cannot wait for a health state, so podman-compose starts the
# services in dependency order without waiting for `service_healthy`: a service that starts
# before PostgreSQL answers exits and its restart policy starts it again. The bounded wait for
# a healthy stack covers that; the health checks themselves are run with `podman healthcheck
# run` (podman times them with systemd, which is not running here).
#
# Podman runs with a containers.conf of our own (CONTAINERS_CONF): runc, because crun refuses
# this kernel's hybrid cgroup layout, and explicit ulimits, because raising an rlimit to the
# hard limit is refused here. Its storage (images, volumes) and network definitions live in
# .data/deploy too, apart from any other podman use on the machine.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO_ROOT"
DATA="$REPO_ROOT/.data/deploy"
COMPOSE_DIR="$REPO_ROOT/deploy/compose"
STANDINS="$REPO_ROOT/deploy/test/standins"
PROJECT=abacus-deploy-test
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=${ABACUS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_IMAGE=localhost/abacus-standin/debian:$DEBIAN_SUITE
POSTGRES_STANDIN=localhost/abacus-standin/postgres:15
NATS_STANDIN=localhost/abacus-standin/nats:$DEBIAN_SUITE
RUST_STANDIN=localhost/abacus-standin/rust:1.95
NODE_STANDIN=localhost/abacus-standin/node:20
BINARIES=${ABACUS_TEST_DEPLOY_BINARIES:-prebuilt}
IMAGE=localhost/abacus:deploy-test
READY_WAIT_SECONDS=180 # a cold start includes initdb and the migrations
DATA_WAIT_SECONDS=90
STARTED=$SECONDS

log() { printf 'test-deploy: %s\n' "$*" >&2; }
die() {
    log "FAILED: $*"
    exit 1
}

# ---------------------------------------------------------------------------------------
# Tools and podman's configuration
# ---------------------------------------------------------------------------------------

# The stand-ins are built by debootstrap and apt, and podman runs rootful here: both need root.
[[ $(id -u) -eq 0 ]] || die "run this as root (podman here is rootful, debootstrap needs root)"
bash "$REPO_ROOT/deploy/test/setup.sh" containers
mkdir -p "$DATA/storage" "$DATA/networks"
cat >"$DATA/containers.conf" <<'EOF'
[engine]
runtime = "runc"

[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
EOF
printf '[network]\nnetwork_config_dir = "%s"\n' "$DATA/networks" >>"$DATA/containers.conf"
cat >"$DATA/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$DATA/storage"
runroot = "/run/abacus-deploy-test-$(printf '%s' "$REPO_ROOT" | cksum | cut -d' ' -f1)"
EOF
export CONTAINERS_CONF="$DATA/containers.conf"
export CONTAINERS_STORAGE_CONF="$DATA/storage.conf"

# compose ARGS...: podman-compose on this project, bounded.
compose() {
    timeout 300 "$DATA/podman-compose/bin/podman-compose" -p "$PROJECT" -f "$COMPOSE_DIR/compose.yaml" -f "$DATA/compose.test.yaml" "$@"
}

project_containers() { podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT"; }
project_volumes() { podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT"; }

# Whatever way this ends: the stack down with its volumes, nothing of the project left.
cleanup() {
    local status=$? leftovers
    trap - EXIT INT TERM
    if ((status != 0)) && [[ -n $(project_containers 2>/dev/null) ]]; then
        log "the last lines of each container's log:"
        for container in $(project_containers); do
            printf -- '--- %s\n' "$(podman inspect --format '{{.Name}}' "$container")" >&2
            podman logs --tail 15 "$container" >&2 2>&1 || true
        done
    fi
    log "podman-compose down -v"
    compose down -v >"$DATA/compose-down.log" 2>&1 || log "warning: podman-compose down -v failed (see $DATA/compose-down.log)"
    # Whatever podman-compose left (it does not remove its network).
    for container in $(project_containers 2>/dev/null); do podman rm -f -t 5 "$container" >/dev/null 2>&1 || true; done
    for volume in $(project_volumes 2>/dev/null); do podman volume rm -f "$volume" >/dev/null 2>&1 || true; done
    podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
    leftovers="$(project_containers 2>/dev/null)$(project_volumes 2>/dev/null)"
    if [[ -n $leftovers ]]; then
        log "FAILED: containers or volumes of $PROJECT are left: $leftovers"
        status=1
    fi
    rm -rf "$REPO_ROOT/target/image"
    log "took $((SECONDS - STARTED)) s"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'log "FAILED: unexpected error at line $LINENO: $BASH_COMMAND"' ERR

# ---------------------------------------------------------------------------------------
# Stand-in base images, cached
# ---------------------------------------------------------------------------------------

# The minimal Debian every stand-in starts from: debootstrap into a folder, `podman import`.
ensure_base_image() {
    local rootfs="$DATA/rootfs" stamp="$DATA/base-image.stamp" want
    want="debootstrap minbase $DEBIAN_SUITE ca-certificates"
    if podman image exists "$BASE_IMAGE" && [[ $(cat "$stamp" 2>/dev/null) == "$want" ]]; then
        return 0
    fi
    log "building the stand-in base image $BASE_IMAGE (debootstrap $DEBIAN_SUITE from $DEBIAN_MIRROR)"
    rm -rf "$rootfs"
    mkdir -p "$DATA/debs"
    timeout 900 debootstrap --variant=minbase --include=ca-certificates --cache-dir="$DATA/debs" \
        "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$DATA/debootstrap.log" 2>&1 || {
        tail -n 20 "$DATA/debootstrap.log" >&2
        die "debootstrap failed (is $DEBIAN_MIRROR reachable? log: $DATA/debootstrap.log)"
    }
    # What distroless leaves out too: documentation, manuals, translations, apt's lists.
    rm -rf "$rootfs"/usr/share/{doc,man,info,locale}/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    tar -C "$rootfs" -c . | podman import --quiet --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    printf '%s\n' "$want" >"$stamp"
}

# ensure_standin IMAGE CONTAINERFILE [WHAT NAME=DIR...]: built from the base image, again
# only when the Containerfile, what it copies or the base changed. Each NAME=DIR is a build
# context of host files it copies, WHAT says which (their versions).
ensure_standin() {
    local image=$1 containerfile=$2 what=${3:-} stamp want context contexts=()
    shift $(($# < 3 ? $# : 3))
    for context in "$@"; do contexts+=(--build-context "$context"); done
    stamp="$DATA/$(basename "$containerfile").stamp"
    want="$(cat "$STANDINS"/* | sha256sum | cut -c1-16) $(podman image inspect --format '{{.Id}}' "$BASE_IMAGE") $what $*"
    if podman image exists "$image" && [[ $(cat "$stamp" 2>/dev/null) == "$want" ]]; then
        return 0
    fi
    log "building the stand-in $image${what:+ ($what)}"
    timeout 900 podman build --format docker --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$image" \
        "${contexts[@]}" -f "$STANDINS/$containerfile" "$STANDINS" >"$DATA/standin-build.log" 2>&1 || {
        tail -n 30 "$DATA/standin-build.log" >&2
        die "building $image failed (it installs Debian packages; log: $DATA/standin-build.log)"
    }
    printf '%s\n' "$want" >"$stamp"
}

# ---------------------------------------------------------------------------------------
# The image
# ---------------------------------------------------------------------------------------

# The image with the host's binaries (BINARIES=prebuilt).
build_image_prebuilt() {
    local binary profile=${ABACUS_TEST_DEPLOY_PROFILE:-release} profile_dir
    case $profile in
    release) profile_dir=release ;;
    dev) profile_dir=debug ;;
    *) die "ABACUS_TEST_DEPLOY_PROFILE must be release or dev, not $profile" ;;
    esac
    log "building the web app and the $profile binaries (reused when up to date)"
    bash "$REPO_ROOT/deploy/local/build-web.sh"
    # The whole workspace, as `make build` does: a subset would unify other features and
    # compile the dependencies again.
    cargo build --workspace --profile "$profile" --bins
    # The image gets them without debug info.
    rm -rf target/image
    mkdir -p target/image
    for binary in abacus abacus-aggregator abacus-storage-worker abacus-api; do
        objcopy --strip-debug "target/$profile_dir/$binary" "target/image/$binary"
    done
    podman_build 600 --build-arg BINARIES=prebuilt
}

# The image as users build it (BINARIES=compiled), from the Rust and Node.js stand-ins.
build_image_compiled() {
    local toolchain node_prefix certs=/etc/ssl/certs/ca-certificates.crt certs_sum
    command -v rustc >/dev/null 2>&1 || die "rustc is not installed (the Rust stand-in carries the host's toolchain)"
    command -v node >/dev/null 2>&1 || die "node is not installed (the Node.js stand-in carries the host's node and npm)"
    [[ -f $certs ]] || die "no $certs (the build stand-ins trust the host's certificate authorities)"
    toolchain=$(rustc --print sysroot)
    node_prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
    [[ -d $node_prefix/lib/node_modules/npm ]] || die "npm is not in $node_prefix/lib/node_modules/npm"
    # The host's CA bundle: where the host reaches crates.io and npm through a TLS-inspecting
    # proxy, the builds in the stand-ins must trust it as the host does.
    certs_sum=$(sha256sum "$certs" | cut -c1-16)
    ensure_standin "$RUST_STANDIN" rust.Containerfile "$(rustc --version), CA bundle $certs_sum" \
        "toolchain=$toolchain" "certs=$(dirname "$certs")"
    ensure_standin "$NODE_STANDIN" node.Containerfile "node $(node --version), CA bundle $certs_sum" \
        "node=$node_prefix" "certs=$(dirname "$certs")"
    podman_build 3600 --build-arg BINARIES=compiled \
        --build-arg "RUST_IMAGE=$RUST_STANDIN" --build-arg "NODE_IMAGE=$NODE_STANDIN"
}

# podman_build TIMEOUT ARG...: deploy/image/Dockerfile on the stand-in runtime; sets BUILD_SECONDS.
podman_build() {
    local seconds=$1 start=$SECONDS
    shift
    log "podman build -f deploy/image/Dockerfile (BINARIES=$BINARIES, RUNTIME_IMAGE=$BASE_IMAGE)"
    timeout "$seconds" podman build --format docker -f deploy/image/Dockerfile "$@" \
        --build-arg "RUNTIME_IMAGE=$BASE_IMAGE" \
        --build-arg "REVISION=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        -t "$IMAGE" . >"$DATA/image-build.log" 2>&1 || {
        tail -n 30 "$DATA/image-build.log" >&2
        die "podman build failed (log: $DATA/image-build.log)"
    }
    BUILD_SECONDS=$((SECONDS - start))
}

# ---------------------------------------------------------------------------------------
# Talking to the stack
# ---------------------------------------------------------------------------------------

# Free ports on 127.0.0.1 for the published ports: TCP for the API, TCP and UDP for statsd
# and Graphite. Drawn at random below the ephemeral range, so no test's bind(0) takes them.
pick_ports() {
    python3 - <<'EOF'
import random, socket
def free(port, udp):
    for kind in ([socket.SOCK_STREAM, socket.SOCK_DGRAM] if udp else [socket.SOCK_STREAM]):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True
chosen = []
while len(chosen) < 3:
    port = random.randint(20000, 30000)
    if port not in chosen and free(port, True):
        chosen.append(port)
print(*chosen)
EOF
}

http_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1" 2>/dev/null || true; }

# Every container of the project runs and answers its compose health check (podman runs
# health checks only on demand here: there is no systemd to time them).
stack_healthy() {
    local container count=0
    for container in $(project_containers); do
        [[ $(podman inspect --format '{{.State.Status}}' "$container") == running ]] || return 1
        podman healthcheck run "$container" >/dev/null 2>&1 || return 1
        count=$((count + 1))
    done
    # postgres, nats, aggregator, two storage workers, api
    ((count == 6)) && [[ $(http_status "$API/readyz") == 200 ]]
}

# up WHAT: `podman-compose up -d`, then wait until the stack is healthy, bounded; prints the
# seconds from the `up` to healthy.
up() {
    local start=$SECONDS
    compose up -d >"$DATA/compose-up.log" 2>&1 || {
        tail -n 30 "$DATA/compose-up.log" >&2
        die "podman-compose up failed, $1 (log: $DATA/compose-up.log)"
    }
    until stack_healthy; do
        ((SECONDS - start < READY_WAIT_SECONDS)) || die "the stack was not healthy within ${READY_WAIT_SECONDS}s ($1)"
        sleep 1
    done
    printf '%s\n' $((SECONDS - start))
}

# send_udp NAME COUNT: COUNT datagrams of one `NAME:1|c` each.
send_udp() {
    local i
    for ((i = 0; i < $2; i++)); do
        printf '%s:1|c\n' "$1" >"/dev/udp/127.0.0.1/$STATSD_PORT"
    done
}

# send_tcp NAME COUNT: COUNT lines `NAME:1|c` over one TCP connection.
send_tcp() {
    local i
    exec 3<>"/dev/tcp/127.0.0.1/$STATSD_PORT"
    for ((i = 0; i < $2; i++)); do
        printf '%s:1|c\n' "$1" >&3
    done
    exec 3>&-
}

# stored_total NAME: the sum of the counter's datapoints over the last hour, through /render.
stored_total() {
    curl -s --max-time 10 "$API/render?target=$1&from=-1h&format=json" | python3 -c '
import json, sys
try:
    answer = json.load(sys.stdin)
except ValueError:
    print("unreadable")
    sys.exit()
print(int(sum(v for s in answer for v, _ in s["datapoints"] if v is not None)))'
}

# expect_total NAME WANT: wait until /render gives exactly WANT; more is a failure at once.
expect_total() {
    local start=$SECONDS got=""
    while ((SECONDS - start < DATA_WAIT_SECONDS)); do
        got=$(stored_total "$1")
        [[ $got == "$2" ]] && return 0
        if [[ $got =~ ^[0-9]+$ ]] && ((got > $2)); then
            die "$1: /render gives $got, more than the $2 sent (a batch stored twice?)"
        fi
        sleep 1
    done
    die "$1: /render gives ${got:-nothing}, not the $2 sent, after ${DATA_WAIT_SECONDS}s"
}

# (awk reads all of podman's output: head would end the pipe early, a failure under pipefail)
worker_container() { podman ps -q --filter "label=io.podman.compose.project=$PROJECT" --filter "label=com.docker.compose.service=storage-worker" | awk 'NR == 1'; }

# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------

# A stack left by an interrupted run goes first.
compose down -v >/dev/null 2>&1 || true

ensure_base_image
ensure_standin "$POSTGRES_STANDIN" postgres.Containerfile
ensure_standin "$NATS_STANDIN" nats.Containerfile
case $BINARIES in
prebuilt) build_image_prebuilt ;;
compiled) build_image_compiled ;;
*) die "ABACUS_TEST_DEPLOY_BINARIES must be prebuilt or compiled, not $BINARIES" ;;
esac

image_bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")
base_bytes=$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE")
# What the image adds to the runtime base: the four binaries.
binaries_bytes=$((image_bytes - base_bytes))

read -r HTTP_PORT STATSD_PORT GRAPHITE_PORT < <(pick_ports)
API="http://127.0.0.1:$HTTP_PORT"
export ABACUS_IMAGE=$IMAGE POSTGRES_IMAGE=$POSTGRES_STANDIN NATS_IMAGE=$NATS_STANDIN
export ABACUS_PUBLISH_ADDRESS=127.0.0.1 ABACUS_HTTP_PORT=$HTTP_PORT ABACUS_STATSD_PORT=$STATSD_PORT \
    ABACUS_GRAPHITE_PORT=$GRAPHITE_PORT
POSTGRES_PASSWORD="test-$RANDOM$RANDOM"
export POSTGRES_PASSWORD
# The environment overrides abacus.toml: a short flush interval for a quick test.
cat >"$DATA/compose.test.yaml" <<'EOF'
services:
  aggregator:
    environment:
      ABACUS_AGGREGATOR__FLUSH_INTERVAL: 2s
EOF

run_id="t$(date +%s)"
udp_name="deploytest.$run_id.udp"
tcp_name="deploytest.$run_id.tcp"

log "podman-compose up -d (ports: http $HTTP_PORT, statsd $STATSD_PORT, graphite $GRAPHITE_PORT)"
cold_seconds=$(up "cold start")
log "the stack is healthy after ${cold_seconds}s (cold: empty volumes, initdb, migrations)"
page=$(curl -s --fail --max-time 5 "$API/") || die "the web app does not answer on $API/"
# Only the built app has a script; an API built without web/dist serves a page saying so.
[[ $page == *"<script"* ]] || die "$API/ is not the web app: the API was built without it"

log "1. statsd over UDP and TCP, read back through the API"
send_udp "$udp_name" 40
send_tcp "$tcp_name" 60
expect_total "$udp_name" 40
expect_total "$tcp_name" 60

log "2. a storage worker killed while data flows is restarted, and nothing is lost"
worker=$(worker_container)
[[ -n $worker ]] || die "no storage-worker container runs"
restarts=$(podman inspect --format '{{.RestartCount}}' "$worker")
pid=$(podman inspect --format '{{.State.Pid}}' "$worker")
send_udp "$udp_name" 20
send_tcp "$tcp_name" 20
kill -KILL "$pid"
send_udp "$udp_name" 20
send_tcp "$tcp_name" 20
start=$SECONDS
until [[ $(podman inspect --format '{{.RestartCount}}' "$worker") -gt $restarts ]] &&
    podman healthcheck run "$worker" >/dev/null 2>&1; do
    ((SECONDS - start < 60)) || die "the killed storage worker was not restarted and healthy within 60s"
    sleep 1
done
log "the killed storage worker was restarted and is healthy after $((SECONDS - start))s"
expect_total "$udp_name" 80
expect_total "$tcp_name" 100

log "3. down, then up with the volumes kept"
compose down >"$DATA/compose-down.log" 2>&1 || die "podman-compose down failed (log: $DATA/compose-down.log)"
[[ -z $(project_containers) ]] || die "containers are left after podman-compose down"
[[ $(project_volumes | wc -l) -eq 2 ]] || die "podman-compose down did not keep the two volumes"
warm_seconds=$(up "warm start")
log "the stack is healthy after ${warm_seconds}s (warm: volumes kept)"
expect_total "$udp_name" 80
expect_total "$tcp_name" 100
send_udp "$udp_name" 10
send_tcp "$tcp_name" 10
expect_total "$udp_name" 90
expect_total "$tcp_name" 110

log "OK"
log "image $IMAGE: $((image_bytes / 1000000)) MB, of which the stand-in base $((base_bytes / 1000000)) MB and the four binaries $((binaries_bytes / 1000000)) MB"
log "podman build (BINARIES=$BINARIES): ${BUILD_SECONDS}s"
log "from podman-compose up to every container healthy: cold ${cold_seconds}s, warm ${warm_seconds}s"
