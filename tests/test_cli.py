"""The console script as an operator runs it: serve (and SIGTERM), config validate, demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from otlp_sink import OtlpSink
from support import attr, scrape, total, wait_for

CLI = [sys.executable, "-m", "collector_plugin"]


def _read_addresses(proc: subprocess.Popen) -> dict:
    """The service logs one JSON line with the addresses it really bound (port 0 → a free port)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError(f"serve exited early with {proc.wait()}")
        doc = json.loads(line)
        if doc.get("msg") == "otel-friction listening":
            return doc["addresses"]
    raise AssertionError("serve did not report its addresses")


def test_serve_with_flags_then_sigterm_flushes_open_sessions():
    sink = OtlpSink()
    proc = subprocess.Popen(CLI + ["serve", "--otlp-http", "127.0.0.1:0", "--otlp-grpc", "none", "--metrics", "127.0.0.1:0",
                                   "--export-otlp", sink.url], stderr=subprocess.PIPE, text=True)
    try:
        addresses = _read_addresses(proc)
        assert "otlp_grpc" not in addresses
        provider = LoggerProvider(resource=Resource.create({"service.name": "cli-shop"}))
        provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"http://{addresses['otlp_http']}/v1/logs")))
        provider.get_logger("t").emit(LogRecord(timestamp=time.time_ns(), event_name="browser.page_view",
                                                attributes={"session.id": "cli-1", "url.full": "https://s.example/cart"}))
        provider.shutdown()
        metrics = f"http://{addresses['metrics']}/metrics"
        wait_for(lambda: total(scrape(metrics), "rum_page_views_total", service_name="cli-shop") == 1, what="the page view")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        names = {(s.name, attr(s, "rum.session.end_reason")) for s in sink.spans()}
        assert ("session", "shutdown") in names and ("page_view /cart", None) in names
    finally:
        if proc.poll() is None:
            proc.kill()
        sink.close()


def test_config_validate(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("sessions:\n  inactivity_timeout_seconds: 600\nexport:\n  otlp_endpoint: http://127.0.0.1:4318\n")
    r = subprocess.run(CLI + ["config", "validate", str(good)], capture_output=True, text=True)
    assert r.returncode == 0 and "valid" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("sessions:\n  inactivity_timeout_seconds: -5\n  inactivity_timout: 3\nserver:\n  otlp_http: localhost\n"
                   "errors:\n  sentry_dsn: sentry.example/42\n")
    r = subprocess.run(CLI + ["config", "validate", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "sessions.inactivity_timeout_seconds: Input should be greater than 0" in r.stderr
    assert "sessions.inactivity_timout: unknown key" in r.stderr
    assert "server.otlp_http" in r.stderr and "expected HOST:PORT" in r.stderr
    assert "errors.sentry_dsn: not a Sentry DSN" in r.stderr


def test_unusable_state_paths_are_clear_startup_errors_that_touch_nothing(tmp_path):
    """A directory where a file belongs is a configuration error: exit 1 with the path, and the directory is left as
    it is (a damaged checkpoint file would be set aside, a directory must not be)."""
    busy = tmp_path / "a-directory"
    busy.mkdir()
    for key, expected in (("SESSIONS__CHECKPOINT_PATH", "Is a directory"), ("REPORT__STORE_PATH", "the report store")):
        env = {**os.environ, f"OTEL_FRICTION_{key}": str(busy)}
        r = subprocess.run(CLI + ["serve", "--otlp-http", "127.0.0.1:0", "--otlp-grpc", "none", "--metrics", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=60, env=env)
        assert r.returncode == 1, r.stderr[-2000:]
        assert "otel-friction: cannot start:" in r.stderr and expected in r.stderr and str(busy) in r.stderr
        assert busy.is_dir() and not list(tmp_path.glob("*.unreadable"))


def test_env_overrides_the_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sessions:\n  inactivity_timeout_seconds: 600\n  max_sessions: 10\n")
    env = dict(os.environ, OTEL_FRICTION_SESSIONS__INACTIVITY_TIMEOUT_SECONDS="42")
    r = subprocess.run(CLI + ["config", "validate", str(cfg), "--show"], capture_output=True, text=True, env=env)
    shown = json.loads(r.stdout.split("\n", 1)[1])
    assert shown["sessions"]["inactivity_timeout_seconds"] == 42 and shown["sessions"]["max_sessions"] == 10


def test_demo_runs_and_summarises():
    r = subprocess.run(CLI + ["demo", "--sessions", "60", "--otlp-http", "127.0.0.1:0", "--otlp-grpc", "none", "--metrics", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert "Sessions by device and traffic source" in r.stdout
    assert "0 rejected, 0 dropped" in r.stdout
    assert "Where to look" in r.stdout and "/metrics" in r.stdout
    assert "sending OTLP batches" in r.stderr


def test_report_on_a_damaged_or_unopenable_store_is_a_clear_error(tmp_path):
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"not a database " * 100)
    for store in (damaged, tmp_path):  # a file that isn't SQLite; a directory
        r = subprocess.run(CLI + ["report", "--store", str(store)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and f"the report store {store} can't be read" in r.stderr, r.stderr[-2000:]
    assert damaged.read_bytes() == b"not a database " * 100  # a report only reads: the file is left as it is
