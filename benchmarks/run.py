"""otel-friction benchmark: ``python -m benchmarks.run [--quick] [--json]`` (progress on stderr).

One run, on the same payloads (simulated browser log batches of ~1,000 records, serialized once up front):
  (a) decode ceiling: ExportLogsServiceRequest.FromString over the batches, records per CPU-second;
  (b) otel-friction end to end: the real service (``python -m collector_plugin serve``, with its receiver process),
      a span sink and a load generator in more processes; events per CPU-second of the service's two processes
      (utime+stime from /proc/<pid>/stat, including the drain until every session has ended and its spans are
      exported) and wall-clock throughput; OTLP/HTTP protobuf, OTLP/JSON and OTLP/gRPC;
  (c) the real OpenTelemetry Collector (GOMAXPROCS=1) passing the same batches through otlp → batch → otlp_http;
  (d) latency per 1,000-event request at half the measured maximum load (paced sender);
  (e) RSS per active idle session at 100k and 1M sessions, and per open session of a whole shop visit
      (benchmarks/memory.py);
  (f) the anomaly-report store grown to its retention: flush cost per row, prune, analysis (benchmarks/report_store.py);
  plus an in-process cProfile of the hot path (benchmarks/profile_hot.py).
See BENCHMARKS.md for figures and their interpretation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from . import payloads

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")

TARGETS = {"events_per_s_per_core": 100_000, "collector_ratio": 1.0, "p99_batch_ms": 50.0, "bytes_per_idle_session": 1024}

# pairs: (b) protobuf and (c) alternate this many times; the headline figures are medians, the ratio the median of
# the pairs' ratios, because this machine's speed drifts by up to 2x from minute to minute (BENCHMARKS.md).
FULL = dict(records=60_000, load_s=20.0, variant_s=12.0, collector_s=12.0, latency_s=30.0, memory="100000,1000000",
            memory_budget_s=400.0, store_days=14.0, visits=20_000, profile_records=30_000, decode_min_s=2.0, pairs=3)
QUICK = dict(records=20_000, load_s=8.0, variant_s=5.0, collector_s=5.0, latency_s=10.0, memory="100000",
             memory_budget_s=40.0, store_days=1.0, visits=5_000, profile_records=10_000, decode_min_s=0.5, pairs=1)
CONCURRENCY = 4
INACTIVITY_S = 5
FLUSH_S = 1


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ processes

def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _stat(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (counted after "pid (comm)"), or None if the process has ended."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def process_tree(pid: int) -> list[int]:
    """The process and its descendants: otel-friction serve runs its OTLP receivers in a child process."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    pids, i = [pid], 0
    while i < len(pids):
        pids.extend(parents.get(pids[i], ()))
        i += 1
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process tree (all threads), from /proc/<pid>/stat."""
    ticks = 0
    for p in process_tree(pid):
        if (fields := _stat(p)) is not None:
            ticks += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return ticks / CLK_TCK


def rss_bytes(pid: int) -> int:
    """VmRSS summed over the process tree."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next((int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:")), 0)
        except FileNotFoundError:
            continue
    return total


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


