"""Simulated shop traffic with ground truth, shaped exactly as this project's browser instrumentation sends it.

Every session is scripted from behaviours (browse, buy, and injected friction); each behaviour records what it
did as labels, so the detectors can be scored against the truth (``otel-friction eval``). The noise is what makes
trackers cry wolf in practice: fast clicks on quantity steppers, double/triple-click text selection, slow
networks where the reaction comes late, touch jitter on mobile, bots.
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
FUNNEL_STEPS = ["cart", "shipping", "payment", "review", "confirmation"]
DEVICES = {
    "desktop": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36", 1440, 900),
    "mobile": ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 390, 844),
    "tablet": ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 820, 1180),
    "bot": ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 1280, 800),
}
SOURCES = {"direct": "", "organic": "", "paid": "?utm_source=google&utm_medium=cpc&utm_campaign=winter",
           "social": "?utm_source=instagram&utm_medium=social", "email": "?utm_source=newsletter&utm_medium=email",
           "referral": "?utm_source=blog.example&utm_medium=referral"}
REFERRERS = {"organic": "https://www.google.com/", "referral": "https://blog.example/best-boots"}
COUPON_ERROR = ("Error", "Coupon service failed for customer jane.doe@example.com")
PAYMENT_ERROR = ("TypeError", "Cannot read properties of undefined (reading 'total')")
MS = 1_000_000


@dataclass(frozen=True)
class Label:
    signal: str
    page: str
    element: str | None = None


@dataclass
class Truth:
    """What the scripted user did; detectors are judged against it."""

    device: str
    source: str
    visitor: str
    labels: list[Label] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    clicks: int = 0
    errors: Counter = field(default_factory=Counter)
    furthest_step: int = -1  # index into FUNNEL
    converted: bool = False


@dataclass
class SimSession:
    session_id: str
    records: list[LogRecord]
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


class _Script:
    """One session being written: a clock, the records, the truth."""

    def __init__(self, rng: random.Random, sid: str, device: str, truth: Truth, t: int, previous: str | None):
        self.rng, self.sid, self.device, self.truth, self.t, self.previous = rng, sid, device, truth, t, previous
        _, self.vw, self.vh = DEVICES[device]
        self.records: list[LogRecord] = []
        self.url = ORIGIN
        self.path = "/"

    def wait(self, ms: float) -> None:
        self.t += int(ms * MS * self.rng.uniform(0.8, 1.2))

    def emit(self, name: str, attrs: dict[str, Any], severity: int = 9) -> None:
        rec = LogRecord(time_unix_nano=self.t, observed_time_unix_nano=self.t, event_name=name, severity_number=severity)
        rec.attributes.extend([_kv("session.id", self.sid), _kv("url.full", self.url)])
        rec.attributes.extend(_kv(k, v) for k, v in attrs.items() if v is not None)
        if self.previous:
            rec.attributes.append(_kv("session.previous_id", self.previous))
        self.records.append(rec)

    def page(self, path: str, query: str = "", nav: str = "push", referrer: str | None = None) -> None:
        self.path, self.url = path, ORIGIN + path + query
        self.truth.pages.append(path)
        self.emit("browser.page_view", {"browser.page_view.type": nav, "browser.document.referrer": referrer,
                                        "browser.viewport.width": self.vw, "browser.viewport.height": self.vh})

    def click(self, selector: str, tag: str, reaction: str | None, *, text: str | None = None, interactive: bool = True,
              x: int | None = None, y: int | None = None, detail: int = 1, reaction_ms: int | None = None) -> None:
        jitter = 12 if self.device in ("mobile", "tablet") else 2
        x = (x if x is not None else self.vw // 2) + self.rng.randint(-jitter, jitter)
        y = (y if y is not None else 600) + self.rng.randint(-jitter, jitter)
        self.truth.clicks += 1
        self.emit("browser.user_action.click", {
            "browser.page.x": x, "browser.page.y": y, "browser.viewport.width": self.vw, "browser.viewport.height": self.vh,
            "browser.tag_name": tag, "browser.css_selector": selector, "browser.element.text": text,
            "browser.element.interactive": interactive, "browser.mouse_event.button": "left",
            "browser.click.pointer_type": "touch" if self.device in ("mobile", "tablet") else "mouse", "browser.click.detail": detail,
            "browser.click.reaction": reaction or "none",
            "browser.click.reaction_ms": (reaction_ms or self.rng.randint(15, 300)) if reaction and reaction != "none" else None})

    def scroll(self, depth: float, reversals: int) -> None:
        self.emit("browser.scroll", {"browser.scroll.max_depth": round(depth, 3), "browser.scroll.distance_px": int(depth * 3200 * (1 + reversals / 2)),
                                     "browser.scroll.direction_changes": reversals, "browser.document.height": 3200,
                                     "browser.viewport.height": self.vh})

    def error(self, kind: tuple[str, str]) -> None:
        self.truth.errors[kind[0]] += 1
        self.emit("exception", {"exception.type": kind[0], "exception.message": kind[1],
                                "exception.stacktrace": f"{kind[0]}: {kind[1]}\n    at onClick ({ORIGIN}/assets/app.js:1:4242)"}, severity=17)

    def field(self, form: str, name: str, *, error: str | None = None, ms: int = 3000) -> None:
        base = {"browser.form.id": form, "browser.form.field.name": name, "browser.form.field.type": "text"}
        self.emit("browser.form.field_focus", base)
        self.wait(ms)
        if error:
            self.emit("browser.form.field_error", {**base, "browser.form.field.validation": error})
        self.emit("browser.form.field_blur", {**base, "browser.form.field.duration_ms": ms, "browser.form.field.changed": True})
        self.wait(400)

    def label(self, signal: str, page: str | None = None, element: str | None = None) -> None:
        self.truth.labels.append(Label(signal, page or _route(self.path), element))


def _route(path: str) -> str:
    return "/product/:id" if path.startswith("/product/") else path


class ShopSimulator:
    """``clean=True`` leaves out every injected friction: the corpus on which no episode may be found."""

    def __init__(self, seed: int = 1, *, start_ns: int, clean: bool = False, friction_rate: float = 0.3):
        self.rng = random.Random(seed)
        self.start_ns = start_ns
        self.friction = 0.0 if clean else friction_rate

    def sessions(self, n: int) -> Iterator[SimSession]:
        for i in range(n):
            yield self.session(i)

    def session(self, index: int) -> SimSession:
        rng = self.rng
        device = rng.choices(list(DEVICES), weights=[52, 38, 6, 4])[0]
        source = rng.choices(list(SOURCES), weights=[35, 25, 15, 10, 10, 5])[0]
        returning = rng.random() < 0.3
        sid = "%032x" % rng.getrandbits(128)
        truth = Truth(device, source, "returning" if returning else "new")
        s = _Script(rng, sid, device, truth, self.start_ns + index * 41 * MS, "%032x" % rng.getrandbits(128) if returning else None)
        if device == "bot":
            self._bot(s)
        else:
            self._shopper(s, source)
        return SimSession(sid, s.records, truth, DEVICES[device][0])

    def _chance(self, p: float) -> bool:
        return self.rng.random() < p * self.friction / 0.3 if self.friction else False

    # --------------------------------------------------------------------------------- behaviours

    def _bot(self, s: _Script) -> None:
        # Crawlers fire clicks nobody reacts to, fast: none of it is a human's friction.
        s.page("/", "", "load")
        for path in ("/products", f"/product/{s.rng.randint(100, 999)}", "/products"):
            for _ in range(4):
                s.click("a.nav-link", "A", None, text="Shop")
                s.wait(80)
            s.page(path)
            s.scroll(1.0, 0)
            s.wait(300)

    def _browse_page(self, s: _Script) -> None:
        """A product page read normally, with legitimate noise; may carry injected friction."""
        rng = s.rng
        s.wait(rng.randint(1500, 4000))
        if rng.random() < 0.3:  # select text to copy it: a triple click, not a rage click
            s.click("p.description", "P", None, interactive=False, x=400, y=900)
            s.wait(120)
            s.click("p.description", "P", "selection", interactive=False, x=401, y=900, detail=2)
            s.wait(120)
            s.click("p.description", "P", "selection", interactive=False, x=401, y=901, detail=3)
            s.wait(1500)
        if rng.random() < 0.4:  # a quantity stepper clicked fast: every click answered
            for _ in range(rng.randint(3, 7)):
                s.click("button.qty-plus", "BUTTON", "mutation", text="+", x=700, y=640)
                s.wait(140)
        if rng.random() < 0.3:  # gallery image carousel
            for _ in range(rng.randint(2, 5)):
                s.click("button.carousel-next", "BUTTON", "mutation", text="›", x=1100, y=400)
                s.wait(250)
        if self._chance(0.25):  # an image that looks like a link: dead, often hammered
            n = rng.choice([1, 1, 2, 4, 5, 6])
            for i in range(n):  # browsers count rapid clicks on one spot in event.detail
                s.click("img.product-zoom", "IMG", None, interactive=False, x=320, y=480, detail=i + 1)
                s.wait(200)
            s.label("dead_click", element="img.product-zoom")
            if n >= 3:
                s.label("rage_click", element="img.product-zoom")
            s.wait(800)
        if self._chance(0.12):
            s.scroll(rng.uniform(0.92, 1.0), rng.randint(7, 12))  # hunting up and down for the size chart
            s.label("excessive_scroll")
            s.wait(600)
            s.click("a.size-chart", "A", "mutation", text="Size chart", y=2900)
        else:
            s.scroll(rng.uniform(0.2, 0.7), rng.randint(0, 2))  # deep reads come with engagement, see _shopper
        s.wait(rng.randint(1000, 3000))

    def _shopper(self, s: _Script, source: str) -> None:
        rng = s.rng
        landing = rng.choice(["/", "/products", f"/product/{rng.randint(100, 999)}"])
        s.page(landing, SOURCES[source], "load", REFERRERS.get(source))
        if landing != "/" and self._chance(0.08):
            # Read to the bottom, touched nothing, left: the page didn't hold them.
            s.wait(rng.randint(4000, 9000))
            s.scroll(rng.uniform(0.85, 1.0), rng.randint(0, 1))
            s.label("dead_scroll")
            s.wait(500)
            return
        s.wait(rng.randint(1500, 5000))
        for _ in range(rng.randint(1, 3)):
            s.click("a.product-card", "A", "navigation", text="Winter boots", x=rng.randint(100, s.vw - 100), y=rng.randint(200, 1400))
            s.wait(250)
            previous = s.path
            s.page(f"/product/{rng.randint(100, 999)}")
            if self._chance(0.1):  # wrong product: straight back
                s.wait(rng.randint(1200, 3000))
                s.label("quick_back")
                s.page(previous, nav="traverse")
                s.wait(1500)
                s.click("a.product-card", "A", "navigation", text="Winter boots", x=300, y=500)
                s.wait(250)
                s.page(f"/product/{rng.randint(100, 999)}")
            self._browse_page(s)
        if self._chance(0.08):  # can't find the size guide: back and forth between two pages
            a, b = "/products", "/size-guide"
            for path in (a, b, a, b):
                s.click("a.nav-link", "A", "navigation", text="Size guide", x=200, y=80)
                s.wait(200)
                s.page(path)
                s.wait(rng.randint(6500, 9000))
            s.label("confusion_loop", page=a)
        if rng.random() < 0.35:
            return  # browsed, never carted
        s.click("#add-to-cart", "BUTTON", "network", text="Add to cart", y=600)
        s.wait(900)
        self._checkout(s)

    def _checkout(self, s: _Script) -> None:
        rng = s.rng
        for i, path in enumerate(FUNNEL):
            if i > 0:
                # Slow networks: the reaction comes late, but it comes.
                s.click("button.next-step", "BUTTON", "network", text="Continue", y=900, reaction_ms=rng.choice([80, 200, 2500]))
                s.wait(300)
            s.page(path)
            s.truth.furthest_step = i
            if i == len(FUNNEL) - 1:
                s.truth.converted = True
                return
            s.wait(rng.randint(3000, 9000))
            if path == "/cart" and self._chance(0.3):
                # A broken coupon button: it throws, the user hammers it.
                n = rng.choice([1, 1, 3, 4, 6])
                for k in range(n):
                    s.click("#apply-coupon", "BUTTON", None, text="Apply coupon", y=700, detail=k + 1)
                    s.wait(40)
                    s.error(COUPON_ERROR)
                    s.wait(160)
                s.label("error_click", element="#apply-coupon")
                if n >= 3:
                    s.label("rage_click", element="#apply-coupon")
                s.wait(1000)
            if path == "/checkout/shipping":
                if self._chance(0.25):
                    s.field("shipping", "email")
                    s.field("shipping", "zip", error="patternMismatch")
                    s.field("shipping", "zip", error="patternMismatch", ms=5000)
                    s.label("form_abandonment", element="shipping")
                    s.wait(2000)
                    return  # gave up on the form
                for name in ("email", "address", "zip"):
                    s.field("shipping", name, ms=rng.randint(1500, 5000))
                s.emit("browser.form.submit", {"browser.form.id": "shipping"})
            if path == "/checkout/payment" and self._chance(0.15):
                s.click("#pay", "BUTTON", None, text="Pay now", y=820)
                s.wait(30)
                s.error(PAYMENT_ERROR)
                s.label("error_click", element="#pay")
                if rng.random() < 0.7:
                    return  # the error cost the checkout
                s.wait(3000)
            if rng.random() < [0.1, 0.15, 0.15, 0.08, 0][i]:
                return
            s.wait(rng.randint(1000, 4000))


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
        sl.log_records.extend(s.records)
        count += len(s.records)
    if count:
        requests.append(req)
    return requests
