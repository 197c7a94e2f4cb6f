"""Normalize: mask PII, template routes and classify the device before any later stage sees an event.

The rules live here, one function per kind of value; the classifier applies them while it builds each event
(``ingest/classify.py``), so an event is made once, already normalized, and each rule runs once per distinct value
(the caches below) instead of once per record.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from ..config import Settings
from ..events import JsError
from .fingerprint import fingerprint
from .pii import Masker
from .routes import RouteTemplater
from .segments import Segmenter


class Normalizer:
    """What the classifier calls, by the field it fills:

    - ``page(url.full)`` → (masked URL, route template): the event's ``url`` and ``route``;
    - ``url(raw)`` → masked URL: a page view's referrer, a fetch's URL;
    - ``text(raw)`` → masked free text: selectors, element texts, form and field names, action names;
    - ``user_id(raw)`` → keyed hash; ``device(client)`` → device class;
    - ``js_error(error)`` → the error with type, message and stack masked and its group set.
    """

    def __init__(self, settings: Settings):
        self.masker = Masker(settings.pii)
        self.routes = RouteTemplater(settings.normalize.routes)
        self.segments = Segmenter(settings.normalize)
        self.text = self.masker.text
        self.url = self.masker.url
        self.user_id = self.masker.user_id
        self.device = self.segments.device
        self.page = lru_cache(maxsize=65536)(self._page)  # one cache lookup per record, not two

    def _page(self, raw: str) -> tuple[str, str | None]:
        url = self.masker.url(raw)
        return url, self.routes.route(url) if url else None

    def js_error(self, error: JsError) -> JsError:
        text = self.text
        masked = replace(error, type=text(error.type) if error.type else error.type,
                         message=text(error.message) if error.message else error.message,
                         stacktrace=text(error.stacktrace) if error.stacktrace else error.stacktrace)
        return replace(masked, group=fingerprint(masked))


__all__ = ["Normalizer"]
