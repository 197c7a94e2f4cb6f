"""promtool on the generated rule files: syntax (check rules) and behaviour (test rules).

The unit tests are generated here from scenarios: for every alert, a synthetic series that should page fires, and
normal traffic and low traffic (the minimum-traffic guard) stay silent. Series are 7 days of history (for the
same-hour baselines) plus an incident. Expected annotations are the rule's templates filled with the labels."""

from __future__ import annotations

import re
import subprocess

from collector_plugin.monitoring import build, rules

from .conftest import PROMTOOL, need

BASE = 2016  # 7 days of 5-minute samples
P = rules.RuleParams(interval="5m")  # production thresholds; 5-minute evaluation keeps 7 days of evaluations quick


def ser(labels: dict, base: float, spike: float | None = None, steps: int = 24, start_missing: bool = False) -> dict:
    """A counter growing ``base`` per 5 min for 7 days, then ``spike`` per 5 min for ``steps`` samples."""
    labels = dict(labels)
    name = labels.pop("__name__")
    lab = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    spike = base if spike is None else spike
    if start_missing:
        return {"series": lab, "values": f"_x{BASE} 0+{spike:g}x{steps}"}
    return {"series": lab, "values": f"0+{base:g}x{BASE} {base * BASE + spike:g}+{spike:g}x{steps}"}


def m(name: str, **labels) -> dict:
    return {"__name__": name, **labels}


def expect(alert: str, **labels) -> dict:
    a = next(x for x in rules.alerts(P) if x.name == alert)
    ann = rules._annotations(a, P)
    fill = lambda t: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda g: labels.get(g.group(1), ""), t)  # noqa: E731
    return {"exp_labels": {**labels, "severity": a.severity}, "exp_annotations": {k: fill(v) for k, v in ann.items()}}


def day7(minutes: int) -> str:
    return f"{7 * 24 * 60 + minutes}m"


