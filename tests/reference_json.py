"""The Python OTLP/JSON decoding of logs and traces that ``native/src/otlp_json.rs`` replaced, kept as the
specification it is checked against (``tests/test_json_decode.py``).

``decode`` is ``collector_plugin.ingest.decode.decode`` for OTLP/JSON logs and traces as it was: ``json.loads``, then
``json_format.ParseDict`` record by record, with OTLP/JSON's exceptions to the protobuf JSON mapping (hex ids, float
timestamps) applied first. Where the native decoder deliberately does otherwise, this was changed with it; each
change is marked "Changed:" and says why.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector_plugin.ingest.decode import Decoded, RequestError


def decode(signal: str, body: bytes) -> Decoded:
    try:
        # Changed: the body must be UTF-8 (a BOM is skipped; json.loads also guessed UTF-16 and UTF-32, which no OTLP
        # sender uses) and standard JSON (json.loads also took NaN and Infinity, which JSON.stringify never writes).
        doc = _well_formed(json.loads(body.decode("utf-8-sig"), parse_constant=_not_json))
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
    resources = _get(doc, res_key) or []
    if not isinstance(resources, list):
        raise RequestError(400, f"{res_key} must be an array", "bad_json")
    for ri, res in enumerate(resources):
        scopes = _get(res, scope_key) if isinstance(res, dict) else None
        scopes_given = scopes
        scopes = scopes if isinstance(scopes, list) else []
        n_records = sum(len(_get(s, rec_key) or []) for s in scopes if isinstance(s, dict) and isinstance(_get(s, rec_key) or [], list))
        try:
            res_msg = json_format.ParseDict(_without(res, scope_key), res_cls(), ignore_unknown_fields=True)
        # Changed (here and below): OverflowError too (an infinite timestamp or enum, an integer too large for a
        # double), which escaped as a 500 for the whole request.
        except (json_format.ParseError, AttributeError, OverflowError) as exc:
            out.rejected += n_records
            out.errors.append(f"{res_key}[{ri}]: {_short(exc)}")
            continue
        res_out = getattr(request, _snake(res_key)).add()
        res_out.CopyFrom(res_msg)
        if scopes_given is not None and not isinstance(scopes_given, list):
            # Changed: said, as for records; a scopeLogs that was not an array was skipped without a word.
            out.errors.append(f"{res_key}[{ri}].{scope_key}: must be an array")
        for si, scope in enumerate(scopes):
            where = f"{res_key}[{ri}].{scope_key}[{si}]"
            records = _get(scope, rec_key) if isinstance(scope, dict) else None
            if not isinstance(records, list):
                records = [] if records is None else records
                if not isinstance(records, list):
                    out.errors.append(f"{where}.{rec_key}: must be an array")
                    continue
            try:
                scope_msg = json_format.ParseDict(_without(scope, rec_key), scope_cls(), ignore_unknown_fields=True)
            except (json_format.ParseError, AttributeError, OverflowError) as exc:
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
                except (json_format.ParseError, ValueError, TypeError, AttributeError, OverflowError) as exc:
                    out.rejected += 1
                    out.errors.append(f"{where}.{rec_key}[{i}]: {_short(exc)}")
    # Serialized for the classifier: parsing JSON record by record keeps the valid records beside a bad one.
    out.request = request.SerializeToString()
    return out


def _snake(json_name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in json_name)


def _get(d: dict, key: str) -> Any:
    """Changed: a field named in either spelling, the last given winning (ParseDict's rule for every other field).
    The snake_case spelling of resourceLogs was ignored, and that of scopeLogs and logRecords went to ParseDict whole:
    records all-or-nothing, ids read as base64."""
    value = None
    for k, v in d.items():
        if k in (key, _snake(key)):
            value = v
    return value


def _without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k not in (key, _snake(key))}


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _well_formed(value: Any) -> Any:
    """Changed: a lone surrogate (an escaped half of a UTF-16 pair, e.g. an emoji cut in two by a browser-side
    truncation) is U+FFFD, as TextEncoder makes it; it was a string proto3 can't hold, so its record was rejected."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_well_formed(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out[_well_formed(k)] = _well_formed(v)
        return out
    return value


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


# Changed: the OTLP/JSON rules below apply to a field in either spelling; they applied to the lowerCamelCase one only,
# so a snake_case trace_id was read as base64 (and a span's was then overwritten with an empty traceId).

def _nanos(rec: dict, key: str) -> None:
    # Faro sends Date.parse(ts) * 1e6 as a JSON number, which Python may read as a float.
    for k in (key, _snake(key)):
        value = rec.get(k)
        if isinstance(value, float):
            rec[k] = int(value)


def _ids(rec: dict, prefix: str = "", **sizes: int) -> None:
    for key, size in sizes.items():
        for k in (key, _snake(key)):
            if k in rec:
                rec[k] = _hex_id(rec[k], prefix + k, size)


def _fix_log_json(rec: dict) -> dict:
    rec = dict(rec)
    _nanos(rec, "timeUnixNano")
    _nanos(rec, "observedTimeUnixNano")
    _ids(rec, traceId=16, spanId=8)
    return rec


def _fix_span_json(rec: dict) -> dict:
    rec = dict(rec)
    _nanos(rec, "startTimeUnixNano")
    _nanos(rec, "endTimeUnixNano")
    _ids(rec, traceId=16, spanId=8, parentSpanId=8)
    if isinstance(rec.get("events"), list):
        events = []
        for ev in rec["events"]:
            if isinstance(ev, dict):
                ev = dict(ev)
                _nanos(ev, "timeUnixNano")
            events.append(ev)
        rec["events"] = events
    if isinstance(rec.get("links"), list):
        links = []
        for link in rec["links"]:
            if isinstance(link, dict):
                link = dict(link)
                _ids(link, "links.", traceId=16, spanId=8)
            links.append(link)
        rec["links"] = links
    return rec
