from __future__ import annotations

import pytest

from .traffic import INJECTIONS, build_baseline, clean_seeds, with_current

SESSIONS = 800  # per window: ~300 mobile sessions per window on /product/:id, enough for the test thresholds
CLEAN_SEEDS = clean_seeds(5)  # independent current hours of clean traffic; the first is the injected corpora's twin


@pytest.fixture(scope="package")
def corpora(tmp_path_factory):
    """One baseline (3 previous days, same hour) in SQLite, and two current hours on top of copies of it: with dead
    clicks injected on mobile product pages only, and the same traffic without the injection."""
    d = tmp_path_factory.mktemp("report")
    build_baseline(d / "baseline.sqlite", SESSIONS)
    with_current(d / "baseline.sqlite", d / "injected.sqlite", SESSIONS, INJECTIONS["dead_click"])
    with_current(d / "baseline.sqlite", d / "clean.sqlite", SESSIONS)
    return d


@pytest.fixture(scope="package")
def injected(corpora):
    """``injected(name)``: the store with the current hour of ``INJECTIONS[name]`` (the clean twin is clean.sqlite),
    built on first use."""

    def get(name: str):
        path = corpora / f"injected-{name}.sqlite"
        if name == "dead_click":
            return corpora / "injected.sqlite"
        if not path.exists():
            with_current(corpora / "baseline.sqlite", path, SESSIONS, INJECTIONS[name])
        return path

    return get


@pytest.fixture(scope="package")
def clean_hours(corpora):
    """Independent current hours of clean traffic on the same baseline, for the false-positive rate."""
    paths = [corpora / "clean.sqlite"]
    for seed in CLEAN_SEEDS[1:]:
        path = corpora / f"clean-{seed}.sqlite"
        with_current(corpora / "baseline.sqlite", path, SESSIONS, seed=seed)
        paths.append(path)
    return paths
