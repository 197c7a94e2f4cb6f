"""The detectors as pure functions over one page's events, and the stage's funnel and late-event behaviour."""

from __future__ import annotations

from collector_plugin.config import DetectConfig
from collector_plugin.detect.clicks import dead_clicks, error_clicks, rage_clicks
from collector_plugin.detect.journeys import confusion_loops, quick_backs
from collector_plugin.detect.pages import dead_scroll, excessive_scrolls, form_abandonments
from collector_plugin.events import Click, Event, FormField, JsError, Kind, Network, Scroll, Source
from test_sessions import T0, URL, pipeline, sample
from support import attr, logs_request

MS = 1_000_000
CFG = DetectConfig()


def click(t_ms: int, selector="#buy", reaction: str | None = "none", *, x=100, y=100, text=None, detail=1, source=Source.FRICTION_JS,
          tag="BUTTON", span_id=b"", network_children=None, ignored=False) -> Event:
    return Event(Kind.CLICK, source, T0 + t_ms * MS, "s", "shop",
                 Click(x=x, y=y, tag=tag, selector=selector, text=text, reaction=reaction, detail=detail,
                       network_children=network_children, ignored=ignored), span_id=span_id)


def error(t_ms: int) -> Event:
    return Event(Kind.JS_ERROR, Source.FRICTION_JS, T0 + t_ms * MS, "s", "shop", JsError("TypeError", "x"))


def test_rage_click_is_one_episode_with_its_count():
    eps = rage_clicks([click(t) for t in (0, 200, 400, 600, 800)], CFG)
    assert [(e.count, e.element) for e in eps] == [(5, "#buy")]
    assert rage_clicks([click(t) for t in (0, 200)], CFG) == []  # two is not a burst
    assert rage_clicks([click(t) for t in (0, 1500, 3000)], CFG) == []  # too slow
    assert rage_clicks([click(0, x=0), click(100, "#other", x=500), click(200, x=0)], CFG) == []  # not the same target


def test_rage_click_same_spot_different_elements_counts_for_touch_jitter():
    eps = rage_clicks([click(0, "span.a", x=100), click(150, "span.b", x=110, y=105), click(300, "span.a", x=95)], CFG)
    assert len(eps) == 1 and eps[0].count == 3


def test_rage_click_guards():
    stepper = [click(t, "button.qty-plus", "mutation", text="+") for t in (0, 150, 300, 450)]
    assert rage_clicks(stepper, CFG) == []
    pager = [click(t, "#p", "none", text="Next") for t in (0, 150, 300)]
    assert rage_clicks(pager, CFG) == []  # text ignore-list
    answered = [click(t, "#like", "mutation") for t in (0, 150, 300)]
    assert rage_clicks(answered, CFG) == []  # every click produced a reaction and nothing broke
    broken = answered + [error(160)]
    assert len(rage_clicks(sorted(broken, key=lambda e: e.time_ns), CFG)) == 1  # ...unless an error followed
    selection = [click(0, "p", "none"), click(100, "p", "selection", detail=2), click(200, "p", "selection", detail=3)]
    assert rage_clicks(selection, CFG) == [] and dead_clicks(selection, CFG, None) == []
    # Browsers count every rapid click in event.detail: without a selection, a high detail is still a rage burst.
    hammered = [click(t, "img.zoom", "none", detail=i + 1) for i, t in enumerate((0, 100, 200, 300))]
    assert len(rage_clicks(hammered, CFG)) == 1
    opted_out = [click(t, "#x", ignored=True) for t in (0, 100, 200)]
    assert rage_clicks(opted_out, CFG) == [] and dead_clicks(opted_out, CFG, None) == []


def test_dead_click_from_the_reaction_the_browser_saw():
    eps = dead_clicks([click(0, "img.zoom", tag="IMG"), click(5000, "#ok", "network")], CFG, None)
    assert [(e.element, e.count, e.inferred) for e in eps] == [("img.zoom", 1, False)]
    burst = dead_clicks([click(t, "img.zoom", tag="IMG") for t in (0, 200, 400, 600)], CFG, None)
    assert [(e.count) for e in burst] == [4]  # a rage on a dead element is one dead episode
    assert dead_clicks([click(0, "input#q", tag="INPUT")], CFG, None) == []  # typing targets never react visibly


def test_dead_click_inferred_for_stock_click_spans():
    lone = click(0, "//*[@id='x']", None, source=Source.OTEL_SPANS, span_id=b"\x01" * 8, network_children=0)
    eps = dead_clicks([lone], CFG, None)
    assert len(eps) == 1 and eps[0].inferred and eps[0].final_after_ns == T0 + CFG.dead_click_inferred_window_ms * MS
    with_fetch = click(0, "//*[@id='x']", None, source=Source.OTEL_SPANS, span_id=b"\x02" * 8, network_children=1)
    assert dead_clicks([with_fetch], CFG, None) == []
    child_later = Event(Kind.NETWORK, Source.OTEL_SPANS, T0 + 10 * MS, "s", "shop", Network(parent_span_id=b"\x01" * 8))
    assert dead_clicks([lone, child_later], CFG, None) == []  # its fetch child came in another batch
    assert dead_clicks([lone], CFG, next_page_ns=T0 + 300 * MS) == []  # a link: the next page load was the reaction


