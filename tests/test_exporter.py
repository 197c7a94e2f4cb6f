"""The OTLP/HTTP span exporter against a real local receiver: retry, backoff, drops counted."""

from __future__ import annotations

import gc
import socket

import pytest
from prometheus_client import CollectorRegistry
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector_plugin.emit.exporter import FileSpanExporter, OtlpHttpSpanExporter
from collector_plugin.emit.selfmetrics import SelfMetrics
from otlp_sink import OtlpSink
from support import wait_for


def _request(n: int) -> tuple[bytes, int]:
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    for i in range(n):
        spans.add(trace_id=b"\x01" * 16, span_id=i.to_bytes(8, "big"), name="click")
    return req.SerializeToString(), n


def _value(registry, name, **labels):
    return sum(s.value for m in registry.collect() for s in m.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


@pytest.fixture
def sink():
    s = OtlpSink()
    yield s
    s.close()


def test_retries_retryable_statuses_honouring_retry_after_then_delivers(sink):
    registry = CollectorRegistry()
    sink.script = [(503, {"Retry-After": "0"}), (429, {"Retry-After": "0"}), (502, {})]
    exporter = OtlpHttpSpanExporter(sink.url, SelfMetrics(registry))
    exporter.export(*_request(3))
    wait_for(lambda: len(sink.spans()) == 3, timeout=15, what="delivery after retries")
    exporter.shutdown(5)
    assert sink.attempts == 4
    assert _value(registry, "otel_friction_export_failures_total", reason="http_503") == 1
    assert _value(registry, "otel_friction_export_failures_total", reason="http_502") == 1
    assert _value(registry, "otel_friction_spans_exported_total") == 3
    assert _value(registry, "otel_friction_spans_dropped_total") == 0


def test_configured_headers_and_the_content_type_are_sent(sink):
    exporter = OtlpHttpSpanExporter(sink.url, SelfMetrics(CollectorRegistry()), headers={"X-Scope-OrgID": "shop", "Authorization": "Bearer t"})
    exporter.export(*_request(1))
    wait_for(lambda: sink.received, what="the request")
    exporter.shutdown(5)
    got = {k.lower(): v for k, v in sink.received[0].headers.items()}  # header names are case-insensitive
    assert (got["x-scope-orgid"], got["authorization"], got["content-type"]) == ("shop", "Bearer t", "application/x-protobuf")


def test_permanent_errors_drop_and_count(sink):
    registry = CollectorRegistry()
    sink.script = [(400, {})]
    exporter = OtlpHttpSpanExporter(sink.url, SelfMetrics(registry))
    exporter.export(*_request(2))
    exporter.export(*_request(1))
    wait_for(lambda: len(sink.spans()) == 1, what="the second request")
    exporter.shutdown(5)
    assert _value(registry, "otel_friction_spans_dropped_total", reason="rejected") == 2


def test_exports_leave_no_cyclic_garbage(sink):
    # The service freezes what survives a tick out of the GC's reach (server.Service._tick): a cycle per export
    # request, as urllib3-future's responses were, would be frozen and never freed.
    registry = CollectorRegistry()
    exporter = OtlpHttpSpanExporter(sink.url, SelfMetrics(registry))
    exporter.export(*_request(1))
    wait_for(lambda: len(sink.spans()) == 1, what="the first request")
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            exporter.export(*_request(1))
        wait_for(lambda: len(sink.spans()) == 21, what="twenty more requests")
        exporter.shutdown(5)
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_no_listener_is_a_connection_failure_retried_until_shutdown():
    registry = CollectorRegistry()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    exporter = OtlpHttpSpanExporter(f"http://127.0.0.1:{port}", SelfMetrics(registry))
    exporter.export(*_request(2))
    wait_for(lambda: _value(registry, "otel_friction_export_failures_total", reason="connection") >= 1, what="a failure")
    exporter.shutdown(0.5)
    assert _value(registry, "otel_friction_spans_dropped_total", reason="shutdown") == 2


def test_full_queue_drops_new_spans_and_counts_them():
    registry = CollectorRegistry()
    # Nothing listens on this port: every send fails and the queue fills.
    exporter = OtlpHttpSpanExporter("http://127.0.0.1:9", SelfMetrics(registry), max_queue_spans=5, timeout=1)
    for _ in range(4):
        exporter.export(*_request(2))
    assert _value(registry, "otel_friction_spans_dropped_total", reason="queue_full") == 4
    assert _value(registry, "otel_friction_export_queue_spans") == 4
    exporter.shutdown(0.5)
    assert _value(registry, "otel_friction_spans_dropped_total", reason="shutdown") == 4
    assert _value(registry, "otel_friction_export_failures_total", reason="connection") >= 1


def test_a_full_disk_under_the_export_file_drops_and_counts_the_spans(tmp_path):
    registry = CollectorRegistry()
    selfm = SelfMetrics(registry)
    full = FileSpanExporter("/dev/full", selfm)  # every write fails with ENOSPC, as on a full disk
    full.export(*_request(3))
    assert _value(registry, "otel_friction_spans_dropped_total", destination="file", reason="write_error") == 3
    assert _value(registry, "otel_friction_spans_exported_total", destination="file") == 0
    ok = FileSpanExporter(tmp_path / "spans.jsonl", selfm)
    ok.export(*_request(2))  # the next destination of the same tick still gets its spans
    assert _value(registry, "otel_friction_spans_exported_total", destination="file") == 2
    assert len((tmp_path / "spans.jsonl").read_text().splitlines()) == 1


def test_otlp_metrics_push_carries_counters_with_exemplars_gauges_and_histograms(service_factory, sink):
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from test_transport import SID, _emit_logs
    from collector_plugin.sessionize import session_trace_ids

    bg, _ = service_factory(export__otlp_metrics_endpoint=sink.url, export__metrics_interval_seconds=0.2)
    _emit_logs(OTLPLogExporter(endpoint=bg.url("otlp_http") + "/v1/logs"))

    def pushed_error():
        for req in sink.metrics():
            for m in req.resource_metrics[0].scope_metrics[0].metrics:
                if m.name == "rum_js_errors" and m.sum.data_points and m.sum.data_points[0].as_double == 1:
                    return req
        return None

    req = wait_for(pushed_error, what="a push with the JS error")
    metrics = {m.name: m for m in req.resource_metrics[0].scope_metrics[0].metrics}
    errors = metrics["rum_js_errors"].sum
    assert errors.is_monotonic and errors.aggregation_temporality == 2
    assert errors.data_points[0].exemplars[0].trace_id == session_trace_ids(SID)[0]
    assert metrics["otel_friction_sessions_active"].gauge.data_points[0].as_double == 1
    hist = metrics["otel_friction_batch_duration_seconds"].histogram.data_points[0]
    assert hist.count >= 1 and sum(hist.bucket_counts) == hist.count and len(hist.bucket_counts) == len(hist.explicit_bounds) + 1
