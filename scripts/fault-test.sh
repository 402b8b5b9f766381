#!/usr/bin/env bash
# The notification fault test of issue 6 (make fault-test; not part of make test).
#
#   bash scripts/fault-test.sh            1,000 incidents while notify-svc is killed with SIGKILL
#                                         twice, the mail sink is stopped for 30 s and redis-server
#                                         is restarted empty once; then counts the emails and prints
#                                         the throughput
#   bash scripts/fault-test.sh -quiet     the same load without faults (the baseline figure)
#
# Other flags (-n, -workers, -wait, -sink-down, -bin, -v): bash scripts/fault-test.sh -h.
# Everything runs on this machine only (loopback, free ports, a temporary directory); it takes
# about four minutes and stops everything it started on exit, also on failure or Ctrl-C.
# Exit status: 0 pass, 1 fail (missing or duplicate emails), 2 could not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v redis-server >/dev/null 2>&1; then
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || {
			echo "fault-test.sh: redis-server is missing and we are not root: install it with apt-get" >&2
			exit 2
		}
		sudo=(sudo -n)
	fi
	echo "fault-test.sh: installing redis-server with apt-get" >&2
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server </dev/null
fi

mkdir -p .data/bin
echo "fault-test.sh: building the fault test (the first build of FerretDB takes a few minutes)" >&2
go build -o .data/bin/faulttest ./devstack/cmd/faulttest
exec .data/bin/faulttest "$@"
