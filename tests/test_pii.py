"""PII seeded into every field of every input format appears in no output of the service."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import quote

import requests

from collector_plugin.emit.exporter import otlp_json
from collector_plugin.normalize.pii import Masker, luhn_ok
from collector_plugin.config import PiiConfig
from support import logs_request

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
CARD_COMPACT = "4111111111111111"
PHONE = "+44 20 7946 0958"
IBAN = "DE89 3704 0044 0532 0130 00"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
SECRET_QUERY = "s3cr3t-reset-code"
USER_ID = "customer-8812"
TYPED = "my typed password"
PII = [EMAIL, quote(EMAIL), quote(EMAIL, safe=""), CARD, CARD_COMPACT, PHONE, IBAN, IBAN.replace(" ", ""), JWT, SECRET_QUERY, USER_ID, TYPED]
TEXT = f"{EMAIL} {CARD} {PHONE} {IBAN} Bearer {JWT}"
URL = f"https://shop.example/account/{EMAIL}/orders?reset={SECRET_QUERY}&utm_source=news&email={quote(EMAIL)}"
T0 = time.time_ns()


def _our_logs():
    sid = "pii-session-1"
    common = {"session.id": sid, "url.full": URL, "user.id": USER_ID}
    return logs_request([
        ("browser.page_view", T0, {**common, "browser.document.referrer": f"https://ref.example/?token={SECRET_QUERY}&u={quote(EMAIL)}"}),
        ("browser.user_action.click", T0 + 1, {**common, "browser.css_selector": f"#user-{EMAIL}", "browser.element.text": f"Pay with {CARD}",
                                                "browser.tag_name": "BUTTON", "browser.click.reaction": "none"}),
        ("browser.form.field_focus", T0 + 2, {**common, "browser.form.id": f"form-{EMAIL}", "browser.form.field.name": f"iban {IBAN}",
                                               "browser.form.field.value": TYPED}),
        ("browser.form.field_blur", T0 + 3, {**common, "browser.form.id": f"form-{EMAIL}", "browser.form.field.name": PHONE}),
        ("exception", T0 + 4, {**common, "exception.type": f"Error {EMAIL}", "exception.message": TEXT,
                               "exception.stacktrace": f"Error: {TEXT}\n    at pay (https://shop.example/app.js?session={SECRET_QUERY}:1:2)"}),
        ("browser.scroll", T0 + 5, {**common, "browser.scroll.max_depth": 0.5}),
    ], resource={"service.name": "shop", "user.email": EMAIL})


def _stock_spans_json():
    sid = "pii-session-2"
    def kv(k, v):
        return {"key": k, "value": {"stringValue": v}}
    click = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "click",
             "startTimeUnixNano": str(T0), "endTimeUnixNano": str(T0 + 1000),
             "attributes": [kv("session.id", sid), kv("event_type", "click"), kv("target_element", "BUTTON"),
                            kv("target_xpath", f'//*[@id="{EMAIL}"]/button'), kv("http.url", URL)],
             "events": [{"name": "exception", "timeUnixNano": str(T0 + 10), "attributes": [kv("exception.type", "TypeError"), kv("exception.message", TEXT)]}]}
    fetch = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b175", "parentSpanId": "eee19b7ec3c1b174", "name": "GET",
             "startTimeUnixNano": str(T0 + 5), "endTimeUnixNano": str(T0 + 900),
             "attributes": [kv("session.id", sid), kv("http.request.method", "GET"), kv("url.full", f"https://api.example/users/{EMAIL}?card={CARD_COMPACT}")]}
    doc = {"traceId": "6b8efff798038103d269b633813fc60c", "spanId": "aee19b7ec3c1b174", "name": "documentLoad",
           "startTimeUnixNano": str(T0 - 1000), "endTimeUnixNano": str(T0),
           "attributes": [kv("session.id", sid), kv("url.full", URL), kv("user_agent.original", "Mozilla/5.0")]}
    return {"resourceSpans": [{"resource": {"attributes": [kv("service.name", "shop"), kv("enduser.id", USER_ID)]},
                               "scopeSpans": [{"scope": {"name": "@opentelemetry/instrumentation-user-interaction"}, "spans": [click, fetch, doc]}]}]}


def _faro_json():
    def kv(k, v):
        return {"key": k, "value": {"stringValue": v}}
    common = [kv("session.id", "Ab3dE6gH9k"), kv("url.full", URL), kv("page.id", "p1"), kv("view.name", f"view-{EMAIL}"),
              kv("user.id", USER_ID), kv("user.email", EMAIL)]
    exc = {"timeUnixNano": T0 * 1.0, "attributes": common + [
        kv("exception.type", "Error"), kv("exception.message", TEXT),
        {"key": "faro.error.stacktrace", "value": {"kvlistValue": {"values": [{"key": "frames", "value": {"arrayValue": {"values": [
            {"kvlistValue": {"values": [kv("filename", f"https://shop.example/app.js?email={quote(EMAIL)}"), kv("function", "pay")]}}]}}}]}}}]}
    action = {"timeUnixNano": T0 * 1.0 + 1, "body": {"stringValue": "faro.user.action"}, "attributes": common + [
        kv("event.name", "faro.user.action"),
        {"key": "event.attributes", "value": {"kvlistValue": {"values": [kv("userActionName", f"pay {EMAIL}")]}}}]}
    bad = {"timeUnixNano": T0, "traceId": EMAIL, "attributes": common}
    bad_type = {"timeUnixNano": T0, "attributes": [{"key": "session.id", "value": {"intValue": CARD_COMPACT + "x"}}]}
    return {"resourceLogs": [{"resource": {"attributes": [kv("service.name", "shop"), kv("user_agent.original", "Mozilla/5.0")]},
                              "scopeLogs": [{"scope": {"name": "@grafana/faro-web-sdk"}, "logRecords": [exc, action, bad, bad_type]}]}]}


def test_masker_basics():
    m = Masker(PiiConfig(hmac_secret="k"))
    assert m.text(TEXT) == "<email> <card> <phone> <iban> Bearer <token>"
    assert m.text("order 4111111111111112 ts 1732345678123") == "order 4111111111111112 ts 1732345678123"  # not Luhn
    assert luhn_ok(CARD_COMPACT) and not luhn_ok("4111111111111112")
    assert m.url(URL) == "https://shop.example/account/<email>/orders?reset=<redacted>&utm_source=news&email=<redacted>"
    assert m.user_id(USER_ID) == Masker(PiiConfig(hmac_secret="k")).user_id(USER_ID) != Masker(PiiConfig(hmac_secret="j")).user_id(USER_ID)


def test_pii_in_every_field_of_every_format_reaches_no_output(service_factory, caplog, tmp_path):
    caplog.set_level(logging.DEBUG, logger="otel_friction")
    bg, memory = service_factory(export__file=str(tmp_path / "spans.jsonl"))
    base = bg.url("otlp_http")
    responses = [
        requests.post(f"{base}/v1/logs", data=_our_logs().SerializeToString(), headers={"Content-Type": "application/x-protobuf"}),
        requests.post(f"{base}/v1/traces", json=_stock_spans_json()),
        requests.post(f"{base}/v1/logs", json=_faro_json()),
        requests.post(f"{base}/v1/logs", data=f'{{"resourceLogs": [{{"x": "{EMAIL}"'.encode(), headers={"Content-Type": "application/json"}),
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 400]
    assert json.loads(responses[2].text)["partialSuccess"]["rejectedLogRecords"] == "2"
    bg.stop()  # ends every session: root spans and final page views are exported
    outputs = {
        "responses": "\n".join(r.text for r in responses),
        "spans": "\n".join(json.dumps(otlp_json(r)) for r in memory.requests) + "".join(str(r.SerializeToString()) for r in memory.requests),
        "span file": (tmp_path / "spans.jsonl").read_text(),
        "service logs": "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records),
    }
    from prometheus_client import generate_latest
    from prometheus_client.openmetrics.exposition import generate_latest as om_latest
    outputs["metrics"] = generate_latest(bg.service.pipeline.registry).decode() + om_latest(bg.service.pipeline.registry).decode()
    assert {"session", "click", "exception"} <= {s.name for _, s in memory.spans()}
    leaks = [(where, secret) for where, text in outputs.items() for secret in PII if secret in text]
    assert leaks == []
    # The masks keep the shape: an analyst sees that an email was there.
    assert "<email>" in outputs["spans"] and "<card>" in outputs["spans"] and "<redacted>" in outputs["spans"]
