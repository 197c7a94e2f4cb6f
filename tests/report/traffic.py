"""Synthetic shop traffic for the anomaly-report tests: the project's simulator, plus one injected anomaly.

Each injection (``INJECTIONS``) adds one behaviour, in one segment only, to otherwise identical traffic: it draws from
its own random stream and the simulator's stream is put back after it, so the injected corpus and its clean twin
differ only in the injected behaviour.

``python -m tests.report.traffic`` measures what docs/anomaly-reports.md reports: each injection's rank, and the
false-positive rate over independent clean hours.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from collector_plugin.config import load_settings
from collector_plugin.pipeline import Pipeline
from collector_plugin.simulate import REFERRERS, SOURCES, ShopSimulator, to_requests

HOUR = 3600
NOW_HOUR = 480_000  # an hour index (2024-10-04 00:00 UTC); the report's clock is injected, the wall clock plays no part
NOW = NOW_HOUR * HOUR + 1800.0
PRODUCT_ERROR = ("TypeError", "Cannot read properties of null (reading 'variants')")


@dataclass(frozen=True)
class Injection:
    """One anomaly: ``name`` is the behaviour, ``kind``/``page``/``element`` what the report must find, in ``segment``."""

    name: str
    kind: str
    segment: tuple[str, str]  # (dimension, value) as the report names it: ("device", "mobile")
    page: str
    element: str | None  # the finding's expected top element (None: the kind has no elements)
    rate: float  # share of the segment's product page views (per_view) or sessions that get it
    per_view: bool = True

    @property
    def segment_label(self) -> str:
        return f"{self.segment[0]}={self.segment[1]}"


INJECTIONS = {i.name: i for i in [
    # a hero image that looks like a link, on mobile: clicked once, nothing happens
    Injection("dead_click", "dead_click", ("device", "mobile"), "/product/:id", "img.product-hero", 0.3),
    # returning (logged-in) visitors hammer a wishlist button that gives no feedback
    Injection("rage_click", "rage_click", ("visitor", "returning"), "/product/:id", "button.wishlist", 0.3),
    # visitors from search engines land on a product page, read it to the bottom and leave
    Injection("dead_scroll", "dead_scroll", ("source", "organic"), "/product/:id", None, 0.3, per_view=False),
    # on mobile, site search leads to the wrong product: straight back to the results
    Injection("quick_back", "quick_back", ("device", "mobile"), "/product/:id", "from /search", 0.3),
    # on desktop, users go round between the product page and the size guide
    Injection("confusion_loop", "quick_back", ("device", "desktop"), "/product/:id", "loop with /size-guide", 0.25),
    # desktop users stop at the shipping form's address field (no validation error)
    Injection("form_abandonment", "form_abandonment", ("device", "desktop"), "/checkout/shipping", "shipping › address", 0.3,
              per_view=False),
    # new visitors leave at the payment step (no JS error)
    Injection("checkout_dropoff", "checkout_dropoff", ("visitor", "new"), "/checkout/payment", "payment", 0.3, per_view=False),
    # a script on mobile product pages throws
    Injection("error_spike", "error_spike", ("device", "mobile"), "/product/:id", PRODUCT_ERROR[0], 0.3),
]}


def _segment_value(dim: str, device: str, truth) -> str:
    return {"device": device, "visitor": truth.visitor, "source": truth.source}[dim]


class InjectedShop(ShopSimulator):
    """Shop traffic with one injected anomaly (or none): see ``INJECTIONS``."""

    def __init__(self, seed: int, *, start_ns: int, injection: Injection | None = None):
        super().__init__(seed, start_ns=start_ns)
        self.injection = injection
        self.inject_rng = random.Random(seed * 7919 + 1)  # its own stream: clean and injected traffic are otherwise identical
        self._injecting = False  # generating an injected session (session-level injections)

    def _in_segment(self, device: str, truth) -> bool:
        inj = self.injection
        return device != "bot" and _segment_value(inj.segment[0], device, truth) == inj.segment[1]

    # ------------------------------------------------------------------------------ per session

    def session(self, index: int):
        inj = self.injection
        if inj is None or inj.per_view:
            return super().session(index)
        before = self.rng.getstate()
        clean = super().session(index)
        if not (self._in_segment(clean.truth.device, clean.truth) and self.inject_rng.random() < inj.rate):
            return clean
        after = self.rng.getstate()
        self.rng.setstate(before)  # the same session (id, device, source, ...), with the injected behaviour
        self._injecting = True
        try:
            return super().session(index)
        finally:
            self._injecting = False
            self.rng.setstate(after)  # the next sessions as in the clean twin

    def _shopper(self, s, source: str) -> None:
        if self._injecting and self.injection.name == "dead_scroll":
            rng = s.rng
            s.page(f"/product/{rng.randint(100, 999)}", SOURCES[source], "load", REFERRERS.get(source))
            s.wait(rng.randint(5000, 12000))
            s.scroll(rng.uniform(0.85, 1.0), rng.randint(0, 2))
            s.wait(800)
            return
        super()._shopper(s, source)

    def _checkout(self, s) -> None:
        name = self.injection.name if self._injecting else None
        if name not in ("form_abandonment", "checkout_dropoff"):
            return super()._checkout(s)
        rng = s.rng
        s.page("/cart")
        s.wait(rng.randint(3000, 9000))
        s.click("button.next-step", "BUTTON", "network", text="Continue", y=900)
        s.wait(300)
        s.page("/checkout/shipping")
        s.field("shipping", "email", ms=rng.randint(1500, 5000))
        if name == "form_abandonment":
            s.field("shipping", "address", ms=rng.randint(8000, 20000))
            s.wait(2000)
            return  # gave up at the address
        for field in ("address", "zip"):
            s.field("shipping", field, ms=rng.randint(1500, 5000))
        s.emit("browser.form.submit", {"browser.form.id": "shipping"})
        s.wait(rng.randint(1000, 4000))
        s.click("button.next-step", "BUTTON", "network", text="Continue", y=900)
        s.wait(300)
        s.page("/checkout/payment")
        s.wait(rng.randint(5000, 15000))  # saw the payment options, left

    # ---------------------------------------------------------------------------- per page view

    def _browse_page(self, s) -> None:
        super()._browse_page(s)
        inj = self.injection
        if inj is None or not inj.per_view or not self._in_segment(s.device, s.truth) or self.inject_rng.random() >= inj.rate:
            return
        state = self.rng.getstate()  # the injected behaviour must not change the rest of the (otherwise identical) traffic
        getattr(self, "_inject_" + inj.name)(s)
        self.rng.setstate(state)

    def _inject_dead_click(self, s) -> None:
        s.click("img.product-hero", "IMG", None, interactive=False, x=s.vw // 2, y=380)
        s.label("dead_click", element="img.product-hero")
        s.wait(1800)

    def _inject_rage_click(self, s) -> None:
        for i in range(self.inject_rng.choice([3, 4, 5, 6])):
            s.click("button.wishlist", "BUTTON", None, text="Add to wishlist", x=s.vw - 60, y=520, detail=i + 1)
            s.wait(250)
        s.label("rage_click", element="button.wishlist")
        s.wait(1500)

    def _inject_quick_back(self, s) -> None:
        product = s.path
        s.click("button.search", "BUTTON", "navigation", text="Search", x=s.vw - 40, y=40)
        s.wait(250)
        s.page("/search", "?q=boots")
        s.wait(2500)
        s.click("a.search-result", "A", "navigation", text="Winter boots", x=200, y=300)
        s.wait(250)
        s.page(f"/product/{s.rng.randint(100, 999)}")
        s.wait(1500)  # not what the result promised
        s.label("quick_back")
        s.page("/search", "?q=boots", nav="traverse")
        s.wait(2000)
        s.click("a.search-result", "A", "navigation", text="Winter boots", x=200, y=420)
        s.wait(250)
        s.page(product)

    def _inject_confusion_loop(self, s) -> None:
        product = s.path
        for path in ("/size-guide", product, "/size-guide", product):
            s.click("a.size-guide-link", "A", "navigation", text="Size guide", x=200, y=1200)
            s.wait(200)
            s.page(path)
            s.wait(7000)  # long enough not to be quick backs, short enough for a loop
        s.label("confusion_loop")

    def _inject_error_spike(self, s) -> None:
        s.wait(2000)
        s.error(PRODUCT_ERROR)
        s.wait(500)


def settings_for(store: Path | None, **report):
    base = {"current_window_hours": 1, "baseline_days": 3, "min_page_sessions": 300, "min_segment_sessions": 150,
            "analysis_interval_seconds": 10**9}
    base.update(report)
    # The service clock is simulated, far from the traffic's hours: no device clock to correct.
    return load_settings(None, {"report.store_path": str(store) if store else None, "sessions.clock_drift_min_seconds": None,
                                **{f"report.{k}": v for k, v in base.items()}})


def feed(pipeline: Pipeline, clock: list[float], sessions: int, seed: int, hour: int, inject: Injection | None = None) -> None:
    """``sessions`` simulated sessions starting in ``hour`` (event time), through the real pipeline with a simulated clock."""
    sim = InjectedShop(seed, start_ns=hour * HOUR * 10**9 + 60 * 10**9, injection=inject)
    for req in to_requests(list(sim.sessions(sessions)), max_records=500):
        pipeline.ingest_request("logs", req, "simulated")
        clock[0] += pipeline.settings.export.flush_interval_seconds
        pipeline.tick()
    clock[0] += pipeline.settings.sessions.inactivity_timeout_seconds + 1
    pipeline.tick()


def make_pipeline(settings) -> tuple[Pipeline, list[float]]:
    clock = [1000.0]
    return Pipeline(settings, clock=lambda: clock[0]), clock


def build_baseline(path: Path, sessions: int, days: int = 3) -> None:
    p, clock = make_pipeline(settings_for(path))
    for d in range(1, days + 1):
        feed(p, clock, sessions, seed=100 + d, hour=NOW_HOUR - 24 * d)
    p.report.close()


def with_current(baseline: Path, path: Path, sessions: int, inject: Injection | None = None, seed: int = 99) -> None:
    """A copy of the baseline store plus the current hour: ``sessions`` sessions, with ``inject`` or clean."""
    shutil.copy(baseline, path)
    p, clock = make_pipeline(settings_for(path))
    feed(p, clock, sessions, seed=seed, hour=NOW_HOUR, inject=inject)
    p.report.close()


def clean_seeds(n: int) -> tuple[int, ...]:
    """Seeds of ``n`` independent clean current hours; 99 is the injected corpora's twin."""
    return (99, *range(200, 199 + n))


