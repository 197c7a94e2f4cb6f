"""JS errors ↔ sessions: grouping, attachment to the session trace, checkout impact, releases, the errors table,
Sentry forwarding, and following the link from an error to its session."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests

from collector_plugin.events import JsError
from collector_plugin.normalize.fingerprint import fingerprint
from collector_plugin.sessionize import session_trace_ids
from sentry_sink import SentrySink
from support import attr, logs_request, wait_for
from test_sessions import S, T0, URL, pipeline, sample

STACK = "TypeError: x\n    at checkout (https://shop.example/assets/app.{h}.js:1:{c})\n    at HTMLButtonElement.<anonymous> (https://shop.example/assets/vendor.js:2:3)"


def _err(sid, t, message="Cannot read properties of undefined (reading 'total')", type_="TypeError", page="/checkout/payment", stack=None, version=None):
    attrs = {"session.id": sid, "url.full": f"{URL}{page}", "exception.type": type_, "exception.message": message}
    if stack:
        attrs["exception.stacktrace"] = stack
    return ("exception", t, attrs)


def test_fingerprint_groups_one_bug_across_values_and_deploys():
    a = JsError("TypeError", "Order 12345 failed for <email> at 0xdeadbeef", STACK.format(h="3f2a1b9c", c=4242))
    b = JsError("TypeError", "Order 99 failed for <email> at 0xfeedface", STACK.format(h="99aa77bb", c=17))
    c = JsError("TypeError", "Order 99 failed for <email> at 0xfeedface", STACK.format(h="99aa77bb", c=17).replace("checkout", "pay"))
    d = JsError("RangeError", "Order 99 failed for <email> at 0xfeedface", STACK.format(h="99aa77bb", c=17))
    assert fingerprint(a) == fingerprint(b)
    assert len({fingerprint(a), fingerprint(c), fingerprint(d)}) == 3
    assert len(fingerprint(a)) == 12


def _journey(sid, steps, error_at=None, converted=True):
    recs, t = [], T0
    for i, path in enumerate(steps):
        recs.append(("browser.page_view", t + i * S, {"session.id": sid, "url.full": f"{URL}{path}"}))
        if error_at == path:
            recs.append(_err(sid, t + i * S + S // 2, page=path, stack=STACK.format(h="abc12345", c=1)))
    return recs


FUNNEL = ["/cart", "/checkout/shipping", "/checkout/payment", "/checkout/review", "/checkout/confirmation"]


def test_checkout_impact_odds_ratio_and_minimum_support():
    p, clock, _ = pipeline()
    # 40 sessions reach payment: 10 hit the error there (2 convert), 30 don't (24 convert).
    recs = []
    for i in range(10):
        recs += _journey(f"e{i}", FUNNEL if i < 2 else FUNNEL[:3], error_at="/checkout/payment")
    for i in range(30):
        recs += _journey(f"n{i}", FUNNEL if i < 24 else FUNNEL[:3])
    p.ingest_request("logs", logs_request(recs))
    p.tick()
    clock.now += 1801
    p.tick()
    group = p.detect.errors.table()[0]["error_group"]
    assert sample(p, "rum_error_group_sessions_total", error_group=group) == 10
    # s=2 f=8 S=26 F=14 → ((s+1)(F−f+1)) / ((S−s+1)(f+1)) = 3*7 / (25*9)
    assert sample(p, "rum_error_group_checkout_impact", error_group=group, funnel="checkout", step="payment") == pytest.approx(21 / 225, abs=1e-4)
    row = p.detect.errors.table()[0]
    (payment,) = [s for s in row["checkout"] if s["step"] == "payment"]
    assert (payment["sessions"], payment["completion"], payment["others_completion"]) == (10, 0.2, 0.8)
    assert row["lost_checkouts"] == 6.0  # 10 × (0.8 − 0.2)

    q, clock2, _ = pipeline(errors__min_support=11)
    q.ingest_request("logs", logs_request(recs))
    q.tick()
    clock2.now += 1801
    q.tick()
    assert sample(q, "rum_error_group_checkout_impact") == 0  # below the minimum support: not reported


def test_new_error_groups_after_a_release_are_marked():
    p, clock, _ = pipeline()
    from support import logs_request as lr
    p.ingest_request("logs", lr([_err("a", T0, message="old bug")], resource={"service.version": "1.0.0"}))
    p.ingest_request("logs", lr([_err("b", T0 + S, message="old bug"), _err("b", T0 + 2 * S, type_="Error", message="new bug")],
                                resource={"service.version": "1.1.0"}))
    p.tick()
    rows = {r["message"]: r for r in p.detect.errors.table()}
    assert rows["old bug"]["new_in_release"] is None and rows["old bug"]["first_version"] == "1.0.0"
    assert rows["new bug"]["new_in_release"] == "1.1.0"


def test_error_groups_are_bounded():
    p, clock, _ = pipeline(errors__max_groups=3)
    p.ingest_request("logs", logs_request([_err("s", T0 + i * S, type_=f"E{i}") for i in range(5)]))
    p.tick()
    assert len(p.detect.errors.table()) == 3 and p.detect.errors.forgotten == 2


def test_errors_attach_to_the_session_trace_even_when_they_arrive_first_or_last():
    p, clock, memory = pipeline()
    sid = "early"
    # The error arrives before its page's load event (separate batches), then the page view, then a late error.
    p.ingest_request("logs", logs_request([_err(sid, T0 + 2 * S, page="/cart")]))
    p.tick()
    p.ingest_request("logs", logs_request([("browser.page_view", T0, {"session.id": sid, "url.full": f"{URL}/cart"}),
                                           ("browser.page_view", T0 + 10 * S, {"session.id": sid, "url.full": f"{URL}/checkout/shipping"})]))
    p.tick()
    assert sample(p, "rum_page_views_total") == 2  # the early error's page is the same page view, not a third
    clock.now += 1801
    p.tick()
    p.ingest_request("logs", logs_request([_err(sid, T0 + 20 * S, page="/checkout/shipping", message="late")]))
    p.tick()
    trace_id, root_id = session_trace_ids(sid)
    spans = [s for _, s in memory.spans()]
    assert {s.trace_id for s in spans} == {trace_id}
    cart = next(s for s in spans if s.name == "page_view /cart")
    assert cart.start_time_unix_nano == T0 and cart.status.code == 2
    assert [e.name for e in cart.events] == ["exception"]  # the exception event on the page view active at the time
    errors = [s for s in spans if s.name == "exception"]
    assert len(errors) == 2 and all(s.status.code == 2 for s in errors)
    assert errors[0].parent_span_id == cart.span_id and attr(errors[0], "rum.error.group")
    assert errors[1].parent_span_id == root_id and attr(errors[1], "rum.late") is True
    assert sample(p, "rum_js_errors_total") == 2
    example = p.detect.errors.table()[0]["example"]
    assert example["trace_id"] == trace_id.hex()


def _follow(url: str, spans) -> list:
    """Resolve a link the way Grafana would: a trace id in the Tempo URL, or the Session dashboard's session_id."""
    query = parse_qs(urlsplit(url).query)
    if "var-session_id" in query:
        sid = query["var-session_id"][0]
        return [s for _, s in spans if attr(s, "session.id") == sid]
    trace_hex = unquote(url).split('"query":"', 1)[1].split('"', 1)[0]
    return [s for _, s in spans if s.trace_id.hex() == trace_hex]


