"""Segments: device class from the user agent and viewport, traffic source from utm_* and the referrer."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

from ..config import NormalizeConfig
from ..events import Client

_TABLET_UA = re.compile(r"iPad|Tablet|Kindle|Silk|PlayBook|Android(?!.*Mobile)", re.I)
_MOBILE_UA = re.compile(r"Mobi|iPhone|iPod|Android.*Mobile|Windows Phone|Opera Mini", re.I)
_BOT_UA = re.compile(r"bot\b|crawler|spider|slurp|facebookexternalhit|Lighthouse|PageSpeed", re.I)

DEVICES = ("desktop", "mobile", "tablet", "bot", "unknown")
SOURCES = ("direct", "organic", "paid", "social", "email", "referral")
_PAID_CLICK_IDS = ("gclid", "msclkid", "fbclid", "ttclid", "dclid")


class Segmenter:
    def __init__(self, cfg: NormalizeConfig):
        self._cfg = cfg
        self._ua_device = lru_cache(maxsize=4096)(self._ua)

    @staticmethod
    def _ua(ua: str) -> str | None:
        if _BOT_UA.search(ua):
            return "bot"
        if _TABLET_UA.search(ua):
            return "tablet"
        if _MOBILE_UA.search(ua):
            return "mobile"
        return None

    def device(self, client: Client) -> str:
        """UA tokens win; else the SDK's mobile flag; else a phone-sized viewport; tablets are not guessed from width."""
        if client.user_agent:
            by_ua = self._ua_device(client.user_agent)
            if by_ua:
                return by_ua
        if client.mobile:
            return "mobile"
        if client.viewport_width is not None and client.viewport_width <= self._cfg.mobile_max_width:
            return "mobile"
        if client.user_agent or client.viewport_width is not None or client.mobile is False:
            return "desktop"
        return "unknown"

    def source(self, landing_url: str | None, referrer: str | None) -> str:
        cfg = self._cfg
        query = {}
        if landing_url:
            try:
                query = {k.lower(): v[0].lower() for k, v in parse_qs(urlsplit(landing_url).query).items()}
            except ValueError:
                query = {}
        medium, src = query.get("utm_medium", ""), query.get("utm_source", "")
        if medium in cfg.paid_mediums or any(k in query for k in _PAID_CLICK_IDS):
            return "paid"
        if medium in cfg.email_mediums or src in cfg.email_mediums:
            return "email"
        if medium in cfg.social_mediums or _host_in(src, cfg.social_domains) or src in ("facebook", "twitter", "linkedin", "instagram", "tiktok", "reddit"):
            return "social"
        if medium == "organic":
            return "organic"
        if medium or src:
            return "referral"
        host = _host(referrer)
        if not host or _host_in(host, cfg.internal_domains) or host == _host(landing_url):
            return "direct"
        if _host_in(host, cfg.search_domains):
            return "organic"
        if _host_in(host, cfg.social_domains):
            return "social"
        return "referral"


def _host(url: str | None) -> str:
    if not url:
        return ""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _host_in(host: str, domains: list[str]) -> bool:
    # Entries ending in "." match any TLD (google. → google.com, google.de).
    return any(host == d or host.endswith("." + d) or (d.endswith(".") and (host.startswith(d) or ("." + d) in host)) for d in domains)
