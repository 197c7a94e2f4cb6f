"""The Python classifier that ``native/src/classify.rs`` replaced, kept as the specification it is checked against.

``tests/test_classify.py`` runs both over the same random requests (hypothesis) and requires the same events, counts
and verdicts. It reads requests with upb, as the pipeline did before classification went native, and validates
records as ``ingest/validate.py`` did. Change a vocabulary here and in the native classifier together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections import Counter
from typing import Any, Callable

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector_plugin.events import Click, Client, Event, FormField, JsError, Kind, Named, Network, PageView, Scroll, Source
from collector_plugin.ingest.classify import MAX_DEPTH, Limits


@dataclass
class Classified:
    """Validation's and classification's results together, as the Python classifier produced them."""

    events: list[Event] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    records: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    without_session: int = 0

SESSION_ID = "session.id"
FRICTION_SCOPE = "otel-friction-browser"
FARO_SCOPE = "@grafana/faro-web-sdk"
UI_SCOPE = "@opentelemetry/instrumentation-user-interaction"
DOCLOAD_SCOPE = "@opentelemetry/instrumentation-document-load"


def _value(av: Any, limits: Limits, depth: int = 0) -> Any:
    which = av.WhichOneof("value")
    if which is None:
        return None
    if which == "kvlist_value":
        if depth >= MAX_DEPTH:
            return None
        return {kv.key: _value(kv.value, limits, depth + 1) for kv in av.kvlist_value.values[:limits.max_attributes]}
    if which == "array_value":
        if depth >= MAX_DEPTH:
            return None
        return [_value(v, limits, depth + 1) for v in av.array_value.values[:limits.max_attributes]]
    value = getattr(av, which)
    if which == "string_value" and len(value) > limits.max_length:
        return value[:limits.max_length]
    return value


# Every attribute key any classifier below reads: records are scanned once and only these are converted.
KNOWN_KEYS = frozenset({
    "service.name", "service.version", SESSION_ID, "session.previous_id", "session.attributes", "event.name",
    "event.attributes", "event_type", "user_agent.original", "http.user_agent", "user.id", "enduser.id",
    "browser.mobile", "browser.screen_width", "browser.screen_height", "browser.viewport.width", "browser.viewport.height",
    "url.full", "http.url", "page.url", "page.id", "browser.page.x", "browser.page.y", "browser.tag_name",
    "browser.css_selector", "browser.element.text", "browser.element.interactive", "browser.element.fixed",
    "browser.element.ignore", "browser.click.reaction", "browser.click.reaction_ms", "browser.click.pointer_type",
    "browser.click.detail", "browser.form.id", "browser.form.field.name", "browser.form.field.type",
    "browser.form.field.duration_ms", "browser.form.field.changed", "browser.form.field.validation",
    "browser.page_view.type", "browser.document.referrer", "browser.navigation.type", "browser.navigation.hash_change",
    "browser.scroll.max_depth", "browser.scroll.distance_px", "browser.scroll.direction_changes", "browser.document.height",
    "exception.type", "exception.message", "exception.stacktrace", "exception.unhandled_rejection", "faro.error.stacktrace",
    "browser.web_vital.name", "browser.web_vital.value", "measurement.type", "measurement.name", "measurement.value",
    "http.request.method", "http.method", "http.response.status_code", "http.status_code", "target_element", "target_xpath",
})


class _Attrs(dict):
    """The known attributes of one record, converted, with typed lookups. A dict, so plain lookups and ``in``
    cost no Python call; ``tests/test_classify_keys.py`` checks that every key read here is in ``KNOWN_KEYS``
    (a key missing there would read as absent)."""

    __slots__ = ()

    @classmethod
    def of(cls, kvs: Any, limits: Limits) -> "_Attrs":
        """From upb KeyValues, in one pass (upb makes every field access a Python call)."""
        values = cls()
        for kv in kvs:
            key = kv.key
            if key in KNOWN_KEYS:
                v = kv.value
                which = v.WhichOneof("value")
                if which == "string_value":  # the common case, inlined
                    text = v.string_value
                    values[key] = text if len(text) <= limits.max_length else text[:limits.max_length]
                else:
                    values[key] = _value(v, limits)
        return values

    def str(self, *keys: str) -> str | None:
        for key in keys:
            value = self.get(key)
            if value is not None and value != "":
                return value if type(value) is str else str(value)
        return None

    def int(self, *keys: str) -> int | None:
        for key in keys:
            value = self.get(key)
            if type(value) is int:
                return value
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    continue
            if isinstance(value, float) and math.isfinite(value):  # NaN and ±inf have no integer
                return int(value)
        return None

    def float(self, key: str) -> float | None:
        value = self.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return None
        return None

    def bool(self, key: str) -> bool | None:
        value = self.get(key)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return None


@dataclass(frozen=True, slots=True)
class _Resource:
    service_name: str
    service_version: str | None
    session_id: str | None
    client: Client


def _resource(a: _Attrs, default_service: str) -> _Resource:
    return _Resource(
        service_name=a.str("service.name") or default_service,
        service_version=a.str("service.version"),
        session_id=a.str(SESSION_ID),
        client=Client(
            user_agent=a.str("user_agent.original"),
            mobile=a.bool("browser.mobile"),
            viewport_width=a.int("browser.screen_width"),  # Faro puts the viewport here
            viewport_height=a.int("browser.screen_height"),
        ),
    )


def _client(res: _Resource, a: _Attrs) -> Client:
    base = res.client
    ua = a.str("user_agent.original", "http.user_agent") or base.user_agent
    width = a.int("browser.viewport.width") or base.viewport_width
    height = a.int("browser.viewport.height") or base.viewport_height
    user_id = a.str("user.id", "enduser.id")
    session_attrs = a.get("session.attributes")
    previous = "session.previous_id" in a or (isinstance(session_attrs, dict) and "previousSession" in session_attrs)
    if (ua, width, height, user_id, previous) == (base.user_agent, base.viewport_width, base.viewport_height, None, False):
        return base
    return Client(ua, base.mobile, width, height, user_id, previous)


# ---------------------------------------------------------------------------------------------- logs

def _click(a: _Attrs) -> Click:
    return Click(
        x=a.int("browser.page.x"), y=a.int("browser.page.y"), tag=a.str("browser.tag_name"),
        selector=a.str("browser.css_selector"), text=a.str("browser.element.text"),
        interactive=a.bool("browser.element.interactive"), reaction=a.str("browser.click.reaction"),
        reaction_ms=a.int("browser.click.reaction_ms"), pointer=a.str("browser.click.pointer_type"),
        detail=a.int("browser.click.detail"), fixed=bool(a.bool("browser.element.fixed")),
        ignored=bool(a.bool("browser.element.ignore")),
    )


def _form(a: _Attrs) -> FormField:
    return FormField(
        form=a.str("browser.form.id") or "-", field=a.str("browser.form.field.name"),
        field_type=a.str("browser.form.field.type"), duration_ms=a.int("browser.form.field.duration_ms"),
        changed=a.bool("browser.form.field.changed"), validation=a.str("browser.form.field.validation"),
    )


def _faro_stack(value: Any) -> str | None:
    frames = value.get("frames") if isinstance(value, dict) else None
    if not isinstance(frames, list):
        return None
    lines = []
    for f in frames:
        if isinstance(f, dict):
            where = ":".join(str(f[k]) for k in ("filename", "lineno", "colno") if f.get(k) not in (None, ""))
            lines.append(f"    at {f.get('function') or '?'} ({where})")
    return "\n".join(lines) or None


def _error(a: _Attrs) -> JsError:
    stack = a.str("exception.stacktrace") or _faro_stack(a.get("faro.error.stacktrace"))
    return JsError(
        type=a.str("exception.type") or "Error", message=a.str("exception.message") or "",
        stacktrace=stack, unhandled_rejection=bool(a.bool("exception.unhandled_rejection")),
    )


def _event_attr(a: _Attrs, key: str) -> str | None:
    attrs = a.get("event.attributes")  # Faro's event attributes travel as one kvlist
    value = attrs.get(key) if isinstance(attrs, dict) else None
    return str(value) if value is not None else None


def _navigation(a: _Attrs) -> PageView:
    if a.bool("browser.navigation.hash_change"):
        return PageView(nav_type="hash")
    return PageView(nav_type=a.str("browser.navigation.type"))


_FORM_KINDS = {
    "browser.form.field_focus": Kind.FORM_FOCUS, "browser.form.field_blur": Kind.FORM_BLUR,
    "browser.form.field_error": Kind.FORM_ERROR, "browser.form.submit": Kind.FORM_SUBMIT,
}
_FARO_SESSION_EVENTS = {"session_start", "session_resume", "session_extend"}

# event name → (kind, detail builder). Faro events that mean a new page are listed as PAGE_VIEW.
_LOG_EVENTS: dict[str, tuple[Kind, Callable[[_Attrs], Any]]] = {
    "browser.page_view": (Kind.PAGE_VIEW, lambda a: PageView(a.str("browser.page_view.type"), a.str("browser.document.referrer"))),
    "browser.navigation": (Kind.PAGE_VIEW, _navigation),
    "browser.user_action.click": (Kind.CLICK, _click),
    "browser.scroll": (Kind.SCROLL, lambda a: Scroll(a.float("browser.scroll.max_depth"), a.int("browser.scroll.distance_px"),
                                                     a.int("browser.scroll.direction_changes"), a.int("browser.document.height"))),
    "exception": (Kind.JS_ERROR, _error),
    "browser.web_vital": (Kind.WEB_VITAL, lambda a: Named(a.str("browser.web_vital.name") or "", a.float("browser.web_vital.value"))),
    "faro.user.action": (Kind.USER_ACTION, lambda a: Named(_event_attr(a, "userActionName") or "faro.user.action")),
    "view_changed": (Kind.PAGE_VIEW, lambda a: PageView(nav_type="view")),
    "faro.performance.navigation": (Kind.PAGE_VIEW, lambda a: PageView(nav_type="load")),
    **{name: (kind, _form) for name, kind in _FORM_KINDS.items()},
    **{name: (Kind.SESSION_START, lambda a, n=name: Named(n)) for name in _FARO_SESSION_EVENTS},
}


# Known events with no behavioural meaning of their own (timings, the SDK's own fetch bookkeeping).
_SKIPPED_EVENTS = {"faro.navigation", "faro.tracing.fetch", "faro.performance.resource", "browser.navigation_timing",
                   "browser.resource_timing"}


def classify_logs(req: ExportLogsServiceRequest, limits: Limits, default_service: str, now_ns: int) -> Classified:
    out = Classified()
    for rl in req.resource_logs:
        res_session = any(kv.key == SESSION_ID for kv in rl.resource.attributes)
        res = _resource(_Attrs.of(rl.resource.attributes, limits), default_service)
        for sl in rl.scope_logs:
            scope = sl.scope.name
            for i, rec in enumerate(sl.log_records):
                if len(rec.trace_id) not in (0, 16) or len(rec.span_id) not in (0, 8):
                    problem = "trace_id must be 16 bytes and span_id 8 bytes (either may be empty)"
                elif len(rec.attributes) > limits.max_attributes:
                    problem = f"{len(rec.attributes)} attributes, the limit is {limits.max_attributes}"
                else:
                    problem = None
                if problem:
                    out.rejected += 1
                    out.errors.append(f"log record {i} of scope {scope!r}: {problem}")
                    continue
                out.records += 1
                out.without_session += not res_session and not any(kv.key == SESSION_ID for kv in rec.attributes)
                a = _Attrs.of(rec.attributes, limits)
                time_ns, observed_ns, event_name, trace_id, span_id = (
                    rec.time_unix_nano, rec.observed_time_unix_nano, rec.event_name, rec.trace_id, rec.span_id)
                session_id = a.str(SESSION_ID) or res.session_id
                name = event_name or a.str("event.name") or ""
                kind_detail = _LOG_EVENTS.get(name)
                if kind_detail is not None:
                    kind, build = kind_detail
                elif "exception.type" in a or "exception.message" in a:
                    kind, build = Kind.JS_ERROR, _error  # Faro exceptions carry no event name
                elif "measurement.type" in a:
                    kind, build = Kind.WEB_VITAL, lambda a: Named(a.str("measurement.name") or a.str("measurement.type") or "", a.float("measurement.value"))
                elif not name:
                    kind, build = Kind.LOG, lambda a: Named("log")
                elif name in _SKIPPED_EVENTS:
                    out.skipped["not_behavioural"] += 1
                    continue
                else:
                    out.dropped["unknown_event"] += 1
                    continue
                if not session_id:
                    out.dropped["missing_session_id"] += 1
                    continue
                if scope == FRICTION_SCOPE:
                    source = Source.FRICTION_JS
                elif scope == FARO_SCOPE or "faro.error.stacktrace" in a or "page.id" in a:
                    source = Source.FARO
                else:
                    source = Source.OTEL_LOGS
                out.events.append(Event(
                    kind=kind, source=source, time_ns=time_ns or observed_ns or now_ns,
                    session_id=session_id, service_name=res.service_name, service_version=res.service_version,
                    detail=build(a), url=a.str("url.full", "http.url", "page.url"), client=_client(res, a),
                    trace_id=trace_id, span_id=span_id,
                ))
    return out


# --------------------------------------------------------------------------------------------- spans

def _is_network(a: _Attrs) -> bool:
    return "http.request.method" in a or "http.method" in a


def _span_problem(span: Any, limits: Limits) -> str | None:
    if len(span.trace_id) != 16 or len(span.span_id) != 8 or len(span.parent_span_id) not in (0, 8):
        return "trace_id must be 16 bytes, span_id and parent_span_id 8 bytes"
    if len(span.attributes) > limits.max_attributes:
        return f"{len(span.attributes)} attributes, the limit is {limits.max_attributes}"
    return None


def classify_spans(request: Any, limits: Limits, default_service: str) -> Classified:
    out = Classified()
    for rs in request.resource_spans:
        res_session = any(kv.key == SESSION_ID for kv in rs.resource.attributes)
        for ss in rs.scope_spans:
            bad = []
            for i, span in enumerate(ss.spans):
                problem = _span_problem(span, limits)
                if problem:
                    bad.append(i)
                    out.errors.append(f"span {i} of scope {ss.scope.name!r}: {problem}")
            for i in reversed(bad):
                del ss.spans[i]
            out.rejected += len(bad)
            out.records += len(ss.spans)
            out.without_session += sum(1 for span in ss.spans if not res_session and not any(kv.key == SESSION_ID for kv in span.attributes))
        res = _resource(_Attrs.of(rs.resource.attributes, limits), default_service)
        # A stock click span has no reaction flag; its child fetch/XHR spans (same batch) are the evidence.
        children: Counter = Counter()
        for ss in rs.scope_spans:
            for span in ss.spans:
                if span.parent_span_id and any(kv.key in ("http.request.method", "http.method") for kv in span.attributes):
                    children[span.parent_span_id] += 1
        for ss in rs.scope_spans:
            scope = ss.scope.name
            for span in ss.spans:
                a = _Attrs.of(span.attributes, limits)
                session_id = a.str(SESSION_ID) or res.session_id
                if not session_id:
                    out.dropped["missing_session_id"] += 1
                    continue
                url = a.str("url.full", "http.url")
                common = dict(source=Source.OTEL_SPANS, session_id=session_id, service_name=res.service_name,
                              service_version=res.service_version, client=_client(res, a),
                              trace_id=span.trace_id, span_id=span.span_id)
                event_type = a.str("event_type")
                if scope == UI_SCOPE or event_type is not None:
                    if (event_type or span.name) == "click" or span.name.startswith("Navigation:"):
                        detail = Click(
                            tag=a.str("target_element"), selector=a.str("target_xpath"), interactive=True,
                            reaction="navigation" if span.name.startswith("Navigation:") else None,
                            network_children=children.get(span.span_id, 0),
                        )
                        out.events.append(Event(kind=Kind.CLICK, time_ns=span.start_time_unix_nano, detail=detail, url=url, **common))
                    else:
                        out.events.append(Event(kind=Kind.USER_ACTION, time_ns=span.start_time_unix_nano,
                                                detail=Named(event_type or span.name), url=url, **common))
                elif span.name == "documentLoad":
                    out.events.append(Event(kind=Kind.PAGE_VIEW, time_ns=span.start_time_unix_nano,
                                            detail=PageView(nav_type="load"), url=url, **common))
                elif _is_network(a):
                    duration = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6 if span.end_time_unix_nano else None
                    out.events.append(Event(
                        kind=Kind.NETWORK, time_ns=span.start_time_unix_nano, url=None,
                        detail=Network(method=a.str("http.request.method", "http.method"), url=url,
                                       status_code=a.int("http.response.status_code", "http.status_code"),
                                       duration_ms=duration, parent_span_id=span.parent_span_id),
                        **common))
                else:
                    out.skipped["other_span"] += 1
                # Exceptions recorded on any span (semconv `exception` span events) are JS errors too.
                for ev in span.events:
                    if ev.name == "exception":
                        out.events.append(Event(kind=Kind.JS_ERROR, time_ns=ev.time_unix_nano or span.start_time_unix_nano,
                                                detail=_error(_Attrs.of(ev.attributes, limits)), url=url, **common))
    return out
