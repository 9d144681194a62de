#!/usr/bin/env bash
# Installs what `make dev` and `make test` need; quick when everything is already there.
#   Debian packages (when root and missing; prometheus brings promtool), the Python package
#   with its test extra, the browser page's livekit-client from npm (agent/web/package-lock.json),
#   and the pinned livekit-server, livekit-sip and SeaweedFS (weed) built with Go into a
#   per-user cache, linked into .bin/.
set -euo pipefail
cd "$(dirname "$0")/.."
LIVEKIT_SERVER_VERSION="v1.13.5"
# The SIP bridge. v1.8.0 is the newest release the Go module proxy serves to these machines
# (v1.9+ and v1.11.0 answer 403 "not available"); it speaks the same protocol as the server.
LIVEKIT_SIP_VERSION="v1.8.0"
# SeaweedFS, the S3-compatible server the recording-store tests run against. It tags no Go
# module releases, so it is pinned to a pseudo-version the Go module proxy serves.
SEAWEEDFS_VERSION="v0.0.0-20261109003541-7506e5f91cd6"
CACHE="${PHONE_AGENT_CACHE:-$HOME/.cache/phone-agent}"
PY="${PYTHON:-python3}"
DEBS=(redis-server espeak-ng sox iproute2 postgresql baresip-core sip-tester
      pkg-config libopus-dev libopusfile-dev libsoxr-dev chromium prometheus)
# npm installs the page's livekit-client; Debian's nodejs/npm only when no node is there.
command -v npm >/dev/null || DEBS+=(nodejs npm)

say() { printf '\033[1m[install]\033[0m %s\n' "$*"; }

missing=()
for pkg in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    say "apt-get install ${missing[*]}  (log: .state/apt.log)"
    mkdir -p .state
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; } \
      >.state/apt.log 2>&1 || { echo "apt-get failed; see .state/apt.log" >&2; exit 1; }
  else
    echo "missing Debian packages: ${missing[*]} (install them, e.g. sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

stamp=".state/pip-$(sha1sum pyproject.toml | cut -c1-12)"
if [[ ! -f "$stamp" ]]; then
  say "pip install -e .[test]  (log: .state/pip.log)"
  mkdir -p .state
  "$PY" -m pip install --disable-pip-version-check -e '.[test]' >.state/pip.log 2>&1 \
    || { echo "pip install failed; see .state/pip.log" >&2; exit 1; }
  touch "$stamp"
fi

# The browser page's one dependency, exactly as locked; served from its dist/ bundle.
web_stamp="agent/web/node_modules/.installed-$(sha1sum agent/web/package-lock.json | cut -c1-12)"
if [[ ! -f "$web_stamp" ]]; then
  say "npm ci in agent/web (livekit-client for the browser page; log: .state/npm.log)"
  mkdir -p .state
  (cd agent/web && npm ci --no-audit --no-fund --ignore-scripts) >.state/npm.log 2>&1 \
    || { echo "npm ci failed; see .state/npm.log" >&2; exit 1; }
  touch "$web_stamp"
fi

server_bin="$CACHE/livekit-server-$LIVEKIT_SERVER_VERSION"
if [[ ! -x "$server_bin" ]]; then
  command -v go >/dev/null || { echo "Go 1.26+ is needed to build livekit-server" >&2; exit 1; }
  say "go install livekit-server@$LIVEKIT_SERVER_VERSION (first time only, a few minutes; log: .state/go.log)"
  mkdir -p "$CACHE/gobin" .state
  GOBIN="$CACHE/gobin" GOFLAGS=-mod=mod go install \
    "github.com/livekit/livekit-server/cmd/server@$LIVEKIT_SERVER_VERSION" >.state/go.log 2>&1 \
    || { echo "building livekit-server failed; see .state/go.log" >&2; exit 1; }
  mv "$CACHE/gobin/server" "$server_bin"
fi
# Builds PACKAGE of MODULE@VERSION through a throwaway module that requires it: `go install
# pkg@version` also asks the proxy for the module's version list, which it refuses for some
# modules (livekit-sip), and a dependency's `replace` lines only count when the main module
# repeats them (seaweedfs has one). Extra arguments go to `go build`.
go_build_pinned() {  # BIN MODULE VERSION PACKAGE LOG CGO_ENABLED GO_MOD_EXTRA [BUILD FLAGS...]
  local bin=$1 module=$2 version=$3 pkg=$4 log=$5 cgo=$6 extra=$7 work
  shift 7
  work="$(mktemp -d)"
  printf 'module phoneagent/build\n\ngo 1.26\n\nrequire %s %s\n%s' "$module" "$version" "$extra" \
    >"$work/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >"$work/tools.go"
  (cd "$work" && CGO_ENABLED=$cgo GOFLAGS=-mod=mod go build "$@" -o "$bin.tmp" "$pkg") \
    >"$log" 2>&1 || { echo "building $pkg failed; see $log" >&2; rm -rf "$work"; exit 1; }
  rm -rf "$work"
  mv "$bin.tmp" "$bin"
}
sip_bin="$CACHE/livekit-sip-$LIVEKIT_SIP_VERSION"
if [[ ! -x "$sip_bin" ]]; then
  say "building livekit-sip@$LIVEKIT_SIP_VERSION (cgo; first time only, a few minutes; log: .state/go-sip.log)"
  go_build_pinned "$sip_bin" github.com/livekit/sip "$LIVEKIT_SIP_VERSION" \
    github.com/livekit/sip/cmd/livekit-sip .state/go-sip.log 1 ""
fi
weed_bin="$CACHE/weed-$SEAWEEDFS_VERSION"
if [[ ! -x "$weed_bin" ]]; then
  say "building SeaweedFS weed@$SEAWEEDFS_VERSION (first time only, a few minutes; log: .state/go-weed.log)"
  go_build_pinned "$weed_bin" github.com/seaweedfs/seaweedfs "$SEAWEEDFS_VERSION" \
    github.com/seaweedfs/seaweedfs/weed .state/go-weed.log 0 \
    $'\nreplace github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0\n' \
    -trimpath -ldflags="-s -w"
fi
mkdir -p .bin
ln -sf "$server_bin" .bin/livekit-server
ln -sf "$sip_bin" .bin/livekit-sip
ln -sf "$weed_bin" .bin/weed
say "ready: $(.bin/livekit-server --version 2>/dev/null | head -1)"
