"""Malformed input at every endpoint: no crash, no hang, a clear 4xx each time, valid records beside bad ones kept."""

from __future__ import annotations

import gzip
import json
import time

import grpc
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

from support import logs_request, scrape, total, wait_for

FIXTURE = (__import__("pathlib").Path(__file__).parent / "fixtures" / "payloads" / "otel-proto")
OK = {200, 400, 413, 415}
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def json_values(floats):
    return st.recursive(
        st.none() | st.booleans() | st.integers(-2**70, 2**70) | floats | st.text(max_size=40),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(
            ["resourceLogs", "scopeLogs", "logRecords", "attributes", "key", "value", "stringValue", "intValue", "kvlistValue", "values",
             "timeUnixNano", "traceId", "spanId", "eventName", "body", "resource", "scope", "arrayValue"]) | st.text(max_size=8), children, max_size=4),
        max_leaves=25)


def test_fuzz_http_endpoints(service_factory):
    bg, _ = service_factory(server__max_body_bytes=200_000)
    base = bg.url("otlp_http")
    real = sorted(FIXTURE.glob("*.pb"))
    assert real, "the captured protobuf fixtures are the seeds for mutation"
    seeds = [p.read_bytes() for p in real]
    statuses: list[int] = []

    @FUZZ
    @given(data=st.data())
    def run(data):
        path = data.draw(st.sampled_from(["/v1/logs", "/v1/traces", "/v1/metrics"]))
        kind = data.draw(st.sampled_from(["random", "mutated", "json", "gzip-bomb", "truncated-gzip"]))
        ctype, encoding = "application/x-protobuf", None
        if kind == "random":
            body = data.draw(st.binary(max_size=2000))
            ctype = data.draw(st.sampled_from(["application/x-protobuf", "application/json"]))
        elif kind == "mutated":
            body = bytearray(data.draw(st.sampled_from(seeds)))
            for _ in range(data.draw(st.integers(1, 8))):
                body[data.draw(st.integers(0, len(body) - 1))] ^= data.draw(st.integers(1, 255))
            body = bytes(body)
        elif kind == "json":
            body, ctype = json.dumps(data.draw(json_values(st.floats()))).encode(), "application/json"
        elif kind == "gzip-bomb":
            body, encoding = gzip.compress(b"\0" * data.draw(st.integers(300_000, 3_000_000))), "gzip"
        else:
            body, encoding = gzip.compress(data.draw(st.binary(min_size=10, max_size=500)))[:-5], "gzip"
        headers = {"Content-Type": ctype, **({"Content-Encoding": encoding} if encoding else {})}
        r = requests.post(base + path, data=body, headers=headers, timeout=30)
        statuses.append(r.status_code)
        assert r.status_code in OK, (kind, r.status_code, r.text[:300])
        if r.status_code != 200:
            assert r.content, "an error answer says what was wrong"

    run()
    assert 400 in statuses and 413 in statuses
    assert requests.get(bg.url("metrics") + "/healthz", timeout=5).status_code == 200
    wait_for(lambda: bg.pending() == 0, what="no request left pending")
    # Still fully working afterwards.
    t = time.time_ns()
    ok = requests.post(base + "/v1/logs", data=logs_request([("browser.user_action.click", t, {"session.id": "after-fuzz", "url.full": "https://s/"})]).SerializeToString(),
                       headers={"Content-Type": "application/x-protobuf"})
    assert ok.status_code == 200


def test_fuzz_json_records_beside_a_valid_one(service_factory):
    bg, _ = service_factory()
    url = bg.url("otlp_http") + "/v1/logs"
    sent = 0

    @FUZZ
    # JSON's numbers: json.dumps writes NaN and Infinity too, which are not JSON, and a body with them is refused whole
    @given(bad=json_values(st.floats(allow_nan=False, allow_infinity=False)))
    def run(bad):
        nonlocal sent
        good = {"timeUnixNano": str(time.time_ns()), "eventName": "browser.user_action.click",
                "attributes": [{"key": "session.id", "value": {"stringValue": "fuzz-json"}},
                               {"key": "url.full", "value": {"stringValue": "https://s.example/p"}}]}
        body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [bad, good, bad]}]}]}
        r = requests.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"}, timeout=30)
        assert r.status_code == 200, r.text[:300]
        sent += 1

    run()
    # Every valid click next to the garbage was kept (a garbage record that happens to be a valid click may add more).
    wait_for(lambda: total(scrape(bg.url("metrics") + "/metrics"), "rum_clicks_total") >= sent, what="all valid clicks")


def test_fuzz_grpc(service_factory):
    bg, _ = service_factory()
    channel = grpc.insecure_channel(bg.service.addresses["otlp_grpc"])
    calls = [channel.unary_unary(f"/opentelemetry.proto.collector.{s}/Export")
             for s in ("logs.v1.LogsService", "trace.v1.TraceService", "metrics.v1.MetricsService")]

    @FUZZ
    @given(call=st.sampled_from(calls), body=st.binary(max_size=3000))
    def run(call, body):
        try:
            call(body, timeout=10)
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err

    run()
    # An aborted call's status can reach the client before the handler's bookkeeping has run: poll, don't race.
    wait_for(lambda: bg.pending() == 0, what="no request left pending")
