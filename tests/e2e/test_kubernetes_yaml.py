"""examples/kubernetes/*.yaml: valid YAML, consistent wiring, embedded configs accepted by their real loaders."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from collector_plugin.config import load_settings

from .stack import ROOT

K8S = ROOT / "examples" / "kubernetes"


def docs() -> dict[tuple[str, str], dict]:
    out = {}
    for f in sorted(K8S.glob("*.yaml")):
        for d in yaml.safe_load_all(f.read_text()):
            assert d and {"apiVersion", "kind", "metadata"} <= set(d), f"{f.name}: incomplete document {d}"
            out[(d["kind"], d["metadata"]["name"])] = d
    return out


def test_manifests_parse_and_wire_up(tmp_path):
    d = docs()
    dep = d[("Deployment", "otel-friction")]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"] == labels
    headless = d[("Service", "otel-friction-headless")]
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["selector"] == labels
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == "9478"
    hpa = d[("HorizontalPodAutoscaler", "otel-friction")]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "otel-friction"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"

    friction_cfg = yaml.safe_load(d[("ConfigMap", "otel-friction-config")]["data"]["otel-friction.yaml"])
    assert friction_cfg["server"]["otlp_grpc"].endswith(":14317")
    path = tmp_path / "otel-friction.yaml"
    path.write_text(d[("ConfigMap", "otel-friction-config")]["data"]["otel-friction.yaml"])
    load_settings(path)  # raises ConfigError when invalid

    col = yaml.safe_load(d[("ConfigMap", "otel-collector-config")]["data"]["config.yaml"])
    lb = col["exporters"]["load_balancing/friction"]
    assert lb["routing_key"] == "attributes" and lb["routing_attributes"] == ["session.id"]
    assert lb["resolver"]["dns"]["hostname"].startswith("otel-friction-headless.observability.")
    assert lb["resolver"]["dns"]["port"] == str(headless["spec"]["ports"][0]["port"])  # a string for the collector
    assert col["service"]["pipelines"]["logs"]["exporters"] == ["load_balancing/friction"]
    assert d[("Deployment", "otel-collector")]["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == \
        "otel-collector-config"


def test_embedded_collector_config_validates_with_the_real_collector(collector_bin: Path, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(docs()[("ConfigMap", "otel-collector-config")]["data"]["config.yaml"])
    r = subprocess.run([str(collector_bin), "validate", "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
