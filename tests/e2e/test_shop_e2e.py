"""Real browser -> real OTel Collector (examples/collector/config.yaml) -> otel-friction -> Prometheus -> Alertmanager.

The five journeys of journeys.py run once (session fixture ``journeys``) in headless Chromium against the Mug Shop
instrumented with the OTel JS web SDK + otel-friction.js; every assertion goes through the real servers.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from collector_plugin.monitoring import rules

from . import expect
from .spans import attr, by_session
from .stack import INACTIVITY_S, ROOT, wait_until

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


def _generated(stack, name: str, **labels) -> dict:
    """The generated rule's labels and annotations (rules.py), templates filled with the alert's labels."""
    alert = next(a for a in rules.alerts(stack.rule_params) if a.name == name)
    fill = lambda t: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], t)  # noqa: E731
    return {"labels": {"alertname": name, **labels, "severity": alert.severity, **alert.labels},
            "annotations": {k: fill(v) for k, v in rules._annotations(alert, stack.rule_params).items()}}


def test_generated_alerts_for_the_injected_friction_reach_the_alertmanager_webhook(stack, journeys):
    """The project's generated rules (conftest: RuleParams.fast) in the real Prometheus: the broken coupon button of
    the coupon journey (one error-click episode, four TypeErrors on /cart, all on series born at their first value)
    pages through the real Alertmanager, with the rule's labels and annotations."""
    def fired(name):
        return [a for a in stack.webhook.alerts()
                if a["labels"].get("alertname") == name and a["labels"].get("service_name") == SERVICE]

    # The windows are 1 minute and a new series only counts once Prometheus has scraped its target for a window.
    alerts = wait_until("RumErrorClicksOnCheckout at the Alertmanager webhook", lambda: fired("RumErrorClicksOnCheckout"),
                        SETTLE_S + 90, 0.5)
    a = alerts[0]
    assert a["status"] == "firing"
    want = _generated(stack, "RumErrorClicksOnCheckout", service_name=SERVICE, page="/cart", element="#apply-coupon")
    assert a["labels"] == want["labels"]
    assert a["labels"]["severity"] == "critical"
    assert a["annotations"] == want["annotations"]
    ann = a["annotations"]
    assert ann["summary"] == "Clicks on #apply-coupon at /cart raise JS errors"
    assert "#apply-coupon" in ann["description"] and "/cart" in ann["description"] and "{{" not in str(ann)
    assert ann["runbook_url"].startswith("https://") and ann["runbook_url"].endswith("/docs/runbooks/RumErrorClicksOnCheckout.md")
    assert (ROOT / "docs/runbooks/RumErrorClicksOnCheckout.md").exists()
    assert "var-page=/cart" in ann["dashboard_url"]
    assert ann["report_url"] == stack.rule_params.report_url  # a behavioural alert: links to the anomaly report

    # The coupon's four TypeErrors on /cart are a new error on the checkout path (production threshold: 3).
    errors = wait_until("RumNewErrorOnCheckout at the Alertmanager webhook", lambda: fired("RumNewErrorOnCheckout"), 30, 0.5)
    want = _generated(stack, "RumNewErrorOnCheckout", service_name=SERVICE, page="/cart", error_type="TypeError")
    assert (errors[0]["status"], errors[0]["labels"], errors[0]["annotations"]) == ("firing", want["labels"], want["annotations"])

    # only the injected friction fires: nothing about the stepper, the product page or the other journeys
    assert {(x["labels"]["page"], x["labels"]["element"]) for x in fired("RumErrorClicksOnCheckout")} == {("/cart", "#apply-coupon")}
    assert {(x["labels"]["page"], x["labels"]["error_type"]) for x in fired("RumNewErrorOnCheckout")} == {("/cart", "TypeError")}


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
