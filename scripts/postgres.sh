#!/usr/bin/env bash
# A local PostgreSQL from Debian's packages (apt-get install postgresql), for development and the tests:
# the database behind shared Optuna studies and an MLflow server (docs/scale-out.md).
#
#   PGPASSWORD=... scripts/postgres.sh start DIR [PORT]   initialise DIR once, serve on 127.0.0.1:PORT (5432)
#   scripts/postgres.sh stop DIR
#
# `start` creates the role `synthtrust` (password: $PGPASSWORD, required) owning the databases `optuna` and
# `mlflow`, and prints their URLs without the password; libpq (psycopg2) reads it from $PGPASSWORD:
#   OPTUNA_STORAGE=postgresql://synthtrust@127.0.0.1:5432/optuna
# The server only listens on loopback and its socket directory is DIR. Run as root, it runs as `postgres`.
# It admits $PG_MAX_CONNECTIONS clients (300; PostgreSQL's default of 100 is what about four search workers
# use at their peak: Optuna's pool and heartbeat, the study lock, MLflow's pool, measured at 47 for two).
set -euo pipefail
MAX_CONNECTIONS=${PG_MAX_CONNECTIONS:-300}
[[ $MAX_CONNECTIONS =~ ^[0-9]+$ ]] || { echo "postgres.sh: PG_MAX_CONNECTIONS must be a number" >&2; exit 2; }

usage() { echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
command=$1 dir=$2 port=${3:-5432}
case $command in start|stop) ;; *) usage ;; esac
[[ $port =~ ^[0-9]+$ ]] || { echo "postgres.sh: PORT must be a number, got '$port'" >&2; exit 2; }

bindir=${PG_BIN:-}
if [ -z "$bindir" ]; then
    if command -v initdb >/dev/null; then bindir=$(dirname "$(readlink -f "$(command -v initdb)")")
    else bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1); fi
fi
[ -x "$bindir/initdb" ] || {
    echo "postgres.sh: no PostgreSQL server binaries (Debian: apt-get install postgresql; or set PG_BIN)" >&2; exit 1; }

as_server() {  # PostgreSQL refuses to run as root
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "$command" = stop ]; then
    [ -s "$dir/postmaster.pid" ] || { echo "postgres.sh: no server running in $dir" >&2; exit 0; }
    as_server "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
    echo "postgres.sh: stopped the server in $dir"
    exit 0
fi

[ -n "${PGPASSWORD:-}" ] || { echo "postgres.sh: set PGPASSWORD, the password of the role synthtrust" >&2; exit 2; }
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres: "$dir" && chmod 700 "$dir"
if [ ! -s "$dir/PG_VERSION" ]; then
    pwfile=$(mktemp)
    trap 'rm -f "$pwfile"' EXIT
    printf '%s\n' "$PGPASSWORD" > "$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres: "$pwfile"
    as_server "$bindir/initdb" -D "$dir" -U synthtrust --pwfile="$pwfile" --auth=scram-sha-256 -E UTF8 \
        --locale=C >/dev/null
fi
if ! as_server "$bindir/pg_ctl" -D "$dir" status >/dev/null; then  # already serving: start is a no-op
    as_server "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=$MAX_CONNECTIONS" start >/dev/null
fi
for db in optuna mlflow; do
    exists=$("$bindir/psql" -h 127.0.0.1 -p "$port" -U synthtrust -d postgres -Atc \
        "SELECT 1 FROM pg_database WHERE datname = '$db'")
    [ "$exists" = 1 ] || "$bindir/createdb" -h 127.0.0.1 -p "$port" -U synthtrust "$db"
    echo "postgresql://synthtrust@127.0.0.1:$port/$db"
done
