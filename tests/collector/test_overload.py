"""Overload through the real collector, as the issue puts it: twice the measured maximum. otel-friction pushes back
(429 + Retry-After), the collector's retry and sending queue keep the data, and once the load stops every record
sent was processed exactly once."""

from __future__ import annotations

import gzip
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from collector_plugin.config import load_settings
from collector_plugin.emit.exporter import InMemorySpanExporter
from collector_plugin.server import BackgroundService
from collector_plugin.simulate import ShopSimulator, to_requests

from .collector_support import collector_env
from support import wait_for  # tests/ is on sys.path (tests/conftest.py)

PROTOBUF = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
SENDERS = 4


def _metric(bg, name, **labels) -> float:
    return sum(s.value for m in bg.service.pipeline.registry.collect() for s in m.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def _received(bg) -> float:
    return _metric(bg, "otel_friction_records_received_total", signal="logs")


def test_overload_at_twice_the_measured_maximum_loses_nothing(collector_factory):
    # Default backpressure settings (server.max_pending_requests 16): the overload comes from the load alone.
    settings = load_settings(None, {"server.otlp_http": "127.0.0.1:0", "server.otlp_grpc": None, "server.metrics": "127.0.0.1:0",
                                    "server.retry_after_seconds": 1, "export.flush_interval_seconds": 0.2})
    start_ns = time.time_ns() - 3600 * 10**9
    probe = list(ShopSimulator(4, start_ns=start_ns).sessions(1200))
    load = list(ShopSimulator(5, start_ns=start_ns).sessions(6000))
    probe_bodies = [gzip.compress(r.SerializeToString()) for r in to_requests(probe, max_records=1000)]
    load_batches = [(sum(len(sl.log_records) for rl in r.resource_logs for sl in rl.scope_logs), gzip.compress(r.SerializeToString()))
                    for r in to_requests(load, max_records=2000)]
    probe_records = sum(len(s.records) for s in probe)
    sent = probe_records + sum(n for n, _ in load_batches)
    clicks = sum(s.truth.clicks for s in probe + load)
    http = requests.Session()
    with BackgroundService(settings, exporters=[InMemorySpanExporter()]) as bg:
        env = collector_env(OTEL_FRICTION_ENDPOINT=bg.url("otlp_http"))
        collector_factory(env=env)

        # 1. The maximum, measured: straight to otel-friction, as fast as it takes them (a 429 is sent again at once,
        #    so the pipeline always has a backlog), until it has processed them all.
        t0 = time.monotonic()
        for body in probe_bodies:
            while (r := http.post(bg.url("otlp_http") + "/v1/logs", data=body, headers=PROTOBUF, timeout=30)).status_code == 429:
                time.sleep(0.01)  # an immediate resend: the pipeline must stay busy for the measurement
            assert r.status_code == 200, r.text
        wait_for(lambda: _received(bg) >= probe_records, timeout=60, interval=0.01, what="the probe to be processed")
        maximum = probe_records / (time.monotonic() - t0)

        # 2. Twice that, through the collector: each request sent when the records before it are due at that rate,
        #    from four senders so that one slow answer doesn't hold the rest back (a bounded number of requests: the
        #    load stops by itself).
        due, at = [], 0
        for n, _ in load_batches:
            due.append(at / (2 * maximum))
            at += n
        collector_url = f"http://{env['OTELCOL_OTLP_HTTP_ENDPOINT']}/v1/logs"
        begin = time.monotonic()
        started = [0.0] * len(load_batches)

        def send(i: int) -> int:
            session = requests.Session()
            for k in range(i, len(load_batches), SENDERS):
                wait = begin + due[k] - time.monotonic()
                if wait > 0:
                    time.sleep(wait)  # pacing the load, not waiting for a condition
                started[k] = time.monotonic()
                r = session.post(collector_url, data=load_batches[k][1], headers=PROTOBUF, timeout=30)
                assert r.status_code == 200, r.text
            return i

        with ThreadPoolExecutor(SENDERS) as pool:
            list(pool.map(send, range(SENDERS)))
        # The rate the records were offered at: those sent before the last request started, over that time.
        rate = (at - load_batches[-1][0]) / (max(started) - begin)
        assert rate >= 1.9 * maximum, f"the load generator fell behind: {rate:,.0f} records/s offered, maximum {maximum:,.0f}"

        wait_for(lambda: _received(bg) >= sent, timeout=180, interval=0.5, what=f"all {sent} records through the collector's retries")
        assert _metric(bg, "otel_friction_requests_throttled_total", transport="http") > 0, "the load must have met backpressure"
        assert _received(bg) == sent  # once each: a 429 processed nothing
        assert _metric(bg, "otel_friction_records_rejected_total") == 0
        wait_for(lambda: _metric(bg, "rum_clicks_total") == clicks, what="every click counted once")
