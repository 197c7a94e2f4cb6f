"""The native classifier (``native/src/classify.rs``) against its specification, the Python classifier and
normalization it replaced (``tests/reference_classify.py``, ``tests/reference_normalize.py``): same events, same
counts, same verdicts, over random requests of every shape the senders produce. Plus what only the native one does: reading the wire (malformed bodies, arbitrary bytes), and
refusing to start when ``collector_plugin.events`` and the native builder disagree on a class's fields."""

from __future__ import annotations

import dataclasses
import types

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector_plugin import events
from collector_plugin._native import Classifier
from collector_plugin.config import Settings
from collector_plugin.ingest import classify as ingest
from collector_plugin.ingest.classify import MAX_DEPTH, Limits, validate
from collector_plugin.normalize import Normalizer
from tests import reference_classify as reference
from tests.reference_normalize import normalize
from tests.support import Pairs, logs_request, set_any

NOW = 1_700_000_000_000_000_000
KEYS = sorted(reference.KNOWN_KEYS) + ["not.read"]
NESTED_KEYS = ["frames", "previousSession", "userActionName", "filename", "lineno", "colno", "function", "a"]

NORMALIZER = Normalizer(Settings.model_validate({"pii": {"hmac_secret": "test"}}))
# What normalization changes: PII in text and URLs, ids in paths, query strings, user agents of each device class.
PII = st.sampled_from([
    "mail me at ana@example.com", "card 4111 1111 1111 1111", "https://shop.example/product/12345?email=a@b.co&utm_source=x",
    "https://shop.example/#/cart?step=2", "/checkout/3f2a1b9c4d5e6f70", "Bearer abcdefghijk", "Mozilla/5.0 (iPhone) Mobile",
    "Mozilla/5.0 (iPad)", "Googlebot/2.1", "https://user:pw@shop.example:8443/a%40b.com/x",
    "TypeError: x is undefined\n    at f (https://shop.example/app.3f2a1b9c.js:1:2)",
])
text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=14) | PII  # proto strings are UTF-8
numeric_strings = st.sampled_from(["", "nan", "inf", "-inf", "1e400", "12", "12.7", " 7 ", "1_000", "0x10", "true",
                                   "FALSE", "True", "x", "click"])
scalars = st.one_of(
    st.none(), text, numeric_strings, st.booleans(), st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, 1, 390, 2**53 + 1]),
    st.floats(allow_nan=True, allow_infinity=True), st.binary(max_size=4),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.lists(st.tuples(st.sampled_from(NESTED_KEYS), inner), max_size=5).map(Pairs),
), max_leaves=14)
attributes = st.lists(st.tuples(st.sampled_from(KEYS), values), max_size=9)
limits = st.sampled_from([Limits(), Limits(max_attributes=7, max_length=12)])


def _same(signal: str, body: bytes, lim: Limits, want, now_ns: int | None = None) -> None:
    """Validation, then classification of what passed, as the pipeline runs them, against the specification."""
    v = validate(signal, body, lim)
    assert (v.records, v.rejected, v.errors, v.without_session) == (want.records, want.rejected, want.errors, want.without_session)
    got = classify(signal, body, lim, now_ns)
    assert repr(got.events) == repr([normalize(NORMALIZER, e) for e in want.events])  # repr: NaN equals itself, True is not 1
    assert (got.dropped, got.skipped) == (want.dropped, want.skipped)


def classify(signal: str, body: bytes, lim: Limits = Limits(), now_ns: int | None = None) -> ingest.Classified:
    return ingest.classify(signal, body, lim, NORMALIZER, "svc", now_ns)


# ---------------------------------------------------------------------------------------------------- logs

EVENT_NAMES = sorted(reference._LOG_EVENTS) + sorted(reference._SKIPPED_EVENTS) + ["", "my.app.event"]
log_ids = st.sampled_from([b"", b"\x01" * 16, b"\x02" * 8, b"\x03" * 5])
log_records = st.lists(st.fixed_dictionaries({
    "time": st.sampled_from([0, 1, 2**64 - 1]) | st.integers(0, 2**64 - 1),
    "observed": st.sampled_from([0, 5]), "event_name": st.sampled_from(EVENT_NAMES) | text,
    "trace_id": log_ids, "span_id": log_ids, "attributes": attributes,
}), max_size=4)
log_scopes = st.sampled_from([reference.FRICTION_SCOPE, reference.FARO_SCOPE, "@opentelemetry/instrumentation-web-exception"]) | text
logs_requests = st.lists(st.tuples(attributes, st.lists(st.tuples(log_scopes, log_records), max_size=3)), max_size=3)


