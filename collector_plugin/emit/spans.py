"""Session traces: sessionize outputs → OTLP spans, encoded straight to protobuf bytes (emit/wire.py).

Model (docs/span-model.md): one trace per session; root span ``session`` (exported when the session ends);
``page_view <route>`` spans under it (exported when the page view ends); ``click`` and ``exception`` spans under
the page view (exported on the next flush, so a live incident finds the session within seconds).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .. import __version__
from ..detect import Found, Summary
from ..events import Click, Event, FormField, JsError, Kind, Named, Scroll, Source
from ..sessionize import Happened, Late, Output, Page, PageEnded, Session, SessionEnded, new_span_id
from . import wire

SCOPE = wire.scope("otel-friction", __version__)
MAX_SPAN_EVENTS = 128
# Members bound to module names: ``Kind.X`` is a slow class attribute read on Python 3.11 (see sessionize.py).
_CLICK, _JS_ERROR, _OTEL_SPANS = Kind.CLICK, Kind.JS_ERROR, Source.OTEL_SPANS


def event_attributes(e: Event) -> dict[str, Any]:
    """The attributes an event carries on a span or span event, named as the senders name them.

    One dict literal per detail class (session id, URL and route first, in this order): this runs for every span and
    span event, and building the dict at once costs half of filling it in two steps."""
    d = e.detail
    t = type(d)  # the detail classes are final
    if t is Click:
        target = "target_xpath" if e.source is _OTEL_SPANS else "browser.css_selector"  # stock spans locate by XPath
        return {"session.id": e.session_id, "url.full": e.url, "url.template": e.route,
                "browser.page.x": d.x, "browser.page.y": d.y, "browser.tag_name": d.tag, target: d.selector,
                "browser.element.text": d.text, "browser.element.interactive": d.interactive, "browser.click.reaction": d.reaction,
                "browser.click.reaction_ms": d.reaction_ms, "browser.click.pointer_type": d.pointer, "browser.click.detail": d.detail}
    if t is FormField:
        return {"session.id": e.session_id, "url.full": e.url, "url.template": e.route,
                "browser.form.id": d.form, "browser.form.field.name": d.field, "browser.form.field.type": d.field_type,
                "browser.form.field.duration_ms": d.duration_ms, "browser.form.field.changed": d.changed,
                "browser.form.field.validation": d.validation}
    if t is Scroll:
        return {"session.id": e.session_id, "url.full": e.url, "url.template": e.route,
                "browser.scroll.max_depth": d.max_depth, "browser.scroll.distance_px": d.distance_px,
                "browser.scroll.direction_changes": d.direction_changes, "browser.document.height": d.document_height}
    if t is JsError:
        return {"session.id": e.session_id, "url.full": e.url, "url.template": e.route,
                "exception.type": d.type, "exception.message": d.message, "exception.stacktrace": d.stacktrace,
                "rum.error.group": d.group}
    if t is Named:
        return {"session.id": e.session_id, "url.full": e.url, "url.template": e.route, "rum.name": d.name, "rum.value": d.value}
    return {"session.id": e.session_id, "url.full": e.url, "url.template": e.route}


_SPAN_EVENT_NAMES = {
    Kind.SCROLL: "browser.scroll", Kind.FORM_FOCUS: "browser.form.field_focus", Kind.FORM_BLUR: "browser.form.field_blur",
    Kind.FORM_ERROR: "browser.form.field_error", Kind.FORM_SUBMIT: "browser.form.submit", Kind.USER_ACTION: "browser.user_action",
    Kind.WEB_VITAL: "browser.web_vital", Kind.SESSION_START: "session.start", Kind.LOG: "log",
    Kind.JS_ERROR: "exception",  # also a span of its own, exported at once; on the page view it shows where it happened
}


Spans = dict[tuple[str, str | None], list[bytes]]  # (service.name, service.version) → encoded Span messages


class SpanBuilder:
    """Turns one tick's outputs into encoded spans grouped by the browser app's service name."""

    def build(self, outputs: list[Output]) -> Spans:
        spans: Spans = defaultdict(list)
        ended_pages: list[tuple[Session, Page]] = []
        summaries = {o.session.id: o for o in outputs if type(o) is Summary}
        last: Session | None = None  # a session's events come one after another: its trace id and span list once
        for o in outputs:
            t = type(o)  # outputs are exactly the stages' classes: one comparison each, most are Happened
            if t is Happened:
                kind = o.event.kind
                if kind is _CLICK or kind is _JS_ERROR:
                    s = o.session
                    if s is not last:
                        last, trace_id, into = s, s.trace_id, spans[(s.service_name, s.service_version)]
                    parent = o.page.span_id if o.page is not None else s.root_span_id
                    into.append(self._event_span(o.event, trace_id, parent))
            elif t is Late and o.event.kind in (_CLICK, _JS_ERROR):
                span = self._event_span(o.event, o.closed.trace_id, o.closed.root_span_id, late=True)
                spans[(o.closed.service_name, o.event.service_version)].append(span)
            elif t is PageEnded:
                ended_pages.append((o.session, o.page))
            elif t is Found:
                spans[(o.session.service_name, o.session.service_version)].append(self._episode(o))
            elif t is SessionEnded:
                spans[(o.session.service_name, o.session.service_version)].append(
                    self._root(o.session, o.reason, summaries.get(o.session.id)))
        # Pages are built after the whole tick so events applied after the page ended (a scroll summary sent
        # on leaving) are still on its span.
        for session, page in ended_pages:
            if not page.exported:
                page.exported = True
                spans[(session.service_name, session.service_version)].append(self._page(session, page))
        return spans

    @staticmethod
    def _event_span(e: Event, trace_id: bytes, parent: bytes, late: bool = False) -> bytes:
        attrs = event_attributes(e)
        if late:
            attrs["rum.late"] = True
        links = [(e.trace_id, e.span_id)] if e.trace_id else ()
        d = e.detail
        if e.kind is _CLICK:
            end = e.time_ns + (d.reaction_ms or 0) * 1_000_000
            return wire.span(trace_id, new_span_id(), parent, "click", e.time_ns, end, attrs, links=links)
        event = wire.span_event(e.time_ns, "exception", {"exception.type": d.type, "exception.message": d.message,
                                                          "exception.stacktrace": d.stacktrace})
        return wire.span(trace_id, new_span_id(), parent, "exception", e.time_ns, e.time_ns, attrs, events=[event],
                         links=links, error=f"{d.type}: {d.message}"[:256])

    @staticmethod
    def _page(s: Session, p: Page) -> bytes:
        events, dropped = [], 0
        for e in p.events:
            name = _SPAN_EVENT_NAMES.get(e.kind)  # clicks and errors are spans of their own
            if name is None:
                continue
            if len(events) < MAX_SPAN_EVENTS:
                events.append(wire.span_event(e.time_ns, name, event_attributes(e)))
            else:
                dropped += 1
        return wire.span(
            s.trace_id, p.span_id, s.root_span_id, f"page_view {p.route}", p.start_ns, max(p.end_ns or p.start_ns, p.start_ns),
            {"session.id": s.id, "url.full": p.url, "url.template": p.route, "rum.page.index": p.index,
             "rum.page.navigation_type": p.nav_type, "rum.clicks": p.clicks, "rum.js_errors": p.errors, "rum.device": s.device},
            events=events, dropped_events=dropped, links=p.links,
            error=f"{p.errors} JS error(s) on this page view" if p.errors else None)

    @staticmethod
    def _episode(o: Found) -> bytes:
        s, ep = o.session, o.episode
        parent = o.page.span_id if o.page is not None else s.root_span_id
        attrs = {"session.id": s.id, "url.template": o.page.route if o.page else None, "url.full": o.page.url if o.page else None,
                 "rum.friction.signal": ep.signal.value, "rum.friction.element": ep.element, "rum.friction.count": ep.count,
                 "rum.friction.inferred": ep.inferred, **dict(ep.details)}
        return wire.span(s.trace_id, new_span_id(), parent, ep.signal.value, ep.start_ns, max(ep.end_ns, ep.start_ns), attrs)

    @staticmethod
    def _root(s: Session, reason: str, summary: Summary | None) -> bytes:
        extra: dict[str, Any] = {}
        if summary is not None:
            extra["rum.converted"] = summary.converted
            extra["rum.friction.episodes"] = sum(summary.friction.values())
            extra.update({f"rum.friction.{k}": v for k, v in summary.friction.items()})
            extra.update({f"rum.funnel.{k}.furthest_step": v for k, v in summary.funnels.items()})
        if s.clock_offset_ns:
            extra["rum.clock_offset_ms"] = s.clock_offset_ns // 1_000_000  # added to the device's timestamps
        return wire.span(
            s.trace_id, s.root_span_id, b"", "session", s.start_ns, max(s.last_ns, s.start_ns),
            {"session.id": s.id, "url.full": s.landing_url, "user_agent.original": s.user_agent,
             "rum.device": s.device, "rum.visitor": s.visitor, "rum.source": s.source,
             "rum.page_views": s.page_views, "rum.clicks": s.clicks, "rum.js_errors": s.errors,
             "rum.session.end_reason": reason, **extra},
            links=s.links)


def to_request(key: tuple[str, str | None], spans: list[bytes]) -> bytes:
    """An encoded ExportTraceServiceRequest for one service's spans."""
    service, version = key
    return wire.request([(wire.resource({"service.name": service, "service.version": version}), SCOPE, spans)])
