"""Detect: run the pure detectors over each session's page views as events settle, track funnel progress.

This stage owns only what it needs to not report anything twice (emitted episode keys, funnel positions) and reads
sessionize's outputs; it never changes session state.
"""

from __future__ import annotations

import statistics
from collections import Counter, deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..config import DetectConfig, ErrorsConfig
from ..events import JsError, Kind, Named, Scroll
from ..sessionize import Happened, Late, Output, Page, PageEnded, PageStarted, Session, SessionEnded
from .clicks import dead_clicks, error_clicks, rage_clicks
from .episodes import Episode, Signal
from .errors import ErrorBook
from .journeys import FunnelMatcher, Visit, confusion_loops, quick_backs
from .pages import dead_scroll, excessive_scrolls, form_abandonments, forms_started

__all__ = ["DetectStage", "Found", "FormStarted", "StepReached", "Converted", "DroppedOff", "Summary", "ErrorGroupHit",
           "ImpactUpdate", "Signal", "Episode"]

BASELINE_MIN_SAMPLES = 20


def _path(url: str | None) -> str:
    if not url:
        return ""
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return url


@dataclass(frozen=True, slots=True)
class Found:
    session: Session
    page: Page | None
    episode: Episode


@dataclass(frozen=True, slots=True)
class FormStarted:
    session: Session
    page: Page
    form: str


@dataclass(frozen=True, slots=True)
class StepReached:
    session: Session
    funnel: str
    step: int
    name: str
    time_ns: int


@dataclass(frozen=True, slots=True)
class Converted:
    session: Session
    funnel: str
    seconds: float


@dataclass(frozen=True, slots=True)
class DroppedOff:
    session: Session
    funnel: str
    step: int
    name: str
    after_error: bool


@dataclass(frozen=True, slots=True)
class Summary:
    """Emitted just before a session's SessionEnded, for the root span."""

    session: Session
    friction: dict[str, int]
    funnels: dict[str, str]  # funnel → furthest step name
    converted: bool


@dataclass(frozen=True, slots=True)
class ErrorGroupHit:
    """A session met an error group for the first time."""

    session: Session
    group: str


@dataclass(frozen=True, slots=True)
class ImpactUpdate:
    service_name: str
    group: str
    funnel: str
    step: str
    odds_ratio: float


DetectOutput = Found | FormStarted | StepReached | Converted | DroppedOff | Summary | ErrorGroupHit | ImpactUpdate


@dataclass
class _State:
    session: Session
    emitted: set = field(default_factory=set)
    per_page: Counter = field(default_factory=Counter)
    friction: Counter = field(default_factory=Counter)
    visits: list[Visit] = field(default_factory=list)
    furthest: dict[str, int] = field(default_factory=dict)
    entered_ns: dict[str, int] = field(default_factory=dict)
    converted: set[str] = field(default_factory=set)  # funnels completed
    groups: dict[str, dict[str, int]] = field(default_factory=dict)  # error group → funnel step at its first occurrence
    forms: set = field(default_factory=set)
    decided: set = field(default_factory=set)  # page indexes evaluated after they ended: nothing new can come of them
    had_error: bool = False
    unsettled: bool = False


