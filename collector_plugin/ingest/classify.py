"""The one classifier: every OTLP log record and span becomes an event of a known kind, or is counted with a reason.

Classification runs natively (``native/src/classify.rs``), in the same pass over the protobuf bytes that validates
the records, and builds the events of ``collector_plugin.events`` directly: with upb and per-record Python, reading
attributes alone cost more than the whole per-event budget. That file is the only place that knows the senders'
vocabularies (OTel JS logs, OTel JS spans, Faro, this project's instrumentation). Validation is what the sender must
hear in ``partial_success``: an invalid record (ids, attribute count) is described and left out, the rest are kept.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from .. import events
from .._native import FRICTION_SCOPE, Classifier
from ..events import Event

__all__ = ["FRICTION_SCOPE", "Classified", "Limits", "classify"]

MAX_DEPTH = 4  # kvlists/arrays nested deeper are not read (no recursion bombs)


@dataclass(frozen=True, slots=True)
class Limits:
    """Browser data is untrusted: bounds on what one record may carry."""

    max_attributes: int = 128
    max_length: int = 4096


@dataclass
class Classified:
    events: list[Event] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)  # valid records we can't use, by reason
    skipped: Counter = field(default_factory=Counter)  # valid records with no behavioural meaning, by reason
    records: int = 0  # valid records
    rejected: int = 0  # invalid records, left out
    errors: list[str] = field(default_factory=list)  # why, one per rejected record
    without_session: int = 0  # valid records with no session.id on the record or its resource


@lru_cache(maxsize=8)
def _classifier(limits: Limits, default_service: str) -> Classifier:
    return Classifier(events, default_service, limits.max_attributes, limits.max_length, MAX_DEPTH)


def classify(signal: Literal["logs", "traces"], body: bytes, limits: Limits, default_service: str,
             now_ns: int | None = None) -> Classified:
    """A protobuf ExportLogsServiceRequest or ExportTraceServiceRequest, validated and classified. Log records
    with no timestamp take ``now_ns``. Raises ValueError when the bytes are not such a message."""
    c = _classifier(limits, default_service)
    if signal == "logs":
        found = c.logs(body, now_ns or time.time_ns())
    else:
        found = c.traces(body)
    evs, dropped, skipped, records, rejected, errors, without_session = found
    return Classified(evs, Counter(dropped), Counter(skipped), records, rejected, errors, without_session)

