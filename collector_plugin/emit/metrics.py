"""The rum_* metric contract, with per-batch aggregation, label caps and a series budget.

Increments are summed per (metric, labels) over a whole tick and applied with one client-library call per
distinct series, so the cost follows the number of series touched, not the number of events.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from ..config import MetricsConfig
from ..events import JsError, Kind
from ..detect import Converted, DroppedOff, ErrorGroupHit, FormStarted, Found, ImpactUpdate, Signal, StepReached
from ..sessionize import Happened, Late, PageStarted, SessionStarted
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
JS_ERRORS = Family("rum_js_errors", "JavaScript errors by page and exception type.", ("service_name", "page", "error_type"))

CORE_FAMILIES = (SESSIONS_STARTED, PAGE_VIEWS, CLICKS, JS_ERRORS)

_CLICK_LABELS = ("service_name", "page", "device", "element")
_PAGE_LABELS = ("service_name", "page", "device")
_SEGMENT = ("device", "visitor", "source")
FRICTION = {
    Signal.RAGE_CLICK: Family("rum_rage_clicks", "Rage-click episodes (one per burst).", _CLICK_LABELS),
    Signal.DEAD_CLICK: Family("rum_dead_clicks", "Dead-click episodes (clicks the page did not react to).", _CLICK_LABELS),
    Signal.ERROR_CLICK: Family("rum_error_clicks", "Clicks followed by a JS error on the same page.", _CLICK_LABELS),
    Signal.EXCESSIVE_SCROLL: Family("rum_excessive_scrolls", "Page views with back-and-forth scrolling above the page's baseline.", _PAGE_LABELS),
    Signal.DEAD_SCROLL: Family("rum_dead_scrolls", "Page views scrolled deep without any click or form interaction.", _PAGE_LABELS),
    Signal.QUICK_BACK: Family("rum_quick_backs", "Pages left and returned from within seconds (labelled with the page left).", _PAGE_LABELS),
    Signal.CONFUSION_LOOP: Family("rum_confusion_loops", "A→B→A→B navigation loops (labelled with page A).", _PAGE_LABELS),
}
FORM_STARTS = Family("rum_form_starts", "Forms begun (first field focused).", ("service_name", "page", "form"))
FORM_ABANDONMENTS = Family("rum_form_abandonments", "Forms begun and not submitted.", ("service_name", "page", "form", "last_field"))
FUNNEL_STEPS = Family("rum_funnel_step_reached", "Sessions reaching a funnel step (in order).", ("service_name", "funnel", "step", *_SEGMENT))
FUNNEL_DROPOFFS = Family("rum_funnel_dropoffs", "Sessions that ended at a step without reaching the next.", ("service_name", "funnel", "step", *_SEGMENT))
FUNNEL_DROPOFFS_AFTER_ERROR = Family("rum_funnel_dropoffs_after_error", "Drop-offs of sessions that had a JS error.",
                                     ("service_name", "funnel", "step", *_SEGMENT))
FUNNEL_CONVERSIONS = Family("rum_funnel_conversions", "Sessions that reached a funnel's last step.", ("service_name", "funnel", *_SEGMENT))
ERROR_GROUP_SESSIONS = Family("rum_error_group_sessions", "Sessions that hit a JS error group (a short stable fingerprint).",
                              ("service_name", "error_group"))
DETECT_FAMILIES = (*FRICTION.values(), FORM_STARTS, FORM_ABANDONMENTS, FUNNEL_STEPS, FUNNEL_DROPOFFS, FUNNEL_DROPOFFS_AFTER_ERROR,
                   FUNNEL_CONVERSIONS, ERROR_GROUP_SESSIONS)
CHECKOUT_IMPACT = Family("rum_error_group_checkout_impact",
                         "Smoothed odds ratio of completing the funnel for sessions that hit the error group at this step vs those "
                         "at the step that did not (< 1: fewer checkouts). Absent below the minimum support.",
                         ("service_name", "error_group", "funnel", "step"))
CONVERSION_BUCKETS = (30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
CONVERSION_DURATION = Family("rum_funnel_conversion_duration_seconds", "Time from a funnel's first step to its last.", ("service_name", "funnel"))


class LabelBudget:
    """Caps distinct values per label and distinct series overall; overflow folds into 'other' and is counted."""

    def __init__(self, cfg: MetricsConfig, selfm: SelfMetrics):
        self._cfg = cfg
        self._selfm = selfm
        self._seen: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._series: set[tuple[str, tuple[str, ...]]] = set()

    def value(self, metric: str, label: str, value: str) -> str:
        """``value`` within ``label``'s cap for ``metric``, without the series budget: also for stores keyed by label
        values, such as the anomaly report's (``metric="report"``)."""
        seen = self._seen[(metric, label)]
        if value not in seen:
            if len(seen) >= self._cfg.label_caps.get(label, self._cfg.default_label_cap):
                self._selfm.label_overflow.labels(metric, label).inc()
                return OTHER
            seen.add(value)
        return value

    def fit(self, family: Family, values: tuple[str, ...]) -> tuple[str, ...]:
        capped = [self.value(family.name, label, value) for label, value in zip(family.labels, values)]
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
        for f in CORE_FAMILIES + DETECT_FAMILIES:
            self._counters[f.name] = Counter(f.name, f.help, f.labels, registry=registry)
        f = CONVERSION_DURATION
        self.conversion_seconds = Histogram(f.name, f.help, f.labels, buckets=CONVERSION_BUCKETS, registry=registry)
        self.checkout_impact = Gauge(CHECKOUT_IMPACT.name, CHECKOUT_IMPACT.help, CHECKOUT_IMPACT.labels, registry=registry)

    def set_impact(self, updates: list[ImpactUpdate]) -> None:
        for u in updates:
            values = self._budget.fit(CHECKOUT_IMPACT, (u.service_name, u.group, u.funnel, u.step))
            self.checkout_impact.labels(*values).set(round(u.odds_ratio, 4))

    def observe_conversions(self, durations: list[tuple[str, str, float]]) -> None:
        for service, funnel, seconds in durations:
            self.conversion_seconds.labels(*self._budget.fit(CONVERSION_DURATION, (service, funnel))).observe(seconds)

    def apply(self, batch: MetricBatch) -> None:
        for (family, values), (n, trace_id) in batch.counts.items():
            child = self._counters[family.name].labels(*self._budget.fit(family, values))
            if trace_id and self._cfg.exemplars:
                child.inc(n, {"trace_id": trace_id.hex()})
            else:
                child.inc(n)


