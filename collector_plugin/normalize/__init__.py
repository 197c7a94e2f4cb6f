"""Normalize: mask PII, template routes and classify the device before any later stage sees an event."""

from __future__ import annotations

from dataclasses import replace

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

    def normalize(self, event: Event) -> Event:
        m = self.masker
        url = m.url(event.url) if event.url else None
        client = event.client
        if client.user_id:
            client = replace(client, user_id=m.user_id(client.user_id))
        return replace(
            event, url=url, route=self.routes.route(url) if url else None, client=client,
            device=self.segments.device(client), detail=self._detail(event.detail),
        )

    def _detail(self, d):
        t = self.masker.text
        if isinstance(d, Click):
            return replace(d, selector=t(d.selector) if d.selector else None, text=t(d.text) if d.text else None)
        if isinstance(d, JsError):
            masked = replace(d, type=t(d.type), message=t(d.message), stacktrace=t(d.stacktrace) if d.stacktrace else None)
            return replace(masked, group=fingerprint(masked))
        if isinstance(d, FormField):
            return replace(d, form=t(d.form), field=t(d.field) if d.field else None)
        if isinstance(d, PageView):
            return replace(d, referrer=self.masker.url(d.referrer) if d.referrer else None, title=t(d.title) if d.title else None)
        if isinstance(d, Network):
            return replace(d, url=self.masker.url(d.url) if d.url else None)
        if isinstance(d, Named):
            return replace(d, name=t(d.name))
        return d  # Scroll: numbers only


__all__ = ["Normalizer", "Client"]
