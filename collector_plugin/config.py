"""The one configuration model: a YAML file validated by pydantic, with env var overrides.

Precedence: environment (``OTEL_FRICTION_<SECTION>__<KEY>``) over the YAML file over embedded defaults,
so an operator can change one value without editing the file.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

ENV_PREFIX = "OTEL_FRICTION_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_hostport(value: str | None) -> str | None:
    if value is None or value.strip().lower() in ("", "none", "off"):
        return None  # the listener is disabled
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:14318), got {value!r}")
    return value


class ServerConfig(_Section):
    # Defaults stay clear of a collector on the same host (4317/4318, 8888, 13133).
    otlp_http: str | None = "127.0.0.1:14318"
    otlp_grpc: str | None = "127.0.0.1:14317"
    metrics: str | None = "127.0.0.1:9478"
    max_body_bytes: int = Field(32 * 1024 * 1024, gt=0, description="limit after decompression; larger bodies get 413")
    max_pending_requests: int = Field(16, gt=0, description="requests queued for the pipeline before answering 429")
    retry_after_seconds: int = Field(1, ge=1)
    cors_allowed_origins: list[str] = Field(default_factory=list, description="for browsers sending straight here")
    max_attributes_per_record: int = Field(128, gt=0, description="records with more attributes are rejected (partial_success)")
    max_attribute_length: int = Field(4096, gt=0, description="longer string values are cut to this many characters")
    auth_token: str | None = Field(None, description="if set, ingest and session-level endpoints need 'Authorization: Bearer <token>'")
    protect_metrics: bool = Field(False, description="also require the token on /metrics (its exemplars carry session trace ids)")
    tls_cert_file: Path | None = Field(None, description="serve OTLP/HTTP, OTLP/gRPC and /metrics over TLS with this certificate (PEM)")
    tls_key_file: Path | None = None

    _v = field_validator("otlp_http", "otlp_grpc", "metrics")(_check_hostport)

    @model_validator(mode="after")
    def _tls_pair(self) -> "ServerConfig":
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        return self


class ExportConfig(_Section):
    otlp_endpoint: str | None = Field(None, description="OTLP/HTTP base URL; spans are POSTed to <url>/v1/traces")
    otlp_headers: dict[str, str] = Field(default_factory=dict)
    file: Path | None = Field(None, description="also write session spans as OTLP/JSON lines to this file")
    flush_interval_seconds: float = Field(2.0, gt=0, le=60)
    timeout_seconds: float = Field(10.0, gt=0)
    queue_max_spans: int = Field(200_000, gt=0, description="spans held while the destination is down; beyond it new spans are dropped and counted")
    max_backoff_seconds: float = Field(30.0, gt=0, description="longest wait between retries to a refusing destination")
    max_spans_per_request: int = Field(2_000, gt=0)
    otlp_metrics_endpoint: str | None = Field(None, description="OTLP/HTTP base URL to push metrics to (besides /metrics)")
    metrics_interval_seconds: float = Field(60.0, gt=0)

    @field_validator("otlp_metrics_endpoint")
    @classmethod
    def _metrics_url(cls, value: str | None) -> str | None:
        return cls._url(value)

    @field_validator("otlp_endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/]+", value):
            raise ValueError(f"expected an http(s):// base URL, got {value!r}")
        return value.rstrip("/") if value else value


class SessionConfig(_Section):
    inactivity_timeout_seconds: float = Field(1800, gt=0)
    max_age_seconds: float = Field(4 * 3600, gt=0)
    max_sessions: int = Field(200_000, gt=0, description="oldest-idle sessions are evicted beyond this")
    closed_memory: int = Field(200_000, gt=0, description="ended session ids remembered so late events don't restart them")
    max_page_views: int = Field(500, gt=0, description="page views kept per session for attributing late events")
    checkpoint_path: Path | None = Field(
        None, description="persist open sessions here (every checkpoint_interval_seconds and on SIGTERM) so a restart continues them")
    checkpoint_interval_seconds: float = Field(5.0, gt=0, description="at most this much session state is lost on a crash")
    max_links: int = Field(32, ge=0, description="span links to the browser SDK's own traces, per session root and per page view")
    clock_drift_min_seconds: float | None = Field(
        3300, gt=0, description="a session whose first event is this far (or further) from the service clock was stamped by a "
        "wrong device clock: all its events are shifted by that difference (55 minutes, as Sentry's relay); null = never")


class RouteRule(_Section):
    pattern: str
    replacement: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class NormalizeConfig(_Section):
    routes: list[RouteRule] = Field(
        default_factory=list, description="tried in order on the path; the first that matches decides the route, else the built-in id rules apply"
    )
    mobile_max_width: int = Field(767, gt=0)
    paid_mediums: list[str] = Field(default_factory=lambda: ["cpc", "ppc", "paid", "paidsearch", "paid_social", "display", "cpm", "affiliate"])
    email_mediums: list[str] = Field(default_factory=lambda: ["email", "newsletter", "e-mail"])
    social_mediums: list[str] = Field(default_factory=lambda: ["social", "social-network", "sm"])
    search_domains: list[str] = Field(default_factory=lambda: ["google.", "bing.com", "duckduckgo.com", "yahoo.", "baidu.com", "yandex.", "ecosia.org", "search.brave.com"])
    social_domains: list[str] = Field(default_factory=lambda: ["facebook.com", "instagram.com", "t.co", "twitter.com", "x.com", "linkedin.com", "lnkd.in", "pinterest.", "reddit.com", "tiktok.com", "youtube.com"])
    internal_domains: list[str] = Field(default_factory=list, description="referrers treated as direct (your own sites)")


class PiiConfig(_Section):
    hmac_secret: str | None = Field(
        None, description="key for hashing user ids (returning-visitor detection); set it so a restart keeps recognising users, else a random one is made per process"
    )
    query_allowlist: list[str] = Field(
        default_factory=lambda: ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "gclid", "fbclid", "msclkid", "ref", "page", "sort", "lang"]
    )
    mask_emails: bool = True
    mask_cards: bool = True
    mask_phones: bool = True
    mask_ibans: bool = True
    mask_tokens: bool = True
    extra_patterns: list[str] = Field(default_factory=list, description="extra regular expressions whose matches are masked")


class MetricsConfig(_Section):
    label_caps: dict[str, int] = Field(
        default_factory=lambda: {"service_name": 50, "page": 300, "element": 200, "error_type": 100, "error_group": 200, "form": 100, "last_field": 200}
    )
    default_label_cap: int = Field(100, gt=0)
    max_series: int = Field(50_000, gt=0, description="budget for all rum_* series; beyond it new series fold into 'other'")
    exemplars: bool = True


class FunnelStep(_Section):
    name: str
    route: str | None = Field(None, description="regular expression matched against the route template (e.g. ^/cart$)")
    event: str | None = Field(None, description="or: an event name (e.g. a Faro user action) that marks the step")

    @field_validator("route")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            RouteRule._compiles(value)
        return value


    @model_validator(mode="after")
    def _has_matcher(self) -> "FunnelStep":
        if not self.route and not self.event:
            raise ValueError(f"funnel step {self.name!r} needs a route or an event to match")
        return self


class Funnel(_Section):
    name: str
    steps: list[FunnelStep] = Field(min_length=2)


def _default_funnels() -> list[Funnel]:
    steps = [("cart", "^/cart$"), ("shipping", "^/checkout/shipping$"), ("payment", "^/checkout/payment$"),
             ("review", "^/checkout/review$"), ("confirmation", "^/checkout/confirmation$")]
    return [Funnel(name="checkout", steps=[FunnelStep(name=n, route=r) for n, r in steps])]


class DetectConfig(_Section):
    """Every friction threshold in one place; docs/signals.md explains each default."""

    rage_min_clicks: int = Field(3, ge=2, description="clicks in a burst to call it a rage click")
    rage_max_interval_ms: int = Field(1000, gt=0, description="max gap between consecutive clicks of a burst")
    rage_radius_px: int = Field(30, ge=0, description="clicks this close count as the same target even on different elements")
    dead_click_inferred_window_ms: int = Field(1500, gt=0, description="stock click spans: no network child and no page load within this = inferred dead")
    error_click_window_ms: int = Field(1500, gt=0, description="a JS error this soon after a click on the same page makes it an error click")
    scroll_min_depth: float = Field(0.9, gt=0, le=1, description="excessive scrolling needs a page scrolled at least this deep")
    scroll_min_reversals: int = Field(4, ge=1, description="and at least this many direction changes")
    scroll_baseline_factor: float = Field(2.0, ge=1, description="and this many times the page's median direction changes")
    dead_scroll_min_depth: float = Field(0.75, gt=0, le=1, description="scrolled this deep without a click or form interaction = dead scroll")
    quick_back_max_seconds: float = Field(5.0, gt=0, description="leaving a page and returning within this = quick back")
    loop_max_seconds: float = Field(60.0, gt=0, description="A→B→A→B within this = confusion loop")
    settle_seconds: float = Field(5.0, gt=0, description="a session quiet this long (service clock) has its pending episodes decided")
    max_episodes_per_page: int = Field(10, gt=0, description="per signal and page view: one visitor can't inflate a page's friction")
    ignore_selectors: list[str] = Field(
        default_factory=lambda: ["stepper", "quantity", "qty", "carousel", "slider", "pagination", "pager", "datepicker", "calendar", "counter"],
        description="substrings of a CSS selector that mark controls meant to be clicked repeatedly")
    ignore_texts: list[str] = Field(
        default_factory=lambda: ["+", "-", "−", "–", "<", ">", "‹", "›", "«", "»", "←", "→", "next", "prev", "previous", "more", "load more"],
        description="element texts (case-insensitive, exact) of controls meant to be clicked repeatedly")
    funnels: list[Funnel] = Field(default_factory=_default_funnels)


class ErrorsConfig(_Section):
    max_groups: int = Field(2000, gt=0, description="error groups tracked for the errors table and checkout impact; the least seen are forgotten")
    min_support: int | None = Field(
        None, ge=1, description="sessions hitting a group at a step before its checkout impact is reported; default min(25, 2% of the step's sessions) as PostHog")
    grafana_url: str = Field("http://localhost:3000", description="where links from errors (Sentry, the errors table) point")
    session_url_template: str = Field("{grafana_url}/d/otel-friction-session/session?var-session_id={session_id}",
                                      description="link to one session's view; {grafana_url}, {session_id}, {trace_id} are filled in")
    trace_url_template: str = Field(
        "{grafana_url}/explore?schemaVersion=1&panes=%7B%22t%22:%7B%22datasource%22:%22tempo%22,%22queries%22:%5B%7B%22refId%22:%22A%22,%22queryType%22:%22traceql%22,%22query%22:%22{trace_id}%22%7D%5D%7D%7D",
        description="link to the session's trace in Grafana Explore (Tempo)")
    sentry_dsn: str | None = Field(None, description="forward JS errors to Sentry (tagged with session.id and the trace id)")
    sentry_environment: str | None = None
    sentry_max_events_per_group_per_minute: int = Field(10, ge=1, description="forwarding is sampled per group so a loop can't flood Sentry")

    @field_validator("sentry_dsn")
    @classmethod
    def _dsn(cls, value: str | None) -> str | None:
        if value:
            from sentry_sdk.utils import BadDsn, Dsn  # only when one is set: the SDK is not needed otherwise

            try:
                Dsn(value)
            except BadDsn as exc:
                raise ValueError(f"not a Sentry DSN ({exc}): expected https://<key>@<host>/<project id>") from None
        return value


class ReportConfig(_Section):
    """Behavioural anomaly reports (docs/anomaly-reports.md): hourly aggregates in a store, windows compared per page and segment."""

    enabled: bool = True
    store_path: Path | None = Field(Path("~/.local/state/otel-friction/report.sqlite"),
                                    description="SQLite file of hourly aggregates and click grids (kept across restarts); null = in memory only")
    current_window_hours: int = Field(3, ge=1, le=24 * 7, description="the window being judged: the last N hours up to now")
    baseline_days: int = Field(7, ge=1, le=60, description="baseline 'same_hours': the same hours on each of this many previous days")
    baseline_mode: Literal["same_hours", "trailing"] = Field("same_hours", description="or 'trailing': the baseline_hours right before the current window")
    baseline_hours: int = Field(7 * 24, ge=1, description="length of the trailing baseline (baseline_mode: trailing)")
    min_page_sessions: int = Field(1500, ge=1, description="sessions on a page in the current window before it is judged at all")
    min_segment_sessions: int = Field(5000, ge=1, description="sessions in a page's segment (in each window) before the segment is judged")
    alpha: float = Field(0.01, gt=0, lt=1, description="false discovery rate (Benjamini-Hochberg q value) below which a delta is a finding")
    correction: Literal["bh", "bonferroni"] = "bh"
    min_lift: float = Field(1.25, ge=1, description="and the affected share must be at least this many times the baseline's")
    max_findings_per_page: int = Field(5, ge=1, le=20)
    custom_segments: list[str] = Field(default_factory=list, description="extra segment dimensions: names of session fields (e.g. service_version)")
    flush_interval_seconds: float = Field(5.0, ge=0, description="aggregates are written in one transaction at most this often (0 = every tick); reports, checkpoints and shutdown flush first")
    analysis_interval_seconds: float = Field(300.0, gt=0, description="how often the service recomputes rum_anomaly_score")
    max_pending_increments: int = Field(500_000, gt=0, description="aggregates kept in memory while the store can't be written "
                                        "(about 12,000 an hour at 5,000 sessions an hour); beyond, the oldest hours are dropped and counted")
    grid_columns: int = Field(48, ge=4, le=400, description="heatmap columns across the viewport width")
    grid_row_px: int = Field(40, ge=4, description="heatmap row height in page pixels")
    grid_max_rows: int = Field(150, ge=4, description="clicks deeper than rows x row_px go to the last row")
    max_series: int = Field(500, gt=0, description="cap on rum_anomaly_score series (besides the global label caps)")
    retention_days: float | None = Field(14.0, gt=0, description="hourly rows and click grids older than this (by the service clock) are "
                                         "deleted, hourly; never less than the windows reach back; null = keep everything")

    @field_validator("store_path", mode="before")
    @classmethod
    def _none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() in ("", "none", "null", "memory") else value


class LogConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "text"] = "json"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True, nested_model_default_partial_update=True
    )

    server: ServerConfig = ServerConfig()
    export: ExportConfig = ExportConfig()
    sessions: SessionConfig = SessionConfig()
    normalize: NormalizeConfig = NormalizeConfig()
    pii: PiiConfig = PiiConfig()
    metrics: MetricsConfig = MetricsConfig()
    detect: DetectConfig = DetectConfig()
    errors: ErrorsConfig = ErrorsConfig()
    report: ReportConfig = ReportConfig()
    log: LogConfig = LogConfig()
    default_service_name: str = "unknown_service"

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: command-line flags (init), then the environment, then the YAML file.
        return (init_settings, env_settings, _FileSource(settings_cls, _file_data.get()))


class _FileSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]):
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._data


_file_data: ContextVar[dict[str, Any]] = ContextVar("otel_friction_config_file", default={})


class ConfigError(Exception):
    """A configuration problem, worded for the operator: which key, what was expected."""


def _describe(err: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for item in err.errors():
        path = ".".join(str(p) for p in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            lines.append(f"  {path}: unknown key")
        elif item["type"] == "value_error":
            lines.append(f"  {path}: {item['msg'].removeprefix('Value error, ')}")
        else:
            lines.append(f"  {path}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def _check_env() -> bool:
    """Nested env vars must name a real section, so a typo fails loudly instead of being ignored."""
    sections = set(Settings.model_fields)
    used = False
    for name in os.environ:
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section = rest.split("__", 1)[0]
        if "__" in rest and section not in sections:
            raise ConfigError(f"environment variable {name}: unknown section {section!r} (expected one of {', '.join(sorted(sections))})")
        used = used or section in sections
    return used


def load_settings(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Load the YAML file (if any) and env vars; ``overrides`` ({"section.key": value}) are command-line flags and win."""
    data: dict[str, Any] = {}
    source = "embedded defaults"
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: expected a mapping at the top level, got {type(loaded).__name__}")
        data = loaded or {}
    flags: dict[str, Any] = {}
    for dotted, value in (overrides or {}).items():
        section, key = dotted.split(".", 1)
        flags.setdefault(section, {})[key] = value
    if _check_env():
        source += " + environment"
    if flags:
        source += " + command-line flags"
    token = _file_data.set(data)
    try:
        return Settings(**flags)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
    except SettingsError as exc:
        raise ConfigError(f"invalid configuration in {source}: {exc}") from None
    finally:
        _file_data.reset(token)
