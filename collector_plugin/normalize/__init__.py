"""Normalize: mask PII, template routes and classify the device before any later stage sees an event."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from ..config import Settings
from ..events import Click, Client, Event, FormField, JsError, Named, Network, PageView
from .fingerprint import fingerprint
from .pii import Masker
from .routes import RouteTemplater
from .segments import Segmenter


class Normalizer:
    def __init__(self, settings: Settings):
        self.masker = Masker(settings.pii)
        self.routes = RouteTemplater(settings.normalize.routes)
        self.segments = Segmenter(settings.normalize)
        self._url = lru_cache(maxsize=65536)(self._url_and_route)  # one cache lookup per record, not two

    def _url_and_route(self, raw: str) -> tuple[str, str | None]:
        url = self.masker.url(raw)
        return url, self.routes.route(url) if url else None

    def normalize(self, event: Event) -> Event:
        m = self.masker
        url, route = self._url(event.url) if event.url else (None, None)
        client = event.client
        if client.user_id:
            client = Client(user_agent=client.user_agent, mobile=client.mobile, viewport_width=client.viewport_width,
                            viewport_height=client.viewport_height, user_id=m.user_id(client.user_id),
                            previous_session=client.previous_session)
        # Constructors, not dataclasses.replace: this runs once per record and replace is ~6x slower.
        return Event(event.kind, event.source, event.time_ns, event.session_id, event.service_name, self._detail(event.detail),
                     url, route, event.service_version, client, self.segments.device(client),
                     event.trace_id, event.span_id)

    def _detail(self, d):
        t = type(d)  # the detail classes are final: one comparison each instead of an isinstance chain
        text = self._text
        if t is Click:
            selector, label = text(d.selector), text(d.text)
            return d if selector == d.selector and label == d.text else replace(d, selector=selector, text=label)
        if t is PageView:  # one per page view: the constructor, for the same reason as in normalize
            return PageView(nav_type=d.nav_type, referrer=self.masker.url(d.referrer) if d.referrer else None, title=text(d.title))
        if t is FormField:
            form, field = text(d.form), text(d.field)
            return d if form == d.form and field == d.field else replace(d, form=form, field=field)
        if t is JsError:
            masked = replace(d, type=text(d.type), message=text(d.message), stacktrace=text(d.stacktrace))
            return replace(masked, group=fingerprint(masked))
        if t is Network:
            return Network(method=d.method, url=self.masker.url(d.url) if d.url else None, status_code=d.status_code,
                           duration_ms=d.duration_ms, parent_span_id=d.parent_span_id)
        if t is Named:
            name = text(d.name)
            return d if name == d.name else replace(d, name=name)
        return d  # Scroll: numbers only

    def _text(self, value: str | None) -> str | None:
        return self.masker.text(value) if value else value


__all__ = ["Normalizer", "Client"]
