"""Record validation at acceptance: what the sender must hear in ``partial_success`` before the answer goes out.

It runs before the response, outside the pipeline thread, so it reads only what the answer needs: ids and
attribute counts (invalid records are removed from the request and reported), and whether records carry a
session id (records without one are accepted but can't be sessionized, which the sender should be told).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .classify import SESSION_ID, Limits

# A KeyValue whose key is session.id, as it appears on the wire (field 1, length 10).
_SESSION_KEY_WIRE = b"\x0a\x0a" + SESSION_ID.encode()


@dataclass
class Validated:
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    without_session: int = 0
    records: int = 0  # valid records kept


def _problem(record: Any, limits: Limits, *, ids_required: bool) -> str | None:
    """ids_required: a span (ids required, and a parent span id to check); otherwise a log record."""
    trace_ok = len(record.trace_id) == 16 or (not ids_required and not record.trace_id)
    span_ok = len(record.span_id) == 8 or (not ids_required and not record.span_id)
    parent_ok = not ids_required or len(record.parent_span_id) in (0, 8)
    if not (trace_ok and span_ok and parent_ok):
        return "trace_id must be 16 bytes, span_id and parent_span_id 8 bytes" + ("" if ids_required else " (or empty)")
    if len(record.attributes) > limits.max_attributes:
        return f"{len(record.attributes)} attributes, the limit is {limits.max_attributes}"
    return None


def _has_session(kvs: Any) -> bool:
    return any(kv.key == SESSION_ID for kv in kvs)


def _check(resources: Any, scopes_of, records_of, what: str, limits: Limits, ids_required: bool, raw: bytes | None) -> Validated:
    v = Validated()
    for res in resources:
        for scope in scopes_of(res):
            records = records_of(scope)
            bad = []
            for i, rec in enumerate(records):
                problem = _problem(rec, limits, ids_required=ids_required)
                if problem:
                    bad.append(i)
                    v.errors.append(f"{what} {i} of scope {scope.scope.name!r}: {problem}")
            for i in reversed(bad):  # rare: removal keeps the valid records and the next stage needs no checks
                del records[i]
            v.rejected += len(bad)
            v.records += len(records)
    # Reading every record's keys costs more than the rest of acceptance. When the body holds at least as many
    # session.id keys as records (the usual case) the count is skipped: it can then only be off for bodies that
    # repeat the key, it only feeds the hint in the answer, and the pipeline's drop metric is exact either way.
    if raw is not None and raw.count(_SESSION_KEY_WIRE) >= v.records:
        return v
    for res in resources:
        if _has_session(res.resource.attributes):
            continue
        for scope in scopes_of(res):
            v.without_session += sum(1 for rec in records_of(scope) if not _has_session(rec.attributes))
    return v


def validate(signal: str, request: Any, limits: Limits, raw: bytes | None = None) -> Validated:
    """Remove invalid records from ``request`` in place; report them and the records without a session id.
    ``raw`` is the protobuf body the request was decoded from, if any (a shortcut for the session check)."""
    if signal == "logs":
        return _check(request.resource_logs, lambda r: r.scope_logs, lambda s: s.log_records, "log record", limits, False, raw)
    if signal == "traces":
        return _check(request.resource_spans, lambda r: r.scope_spans, lambda s: s.spans, "span", limits, True, raw)
    return Validated()
