"""OTLP request decoding: content types, compression, protobuf and OTLP/JSON.

OTLP/JSON is read record by record so one malformed record is rejected (through ``partial_success``)
while the valid records beside it are kept; protobuf is all-or-nothing by nature of the wire format.

Protobuf logs and traces are left as bytes: classification reads them natively (``ingest.classify``), and OTLP/JSON
logs and traces are turned into the same bytes natively too (``native/src/otlp_json.rs``; in Python, json.loads and
ParseDict per record made JSON ~10x as costly as protobuf end to end). Metrics, which browsers send without a
session, are decoded with upb.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Literal

from google.protobuf import json_format
from google.protobuf.message import DecodeError as _PbDecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from .._native import BadJson, json_to_protobuf


Signal = Literal["logs", "traces", "metrics"]
Format = Literal["protobuf", "json"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class RequestError(Exception):
    """The whole request is unusable; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, reason: str):
        super().__init__(message)
        self.status = status
        self.reason = reason  # the `reason` label of the rejection self-metric


def media_format(content_type: str | None) -> Format:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime == PROTOBUF:
        return "protobuf"
    if mime == JSON:
        return "json"
    raise RequestError(415, f"unsupported Content-Type {content_type!r}: use {PROTOBUF} or {JSON}", "unsupported_media_type")


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding without ever holding more than ``limit`` bytes (gzip bombs end at the limit)."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        if len(body) > limit:
            raise RequestError(413, f"body of {len(body)} bytes exceeds the limit of {limit} bytes", "too_large")
        return body
    if encoding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS | 32  # zlib or raw-with-header autodetect, as browsers and Go disagree here
    else:
        raise RequestError(415, f"unsupported Content-Encoding {encoding!r}: use gzip, deflate or none", "unsupported_encoding")
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise RequestError(400, f"body is not valid {encoding}: {exc}", "bad_compression") from None
    if len(out) > limit:
        raise RequestError(413, f"decompressed body exceeds the limit of {limit} bytes", "too_large")
    if not inflater.eof:
        raise RequestError(400, f"{encoding} body is truncated", "bad_compression")
    return out


@dataclass
class Decoded:
    request: bytes | ExportMetricsServiceRequest  # logs and traces: the protobuf request's bytes
    rejected: int = 0  # records of an OTLP/JSON request that could not be read, left out
    errors: list[str] = field(default_factory=list)


def decode(signal: Signal, body: bytes, fmt: Format) -> Decoded:
    if fmt == "protobuf":
        if signal != "metrics":
            return Decoded(body)
        request = ExportMetricsServiceRequest()
        try:
            request.ParseFromString(body)
        except (_PbDecodeError, RuntimeError, ValueError) as exc:
            raise RequestError(400, f"body is not a valid {request.DESCRIPTOR.name} protobuf: {exc}", "bad_protobuf") from None
        return Decoded(request)
    if signal != "metrics":
        try:
            request, rejected, errors = json_to_protobuf(signal, body)
        except BadJson as exc:
            raise RequestError(400, str(exc), "bad_json") from None
        return Decoded(request, rejected, errors)
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError(400, f"body is not valid JSON: {exc}", "bad_json") from None
    if not isinstance(doc, dict):
        raise RequestError(400, f"OTLP/JSON body must be an object, got {type(doc).__name__}", "bad_json")
    request = ExportMetricsServiceRequest()
    try:
        json_format.ParseDict(doc, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise RequestError(400, f"invalid OTLP/JSON metrics request: {exc}", "bad_json") from None
    return Decoded(request)
