"""The Python OTLP/JSON decoding of logs and traces that ``native/src/otlp_json.rs`` replaced, kept as the
specification it is checked against (``tests/test_json_decode.py``).

``decode`` is ``collector_plugin.ingest.decode.decode`` for OTLP/JSON logs and traces as it was: ``json.loads``, then
``json_format.ParseDict`` record by record, with OTLP/JSON's exceptions to the protobuf JSON mapping (hex ids, float
timestamps) applied first.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector_plugin.ingest.decode import Decoded, RequestError


def decode(signal: str, body: bytes) -> Decoded:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError(400, f"body is not valid JSON: {exc}", "bad_json") from None
    if not isinstance(doc, dict):
        raise RequestError(400, f"OTLP/JSON body must be an object, got {type(doc).__name__}", "bad_json")
    if signal == "logs":
        return _decode_json(doc, ExportLogsServiceRequest(), "resourceLogs", "scopeLogs", "logRecords",
                            ResourceLogs, ScopeLogs, LogRecord, _fix_log_json)
    return _decode_json(doc, ExportTraceServiceRequest(), "resourceSpans", "scopeSpans", "spans",
                        ResourceSpans, ScopeSpans, Span, _fix_span_json)


def _decode_json(doc, request, res_key, scope_key, rec_key, res_cls, scope_cls, rec_cls, fix) -> Decoded:
    out = Decoded(request)
    resources = doc.get(res_key) or []
    if not isinstance(resources, list):
        raise RequestError(400, f"{res_key} must be an array", "bad_json")
    for ri, res in enumerate(resources):
        scopes = res.get(scope_key) if isinstance(res, dict) else None
        scopes = scopes if isinstance(scopes, list) else []
        n_records = sum(len(s.get(rec_key) or []) for s in scopes if isinstance(s, dict) and isinstance(s.get(rec_key) or [], list))
        try:
            res_msg = json_format.ParseDict({k: v for k, v in res.items() if k != scope_key}, res_cls(), ignore_unknown_fields=True)
        except (json_format.ParseError, AttributeError) as exc:
            out.rejected += n_records
            out.errors.append(f"{res_key}[{ri}]: {_short(exc)}")
            continue
        res_out = getattr(request, _snake(res_key)).add()
        res_out.CopyFrom(res_msg)
        for si, scope in enumerate(scopes):
            where = f"{res_key}[{ri}].{scope_key}[{si}]"
            records = scope.get(rec_key) if isinstance(scope, dict) else None
            if not isinstance(records, list):
                records = [] if records is None else records
                if not isinstance(records, list):
                    out.errors.append(f"{where}.{rec_key}: must be an array")
                    continue
            try:
                scope_msg = json_format.ParseDict({k: v for k, v in scope.items() if k != rec_key}, scope_cls(), ignore_unknown_fields=True)
            except (json_format.ParseError, AttributeError) as exc:
                out.rejected += len(records)
                out.errors.append(f"{where}: {_short(exc)}")
                continue
            scope_out = getattr(res_out, _snake(scope_key)).add()
            scope_out.CopyFrom(scope_msg)
            parsed = getattr(scope_out, _snake(rec_key))
            for i, rec in enumerate(records):
                try:
                    if not isinstance(rec, dict):
                        raise ValueError(f"record must be an object, got {type(rec).__name__}")
                    parsed.append(json_format.ParseDict(fix(rec), rec_cls(), ignore_unknown_fields=True))
                except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
                    out.rejected += 1
                    out.errors.append(f"{where}.{rec_key}[{i}]: {_short(exc)}")
    # Serialized for the classifier: parsing JSON record by record keeps the valid records beside a bad one.
    out.request = request.SerializeToString()
    return out


def _snake(json_name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in json_name)


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


def _hex_id(value: Any, name: str, size: int) -> str:
    """OTLP/JSON carries ids as hex (protobuf's JSON mapping expects base64)."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a hex string")
    try:
        raw = binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        raise ValueError(f"{name} is not hex") from None
    if len(raw) != size:
        raise ValueError(f"{name} must be {size} bytes ({size * 2} hex digits), got {len(raw)}")
    return base64.b64encode(raw).decode()


def _nanos(rec: dict, key: str) -> None:
    # Faro sends Date.parse(ts) * 1e6 as a JSON number, which Python may read as a float.
    value = rec.get(key)
    if isinstance(value, float):
        rec[key] = int(value)


def _fix_log_json(rec: dict) -> dict:
    rec = dict(rec)
    _nanos(rec, "timeUnixNano")
    _nanos(rec, "observedTimeUnixNano")
    if "traceId" in rec:
        rec["traceId"] = _hex_id(rec["traceId"], "traceId", 16)
    if "spanId" in rec:
        rec["spanId"] = _hex_id(rec["spanId"], "spanId", 8)
    return rec


def _fix_span_json(rec: dict) -> dict:
    rec = dict(rec)
    _nanos(rec, "startTimeUnixNano")
    _nanos(rec, "endTimeUnixNano")
    rec["traceId"] = _hex_id(rec.get("traceId"), "traceId", 16)
    rec["spanId"] = _hex_id(rec.get("spanId"), "spanId", 8)
    if "parentSpanId" in rec:
        rec["parentSpanId"] = _hex_id(rec["parentSpanId"], "parentSpanId", 8)
    if isinstance(rec.get("events"), list):
        events = []
        for ev in rec["events"]:
            if isinstance(ev, dict):
                ev = dict(ev)
                _nanos(ev, "timeUnixNano")
            events.append(ev)
        rec["events"] = events
    if isinstance(rec.get("links"), list):
        rec["links"] = [
            {**link, "traceId": _hex_id(link.get("traceId"), "links.traceId", 16), "spanId": _hex_id(link.get("spanId"), "links.spanId", 8)}
            if isinstance(link, dict) else link
            for link in rec["links"]
        ]
    return rec
