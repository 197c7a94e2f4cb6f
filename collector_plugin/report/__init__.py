"""Behavioural anomaly reports with heatmap evidence (docs/anomaly-reports.md).

aggregate: per-tick hourly counts from pipeline outputs; store: SQLite / in-memory persistence; analyze: windows,
two-proportion z-tests with Benjamini-Hochberg, ranking and advice (rules); heatmap: PNG click maps; render:
Markdown / HTML / JSON; metrics: ``rum_anomaly_score``.
"""

from .aggregate import KINDS, ReportAggregator
from .analyze import Finding, PageStatus, Report, build_report, windows
from .store import Batch, MemoryStore, ReportStore, SqliteStore, open_store

__all__ = ["KINDS", "ReportAggregator", "Finding", "PageStatus", "Report", "build_report", "windows", "Batch", "MemoryStore",
           "ReportStore", "SqliteStore", "open_store"]
