#!/usr/bin/env bash
# Idempotent set-up for a fresh machine. Usage: scripts/setup.sh [demo|test]
#   demo: a virtualenv in .venv with otel-friction installed
#   test: also the test extras and the real components the tests start (OpenTelemetry Collector built with ocb)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-demo}
log() { printf '[setup] %s\n' "$*" >&2; }

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating virtualenv .venv"
  "$python" -m venv .venv
fi
extras=""
[ "$what" = test ] && extras="[test]"
# The native part (native/, Rust) is compiled by the install, so its sources are part of the stamp.
if ! command -v cargo >/dev/null 2>&1; then
  log "cargo not found: the native part (native/) needs a Rust toolchain (https://rustup.rs)"
  exit 1
fi
stamp=".venv/.installed-$(cat pyproject.toml native/Cargo.toml native/Cargo.lock native/src/*.rs | sha256sum | cut -c1-16)${extras:+-test}"
if [ ! -f "$stamp" ]; then
  log "installing otel-friction${extras} into .venv (compiles the native part with cargo)"
  .venv/bin/pip install --quiet --disable-pip-version-check -e ".${extras}"
  touch "$stamp"
fi

if [ "$what" = test ]; then
  if command -v go >/dev/null 2>&1; then
    log "building the OpenTelemetry Collector (cached after the first build)"
    scripts/build-collector.sh >/dev/null
  else
    log "go not found: collector tests will be skipped (they fail in CI)"
  fi
  # Real components the tests start (tests/monitoring, tests/e2e): Debian packages, installed only when missing
  # (one apt-get update at most). promtool and amtool come with prometheus and prometheus-alertmanager.
  missing_pkgs=""
  [ -x /usr/bin/chromium ] || missing_pkgs="$missing_pkgs chromium"
  [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || missing_pkgs="$missing_pkgs prometheus"
  [ -x /usr/bin/prometheus-alertmanager ] && [ -x /usr/bin/amtool ] || missing_pkgs="$missing_pkgs prometheus-alertmanager"
  if [ -n "$missing_pkgs" ]; then
    log "installing Debian packages:$missing_pkgs"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq $missing_pkgs >/dev/null
  fi
  if command -v npm >/dev/null 2>&1; then
    log "bundling the e2e shop's SDKs (npm ci in tests/fixtures/sdk when stale, esbuild)"
    .venv/bin/python examples/shop/build.py >/dev/null
  else
    log "npm not found: the e2e suite will be skipped (it fails in CI)"
  fi
fi
