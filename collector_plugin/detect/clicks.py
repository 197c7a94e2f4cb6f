"""Rage, dead and error clicks: pure functions over one page view's events (in time order)."""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Sequence

from ..config import DetectConfig
from ..events import Click, Event, Kind, Source
from .episodes import Episode, Signal

# Clicks on these can't show a reaction we can see (typing, choosing, drawing): never dead.
_NO_REACTION_TAGS = {"INPUT", "SELECT", "TEXTAREA", "OPTION", "CANVAS", "VIDEO", "AUDIO", "IFRAME", "EMBED", "OBJECT"}
_REACTIONS = {"navigation", "mutation", "network", "scroll"}
# Members bound to module names: ``Kind.X`` is a slow class attribute read on Python 3.11 (see sessionize.py).
_CLICK, _JS_ERROR, _NETWORK = Kind.CLICK, Kind.JS_ERROR, Kind.NETWORK
_OTEL_SPANS = Source.OTEL_SPANS


def element_of(click: Click) -> str:
    """A short, stable label for the clicked element (the `element` metric label)."""
    label = click.selector or (click.tag.lower() if click.tag else "unknown")
    return label if len(label) <= 96 else label[:93] + "..."


@lru_cache(maxsize=16)
def _lowered(texts: tuple[str, ...]) -> frozenset[str]:
    return frozenset(t.lower() for t in texts)


def is_repeat_control(click: Click, ignore_texts: frozenset[str], ignore_selectors: Sequence[str]) -> bool:
    """Steppers, carousels, pagination: controls made to be clicked many times, or opted out by the page author.

    ``ignore_texts`` lower-cased (``_lowered``): the config's lists are read once per page view, not per click.
    """
    if click.ignored:
        return True
    if click.text is not None and click.text.strip().lower() in ignore_texts:
        return True
    selector = (click.selector or "").lower()
    return any(s in selector for s in ignore_selectors)


def is_selection(click: Click) -> bool:
    """A click that selected text (double/triple click): one gesture, not repeated attempts.

    ``event.detail`` alone can't tell: browsers count every rapid click on one spot (a rage burst on an image
    arrives as detail 1, 2, 3, 4, 5), so only an observed selection marks the gesture.
    """
    return click.reaction == "selection"


def _same_target(a: Click, b: Click, cfg: DetectConfig) -> bool:
    if a.selector and a.selector == b.selector:
        return True
    if None not in (a.x, a.y, b.x, b.y):
        return abs(a.x - b.x) + abs(a.y - b.y) <= cfg.rage_radius_px
    return False


def _bursts(clicks: Sequence[Event], cfg: DetectConfig) -> list[list[Event]]:
    """Runs of clicks on one target, each within the max interval of the previous."""
    gap = cfg.rage_max_interval_ms * 1_000_000
    bursts: list[list[Event]] = []
    burst: list[Event] = []
    for e in clicks:
        if burst and e.time_ns - burst[-1].time_ns <= gap and _same_target(burst[-1].detail, e.detail, cfg):
            burst.append(e)
        else:
            burst = [e]
            bursts.append(burst)
    return bursts


def _errors_after(click: Event, errors: Sequence[Event], window_ns: int) -> list[Event]:
    return [err for err in errors if click.time_ns <= err.time_ns <= click.time_ns + window_ns]


def rage_clicks(events: Sequence[Event], cfg: DetectConfig) -> list[Episode]:
    clicks = [e for e in events if e.kind is _CLICK]
    if len(clicks) < cfg.rage_min_clicks:
        return []  # no burst can be long enough (most page views)
    texts, selectors = _lowered(tuple(cfg.ignore_texts)), cfg.ignore_selectors
    clicks = [e for e in clicks if not is_selection(e.detail) and not is_repeat_control(e.detail, texts, selectors)]
    bursts = [b for b in _bursts(clicks, cfg) if len(b) >= cfg.rage_min_clicks]
    if not bursts:
        return []
    errors = [e for e in events if e.kind is _JS_ERROR]
    window = cfg.error_click_window_ms * 1_000_000
    gap = cfg.rage_max_interval_ms * 1_000_000
    out = []
    for burst in bursts:
        # Every click answered, and nothing broke: a user working a control, not fighting it.
        answered = all(c.detail.reaction in _REACTIONS for c in burst)
        if answered and not any(_errors_after(c, errors, window) for c in burst):
            continue
        out.append(Episode(Signal.RAGE_CLICK, burst[0].time_ns, burst[-1].time_ns, burst[-1].time_ns + gap,
                           element=element_of(burst[0].detail), count=len(burst)))
    return out


