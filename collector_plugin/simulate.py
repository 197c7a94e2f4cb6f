"""Simulated shop traffic, shaped exactly like this project's browser instrumentation sends it (OTLP logs).

Each simulated session carries its ground truth (what the scripted user did), so the demo can show what the
processor found and tests can check it against what really happened.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from .ingest.classify import FRICTION_SCOPE

ORIGIN = "https://shop.example"
FUNNEL = ["/cart", "/checkout/shipping", "/checkout/payment", "/checkout/review", "/checkout/confirmation"]
DEVICES = {
    "desktop": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36", 1440, 900),
    "mobile": ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 390, 844),
    "tablet": ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 820, 1180),
}
SOURCES = {"direct": "", "organic": "", "paid": "?utm_source=google&utm_medium=cpc&utm_campaign=winter",
           "social": "?utm_source=instagram&utm_medium=social", "email": "?utm_source=newsletter&utm_medium=email",
           "referral": "?utm_source=blog.example&utm_medium=referral"}
REFERRERS = {"organic": "https://www.google.com/", "referral": "https://blog.example/best-boots"}
JS_ERRORS = [("TypeError", "Cannot read properties of undefined (reading 'total')"),
             ("Error", "Coupon service failed for customer jane.doe@example.com"),
             ("ChunkLoadError", "Loading chunk 742 failed.")]


@dataclass
class Truth:
    """What the scripted user did; detectors are judged against it."""

    device: str
    source: str
    visitor: str
    pages: list[str] = field(default_factory=list)
    clicks: int = 0
    errors: Counter = field(default_factory=Counter)
    rage_clicks: int = 0
    dead_clicks: int = 0
    furthest_step: int = -1  # index into FUNNEL
    converted: bool = False


@dataclass
class SimSession:
    session_id: str
    records: list[tuple[int, LogRecord]]
    truth: Truth
    user_agent: str


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


class ShopSimulator:
    def __init__(self, seed: int = 1, *, start_ns: int, friction_rate: float = 0.25, error_rate: float = 0.12):
        self.rng = random.Random(seed)
        self.start_ns = start_ns
        self.friction_rate = friction_rate
        self.error_rate = error_rate

    def session(self, index: int) -> SimSession:
        rng = self.rng
        device = rng.choices(list(DEVICES), weights=[55, 40, 5])[0]
        source = rng.choices(list(SOURCES), weights=[35, 25, 15, 10, 10, 5])[0]
        visitor = "returning" if rng.random() < 0.3 else "new"
        ua, vw, vh = DEVICES[device]
        sid = "%032x" % rng.getrandbits(128)
        truth = Truth(device, source, visitor)
        t = self.start_ns + index * 37_000_000
        recs: list[tuple[int, LogRecord]] = []

        def emit(name: str, url: str, attrs: dict[str, Any], severity: int = 9) -> None:
            rec = LogRecord(time_unix_nano=t, observed_time_unix_nano=t, event_name=name, severity_number=severity,
                            attributes=[_kv("session.id", sid), _kv("url.full", url)] + [_kv(k, v) for k, v in attrs.items() if v is not None])
            if visitor == "returning":
                rec.attributes.append(_kv("session.previous_id", "%032x" % rng.getrandbits(128)))
            recs.append((t, rec))

        def step(ms: int) -> None:
            nonlocal t
            t += int(ms * 1_000_000 * rng.uniform(0.7, 1.3))

        def page(path: str, query: str = "", nav: str = "push", referrer: str | None = None) -> str:
            url = ORIGIN + path + query
            truth.pages.append(path)
            emit("browser.page_view", url, {"browser.page_view.type": nav, "browser.document.referrer": referrer,
                                             "browser.viewport.width": vw, "browser.viewport.height": vh})
            return url

        def click(url: str, selector: str, tag: str, reaction: str | None, x: int, y: int, text: str | None = None,
                  interactive: bool = True) -> None:
            truth.clicks += 1
            emit("browser.user_action.click", url, {
                "browser.page.x": x, "browser.page.y": y, "browser.viewport.width": vw, "browser.viewport.height": vh,
                "browser.tag_name": tag, "browser.css_selector": selector, "browser.element.text": text,
                "browser.element.interactive": interactive, "browser.mouse_event.button": "left",
                "browser.click.pointer_type": "touch" if device != "desktop" else "mouse", "browser.click.detail": 1,
                "browser.click.reaction": reaction or "none",
                "browser.click.reaction_ms": rng.randint(20, 400) if reaction else None})

        def scroll(url: str, depth: float, reversals: int) -> None:
            emit("browser.scroll", url, {"browser.scroll.max_depth": depth, "browser.scroll.distance_px": int(depth * 3000),
                                         "browser.scroll.direction_changes": reversals, "browser.document.height": 3200,
                                         "browser.viewport.height": vh})

        def error(url: str, kind: tuple[str, str]) -> None:
            truth.errors[kind[0]] += 1
            emit("exception", url, {"exception.type": kind[0], "exception.message": kind[1],
                                    "exception.stacktrace": f"{kind[0]}: {kind[1]}\n    at checkout ({ORIGIN}/assets/app.js:1:4242)"},
                 severity=17)

        # Landing and browsing.
        landing = rng.choice(["/", "/products", f"/product/{rng.randint(100, 999)}"])
        url = page(landing, SOURCES[source], "load", REFERRERS.get(source))
        for _ in range(rng.randint(1, 3)):
            step(rng.randint(3000, 12000))
            click(url, "a.product-card", "A", "navigation", rng.randint(100, vw - 100), rng.randint(200, 1400), "Winter boots")
            step(300)
            url = page(f"/product/{rng.randint(100, 999)}")
            scroll(url, rng.uniform(0.3, 0.9), rng.randint(0, 2))
            step(rng.randint(2000, 8000))
            if rng.random() < self.friction_rate / 2:
                # An image that looks like a link: clicks that do nothing.
                n = rng.choice([1, 1, 4, 5])
                for _ in range(n):
                    click(url, "img.product-zoom", "IMG", None, 320, 480, interactive=False)
                    step(180)
                truth.dead_clicks += n
                truth.rage_clicks += 1 if n >= 3 else 0
        if rng.random() < 0.35:
            return SimSession(sid, recs, truth, ua)  # browsed, never carted
        # Checkout funnel with drop-offs.
        click(url, "#add-to-cart", "BUTTON", "network", vw // 2, 600, "Add to cart")
        step(900)
        for i, path in enumerate(FUNNEL):
            if i > 0:
                click(url, "button.next-step", "BUTTON", "navigation", vw // 2, 900, "Continue")
                step(400)
            url = page(path)
            truth.furthest_step = i
            if path == "/checkout/confirmation":
                truth.converted = True
                break
            step(rng.randint(4000, 20000))
            if path == "/cart" and rng.random() < self.friction_rate:
                # A broken coupon button: the click throws, the user hammers it.
                n = rng.choice([1, 3, 4, 6])
                for _ in range(n):
                    click(url, "#apply-coupon", "BUTTON", "mutation", vw // 2, 700, "Apply coupon")
                    step(150)
                    error(url, JS_ERRORS[1])
                truth.rage_clicks += 1 if n >= 3 else 0
            if path == "/checkout/shipping":
                for field_name in ("email", "address", "zip"):
                    emit("browser.form.field_focus", url, {"browser.form.id": "shipping", "browser.form.field.name": field_name, "browser.form.field.type": "text"})
                    step(rng.randint(1500, 6000))
                    emit("browser.form.field_blur", url, {"browser.form.id": "shipping", "browser.form.field.name": field_name, "browser.form.field.type": "text",
                                                         "browser.form.field.duration_ms": 3000, "browser.form.field.changed": True})
            if path == "/checkout/payment" and rng.random() < self.error_rate:
                error(url, JS_ERRORS[0])
                if rng.random() < 0.7:
                    break  # the error cost the checkout
            if rng.random() < [0.1, 0.25, 0.2, 0.1, 0][i]:
                break
        return SimSession(sid, recs, truth, ua)

    def sessions(self, n: int) -> Iterator[SimSession]:
        for i in range(n):
            yield self.session(i)


def to_requests(sessions: list[SimSession], service_name: str = "demo-shop", max_records: int = 1000) -> list[ExportLogsServiceRequest]:
    """Group records the way a collector's batch processor does: by resource, up to ``max_records`` per request."""
    requests: list[ExportLogsServiceRequest] = []
    req, count = ExportLogsServiceRequest(), 0
    for s in sessions:
        if count >= max_records:
            requests.append(req)
            req, count = ExportLogsServiceRequest(), 0
        rl = req.resource_logs.add()
        rl.resource.attributes.extend([_kv("service.name", service_name), _kv("service.version", "1.4.2"),
                                       _kv("user_agent.original", s.user_agent), _kv("telemetry.sdk.language", "webjs")])
        sl = rl.scope_logs.add()
        sl.scope.name = FRICTION_SCOPE
        sl.log_records.extend(r for _, r in s.records)
        count += len(s.records)
    if count:
        requests.append(req)
    return requests
