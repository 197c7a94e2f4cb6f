"""The OTLP receivers run in a process of their own (collector_plugin/receiver.py): what an operator sees when either
process dies or the whole process group is signalled."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from otlp_sink import OtlpSink
from support import attr, logs_request, scrape, total, wait_for
from test_cli import CLI, _read_addresses


def _receiver_pid(pid: int) -> int:
    """The service's child started by multiprocessing's spawn (its other child is multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if ppid == pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
    [receiver] = found
    return receiver


@contextmanager
def _serving(**popen):
    """``otel-friction serve`` exporting to a fresh sink: (process, its addresses, the sink); both stopped after."""
    sink = OtlpSink()
    proc = subprocess.Popen(CLI + ["serve", "--otlp-http", "127.0.0.1:0", "--otlp-grpc", "none", "--metrics", "127.0.0.1:0",
                                   "--export-otlp", sink.url], stderr=subprocess.PIPE, text=True, **popen)
    try:
        yield proc, _read_addresses(proc), sink
    finally:
        if proc.poll() is None:
            proc.kill()
        sink.close()


def _open_session(addresses, sid: str) -> None:
    t = time.time_ns()
    body = logs_request([("browser.page_view", t, {"session.id": sid, "url.full": "https://s.example/cart"})]).SerializeToString()
    r = requests.post(f"http://{addresses['otlp_http']}/v1/logs", data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=10)
    assert r.status_code == 200
    metrics = f"http://{addresses['metrics']}/metrics"
    wait_for(lambda: total(scrape(metrics), "rum_page_views_total") == 1, what="the page view")


def _refused(hostport: str) -> bool:
    host, _, port = hostport.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_when_the_receiver_dies_the_service_ends_its_sessions_and_exits_with_an_error():
    with _serving() as (proc, addresses, sink):
        _open_session(addresses, "orphaned-receiver")
        os.kill(_receiver_pid(proc.pid), signal.SIGKILL)
        assert proc.wait(timeout=30) == 1  # for the supervisor to restart it whole
        roots = [s for s in sink.spans() if s.name == "session"]
        assert [attr(r, "session.id") for r in roots] == ["orphaned-receiver"]
        assert attr(roots[0], "rum.session.end_reason") == "shutdown"
        assert "the receiver process exited unexpectedly" in proc.stderr.read()


def test_sigterm_to_the_whole_process_group_is_a_clean_stop():
    # systemd's default KillMode and Ctrl-C signal every process of the group: the receiver must leave the stop to
    # the service (which drains it first), not die on its own and read as a crash.
    with _serving(start_new_session=True) as (proc, addresses, sink):
        _open_session(addresses, "group-signalled")
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert [attr(s, "session.id") for s in sink.spans() if s.name == "session"] == ["group-signalled"]


def test_when_the_service_is_killed_its_receiver_stops_answering():
    # An orphaned receiver would answer 200 to data nobody processes; it must go, and free the port for a restart.
    with _serving() as (proc, addresses, sink):
        _open_session(addresses, "killed-service")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        wait_for(lambda: _refused(addresses["otlp_http"]), timeout=10, what="the OTLP port to refuse connections")


def test_a_taken_port_is_a_clear_startup_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run(CLI + ["serve", "--otlp-http", f"127.0.0.1:{port}", "--otlp-grpc", "none", "--metrics", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "otel-friction: cannot start: the OTLP receivers could not start" in r.stderr
    assert f"127.0.0.1', {port}" in r.stderr or f"127.0.0.1:{port}" in r.stderr  # the address that was taken


def test_a_taken_metrics_port_is_a_clear_startup_error_and_the_receiver_stops_too():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # The receiver process is up by the time the metrics listener fails: it must not keep the command alive.
        r = subprocess.run(CLI + ["serve", "--otlp-http", "127.0.0.1:0", "--otlp-grpc", "none", "--metrics", f"127.0.0.1:{port}"],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "otel-friction: cannot start:" in r.stderr and str(port) in r.stderr


def test_every_request_answered_200_before_sigterm_is_processed():
    # The receiver answers once it has handed a request over; stopping drains the hand-over before the service ends
    # its sessions. Requests keep coming while SIGTERM arrives: each one answered 200 must be in a session trace.
    answered: list[str] = []
    with _serving() as (proc, addresses, sink), requests.Session() as http:
        url = f"http://{addresses['otlp_http']}/v1/logs"
        for i in range(2000):  # bounded: stops at the first refused connection after SIGTERM
            sid = f"drain-{i}"
            body = logs_request([("browser.page_view", time.time_ns(), {"session.id": sid, "url.full": "https://s.example/"})])
            try:
                r = http.post(url, data=body.SerializeToString(), headers={"Content-Type": "application/x-protobuf"}, timeout=10)
            except requests.ConnectionError:
                break
            if r.status_code == 200:
                answered.append(sid)
                if len(answered) == 20:
                    proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert len(answered) >= 20
        ended = {attr(s, "session.id") for s in sink.spans() if s.name == "session"}
        assert set(answered) <= ended, sorted(set(answered) - ended)[:5]