def scenarios() -> list[dict]:
    shop, d = {"service_name": "shop"}, {"device": "desktop"}
    tests = []

    # Rage and dead clicks: /cart spikes (pages), /home is normal, /quiet spikes with too little traffic.
    series = []
    for page, pv, clicks, friction, spike in (("/cart", 50, 100, 1, 10), ("/home", 50, 100, 1, None), ("/quiet", 1, 2, 0, 2)):
        labels = {**shop, "page": page, **d}
        series += [ser(m("rum_page_views_total", **labels), pv), ser(m("rum_clicks_total", **labels), clicks)]
        for kind in ("rage", "dead"):
            series.append(ser(m(f"rum_{kind}_clicks_total", **labels, element="#buy"), friction, spike))
    alerts = []
    for name in ("RumRageClickRateHigh", "RumDeadClickRateHigh"):
        alerts += [{"eval_time": day7(-12 * 60), "alertname": name, "exp_alerts": []},
                   {"eval_time": day7(45), "alertname": name, "exp_alerts": [expect(name, **shop, page="/cart")]}]
    tests.append({"interval": "5m", "input_series": series, "alert_rule_test": alerts})

    # Checkout drop-off per step: payment spikes, shipping normal, review spikes on low traffic.
    seg = {"funnel": "checkout", "device": "desktop", "visitor": "new", "source": "direct"}
    series = []
    for step, reached, drop, spike in (("payment", 20, 4, 12), ("shipping", 20, 4, None), ("review", 1, 0.2, 1)):
        series += [ser(m("rum_funnel_step_reached_total", **shop, step=step, **seg), reached),
                   ser(m("rum_funnel_dropoffs_total", **shop, step=step, **seg), drop, spike)]
    alerts = []
    for name, extra in (("RumCheckoutDropoffHigh", {}), ("RumCheckoutDropoffHighByDevice", {"device": "desktop"})):
        alerts += [{"eval_time": day7(-12 * 60), "alertname": name, "exp_alerts": []},
                   {"eval_time": day7(110), "alertname": name,
                    "exp_alerts": [expect(name, **shop, funnel="checkout", step="payment", **extra)]}]
    tests.append({"interval": "5m", "input_series": series, "alert_rule_test": alerts})

    # JS error spike: shop spikes, calm is normal, quiet spikes on few page views.
    series = []
    for svc, pv, err, spike in (("shop", 300, 3, 30), ("calm", 300, 3, None), ("quiet", 10, 0.1, 5)):
        series += [ser(m("rum_page_views_total", service_name=svc, page="/cart", device="desktop"), pv),
                   ser(m("rum_js_errors_total", service_name=svc, page="/cart", error_type="TypeError"), err, spike)]
    tests.append({"interval": "5m", "input_series": series, "alert_rule_test": [
        {"eval_time": day7(-12 * 60), "alertname": "RumJsErrorSpike", "exp_alerts": []},
        {"eval_time": day7(45), "alertname": "RumJsErrorSpike", "exp_alerts": [expect("RumJsErrorSpike", service_name="shop")]}]})

    # New error group / new error on a checkout page / error clicks on checkout.
    series = [
        ser(m("rum_error_group_sessions_total", **shop, error_group="0ld0ld0ld0ld"), 1, 5),
        ser(m("rum_error_group_sessions_total", **shop, error_group="5ca1ab1e0000"), 0, 2, start_missing=True),
        ser(m("rum_error_group_sessions_total", **shop, error_group="0ne0ff000000"), 0, 0, start_missing=True),
        ser(m("rum_js_errors_total", **shop, page="/checkout/payment", error_type="RangeError"), 0, 2, start_missing=True),
        ser(m("rum_js_errors_total", **shop, page="/checkout/payment", error_type="TypeError"), 1, 5),
        ser(m("rum_js_errors_total", **shop, page="/products", error_type="RangeError"), 0, 2, start_missing=True),
        ser(m("rum_error_clicks_total", **shop, page="/checkout/payment", device="desktop", element="#pay"), 0, 3),
        ser(m("rum_error_clicks_total", **shop, page="/cart", device="desktop", element="#qty"), 0.01),
        ser(m("rum_error_clicks_total", **shop, page="/products", device="desktop", element="#add"), 0, 3),
    ]
    tests.append({"interval": "5m", "input_series": series, "alert_rule_test": [
        {"eval_time": day7(-12 * 60), "alertname": "RumNewErrorGroup", "exp_alerts": []},
        {"eval_time": day7(30), "alertname": "RumNewErrorGroup", "exp_alerts": [expect("RumNewErrorGroup", **shop, error_group="5ca1ab1e0000")]},
        {"eval_time": day7(-12 * 60), "alertname": "RumNewErrorOnCheckout", "exp_alerts": []},
        {"eval_time": day7(25), "alertname": "RumNewErrorOnCheckout",
         "exp_alerts": [expect("RumNewErrorOnCheckout", **shop, page="/checkout/payment", error_type="RangeError")]},
        {"eval_time": day7(-12 * 60), "alertname": "RumErrorClicksOnCheckout", "exp_alerts": []},
        {"eval_time": day7(30), "alertname": "RumErrorClicksOnCheckout",
         "exp_alerts": [expect("RumErrorClicksOnCheckout", **shop, page="/checkout/payment", element="#pay")]},
    ]})

    # Pipeline health: instance a stops receiving, b rejects / drops / fails to export, c is healthy.
    job = {"job": "otel-friction"}
    series = [
        {"series": 'otel_friction_records_received_total{job="otel-friction",instance="a",signal="logs",format="otlp_grpc"}', "values": "0+100x24 2400+0x24"},
        {"series": 'otel_friction_records_received_total{job="otel-friction",instance="b",signal="logs",format="otlp_grpc"}', "values": "0+100x48"},
        {"series": 'otel_friction_records_received_total{job="otel-friction",instance="c",signal="logs",format="otlp_grpc"}', "values": "0+100x48"},
        {"series": 'otel_friction_records_rejected_total{job="otel-friction",instance="b",signal="logs",format="otlp_grpc",reason="invalid_record"}', "values": "0+5x48"},
        {"series": 'otel_friction_records_rejected_total{job="otel-friction",instance="c",signal="logs",format="otlp_grpc",reason="invalid_record"}', "values": "0+0x48"},
        {"series": 'otel_friction_records_dropped_total{job="otel-friction",instance="b",signal="logs",reason="missing_session_id"}', "values": "0+10x48"},
        {"series": 'otel_friction_records_dropped_total{job="otel-friction",instance="c",signal="logs",reason="missing_session_id"}', "values": "0+1x48"},
        {"series": 'otel_friction_export_failures_total{job="otel-friction",instance="b",destination="otlp",reason="timeout"}', "values": "0+1x48"},
        {"series": 'otel_friction_export_failures_total{job="otel-friction",instance="c",destination="otlp",reason="timeout"}', "values": "0+0x48"},
        {"series": 'otel_friction_spans_dropped_total{job="otel-friction",instance="b",destination="otlp",reason="queue_full"}', "values": "0+1x48"},
        {"series": 'otel_friction_spans_dropped_total{job="otel-friction",instance="c",destination="otlp",reason="queue_full"}', "values": "0+0x48"},
    ]
    b = {**job, "instance": "b"}
    tests.append({"interval": "1m", "input_series": series, "alert_rule_test": [
        {"eval_time": "20m", "alertname": "OtelFrictionNotReceiving", "exp_alerts": []},
        {"eval_time": "45m", "alertname": "OtelFrictionNotReceiving", "exp_alerts": [expect("OtelFrictionNotReceiving", **job, instance="a")]},
        {"eval_time": "40m", "alertname": "OtelFrictionRejectingRecords", "exp_alerts": [expect("OtelFrictionRejectingRecords", **b)]},
        {"eval_time": "40m", "alertname": "OtelFrictionDroppingRecords",
         "exp_alerts": [expect("OtelFrictionDroppingRecords", **b, reason="missing_session_id")]},
        {"eval_time": "40m", "alertname": "OtelFrictionExportFailing",
         "exp_alerts": [expect("OtelFrictionExportFailing", **b, destination="otlp", reason="timeout")]},
        {"eval_time": "40m", "alertname": "OtelFrictionSpansDropped",
         "exp_alerts": [expect("OtelFrictionSpansDropped", **b, destination="otlp", reason="queue_full")]},
    ]})
    # No otel-friction metrics at all: absent() pages.
    tests.append({"interval": "1m", "input_series": [{"series": 'up{job="other"}', "values": "1x30"}], "alert_rule_test": [
        {"eval_time": "20m", "alertname": "OtelFrictionNotReceiving", "exp_alerts": [expect("OtelFrictionNotReceiving")]}]})
    return tests


def test_promtool_check_rules_on_generated_files():
    need(PROMTOOL)
    out = subprocess.run([PROMTOOL, "check", "rules", str(build.repo_root() / "alert_rules/prometheus/otel-friction.yaml")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_has_a_unit_test():
    tested = {t["alertname"] for s in scenarios() for t in s["alert_rule_test"] if t["exp_alerts"]}
    assert tested == {a.name for a in rules.alerts(P)}


def test_promtool_test_rules(tmp_path):
    need(PROMTOOL)
    rule_file = tmp_path / "rules.yaml"
    rule_file.write_text(build.to_yaml(rules.prometheus_rules(P)))
    test_file = tmp_path / "rules_test.yaml"
    test_file.write_text(build.to_yaml({"rule_files": [str(rule_file)], "evaluation_interval": "5m", "tests": scenarios()}))
    out = subprocess.run([PROMTOOL, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-6000:]
