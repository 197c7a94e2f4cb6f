"""The coupon journey again, instrumented with Grafana Faro (+ faro-transport-otlp-http) through the same stack.

Faro sends errors, page views (view / URL changes) and its session, but no clicks (docs/signals.md): no rage, dead or
error clicks can come from it, and it does not report form fields.
"""

from __future__ import annotations

import pytest

from .journeys import coupon_rage_leaves_at_payment, run_journey
from .stack import INACTIVITY_S, wait_until

pytestmark = [pytest.mark.collector, pytest.mark.browser]
SERVICE = "mug-shop-faro"


def test_faro_coupon_journey_errors_page_views_and_session(stack, browser):
    t = run_journey(browser, stack.shop_faro.url, "faro_coupon", "desktop", coupon_rage_leaves_at_payment)
    prom = stack.prometheus
    sel = f'{{service_name="{SERVICE}"}}'

    def arrived():
        errors = prom.vector(f"sum by (page, error_type) (rum_js_errors_total{sel})", "page", "error_type")
        sessions = prom.vector(f"sum(rum_sessions_started_total{sel})")
        pages = prom.vector(f"sum by (page) (rum_page_views_total{sel})", "page")
        got = (errors, sessions, pages)
        # Faro's default `dedupe: true` drops an exception identical to the previous one: the 4 coupon errors
        # leave the browser once (the OTel variant reports all 4).
        ok = errors == {("/cart", "TypeError"): 1.0} and sessions == {(): 1.0} and pages == {
            (p,): 1.0 for p in ("/shop", "/product/:id", "/cart", "/checkout/shipping", "/checkout/payment")}
        return got if ok else (_ for _ in ()).throw(AssertionError(got))

    wait_until("Faro's errors, page views and session in Prometheus", arrived, 30 + INACTIVITY_S, 0.5)
    assert len(t.session_id) == 10  # Faro session ids: 10 alphanumerics
    for metric in ("rum_rage_clicks_total", "rum_dead_clicks_total", "rum_error_clicks_total"):
        assert prom.vector(f"sum({metric}{sel})") in ({}, {(): 0.0}), f"Faro cannot show {metric}"
    # the session ends (inactivity) and is in the funnel by its route changes: cart -> shipping -> payment
    wait_until("the Faro session's funnel drop-off at payment", lambda: prom.vector(
        f"sum by (step) (rum_funnel_dropoffs_total{sel})", "step") == {("payment",): 1.0}, 30 + INACTIVITY_S, 0.5)
