"""Page-level signals: excessive and dead scrolling, form abandonment. Pure functions over one page view."""

from __future__ import annotations

from typing import Sequence

from ..config import DetectConfig
from ..events import Event, FormField, Kind, Scroll
from .episodes import Episode, Signal

# Members bound to module names: ``Kind.X`` is a slow class attribute read on Python 3.11 (see sessionize.py).
_CLICK, _SCROLL = Kind.CLICK, Kind.SCROLL
_FORM_FOCUS, _FORM_BLUR, _FORM_ERROR, _FORM_SUBMIT = Kind.FORM_FOCUS, Kind.FORM_BLUR, Kind.FORM_ERROR, Kind.FORM_SUBMIT
_FORM_KINDS = (_FORM_FOCUS, _FORM_BLUR, _FORM_ERROR, _FORM_SUBMIT)
_FIELD_KINDS = (_FORM_FOCUS, _FORM_BLUR, _FORM_ERROR)  # a field touched


def excessive_scrolls(events: Sequence[Event], cfg: DetectConfig, baseline_reversals: float) -> list[Episode]:
    """Deep scrolling back and forth, more than this page's visitors usually do (Clarity's definition, with numbers)."""
    need = max(cfg.scroll_min_reversals, cfg.scroll_baseline_factor * baseline_reversals)
    out = []
    for e in events:
        d = e.detail
        if e.kind is _SCROLL and isinstance(d, Scroll) and (d.max_depth or 0) >= cfg.scroll_min_depth \
                and (d.direction_changes or 0) >= need:
            out.append(Episode(Signal.EXCESSIVE_SCROLL, e.time_ns, e.time_ns, e.time_ns, count=d.direction_changes or 0,
                               details=(("browser.scroll.max_depth", d.max_depth), ("rum.scroll.baseline_reversals", baseline_reversals))))
    return out


def dead_scroll(events: Sequence[Event], cfg: DetectConfig, page_ended: bool) -> list[Episode]:
    """Scrolled deep, engaged with nothing: the content didn't hold. Decided only once the page view is over."""
    if not page_ended:
        return []
    deep = [e for e in events if e.kind is _SCROLL and isinstance(e.detail, Scroll) and (e.detail.max_depth or 0) >= cfg.dead_scroll_min_depth]
    if not deep or any(e.kind is _CLICK or e.kind in _FORM_KINDS for e in events):
        return []
    e = deep[-1]
    return [Episode(Signal.DEAD_SCROLL, e.time_ns, e.time_ns, e.time_ns, details=(("browser.scroll.max_depth", e.detail.max_depth),))]


def forms_started(events: Sequence[Event]) -> list[tuple[str, int]]:
    """(form, time of first focus) for every form the user began on this page view."""
    seen: dict[str, int] = {}
    for e in events:
        if e.kind is _FORM_FOCUS and isinstance(e.detail, FormField):
            seen.setdefault(e.detail.form, e.time_ns)
    return list(seen.items())


def form_abandonments(events: Sequence[Event], page_ended: bool) -> list[Episode]:
    """A form begun (a field focused) and not submitted before the user moved on or the session ended."""
    if not page_ended:
        return []
    out = []
    by_form: dict[str, list[Event]] = {}
    for e in events:
        if e.kind in _FORM_KINDS and isinstance(e.detail, FormField):
            by_form.setdefault(e.detail.form, []).append(e)
    for form, evs in by_form.items():
        focus = [e for e in evs if e.kind is _FORM_FOCUS]
        if not focus:
            continue
        last_submit = max((e.time_ns for e in evs if e.kind is _FORM_SUBMIT), default=None)
        if last_submit is not None and last_submit >= focus[-1].time_ns:
            continue
        touched = [e for e in evs if e.kind in _FIELD_KINDS]
        last_field = touched[-1].detail.field or "unknown"
        errors = sum(1 for e in evs if e.kind is _FORM_ERROR)
        errored: set[str] = set()
        retries = 0
        for e in evs:
            if e.kind is _FORM_ERROR:
                errored.add(e.detail.field or "")
            elif e.kind is _FORM_FOCUS and (e.detail.field or "") in errored:
                retries += 1
        time_in_last = sum(e.detail.duration_ms or 0 for e in evs if e.kind is _FORM_BLUR and e.detail.field == touched[-1].detail.field)
        out.append(Episode(Signal.FORM_ABANDONMENT, focus[0].time_ns, evs[-1].time_ns, evs[-1].time_ns, element=form,
                           details=(("browser.form.id", form), ("rum.form.last_field", last_field), ("rum.form.field_errors", errors),
                                    ("rum.form.retries", retries), ("rum.form.last_field_duration_ms", time_in_last))))
    return out
