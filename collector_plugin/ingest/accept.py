"""Accept a request: undo compression, decode, validate, and decide the sender's answer.

This is all a receiver does before it answers (``collector_plugin.receiver``), and it touches no session state, so
it runs in the receiver process; the pipeline classifies what was accepted later (``Pipeline.process``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..normalize.pii import Masker
from .classify import Limits, Validated, validate
from .decode import Format, RequestError, Signal, decode, decompress

MAX_ERRORS_IN_MESSAGE = 5


@dataclass(frozen=True)
class IngestResult:
    rejected: int
    message: str  # for OTLP partial_success; empty when everything was usable


@dataclass(frozen=True)
class Accepted:
    """A validated request, answered already and waiting for the pipeline."""

    signal: Signal
    request: bytes  # logs and traces: the protobuf request; metrics: empty (only counted, see Pipeline.process)
    fmt: str  # the `format` label of the self-metrics
    result: IngestResult
    records: int  # valid records in the request


class Acceptor:
    def __init__(self, settings: Settings, masker: Masker):
        s = settings.server
        self.limits = Limits(s.max_attributes_per_record, s.max_attribute_length)  # classification reads them too
        self.max_body_bytes = s.max_body_bytes
        self.masker = masker

    def accept(self, signal: Signal, body: bytes, fmt: Format, encoding: str | None = None) -> Accepted:
        """Decode one OTLP/HTTP body. Raises RequestError when the whole request is unusable."""
        raw = decompress(body, encoding, self.max_body_bytes)
        decoded = decode(signal, raw, fmt)
        return self.accept_request(signal, decoded.request, f"otlp_http_{fmt}", decoded.rejected, decoded.errors)

    def accept_request(self, signal: Signal, request: Any, fmt: str = "otlp_grpc", rejected: int = 0,
                       errors: list[str] | None = None) -> Accepted:
        """Validate a request: protobuf bytes, or a message built in process. Raises RequestError when unusable."""
        if signal == "metrics":
            v = Validated(records=_data_points(request))
            request = b""
        else:
            if not isinstance(request, bytes):
                request = request.SerializeToString()
            v = self._validate(signal, request)
        rejected += v.rejected
        errors = (errors or []) + v.errors
        message = _message(rejected, errors, v.without_session)
        # Parser messages can quote the offending value, which may be PII.
        result = IngestResult(rejected, self.masker.text(message) if message else "")
        return Accepted(signal, request, fmt, result, v.records)

    def _validate(self, signal: Signal, request: bytes) -> Validated:
        try:
            return validate(signal, request, self.limits)
        except ValueError as exc:
            name = "ExportLogsServiceRequest" if signal == "logs" else "ExportTraceServiceRequest"
            raise RequestError(400, f"body is not a valid {name} protobuf: {exc}", "bad_protobuf") from None


def _message(rejected: int, errors: list[str], no_session: int) -> str:
    parts = []
    if rejected:
        shown = "; ".join(errors[:MAX_ERRORS_IN_MESSAGE])
        more = f" (and {len(errors) - MAX_ERRORS_IN_MESSAGE} more)" if len(errors) > MAX_ERRORS_IN_MESSAGE else ""
        parts.append(f"{rejected} invalid record(s) rejected: {shown}{more}")
    if no_session:
        parts.append(f"{no_session} record(s) without a session.id attribute were not sessionized "
                     "(add a session processor to the browser SDK)")
    return ". ".join(parts)


def _data_points(request: Any) -> int:
    return sum(len(getattr(m, m.WhichOneof("data")).data_points) if m.WhichOneof("data") else 1
               for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics)
