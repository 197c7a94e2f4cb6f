"""The native span encoder (emit/wire.py, native/src/wire.rs) against the official protobuf classes: whatever it
writes, upb decodes to exactly the spans, attributes, events, links and status that were asked for."""

from __future__ import annotations

import enum
import math

from hypothesis import given, settings, strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector_plugin.emit import wire

scalars = st.one_of(st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
                    st.floats(allow_nan=False), st.text(max_size=300))


def _decoded(value) -> object:
    av = AnyValue.FromString(wire.any_value(value))
    return getattr(av, av.WhichOneof("value"))


@given(scalars)
@settings(max_examples=400, deadline=None)
def test_any_value_round_trips_through_upb(value):
    assert _decoded(value) == value and type(_decoded(value)) is type(value)


def test_any_value_edge_cases():
    assert _decoded(-1) == -1 and _decoded(2**63 - 1) == 2**63 - 1 and _decoded(-(2**63)) == -(2**63)
    assert math.isinf(_decoded(float("inf"))) and _decoded(0.0) == 0.0
    assert _decoded("\ud800x") == "?x"  # a lone surrogate can't be UTF-8: replaced, the request stays decodable
    assert _decoded("é" * 200) == "é" * 200  # multi-byte lengths above 127 take a two-byte varint


@given(st.dictionaries(st.text(min_size=1, max_size=40), st.one_of(st.none(), scalars), max_size=20),
       st.integers(min_value=0, max_value=2**64 - 1), st.integers(min_value=0, max_value=2**64 - 1),
       st.text(max_size=80), st.lists(st.tuples(st.binary(min_size=16, max_size=16), st.binary(min_size=8, max_size=8)), max_size=3),
       st.one_of(st.none(), st.text(max_size=100)), st.integers(min_value=0, max_value=1000))
@settings(max_examples=200, deadline=None)
def test_span_request_decodes_to_what_was_encoded(attrs, start, end, name, links, error, dropped):
    event = wire.span_event(start, "exception", {"exception.type": "TypeError"})
    encoded = wire.span(b"\x01" * 16, b"\x02" * 8, b"\x03" * 8, name, start, end, attrs, events=[event],
                        dropped_events=dropped, links=links, error=error)
    body = wire.request([(wire.resource({"service.name": "shop", "service.version": None}), wire.scope("otel-friction", "1.2"),
                          [encoded, wire.span(b"\x04" * 16, b"\x05" * 8, b"", "session", 1, 2, {})])])
    req = ExportTraceServiceRequest.FromString(body)
    (rs,) = req.resource_spans
    assert [(kv.key, kv.value.string_value) for kv in rs.resource.attributes] == [("service.name", "shop")]
    (ss,) = rs.scope_spans
    assert (ss.scope.name, ss.scope.version) == ("otel-friction", "1.2")
    span, root = ss.spans
    assert (span.trace_id, span.span_id, span.parent_span_id, span.name) == (b"\x01" * 16, b"\x02" * 8, b"\x03" * 8, name)
    assert (span.kind, span.start_time_unix_nano, span.end_time_unix_nano) == (Span.SpanKind.SPAN_KIND_INTERNAL, start, end)
    got = {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in span.attributes}
    assert got == {k: v for k, v in attrs.items() if v is not None}
    assert [(e.time_unix_nano, e.name, e.attributes[0].value.string_value) for e in span.events] == [(start, "exception", "TypeError")]
    assert span.dropped_events_count == dropped
    assert [(link.trace_id, link.span_id) for link in span.links] == links
    if error is None:
        assert not span.HasField("status")
    else:
        assert (span.status.code, span.status.message) == (Status.StatusCode.STATUS_CODE_ERROR, error)
    assert (root.name, root.parent_span_id, len(root.attributes)) == ("session", b"", 0)


class _Custom:
    def __str__(self) -> str:
        return "custom \ud800"  # str() of an object may hold a lone surrogate too


class _Level(enum.IntEnum):
    HIGH = 3


# Text with lone surrogates (Python strs may hold them, UTF-8 can't), values of every kind the encoder tells apart:
# ints at and beyond the int64 bounds, and objects that are neither strings nor numbers.
_chars = st.one_of(st.characters(), st.characters(categories=["Cs"]))
edge_values = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=False), st.text(_chars, max_size=30),
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.sampled_from([-1, -(2**63), 2**63 - 1, 2**63, -(2**63) - 1, 2**64]),
    st.integers(min_value=2**63, max_value=2**200), st.integers(min_value=-(2**200), max_value=-(2**63) - 1),
    st.sampled_from([_Custom(), _Level.HIGH, (1, "x"), b"\xff", 1j, float("inf")]))


def _expected(value) -> object:
    """What a receiver should read back, spelled out independently of the encoder: bool is not taken for an int,
    ints within int64 stay ints (larger ones, which int64 can't hold, become their decimal string), any other
    non-str becomes str(value), and a lone surrogate becomes "?"."""
    if isinstance(value, bool | float):
        return value
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return int(value)
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "replace").decode()


def _typed(av: AnyValue) -> tuple[type, object]:
    value = getattr(av, av.WhichOneof("value"))
    return type(value), value


@given(st.lists(st.tuples(st.text(_chars, min_size=1, max_size=20), edge_values), max_size=15))
@settings(max_examples=400, deadline=None)
def test_attribute_values_decode_to_what_python_semantics_say(pairs):
    attrs = dict(pairs)
    want = [(_expected(k), (type(_expected(v)), _expected(v))) for k, v in attrs.items() if v is not None]
    span = Span.FromString(wire.span(b"\x01" * 16, b"\x02" * 8, b"", "s", 1, 2, attrs))
    assert [(kv.key, _typed(kv.value)) for kv in span.attributes] == want  # order kept, None left out
    event = Span.Event.FromString(wire.span_event(1, "e", attrs))
    assert [(kv.key, _typed(kv.value)) for kv in event.attributes] == want
    for _, v in pairs:
        assert _typed(AnyValue.FromString(wire.any_value(v))) == (type(_expected(v)), _expected(v))


def test_negative_ints_are_int64_twos_complement():
    assert wire.any_value(-1) == b"\x18" + b"\xff" * 9 + b"\x01"  # ten bytes, as every protobuf library writes it
    assert wire.any_value(2**63) == wire.any_value(str(2**63))


def test_events_and_links_may_be_any_iterable():
    event = wire.span_event(5, "e", {})
    links = [(b"\x07" * 16, b"\x08" * 8)]
    as_lists = wire.span(b"\x01" * 16, b"\x02" * 8, b"", "s", 1, 2, {}, events=[event], links=links)
    assert wire.span(b"\x01" * 16, b"\x02" * 8, b"", "s", 1, 2, {}, events=(e for e in [event]), links=tuple(links)) == as_lists
    span = Span.FromString(as_lists)
    assert [(e.time_unix_nano, e.name) for e in span.events] == [(5, "e")]
    assert [(link.trace_id, link.span_id) for link in span.links] == links
