"""Expected metric values derived from the journeys' truth, and readers for Prometheus and /metrics text."""

from __future__ import annotations

from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from .journeys import FUNNEL, Truth


def expected(truths: list[Truth]) -> dict[str, dict[tuple, float]]:
    """{metric key: {label values: value}}; keys name the sum-by query in QUERIES."""
    out: dict[str, Counter] = {k: Counter() for k in QUERIES}
    for t in truths:
        out["sessions"][(t.device,)] += 1
        for page, element in t.rage:
            out["rage"][(page, element, t.device)] += 1
        for page, element in t.dead:
            out["dead"][(page, element, t.device)] += 1
        for page, element in t.error_clicks:
            out["error_clicks"][(page, element, t.device)] += 1
        for page, etype in t.js_errors:
            out["js_errors"][(page, etype)] += 1
        for page, form in t.form_starts:
            out["form_starts"][(page, form)] += 1
        for page, form, last in t.abandoned:
            out["form_abandonments"][(page, form, last)] += 1
        if t.furthest_step is not None:
            for step in FUNNEL[: FUNNEL.index(t.furthest_step) + 1]:
                out["step_reached"][(step, t.device)] += 1
            if t.converted:
                out["conversions"][(t.device,)] += 1
            else:
                out["dropoffs"][(t.furthest_step, t.device)] += 1
    return {k: {kk: float(vv) for kk, vv in v.items()} for k, v in out.items()}


# key -> (metric, labels summed by)
QUERIES = {
    "sessions": ("rum_sessions_started_total", ("device",)),
    "rage": ("rum_rage_clicks_total", ("page", "element", "device")),
    "dead": ("rum_dead_clicks_total", ("page", "element", "device")),
    "error_clicks": ("rum_error_clicks_total", ("page", "element", "device")),
    "js_errors": ("rum_js_errors_total", ("page", "error_type")),
    "form_starts": ("rum_form_starts_total", ("page", "form")),
    "form_abandonments": ("rum_form_abandonments_total", ("page", "form", "last_field")),
    "step_reached": ("rum_funnel_step_reached_total", ("step", "device")),
    "dropoffs": ("rum_funnel_dropoffs_total", ("step", "device")),
    "conversions": ("rum_funnel_conversions_total", ("device",)),
}


def from_prometheus(prom, service: str) -> dict[str, dict[tuple, float]]:
    got = {}
    for key, (metric, labels) in QUERIES.items():
        got[key] = prom.vector(f'sum by ({", ".join(labels)}) ({metric}{{service_name="{service}"}})', *labels)
    return got


def from_metrics_text(texts: list[str], service: str) -> dict[str, dict[tuple, float]]:
    """The same sums over the /metrics pages of several replicas (what Prometheus would add up)."""
    got: dict[str, Counter] = {k: Counter() for k in QUERIES}
    by_metric = {metric: (key, labels) for key, (metric, labels) in QUERIES.items()}
    for text in texts:
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.name in by_metric and s.labels.get("service_name") == service:
                    key, labels = by_metric[s.name]
                    got[key][tuple(s.labels.get(k, "") for k in labels)] += s.value
    return {k: {kk: vv for kk, vv in v.items() if vv} for k, v in got.items()}


def diff(want: dict, got: dict) -> dict:
    return {k: {"want": want[k], "got": got.get(k)} for k in want if want[k] != got.get(k)}
