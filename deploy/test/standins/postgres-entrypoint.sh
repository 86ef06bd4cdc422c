#!/bin/bash
# The postgres stand-in's entrypoint (see postgres.Containerfile): on the first start, an
# initdb in PGDATA with POSTGRES_USER and POSTGRES_PASSWORD (password authentication over
# TCP, as the official image), and the database POSTGRES_DB; then the server, as postgres.
set -euo pipefail

if [[ ${1:-} != postgres ]]; then
    exec "$@"
fi
: "${POSTGRES_PASSWORD:?must be set}"
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"

if [[ ! -s $PGDATA/PG_VERSION ]]; then
    password_file=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
    chown postgres "$password_file"
    as_postgres initdb -D "$PGDATA" -U "$user" --pwfile="$password_file" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C >/dev/null
    rm -f "$password_file"
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    # Initialised on the socket only, so nothing connects over TCP before it is ready.
    as_postgres pg_ctl -D "$PGDATA" -s -w -o "-c listen_addresses=''" start
    if [[ $database != postgres ]]; then
        as_postgres psql -X -q -v ON_ERROR_STOP=1 -U "$user" -d postgres \
            -c "create database \"$database\""
    fi
    as_postgres pg_ctl -D "$PGDATA" -s -w -m fast stop
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
