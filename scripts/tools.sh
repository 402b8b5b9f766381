#!/usr/bin/env bash
# Installs the code-generation and debugging tools into .tools/ at the repo root.
#
# Idempotent: a tool is (re)installed only when it is missing or built from a
# different version than the one pinned here. Nothing installed here is
# committed (.tools/ is git-ignored).
#
#   .tools/bin/        buf, protoc-gen-go, protoc-gen-go-grpc,
#                      protoc-gen-grpc-gateway, protoc-gen-openapiv2, grpcurl
#   .tools/googleapis/ google/api/{annotations,http,field_behavior}.proto,
#                      taken from the Debian package libgoogle-common-protos-java
#
# Works non-interactively (CI=true, no stdin) as root on Debian.
set -Eeuo pipefail

ROOT="$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null || (cd "$(dirname "$0")/.." && pwd))"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
GOOGLEAPIS="$TOOLS/googleapis"
mkdir -p "$BIN"

BUF_VERSION=v1.75.0
GRPC_GATEWAY_VERSION=v2.33.0
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
GRPCURL_VERSION=v1.9.4
# protoc-gen-go must match the google.golang.org/protobuf runtime the proto
# module builds against: read it from proto/go.mod, fall back to the pin.
PROTOC_GEN_GO_VERSION=v1.36.12
if [ -f "$ROOT/proto/go.mod" ]; then
	v="$(awk '$1 == "google.golang.org/protobuf" { print $2; exit }' "$ROOT/proto/go.mod")"
	if [ -n "$v" ]; then PROTOC_GEN_GO_VERSION="$v"; fi
fi

export GOBIN="$BIN"

log() { printf 'tools.sh: %s\n' "$*" >&2; }
trap 'log "failed (line $LINENO)"' ERR

# installed_version BINARY MODULE: the version of MODULE the binary was built from, or "".
installed_version() {
	local bin="$BIN/$1"
	[ -x "$bin" ] || return 0
	{ go version -m "$bin" 2>/dev/null || true; } | awk -v m="$2" '($1 == "mod" || $1 == "dep") && $2 == m { print $3; exit }'
}

# ensure BINARY MODULE PACKAGE VERSION
ensure() {
	local name="$1" module="$2" pkg="$3" version="$4" have
	have="$(installed_version "$name" "$module")"
	if [ "$have" = "$version" ]; then
		return 0
	fi
	log "installing $name $version${have:+ (found $have)}"
	go install "$pkg@$version"
}

ensure buf github.com/bufbuild/buf github.com/bufbuild/buf/cmd/buf "$BUF_VERSION"
ensure protoc-gen-go google.golang.org/protobuf google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
ensure protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
ensure protoc-gen-grpc-gateway github.com/grpc-ecosystem/grpc-gateway/v2 github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway "$GRPC_GATEWAY_VERSION"
ensure protoc-gen-openapiv2 github.com/grpc-ecosystem/grpc-gateway/v2 github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2 "$GRPC_GATEWAY_VERSION"
ensure grpcurl github.com/fullstorydev/grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"

# --- google/api protos -------------------------------------------------------
GOOGLE_API_FILES="google/api/annotations.proto google/api/http.proto google/api/field_behavior.proto"

have_googleapis() {
	local f
	for f in $GOOGLE_API_FILES; do
		[ -s "$GOOGLEAPIS/$f" ] || return 1
	done
}

# extract_jar JAR DEST FILES...: unzip selected members, without requiring unzip.
extract_jar() {
	local jar="$1" dest="$2"
	shift 2
	if command -v unzip >/dev/null 2>&1; then
		unzip -q -o "$jar" "$@" -d "$dest"
	elif command -v python3 >/dev/null 2>&1; then
		python3 - "$jar" "$dest" "$@" <<-'EOF'
			import sys, zipfile
			jar, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
			with zipfile.ZipFile(jar) as z:
			    for n in names:
			        z.extract(n, dest)
		EOF
	elif command -v bsdtar >/dev/null 2>&1; then
		bsdtar -xf "$jar" -C "$dest" "$@"
	else
		log "installing unzip"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q unzip </dev/null >/dev/null
		unzip -q -o "$jar" "$@" -d "$dest"
	fi
}

if ! have_googleapis; then
	PKG=libgoogle-common-protos-java
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	deb="$(ls /tmp/${PKG}_*_all.deb 2>/dev/null | sort -V | tail -n 1 || true)"
	if [ -n "$deb" ] && dpkg-deb --info "$deb" >/dev/null 2>&1; then
		log "using $deb"
		cp "$deb" "$tmp/"
	else
		log "downloading $PKG"
		if ! (cd "$tmp" && apt-get download -q "$PKG" </dev/null >/dev/null 2>&1); then
			log "apt-get download failed; running apt-get update"
			DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >/dev/null
			(cd "$tmp" && apt-get download -q "$PKG" </dev/null >/dev/null)
		fi
	fi
	deb="$(ls "$tmp"/${PKG}_*.deb | head -n 1)"
	dpkg -x "$deb" "$tmp/root"
	jar="$(find "$tmp/root" -name 'proto-google-common-protos*.jar' ! -type l | head -n 1)"
	[ -n "$jar" ] || jar="$(find "$tmp/root" -name 'proto-google-common-protos*.jar' | head -n 1)"
	if [ -z "$jar" ]; then
		log "no proto-google-common-protos jar in $PKG"
		exit 1
	fi
	rm -rf "$GOOGLEAPIS.tmp"
	mkdir -p "$GOOGLEAPIS.tmp"
	# shellcheck disable=SC2086
	extract_jar "$jar" "$GOOGLEAPIS.tmp" $GOOGLE_API_FILES
	rm -rf "$GOOGLEAPIS"
	mv "$GOOGLEAPIS.tmp" "$GOOGLEAPIS"
	log "google/api protos in $GOOGLEAPIS"
fi
