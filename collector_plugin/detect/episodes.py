"""What detectors find: friction episodes, each with the event time after which it can no longer change."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Signal(enum.Enum):
    RAGE_CLICK = "rage_click"
    DEAD_CLICK = "dead_click"
    ERROR_CLICK = "error_click"
    EXCESSIVE_SCROLL = "excessive_scroll"
    DEAD_SCROLL = "dead_scroll"
    QUICK_BACK = "quick_back"
    CONFUSION_LOOP = "confusion_loop"
    FORM_ABANDONMENT = "form_abandonment"

    __hash__ = object.__hash__  # identity, as equality: Enum.__hash__ is Python code, and episode keys are hashed often


@dataclass(frozen=True, slots=True)
class Episode:
    signal: Signal
    start_ns: int
    end_ns: int
    # Event time from which later events of the session can't change this episode (a burst might still grow
    # before it). The stage emits an episode once the session's events have moved past it, its page has
    # ended, or the session has been quiet for a while.
    final_after_ns: int
    element: str | None = None
    count: int = 1
    inferred: bool = False
    details: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> tuple:
        return (self.signal, self.start_ns, self.element)
