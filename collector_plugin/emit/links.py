"""Links from an error (or any session record) to its session: the Grafana session view and the trace in Tempo."""

from __future__ import annotations

from urllib.parse import quote

from ..config import ErrorsConfig


def session_links(cfg: ErrorsConfig, session_id: str, trace_id_hex: str) -> dict[str, str]:
    fill = {"grafana_url": cfg.grafana_url.rstrip("/"), "session_id": quote(session_id, safe=""), "trace_id": trace_id_hex}
    return {"session_url": cfg.session_url_template.format(**fill), "trace_url": cfg.trace_url_template.format(**fill)}
