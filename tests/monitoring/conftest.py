"""Real Prometheus, Alertmanager and a webhook receiver on free loopback ports, with temp data dirs."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"


def need(*binaries: str) -> None:
    missing = [b for b in binaries if not Path(b).exists()]
    if missing:
        pytest.skip(f"missing {missing}: run scripts/setup.sh test (apt-get install prometheus prometheus-alertmanager)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, interval: float = 0.2):
    """Poll ``check()`` until it returns something truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (requests.RequestException, KeyError, IndexError, ValueError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Process:
    def __init__(self, args: list[str], log: Path):
        self.log = log
        self._fh = open(log, "wb")
        self.proc = subprocess.Popen(args, stdout=self._fh, stderr=subprocess.STDOUT)

    def ready(self, url: str, timeout: float = 30) -> None:
        def ok():
            if self.proc.poll() is not None:
                raise AssertionError(f"exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            return requests.get(url, timeout=2).status_code == 200
        wait_until(ok, timeout, url)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._fh.close()


class Webhook:
    """A tiny real HTTP server that records the JSON bodies Alertmanager posts."""

    def __init__(self):
        self.bodies: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self) -> list[dict]:
        return [a for b in list(self.bodies) for a in b.get("alerts", [])]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def webhook():
    w = Webhook()
    yield w
    w.close()


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory, webhook):
    need(ALERTMANAGER)
    d = tmp_path_factory.mktemp("alertmanager")
    config = {
        "route": {"receiver": "webhook", "group_by": ["alertname", "service_name", "page"], "group_wait": "0s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "webhook", "webhook_configs": [{"url": webhook.url, "send_resolved": False}]}],
    }
    (d / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    p = Process([ALERTMANAGER, f"--config.file={d / 'alertmanager.yml'}", f"--storage.path={d / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="], d / "alertmanager.log")
    try:
        p.ready(f"http://127.0.0.1:{port}/-/ready")
        yield f"http://127.0.0.1:{port}"
    finally:
        p.stop()


def start_prometheus(d: Path, scrape_target: str | list[str], rule_file: Path | None, alertmanager_url: str | None) -> tuple[Process, str]:
    need(PROMETHEUS)
    targets = [scrape_target] if isinstance(scrape_target, str) else list(scrape_target)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "otel-friction", "static_configs": [{"targets": targets}]}],
    }
    if rule_file:
        config["rule_files"] = [str(rule_file)]
    if alertmanager_url:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_url.split("//", 1)[1]]}]}]}
    (d / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    p = Process([PROMETHEUS, f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--enable-feature=exemplar-storage",
                 "--rules.alert.resend-delay=1s"], d / "prometheus.log")
    p.ready(f"http://127.0.0.1:{port}/-/ready")
    return p, f"http://127.0.0.1:{port}"