class DetectStage:
    def __init__(self, cfg: DetectConfig, errors: ErrorsConfig):
        self.cfg = cfg
        self.funnels = [FunnelMatcher(f) for f in cfg.funnels]
        self.errors = ErrorBook(errors.max_groups, errors.min_support, {f.name: [s.name for s in f.steps] for f in cfg.funnels})
        self._state: dict[str, _State] = {}
        self._scroll_baseline: dict[str, deque] = {}
        self.capped = 0  # episodes not reported because of the per-page cap

    def run(self, outputs: list[Output], now: float) -> list[DetectOutput]:
        out: list[DetectOutput] = []
        touched: dict[int, tuple[_State, Page]] = {}
        for o in outputs:
            if isinstance(o, PageStarted):
                st = self._get(o.session)
                st.visits.append((o.page.route, _path(o.page.url), o.page.start_ns))
                self._journeys(st, out)
                self._funnel(st, o.page.route, None, o.page.start_ns, out)
            elif isinstance(o, Happened) and o.page is not None:
                st = self._get(o.session)
                touched[id(o.page)] = (st, o.page)
                if o.event.kind is Kind.JS_ERROR and isinstance(o.event.detail, JsError):
                    st.had_error = True
                    self._error(st, o.page, o.event, out)
                elif o.event.kind is Kind.USER_ACTION and isinstance(o.event.detail, Named):
                    self._funnel(st, None, o.event.detail.name, o.event.time_ns, out)
            elif isinstance(o, PageEnded):
                st = self._get(o.session)
                touched.pop(id(o.page), None)
                self._evaluate(st, o.page, out, final=True)
            elif isinstance(o, SessionEnded):
                st = self._state.pop(o.session.id, None) or _State(o.session)
                self._end(st, o.reason, out)
            elif isinstance(o, Late) and o.event.kind is Kind.JS_ERROR and isinstance(o.event.detail, JsError):
                self.errors.occurred(o.event, o.event.route or "unknown", o.closed.trace_id, o.closed.root_span_id, False)
        for st, page in touched.values():
            if st.session.id in self._state:
                self._evaluate(st, page, out, final=False)
        for st in list(self._state.values()):
            if st.unsettled and now - st.session.last_seen >= self.cfg.settle_seconds:
                for page in st.session.pages:
                    if page.end_ns is None:
                        self._evaluate(st, page, out, final=False, quiet=True)
        return out

    def _get(self, session: Session) -> _State:
        st = self._state.get(session.id)
        if st is None:
            st = self._state[session.id] = _State(session)
        return st

    # ---------------------------------------------------------------------------------- detectors

    def _baseline(self, route: str) -> float:
        samples = self._scroll_baseline.get(route)
        return statistics.median(samples) if samples and len(samples) >= BASELINE_MIN_SAMPLES else 0.0

    def _evaluate(self, st: _State, page: Page, out: list[DetectOutput], *, final: bool, quiet: bool = False) -> None:
        if st.session.device == "bot" or page.index in st.decided:
            return
        if final and page.end_ns is not None:
            st.decided.add(page.index)
        events = page.events
        ended = page.end_ns is not None
        later = [p.start_ns for p in st.session.pages if p.start_ns > page.start_ns]
        next_page_ns = min(later) if later else None
        candidates = (rage_clicks(events, self.cfg) + dead_clicks(events, self.cfg, next_page_ns) + error_clicks(events, self.cfg)
                      + excessive_scrolls(events, self.cfg, self._baseline(page.route))
                      + dead_scroll(events, self.cfg, ended) + form_abandonments(events, ended))
        horizon = st.session.last_ns
        st.unsettled = False
        for ep in candidates:
            if ep.key in st.emitted:
                continue
            if not (final or quiet or ep.final_after_ns <= horizon):
                st.unsettled = True
                continue
            st.emitted.add(ep.key)
            self._report(st, page, ep, out)
        for e in events:
            if e.kind is Kind.SCROLL and isinstance(e.detail, Scroll) and e.detail.direction_changes is not None \
                    and ("scroll", e.time_ns) not in st.emitted:
                st.emitted.add(("scroll", e.time_ns))
                self._scroll_baseline.setdefault(page.route, deque(maxlen=500)).append(e.detail.direction_changes)
        for form, _ in forms_started(events):
            if (page.index, form) not in st.forms:
                st.forms.add((page.index, form))
                out.append(FormStarted(st.session, page, form))

    def _report(self, st: _State, page: Page | None, ep: Episode, out: list[DetectOutput]) -> None:
        slot = (page.index if page is not None else -1, ep.signal)
        if st.per_page[slot] >= self.cfg.max_episodes_per_page:
            self.capped += 1
            return
        st.per_page[slot] += 1
        st.friction[ep.signal.value] += 1
        out.append(Found(st.session, page, ep))

    def _journeys(self, st: _State, out: list[DetectOutput]) -> None:
        if st.session.device == "bot":
            return
        for ep in quick_backs(st.visits, self.cfg) + confusion_loops(st.visits, self.cfg):
            if ep.key not in st.emitted:
                st.emitted.add(ep.key)
                page = next((p for p in st.session.pages if p.start_ns == ep.start_ns), None)
                self._report(st, page, ep, out)

    def _error(self, st: _State, page: Page, e, out: list[DetectOutput]) -> None:
        group = e.detail.group or ""
        new = group not in st.groups
        if new:
            st.groups[group] = {m.funnel.name: st.furthest.get(m.funnel.name, -1) for m in self.funnels}
        self.errors.occurred(e, page.route, st.session.trace_id, page.span_id, new)
        if new:
            out.append(ErrorGroupHit(st.session, group))

    def _funnel(self, st: _State, route: str | None, event_name: str | None, time_ns: int, out: list[DetectOutput]) -> None:
        for m in self.funnels:
            name = m.funnel.name
            before = st.furthest.get(name, -1)
            after = m.advance(before, route, event_name)
            if after == before:
                continue
            st.furthest[name] = after
            if after == 0:
                st.entered_ns[name] = time_ns
            out.append(StepReached(st.session, name, after, m.funnel.steps[after].name, time_ns))
            if after == len(m.funnel.steps) - 1:
                st.converted.add(name)
                out.append(Converted(st.session, name, max(0.0, (time_ns - st.entered_ns.get(name, time_ns)) / 1e9)))

    def _end(self, st: _State, reason: str, out: list[DetectOutput]) -> None:
        for page in st.session.pages:
            self._evaluate(st, page, out, final=True)
        # A shutdown is not the user leaving: counting drop-offs (or checkout impact) then would invent them.
        if reason != "shutdown":
            touched = self.errors.session_ended(st.session.service_name, dict(st.furthest), st.converted, st.groups)
            for (service, group, funnel, k), ratio in self.errors.cells(touched):
                out.append(ImpactUpdate(service, group, funnel, self.errors.funnel_steps[funnel][k], ratio))
            for m in self.funnels:
                step = st.furthest.get(m.funnel.name, -1)
                if 0 <= step < len(m.funnel.steps) - 1:
                    out.append(DroppedOff(st.session, m.funnel.name, step, m.funnel.steps[step].name, st.had_error))
        out.append(Summary(st.session, dict(st.friction),
                           {m.funnel.name: m.funnel.steps[st.furthest[m.funnel.name]].name for m in self.funnels if m.funnel.name in st.furthest},
                           bool(st.converted)))
