"""Session fixtures of the end-to-end suite: the real stack, the shop, Chromium, and the scripted journeys' truth.

Prerequisites (scripts/setup.sh test installs them): the collector built by scripts/build-collector.sh, Debian's
chromium, prometheus and prometheus-alertmanager, node + npm, the Python package playwright. Missing ones skip the
suite locally and FAIL it in CI (CI=true).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from collector.collector_support import BUILD_TIMEOUT_S, GrpcTraceSink, build_collector, collector_env, start_collector, stop_collector
from collector_plugin.monitoring import build as monitoring_build
from collector_plugin.monitoring import rules as monitoring_rules

from . import stack as st
from .journeys import launch, run_all

IN_CI = os.environ.get("CI", "").lower() == "true"

# The project's generated alert rules (collector_plugin/monitoring/rules.py, the same source as
# alert_rules/prometheus/otel-friction.yaml) in their fast variant: 1 s evaluation, no `for`, 1-minute windows. One
# scripted visitor breaks the coupon button, so the checkout error-click alert needs 1 episode instead of 5.
E2E_RULE_PARAMS = monitoring_rules.RuleParams.fast(checkout_error_clicks=1)


def _prereq_problem(message: str) -> None:
    if IN_CI:
        pytest.fail(f"e2e prerequisite missing in CI: {message}")
    pytest.skip(f"e2e prerequisite missing: {message} (the e2e suite fails in CI)")


@pytest.fixture(scope="session")
def e2e_prereqs() -> None:
    missing = st.require_binaries()
    if missing:
        _prereq_problem("; ".join(missing))


@pytest.fixture(scope="session")
def collector_bin(e2e_prereqs) -> Path:
    try:
        result = build_collector()
    except subprocess.TimeoutExpired:
        pytest.fail(f"scripts/build-collector.sh did not finish within {BUILD_TIMEOUT_S} s")
    if result.returncode != 0:
        _prereq_problem(f"scripts/build-collector.sh failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def shop_bundles(e2e_prereqs) -> dict:
    spec = importlib.util.spec_from_file_location("shop_build", st.SHOP / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.ensure_bundles()


def _shop_server():
    spec = importlib.util.spec_from_file_location("shop_server", st.SHOP / "server.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.ShopServer


class Stack:
    """Handles to everything the single-replica stack runs."""


@pytest.fixture(scope="package")  # torn down after tests/e2e: a live sync Playwright would break later suites
def stack(collector_bin, shop_bundles):
    cleanup = []
    s = Stack()
    try:
        work = Path(tempfile.mkdtemp(prefix="otel-friction-e2e-"))
        s.tempo = GrpcTraceSink()
        cleanup.append(s.tempo.close)
        env = collector_env(TEMPO_ENDPOINT=s.tempo.endpoint, OTELCOL_CORS_ALLOWED_ORIGINS='["http://127.0.0.1:*"]')
        s.friction, s.friction_memory = st.start_friction(**{
            "export.otlp_endpoint": f"http://{env['FRICTION_SPANS_HTTP_ENDPOINT']}",
            "errors.session_url_template": st.SESSION_URL, "errors.trace_url_template": st.TRACE_URL})
        cleanup.append(s.friction.stop)
        env["OTEL_FRICTION_ENDPOINT"] = s.friction.url("otlp_http")
        s.collector = start_collector(st.COLLECTOR_CONFIG, env, binary=collector_bin)
        cleanup.append(lambda: stop_collector(s.collector))
        s.collector_env = env
        s.otlp_browser_url = f"http://{env['OTELCOL_OTLP_HTTP_ENDPOINT']}"
        s.webhook = st.Webhook()
        cleanup.append(s.webhook.close)
        s.alertmanager = st.Alertmanager(work, s.webhook.url)
        cleanup.append(s.alertmanager.stop)
        rule_file = work / "otel-friction-rules.yaml"
        rule_file.write_text(monitoring_build.to_yaml(monitoring_rules.prometheus_rules(E2E_RULE_PARAMS)))
        s.rule_params = E2E_RULE_PARAMS
        s.prometheus = st.Prometheus(work, [s.friction.service.addresses["metrics"]], [rule_file], s.alertmanager.address)
        cleanup.append(s.prometheus.stop)
        ShopServer = _shop_server()
        s.shop = ShopServer("127.0.0.1", 0, otlp=s.otlp_browser_url, sdk="otel").start()
        cleanup.append(s.shop.close)
        s.shop_faro = ShopServer("127.0.0.1", 0, otlp=s.otlp_browser_url, sdk="faro").start()
        cleanup.append(s.shop_faro.close)
        yield s
    finally:
        for fn in reversed(cleanup):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - keep tearing down the rest
                print(f"e2e teardown: {exc!r}")
        if getattr(s, "collector", None) is not None and os.environ.get("E2E_KEEP_LOGS"):
            print(s.collector.log())


@pytest.fixture(scope="package")  # torn down after tests/e2e: a live sync Playwright would break later suites
def browser(e2e_prereqs):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture(scope="package")  # torn down after tests/e2e: a live sync Playwright would break later suites
def journeys(stack, browser):
    """The five scripted journeys through the single-replica stack (run once, asserted by several tests)."""
    return run_all(browser, stack.shop.url)
