"""``rum_anomaly_score{service_name,page,kind,segment}``: −log10 q of the current findings, for a Grafana "Anomalies" panel;
and the report's own health metrics: ``otel_friction_report_rows_pruned_total``, ``otel_friction_report_store_errors_total``
and ``otel_friction_report_increments_dropped_total``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from ..emit.metrics import OTHER, Family

ANOMALY_SCORE = Family("rum_anomaly_score", "Anomaly report findings: -log10 of the finding's q value (Benjamini-Hochberg), "
                       "present while the finding is in the latest report.", ("service_name", "page", "kind", "segment"))


class AnomalyGauge:
    def __init__(self, registry, budget=None, max_series: int = 500):
        self.gauge = Gauge(ANOMALY_SCORE.name, ANOMALY_SCORE.help, ANOMALY_SCORE.labels, registry=registry)
        self.budget = budget  # the pipeline's LabelBudget: the same per-label caps and series budget as every rum_* metric
        self.max_series = max_series
        self._series: set[tuple[str, ...]] = set()

    def set(self, report) -> None:
        """Replace the gauge's series with the report's findings (findings that went away disappear)."""
        self.gauge.clear()
        values: dict[tuple[str, ...], float] = {}
        for f in report.findings:
            labels = (f.service, f.page, f.kind, f.segment)
            if self.budget is not None:
                labels = self.budget.fit(ANOMALY_SCORE, labels)
            if labels not in self._series and len(self._series) >= self.max_series:
                labels = (labels[0], OTHER, labels[2], OTHER)
            self._series.add(labels)
            values[labels] = max(values.get(labels, 0.0), f.score)
        for labels, v in values.items():
            self.gauge.labels(*labels).set(v)


def rows_pruned_counter(registry) -> Counter:
    """``otel_friction_report_rows_pruned_total{table}``: report rows deleted by the retention (report.retention_days)."""
    return Counter("otel_friction_report_rows_pruned", "Anomaly-report store rows deleted by the retention: hourly counts, "
                   "click-grid cells and elements older than report.retention_days, and element metadata no remaining "
                   "element row names.", ("table",), registry=registry)


def store_errors_counter(registry) -> Counter:
    """``otel_friction_report_store_errors_total{operation}``: failed writes, prunes and reads of the report store."""
    return Counter("otel_friction_report_store_errors", "Anomaly-report store operations that failed (disk full, I/O error, "
                   "read-only file system): write (the increments are kept and written at the next flush), prune (retried "
                   "an hour later) or read (the periodic analysis; rum_anomaly_score keeps its last values).",
                   ("operation",), registry=registry)


def increments_dropped_counter(registry) -> Counter:
    """``otel_friction_report_increments_dropped_total``: aggregates lost because the store failed for too long."""
    return Counter("otel_friction_report_increments_dropped", "Anomaly-report aggregates (one per page, segment set and "
                   "metric, click-grid cell or element, per hour) dropped because the store could not be written for so long "
                   "that more than report.max_pending_increments waited in memory; the oldest hours go first.",
                   registry=registry)