def stop(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read()


class Sink:
    def __init__(self, workdir: Path, name: str):
        self.port = free_ports(1)[0]
        self.log = open(workdir / f"{name}.log", "wb")
        self.proc = subprocess.Popen([PY, "-m", "benchmarks.sink", "--port", str(self.port)], cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc)
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict:
        return json.loads(http_get(self.url + "/stats"))

    def close(self) -> None:
        stop(self.proc)
        self.log.close()


def loadgen(payload_file: Path, target: str, mode: str, duration: float, *, rate: float | None = None,
            pass_base: int = 0) -> dict:
    cmd = [PY, "-m", "benchmarks.loadgen", "--target", target, "--mode", mode, "--payloads", str(payload_file),
           "--duration", str(duration), "--concurrency", str(CONCURRENCY), "--pass-base", str(pass_base)]
    if rate:
        cmd += ["--rate", f"{rate:.4f}"]
    out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, check=True, timeout=duration + 300)
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def scrape(metrics_url: str) -> dict[str, float]:
    """Sums of the otel_friction_* samples by name (labels folded)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(http_get(metrics_url).decode()):
        for s in fam.samples:
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


# ------------------------------------------------------------------------------------------ (a) decode ceiling

def decode_ceiling(bodies: list[bytes], counts: list[int], min_s: float) -> dict:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    parse = ExportLogsServiceRequest.FromString
    for b in bodies[:3]:
        parse(b)
    records, rounds = 0, 0
    c0 = time.process_time()
    while True:
        for b in bodies:
            parse(b)
        records += sum(counts)
        rounds += 1
        cpu = time.process_time() - c0
        if cpu >= min_s:
            break
    return {"events_per_cpu_s": records / cpu, "records": records, "cpu_s": cpu, "rounds": rounds,
            "mb_per_cpu_s": rounds * sum(map(len, bodies)) / cpu / 1e6}


# ----------------------------------------------------------------------------------- (b), (d) otel-friction

def otel_friction(workdir: Path, payload_file: Path, mode: str, duration: float, *, rate: float | None = None,
                  pass_base: int = 0) -> dict:
    """Start sink + service, drive one load, drain (every session ended, spans delivered), report CPU and counts."""
    sink = Sink(workdir, f"sink-{mode}{'-paced' if rate else ''}")
    http_port, grpc_port, metrics_port = free_ports(3)
    env = dict(os.environ, OTEL_FRICTION_SESSIONS__INACTIVITY_TIMEOUT_SECONDS=str(INACTIVITY_S),
               OTEL_FRICTION_EXPORT__FLUSH_INTERVAL_SECONDS=str(FLUSH_S), OTEL_FRICTION_LOG__LEVEL="warning")
    env.setdefault("OTEL_FRICTION_REPORT__STORE_PATH", str(workdir / f"report-{mode}{'-paced' if rate else ''}.sqlite"))
    cmd = [PY, "-m", "collector_plugin", "serve", "--otlp-http", f"127.0.0.1:{http_port}",
           "--otlp-grpc", f"127.0.0.1:{grpc_port}" if mode == "grpc" else "none",
           "--metrics", f"127.0.0.1:{metrics_port}", "--export-otlp", sink.url]
    svc_log = open(workdir / f"service-{mode}{'-paced' if rate else ''}.log", "wb")
    svc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=svc_log, stderr=subprocess.STDOUT)
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        wait_port(http_port, svc)
        wait_port(metrics_port, svc)
        if mode == "grpc":
            wait_port(grpc_port, svc)
        idle0, t_idle = cpu_seconds(svc.pid), time.monotonic()
        time.sleep(2.0)
        idle_cpu_per_s = (cpu_seconds(svc.pid) - idle0) / (time.monotonic() - t_idle)
        rss0 = rss_bytes(svc.pid)
        target = f"127.0.0.1:{grpc_port}" if mode == "grpc" else f"http://127.0.0.1:{http_port}/v1/logs"
        cpu0, w0 = cpu_seconds(svc.pid), time.monotonic()
        load = loadgen(payload_file, target, mode, duration, rate=rate, pass_base=pass_base)
        cpu_load, w_load = cpu_seconds(svc.pid), time.monotonic()
        peak_rss = rss_bytes(svc.pid)
        # Drain: sessions end INACTIVITY_S after their last event; wait for every one to end and its spans to go out.
        deadline = time.monotonic() + INACTIVITY_S + 60
        last_spans, stable_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(1.0)
            m = scrape(metrics_url)
            spans = sink.stats()["spans"]
            if spans != last_spans:
                last_spans, stable_since = spans, time.monotonic()
            if (m.get("otel_friction_sessions_active", 1) == 0 and m.get("otel_friction_export_queue_spans", 0) == 0
                    and time.monotonic() - stable_since >= 1.0):
                break
        cpu1, w1 = cpu_seconds(svc.pid), time.monotonic()
        m = scrape(metrics_url)
        sstats = sink.stats()
    finally:
        stop(svc, timeout=30)
        svc_log.close()
        sink.close()
    cpu = cpu1 - cpu0
    events = load["events_ok"]
    return {
        "mode": mode, "rate_req_per_s": rate, "load": load,
        "events": events, "service_cpu_s": cpu, "service_cpu_s_during_load": cpu_load - cpu0,
        "drain_s": w1 - w_load, "idle_cpu_per_s": idle_cpu_per_s,
        "events_per_cpu_s": events / cpu if cpu else None,
        "events_per_s_wall": load["events_per_s"],
        "service_cpu_utilisation_during_load": (cpu_load - cpu0) / (w_load - w0),
        "records_received_by_service": m.get("otel_friction_records_received_total"),
        "sessions_ended": m.get("otel_friction_sessions_ended_total"),
        "sessions_started": m.get("rum_sessions_started_total"),
        "late_events": m.get("otel_friction_late_events_total"),
        "throttled_429": load["throttled"],
        "spans_exported_metric": m.get("otel_friction_spans_exported_total"),
        "spans_dropped_metric": m.get("otel_friction_spans_dropped_total"),
        "spans_at_sink": sstats["spans"], "span_requests_at_sink": sstats["requests"],
        "rss_before_mib": rss0 / 2**20, "rss_after_load_mib": peak_rss / 2**20,
        # Where the worker thread's time went (the service's own histograms): per-request ingest vs per-interval tick.
        "ingest_requests": m.get("otel_friction_batch_duration_seconds_count"),
        "ingest_s_total": m.get("otel_friction_batch_duration_seconds_sum"),
        "ingest_ms_mean": 1000 * m.get("otel_friction_batch_duration_seconds_sum", 0) / max(1, m.get("otel_friction_batch_duration_seconds_count", 0)),
        "ticks": m.get("otel_friction_tick_duration_seconds_count"),
        "tick_s_total": m.get("otel_friction_tick_duration_seconds_sum"),
        "tick_ms_mean": 1000 * m.get("otel_friction_tick_duration_seconds_sum", 0) / max(1, m.get("otel_friction_tick_duration_seconds_count", 0)),
    }


# ------------------------------------------------------------------------------------------------- (c) collector

COLLECTOR_CONFIG = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
processors:
  batch:
    send_batch_size: 1000
    send_batch_max_size: 2000
    timeout: 1s
exporters:
  otlp_http:
    endpoint: {sink_url}
    compression: none
    sending_queue:
      enabled: false
service:
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_http]
"""


