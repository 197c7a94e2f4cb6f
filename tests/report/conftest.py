from __future__ import annotations

import pytest

from .traffic import build_baseline, with_current

SESSIONS = 800  # per window: ~300 mobile sessions per window on /product/:id, enough for the test thresholds


@pytest.fixture(scope="package")
def corpora(tmp_path_factory):
    """One baseline (3 previous days, same hour) in SQLite, and two current hours on top of copies of it: with dead
    clicks injected on mobile product pages only, and the same traffic without the injection."""
    d = tmp_path_factory.mktemp("report")
    build_baseline(d / "baseline.sqlite", SESSIONS)
    with_current(d / "baseline.sqlite", d / "injected.sqlite", SESSIONS, inject_rate=0.3)
    with_current(d / "baseline.sqlite", d / "clean.sqlite", SESSIONS, inject_rate=0.0)
    return d
