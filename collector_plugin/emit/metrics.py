"""The rum_* metric contract, with per-batch aggregation, label caps and a series budget.

Increments are summed per (metric, labels) over a whole tick and applied with one client-library call per
distinct series, so the cost follows the number of series touched, not the number of events.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, disable_created_metrics

from ..config import MetricsConfig
from ..events import JsError, Kind
from ..sessionize import Happened, Late, Output, PageStarted, SessionStarted
from .selfmetrics import SelfMetrics

# Prometheus 2.42 stores OpenMetrics *_created samples as extra series.
disable_created_metrics()

OTHER = "other"


@dataclass(frozen=True)
class Family:
    name: str  # without _total
    help: str
    labels: tuple[str, ...]


SESSIONS_STARTED = Family("rum_sessions_started", "Browser sessions started.", ("service_name", "device", "visitor", "source"))
PAGE_VIEWS = Family("rum_page_views", "Page views (full loads and SPA route changes) by route template.", ("service_name", "page", "device"))
CLICKS = Family("rum_clicks", "Clicks by the page's route template.", ("service_name", "page", "device"))
JS_ERRORS = Family("rum_js_errors", "JavaScript errors; the exemplar is the session's trace id.", ("service_name", "page", "error_type"))

CORE_FAMILIES = (SESSIONS_STARTED, PAGE_VIEWS, CLICKS, JS_ERRORS)


class LabelBudget:
    """Caps distinct values per label and distinct series overall; overflow folds into 'other' and is counted."""

    def __init__(self, cfg: MetricsConfig, selfm: SelfMetrics):
        self._cfg = cfg
        self._selfm = selfm
        self._seen: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._series: set[tuple[str, tuple[str, ...]]] = set()

    def fit(self, family: Family, values: tuple[str, ...]) -> tuple[str, ...]:
        capped = []
        for label, value in zip(family.labels, values):
            seen = self._seen[(family.name, label)]
            if value not in seen:
                cap = self._cfg.label_caps.get(label, self._cfg.default_label_cap)
                if len(seen) >= cap:
                    self._selfm.label_overflow.labels(family.name, label).inc()
                    value = OTHER
                else:
                    seen.add(value)
            capped.append(value)
        key = (family.name, tuple(capped))
        if key not in self._series:
            if len(self._series) >= self._cfg.max_series:
                self._selfm.series_budget_exceeded.labels(family.name).inc()
                key = (family.name, tuple(OTHER if label != "service_name" else v for label, v in zip(family.labels, capped)))
            self._series.add(key)
        return key[1]


class MetricBatch:
    """Increments for one tick: summed per series, applied once."""

    def __init__(self) -> None:
        self.counts: dict[tuple[Family, tuple[str, ...]], list] = {}

    def add(self, family: Family, values: tuple[str, ...], n: float = 1, trace_id: bytes = b"") -> None:
        entry = self.counts.get((family, values))
        if entry is None:
            self.counts[(family, values)] = [n, trace_id]
        else:
            entry[0] += n
            if trace_id:
                entry[1] = trace_id


class RumMetrics:
    def __init__(self, registry: CollectorRegistry, cfg: MetricsConfig, selfm: SelfMetrics):
        self._cfg = cfg
        self._budget = LabelBudget(cfg, selfm)
        self._counters: dict[str, Counter] = {}
        self.register(CORE_FAMILIES, registry)

    def register(self, families: tuple[Family, ...], registry: CollectorRegistry) -> None:
        for f in families:
            self._counters[f.name] = Counter(f.name, f.help, f.labels, registry=registry)

    def apply(self, batch: MetricBatch) -> None:
        for (family, values), (n, trace_id) in batch.counts.items():
            child = self._counters[family.name].labels(*self._budget.fit(family, values))
            if trace_id and self._cfg.exemplars:
                child.inc(n, {"trace_id": trace_id.hex()})
            else:
                child.inc(n)


def core_increments(outputs: list[Output], batch: MetricBatch) -> None:
    """The core contract's increments for one tick's outputs."""
    for o in outputs:
        if isinstance(o, SessionStarted):
            s = o.session
            batch.add(SESSIONS_STARTED, (s.service_name, s.device, s.visitor, s.source), trace_id=s.trace_id)
        elif isinstance(o, PageStarted):
            s = o.session
            batch.add(PAGE_VIEWS, (s.service_name, o.page.route, s.device), trace_id=s.trace_id)
        elif isinstance(o, Happened):
            _event(o.event, o.session.service_name, o.page.route if o.page else "unknown", o.session.device, o.session.trace_id, batch)
        elif isinstance(o, Late):
            c = o.closed
            _event(o.event, c.service_name, o.event.route or "unknown", c.device, c.trace_id, batch)


def _event(e, service: str, page: str, device: str, trace_id: bytes, batch: MetricBatch) -> None:
    if e.kind is Kind.CLICK:
        batch.add(CLICKS, (service, page, device), trace_id=trace_id)
    elif e.kind is Kind.JS_ERROR and isinstance(e.detail, JsError):
        batch.add(JS_ERRORS, (service, page, e.detail.type), trace_id=trace_id)
