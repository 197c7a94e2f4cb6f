"""The service over real OTLP/HTTP and OTLP/gRPC, with the official Python OTLP exporters as clients."""

from __future__ import annotations

import gzip
import json
import threading
import time

import grpc
import pytest
import requests
from google.rpc import error_details_pb2, status_pb2
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from support import scrape, total, wait_for

RESOURCE = Resource.create({"service.name": "shop-frontend", "user_agent.original": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148"})
SID = "0af7651916cd43dd8448eb211c80319c"


def _emit_logs(exporter, session_id: str = SID) -> None:
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("otel-friction-browser")
    now = time.time_ns()
    logger.emit(LogRecord(timestamp=now, event_name="browser.page_view",
                          attributes={"session.id": session_id, "url.full": "https://shop.example/product/42?utm_source=google&utm_medium=cpc"}))
    logger.emit(LogRecord(timestamp=now + 10**9, event_name="browser.user_action.click",
                          attributes={"session.id": session_id, "url.full": "https://shop.example/product/42", "browser.tag_name": "BUTTON",
                                      "browser.css_selector": "#add", "browser.click.reaction": "network", "browser.click.reaction_ms": 40}))
    # The deprecated `event.name` attribute, as Faro and older senders use it.
    logger.emit(LogRecord(timestamp=now + 2 * 10**9, attributes={"event.name": "exception", "session.id": session_id,
                                                                 "url.full": "https://shop.example/product/42",
                                                                 "exception.type": "TypeError", "exception.message": "x is undefined"}))
    provider.shutdown()


def _emit_spans(exporter, session_id: str = SID) -> None:
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("@opentelemetry/instrumentation-user-interaction")
    with tracer.start_as_current_span("click", attributes={"session.id": session_id, "event_type": "click", "target_element": "BUTTON",
                                                           "target_xpath": '//*[@id="add"]', "url.full": "https://shop.example/cart"}):
        with provider.get_tracer("@opentelemetry/instrumentation-fetch").start_as_current_span(
                "POST", attributes={"session.id": session_id, "http.request.method": "POST", "url.full": "https://shop.example/api/cart",
                                    "http.response.status_code": 200}):
            pass
    provider.shutdown()


def test_logs_over_http_protobuf_with_the_official_exporter(service):
    bg, memory = service
    _emit_logs(OTLPLogExporter(endpoint=bg.url("otlp_http") + "/v1/logs", compression=Compression.Gzip))
    metrics = bg.url("metrics") + "/metrics"
    wait_for(lambda: total(scrape(metrics), "rum_js_errors_total") == 1, what="the error to be counted")
    m = scrape(metrics)
    assert total(m, "otel_friction_records_received_total", signal="logs", format="otlp_http_protobuf") == 3
    assert total(m, "rum_sessions_started_total", service_name="shop-frontend", device="mobile", source="paid", visitor="new") == 1
    assert total(m, "rum_page_views_total", page="/product/:id") == 1
    assert total(m, "rum_clicks_total", page="/product/:id") == 1
    assert total(m, "rum_js_errors_total", page="/product/:id", error_type="TypeError") == 1
    # Spans of finished interactions are out within a flush, long before the session ends.
    wait_for(lambda: {s.name for _, s in memory.spans()} >= {"click", "exception"}, what="click and exception spans")


def test_logs_over_grpc_with_the_official_exporter(service):
    bg, _ = service
    _emit_logs(GrpcLogExporter(endpoint=bg.service.addresses["otlp_grpc"], insecure=True))
    metrics = bg.url("metrics") + "/metrics"
    wait_for(lambda: total(scrape(metrics), "rum_clicks_total") == 1, what="the click over gRPC")
    assert total(scrape(metrics), "otel_friction_records_received_total", format="otlp_grpc") == 3


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_spans_from_the_official_trace_exporters(service, transport):
    bg, memory = service
    if transport == "http":
        exporter = OTLPSpanExporter(endpoint=bg.url("otlp_http") + "/v1/traces")
    else:
        exporter = GrpcSpanExporter(endpoint=bg.service.addresses["otlp_grpc"], insecure=True)
    _emit_spans(exporter)
    metrics = bg.url("metrics") + "/metrics"
    wait_for(lambda: total(scrape(metrics), "rum_clicks_total", page="/cart") == 1, what="the click span to be counted")
    clicks = wait_for(lambda: [s for _, s in memory.spans() if s.name == "click"], what="the session's click span")
    # The SDK's own click span is linked from the session trace, not lost.
    assert len(clicks[0].links) == 1 and len(clicks[0].links[0].trace_id) == 16


def test_json_request_gets_json_response_with_hex_ids_and_string_int64(service):
    bg, _ = service
    body = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
            "scopeLogs": [{"scope": {"name": "x"}, "logRecords": [
                {"timeUnixNano": str(time.time_ns()), "eventName": "browser.page_view", "traceId": "5b8efff798038103d269b633813fc60c",
                 "spanId": "eee19b7ec3c1b174", "attributes": [{"key": "session.id", "value": {"stringValue": "Ab3dE6gH9k"}},
                                                               {"key": "url.full", "value": {"stringValue": "https://s.example/"}},
                                                               {"key": "browser.viewport.width", "value": {"intValue": 390}}]},
                {"timeUnixNano": 1.7e18, "eventName": "browser.user_action.click",
                 "attributes": [{"key": "session.id", "value": {"stringValue": "Ab3dE6gH9k"}},
                                {"key": "url.full", "value": {"stringValue": "https://s.example/"}}]},
            ]}]}]}
    r = requests.post(bg.url("otlp_http") + "/v1/logs", data=json.dumps(body), headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {}  # full success: partial_success unset
    metrics = bg.url("metrics") + "/metrics"
    wait_for(lambda: total(scrape(metrics), "rum_sessions_started_total", device="mobile") == 1, what="the JSON session")


def test_invalid_records_are_rejected_through_partial_success_and_valid_ones_kept(service):
    bg, _ = service
    good = {"timeUnixNano": str(time.time_ns()), "eventName": "browser.user_action.click",
            "attributes": [{"key": "session.id", "value": {"stringValue": "s-1"}}, {"key": "url.full", "value": {"stringValue": "https://s/a"}}]}
    bad_id = dict(good, traceId="not-hex")
    bad_type = dict(good, attributes="oops")
    no_session = {"eventName": "browser.user_action.click", "attributes": []}
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [good, bad_id, bad_type, no_session, good]}]}]}
    r = requests.post(bg.url("otlp_http") + "/v1/logs", json=body)
    assert r.status_code == 200
    ps = r.json()["partialSuccess"]
    assert ps["rejectedLogRecords"] == "2"
    assert "traceId is not hex" in ps["errorMessage"]
    assert "logRecords[2]" in ps["errorMessage"]
    assert "without a session.id" in ps["errorMessage"]
    metrics = bg.url("metrics") + "/metrics"
    wait_for(lambda: total(scrape(metrics), "rum_clicks_total") == 2, what="the two valid clicks")
    m = scrape(metrics)
    assert total(m, "otel_friction_records_rejected_total", reason="invalid_record") == 2
    assert total(m, "otel_friction_records_dropped_total", reason="missing_session_id") == 1


