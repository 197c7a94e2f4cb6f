"""The pipeline side of anomaly reports: once per tick, that tick's outputs become hourly counts per page and segment.

Units: a *session on a page* (counted once per session and route) and a *session affected* by a kind on a page
(once per session, route and kind), so the report can test proportions. Everything goes to the hour the session
started (event time) with the session's segments, so ``affected <= sessions`` in every bucket. Only open
sessions are remembered (the routes and kinds already counted), dropped when the session ends, and carried in the
pipeline's checkpoint (``checkpoint_state``) so a session continued after a restart is not counted again.
Hourly rows older than ``report.retention_days`` are pruned at most once an hour, when the aggregator flushes.
"""

from __future__ import annotations

import math
import re
import time
from collections import defaultdict
from typing import Callable

from ..config import DetectConfig, ReportConfig
from ..detect import DroppedOff, Found, Signal
from ..detect.clicks import element_of
from ..events import Click, JsError, Kind
from ..log import get_logger
from ..sessionize import Happened, PageStarted, Session, SessionEnded
from .store import STORE_ERRORS, Batch, ReportStore, Segments, open_store

log = get_logger("report")

HOUR_NS = 3_600_000_000_000
PRUNE_EVERY_SECONDS = 3600.0  # rows are hourly: pruning more often would find nothing new
KINDS = ("rage_click", "dead_click", "dead_scroll", "quick_back", "form_abandonment", "checkout_dropoff", "error_spike")
SIGNAL_KIND = {Signal.RAGE_CLICK: "rage_click", Signal.DEAD_CLICK: "dead_click", Signal.DEAD_SCROLL: "dead_scroll",
               Signal.QUICK_BACK: "quick_back", Signal.CONFUSION_LOOP: "quick_back", Signal.FORM_ABANDONMENT: "form_abandonment"}
BUILTIN_DIMS = ("device", "visitor", "source")
DEFAULT_VIEWPORT = {"mobile": 390, "tablet": 820}
# Members bound to module names: ``Kind.X`` is a slow class attribute read on Python 3.11 (see sessionize.py).
_CLICK, _JS_ERROR = Kind.CLICK, Kind.JS_ERROR


def funnel_pages(detect: DetectConfig) -> list[tuple[str, str, re.Pattern, float]]:
    """(funnel, step, route regex, weight) for every route-matched funnel step; later steps weigh more (1 < w <= 2)."""
    out = []
    for f in detect.funnels:
        n = len(f.steps)
        for k, step in enumerate(f.steps):
            if step.route:
                out.append((f.name, step.name, re.compile(step.route), 1.0 + (k + 1) / n))
    return out