def _grouped(clicks: Sequence[Event], signal: Signal, cfg: DetectConfig, is_hit: Callable[[Event], tuple[bool, int, bool]],
             details: Callable[[list[Event]], tuple] = lambda g: ()) -> list[Episode]:
    """Hits on one target in a burst form one episode with a count (a rage on a dead element is one dead episode)."""
    gap = cfg.rage_max_interval_ms * 1_000_000
    out = []

    def episode(group: list[Event], final: int, inferred: bool) -> Episode:
        return Episode(signal, group[0].time_ns, group[-1].time_ns, max(final, group[-1].time_ns + gap),
                       element=element_of(group[0].detail), count=len(group), inferred=inferred, details=details(group))

    for burst in _bursts([c for c in clicks if not is_selection(c.detail)], cfg):
        group: list[Event] = []
        final, inferred = 0, False
        for c in burst:
            hit, until, guessed = is_hit(c)
            if hit:
                group.append(c)
                final = max(final, until)
                inferred = inferred or guessed
            elif group:
                out.append(episode(group, final, inferred))
                group, final, inferred = [], 0, False
        if group:
            out.append(episode(group, final, inferred))
    return out


def dead_clicks(events: Sequence[Event], cfg: DetectConfig, next_page_ns: int | None) -> list[Episode]:
    """A click the page did not react to.

    When the sender observed the page (this project's instrumentation: ``reaction``), that is the answer. Stock OTel
    click spans only exist for elements with a listener and say nothing of DOM changes, so a click with no child
    fetch/XHR and no page load soon after is marked dead with ``inferred=true``.
    """
    clicks = [e for e in events if e.kind is _CLICK]
    # Only a click the sender saw no reaction to, or one its sender can't tell about (stock spans), can be dead; most
    # page views have none, and the rest of the work is for them.
    if not any(e.detail.reaction == "none" or (e.detail.reaction is None and e.source is _OTEL_SPANS) for e in clicks):
        return []
    window = cfg.dead_click_inferred_window_ms * 1_000_000
    network_parents = {e.detail.parent_span_id for e in events if e.kind is _NETWORK and e.detail.parent_span_id}
    errors = [e for e in events if e.kind is _JS_ERROR]
    error_window = cfg.error_click_window_ms * 1_000_000
    gesture_starts = _selection_gesture_starts(clicks, cfg)

    def hit(e: Event) -> tuple[bool, int, bool]:
        c: Click = e.detail
        if c.ignored or (c.tag or "").upper() in _NO_REACTION_TAGS or id(e) in gesture_starts:
            return False, 0, False
        if errors and _errors_after(e, errors, error_window):
            return False, 0, False  # the page did react, with an error: that is an error click
        if c.reaction is not None:
            return c.reaction == "none", e.time_ns, False
        if e.source is not _OTEL_SPANS:
            return False, 0, False
        if c.network_children or e.span_id in network_parents:
            return False, 0, False
        if next_page_ns is not None and next_page_ns - e.time_ns <= window:
            return False, 0, False  # a link that loaded the next page: that load was its reaction
        return True, e.time_ns + window, True

    return _grouped(clicks, Signal.DEAD_CLICK, cfg, hit)


def _selection_gesture_starts(clicks: Sequence[Event], cfg: DetectConfig) -> set[int]:
    """The first click of a double/triple click: it selects nothing by itself, the gesture does."""
    gap = cfg.rage_max_interval_ms * 1_000_000
    return {id(a) for a, b in zip(clicks, clicks[1:])
            if is_selection(b.detail) and b.time_ns - a.time_ns <= gap and _same_target(a.detail, b.detail, cfg)}


def error_clicks(events: Sequence[Event], cfg: DetectConfig) -> list[Episode]:
    """A click followed by a JS error on the same page within the window."""
    errors = [e for e in events if e.kind is _JS_ERROR]
    if not errors:
        return []
    window = cfg.error_click_window_ms * 1_000_000

    def hit(e: Event) -> tuple[bool, int, bool]:
        return bool(_errors_after(e, errors, window)), e.time_ns + window, False

    def details(group: list[Event]) -> tuple:
        first = _errors_after(group[0], errors, window)[0]
        return (("exception.type", first.detail.type),)

    return _grouped([e for e in events if e.kind is _CLICK], Signal.ERROR_CLICK, cfg, hit, details)
