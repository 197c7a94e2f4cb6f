"""Optional OTLP metrics export: the same registry that /metrics serves, pushed periodically as OTLP/HTTP.

For backends that ingest OTLP rather than scrape (Mimir/Grafana Cloud OTLP endpoints, a collector). Counters
become cumulative monotonic sums (a Prometheus-compatible backend adds `_total` back), gauges stay gauges,
histograms become explicit-bucket histograms; counter exemplars carry the session trace id.
"""

from __future__ import annotations

import threading
import time

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric
from prometheus_client import CollectorRegistry

from .. import __version__
from . import otlp_http
from .selfmetrics import SelfMetrics

CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


def _attrs(labels: dict[str, str]) -> list[KeyValue]:
    return [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in labels.items()]


def registry_to_otlp(registry: CollectorRegistry, start_ns: int, now_ns: int, service_name: str = "otel-friction") -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(_attrs({"service.name": service_name, "service.version": __version__}))
    sm = rm.scope_metrics.add()
    sm.scope.name = "otel-friction"
    for family in registry.collect():
        metric = Metric(name=family.name, description=family.documentation, unit=family.unit or "")
        if family.type == "counter":
            metric.sum.is_monotonic = True
            metric.sum.aggregation_temporality = CUMULATIVE
            for s in family.samples:
                if not s.name.endswith("_total"):
                    continue
                dp = metric.sum.data_points.add(start_time_unix_nano=start_ns, time_unix_nano=now_ns, as_double=s.value)
                dp.attributes.extend(_attrs(s.labels))
                if s.exemplar is not None and "trace_id" in s.exemplar.labels:
                    ex = dp.exemplars.add(as_double=s.exemplar.value, time_unix_nano=int((s.exemplar.timestamp or time.time()) * 1e9))
                    ex.trace_id = bytes.fromhex(s.exemplar.labels["trace_id"])
        elif family.type == "gauge":
            for s in family.samples:
                dp = metric.gauge.data_points.add(time_unix_nano=now_ns, as_double=s.value)
                dp.attributes.extend(_attrs(s.labels))
        elif family.type == "histogram":
            metric.histogram.aggregation_temporality = CUMULATIVE
            series: dict[tuple, dict] = {}
            for s in family.samples:
                labels = {k: v for k, v in s.labels.items() if k != "le"}
                entry = series.setdefault(tuple(sorted(labels.items())), {"labels": labels, "buckets": [], "sum": 0.0, "count": 0})
                if s.name.endswith("_bucket"):
                    entry["buckets"].append((float(s.labels["le"]), s.value))
                elif s.name.endswith("_sum"):
                    entry["sum"] = s.value
                elif s.name.endswith("_count"):
                    entry["count"] = int(s.value)
            for entry in series.values():
                buckets = sorted(entry["buckets"])
                bounds = [b for b, _ in buckets if b != float("inf")]
                cumulative = [c for _, c in buckets]
                counts = [int(c - (cumulative[i - 1] if i else 0)) for i, c in enumerate(cumulative)]
                dp = metric.histogram.data_points.add(start_time_unix_nano=start_ns, time_unix_nano=now_ns, count=entry["count"],
                                                      sum=entry["sum"], explicit_bounds=bounds, bucket_counts=counts)
                dp.attributes.extend(_attrs(entry["labels"]))
        else:
            continue
        sm.metrics.append(metric)
    return req


class OtlpMetricsExporter:
    """Pushes the registry every ``interval`` seconds from a background thread; failures are counted, never fatal."""

    def __init__(self, endpoint: str, registry: CollectorRegistry, selfm: SelfMetrics, *, interval: float = 60.0,
                 headers: dict[str, str] | None = None, timeout: float = 10.0):
        self.url = endpoint.rstrip("/") + "/v1/metrics"
        self._registry = registry
        self._selfm = selfm
        self._interval = interval
        self._timeout = timeout
        self._start_ns = time.time_ns()
        self._headers = {"Content-Type": "application/x-protobuf", **(headers or {})}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="otel-friction-metrics-export", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.push()

    def push(self) -> bool:
        body = registry_to_otlp(self._registry, self._start_ns, time.time_ns()).SerializeToString()
        try:
            resp = otlp_http.post(self.url, body, self._headers, self._timeout)
        except otlp_http.TransportError as exc:
            self._selfm.export_failures.labels("otlp_metrics", exc.reason).inc()
            return False
        if not 200 <= resp.status < 300:
            self._selfm.export_failures.labels("otlp_metrics", f"http_{resp.status}").inc()
            return False
        return True

    def shutdown(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._timeout + 1)
        self.push()  # the final values, so a short-lived run is not lost
