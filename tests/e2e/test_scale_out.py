"""Scale-out: the same five journeys through the collector's `load_balancing` exporter
(examples/collector/config-loadbalancing.yaml, routing_key: attributes, routing_attributes: [session.id]) to TWO
otel-friction replicas over OTLP/gRPC give the same totals as one replica, and no session is split across replicas.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from collector.collector_support import GrpcTraceSink, collector_env, start_collector, stop_collector

from . import expect
from .conftest import _shop_server
from .journeys import run_all
from .spans import by_session
from .stack import INACTIVITY_S, LB_CONFIG, start_friction, wait_until

pytestmark = [pytest.mark.collector, pytest.mark.browser]
SERVICE = "mug-shop"


@pytest.fixture(scope="module")
def lb_stack(collector_bin, shop_bundles):
    replicas, cleanup = [], []
    try:
        for _ in range(2):
            bg, memory = start_friction(**{"export.otlp_endpoint": None})
            cleanup.append(bg.stop)
            replicas.append((bg, memory))
        tempo = GrpcTraceSink()
        cleanup.append(tempo.close)
        backends = json.dumps([bg.service.addresses["otlp_grpc"] for bg, _ in replicas])
        env = collector_env(TEMPO_ENDPOINT=tempo.endpoint, OTEL_FRICTION_BACKENDS=backends,
                            OTELCOL_CORS_ALLOWED_ORIGINS='["http://127.0.0.1:*"]')
        col = start_collector(LB_CONFIG, {**env, "OTEL_FRICTION_BACKENDS": backends}, binary=collector_bin)
        cleanup.append(lambda: stop_collector(col))
        otlp = f"http://{env['OTELCOL_OTLP_HTTP_ENDPOINT']}"
        shop = _shop_server()("127.0.0.1", 0, otlp=otlp, sdk="otel").start()
        cleanup.append(shop.close)
        yield {"replicas": replicas, "shop": shop, "otlp": otlp, "collector": col}
    finally:
        for fn in reversed(cleanup):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001
                print(f"lb teardown: {exc!r}")


def _metrics(bg) -> str:
    return requests.get(bg.url("metrics") + "/metrics", timeout=5).text


def test_two_replicas_same_totals_and_no_split_session(lb_stack, browser, stack, journeys):
    truths = run_all(browser, lb_stack["shop"].url)
    want = expect.expected(truths)
    assert want == expect.expected(journeys)  # the same script as the single-replica run
    replicas = lb_stack["replicas"]

    def totals_match():
        got = expect.from_metrics_text([_metrics(bg) for bg, _ in replicas], SERVICE)
        d = expect.diff(want, got)
        return True if not d else (_ for _ in ()).throw(AssertionError(d))

    wait_until("the replicas' summed metrics equal the script (and the single-replica run)", totals_match,
               30 + INACTIVITY_S, 0.5)
    # the single-replica stack's Prometheus holds the same totals for the first run of the journeys
    assert expect.from_prometheus(stack.prometheus, SERVICE) == expect.from_metrics_text(
        [_metrics(bg) for bg, _ in replicas], SERVICE)

    ids = {t.session_id for t in truths}
    wait_until("root spans of every session on the replicas", lambda: ids <= {
        sid for _, mem in replicas for sid, spans in by_session([s for _, s in mem.spans()]).items()
        if any(s.name == "session" for s in spans)}, 30, 0.5)
    owner: dict[str, int] = {}
    for i, (bg, mem) in enumerate(replicas):
        sessions = by_session([s for _, s in mem.spans()])
        for sid in sessions:
            assert sid not in owner, f"session {sid} split across replicas {owner[sid]} and {i}"
            owner[sid] = i
        started = sum(v for k, v in expect.from_metrics_text([_metrics(bg)], SERVICE)["sessions"].items())
        assert started == len(set(sessions) & ids), f"replica {i}: sessions_started {started} vs its sessions"
    assert set(owner) == ids
    print(f"sessions per replica: {[list(owner.values()).count(i) for i in range(len(replicas))]}")


def test_records_without_session_id_go_to_one_replica_and_are_counted_dropped(lb_stack):
    now = time.time_ns()
    for i in range(3):
        body = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": SERVICE}}]},
                                  "scopeLogs": [{"logRecords": [{"timeUnixNano": str(now + i), "eventName": "browser.page_view",
                                                                 "attributes": [{"key": "url.full", "value": {"stringValue": "http://shop.test/shop/"}}]}]}]}]}
        r = requests.post(lb_stack["otlp"] + "/v1/logs", json=body, timeout=5)
        assert r.status_code == 200, r.text

    def dropped():
        out = []
        for bg, _ in lb_stack["replicas"]:
            n = 0.0
            for line in _metrics(bg).splitlines():
                if line.startswith("otel_friction_records_dropped_total{") and 'reason="missing_session_id"' in line:
                    n += float(line.rsplit(" ", 1)[1])
            out.append(n)
        return out if sum(out) == 3 else None

    counts = wait_until("3 records without session.id counted as dropped", dropped, 30, 0.3)
    assert sorted(counts) == [0.0, 3.0], f"records without session.id spread over replicas: {counts}"