def build_logs(resources) -> ExportLogsServiceRequest:
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


def _record(event_name: str, *attributes) -> dict:
    return {"time": 5, "observed": 0, "event_name": event_name, "trace_id": b"", "span_id": b"", "attributes": list(attributes)}


EMAIL, CARD, PII_URL = "ana@example.com", "4111 1111 1111 1111", "https://shop.example/product/12345?email=a@b.co&utm_source=x"
# Every field normalization fills, with something to mask in it (random requests rarely put PII exactly there).
EVERY_NORMALIZED_LOG_FIELD = [([("session.id", "s1"), ("user_agent.original", "Mozilla/5.0 (iPhone) Mobile")], [
    (reference.FRICTION_SCOPE, [
        _record("browser.page_view", ("url.full", PII_URL), ("browser.document.referrer", "https://mail.example/?to=" + EMAIL)),
        _record("browser.user_action.click", ("url.full", PII_URL), ("browser.css_selector", "#pay-" + CARD),
                ("browser.element.text", "mail " + EMAIL), ("user.id", EMAIL)),
        _record("browser.form.field_blur", ("browser.form.id", EMAIL), ("browser.form.field.name", "card " + CARD)),
        _record("exception", ("exception.type", EMAIL), ("exception.message", f"no user {EMAIL} at {PII_URL}"),
                ("exception.stacktrace", f"Error\n    at f ({PII_URL}:1:2)")),
        _record("browser.web_vital", ("browser.web_vital.name", EMAIL)),
        _record("browser.user_action.click", ("http.user_agent", "Googlebot/2.1"), ("browser.viewport.width", 390)),
    ])])]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs_requests, limits)
@example(EVERY_NORMALIZED_LOG_FIELD, Limits())
@example([([("session.id", "s1"), ("browser.screen_width", 390)], [(reference.FARO_SCOPE, [{
    "time": 0, "observed": 0, "event_name": "exception", "trace_id": b"", "span_id": b"", "attributes": [
        ("faro.error.stacktrace", Pairs([("frames", [Pairs([("filename", "app.js"), ("lineno", 12), ("function", "")]), 7])])),
        ("browser.viewport.width", 0), ("session.attributes", Pairs([("previousSession", None)]))]}])])], Limits())
def test_logs_are_classified_as_the_specification_says(resources, lim):
    req = build_logs(resources)
    _same("logs", req.SerializeToString(), lim, reference.classify_logs(req, lim, "svc", NOW), NOW)


# --------------------------------------------------------------------------------------------------- spans

SPAN_IDS = [b"\x01" * 8, b"\x02" * 8, b"\x03" * 8]
spans = st.lists(st.fixed_dictionaries({
    "name": st.sampled_from(["click", "Navigation: /cart", "documentLoad", "HTTP GET", "submit", ""]) | text,
    "trace_id": st.sampled_from([b"\x01" * 16, b"\x01" * 16, b"\x02" * 4]),
    "span_id": st.sampled_from(SPAN_IDS + [b"\x04" * 5]), "parent": st.sampled_from([b""] + SPAN_IDS + [b"\x05" * 3]),
    "start": st.sampled_from([0, 10**18]), "end": st.sampled_from([0, 10**18 + 2_500_000, 5]),
    "attributes": attributes | st.just([("session.id", "s1"), ("http.method", "GET"), ("http.status_code", "200")]),
    "events": st.lists(st.tuples(st.sampled_from(["exception", "other"]), st.sampled_from([0, 7]), attributes), max_size=2),
}), max_size=5)
span_scopes = st.sampled_from(["@opentelemetry/instrumentation-user-interaction", "@opentelemetry/instrumentation-document-load",
                               "@opentelemetry/instrumentation-fetch"]) | text
traces_requests = st.lists(st.tuples(attributes, st.lists(st.tuples(span_scopes, spans), max_size=2)), max_size=2)


def build_traces(resources) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    for res_attrs, scopes in resources:
        rs = req.resource_spans.add()
        for k, v in res_attrs:
            set_any(rs.resource.attributes.add(key=k).value, v)
        for scope_name, items in scopes:
            ss = rs.scope_spans.add()
            ss.scope.name = scope_name
            for s in items:
                span = ss.spans.add(name=s["name"], trace_id=s["trace_id"], span_id=s["span_id"], parent_span_id=s["parent"],
                                    start_time_unix_nano=s["start"], end_time_unix_nano=s["end"])
                for k, v in s["attributes"]:
                    set_any(span.attributes.add(key=k).value, v)
                for name, t, attrs in s["events"]:
                    ev = span.events.add(name=name, time_unix_nano=t)
                    for k, v in attrs:
                        set_any(ev.attributes.add(key=k).value, v)
    return req


