"""A real Prometheus scrapes a running otel-friction fed simulated shop traffic; every dashboard query returns data,
exemplars are stored, and the friction alert goes through a real Alertmanager to a webhook with labels and annotations.

A second otel-friction in the same scrape job holds an anomaly report with a finding (three days of simulated traffic
and an injected anomaly, as in tests/report), so the Anomalies panel (``rum_anomaly_score``) has a series to show: the
score exists only while the latest report has a finding."""

from __future__ import annotations

import gzip
import re
import time

import pytest
import requests

from collector_plugin.monitoring import build, dashboards, rules
from collector_plugin.pipeline import Pipeline
from collector_plugin.server import BackgroundService
from collector_plugin.simulate import ShopSimulator, to_requests
from conftest import make_settings  # tests/ is on sys.path (tests/conftest.py)
from report.traffic import INJECTIONS, NOW, NOW_HOUR, feed

from .conftest import start_prometheus, wait_until

SESSIONS = 500
REPORT_SESSIONS = 800  # per hour, as tests/report: enough mobile product-page sessions for the report's thresholds
INJECTED = INJECTIONS["dead_click"]  # dead clicks on the product hero image, mobile only
SUBST = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s", "${__range}": "1h"}


def _sent_sessions(bg: BackgroundService) -> float:
    return sum(s.value for m in bg.service.pipeline.registry.collect() for s in m.samples
               if s.name == "otel_friction_sessions_ended_total")


def _report_service() -> BackgroundService:
    """otel-friction whose report store (in memory) holds the same hour of three previous days of simulated shop traffic
    and a current hour with ``INJECTED``, fed through its pipeline on a simulated clock (tests/report/traffic.py). Then
    its clock runs on from the report's time, and the periodic analysis (every second here) sets rum_anomaly_score."""
    settings = make_settings(report__current_window_hours=1, report__baseline_days=3, report__min_page_sessions=300,
                             report__min_segment_sessions=150, report__analysis_interval_seconds=1)
    simulated, live_since = [1000.0], []
    pipeline = Pipeline(settings, clock=lambda: NOW + time.monotonic() - live_since[0] if live_since else simulated[0])
    for day in (3, 2, 1):
        feed(pipeline, simulated, REPORT_SESSIONS, seed=100 + day, hour=NOW_HOUR - 24 * day)
    feed(pipeline, simulated, REPORT_SESSIONS, seed=99, hour=NOW_HOUR, inject=INJECTED)
    live_since.append(time.monotonic())
    return BackgroundService(settings, pipeline=pipeline).__enter__()


