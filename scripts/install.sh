#!/usr/bin/env bash
# Installs what `make dev` and `make test` need; quick when everything is already there.
#   Debian packages (when root and missing), the Python package with its test extra, and the
#   pinned livekit-server built with `go install` into a per-user cache, linked into .bin/.
set -euo pipefail
cd "$(dirname "$0")/.."
LIVEKIT_SERVER_VERSION="v1.13.5"
CACHE="${PHONE_AGENT_CACHE:-$HOME/.cache/phone-agent}"
PY="${PYTHON:-python3}"
DEBS=(redis-server espeak-ng sox iproute2 postgresql baresip-core sip-tester)

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
mkdir -p .bin
ln -sf "$server_bin" .bin/livekit-server
say "ready: $(.bin/livekit-server --version 2>/dev/null | head -1)"
