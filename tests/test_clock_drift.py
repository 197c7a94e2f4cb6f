"""Device clocks are untrusted: a session stamped by a clock that is off by most of an hour or more is shifted to the
service's time as a whole (its own timing kept), so its trace and its report hour are where it happened."""

from __future__ import annotations

from conftest import make_settings
from support import attr, logs_request

from collector_plugin.emit.exporter import InMemorySpanExporter
from collector_plugin.pipeline import Pipeline

S = 1_000_000_000
HOUR = 3600 * S
NOW = 1_763_000_000.0  # the service clock, seconds
NOW_NS = int(NOW * S)
URL = "https://shop.example"


def _pipeline(**overrides):
    clock = [NOW]
    memory = InMemorySpanExporter()
    p = Pipeline(make_settings(**{"sessions__clock_drift_min_seconds": 3300, "report__store_path": "memory", **overrides}),
                 exporters=[memory], clock=lambda: clock[0])
    return p, clock, memory


def _visit(sid: str, t: int):
    return [("browser.page_view", t, {"session.id": sid, "url.full": f"{URL}/cart"}),
            ("browser.user_action.click", t + 2 * S, {"session.id": sid, "url.full": f"{URL}/cart", "browser.css_selector": "#pay",
                                                      "browser.click.reaction": "network"})]


def _end(p: Pipeline, clock: list[float]) -> None:
    clock[0] += p.settings.sessions.inactivity_timeout_seconds + 1
    p.tick()


def _spans(memory, sid: str) -> dict:
    return {s.name: s for _, s in memory.spans() if attr(s, "session.id") == sid}


def test_a_device_clock_a_day_behind_is_corrected_for_the_whole_session():
    p, clock, memory = _pipeline()
    behind = NOW_NS - 24 * HOUR
    p.ingest_request("logs", logs_request(_visit("lagging", behind)))
    p.tick()
    clock[0] += 30  # the same device, 30 s later: still a day behind
    p.ingest_request("logs", logs_request([("browser.page_view", behind + 30 * S, {"session.id": "lagging", "url.full": f"{URL}/checkout"})]))
    _end(p, clock)
    spans = _spans(memory, "lagging")
    assert abs(spans["page_view /cart"].start_time_unix_nano - NOW_NS) < S  # when it happened, by the service clock
    assert spans["click"].start_time_unix_nano - spans["page_view /cart"].start_time_unix_nano == 2 * S  # its own timing kept
    assert spans["page_view /checkout"].start_time_unix_nano - spans["page_view /cart"].start_time_unix_nano == 30 * S
    assert attr(spans["session"], "rum.clock_offset_ms") == 24 * 3600 * 1000
    assert p.registry.get_sample_value("otel_friction_sessions_clock_corrected_total") == 1
    p.report.flush()
    assert p.report.store.hour_range() == (NOW_NS // HOUR, NOW_NS // HOUR)  # the report counts it in this hour


def test_a_clock_ahead_is_shifted_back_and_late_events_follow_their_session():
    p, clock, memory = _pipeline()
    ahead = NOW_NS + 3 * HOUR
    p.ingest_request("logs", logs_request(_visit("rushing", ahead)))
    _end(p, clock)
    late = [("exception", ahead + 60 * S, {"session.id": "rushing", "url.full": f"{URL}/cart", "exception.type": "Error",
                                           "exception.message": "late"})]
    p.ingest_request("logs", logs_request(late))
    p.tick()
    spans = _spans(memory, "rushing")
    assert abs(spans["page_view /cart"].start_time_unix_nano - NOW_NS) < S
    assert attr(spans["session"], "rum.clock_offset_ms") == -3 * 3600 * 1000
    assert attr(spans["exception"], "rum.late") is True
    assert spans["exception"].start_time_unix_nano - spans["page_view /cart"].start_time_unix_nano == 60 * S


def test_small_gaps_are_left_alone_and_the_correction_can_be_off():
    p, clock, memory = _pipeline()
    p.ingest_request("logs", logs_request(_visit("late-send", NOW_NS - 30 * 60 * S)))  # half an hour: maybe a delayed send
    _end(p, clock)
    spans = _spans(memory, "late-send")
    assert spans["page_view /cart"].start_time_unix_nano == NOW_NS - 30 * 60 * S
    assert attr(spans["session"], "rum.clock_offset_ms") is None
    assert (p.registry.get_sample_value("otel_friction_sessions_clock_corrected_total") or 0) == 0

    p, clock, memory = _pipeline(sessions__clock_drift_min_seconds=None)
    p.ingest_request("logs", logs_request(_visit("as-sent", NOW_NS - 24 * HOUR)))
    _end(p, clock)
    assert _spans(memory, "as-sent")["page_view /cart"].start_time_unix_nano == NOW_NS - 24 * HOUR
