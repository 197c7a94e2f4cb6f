"""The Python normalization the native classifier's pass replaced, kept as its specification (with
``tests/reference_classify.py``): one event in, the normalized event out, using the product's rules
(``collector_plugin.normalize``: masker, route templater, segmenter, fingerprint)."""

from __future__ import annotations

from dataclasses import replace

from collector_plugin.events import Click, Event, FormField, JsError, Named, Network, PageView
from collector_plugin.normalize import Normalizer
from collector_plugin.normalize.fingerprint import fingerprint


def normalize(n: Normalizer, event: Event) -> Event:
    m = n.masker
    url = m.url(event.url) if event.url else None
    route = n.routes.route(url) if url else None
    client = event.client
    if client.user_id:
        client = replace(client, user_id=m.user_id(client.user_id))
    return replace(event, detail=_detail(n, event.detail), url=url, route=route, client=client, device=n.segments.device(client))


def _detail(n: Normalizer, d):
    def text(value):
        return n.masker.text(value) if value else value

    if isinstance(d, Click):
        return replace(d, selector=text(d.selector), text=text(d.text))
    if isinstance(d, PageView):
        return replace(d, referrer=n.masker.url(d.referrer) if d.referrer else None, title=text(d.title))
    if isinstance(d, FormField):
        return replace(d, form=text(d.form), field=text(d.field))
    if isinstance(d, JsError):
        masked = replace(d, type=text(d.type), message=text(d.message), stacktrace=text(d.stacktrace))
        return replace(masked, group=fingerprint(masked))
    if isinstance(d, Network):
        return replace(d, url=n.masker.url(d.url) if d.url else None)
    if isinstance(d, Named):
        return replace(d, name=text(d.name))
    return d  # Scroll: numbers only


__all__ = ["normalize"]
