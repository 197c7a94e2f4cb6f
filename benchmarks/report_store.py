"""The anomaly-report store at retention size: ``python -m benchmarks.report_store [--sessions-per-hour N] [--days D]``.

One hour of simulated shop traffic (``--sessions-per-hour``) goes through a ``Pipeline`` whose report aggregator
neither flushes nor analyses by itself, which leaves that hour's increments in one ``Batch``. The batch is then written into a fresh
SQLite store once for every hour of ``--days`` (default: ``report.retention_days``, 14), its hour shifted each time, so
the store grows to the size a service running that long keeps. Measured there:

- the flush cost per upserted row as the store grows (the pipeline thread pays it every ``report.flush_interval_seconds``);
- pruning the oldest hour (once an hour, also on the pipeline thread);
- the periodic analysis behind ``rum_anomaly_score`` (``build_report`` without heatmaps, every
  ``report.analysis_interval_seconds``, again on the pipeline thread), and a full report with heatmaps (``GET /report``);
- the file's size.

Times are CPU-seconds of this process (``time.process_time``), except the analysis, whose wall time is also given
(SQLite reads the file). Progress goes to stderr, one JSON object to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from collector_plugin.config import load_settings
from collector_plugin.pipeline import Pipeline
from collector_plugin.report.analyze import build_report
from collector_plugin.report.store import Batch, SqliteStore
from collector_plugin.simulate import ShopSimulator, to_requests

HOUR_S = 3600
FIRST_HOUR = 480_000  # an hour index (2024-10-04 00:00 UTC): the store's clock is simulated, the wall clock plays no part


def one_hour(sessions: int) -> Batch:
    """``sessions`` simulated sessions starting in FIRST_HOUR, through the real pipeline: that hour's report increments."""
    os.environ["OTEL_FRICTION_REPORT__STORE_PATH"] = "memory"
    os.environ["OTEL_FRICTION_REPORT__FLUSH_INTERVAL_SECONDS"] = str(10**9)
    os.environ["OTEL_FRICTION_REPORT__ANALYSIS_INTERVAL_SECONDS"] = str(10**9)  # an analysis would flush the batch
    clock = [FIRST_HOUR * HOUR_S + 60.0]
    pipeline = Pipeline(load_settings(), clock=lambda: clock[0])
    sim = ShopSimulator(11, start_ns=FIRST_HOUR * HOUR_S * 10**9 + 60 * 10**9)
    for req in to_requests(list(sim.sessions(sessions))):
        pipeline.ingest_request("logs", req, "simulated")
        clock[0] += 1
        pipeline.tick()
    clock[0] += pipeline.settings.sessions.max_age_seconds + 1
    pipeline.tick()
    return pipeline.report.batch


def shifted(batch: Batch, hours: int) -> Batch:
    """The same increments ``hours`` later (the hour is each key's second field)."""
    def move(d: dict) -> dict:
        return {(k[0], k[1] + hours, *k[2:]): v for k, v in d.items()}

    out = Batch()
    out.counts.update(move(batch.counts))
    out.cells = {k: list(v) for k, v in move(batch.cells).items()}
    out.elements.update(move(batch.elements))
    out.meta = dict(batch.meta)
    return out


def rows(batch: Batch) -> int:
    return len(batch.count_rows()) + len(batch.cell_rows()) + len(batch.element_rows()) + len(batch.meta)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions-per-hour", type=int, default=5_000)
    ap.add_argument("--days", type=float, default=None, help="hours kept = 24 x this (default: report.retention_days)")
    args = ap.parse_args()
    settings = load_settings()
    days = args.days if args.days is not None else settings.report.retention_days
    hours = int(days * 24)
    t0 = time.monotonic()
    batch = one_hour(args.sessions_per_hour)
    per_hour = rows(batch)
    print(f"report store: one hour of {args.sessions_per_hour:,} sessions = {per_hour:,} rows; writing {hours} hours",
          file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="otel-friction-bench-store-"))
    try:
        store = SqliteStore(tmp / "report.sqlite")
        growth = []  # (hours stored before the write, µs per upserted row)
        marks = {0, 1, 24, 7 * 24, hours - 1}
        for h in range(hours):
            b = shifted(batch, h)
            c0 = time.process_time()
            store.add(b)
            cpu = time.process_time() - c0
            if h in marks:
                growth.append({"hours_stored": h, "rows_stored": h * per_hour, "us_per_row": cpu / per_hour * 1e6,
                               "flush_cpu_s": cpu})
            if h % 24 == 23:
                print(f"  {h + 1}/{hours} hours written ({time.monotonic() - t0:.0f} s)", file=sys.stderr)
        size = sum(f.stat().st_size for f in tmp.iterdir())
        now = (FIRST_HOUR + hours - 1) * HOUR_S + 1800.0
        c0, w0 = time.process_time(), time.monotonic()
        store.prune(FIRST_HOUR + 1)
        prune_cpu = time.process_time() - c0
        c0, w0 = time.process_time(), time.monotonic()
        rep = build_report(store, settings.report, settings.detect, now, heatmaps=False)
        analysis = {"cpu_s": time.process_time() - c0, "wall_s": time.monotonic() - w0, "pages": len(rep.pages), "tests": rep.tests,
                    "findings": len(rep.findings)}
        c0, w0 = time.process_time(), time.monotonic()
        build_report(store, settings.report, settings.detect, now, heatmaps=True)
        full = {"cpu_s": time.process_time() - c0, "wall_s": time.monotonic() - w0}
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {"sessions_per_hour": args.sessions_per_hour, "rows_per_hour": per_hour, "hours": hours,
           "rows_stored": hours * per_hour, "file_bytes": size, "flush_by_store_size": growth,
           "prune_oldest_hour_cpu_s": prune_cpu, "analysis_no_heatmaps": analysis, "report_with_heatmaps": full,
           "elapsed_s": time.monotonic() - t0}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
