"""The OTLP receivers (HTTP and gRPC) in a process of their own, in front of the service that runs the pipeline.

Why a process: the pipeline thread holds the GIL for most of every tick, and a request's handling needs the GIL
several times (body chunks, validation's result, the answer). In one process, requests that arrived during a tick
waited behind it: the p99 at half load ranged from 24 to 68 ms between runs of the same code (BENCHMARKS.md, round 6).
Here the receivers answer on a GIL of their own, and the service only reads what they accepted.

A request is answered once it is decoded, validated (``ingest/accept.py``) and handed to the service, so an answered
200 means the records are queued in memory (bounded by ``max_pending_requests``; a checkpoint covers sessions, not
this queue). The requests handed over and not yet processed are the backpressure signal: past
``max_pending_requests`` the receiver answers 429 (HTTP) or UNAVAILABLE with RetryInfo (gRPC), and the collector's
retry + sending queue keep the data until it can take it.

One duplex connection to the service, pickled tuples in both directions:
  receiver → service: ("ready", addresses) or ("failed", why) once; then ("accepted", Accepted),
                      ("count", selfmetric, labels), ("sync", token, pending); ("stopped",) last.
  service → receiver: ("processed",) per accepted request, ("sync", token), ("stop",).
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import threading
from multiprocessing.connection import Connection
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import duration_pb2, json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsPartialSuccess, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsPartialSuccess, ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTracePartialSuccess, ExportTraceServiceResponse

from .config import Settings
from .httpserve import authorized, serve_http
from .ingest.accept import Accepted, Acceptor, IngestResult
from .ingest.decode import PROTOBUF, RequestError, decode, media_format
from .log import get_logger, setup_logging
from .normalize.pii import Masker

log = get_logger("receiver")

_HTTP_TO_GRPC = {400: code_pb2.INVALID_ARGUMENT, 401: code_pb2.UNAUTHENTICATED, 413: code_pb2.INVALID_ARGUMENT, 415: code_pb2.INVALID_ARGUMENT,
                 429: code_pb2.RESOURCE_EXHAUSTED, 503: code_pb2.UNAVAILABLE}


def main(settings: Settings, conn: Connection) -> None:
    """The receiver process's entry point (multiprocessing, spawn)."""
    setup_logging(settings.log)
    # The service decides when the receivers stop (it drains them first): a signal sent to the whole process group
    # (Ctrl-C, systemd's control-group kill) must not end this process before it has handed over what it answered.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(Receiver(settings, conn).run())


