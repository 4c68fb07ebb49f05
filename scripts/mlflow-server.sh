#!/usr/bin/env bash
# A team MLflow tracking server with MLflow's authentication (basic-auth app): runs, the registry and the
# promotion gate over HTTP, every request from a named user (docs/scale-out.md).
#
#   scripts/mlflow-server.sh start DIR PORT BACKEND_URI [ARTIFACTS]
#   scripts/mlflow-server.sh stop DIR
#
# BACKEND_URI   the backend store, e.g. postgresql://synthtrust@127.0.0.1:5432/mlflow (scripts/postgres.sh;
#               libpq reads the password from $PGPASSWORD)
# ARTIFACTS     where the server keeps artifacts, e.g. s3://synthtrust/mlflow (S3 settings from the AWS_*
#               variables and MLFLOW_S3_ENDPOINT_URL), default DIR/artifacts; clients reach them through the
#               server (mlflow-artifacts:/), so they need no storage credentials of their own
# Environment:  MLFLOW_AUTH_ADMIN_PASSWORD (required the first time: the `admin` account's password),
#               MLFLOW_FLASK_SERVER_SECRET_KEY (required: CSRF key, the same on every server replica),
#               MLFLOW_AUTH_DB (the users and permissions, default sqlite:///DIR/basic_auth.db).
# New users read everything and write only what they create or are granted (default_permission READ).
# The server listens on 127.0.0.1 only; put a TLS proxy in front of it before it leaves the machine.
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT BACKEND_URI [ARTIFACTS] | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
command=$1 dir=$2

if [ "$command" = stop ]; then
    [ -s "$dir/server.pid" ] || { echo "mlflow-server.sh: no server running from $dir" >&2; exit 0; }
    kill -- "-$(cat "$dir/server.pid")" 2>/dev/null || true   # the server and its workers: one process group
    rm -f "$dir/server.pid"
    echo "mlflow-server.sh: stopped the server of $dir"
    exit 0
fi
[ "$command" = start ] && [ $# -ge 4 ] || usage
port=$3 backend=$4 artifacts=${5:-$dir/artifacts}
[[ $port =~ ^[0-9]+$ ]] || { echo "mlflow-server.sh: PORT must be a number, got '$port'" >&2; exit 2; }
[ -n "${MLFLOW_FLASK_SERVER_SECRET_KEY:-}" ] || {
    echo "mlflow-server.sh: set MLFLOW_FLASK_SERVER_SECRET_KEY (CSRF key of the auth app)" >&2; exit 2; }
command -v mlflow >/dev/null || { echo "mlflow-server.sh: no mlflow on PATH (make setup; .venv/bin)" >&2; exit 1; }

mkdir -p "$dir"
cat > "$dir/basic_auth.ini" <<INI
[mlflow]
default_permission = READ
database_uri = ${MLFLOW_AUTH_DB:-sqlite:///$dir/basic_auth.db}
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
# a worker checks a user's password (PBKDF2) once a minute instead of on every request: a training logs
# metrics request by request; a changed password or permission reaches every worker within the minute
auth_cache_ttl_seconds = 60
INI
export MLFLOW_AUTH_CONFIG_PATH="$dir/basic_auth.ini"
setsid mlflow server --app-name basic-auth --host 127.0.0.1 --port "$port" --workers 2 \
    --backend-store-uri "$backend" --artifacts-destination "$artifacts" > "$dir/server.log" 2>&1 &
echo $! > "$dir/server.pid"
for _ in $(seq 120); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" \
            2>/dev/null; then
        echo "http://127.0.0.1:$port"
        exit 0
    fi
    kill -0 "$(cat "$dir/server.pid")" 2>/dev/null || break
    sleep 1
done
echo "mlflow-server.sh: the server did not come up; its log: $dir/server.log" >&2
tail -n 20 "$dir/server.log" >&2
kill -- "-$(cat "$dir/server.pid")" 2>/dev/null || true
rm -f "$dir/server.pid"
exit 1
