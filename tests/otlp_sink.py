"""A real OTLP/HTTP receiver for tests: records what it is sent and answers with scripted statuses."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class OtlpSink:
    def __init__(self, port: int = 0) -> None:
        self.bodies: list[tuple[str, bytes]] = []  # (path, body) of every accepted request
        self.attempts = 0
        self.script: list[tuple[int, dict[str, str]]] = []  # statuses to answer first, in order
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with sink.lock:
                    sink.attempts += 1
                    status, headers = sink.script.pop(0) if sink.script else (200, {})
                    if status == 200:
                        sink.bodies.append((self.path, body))
                # An empty Export*ServiceResponse serializes to no bytes.
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _parsed(self, path: str, cls):
        with self.lock:
            return [cls.FromString(b) for p, b in self.bodies if p == path]

    def spans(self):
        return [s for r in self._parsed("/v1/traces", ExportTraceServiceRequest)
                for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]

    def metrics(self) -> list[ExportMetricsServiceRequest]:
        return self._parsed("/v1/metrics", ExportMetricsServiceRequest)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