def test_error_click_and_not_also_dead():
    events = [click(0, "#coupon"), error(50), click(5000, "#other")]
    eps = error_clicks(events, CFG)
    assert [(e.element, dict(e.details)["exception.type"]) for e in eps] == [("#coupon", "TypeError")]
    assert [e.element for e in dead_clicks(events, CFG, None)] == ["#other"]


def _scroll(depth, reversals, t=0):
    return Event(Kind.SCROLL, Source.FRICTION_JS, T0 + t * MS, "s", "shop", Scroll(max_depth=depth, direction_changes=reversals))


def test_excessive_scroll_against_the_page_baseline():
    assert len(excessive_scrolls([_scroll(0.95, 6)], CFG, baseline_reversals=1.0)) == 1
    assert excessive_scrolls([_scroll(0.95, 6)], CFG, baseline_reversals=4.0) == []  # this page is always scrolled like that
    assert excessive_scrolls([_scroll(0.5, 9)], CFG, baseline_reversals=0.0) == []  # not deep


def test_dead_scroll_only_once_the_page_is_over_and_only_without_engagement():
    assert dead_scroll([_scroll(0.9, 0)], CFG, page_ended=False) == []
    assert len(dead_scroll([_scroll(0.9, 0)], CFG, page_ended=True)) == 1
    assert dead_scroll([click(0, "#x", "mutation"), _scroll(0.9, 0, 10)], CFG, page_ended=True) == []


def _form(kind, t, field, form="shipping", error=None, ms=None):
    return Event(kind, Source.FRICTION_JS, T0 + t * MS, "s", "shop", FormField(form=form, field=field, validation=error, duration_ms=ms))


def test_form_abandonment_with_last_field_errors_and_retries():
    events = [_form(Kind.FORM_FOCUS, 0, "email"), _form(Kind.FORM_BLUR, 10, "email", ms=10),
              _form(Kind.FORM_FOCUS, 20, "zip"), _form(Kind.FORM_ERROR, 30, "zip", error="patternMismatch"),
              _form(Kind.FORM_BLUR, 40, "zip", ms=20), _form(Kind.FORM_FOCUS, 50, "zip"), _form(Kind.FORM_BLUR, 90, "zip", ms=40)]
    assert form_abandonments(events, page_ended=False) == []
    (ep,) = form_abandonments(events, page_ended=True)
    d = dict(ep.details)
    assert (ep.element, d["rum.form.last_field"], d["rum.form.field_errors"], d["rum.form.retries"], d["rum.form.last_field_duration_ms"]) == \
        ("shipping", "zip", 1, 1, 60)
    assert form_abandonments(events + [_form(Kind.FORM_SUBMIT, 100, None)], page_ended=True) == []


def test_quick_back_and_confusion_loop_use_paths_not_templates():
    s = 1_000_000_000
    visits = [("/products", "/products", 0), ("/product/:id", "/product/1", 10 * s), ("/products", "/products", 12 * s)]
    (qb,) = quick_backs(visits, CFG)
    assert dict(qb.details)["url.template"] == "/product/:id"
    other_products = [("/product/:id", "/product/1", 0), ("/product/:id", "/product/2", s), ("/product/:id", "/product/1", 2 * s)]
    assert len(quick_backs(other_products, CFG)) == 1
    slow = [("/a", "/a", 0), ("/b", "/b", 10 * s), ("/a", "/a", 20 * s)]
    assert quick_backs(slow, CFG) == []
    loop = [("/a", "/a", 0), ("/b", "/b", 8 * s), ("/a", "/a", 16 * s), ("/b", "/b", 24 * s)]
    assert len(confusion_loops(loop, CFG)) == 1
    browsing = [("/products", "/products", 0), ("/product/:id", "/product/1", 8 * s), ("/products", "/products", 16 * s),
                ("/product/:id", "/product/2", 24 * s)]
    assert confusion_loops(browsing, CFG) == []


# -------------------------------------------------------------------------- the stage, through the pipeline

def _funnel_visit(sid, steps, t=T0):
    return [("browser.page_view", t + i * 10**9, {"session.id": sid, "url.full": f"{URL}{p}"}) for i, p in enumerate(steps)]


