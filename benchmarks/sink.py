"""A fast local OTLP/HTTP sink, run as its own process (``python -m benchmarks.sink --port P``) so it doesn't share
the measured process's CPU. Answers 200 (empty Export*ServiceResponse) to /v1/traces, /v1/logs, /v1/metrics and
counts requests, bytes and items (spans / log records, by parsing the protobuf). ``GET /stats`` returns the counts."""

from __future__ import annotations

import argparse
import sys

from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--no-parse", action="store_true", help="count requests and bytes only")
    args = ap.parse_args()
    stats = {"requests": 0, "bytes": 0, "spans": 0, "log_records": 0, "metrics_requests": 0}

    async def traces(request: web.Request) -> web.Response:
        body = await request.read()
        stats["requests"] += 1
        stats["bytes"] += len(body)
        if not args.no_parse:
            req = ExportTraceServiceRequest.FromString(body)
            stats["spans"] += sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def logs(request: web.Request) -> web.Response:
        body = await request.read()
        stats["requests"] += 1
        stats["bytes"] += len(body)
        if not args.no_parse:
            req = ExportLogsServiceRequest.FromString(body)
            stats["log_records"] += sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def metrics(request: web.Request) -> web.Response:
        await request.read()
        stats["metrics_requests"] += 1
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(stats)

    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_post("/v1/traces", traces)
    app.router.add_post("/v1/logs", logs)
    app.router.add_post("/v1/metrics", metrics)
    app.router.add_get("/stats", get_stats)
    print("sink ready", file=sys.stderr, flush=True)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
