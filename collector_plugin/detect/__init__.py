"""Detect: run the pure detectors over each session's page views as events settle, track funnel progress.

This stage owns only what it needs to not report anything twice (emitted episode keys, funnel positions) and reads
sessionize's outputs; it never changes session state.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import Counter, deque
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from urllib.parse import urlsplit

from ..config import DetectConfig, ErrorsConfig
from ..events import JsError, Kind, Named, Scroll
from ..sessionize import Happened, Late, Output, Page, PageEnded, PageStarted, Session, SessionEnded
from .clicks import dead_clicks, error_clicks, rage_clicks
from .episodes import Episode, Signal
from .errors import ErrorBook
from .journeys import FunnelMatcher, confusion_loops, quick_backs
from .pages import dead_scroll, excessive_scrolls, form_abandonments, forms_started

__all__ = ["DetectStage", "Found", "FormStarted", "StepReached", "Converted", "DroppedOff", "Summary", "ErrorGroupHit",
           "ImpactUpdate", "Signal", "Episode"]

BASELINE_MIN_SAMPLES = 20
BASELINE_SAMPLES = 500  # a route's scroll baseline is the median of its last this many scroll summaries
# Members bound to module names: ``Kind.X`` is a slow class attribute read on Python 3.11 (see sessionize.py).
_CLICK, _SCROLL, _FORM_FOCUS = Kind.CLICK, Kind.SCROLL, Kind.FORM_FOCUS
_JS_ERROR, _USER_ACTION = Kind.JS_ERROR, Kind.USER_ACTION
_start_ns = attrgetter("start_ns")


@lru_cache(maxsize=4096)  # asked for every page of a session each time its page sequence is checked
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


class _State:
    """What detection remembers of one session. Most sessions never need most of it (one idle page view), so the
    containers are created on first use, and the state itself is only kept once it holds something."""

    __slots__ = ("session", "seen", "decided", "counts", "funnels", "groups", "had_error", "unsettled")

    def __init__(self, session: Session):
        self.session = session
        # Episode keys reported, forms started, and scroll summaries taken (by time, a bare int: a tuple per summary
        # cost more than the summary).
        self.seen: set | None = None
        self.decided = 0  # pages decided, a bit per page index: every page view of an open session has one
        self.counts: Counter | None = None  # episodes per (page, signal) and per signal
        self.funnels: dict[str, list[int]] | None = None  # funnel → [furthest step, time entered]
        self.groups: dict[str, dict[str, int]] | None = None  # error group → funnel step at its first occurrence
        self.had_error = False
        self.unsettled = False

    def empty(self) -> bool:
        return (self.seen is None and not self.decided and self.counts is None and self.funnels is None
                and self.groups is None and not self.had_error and not self.unsettled)

    def first(self, key) -> bool:
        """True the first time ``key`` is seen."""
        if self.seen is None:
            self.seen = set()
        elif key in self.seen:
            return False
        self.seen.add(key)
        return True

    def count(self, key) -> int:
        return self.counts[key] if self.counts is not None else 0

    def add(self, key) -> None:
        if self.counts is None:
            self.counts = Counter()
        self.counts[key] += 1

    def furthest(self, funnel: str) -> int:
        return self.funnels[funnel][0] if self.funnels and funnel in self.funnels else -1

    def friction(self) -> dict[str, int]:
        return {k[1]: v for k, v in (self.counts or {}).items() if k[0] == "signal"}


class DetectStage:
    def __init__(self, cfg: DetectConfig, errors: ErrorsConfig):
        self.cfg = cfg
        self.funnels = [FunnelMatcher(f) for f in cfg.funnels]
        self._step_names = {f.name: [s.name for s in f.steps] for f in cfg.funnels}
        self.errors = ErrorBook(errors.max_groups, errors.min_support, {f.name: [s.name for s in f.steps] for f in cfg.funnels})
        self._state: dict[str, _State] = {}
        self._unsettled: dict[str, _State] = {}  # states with episodes waiting for their session to go quiet
        self._scroll_baseline: dict[str, deque] = {}
        # The same samples sorted, so the median is a lookup: it is read on every evaluation of a scrolled page.
        # Derived from _scroll_baseline (not checkpointed): built on first read.
        self._sorted_baseline: dict[str, list] = {}
        self.capped = 0  # episodes not reported because of the per-page cap

    def run(self, outputs: list[Output], now: float) -> list[DetectOutput]:
        out: list[DetectOutput] = []
        touched: dict[Page, _State] = {}  # pages with new events, in order (a Page hashes by identity)
        ended: set[str] = set()
        fresh: dict[str, _State] = {}  # states of this run not stored (yet): one instance per session within a run
        # A session's outputs come one after another: its state is looked up once per run of them (until it ends).
        last: Session | None = None
        st: _State | None = None
        # Sessions whose page sequence was checked in this run: their pages don't change while detection runs, so a
        # second look (at their next new page view) would find the same episodes, all reported already.
        journeyed: set[Session] = set()
        for o in outputs:
            t = type(o)  # outputs are exactly sessionize's classes: one comparison each, most are Happened
            if t is Happened:
                page = o.page
                if page is None:
                    continue
                if o.session is not last:
                    last, st = o.session, self._get(o.session, fresh)
                touched[page] = st
                e = o.event
                if e.kind is _JS_ERROR and isinstance(e.detail, JsError):
                    st.had_error = True
                    self._error(st, page, e, out)
                elif e.kind is _USER_ACTION and isinstance(e.detail, Named):
                    self._funnel(st, None, e.detail.name, e.time_ns, out)
            elif t is PageStarted:
                if o.session is not last:
                    last, st = o.session, self._get(o.session, fresh)
                if o.session not in journeyed:
                    journeyed.add(o.session)
                    self._journeys(st, out)
                self._funnel(st, o.page.route, None, o.page.start_ns, out)
            elif t is PageEnded:
                if o.session is not last:
                    last, st = o.session, self._get(o.session, fresh)
                touched.pop(o.page, None)
                self._evaluate(st, o.page, out, final=True)
            elif t is SessionEnded:
                last = None
                ended_st = self._state.pop(o.session.id, None) or fresh.pop(o.session.id, None) or _State(o.session)
                ended.add(o.session.id)
                self._end(ended_st, o.reason, out)
            elif t is Late and o.event.kind is _JS_ERROR and isinstance(o.event.detail, JsError):
                self.errors.occurred(o.event, o.event.route or "unknown", o.closed.trace_id, o.closed.root_span_id, False)
        for page, st in touched.items():
            if st.session.id not in ended:
                self._evaluate(st, page, out, final=False)
        for sid, st in fresh.items():
            if not st.empty():
                self._state[sid] = st
        for sid in ended:
            self._unsettled.pop(sid, None)
        for st in list(self._unsettled.values()):
            if now - st.session.last_seen >= self.cfg.settle_seconds:
                for page in st.session.pages:
                    if page.end_ns is None:
                        self._evaluate(st, page, out, final=False, quiet=True)
        return out

    def snapshot(self) -> tuple:
        """What a checkpoint keeps of detection (see Pipeline.checkpoint)."""
        return self._state, self._scroll_baseline, self.errors

    def load(self, snapshot: tuple) -> None:
        self._state, self._scroll_baseline, self.errors = snapshot
        self._sorted_baseline = {}
        self._unsettled = {sid: st for sid, st in self._state.items() if st.unsettled}

    def _get(self, session: Session, fresh: dict[str, _State]) -> _State:
        st = self._state.get(session.id) or fresh.get(session.id)
        if st is None:
            st = fresh[session.id] = _State(session)
        return st

    # ---------------------------------------------------------------------------------- detectors

    def _baseline(self, route: str) -> float:
        """The median of the route's scroll reversals (as statistics.median: a sample, or the mean of the middle two)."""
        samples = self._scroll_baseline.get(route)
        if not samples or len(samples) < BASELINE_MIN_SAMPLES:
            return 0.0
        ordered = self._sorted_baseline.get(route)
        if ordered is None:
            ordered = self._sorted_baseline[route] = sorted(samples)
        n = len(ordered)
        return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2

    def _sample(self, route: str, reversals: int) -> None:
        samples = self._scroll_baseline.get(route)
        if samples is None:
            samples = self._scroll_baseline[route] = deque(maxlen=BASELINE_SAMPLES)
        ordered = self._sorted_baseline.get(route)
        if ordered is not None:
            if len(samples) == samples.maxlen:
                del ordered[bisect_left(ordered, samples[0])]  # the sample the append pushes out
            insort(ordered, reversals)
        samples.append(reversals)

    def _evaluate(self, st: _State, page: Page, out: list[DetectOutput], *, final: bool, quiet: bool = False) -> None:
        if st.session.device == "bot" or st.decided >> page.index & 1:
            return
        ended = page.end_ns is not None
        deciding = final and ended
        if deciding:
            st.decided |= 1 << page.index
        events = page.events
        cfg = self.cfg
        # Only the detectors that look at a kind the page has: the others would find nothing, and most page views
        # are a few clicks (the next page's start and the scroll baseline are only needed by some, too).
        kinds = [e.kind for e in events]
        candidates: list[Episode] = []
        if _CLICK in kinds:
            pages = st.session.pages  # in start order: the next page view is the first that starts later
            later = bisect_right(pages, page.start_ns, key=_start_ns)
            next_page_ns = pages[later].start_ns if later < len(pages) else None
            candidates += rage_clicks(events, cfg)
            candidates += dead_clicks(events, cfg, next_page_ns)
            candidates += error_clicks(events, cfg)
        if _SCROLL in kinds:
            candidates += excessive_scrolls(events, cfg, self._baseline(page.route))
            candidates += dead_scroll(events, cfg, ended)
        if _FORM_FOCUS in kinds:
            candidates += form_abandonments(events, ended)
        horizon = st.session.last_ns
        st.unsettled = False
        for ep in candidates:
            if st.seen is not None and ep.key in st.seen:
                continue
            if not (final or quiet or ep.final_after_ns <= horizon):
                st.unsettled = True
                continue
            st.first(ep.key)
            self._report(st, page, ep, out)
        if st.unsettled:
            self._unsettled[st.session.id] = st
        else:
            self._unsettled.pop(st.session.id, None)
        if _SCROLL in kinds:
            for e in events:
                if e.kind is _SCROLL and isinstance(e.detail, Scroll) and e.detail.direction_changes is not None \
                        and st.first(e.time_ns):
                    self._sample(page.route, e.detail.direction_changes)
        forms = forms_started(events) if _FORM_FOCUS in kinds else []
        for form, _ in forms:
            if st.first(("form", page.index, form)):
                out.append(FormStarted(st.session, page, form))
        if deciding and st.seen is not None:
            # A decided page is never evaluated again: its keys would only hold memory for the rest of the session.
            st.seen.difference_update([ep.key for ep in candidates])
            if _SCROLL in kinds:
                st.seen.difference_update([e.time_ns for e in events if e.kind is _SCROLL])
            st.seen.difference_update([("form", page.index, form) for form, _ in forms])
            if not st.seen:
                st.seen = None

    def _report(self, st: _State, page: Page | None, ep: Episode, out: list[DetectOutput]) -> None:
        slot = (page.index if page is not None else -1, ep.signal)
        if st.count(slot) >= self.cfg.max_episodes_per_page:
            self.capped += 1
            return
        st.add(slot)
        st.add(("signal", ep.signal.value))
        out.append(Found(st.session, page, ep))

    def _journeys(self, st: _State, out: list[DetectOutput]) -> None:
        if st.session.device == "bot" or len(st.session.pages) < 3:
            return  # a quick back takes three page views, a loop four
        visits = [(p.route, _path(p.url), p.start_ns) for p in st.session.pages]
        for ep in quick_backs(visits, self.cfg) + confusion_loops(visits, self.cfg):
            if st.first(ep.key):
                page = next((p for p in st.session.pages if p.start_ns == ep.start_ns), None)
                self._report(st, page, ep, out)

    def _error(self, st: _State, page: Page, e, out: list[DetectOutput]) -> None:
        group = e.detail.group or ""
        if st.groups is None:
            st.groups = {}
        new = group not in st.groups
        if new:
            st.groups[group] = {m.funnel.name: st.furthest(m.funnel.name) for m in self.funnels}
        self.errors.occurred(e, page.route, st.session.trace_id, page.span_id, new)
        if new:
            out.append(ErrorGroupHit(st.session, group))

    def _funnel(self, st: _State, route: str | None, event_name: str | None, time_ns: int, out: list[DetectOutput]) -> None:
        for m in self.funnels:
            name = m.funnel.name
            before = st.furthest(name)
            after = m.advance(before, route, event_name)
            if after == before:
                continue
            if st.funnels is None:
                st.funnels = {}
            entered = st.funnels[name][1] if name in st.funnels else time_ns
            st.funnels[name] = [after, entered]
            out.append(StepReached(st.session, name, after, m.funnel.steps[after].name, time_ns))
            if after == len(m.funnel.steps) - 1:
                out.append(Converted(st.session, name, max(0.0, (time_ns - entered) / 1e9)))

    def _end(self, st: _State, reason: str, out: list[DetectOutput]) -> None:
        for page in st.session.pages:
            self._evaluate(st, page, out, final=True)
        # A shutdown is not the user leaving: counting drop-offs (or checkout impact) then would invent them.
        if reason != "shutdown":
            furthest = {name: f[0] for name, f in (st.funnels or {}).items()}
            converted = {m.funnel.name for m in self.funnels if furthest.get(m.funnel.name, -1) == len(m.funnel.steps) - 1}
            touched = self.errors.session_ended(st.session.service_name, furthest, converted, st.groups or {})
            for (service, group, funnel, k), ratio in self.errors.cells(touched):
                out.append(ImpactUpdate(service, group, funnel, self.errors.funnel_steps[funnel][k], ratio))
            for m in self.funnels:
                step = st.furthest(m.funnel.name)
                if 0 <= step < len(m.funnel.steps) - 1:
                    out.append(DroppedOff(st.session, m.funnel.name, step, m.funnel.steps[step].name, st.had_error))
        reached = {m.funnel.name: st.furthest(m.funnel.name) for m in self.funnels}
        out.append(Summary(st.session, st.friction(), {name: self._step_names[name][k] for name, k in reached.items() if k >= 0},
                           any(k == len(self._step_names[name]) - 1 for name, k in reached.items())))
