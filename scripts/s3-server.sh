#!/usr/bin/env bash
# An S3-speaking server on loopback for development and the tests: moto's server (pip: moto[server], in the
# dev extras), in memory, so its buckets last as long as the process. A team points the same settings at its
# real S3 (or MinIO, Ceph...) instead (docs/scale-out.md).
#
#   scripts/s3-server.sh start DIR PORT [BUCKET...]   serve on 127.0.0.1:PORT, create the buckets
#   scripts/s3-server.sh stop DIR
#
# Clients: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (moto accepts any), and the endpoint
#   dvc remote modify <remote> endpointurl http://127.0.0.1:PORT      (DVC)
#   MLFLOW_S3_ENDPOINT_URL=http://127.0.0.1:PORT                       (an MLflow server's artifact store)
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT [BUCKET...] | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
command=$1 dir=$2

if [ "$command" = stop ]; then
    [ -s "$dir/s3.pid" ] || { echo "s3-server.sh: no server running from $dir" >&2; exit 0; }
    kill "$(cat "$dir/s3.pid")" 2>/dev/null || true
    rm -f "$dir/s3.pid"
    echo "s3-server.sh: stopped the server of $dir"
    exit 0
fi
[ "$command" = start ] && [ $# -ge 3 ] || usage
port=$3
shift 3
[[ $port =~ ^[0-9]+$ ]] || { echo "s3-server.sh: PORT must be a number, got '$port'" >&2; exit 2; }
command -v moto_server >/dev/null || {
    echo "s3-server.sh: no moto_server on PATH (pip install 'moto[server]'; make setup installs it)" >&2; exit 1; }
mkdir -p "$dir"
moto_server -H 127.0.0.1 -p "$port" > "$dir/s3.log" 2>&1 &
echo $! > "$dir/s3.pid"
endpoint="http://127.0.0.1:$port"
for _ in $(seq 60); do
    python3 -c "import urllib.request; urllib.request.urlopen('$endpoint/moto-api/', timeout=2)" 2>/dev/null && break
    kill -0 "$(cat "$dir/s3.pid")" 2>/dev/null || { echo "s3-server.sh: moto_server exited:" >&2;
        tail -n 20 "$dir/s3.log" >&2; exit 1; }
    sleep 0.5
done
for bucket in "$@"; do  # the PUT that creates a bucket (moto accepts unsigned requests)
    python3 -c "import urllib.request as u; u.urlopen(u.Request('$endpoint/$bucket', method='PUT'), timeout=10)"
done
echo "$endpoint"
