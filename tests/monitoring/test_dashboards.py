"""Generated files are current, and every dashboard passes the Grafana dashboard-linter rules we adopt."""

from __future__ import annotations

import json
import re

import pytest

from collector_plugin.cli import main
from collector_plugin.monitoring import build, dashboards, rules

NAMES = list(dashboards.DASHBOARDS)


def test_checked_in_files_are_current(capsys):
    assert main(["build", "--check"]) == 0, capsys.readouterr().err


def test_check_detects_stale_files(tmp_path):
    build.build(tmp_path)
    assert build.build(tmp_path, check=True) == []
    (tmp_path / "dashboards/overview.json").write_text("{}")
    assert build.build(tmp_path, check=True) == ["dashboards/overview.json"]


def test_build_with_deployment_urls_writes_them_into_its_own_root(tmp_path, capsys):
    report = "https://friction.example.com/report"
    assert main(["build", "--report-url", report]) == 2  # never into the checkout, whose files keep the defaults
    assert "--root" in capsys.readouterr().err
    args = ["build", "--root", str(tmp_path), "--report-url", report, "--dashboard-base-url", "https://grafana.example.com/"]
    assert main(args) == 0
    overview = json.loads((tmp_path / "dashboards/overview.json").read_text())
    assert next(v for v in overview["templating"]["list"] if v["name"] == "report_url")["query"] == report
    rule_file = (tmp_path / "alert_rules/prometheus/otel-friction.yaml").read_text()
    assert f"report_url: {report}" in rule_file and "dashboard_url: https://grafana.example.com/d/" in rule_file
    assert "localhost" not in rule_file
    assert main([*args, "--check"]) == 0
    assert main(["build", "--root", str(tmp_path), "--check"]) == 1  # the defaults differ from what was written


def _panels(name):
    return [p for p in dashboards.render(name)["panels"] if p["type"] != "row"]