def collector_binary() -> tuple[str, str]:
    out = subprocess.run([str(ROOT / "scripts" / "build-collector.sh")], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=3600)
    path = out.stdout.strip().splitlines()[-1].split()[-1]
    version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.strip()
    return path, version


def collector(workdir: Path, payload_file: Path, duration: float, binary: str) -> dict:
    sink = Sink(workdir, "sink-collector")
    http_port = free_ports(1)[0]
    cfg = workdir / "collector.yaml"
    cfg.write_text(COLLECTOR_CONFIG.format(http_port=http_port, sink_url=sink.url))
    clog = open(workdir / "collector.log", "wb")
    proc = subprocess.Popen([binary, "--config", str(cfg)], env=dict(os.environ, GOMAXPROCS="1"),
                            stdout=clog, stderr=subprocess.STDOUT)
    try:
        wait_port(http_port, proc)
        time.sleep(1.0)
        cpu0 = cpu_seconds(proc.pid)
        load = loadgen(payload_file, f"http://127.0.0.1:{http_port}/v1/logs", "http-protobuf", duration, pass_base=40_000)
        cpu_load = cpu_seconds(proc.pid)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and sink.stats()["log_records"] < load["events_ok"]:
            time.sleep(0.25)
        cpu1 = cpu_seconds(proc.pid)
        sstats = sink.stats()
        rss = rss_bytes(proc.pid)
    finally:
        stop(proc)
        clog.close()
        sink.close()
    cpu = cpu1 - cpu0
    return {"load": load, "events": load["events_ok"], "collector_cpu_s": cpu, "cpu_s_during_load": cpu_load - cpu0,
            "events_per_cpu_s": load["events_ok"] / cpu if cpu else None, "events_per_s_wall": load["events_per_s"],
            "records_at_sink": sstats["log_records"], "export_requests_at_sink": sstats["requests"],
            "rss_mib": rss / 2**20}


