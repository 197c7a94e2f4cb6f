"""The pipeline side of anomaly reports: once per tick, that tick's outputs become hourly counts per page and segment.

Units: a *session on a page* (counted once per session and route) and a *session affected* by a kind on a page
(once per session, route and kind), so the report can test proportions. Everything goes to the hour the session
started (event time) with the session's segments, so ``affected <= sessions`` in every bucket. Only open
sessions are remembered (the routes and kinds already counted), dropped when the session ends.
"""

from __future__ import annotations

import re
import time
from typing import Callable

from ..config import DetectConfig, ReportConfig
from ..detect import DroppedOff, Found, Signal
from ..detect.clicks import element_of
from ..events import Click, JsError, Kind
from ..sessionize import Happened, PageStarted, Session, SessionEnded
from .store import Batch, ReportStore, open_store

HOUR_NS = 3_600_000_000_000
KINDS = ("rage_click", "dead_click", "dead_scroll", "quick_back", "form_abandonment", "checkout_dropoff", "error_spike")
SIGNAL_KIND = {Signal.RAGE_CLICK: "rage_click", Signal.DEAD_CLICK: "dead_click", Signal.DEAD_SCROLL: "dead_scroll",
               Signal.QUICK_BACK: "quick_back", Signal.CONFUSION_LOOP: "quick_back", Signal.FORM_ABANDONMENT: "form_abandonment"}
