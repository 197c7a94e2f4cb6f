"""A real OTLP/HTTP receiver for tests: records what it is sent (decompressed, with headers) and answers with
scripted statuses, then 200 with an empty Export*ServiceResponse (which serializes to zero bytes). It stands in for
a span destination (Tempo, a collector) and, in tests/collector, for otel-friction itself."""

from __future__ import annotations

import gzip
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes  # decompressed


class OtlpSink:
    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []  # every accepted (200) request
        self.attempts = 0
        self.script: list[tuple[int, dict[str, str]]] = []  # statuses to answer first, in order
        self.cond = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding in ("deflate", "zlib"):
                    body = zlib.decompress(body)
                with sink.cond:
                    sink.attempts += 1
                    status, headers = sink.script.pop(0) if sink.script else (200, {})
                    if status == 200:
                        sink.received.append(Received(self.path, dict(self.headers.items()), body))
                    sink.cond.notify_all()
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

    def wait_for(self, path: str, timeout: float = 20.0) -> list[Received]:
        """Block until at least one request for ``path`` was accepted (or raise TimeoutError)."""
        with self.cond:
            if not self.cond.wait_for(lambda: any(r.path == path for r in self.received), timeout=timeout):
                raise TimeoutError(f"nothing POSTed to {self.url}{path} within {timeout} s "
                                   f"({self.attempts} attempts, paths {[r.path for r in self.received]})")
            return [r for r in self.received if r.path == path]

    def _parsed(self, path: str, cls):
        with self.cond:
            return [cls.FromString(r.body) for r in self.received if r.path == path]

    def spans(self):
        return [s for r in self._parsed("/v1/traces", ExportTraceServiceRequest)
                for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]

    def metrics(self) -> list[ExportMetricsServiceRequest]:
        return self._parsed("/v1/metrics", ExportMetricsServiceRequest)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
