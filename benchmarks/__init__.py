"""Benchmarks for otel-friction (``python -m benchmarks.run``); see BENCHMARKS.md."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile


def scratch_report_store(env: dict | None = None) -> dict:
    """Point the report store at a fresh file in a temporary directory (removed at exit) unless one is set: a
    benchmark must not write into the user's report store, and a store grown by earlier runs makes its writes slower
    from run to run. Sets it in ``env`` (default ``os.environ``) and returns that mapping."""
    env = os.environ if env is None else env
    if "OTEL_FRICTION_REPORT__STORE_PATH" not in env:
        scratch = tempfile.mkdtemp(prefix="otel-friction-bench-store-")
        atexit.register(shutil.rmtree, scratch, True)
        env["OTEL_FRICTION_REPORT__STORE_PATH"] = os.path.join(scratch, "report.sqlite")
    return env