@pytest.fixture(scope="module")
def live(tmp_path_factory, alertmanager):
    d = tmp_path_factory.mktemp("prometheus")
    rule_file = d / "rules.yaml"
    rule_file.write_text(build.to_yaml(rules.prometheus_rules(rules.RuleParams.fast())))
    settings = make_settings(sessions__inactivity_timeout_seconds=2, export__flush_interval_seconds=0.2)
    reporting = _report_service()
    try:
        with BackgroundService(settings) as bg:
            targets = [bg.service.addresses["metrics"], reporting.service.addresses["metrics"]]
            prom, url = start_prometheus(d, targets, rule_file, alertmanager)
            try:
                wait_until(lambda: [t["health"] for t in requests.get(f"{url}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]] == ["up"] * 2,
                           30, "scrape targets up")
                sim = ShopSimulator(5, start_ns=time.time_ns() - 10 * 60 * 10**9)
                sessions = [sim.session(i) for i in range(SESSIONS)]
                http = requests.Session()
                ended = lambda: requests.get(f"{url}/api/v1/query", params={"query": f'sum(otel_friction_sessions_ended_total{{instance="{targets[0]}"}})'},  # noqa: E731
                                             timeout=5).json()["data"]["result"]
                # Two waves, the second sent once Prometheus has scraped the first: counters are born at their first
                # value, so a series whose every increment fell between two scrapes would have no rate() at all; the
                # second wave's increments land on series Prometheus already has (the rate-based alert below).
                for n in (SESSIONS // 2, SESSIONS):
                    for req in to_requests(sessions[n - SESSIONS // 2:n]):
                        body = gzip.compress(req.SerializeToString())
                        for _ in range(100):
                            r = http.post(bg.url("otlp_http") + "/v1/logs", data=body, timeout=30,
                                          headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
                            if r.status_code not in (429, 503):
                                break
                            time.sleep(float(r.headers.get("Retry-After", "0.2")))  # what a collector's retry does
                        r.raise_for_status()
                    wait_until(lambda: _sent_sessions(bg) >= n, 60, f"{n} simulated sessions to end")
                    # A scrape after the last flush, so every counter has its value in Prometheus.
                    wait_until(lambda: ended() and float(ended()[0]["value"][1]) >= n, 30, f"Prometheus to scrape {n} ended sessions")
                ended_at = time.monotonic()
                score = lambda: requests.get(f"{url}/api/v1/query", params={"query": "rum_anomaly_score"}, timeout=5).json()["data"]["result"]  # noqa: E731
                wait_until(score, 30, "rum_anomaly_score of the reporting service in Prometheus")
                yield {"url": url, "bg": bg, "ended_at": ended_at, "reporting": reporting}
            finally:
                prom.stop()
    finally:
        reporting.stop()


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


def test_new_instances_are_known_to_have_started_inside_the_alert_windows(live):
    """Both services started minutes ago, Prometheus sees it (process_start_time_seconds): the counting alerts then count
    the whole value of their new series, as for a rollout's new pod (monitoring/rules.py, _increase)."""
    window = rules._seconds(rules.RuleParams().checkout_error_window)
    r = requests.get(f"{live['url']}/api/v1/query", params={"query": f"process_start_time_seconds > time() - {window}"},
                     timeout=10).json()
    started = {s["metric"]["instance"] for s in r["data"]["result"]}
    assert started == {live["bg"].service.addresses["metrics"], live["reporting"].service.addresses["metrics"]}


def test_exemplars_carry_trace_ids(live):
    now = time.time()
    r = requests.get(f"{live['url']}/api/v1/query_exemplars",
                     params={"query": "rum_js_errors_total", "start": now - 600, "end": now}, timeout=10).json()
    assert r["status"] == "success"
    trace_ids = [e["labels"]["trace_id"] for s in r["data"] for e in s["exemplars"]]
    assert trace_ids and all(re.fullmatch(r"[0-9a-f]{32}", t) for t in trace_ids)


def test_anomalies_panel_lists_the_injected_finding_first_and_links_to_the_report(live):
    panel = next(p for p in dashboards.render("overview")["panels"] if p["title"] == "Anomalies" and p["type"] == "table")
    expr = _substitute(panel["targets"][0]["expr"])
    rows = requests.get(f"{live['url']}/api/v1/query", params={"query": expr}, timeout=10).json()["data"]["result"]
    top = rows[0]  # sort_desc: the strongest finding first
    assert {k: top["metric"][k] for k in ("page", "kind", "segment")} == {"page": INJECTED.page, "kind": INJECTED.kind,
                                                                         "segment": INJECTED.segment_label}
    assert float(top["value"][1]) > 2  # q < 0.01
    assert [float(r["value"][1]) for r in rows] == sorted((float(r["value"][1]) for r in rows), reverse=True)
    # The row and header links open ${report_url}: here the reporting service's own /report, which shows the finding.
    links = panel["fieldConfig"]["defaults"]["links"] + panel["links"]
    assert links and all(link["url"] == "${report_url}" for link in links)
    page = requests.get(links[0]["url"].replace("${report_url}", live["reporting"].url("metrics") + "/report"), timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "id='findings'" in page.text and INJECTED.kind in page.text and INJECTED.segment_label in page.text


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
    assert set(ann) == {"summary", "description", "runbook_url", "dashboard_url", "report_url"}
    assert ann["report_url"] == rules.RuleParams.fast().report_url
    assert a["labels"]["page"] in ann["summary"] and "{{" not in ann["summary"] + ann["description"] + ann["dashboard_url"]
    assert ann["runbook_url"].endswith("/docs/runbooks/RumRageClickRateHigh.md")
    assert f"var-page={a['labels']['page']}" in ann["dashboard_url"]
