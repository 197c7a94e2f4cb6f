"""The running service's report pages on the metrics port: ``GET /report`` (HTML) and ``GET /report/heatmaps/<name>.png``."""

from __future__ import annotations

import asyncio
import re
import time

from aiohttp import web

from ..httpserve import authorized
from .render import to_html, to_json
from .store import STORE_ERRORS

CACHE_SECONDS = 30.0
_NAME = re.compile(r"^[a-z0-9-]{1,160}$")


def add_routes(app: web.Application, service) -> None:
    state: dict = {"at": float("-inf"), "report": None}

    def latest(force: bool = False):
        agg = service.pipeline.report
        if force or state["report"] is None or time.monotonic() - state["at"] > CACHE_SECONDS:
            state["report"] = agg.report()
            if agg.score is not None:
                agg.score.set(state["report"])
            state["at"] = time.monotonic()
        return state["report"]

    def denied(request: web.Request) -> web.Response | None:
        if service.pipeline.report is None:
            return web.Response(status=404, text="anomaly reports are disabled (report.enabled: false)")
        if not authorized(service.settings, request.headers.get("Authorization")):
            return web.Response(status=401, text="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
        return None

    async def report(request: web.Request) -> web.Response:
        if (resp := denied(request)) is not None:
            return resp
        try:
            rep = await asyncio.get_running_loop().run_in_executor(service.worker, latest, "refresh" in request.query)
        except STORE_ERRORS as exc:
            return web.Response(status=503, headers={"Retry-After": "60"},
                                text=f"the report store can't be read ({type(exc).__name__}: {exc}); see the runbook "
                                     "OtelFrictionReportStoreFailing")
        if request.query.get("format") == "json":
            return web.Response(text=to_json(rep), content_type="application/json")
        return web.Response(text=to_html(rep, "/report/heatmaps/"), content_type="text/html")

    async def heatmap(request: web.Request) -> web.Response:
        if (resp := denied(request)) is not None:
            return resp
        name = request.match_info["name"]
        if not _NAME.match(name):
            return web.Response(status=404, text="no such heatmap")
        rep = state["report"] or await asyncio.get_running_loop().run_in_executor(service.worker, latest)
        png = rep.heatmaps.get(name)
        if png is None:
            return web.Response(status=404, text="no such heatmap in the latest report")
        return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-cache"})

    app.router.add_get("/report", report)
    app.router.add_get("/report/heatmaps/{name}.png", heatmap)
