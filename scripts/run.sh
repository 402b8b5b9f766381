#!/usr/bin/env bash
# The run command (make run): builds and starts the dev stack, see devstack/cmd/devstack.
# Environment: MONGO_URI, REDIS_URL, SMTP_ADDR point it at real servers (each optional).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p .data/bin
echo "run.sh: building the dev stack runner (the first build of FerretDB takes a few minutes)" >&2
go build -o .data/bin/devstack ./devstack/cmd/devstack
exec .data/bin/devstack "$@"
