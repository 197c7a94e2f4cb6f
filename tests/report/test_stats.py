import math

import numpy as np

from collector_plugin.report.heatmap import histograms, peaks, render, write_png
from collector_plugin.report.stats import benjamini_hochberg, bonferroni, two_proportion_z
from collector_plugin.report.store import Batch, MemoryStore, SqliteStore


def test_two_proportion_z_matches_the_textbook_value():
    z, p = two_proportion_z(60, 300, 40, 300)
    pooled = 100 / 600
    expected_z = (0.2 - 40 / 300) / math.sqrt(pooled * (1 - pooled) * (2 / 300))
    assert float(z) == __import__("pytest").approx(expected_z)
    assert float(p) == __import__("pytest").approx(0.5 * math.erfc(expected_z / math.sqrt(2)))
    assert float(two_proportion_z(40, 300, 60, 300)[1]) > 0.5  # one-sided: a drop is not a finding


def test_benjamini_hochberg_and_bonferroni():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    assert np.allclose(benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02])
    assert np.allclose(bonferroni(p), [0.04, 0.16, 0.12, 0.02])
    assert benjamini_hochberg([]).size == 0


def test_png_is_valid_and_sized():
    png = write_png(np.zeros((5, 7, 3)))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 7 and int.from_bytes(png[20:24], "big") == 5
    img = render([(10, 5, 30, 4, 0), (11, 5, 10, 0, 6)], [(10, 5, 20, 0, 0)], 100, 300, 40, 150, 48)
    w, h = int.from_bytes(img[16:20], "big"), int.from_bytes(img[20:24], "big")
    assert w > 400 and h > 100


def test_histogram_and_marker_peaks():
    clicks, rage, dead = histograms([(3, 4, 10, 0, 5), (4, 4, 2, 0, 1), (20, 30, 7, 3, 0)], 48, 40)
    assert clicks.sum() == 19 and clicks[4, 3] == 10 and rage[30, 20] == 3
    assert len(peaks(dead)) == 1  # jittered neighbours are one spot


def test_memory_and_sqlite_stores_agree_and_increments_count_for_each_segment(tmp_path):
    mobile, desktop = (("all", "all"), ("device", "mobile")), (("all", "all"), ("device", "desktop"))
    b = Batch()
    b.counts[("svc", 5, "/p", mobile, "sessions")] += 3
    b.counts[("svc", 6, "/p", mobile, "sessions")] += 2
    b.counts[("svc", 6, "/p", desktop, "sessions")] += 1
    b.cell(("svc", 5, "/p", mobile, 1, 2), clicks=4, dead=1)
    b.cell(("svc", 5, "/p", desktop, 1, 2), clicks=1)
    b.elements[("svc", 5, "/p", mobile, "dead_click", "img")] += 1
    b.meta[("svc", "/p", "img")] = ("IMG", 0)
    stores = [MemoryStore(), SqliteStore(tmp_path / "s.sqlite")]
    for s in stores:
        s.add(b)
        s.add(b)
    for s in stores:
        assert s.counts([5, 6]) == {("svc", "/p", "device", "mobile", "sessions"): 10, ("svc", "/p", "all", "all", "sessions"): 12,
                                    ("svc", "/p", "device", "desktop", "sessions"): 2}
        assert [tuple(r) for r in s.cells("svc", "/p", "device", "mobile", [5])] == [(1, 2, 8, 0, 2)]
        assert [tuple(r) for r in s.cells("svc", "/p", "all", "all", [5])] == [(1, 2, 10, 0, 2)]
        assert s.elements("svc", "/p", "device", "mobile", [5]) == {("dead_click", "img"): 2}
        assert s.elements("svc", "/p", "all", "all", [5]) == {("dead_click", "img"): 2}
        assert s.meta() == {("svc", "/p", "img"): ("IMG", 0)}
        assert s.hour_range() == (5, 6)
