"""Benchmark payloads: realistic browser log batches from the project's simulator, serialized once up front.

Batches are written to one file (length-prefixed bodies) that the load-generator processes read. Replaying a
batch twice would make its sessions "late" (ended sessions are remembered), which is cheaper than real traffic,
so every replay pass gets fresh session ids: the first 4 hex digits of each ``session.id`` value are rewritten in
the serialized bytes (same length, so the protobuf stays valid), see ``variant``.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import time
from pathlib import Path

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

# KeyValue{key="session.id", value=AnyValue{string_value=<32 hex>}} as protobuf bytes, and as OTLP/JSON.
_PB_SID = re.compile(rb'(\n\nsession\.id\x12"\n )[0-9a-f]{4}')
_JSON_SID = re.compile(rb'("key":"session\.id","value":\{"stringValue":")[0-9a-f]{4}')


def build(records: int, seed: int = 7) -> tuple[list[bytes], int]:
    """Protobuf ExportLogsServiceRequest bodies of ~1,000 records each, ``records`` in total (rounded up to a session)."""
    from collector_plugin.simulate import ShopSimulator, to_requests

    sim = ShopSimulator(seed, start_ns=time.time_ns())
    sessions, n = [], 0
    for s in sim.sessions(10**9):
        sessions.append(s)
        n += len(s.records)
        if n >= records:
            break
    return [r.SerializeToString() for r in to_requests(sessions, max_records=1000)], n


def record_count(body: bytes) -> int:
    req = ExportLogsServiceRequest.FromString(body)
    return sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)


def to_otlp_json(body: bytes) -> bytes:
    """OTLP/JSON as the spec maps it: lowerCamelCase keys, trace/span ids as hex (not protobuf-JSON base64)."""
    doc = json_format.MessageToDict(ExportLogsServiceRequest.FromString(body))
    for rl in doc.get("resourceLogs", []):
        for sl in rl.get("scopeLogs", []):
            for rec in sl.get("logRecords", []):
                for key in ("traceId", "spanId"):
                    if key in rec:
                        rec[key] = base64.b64decode(rec[key]).hex()
    return json.dumps(doc, separators=(",", ":")).encode()


def variant(body: bytes, pass_no: int, fmt: str = "protobuf") -> bytes:
    """The body with every session id's first 4 hex digits set to ``pass_no`` (mod 65536): fresh sessions per pass."""
    prefix = b"%04x" % (pass_no % 65536)
    pattern = _JSON_SID if fmt == "json" else _PB_SID
    return pattern.sub(rb"\g<1>" + prefix, body)


def write(path: Path, bodies: list[bytes], counts: list[int]) -> None:
    with open(path, "wb") as fh:
        for body, n in zip(bodies, counts):
            fh.write(struct.pack("<II", len(body), n))
            fh.write(body)


def read(path: Path) -> tuple[list[bytes], list[int]]:
    data = Path(path).read_bytes()
    bodies, counts, i = [], [], 0
    while i < len(data):
        size, n = struct.unpack_from("<II", data, i)
        i += 8
        bodies.append(data[i:i + size])
        counts.append(n)
        i += size
    return bodies, counts
