"""RSS per active idle session, in a fresh process: ``python -m benchmarks.memory --sessions 100000,1000000``; with
``--visits N``, RSS per open session of N whole simulated shop visits instead (``open_visits``).

A ``Pipeline(load_settings())`` (session table large enough for the target, no exporter) is fed sessions of one
``browser.page_view`` record each (1,000 records per ExportLogsServiceRequest, distinct session ids, as
``tests/support.py`` builds them), ticked once so the buffered events are applied and every session is active and
idle, then RSS (VmRSS from /proc/self/status, after gc.collect) is compared with the RSS before the first
session. Steps are cumulative: the 1M figure is the same table grown further. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

from . import scratch_report_store


def rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", default="100000,1000000", help="comma-separated cumulative targets")
    ap.add_argument("--time-budget", type=float, default=300.0, help="stop growing (and say so) past this many seconds")
    ap.add_argument("--visits", type=int, help="instead: RSS per open session of this many simulated shop visits")
    args = ap.parse_args()
    if args.visits:
        return open_visits(args.visits)
    targets = [int(x) for x in args.sessions.split(",")]
    os.environ.setdefault("OTEL_FRICTION_SESSIONS__MAX_SESSIONS", str(max(targets) + 10_000))
    os.environ.setdefault("OTEL_FRICTION_SESSIONS__INACTIVITY_TIMEOUT_SECONDS", "86400")
    os.environ.setdefault("OTEL_FRICTION_SESSIONS__MAX_AGE_SECONDS", "86400")
    scratch_report_store()

    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from collector_plugin.config import load_settings
    from collector_plugin.ingest.classify import FRICTION_SCOPE
    from collector_plugin.pipeline import Pipeline
    from collector_plugin.simulate import DEVICES, _kv

    settings = load_settings()
    pipeline = Pipeline(settings)
    ua = DEVICES["desktop"][0]
    base_ns = time.time_ns()

    def batch(start: int, n: int) -> bytes:
        req = ExportLogsServiceRequest()
        rl = req.resource_logs.add()
        rl.resource.attributes.extend([_kv("service.name", "demo-shop"), _kv("service.version", "1.4.2"),
                                       _kv("user_agent.original", ua), _kv("telemetry.sdk.language", "webjs")])
        sl = rl.scope_logs.add()
        sl.scope.name = FRICTION_SCOPE
        for i in range(start, start + n):
            t = base_ns + i * 1000
            rec = sl.log_records.add(time_unix_nano=t, observed_time_unix_nano=t, event_name="browser.page_view", severity_number=9)
            rec.attributes.extend([_kv("session.id", "%032x" % (0x5e55_0000_0000_0000 * 2**64 + i)),
                                   _kv("url.full", f"https://shop.example/product/{i % 500}"),
                                   _kv("browser.page_view.type", "push"),
                                   _kv("browser.viewport.width", 1440), _kv("browser.viewport.height", 900)])
        return req.SerializeToString()

    # Warm up the code paths (and the interned strings, metric series, regex caches) outside the measurement.
    pipeline.ingest_bytes("logs", batch(10**12, 1000), "protobuf")
    pipeline.tick()
    warm = len(pipeline.sessions)
    gc.collect()
    rss0 = rss_bytes()
    started = time.monotonic()
    done = 0
    results = []
    for target in targets:
        while done < target:
            if time.monotonic() - started > args.time_budget:
                break
            n = min(1000, target - done)
            pipeline.ingest_bytes("logs", batch(done, n), "protobuf")
            done += n
            if done % 10_000 == 0:
                pipeline.tick()  # apply buffered events as the service's ticker would (every flush interval)
            if done % 100_000 == 0:
                print(f"memory: {done:,} sessions, {time.monotonic() - started:.0f}s, "
                      f"RSS +{(rss_bytes() - rss0) / 2**20:.0f} MiB", file=sys.stderr, flush=True)
        pipeline.tick()
        gc.collect()
        active = len(pipeline.sessions) - warm
        delta = rss_bytes() - rss0
        results.append({"target": target, "sessions": active, "rss_delta_bytes": delta,
                        "bytes_per_session": delta / active if active else None, "elapsed_s": time.monotonic() - started,
                        "complete": active >= target})
        if active < target:
            break
    print(json.dumps({"rss_baseline_bytes": rss0, "steps": results}))


def open_visits(n: int) -> None:
    """RSS per open session when the sessions are whole simulated shop visits (about 26 records over several page views)
    that have not ended yet: what an open session costs while its visitor browses and for the inactivity timeout after,
    which is what sizes a deployment's memory. Prints one JSON object."""
    os.environ.setdefault("OTEL_FRICTION_SESSIONS__INACTIVITY_TIMEOUT_SECONDS", "86400")
    os.environ.setdefault("OTEL_FRICTION_SESSIONS__MAX_AGE_SECONDS", "86400")
    scratch_report_store()
    from collector_plugin.config import load_settings
    from collector_plugin.pipeline import Pipeline
    from collector_plugin.simulate import ShopSimulator, to_requests

    pipeline = Pipeline(load_settings())
    sessions = list(ShopSimulator(5, start_ns=time.time_ns()).sessions(n))
    records = sum(len(s.records) for s in sessions)
    bodies = [r.SerializeToString() for r in to_requests(sessions)]
    del sessions
    gc.collect()
    rss0 = rss_bytes()
    for i, body in enumerate(bodies):
        pipeline.ingest_bytes("logs", body, "protobuf")
        if i % 10 == 9:
            pipeline.tick()
    # Twice, as the ticker would go on ticking while the sessions wait for their timeout: pages that ended in a tick
    # let go of their events at the next one.
    pipeline.tick()
    pipeline.tick()
    gc.collect()
    # Measured while the bodies are still held, as they were for the baseline: freeing them first could hand their
    # memory back to the system and take it off the sessions' figure.
    grown = rss_bytes() - rss0
    open_sessions = len(pipeline.sessions)
    print(json.dumps({"visits": n, "records_per_visit": records / n, "open_sessions": open_sessions,
                      "bytes_per_open_session": grown / open_sessions}))


if __name__ == "__main__":
    main()