def _outside_quotes(expr: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def counters_not_in_rate(expr: str) -> list[str]:
    """`_total` counters whose innermost enclosing call is not rate/increase/irate (linter: promql-counter-rate)."""
    e = _outside_quotes(expr)
    bad = []
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*_total\b", e):
        depth, i = 0, m.start() - 1
        while i >= 0:
            if e[i] == ")":
                depth += 1
            elif e[i] == "(":
                if depth == 0:
                    break
                depth -= 1
            i -= 1
        fn = re.search(r"([a-z_]+)\s*$", e[:max(i, 0)])
        if i < 0 or not fn or fn.group(1) not in ("rate", "increase", "irate"):
            bad.append(m.group(0))
    return bad


def test_linter_helper_flags_bare_counters():
    assert counters_not_in_rate("sum(rum_clicks_total)") == ["rum_clicks_total"]
    assert counters_not_in_rate('sum(rate(rum_clicks_total{page="a_total"}[5m]))') == []


@pytest.mark.parametrize("name", NAMES)
def test_datasource_is_a_template_variable(name):
    dash = dashboards.render(name)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    for p in _panels(name):
        uid = p["datasource"]["uid"]
        m = re.fullmatch(r"\$\{(\w+)\}", uid)
        assert m and variables[m.group(1)]["type"] == "datasource", (p["title"], uid)
        for t in p["targets"]:
            assert "datasource" not in t or t["datasource"]["uid"].startswith("$"), p["title"]


@pytest.mark.parametrize("name", NAMES)
def test_panels_titled_described_with_units_and_targets(name):
    ids = set()
    for p in _panels(name):
        assert p.get("title"), p
        assert p.get("description"), p["title"]
        assert p.get("fieldConfig", {}).get("defaults", {}).get("unit"), p["title"]
        assert p.get("targets"), p["title"]
        key = (p["gridPos"]["x"], p["gridPos"]["y"])
        assert key not in ids, f"overlapping panels at {key}"
        ids.add(key)


@pytest.mark.parametrize("name", NAMES)
def test_promql_rates_use_rate_interval_and_counters_are_rated(name):
    for p in _panels(name):
        for t in p["targets"]:
            if "expr" not in t:
                continue
            expr = t["expr"]
            for window in re.findall(r"(?:rate|irate)\([^\[]*\[([^\]]+)\]", expr):
                assert window == "$__rate_interval", (p["title"], expr)
            assert not counters_not_in_rate(expr), (p["title"], expr)


def test_error_and_friction_panels_have_exemplars_and_session_links():
    for name in ("overview", "friction", "js-errors", "funnel"):
        for p in _panels(name):
            exprs = " ".join(t.get("expr", "") for t in p["targets"])
            # Ratio panels are exempt: an exemplar's value is a count and would sit at a meaningless height on a ratio axis.
            if p["type"] == "timeseries" and " / " not in exprs and re.search(r"rum_(js_errors|rage_clicks|dead_clicks|error_clicks|error_group_sessions|funnel_dropoffs)", exprs):
                assert any(t.get("exemplar") for t in p["targets"]), (name, p["title"])
                links = p["fieldConfig"]["defaults"].get("links", [])
                assert any(f"/d/{dashboards.SESSION_UID}?" in link["url"] for link in links), (name, p["title"])


def test_session_dashboard_reads_tempo_by_session_id():
    dash = dashboards.render("session")
    assert {"session_id", "tempo"} <= {v["name"] for v in dash["templating"]["list"]}
    queries = [t["query"] for p in dash["panels"] for t in p["targets"]]
    assert '{ span.session.id = "$session_id" }' in queries
    assert all(p["datasource"]["type"] == "tempo" for p in dash["panels"])


def test_variables_on_aggregate_dashboards():
    names = {v["name"] for v in dashboards.render("overview")["templating"]["list"]}
    assert {"datasource", "service", "page", "device", "visitor", "source"} <= names


def _annotation_keys(alert: str) -> set[str]:
    """Behavioural alerts (Rum*: friction, funnel, JS errors) also link to the anomaly report; pipeline alerts do not."""
    base = {"summary", "description", "runbook_url", "dashboard_url"}
    return base | {"report_url"} if alert.startswith("Rum") else base


def test_every_alert_has_severity_and_annotations():
    for a in rules.prometheus_rules()["groups"]:
        for r in a["rules"]:
            if "alert" in r:
                assert r["labels"]["severity"] in ("critical", "warning", "info")
                assert set(r["annotations"]) == _annotation_keys(r["alert"])
                if "report_url" in r["annotations"]:
                    assert r["annotations"]["report_url"] == rules.REPORT_URL
                runbook = build.repo_root() / "docs/runbooks" / f"{r['alert']}.md"
                assert runbook.exists(), runbook
                assert r["annotations"]["runbook_url"].endswith(f"docs/runbooks/{r['alert']}.md")


def test_report_url_is_a_rule_parameter():
    url = "https://friction.example.com/report"
    for doc in (rules.prometheus_rules(rules.RuleParams(report_url=url)), rules.grafana_rules(rules.RuleParams(report_url=url))):
        urls = {r["annotations"].get("report_url") for g in doc["groups"] for r in g["rules"] if "annotations" in r}
        assert urls == {url, None}


def test_overview_anomalies_panel_lists_findings_by_score_and_links_to_the_report():
    dash = dashboards.render("overview")
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["report_url"]["type"] == "textbox" and variables["report_url"]["query"] == rules.REPORT_URL
    assert any(link.get("url") == "${report_url}" for link in dash["links"])
    panel = next(p for p in _panels("overview") if p["title"] == "Anomalies")
    assert panel["type"] == "table"
    t, = panel["targets"]
    assert t["instant"] and t["format"] == "table"
    assert re.fullmatch(r"sort_desc\(max by \(service_name, page, kind, segment\) \(rum_anomaly_score\{.*\}\)\)", t["expr"])
    organize = next(x for x in panel["transformations"] if x["id"] == "organize")["options"]
    assert organize["renameByName"]["Value"] == "score"
    assert panel["options"]["sortBy"] == [{"displayName": "score", "desc": True}]
    assert [link["url"] for link in panel["fieldConfig"]["defaults"]["links"]] == ["${report_url}"]
    assert [link["url"] for link in panel["links"]] == ["${report_url}"]


def test_grafana_rules_file_shape():
    doc = rules.grafana_rules()
    assert doc["apiVersion"] == 1
    uids = set()
    for g in doc["groups"]:
        assert g["folder"] and g["interval"] and g["orgId"] == 1
        for r in g["rules"]:
            assert r["uid"] not in uids and len(r["uid"]) <= 40
            uids.add(r["uid"])
            assert r["condition"] == "C"
            refs = {q["refId"]: q for q in r["data"]}
            assert refs["A"]["datasourceUid"] == "prometheus"
            assert refs["B"]["datasourceUid"] == refs["C"]["datasourceUid"] == "__expr__"
            assert set(r["annotations"]) == _annotation_keys(r["title"])
    assert len(uids) == len(rules.alerts())
    json.dumps(doc)
