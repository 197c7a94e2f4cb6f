"""Load generator, run as its own process so its CPU never counts against the measured service.

    python -m benchmarks.loadgen --target http://127.0.0.1:P/v1/logs --mode http-protobuf --payloads FILE \
        --duration 20 --concurrency 4 [--rate R] [--pass-base K]

Keep-alive connections (one per worker thread: http.client for OTLP/HTTP, one gRPC channel per worker for
OTLP/gRPC with raw bytes), honours 429 + Retry-After and gRPC UNAVAILABLE/RESOURCE_EXHAUSTED (retries the same
body). Without ``--rate`` it is closed-loop (as fast as the target answers); with ``--rate`` requests are sent on a
fixed schedule (paced), and latency is measured per request. Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse

from . import payloads

GRPC_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))
    return s[k]


class Sender:
    def __init__(self, mode: str, target: str):
        self.mode = mode
        if mode == "grpc":
            import grpc

            self.grpc = grpc
            self.channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)])
            self.call = self.channel.unary_unary(GRPC_METHOD)  # no (de)serializers: raw bytes both ways
        else:
            u = urllib.parse.urlsplit(target)
            self.host, self.port, self.path = u.hostname, u.port, u.path
            self.ctype = "application/json" if mode == "http-json" else "application/x-protobuf"
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def send(self, body: bytes) -> tuple[bool, float | None]:
        """(accepted, retry_after seconds if throttled)."""
        if self.mode == "grpc":
            try:
                self.call(body, timeout=60)
                return True, None
            except self.grpc.RpcError as err:
                if err.code() in (self.grpc.StatusCode.UNAVAILABLE, self.grpc.StatusCode.RESOURCE_EXHAUSTED):
                    return False, 1.0
                raise
        for attempt in range(2):
            try:
                self.conn.request("POST", self.path, body=body, headers={"Content-Type": self.ctype})
                resp = self.conn.getresponse()
                resp.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt:
                    raise
        if resp.status == 200:
            return True, None
        if resp.status in (429, 503):
            return False, float(resp.getheader("Retry-After") or 1)
        raise RuntimeError(f"HTTP {resp.status}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True, help="URL (OTLP/HTTP) or host:port (gRPC)")
    ap.add_argument("--mode", choices=("http-protobuf", "http-json", "grpc"), default="http-protobuf")
    ap.add_argument("--payloads", required=True)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--rate", type=float, default=None, help="requests/s (paced); default: closed loop")
    ap.add_argument("--pass-base", type=int, default=0, help="first session-id prefix (distinct runs, distinct sessions)")
    args = ap.parse_args()

    bodies, counts = payloads.read(args.payloads)
    fmt = "json" if args.mode == "http-json" else "protobuf"
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "events": 0, "throttled": 0, "errors": 0, "bytes": 0}
    latencies: list[float] = []
    sched_latencies: list[float] = []
    first_error: list[str] = []
    start = time.monotonic() + 0.05
    stop_at = start + args.duration

    def take() -> tuple[int, float] | None:
        with lock:
            i = state["next"]
            state["next"] += 1
        due = start + (i / args.rate if args.rate else 0.0)
        if due >= stop_at or (not args.rate and time.monotonic() >= stop_at):
            return None
        return i, due

    def worker() -> None:
        sender = Sender(args.mode, args.target)
        while True:
            slot = take()
            if slot is None:
                return
            i, due = slot
            pass_no, idx = divmod(i, len(bodies))
            body = payloads.variant(bodies[idx], args.pass_base + pass_no, fmt)
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            while True:
                t0 = time.monotonic()
                try:
                    ok, retry = sender.send(body)
                except Exception as exc:  # noqa: BLE001 - count and go on
                    with lock:
                        state["errors"] += 1
                        if not first_error:
                            first_error.append(repr(exc))
                    break
                t1 = time.monotonic()
                if ok:
                    with lock:
                        state["ok"] += 1
                        state["events"] += counts[idx]
                        state["bytes"] += len(body)
                        latencies.append((t1 - t0) * 1000)
                        sched_latencies.append((t1 - max(due, start)) * 1000)
                    break
                with lock:
                    state["throttled"] += 1
                time.sleep(retry or 1.0)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.concurrency)]
    print(f"loadgen: {args.mode} → {args.target}, {len(bodies)} batches, {args.duration:.0f}s, "
          f"{'rate %.2f req/s' % args.rate if args.rate else 'closed loop'}, concurrency {args.concurrency}", file=sys.stderr)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    out = {"mode": args.mode, "elapsed_s": elapsed, "requests_ok": state["ok"], "events_ok": state["events"],
           "bytes_ok": state["bytes"], "throttled": state["throttled"], "errors": state["errors"],
           "first_error": first_error[0] if first_error else None,
           "events_per_s": state["events"] / elapsed, "requests_per_s": state["ok"] / elapsed,
           "latency_ms": {"n": len(latencies), "p50": percentile(latencies, 50), "p90": percentile(latencies, 90),
                          "p99": percentile(latencies, 99), "max": max(latencies) if latencies else None},
           "latency_from_schedule_ms": {"p50": percentile(sched_latencies, 50), "p99": percentile(sched_latencies, 99)}}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