# ----------------------------------------------------------------------------------------------------- machine

def machine() -> dict:
    from google.protobuf.internal import api_implementation

    cpu_model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    load = os.getloadavg()
    return {"cpu_model": cpu_model, "cores": os.cpu_count(), "ram_gib": round(mem / 2**20, 1), "kernel": platform.release(),
            "python": platform.python_version(), "protobuf_backend": api_implementation.Type(),
            "protobuf_version": __import__("google.protobuf").protobuf.__version__, "loadavg_at_start": load}


def git_state() -> dict:
    """The code measured: HEAD and uncommitted changes under collector_plugin/ (others may be editing it)."""
    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"head": git("rev-parse", "--short", "HEAD"),
            "dirty": [line[3:] for line in git("status", "--porcelain", "--", "collector_plugin").splitlines()]}


# -------------------------------------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller run, under ~2 minutes")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: json,grpc,collector,latency,memory,store,profile")
    ap.add_argument("--pairs", type=int, help="alternating (b) protobuf / (c) collector pairs (full: 3, quick: 1)")
    args = ap.parse_args()
    cfg = dict(QUICK if args.quick else FULL)
    if args.pairs:
        cfg["pairs"] = args.pairs
    skip = set(filter(None, args.skip.split(",")))
    t_start = time.monotonic()
    result: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": args.quick,
                    "command": "python -m benchmarks.run" + (" --quick" if args.quick else "") + (" --json" if args.json else ""),
                    "machine": machine(), "config": dict(cfg, concurrency=CONCURRENCY, inactivity_s=INACTIVITY_S, flush_s=FLUSH_S)}
    workdir = Path(tempfile.mkdtemp(prefix="otel-friction-bench-"))
    result["workdir"] = str(workdir)
    result["git"] = git_state()

    log(f"building ~{cfg['records']:,} simulated records (ShopSimulator) into ~1,000-record batches")
    bodies, _ = payloads.build(cfg["records"])
    counts = [payloads.record_count(b) for b in bodies]
    pb_file, json_file = workdir / "batches.pb", workdir / "batches.json.bin"
    payloads.write(pb_file, bodies, counts)
    result["payload"] = {"batches": len(bodies), "records": sum(counts), "records_per_batch": sum(counts) / len(bodies),
                         "protobuf_bytes_per_batch": sum(map(len, bodies)) / len(bodies)}
    if "json" not in skip:
        jbodies = [payloads.to_otlp_json(b) for b in bodies]
        payloads.write(json_file, jbodies, counts)
        result["payload"]["json_bytes_per_batch"] = sum(map(len, jbodies)) / len(jbodies)
        del jbodies
    log(f"payload: {len(bodies)} batches, {sum(counts):,} records, {result['payload']['protobuf_bytes_per_batch'] / 1e3:.0f} kB/batch")

    log("(a) decode ceiling")
    result["decode"] = decode_ceiling(bodies, counts, cfg["decode_min_s"])
    log(f"    {result['decode']['events_per_cpu_s']:,.0f} records per CPU-second")

    if "collector" not in skip:
        try:
            binary, version = collector_binary()
        except (subprocess.SubprocessError, OSError, IndexError) as exc:
            log(f"(c) skipped: no collector binary ({exc!r})")
            skip.add("collector")
        else:
            result["machine"]["collector_version"] = version
    e2e_runs, collector_runs = [], []
    for i in range(cfg["pairs"]):
        pair = f" (pair {i + 1} of {cfg['pairs']})" if cfg["pairs"] > 1 else ""
        log(f"(b) otel-friction end to end, OTLP/HTTP protobuf, closed loop {cfg['load_s']:.0f}s + drain{pair}")
        e2e = otel_friction(workdir, pb_file, "http-protobuf", cfg["load_s"], pass_base=0)
        e2e_runs.append(e2e)
        log(f"    {e2e['events_per_cpu_s']:,.0f} events/CPU-s, {e2e['events_per_s_wall']:,.0f} events/s wall, "
            f"{e2e['spans_at_sink']:,} spans at sink, {e2e['sessions_ended']:.0f} sessions ended")
        if "collector" not in skip:
            log(f"(c) collector pass-through ({version}, GOMAXPROCS=1), {cfg['collector_s']:.0f}s{pair}")
            r = collector(workdir, pb_file, cfg["collector_s"], binary)
            collector_runs.append(r)
            log(f"    {r['events_per_cpu_s']:,.0f} records/CPU-s, {r['events_per_s_wall']:,.0f} records/s wall, "
                f"{r['records_at_sink']:,} of {r['events']:,} at sink")
    # The details reported are the median run's.
    e2e = result["e2e_http_protobuf"] = _median_run(e2e_runs)
    result["e2e_http_protobuf_runs"] = [r["events_per_cpu_s"] for r in e2e_runs]
    if collector_runs:
        result["collector"] = _median_run(collector_runs)
        result["collector_runs"] = [r["events_per_cpu_s"] for r in collector_runs]
        result["collector_ratio_pairs"] = [b["events_per_cpu_s"] / c["events_per_cpu_s"] for b, c in zip(e2e_runs, collector_runs)]
    if "json" not in skip:
        log(f"(b) OTLP/HTTP JSON, {cfg['variant_s']:.0f}s")
        r = otel_friction(workdir, json_file, "http-json", cfg["variant_s"], pass_base=10_000)
        result["e2e_http_json"] = r
        log(f"    {r['events_per_cpu_s']:,.0f} events/CPU-s, {r['events_per_s_wall']:,.0f} events/s wall")
    if "grpc" not in skip:
        log(f"(b) OTLP/gRPC, {cfg['variant_s']:.0f}s")
        r = otel_friction(workdir, pb_file, "grpc", cfg["variant_s"], pass_base=20_000)
        result["e2e_grpc"] = r
        log(f"    {r['events_per_cpu_s']:,.0f} events/CPU-s, {r['events_per_s_wall']:,.0f} events/s wall")
    if "latency" not in skip:
        rate = 0.5 * e2e["load"]["requests_per_s"]
        log(f"(d) latency at half the measured max load: {rate:.2f} req/s paced, {cfg['latency_s']:.0f}s")
        r = otel_friction(workdir, pb_file, "http-protobuf", cfg["latency_s"], rate=rate, pass_base=30_000)
        result["latency_half_load"] = r
        lat = r["load"]["latency_ms"]
        log(f"    p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms over {lat['n']} requests")
    if "memory" not in skip:
        log(f"(e) memory per idle session at {cfg['memory']} sessions (budget {cfg['memory_budget_s']:.0f}s)")
        out = subprocess.run([PY, "-m", "benchmarks.memory", "--sessions", cfg["memory"], "--time-budget",
                              str(cfg["memory_budget_s"])], cwd=ROOT, stdout=subprocess.PIPE, check=True,
                             timeout=cfg["memory_budget_s"] + 600)
        result["memory"] = json.loads(out.stdout.decode().strip().splitlines()[-1])
        for step in result["memory"]["steps"]:
            log(f"    {step['sessions']:,} sessions: {step['bytes_per_session']:,.0f} bytes/session")
        out = subprocess.run([PY, "-m", "benchmarks.memory", "--visits", str(cfg["visits"])], cwd=ROOT, stdout=subprocess.PIPE,
                             check=True, timeout=900)
        result["memory"]["open_visits"] = v = json.loads(out.stdout.decode().strip().splitlines()[-1])
        log(f"    {v['open_sessions']:,} open shop visits ({v['records_per_visit']:.1f} records each): "
            f"{v['bytes_per_open_session']:,.0f} bytes/session")
    if "store" not in skip:
        log(f"(f) report store grown to {cfg['store_days']:g} days of hourly rows")
        out = subprocess.run([PY, "-m", "benchmarks.report_store", "--days", str(cfg["store_days"])], cwd=ROOT,
                             stdout=subprocess.PIPE, check=True, timeout=1800)
        result["report_store"] = rs = json.loads(out.stdout.decode().strip().splitlines()[-1])
        first, last = rs["flush_by_store_size"][0], rs["flush_by_store_size"][-1]
        log(f"    {rs['rows_per_hour']:,} rows an hour; flush {first['us_per_row']:.1f} µs/row empty, {last['us_per_row']:.1f} "
            f"µs/row at {last['rows_stored']:,} rows ({rs['file_bytes'] / 2**20:,.0f} MiB); analysis "
            f"{rs['analysis_no_heatmaps']['wall_s'] * 1000:.0f} ms")
    if "profile" not in skip:
        log(f"profile: cProfile of ingest_bytes + tick in-process, {cfg['profile_records']:,} records")
        out = subprocess.run([PY, "-m", "benchmarks.profile_hot", "--records", str(cfg["profile_records"]), "--json"],
                             cwd=ROOT, stdout=subprocess.PIPE, check=True, timeout=900)
        result["profile"] = json.loads(out.stdout.decode().strip().splitlines()[-1])

    summarize(result)
    result["elapsed_s"] = time.monotonic() - t_start
    (workdir / "result.json").write_text(json.dumps(result, indent=2))
    log(f"done in {result['elapsed_s']:.0f}s (logs in {workdir})")
    if args.json:
        print(json.dumps(result, indent=None))
    else:
        print_table(result)


