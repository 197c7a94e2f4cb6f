"""The running service: the pipeline, its flush ticker, the /metrics and report endpoints, and the receiver process.

The OTLP receivers run in a process of their own (``collector_plugin.receiver``): they answer senders and hand the
accepted requests over. Here one reader thread takes them in order and queues them for the one pipeline worker
thread, so pipeline state needs no locks; the worker tells the receiver when each is processed (its backpressure
signal). If the receiver process dies, the service ends its sessions and exits with an error, for its supervisor to
restart it whole.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import multiprocessing
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from prometheus_client import ProcessCollector
from prometheus_client.exposition import choose_encoder

from . import receiver
from .config import Settings
from .emit.exporter import FileSpanExporter, OtlpHttpSpanExporter, SpanExporter
from .emit.links import session_links
from .emit.otlp_metrics import OtlpMetricsExporter
from .httpserve import authorized, serve_http
from .ingest.accept import Accepted
from .log import get_logger
from .pipeline import Pipeline
from .report.http import add_routes as add_report_routes

log = get_logger("server")

# What the receiver process may count in the service's self-metrics (receiver.py's ("count", ...) messages).
_RECEIVER_COUNTS = ("requests_rejected", "requests_throttled")


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
        # process_start_time_seconds tells the alert rules that a new instance's counters began at zero (a rollout's
        # new pods): without it, the first counts of its series would be missed (monitoring/rules.py, _increase).
        ProcessCollector(registry=self.pipeline.registry)
        # Destinations from the settings, plus any given here (tests add an in-memory one).
        self.pipeline.exporters.extend(build_exporters(settings, self.pipeline.selfm) + list(exporters or []))
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otel-friction-pipeline")
        self.addresses: dict[str, str] = {}
        self.failed = False  # the receiver process died: run_until_signalled returns, and the command exits 1
        self._gc_was_enabled: bool | None = None  # set by start(), which takes over the cyclic GC
        self._runners: list[web.AppRunner] = []
        self._ticker: asyncio.Task | None = None
        self._metrics_push: OtlpMetricsExporter | None = None
        self._receiver: multiprocessing.process.BaseProcess | None = None
        self._conn = None
        self._send_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._syncs: dict[int, list] = {}  # token -> [answered, the receiver's pending requests]
        self._tokens = itertools.count()
        self._stop_requested: asyncio.Event | None = None

    # ------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        # The cyclic GC runs once per tick, not on allocation counts (_tick). Automatic collections came in the middle
        # of a tick, when its outputs were alive: at half load a young collection about once a request, and every
        # tenth one walked ~60k objects for 30-100 ms. Collecting once, when the tick's outputs are gone, walks only
        # what survives: GC CPU over a 30 s half-load run went from 1.4 s to 0.6 s (BENCHMARKS.md). Its pause (~28 ms
        # a tick) raised the p99 while the receivers shared this process's GIL; they have their own now. The
        # pipeline makes no reference cycles (tests/test_gc.py): between ticks, only the libraries' few cycles wait.
        self._gc_was_enabled = gc.isenabled()
        gc.disable()
        self._stop_requested = asyncio.Event()
        s = self.settings.server
        if s.otlp_http or s.otlp_grpc:
            self.addresses.update(await self._start_receiver())
        if s.metrics:
            app = web.Application()
            app.router.add_get("/metrics", self._metrics)
            app.router.add_get("/healthz", self._health)
            app.router.add_get("/readyz", self._health)
            app.router.add_get("/api/errors", self._errors)
            add_report_routes(app, self)  # GET /report, /report/heatmaps/<name>.png
            runner, self.addresses["metrics"] = await serve_http(app, s.metrics, self.settings)
            self._runners.append(runner)
        ex = self.settings.export
        if ex.otlp_metrics_endpoint:
            self._metrics_push = OtlpMetricsExporter(ex.otlp_metrics_endpoint, self.pipeline.registry, self.pipeline.selfm,
                                                     interval=ex.metrics_interval_seconds, headers=ex.otlp_headers,
                                                     timeout=ex.timeout_seconds)
        self._ticker = asyncio.create_task(self._tick_loop())
        log.info("otel-friction listening", extra={"addresses": self.addresses, "restored_sessions": self.pipeline.restored_sessions,
                                                     "exporters": [e.name for e in self.pipeline.exporters]})

    async def _start_receiver(self) -> dict[str, str]:
        # spawn, not fork: this process has threads (a forked child would inherit their locks in whatever state).
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_end = ctx.Pipe(duplex=True)
        self._receiver = ctx.Process(target=receiver.main, args=(self.settings, child_end), name="otel-friction-receiver", daemon=True)
        self._receiver.start()
        child_end.close()  # so that the receiver's death reads as end-of-file here
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, self._first_message, 60.0)
        if ready[0] != "ready":
            self._receiver.join(5)
            raise OSError(f"the OTLP receivers could not start: {ready[1]}")
        self._reader = threading.Thread(target=self._read, args=(loop,), name="otel-friction-reader", daemon=True)
        self._reader.start()
        return ready[1]

    def _first_message(self, timeout: float) -> tuple:
        if not self._conn.poll(timeout):
            self._receiver.kill()
            return ("failed", f"no answer in {timeout:.0f} s")
        try:
            return self._conn.recv()
        except EOFError:
            return ("failed", f"the process exited with code {self._receiver.exitcode}")

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking data, end every session (root spans out), deliver pending exports."""
        loop = asyncio.get_running_loop()
        if self._reader is not None:
            self._send(("stop",))
            # The receiver finishes the requests it is answering, hands them over and says "stopped".
            await loop.run_in_executor(None, self._reader.join, timeout + 10)
            await loop.run_in_executor(None, self._receiver.join, 10)
            if self._receiver.is_alive():
                self._receiver.kill()
        for runner in self._runners:
            await runner.cleanup()
        if self._ticker is not None:
            self._ticker.cancel()
        await loop.run_in_executor(self.worker, self.pipeline.shutdown, timeout)
        self.worker.shutdown(wait=True)
        if self._metrics_push is not None:
            await loop.run_in_executor(None, self._metrics_push.shutdown)
        if self._gc_was_enabled:
            gc.enable()  # in process (tests, the demo), the rest of the program gets its collections back
        log.info("otel-friction stopped")

    async def run_until_signalled(self) -> bool:
        """Serve until SIGTERM/SIGINT (or the receiver process dies), then stop cleanly. False if it died."""
        try:
            await self.start()
        except BaseException:
            await self.stop()  # what did start (the receiver process, its reader thread) would keep the process alive
            raise
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop_requested.set)
        await self._stop_requested.wait()
        log.info("stopping: flushing sessions and exports")
        await self.stop()
        return not self.failed

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
        try:
            self.pipeline.tick()
        finally:
            # See start(). Then what survived goes to the permanent generation, so the next collection walks only
            # what is new: open sessions are many long-lived objects, and walking them all took 100+ ms with a few
            # thousand sessions. Frozen objects are still freed by reference counting when their session ends; the
            # collection first means no cyclic garbage is ever frozen.
            gc.collect()
            gc.freeze()

    # ---------------------------------------------------------------------------- the receiver process

    def _send(self, message: tuple) -> None:
        with self._send_lock:  # the worker (processed) and the event loop (sync, stop) both write
            try:
                self._conn.send(message)
            except OSError:  # the receiver is gone; the reader thread reports it
                pass

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        """Take the receiver's messages in order: an accepted request goes to the worker's queue before anything the
        receiver sent after it, which is what ``sync`` relies on."""
        selfm = self.pipeline.selfm
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "accepted":
                selfm.requests_queued.inc()
                self.worker.submit(self._process, message[1])
            elif kind == "count":
                if message[1] in _RECEIVER_COUNTS:
                    getattr(selfm, message[1]).labels(*message[2]).inc()
            elif kind == "sync":
                answer = self._syncs.pop(message[1])
                answer[1] = message[2]
                answer[0].set()
            elif kind == "stopped":
                return
        log.error("the receiver process exited unexpectedly; stopping", extra={"exitcode": self._receiver.exitcode})
        self.failed = True
        loop.call_soon_threadsafe(self._stop_requested.set)

    def _process(self, accepted: Accepted) -> None:
        try:
            self.pipeline.process(accepted)
        except Exception:  # a bug must cost one request, not the service
            log.exception("processing an accepted request failed", extra={"signal": accepted.signal})
            self.pipeline.selfm.dropped.labels(accepted.signal, "internal_error").inc(accepted.records)
        finally:
            self.pipeline.selfm.requests_queued.dec()
            self._send(("processed",))

    def sync(self, timeout: float = 30.0) -> int:
        """Return once every request the receivers have answered so far is in the worker's queue (so what is submitted
        to the worker after this runs after them), with the number of requests the receiver counts as pending."""
        if self._reader is None:
            return 0
        token, answer = next(self._tokens), [threading.Event(), 0]
        self._syncs[token] = answer
        self._send(("sync", token))
        if not answer[0].wait(timeout):
            raise TimeoutError("the receiver process did not answer a sync")
        return answer[1]

    # ------------------------------------------------------------------------- metrics and report HTTP

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.settings.server.protect_metrics and not authorized(self.settings, request.headers.get("Authorization")):
            return web.Response(status=401, text="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
        encoder, ctype = choose_encoder(request.headers.get("Accept", ""))
        body = await asyncio.get_running_loop().run_in_executor(None, encoder, self.pipeline.registry)
        return web.Response(body=body, headers={"Content-Type": ctype})

    async def _errors(self, request: web.Request) -> web.Response:
        """The error groups ranked by what they cost the checkout, each with a link to an example session."""
        if not authorized(self.settings, request.headers.get("Authorization")):
            return web.Response(status=401, text="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
        table = await asyncio.get_running_loop().run_in_executor(self.worker, self.pipeline.detect.errors.table)
        for row in table:
            ex = row["example"]
            if ex:
                ex.update(session_links(self.settings.errors, ex["session_id"], ex["trace_id"]))
        return web.json_response({"groups": table})

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")


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

    def pending(self) -> int:
        """Requests answered by the receivers and not yet processed: what backpressure counts."""
        return self.service.sync()

    def url(self, name: str) -> str:
        return f"http://{self.service.addresses[name]}"

    def call(self, fn, *args: Any) -> Any:
        """Run ``fn`` on the pipeline's worker thread (where pipeline state lives), after every request answered so
        far, and return its result."""
        self.service.sync()
        return self.service.worker.submit(fn, *args).result(timeout=30)
