#!/usr/bin/env bash
# make bench-evidence: 200 MiB through evidence-svc and through raw GridFS on
# the same backend (a throwaway embedded FerretDB unless MONGO_URI is set;
# a throwaway redis-server unless REDIS_URL is set). Arguments go to the
# benchmark, e.g.  bash evidence-svc/cmd/bench-evidence/bench.sh -size 50 -rounds 1
# Not part of make test. Figures: README.md, "Performance".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/cg-bench.XXXXXX")"
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT

echo "bench: building evidence-svc and the benchmark" >&2
go build -o "$TMP/bin/" ./evidence-svc ./evidence-svc/cmd/bench-evidence

MONGO="${MONGO_URI:-}"
if [ -z "$MONGO" ]; then
	echo "bench: starting a throwaway FerretDB (SQLite in $TMP)" >&2
	go build -o "$TMP/bin/" ./devstack/cmd/ferretdb-dev
	mkdir -p "$TMP/ferretdb"
	"$TMP/bin/ferretdb-dev" -addr 127.0.0.1:0 -dir "$TMP/ferretdb" >"$TMP/ferretdb.uri" 2>"$TMP/ferretdb.log" &
	PIDS+=("$!")
	for _ in $(seq 300); do
		grep -q '^mongodb://' "$TMP/ferretdb.uri" && break
		sleep 0.2
	done
	MONGO="$(head -n 1 "$TMP/ferretdb.uri")"
	[ -n "$MONGO" ] || { echo "bench: FerretDB did not start" >&2; cat "$TMP/ferretdb.log" >&2; exit 1; }
fi

REDIS="${REDIS_URL:-}"
if [ -z "$REDIS" ]; then
	command -v redis-server >/dev/null || { echo "bench: redis-server is missing (apt-get install redis-server) or set REDIS_URL" >&2; exit 1; }
	go build -o "$TMP/bin/" ./devstack/cmd/freeport
	port="$("$TMP/bin/freeport" -n 1)"
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP" >"$TMP/redis.log" 2>&1 &
	PIDS+=("$!")
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	REDIS="redis://127.0.0.1:$port/0"
fi

"$TMP/bin/bench-evidence" -service "$TMP/bin/evidence-svc" -mongo "$MONGO" -redis "$REDIS" "$@"
