"""Span destinations. All share one interface: ``export(body, spans)`` takes an encoded
ExportTraceServiceRequest holding ``spans`` spans and must not block the pipeline for long;
``shutdown(timeout)`` delivers what is pending. The in-memory one is the test double.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Protocol

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ..log import get_logger
from . import otlp_http
from .selfmetrics import SelfMetrics

log = get_logger("export")

RETRYABLE = {429, 502, 503, 504}


class SpanExporter(Protocol):
    name: str

    def export(self, body: bytes, spans: int) -> None: ...

    def shutdown(self, timeout: float) -> None: ...



class InMemorySpanExporter:
    name = "memory"

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self._lock = threading.Lock()

    def export(self, body: bytes, spans: int) -> None:
        request = ExportTraceServiceRequest.FromString(body)  # decoded by the official classes: checks the encoding
        with self._lock:
            self.requests.append(request)

    def shutdown(self, timeout: float) -> None:
        pass

    def spans(self):
        """(service.name, span) for every exported span."""
        with self._lock:
            reqs = list(self.requests)
        out = []
        for req in reqs:
            for rs in req.resource_spans:
                service = next((kv.value.string_value for kv in rs.resource.attributes if kv.key == "service.name"), "")
                out.extend((service, span) for ss in rs.scope_spans for span in ss.spans)
        return out


def otlp_json(request: ExportTraceServiceRequest) -> dict:
    """OTLP/JSON as the spec writes it: ids in hex, not protobuf-JSON base64."""
    doc = json_format.MessageToDict(request)

    def hexify(d: dict, *keys: str) -> None:
        for k in keys:
            if k in d:
                d[k] = base64.b64decode(d[k]).hex()

    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                hexify(span, "traceId", "spanId", "parentSpanId")
                for link in span.get("links", []):
                    hexify(link, "traceId", "spanId")
    return doc


class FileSpanExporter:
    """OTLP/JSON, one request per line: the demo's span output, readable without a tracing backend."""

    name = "file"

    def __init__(self, path: Path, selfm: SelfMetrics):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a", encoding="utf-8")
        self._selfm = selfm

    def export(self, body: bytes, spans: int) -> None:
        try:
            self._fh.write(json.dumps(otlp_json(ExportTraceServiceRequest.FromString(body)), separators=(",", ":")) + "\n")
            self._fh.flush()
        except OSError as exc:  # a full disk: these spans are lost, the tick's other destinations still get theirs
            self._selfm.spans_dropped.labels(self.name, "write_error").inc(spans)
            log.error("writing spans to the export file failed", extra={"path": str(self.path), "error": f"{type(exc).__name__}: {exc}"})
            return
        self._selfm.spans_exported.labels(self.name).inc(spans)

    def shutdown(self, timeout: float) -> None:
        self._fh.close()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class OtlpHttpSpanExporter:
    """OTLP/HTTP protobuf to ``<endpoint>/v1/traces`` from a background thread, with a bounded queue.

    Retries what the OTLP spec calls retryable (429, 502, 503, 504, connection errors) with exponential
    backoff honouring Retry-After; drops on permanent errors and when the queue is full, counting each loss.
    """

    name = "otlp"

    def __init__(self, endpoint: str, selfm: SelfMetrics, *, headers: dict[str, str] | None = None, timeout: float = 10.0,
                 max_queue_spans: int = 200_000, max_backoff: float = 30.0):
        self.url = endpoint.rstrip("/") + "/v1/traces"
        self._selfm = selfm
        self._timeout = timeout
        self._max_queue = max_queue_spans
        self._max_backoff = max_backoff
        self._headers = {"Content-Type": "application/x-protobuf", **(headers or {})}
        self._queue: deque[tuple[bytes, int]] = deque()
        self._queued_spans = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="otel-friction-export", daemon=True)
        self._thread.start()

    def export(self, body: bytes, spans: int) -> None:
        n = spans
        with self._cond:
            if self._closing or self._queued_spans + n > self._max_queue:
                self._selfm.spans_dropped.labels(self.name, "shutdown" if self._closing else "queue_full").inc(n)
                return
            self._queue.append((body, n))
            self._queued_spans += n
            self._selfm.export_queue.labels(self.name).set(self._queued_spans)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                body, n = self._queue[0]
            delivered = self._send(body, n)
            with self._cond:
                if delivered is not None:  # None = gave up because we are closing; the item stays for shutdown to count
                    self._queue.popleft()
                    self._queued_spans -= n
                    self._selfm.export_queue.labels(self.name).set(self._queued_spans)
                    self._cond.notify_all()
                elif self._closing:
                    return

    def _send(self, body: bytes, n: int) -> bool | None:
        """True = delivered, False = permanently refused (dropped), None = stopped while retrying."""
        backoff = 0.5
        while True:
            delay = None
            try:
                resp = otlp_http.post(self.url, body, self._headers, self._timeout)
                if 200 <= resp.status < 300:
                    self._selfm.spans_exported.labels(self.name).inc(n)
                    return True
                reason = f"http_{resp.status}"
                if resp.status not in RETRYABLE:
                    self._selfm.export_failures.labels(self.name, reason).inc()
                    self._selfm.spans_dropped.labels(self.name, "rejected").inc(n)
                    return False
                delay = _retry_after(resp.retry_after)
            except otlp_http.TransportError as exc:
                reason = exc.reason
            self._selfm.export_failures.labels(self.name, reason).inc()
            wait = min(delay if delay is not None else backoff, self._max_backoff)
            backoff = min(backoff * 2, self._max_backoff)
            with self._cond:
                if self._cond.wait_for(lambda: self._closing, timeout=wait):
                    return None

    def shutdown(self, timeout: float) -> None:
        """Deliver what is queued within ``timeout``; whatever is left is counted as dropped."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.wait_for(lambda: not self._queue, timeout=max(0.0, deadline - time.monotonic()))
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=max(0.1, deadline - time.monotonic()))
        with self._cond:
            if self._queued_spans:
                self._selfm.spans_dropped.labels(self.name, "shutdown").inc(self._queued_spans)
            self._queue.clear()
            self._queued_spans = 0
