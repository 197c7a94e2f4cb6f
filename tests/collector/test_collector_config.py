"""examples/collector/config.yaml run by the real collector (otelcol-friction, built with ocb v0.159.0).

Stand-ins are real servers on loopback: an OTLP/HTTP server for otel-friction, an OTLP/gRPC server for Tempo.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid

import pytest
import requests
import yaml
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from .collector_support import CONFIG, CONFIG_ENV, ROOT, port_open, collector_env, free_ports, stop_collector

WAIT_S = 20.0  # upper bound for data to cross the collector (batch timeout is 1 s)
BROWSER_ORIGIN = "http://localhost:5173"


def _attrs(kvs) -> dict:
    return {kv.key: kv.value.string_value for kv in kvs}


def _send_browser_log(http_endpoint: str, session_id: str) -> list:
    """One log record sent like a browser SDK would, through the Python OTLP/HTTP exporter. Returns export results."""
    results = []

    class Recording(OTLPLogExporter):
        def export(self, batch):
            result = super().export(batch)
            results.append(result)
            return result

    exporter = Recording(endpoint=f"http://{http_endpoint}/v1/logs", headers={"Origin": BROWSER_ORIGIN}, timeout=10)
    provider = LoggerProvider(resource=Resource.create({"service.name": "shop-frontend"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("collector-test").emit(
        timestamp=time.time_ns(), event_name="browser.page_view", body="page view",
        attributes={"session.id": session_id, "url.full": "https://shop.example.com/cart"})
    provider.shutdown()
    return results


def _wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(0.05)  # poll interval


# --------------------------------------------------------------------------------------- static (no binary)


def test_browser_pipelines_are_separate_from_session_span_pipeline():
    cfg = yaml.safe_load(CONFIG.read_text())
    pipelines = cfg["service"]["pipelines"]
    sessions = pipelines["traces/sessions"]
    browser = [p for name, p in pipelines.items() if name != "traces/sessions"]
    assert sessions["receivers"] == ["otlp/friction"]
    assert "otlp_http/friction" not in sessions["exporters"]  # otel-friction's spans never go back to it
    for p in browser:
        assert "otlp/friction" not in p["receivers"]
        assert p["exporters"] == ["otlp_http/friction"]
    assert set(cfg["exporters"]) >= {"otlp_http/friction", "otlp_grpc/tempo", "debug"}  # non-deprecated type names


# --------------------------------------------------------------------------------------- with the collector


@pytest.mark.collector
@pytest.mark.parametrize("free", [False, True], ids=["default-env", "free-ports"])
def test_validate_passes(collector_binary, free):
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_ENV}
    if free:
        env.update(collector_env())
    result = subprocess.run([str(collector_binary), "validate", "--config", str(CONFIG)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.collector
def test_cors_preflight_default_origins(collector_factory):
    env = collector_env()
    proc = collector_factory(env=env)
    url = f"http://{env['OTELCOL_OTLP_HTTP_ENDPOINT']}/v1/logs"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,traceparent"}

    ok = requests.options(url, headers={"Origin": BROWSER_ORIGIN, **preflight}, timeout=5)
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == BROWSER_ORIGIN
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    assert "traceparent" in ok.headers["Access-Control-Allow-Headers"].lower()
    assert ok.headers["Access-Control-Max-Age"] == "7200"

    other = requests.options(url, headers={"Origin": "https://evil.example", **preflight}, timeout=5)
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "deprecated" not in proc.log().lower()


@pytest.mark.collector
def test_cors_origins_from_env(collector_factory):
    env = collector_env(OTELCOL_CORS_ALLOWED_ORIGINS="https://shop.example.com,https://*.shop.example.com")
    collector_factory(env=env)
    url = f"http://{env['OTELCOL_OTLP_HTTP_ENDPOINT']}/v1/traces"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    for origin in ("https://shop.example.com", "https://eu.shop.example.com"):
        r = requests.options(url, headers={"Origin": origin, **preflight}, timeout=5)
        assert r.status_code == 204 and r.headers.get("Access-Control-Allow-Origin") == origin, origin
    r = requests.options(url, headers={"Origin": BROWSER_ORIGIN, **preflight}, timeout=5)
    assert "Access-Control-Allow-Origin" not in r.headers


@pytest.mark.collector
def test_browser_log_reaches_otel_friction_with_session_id(collector_factory, friction_sink):
    env = collector_env(OTEL_FRICTION_ENDPOINT=friction_sink.url)
    proc = collector_factory(env=env)
    session_id = uuid.uuid4().hex

    results = _send_browser_log(env["OTELCOL_OTLP_HTTP_ENDPOINT"], session_id)
    assert [r.name for r in results] == ["SUCCESS"], proc.log()

    try:
        received = friction_sink.wait_for("/v1/logs", timeout=WAIT_S)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\ncollector log:\n{proc.log()}") from None
    assert received[0].headers.get("Content-Type") == "application/x-protobuf"
    assert received[0].headers.get("Content-Encoding") == "gzip"
    records = [(rl, lr) for r in received for rl in ExportLogsServiceRequest.FromString(r.body).resource_logs
               for sl in rl.scope_logs for lr in sl.log_records]
    assert len(records) == 1
    resource_logs, record = records[0]
    assert _attrs(record.attributes)["session.id"] == session_id
    assert record.event_name == "browser.page_view"
    assert _attrs(resource_logs.resource.attributes)["service.name"] == "shop-frontend"
    assert "deprecated" not in proc.log().lower()


@pytest.mark.collector
def test_export_to_otel_friction_retries_429_and_503(collector_factory, friction_sink):
    friction_sink.script = [(429, {"Retry-After": "1"}), (503, {"Retry-After": "1"})]
    env = collector_env(OTEL_FRICTION_ENDPOINT=friction_sink.url)
    proc = collector_factory(env=env)
    session_id = uuid.uuid4().hex
    assert [r.name for r in _send_browser_log(env["OTELCOL_OTLP_HTTP_ENDPOINT"], session_id)] == ["SUCCESS"]
    try:
        received = friction_sink.wait_for("/v1/logs", timeout=WAIT_S)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\ncollector log:\n{proc.log()}") from None
    assert friction_sink.attempts == 3
    body = ExportLogsServiceRequest.FromString(received[0].body)
    assert _attrs(body.resource_logs[0].scope_logs[0].log_records[0].attributes)["session.id"] == session_id


@pytest.mark.collector
def test_session_spans_go_to_tempo_and_debug_not_back_to_friction(collector_factory, friction_sink, tempo_sink):
    env = collector_env(OTEL_FRICTION_ENDPOINT=friction_sink.url, TEMPO_ENDPOINT=tempo_sink.endpoint,
                        OTELCOL_DEBUG_VERBOSITY="detailed")
    proc = collector_factory(env=env)
    span_name = f"session {uuid.uuid4().hex[:8]}"
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "otel-friction"
    span = rs.scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = os.urandom(16), os.urandom(8), span_name
    span.start_time_unix_nano = time.time_ns() - 10**9
    span.end_time_unix_nano = time.time_ns()
    # What otel-friction's --export-otlp does: POST protobuf to <base URL>/v1/traces.
    resp = requests.post(f"http://{env['FRICTION_SPANS_HTTP_ENDPOINT']}/v1/traces", data=req.SerializeToString(),
                         headers={"Content-Type": "application/x-protobuf"}, timeout=10)
    assert resp.status_code == 200, resp.text

    try:
        spans = tempo_sink.wait_for_spans(timeout=WAIT_S)
        _wait_until(lambda: span_name in proc.log(), WAIT_S, "span not printed by the debug exporter")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\ncollector log:\n{proc.log()}") from None
    assert [s.name for s in spans] == [span_name]
    assert spans[0].trace_id == span.trace_id

    # No loop: the browser pipelines are the only way to otel-friction. Send a log through them; once it has
    # arrived, the session span (exported earlier) would have arrived too if it were routed there.
    assert [r.name for r in _send_browser_log(env["OTELCOL_OTLP_HTTP_ENDPOINT"], "s1")] == ["SUCCESS"]
    friction_sink.wait_for("/v1/logs", timeout=WAIT_S)
    assert [r.path for r in friction_sink.received] == ["/v1/logs"]
    assert stop_collector(proc) == 0


@pytest.mark.collector
def test_full_loop_through_otel_friction_to_tempo(collector_factory, tempo_sink):
    """browser log -> collector -> `otel-friction serve` (as README starts it) -> session spans -> otlp/friction
    receiver -> Tempo stand-in, with session.id on the spans."""
    friction_http, friction_grpc, friction_metrics = free_ports(3)
    env = collector_env(OTEL_FRICTION_ENDPOINT=f"http://127.0.0.1:{friction_http}", TEMPO_ENDPOINT=tempo_sink.endpoint)
    proc = collector_factory(env=env)
    friction_log = proc.log_path.with_suffix(".otel-friction.log")
    with friction_log.open("wb") as out:
        friction = subprocess.Popen(
            [sys.executable, "-m", "collector_plugin", "serve", "--otlp-http", f"127.0.0.1:{friction_http}",
             "--otlp-grpc", f"127.0.0.1:{friction_grpc}", "--metrics", f"127.0.0.1:{friction_metrics}",
             "--export-otlp", f"http://{env['FRICTION_SPANS_HTTP_ENDPOINT']}"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_until(lambda: friction.poll() is not None or port_open(f"127.0.0.1:{friction_http}"), WAIT_S,
                    "otel-friction not listening")
        assert friction.poll() is None, friction_log.read_text()
        session_id = uuid.uuid4().hex
        assert [r.name for r in _send_browser_log(env["OTELCOL_OTLP_HTTP_ENDPOINT"], session_id)] == ["SUCCESS"]
        metrics_url = f"http://127.0.0.1:{friction_metrics}/metrics"
        received = re.compile(r'^otel_friction_records_received_total\{[^}]*signal="logs"[^}]*\} [1-9]', re.M)
        _wait_until(lambda: received.search(requests.get(metrics_url, timeout=5).text), WAIT_S,
                    "otel-friction did not count the log record the collector forwarded")
        friction.terminate()  # SIGTERM ends open sessions and flushes their spans
        assert friction.wait(timeout=30) == 0, friction_log.read_text()
        _wait_until(lambda: any(s.name == "session" for s in tempo_sink.spans()), WAIT_S,
                    "no root session span at the Tempo stand-in")
    except (TimeoutError, AssertionError) as exc:
        raise AssertionError(f"{exc}\notel-friction log:\n{friction_log.read_text()}\ncollector log:\n"
                             f"{proc.log()}") from None
    finally:
        if friction.poll() is None:
            friction.kill()
            friction.wait(timeout=10)
        friction_log.unlink(missing_ok=True)
    spans = tempo_sink.spans()
    assert {_attrs(s.attributes).get("session.id") for s in spans} == {session_id}
    assert any(s.name.startswith("page_view") for s in spans)
