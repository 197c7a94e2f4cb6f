"""Alert and recording rules, defined once and rendered as Prometheus rule files and Grafana alert provisioning.

Every alert has ``severity`` and the annotations ``summary``, ``description``, ``runbook_url`` (docs/runbooks/<alert>.md)
and ``dashboard_url``; the behavioural alerts (friction, funnel, JS errors) also ``report_url`` (the anomaly report).
``RuleParams`` holds every threshold and window so a test can build a fast variant (``for: 0s``, one-second
evaluation, no baseline) from the same source instead of editing YAML by hand.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

RUNBOOK_BASE = "https://github.com/otel-friction/otel-friction/blob/main/docs/runbooks"
GRAFANA_BASE = "http://localhost:3000"
# otel-friction's anomaly report (GET /report on the metrics port, default listener 127.0.0.1:9478) as the people who
# get the alerts and use the dashboards reach it; RuleParams.report_url and the dashboards' `report_url` variable.
REPORT_URL = "http://localhost:9478/report"
CHECKOUT_PAGES = "/cart|/checkout.*"
NOT_BOT = 'device!="bot"'


@dataclass(frozen=True)
class RuleParams:
    """Thresholds and windows. The defaults are production values; docs/alerts.md explains each."""

    interval: str = "1m"                 # evaluation interval of every group
    friction_window: str = "15m"          # window of the current friction ratio
    baseline_window: str = "1h"           # window of each day's same-hour baseline sample
    baseline_days: int = 7                # same hour over this many previous days
    friction_factor: float = 3.0          # current ratio must be this many times the baseline ...
    friction_floor: float = 0.02          # ... and at least this (2 % of clicks)
    friction_no_baseline: float = 0.10    # page with no history: absolute threshold
    min_page_views: int = 200             # traffic guard: page views of the page in the last hour
    dropoff_window: str = "1h"
    dropoff_factor: float = 1.5
    dropoff_min_increase: float = 0.10    # and at least 10 points above the baseline
    dropoff_no_baseline: float = 0.9
    min_step_sessions: int = 50           # traffic guard: sessions that reached the step in the window
    min_step_sessions_device: int = 30
    error_window: str = "10m"
    error_factor: float = 3.0
    error_floor: float = 0.02             # JS errors per page view
    error_no_baseline: float = 0.2
    min_error_page_views: int = 500
    new_error_min_sessions: int = 3
    new_error_lookback: str = "1d"
    new_error_window: str = "1h"          # RumNewErrorGroup: sessions of the group in this window
    new_checkout_error_window: str = "30m"  # RumNewErrorOnCheckout: errors of the type on the page in this window
    checkout_error_clicks: int = 5
    checkout_error_window: str = "15m"    # RumErrorClicksOnCheckout: episodes on one element in this window
    pipeline_window: str = "10m"
    reject_ratio: float = 0.01
    drop_ratio: float = 0.05
    for_scale: float = 1.0                # multiplies every "for" (0 → fire on the first evaluation)
    runbook_base: str = RUNBOOK_BASE
    grafana_base: str = GRAFANA_BASE
    report_url: str = REPORT_URL          # annotation report_url of the behavioural alerts
    datasource_uid: str = "prometheus"    # Grafana-managed rules: the Prometheus data source uid
    grafana_folder: str = "otel-friction"

    @classmethod
    def fast(cls, **overrides) -> "RuleParams":
        """A variant for live tests: one-second evaluation, no ``for``, 1-minute windows, no baseline, no traffic guard."""
        base = dict(interval="1s", friction_window="1m", friction_factor=1.0, friction_floor=0.0, friction_no_baseline=0.0,
                    min_page_views=1, for_scale=0.0, error_window="1m", pipeline_window="1m", new_error_window="1m",
                    new_checkout_error_window="1m", checkout_error_window="1m")
        base.update(overrides)
        return cls(**base)


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    dashboard: str          # uid of the dashboard the alert links to
    dashboard_vars: str = ""  # query string appended to the dashboard URL (templated)
    labels: dict = field(default_factory=dict)
    report: bool = False    # behavioural alert: annotation report_url links to the anomaly report


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str


@dataclass(frozen=True)
class Group:
    name: str
    rules: list


def add_url_arguments(p: argparse.ArgumentParser, *, dashboard_default: str = GRAFANA_BASE) -> None:
    """Where on-call and Grafana users reach things, written into the alerts' annotations and the dashboards' links."""
    p.add_argument("--dashboard-base-url", help=f"Grafana URL in the alerts' dashboard_url (default: {dashboard_default})")
    p.add_argument("--report-url", default=REPORT_URL,
                   help="otel-friction's anomaly report as users reach it (GET /report on its metrics port), in the behavioural "
                        "alerts' report_url and the overview dashboard's report links (default: %(default)s)")
    p.add_argument("--runbook-base-url", default=RUNBOOK_BASE,
                   help="where the runbooks (docs/runbooks/<alert>.md) are published, for runbook_url (default: %(default)s)")


def url_params(args: argparse.Namespace, dashboard_default: str = GRAFANA_BASE, **params) -> RuleParams:
    """RuleParams with the URLs of ``add_url_arguments``' options (``params``: any other field)."""
    return RuleParams(grafana_base=(args.dashboard_base_url or dashboard_default).rstrip("/"), report_url=args.report_url,
                      runbook_base=args.runbook_base_url.rstrip("/"), **params)


