"""``otel-friction report``: the anomaly report from the SQLite store (no running service needed)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

FORMATS = ("md", "html", "json")


def _when(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML config file (report: section)")
    p.add_argument("--store", type=Path, help="SQLite store (default: report.store_path)")
    p.add_argument("--format", default="md", help="md, html, json, or a comma-separated list with --out (default md)")
    p.add_argument("--out", type=Path, help="write report.<fmt> and heatmaps/*.png into this directory (else: the report on stdout)")
    p.add_argument("--now", type=_when, help="end of the current window: epoch seconds or ISO time (default: now); reports on any stored period")
    p.add_argument("--current-hours", type=int, help="current window length (default report.current_window_hours)")
    p.add_argument("--baseline-days", type=int, help="baseline: same hours on this many previous days")
    p.add_argument("--min-page-sessions", type=int)
    p.add_argument("--min-segment-sessions", type=int)


def run_report(args: argparse.Namespace) -> int:
    from ..config import load_settings
    from ..demo import _progress
    from .analyze import build_report
    from .render import to_html, to_json, to_markdown, write
    from .store import STORE_ERRORS, SqliteStore

    overrides = {f"report.{k}": v for k, v in (("current_window_hours", args.current_hours), ("baseline_days", args.baseline_days),
                                                ("min_page_sessions", args.min_page_sessions),
                                                ("min_segment_sessions", args.min_segment_sessions)) if v is not None}
    settings = load_settings(args.config, overrides)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats or (len(formats) > 1 and args.out is None):
        print(f"otel-friction: --format takes {', '.join(FORMATS)} (several only with --out)", file=sys.stderr)
        return 2
    path = args.store or settings.report.store_path
    if path is None or not Path(path).expanduser().exists():
        print(f"otel-friction: no report store at {path} (set report.store_path or --store)", file=sys.stderr)
        return 1
    try:
        store = SqliteStore(path)
        try:
            rep = build_report(store, settings.report, settings.detect, args.now if args.now is not None else time.time(),
                               heatmaps=args.out is not None or "html" in formats, progress=_progress)
        finally:
            store.close()
    except STORE_ERRORS as exc:
        print(f"otel-friction: the report store {path} can't be read: {exc}", file=sys.stderr)
        return 1
    if args.out is not None:
        for p in write(rep, args.out, formats):
            print(p)
        return 0
    fmt = formats[0]
    print({"md": to_markdown, "html": to_html, "json": to_json}[fmt](rep))
    return 0
