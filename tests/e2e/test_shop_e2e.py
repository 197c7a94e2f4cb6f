"""Real browser -> real OTel Collector (examples/collector/config.yaml) -> otel-friction -> Prometheus -> Alertmanager.

The five journeys of journeys.py run once (session fixture ``journeys``) in headless Chromium against the Mug Shop
instrumented with the OTel JS web SDK + otel-friction.js; every assertion goes through the real servers.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from . import expect
from .spans import attr, by_session
from .stack import INACTIVITY_S, wait_until

pytestmark = [pytest.mark.collector, pytest.mark.browser]
SERVICE = "mug-shop"
SETTLE_S = 30 + INACTIVITY_S  # sessions end INACTIVITY_S after their last record, then a scrape / an evaluation


def test_friction_and_funnel_in_prometheus_match_the_script(stack, journeys):
    want = expect.expected(journeys)
    # the script's own sanity: the friction each journey injects
    assert want["rage"] == {("/cart", "#apply-coupon", "desktop"): 1.0}
    assert want["dead"] == {("/product/:id", "#gallery-image", "desktop"): 1.0}
    assert want["conversions"] == {("desktop",): 2.0}

    def matches():
        got = expect.from_prometheus(stack.prometheus, SERVICE)
        d = expect.diff(want, got)
        return True if not d else (_ for _ in ()).throw(AssertionError(d))  # keep the diff for the timeout message

    wait_until("Prometheus holds exactly the scripted friction and funnel", matches, SETTLE_S, interval=0.5)
    # no friction where the script put none: the fast quantity-stepper clicks are not rage clicks
    rage_pages = stack.prometheus.vector(f'sum by (element) (rum_rage_clicks_total{{service_name="{SERVICE}"}})', "element")
    assert ("#qty-plus",) not in rage_pages
    # page views, by the route template of every page each journey saw
    pv = stack.prometheus.vector(f'sum by (page) (rum_page_views_total{{service_name="{SERVICE}"}})', "page")
    routes = {r.rstrip("/") or "/" for t in journeys for r in t.page_views}
    assert set(k[0] for k in pv) == routes


def test_rum_error_exemplar_is_the_session_trace(stack, journeys):
    coupon = next(t for t in journeys if t.name == "coupon_rage_leaves_at_payment")

    def exemplar_trace_ids():
        data = stack.prometheus.exemplars(f'rum_js_errors_total{{service_name="{SERVICE}"}}')
        return {e["labels"].get("trace_id") for series in data for e in series["exemplars"]}

    ids = wait_until("exemplars of rum_js_errors_total in Prometheus", exemplar_trace_ids, SETTLE_S, 0.5)
    coupon_traces = {s.trace_id.hex() for s in stack.tempo.spans() if attr(s, "session.id") == coupon.session_id}
    assert ids & coupon_traces, (ids, coupon_traces)


def test_alert_for_the_injected_friction_reaches_the_alertmanager_webhook(stack, journeys):
    def fired():
        return [a for a in stack.webhook.alerts() if a["labels"].get("alertname") == "CheckoutErrorClicks"]

    alerts = wait_until("CheckoutErrorClicks at the Alertmanager webhook", fired, SETTLE_S + 20, 0.5)
    a = alerts[0]
    assert a["status"] == "firing"
    assert a["labels"]["page"] == "/cart"
    assert a["labels"]["element"] == "#apply-coupon"
    assert a["labels"]["service_name"] == SERVICE
    assert a["labels"]["severity"] == "warning"
    assert a["annotations"]["summary"] == f"Clicks on #apply-coupon raise JS errors on /cart ({SERVICE})"
    assert a["annotations"]["runbook_url"].startswith("https://")
    # only the injected friction fires: nothing about the stepper, the product page or the other journeys
    assert {(x["labels"]["page"], x["labels"]["element"]) for x in fired()} == {("/cart", "#apply-coupon")}


def _sessions_ended(stack, journeys):
    ids = {t.session_id for t in journeys}

    def done():
        roots = {attr(s, "session.id") for s in stack.tempo.spans() if s.name == "session"}
        return ids <= roots

    wait_until("a root `session` span of every journey exported to the Tempo stand-in", done, SETTLE_S + 10, 0.5)
    return by_session(stack.tempo.spans())


def test_exported_spans_one_trace_per_session_with_errors_attached(stack, journeys):
    sessions = _sessions_ended(stack, journeys)
    trace_owner = {}
    for t in journeys:
        spans = sessions[t.session_id]
        traces = {s.trace_id for s in spans}
        assert len(traces) == 1, f"{t.name}: session split over {len(traces)} traces"
        trace_owner.setdefault(next(iter(traces)), set()).add(t.session_id)
        roots = [s for s in spans if s.name == "session"]
        assert len(roots) == 1 and not roots[0].parent_span_id, f"{t.name}: {len(roots)} root spans"
        exceptions = [s for s in spans if s.name == "exception"]
        assert len(exceptions) == len(t.js_errors), f"{t.name}: {len(exceptions)} exception spans, script threw {len(t.js_errors)}"
        for s in exceptions:
            assert s.status.code == 2  # STATUS_CODE_ERROR
            ev = next(e for e in s.events if e.name == "exception")
            assert attr(ev, "exception.type") == "TypeError"
        signals = sorted(s.name for s in spans if s.name in ("rage_click", "dead_click", "error_click", "form_abandonment"))
        want = sorted(["rage_click"] * len(t.rage) + ["dead_click"] * len(t.dead) + ["error_click"] * len(t.error_clicks)
                      + ["form_abandonment"] * len(t.abandoned))
        assert signals == want, f"{t.name}: friction spans {signals}, script {want}"
    assert all(len(v) == 1 for v in trace_owner.values()), "two sessions share a trace"


def test_error_link_from_api_errors_resolves_to_the_session_trace(stack, journeys):
    coupon = next(t for t in journeys if t.name == "coupon_rage_leaves_at_payment")
    sessions = _sessions_ended(stack, journeys)
    table = requests.get(stack.friction.url("metrics") + "/api/errors", timeout=10).json()["groups"]
    group = next(g for g in table if g["service_name"] == SERVICE and g["type"] == "TypeError")
    assert group["events"] == 4 and group["sessions"] == 1
    assert "discount" in group["message"]
    ex = group["example"]
    q = parse_qs(urlsplit(ex["session_url"]).query)
    session_id, trace_from_session_url = q["var-session_id"][0], q["trace"][0]
    trace_id = parse_qs(urlsplit(ex["trace_url"]).query)["trace_id"][0]
    assert session_id == coupon.session_id
    assert trace_id == trace_from_session_url == ex["trace_id"]
    trace = [s for s in stack.tempo.spans() if s.trace_id.hex() == trace_id]
    assert trace, f"trace {trace_id} of the error link is not among the exported spans"
    assert {attr(s, "session.id") for s in trace} == {coupon.session_id}
    assert len(trace) == len(sessions[coupon.session_id])
    names = [s.name for s in trace]
    assert "session" in names and names.count("exception") == 4
    if ex.get("span_id"):
        assert ex["span_id"] in {s.span_id.hex() for s in trace}