def _seconds(d: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return int(float(d[:-1]) * units[d[-1]])


def _dur(seconds: float) -> str:
    seconds = int(seconds)
    if seconds == 0:
        return "0s"
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % n == 0:
            return f"{seconds // n}{unit}"
    return f"{seconds}s"


def _for(p: RuleParams, d: str) -> str:
    return _dur(_seconds(d) * p.for_scale)


def _same_hour(expr_at_offset, by: str, days: int) -> str:
    """Average of ``expr_at_offset(offset)`` over the same hour of the previous ``days`` days.

    Each day's value gets a ``day`` label so ``or`` keeps all of them, and missing days (new page, retention) are simply
    left out of the average instead of making the whole baseline empty."""
    terms = [f'label_replace({expr_at_offset(f"{d}d")}, "day", "{d}", "", "")' for d in range(1, days + 1)]
    return f"avg by ({by}) (\n  " + "\n  or ".join(terms) + "\n)"


def _ratio(num: str, den: str, sel: str, by: str, window: str, offset: str | None = None) -> str:
    off = f" offset {offset}" if offset else ""
    return f"sum by ({by}) (rate({num}{{{sel}}}[{window}]{off})) / sum by ({by}) (rate({den}{{{sel}}}[{window}]{off}))"


def _increase(sel: str, window: str) -> str:
    """Per-series increase of the counter ``sel`` over ``window`` that also counts series born inside the window.

    Counters with labels appear on their first increment, so a series' first scraped value is already N; increase()
    only sees growth between samples and misses those N (a series born at 5 that stays there has an increase of 0).
    A series with no sample ``offset window`` ago was born inside the window, and all of its value counts, when its
    target was either scraped by Prometheus then (``up offset window == 1``) or started inside the window
    (``process_start_time_seconds``: its counters began at zero since, which covers every new pod of a rollout,
    whose new address is a new ``instance``). The new-series term comes first so that ``or`` (which matches label
    sets without the metric name) keeps it over increase()'s partial value.

    Otherwise (Prometheus started since, or the target was down, and the process is older than the window) an absent
    series may be an old one it never saw, whose value is a lifetime total: then increase() alone is used, as before.
    Wrap the result in ``sum by (...)``: the ``or`` must pick per series, before aggregation (after it, one old series
    of a group would hide a new one)."""
    fresh = f"up offset {window} == 1 or process_start_time_seconds > time() - {_seconds(window)}"
    return (f"(({sel} unless {sel} offset {window}) and on (job, instance) ({fresh}))\n"
            f"  or increase({sel}[{window}])")


def _above_baseline(current: str, baseline: str, by: str, factor: float, floor: float, no_baseline: float,
                    min_increase: float | None = None) -> str:
    """current > max(factor × baseline, floor) (and ≥ baseline + min_increase); no_baseline where there is no history."""
    threshold = f"clamp_min({factor:g} * {baseline}, {floor:g})"
    if min_increase is not None:  # max(factor × baseline, baseline + min_increase), element-wise
        threshold = f"({threshold} > {baseline} + {min_increase:g} or {baseline} + {min_increase:g})"
    return (f"{current}\n  > on ({by}) (\n    {threshold}\n    or on ({by}) ({current} * 0 + {no_baseline:g})\n  )")


def groups(p: RuleParams = RuleParams()) -> list[Group]:
    by_page = "service_name, page"
    rec: list[Recording] = []
    alerts_friction: list[Alert] = []

    # Friction: rage and dead clicks per click, per page, against the same hour of the previous days.
    rec.append(Recording("service_page:rum_page_views:increase1h",
                         f"sum by ({by_page}) (increase(rum_page_views_total{{{NOT_BOT}}}[1h]))"))
    for kind, title, name in (("rage", "Rage-click", "RumRageClickRateHigh"), ("dead", "Dead-click", "RumDeadClickRateHigh")):
        cur = f"service_page:rum_{kind}_clicks_per_click:ratio_rate{p.friction_window}"
        base = f"service_page:rum_{kind}_clicks_per_click:ratio_rate{p.baseline_window}_same_hour_{p.baseline_days}d"
        rec.append(Recording(cur, _ratio(f"rum_{kind}_clicks_total", "rum_clicks_total", NOT_BOT, by_page, p.friction_window)))
        rec.append(Recording(base, _same_hour(
            lambda off: f"({_ratio(f'rum_{kind}_clicks_total', 'rum_clicks_total', NOT_BOT, by_page, p.baseline_window, off)})",
            by_page, p.baseline_days)))
        expr = (_above_baseline(cur, base, by_page, p.friction_factor, p.friction_floor, p.friction_no_baseline)
                + f"\nand on ({by_page}) service_page:rum_page_views:increase1h >= {p.min_page_views}")
        alerts_friction.append(Alert(
            name, expr, _for(p, "15m"), "warning",
            f"{title} rate on {{{{ $labels.page }}}} is far above its usual level",
            f"{title}s per click on {{{{ $labels.page }}}} ({{{{ $labels.service_name }}}}) over the last {p.friction_window} are more than "
            f"{p.friction_factor:g}x the same hour of the previous {p.baseline_days} days (and above {p.friction_floor:.0%}); "
            f"the page had at least {p.min_page_views} page views in the last hour.",
            "otel-friction-friction", "var-service={{ $labels.service_name }}&var-page={{ $labels.page }}", report=True))

    # Checkout funnel: drop-off ratio per step (and per device).
    alerts_funnel: list[Alert] = []
    for scope, by, guard, sev, suffix in (("step", "service_name, funnel, step", p.min_step_sessions, "critical", ""),
                                         ("step_device", "service_name, funnel, step, device", p.min_step_sessions_device, "warning", "ByDevice")):
        cur = f"funnel_{scope}:rum_funnel_dropoffs_per_step_reached:ratio_rate{p.dropoff_window}"
        base = f"funnel_{scope}:rum_funnel_dropoffs_per_step_reached:ratio_rate{p.dropoff_window}_same_hour_{p.baseline_days}d"
        reached = f"funnel_{scope}:rum_funnel_step_reached:increase{p.dropoff_window}"
        rec.append(Recording(cur, _ratio("rum_funnel_dropoffs_total", "rum_funnel_step_reached_total", NOT_BOT, by, p.dropoff_window)))
        rec.append(Recording(base, _same_hour(
            lambda off: f"({_ratio('rum_funnel_dropoffs_total', 'rum_funnel_step_reached_total', NOT_BOT, by, p.dropoff_window, off)})",
            by, p.baseline_days)))
        rec.append(Recording(reached, f"sum by ({by}) (increase(rum_funnel_step_reached_total{{{NOT_BOT}}}[{p.dropoff_window}]))"))
        expr = (_above_baseline(cur, base, by, p.dropoff_factor, 0, p.dropoff_no_baseline, p.dropoff_min_increase)
                + f"\nand on ({by}) {reached} >= {guard}")
        dev = " on {{ $labels.device }}" if suffix else ""
        alerts_funnel.append(Alert(
            f"RumCheckoutDropoffHigh{suffix}", expr, _for(p, "30m"), sev,
            f"Drop-off at {{{{ $labels.funnel }}}} step {{{{ $labels.step }}}}{dev} is above its usual level",
            f"The share of sessions that reached {{{{ $labels.funnel }}}}/{{{{ $labels.step }}}}{dev} and left there over the last "
            f"{p.dropoff_window} is {p.dropoff_factor:g}x and {p.dropoff_min_increase:.0%} points above the same hour of the previous "
            f"{p.baseline_days} days, with at least {guard} sessions at the step.",
            "otel-friction-funnel", "var-service={{ $labels.service_name }}", report=True))

    # JS errors.
    err_cur = f"service:rum_js_errors_per_page_view:ratio_rate{p.error_window}"
    err_base = f"service:rum_js_errors_per_page_view:ratio_rate{p.baseline_window}_same_hour_{p.baseline_days}d"
    err_pv = f"service:rum_page_views:increase{p.error_window}"
    rec.append(Recording(err_cur, f"sum by (service_name) (rate(rum_js_errors_total[{p.error_window}])) / "
                                  f"sum by (service_name) (rate(rum_page_views_total[{p.error_window}]))"))
    rec.append(Recording(err_base, _same_hour(
        lambda off: f"(sum by (service_name) (rate(rum_js_errors_total[{p.baseline_window}] offset {off})) / "
                    f"sum by (service_name) (rate(rum_page_views_total[{p.baseline_window}] offset {off})))",
        "service_name", p.baseline_days)))
    rec.append(Recording(err_pv, f"sum by (service_name) (increase(rum_page_views_total[{p.error_window}]))"))
    checkout_errors = f'rum_js_errors_total{{page=~"{CHECKOUT_PAGES}"}}'
    checkout_error_clicks = f'rum_error_clicks_total{{page=~"{CHECKOUT_PAGES}",{NOT_BOT}}}'
    alerts_errors = [
        Alert("RumJsErrorSpike",
              _above_baseline(err_cur, err_base, "service_name", p.error_factor, p.error_floor, p.error_no_baseline)
              + f"\nand on (service_name) {err_pv} >= {p.min_error_page_views}",
              _for(p, "10m"), "critical",
              "JS error spike in {{ $labels.service_name }}",
              f"JS errors per page view over the last {p.error_window} are more than {p.error_factor:g}x the same hour of the previous "
              f"{p.baseline_days} days (and above {p.error_floor:g} per page view), on at least {p.min_error_page_views} page views.",
              "otel-friction-js-errors", "var-service={{ $labels.service_name }}", report=True),
        Alert("RumNewErrorGroup",
              f"sum by (service_name, error_group) (\n  {_increase('rum_error_group_sessions_total', p.new_error_window)}\n) >= {p.new_error_min_sessions}\n"
              f"unless on (service_name, error_group) count_over_time(rum_error_group_sessions_total[{p.new_error_lookback}] offset {p.new_error_window})",
              _for(p, "0s"), "warning",
              "New JS error group {{ $labels.error_group }} in {{ $labels.service_name }}",
              f"Error group {{{{ $labels.error_group }}}} hit at least {p.new_error_min_sessions} sessions in the last {p.new_error_window} and had no "
              f"series in the {p.new_error_lookback} before. Check its checkout impact on the JS errors dashboard.",
              "otel-friction-js-errors", "var-service={{ $labels.service_name }}", report=True),
        Alert("RumNewErrorOnCheckout",
              f"sum by (service_name, page, error_type) (\n  {_increase(checkout_errors, p.new_checkout_error_window)}\n) >= {p.new_error_min_sessions}\n"
              f"unless on (service_name, page, error_type) count_over_time({checkout_errors}[{p.new_error_lookback}] offset {p.new_checkout_error_window})",
              _for(p, "0s"), "critical",
              "New {{ $labels.error_type }} on checkout page {{ $labels.page }}",
              f"{{{{ $labels.error_type }}}} occurred at least {p.new_error_min_sessions} times on {{{{ $labels.page }}}} in the last {p.new_checkout_error_window} "
              f"and never there in the {p.new_error_lookback} before: a new error on the checkout path.",
              "otel-friction-js-errors", "var-service={{ $labels.service_name }}&var-page={{ $labels.page }}", report=True),
        Alert("RumErrorClicksOnCheckout",
              f"sum by (service_name, page, element) (\n  {_increase(checkout_error_clicks, p.checkout_error_window)}\n) >= {p.checkout_error_clicks}",
              _for(p, "5m"), "critical",
              "Clicks on {{ $labels.element }} at {{ $labels.page }} raise JS errors",
              f"At least {p.checkout_error_clicks} error-click episodes (a click followed by a JS error) on {{{{ $labels.element }}}} "
              f"at {{{{ $labels.page }}}} in {p.checkout_error_window}: visitors are trying to check out and the page breaks.",
              "otel-friction-friction", "var-service={{ $labels.service_name }}&var-page={{ $labels.page }}", report=True),
    ]

    w = p.pipeline_window
    alerts_pipeline = [
        Alert("OtelFrictionNotReceiving",
              f"sum by (job, instance) (rate(otel_friction_records_received_total[{w}])) == 0\nor absent(otel_friction_records_received_total)",
              _for(p, "10m"), "critical",
              "otel-friction receives no telemetry",
              f"No OTLP records reached otel-friction in the last {w} (or the metric is not scraped at all): no sessions, "
              "friction or funnel data is being produced.",
              "otel-friction-overview"),
        Alert("OtelFrictionRejectingRecords",
              f"sum by (job, instance) (rate(otel_friction_records_rejected_total[{w}]))\n"
              f"  / sum by (job, instance) (rate(otel_friction_records_received_total[{w}])) > {p.reject_ratio:g}",
              _for(p, "15m"), "warning",
              "otel-friction rejects more than {:.0%} of records".format(p.reject_ratio),
              "Invalid records are refused to the sender through OTLP partial_success (otel_friction_records_rejected_total).",
              "otel-friction-overview"),
        Alert("OtelFrictionDroppingRecords",
              f"sum by (job, instance, reason) (rate(otel_friction_records_dropped_total[{w}]))\n"
              f"  / on (job, instance) group_left () sum by (job, instance) (rate(otel_friction_records_received_total[{w}])) > {p.drop_ratio:g}",
              _for(p, "15m"), "warning",
              "otel-friction drops records ({{ $labels.reason }})",
              "More than {:.0%} of received records could not be used (reason {{{{ $labels.reason }}}}).".format(p.drop_ratio),
              "otel-friction-overview"),
        Alert("OtelFrictionExportFailing",
              f"sum by (job, instance, destination, reason) (rate(otel_friction_export_failures_total[{w}])) > 0",
              _for(p, "15m"), "warning",
              "otel-friction cannot export to {{ $labels.destination }} ({{ $labels.reason }})",
              "Export attempts of session spans or metrics keep failing; spans are retried until the queue is full.",
              "otel-friction-overview"),
        Alert("OtelFrictionSpansDropped",
              f"sum by (job, instance, destination, reason) (\n  {_increase('otel_friction_spans_dropped_total', w)}\n) > 0",
              _for(p, "5m"), "critical",
              "otel-friction loses session spans ({{ $labels.reason }})",
              "Session-trace spans were dropped: traces in Tempo are incomplete and exemplar links may lead nowhere.",
              "otel-friction-overview"),
        Alert("OtelFrictionCheckpointFailing",
              f"sum by (job, instance) (\n  {_increase('otel_friction_checkpoint_failures_total', w)}\n) > 0",
              _for(p, "15m"), "warning",
              "otel-friction cannot write its session checkpoint",
              "Checkpoints of open sessions (sessions.checkpoint_path) keep failing: a crash now loses more than the "
              "checkpoint interval of session state, and a restart ends the open sessions instead of continuing them.",
              "otel-friction-overview"),
        Alert("OtelFrictionReportStoreFailing",
              f"sum by (job, instance, operation) (\n  {_increase('otel_friction_report_store_errors_total', w)}\n) > 0",
              _for(p, "15m"), "warning",
              "otel-friction's anomaly-report store fails ({{ $labels.operation }})",
              "The report store (report.store_path) keeps failing: hourly aggregates wait in memory, growing, and the "
              "anomaly report and rum_anomaly_score go stale. Sessions, metrics and spans are not affected.",
              "otel-friction-overview"),
    ]
    return [
        Group("otel-friction-recording", rec),
        Group("otel-friction-friction", alerts_friction),
        Group("otel-friction-funnel", alerts_funnel),
        Group("otel-friction-errors", alerts_errors),
        Group("otel-friction-pipeline", alerts_pipeline),
    ]


def alerts(p: RuleParams = RuleParams()) -> list[Alert]:
    return [r for g in groups(p) for r in g.rules if isinstance(r, Alert)]


def _annotations(a: Alert, p: RuleParams) -> dict:
    url = f"{p.grafana_base}/d/{a.dashboard}" + (f"?{a.dashboard_vars}" if a.dashboard_vars else "")
    out = {"summary": a.summary, "description": a.description, "runbook_url": f"{p.runbook_base}/{a.name}.md",
           "dashboard_url": url}
    if a.report:
        out["report_url"] = p.report_url
    return out


def prometheus_rules(p: RuleParams = RuleParams()) -> dict:
    """The Prometheus rule file (``groups: [{name, interval, rules}]``)."""
    out = []
    for g in groups(p):
        rules = []
        for r in g.rules:
            if isinstance(r, Recording):
                rules.append({"record": r.record, "expr": r.expr})
            else:
                rules.append({"alert": r.name, "expr": r.expr, "for": r.for_,
                              "labels": {"severity": r.severity, **r.labels}, "annotations": _annotations(r, p)})
        out.append({"name": g.name, "interval": p.interval, "rules": rules})
    return {"groups": out}


def _uid(name: str) -> str:
    return "of-" + "".join(c for c in name.lower() if c.isalnum())[:37]


def grafana_rules(p: RuleParams = RuleParams()) -> dict:
    """Grafana-managed alerting file provisioning (apiVersion 1). Recording rules are left to Prometheus.

    Query A is the Prometheus expression made boolean-ish (``(expr) * 0 + 1``: one series per firing label set), B
    reduces it to its last value, C is the threshold ``B > 0``. No data means nothing is firing (``noDataState: OK``),
    except for ``OtelFrictionNotReceiving`` whose expression already covers absence."""
    out = []
    for g in groups(p):
        rules = []
        for a in g.rules:
            if not isinstance(a, Alert):
                continue
            rules.append({
                "uid": _uid(a.name), "title": a.name, "condition": "C",
                "data": [
                    {"refId": "A", "relativeTimeRange": {"from": 600, "to": 0}, "datasourceUid": p.datasource_uid,
                     "model": {"refId": "A", "expr": f"({a.expr}) * 0 + 1", "instant": True, "range": False,
                               "intervalMs": 1000, "maxDataPoints": 43200}},
                    {"refId": "B", "relativeTimeRange": {"from": 0, "to": 0}, "datasourceUid": "__expr__",
                     "model": {"refId": "B", "type": "reduce", "expression": "A", "reducer": "last",
                               "datasource": {"type": "__expr__", "uid": "__expr__"}}},
                    {"refId": "C", "relativeTimeRange": {"from": 0, "to": 0}, "datasourceUid": "__expr__",
                     "model": {"refId": "C", "type": "threshold", "expression": "B",
                               "conditions": [{"evaluator": {"type": "gt", "params": [0]}}],
                               "datasource": {"type": "__expr__", "uid": "__expr__"}}},
                ],
                "noDataState": "OK", "execErrState": "Error", "for": a.for_,
                "labels": {"severity": a.severity, **a.labels}, "annotations": _annotations(a, p),
                "isPaused": False,
            })
        if rules:
            out.append({"orgId": 1, "name": g.name, "folder": p.grafana_folder, "interval": p.interval, "rules": rules})
    return {"apiVersion": 1, "groups": out}
