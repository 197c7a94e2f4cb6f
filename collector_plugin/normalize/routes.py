"""Route templating: /product/123 → /product/:id, so pages are a small, stable label set."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

from ..config import RouteRule

_ID_SEGMENT = re.compile(
    r"""^(?:
        \d+                                            # numeric ids
      | [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}   # UUIDs
      | (?=[0-9a-fA-F]*\d)[0-9a-fA-F]{12,}            # hex hashes / object ids
      | (?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,}        # long opaque tokens with digits
      | .*<[a-z]+>.*                                   # a value the PII masker replaced
      | .*\d{4,}.*                                     # slugs carrying a long number (sku-12345)
    )$""",
    re.VERBOSE,
)


class RouteTemplater:
    def __init__(self, rules: list[RouteRule]):
        self._rules = [(re.compile(r.pattern), r.replacement) for r in rules]
        self.route = lru_cache(maxsize=65536)(self._route)

    def _route(self, url: str) -> str:
        try:
            parts = urlsplit(url)
        except ValueError:
            return "other"
        path = parts.path or "/"
        if path == "/" and parts.fragment.startswith("/"):  # hash-routed single-page apps
            path = parts.fragment.split("?", 1)[0]
        for pattern, replacement in self._rules:
            new, n = pattern.subn(replacement, path)
            if n:
                return new
        segments = [(":id" if _ID_SEGMENT.match(s) else s) for s in path.split("/")]
        route = "/".join(segments)
        if len(route) > 1:
            route = route.rstrip("/") or "/"
        return route
