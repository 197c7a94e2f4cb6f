"""The service runs the cyclic GC once per tick and then freezes what survived out of its reach
(server.Service._tick). That is only safe if the pipeline's objects form no reference cycles, which would then never
be freed: this checks it, and that other code's cycles are collected before they could be frozen."""

from __future__ import annotations

import gc
import weakref

import pytest

from collector_plugin.emit.exporter import InMemorySpanExporter
from collector_plugin.pipeline import Pipeline
from collector_plugin.simulate import ShopSimulator, to_requests
from conftest import make_settings
from support import wait_for


@pytest.mark.parametrize("report", [False, True], ids=["no-report-store", "report-store"])
def test_a_full_run_leaves_no_cyclic_garbage(tmp_path, report):
    settings = make_settings(**({"report__store_path": str(tmp_path / "report.sqlite")} if report else {}))
    clock = [1_800_000_000.0]
    memory = InMemorySpanExporter()
    pipeline = Pipeline(settings, exporters=[memory], clock=lambda: clock[0])
    sim = ShopSimulator(3, start_ns=int(clock[0] * 1e9))
    batches = to_requests(list(sim.sessions(300)), max_records=200)

    def run(requests):
        for i, request in enumerate(requests):
            pipeline.ingest_request("logs", request)
            clock[0] += 1
            if i % 3 == 2:
                pipeline.tick()
        clock[0] += 3600  # every session ends: the whole life cycle, spans and report rows included
        pipeline.tick()

    run(batches[:2])  # one-time set-up garbage (caches, compiled patterns) is not the pipeline's doing
    gc.collect()
    gc.disable()
    try:
        run(batches[2:])
        assert len(memory.spans()) > 1000 and len(pipeline.sessions) == 0
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_events_are_not_tracked_by_the_cyclic_gc():
    # Built by the native classifier (native/src/classify.rs, Class::make) and held by open sessions in their
    # thousands: a collection would walk each. They can't be in a cycle (frozen, atomic fields and each other).
    pipeline = Pipeline(make_settings(), exporters=[InMemorySpanExporter()])
    sim = ShopSimulator(3, start_ns=1_800_000_000 * 10**9)
    request = to_requests(list(sim.sessions(20)), max_records=500)[0]
    pipeline.ingest_request("logs", request)
    held = [e for s in pipeline.sessions.sessions.values() for e in s.pending]
    assert len(held) > 100
    assert not any(gc.is_tracked(o) for e in held for o in (e, e.detail, e.client))


def test_the_service_collects_cycles_at_its_ticks_before_freezing_what_survives(service):
    bg, _ = service
    assert not gc.isenabled()  # no collections on allocation counts, in the middle of a tick's work

    class Node:
        pass

    node = Node()
    node.self = node  # a library's cycle, garbage once dropped: frozen with the tick's survivors, it would never go
    gone = weakref.ref(node)
    del node
    wait_for(lambda: gone() is None, timeout=10, what="the cycle collected at a tick")
    bg.stop()
    assert gc.isenabled()  # the rest of the process gets automatic collections back
