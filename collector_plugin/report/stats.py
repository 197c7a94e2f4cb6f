"""Tests for proportions and multiple-comparison corrections, numpy only."""

from __future__ import annotations

import math

import numpy as np

_erfc = np.vectorize(math.erfc, otypes=[float])


def two_proportion_z(a1, n1, a0, n0) -> tuple[np.ndarray, np.ndarray]:
    """One-sided pooled two-proportion z-test of H1: a1/n1 > a0/n0. Returns (z, p). Arrays broadcast."""
    a1, n1, a0, n0 = (np.asarray(v, dtype=float) for v in (a1, n1, a0, n0))
    pooled = (a1 + a0) / (n1 + n0)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (a1 / n1 - a0 / n0) / se, 0.0)
    p = 0.5 * _erfc(z / math.sqrt(2))
    return z, np.clip(p, 0.0, 1.0)


def benjamini_hochberg(p) -> np.ndarray:
    """q values (step-up, monotone, capped at 1) in the input order."""
    p = np.asarray(p, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def bonferroni(p) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.minimum(p * p.size, 1.0)