def _span(name, span_id, parent=b"", attributes=(), events=()):
    return {"name": name, "trace_id": b"\x01" * 16, "span_id": span_id, "parent": parent, "start": 10**18,
            "end": 10**18 + 2_500_000, "attributes": list(attributes), "events": list(events)}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces_requests, limits)
@example([([("session.id", "s1")], [
    ("@opentelemetry/instrumentation-user-interaction", [
        _span("click", SPAN_IDS[0], attributes=[("target_xpath", f"//a[@href='mailto:{EMAIL}']"), ("url.full", PII_URL),
                                                ("user.id", EMAIL)]),
        _span(EMAIL, SPAN_IDS[1], attributes=[("event_type", f"submit {CARD}")])]),
    ("@opentelemetry/instrumentation-fetch", [
        _span("HTTP GET", SPAN_IDS[2], SPAN_IDS[0], [("http.method", "GET"), ("http.url", PII_URL)],
              [("exception", 0, [("exception.message", "failed for " + EMAIL)])])]),
])], Limits())
@example([([("session.id", "s1")], [
    ("@opentelemetry/instrumentation-user-interaction", [_span("click", SPAN_IDS[0], attributes=[("target_xpath", "//button")]),
                                                         _span("Navigation: /cart", SPAN_IDS[1])]),
    ("@opentelemetry/instrumentation-fetch", [
        _span("HTTP GET", SPAN_IDS[2], SPAN_IDS[0], [("http.method", "GET"), ("http.status_code", "200")],
              [("exception", 0, [("exception.type", "TypeError")])])]),
])], Limits())
def test_spans_are_classified_as_the_specification_says(resources, lim):
    req = build_traces(resources)
    body = req.SerializeToString()
    _same("traces", body, lim, reference.classify_spans(req, lim, "svc"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(EVENT_NAMES), st.lists(st.tuples(st.sampled_from(KEYS), values), max_size=8)),
                min_size=1, max_size=4))
@example([("browser.user_action.click", [("browser.page.x", float("nan")), ("browser.page.y", float("inf"))])])
@example([("browser.scroll", [("browser.scroll.distance_px", "1e400"), ("browser.document.height", "-inf")])])
def test_no_attribute_value_loses_the_records_beside_it(records):
    request = logs_request([("browser.page_view", 1, {"session.id": "kept", "url.full": "https://shop.example/"})])
    scope = request.resource_logs[0].scope_logs[0]
    for name, attrs in records:
        rec = scope.log_records.add(time_unix_nano=1, event_name=name)
        for k, v in attrs:
            set_any(rec.attributes.add(key=k).value, v)
    body = request.SerializeToString()
    v, out = validate("logs", body, Limits()), classify("logs", body, now_ns=1)
    assert any(e.session_id == "kept" for e in out.events)
    assert len(out.events) + sum(out.dropped.values()) + sum(out.skipped.values()) + v.rejected == len(records) + 1


# ------------------------------------------------------------------------------------------ what's native

def test_the_native_classifier_reads_the_keys_the_specification_reads():
    assert set(Classifier.known_keys()) == reference.KNOWN_KEYS


def test_values_under_keys_no_kind_reads_are_not_parsed():
    # A malformed AnyValue (a string claiming 9 bytes with 1 left) under a key no kind reads is skipped unparsed;
    # under a key that is read, the request is refused.
    def body(key: str) -> bytes:
        req = logs_request([("browser.page_view", 1, {"session.id": "s1"})])
        rec = req.resource_logs[0].scope_logs[0].log_records[0].SerializeToString()
        kv = b"\x0a" + bytes([len(key)]) + key.encode() + b"\x12\x03\x0a\x09x"
        rec += b"\x32" + bytes([len(kv)]) + kv  # attributes = 6
        scope = b"\x12" + bytes([len(rec)]) + rec
        resource = b"\x12" + bytes([len(scope)]) + scope
        return b"\x0a" + bytes([len(resource)]) + resource

    assert validate("logs", body("browser.element.attributes"), Limits()).records == 1
    assert len(classify("logs", body("browser.element.attributes")).events) == 1
    with pytest.raises(ValueError, match="length past the end"):
        validate("logs", body("url.full"), Limits())


