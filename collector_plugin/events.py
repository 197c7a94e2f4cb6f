"""Parsed browser events: the one vocabulary every stage after ingest speaks.

Events are frozen so no stage can change what an earlier stage decided; a stage that derives something
(normalize: masked URL, route, device) returns a new event with ``dataclasses.replace``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Kind(enum.Enum):
    PAGE_VIEW = "page_view"  # a page (or SPA route) became current
    CLICK = "click"
    SCROLL = "scroll"  # a page's scroll summary
    FORM_FOCUS = "form_focus"
    FORM_BLUR = "form_blur"
    FORM_ERROR = "form_error"
    FORM_SUBMIT = "form_submit"
    JS_ERROR = "js_error"
    NETWORK = "network"  # a fetch/XHR the browser made (a reaction to a click, among others)
    USER_ACTION = "user_action"  # Faro's named user actions: a click or key press that caused activity
    WEB_VITAL = "web_vital"
    SESSION_START = "session_start"  # the SDK says a session (re)started; starts nothing by itself
    LOG = "log"  # a console/app log line: kept as context, no signal of its own

    # Members are singletons compared by identity, so they can hash by identity too: Enum.__hash__ is Python code
    # (hash of the name), and kinds key dicts on every event.
    __hash__ = object.__hash__


class Source(enum.Enum):
    """Which sender produced the record; detectors use it to know what the record can show."""

    FRICTION_JS = "friction_js"  # this project's browser instrumentation
    OTEL_LOGS = "otel_logs"  # OTel JS logs SDK instrumentations (web-exception, browser-navigation, browser SIG)
    OTEL_SPANS = "otel_spans"  # OTel JS tracing instrumentations (user-interaction, document-load, fetch)
    FARO = "faro"


@dataclass(frozen=True, slots=True)
class Click:
    x: int | None = None
    y: int | None = None
    tag: str | None = None  # upper-case tag name, as the browser reports it
    selector: str | None = None  # CSS selector (this project, OTel browser SIG) or XPath (stock user-interaction spans)
    text: str | None = None
    interactive: bool | None = None
    reaction: str | None = None  # navigation|mutation|network|scroll|selection|none; None = sender can't tell
    reaction_ms: int | None = None
    pointer: str | None = None
    detail: int | None = None  # 2/3 for double/triple clicks (text selection)
    fixed: bool = False
    ignored: bool = False  # page author opted the element out (data-friction-ignore)
    network_children: int | None = None  # stock OTel click spans: child fetch/XHR spans seen in the same batch


@dataclass(frozen=True, slots=True)
class PageView:
    nav_type: str | None = None  # load|push|replace|traverse|hash
    referrer: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Scroll:
    max_depth: float | None = None
    distance_px: int | None = None
    direction_changes: int | None = None
    document_height: int | None = None


@dataclass(frozen=True, slots=True)
class FormField:
    form: str = "-"
    field: str | None = None
    field_type: str | None = None
    duration_ms: int | None = None
    changed: bool | None = None
    validation: str | None = None


@dataclass(frozen=True, slots=True)
class JsError:
    type: str = "Error"
    message: str = ""
    stacktrace: str | None = None
    unhandled_rejection: bool = False
    group: str | None = None  # fingerprint, set by normalize


@dataclass(frozen=True, slots=True)
class Network:
    method: str | None = None
    url: str | None = None
    status_code: int | None = None
    duration_ms: float | None = None
    parent_span_id: bytes = b""


@dataclass(frozen=True, slots=True)
class Named:
    """Events whose meaning is their name: user actions, web vitals, session starts, logs."""

    name: str = ""
    value: float | None = None


Detail = Click | PageView | Scroll | FormField | JsError | Network | Named


@dataclass(frozen=True, slots=True)
class Client:
    """What the record says about the browser; normalize turns it into segments."""

    user_agent: str | None = None
    mobile: bool | None = None
    viewport_width: int | None = None
    viewport_height: int | None = None
    user_id: str | None = None
    previous_session: bool = False  # the SDK said this visitor had a session before


@dataclass(frozen=True, slots=True)
class Event:
    kind: Kind
    source: Source
    time_ns: int
    session_id: str
    service_name: str
    detail: Detail
    url: str | None = None  # url.full (masked by normalize)
    route: str | None = None  # route template, set by normalize
    service_version: str | None = None
    client: Client = field(default_factory=Client)
    device: str | None = None  # set by normalize
    trace_id: bytes = b""  # the browser SDK's own trace/span, for span links
    span_id: bytes = b""
