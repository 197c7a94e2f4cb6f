#!/usr/bin/env bash
# Runs the demo on embedded defaults on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo
exec .venv/bin/otel-friction demo "$@"
