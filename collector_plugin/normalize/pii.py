"""PII masking, applied to every free-text and URL field before an event is held or exported.

Masks replace the match with a typed placeholder (``<email>``, ``<card>`` …) so an analyst still sees that
something was there; user identifiers become a keyed hash so joins across sessions still work.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from functools import lru_cache
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from ..config import PiiConfig

_EMAIL = r"(?P<email>[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9.-]+\.[A-Za-z]{2,})"
_JWT = r"(?P<jwt>\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*)"
_BEARER = r"(?P<bearer>\b(?:[Bb]earer|[Tt]oken)\s+[A-Za-z0-9._~+/=-]{8,})"
_IBAN = r"(?P<iban>\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b)"
_CARD = r"(?P<card>(?<![\d.])\d(?:[ -]?\d){12,18}(?![\d.]))"
_PHONE = r"(?P<phone>(?<![\w.])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}(?![\w.])|(?<![\w.])\+\d{8,15}(?!\w))"


def luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = ord(ch) - 48
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


class Masker:
    def __init__(self, cfg: PiiConfig):
        parts = []
        if cfg.mask_tokens:
            parts += [_JWT, _BEARER]
        if cfg.mask_emails:
            parts.append(_EMAIL)
        if cfg.mask_ibans:
            parts.append(_IBAN)
        if cfg.mask_cards:
            parts.append(_CARD)
        if cfg.mask_phones:
            parts.append(_PHONE)
        parts += [f"(?P<custom{i}>{p})" for i, p in enumerate(cfg.extra_patterns)]
        self._pattern = re.compile("|".join(parts)) if parts else None
        self._allow = frozenset(k.lower() for k in cfg.query_allowlist)
        secret = cfg.hmac_secret or secrets.token_hex(32)
        self._key = secret.encode()
        self.text = lru_cache(maxsize=65536)(self._text)
        self.url = lru_cache(maxsize=65536)(self._url)
        self.user_id = lru_cache(maxsize=65536)(self._user_id)  # every record of a signed-in user carries the id

    def _replace(self, m: re.Match) -> str:
        kind = m.lastgroup or "pii"
        value = m.group(0)
        if kind == "card":
            digits = re.sub(r"\D", "", value)
            if not luhn_ok(digits):
                return value
        elif kind == "iban" and not iban_ok(value):
            return value
        elif kind == "bearer":
            return value.split(None, 1)[0] + " <token>"
        elif kind.startswith("custom"):
            kind = "redacted"
        return f"<{kind}>"

    def _text(self, value: str) -> str:
        """Mask PII in free text; URLs inside the text (stack frames, messages) get their query masked too."""
        if self._pattern is None:
            return value
        if "://" in value:
            value = _URL_IN_TEXT.sub(lambda m: self._url(m.group(0)), value)
        return self._pattern.sub(self._replace, value)

    def _url(self, value: str) -> str:
        """Keep scheme, host, path (masked) and allow-listed query parameters; other query values become <redacted>."""
        try:
            parts = urlsplit(value)
        except ValueError:
            return self._text_only(value)
        query = "&".join(
            f"{quote(k, safe='')}={quote(v, safe='') if k.lower() in self._allow else '<redacted>'}"
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        )
        path = self._text_only(unquote(parts.path))
        netloc = parts.hostname or ""  # drop user:password@
        if parts.port:
            netloc += f":{parts.port}"
        fragment = self._text_only(parts.fragment.split("?", 1)[0])
        return urlunsplit((parts.scheme, netloc, path, query, fragment))

    def _text_only(self, value: str) -> str:
        return self._pattern.sub(self._replace, value) if self._pattern else value

    def _user_id(self, value: str) -> str:
        """A keyed hash, stable for one secret, so a user can be followed without being named."""
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:24]


_URL_IN_TEXT = re.compile(r"\bhttps?://[^\s\"'<>()]+")
