"""Error grouping: a short stable id from the error's type, its message with the variable parts stripped, and the
top in-app stack frame — so one bug is one group across sessions, deploys and users (as Sentry groups)."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from ..events import JsError

_VARIABLE = [
    (re.compile(r"\bhttps?://\S+"), "<url>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<id>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<id>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"), "<id>"),
    (re.compile(r"(['\"`]).{0,80}?\1"), "<str>"),
    (re.compile(r"\d+(\.\d+)?"), "<n>"),
]
# Chrome/V8: "    at fn (https://x/app.js:1:2)" or "    at https://x/app.js:1:2"; Firefox/Safari: "fn@https://x/app.js:1:2"
_V8_FRAME = re.compile(r"^\s*at (?:(?P<fn>[^(]+?) \()?(?P<file>[^()\s]+?)(?::(?P<line>\d+))?(?::(?P<col>\d+))?\)?\s*$")
_GECKO_FRAME = re.compile(r"^(?P<fn>[^@]*)@(?P<file>\S+?)(?::(?P<line>\d+))?(?::(?P<col>\d+))?$")
_NOT_IN_APP = re.compile(r"node_modules|/vendor|chrome-extension:|moz-extension:|safari-extension:|<anonymous>|native|webpack/bootstrap")
_HASHED_NAME = re.compile(r"[.-][0-9a-f]{6,}(?=\.m?js$)")  # app.3f2a1b9c.js → app.js: stable across deploys


def normalize_message(message: str) -> str:
    for pattern, repl in _VARIABLE:
        message = pattern.sub(repl, message)
    return message.strip()[:200]


def frames(stacktrace: str | None) -> list[dict]:
    """Stack frames, innermost first, from V8 or Gecko/WebKit stack text."""
    out = []
    for line in (stacktrace or "").splitlines():
        m = _V8_FRAME.match(line) or _GECKO_FRAME.match(line.strip())
        if m is None or not m.group("file"):
            continue
        file = m.group("file")
        out.append({"function": (m.group("fn") or "?").strip(), "filename": file,
                    "lineno": int(m.group("line")) if m.group("line") else None,
                    "colno": int(m.group("col")) if m.group("col") else None,
                    "in_app": not _NOT_IN_APP.search(file)})
    return out


def top_in_app_frame(stacktrace: str | None) -> str:
    for f in frames(stacktrace):
        if f["in_app"]:
            file = _HASHED_NAME.sub("", f["filename"].split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1])
            return f"{f['function']}@{file}"
    return ""


@lru_cache(maxsize=16384)
def _fingerprint(type_: str, message: str, stacktrace: str | None) -> str:
    key = "\x1f".join((type_, normalize_message(message), top_in_app_frame(stacktrace)))
    return hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def fingerprint(error: JsError) -> str:
    return _fingerprint(error.type, error.message, error.stacktrace)
