"""Helpers over exported OTLP spans."""

from __future__ import annotations

from collections import defaultdict


def attr(span, key: str):
    for kv in span.attributes:
        if kv.key == key:
            v = kv.value
            return getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None
    return None


def by_session(spans) -> dict[str, list]:
    out = defaultdict(list)
    for s in spans:
        sid = attr(s, "session.id")
        if sid:
            out[sid].append(s)
    return out
