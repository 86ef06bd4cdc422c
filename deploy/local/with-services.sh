#!/usr/bin/env bash
# Run a command with a PostgreSQL server and a NATS server (with JetStream) available.
#
#   deploy/local/with-services.sh CMD [ARGS...]   export DATABASE_URL and NATS_URL, then exec CMD
#   deploy/local/with-services.sh --stop          stop the private servers this script started
#   deploy/local/with-services.sh --clean         --stop, then delete their data (.data/)
#
# For each server, in order of preference:
#   1. DATABASE_URL / NATS_URL already set: used as is (PostgreSQL is checked to answer);
#   2. a server on the default local port (PostgreSQL 127.0.0.1:5432, NATS 127.0.0.1:4222
#      with JetStream enabled);
#   3. a private server started from the installed binaries, data under <repo>/.data/;
#   4. the same after `apt-get install`, when we are root (or have password-less sudo);
#   5. otherwise: exit 1, saying what to install.
# Private servers are left running after CMD exits, so that repeated `make test` /
# `make run` do not pay for initdb and server start-up every time.
#
# All our messages go to stderr (stdout belongs to CMD) and start with "with-services: ".
#
# Testing hooks (not for normal use): ABACUS_LOCAL_PG_PORT / ABACUS_LOCAL_NATS_PORT change
# the "default local port" probed in step 2, e.g. point them at an unused port to exercise
# the private-server path on a machine that does run the default servers.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
DATA_DIR="$REPO_ROOT/.data"

LOCAL_PG_PORT="${ABACUS_LOCAL_PG_PORT:-5432}"
LOCAL_NATS_PORT="${ABACUS_LOCAL_NATS_PORT:-4222}"
DB_NAME=abacus

NATS_PID_FILE="$DATA_DIR/nats-server.pid"
NATS_PORT_FILE="$DATA_DIR/nats-server.port"
NATS_LOG="$DATA_DIR/nats-server.log"
NATS_STORE="$DATA_DIR/nats"
# Only written when the private PostgreSQL had to live outside the repository (see pg_base).
PG_BASE_FILE="$DATA_DIR/postgres.base"

INSTALL_HINT="install PostgreSQL (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) and nats-server (apt-get install nats-server; brew install nats-server), or set DATABASE_URL and NATS_URL"

