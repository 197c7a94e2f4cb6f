"""The service's own health metrics (otel_friction_*): what came in, what was refused or lost, and why."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class SelfMetrics:
    def __init__(self, registry: CollectorRegistry):
        r = registry
        self.received = Counter("otel_friction_records_received", "OTLP records received.", ("signal", "format"), registry=r)
        self.rejected = Counter("otel_friction_records_rejected", "Records refused to the sender (error status or partial_success).",
                                ("signal", "format", "reason"), registry=r)
        self.dropped = Counter("otel_friction_records_dropped", "Valid records that could not be used.", ("signal", "reason"), registry=r)
        self.skipped = Counter("otel_friction_records_skipped", "Valid records with no behavioural meaning (e.g. resource timing spans).",
                               ("signal", "reason"), registry=r)
        self.events = Counter("otel_friction_events", "Events classified, by kind.", ("kind",), registry=r)
        self.late_events = Counter("otel_friction_late_events", "Events that arrived after their session ended.", ("kind",), registry=r)
        self.requests_rejected = Counter("otel_friction_requests_rejected", "Whole requests refused, by reason.", ("transport", "reason"), registry=r)
        self.requests_throttled = Counter("otel_friction_requests_throttled", "Requests answered 429 (HTTP) or UNAVAILABLE with RetryInfo (gRPC) because the pipeline was full.",
                                          ("transport",), registry=r)
        self.requests_queued = Gauge("otel_friction_requests_queued", "Accepted requests waiting for the pipeline thread.", registry=r)
        self.sessions_active = Gauge("otel_friction_sessions_active", "Sessions currently held in memory.", registry=r)
        self.sessions_evicted = Counter("otel_friction_sessions_evicted", "Sessions ended early because the session table was full.", registry=r)
        self.sessions_clock_corrected = Counter("otel_friction_sessions_clock_corrected", "Sessions whose event times were shifted "
                                                "because their device clock was off by sessions.clock_drift_min_seconds or more.", registry=r)
        self.sessions_ended = Counter("otel_friction_sessions_ended", "Sessions ended, by reason.", ("reason",), registry=r)
        self.batch_duration = Histogram("otel_friction_batch_duration_seconds", "Pipeline-thread time to classify, normalize and buffer one accepted request.",
                                        ("signal",), buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=r)
        self.tick_duration = Histogram("otel_friction_tick_duration_seconds", "Time to sessionize and emit one flush interval.",
                                       buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=r)
        self.spans_exported = Counter("otel_friction_spans_exported", "Session-trace spans accepted by a destination.", ("destination",), registry=r)
        self.spans_dropped = Counter("otel_friction_spans_dropped", "Session-trace spans lost, by reason.", ("destination", "reason"), registry=r)
        self.export_failures = Counter("otel_friction_export_failures", "Failed export attempts (retried or not).", ("destination", "reason"), registry=r)
        self.export_queue = Gauge("otel_friction_export_queue_spans", "Spans waiting to be exported.", ("destination",), registry=r)
        self.episodes_capped = Counter("otel_friction_episodes_capped", "Friction episodes not counted: one session hit the per-page cap.", registry=r)
        self.errors_forwarded = Counter("otel_friction_errors_forwarded", "JS errors forwarded to an error tracker, by outcome.",
                                        ("destination", "outcome"), registry=r)
        self.checkpoints = Counter("otel_friction_checkpoints", "Session checkpoints written.", registry=r)
        self.checkpoint_failures = Counter("otel_friction_checkpoint_failures", "Session checkpoints that could not be written.", registry=r)
        self.checkpoint_sessions = Gauge("otel_friction_checkpoint_sessions", "Sessions in the last checkpoint.", registry=r)
        self.label_overflow = Counter("otel_friction_label_overflow", "Label values folded into 'other' by a label cap.", ("metric", "label"), registry=r)
        self.series_budget_exceeded = Counter("otel_friction_series_budget_exceeded", "New series folded into 'other' by the series budget.",
                                              ("metric",), registry=r)
