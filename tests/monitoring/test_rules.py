"""promtool on the generated rule files: syntax (check rules) and behaviour (test rules).

The unit tests are generated here from scenarios: for every alert, a synthetic series that should page fires, and
normal traffic and low traffic (the minimum-traffic guard) stay silent. Series are 7 days of history (for the
same-hour baselines) plus an incident. Expected annotations are the rule's templates filled with the labels.
``born_at_first_value`` covers counters whose series appear at their first value (increase() alone misses it)."""

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


def _lab(name: str, labels: dict) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def born_at_first_value() -> dict:
    """Counters with labels appear on their first increment, so their first scraped value is already N (an element's
    first error-click episodes, a new error group, the first dropped spans). increase() only sees growth between
    samples: a series born at 5 that stays at 5 has an increase of 0. These series are born at 7d and stay flat.

    Instance ``a`` was scraped all along: its new series must page. So must those of instance ``fresh``, a process
    started a minute before its first scrape at 7d (a new pod of a rollout: a new address, so a new ``instance``), whose
    counters began at zero. Two look-alikes must not: instance ``late``, whose scraping starts at 7d with counters
    already high (a new Prometheus, a long-running processor), and instance ``gap``, unreachable for 30 minutes, whose
    series come back with the value they had before."""
    shop = {"service_name": "shop"}
    a, fresh, late, gap = ({"job": "otel-friction", "instance": i} for i in ("a", "fresh", "late", "gap"))
    end = BASE + 24
    new = lambda first: f"_x{BASE} {first:g}x24"  # noqa: E731 - absent for 7 days, born at 7d with `first`, then flat
    gapped = lambda v: f"{v:g}x{BASE - 6} _x6 {v:g}x23"  # noqa: E731 - present, absent 7d-25m .. 7d, back (same value)
    series = [
        {"series": _lab("up", a), "values": f"1x{end}"},
        {"series": _lab("up", fresh), "values": f"_x{BASE} 1x24"},
        {"series": _lab("process_start_time_seconds", fresh), "values": f"_x{BASE} {BASE * 300 - 60}x24"},
        {"series": _lab("up", late), "values": f"_x{BASE} 1x24"},
        {"series": _lab("process_start_time_seconds", late), "values": f"_x{BASE} 86400x24"},  # started 6 days before
        {"series": _lab("up", gap), "values": f"1x{BASE - 6} 0x5 1x23"},
        # instance a: born inside the window at (or above) the threshold -> pages; below it -> silent
        {"series": _lab("rum_error_clicks_total", {**a, **shop, "page": "/cart", "device": "desktop", "element": "#apply-coupon"}), "values": new(5)},
        {"series": _lab("rum_error_clicks_total", {**a, **shop, "page": "/cart", "device": "desktop", "element": "#qty-minus"}), "values": new(4)},
        {"series": _lab("rum_error_group_sessions_total", {**a, **shop, "error_group": "b0rnat3b0rn0"}), "values": new(3)},
        {"series": _lab("rum_error_group_sessions_total", {**a, **shop, "error_group": "b0rnat2b0rn0"}), "values": new(2)},
        {"series": _lab("rum_js_errors_total", {**a, **shop, "page": "/checkout/payment", "error_type": "RangeError"}), "values": new(3)},
        {"series": _lab("rum_js_errors_total", {**a, **shop, "page": "/checkout/payment", "error_type": "SyntaxError"}), "values": new(2)},
        {"series": _lab("otel_friction_spans_dropped_total", {**a, "destination": "otlp", "reason": "queue_full"}), "values": new(7)},
        # instance fresh: started just before its first scrape, so every value is new -> pages like a
        {"series": _lab("rum_error_clicks_total", {**fresh, **shop, "page": "/cart", "device": "desktop", "element": "#fresh"}), "values": new(5)},
        {"series": _lab("otel_friction_spans_dropped_total", {**fresh, "destination": "otlp", "reason": "queue_full"}), "values": new(7)},
        # instance late: scraped from 7d on, lifetime totals far above every threshold -> silent
        {"series": _lab("rum_error_clicks_total", {**late, **shop, "page": "/cart", "device": "desktop", "element": "#late"}), "values": new(200)},
        {"series": _lab("rum_error_group_sessions_total", {**late, **shop, "error_group": "1a7e1a7e1a7e"}), "values": new(50)},
        {"series": _lab("rum_js_errors_total", {**late, **shop, "page": "/checkout/review", "error_type": "TypeError"}), "values": new(50)},
        {"series": _lab("otel_friction_spans_dropped_total", {**late, "destination": "otlp", "reason": "queue_full"}), "values": new(70)},
        # instance gap: old series, unseen during the outage, no new counts -> silent
        {"series": _lab("rum_error_clicks_total", {**gap, **shop, "page": "/cart", "device": "desktop", "element": "#gap"}), "values": gapped(100)},
        {"series": _lab("otel_friction_spans_dropped_total", {**gap, "destination": "otlp", "reason": "queue_full"}), "values": gapped(70)},
    ]
    # "for" from the born series' first evaluation (7d): RumErrorClicksOnCheckout 5m, OtelFrictionSpansDropped 5m.
    checks = [
        ("RumErrorClicksOnCheckout", day7(-5), []),
        ("RumErrorClicksOnCheckout", day7(5), [expect("RumErrorClicksOnCheckout", **shop, page="/cart", element="#apply-coupon"),
                                               expect("RumErrorClicksOnCheckout", **shop, page="/cart", element="#fresh")]),
        ("RumErrorClicksOnCheckout", day7(10), [expect("RumErrorClicksOnCheckout", **shop, page="/cart", element="#apply-coupon"),
                                                expect("RumErrorClicksOnCheckout", **shop, page="/cart", element="#fresh")]),
        ("RumErrorClicksOnCheckout", day7(20), []),  # the episodes are older than the 15-minute window
        ("RumNewErrorGroup", day7(10), [expect("RumNewErrorGroup", **shop, error_group="b0rnat3b0rn0")]),
        ("RumNewErrorGroup", day7(55), [expect("RumNewErrorGroup", **shop, error_group="b0rnat3b0rn0")]),
        ("RumNewErrorGroup", day7(65), []),
        ("RumNewErrorOnCheckout", day7(10), [expect("RumNewErrorOnCheckout", **shop, page="/checkout/payment", error_type="RangeError")]),
        ("RumNewErrorOnCheckout", day7(40), []),
        ("OtelFrictionSpansDropped", day7(5), [expect("OtelFrictionSpansDropped", **a, destination="otlp", reason="queue_full"),
                                               expect("OtelFrictionSpansDropped", **fresh, destination="otlp", reason="queue_full")]),
        ("OtelFrictionSpansDropped", day7(15), []),
    ]
    assert all(int(t[:-1]) <= end * 5 for _, t, _ in checks)  # every evaluation within the series
    return {"interval": "5m", "input_series": series,
            "alert_rule_test": [{"eval_time": t, "alertname": name, "exp_alerts": exp} for name, t, exp in checks]}


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

    tests.append(born_at_first_value())

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
        {"series": 'otel_friction_report_store_errors_total{job="otel-friction",instance="b",operation="write"}', "values": "0+1x48"},
        {"series": 'otel_friction_checkpoint_failures_total{job="otel-friction",instance="b"}', "values": "0+1x48"},
        {"series": 'otel_friction_checkpoint_failures_total{job="otel-friction",instance="c"}', "values": "0+0x48"},
        {"series": 'otel_friction_report_store_errors_total{job="otel-friction",instance="c",operation="write"}', "values": "0+0x48"},
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
        {"eval_time": "10m", "alertname": "OtelFrictionCheckpointFailing", "exp_alerts": []},  # not yet for 15m
        {"eval_time": "40m", "alertname": "OtelFrictionCheckpointFailing", "exp_alerts": [expect("OtelFrictionCheckpointFailing", **b)]},
        {"eval_time": "10m", "alertname": "OtelFrictionReportStoreFailing", "exp_alerts": []},  # not yet for 15m
        {"eval_time": "40m", "alertname": "OtelFrictionReportStoreFailing",
         "exp_alerts": [expect("OtelFrictionReportStoreFailing", **b, operation="write")]},
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
