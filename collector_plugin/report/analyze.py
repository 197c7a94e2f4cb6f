"""Build the anomaly report from stored hourly aggregates: windows, tests, correction, ranking, advice, heatmaps."""

from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from ..config import DetectConfig, ReportConfig
from .aggregate import KINDS, funnel_pages
from .rules import Context, advise
from .stats import benjamini_hochberg, bonferroni, two_proportion_z
from .store import ReportStore

MIN_AFFECTED = 5  # fewer affected sessions than this is never a finding, whatever the p value


@dataclass
class Finding:
    kind: str
    service: str
    page: str
    segment: str  # "device=mobile", or "all"
    sessions: int
    affected: int
    share: float
    baseline_sessions: int
    baseline_affected: int
    baseline_share: float
    lift: float
    p_value: float
    q_value: float
    excess_sessions: float  # affected beyond what the baseline share predicts
    funnel_weight: float
    impact: float  # excess sessions x funnel weight
    elements: list[tuple[str, int, float]]  # (element, count in window, expected from baseline)
    cause: str
    next_step: str
    rule: str
    also_in: list[str] = field(default_factory=list)
    heatmap: str | None = None
    rank: int = 0

    @property
    def score(self) -> float:
        return round(min(-math.log10(max(self.q_value, 1e-300)), 300.0), 3)


@dataclass
class PageStatus:
    service: str
    page: str
    sessions: int
    baseline_sessions: int
    judged: bool
    note: str
    findings: int = 0


@dataclass
class Report:
    generated_at: float
    now: float
    current: tuple[float, float]  # [start, end) epoch seconds
    baseline: list[tuple[float, float]]
    findings: list[Finding]
    pages: list[PageStatus]
    fixed: dict[str, list[tuple[str, int]]]  # "service page" → sticky/fixed elements and their clicks
    tests: int
    settings: dict
    heatmaps: dict[str, bytes] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("heatmaps")
        for f, fd in zip(self.findings, d["findings"]):
            fd["score"] = f.score
        return d


