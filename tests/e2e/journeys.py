"""Scripted shop journeys driven with Playwright (sync API) in headless Debian Chromium, and their truth.

Like tests/fixtures/sdk/capture.py, the journeys use page.click(), page.mouse, page.keyboard and plain
page.evaluate() only: locator / element-handle operations make Playwright install its injected script in the page's
main world, whose click listeners go through the OTel-patched addEventListener (user-interaction would then see a
listener on every element). Pauses inside a journey are the user's think time (e.g. longer than otel-friction.js's
1 s reaction window after a click that gets no reaction), not synchronisation; waits for the app are polls with
deadlines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .stack import CHROMIUM, wait_until

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
DESKTOP = {"viewport": {"width": 1280, "height": 800},
           "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/156.0.0.0 Safari/537.36"}
MOBILE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
          "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                        "Chrome/156.0.0.0 Mobile Safari/537.36"}
FUNNEL = ("cart", "shipping", "payment", "review", "confirmation")


@dataclass
class Truth:
    """What one journey did: the expected signals of its session."""

    name: str
    device: str
    session_id: str | None = None
    page_views: list[str] = field(default_factory=list)   # route templates, in order
    rage: list[tuple[str, str]] = field(default_factory=list)          # (page, element)
    dead: list[tuple[str, str]] = field(default_factory=list)
    error_clicks: list[tuple[str, str]] = field(default_factory=list)
    js_errors: list[tuple[str, str]] = field(default_factory=list)     # (page, error_type)
    form_starts: list[tuple[str, str]] = field(default_factory=list)   # (page, form)
    abandoned: list[tuple[str, str, str]] = field(default_factory=list)  # (page, form, last_field)
    furthest_step: str | None = None  # last funnel step reached, None = never entered the funnel

    @property
    def converted(self) -> bool:
        return self.furthest_step == FUNNEL[-1]


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


class Driver:
    def __init__(self, page, base: str, truth: Truth):
        self.page, self.base, self.truth = page, base, truth

    def path(self) -> str:
        return self.page.evaluate("() => location.pathname")

    def wait_path(self, path: str, timeout: float = 10.0) -> None:
        wait_until(f"page at {path}", lambda: self.path() == path, timeout, interval=0.05)

    def goto(self, path: str, route: str) -> None:
        self.page.goto(self.base + path, wait_until="load")
        wait_until("telemetry SDK loaded", lambda: self.page.evaluate("() => !!window.__telemetry"), 10, 0.05)
        self.truth.page_views.append(route)
        self.page.wait_for_timeout(300)

    def click(self, selector: str, *, to: str | None = None, route: str | None = None, think_ms: int = 400) -> None:
        self.page.click(selector)
        if to:
            self.wait_path(to)
            self.truth.page_views.append(route or to)
        self.page.wait_for_timeout(think_ms)

    def burst(self, selector: str, n: int, interval_ms: int = 150) -> None:
        """``n`` fast clicks on one element (Chromium's click count gives detail 1..n, as a real browser does)."""
        box = self.page.evaluate("(s) => { const r = document.querySelector(s).getBoundingClientRect();"
                                 " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; }", selector)
        self.page.mouse.move(box["x"], box["y"])
        for i in range(1, n + 1):
            self.page.mouse.down(click_count=i)
            self.page.mouse.up(click_count=i)
            self.page.wait_for_timeout(interval_ms)

    def type_into(self, selector: str, text: str) -> None:
        self.page.evaluate("(s) => document.querySelector(s).focus()", selector)
        if text:
            self.page.keyboard.type(text, delay=10)

    def finish(self) -> None:
        """Flush the SDK's batches and record the session id (the page stays open: no pagehide flush games)."""
        self.truth.session_id = self.page.evaluate("() => window.__telemetry.sessionId()")
        self.page.evaluate("() => window.__telemetry.flush()")
        self.page.wait_for_timeout(400)  # Faro sends its batch 250 ms after the last item


def _shipping(d: Driver, truth: Truth) -> None:
    d.type_into("#email", "jane@example.com")
    d.type_into("#full-name", "Jane Doe")
    d.type_into("#address", "1 Main Street")
    d.type_into("#postcode", "12345")
    truth.form_starts.append(("/checkout/shipping", "shipping-form"))
    d.click("#to-payment", to="/checkout/payment")


def happy_path(d: Driver) -> None:
    t = d.truth
    d.goto("/shop/", "/shop/")
    d.click("#product-1", to="/product/1", route="/product/:id")
    d.click("#add-to-cart", to="/cart")
    d.click("#to-shipping", to="/checkout/shipping")
    _shipping(d, t)
    d.click("#pay", to="/checkout/review")
    d.click("#place-order", to="/checkout/confirmation")
    t.furthest_step = "confirmation"


def coupon_rage_leaves_at_payment(d: Driver, element: str = "#apply-coupon") -> None:
    t = d.truth
    d.goto("/shop/?coupon_error=1&payment=fail", "/shop/")
    d.click("#product-2", to="/product/2", route="/product/:id")
    d.click("#add-to-cart", to="/cart")
    d.burst("#apply-coupon", 4)
    t.rage.append(("/cart", element))
    t.error_clicks.append(("/cart", element))
    t.js_errors.extend([("/cart", "TypeError")] * 4)
    d.page.wait_for_timeout(1200)
    d.click("#to-shipping", to="/checkout/shipping")
    _shipping(d, t)
    d.page.click("#pay")  # POST /api/pay answers 502: "Payment failed"
    wait_until("payment failure shown", lambda: "failed" in d.page.evaluate(
        "() => document.getElementById('pay-status').textContent"), 10, 0.05)
    d.page.wait_for_timeout(800)
    t.furthest_step = "payment"


def fake_link_bounce(d: Driver, element: str = "#gallery-image") -> None:
    t = d.truth
    d.goto("/shop/", "/shop/")
    d.click("#product-3", to="/product/3", route="/product/:id")
    d.page.click("#gallery-image")  # looks like a link, has no listener
    t.dead.append(("/product/:id", element))
    d.page.wait_for_timeout(1500)  # longer than the 1 s reaction window: the click is reported with reaction "none"


def mobile_abandons_shipping(d: Driver, last_field: str = "email") -> None:
    t = d.truth
    d.goto("/shop/", "/shop/")
    d.click("#product-1", to="/product/1", route="/product/:id")
    d.click("#add-to-cart", to="/cart")
    d.click("#to-shipping", to="/checkout/shipping")
    d.type_into("#email", "jane@")          # typeMismatch
    d.click("#to-payment")                  # invalid: email, full_name, address, postcode; Chromium focuses #email
    d.type_into("#full-name", "Jane")
    d.click("#to-payment")                  # still invalid: email, address, postcode; focus back on #email
    t.form_starts.append(("/checkout/shipping", "shipping-form"))
    t.abandoned.append(("/checkout/shipping", "shipping-form", last_field))
    d.page.wait_for_timeout(600)
    t.furthest_step = "shipping"


def stepper_converts(d: Driver) -> None:
    t = d.truth
    d.goto("/shop/", "/shop/")
    d.click("#product-2", to="/product/2", route="/product/:id")
    d.burst("#qty-plus", 5)  # legit fast clicks: every one answered (quantity 1 -> 6)
    qty = d.page.evaluate("() => document.getElementById('qty-value').textContent")
    assert qty == "6", f"stepper did not count every click: {qty}"
    d.page.wait_for_timeout(300)
    d.click("#add-to-cart", to="/cart")
    d.click("#to-shipping", to="/checkout/shipping")
    _shipping(d, t)
    d.click("#pay", to="/checkout/review")
    d.click("#place-order", to="/checkout/confirmation")
    t.furthest_step = "confirmation"


JOURNEYS = (
    ("happy_path", "desktop", happy_path),
    ("coupon_rage_leaves_at_payment", "desktop", coupon_rage_leaves_at_payment),
    ("fake_link_bounce", "desktop", fake_link_bounce),
    ("mobile_abandons_shipping", "mobile", mobile_abandons_shipping),
    ("stepper_converts", "desktop", stepper_converts),
)


def run_journey(browser, base: str, name: str, device: str, fn, **kwargs) -> Truth:
    truth = Truth(name, device)
    ctx = browser.new_context(**(MOBILE if device == "mobile" else DESKTOP))
    ctx.set_default_timeout(15_000)
    try:
        page = ctx.new_page()
        d = Driver(page, base, truth)
        start = time.monotonic()
        fn(d, **kwargs)
        d.finish()
        assert truth.session_id, f"{name}: the page has no session id"
        truth.duration_s = time.monotonic() - start  # type: ignore[attr-defined]
    finally:
        ctx.close()
    return truth


def run_all(browser, base: str) -> list[Truth]:
    return [run_journey(browser, base, name, device, fn) for name, device, fn in JOURNEYS]