# Members bound to module names: ``Kind.X`` is a slow class attribute read on Python 3.11 (see sessionize.py).
_CLICK, _JS_ERROR = Kind.CLICK, Kind.JS_ERROR
_EVENT_KINDS = (_CLICK, _JS_ERROR)  # the events _event counts


def increments(outputs: list, batch: MetricBatch) -> list[tuple[str, str, float]]:
    """Counter increments for one tick's outputs (sessionize and detect); returns conversion durations to observe."""
    durations = []
    last = None  # a session's events come one after another: its trace id is looked up once for them
    for o in outputs:
        t = type(o)  # outputs are exactly the stages' classes: one comparison each, most are Happened
        if t is Happened:
            if o.event.kind in _EVENT_KINDS:  # the others count nothing
                s = o.session
                if s is not last:
                    last, trace_id = s, s.trace_id
                _event(o.event, s.service_name, o.page.route if o.page else "unknown", s.device, trace_id, batch)
        elif t is PageStarted:
            s = o.session
            batch.add(PAGE_VIEWS, (s.service_name, o.page.route, s.device), trace_id=s.trace_id)
        elif t is SessionStarted:
            s = o.session
            batch.add(SESSIONS_STARTED, (s.service_name, s.device, s.visitor, s.source), trace_id=s.trace_id)
        elif t is Late:
            c = o.closed
            _event(o.event, c.service_name, o.event.route or "unknown", c.device, c.trace_id, batch)
        elif t is Found:
            s, ep = o.session, o.episode
            page = dict(ep.details).get("url.template") or (o.page.route if o.page else "unknown")
            if ep.signal is Signal.FORM_ABANDONMENT:
                batch.add(FORM_ABANDONMENTS, (s.service_name, page, ep.element or "-", str(dict(ep.details).get("rum.form.last_field"))), trace_id=s.trace_id)
                continue
            family = FRICTION[ep.signal]
            values = (s.service_name, page, s.device) + ((ep.element or "unknown",) if "element" in family.labels else ())
            batch.add(family, values, trace_id=s.trace_id)
        elif t is FormStarted:
            batch.add(FORM_STARTS, (o.session.service_name, o.page.route, o.form), trace_id=o.session.trace_id)
        elif t is StepReached:
            s = o.session
            batch.add(FUNNEL_STEPS, (s.service_name, o.funnel, o.name, s.device, s.visitor, s.source), trace_id=s.trace_id)
        elif t is DroppedOff:
            s = o.session
            values = (s.service_name, o.funnel, o.name, s.device, s.visitor, s.source)
            batch.add(FUNNEL_DROPOFFS, values, trace_id=s.trace_id)
            if o.after_error:
                batch.add(FUNNEL_DROPOFFS_AFTER_ERROR, values, trace_id=s.trace_id)
        elif t is ErrorGroupHit:
            s = o.session
            batch.add(ERROR_GROUP_SESSIONS, (s.service_name, o.group), trace_id=s.trace_id)
        elif t is Converted:
            s = o.session
            batch.add(FUNNEL_CONVERSIONS, (s.service_name, o.funnel, s.device, s.visitor, s.source), trace_id=s.trace_id)
            durations.append((s.service_name, o.funnel, o.seconds))
    return durations


def _event(e, service: str, page: str, device: str, trace_id: bytes, batch: MetricBatch) -> None:
    if e.kind is _CLICK:
        batch.add(CLICKS, (service, page, device), trace_id=trace_id)
    elif e.kind is _JS_ERROR and isinstance(e.detail, JsError):
        batch.add(JS_ERRORS, (service, page, e.detail.type), trace_id=trace_id)
