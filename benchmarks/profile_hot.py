"""In-process profile of the pipeline's hot path: ``python -m benchmarks.profile_hot [--records N] [--json]``.

``Pipeline.ingest_bytes`` over the benchmark batches plus ``Pipeline.tick`` every flush interval of a simulated
clock (1 s flush, 5 s inactivity, 5 batches per simulated second), so sessions start, end, are detected and their
spans encoded (the exporter only counts the encoded requests). First an unprofiled pass (events per CPU-second, in-process: no HTTP), then the same work under
cProfile: top functions by self time with their share, and the cumulative share of each pipeline stage.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time

from . import payloads, scratch_report_store

STAGES = [  # (label, file suffix, function name): cumulative time of each pipeline stage
    ("validate (native)", "ingest/classify.py", "validate"),
    ("classify + normalize (native, rules in Python)", "ingest/classify.py", "classify"),
    ("sessionize add", "sessionize.py", "add"),
    ("sessionize tick (apply + end)", "sessionize.py", "tick"),
    ("detect", "detect/__init__.py", "run"),
    ("metrics (increments + apply)", "emit/metrics.py", "increments"),
    ("metrics apply", "emit/metrics.py", "apply"),
    ("span build", "emit/spans.py", "build"),
    ("report (aggregate, store flush, analysis)", "report/aggregate.py", "observe"),
    ("to_request", "emit/spans.py", "to_request"),
    ("selfmetrics observe (batch histogram)", "prometheus_client/metrics.py", "observe"),
]


class CountingExporter:
    """Counts what the pipeline hands over (spans arrive encoded), without the network."""

    name = "bench"

    def __init__(self) -> None:
        self.spans = 0
        self.bytes = 0

    def export(self, body: bytes, spans: int) -> None:
        self.bytes += len(body)
        self.spans += spans

    def shutdown(self, timeout: float) -> None:
        pass


def prepare(bodies: list[bytes], passes: int) -> list[list[bytes]]:
    """Each pass's bodies with fresh session ids, made before anything is timed: the rewrite is the load generator's
    work (a regex over every body), not the pipeline's, and took about 4% of the profile when it ran inside it."""
    return [[payloads.variant(body, 1000 + p) for body in bodies] for p in range(passes)]


def run_once(passes: list[list[bytes]]):
    os.environ.setdefault("OTEL_FRICTION_SESSIONS__INACTIVITY_TIMEOUT_SECONDS", "5")
    os.environ.setdefault("OTEL_FRICTION_EXPORT__FLUSH_INTERVAL_SECONDS", "1")
    scratch_report_store()
    from collector_plugin.config import load_settings
    from collector_plugin.pipeline import Pipeline

    clock = [time.time()]
    exporter = CountingExporter()
    pipeline = Pipeline(load_settings(), exporters=[exporter], clock=lambda: clock[0])
    n = 0
    for bodies in passes:
        for body in bodies:
            pipeline.ingest_bytes("logs", body, "protobuf")
            n += 1
            clock[0] += 0.2
            if n % 5 == 0:
                pipeline.tick()
    clock[0] += 10
    pipeline.tick()
    clock[0] += 10
    pipeline.tick()
    return pipeline, exporter


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--passes", type=int, default=1)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    bodies, _ = payloads.build(args.records)
    counts = [payloads.record_count(b) for b in bodies]
    events = sum(counts) * args.passes
    print(f"profile: {len(bodies)} batches, {events:,} records", file=sys.stderr)

    prepared = prepare(bodies, args.passes)
    run_once(prepare(bodies[:2], 1))  # warm imports and caches
    c0 = time.process_time()
    _, exporter = run_once(prepared)
    cpu = time.process_time() - c0

    prof = cProfile.Profile()
    prof.enable()
    run_once(prepared)
    prof.disable()
    st = pstats.Stats(prof)
    total = sum(v[2] for v in st.stats.values())
    rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[: args.top]
    top = [{"function": f"{os.path.relpath(f) if f.startswith('/') else f}:{line}({name})", "calls": v[1],
            "self_s": v[2], "self_share": v[2] / total, "cum_s": v[3]} for (f, line, name), v in rows]
    stages = []
    for label, suffix, fname in STAGES:
        cum = sum(v[3] for (f, _line, name), v in st.stats.items() if name == fname and f.endswith(suffix))
        stages.append({"stage": label, "cum_s": cum, "share": cum / total})
    out = {"events": events, "cpu_s": cpu, "events_per_cpu_s": events / cpu, "spans_exported": exporter.spans,
           "profiled_total_s": total, "top_self": top, "stages": stages}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"in-process (no HTTP): {events:,} events in {cpu:.2f} CPU-s = {events / cpu:,.0f} events/CPU-s; "
              f"{exporter.spans:,} spans")
        print(f"\n{'self s':>8} {'share':>6} {'calls':>9}  function (cProfile, total {total:.2f}s)")
        for t in top:
            print(f"{t['self_s']:8.3f} {t['self_share']:6.1%} {t['calls']:9d}  {t['function']}")
        print("\nstage cumulative shares:")
        for s in stages:
            print(f"  {s['share']:6.1%}  {s['stage']}")


if __name__ == "__main__":
    main()