def test_protobuf_partial_success_for_bad_span_ids(service):
    bg, _ = service
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    ok = spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="documentLoad", start_time_unix_nano=time.time_ns())
    ok.attributes.add(key="session.id").value.string_value = "abc"
    bad = spans.add(trace_id=b"\x01" * 3, span_id=b"\x02" * 8, name="click")
    bad.attributes.add(key="session.id").value.string_value = "abc"
    r = requests.post(bg.url("otlp_http") + "/v1/traces", data=req.SerializeToString(), headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-protobuf"
    resp = ExportTraceServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_spans == 1
    assert "trace_id must be 16 bytes" in resp.partial_success.error_message


@pytest.mark.parametrize("body,ctype,encoding,status,needle", [
    (b"\xff\xff\xff\xff", "application/x-protobuf", None, 400, "not a valid ExportLogsServiceRequest protobuf"),
    (ExportLogsServiceRequest(resource_logs=[{"scope_logs": [{"log_records": [{"body": {"string_value": "x" * 100}}]}]}]).SerializeToString()[:-20],
     "application/x-protobuf", None, 400, "not a valid ExportLogsServiceRequest protobuf"),
    (b'{"resourceLogs": [', "application/json", None, 400, "not valid JSON"),
    (b'[1, 2]', "application/json", None, 400, "must be an object"),
    (b'{"resourceLogs": 5}', "application/json", None, 400, "resourceLogs must be an array"),
    (b'{"resourceLogs": [], "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json", None, 400, "recursion limit exceeded"),
    (gzip.compress(b"{}")[:-6], "application/json", "gzip", 400, "truncated"),
    (b"not gzip at all", "application/json", "gzip", 400, "not valid gzip"),
    (b"{}", "text/plain", None, 415, "unsupported Content-Type"),
    (b"{}", "application/json", "br", 415, "unsupported Content-Encoding"),
])
def test_malformed_requests_get_a_clear_error(service, body, ctype, encoding, status, needle):
    bg, _ = service
    headers = {"Content-Type": ctype}
    if encoding:
        headers["Content-Encoding"] = encoding
    r = requests.post(bg.url("otlp_http") + "/v1/logs", data=body, headers=headers)
    assert r.status_code == status
    if ctype == "application/x-protobuf":
        message = status_pb2.Status.FromString(r.content).message
    else:
        message = r.json()["message"]
    assert needle in message
    wait_for(lambda: total(scrape(bg.url("metrics") + "/metrics"), "otel_friction_requests_rejected_total") >= 1, what="the rejection count")


def test_oversized_bodies_get_413_also_after_decompression(service_factory):
    bg, _ = service_factory(server__max_body_bytes=50_000)
    url = bg.url("otlp_http") + "/v1/logs"
    r = requests.post(url, data=b"0" * 60_000, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    bomb = gzip.compress(b" " * 5_000_000)  # ~5 kB on the wire, 5 MB inflated
    r = requests.post(url, data=bomb, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 413 and "decompressed body exceeds" in r.json()["message"]
    assert total(scrape(bg.url("metrics") + "/metrics"), "otel_friction_requests_rejected_total", reason="too_large") == 2


def test_method_and_cors(service_factory):
    bg, _ = service_factory(server__cors_allowed_origins=["http://localhost:5173"])
    url = bg.url("otlp_http") + "/v1/traces"
    assert requests.get(url).status_code == 405
    pre = requests.options(url, headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
                                         "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    other = requests.options(url, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in other.headers
    r = requests.post(url, json={}, headers={"Origin": "http://localhost:5173"})
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"


def test_backpressure_http_429_and_grpc_unavailable_with_retry_info(service_factory):
    bg, _ = service_factory(server__max_pending_requests=1, server__retry_after_seconds=7)
    gate = threading.Event()
    bg.service.worker.submit(gate.wait, 30)  # the pipeline thread is busy
    first = threading.Thread(target=requests.post, args=(bg.url("otlp_http") + "/v1/logs",), kwargs={"json": {}})
    first.start()
    wait_for(lambda: bg.pending() == 1, what="the first request to be queued")
    try:
        r = requests.post(bg.url("otlp_http") + "/v1/logs", json={})
        assert r.status_code == 429 and r.headers["Retry-After"] == "7"
        channel = grpc.insecure_channel(bg.service.addresses["otlp_grpc"])
        call = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                                   request_serializer=lambda m: m.SerializeToString(), response_deserializer=ExportLogsServiceResponse.FromString)
        with pytest.raises(grpc.RpcError) as info:
            call(ExportLogsServiceRequest(), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        details = dict(info.value.trailing_metadata())["grpc-status-details-bin"]
        retry = error_details_pb2.RetryInfo()
        status_pb2.Status.FromString(details).details[0].Unpack(retry)
        assert retry.retry_delay.seconds == 7
        assert total(scrape(bg.url("metrics") + "/metrics"), "otel_friction_requests_queued") == 1
    finally:
        gate.set()
        first.join(10)
    wait_for(lambda: total(scrape(bg.url("metrics") + "/metrics"), "otel_friction_requests_queued") == 0, what="the queue to empty")
    m = scrape(bg.url("metrics") + "/metrics")
    assert total(m, "otel_friction_requests_throttled_total", transport="http") == 1
    assert total(m, "otel_friction_requests_throttled_total", transport="grpc") == 1


def test_grpc_malformed_message_is_invalid_argument(service):
    bg, _ = service
    channel = grpc.insecure_channel(bg.service.addresses["otlp_grpc"])
    call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
    with pytest.raises(grpc.RpcError) as info:
        call(b"\xff\xff\xff", timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid ExportTraceServiceRequest" in info.value.details()


def test_metrics_endpoint_serves_openmetrics_with_trace_id_exemplars(service):
    bg, _ = service
    _emit_logs(OTLPLogExporter(endpoint=bg.url("otlp_http") + "/v1/logs"))
    url = bg.url("metrics") + "/metrics"
    wait_for(lambda: total(scrape(url), "rum_js_errors_total") == 1, what="the error")
    r = requests.get(url, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["Content-Type"].startswith("application/openmetrics-text")
    from collector_plugin.sessionize import session_trace_ids
    trace_hex = session_trace_ids(SID)[0].hex()
    line = next(l for l in r.text.splitlines() if l.startswith("rum_js_errors_total{"))
    assert f'# {{trace_id="{trace_hex}"}}' in line
    assert "_created" not in r.text
