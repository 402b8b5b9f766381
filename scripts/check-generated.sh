#!/usr/bin/env bash
# Fails when the generated code in proto/ is not what the .proto files and the
# pinned tools produce, and runs buf lint.
#
# Compares against a snapshot of proto/ taken before regenerating, so it works
# in a dirty tree and without commits. On failure the tree is left regenerated
# (inspect it with git status / git diff, or keep it).
set -euo pipefail

ROOT="$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null || (cd "$(dirname "$0")/.." && pwd))"
cd "$ROOT"

snapshot="$(mktemp -d)"
trap 'rm -rf "$snapshot"' EXIT
cp -a proto "$snapshot/proto"

bash "$ROOT/scripts/gen-proto.sh"
export PATH="$ROOT/.tools/bin:$PATH"

status=0
buf lint || { echo "check-generated.sh: buf lint failed" >&2; status=1; }

if ! diff -r -q "$snapshot/proto" proto >/dev/null; then
	echo "check-generated.sh: generated code in proto/ was out of date; regenerated it. Changes:" >&2
	diff -r -u "$snapshot/proto" proto | head -n 200 >&2 || true
	if git rev-parse --git-dir >/dev/null 2>&1; then
		git status --porcelain -- proto >&2 || true
	fi
	echo "check-generated.sh: run scripts/gen-proto.sh and commit the result" >&2
	status=1
fi

if [ "$status" -eq 0 ]; then
	echo "check-generated.sh: generated code is up to date; buf lint clean"
fi
exit "$status"
