from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from collector_plugin.config import load_settings  # noqa: E402
from collector_plugin.emit.exporter import InMemorySpanExporter  # noqa: E402
from collector_plugin.server import BackgroundService  # noqa: E402

# Every service a test starts, in process or as a subprocess, keeps its anomaly-report store in memory, never in the
# user's state directory; tests that need the SQLite store pass a path explicitly (flags beat the environment).
os.environ["OTEL_FRICTION_REPORT__STORE_PATH"] = "none"

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

LOOPBACK = {"server.otlp_http": "127.0.0.1:0", "server.otlp_grpc": "127.0.0.1:0", "server.metrics": "127.0.0.1:0",
            "export.flush_interval_seconds": 0.1, "report.store_path": None,  # tests never write the user's report store
            # Most tests run the service on a clock of their own, far from their events' timestamps: that is no device
            # clock to correct (tests/test_clock_drift.py tests the correction with the two clocks together).
            "sessions.clock_drift_min_seconds": None}


def make_settings(**overrides):
    """Settings on free loopback ports; ``overrides`` use double underscores: sessions__max_sessions=5."""
    merged = dict(LOOPBACK)
    merged.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_settings(None, merged)


@pytest.fixture
def service_factory():
    started: list[BackgroundService] = []

    def start(**overrides) -> tuple[BackgroundService, InMemorySpanExporter]:
        memory = InMemorySpanExporter()
        bg = BackgroundService(make_settings(**overrides), exporters=[memory]).__enter__()
        started.append(bg)
        return bg, memory

    yield start
    for bg in started:
        bg.stop()


@pytest.fixture
def service(service_factory):
    return service_factory()
