"""The real stack for the end-to-end tests: OTel Collector (examples/collector/config.yaml), otel-friction
(BackgroundService in process), Prometheus, Alertmanager, a webhook receiver and a Tempo stand-in.

Every start polls a readiness condition with a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import yaml

from collector.collector_support import free_ports, stop_collector
from collector_plugin.config import load_settings
from collector_plugin.emit.exporter import InMemorySpanExporter
from collector_plugin.server import BackgroundService

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop"
COLLECTOR_CONFIG = ROOT / "examples" / "collector" / "config.yaml"
LB_CONFIG = ROOT / "examples" / "collector" / "config-loadbalancing.yaml"
FRICTION_CONFIG = SHOP / "otel-friction.yaml"
PROMETHEUS = os.environ.get("PROMETHEUS_BIN", "/usr/bin/prometheus")
ALERTMANAGER = os.environ.get("ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

INACTIVITY_S = 3.0
FLUSH_S = 0.2
SESSION_URL = "http://grafana.e2e/d/otel-friction-session/session?var-session_id={session_id}&trace={trace_id}"
TRACE_URL = "http://grafana.e2e/explore?trace_id={trace_id}"


def wait_until(what: str, fn, timeout: float, interval: float = 0.2):
    """Poll ``fn`` until it returns a truthy value; raise TimeoutError naming ``what`` (and the last value)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except Exception as exc:  # noqa: BLE001 - the last failure is reported on timeout
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached within {timeout} s (last: {last!r})")
        time.sleep(interval)  # poll interval, not synchronisation


def friction_settings(**extra):
    """otel-friction on free loopback ports with the shop's config file and e2e-short timers."""
    overrides = {
        "server.otlp_http": "127.0.0.1:0", "server.otlp_grpc": "127.0.0.1:0", "server.metrics": "127.0.0.1:0",
        "export.flush_interval_seconds": FLUSH_S, "sessions.inactivity_timeout_seconds": INACTIVITY_S,
        "report.store_path": None,
    }
    overrides.update(extra)
    return load_settings(FRICTION_CONFIG, overrides)


def start_friction(**extra) -> tuple[BackgroundService, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    bg = BackgroundService(friction_settings(**extra), exporters=[memory]).__enter__()
    return bg, memory


# ------------------------------------------------------------------------------------------------ webhook


@dataclass
class Webhook:
    """A real HTTP server receiving Alertmanager's webhook notifications."""

    received: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self) -> list[dict]:
        return [a for n in list(self.received) for a in n.get("alerts", [])]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------------------------------------ processes


class Proc:
    def __init__(self, name: str, args: list[str], env: dict | None = None):
        self.name = name
        fd, log = tempfile.mkstemp(prefix=f"e2e-{name}-", suffix=".log")
        self.log_path = Path(log)
        self.popen = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=fd, stderr=subprocess.STDOUT,
                                      env={**os.environ, **(env or {})}, start_new_session=True)
        os.close(fd)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()}")

    def stop(self) -> None:
        stop_collector(self.popen)
        self.log_path.unlink(missing_ok=True)


def wait_http_ready(proc: Proc, url: str, timeout: float = 30.0) -> None:
    def ready():
        proc.check_alive()
        return requests.get(url, timeout=1).status_code == 200
    try:
        wait_until(f"{proc.name} ready at {url}", ready, timeout)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}\n{proc.log()}") from None


class Prometheus:
    def __init__(self, workdir: Path, scrape_targets: list[str], rule_files: list[Path], alertmanager: str):
        port, = free_ports(1)
        self.url = f"http://127.0.0.1:{port}"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rule_files],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
            "scrape_configs": [{"job_name": "otel-friction", "static_configs": [{"targets": scrape_targets}]}],
        }
        cfg = workdir / "prometheus.yml"
        cfg.write_text(yaml.safe_dump(config))
        self.proc = Proc("prometheus", [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={workdir / 'tsdb'}",
                                        f"--web.listen-address=127.0.0.1:{port}", "--enable-feature=exemplar-storage",
                                        "--storage.tsdb.retention.time=1h", "--log.level=warn"])
        wait_http_ready(self.proc, self.url + "/-/ready")

    def query(self, expr: str) -> list[dict]:
        r = requests.get(self.url + "/api/v1/query", params={"query": expr}, timeout=5)
        r.raise_for_status()
        return r.json()["data"]["result"]

    def vector(self, expr: str, *labels: str) -> dict:
        """{(label values...): value} of an instant-vector query."""
        return {tuple(s["metric"].get(k, "") for k in labels): float(s["value"][1]) for s in self.query(expr)}

    def exemplars(self, expr: str) -> list[dict]:
        now = time.time()
        r = requests.get(self.url + "/api/v1/query_exemplars",
                         params={"query": expr, "start": now - 600, "end": now + 60}, timeout=5)
        r.raise_for_status()
        return r.json()["data"]

    def stop(self) -> None:
        self.proc.stop()


class Alertmanager:
    def __init__(self, workdir: Path, webhook_url: str):
        port, = free_ports(1)
        self.address = f"127.0.0.1:{port}"
        self.url = f"http://{self.address}"
        config = {
            "route": {"receiver": "webhook", "group_by": ["alertname", "page"], "group_wait": "1s",
                      "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "webhook", "webhook_configs": [{"url": webhook_url, "send_resolved": False}]}],
        }
        cfg = workdir / "alertmanager.yml"
        cfg.write_text(yaml.safe_dump(config))
        (workdir / "am").mkdir()
        self.proc = Proc("alertmanager", [ALERTMANAGER, f"--config.file={cfg}", f"--storage.path={workdir / 'am'}",
                                          f"--web.listen-address={self.address}", "--cluster.listen-address=",
                                          "--log.level=warn"])
        wait_http_ready(self.proc, self.url + "/-/ready")

    def stop(self) -> None:
        self.proc.stop()


def require_binaries() -> list[str]:
    """Names of missing prerequisites (empty when everything is there)."""
    missing = []
    for path, how in ((PROMETHEUS, "apt-get install -y prometheus"),
                      (ALERTMANAGER, "apt-get install -y prometheus-alertmanager"),
                      (CHROMIUM, "apt-get install -y chromium")):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            missing.append(f"{path} ({how}, or scripts/setup.sh test)")
    if shutil.which("node") is None or shutil.which("npm") is None:
        missing.append("node + npm (to bundle the shop's SDKs)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright (pip install -e '.[test]')")
    return missing