def test_sentry_gets_real_envelopes_tagged_with_the_session_and_links_that_lead_back(service_factory):
    sink = SentrySink()
    try:
        bg, memory = service_factory(errors__sentry_dsn=sink.dsn, errors__sentry_max_events_per_group_per_minute=2,
                                     errors__grafana_url="http://grafana.example:3000")
        sid = "sentry-1"
        recs = [("browser.page_view", T0, {"session.id": sid, "url.full": f"{URL}/checkout/payment"})]
        recs += [_err(sid, T0 + i * S, stack=STACK.format(h="abc12345", c=1)) for i in (1, 2, 3)]
        requests.post(bg.url("otlp_http") + "/v1/logs", data=logs_request(recs, resource={"service.version": "2.0.1"}).SerializeToString(),
                      headers={"Content-Type": "application/x-protobuf"}).raise_for_status()
        wait_for(lambda: any(s.name == "exception" for _, s in memory.spans()), what="the error spans")
        bg.stop()  # flushes the Sentry client
        assert len(sink.events) == 2  # the third of the group in that minute is sampled out
        assert bg.service.pipeline.registry.get_sample_value("otel_friction_errors_forwarded_total",
                                                            {"destination": "sentry", "outcome": "sampled_out"}) == 1
        ev = sink.events[0]
        trace_hex = session_trace_ids(sid)[0].hex()
        assert ev["tags"]["session.id"] == sid and ev["tags"]["trace_id"] == trace_hex
        assert ev["contexts"]["trace"]["trace_id"] == trace_hex
        assert ev["fingerprint"] == [ev["tags"]["error_group"]] and ev["release"] == "2.0.1"
        assert ev["exception"]["values"][0]["type"] == "TypeError"
        assert ev["exception"]["values"][0]["stacktrace"]["frames"][-1]["function"] == "checkout"  # innermost last
        session_url, trace_url = ev["extra"]["session_url"], ev["extra"]["trace_url"]
        assert session_url.startswith("http://grafana.example:3000/d/otel-friction-session/")
        # Follow both links from the error to the session: they find the same session's spans.
        by_session, by_trace = _follow(session_url, memory.spans()), _follow(trace_url, memory.spans())
        assert by_session and {s.span_id for s in by_session} == {s.span_id for s in by_trace}
        assert {"session", "page_view /checkout/payment", "exception"} <= {s.name for s in by_trace}
        page = next(s for s in by_trace if s.name.startswith("page_view"))
        assert ev["contexts"]["trace"]["span_id"] == page.span_id.hex()
    finally:
        sink.close()


