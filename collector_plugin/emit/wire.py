"""Protobuf wire encoding of the OTLP trace messages this service emits, written straight to bytes.

Building upb messages costs a Python call per field and per attribute, then a serialization pass; spans are
most of what the pipeline outputs (about one per event), so they are encoded here directly. Only what
``emit/spans.py`` writes is covered: ExportTraceServiceRequest → ResourceSpans → ScopeSpans → Span with
attributes, events, links and status. Tests decode every output with the official classes.
"""

from __future__ import annotations

import struct
from typing import Any, Iterable

_fixed64 = struct.Struct("<Q").pack
_double = struct.Struct("<d").pack
_SMALL = [bytes((i,)) for i in range(128)]


def varint(n: int) -> bytes:
    if 0 <= n < 128:
        return _SMALL[n]
    if n < 0:
        n += 1 << 64  # int64 on the wire: two's complement, ten bytes
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _len(tag: bytes, payload: bytes) -> bytes:
    return tag + varint(len(payload)) + payload


def _text(s: str) -> bytes:
    return s.encode("utf-8", "replace")  # lone surrogates would make the whole request undecodable


_KEYS: dict[str, bytes] = {}  # attribute keys come from code and config: a small set, encoded once
_MAX_KEYS = 4096


def _key(key: str) -> bytes:
    enc = _KEYS.get(key)
    if enc is None:
        enc = _len(b"\x0a", _text(key))  # KeyValue.key = 1
        if len(_KEYS) < _MAX_KEYS:
            _KEYS[key] = enc
    return enc


def any_value(value: Any) -> bytes:
    """AnyValue: bool = 2, int = 3, double = 4, anything else as string = 1."""
    if value is True:
        return b"\x10\x01"
    if value is False:
        return b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + varint(value)
    if isinstance(value, float):
        return b"\x21" + _double(value)
    return _len(b"\x0a", _text(value if isinstance(value, str) else str(value)))


# Encoded string KeyValues: session ids, URLs, routes, devices and element names repeat across a session's spans.
_STRINGS: dict[tuple[str, str], bytes] = {}
_MAX_STRINGS = 1 << 16


def attributes(tag: bytes, pairs: dict[str, Any]) -> bytes:
    """Repeated KeyValue under field ``tag``; None values are left out. The common types are inlined: this runs
    for every attribute of every span."""
    out = []
    for key, value in pairs.items():
        if value is None:
            continue
        t = type(value)
        if t is str:
            kv = _STRINGS.get((key, value))
            if kv is None:
                kv = _key(key) + _len(b"\x12", _len(b"\x0a", _text(value)))
                if len(_STRINGS) >= _MAX_STRINGS:
                    _STRINGS.clear()
                _STRINGS[(key, value)] = kv
        elif t is int:
            kv = _key(key) + _len(b"\x12", b"\x18" + varint(value))
        elif t is bool:
            kv = _key(key) + (b"\x12\x02\x10\x01" if value else b"\x12\x02\x10\x00")
        elif t is float:
            kv = _key(key) + b"\x12\x09\x21" + _double(value)
        else:
            kv = _key(key) + _len(b"\x12", any_value(value))
        n = len(kv)
        out.append(tag + (_SMALL[n] if n < 128 else varint(n)) + kv)
    return b"".join(out)


SPAN_KIND_INTERNAL = 1
STATUS_CODE_ERROR = 2


def span_event(time_ns: int, name: str, attrs: dict[str, Any]) -> bytes:
    """Span.Event: time_unix_nano = 1, name = 2, attributes = 3."""
    return b"\x09" + _fixed64(time_ns) + _len(b"\x12", _text(name)) + attributes(b"\x1a", attrs)


def span(trace_id: bytes, span_id: bytes, parent_span_id: bytes, name: str, start_ns: int, end_ns: int,
         attrs: dict[str, Any], *, events: Iterable[bytes] = (), dropped_events: int = 0,
         links: Iterable[tuple[bytes, bytes]] = (), error: str | None = None) -> bytes:
    """Span: trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6, start 7, end 8, attributes 9, events 11,
    dropped_events_count 12, links 13, status 15 (message 2, code 3)."""
    parts = [_len(b"\x0a", trace_id), _len(b"\x12", span_id)]
    if parent_span_id:
        parts.append(_len(b"\x22", parent_span_id))
    parts += [_len(b"\x2a", _text(name)), b"\x30" + varint(SPAN_KIND_INTERNAL),
              b"\x39" + _fixed64(start_ns), b"\x41" + _fixed64(end_ns), attributes(b"\x4a", attrs)]
    parts += [_len(b"\x5a", e) for e in events]
    if dropped_events:
        parts.append(b"\x60" + varint(dropped_events))
    parts += [_len(b"\x6a", _len(b"\x0a", t) + _len(b"\x12", s)) for t, s in links]
    if error is not None:
        parts.append(_len(b"\x7a", _len(b"\x12", _text(error)) + b"\x18" + varint(STATUS_CODE_ERROR)))
    return b"".join(parts)


def request(groups: Iterable[tuple[bytes, bytes, list[bytes]]]) -> bytes:
    """ExportTraceServiceRequest from (encoded Resource, encoded InstrumentationScope, encoded spans) groups:
    resource_spans = 1 → {resource = 1, scope_spans = 2 → {scope = 1, spans = 2}}."""
    out = []
    for resource, scope, spans in groups:
        scope_spans = _len(b"\x0a", scope) + b"".join(_len(b"\x12", s) for s in spans)
        out.append(_len(b"\x0a", _len(b"\x0a", resource) + _len(b"\x12", scope_spans)))
    return b"".join(out)


def resource(attrs: dict[str, Any]) -> bytes:
    """Resource: attributes = 1."""
    return attributes(b"\x0a", attrs)


def scope(name: str, version: str) -> bytes:
    """InstrumentationScope: name = 1, version = 2."""
    return _len(b"\x0a", _text(name)) + _len(b"\x12", _text(version))
