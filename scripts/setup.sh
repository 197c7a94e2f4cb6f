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
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)${extras:+-test}"
if [ ! -f "$stamp" ]; then
  log "installing otel-friction${extras} into .venv"
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
