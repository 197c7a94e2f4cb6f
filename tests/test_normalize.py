"""Route templates, segments, label caps and the series budget."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from collector_plugin.config import MetricsConfig, NormalizeConfig, RouteRule
from collector_plugin.emit.metrics import PAGE_VIEWS, LabelBudget
from collector_plugin.emit.selfmetrics import SelfMetrics
from collector_plugin.events import Client
from collector_plugin.normalize.routes import RouteTemplater
from collector_plugin.normalize.segments import Segmenter


@pytest.mark.parametrize("url,route", [
    ("https://s.example/product/123", "/product/:id"),
    ("https://s.example/product/123/reviews/", "/product/:id/reviews"),
    ("/order/3f2504e0-4f89-11d3-9a0c-0305e82c3301", "/order/:id"),
    ("/file/5d41402abc4b2a76b9719d911017c592", "/file/:id"),
    ("/t/AbCdEfGhIjKlMnOpQrSt1234", "/t/:id"),
    ("/users/<email>/orders", "/users/:id/orders"),
    ("/checkout/shipping?step=2", "/checkout/shipping"),
    ("/", "/"),
    ("https://s.example/#/product/12", "/product/:id"),
    ("/blog/how-to-choose-boots", "/blog/how-to-choose-boots"),
])
def test_route_templates(url, route):
    assert RouteTemplater([]).route(url) == route


def test_configured_route_rules_come_first():
    t = RouteTemplater([RouteRule(pattern=r"^/c/[^/]+$", replacement="/c/:category")])
    assert t.route("/c/shoes") == "/c/:category"
    assert t.route("/p/77") == "/p/:id"


@pytest.mark.parametrize("client,device", [
    (Client(user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148"), "mobile"),
    (Client(user_agent="Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36"), "mobile"),
    (Client(user_agent="Mozilla/5.0 (Linux; Android 13; SM-X200) Safari/537.36"), "tablet"),
    (Client(user_agent="Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X)"), "tablet"),
    (Client(user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0"), "desktop"),
    (Client(user_agent="Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156.0", viewport_width=390), "mobile"),
    (Client(user_agent="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"), "bot"),
    (Client(mobile=True), "mobile"),
    (Client(viewport_width=1280), "desktop"),
    (Client(), "unknown"),
])
def test_device_class(client, device):
    assert Segmenter(NormalizeConfig()).device(client) == device


@pytest.mark.parametrize("landing,referrer,source", [
    ("https://s/?utm_source=google&utm_medium=cpc", None, "paid"),
    ("https://s/?gclid=abc", None, "paid"),
    ("https://s/?utm_source=newsletter&utm_medium=email", None, "email"),
    ("https://s/?utm_source=instagram&utm_medium=social", None, "social"),
    ("https://s/?utm_source=facebook", None, "social"),
    ("https://s/?utm_source=partner", None, "referral"),
    ("https://s/", "https://www.google.de/search", "organic"),
    ("https://s/", "https://t.co/xyz", "social"),
    ("https://s/", "https://blog.example/post", "referral"),
    ("https://s/", "https://s/other", "direct"),
    ("https://s/", None, "direct"),
])
def test_traffic_source(landing, referrer, source):
    assert Segmenter(NormalizeConfig()).source(landing, referrer) == source


def _sample(registry, name, **labels):
    return sum(s.value for m in registry.collect() for s in m.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_label_cap_folds_overflow_into_other_and_counts_it():
    registry = CollectorRegistry()
    budget = LabelBudget(MetricsConfig(label_caps={"page": 2}), SelfMetrics(registry))
    fitted = [budget.fit(PAGE_VIEWS, ("shop", f"/p{i}", "desktop")) for i in range(4)]
    assert [f[1] for f in fitted] == ["/p0", "/p1", "other", "other"]
    assert budget.fit(PAGE_VIEWS, ("shop", "/p0", "mobile"))[1] == "/p0"  # known values stay
    assert _sample(registry, "otel_friction_label_overflow_total", metric="rum_page_views", label="page") == 2


def test_series_budget_caps_the_whole_output():
    registry = CollectorRegistry()
    budget = LabelBudget(MetricsConfig(max_series=3), SelfMetrics(registry))
    series = {budget.fit(PAGE_VIEWS, ("shop", f"/p{i}", "desktop")) for i in range(10)}
    assert len(series) == 4  # three real series and one all-'other' series that keeps the counts
    assert ("shop", "other", "other") in series
    assert _sample(registry, "otel_friction_series_budget_exceeded_total") == 7