log() { printf 'with-services: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

current_user() { printf '%s\n' "${USER:-$(id -un)}"; }

# A second fence against hangs on top of the tools' own timeouts. coreutils `timeout` is
# missing on stock macOS; there we rely on the tools' own timeouts alone.
bounded() {
    local secs=$1
    shift
    if command -v timeout >/dev/null 2>&1; then
        timeout "$secs" "$@"
    else
        "$@"
    fi
}

# Does anything accept TCP connections on 127.0.0.1:PORT? Uses bash's /dev/tcp so that no
# netcat flavour is needed.
port_open() {
    # shellcheck disable=SC2016 # $1 is expanded by the inner bash, on purpose.
    bounded 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# Print the INFO line a NATS server sends right after accepting a connection; it says
# whether JetStream is enabled ("jetstream":true). Fails if nothing answers in time.
nats_info() {
    local line
    # shellcheck disable=SC2016 # $1 and $line are expanded by the inner bash, on purpose.
    line=$(bounded 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && IFS= read -r -t 3 line <&3 && printf "%s\n" "$line"' _ "$1" 2>/dev/null) || return 1
    printf '%s\n' "${line%$'\r'}"
}

nats_has_jetstream() {
    local info
    info=$(nats_info "$1") || return 1
    [[ $info == INFO* && $info == *'"jetstream":true'* ]]
}

# First port of the candidates nobody listens on.
pick_free_port() {
    local port
    for port in "$@"; do
        if ! port_open "$port"; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    return 1
}

# Hide the password when printing a URL.
redact_url() { printf '%s\n' "$1" | sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#'; }

# Serialise concurrent runs (e.g. `make test` in two terminals) while they inspect or start
# the private servers. The lock fd is closed for every server we start (`9>&-`), otherwise
# the server would hold the lock forever; it is released before exec'ing CMD.
LOCKED=0
lock_data_dir() {
    ((LOCKED)) && return 0
    mkdir -p "$DATA_DIR"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$DATA_DIR/.lock"
        flock -w 120 9 || die "another with-services.sh has held $DATA_DIR/.lock for 2 minutes; giving up"
    fi
    LOCKED=1
}

# ---------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------

# Directory holding initdb and pg_ctl. Debian/Ubuntu keep the server binaries out of PATH
# in /usr/lib/postgresql/<major>/bin (we take the highest major); Homebrew, Fedora, Arch
# put them on PATH.
find_pg_bindir() {
    local d found=""
    if d=$(command -v initdb 2>/dev/null) && [[ -x "$(dirname "$d")/pg_ctl" ]]; then
        dirname "$d"
        return 0
    fi
    for d in /usr/lib/postgresql/*/bin; do
        if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
            found+="$d"$'\n'
        fi
    done
    [[ -n $found ]] || return 1
    printf '%s' "$found" | sort -V | tail -n 1
}

# Path of a PostgreSQL client tool (psql, pg_isready): PATH first, then the server bindir.
pg_tool() {
    local bindir
    if command -v "$1" 2>/dev/null; then
        return 0
    fi
    bindir=$(find_pg_bindir) || return 1
    [[ -x $bindir/$1 ]] || return 1
    printf '%s\n' "$bindir/$1"
}

# PostgreSQL refuses to run as root, so as root the private server is run by the `postgres`
# system user. From `/` because that user may not be allowed into the current directory.
PG_RUN_AS=""
as_pg() {
    if [[ -z $PG_RUN_AS ]]; then
        "$@" 9>&-
    elif command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u "$PG_RUN_AS" -- "$@" 9>&-)
    else
        # shellcheck disable=SC2016 # $0/$@ are expanded by the inner sh, on purpose.
        (cd / && su "$PG_RUN_AS" -s /bin/sh -c 'exec "$0" "$@"' "$@" 9>&-)
    fi
}

ensure_postgres_user() {
    PG_RUN_AS=postgres
    id -u postgres >/dev/null 2>&1 && return 0
    command -v useradd >/dev/null 2>&1 ||
        die "running as root, PostgreSQL needs a non-root user but there is no 'postgres' user and no useradd to create one; create it, or run as a normal user"
    log "creating the system user 'postgres' (PostgreSQL refuses to run as root)"
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /bin/false postgres ||
        die "could not create the 'postgres' user"
}

# Where an existing private PostgreSQL lives, without deciding anything new.
known_pg_base() {
    if [[ -f $PG_BASE_FILE ]]; then cat "$PG_BASE_FILE"; else printf '%s\n' "$DATA_DIR"; fi
}

# Where the private PostgreSQL lives: <repo>/.data normally. As root, if the postgres user
# cannot even reach <repo>/.data (a checkout under /root is mode 700), fall back to a
# per-checkout directory under /var/tmp and remember it in .data/postgres.base.
pg_base() {
    local base
    if [[ -f $PG_BASE_FILE ]]; then
        cat "$PG_BASE_FILE"
        return 0
    fi
    if [[ -n $PG_RUN_AS ]] && ! as_pg test -x "$DATA_DIR"; then
        base="/var/tmp/abacus-postgres-$(printf '%s' "$REPO_ROOT" | cksum | cut -d' ' -f1)"
        log "user '$PG_RUN_AS' cannot access $DATA_DIR; keeping the private PostgreSQL in $base"
        printf '%s\n' "$base" >"$PG_BASE_FILE"
        printf '%s\n' "$base"
        return 0
    fi
    printf '%s\n' "$DATA_DIR"
}

psql_run() { # PSQL PORT USER SQL — one statement against the maintenance db, unaligned output
    bounded 30 env PGCONNECT_TIMEOUT=5 "$1" -X -w -q -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$2" -U "$3" -d postgres -tAc "$4"
}

ensure_database() { # PSQL PORT USER
    local exists
    exists=$(psql_run "$1" "$2" "$3" "select 1 from pg_database where datname='$DB_NAME'" 2>/dev/null) || exists=""
    [[ $exists == 1 ]] && return 0
    log "creating database '$DB_NAME' on 127.0.0.1:$2"
    if ! psql_run "$1" "$2" "$3" "create database $DB_NAME" >/dev/null; then
        # Maybe a concurrent run created it in between; only fail if it is still missing.
        exists=$(psql_run "$1" "$2" "$3" "select 1 from pg_database where datname='$DB_NAME'" 2>/dev/null) || exists=""
        [[ $exists == 1 ]] ||
            die "cannot create database '$DB_NAME' as user '$3' on 127.0.0.1:$2; create it (createdb -h 127.0.0.1 -p $2 $DB_NAME) or set DATABASE_URL"
    fi
}

check_env_database_url() {
    local isready rc=0 shown
    shown=$(redact_url "$DATABASE_URL")
    if isready=$(pg_tool pg_isready); then
        bounded 20 "$isready" -q -d "$DATABASE_URL" -t 10 || rc=$?
        case $rc in
        0) ;;
        3) log "warning: pg_isready cannot parse DATABASE_URL=$shown; using it unchecked" ;;
        *) die "DATABASE_URL=$shown is set but no PostgreSQL answers there (pg_isready exit $rc); start it, or unset DATABASE_URL to use a local/private server" ;;
        esac
    else
        log "warning: pg_isready is not installed; using DATABASE_URL=$shown unchecked"
    fi
    log "using PostgreSQL at $shown (DATABASE_URL from the environment)"
}

# Step 2: a server on the default local port.
try_local_pg() {
    local port=$LOCAL_PG_PORT isready psql user me
    if isready=$(pg_tool pg_isready); then
        # stderr: Debian's pg_isready wrapper complains there when no client package is installed.
        bounded 15 "$isready" -q -h 127.0.0.1 -p "$port" -t 5 2>/dev/null || return 1
    else
        port_open "$port" || return 1
    fi
    if ! psql=$(pg_tool psql); then
        log "something answers on 127.0.0.1:$port but psql is not installed to use it; trying a private PostgreSQL"
        return 1
    fi
    me=$(current_user)
    if psql_run "$psql" "$port" postgres 'select 1' >/dev/null 2>&1; then
        user=postgres
    elif psql_run "$psql" "$port" "$me" 'select 1' >/dev/null 2>&1; then
        user=$me
    else
        log "PostgreSQL on 127.0.0.1:$port does not let 'postgres' or '$me' in without a password; trying a private one (or set DATABASE_URL)"
        return 1
    fi
    ensure_database "$psql" "$port" "$user"
    export DATABASE_URL="postgres://$user@127.0.0.1:$port/$DB_NAME"
    if [[ $(sed -n 4p "$(known_pg_base)/postgres/postmaster.pid" 2>/dev/null) == "$port" ]]; then
        log "using PostgreSQL at $DATABASE_URL (private server from .data/, still running)"
        PRIVATE_USED=1
    else
        log "using PostgreSQL at $DATABASE_URL"
    fi
}

# Step 3: a private server from the installed binaries. Returns 1 only when the binaries
# are missing (so the caller may install them); any other problem is fatal.
try_private_pg() {
    local bindir base pgdata sock pglog port psql running_port=""
    bindir=$(find_pg_bindir) || return 1
    psql=$bindir/psql
    [[ -x $psql ]] || psql=$(pg_tool psql) || return 1
    lock_data_dir
    if is_root; then
        ensure_postgres_user
        # A restrictive umask may have made .data untraversable for the postgres user.
        chmod a+x "$DATA_DIR"
    fi
    base=$(pg_base)
    pgdata=$base/postgres
    sock=$base/pg-socket
    pglog=$base/postgres.log
    mkdir -p "$pgdata" "$sock"
    touch "$pglog"
    chmod 700 "$pgdata"
    if [[ -n $PG_RUN_AS ]]; then
        chown "$PG_RUN_AS": "$pgdata" "$sock" "$pglog"
        # The out-of-repo fallback directory is entirely PostgreSQL's; .data itself stays ours.
        [[ $base == "$DATA_DIR" ]] || chown "$PG_RUN_AS": "$base"
    fi

    # Already running from an earlier invocation? postmaster.pid line 4 is its port.
    if [[ -f $pgdata/postmaster.pid ]] && as_pg "$bindir/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
        running_port=$(sed -n 4p "$pgdata/postmaster.pid")
    fi

    local state="already running"
    if [[ -n $running_port ]]; then
        port=$running_port
    else
        state="started now"
        if [[ ! -f $pgdata/PG_VERSION ]]; then
            log "initialising a private PostgreSQL in $pgdata ($bindir)"
            # trust auth on 127.0.0.1 only, for a throw-away development database; C locale
            # because the environment's locale may not exist in minimal containers.
            as_pg "$bindir/initdb" -D "$pgdata" -A trust -U postgres --encoding=UTF8 --locale=C >>"$pglog" 2>&1 ||
                die "initdb failed; see $pglog"
        fi
        port=$(pick_free_port 5432 55432 {55433..55499}) || die "no free port for PostgreSQL in 5432, 55432-55499"
        # The Unix socket path must fit in sun_path (~107 bytes); with a deep checkout use
        # TCP only (everything here connects over TCP anyway).
        local sockopt="-k '$sock'"
        if ((${#sock} > 90)); then
            sockopt="-k ''"
        fi
        log "starting a private PostgreSQL on 127.0.0.1:$port (log: $pglog)"
        if ! as_pg "$bindir/pg_ctl" -D "$pgdata" -l "$pglog" -s -w -t 60 \
            -o "-p $port $sockopt -c listen_addresses=127.0.0.1" start >&2; then
            tail -n 20 "$pglog" >&2 || true
            die "the private PostgreSQL did not start (see $pglog; 'make clean-data' starts over from scratch)"
        fi
    fi
    bounded 15 "$(pg_tool pg_isready || echo "$bindir/pg_isready")" -q -h 127.0.0.1 -p "$port" -t 10 ||
        die "the private PostgreSQL on 127.0.0.1:$port does not answer; see $pglog"
    ensure_database "$psql" "$port" postgres
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/$DB_NAME"
    log "using PostgreSQL at $DATABASE_URL (private server, $state, data in $pgdata)"
    PRIVATE_USED=1
}

stop_private_pg() {
    local base pgdata bindir pid
    [[ -d $DATA_DIR ]] || return 0
    if is_root; then PG_RUN_AS=postgres; fi
    base=$(known_pg_base)
    pgdata=$base/postgres
    [[ -f $pgdata/postmaster.pid ]] || return 0
    if bindir=$(find_pg_bindir); then
        # A postmaster.pid left by a crash or reboot is not a running server.
        as_pg "$bindir/pg_ctl" -D "$pgdata" status >/dev/null 2>&1 || return 0
        log "stopping the private PostgreSQL ($pgdata)"
        as_pg "$bindir/pg_ctl" -D "$pgdata" -s -m fast -t 30 -w stop >&2 ||
            log "warning: pg_ctl stop failed; see $base/postgres.log"
    else
        # No pg_ctl any more (uninstalled?): SIGINT is PostgreSQL's "fast shutdown".
        pid=$(sed -n 1p "$pgdata/postmaster.pid")
        if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
            log "stopping the private PostgreSQL (pid $pid)"
            kill -INT "$pid" || true
        fi
    fi
}

setup_postgres() {
    if [[ -n ${DATABASE_URL:-} ]]; then
        check_env_database_url
        return 0
    fi
    try_local_pg && return 0
    try_private_pg && return 0
    if install_package postgresql; then
        try_private_pg && return 0
    fi
    die "no PostgreSQL available: $INSTALL_HINT"
}

# ---------------------------------------------------------------------------------------
# NATS
# ---------------------------------------------------------------------------------------

find_nats_server() {
    if command -v nats-server 2>/dev/null; then
        return 0
    fi
    [[ -x /usr/sbin/nats-server ]] || return 1
    printf '%s\n' /usr/sbin/nats-server
}

# PID of our private nats-server if it is alive. Checks the command name, so that a stale
# pid file (after a reboot) never makes us signal an unrelated process.
private_nats_pid() {
    local pid
    [[ -f $NATS_PID_FILE ]] || return 1
    pid=$(tr -dc '0-9' <"$NATS_PID_FILE")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
    [[ $(ps -p "$pid" -o comm= 2>/dev/null) == *nats-server* ]] || return 1
    printf '%s\n' "$pid"
}

# Step 2: a server with JetStream on the default local port.
try_local_nats() {
    local port=$LOCAL_NATS_PORT info
    if ! info=$(nats_info "$port"); then
        port_open "$port" && log "something answers on 127.0.0.1:$port but it is not a NATS server; trying a private one"
        return 1
    fi
    if [[ $info != INFO* ]]; then
        log "something answers on 127.0.0.1:$port but it is not a NATS server; trying a private one"
        return 1
    fi
    if [[ $info != *'"jetstream":true'* ]]; then
        log "the NATS server on 127.0.0.1:$port does not have JetStream enabled; starting a private one on another port"
        return 1
    fi
    export NATS_URL="nats://127.0.0.1:$port"
    if private_nats_pid >/dev/null && [[ $(cat "$NATS_PORT_FILE" 2>/dev/null) == "$port" ]]; then
        log "using NATS at $NATS_URL (private server from .data/, still running)"
        PRIVATE_USED=1
    else
        log "using NATS at $NATS_URL"
    fi
}

# Step 3: a private nats-server. Returns 1 only when the binary is missing.
try_private_nats() {
    local bin port pid i state="already running"
    bin=$(find_nats_server) || return 1
    lock_data_dir
    if ! { pid=$(private_nats_pid) && port=$(cat "$NATS_PORT_FILE" 2>/dev/null) && nats_has_jetstream "$port"; }; then
        state="started now"
        if [[ -n ${pid:-} ]]; then
            # Alive but unusable (wrong port file, no JetStream): replace it.
            kill -TERM "$pid" 2>/dev/null || true
            sleep 1
        fi
        rm -f "$NATS_PID_FILE" "$NATS_PORT_FILE"
        port=$(pick_free_port 4222 14222 {14223..14299}) || die "no free port for NATS in 4222, 14222-14299"
        mkdir -p "$NATS_STORE"
        log "starting a private nats-server on 127.0.0.1:$port (log: $NATS_LOG)"
        # Detach it into its own session (setsid) or at least its own process group (set -m):
        # otherwise a Ctrl-C in the terminal, which hits the whole foreground process group,
        # would kill it along with CMD.
        if command -v setsid >/dev/null 2>&1; then
            setsid "$bin" -js -a 127.0.0.1 -p "$port" -sd "$NATS_STORE" -P "$NATS_PID_FILE" \
                </dev/null >>"$NATS_LOG" 2>&1 9>&- &
        else
            set -m
            nohup "$bin" -js -a 127.0.0.1 -p "$port" -sd "$NATS_STORE" -P "$NATS_PID_FILE" \
                </dev/null >>"$NATS_LOG" 2>&1 9>&- &
            set +m
        fi
        pid=$!
        printf '%s\n' "$port" >"$NATS_PORT_FILE"
        # Bounded wait (~10 s) for it to accept clients with JetStream on.
        for ((i = 0; i < 50; i++)); do
            nats_has_jetstream "$port" && break
            if ! kill -0 "$pid" 2>/dev/null; then
                tail -n 20 "$NATS_LOG" >&2 || true
                die "the private nats-server exited during start-up; see $NATS_LOG"
            fi
            sleep 0.2
        done
        nats_has_jetstream "$port" || {
            tail -n 20 "$NATS_LOG" >&2 || true
            die "the private nats-server did not answer on 127.0.0.1:$port within 10 s; see $NATS_LOG"
        }
    fi
    export NATS_URL="nats://127.0.0.1:$port"
    log "using NATS at $NATS_URL (private server, $state, JetStream data in $NATS_STORE)"
    PRIVATE_USED=1
}

stop_private_nats() {
    local pid i
    pid=$(private_nats_pid) || {
        rm -f "$NATS_PID_FILE" "$NATS_PORT_FILE"
        return 0
    }
    log "stopping the private nats-server (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "nats-server did not stop within 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$NATS_PID_FILE" "$NATS_PORT_FILE"
}

setup_nats() {
    if [[ -n ${NATS_URL:-} ]]; then
        log "using NATS at $NATS_URL (NATS_URL from the environment)"
        return 0
    fi
    try_local_nats && return 0
    try_private_nats && return 0
    if install_package nats-server; then
        try_private_nats && return 0
    fi
    die "no NATS server available: $INSTALL_HINT"
}

# ---------------------------------------------------------------------------------------
# Installing missing servers (Debian/Ubuntu only, and only when we may do so silently)
# ---------------------------------------------------------------------------------------

APT_UPDATED=0
install_package() {
    local pkg=$1
    local -a sudo=()
    command -v apt-get >/dev/null 2>&1 || return 1
    if ! is_root; then
        command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || return 1
        sudo=(sudo -n)
    fi
    log "$pkg is not installed; installing it with apt-get"
    if ((!APT_UPDATED)); then
        bounded 300 ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
            die "apt-get update failed; $INSTALL_HINT"
        APT_UPDATED=1
    fi
    bounded 900 ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >&2 ||
        die "apt-get install $pkg failed; $INSTALL_HINT"
}

# ---------------------------------------------------------------------------------------

main() {
    case ${1:-} in
    "")
        log "usage: $0 CMD [ARGS...] | --stop | --clean"
        exit 2
        ;;
    --stop | --clean)
        stop_private_nats
        stop_private_pg
        if [[ $1 == --clean ]]; then
            if [[ -f $PG_BASE_FILE ]]; then
                rm -rf "$(cat "$PG_BASE_FILE")"
            fi
            if [[ -d $DATA_DIR ]]; then
                rm -rf "$DATA_DIR"
                log "removed $DATA_DIR"
            fi
        fi
        exit 0
        ;;
    esac

    PRIVATE_USED=0
    setup_postgres
    setup_nats
    if ((PRIVATE_USED)); then
        log "private servers are left running for the next run; 'make clean-data' stops them and deletes .data/"
    fi
    if ((LOCKED)); then
        exec 9>&-
    fi
    exec "$@"
}

main "$@"
