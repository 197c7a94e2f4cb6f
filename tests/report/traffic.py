"""Synthetic shop traffic for the anomaly-report tests: the project's simulator, plus one injected anomaly."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from collector_plugin.config import load_settings
from collector_plugin.pipeline import Pipeline
from collector_plugin.simulate import ShopSimulator, to_requests

HOUR = 3600
NOW_HOUR = 480_000  # an hour index (2024-10-04 00:00 UTC); the report's clock is injected, the wall clock plays no part
NOW = NOW_HOUR * HOUR + 1800.0


class InjectedShop(ShopSimulator):
    """Shop traffic where, on ``device`` only, product pages get a dead hero image that users click."""

    def __init__(self, seed: int, *, start_ns: int, inject_rate: float = 0.0, device: str = "mobile"):
        super().__init__(seed, start_ns=start_ns)
        self.inject_rate = inject_rate
        self.device = device
        self.inject_rng = random.Random(seed * 7919 + 1)  # its own stream: clean and injected traffic are otherwise identical

    def _browse_page(self, s) -> None:
        super()._browse_page(s)
        if self.inject_rate and s.device == self.device and self.inject_rng.random() < self.inject_rate:
            state = self.rng.getstate()  # the injected click must not change the rest of the (otherwise identical) traffic
            s.click("img.product-hero", "IMG", None, interactive=False, x=s.vw // 2, y=380)
            s.label("dead_click", element="img.product-hero")
            s.wait(1800)
            self.rng.setstate(state)


def settings_for(store: Path | None, **report):
    base = {"current_window_hours": 1, "baseline_days": 3, "min_page_sessions": 300, "min_segment_sessions": 150,
            "analysis_interval_seconds": 10**9}
    base.update(report)
    return load_settings(None, {"report.store_path": str(store) if store else None, **{f"report.{k}": v for k, v in base.items()}})


def feed(pipeline: Pipeline, clock: list[float], sessions: int, seed: int, hour: int, inject_rate: float = 0.0) -> None:
    """``sessions`` simulated sessions starting in ``hour`` (event time), through the real pipeline with a simulated clock."""
    sim = InjectedShop(seed, start_ns=hour * HOUR * 10**9 + 60 * 10**9, inject_rate=inject_rate)
    for req in to_requests(list(sim.sessions(sessions)), max_records=500):
        pipeline.ingest_request("logs", req, "simulated")
        clock[0] += pipeline.settings.export.flush_interval_seconds
        pipeline.tick()
    clock[0] += pipeline.settings.sessions.inactivity_timeout_seconds + 1
    pipeline.tick()


def make_pipeline(settings) -> tuple[Pipeline, list[float]]:
    clock = [1000.0]
    return Pipeline(settings, clock=lambda: clock[0]), clock


def build_baseline(path: Path, sessions: int, days: int = 3) -> None:
    p, clock = make_pipeline(settings_for(path))
    for d in range(1, days + 1):
        feed(p, clock, sessions, seed=100 + d, hour=NOW_HOUR - 24 * d)
    p.report.close()


def with_current(baseline: Path, path: Path, sessions: int, inject_rate: float, seed: int = 99) -> None:
    shutil.copy(baseline, path)
    p, clock = make_pipeline(settings_for(path))
    feed(p, clock, sessions, seed=seed, hour=NOW_HOUR, inject_rate=inject_rate)
    p.report.close()
