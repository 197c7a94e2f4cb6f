"""``otel-friction demo``: the processor on embedded defaults, fed simulated shop traffic over real OTLP/HTTP."""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

import requests

from .cli import _overrides
from .config import load_settings
from .log import setup_logging
from .server import BackgroundService
from .simulate import ShopSimulator, to_requests


_shown: dict[str, int] = {}


def _progress(label: str, done: int, total: int) -> None:
    """A bar on a terminal; on a pipe, one line per fifth so CI logs stay short."""
    width = 30
    filled = int(width * done / max(total, 1))
    if sys.stderr.isatty():
        end = "\n" if done >= total else ""
        print(f"\r  {label:<28} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end, file=sys.stderr, flush=True)
        return
    fifth = 5 * done // max(total, 1)
    if _shown.get(label, -1) < fifth:
        _shown[label] = fifth
        print(f"  {label:<28} {done}/{total}", file=sys.stderr, flush=True)


def _samples(registry, name: str) -> list[tuple[dict, float]]:
    out = []
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == name:
                out.append((s.labels, s.value))
    return out


def _table(title: str, rows: list[tuple], headers: tuple[str, ...]) -> str:
    rows = [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [f"\n{title}", line, "  " + "  ".join("-" * w for w in widths)]
    out += ["  " + "  ".join(c.rjust(w) if c.replace(".", "").isdigit() else c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def _sum_by(samples: list[tuple[dict, float]], *keys: str) -> list[tuple]:
    acc: dict[tuple, float] = {}
    for labels, value in samples:
        k = tuple(labels.get(key, "") for key in keys)
        acc[k] = acc.get(k, 0) + value
    return sorted(((*k, int(v)) for k, v in acc.items()), key=lambda r: -r[-1])


def run_demo(args: argparse.Namespace) -> int:
    overrides = _overrides(args)
    spans_file = overrides.get("export.file") or str(Path(tempfile.gettempdir()) / "otel-friction-demo" / "spans.jsonl")
    overrides["export.file"] = spans_file
    report_store = Path(spans_file).parent / "report.sqlite"  # the demo's own, so it never mixes into a real store
    report_store.unlink(missing_ok=True)
    overrides.setdefault("report.store_path", str(report_store))
    if os.path.exists(spans_file):
        os.remove(spans_file)
    # Short timeouts so the demo's sessions end (and their root spans go out) within seconds.
    overrides["sessions.inactivity_timeout_seconds"] = 3
    overrides["export.flush_interval_seconds"] = 0.5
    settings = load_settings(args.config, overrides)
    setup_logging(settings.log.model_copy(update={"level": "warning"}))

    print(f"otel-friction demo: {args.sessions} simulated shop sessions (seed {args.seed})", file=sys.stderr)
    sim = ShopSimulator(args.seed, start_ns=time.time_ns() - 15 * 60 * 10**9)
    sessions = []
    for i in range(args.sessions):
        sessions.append(sim.session(i))
        if (i + 1) % 50 == 0 or i + 1 == args.sessions:
            _progress("simulating sessions", i + 1, args.sessions)
    batches = to_requests(sessions)

    with BackgroundService(settings) as bg:
        http = requests.Session()
        url = bg.url("otlp_http") + "/v1/logs"
        for i, req in enumerate(batches):
            body = gzip.compress(req.SerializeToString())
            while True:
                resp = http.post(url, data=body, headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, timeout=30)
                if resp.status_code not in (429, 503):
                    break
                time.sleep(float(resp.headers.get("Retry-After", "1")))  # what a collector's retry does
            resp.raise_for_status()
            _progress("sending OTLP batches", i + 1, len(batches))
        registry = bg.service.pipeline.registry
        deadline = time.monotonic() + 60
        ended = 0.0
        while time.monotonic() < deadline:
            ended = sum(v for _, v in _samples(registry, "otel_friction_sessions_ended_total"))
            _progress("waiting for sessions to end", int(ended), len(sessions))
            if ended >= len(sessions):
                break
            time.sleep(0.25)
        print(_report(registry, len(sessions), sum(len(s.records) for s in sessions)))
        metrics_url = bg.url("metrics") + "/metrics" if "metrics" in bg.service.addresses else "(disabled)"
        print("\nWhere to look:")
        print(f"  metrics (Prometheus/OpenMetrics): {metrics_url}")
        print(f"  session spans (OTLP/JSON lines):  {spans_file}")
        if settings.export.otlp_endpoint:
            print(f"  session spans also sent to:       {settings.export.otlp_endpoint}/v1/traces")
        if not args.keep_running:
            print("  (the service stops now; run with --keep-running to keep /metrics up)")
        else:
            print("\nServing until Ctrl+C ...")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return 0


def _report(registry, n_sessions: int, n_records: int) -> str:
    s = lambda name: _samples(registry, name)  # noqa: E731
    total = lambda name: int(sum(v for _, v in s(name)))  # noqa: E731
    parts = [
        f"\nProcessed {total('otel_friction_records_received_total')} records from {n_records} sent; "
        f"{total('otel_friction_records_rejected_total')} rejected, {total('otel_friction_records_dropped_total')} dropped; "
        f"{total('otel_friction_spans_exported_total')} session-trace spans exported.",
        _table("Sessions by device and traffic source", _sum_by(s("rum_sessions_started_total"), "device", "source"), ("device", "source", "sessions")),
        _table("Page views by page", _sum_by(s("rum_page_views_total"), "page")[:10], ("page", "views")),
        _table("Clicks by page", _sum_by(s("rum_clicks_total"), "page")[:10], ("page", "clicks")),
        _table("JS errors", _sum_by(s("rum_js_errors_total"), "page", "error_type"), ("page", "error type", "errors")),
    ]
    friction = []
    for signal, metric in (("rage click", "rum_rage_clicks_total"), ("dead click", "rum_dead_clicks_total"), ("error click", "rum_error_clicks_total")):
        friction += [(signal, page, element, n) for page, element, n in _sum_by(s(metric), "page", "element")]
    for signal, metric in (("excessive scroll", "rum_excessive_scrolls_total"), ("dead scroll", "rum_dead_scrolls_total"),
                           ("quick back", "rum_quick_backs_total"), ("confusion loop", "rum_confusion_loops_total")):
        friction += [(signal, page, "", n) for page, n in _sum_by(s(metric), "page")]
    friction += [("form abandoned", page, f"{form} (last: {field})", n)
                 for page, form, field, n in _sum_by(s("rum_form_abandonments_total"), "page", "form", "last_field")]
    parts.append(_table("Friction found", sorted(friction, key=lambda r: -r[-1]), ("signal", "page", "element", "episodes")))
    reached = dict((step, n) for step, n in _sum_by(s("rum_funnel_step_reached_total"), "step"))
    dropped = dict((step, n) for step, n in _sum_by(s("rum_funnel_dropoffs_total"), "step"))
    after_error = dict((step, n) for step, n in _sum_by(s("rum_funnel_dropoffs_after_error_total"), "step"))
    steps = [(step, reached[step], dropped.get(step, 0), after_error.get(step, 0)) for step in sorted(reached, key=lambda k: -reached[k])]
    parts.append(_table(f"Checkout funnel ({total('rum_funnel_conversions_total')} conversions)", steps,
                        ("step", "reached", "dropped off here", "of them after a JS error")))
    return "\n".join(parts)