def windows(now: float, cfg: ReportConfig) -> tuple[list[int], list[int]]:
    """Hour indexes of the current window (ending with the hour ``now`` is in) and of its baseline."""
    h = int(now // 3600)
    k = cfg.current_window_hours
    current = list(range(h - k + 1, h + 1))
    if cfg.baseline_mode == "same_hours":
        baseline = [c - 24 * d for d in range(1, cfg.baseline_days + 1) for c in current]
    else:
        baseline = list(range(h - k - cfg.baseline_hours + 1, h - k + 1))
    return current, sorted(baseline)


def _spans(hours: list[int]) -> list[tuple[float, float]]:
    out: list[list[int]] = []
    for h in sorted(hours):
        if out and out[-1][1] == h:
            out[-1][1] = h + 1
        else:
            out.append([h, h + 1])
    return [(a * 3600.0, b * 3600.0) for a, b in out]


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", "-".join(parts)).strip("-").lower()[:120] or "page"


def build_report(store: ReportStore, cfg: ReportConfig, detect: DetectConfig, now: float, *, heatmaps: bool = True,
                 progress: Callable[[str, int, int], None] | None = None, clock: Callable[[], float] = time.time) -> Report:
    cur_h, base_h = windows(now, cfg)
    if progress:
        progress("reading aggregates", 0, 2)
    cur = store.counts(cur_h)
    base = store.counts(base_h)
    if progress:
        progress("reading aggregates", 2, 2)
    weights = funnel_pages(detect)

    def weight(page: str) -> float:
        return max((w for _, _, rx, w in weights if rx.search(page)), default=1.0)

    pages: list[PageStatus] = []
    tests: list[tuple] = []  # (service, page, dim, value, kind, a1, n1, a0, n0)
    page_keys = sorted({(svc, page) for (svc, page, dim, val, metric) in cur if dim == "all" and metric == "sessions"})
    for svc, page in page_keys:
        n1 = cur.get((svc, page, "all", "all", "sessions"), 0)
        n0 = base.get((svc, page, "all", "all", "sessions"), 0)
        if n1 < cfg.min_page_sessions:
            pages.append(PageStatus(svc, page, n1, n0, False, f"lacks data: {n1} sessions in the current window, "
                                                              f"at least {cfg.min_page_sessions} needed"))
            continue
        if n0 < cfg.min_page_sessions:
            pages.append(PageStatus(svc, page, n1, n0, False, f"lacks baseline data: {n0} sessions in the baseline, "
                                                              f"at least {cfg.min_page_sessions} needed"))
            continue
        segs = sorted({(dim, val) for (s, p, dim, val, metric) in cur if s == svc and p == page and metric == "sessions"})
        judged_segments = 0
        for dim, val in segs:
            s1 = cur.get((svc, page, dim, val, "sessions"), 0)
            s0 = base.get((svc, page, dim, val, "sessions"), 0)
            need = cfg.min_page_sessions if dim == "all" else cfg.min_segment_sessions
            if s1 < need or s0 < need:
                continue
            judged_segments += 1
            for kind in KINDS:
                a1 = cur.get((svc, page, dim, val, "aff:" + kind), 0)
                if a1 == 0:
                    continue
                tests.append((svc, page, dim, val, kind, min(a1, s1), s1, min(base.get((svc, page, dim, val, "aff:" + kind), 0), s0), s0))
        pages.append(PageStatus(svc, page, n1, n0, True, f"judged: page and {judged_segments - 1} segment(s) with enough sessions"))

    findings: list[Finding] = []
    if tests:
        arr = np.array([t[5:] for t in tests], dtype=float)
        _, p = two_proportion_z(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])
        q = benjamini_hochberg(p) if cfg.correction == "bh" else bonferroni(p)
        best: dict[tuple[str, str, str], Finding] = {}
        flagged: dict[tuple[str, str, str], list[str]] = {}
        for t, pv, qv in zip(tests, p, q):
            svc, page, dim, val, kind, a1, n1, a0, n0 = t
            p1, p0 = a1 / n1, a0 / n0
            lift = p1 / p0 if p0 > 0 else float("inf")
            if qv > cfg.alpha or a1 < MIN_AFFECTED or lift < cfg.min_lift:
                continue
            segment = "all" if dim == "all" else f"{dim}={val}"
            key = (svc, page, kind)
            flagged.setdefault(key, []).append(segment)
            excess = a1 - p0 * n1
            w = weight(page)
            f = Finding(kind, svc, page, segment, n1, a1, round(p1, 5), n0, a0, round(p0, 5), round(lift, 3) if lift != float("inf") else 1e9,
                        float(pv), float(qv), round(excess, 1), w, round(excess * w, 1), [], "", "", "")
            cur_best = best.get(key)
            # One finding per page and kind: the segment where the share rose most explains the others.
            if cur_best is None or (p1 - p0) > (cur_best.share - cur_best.baseline_share):
                best[key] = f
        meta = store.meta()
        for key, f in best.items():
            f.also_in = [s for s in flagged[key] if s != f.segment]
            _explain(store, f, cur_h, base_h, meta)
            findings.append(f)
    # At most max_findings_per_page per page, by impact; then ranked overall.
    by_page: dict[tuple[str, str], list[Finding]] = {}
    for f in sorted(findings, key=lambda f: (-f.impact, f.q_value)):
        by_page.setdefault((f.service, f.page), []).append(f)
    findings = [f for fs in by_page.values() for f in fs[: cfg.max_findings_per_page]]
    findings.sort(key=lambda f: (-f.impact, f.q_value))
    for i, f in enumerate(findings, 1):
        f.rank = i
    for ps in pages:
        ps.findings = sum(1 for f in findings if f.service == ps.service and f.page == ps.page)

    fixed: dict[str, list[tuple[str, int]]] = {}
    for ps in pages:
        els = store.elements(ps.service, ps.page, "all", "all", cur_h)
        sticky = sorted(((el, n) for (k, el), n in els.items() if k == "fixed_click"), key=lambda x: -x[1])[:10]
        if sticky:
            fixed[f"{ps.service} {ps.page}"] = sticky

    rep = Report(clock(), now, (cur_h[0] * 3600.0, (cur_h[-1] + 1) * 3600.0), _spans(base_h), findings,
                 sorted(pages, key=lambda p: (not p.judged, -p.sessions)), fixed, len(tests),
                 {"current_window_hours": cfg.current_window_hours, "baseline_mode": cfg.baseline_mode, "baseline_days": cfg.baseline_days,
                  "baseline_hours": cfg.baseline_hours, "alpha": cfg.alpha, "correction": cfg.correction, "min_lift": cfg.min_lift,
                  "min_page_sessions": cfg.min_page_sessions, "min_segment_sessions": cfg.min_segment_sessions})
    if heatmaps:
        from .heatmap import finding_heatmap

        for i, f in enumerate(findings):
            if progress:
                progress("rendering heatmaps", i, len(findings))
            name = _slug(f"{f.rank:02d}", f.service, f.page, f.segment, f.kind)
            rep.heatmaps[name] = finding_heatmap(store, cfg, f, cur_h, base_h)
            f.heatmap = name
        if progress:
            progress("rendering heatmaps", len(findings), len(findings))
    return rep


def _split(segment: str) -> tuple[str, str]:
    return ("all", "all") if segment == "all" else tuple(segment.split("=", 1))  # type: ignore[return-value]


def _explain(store: ReportStore, f: Finding, cur_h: list[int], base_h: list[int], meta: dict) -> None:
    dim, val = _split(f.segment)
    e1 = store.elements(f.service, f.page, dim, val, cur_h)
    e0 = store.elements(f.service, f.page, dim, val, base_h)
    scale = f.sessions / f.baseline_sessions if f.baseline_sessions else 0.0
    rows = []
    for (k, el), n in e1.items():
        if k == f.kind:
            expected = e0.get((k, el), 0) * scale
            rows.append((el, n, round(expected, 1)))
    rows.sort(key=lambda r: (-(r[1] - r[2]), -r[1]))
    f.elements = rows[:5]
    top = rows[0][0] if rows else None
    tag, interactive = meta.get((f.service, f.page, top), ("", -1)) if top else ("", -1)
    ctx = Context(top, (tag or "").upper(), interactive,
                  error_clicks=e1.get(("error_click", top), 0) if top else 0,
                  form_errors=e1.get(("form_abandonment_errors", top), 0) if top else 0,
                  after_error=e1.get(("dropoff_after_error", top), 0) if top else 0,
                  affected=f.affected)
    f.cause, f.next_step, f.rule = advise(f.kind, ctx)
