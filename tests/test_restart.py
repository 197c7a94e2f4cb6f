"""Restarts lose nothing and count nothing twice: SIGTERM checkpoints open sessions, kill -9 loses at most the
checkpoint interval, and the restarted service continues the same sessions."""

from __future__ import annotations

import signal
import subprocess
import time

import requests

from otlp_sink import OtlpSink
from support import attr, logs_request, scrape, total, wait_for
from test_cli import CLI, _read_addresses

URL = "https://shop.example"
SESSIONS = [f"restart-{i}" for i in range(5)]


def _config(tmp_path, sink: OtlpSink):
    cfg = tmp_path / "otel-friction.yaml"
    cfg.write_text(f"""
server: {{otlp_http: "127.0.0.1:0", otlp_grpc: null, metrics: "127.0.0.1:0"}}
export: {{otlp_endpoint: "{sink.url}", flush_interval_seconds: 0.1}}
sessions: {{checkpoint_path: "{tmp_path / 'sessions.ckpt'}", checkpoint_interval_seconds: 0.3, inactivity_timeout_seconds: 3}}
""")
    return cfg


def _start(cfg):
    proc = subprocess.Popen(CLI + ["serve", "--config", str(cfg)], stderr=subprocess.PIPE, text=True)
    return proc, _read_addresses(proc)


def _send(addresses, records):
    requests.post(f"http://{addresses['otlp_http']}/v1/logs", data=logs_request(records).SerializeToString(),
                  headers={"Content-Type": "application/x-protobuf"}, timeout=10).raise_for_status()


def _first_half(addresses):
    t = time.time_ns()
    recs = []
    for sid in SESSIONS:
        recs += [("browser.page_view", t, {"session.id": sid, "url.full": f"{URL}/cart"}),
                 ("browser.user_action.click", t + 10**9, {"session.id": sid, "url.full": f"{URL}/cart", "browser.css_selector": "#go",
                                                          "browser.click.reaction": "navigation"})]
    _send(addresses, recs)
    metrics = f"http://{addresses['metrics']}/metrics"
    wait_for(lambda: total(scrape(metrics), "rum_clicks_total") == len(SESSIONS), what="the first half")


def _second_half_and_end(addresses, sink):
    t = time.time_ns()
    _send(addresses, [("browser.page_view", t, {"session.id": sid, "url.full": f"{URL}/checkout/shipping"}) for sid in SESSIONS])
    roots = wait_for(lambda: (r := [s for s in sink.spans() if s.name == "session"]) and len(r) == len(SESSIONS) and r,
                     timeout=20, what="the sessions to end after the restart")
    metrics = scrape(f"http://{addresses['metrics']}/metrics")
    assert total(metrics, "rum_sessions_started_total") == 0  # continued, not started again
    assert total(metrics, "rum_page_views_total") == len(SESSIONS)
    assert total(metrics, "rum_funnel_step_reached_total", step="shipping") == len(SESSIONS)  # funnel position survived
    for root in roots:
        assert attr(root, "rum.page_views") == 2 and attr(root, "rum.clicks") == 1  # one session across both processes
    assert {attr(r, "session.id") for r in roots} == set(SESSIONS)


def _restart_and_finish(cfg, sink: OtlpSink) -> None:
    """A second process on the same checkpoint takes the sessions to their end."""
    b, addresses = _start(cfg)
    try:
        _second_half_and_end(addresses, sink)
    finally:
        b.send_signal(signal.SIGTERM)
        b.wait(timeout=30)


def test_sigterm_checkpoints_and_the_next_process_continues_the_sessions(tmp_path):
    sink = OtlpSink()
    cfg = _config(tmp_path, sink)
    try:
        a, addresses = _start(cfg)
        _first_half(addresses)
        a.send_signal(signal.SIGTERM)
        assert a.wait(timeout=30) == 0
        names = [s.name for s in sink.spans()]
        assert names.count("click") == len(SESSIONS) and "session" not in names  # interactions out, sessions still open
        _restart_and_finish(cfg, sink)
    finally:
        sink.close()


