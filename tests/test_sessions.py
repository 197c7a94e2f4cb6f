"""Sessionization and the span model, driven through the pipeline with the service clock under test control."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client import generate_latest

from collector_plugin.emit.exporter import InMemorySpanExporter
from collector_plugin.pipeline import Pipeline
from collector_plugin.sessionize import session_trace_ids
from conftest import make_settings
from support import attr, logs_request

T0 = 1_763_000_000_000_000_000
S = 1_000_000_000
URL = "https://shop.example"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pipeline(**overrides):
    clock, memory = Clock(), InMemorySpanExporter()
    return Pipeline(make_settings(**overrides), exporters=[memory], clock=clock), clock, memory


def sample(p: Pipeline, name: str, **labels) -> float:
    total = 0.0
    for metric in p.registry.collect():
        for s in metric.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def journey(sid: str, t: int = T0):
    return [
        ("browser.page_view", t, {"session.id": sid, "url.full": f"{URL}/product/1?utm_source=newsletter&utm_medium=email"}),
        ("browser.user_action.click", t + 2 * S, {"session.id": sid, "url.full": f"{URL}/product/1", "browser.css_selector": "#add",
                                                  "browser.tag_name": "BUTTON", "browser.click.reaction": "network"}),
        ("exception", t + 3 * S, {"session.id": sid, "url.full": f"{URL}/product/1", "exception.type": "TypeError",
                                  "exception.message": "boom"}),
        ("browser.page_view", t + 10 * S, {"session.id": sid, "url.full": f"{URL}/cart"}),
        ("browser.scroll", t + 20 * S, {"session.id": sid, "url.full": f"{URL}/cart", "browser.scroll.max_depth": 0.8}),
    ]


def test_trace_id_is_derived_from_the_session_id():
    a1, r1 = session_trace_ids("abc")
    a2, r2 = session_trace_ids("abc")
    b, _ = session_trace_ids("abd")
    assert (a1, r1) == (a2, r2) and a1 != b and len(a1) == 16 and len(r1) == 8


def test_page_views_and_interactions_are_exported_before_the_session_ends_and_root_after():
    p, clock, memory = pipeline()
    p.ingest_request("logs", logs_request(journey("s1")))
    p.tick()
    names = sorted(s.name for _, s in memory.spans())
    # The first page view ended when the second began; click and error spans go out at once (and the click, followed
    # by the error within the window, is an error click); no root yet.
    assert names == ["click", "error_click", "exception", "page_view /product/:id"]
    clock.now += 1799
    p.tick()
    assert "session" not in {s.name for _, s in memory.spans()}
    clock.now += 2
    p.tick()
    spans = {s.name: s for _, s in memory.spans()}
    root, page1, page2 = spans["session"], spans["page_view /product/:id"], spans["page_view /cart"]
    trace_id, root_id = session_trace_ids("s1")
    assert all(s.trace_id == trace_id for _, s in memory.spans())
    assert all(attr(s, "session.id") == "s1" for _, s in memory.spans())
    assert root.span_id == root_id and not root.parent_span_id
    assert page1.parent_span_id == root_id and page2.parent_span_id == root_id
    assert spans["click"].parent_span_id == page1.span_id
    assert spans["exception"].parent_span_id == page1.span_id
    assert spans["exception"].status.code == 2 and spans["exception"].events[0].name == "exception"
    assert attr(spans["exception"].events[0], "exception.type") == "TypeError"
    assert page1.status.code == 2  # a page view with a JS error
    assert [e.name for e in page2.events] == ["browser.scroll"]
    assert attr(root, "rum.page_views") == 2 and attr(root, "rum.clicks") == 1 and attr(root, "rum.js_errors") == 1
    assert attr(root, "rum.session.end_reason") == "inactivity" and attr(root, "rum.source") == "email"
    assert root.start_time_unix_nano == T0 and root.end_time_unix_nano == T0 + 20 * S
    assert sample(p, "otel_friction_sessions_ended_total", reason="inactivity") == 1
    assert sample(p, "otel_friction_sessions_active") == 0


def test_max_age_ends_a_session_that_never_goes_idle():
    p, clock, memory = pipeline(sessions__max_age_seconds=100, sessions__inactivity_timeout_seconds=60)
    for i in range(4):
        p.ingest_request("logs", logs_request([journey("busy")[1 if i else 0]]))
        clock.now += 40
        p.tick()
    roots = [s for _, s in memory.spans() if s.name == "session"]
    assert len(roots) == 1 and attr(roots[0], "rum.session.end_reason") == "max_age"


def test_full_session_table_evicts_the_least_recently_seen_and_counts_it():
    p, clock, memory = pipeline(sessions__max_sessions=2)
    for sid in ("a", "b", "c"):
        p.ingest_request("logs", logs_request(journey(sid)[:1]))
        clock.now += 1
    p.tick()
    assert sample(p, "otel_friction_sessions_evicted_total") == 1
    roots = [s for _, s in memory.spans() if s.name == "session"]
    assert [attr(r, "session.id") for r in roots] == ["a"] and attr(roots[0], "rum.session.end_reason") == "evicted"
    assert sample(p, "otel_friction_sessions_active") == 2


def test_an_ended_page_lets_go_of_its_events_once_the_tick_that_used_them_is_over():
    """An open session holds only its current page's events: an ended page's were read in the tick it ended (final
    detection, its span, the report's click map). Without this an open session held every event it had seen."""
    p, clock, memory = pipeline()
    p.ingest_request("logs", logs_request(journey("s1")))  # /product/1 ends when /cart starts
    p.tick()
    product, cart = p.sessions.sessions["s1"].pages
    page_span = next(s for _, s in memory.spans() if s.name == "page_view /product/:id")
    assert [e.name for e in page_span.events] == ["exception"]  # its span was built from its events
    assert sample(p, "rum_error_clicks_total") == 1  # and detection saw them
    p.tick()
    assert product.events == () and len(cart.events) == 1  # the open page keeps its own (the scroll)
    # A late record for the ended page still counts, and is let go after its tick too.
    p.ingest_request("logs", logs_request([("browser.scroll", T0 + 5 * S, {"session.id": "s1", "url.full": f"{URL}/product/1",
                                                                           "browser.scroll.max_depth": 0.5})]))
    p.tick()
    assert len(product.events) == 1
    p.tick()
    assert product.events == ()


def test_late_events_land_in_the_closed_sessions_trace_without_restarting_it():
    p, clock, memory = pipeline()
    p.ingest_request("logs", logs_request(journey("s1")))
    p.tick()
    clock.now += 4000
    p.tick()
    assert sample(p, "rum_sessions_started_total") == 1
    late = [("exception", T0 + 30 * S, {"session.id": "s1", "url.full": f"{URL}/cart", "exception.type": "Error", "exception.message": "late"}),
            ("browser.page_view", T0 + 31 * S, {"session.id": "s1", "url.full": f"{URL}/other"})]
    p.ingest_request("logs", logs_request(late))
    p.tick()
    assert sample(p, "rum_sessions_started_total") == 1  # not double-counted
    assert sample(p, "rum_page_views_total") == 2
    assert sample(p, "rum_js_errors_total") == 2  # the late error is still an error
    assert sample(p, "otel_friction_late_events_total") == 2
    late_span = [s for _, s in memory.spans() if attr(s, "rum.late")][0]
    assert late_span.trace_id == session_trace_ids("s1")[0] and late_span.parent_span_id == session_trace_ids("s1")[1]


def test_events_from_separate_batches_are_put_in_time_order_and_page_signals_merge():
    p, clock, memory = pipeline()
    # The logs batch arrives first; the click that happened on the first page arrives later, in a spans batch.
    p.ingest_request("logs", logs_request([
        ("browser.page_view", T0, {"session.id": "s", "url.full": f"{URL}/"}),
        ("browser.navigation", T0 + 1 * S, {"session.id": "s", "url.full": f"{URL}/", "browser.navigation.type": "push"}),
        ("browser.page_view", T0 + 5 * S, {"session.id": "s", "url.full": f"{URL}/product/9"}),
    ], scope="x"))
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\x07" * 16, span_id=b"\x08" * 8, name="click",
                                                                 start_time_unix_nano=T0 + 2 * S, end_time_unix_nano=T0 + 2 * S)
    for k, v in {"session.id": "s", "event_type": "click", "target_element": "A", "url.full": f"{URL}/"}.items():
        span.attributes.add(key=k).value.string_value = v
    p.tick()
    p.ingest_request("traces", req)
    p.tick()
    assert sample(p, "rum_page_views_total") == 2  # page_view + browser.navigation of one load = one page view
    assert sample(p, "rum_clicks_total", page="/") == 1
    click = next(s for _, s in memory.spans() if s.name == "click")
    page = next(s for _, s in memory.spans() if s.name == "page_view /")
    assert click.parent_span_id == page.span_id


