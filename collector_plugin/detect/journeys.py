"""Session-level signals over the sequence of page views: quick backs, confusion loops, funnel progress."""

from __future__ import annotations

import re
from typing import Sequence

from ..config import DetectConfig, Funnel
from .episodes import Episode, Signal

Visit = tuple[str, str, int]  # (route template, URL path, start time ns): paths tell /product/1 from /product/2


def quick_backs(visits: Sequence[Visit], cfg: DetectConfig) -> list[Episode]:
    """A→B→A with B left within the threshold: B didn't give the user what the link promised."""
    limit = int(cfg.quick_back_max_seconds * 1e9)
    paths = [v[1] for v in visits]
    out = []
    for i in range(1, len(paths) - 1):
        if paths[i - 1] == paths[i + 1] and paths[i - 1] != paths[i]:  # most visits: no A→B→A, nothing to unpack
            (ra, _, _), (rb, _, tb), (_, _, tc) = visits[i - 1], visits[i], visits[i + 1]
            if tc - tb <= limit:
                out.append(Episode(Signal.QUICK_BACK, tb, tc, tc, details=(("url.template", rb), ("rum.previous_page", ra))))
    return out


def confusion_loops(visits: Sequence[Visit], cfg: DetectConfig) -> list[Episode]:
    """A→B→A→B within the window: the user is going round in circles between two pages."""
    limit = int(cfg.loop_max_seconds * 1e9)
    paths = [v[1] for v in visits]
    out = []
    i = 0
    while i + 3 < len(paths):
        if paths[i] == paths[i + 2] and paths[i + 1] == paths[i + 3] and paths[i] != paths[i + 1] \
                and visits[i + 3][2] - visits[i][2] <= limit:
            out.append(Episode(Signal.CONFUSION_LOOP, visits[i][2], visits[i + 3][2], visits[i + 3][2],
                               details=(("url.template", visits[i][0]), ("rum.loop.other_page", visits[i + 1][0]))))
            i += 3
        else:
            i += 1
    return out


class FunnelMatcher:
    """Ordered funnel: step k counts only once the steps before it were reached, as analysts read a funnel."""

    def __init__(self, funnel: Funnel):
        self.funnel = funnel
        self._routes = [re.compile(s.route) if s.route else None for s in funnel.steps]
        self._events = [s.event for s in funnel.steps]

    def matches(self, step: int, route: str | None, event_name: str | None) -> bool:
        pattern, name = self._routes[step], self._events[step]
        return bool((pattern is not None and route is not None and pattern.search(route)) or (name and event_name == name))

    def advance(self, furthest: int, route: str | None, event_name: str | None) -> int:
        """The furthest step index after this page view or event (-1 = funnel not entered)."""
        step = furthest + 1
        return step if step < len(self._routes) and self.matches(step, route, event_name) else furthest
