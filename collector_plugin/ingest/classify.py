"""The one classifier: every OTLP log record and span becomes an event of a known kind, or is counted with a reason.

Classification runs natively (``native/src/classify.rs``) over the protobuf bytes and builds the events of
``collector_plugin.events`` directly: with upb and per-record Python, reading attributes alone cost more than the
whole per-event budget. That file is the only place that knows the senders' vocabularies (OTel JS logs, OTel JS
spans, Faro, this project's instrumentation).

Two passes, so the sender's answer waits for neither classification nor the GIL: ``validate`` (before the answer,
GIL released) finds what the sender must hear in ``partial_success``: invalid records (ids, attribute count), which
are described and left out, and records without a session id; ``classify`` (on the pipeline thread) turns the valid
records into events. The events come out normalized: the classifier calls ``collector_plugin.normalize``'s rules
(handed in by the pipeline) on each field it fills, so each event is built once.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from .. import events
from .._native import FRICTION_SCOPE, Classifier, Validator
from ..events import Event
from ..normalize import Normalizer

__all__ = ["FRICTION_SCOPE", "Classified", "Limits", "Validated", "classify", "validate"]

MAX_DEPTH = 4  # kvlists/arrays nested deeper are not read (no recursion bombs)


@dataclass(frozen=True, slots=True)
class Limits:
    """Browser data is untrusted: bounds on what one record may carry."""

    max_attributes: int = 128
    max_length: int = 4096


@dataclass
class Validated:
    records: int = 0  # valid records
    rejected: int = 0  # invalid records, left out
    errors: list[str] = field(default_factory=list)  # why, one per rejected record
    without_session: int = 0  # valid records with no session.id on the record or its resource


@dataclass
class Classified:
    events: list[Event] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)  # valid records we can't use, by reason
    skipped: Counter = field(default_factory=Counter)  # valid records with no behavioural meaning, by reason


Signal = Literal["logs", "traces"]


@lru_cache(maxsize=8)
def _validator(limits: Limits) -> Validator:
    return Validator(limits.max_attributes, limits.max_length, MAX_DEPTH)


@lru_cache(maxsize=8)
def _classifier(limits: Limits, normalizer: Normalizer, default_service: str) -> Classifier:
    return Classifier(events, normalizer, default_service, limits.max_attributes, limits.max_length, MAX_DEPTH)


def validate(signal: Signal, body: bytes, limits: Limits) -> Validated:
    """A protobuf ExportLogsServiceRequest or ExportTraceServiceRequest checked record by record. Raises ValueError
    when the bytes are not such a message; a body that passes is one ``classify`` reads without error."""
    return Validated(*_validator(limits).validate(signal, body))


def classify(signal: Signal, body: bytes, limits: Limits, normalizer: Normalizer, default_service: str,
             now_ns: int | None = None) -> Classified:
    """The valid records of a validated request as normalized events (log records with no timestamp take ``now_ns``)."""
    c = _classifier(limits, normalizer, default_service)
    evs, dropped, skipped = c.logs(body, now_ns or time.time_ns()) if signal == "logs" else c.traces(body)
    return Classified(evs, Counter(dropped), Counter(skipped))

