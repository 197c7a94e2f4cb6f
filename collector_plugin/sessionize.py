"""Sessionize: keep one state per browser session, put events in page order, end idle sessions.

Events are buffered per session between ticks and applied in event-time order on the tick, so records of one
session that arrive in different batches (logs and spans travel separately) are still seen in order, and the
session's segments are settled from everything that arrived in its first interval.
The service's own clock (not the browser's) decides when a session has ended.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_right, insort
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace
from functools import lru_cache
from operator import attrgetter

from .config import SessionConfig
from .events import Event, Kind, PageView, Source
from .normalize.segments import Segmenter

# Page-view signals from different instrumentations (document-load span, browser.navigation, our page_view)
# describe the same page load; within this window they are merged into one page view.
PAGE_VIEW_MERGE_NS = 5_000_000_000
MAX_PAGE_EVENTS = 512  # per page view; detectors and span events read them, so a flood can't grow memory
# Enum members bound to module names: on Python 3.11 ``Kind.CLICK`` is a class attribute read through EnumType's
# __getattr__ hook (~0.1 µs, more than the comparison), and every event is compared against several kinds.
_PAGE_VIEW, _CLICK, _JS_ERROR, _NETWORK = Kind.PAGE_VIEW, Kind.CLICK, Kind.JS_ERROR, Kind.NETWORK
_OTEL_SPANS, _FRICTION_JS = Source.OTEL_SPANS, Source.FRICTION_JS


_time = attrgetter("time_ns")  # sort keys: C getters, not Python functions called per event
_start = attrgetter("start_ns")


@lru_cache(maxsize=4096)  # a tick's outputs come a session at a time; the ids are asked for once per span and metric
def session_trace_ids(session_id: str) -> tuple[bytes, bytes]:
    """Trace id and root span id derived from the session id, so replicas and restarts agree."""
    digest = hashlib.blake2b(session_id.encode("utf-8", "surrogatepass"), digest_size=24, person=b"otel-friction").digest()
    return digest[:16], digest[16:]


# Its own generator, not the random module's: span ids must not depend on, or disturb, whatever else in the process
# seeds or draws from the shared one (hypothesis flags draws from it while it generates test data).
_SPAN_IDS = random.Random()


def new_span_id() -> bytes:
    return (_SPAN_IDS.getrandbits(64) or 1).to_bytes(8, "big")  # all-zero span ids are invalid


def _shifted(e: Event, offset_ns: int) -> Event:
    return replace(e, time_ns=e.time_ns + offset_ns) if offset_ns else e


@dataclass(slots=True, eq=False)
class Page:
    span_id: bytes
    index: int
    route: str
    url: str | None
    start_ns: int
    nav_type: str | None
    end_ns: int | None = None
    clicks: int = 0
    errors: int = 0
    network: int = 0
    events: list[Event] | tuple = ()  # in time order; detectors read them, some become span events (a list once used)
    links: list[tuple[bytes, bytes]] | tuple = ()  # a list once there is one (most pages have none)
    exported: bool = False


@dataclass(slots=True, eq=False)
class Session:
    """One open browser session. Kept for every active session, so nothing derivable is stored (ids, page starts)."""

    id: str
    service_name: str
    created: float  # service clock
    last_seen: float  # service clock: last arrival
    service_version: str | None = None
    start_ns: int = 0
    last_ns: int = 0
    device: str = "unknown"
    visitor: str = "new"
    source: str = "direct"
    landing_url: str | None = None
    user_agent: str | None = None
    announced: bool = False
    pages: list[Page] = field(default_factory=list)  # in start order
    page_views: int = 0
    clicks: int = 0
    errors: int = 0
    links: list[tuple[bytes, bytes]] | tuple = ()  # created on first use: kept for every open session
    pending: list[Event] | tuple = ()
    user_id: str | None = None
    friction_js: bool = False  # the browser runs otel-friction.js, which reports every click itself
    clock_offset_ns: int = 0  # added to every event time: the device clock's error (SessionTable._clock_offset)

    @property
    def trace_id(self) -> bytes:
        return session_trace_ids(self.id)[0]

    @property
    def root_span_id(self) -> bytes:
        return session_trace_ids(self.id)[1]


@dataclass(frozen=True, slots=True)
class Closed:
    """What is remembered of an ended session: late clicks and errors still land in its trace and metrics; no late
    event restarts it (late page views, scrolls and form events are only counted as late)."""

    id: str
    service_name: str
    trace_id: bytes
    root_span_id: bytes
    device: str
    clock_offset_ns: int = 0


# Outputs of a tick, in the order they happened; detect and emit consume them.
@dataclass(frozen=True, slots=True)
class SessionStarted:
    session: Session


@dataclass(frozen=True, slots=True)
class PageStarted:
    session: Session
    page: Page


@dataclass(frozen=True, slots=True)
class PageEnded:
    session: Session
    page: Page


@dataclass(frozen=True, slots=True)
class Happened:
    session: Session
    page: Page | None
    event: Event


@dataclass(frozen=True, slots=True)
class SessionEnded:
    session: Session
    reason: str  # inactivity | max_age | evicted | shutdown


@dataclass(frozen=True, slots=True)
class Late:
    closed: Closed
    event: Event


Output = SessionStarted | PageStarted | PageEnded | Happened | SessionEnded | Late


class SessionTable:
    def __init__(self, cfg: SessionConfig, segmenter: Segmenter):
        self.cfg = cfg
        self.segmenter = segmenter
        self.sessions: OrderedDict[str, Session] = OrderedDict()  # least recently seen first
        self.closed: OrderedDict[str, Closed] = OrderedDict()
        self.known_users: OrderedDict[str, None] = OrderedDict()
        self.dirty: dict[str, None] = {}  # sessions with buffered events, in arrival order (a set's order would vary per run)
        self.late: list[Late] = []
        # Pages that ended (or took a late event after ending) in this tick: every stage reads an ended page's events in
        # the tick it ends (detect's final evaluation, its span, the report's click map), so the next tick lets them go.
        # An open session otherwise held every event of every page it had seen: about 20 KB for a 26-event visit.
        self._release: list[Page] = []
        self.evicted = 0
        self.clock_corrected = 0  # sessions whose event times were shifted, since the pipeline last counted them
        self.drops: Counter = Counter()
        self._drift_min_ns = None if cfg.clock_drift_min_seconds is None else int(cfg.clock_drift_min_seconds * 1e9)

    def __len__(self) -> int:
        return len(self.sessions)

    def add(self, event: Event, now: float) -> list[Output]:
        """Buffer one normalized event; returns outputs only when a session had to be evicted for room."""
        sid = event.session_id
        session = self.sessions.get(sid)
        out: list[Output] = []
        if session is None:
            closed = self.closed.get(sid)
            if closed is not None:
                self.late.append(Late(closed, _shifted(event, closed.clock_offset_ns)))
                return out
            if len(self.sessions) >= self.cfg.max_sessions:
                _, victim = self.sessions.popitem(last=False)
                self.evicted += 1
                out.extend(self._end(victim, "evicted", now))
            session = Session(id=sid, service_name=event.service_name, created=now, last_seen=now, service_version=event.service_version,
                              clock_offset_ns=self._clock_offset(event, now))
            self.sessions[sid] = session
        elif now - session.created >= self.cfg.max_age_seconds:
            # Checked here, not by scanning every session each tick: a session that stops before max_age ends by
            # inactivity anyway. The event goes to the ended session as a late one, as after any end.
            del self.sessions[sid]
            out.extend(self._end(session, "max_age", now))
            self.late.append(Late(self.closed[sid], _shifted(event, session.clock_offset_ns)))
            return out
        else:
            self.sessions.move_to_end(sid)
            session.last_seen = now
        if session.clock_offset_ns:
            event = _shifted(event, session.clock_offset_ns)
        if session.pending:
            session.pending.append(event)
        else:
            session.pending = [event]
        self.dirty[sid] = None
        return out

    def tick(self, now: float, *, final: bool = False) -> list[Output]:
        """Apply buffered events in time order, then end idle sessions (all, if ``final``; too old ones end in ``add``)."""
        out: list[Output] = []
        for page in self._release:
            page.events = ()
        self._release.clear()
        for sid in list(self.dirty):
            session = self.sessions.get(sid)
            if session is not None and session.pending:
                self._apply(session, out)
        self.dirty.clear()
        out.extend(self.late)
        self.late.clear()
        # The table is in last-seen order, so idle sessions are at its front: a tick touches only those it ends.
        idle_before = now - self.cfg.inactivity_timeout_seconds
        while self.sessions:
            session = self.sessions[next(iter(self.sessions))]
            if not final and session.last_seen > idle_before:
                break
            del self.sessions[session.id]
            out.extend(self._end(session, "shutdown" if final else "inactivity", now))
        return out

    # -------------------------------------------------------------------------------------- internals

    def _clock_offset(self, first: Event, now: float) -> int:
        """How far the device clock is off, judged on a session's first event: browsers send within seconds of the
        event, so a gap of most of an hour or more (time zones, a clock set by hand, a dead CMOS battery) is the
        device's clock, not the network. Events then land in the right hour of the report and the trace at the time
        it happened. Drifts below the threshold are left alone: there a delayed send can't be told from a clock."""
        if self._drift_min_ns is None:
            return 0
        drift = int(now * 1e9) - first.time_ns
        if abs(drift) < self._drift_min_ns:
            return 0
        self.clock_corrected += 1
        return drift

    def _announce(self, s: Session, events: list[Event]) -> None:
        first = events[0]
        s.start_ns = first.time_ns
        devices = [e.device for e in events if e.device and e.device != "unknown"]
        s.device = devices[0] if devices else "unknown"
        landing = next((e for e in events if e.kind is _PAGE_VIEW and e.url), None) or next((e for e in events if e.url), None)
        s.landing_url = landing.url if landing else None
        referrer = next((e.detail.referrer for e in events if isinstance(e.detail, PageView) and e.detail.referrer), None)
        s.source = self.segmenter.source(s.landing_url, referrer)
        s.user_agent = next((e.client.user_agent for e in events if e.client.user_agent), None)
        s.user_id = next((e.client.user_id for e in events if e.client.user_id), None)
        returning = any(e.client.previous_session for e in events) or (s.user_id is not None and s.user_id in self.known_users)
        s.visitor = "returning" if returning else "new"
        if s.user_id is not None:
            self.known_users[s.user_id] = None
            self.known_users.move_to_end(s.user_id)
            if len(self.known_users) > self.cfg.closed_memory:
                self.known_users.popitem(last=False)
        s.announced = True

    def _apply(self, s: Session, out: list[Output]) -> None:
        events = sorted(s.pending, key=_time)
        s.pending = ()
        if not s.announced:
            self._announce(s, events)
            out.append(SessionStarted(s))
        s.friction_js = s.friction_js or any(e.source is _FRICTION_JS for e in events)
        for e in events:
            kind, t = e.kind, e.time_ns
            if kind is _CLICK and e.source is _OTEL_SPANS and s.friction_js:
                # The same physical click, also seen by user-interaction: keep only its link, don't count it twice.
                page = self._page_for(s, e, out)
                if page is not None:
                    self._link(page, e)
                self.drops["duplicate_click"] += 1
                continue
            if s.start_ns == 0 or t < s.start_ns:
                s.start_ns = t
            if t > s.last_ns:
                s.last_ns = t
            if e.trace_id and (kind is _PAGE_VIEW or kind is _CLICK):
                self._link(s, e)
            current = s.pages[-1] if s.pages else None
            if kind is not _PAGE_VIEW and current is not None and t >= current.start_ns \
                    and (e.route is None or e.route == current.route):
                page = current  # an event of the current page view (most events): what _page_for finds first
            else:
                page = self._page_for(s, e, out)
            if kind is _PAGE_VIEW:
                continue
            if kind is _CLICK:
                s.clicks += 1
                if page is not None:
                    page.clicks += 1
            elif kind is _JS_ERROR:
                s.errors += 1
                if page is not None:
                    page.errors += 1
            elif kind is _NETWORK and page is not None:
                page.network += 1
            if page is not None:
                held = page.events
                if not held:
                    page.events = [e]
                elif len(held) < MAX_PAGE_EVENTS:
                    if t < held[-1].time_ns:
                        insort(held, e, key=_time)  # a late arrival from an earlier tick
                    else:
                        held.append(e)
                else:
                    self.drops["page_event_limit"] += 1
                if page.end_ns is not None:
                    self._release.append(page)  # a late event for an ended page: let it go again
            out.append(Happened(s, page, e))

    def _page_for(self, s: Session, e: Event, out: list[Output]) -> Page | None:
        """The page view an event belongs to; starts a new one for page views and for events on a new route."""
        pages = s.pages
        if pages and e.time_ns >= pages[-1].start_ns:
            i = len(pages) - 1  # the current page view (the usual case): no search needed
        else:
            i = bisect_right(pages, e.time_ns, key=_start) - 1
        at = pages[i] if i >= 0 else None
        if e.kind is _PAGE_VIEW:
            if at is not None and at.url == e.url and e.time_ns - at.start_ns < PAGE_VIEW_MERGE_NS:
                self._link(at, e)
                return at
            nxt = s.pages[i + 1] if i + 1 < len(s.pages) else None
            same_load = nxt is not None and nxt.url == e.url and nxt.start_ns - e.time_ns < PAGE_VIEW_MERGE_NS
            if nxt is not None and not nxt.exported and (same_load or (nxt.nav_type == "implicit" and nxt.route == e.route)):
                # An event that arrived first opened this page view: an error before its page's load span, or another
                # instrumentation's page view of the same load (document-load spans start at navigation, before the
                # page's own scripts run). It is the same page, so it takes the earlier start instead of counting twice.
                nxt.start_ns = e.time_ns
                nxt.nav_type = e.detail.nav_type if isinstance(e.detail, PageView) else nxt.nav_type
                if at is not None and at.end_ns is not None and at.end_ns > e.time_ns:
                    at.end_ns = e.time_ns
                self._link(nxt, e)
                return nxt
            return self._start_page(s, e, i + 1, out)
        if e.route is None or (at is not None and at.route == e.route):
            return at if at is not None else (s.pages[0] if s.pages else None)
        # A different route: an event still in flight from a recent page (a scroll summary sent on leaving)
        # belongs to that page; otherwise the sender has no page events and the route change is the page view.
        for back in range(i - 1, max(i - 3, -1), -1):
            if s.pages[back].route == e.route:
                return s.pages[back]
        if at is None and s.pages:
            return s.pages[0]  # earlier than every page: the session's first page
        return self._start_page(s, e, i + 1, out)

    def _start_page(self, s: Session, e: Event, pos: int, out: list[Output]) -> Page:
        nav = e.detail.nav_type if isinstance(e.detail, PageView) else "implicit"
        page = Page(span_id=new_span_id(), index=s.page_views, route=e.route or "unknown", url=e.url, start_ns=e.time_ns, nav_type=nav)
        if e.kind is _PAGE_VIEW:
            self._link(page, e)
        s.page_views += 1
        s.pages.insert(pos, page)
        if pos > 0 and s.pages[pos - 1].end_ns is None:
            prev = s.pages[pos - 1]
            prev.end_ns = e.time_ns
            out.append(PageEnded(s, prev))
            self._release.append(prev)
        if pos + 1 < len(s.pages):
            page.end_ns = s.pages[pos + 1].start_ns  # a late page view slotted in before a known one
        out.append(PageStarted(s, page))
        if page.end_ns is not None:
            out.append(PageEnded(s, page))
            self._release.append(page)
        if len(s.pages) > self.cfg.max_page_views:
            s.pages.pop(0)
        return page

    def _link(self, holder: Session | Page, e: Event) -> None:
        """Link the browser SDK's own span (document load, click) from a session or page view, up to max_links."""
        if not e.trace_id or len(holder.links) >= self.cfg.max_links:
            return
        if holder.links:
            holder.links.append((e.trace_id, e.span_id))
        else:
            holder.links = [(e.trace_id, e.span_id)]

    def _end(self, s: Session, reason: str, now: float) -> list[Output]:
        out: list[Output] = []
        if s.pending:
            self._apply(s, out)
        for page in s.pages:
            if page.end_ns is None:
                page.end_ns = max(s.last_ns, page.start_ns)
                out.append(PageEnded(s, page))
        self.dirty.pop(s.id, None)
        self.closed[s.id] = Closed(s.id, s.service_name, s.trace_id, s.root_span_id, s.device, s.clock_offset_ns)
        if len(self.closed) > self.cfg.closed_memory:
            self.closed.popitem(last=False)
        out.append(SessionEnded(s, reason))
        return out
