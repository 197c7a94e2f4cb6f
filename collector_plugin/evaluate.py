"""``otel-friction eval``: precision and recall of every signal on the labelled simulated corpus.

The corpus goes through the real pipeline (ingest → … → emit) and the detections are read back from the
exported session traces, so this scores what a user would see, not an internal shortcut.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Callable

from .config import Settings, load_settings
from .detect import Signal
from .emit.exporter import InMemorySpanExporter
from .pipeline import Pipeline
from .simulate import FUNNEL_STEPS, ShopSimulator, to_requests

ELEMENT_SIGNALS = {"rage_click", "dead_click", "error_click", "form_abandonment"}


def attributes(span) -> dict:
    """A span's (or event's) attributes as a dict."""
    out = {}
    for kv in span.attributes:
        which = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, which) if which else None
    return out


def run_corpus(sessions: int, seed: int, *, clean: bool = False, settings: Settings | None = None,
               progress: Callable[[int, int], None] | None = None):
    """Feed the corpus through a pipeline with a simulated clock; returns (simulated sessions, exported spans, pipeline)."""
    settings = settings or load_settings()
    # A scoring run must not add simulated traffic to the user's anomaly-report store.
    settings = settings.model_copy(update={"report": settings.report.model_copy(update={"store_path": None})})
    sim = ShopSimulator(seed, start_ns=time.time_ns() - 3600 * 10**9, clean=clean)
    corpus = list(sim.sessions(sessions))
    now = [0.0]
    memory = InMemorySpanExporter()
    pipeline = Pipeline(settings, exporters=[memory], clock=lambda: now[0])
    batches = to_requests(corpus, max_records=500)
    for i, req in enumerate(batches):
        pipeline.ingest_request("logs", req, "simulated")
        now[0] += settings.export.flush_interval_seconds
        pipeline.tick()
        if progress:
            progress(i + 1, len(batches))
    now[0] += settings.sessions.inactivity_timeout_seconds + 1
    pipeline.tick()
    return corpus, memory.spans(), pipeline


def score(corpus, spans) -> dict:
    signals = [s.value for s in Signal]
    truth: Counter = Counter()
    for s in corpus:
        for label in s.truth.labels:
            truth[(s.session_id, label.signal, label.page, label.element if label.signal in ELEMENT_SIGNALS else None)] += 1
    found: Counter = Counter()
    roots = {}
    for _, span in spans:
        a = attributes(span)
        if span.name in signals:
            element = a.get("rum.friction.element") if span.name in ELEMENT_SIGNALS else None
            found[(a["session.id"], span.name, a.get("url.template"), element)] += 1
        elif span.name == "session":
            roots[a["session.id"]] = a
    result: dict = {}
    for signal in signals:
        t = Counter({k: v for k, v in truth.items() if k[1] == signal})
        f = Counter({k: v for k, v in found.items() if k[1] == signal})
        tp = sum((t & f).values())
        n_found, support = sum(f.values()), sum(t.values())
        result[signal] = {"precision": round(tp / n_found, 4) if n_found else 1.0,
                          "recall": round(tp / support, 4) if support else 1.0, "support": support, "found": n_found}
    miscounts = 0
    for s in corpus:
        root = roots.get(s.session_id, {})
        expected = FUNNEL_STEPS[s.truth.furthest_step] if s.truth.furthest_step >= 0 else None
        if root.get("rum.funnel.checkout.furthest_step") != expected or bool(root.get("rum.converted")) != s.truth.converted:
            miscounts += 1
    result["funnel"] = {"sessions": len(corpus), "miscounts": miscounts,
                        "converted": sum(s.truth.converted for s in corpus), "missing_root_spans": len(corpus) - len(roots)}
    return result