def test_senders_without_page_events_get_page_views_from_route_changes():
    p, clock, memory = pipeline()
    p.ingest_request("logs", logs_request([
        ("exception", T0, {"session.id": "f", "url.full": f"{URL}/product/5", "exception.type": "E", "exception.message": "m"}),
        ("exception", T0 + S, {"session.id": "f", "url.full": f"{URL}/product/6", "exception.type": "E", "exception.message": "m"}),
        ("exception", T0 + 2 * S, {"session.id": "f", "url.full": f"{URL}/cart", "exception.type": "E", "exception.message": "m"}),
    ], scope="@grafana/faro-web-sdk"))
    p.tick()
    assert sample(p, "rum_page_views_total", page="/product/:id") == 1
    assert sample(p, "rum_page_views_total", page="/cart") == 1


def test_sdk_document_load_trace_is_linked_from_the_page_view():
    p, clock, memory = pipeline()
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="documentLoad",
                                                                 start_time_unix_nano=T0, end_time_unix_nano=T0 + S)
    for k, v in {"session.id": "d", "url.full": f"{URL}/", "user_agent.original": "Mozilla/5.0 (iPad; CPU OS 17_5)"}.items():
        span.attributes.add(key=k).value.string_value = v
    p.ingest_request("traces", req)
    p.shutdown()
    spans = {s.name: s for _, s in memory.spans()}
    assert [(l.trace_id, l.span_id) for l in spans["page_view /"].links] == [(b"\x01" * 16, b"\x02" * 8)]
    assert attr(spans["session"], "rum.device") == "tablet"
    assert attr(spans["session"], "rum.session.end_reason") == "shutdown"