def test_errors_cli_ranks_groups_of_a_running_service(service_factory):
    bg, _ = service_factory(sessions__inactivity_timeout_seconds=0.5)
    recs = []
    for i in range(10):
        recs += _journey(f"e{i}", FUNNEL[:3], error_at="/checkout/payment")
    for i in range(30):
        recs += _journey(f"n{i}", FUNNEL)
    recs.append(_err("x", T0, type_="Error", message="harmless", page="/"))
    requests.post(bg.url("otlp_http") + "/v1/logs", data=logs_request(recs).SerializeToString(),
                  headers={"Content-Type": "application/x-protobuf"}).raise_for_status()
    api = bg.url("metrics") + "/api/errors"
    wait_for(lambda: any(s["odds_ratio"] for g in requests.get(api).json()["groups"] for s in g["checkout"]), what="impact to be computed")
    r = subprocess.run([sys.executable, "-m", "collector_plugin", "errors", "--url", bg.url("metrics"), "--json"],
                       capture_output=True, text=True, timeout=60)
    groups = json.loads(r.stdout)
    assert [g["type"] for g in groups] == ["TypeError", "Error"]  # the one that costs checkouts first
    assert groups[0]["lost_checkouts"] == 10.0 and groups[0]["example"]["session_url"].endswith("var-session_id=" + groups[0]["example"]["session_id"])
    text = subprocess.run([sys.executable, "-m", "collector_plugin", "errors", "--url", bg.url("metrics")],
                          capture_output=True, text=True, timeout=60).stdout
    assert "ranked by lost checkouts" in text and "payment: 0% vs 100%" in text
