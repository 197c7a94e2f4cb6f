"""Accuracy on the labelled corpus: every signal ≥ 0.95 precision and recall, no funnel miscounts, and nothing found
on clean traffic. The corpus runs through the whole pipeline; detections are read back from the exported traces."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from collector_plugin.evaluate import run_corpus, score
from collector_plugin.detect import Signal
from collector_plugin.simulate import FUNNEL_STEPS


@pytest.fixture(scope="module")
def labelled():
    corpus, spans, pipeline = run_corpus(1500, 11)
    return corpus, score(corpus, spans), pipeline


def test_every_signal_is_precise_and_complete(labelled):
    _, result, _ = labelled
    for signal in Signal:
        r = result[signal.value]
        assert r["support"] >= 30, f"{signal.value}: the corpus must exercise it"
        assert r["precision"] >= 0.95 and r["recall"] >= 0.95, (signal.value, r)


def test_funnel_is_counted_exactly(labelled):
    corpus, result, pipeline = labelled
    assert result["funnel"]["miscounts"] == 0 and result["funnel"]["missing_root_spans"] == 0

    def metric(name, **labels):
        return sum(s.value for m in pipeline.registry.collect() for s in m.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    for i, step in enumerate(FUNNEL_STEPS):
        reached = sum(1 for s in corpus if s.truth.furthest_step >= i)
        dropped = sum(1 for s in corpus if s.truth.furthest_step == i and not s.truth.converted)
        assert metric("rum_funnel_step_reached_total", step=step) == reached
        assert metric("rum_funnel_dropoffs_total", step=step) == dropped
    assert metric("rum_funnel_conversions_total") == sum(s.truth.converted for s in corpus)


def test_clean_traffic_has_no_friction():
    corpus, spans, _ = run_corpus(800, 12, clean=True)
    result = score(corpus, spans)
    assert {k: v["found"] for k, v in result.items() if k != "funnel"} == {s.value: 0 for s in Signal}
    assert result["funnel"]["miscounts"] == 0


def test_eval_cli_json():
    r = subprocess.run([sys.executable, "-m", "collector_plugin", "eval", "--sessions", "200", "--json"], capture_output=True, text=True, timeout=120)
    doc = json.loads(r.stdout)
    assert set(doc["rage_click"]) >= {"precision", "recall", "support"}
    assert {s.value for s in Signal} <= set(doc)
