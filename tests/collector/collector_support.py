"""Helpers for tests that run the real OpenTelemetry Collector (otelcol-friction, built by scripts/build-collector.sh).

- ``build_collector()``: runs scripts/build-collector.sh (cached after the first build).
- ``start_collector(config_path, env, binary=...)``: starts the binary, polls until its receivers accept TCP
  connections, returns the process (combined stdout/stderr in ``process.log_path``; ``process.log()`` reads it).
- ``stop_collector(process)``: SIGTERM, then SIGKILL after a deadline.
- ``collector_env()``: environment for examples/collector/config.yaml with every listening address on a free
  loopback port (found by binding port 0).
- ``GrpcTraceSink``: a small real OTLP/gRPC server standing in for Tempo (``otlp_sink.OtlpSink`` stands in for
  otel-friction).

Imported (relatively) by conftest.py, which turns these into fixtures, and by the tests. tests/collector is a
package so that this conftest is ``collector.conftest`` and never shadows the ``conftest`` that tests/*.py import.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-collector.sh"
CONFIG = ROOT / "examples" / "collector" / "config.yaml"

BUILD_TIMEOUT_S = 30 * 60  # first build from an empty Go cache took ~5 min on 2 cores
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0

# Environment variables read by examples/collector/config.yaml. Receivers are the addresses the collector listens on.
RECEIVER_ENV = ("OTELCOL_OTLP_GRPC_ENDPOINT", "OTELCOL_OTLP_HTTP_ENDPOINT", "FRICTION_SPANS_HTTP_ENDPOINT")
CONFIG_ENV = RECEIVER_ENV + (
    "OTELCOL_CORS_ALLOWED_ORIGINS", "OTEL_FRICTION_ENDPOINT", "TEMPO_ENDPOINT", "OTELCOL_DEBUG_VERBOSITY",
    "OTELCOL_LOG_LEVEL", "OTELCOL_METRICS_HOST", "OTELCOL_METRICS_PORT",
)


def free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports (all sockets are held until every port is chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def collector_env(**overrides: str) -> dict[str, str]:
    """Values for every address variable of examples/collector/config.yaml, on free loopback ports.

    Exporter targets (otel-friction, Tempo) default to free ports where nothing listens; pass
    ``OTEL_FRICTION_ENDPOINT=sink.url`` etc. to point them at a stand-in.
    """
    grpc_port, http_port, spans_port, metrics_port, friction_port, tempo_port = free_ports(6)
    env = {
        "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{grpc_port}",
        "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{http_port}",
        "FRICTION_SPANS_HTTP_ENDPOINT": f"127.0.0.1:{spans_port}",
        "OTELCOL_METRICS_HOST": "127.0.0.1",
        "OTELCOL_METRICS_PORT": str(metrics_port),
        "OTEL_FRICTION_ENDPOINT": f"http://127.0.0.1:{friction_port}",
        "TEMPO_ENDPOINT": f"127.0.0.1:{tempo_port}",
    }
    env.update(overrides)
    return env


# ------------------------------------------------------------------------------------------------ build


def build_collector() -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BUILD_SCRIPT)], cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)


# ------------------------------------------------------------------------------------------------ process


class CollectorProcess(subprocess.Popen):
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def port_open(hostport: str) -> bool:
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def start_collector(config_path: str | Path, env: dict[str, str], *, binary: str | Path,
                    wait_for: list[str] | None = None, timeout: float = START_TIMEOUT_S) -> CollectorProcess:
    """Start the collector and return once every receiver address accepts connections.

    ``env`` is layered over the current environment, from which the config's own variables are removed first so the
    caller's shell cannot leak into a test. ``wait_for`` defaults to the receiver addresses found in ``env``.
    """
    base = {k: v for k, v in os.environ.items() if k not in CONFIG_ENV}
    full_env = {**base, **env}
    targets = wait_for if wait_for is not None else [env[k] for k in RECEIVER_ENV if k in env]
    log_fd, log_name = tempfile.mkstemp(prefix="otelcol-friction-", suffix=".log")
    try:
        proc = CollectorProcess([str(binary), "--config", str(config_path)], env=full_env, stdin=subprocess.DEVNULL,
                                stdout=log_fd, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        os.close(log_fd)
    proc.log_path = Path(log_name)
    deadline = time.monotonic() + timeout
    pending = list(targets)
    while pending:
        if proc.poll() is not None:
            raise RuntimeError(f"collector exited with {proc.returncode} before its receivers were up:\n{proc.log()}")
        if time.monotonic() > deadline:
            stop_collector(proc)
            raise TimeoutError(f"collector receivers {pending} not accepting connections after {timeout} s:\n"
                               f"{proc.log()}")
        pending = [t for t in pending if not port_open(t)]
        if pending:
            time.sleep(0.05)  # poll interval, not synchronisation
    return proc


def stop_collector(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> int:
    """SIGTERM (graceful shutdown), then SIGKILL after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    return proc.returncode


# ------------------------------------------------------------------------------------------------ stand-ins


class GrpcTraceSink:
    """A real OTLP/gRPC TraceService standing in for Tempo."""

    def __init__(self) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

        self.requests: list = []
        self.cond = threading.Condition()
        sink = self

        class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):  # noqa: N802
                with sink.cond:
                    sink.requests.append(request)
                    sink.cond.notify_all()
                return trace_service_pb2.ExportTraceServiceResponse()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.endpoint = f"127.0.0.1:{port}"

    def spans(self) -> list:
        with self.cond:
            return [s for r in self.requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]

    def wait_for_spans(self, timeout: float = 20.0) -> list:
        with self.cond:
            if not self.cond.wait_for(lambda: any(self._count(r) for r in self.requests), timeout=timeout):
                raise TimeoutError(f"no spans exported to the Tempo stand-in at {self.endpoint} within {timeout} s")
        return self.spans()

    @staticmethod
    def _count(request) -> int:
        return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)

    def close(self) -> None:
        self.server.stop(grace=None)