def report_on(path: Path, **cfg):
    p, _ = make_pipeline(settings_for(path, **cfg))
    try:
        return p.report.report(NOW, heatmaps=False)
    finally:
        p.report.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.report.traffic", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=800, help="sessions per hour (default 800, as the tests)")
    ap.add_argument("--clean-hours", type=int, default=30, help="independent clean current hours (default 30)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        build_baseline(d / "baseline.sqlite", args.sessions)
        print("| injection | segment | expected | finding #1 | top element | q | lift | findings |\n|---|---|---|---|---|---|---|---|")
        for name, inj in INJECTIONS.items():
            with_current(d / "baseline.sqlite", d / f"{name}.sqlite", args.sessions, inj)
            rep = report_on(d / f"{name}.sqlite")
            top = rep.findings[0] if rep.findings else None
            got = f"{top.kind} `{top.page}` {top.segment}" if top else "none"
            el = top.elements[0][0] if top and top.elements else "-"
            print(f"| {name} | {inj.segment_label} | {inj.kind} `{inj.page}` | {got} | {el} | "
                  f"{top.q_value:.0e} | {'new' if top.baseline_affected == 0 else f'{top.lift:.2f}'} | {len(rep.findings)} |" if top else f"| {name} | {inj.segment_label} | - | none | | | | 0 |",
                  flush=True)
        findings = comparisons = with_findings = 0
        for seed in clean_seeds(args.clean_hours):
            with_current(d / "baseline.sqlite", d / "clean.sqlite", args.sessions, seed=seed)
            rep = report_on(d / "clean.sqlite")
            findings += len(rep.findings)
            comparisons += rep.tests
            with_findings += bool(rep.findings)
            for f in rep.findings:
                print(f"clean hour (seed {seed}): {f.kind} {f.page} {f.segment} q={f.q_value:.2e}", file=sys.stderr)
        print(f"\nclean traffic: {findings} finding(s) in {comparisons} comparisons over {args.clean_hours} independent hours "
              f"(false-positive rate {findings / max(comparisons, 1):.4f} per comparison; {with_findings}/{args.clean_hours} reports with any finding)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
