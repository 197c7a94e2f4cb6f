"""The pipeline: ingest → normalize → sessionize → (detect) → emit, on one thread that owns all state.

A request is accepted first (decoded and validated, ``ingest/accept.py``: the sender gets its answer from that, in the
receiver process when served); ``process`` runs per accepted request and only buffers classified, normalized events;
``tick`` runs every flush interval and does the per-session work, so metric updates and span exports are batched per
interval, not per event. Transports call ``process`` and ``tick`` from a single worker thread; tests call ``ingest_*``
(both steps) directly.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import time
from typing import Any, Callable

from prometheus_client import CollectorRegistry

from .config import Settings
from .emit.exporter import SpanExporter
from .detect import DetectStage, ImpactUpdate
from .emit.metrics import MetricBatch, RumMetrics, increments
from .emit.selfmetrics import SelfMetrics
from .log import get_logger
from .emit.sentry import SentryForwarder
from .emit.spans import SpanBuilder, to_request
from .ingest.accept import Acceptor, Accepted, IngestResult
from .ingest.classify import Classified, classify
from .ingest.decode import Format, Signal
from .normalize import Normalizer
from .report import ReportAggregator
from .sessionize import Late, Output, SessionEnded, SessionTable

log = get_logger("pipeline")


class Pipeline:
    def __init__(self, settings: Settings, *, registry: CollectorRegistry | None = None,
                 exporters: list[SpanExporter] | None = None, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.registry = registry if registry is not None else CollectorRegistry()
        self.selfm = SelfMetrics(self.registry)
        self.metrics = RumMetrics(self.registry, settings.metrics, self.selfm)
        self.normalizer = Normalizer(settings)
        self.sessions = SessionTable(settings.sessions, self.normalizer.segments)
        self.detect = DetectStage(settings.detect, settings.errors)
        self.span_builder = SpanBuilder()
        self.exporters = list(exporters or [])
        self.sentry = SentryForwarder(settings.errors, self.selfm) if settings.errors.sentry_dsn else None
        self.clock = clock
        self.acceptor = Acceptor(settings, self.normalizer.masker)
        self.limits = self.acceptor.limits
        self._carry: list[Output] = []  # outputs produced outside a tick (evictions), emitted on the next tick
        self.report = ReportAggregator.from_settings(settings, clock=clock, registry=self.registry, budget=self.metrics._budget)
        self.restored_sessions = self.restore()

    # ------------------------------------------------------------------------------------------ ingest
    # Two steps, so a request is answered without waiting for the pipeline: ``accept`` (decode and validate, in the
    # receiver process when served, ``ingest/accept.py``) decides the answer, ``process`` (classify, normalize,
    # buffer) runs later on the pipeline thread. Transports bound the accepted-but-unprocessed requests.

    def process(self, accepted: Accepted) -> None:
        """Classify, normalize and buffer an accepted request's records (on the pipeline thread)."""
        started = time.perf_counter()
        signal, request = accepted.signal, accepted.request
        if signal == "metrics":
            # Browser metrics (e.g. web vitals through a MeterProvider) carry no session: accepted, counted, unused.
            c = Classified()
            c.skipped["unsupported_signal"] = accepted.records
        else:
            c = classify(signal, request, self.limits, self.normalizer, self.settings.default_service_name)
        rejected = accepted.result.rejected
        received = rejected + len(c.events) + sum(c.dropped.values()) + sum(c.skipped.values())
        self.selfm.received.labels(signal, accepted.fmt).inc(received)
        if rejected:
            self.selfm.rejected.labels(signal, accepted.fmt, "invalid_record").inc(rejected)
        for reason, n in c.dropped.items():
            self.selfm.dropped.labels(signal, reason).inc(n)
        for reason, n in c.skipped.items():
            self.selfm.skipped.labels(signal, reason).inc(n)
        now = self.clock()
        add = self.sessions.add
        kinds: dict = {}
        for event in c.events:
            kinds[event.kind] = kinds.get(event.kind, 0) + 1
            self._carry.extend(add(event, now))
        for kind, n in kinds.items():
            self.selfm.events.labels(kind.value).inc(n)
        self.selfm.batch_duration.labels(signal).observe(time.perf_counter() - started)

    def ingest_bytes(self, signal: Signal, body: bytes, fmt: Format, encoding: str | None = None) -> IngestResult:
        """accept + process at once: for tests, benchmarks and the demo, which own the pipeline thread."""
        accepted = self.acceptor.accept(signal, body, fmt, encoding)
        self.process(accepted)
        return accepted.result

    def ingest_request(self, signal: Signal, request: Any, fmt: str = "otlp_grpc") -> IngestResult:
        accepted = self.acceptor.accept_request(signal, request, fmt)
        self.process(accepted)
        return accepted.result

    # -------------------------------------------------------------------------------------------- tick

    def tick(self, *, final: bool = False) -> list[Output]:
        started = time.perf_counter()
        now = self.clock()
        outputs = self._carry + self.sessions.tick(now, final=final)
        self._carry = []
        outputs += self.detect.run(outputs, now)
        if self.report is not None:
            self.report.observe(outputs, now)
        batch = MetricBatch()
        durations = increments(outputs, batch)
        self.metrics.apply(batch)
        self.metrics.observe_conversions(durations)
        self.metrics.set_impact([o for o in outputs if isinstance(o, ImpactUpdate)])
        self.selfm.episodes_capped.inc(self.detect.capped)
        self.detect.capped = 0
        for o in outputs:
            if isinstance(o, SessionEnded):
                self.selfm.sessions_ended.labels(o.reason).inc()
            elif isinstance(o, Late):
                self.selfm.late_events.labels(o.event.kind.value).inc()
        for reason, n in self.sessions.drops.items():
            self.selfm.dropped.labels("events", reason).inc(n)
        self.sessions.drops.clear()
        self.selfm.sessions_evicted.inc(self.sessions.evicted)
        self.sessions.evicted = 0
        self.selfm.sessions_clock_corrected.inc(self.sessions.clock_corrected)
        self.sessions.clock_corrected = 0
        self.selfm.sessions_active.set(len(self.sessions))
        self._export(outputs)
        if self.sentry is not None:
            self.sentry.forward(outputs)
        self.selfm.tick_duration.observe(time.perf_counter() - started)
        return outputs

    def _export(self, outputs: list[Output]) -> None:
        if not self.exporters:
            return
        grouped = self.span_builder.build(outputs)
        limit = self.settings.export.max_spans_per_request
        for key, spans in grouped.items():
            for i in range(0, len(spans), limit):
                chunk = spans[i:i + limit]
                body = to_request(key, chunk)
                for exporter in self.exporters:
                    exporter.export(body, len(chunk))

    # ------------------------------------------------------------------------------------ checkpoints

    # 2: + what the report aggregator counted of each open session; 3: sessions store no derived ids; 4: + clock offsets;
    # 5: detection keeps decided pages as bits
    CHECKPOINT_VERSION = 5

    def checkpoint(self) -> bool:
        """Write open sessions (and what detection and the report aggregator remember of them) atomically; the clock
        is wall time so it carries over. The report aggregates are flushed first, so the store holds every count the
        checkpoint marks as done. False if it could not be written (the previous checkpoint stays as it was).

        The file is a pickle of the service's own objects: keep it where only the service can write.
        """
        path = self.settings.sessions.checkpoint_path
        if path is None:
            return False
        state = {"version": self.CHECKPOINT_VERSION, "written_at": self.clock(), "carry": self._carry,
                 "sessions": (self.sessions.sessions, self.sessions.closed, self.sessions.known_users),
                 "detect": self.detect.snapshot(),
                 "report": self.report.checkpoint_state() if self.report is not None else None}
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:  # a full disk, a read-only or missing directory
            self.selfm.checkpoint_failures.inc()
            log.error("checkpoint failed: a crash now would lose more than the checkpoint interval",
                      extra={"path": str(path), "error": f"{type(exc).__name__}: {exc}"})
            with contextlib.suppress(OSError):  # the same cause may keep it from going too
                tmp.unlink(missing_ok=True)
            return False
        self.selfm.checkpoint_sessions.set(len(self.sessions))
        self.selfm.checkpoints.inc()
        return True

    def restore(self) -> int:
        path = self.settings.sessions.checkpoint_path
        if path is None or not path.exists():
            return 0
        with open(path, "rb") as fh:  # a path that can't be opened (a directory, no permission) is a startup error
            try:
                state = pickle.load(fh)
            except Exception as exc:  # noqa: BLE001 - unpickling raises whatever the bytes lead to
                # Refusing to start would put the service in a crash loop over a file it rewrites within seconds anyway
                # (damaged storage, objects of a release whose classes moved). Kept aside for whoever investigates.
                aside = path.with_name(path.name + ".unreadable")
                os.replace(path, aside)
                log.error("checkpoint unreadable: its open sessions are not continued; moved aside",
                          extra={"path": str(path), "moved_to": str(aside), "error": f"{type(exc).__name__}: {exc}"})
                return 0
        if not isinstance(state, dict) or state.get("version") != self.CHECKPOINT_VERSION:
            # Another release's objects: they can't be trusted to load, and refusing to start would lose more.
            log.warning("checkpoint written by another version of otel-friction: its open sessions are not continued",
                        extra={"path": str(path), "version": state.get("version") if isinstance(state, dict) else None,
                               "expected": self.CHECKPOINT_VERSION})
            return 0
        self._carry = state["carry"]
        self.sessions.sessions, self.sessions.closed, self.sessions.known_users = state["sessions"]
        self.sessions.dirty = {sid: None for sid, s in self.sessions.sessions.items() if s.pending}
        self.detect.load(state["detect"])
        if self.report is not None:
            self.report.restore_state(state.get("report"))
        self.selfm.sessions_active.set(len(self.sessions))
        return len(self.sessions)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop cleanly: with a checkpoint path, open sessions are saved to continue after a restart (finished page
        views and interactions still go out); without one, or if it can't be written, every open session ends now
        (root spans out). Then the exporters deliver what is pending."""
        if self.settings.sessions.checkpoint_path is not None:
            self.tick()
            if not self.checkpoint():
                self.tick(final=True)  # nothing to continue them from: they end now, root spans out, as without a path
        else:
            self.tick(final=True)
        for exporter in self.exporters:
            exporter.shutdown(timeout)
        if self.sentry is not None:
            self.sentry.shutdown(timeout)

