#!/usr/bin/env bash
# Builds the OpenTelemetry Collector described by examples/collector/builder-config.yaml with the
# OpenTelemetry Collector Builder (ocb) and caches it outside the git tree. Idempotent: a second run with an
# unchanged builder-config.yaml prints the cached binary's path without touching Go.
#
#   scripts/build-collector.sh            -> last stdout line: absolute path of the otelcol-friction binary
#   OTEL_FRICTION_REBUILD=1 scripts/...   -> rebuild even if the cached binary exists
#
# Cache layout (${OTEL_FRICTION_CACHE:-$HOME/.cache/otel-friction}):
#   tools/builder-<version>/builder       ocb, installed with `go install` (GOBIN)
#   go/mod, go/build                      GOMODCACHE / GOCACHE used for ocb and the collector build
#   collector/<key>/otelcol-friction      the binary; <key> = sha256(builder version + builder-config.yaml)[:16]
#   collector/<key>/builder-config.yaml   the manifest it was built from; build.log = ocb's output
# Progress goes to stderr; only the binary path goes to stdout.
# The first build takes ~4-5 minutes (2 cores, empty caches).
set -euo pipefail

BUILDER_VERSION=v0.159.0
MIN_GO_MINOR=25  # ocb v0.159.0 and the collector modules need Go >= 1.25

root=$(cd "$(dirname "$0")/.." && pwd)
manifest="$root/examples/collector/builder-config.yaml"
cache=${OTEL_FRICTION_CACHE:-$HOME/.cache/otel-friction}
bin_name=otelcol-friction

log() { printf '[build-collector] %s\n' "$*" >&2; }
die() { printf '[build-collector] ERROR: %s\n' "$*" >&2; exit 1; }

[ -f "$manifest" ] || die "builder manifest not found: $manifest"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (coreutils)"

key=$( { printf 'builder %s\n' "$BUILDER_VERSION"; cat "$manifest"; } | sha256sum | cut -c1-16)
out_dir="$cache/collector/$key"
binary="$out_dir/$bin_name"

if [ -x "$binary" ] && [ "${OTEL_FRICTION_REBUILD:-0}" != 1 ]; then
  log "cached: $binary"
  printf '%s\n' "$binary"
  exit 0
fi

# --- Everything below needs Go. ---
command -v go >/dev/null 2>&1 || die "'go' not found on PATH: install Go >= 1.$MIN_GO_MINOR to build the collector"
go_version=$(go env GOVERSION) || die "'go env GOVERSION' failed"
go_minor=$(printf '%s' "$go_version" | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
if [ -z "$go_minor" ] || [ "$go_minor" -lt "$MIN_GO_MINOR" ]; then
  die "Go >= 1.$MIN_GO_MINOR required, found '$go_version'"
fi

mkdir -p "$cache/collector" "$cache/go/mod" "$cache/go/build" || die "cannot create cache directory $cache"
export GOMODCACHE="$cache/go/mod"
export GOCACHE="$cache/go/build"
# Module cache files are read-only by default; -modcacherw lets `rm -rf` of the cache work.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw"

# One build at a time per cache (parallel pytest sessions, CI jobs sharing a cache).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/collector/.lock"
  if ! flock -n 9; then
    log "another build is running; waiting for the lock $cache/collector/.lock"
    flock 9
  fi
  if [ -x "$binary" ] && [ "${OTEL_FRICTION_REBUILD:-0}" != 1 ]; then
    log "built by another process: $binary"
    printf '%s\n' "$binary"
    exit 0
  fi
fi

builder_dir="$cache/tools/builder-$BUILDER_VERSION"
builder="$builder_dir/builder"
if [ ! -x "$builder" ]; then
  log "installing ocb: go install go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION -> $builder_dir"
  mkdir -p "$builder_dir"
  GOBIN="$builder_dir" go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION" >&2 \
    || die "go install of the collector builder failed (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))"
  [ -x "$builder" ] || die "go install succeeded but $builder is missing"
fi

staging=$(mktemp -d "$cache/collector/.staging-$key-XXXXXX")
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/build"  # manifest's output_path is ./build/otelcol-friction; ocb does not mkdir -p
cp "$manifest" "$staging/builder-config.yaml"

log "building $bin_name with ocb $BUILDER_VERSION, $go_version (key $key; ~4-5 min from empty caches)"
start=$(date +%s)
# ocb's log is streamed to stderr and kept in build.log; TMPDIR keeps its stray temp dir inside the staging area.
if ! (cd "$staging" && TMPDIR="$staging" "$builder" --config "$staging/builder-config.yaml") 2>&1 \
      | tee "$staging/build.log" >&2; then
  die "ocb build failed (log above); manifest: $manifest"
fi
built="$staging/build/otelcol-friction/$bin_name"
[ -x "$built" ] || { tail -n 40 "$staging/build.log" >&2; die "ocb reported success but $built is missing"; }
"$built" --version >&2 || die "the built collector does not run: $built --version failed"

# Publish atomically: a partially written binary is never visible at $binary.
final_tmp="$cache/collector/.publish-$key-$$"
rm -rf "$final_tmp"
mkdir -p "$final_tmp"
mv "$built" "$final_tmp/$bin_name"
cp "$staging/builder-config.yaml" "$staging/build.log" "$final_tmp/"
rm -rf "$out_dir"
mv "$final_tmp" "$out_dir"
log "built in $(( $(date +%s) - start )) s: $binary"
printf '%s\n' "$binary"
