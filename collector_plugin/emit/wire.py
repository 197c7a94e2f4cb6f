"""Protobuf wire encoding of the OTLP trace messages this service emits, written straight to bytes.

Spans are most of what the pipeline outputs (about one per event), each with ~10 attributes. Building upb
messages costs a Python call per field, and encoding by hand in Python still cost a call and a bytes object
per field and attribute (~16% of the pipeline's CPU), so the encoder is native (``native/src/wire.rs``): each
function writes its message into one buffer. Only what ``emit/spans.py`` writes is covered:
ExportTraceServiceRequest → ResourceSpans → ScopeSpans → Span with attributes, events, links and status.

- ``attributes(tag, pairs)``: repeated KeyValue under the field whose key is ``tag``, in dict order, None values
  left out;
- ``any_value(value)``: AnyValue; bool, int (int64; larger ints as their string), float, anything else as
  ``str(value)``; lone surrogates are written as ``?`` so the request stays decodable;
- ``span_event(time_ns, name, attrs)``, ``span(trace_id, span_id, parent_span_id, name, start_ns, end_ns, attrs,
  *, events=(), dropped_events=0, links=(), error=None)`` (kind INTERNAL; ``error`` sets status ERROR),
  ``resource(attrs)``, ``scope(name, version)``: those messages;
- ``request(groups)``: ExportTraceServiceRequest from (encoded Resource, encoded scope, encoded spans) tuples.

Tests decode every output with the official classes.
"""

from __future__ import annotations

from .._native import any_value, attributes, request, resource, scope, span, span_event

__all__ = ["any_value", "attributes", "request", "resource", "scope", "span", "span_event"]
