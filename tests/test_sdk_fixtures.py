"""Payloads captured from the real browser SDKs in Chromium (tests/fixtures/sdk/capture.py), replayed over real
OTLP/HTTP into the running service. Each manifest records what the scripted journey did; the service must agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from support import attr
from test_pii import PII as SEEDED_PII

PAYLOADS = Path(__file__).parent / "fixtures" / "payloads"
VARIANTS = sorted(p.name for p in PAYLOADS.iterdir() if (p / "manifest.json").exists())


def manifest(variant: str) -> dict:
    return json.loads((PAYLOADS / variant / "manifest.json").read_text())


def replay(base_url: str, variant: str) -> list[requests.Response]:
    out = []
    for req in manifest(variant)["requests"]:
        headers = {"Content-Type": req["content_type"]}
        if req.get("content_encoding"):
            headers["Content-Encoding"] = req["content_encoding"]
        r = requests.post(base_url + req["path"], data=(PAYLOADS / variant / req["file"]).read_bytes(), headers=headers, timeout=30)
        assert r.status_code == 200, (req["file"], r.text)
        out.append(r)
    return out


def metric(bg, name, **labels) -> float:
    return sum(s.value for m in bg.service.pipeline.registry.collect() for s in m.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


@pytest.fixture
def replayed(service_factory, request):
    bg, memory = service_factory()
    variant = request.param
    responses = replay(bg.url("otlp_http"), variant)
    bg.stop()  # ends the session: root span, last page view
    return variant, manifest(variant)["truth"], bg, memory, responses


def test_all_variants_were_captured():
    assert {"otel-json", "otel-proto", "friction-json", "faro", "otel-legacy"} <= set(VARIANTS)


@pytest.mark.parametrize("replayed", VARIANTS, indirect=True)
def test_sessions_and_traces(replayed):
    variant, truth, bg, memory, responses = replayed
    assert all("partialSuccess" not in r.text or "rejected" not in r.text.lower() for r in responses if r.headers["Content-Type"].startswith("application/json"))
    assert metric(bg, "otel_friction_records_rejected_total") == 0
    assert metric(bg, "otel_friction_records_dropped_total", reason="missing_session_id") == 0
    assert metric(bg, "otel_friction_records_dropped_total", reason="unknown_event") == 0
    assert metric(bg, "rum_sessions_started_total") == len(truth["session_ids"])
    spans = [s for _, s in memory.spans()]
    assert {attr(s, "session.id") for s in spans} == set(truth["session_ids"])
    roots = [s for s in spans if s.name == "session"]
    assert len(roots) == len(truth["session_ids"])
    assert len({s.trace_id for s in spans}) == len(truth["session_ids"])  # one trace per session


@pytest.mark.parametrize("replayed", [v for v in VARIANTS if v != "otel-legacy"], indirect=True)
def test_page_views_and_source(replayed):
    variant, truth, bg, memory, _ = replayed
    assert metric(bg, "rum_page_views_total") == truth["page_view_count"]
    assert metric(bg, "rum_page_views_total", page="/product/:id") == 1
    assert metric(bg, "rum_sessions_started_total", source="email") == 1  # utm_medium=email on the landing page


def episodes(memory, signal: str) -> list[tuple[str, str, int]]:
    return [(attr(s, "url.template"), attr(s, "rum.friction.element"), attr(s, "rum.friction.count"))
            for _, s in memory.spans() if s.name == signal]


@pytest.mark.parametrize("replayed", ["friction-json", "otel-json", "otel-proto"], indirect=True)
def test_clicks_and_friction_from_the_project_instrumentation(replayed):
    variant, truth, bg, memory, _ = replayed
    assert metric(bg, "rum_clicks_total") == truth["click_count"]  # user-interaction's spans for the same clicks are not counted twice
    (burst,) = truth["rage_bursts"]
    # The instrumentation's selector is a path ("#app > div.gallery > img.fake-link"); the journey names its tail.
    ((page, element, count),) = episodes(memory, "rage_click")
    assert page == "/product/:id" and element.endswith(burst["selector"]) and count == burst["clicks"]
    assert episodes(memory, "dead_click") == [("/product/:id", element, burst["clicks"])]  # the ignored help button is not dead
    assert metric(bg, "rum_rage_clicks_total", page="/product/:id", element=element) == 1
    # The coupon listener throws; and the order button's submit handler schedules work that throws 50 ms later, which
    # (as with Datadog's "errors during the action") is the click's doing too.
    assert sorted(episodes(memory, "error_click")) == [("/checkout/shipping", "#place-order", 1), ("/product/:id", "#apply-coupon", 1)]
    assert metric(bg, "rum_form_starts_total", form=truth["form"]["form_id"]) == 1
    assert metric(bg, "rum_form_abandonments_total") == 0  # submitted on the second attempt
    shipping = next(s for _, s in memory.spans() if s.name == "page_view /checkout/shipping")
    (ev,) = [e for e in shipping.events if e.name == "browser.scroll"]
    assert attr(ev, "browser.scroll.direction_changes") == truth["scroll"]["direction_changes"]


@pytest.mark.parametrize("replayed", VARIANTS, indirect=True)
def test_errors_are_tied_to_the_session(replayed):
    variant, truth, bg, memory, _ = replayed
    expected = len(truth["errors"]) + (len(truth["console_errors"]) if variant == "faro" else 0)
    if variant == "otel-legacy":
        expected = 0  # traces only: the error-throwing click never ends its span, so nothing reports it
    assert metric(bg, "rum_js_errors_total") == expected
    errors = [s for _, s in memory.spans() if s.name == "exception"]
    assert len(errors) == expected
    assert all(s.status.code == 2 and s.events[0].name == "exception" for s in errors)


@pytest.mark.parametrize("replayed", ["otel-legacy", "otel-json"], indirect=True)
def test_stock_click_spans_and_their_sdk_traces_are_linked(replayed):
    variant, truth, bg, memory, _ = replayed
    linked = {l.trace_id for _, s in memory.spans() for l in s.links}
    assert linked, "the SDK's own traces must be reachable from the session trace"
    if variant == "otel-legacy":
        # http.url (before 0.65.0) and http.method fetch children (before stable semconv) are read.
        assert metric(bg, "rum_clicks_total") >= 1
        assert metric(bg, "rum_dead_clicks_total") == 0  # the add-to-cart click has its fetch child


@pytest.mark.parametrize("replayed", VARIANTS, indirect=True)
def test_no_pii_from_real_sdk_payloads_reaches_any_output(replayed):
    from collector_plugin.emit.exporter import otlp_json
    from prometheus_client.openmetrics.exposition import generate_latest

    variant, truth, bg, memory, responses = replayed
    secrets = [truth["pii"]["email"], truth["pii"]["card"], truth["pii"]["bearer"].split()[-1], "jane.doe%40example.com", "Jane Doe"]
    text = "\n".join(json.dumps(otlp_json(r)) for r in memory.requests)
    text += generate_latest(bg.service.pipeline.registry).decode() + "\n".join(r.text for r in responses)
    assert [s for s in secrets if s in text] == []
    assert set(SEEDED_PII) & {truth["pii"]["email"]}  # same seeds as the synthetic PII test
