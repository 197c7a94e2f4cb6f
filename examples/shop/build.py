#!/usr/bin/env python3
"""Bundle the Mug Shop's SDK entry files (src/otel.js, src/faro.js) with esbuild into build/.

    python examples/shop/build.py            # build what is stale, print the bundle paths
    python examples/shop/build.py --force    # rebuild

The npm packages are NOT a second npm project: they come from tests/fixtures/sdk (package.json pinned, package-lock.json
locked; the same OTel JS / Faro versions the SDK fixtures were captured with). `npm ci` runs there when node_modules is
missing or older than the lock file; esbuild finds the packages through NODE_PATH. Needs node + npm (registry only).
Every step has a time limit (npm 600 s, esbuild 300 s).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NPM_PROJECT = ROOT / "tests" / "fixtures" / "sdk"
NODE_MODULES = NPM_PROJECT / "node_modules"
FRICTION_JS = ROOT / "collector_plugin" / "browser" / "otel-friction.js"
BUILD = HERE / "build"
VARIANTS = ("otel", "faro")


def ensure_node_modules() -> None:
    marker = NODE_MODULES / ".package-lock.json"
    lock = NPM_PROJECT / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    print(f"[shop build] npm ci in {NPM_PROJECT}", file=sys.stderr)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NPM_PROJECT, check=True, timeout=600)


def ensure_bundle(variant: str, force: bool = False) -> Path:
    out = BUILD / f"{variant}.js"
    src = HERE / "src" / f"{variant}.js"
    inputs = [src, FRICTION_JS, NPM_PROJECT / "package-lock.json"]
    if not force and out.exists() and out.stat().st_mtime >= max(p.stat().st_mtime for p in inputs):
        return out
    ensure_node_modules()
    BUILD.mkdir(exist_ok=True)
    print(f"[shop build] esbuild {src.relative_to(ROOT)} -> {out.relative_to(ROOT)}", file=sys.stderr)
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    subprocess.run([str(NODE_MODULES / ".bin" / "esbuild"), str(src), "--bundle", "--format=iife", "--target=es2020",
                    f"--outfile={out}", "--log-level=warning"], cwd=HERE, env=env, check=True, timeout=300)
    return out


def ensure_bundles(force: bool = False) -> dict[str, Path]:
    return {v: ensure_bundle(v, force) for v in VARIANTS}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--force", action="store_true")
    for path in ensure_bundles(ap.parse_args().force).values():
        print(path)