BUILTIN_DIMS = ("device", "visitor", "source")
DEFAULT_VIEWPORT = {"mobile": 390, "tablet": 820}


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
        self._open: dict[str, set] = {}
        self._last_flush = float("-inf")
        self._last_analysis: float | None = None
        self.score = None
        if registry is not None:
            from .metrics import AnomalyGauge

            self.score = AnomalyGauge(registry, budget, cfg.max_series)

    @classmethod
    def from_settings(cls, settings, *, clock: Callable[[], float] = time.time, registry=None, budget=None) -> "ReportAggregator | None":
        if not settings.report.enabled:
            return None
        return cls(settings.report, settings.detect, clock=clock, registry=registry, budget=budget)

    # ------------------------------------------------------------------------------------- per tick

    def segments(self, s: Session) -> list[tuple[str, str]]:
        segs = [("all", "all"), ("device", s.device), ("visitor", s.visitor), ("source", s.source)]
        for name in self.cfg.custom_segments:
            value = getattr(s, name, None)
            segs.append((name, str(value) if value not in (None, "") else "unknown"))
        return segs

    def observe(self, outputs: list, now: float | None = None) -> None:
        """Called once per tick with that tick's outputs (sessionize + detect)."""
        now = self.clock() if now is None else now
        for o in outputs:
            t = type(o)
            if t is PageStarted:
                s = o.session
                if s.device != "bot":
                    self._visit(s, o.page.route)
            elif t is Happened:
                if o.page is None or o.session.device == "bot":
                    continue
                kind = o.event.kind
                if kind is Kind.CLICK and isinstance(o.event.detail, Click):
                    self._click(o.session, o.page.route, o.event)
                elif kind is Kind.JS_ERROR and isinstance(o.event.detail, JsError):
                    d = o.event.detail
                    self._affected(o.session, o.page.route, "error_spike", d.type + (f" ({d.group})" if d.group else ""))
            elif t is Found:
                self._found(o)
            elif t is DroppedOff:
                rx = self._step_route.get((o.funnel, o.name))
                route = next((p.route for p in reversed(o.session.pages) if rx is not None and rx.search(p.route)), None) \
                    or f"{o.funnel}:{o.name}"
                self._affected(o.session, route, "checkout_dropoff", o.name)
                if o.after_error:
                    self._element(o.session, route, "dropoff_after_error", o.name)
            elif t is SessionEnded:
                self._open.pop(o.session.id, None)
        if now - self._last_flush >= self.cfg.flush_interval_seconds:
            self.flush(now)
        if self.score is not None:
            if self._last_analysis is None:
                self._last_analysis = now  # first analysis one interval after start: the store may hold a restart's data
            elif now - self._last_analysis >= self.cfg.analysis_interval_seconds:
                self._last_analysis = now
                self.update_score(self.clock())

    def flush(self, now: float | None = None) -> None:
        if self.batch:
            batch, self.batch = self.batch, Batch()
            self.store.add(batch)
        self._last_flush = self.clock() if now is None else now

    def close(self) -> None:
        self.flush()
        self.store.close()

    def _hour(self, s: Session) -> int:
        return s.start_ns // HOUR_NS if s.start_ns else int(self.clock() // 3600)

    def _seen(self, s: Session) -> set:
        st = self._open.get(s.id)
        if st is None:
            st = self._open[s.id] = set()
        return st

    def _visit(self, s: Session, route: str) -> None:
        st = self._seen(s)
        if route in st:
            return
        st.add(route)
        h, svc, counts = self._hour(s), s.service_name, self.batch.counts
        for dim, val in self.segments(s):
            counts[(svc, h, route, dim, val, "sessions")] += 1

    def _affected(self, s: Session, route: str, kind: str, element: str | None) -> None:
        if s.device == "bot":
            return
        self._visit(s, route)
        st = self._seen(s)
        first = (route, kind) not in st
        st.add((route, kind))
        h, svc, counts, elements = self._hour(s), s.service_name, self.batch.counts, self.batch.elements
        for dim, val in self.segments(s):
            if first:
                counts[(svc, h, route, dim, val, "aff:" + kind)] += 1
            counts[(svc, h, route, dim, val, "ep:" + kind)] += 1
            if element:
                elements[(svc, h, route, dim, val, kind, element)] += 1

    def _element(self, s: Session, route: str, kind: str, element: str) -> None:
        h, svc, elements = self._hour(s), s.service_name, self.batch.elements
        for dim, val in self.segments(s):
            elements[(svc, h, route, dim, val, kind, element)] += 1

    def _cell_of(self, s: Session, e) -> tuple[int, int] | None:
        c = e.detail
        if c.x is None or c.y is None:
            return None
        vw = e.client.viewport_width or DEFAULT_VIEWPORT.get(s.device, 1440)
        cols = self.cfg.grid_columns
        bx = min(max(int(c.x / vw * cols), 0), cols - 1)
        by = min(max(int(c.y // self.cfg.grid_row_px), 0), self.cfg.grid_max_rows - 1)
        return bx, by

    def _click(self, s: Session, route: str, e) -> None:
        c: Click = e.detail
        self._visit(s, route)
        el = element_of(c)
        svc = s.service_name
        if (svc, route, el) not in self.batch.meta:
            self.batch.meta[(svc, route, el)] = (c.tag or "", 1 if c.interactive else 0 if c.interactive is False else -1)
        if c.fixed:  # sticky headers, chat bubbles: reported on their own, kept off the click map
            self._element(s, route, "fixed_click", el)
            return
        cell = self._cell_of(s, e)
        if cell is None:
            return
        h = self._hour(s)
        for dim, val in self.segments(s):
            self.batch.cell((svc, h, route, dim, val, *cell), clicks=1)

    def _found(self, o: Found) -> None:
        s, ep = o.session, o.episode
        if s.device == "bot":
            return
        route = o.page.route if o.page is not None else dict(ep.details).get("url.template") or "unknown"
        if ep.signal is Signal.ERROR_CLICK:
            self._element(s, route, "error_click", ep.element or "unknown")
            return
        kind = SIGNAL_KIND.get(ep.signal)
        if kind is None:
            return
        element = ep.element
        if ep.signal is Signal.FORM_ABANDONMENT:
            d = dict(ep.details)
            element = f"{ep.element or '-'} › {d.get('rum.form.last_field', 'unknown')}"
            if d.get("rum.form.field_errors"):
                self._element(s, route, "form_abandonment_errors", element)
        elif ep.signal is Signal.QUICK_BACK:
            element = "from " + str(dict(ep.details).get("rum.previous_page", "?"))
        elif ep.signal is Signal.CONFUSION_LOOP:
            element = "loop"
        self._affected(s, route, kind, element)
        if ep.signal in (Signal.RAGE_CLICK, Signal.DEAD_CLICK) and o.page is not None:
            rage = ep.signal is Signal.RAGE_CLICK
            clicks = [e for e in o.page.events if e.kind is Kind.CLICK and isinstance(e.detail, Click) and not e.detail.fixed
                      and ep.start_ns <= e.time_ns <= ep.end_ns]
            same = [e for e in clicks if element_of(e.detail) == ep.element] or clicks
            h, svc = self._hour(s), s.service_name
            for e in same:
                cell = self._cell_of(s, e)
                if cell is None:
                    continue
                for dim, val in self.segments(s):
                    self.batch.cell((svc, h, route, dim, val, *cell), rage=int(rage), dead=int(not rage))

    # --------------------------------------------------------------------------------- reports

    def report(self, now: float | None = None, *, heatmaps: bool = True, progress=None):
        from .analyze import build_report

        self.flush()
        return build_report(self.store, self.cfg, self.detect, self.clock() if now is None else now, heatmaps=heatmaps, progress=progress)

    def update_score(self, now: float | None = None):
        rep = self.report(now, heatmaps=False)
        if self.score is not None:
            self.score.set(rep)
        return rep
