"""Fixtures for tests that run the real OpenTelemetry Collector built by scripts/build-collector.sh.

- ``collector_binary`` (session): builds (or finds cached) otelcol-friction and returns its path. Skips only when
  ``go`` is missing (and no cached binary exists) and ``CI`` is not "true"; in CI a missing collector fails loudly.
- ``start_collector(config_path, env, binary=...)`` (from collector_support): starts the binary, polls until its
  receivers accept connections (deadline, no fixed sleeps) and returns the process; ``stop_collector`` ends it.
- ``collector_factory``: ``start_collector`` bound to the built binary; its teardown terminates every collector it
  started.
- ``friction_sink`` / ``tempo_sink``: real OTLP/HTTP and OTLP/gRPC servers standing in for otel-friction and Tempo.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from otlp_sink import OtlpSink

from .collector_support import (
    BUILD_TIMEOUT_S,
    CONFIG,
    CollectorProcess,
    GrpcTraceSink,
    build_collector,
    collector_env,
    start_collector,
    stop_collector,
)

__all__ = ["start_collector", "stop_collector", "collector_env"]


@pytest.fixture(scope="session")
def collector_binary() -> Path:
    in_ci = os.environ.get("CI", "").lower() == "true"
    go_missing = shutil.which("go") is None
    try:
        result = build_collector()
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"scripts/build-collector.sh did not finish within {BUILD_TIMEOUT_S} s:\n{exc.stderr or ''}")
    if result.returncode != 0:
        message = f"scripts/build-collector.sh failed (exit {result.returncode}):\n{result.stderr[-4000:]}"
        if go_missing and not in_ci:
            pytest.skip("'go' is not installed and no cached collector exists: collector tests skipped "
                        "(they fail in CI)")
        pytest.fail(message)
    lines = result.stdout.strip().splitlines()
    binary = Path(lines[-1]) if lines else None
    if binary is None or not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"scripts/build-collector.sh printed no executable path (stdout {result.stdout!r}):\n"
                    f"{result.stderr[-4000:]}")
    return binary


@pytest.fixture
def collector_factory(collector_binary):
    started: list[CollectorProcess] = []

    def start(config_path: str | Path = CONFIG, env: dict[str, str] | None = None, **kwargs) -> CollectorProcess:
        proc = start_collector(config_path, env if env is not None else collector_env(), binary=collector_binary,
                               **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        stop_collector(proc)
        proc.log_path.unlink(missing_ok=True)


@pytest.fixture
def friction_sink():
    sink = OtlpSink()
    yield sink
    sink.close()


@pytest.fixture
def tempo_sink():
    sink = GrpcTraceSink()
    yield sink
    sink.close()
