"""The native logs decoder against the official protobuf classes: same records, same values, same verdicts.

The reference reads the same request with upb and converts attributes with ``_Attrs.of``, the converter the
spans path uses, so both paths into classification agree on every value.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector_plugin.ingest.classify import KNOWN_KEYS, Limits, LogsBatch, _Attrs
from collector_plugin.ingest.decode import RequestError, decode_logs
from tests.support import Pairs, set_any

LIMITS = Limits(max_attributes=6, max_length=12)
KEYS = sorted(KNOWN_KEYS)[:8] + ["session.id", "session.attributes", "event.attributes", "not.read"]

text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)  # proto strings are UTF-8
scalars = st.one_of(
    st.none(), text, st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), st.binary(max_size=6),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=8),
    st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]), inner), max_size=8).map(Pairs),
), max_leaves=30)


attributes = st.lists(st.tuples(st.sampled_from(KEYS), values), max_size=9)
ids = st.sampled_from([b"", b"\x01" * 16, b"\x02" * 8, b"\x03" * 5])
records = st.lists(st.fixed_dictionaries({
    "time": st.integers(0, 2**64 - 1), "observed": st.integers(0, 2**64 - 1), "event_name": text,
    "trace_id": ids, "span_id": ids, "attributes": attributes,
}), max_size=4)
requests = st.lists(st.tuples(attributes, st.lists(st.tuples(text, records), max_size=3)), max_size=3)


def build(resources) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    for res_attrs, scopes in resources:
        rl = req.resource_logs.add()
        for k, v in res_attrs:
            set_any(rl.resource.attributes.add(key=k).value, v)
        for scope_name, recs in scopes:
            sl = rl.scope_logs.add()
            sl.scope.name = scope_name
            for r in recs:
                rec = sl.log_records.add(time_unix_nano=r["time"], observed_time_unix_nano=r["observed"], event_name=r["event_name"],
                                         trace_id=r["trace_id"], span_id=r["span_id"])
                for k, v in r["attributes"]:
                    set_any(rec.attributes.add(key=k).value, v)
    return req


def reference(req: ExportLogsServiceRequest, limits: Limits) -> LogsBatch:
    resources, errors = [], []
    kept = rejected = without = 0
    for rl in req.resource_logs:
        res_session = any(kv.key == "session.id" for kv in rl.resource.attributes)
        scopes = []
        for sl in rl.scope_logs:
            recs = []
            for i, rec in enumerate(sl.log_records):
                if len(rec.trace_id) not in (0, 16) or len(rec.span_id) not in (0, 8):
                    problem = "trace_id must be 16 bytes and span_id 8 bytes (either may be empty)"
                elif len(rec.attributes) > limits.max_attributes:
                    problem = f"{len(rec.attributes)} attributes, the limit is {limits.max_attributes}"
                else:
                    problem = None
                if problem:
                    rejected += 1
                    errors.append(f"log record {i} of scope {sl.scope.name!r}: {problem}")
                    continue
                kept += 1
                without += not res_session and not any(kv.key == "session.id" for kv in rec.attributes)
                recs.append((rec.time_unix_nano, rec.observed_time_unix_nano, rec.event_name, rec.trace_id, rec.span_id,
                             dict(_Attrs.of(rec.attributes, limits))))
            scopes.append((sl.scope.name, recs))
        resources.append((dict(_Attrs.of(rl.resource.attributes, limits)), scopes))
    return LogsBatch(resources, kept, rejected, errors, without)


def same(a, b) -> bool:
    """Equality with NaN equal to itself and bool distinct from int (True == 1 in Python)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests)
def test_native_decoding_matches_the_official_classes(resources):
    req = build(resources)
    got = decode_logs(req.SerializeToString(), LIMITS)
    want = reference(req, LIMITS)
    assert (got.records, got.rejected, got.errors, got.without_session) == (want.records, want.rejected, want.errors, want.without_session)
    assert same(got.resources, want.resources)


def test_only_the_keys_classification_reads_are_converted():
    req = build([([("not.read", "x"), ("service.name", "shop")], [("s", [{
        "time": 1, "observed": 2, "event_name": "browser.user_action.click", "trace_id": b"", "span_id": b"",
        "attributes": [("session.id", "abc"), ("browser.element.attributes", "secret"), ("browser.css_selector", "#buy")]}])])])
    batch = decode_logs(req.SerializeToString(), Limits())
    (res_attrs, [(scope, [record])]), = batch.resources
    assert res_attrs == {"service.name": "shop"}
    assert record == (1, 2, "browser.user_action.click", b"", b"", {"session.id": "abc", "browser.css_selector": "#buy"})


def test_strings_are_cut_at_characters_not_bytes():
    req = build([([], [("s", [{"time": 1, "observed": 0, "event_name": "", "trace_id": b"", "span_id": b"",
                                "attributes": [("url.full", "é" * 20)]}])])])
    batch = decode_logs(req.SerializeToString(), Limits(max_length=7))
    assert batch.resources[0][1][0][1][0][5]["url.full"] == "é" * 7


@pytest.mark.parametrize("body, why", [
    (b"\x0a\x05\x12\x03", "length past the end"),  # a resource_logs claiming 5 bytes with 4 left
    (b"\x0a\x02\x12\x80", "truncated varint"),
    (b"\x0a\x03\x12\x01\xff", "truncated varint"),
    (b"\x0b", "unsupported wire type"),  # a group
    (b"\x0a\x06\x12\x04\x0a\x03\x62\x05", "length past the end"),
    (b"\x0a\x0a\x12\x08\x12\x06\x62\x04\x62\x02\xc3\x28", "not UTF-8"),
    (b"\x08" + b"\xff" * 11, "varint longer than 10 bytes"),
])
def test_malformed_bodies_are_refused_with_a_reason(body, why):
    with pytest.raises(RequestError) as exc:
        decode_logs(body, Limits())
    assert exc.value.status == 400 and exc.value.reason == "bad_protobuf" and why in str(exc.value)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(body):
    try:
        batch = decode_logs(body, Limits())
    except RequestError as exc:
        assert exc.status == 400
    else:
        assert batch.records + batch.rejected >= 0
