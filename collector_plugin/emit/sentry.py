"""Optional forwarding of JS errors to Sentry, for teams that triage there.

Each event is grouped by our fingerprint, tagged with `session.id` and the session's trace id, carries the trace
context, and links back to the Grafana session view and the trace. Forwarding is sampled per group and minute so an
error in a loop can't flood Sentry (the rest is counted, not lost silently).
"""

from __future__ import annotations

import uuid
from collections import Counter

import sentry_sdk

from ..config import ErrorsConfig
from ..events import JsError, Kind
from ..normalize.fingerprint import frames
from ..sessionize import Happened, Output
from .links import session_links
from .selfmetrics import SelfMetrics


class SentryForwarder:
    def __init__(self, cfg: ErrorsConfig, selfm: SelfMetrics):
        self.cfg = cfg
        self._selfm = selfm
        # No integrations: this client only carries events we build; it must not hook the service's own logging.
        self.client = sentry_sdk.Client(dsn=cfg.sentry_dsn, environment=cfg.sentry_environment, default_integrations=False,
                                        auto_enabling_integrations=False, max_breadcrumbs=0)
        self._sent: Counter = Counter()  # (group, minute) → events sent

    def forward(self, outputs: list[Output]) -> None:
        for o in outputs:
            if not (isinstance(o, Happened) and o.event.kind is Kind.JS_ERROR and isinstance(o.event.detail, JsError)):
                continue
            e, d, s = o.event, o.event.detail, o.session
            minute = (d.group, e.time_ns // 60_000_000_000)
            if self._sent[minute] >= self.cfg.sentry_max_events_per_group_per_minute:
                self._selfm.errors_forwarded.labels("sentry", "sampled_out").inc()
                continue
            self._sent[minute] += 1
            if len(self._sent) > 10_000:
                self._sent = Counter(dict(self._sent.most_common(1_000)))
            span_id = (o.page.span_id if o.page is not None else s.root_span_id).hex()
            links = session_links(self.cfg, s.id, s.trace_id.hex())
            stack = [{k: v for k, v in f.items() if v is not None} for f in reversed(frames(d.stacktrace))]  # Sentry: oldest first
            event = {
                "event_id": uuid.uuid4().hex, "timestamp": e.time_ns / 1e9, "platform": "javascript", "level": "error",
                "logger": "otel-friction", "release": s.service_version, "fingerprint": [d.group or d.type],
                "exception": {"values": [{"type": d.type, "value": d.message, **({"stacktrace": {"frames": stack}} if stack else {})}]},
                "tags": {"session.id": s.id, "trace_id": s.trace_id.hex(), "error_group": d.group, "page": o.page.route if o.page else None,
                         "device": s.device, "service.name": s.service_name},
                "contexts": {"trace": {"trace_id": s.trace_id.hex(), "span_id": span_id, "op": "browser.session"}},
                "request": {"url": e.url} if e.url else {},
                "extra": {"session_url": links["session_url"], "trace_url": links["trace_url"]},
            }
            self.client.capture_event(event)
            self._selfm.errors_forwarded.labels("sentry", "sent").inc()

    def shutdown(self, timeout: float) -> None:
        self.client.flush(timeout=timeout)
        self.client.close()
