#!/usr/bin/env bash
# The test command (make test; .ci/run calls it).
#
#   bash scripts/test.sh        everything: gofmt, go vet, generated code and buf lint,
#                               docker-compose config, unit and integration tests with
#                               -race in every module, then the end-to-end tests
#   bash scripts/test.sh e2e    only the end-to-end tests (make e2e)
#
# On a fresh Debian machine (as root, no stdin) it installs what is missing:
# redis-server and docker-compose (apt-get) and the code-generation tools
# (scripts/tools.sh). It starts a throwaway FerretDB, redis-server and mail sink
# on free ports in a temporary directory, exports CG_TEST_MONGO_URI,
# CG_TEST_REDIS_URL, CG_TEST_SMTP_ADDR and CG_TEST_MAILSINK_URL for the tests,
# and stops them on exit. CI=true is set unless CI is already set, so
# integration tests fail rather than skip when their store is missing.
set -euo pipefail

MODE="${1:-all}"
case "$MODE" in
all | e2e) ;;
*)
	echo "usage: bash scripts/test.sh [e2e]" >&2
	exit 2
	;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
: "${CI:=true}"
export CI
export PATH="$ROOT/.tools/bin:$(go env GOPATH)/bin:$PATH"

log() { printf 'test.sh: %s\n' "$*" >&2; }

PASSED=0
CURRENT=""
TMP=""
PIDS=()

