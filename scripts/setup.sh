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
fi
