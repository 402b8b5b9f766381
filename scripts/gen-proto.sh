#!/usr/bin/env bash
# Regenerates the Go, grpc-gateway and OpenAPI code from proto/**/*.proto.
# Installs the pinned tools first (scripts/tools.sh), then runs buf generate
# with .tools/bin first on PATH, then go mod tidy in proto/.
set -euo pipefail

ROOT="$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null || (cd "$(dirname "$0")/.." && pwd))"
cd "$ROOT"

bash "$ROOT/scripts/tools.sh"
export PATH="$ROOT/.tools/bin:$PATH"

# Generated files are rewritten in place; remove stale ones first so that a
# renamed or deleted .proto leaves nothing behind.
find proto -type f \( -name '*.pb.go' -o -name '*.pb.gw.go' \) -delete
rm -f proto/openapi/*.swagger.json

buf generate
(cd proto && go mod tidy)
gofmt -l proto | (! grep .) || { echo "gen-proto.sh: gofmt reports the files above" >&2; exit 1; }
