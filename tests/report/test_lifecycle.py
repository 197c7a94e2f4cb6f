"""The report store over a service's life: a restart mid-session counts nothing twice, and old hours are pruned."""

from __future__ import annotations

import pickle
import sqlite3
import time

from prometheus_client import CollectorRegistry

from collector_plugin.config import load_settings
from collector_plugin.emit.exporter import InMemorySpanExporter
from collector_plugin.pipeline import Pipeline
from collector_plugin.report import ReportAggregator
from collector_plugin.report.store import Batch, MemoryStore, SqliteStore
from collector_plugin.simulate import SimSession, to_requests

from .traffic import HOUR, NOW_HOUR, InjectedShop

TABLES = ("counts", "cells", "elements")


def _halves(n: int) -> tuple[list, list]:
    """``n`` simulated sessions, each cut in two at its middle record: every session is open across the restart,
    most of them in the middle of a page view."""
    sim = InjectedShop(7, start_ns=NOW_HOUR * HOUR * 10**9 + 60 * 10**9)
    first, second = [], []
    for s in sim.sessions(n):
        cut = max(1, len(s.records) // 2)
        first.append(SimSession(s.session_id, s.records[:cut], s.truth, s.user_agent))
        if s.records[cut:]:
            second.append(SimSession(s.session_id, s.records[cut:], s.truth, s.user_agent))
    return to_requests(first, max_records=500), to_requests(second, max_records=500)


def _settings(tmp_path, name: str, flush_interval: float = 10**6):
    # flush_interval: aggregates stay in memory between ticks, so a checkpoint must flush them to be consistent
    return load_settings(None, {"report.store_path": str(tmp_path / f"{name}.sqlite"), "report.flush_interval_seconds": flush_interval,
                                "sessions.checkpoint_path": str(tmp_path / f"{name}.ckpt"),
                                "sessions.clock_drift_min_seconds": None})  # a simulated service clock


def _read_only(p: Pipeline, on: bool) -> None:
    """The real SQLite store refusing writes, as on a full disk or a file system remounted read-only."""
    p.report.store._db.execute(f"PRAGMA query_only = {'ON' if on else 'OFF'}")


def _store_errors(p: Pipeline, operation: str) -> float:
    return p.registry.get_sample_value("otel_friction_report_store_errors_total", {"operation": operation}) or 0.0


def _feed(p: Pipeline, clock: list[float], requests) -> None:
    for req in requests:
        p.ingest_request("logs", req, "simulated")
        clock[0] += p.settings.export.flush_interval_seconds
        p.tick()


def _run(tmp_path, name: str, halves, restart: str | None, store_down: bool = False) -> dict[str, list]:
    """Both halves through one pipeline, or through two with a restart between them: ``sigterm`` (a clean shutdown),
    ``checkpoint`` (the first process checkpoints, then dies without flushing anything else) or ``no_report_state``
    (the same, from a checkpoint without the report aggregator's state). With ``store_down`` the store refuses every
    write during the first half (and its checkpoint), the aggregator trying at every tick."""
    settings = _settings(tmp_path, name, flush_interval=0 if store_down else 10**6)
    clock = [1000.0]
    p = Pipeline(settings, clock=lambda: clock[0])
    if store_down:
        _read_only(p, True)
    _feed(p, clock, halves[0])
    if store_down:
        assert _store_errors(p, "write") >= len(halves[0])  # every tick's flush failed, and every tick completed
        assert p.report.batch
        if restart is None:
            _read_only(p, False)
    if restart is not None:
        open_sessions = len(p.sessions)
        if restart == "sigterm":
            p.shutdown()  # a tick, then the checkpoint
        else:
            p.checkpoint()
        p.report.store.close()  # gone, without a last flush: as kill -9 right after the checkpoint
        if restart == "no_report_state":
            path = settings.sessions.checkpoint_path
            state = pickle.loads(path.read_bytes())
            state["report"] = None
            path.write_bytes(pickle.dumps(state))
        p = Pipeline(settings, clock=lambda: clock[0])
        assert p.restored_sessions == open_sessions > 0
    _feed(p, clock, halves[1])
    clock[0] += settings.sessions.inactivity_timeout_seconds + 1
    p.tick()
    assert len(p.sessions) == 0
    p.report.close()
    db = sqlite3.connect(tmp_path / f"{name}.sqlite")
    try:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3, 4, 5, 6, 7").fetchall() for t in TABLES}
    finally:
        db.close()


def _sessions_on_pages(rows) -> int:
    return sum(r[6] for r in rows["counts"] if r[3] == "all" and r[5] == "sessions")


def test_a_restart_mid_session_counts_nothing_twice_in_the_report_aggregates(tmp_path):
    halves = _halves(150)
    one = _run(tmp_path, "one", halves, restart=None)
    assert _sessions_on_pages(one) > 150
    for mode in ("sigterm", "checkpoint"):
        # every count, click-grid cell and element: as if the process had never stopped
        assert _run(tmp_path, mode, halves, restart=mode) == one, mode
    # Without the aggregator's state, continued sessions are counted again: the scenario above does exercise the
    # double count the checkpoint prevents.
    forgetful = _run(tmp_path, "no_report_state", halves, restart="no_report_state")
    assert _sessions_on_pages(forgetful) > _sessions_on_pages(one)


def test_a_failing_store_loses_no_aggregates_and_no_tick(tmp_path):
    """The store refuses writes for a while (full disk): the increments wait in memory, or in the checkpoint if the
    process restarts meanwhile, and end up in the store as if nothing had happened. The ticks go on meanwhile."""
    halves = _halves(150)
    one = _run(tmp_path, "one", halves, restart=None)
    assert _run(tmp_path, "down_then_back", halves, restart=None, store_down=True) == one
    assert _run(tmp_path, "down_at_checkpoint", halves, restart="checkpoint", store_down=True) == one


def test_a_failing_store_does_not_cost_the_tick_its_spans_and_metrics(tmp_path):
    settings = _settings(tmp_path, "spans", flush_interval=0)
    clock = [1000.0]
    exporter = InMemorySpanExporter()
    p = Pipeline(settings, exporters=[exporter], clock=lambda: clock[0])
    _read_only(p, True)
    _feed(p, clock, _halves(20)[0])
    clock[0] += settings.sessions.inactivity_timeout_seconds + 1
    p.tick()
    assert _store_errors(p, "write") > 0 and len(p.sessions) == 0
    assert p.registry.get_sample_value("otel_friction_sessions_ended_total", {"reason": "inactivity"}) == 20
    assert len([s for _, s in exporter.spans() if s.name == "session"]) == 20 and len(exporter.spans()) > 20  # roots, page views, clicks


def test_a_damaged_store_file_is_set_aside_and_the_pipeline_starts(tmp_path, caplog):
    path = tmp_path / "report.sqlite"
    path.write_bytes(b"not a database " * 100)
    p = Pipeline(load_settings(None, {"report.store_path": str(path)}))
    assert "report store unreadable" in caplog.text
    assert (tmp_path / "report.sqlite.unreadable").read_bytes() == b"not a database " * 100
    p.report.flush()
    assert p.report.store.hour_range() is None  # a new, empty store


# ------------------------------------------------------------------------------------------------- retention

ALL = (("all", "all"),)  # a session's segments: only the "all" one, so one row per increment


def _rows(hours) -> Batch:
    b = Batch()
    for h in hours:
        b.counts[("svc", h, "/p", ALL, "sessions")] += 1
        b.cell(("svc", h, "/p", ALL, 1, 2), clicks=1)
        b.elements[("svc", h, "/p", ALL, "dead_click", "img")] += 1
    b.meta[("svc", "/p", "img")] = ("IMG", 0)
    return b


def test_stores_prune_whole_hours(tmp_path):
    for store in (MemoryStore(), SqliteStore(tmp_path / "s.sqlite")):
        store.add(_rows([10, 11, 12]))
        assert store.prune(12) == {"counts": 2, "cells": 2, "elements": 2, "meta": 0}
        assert store.hour_range() == (12, 12)
        assert store.counts([10, 11, 12]) == {("svc", "/p", "all", "all", "sessions"): 1}
        assert store.cells("svc", "/p", "all", "all", [10, 11]) == [] and store.elements("svc", "/p", "all", "all", [10, 11]) == {}
        assert store.meta() == {("svc", "/p", "img"): ("IMG", 0)}  # an element row of hour 12 still names it
        assert store.prune(12) == {"counts": 0, "cells": 0, "elements": 0, "meta": 0}
        assert store.prune(13) == {"counts": 1, "cells": 1, "elements": 1, "meta": 1}
        assert store.meta() == {}  # no element row names it any more: a flood of distinct selectors can't grow it forever
        store.close()


def _aggregator(clock, registry, **report):
    settings = load_settings(None, {"report.store_path": None, **{f"report.{k}": v for k, v in report.items()}})
    return ReportAggregator(settings.report, settings.detect, store=MemoryStore(), clock=lambda: clock[0], registry=registry)


def _pruned(registry, table: str) -> float:
    return registry.get_sample_value("otel_friction_report_rows_pruned_total", {"table": table}) or 0.0


def test_the_aggregator_prunes_old_hours_when_it_flushes_and_counts_them(tmp_path):
    now_hour = NOW_HOUR
    clock = [now_hour * HOUR + 600.0]
    registry = CollectorRegistry()
    agg = _aggregator(clock, registry, retention_days=14)
    assert agg.keep_hours() == 14 * 24
    agg.store.add(_rows([now_hour - 24 * 30, now_hour - 14 * 24, now_hour - 14 * 24 + 1, now_hour - 24 * 7, now_hour]))
    agg.observe([])  # a tick: the flush prunes (first flush of the process)
    assert agg.store.hour_range() == (now_hour - 14 * 24 + 1, now_hour)  # the 336 most recent hours are kept
    assert _pruned(registry, "counts") == 2 and _pruned(registry, "cells") == 2 and _pruned(registry, "elements") == 2
    # at most once an hour: rows that age out within the hour wait for the next prune
    clock[0] += 1800
    agg.observe([])
    assert agg.store.hour_range()[0] == now_hour - 14 * 24 + 1
    clock[0] += 1800
    agg.observe([])
    assert agg.store.hour_range()[0] == now_hour - 24 * 7 and _pruned(registry, "counts") == 3


def test_retention_never_cuts_into_the_baseline_and_can_be_off():
    clock = [NOW_HOUR * HOUR]
    # one day configured, but the report reads 7 days back (same hours) plus the 3-hour window
    agg = _aggregator(clock, CollectorRegistry(), retention_days=1)
    assert agg.keep_hours() == 3 + 7 * 24 + 1
    agg = _aggregator(clock, CollectorRegistry(), retention_days=1, baseline_mode="trailing", baseline_hours=48)
    assert agg.keep_hours() == 3 + 48 + 1
    registry = CollectorRegistry()
    agg = _aggregator(clock, registry, retention_days=None)
    agg.store.add(_rows([0, NOW_HOUR]))
    agg.observe([])
    assert agg.keep_hours() is None and agg.store.hour_range() == (0, NOW_HOUR) and _pruned(registry, "counts") == 0


# ------------------------------------------------------------------------------------------------ cardinality


def test_the_store_keeps_pages_and_elements_within_the_metrics_label_caps():
    """Slug routes and generated selectors would grow the store's rows without limit: beyond the rum_* metrics' label
    caps they fold into "other", as the metric labels do."""
    from conftest import make_settings
    from support import logs_request

    p = Pipeline(make_settings(report__store_path="memory", metrics__label_caps={"page": 3, "element": 2}))
    t = time.time_ns()  # by the service clock: older hours would be pruned at the flush
    slugs = ["blue-shirt", "red-shirt", "green-hat", "grey-scarf", "black-boots", "white-socks"]
    p.ingest_request("logs", logs_request([
        r for i, slug in enumerate(slugs) for r in (
            ("browser.page_view", t + i * 10**9, {"session.id": f"s{i}", "url.full": f"https://shop.example/p/{slug}"}),
            ("browser.user_action.click", t + i * 10**9 + 10**8, {"session.id": f"s{i}", "url.full": f"https://shop.example/p/{slug}",
                                                                  "browser.css_selector": f"#buy-{slug}", "browser.page.x": 10,
                                                                  "browser.page.y": 10, "browser.click.reaction": "network"}),
            ("exception", t + i * 10**9 + 2 * 10**8, {"session.id": f"s{i}", "url.full": f"https://shop.example/p/{slug}",
                                                      "exception.type": f"Error{i}", "exception.message": "m"}))]))
    p.tick(final=True)
    p.report.flush()
    hours = [t // (HOUR * 10**9)]
    pages = {page for (_svc, page, dim, _v, metric) in p.report.store.counts(hours) if dim == "all" and metric == "sessions"}
    assert pages == {"/p/blue-shirt", "/p/red-shirt", "/p/green-hat", "other"}
    elements = {el for page in pages for (_kind, el) in p.report.store.elements("shop", page, "all", "all", hours)}
    assert len(elements) == 3 and "other" in elements  # error types and error-clicked selectors share the element cap
    cells = sum(c[2] for page in pages for c in p.report.store.cells("shop", page, "all", "all", hours))
    assert cells == len(slugs)  # every click is still on a click map, folded pages' under "other"
    assert p.registry.get_sample_value("otel_friction_label_overflow_total", {"metric": "report", "label": "page"}) >= 3


def test_while_the_store_fails_the_kept_aggregates_stay_within_their_budget_newest_hours_first(tmp_path):
    settings = load_settings(None, {"report.store_path": str(tmp_path / "down.sqlite"), "report.flush_interval_seconds": 0,
                                    "report.max_pending_increments": 1000, "sessions.clock_drift_min_seconds": None})
    clock = [1000.0]
    p = Pipeline(settings, clock=lambda: clock[0])
    _read_only(p, True)
    hours = [NOW_HOUR - 2, NOW_HOUR - 1, NOW_HOUR]
    for h in hours:  # an outage spanning three hours of traffic, other visitors each hour
        sim = InjectedShop(h, start_ns=h * HOUR * 10**9 + 60 * 10**9)
        _feed(p, clock, to_requests(list(sim.sessions(60)), max_records=500))
    b = p.report.batch
    kept_hours = {k[1] for table in (b.counts, b.cells, b.elements) for k in table}
    assert sum(map(len, (b.counts, b.cells, b.elements))) <= 1000  # about 650 an hour here
    assert NOW_HOUR in kept_hours and NOW_HOUR - 2 not in kept_hours  # the oldest went first
    dropped = p.registry.get_sample_value("otel_friction_report_increments_dropped_total")
    assert dropped > 0
    _read_only(p, False)
    p.report.flush()
    assert {h for h in range(NOW_HOUR - 2, NOW_HOUR + 1) if p.report.store.counts([h])} == kept_hours