def _median_run(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda r: r["events_per_cpu_s"])[(len(runs) - 1) // 2]


def summarize(r: dict) -> None:
    """The headline figures (flat keys, for scripts comparing runs) and each target's ratio."""
    e2e = r["e2e_http_protobuf"]
    r["events_per_s_per_core"] = e2e["events_per_cpu_s"]
    r["events_per_s_wall"] = e2e["events_per_s_wall"]
    r["decode_ceiling_events_per_s"] = r["decode"]["events_per_cpu_s"]
    # How much of the decode-only ceiling's rate the whole pipeline keeps, per core (the ratio (a)).
    r["decode_ceiling_ratio"] = r["events_per_s_per_core"] / r["decode_ceiling_events_per_s"]
    r["spans_exported"] = e2e["spans_at_sink"]
    r["json_events_per_s_per_core"] = r.get("e2e_http_json", {}).get("events_per_cpu_s")
    r["json_events_per_s_wall"] = r.get("e2e_http_json", {}).get("events_per_s_wall")
    r["grpc_events_per_s_per_core"] = r.get("e2e_grpc", {}).get("events_per_cpu_s")
    r["grpc_events_per_s_wall"] = r.get("e2e_grpc", {}).get("events_per_s_wall")
    col = r.get("collector")
    r["collector_passthrough_events_per_s"] = col["events_per_cpu_s"] if col else None
    r["collector_passthrough_events_per_s_wall"] = col["events_per_s_wall"] if col else None
    r["collector_ratio"] = statistics.median(r["collector_ratio_pairs"]) if col else None
    lat = r.get("latency_half_load", {}).get("load", {}).get("latency_ms", {})
    r["p50_batch_ms"], r["p99_batch_ms"] = lat.get("p50"), lat.get("p99")
    steps = r.get("memory", {}).get("steps", [])
    r["bytes_per_idle_session"] = steps[-1]["bytes_per_session"] if steps else None
    r["bytes_per_idle_session_by_count"] = {s["sessions"]: s["bytes_per_session"] for s in steps}
    r["bytes_per_open_visit"] = r.get("memory", {}).get("open_visits", {}).get("bytes_per_open_session")
    r["targets"] = {}
    for key, target in TARGETS.items():
        value = r.get(key)
        if value is None:
            continue
        lower_is_better = key in ("p99_batch_ms", "bytes_per_idle_session")
        met = value <= target if lower_is_better else value >= target
        # "factor": how far from the target, >1 = missed by that factor
        factor = value / target if lower_is_better else target / value
        r["targets"][key] = {"value": value, "target": target, "met": met, "factor_from_target": factor}


def print_table(r: dict) -> None:
    def f(v, fmt="{:,.0f}"):
        return "n/a" if v is None else fmt.format(v)

    rows = [
        ("decode ceiling (FromString)", f(r["decode_ceiling_events_per_s"]) + " records/CPU-s",
         f"otel-friction e2e is {r['decode_ceiling_ratio']:.3f}× of it per core"),
        ("otel-friction e2e, OTLP/HTTP protobuf", f(r["events_per_s_per_core"]) + " events/CPU-s",
         f(r["events_per_s_wall"]) + " events/s wall"),
        ("otel-friction e2e, OTLP/HTTP JSON", f(r["json_events_per_s_per_core"]) + " events/CPU-s",
         f(r["json_events_per_s_wall"]) + " events/s wall"),
        ("otel-friction e2e, OTLP/gRPC", f(r["grpc_events_per_s_per_core"]) + " events/CPU-s",
         f(r["grpc_events_per_s_wall"]) + " events/s wall"),
        ("collector pass-through (GOMAXPROCS=1)", f(r["collector_passthrough_events_per_s"]) + " records/CPU-s",
         f(r["collector_passthrough_events_per_s_wall"]) + " records/s wall"),
        ("otel-friction / collector per core", f(r["collector_ratio"], "{:.3f}×"),
         "median of pairs " + ", ".join(f"{x:.3f}" for x in r.get("collector_ratio_pairs", []))),
        ("latency per 1,000-event request @ half load", f"p50 {f(r['p50_batch_ms'], '{:.1f}')} ms, p99 {f(r['p99_batch_ms'], '{:.1f}')} ms", ""),
        ("RSS per idle session", ", ".join(f"{n:,}: {b:,.0f} B" for n, b in r["bytes_per_idle_session_by_count"].items()) or "n/a", ""),
        ("RSS per open session of a whole shop visit", f(r["bytes_per_open_visit"]) + " B", "sizes a deployment's memory"),
        ("spans received by the sink (e2e protobuf run)", f(r["spans_exported"]), ""),
    ]
    rs = r.get("report_store")
    if rs:
        last = rs["flush_by_store_size"][-1]
        rows.append(("report store flush at retention size", f"{last['us_per_row']:.1f} µs/row",
                     f"{last['rows_stored']:,} rows, {rs['file_bytes'] / 2**20:,.0f} MiB"))
    for name, a, b in rows:
        print(f"{name:48} {a:32} {b}")
    print()
    for key, t in r["targets"].items():
        print(f"target {key}: {t['value']:,.3f} vs {t['target']:,} → {'MET' if t['met'] else 'MISSED by %.1f×' % t['factor_from_target']}")


if __name__ == "__main__":
    main()