def test_strings_are_cut_at_characters_not_bytes():
    req = logs_request([("browser.page_view", 1, {"session.id": "s1", "url.full": "é" * 20})])
    c = classify("logs", req.SerializeToString(), Limits(max_length=7))
    assert c.events[0].url == "é" * 7


def test_values_every_event_repeats_are_one_string_object():
    """Open pages hold their events for as long as the visitor stays: a copy of the session id, service, user agent,
    tag or reaction per event cost more memory than the event itself (benchmarks/memory.py --visits)."""
    def click(sid: str, t: int) -> tuple:
        return ("browser.user_action.click", t, {"session.id": sid, "browser.tag_name": "BUTTON",
                                                 "browser.click.reaction": "none", "browser.click.pointer_type": "mouse"})
    ua = {"user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0", "service.version": "1.4.2"}
    one = logs_request([click("a" * 32, 1), click("a" * 32, 2), click("b" * 32, 3)], resource=ua).SerializeToString()
    other = logs_request([click("c" * 32, 4)], resource=ua).SerializeToString()
    a1, a2, b, c = classify("logs", one).events + classify("logs", other).events
    assert a1.session_id == a2.session_id and a1.session_id is a2.session_id
    assert b.session_id == "b" * 32
    for x in (a2, b, c):  # across records and across requests
        assert x.service_name is a1.service_name and x.service_version is a1.service_version
        assert x.client.user_agent is a1.client.user_agent
        assert x.detail.tag is a1.detail.tag and x.detail.reaction is a1.detail.reaction and x.detail.pointer is a1.detail.pointer
    assert (c.detail.tag, c.detail.reaction, c.detail.pointer, c.client.user_agent, c.service_version) == (
        "BUTTON", "none", "mouse", ua["user_agent.original"], "1.4.2")


def test_a_flood_of_distinct_values_is_not_kept():
    """The shared strings come from browsers: 20,000 distinct 500-byte user agents (10 MB) must not stay in memory
    once the events holding them are gone."""
    import gc
    import tracemalloc

    bodies = [logs_request([("browser.page_view", 1, {"session.id": f"s{r}"})],
                           resource={"user_agent.original": f"{r:06d}" + "x" * 494}).SerializeToString() for r in range(20_000)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for body in bodies:
            assert classify("logs", body).events[0].client.user_agent.endswith("x")
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 3_000_000  # at most the bounded map's 4,096 values (about 2.2 MB), not 20,000


MALFORMED = [
    (b"\x0a\x05\x12\x03", "length past the end"),  # a resource claiming 5 bytes with 4 left
    (b"\x0a\x02\x12\x80", "truncated varint"),
    (b"\x0a\x03\x12\x01\xff", "truncated varint"),
    (b"\x0b", "unsupported wire type"),  # a group
    (b"\x0a\x06\x12\x04\x0a\x03\x62\x05", "length past the end"),
    (b"\x08" + b"\xff" * 11, "varint longer than 10 bytes"),
]


@pytest.mark.parametrize("signal, body, why", [(signal, body, why) for signal in ("logs", "traces") for body, why in MALFORMED] + [
    ("logs", b"\x0a\x0a\x12\x08\x12\x06\x62\x04\x62\x02\xc3\x28", "not UTF-8"),  # a log record's event_name
    ("traces", b"\x0a\x08\x12\x06\x12\x04\x2a\x02\xc3\x28", "not UTF-8"),  # a span's name
])
def test_malformed_bodies_are_refused_with_a_reason(signal, body, why):
    with pytest.raises(ValueError, match=why):
        validate(signal, body, Limits())


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["logs", "traces"]))
def test_arbitrary_bytes_never_crash_and_what_passes_validation_classifies(body, signal):
    try:
        v = validate(signal, body, Limits())
    except ValueError:  # the only way a body is refused
        return
    assert len(v.errors) == v.rejected and v.without_session <= v.records
    classify(signal, body)  # after the answer: it must not fail on a body validation passed


def test_a_class_that_changed_its_fields_stops_the_classifier_at_start():
    @dataclasses.dataclass(frozen=True, slots=True)
    class Click:
        x: int | None = None
        moved: bool = False

    changed = types.SimpleNamespace(**{name: getattr(events, name) for name in dir(events)})
    changed.Click = Click
    with pytest.raises(TypeError, match=r'Click has the fields \["x", "moved"\]'):
        Classifier(changed, NORMALIZER, "svc", 128, 4096, MAX_DEPTH)