# On exit: stop the throwaway servers, remove the temporary directory, and
# print the summary (the step that failed, if one did).
finish() {
	local rc=$?
	set +e
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	if [ "$rc" -ne 0 ] && [ -n "$TMP" ]; then
		for f in "$TMP"/*.log; do
			[ -s "$f" ] || continue
			printf '\n---- last lines of %s\n' "$(basename "$f")"
			tail -n 30 "$f"
		done
	fi
	[ -n "$TMP" ] && rm -rf "$TMP"
	echo
	if [ "$rc" -eq 0 ]; then
		echo "test.sh: all steps passed"
		echo "summary: $PASSED passed, 0 failed"
	else
		echo "test.sh: FAILED${CURRENT:+ at step: $CURRENT} (exit $rc)"
		echo "summary: $PASSED passed, 1 failed"
	fi
	exit "$rc"
}
trap finish EXIT

# step NAME FUNCTION: run a step with a header; any failing command in it ends the run.
step() {
	local name="$1"
	shift
	CURRENT="$name"
	local start=$SECONDS
	printf '\n==== [%d] %s\n' "$((PASSED + 1))" "$name"
	"$@"
	PASSED=$((PASSED + 1))
	printf '==== ok: %s (%ds)\n' "$name" "$((SECONDS - start))"
	CURRENT=""
}

# ---------------------------------------------------------------- install
install_missing() {
	local pkgs=()
	command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
	if [ "$MODE" = all ] && [ -f docker-compose.yml ]; then
		command -v docker-compose >/dev/null 2>&1 || pkgs+=(docker-compose)
	fi
	if [ "${#pkgs[@]}" -gt 0 ]; then
		local sudo=()
		if [ "$(id -u)" -ne 0 ]; then
			command -v sudo >/dev/null 2>&1 || {
				log "missing ${pkgs[*]} and not root: install them with apt-get"
				return 1
			}
			sudo=(sudo -n)
		fi
		log "installing ${pkgs[*]} with apt-get"
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" </dev/null
	fi
	if [ "$MODE" = all ]; then
		bash scripts/tools.sh </dev/null
	fi
	go version
	redis-server --version
	if [ "$MODE" = all ] && [ -f docker-compose.yml ]; then
		docker-compose version --short
	fi
}

# ---------------------------------------------------------------- throwaway servers
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_until WHAT PID SECONDS COMMAND...: poll COMMAND until it succeeds.
wait_until() {
	local what="$1" pid="$2" secs="$3"
	shift 3
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$what exited while starting"
			return 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "$what not ready after ${secs}s"
			return 1
		fi
		sleep 0.2
	done
}

uri_ready() { grep -q '^mongodb://' "$TMP/ferretdb.uri"; }
redis_ready() {
	if command -v redis-cli >/dev/null 2>&1; then
		[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
	else
		port_open "$1"
	fi
}

start_servers() {
	TMP="$(mktemp -d "${TMPDIR:-/tmp}/cg-test.XXXXXX")"
	mkdir -p "$TMP/bin" "$TMP/ferretdb" "$TMP/redis"
	log "building ferretdb-dev, mailsink and freeport (the first build of FerretDB takes a few minutes)"
	go build -o "$TMP/bin/" ./devstack/cmd/ferretdb-dev ./devstack/cmd/mailsink ./devstack/cmd/freeport

	local ports redis_port smtp_port http_port
	ports="$("$TMP/bin/freeport" -n 3 | tr '\n' ' ')"
	read -r redis_port smtp_port http_port <<<"$ports"

	"$TMP/bin/ferretdb-dev" -addr 127.0.0.1:0 -dir "$TMP/ferretdb" >"$TMP/ferretdb.uri" 2>"$TMP/ferretdb.log" &
	PIDS+=("$!")
	wait_until FerretDB "$!" 60 uri_ready

	redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP/redis" >"$TMP/redis.log" 2>&1 &
	PIDS+=("$!")
	wait_until redis-server "$!" 30 redis_ready "$redis_port"

	"$TMP/bin/mailsink" -smtp "127.0.0.1:$smtp_port" -http "127.0.0.1:$http_port" >"$TMP/mailsink.log" 2>&1 &
	PIDS+=("$!")
	wait_until "mail sink" "$!" 30 port_open "$http_port"

	CG_TEST_MONGO_URI="$(head -n 1 "$TMP/ferretdb.uri")"
	CG_TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
	CG_TEST_SMTP_ADDR="127.0.0.1:$smtp_port"
	CG_TEST_MAILSINK_URL="http://127.0.0.1:$http_port"
	export CG_TEST_MONGO_URI CG_TEST_REDIS_URL CG_TEST_SMTP_ADDR CG_TEST_MAILSINK_URL
	echo "CG_TEST_MONGO_URI=$CG_TEST_MONGO_URI"
	echo "CG_TEST_REDIS_URL=$CG_TEST_REDIS_URL"
	echo "CG_TEST_SMTP_ADDR=$CG_TEST_SMTP_ADDR"
	echo "CG_TEST_MAILSINK_URL=$CG_TEST_MAILSINK_URL"
}

# ---------------------------------------------------------------- checks
MODULES=()
load_modules() { mapfile -t MODULES < <(go list -m -f '{{.Dir}}'); }

# Every .go file outside tool and data directories that is not generated.
hand_written_go() {
	local all
	all="$(find . \( -name .git -o -name .tools -o -name .data -o -name node_modules -o -name vendor \) -prune \
		-o -type f -name '*.go' -print0 |
		xargs -0 -r grep -L -E '^// Code generated .* DO NOT EDIT\.$' || true)"
	printf '%s\n' "$all" | grep -v '^$' | sort || true
}

check_gofmt() {
	local files bad
	files="$(hand_written_go)"
	echo "$(printf '%s\n' "$files" | grep -c . || true) hand-written Go files"
	[ -n "$files" ] || return 0
	bad="$(printf '%s\n' "$files" | xargs -r gofmt -l)"
	if [ -n "$bad" ]; then
		echo "these files need gofmt -w:"
		printf '  %s\n' $bad
		return 1
	fi
}

# module_packages DIR: the packages of the module in DIR (none for an empty module).
module_packages() { (cd "$1" && go list ./... 2>/dev/null) || true; }

go_vet() {
	local d
	for d in "${MODULES[@]}"; do
		if [ -z "$(module_packages "$d")" ]; then
			echo "-- ${d#"$ROOT"/}: no packages"
			continue
		fi
		echo "-- go vet ./... in ${d#"$ROOT"/}"
		(cd "$d" && go vet ./...)
	done
}

check_generated() { bash scripts/check-generated.sh </dev/null; }

compose_config() {
	if [ -f docker-compose.yml ]; then
		# Variables the file requires (${VAR:?message}) get a placeholder when unset.
		local v placeholders=()
		for v in $(grep -oE '\$\{[A-Za-z_][A-Za-z0-9_]*:?\?' docker-compose.yml | sed -E 's/^\$\{([A-Za-z0-9_]+).*/\1/' | sort -u); do
			[ -n "${!v:-}" ] || placeholders+=("$v=placeholder-for-validation-only-0123456789abcdef")
		done
		if [ "${#placeholders[@]}" -gt 0 ]; then
			echo "required variables set to placeholders for the check: ${placeholders[*]%%=*}"
		fi
		env "${placeholders[@]}" docker-compose -f docker-compose.yml config -q
		echo "docker-compose.yml is valid"
	else
		echo "no docker-compose.yml"
	fi
}

go_test() {
	local d pkgs
	for d in "${MODULES[@]}"; do
		mapfile -t pkgs < <(module_packages "$d" | grep -v -E '/devstack/e2e(/|$)' || true)
		if [ "${#pkgs[@]}" -eq 0 ]; then
			echo "-- ${d#"$ROOT"/}: no packages"
			continue
		fi
		echo "-- go test -race -count=1 in ${d#"$ROOT"/}"
		(cd "$d" && go test -race -count=1 "${pkgs[@]}")
	done
}

e2e() {
	(cd devstack && CG_E2E=1 go test -count=1 -v -timeout 20m -run . ./e2e/...)
}

# ---------------------------------------------------------------- run
step "install missing tools" install_missing
step "start throwaway FerretDB, redis-server and mail sink" start_servers
if [ "$MODE" = all ]; then
	load_modules
	step "gofmt" check_gofmt
	step "go vet (every module)" go_vet
	step "generated code and buf lint (scripts/check-generated.sh)" check_generated
	step "docker-compose config" compose_config
	step "unit and integration tests, -race (every module)" go_test
fi
step "end-to-end tests" e2e