class Receiver:
    def __init__(self, settings: Settings, conn: Connection):
        self.settings = settings
        self.acceptor = Acceptor(settings, Masker(settings.pii))
        self.pending = 0  # handed to the service, not yet processed
        self._conn = conn
        # Handing over a 1,000-record request is a ~350 kB write the service reads between its own work: from a
        # thread of its own, so the event loop never blocks on it.
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send_loop, name="otel-friction-handover", daemon=True)
        self._runner: web.AppRunner | None = None
        self._grpc: grpc.aio.Server | None = None
        self._stop = asyncio.Event()

    async def run(self) -> None:
        self._sender.start()
        try:
            addresses = await self._start()
        except Exception as exc:  # e.g. the port is taken: the service reports it and exits
            self._send(("failed", f"{type(exc).__name__}: {exc}"))
        else:
            self._send(("ready", addresses))
            asyncio.get_running_loop().add_reader(self._conn.fileno(), self._on_message)
            await self._stop.wait()
            if self._grpc is not None:
                await self._grpc.stop(grace=2)
            if self._runner is not None:
                await self._runner.cleanup()
            self._send(("stopped",))
        self._outbox.put(None)
        self._sender.join()

    async def _start(self) -> dict[str, str]:
        s = self.settings.server
        addresses: dict[str, str] = {}
        if s.otlp_http:
            app = web.Application(client_max_size=s.max_body_bytes)
            for sig in ("logs", "traces", "metrics"):
                app.router.add_route("*", f"/v1/{sig}", self._http_handler(sig))
            self._runner, addresses["otlp_http"] = await serve_http(app, s.otlp_http, self.settings)
        if s.otlp_grpc:
            self._grpc = grpc.aio.server(options=[("grpc.max_receive_message_length", s.max_body_bytes)])
            self._grpc.add_generic_rpc_handlers([self._grpc_handlers()])
            if s.tls_cert_file is not None:
                creds = grpc.ssl_server_credentials([(s.tls_key_file.read_bytes(), s.tls_cert_file.read_bytes())])
                port = self._grpc.add_secure_port(s.otlp_grpc, creds)
            else:
                port = self._grpc.add_insecure_port(s.otlp_grpc)
            if port == 0:
                raise OSError(f"cannot listen for OTLP/gRPC on {s.otlp_grpc}")
            await self._grpc.start()
            addresses["otlp_grpc"] = f"{s.otlp_grpc.rpartition(':')[0]}:{port}"
        return addresses

    # ------------------------------------------------------------------------------------- the service

    def _send(self, message: tuple) -> None:
        self._outbox.put(message)

    def _send_loop(self) -> None:
        while (message := self._outbox.get()) is not None:
            try:
                self._conn.send(message)
            except OSError:  # the service is gone; _on_message ends this process
                return

    def _on_message(self) -> None:
        try:
            while self._conn.poll():
                message = self._conn.recv()
                if message[0] == "processed":
                    self.pending -= 1
                elif message[0] == "sync":
                    self._send(("sync", message[1], self.pending))  # behind everything accepted before it
                elif message[0] == "stop":
                    asyncio.get_running_loop().remove_reader(self._conn.fileno())
                    self._stop.set()
                    return
        except (EOFError, OSError):
            # The service died without stopping us (kill -9): nobody can take what we would accept, and the ports
            # must be free for its restart.
            os._exit(1)

    def _hand_over(self, accepted: Accepted) -> None:
        """Count the request as pending until the service has processed it. Runs on the event loop without
        awaiting after the capacity check, so the check still holds here."""
        self.pending += 1
        self._send(("accepted", accepted))

    def _count(self, metric: str, *labels: str) -> None:
        self._send(("count", metric, labels))

    def _at_capacity(self) -> bool:
        return self.pending >= self.settings.server.max_pending_requests

    # ----------------------------------------------------------------------------------------- HTTP

    def _cors(self, request: web.Request, headers: dict[str, str]) -> None:
        allowed = self.settings.server.cors_allowed_origins
        origin = request.headers.get("Origin")
        if origin and allowed and ("*" in allowed or origin in allowed):
            headers["Access-Control-Allow-Origin"] = origin
            headers["Vary"] = "Origin"

    def _http_handler(self, signal_name: str):
        async def handle(request: web.Request) -> web.Response:
            headers: dict[str, str] = {}
            self._cors(request, headers)
            if request.method == "OPTIONS":
                if "Access-Control-Allow-Origin" in headers:
                    headers.update({"Access-Control-Allow-Methods": "POST, OPTIONS",
                                    "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", "Content-Type"),
                                    "Access-Control-Max-Age": "7200"})
                return web.Response(status=204, headers=headers)
            if not authorized(self.settings, request.headers.get("Authorization")):
                headers["WWW-Authenticate"] = "Bearer"
                err = RequestError(401, "missing or wrong bearer token", "unauthenticated")
                return self._http_error(err, "json" if "json" in (request.headers.get("Content-Type") or "") else "protobuf", headers, signal_name)
            if request.method != "POST":
                headers["Allow"] = "POST, OPTIONS"
                return web.Response(status=405, text=f"{request.method} not allowed: OTLP/HTTP takes POST", headers=headers)
            try:
                fmt = media_format(request.headers.get("Content-Type"))
            except RequestError as err:
                return self._http_error(err, "json", headers, signal_name)
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                err = RequestError(413, f"body exceeds the limit of {self.settings.server.max_body_bytes} bytes", "too_large")
                return self._http_error(err, fmt, headers, signal_name)
            if self._at_capacity():
                self._count("requests_throttled", "http")
                headers["Retry-After"] = str(self.settings.server.retry_after_seconds)
                err = RequestError(429, "otel-friction is at capacity; retry after the given delay", "throttled")
                return self._http_error(err, fmt, headers, signal_name, count=False)
            try:
                # On the event loop itself: a few ms, and nothing else here needs the GIL meanwhile.
                accepted = self.acceptor.accept(signal_name, body, fmt, request.headers.get("Content-Encoding"))
            except RequestError as err:
                return self._http_error(err, fmt, headers, signal_name)
            except Exception as exc:  # a bug must cost one request, not the service; 500 is not retried
                log.exception("request failed", extra={"signal": signal_name})
                return self._http_error(RequestError(500, f"internal error: {type(exc).__name__}", "internal_error"), fmt, headers, signal_name)
            self._hand_over(accepted)
            payload, ctype = _encode(_response(signal_name, accepted.result), fmt)
            return web.Response(body=payload, content_type=ctype, headers=headers)

        return handle

    def _http_error(self, err: RequestError, fmt: str, headers: dict[str, str], signal_name: str, count: bool = True) -> web.Response:
        if count:
            self._count("requests_rejected", "http", err.reason)
        message = self.acceptor.masker.text(str(err))  # parser messages can quote the payload
        log.info("request refused", extra={"status": err.status, "reason": err.reason, "signal": signal_name, "error": message})
        payload, ctype = _encode(status_pb2.Status(code=_HTTP_TO_GRPC.get(err.status, code_pb2.INVALID_ARGUMENT), message=message), fmt)
        return web.Response(status=err.status, body=payload, content_type=ctype, headers=headers)

    # ----------------------------------------------------------------------------------------- gRPC

    def _grpc_handlers(self) -> grpc.GenericRpcHandler:
        def method(signal_name: str):
            async def export(body: bytes, context: grpc.aio.ServicerContext) -> Any:
                if not authorized(self.settings, dict(context.invocation_metadata() or ()).get("authorization")):
                    self._count("requests_rejected", "grpc", "unauthenticated")
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
                if self._at_capacity():
                    self._count("requests_throttled", "grpc")
                    retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=self.settings.server.retry_after_seconds))
                    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message="otel-friction is at capacity; retry later")
                    status.details.add().Pack(retry)
                    await context.abort(grpc.StatusCode.UNAVAILABLE, status.message,
                                        trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),))
                try:
                    # Decoded here, not by grpc, so a malformed message gets INVALID_ARGUMENT with a reason.
                    accepted = self.acceptor.accept_request(signal_name, decode(signal_name, body, "protobuf").request)
                except RequestError as err:
                    self._count("requests_rejected", "grpc", err.reason)
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, self.acceptor.masker.text(str(err)))
                except Exception as exc:  # a bug must cost one request, not the service
                    log.exception("request failed", extra={"signal": signal_name})
                    self._count("requests_rejected", "grpc", "internal_error")
                    await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}")
                self._hand_over(accepted)
                return _response(signal_name, accepted.result)

            return grpc.unary_unary_rpc_method_handler(export, request_deserializer=None,
                                                       response_serializer=lambda m: m.SerializeToString())

        return _Generic({
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export": method("logs"),
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export": method("traces"),
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export": method("metrics"),
        })


class _Generic(grpc.GenericRpcHandler):
    def __init__(self, methods: dict[str, grpc.RpcMethodHandler]):
        self._methods = methods

    def service(self, handler_call_details):
        return self._methods.get(handler_call_details.method)


def _response(signal: str, result: IngestResult):
    if signal == "logs":
        resp = ExportLogsServiceResponse()
        if result.rejected or result.message:
            resp.partial_success.CopyFrom(ExportLogsPartialSuccess(rejected_log_records=result.rejected, error_message=result.message))
    elif signal == "traces":
        resp = ExportTraceServiceResponse()
        if result.rejected or result.message:
            resp.partial_success.CopyFrom(ExportTracePartialSuccess(rejected_spans=result.rejected, error_message=result.message))
    else:
        resp = ExportMetricsServiceResponse()
        if result.rejected or result.message:
            resp.partial_success.CopyFrom(ExportMetricsPartialSuccess(rejected_data_points=result.rejected, error_message=result.message))
    return resp


def _encode(message, fmt: str) -> tuple[bytes, str]:
    if fmt == "json":
        return json_format.MessageToJson(message, indent=None).encode(), "application/json"
    return message.SerializeToString(), PROTOBUF