class ReportAggregator:
    def __init__(self, cfg: ReportConfig, detect: DetectConfig, *, store: ReportStore | None = None,
                 clock: Callable[[], float] = time.time, registry=None, budget=None):
        self.cfg = cfg
        self.detect = detect
        self.store: ReportStore = store if store is not None else open_store(cfg.store_path)
        self.clock = clock
        self.batch = Batch()
        self.funnels = funnel_pages(detect)
        self._step_route = {(f, s): rx for f, s, rx, _ in self.funnels}
        self._open: dict[str, tuple] = {}  # open session → what it was already counted for (see _first)
        self._segs: dict[Session, Segments] = {}  # segments of the sessions of one observe call
        self._last_flush = float("-inf")
        self._last_prune = float("-inf")
        self._last_analysis: float | None = None
        # The metrics' label caps (metrics.label_caps) also bound the store's pages and elements, which a shop's slugs or
        # generated selectors would otherwise grow without limit (rows, disk, flush time); beyond them, "other".
        self._budget = budget
        self.score = None
        self.pruned = None
        self.store_errors = None
        self.increments_dropped = None
        self._store_failing = False  # logged once per outage, and again when it ends
        if registry is not None:
            from .metrics import AnomalyGauge, increments_dropped_counter, rows_pruned_counter, store_errors_counter

            self.score = AnomalyGauge(registry, budget, cfg.max_series)
            self.pruned = rows_pruned_counter(registry)
            self.store_errors = store_errors_counter(registry)
            self.increments_dropped = increments_dropped_counter(registry)

    @classmethod
    def from_settings(cls, settings, *, clock: Callable[[], float] = time.time, registry=None, budget=None) -> "ReportAggregator | None":
        if not settings.report.enabled:
            return None
        return cls(settings.report, settings.detect, clock=clock, registry=registry, budget=budget)

    # ------------------------------------------------------------------------------------- per tick

    def segments(self, s: Session) -> Segments:
        segs = [("all", "all"), ("device", s.device), ("visitor", s.visitor), ("source", s.source)]
        for name in self.cfg.custom_segments:
            value = getattr(s, name, None)
            segs.append((name, str(value) if value not in (None, "") else "unknown"))
        return tuple(segs)

    def _segments(self, s: Session) -> Segments:
        """``segments(s)`` once per session and observe call: sessions don't change while a tick's outputs are
        observed."""
        segs = self._segs.get(s)
        if segs is None:
            segs = self._segs[s] = self.segments(s)
        return segs

    def observe(self, outputs: list, now: float | None = None) -> None:
        """Called once per tick with that tick's outputs (sessionize + detect)."""
        now = self.clock() if now is None else now
        for o in outputs:
            t = type(o)
            if t is PageStarted:
                s = o.session
                if s.device != "bot":
                    self._visit(s, self._page(o.page.route))
            elif t is Happened:
                if o.page is None or o.session.device == "bot":
                    continue
                kind = o.event.kind
                if kind is _CLICK and isinstance(o.event.detail, Click):
                    self._click(o.session, self._page(o.page.route), o.event)
                elif kind is _JS_ERROR and isinstance(o.event.detail, JsError):
                    d = o.event.detail
                    self._affected(o.session, self._page(o.page.route), "error_spike", d.type + (f" ({d.group})" if d.group else ""))
            elif t is Found:
                self._found(o)
            elif t is DroppedOff:
                rx = self._step_route.get((o.funnel, o.name))
                route = self._page(next((p.route for p in reversed(o.session.pages) if rx is not None and rx.search(p.route)), None)
                                   or f"{o.funnel}:{o.name}")
                self._affected(o.session, route, "checkout_dropoff", o.name)
                if o.after_error:
                    self._element(o.session, route, "dropoff_after_error", o.name)
            elif t is SessionEnded:
                self._open.pop(o.session.id, None)
        self._segs.clear()
        if now - self._last_flush >= self.cfg.flush_interval_seconds:
            self.flush(now)
        if self.score is not None:
            if self._last_analysis is None:
                self._last_analysis = now  # first analysis one interval after start: the store may hold a restart's data
            elif now - self._last_analysis >= self.cfg.analysis_interval_seconds:
                self._last_analysis = now
                self.update_score(self.clock())

    def flush(self, now: float | None = None) -> None:
        """Write the batch; if the store fails, keep it (the store rolled the write back) for the next flush."""
        now = self.clock() if now is None else now
        self._last_flush = now
        if self.batch:
            try:
                self.store.add(self.batch)
            except STORE_ERRORS as exc:
                self._store_failed("write", exc)
                self._bound_batch()
                return
            self.batch = Batch()
            self._store_ok()
        if now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self.prune(now)

    def keep_hours(self) -> int | None:
        """Hours of rows kept: ``retention_days``, never less than a report's windows reach back (None: keep all)."""
        if self.cfg.retention_days is None:
            return None
        cfg = self.cfg
        reach = cfg.current_window_hours + (24 * cfg.baseline_days if cfg.baseline_mode == "same_hours" else cfg.baseline_hours)
        return max(math.ceil(cfg.retention_days * 24), reach + 1)

    def prune(self, now: float | None = None) -> dict[str, int]:
        """Delete hourly rows (counts, click grids, elements) older than ``keep_hours`` before the service clock's hour."""
        now = self.clock() if now is None else now
        self._last_prune = now
        keep = self.keep_hours()
        if keep is None:
            return {}
        try:
            deleted = self.store.prune(int(now // 3600) - keep + 1)
        except STORE_ERRORS as exc:
            self._store_failed("prune", exc)
            return {}
        if self.pruned is not None:
            for table, n in deleted.items():
                if n:
                    self.pruned.labels(table).inc(n)
        return deleted

    # ------------------------------------------------------------------------------- checkpoints

    def checkpoint_state(self) -> dict:
        """What a restarted process needs to continue the open sessions without counting them twice: the routes and
        kinds each open session was already counted for. Flushes first, so everything marked counted is in the store,
        or, while the store fails, in the checkpoint with them (``batch``)."""
        self.flush()
        return {"open": self._open, "batch": self.batch if self.batch else None}

    def restore_state(self, state: dict | None) -> None:
        self._open = dict(state["open"]) if state else {}
        if state and state.get("batch"):
            self.batch = state["batch"]  # written by the first flush

    def _bound_batch(self) -> None:
        """While the store can't be written, keep memory bounded: past ``max_pending_increments``, drop whole hours,
        oldest first, down to 90% of it (so this doesn't run at every flush). The newest hours, which the current report
        window reads, are the ones kept, and the newest one always (the label caps bound a single hour)."""
        b, limit = self.batch, self.cfg.max_pending_increments
        tables = (b.counts, b.cells, b.elements)
        size = sum(map(len, tables))
        if size <= limit:
            return
        by_hour: dict[int, list] = defaultdict(list)
        for table in tables:
            for key in table:
                by_hour[key[1]].append((table, key))
        dropped = 0
        for hour in sorted(by_hour)[:-1]:
            if size - dropped <= limit * 0.9:
                break
            for table, key in by_hour[hour]:
                del table[key]
            dropped += len(by_hour[hour])
        if self.increments_dropped is not None:
            self.increments_dropped.inc(dropped)
        log.error("report store still failing: the oldest hours of kept aggregates were dropped",
                  extra={"dropped": dropped, "kept": size - dropped, "max_pending_increments": limit})

    def _store_failed(self, operation: str, exc: BaseException) -> None:
        if self.store_errors is not None:
            self.store_errors.labels(operation).inc()
        if not self._store_failing:
            self._store_failing = True
            log.error("report store failing: hourly aggregates are kept in memory and written once it works again",
                      extra={"operation": operation, "error": f"{type(exc).__name__}: {exc}"})

    def _store_ok(self) -> None:
        if self._store_failing:
            self._store_failing = False
            log.info("report store works again: the aggregates kept meanwhile are written")

    def close(self) -> None:
        self.flush()
        self.store.close()

    def _hour(self, s: Session) -> int:
        return s.start_ns // HOUR_NS if s.start_ns else int(self.clock() // 3600)

    def _first(self, s: Session, key) -> bool:
        """True the first time ``key`` (a route, or a route and kind) counts for this open session. A tuple, not a
        set: it is kept for every open session and holds a few keys (a set costs 216 bytes empty)."""
        seen = self._open.get(s.id, ())
        if key in seen:
            return False
        self._open[s.id] = seen + (key,)
        return True

    def _page(self, route: str) -> str:
        return route if self._budget is None else self._budget.value("report", "page", route)

    def _elem(self, element: str) -> str:
        return element if self._budget is None else self._budget.value("report", "element", element)

    def _visit(self, s: Session, route: str) -> None:
        if not self._first(s, route):
            return
        self.batch.counts[(s.service_name, self._hour(s), route, self._segments(s), "sessions")] += 1

    def _affected(self, s: Session, route: str, kind: str, element: str | None) -> None:
        if s.device == "bot":
            return
        self._visit(s, route)
        h, svc, segs, counts = self._hour(s), s.service_name, self._segments(s), self.batch.counts
        if self._first(s, (route, kind)):
            counts[(svc, h, route, segs, "aff:" + kind)] += 1
        counts[(svc, h, route, segs, "ep:" + kind)] += 1
        if element:
            self.batch.elements[(svc, h, route, segs, kind, self._elem(element))] += 1

    def _element(self, s: Session, route: str, kind: str, element: str) -> None:
        """``element`` already within its cap (``_elem``), or from the configuration (a funnel step)."""
        self.batch.elements[(s.service_name, self._hour(s), route, self._segments(s), kind, element)] += 1

    def _cell_of(self, s: Session, e) -> tuple[int, int] | None:
        c = e.detail
        if c.x is None or c.y is None:
            return None
        vw = e.client.viewport_width or DEFAULT_VIEWPORT.get(s.device, 1440)
        cols, rows = self.cfg.grid_columns, self.cfg.grid_max_rows
        bx, by = int(c.x / vw * cols), int(c.y // self.cfg.grid_row_px)
        # Clamped into the grid with conditionals, not min(max()): this runs for every click.
        return 0 if bx < 0 else cols - 1 if bx >= cols else bx, 0 if by < 0 else rows - 1 if by >= rows else by

    def _click(self, s: Session, route: str, e) -> None:
        c: Click = e.detail
        self._visit(s, route)
        el = self._elem(element_of(c))
        svc = s.service_name
        meta, key = self.batch.meta, (svc, route, el)
        if key not in meta:
            meta[key] = (c.tag or "", 1 if c.interactive else 0 if c.interactive is False else -1)
        if c.fixed:  # sticky headers, chat bubbles: reported on their own, kept off the click map
            self._element(s, route, "fixed_click", el)
            return
        cell = self._cell_of(s, e)
        if cell is None:
            return
        self.batch.cell((svc, self._hour(s), route, self._segments(s), *cell), clicks=1)

    def _found(self, o: Found) -> None:
        s, ep = o.session, o.episode
        if s.device == "bot":
            return
        route = self._page(o.page.route if o.page is not None else dict(ep.details).get("url.template") or "unknown")
        if ep.signal is Signal.ERROR_CLICK:
            self._element(s, route, "error_click", self._elem(ep.element or "unknown"))
            return
        kind = SIGNAL_KIND.get(ep.signal)
        if kind is None:
            return
        element = ep.element
        if ep.signal is Signal.FORM_ABANDONMENT:
            d = dict(ep.details)
            element = f"{ep.element or '-'} › {d.get('rum.form.last_field', 'unknown')}"
            if d.get("rum.form.field_errors"):
                self._element(s, route, "form_abandonment_errors", self._elem(element))
        elif ep.signal is Signal.QUICK_BACK:
            element = "from " + str(dict(ep.details).get("rum.previous_page", "?"))
        elif ep.signal is Signal.CONFUSION_LOOP:
            element = "loop with " + str(dict(ep.details).get("rum.loop.other_page", "?"))
        self._affected(s, route, kind, element)
        if ep.signal in (Signal.RAGE_CLICK, Signal.DEAD_CLICK) and o.page is not None:
            rage = ep.signal is Signal.RAGE_CLICK
            clicks = [e for e in o.page.events if e.kind is _CLICK and isinstance(e.detail, Click) and not e.detail.fixed
                      and ep.start_ns <= e.time_ns <= ep.end_ns]
            same = [e for e in clicks if element_of(e.detail) == ep.element] or clicks
            h, svc, segs = self._hour(s), s.service_name, self._segments(s)
            for e in same:
                cell = self._cell_of(s, e)
                if cell is not None:
                    self.batch.cell((svc, h, route, segs, *cell), rage=int(rage), dead=int(not rage))

    # --------------------------------------------------------------------------------- reports

    def report(self, now: float | None = None, *, heatmaps: bool = True, progress=None):
        """The report on the store's hours; a failing store raises (one of STORE_ERRORS), counted as a failed read."""
        from .analyze import build_report

        self.flush()
        try:
            return build_report(self.store, self.cfg, self.detect, self.clock() if now is None else now, heatmaps=heatmaps,
                                progress=progress)
        except STORE_ERRORS as exc:
            self._store_failed("read", exc)
            raise

    def update_score(self, now: float | None = None):
        try:
            rep = self.report(now, heatmaps=False)
        except STORE_ERRORS:
            return None  # the gauge keeps the last report's findings
        if self.score is not None:
            self.score.set(rep)
        return rep
