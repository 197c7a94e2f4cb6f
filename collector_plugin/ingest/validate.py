"""Record validation at acceptance: what the sender must hear in ``partial_success`` before the answer goes out.

It runs before the response, outside the pipeline thread, so it reads only what the answer needs: ids and
attribute counts (invalid records are removed from the request and reported), and whether records carry a
session id (records without one are accepted but can't be sessionized, which the sender should be told).
Logs are validated by their decoder (``ingest.decode``) in the same pass; spans are checked here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .classify import SESSION_ID, Limits, LogsBatch

# A KeyValue whose key is session.id, as it appears on the wire (field 1, length 10).
_SESSION_KEY_WIRE = b"\x0a\x0a" + SESSION_ID.encode()


@dataclass
class Validated:
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    without_session: int = 0
    records: int = 0  # valid records kept


def _problem(span: Any, limits: Limits) -> str | None:
    if len(span.trace_id) != 16 or len(span.span_id) != 8 or len(span.parent_span_id) not in (0, 8):
        return "trace_id must be 16 bytes, span_id and parent_span_id 8 bytes"
    if len(span.attributes) > limits.max_attributes:
        return f"{len(span.attributes)} attributes, the limit is {limits.max_attributes}"
    return None


def _has_session(kvs: Any) -> bool:
    return any(kv.key == SESSION_ID for kv in kvs)


def _check_spans(request: Any, limits: Limits, raw: bytes | None) -> Validated:
    v = Validated()
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            spans = ss.spans
            bad = []
            for i, span in enumerate(spans):
                problem = _problem(span, limits)
                if problem:
                    bad.append(i)
                    v.errors.append(f"span {i} of scope {ss.scope.name!r}: {problem}")
            for i in reversed(bad):  # rare: removal keeps the valid spans and the next stage needs no checks
                del spans[i]
            v.rejected += len(bad)
            v.records += len(spans)
    # Reading every span's keys costs more than the rest of acceptance. When the body holds at least as many
    # session.id keys as spans (the usual case) the count is skipped: it can then only be off for bodies that
    # repeat the key, it only feeds the hint in the answer, and the pipeline's drop metric is exact either way.
    if raw is not None and raw.count(_SESSION_KEY_WIRE) >= v.records:
        return v
    for rs in request.resource_spans:
        if _has_session(rs.resource.attributes):
            continue
        v.without_session += sum(1 for ss in rs.scope_spans for span in ss.spans if not _has_session(span.attributes))
    return v


def validate(signal: str, request: Any, limits: Limits, raw: bytes | None = None) -> Validated:
    """Remove invalid spans from a traces ``request`` in place; report them and the records without a session id.
    ``raw`` is the protobuf body the request was decoded from, if any (a shortcut for the session check)."""
    if signal == "logs":
        batch: LogsBatch = request
        return Validated(batch.rejected, list(batch.errors), batch.without_session, batch.records)
    if signal == "traces":
        return _check_spans(request, limits, raw)
    return Validated()
