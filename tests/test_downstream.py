"""The span destination refuses for a while: the queue stays bounded, losses are counted with a reason, and export
resumes on its own when the destination is back."""

from __future__ import annotations

import socket
import time

import requests

from collector_plugin.simulate import ShopSimulator, to_requests
from otlp_sink import OtlpSink
from support import scrape, total, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_destination_down_then_back(service_factory):
    port = _free_port()
    bg, _ = service_factory(export__otlp_endpoint=f"http://127.0.0.1:{port}", export__queue_max_spans=300, export__max_spans_per_request=50,
                            export__max_backoff_seconds=0.3, export__timeout_seconds=2)
    metrics = bg.url("metrics") + "/metrics"
    sessions = list(ShopSimulator(9, start_ns=time.time_ns()).sessions(120))
    for req in to_requests(sessions):
        requests.post(bg.url("otlp_http") + "/v1/logs", data=req.SerializeToString(),
                      headers={"Content-Type": "application/x-protobuf"}).raise_for_status()
    # The queue can fill before the exporter's first attempt has failed: wait for both.
    m = wait_for(lambda: (m := scrape(metrics)) and total(m, "otel_friction_spans_dropped_total", reason="queue_full") > 0
                 and total(m, "otel_friction_export_failures_total", reason="connection") > 0 and m,
                 what="the bounded queue to overflow while the destination refuses connections")
    assert total(m, "otel_friction_export_queue_spans") <= 300  # memory stays bounded
    queued = total(m, "otel_friction_export_queue_spans")
    sink = OtlpSink(port)  # the destination comes back
    try:
        wait_for(lambda: total(scrape(metrics), "otel_friction_export_queue_spans") == 0 and len(sink.spans()) >= queued,
                 timeout=20, what="the queue to drain into the returned destination")
        m = scrape(metrics)
        exported, dropped = total(m, "otel_friction_spans_exported_total"), total(m, "otel_friction_spans_dropped_total")
        assert exported == len(sink.spans()) > 0 and dropped > 0
        bg.stop()  # root spans of the open sessions go out to the returned destination too
        assert len(sink.spans()) > exported
    finally:
        sink.close()
