"""A real Prometheus scrapes a running otel-friction fed simulated shop traffic; every dashboard query returns data,
exemplars are stored, and the friction alert goes through a real Alertmanager to a webhook with labels and annotations."""

from __future__ import annotations

import gzip
import re
import time

import pytest
import requests

from collector_plugin.monitoring import build, dashboards, rules
from collector_plugin.server import BackgroundService
from collector_plugin.simulate import ShopSimulator, to_requests
from tests.conftest import make_settings

from .conftest import start_prometheus, wait_until

SESSIONS = 500
SUBST = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s", "${__range}": "1h"}


def _sent_sessions(bg: BackgroundService) -> float:
    return sum(s.value for m in bg.service.pipeline.registry.collect() for s in m.samples
               if s.name == "otel_friction_sessions_ended_total")


@pytest.fixture(scope="module")
def live(tmp_path_factory, alertmanager):
    d = tmp_path_factory.mktemp("prometheus")
    rule_file = d / "rules.yaml"
    rule_file.write_text(build.to_yaml(rules.prometheus_rules(rules.RuleParams.fast())))
    settings = make_settings(sessions__inactivity_timeout_seconds=2, export__flush_interval_seconds=0.2)
    with BackgroundService(settings) as bg:
        prom, url = start_prometheus(d, bg.service.addresses["metrics"], rule_file, alertmanager)
        try:
            wait_until(lambda: requests.get(f"{url}/api/v1/targets", timeout=2).json()["data"]["activeTargets"][0]["health"] == "up",
                       30, "scrape target up")
            sim = ShopSimulator(5, start_ns=time.time_ns() - 10 * 60 * 10**9)
            sessions = [sim.session(i) for i in range(SESSIONS)]
            http = requests.Session()
            for req in to_requests(sessions):
                body = gzip.compress(req.SerializeToString())
                for _ in range(100):
                    r = http.post(bg.url("otlp_http") + "/v1/logs", data=body, timeout=30,
                                  headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
                    if r.status_code not in (429, 503):
                        break
                    time.sleep(float(r.headers.get("Retry-After", "0.2")))  # what a collector's retry does
                r.raise_for_status()
            wait_until(lambda: _sent_sessions(bg) >= SESSIONS, 60, "all simulated sessions to end")
            ended_at = time.monotonic()
            # Two scrapes after the last flush, so every counter has its final value in Prometheus.
            last = lambda: requests.get(f"{url}/api/v1/query", params={"query": "sum(otel_friction_sessions_ended_total)"},  # noqa: E731
                                        timeout=5).json()["data"]["result"]
            wait_until(lambda: last() and float(last()[0]["value"][1]) >= SESSIONS, 30, "Prometheus to scrape the final counts")
            yield {"url": url, "bg": bg, "ended_at": ended_at}
        finally:
            prom.stop()


def _queries():
    for name in dashboards.DASHBOARDS:
        dash = dashboards.render(name)
        for panel in dash["panels"]:
            if panel.get("datasource", {}).get("type") != "prometheus":
                continue
            for t in panel.get("targets", []):
                yield name, panel["title"], t


def _substitute(expr: str) -> str:
    for k, v in SUBST.items():
        expr = expr.replace(k, v)
    return re.sub(r"\$\{?[a-z_]+\}?", ".*", expr)


def test_every_dashboard_query_returns_data(live):
    failures = []
    n = 0
    for dash, title, target in _queries():
        n += 1
        expr = _substitute(target["expr"])
        r = requests.get(f"{live['url']}/api/v1/query", params={"query": expr}, timeout=10).json()
        if r.get("status") != "success":
            failures.append(f"{dash} / {title}: error {r.get('error')}: {expr}")
        elif not r["data"]["result"]:
            failures.append(f"{dash} / {title}: no data: {expr}")
    assert n > 40
    assert not failures, f"{len(failures)} of {n} queries failed:\n" + "\n".join(failures)


def test_template_variable_queries_return_values(live):
    for name in dashboards.DASHBOARDS:
        for v in dashboards.render(name)["templating"]["list"]:
            if v["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((.*), (\w+)\)", v["query"])
            assert m, v["query"]
            r = requests.get(f"{live['url']}/api/v1/series", params={"match[]": _substitute(m.group(1))}, timeout=10).json()
            assert any(m.group(2) in s for s in r["data"]), (name, v["name"])


def test_exemplars_carry_trace_ids(live):
    now = time.time()
    r = requests.get(f"{live['url']}/api/v1/query_exemplars",
                     params={"query": "rum_js_errors_total", "start": now - 600, "end": now}, timeout=10).json()
    assert r["status"] == "success"
    trace_ids = [e["labels"]["trace_id"] for s in r["data"] for e in s["exemplars"]]
    assert trace_ids and all(re.fullmatch(r"[0-9a-f]{32}", t) for t in trace_ids)


def test_friction_alert_reaches_webhook_through_alertmanager(live, webhook):
    def delivered():
        return [a for a in webhook.alerts() if a["labels"].get("alertname") == "RumRageClickRateHigh"]
    try:
        alerts = wait_until(delivered, 60, "RumRageClickRateHigh at the webhook")
    except AssertionError:
        rules_state = requests.get(f"{live['url']}/api/v1/rules", timeout=5).json()["data"]["groups"]
        q = lambda e: requests.get(f"{live['url']}/api/v1/query", params={"query": e}, timeout=5).json()["data"]["result"]  # noqa: E731
        raise AssertionError([q("service_page:rum_rage_clicks_per_click:ratio_rate1m"), q("service_page:rum_page_views:increase1h")] + [(r["name"], r["health"], r.get("lastError"), len(r.get("alerts", []))) for g in rules_state for r in g["rules"]]
                             + [requests.get(f"{live['url']}/api/v1/alertmanagers", timeout=5).json()])
    a = alerts[0]
    assert a["status"] == "firing"
    assert a["labels"]["severity"] == "warning"
    assert a["labels"]["service_name"] == "demo-shop" and a["labels"]["page"]
    ann = a["annotations"]
    assert set(ann) >= {"summary", "description", "runbook_url", "dashboard_url"}
    assert a["labels"]["page"] in ann["summary"] and "{{" not in ann["summary"] + ann["description"] + ann["dashboard_url"]
    assert ann["runbook_url"].endswith("/docs/runbooks/RumRageClickRateHigh.md")
    assert f"var-page={a['labels']['page']}" in ann["dashboard_url"]
