"""Shared test helpers: polling, scraping the real /metrics endpoint, building OTLP with the official SDKs."""

from __future__ import annotations

import time
from typing import Any, Callable

import requests
from prometheus_client.parser import text_string_to_metric_families


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll until ``condition()`` is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {value!r})")
        time.sleep(interval)


def scrape(metrics_url: str) -> dict[str, list[tuple[dict, float]]]:
    """Samples by name, read from the service's /metrics over HTTP as Prometheus would."""
    text = requests.get(metrics_url, timeout=10).text
    out: dict[str, list[tuple[dict, float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(v for lab, v in samples.get(name, []) if all(lab.get(k) == val for k, val in labels.items()))


class Pairs(list):
    """A kvlist given as (key, value) pairs, so a key can repeat (``set_any`` takes a dict as a kvlist too)."""


def set_any(av, value) -> None:
    """Write a Python value into an OTLP AnyValue: None leaves it empty; list → array, dict/Pairs → kvlist."""
    if value is None:
        return
    if isinstance(value, (dict, Pairs)):
        av.kvlist_value.SetInParent()
        for k, v in (value.items() if isinstance(value, dict) else value):
            set_any(av.kvlist_value.values.add(key=k).value, v)
    elif isinstance(value, list):
        av.array_value.SetInParent()
        for v in value:
            set_any(av.array_value.values.add(), v)
    elif isinstance(value, bool):
        av.bool_value = value
    elif isinstance(value, int):
        av.int_value = value
    elif isinstance(value, float):
        av.double_value = value
    elif isinstance(value, bytes):
        av.bytes_value = value
    else:
        av.string_value = value


def attr(span_or_record, key: str):
    for kv in span_or_record.attributes:
        if kv.key == key:
            v = kv.value
            return getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None
    return None


def logs_request(records, service: str = "shop", resource: dict | None = None, scope: str = "otel-friction-browser"):
    """An ExportLogsServiceRequest from (event_name, time_ns, attributes) tuples, for sessionization tests."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from collector_plugin.simulate import _kv

    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(_kv(k, v) for k, v in {"service.name": service, **(resource or {})}.items())
    sl = rl.scope_logs.add()
    sl.scope.name = scope
    for name, t, attrs in records:
        rec = sl.log_records.add(time_unix_nano=t, event_name=name)
        rec.attributes.extend(_kv(k, v) for k, v in attrs.items())
    return req