def test_kill_9_mid_load_restores_from_the_last_checkpoint(tmp_path):
    sink = OtlpSink()
    cfg = _config(tmp_path, sink)
    try:
        a, addresses = _start(cfg)
        _first_half(addresses)
        metrics = f"http://{addresses['metrics']}/metrics"
        wait_for(lambda: total(scrape(metrics), "otel_friction_checkpoint_sessions") == len(SESSIONS), what="a checkpoint with the sessions")
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
        _restart_and_finish(cfg, sink)
    finally:
        sink.close()


def test_a_checkpoint_from_another_version_is_not_continued_and_the_service_still_starts(tmp_path, caplog):
    import pickle

    from conftest import make_settings

    from collector_plugin.pipeline import Pipeline

    path = tmp_path / "sessions.ckpt"
    path.write_bytes(pickle.dumps({"version": Pipeline.CHECKPOINT_VERSION - 1, "sessions": "objects of another release"}))
    pipeline = Pipeline(make_settings(sessions__checkpoint_path=str(path)))
    assert pipeline.restored_sessions == 0 and len(pipeline.sessions) == 0
    assert "another version" in caplog.text


def test_an_unreadable_checkpoint_is_set_aside_and_the_service_still_starts(tmp_path, caplog):
    """A damaged file (or one whose classes another release moved) fails to unpickle: the service starts without its
    sessions instead of crash-looping, and keeps the file for inspection."""
    from conftest import make_settings

    from collector_plugin.pipeline import Pipeline

    path = tmp_path / "sessions.ckpt"
    for damaged in (b"\x80\x05truncated", b"ccollector_plugin.moved_away\nSession\n."):
        path.write_bytes(damaged)
        pipeline = Pipeline(make_settings(sessions__checkpoint_path=str(path)))
        assert pipeline.restored_sessions == 0 and len(pipeline.sessions) == 0
        assert "checkpoint unreadable" in caplog.text
        assert not path.exists() and (tmp_path / "sessions.ckpt.unreadable").read_bytes() == damaged
        pipeline.checkpoint()  # and the next checkpoint is written as usual
        assert Pipeline(make_settings(sessions__checkpoint_path=str(path))).restored_sessions == 0
        assert not (tmp_path / "sessions.ckpt").read_bytes().startswith(damaged[:8])


def test_a_checkpoint_that_cannot_be_written_is_counted_and_shutdown_ends_the_sessions(tmp_path, caplog):
    """With nowhere to save them, stopping ends the open sessions (root spans out) instead of losing them."""
    from conftest import make_settings
    from support import logs_request

    from collector_plugin.emit.exporter import InMemorySpanExporter
    from collector_plugin.pipeline import Pipeline

    (tmp_path / "not-a-directory").write_text("")
    settings = make_settings(sessions__checkpoint_path=str(tmp_path / "not-a-directory" / "sessions.ckpt"))
    exporter = InMemorySpanExporter()
    pipeline = Pipeline(settings, exporters=[exporter])
    pipeline.ingest_request("logs", logs_request([("browser.page_view", time.time_ns(), {"session.id": sid, "url.full": f"{URL}/cart"})
                                                  for sid in SESSIONS]))
    pipeline.tick()
    assert pipeline.checkpoint() is False
    assert "checkpoint failed" in caplog.text
    assert pipeline.registry.get_sample_value("otel_friction_checkpoint_failures_total") == 1
    pipeline.shutdown()
    assert pipeline.registry.get_sample_value("otel_friction_sessions_ended_total", {"reason": "shutdown"}) == len(SESSIONS)
    assert len([s for _, s in exporter.spans() if s.name == "session"]) == len(SESSIONS)
    assert not list((tmp_path).glob("**/*.tmp"))