def test_drop_off_is_counted_once_by_the_service_clock_and_late_events_do_not_recount():
    p, clock, memory = pipeline()
    p.ingest_request("logs", logs_request(_funnel_visit("f1", ["/cart", "/checkout/shipping"])))
    p.tick()
    assert sample(p, "rum_funnel_step_reached_total", step="shipping") == 1
    assert sample(p, "rum_funnel_dropoffs_total") == 0  # not before the session ends
    clock.now += 1801
    p.tick()
    assert sample(p, "rum_funnel_dropoffs_total", funnel="checkout", step="shipping", device="unknown") == 1
    # Late and out-of-order: the payment step arrives after the session was closed.
    p.ingest_request("logs", logs_request(_funnel_visit("f1", ["/checkout/payment", "/checkout/review"], T0 + 5 * 10**9)))
    p.tick()
    clock.now += 1801
    p.tick()
    assert sample(p, "rum_funnel_dropoffs_total") == 1
    assert sample(p, "rum_funnel_step_reached_total") == 2
    assert sample(p, "rum_sessions_started_total") == 1


def test_funnel_steps_must_come_in_order_and_conversion_is_timed():
    p, clock, memory = pipeline()
    p.ingest_request("logs", logs_request(_funnel_visit("skip", ["/checkout/payment", "/checkout/review"])))
    steps = ["/cart", "/checkout/shipping", "/checkout/payment", "/checkout/review", "/checkout/confirmation"]
    p.ingest_request("logs", logs_request(_funnel_visit("buy", steps)))
    p.tick()
    assert sample(p, "rum_funnel_step_reached_total", step="payment") == 1  # the session that skipped cart never entered
    assert sample(p, "rum_funnel_conversions_total") == 1
    assert sample(p, "rum_funnel_conversion_duration_seconds_sum") == 4.0
    clock.now += 1801
    p.tick()
    assert sample(p, "rum_funnel_dropoffs_total") == 0
    roots = {attr(s, "session.id"): s for _, s in memory.spans() if s.name == "session"}
    assert attr(roots["buy"], "rum.converted") is True and attr(roots["buy"], "rum.funnel.checkout.furthest_step") == "confirmation"


def test_episodes_wait_until_settled_then_appear_in_the_trace_and_metrics():
    p, clock, memory = pipeline()
    sid = "r1"
    clicks = [("browser.user_action.click", T0 + t * MS, {"session.id": sid, "url.full": f"{URL}/cart", "browser.css_selector": "#x",
                                                          "browser.click.reaction": "none"}) for t in (0, 200, 400)]
    p.ingest_request("logs", logs_request([("browser.page_view", T0 - MS, {"session.id": sid, "url.full": f"{URL}/cart"})] + clicks))
    p.tick()
    assert sample(p, "rum_rage_clicks_total") == 0  # the burst may still grow
    p.ingest_request("logs", logs_request([(name, t + 600 * MS, a) for name, t, a in clicks[:1]]))
    p.tick()
    assert sample(p, "rum_rage_clicks_total") == 0
    clock.now += 6  # quiet for longer than settle_seconds
    p.tick()
    assert sample(p, "rum_rage_clicks_total", page="/cart", element="#x") == 1
    rage = [s for _, s in memory.spans() if s.name == "rage_click"]
    assert len(rage) == 1 and attr(rage[0], "rum.friction.count") == 4


def test_one_visitor_cannot_inflate_a_pages_friction_beyond_the_cap():
    p, clock, _ = pipeline(detect__max_episodes_per_page=3)
    sid = "flood"
    recs = [("browser.page_view", T0, {"session.id": sid, "url.full": f"{URL}/cart"})]
    recs += [("browser.user_action.click", T0 + i * 2 * 10**9, {"session.id": sid, "url.full": f"{URL}/cart", "browser.css_selector": f"#b{i}",
                                                                 "browser.click.reaction": "none"}) for i in range(1, 40)]
    p.ingest_request("logs", logs_request(recs))
    p.tick()
    clock.now += 1801
    p.tick()
    assert sample(p, "rum_dead_clicks_total") == 3
    assert sample(p, "otel_friction_episodes_capped_total") == 36


def test_bots_produce_no_friction():
    p, clock, _ = pipeline()
    recs = [("browser.page_view", T0, {"session.id": "bot", "url.full": URL, "user_agent.original": "Googlebot/2.1"})]
    recs += [("browser.user_action.click", T0 + t * MS, {"session.id": "bot", "url.full": URL, "browser.css_selector": "a",
                                                          "browser.click.reaction": "none"}) for t in (0, 100, 200, 300)]
    p.ingest_request("logs", logs_request(recs))
    clock.now += 1801
    p.tick()
    p.tick()
    assert sample(p, "rum_rage_clicks_total") == 0 and sample(p, "rum_dead_clicks_total") == 0
    assert sample(p, "rum_sessions_started_total", device="bot") == 1
