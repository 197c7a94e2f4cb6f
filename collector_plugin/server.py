"""The running service: OTLP/HTTP and OTLP/gRPC receivers, the /metrics endpoint, and the flush ticker.

A request is decoded and validated off the pipeline thread and answered at once (the answer doesn't wait behind
a tick); its records are then processed on one worker thread, so pipeline state needs no locks. The number of
accepted requests not yet processed is the backpressure signal: past ``max_pending_requests`` the service answers
429 (HTTP) or UNAVAILABLE with RetryInfo (gRPC), and the collector's retry + sending queue keep the data until it
can take it. An answered 200 means the records were decoded, validated and queued in memory (bounded by that
limit; a checkpoint covers sessions, not this queue).
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import signal
import ssl
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import duration_pb2, json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsPartialSuccess, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsPartialSuccess, ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTracePartialSuccess, ExportTraceServiceResponse
from prometheus_client.exposition import choose_encoder

from .config import Settings
from .emit.exporter import FileSpanExporter, OtlpHttpSpanExporter, SpanExporter
from .emit.links import session_links
from .emit.otlp_metrics import OtlpMetricsExporter
from .report.http import add_routes as add_report_routes
from .ingest.decode import PROTOBUF, RequestError, decode, media_format
from .log import get_logger
from .pipeline import Accepted, IngestResult, Pipeline

log = get_logger("server")

_HTTP_TO_GRPC = {400: code_pb2.INVALID_ARGUMENT, 401: code_pb2.UNAUTHENTICATED, 413: code_pb2.INVALID_ARGUMENT, 415: code_pb2.INVALID_ARGUMENT,
                 429: code_pb2.RESOURCE_EXHAUSTED, 503: code_pb2.UNAVAILABLE}
_GRPC_STATUS = {code_pb2.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT, code_pb2.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
                code_pb2.INTERNAL: grpc.StatusCode.INTERNAL}


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


def build_exporters(settings: Settings, pipeline_selfm) -> list[SpanExporter]:
    ex = settings.export
    exporters: list[SpanExporter] = []
    if ex.otlp_endpoint:
        exporters.append(OtlpHttpSpanExporter(ex.otlp_endpoint, pipeline_selfm, headers=ex.otlp_headers,
                                              timeout=ex.timeout_seconds, max_queue_spans=ex.queue_max_spans,
                                              max_backoff=ex.max_backoff_seconds))
    if ex.file:
        exporters.append(FileSpanExporter(ex.file, pipeline_selfm))
    return exporters


class Service:
    def __init__(self, settings: Settings, *, exporters: list[SpanExporter] | None = None, pipeline: Pipeline | None = None):
        self.settings = settings
        self.pipeline = pipeline or Pipeline(settings)
        # Destinations from the settings, plus any given here (tests add an in-memory one).
        self.pipeline.exporters.extend(build_exporters(settings, self.pipeline.selfm) + list(exporters or []))
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otel-friction-pipeline")
        self.pending = 0
        self.addresses: dict[str, str] = {}
        self._runners: list[web.AppRunner] = []
        self._grpc: grpc.aio.Server | None = None
        self._ticker: asyncio.Task | None = None
        self._metrics_push: OtlpMetricsExporter | None = None
        self._stopped = asyncio.Event()

    # ------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        # Each 1,000-record request allocates thousands of objects that outlive it (until their session's tick), and
        # every allocation counts towards a young collection, so at the default threshold (700) the cyclic GC ran
        # several times a request. Measured by perf before events were built untracked (native/src/classify.rs):
        # 16% of the service's CPU at 700, 11.5% at these, 6.8% at 50,000/20/100; since then 2.4% at these. The
        # pipeline makes no reference cycles (tests/test_gc.py), so rarer collections only delay freeing the
        # libraries' few cycles; larger values would hold the GIL longer per collection, which requests wait for.
        # See also _tick's gc.freeze().
        gc.set_threshold(10_000, 10, 10)
        # The event loop answers senders while the pipeline thread runs Python: each of a request's several GIL
        # acquisitions (body chunks, validation's result, the response) can wait a whole switch interval behind it.
        # At the default 5 ms, p90 at half load was 28-35 ms over six runs; at 1 ms (with classification pausing every
        # 256 records, native/src/classify.rs), 12-17 ms over six (BENCHMARKS.md).
        sys.setswitchinterval(0.001)
        s = self.settings.server
        if s.otlp_http:
            app = web.Application(client_max_size=s.max_body_bytes)
            for sig in ("logs", "traces", "metrics"):
                app.router.add_route("*", f"/v1/{sig}", self._http_handler(sig))
            self.addresses["otlp_http"] = await self._serve(app, s.otlp_http)
        if s.metrics:
            app = web.Application()
            app.router.add_get("/metrics", self._metrics)
            app.router.add_get("/healthz", self._health)
            app.router.add_get("/readyz", self._health)
            app.router.add_get("/api/errors", self._errors)
            add_report_routes(app, self)  # GET /report, /report/heatmaps/<name>.png
            self.addresses["metrics"] = await self._serve(app, s.metrics)
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
            self.addresses["otlp_grpc"] = f"{s.otlp_grpc.rpartition(':')[0]}:{port}"
        ex = self.settings.export
        if ex.otlp_metrics_endpoint:
            self._metrics_push = OtlpMetricsExporter(ex.otlp_metrics_endpoint, self.pipeline.registry, self.pipeline.selfm,
                                                     interval=ex.metrics_interval_seconds, headers=ex.otlp_headers,
                                                     timeout=ex.timeout_seconds)
        self._ticker = asyncio.create_task(self._tick_loop())
        log.info("otel-friction listening", extra={"addresses": self.addresses, "restored_sessions": self.pipeline.restored_sessions,
                                                     "exporters": [e.name for e in self.pipeline.exporters]})

    async def _serve(self, app: web.Application, hostport: str) -> str:
        host, _, port = hostport.rpartition(":")
        # Compressed bodies are inflated by the pipeline with a size limit (gzip bombs), not by aiohttp.
        runner = web.AppRunner(app, access_log=None, auto_decompress=False, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host.strip("[]"), int(port), ssl_context=self._ssl_context())
        await site.start()
        self._runners.append(runner)
        sock = site._server.sockets[0].getsockname()  # the real port when 0 was asked for
        return f"{host}:{sock[1]}"

    def _ssl_context(self) -> ssl.SSLContext | None:
        s = self.settings.server
        if s.tls_cert_file is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(s.tls_cert_file, s.tls_key_file)
        return ctx

    def _authorized(self, header: str | None) -> bool:
        token = self.settings.server.auth_token
        return token is None or hmac.compare_digest((header or "").encode(), f"Bearer {token}".encode())

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking data, end every session (root spans out), deliver pending exports."""
        if self._grpc is not None:
            await self._grpc.stop(grace=2)
        for runner in self._runners:
            await runner.cleanup()
        if self._ticker is not None:
            self._ticker.cancel()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.worker, self.pipeline.shutdown, timeout)
        self.worker.shutdown(wait=True)
        if self._metrics_push is not None:
            await loop.run_in_executor(None, self._metrics_push.shutdown)
        self._stopped.set()
        log.info("otel-friction stopped")

    async def run_until_signalled(self) -> None:
        await self.start()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("signal received, flushing")
        await self.stop()

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.settings.export.flush_interval_seconds
        every = self.settings.sessions.checkpoint_interval_seconds
        last_checkpoint = loop.time()
        while True:
            await asyncio.sleep(interval)
            try:
                await loop.run_in_executor(self.worker, self._tick)
                if self.settings.sessions.checkpoint_path is not None and loop.time() - last_checkpoint >= every:
                    last_checkpoint = loop.time()
                    await loop.run_in_executor(self.worker, self.pipeline.checkpoint)
            except Exception:  # a bug in one tick must not stop sessions from ever ending
                log.exception("tick failed")

    def _tick(self) -> None:
        self.pipeline.tick()
        # Open sessions are many long-lived objects without reference cycles (tests/test_gc.py). A full collection
        # would walk them all holding the GIL: 100+ ms with a few thousand sessions, every request waiting behind
        # it. What survived a tick goes to the permanent generation instead, so collections walk only what is new;
        # the frozen objects are still freed by reference counting when their session ends.
        gc.freeze()

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
            if not self._authorized(request.headers.get("Authorization")):
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
            if self.pending >= self.settings.server.max_pending_requests:
                self.pipeline.selfm.requests_throttled.labels("http").inc()
                headers["Retry-After"] = str(self.settings.server.retry_after_seconds)
                err = RequestError(429, "otel-friction is at capacity; retry after the given delay", "throttled")
                return self._http_error(err, fmt, headers, signal_name, count=False)
            try:
                # On the event loop itself: a few ms, and every hop to another thread would wait for the GIL.
                accepted = self.pipeline.accept(signal_name, body, fmt, request.headers.get("Content-Encoding"))
            except RequestError as err:
                return self._http_error(err, fmt, headers, signal_name)
            except Exception as exc:  # a bug must cost one request, not the service; 500 is not retried
                log.exception("request failed", extra={"signal": signal_name})
                return self._http_error(RequestError(500, f"internal error: {type(exc).__name__}", "internal_error"), fmt, headers, signal_name)
            self._enqueue(accepted)
            result = accepted.result
            payload, ctype = _encode(_response(signal_name, result), fmt)
            return web.Response(body=payload, content_type=ctype, headers=headers)

        return handle

    def _http_error(self, err: RequestError, fmt: str, headers: dict[str, str], signal_name: str, count: bool = True) -> web.Response:
        if count:
            self.pipeline.selfm.requests_rejected.labels("http", err.reason).inc()
        message = self.pipeline.normalizer.masker.text(str(err))  # parser messages can quote the payload
        log.info("request refused", extra={"status": err.status, "reason": err.reason, "signal": signal_name, "error": message})
        payload, ctype = _encode(status_pb2.Status(code=_HTTP_TO_GRPC.get(err.status, code_pb2.INVALID_ARGUMENT), message=message), fmt)
        return web.Response(status=err.status, body=payload, content_type=ctype, headers=headers)

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.settings.server.protect_metrics and not self._authorized(request.headers.get("Authorization")):
            return web.Response(status=401, text="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
        encoder, ctype = choose_encoder(request.headers.get("Accept", ""))
        body = await asyncio.get_running_loop().run_in_executor(None, encoder, self.pipeline.registry)
        return web.Response(body=body, headers={"Content-Type": ctype})

    async def _errors(self, request: web.Request) -> web.Response:
        """The error groups ranked by what they cost the checkout, each with a link to an example session."""
        if not self._authorized(request.headers.get("Authorization")):
            return web.Response(status=401, text="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
        table = await asyncio.get_running_loop().run_in_executor(self.worker, self.pipeline.detect.errors.table)
        for row in table:
            ex = row["example"]
            if ex:
                ex.update(session_links(self.settings.errors, ex["session_id"], ex["trace_id"]))
        return web.json_response({"groups": table})

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    # ----------------------------------------------------------------------------------------- gRPC

    def _grpc_handlers(self) -> grpc.GenericRpcHandler:
        def method(signal_name: str):
            async def export(body: bytes, context: grpc.aio.ServicerContext) -> Any:
                if not self._authorized(dict(context.invocation_metadata() or ()).get("authorization")):
                    self.pipeline.selfm.requests_rejected.labels("grpc", "unauthenticated").inc()
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
                if self.pending >= self.settings.server.max_pending_requests:
                    self.pipeline.selfm.requests_throttled.labels("grpc").inc()
                    retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=self.settings.server.retry_after_seconds))
                    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message="otel-friction is at capacity; retry later")
                    status.details.add().Pack(retry)
                    await context.abort(grpc.StatusCode.UNAVAILABLE, status.message,
                                        trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),))
                try:
                    accepted = self._grpc_accept(signal_name, body)  # on the event loop, as for HTTP
                except RequestError as err:
                    self.pipeline.selfm.requests_rejected.labels("grpc", err.reason).inc()
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, self.pipeline.normalizer.masker.text(str(err)))
                except Exception as exc:  # a bug must cost one request, not the service
                    log.exception("request failed", extra={"signal": signal_name})
                    self.pipeline.selfm.requests_rejected.labels("grpc", "internal_error").inc()
                    await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}")
                self._enqueue(accepted)
                result = accepted.result
                return _response(signal_name, result)

            return grpc.unary_unary_rpc_method_handler(export, request_deserializer=None,
                                                       response_serializer=lambda m: m.SerializeToString())

        return _Generic({
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export": method("logs"),
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export": method("traces"),
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export": method("metrics"),
        })

    def _grpc_accept(self, signal_name: str, body: bytes) -> Accepted:
        # Decoded here, not by grpc, so a malformed message gets INVALID_ARGUMENT with a reason.
        return self.pipeline.accept_request(signal_name, decode(signal_name, body, "protobuf").request)

    def _enqueue(self, accepted: Accepted) -> None:
        """Hand an answered request to the pipeline thread; it stays counted in ``pending`` until processed.
        Acceptance runs on the event loop without awaiting, so the capacity check before it still holds here."""
        loop = asyncio.get_running_loop()
        self.pending += 1

        def run() -> None:
            try:
                self.pipeline.process(accepted)
            except Exception:  # a bug must cost one request, not the service
                log.exception("processing an accepted request failed", extra={"signal": accepted.signal})
                self.pipeline.selfm.dropped.labels(accepted.signal, "internal_error").inc(accepted.records)
            finally:
                loop.call_soon_threadsafe(self._processed)

        self.worker.submit(run)

    def _processed(self) -> None:
        self.pending -= 1


class _Generic(grpc.GenericRpcHandler):
    def __init__(self, methods: dict[str, grpc.RpcMethodHandler]):
        self._methods = methods

    def service(self, handler_call_details):
        return self._methods.get(handler_call_details.method)


class BackgroundService:
    """Runs a Service on its own event loop thread: for the demo and for tests that talk to it over the network."""

    def __init__(self, settings: Settings, **kwargs: Any):
        self.service = Service(settings, **kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="otel-friction-loop", daemon=True)

    def __enter__(self) -> "BackgroundService":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.service.start(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.service.stop(timeout), self._loop).result(timeout=timeout + 30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def url(self, name: str) -> str:
        return f"http://{self.service.addresses[name]}"

    def call(self, fn, *args: Any) -> Any:
        """Run ``fn`` on the pipeline's worker thread (where pipeline state lives) and return its result."""
        return self.service.worker.submit(fn, *args).result(timeout=30)