def test_records_without_a_session_id_are_counted():
    p, _, _ = pipeline()
    result = p.ingest_request("logs", logs_request([("browser.page_view", T0, {"url.full": URL})]))
    assert result.rejected == 0 and "without a session.id" in result.message
    assert sample(p, "otel_friction_records_dropped_total", reason="missing_session_id") == 1


def test_unknown_event_names_are_counted_not_fatal():
    p, _, _ = pipeline()
    p.ingest_request("logs", logs_request([("my.app.thing", T0, {"session.id": "u"}), ("browser.page_view", T0, {"session.id": "u", "url.full": URL})]))
    p.tick()
    assert sample(p, "otel_friction_records_dropped_total", reason="unknown_event") == 1
    assert sample(p, "rum_page_views_total") == 1


def test_returning_visitor_from_previous_session_or_known_user():
    p, clock, _ = pipeline()
    p.ingest_request("logs", logs_request([("browser.page_view", T0, {"session.id": "a", "url.full": URL, "user.id": "u-1"})]))
    p.ingest_request("logs", logs_request([("browser.page_view", T0, {"session.id": "b", "url.full": URL, "session.previous_id": "a"})]))
    p.tick()
    p.ingest_request("logs", logs_request([("browser.page_view", T0, {"session.id": "c", "url.full": URL, "user.id": "u-1"})]))
    p.tick()
    assert sample(p, "rum_sessions_started_total", visitor="new") == 1
    assert sample(p, "rum_sessions_started_total", visitor="returning") == 2
    assert "u-1" not in generate_latest(p.registry).decode()


def test_a_document_load_arriving_after_the_pages_own_page_view_is_the_same_page_view():
    p, clock, memory = pipeline()
    # otel-friction.js reports the page view once its script runs; the document-load span (starting at navigation,
    # earlier) comes in a later spans batch.
    p.ingest_request("logs", logs_request([("browser.page_view", T0 + 300_000_000, {"session.id": "dl", "url.full": f"{URL}/shop"})]))
    p.tick()
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\x03" * 16, span_id=b"\x04" * 8, name="documentLoad",
                                                                 start_time_unix_nano=T0, end_time_unix_nano=T0 + S)
    for k, v in {"session.id": "dl", "url.full": f"{URL}/shop"}.items():
        span.attributes.add(key=k).value.string_value = v
    p.ingest_request("traces", req)
    p.tick()
    assert sample(p, "rum_page_views_total") == 1
    p.shutdown()
    (page,) = [s for _, s in memory.spans() if s.name.startswith("page_view")]
    assert page.start_time_unix_nano == T0 and [l.span_id for l in page.links] == [b"\x04" * 8]
