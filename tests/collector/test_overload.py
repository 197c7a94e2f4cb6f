"""Overload through the real collector: otel-friction pushes back (429 + Retry-After), the collector's retry and
sending queue keep the data, and once the load stops every record sent was processed exactly once."""

from __future__ import annotations

import gzip
import time

import requests

from collector_plugin.config import load_settings
from collector_plugin.emit.exporter import InMemorySpanExporter
from collector_plugin.server import BackgroundService
from collector_plugin.simulate import ShopSimulator, to_requests

from .collector_support import collector_env
from support import wait_for  # tests/ is on sys.path (tests/conftest.py)


def _metric(bg, name, **labels) -> float:
    return sum(s.value for m in bg.service.pipeline.registry.collect() for s in m.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_overload_backpressure_loses_nothing(collector_factory):
    # Room for one request at a time, while the collector sends with 4 consumers: most attempts meet a full pipeline.
    settings = load_settings(None, {"server.otlp_http": "127.0.0.1:0", "server.otlp_grpc": None, "server.metrics": "127.0.0.1:0",
                                    "server.max_pending_requests": 1, "server.retry_after_seconds": 1,
                                    "export.flush_interval_seconds": 0.2})
    with BackgroundService(settings, exporters=[InMemorySpanExporter()]) as bg:
        env = collector_env(OTEL_FRICTION_ENDPOINT=bg.url("otlp_http"))
        collector_factory(env=env)
        sessions = list(ShopSimulator(5, start_ns=time.time_ns() - 3600 * 10**9).sessions(1500))
        batches = to_requests(sessions, max_records=500)
        sent = sum(len(s.records) for s in sessions)
        clicks = sum(s.truth.clicks for s in sessions)
        http = requests.Session()
        for req in batches:
            r = http.post(f"http://{env['OTELCOL_OTLP_HTTP_ENDPOINT']}/v1/logs", data=gzip.compress(req.SerializeToString()),
                          headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, timeout=30)
            assert r.status_code == 200, r.text
        wait_for(lambda: _metric(bg, "otel_friction_records_received_total", signal="logs") >= sent, timeout=180, interval=0.5,
                 what=f"all {sent} records through the collector's retries")
        assert _metric(bg, "otel_friction_requests_throttled_total", transport="http") > 0, "the load must have met backpressure"
        assert _metric(bg, "otel_friction_records_received_total", signal="logs") == sent  # once each: a 429 processed nothing
        assert _metric(bg, "otel_friction_records_rejected_total") == 0
        wait_for(lambda: _metric(bg, "rum_clicks_total") == clicks, what="every click counted once")
