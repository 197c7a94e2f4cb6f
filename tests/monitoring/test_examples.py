"""The example Alertmanager config passes amtool and routes every severity; the Grafana examples are consistent."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from collector_plugin.monitoring import build, dashboards, rules

from .conftest import AMTOOL, need

ROOT = build.repo_root()
AM = ROOT / "examples/alertmanager/alertmanager.yml"


def test_amtool_check_config():
    need(AMTOOL)
    out = subprocess.run([AMTOOL, "check-config", str(AM)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("severity,receivers", [("critical", "pagerduty,grafana-oncall"), ("warning", "opsgenie,generic-webhook"),
                                                ("info", "generic-webhook")])
def test_amtool_routes_by_severity(severity, receivers):
    need(AMTOOL)
    out = subprocess.run([AMTOOL, "config", "routes", "test", f"--config.file={AM}", f"severity={severity}", "alertname=RumJsErrorSpike"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == receivers, out.stdout + out.stderr


def test_every_alert_severity_is_routed():
    assert {a.severity for a in rules.alerts()} <= {"critical", "warning", "info"}


def test_grafana_datasources_link_exemplars_to_tempo():
    doc = yaml.safe_load((ROOT / "examples/grafana/provisioning/datasources/otel-friction.yaml").read_text())
    by_type = {d["type"]: d for d in doc["datasources"]}
    assert by_type["prometheus"]["uid"] == rules.RuleParams().datasource_uid
    dest = by_type["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert dest == [{"name": "trace_id", "datasourceUid": by_type["tempo"]["uid"]}]


def test_grafana_dashboard_provider_folders_match_provision():
    doc = yaml.safe_load((ROOT / "examples/grafana/provisioning/dashboards/otel-friction.yaml").read_text())
    assert doc["apiVersion"] == 1
    assert {p["folderUid"] for p in doc["providers"]} == set(dashboards.FOLDERS.values())
