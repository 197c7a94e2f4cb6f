"""Anomaly reports end to end: simulated traffic through the real pipeline into the SQLite store, then the report."""

from __future__ import annotations

import json
import sys

import pytest

from collector_plugin.cli import main
from collector_plugin.report import KINDS

from .traffic import INJECTIONS, NOW, make_pipeline, settings_for

# The rule (docs/anomaly-reports.md, rule table) each injected anomaly must get.
RULES = {"dead_click": "dead_click/non_link_element", "rage_click": "rage_click/always", "dead_scroll": "dead_scroll/always",
         "quick_back": "quick_back/always", "confusion_loop": "quick_back/loops", "form_abandonment": "form_abandonment/always",
         "checkout_dropoff": "checkout_dropoff/always", "error_spike": "error_spike/always"}


def report_for(path, **cfg):
    p, _ = make_pipeline(settings_for(path, **cfg))
    try:
        return p.report.report(NOW)
    finally:
        p.report.close()


def test_injected_anomaly_ranks_first_with_its_segment_page_and_element(corpora):
    rep = report_for(corpora / "injected.sqlite")
    assert rep.findings, "the injected anomaly was not found"
    top = rep.findings[0]
    assert (top.rank, top.kind, top.page, top.segment) == (1, "dead_click", "/product/:id", "device=mobile")
    assert top.elements[0][0] == "img.product-hero"
    assert top.q_value < 0.01 and top.lift > 1.25 and top.affected > top.baseline_share * top.sessions
    assert top.cause.startswith("a non-link element (img)") and top.next_step == "make it a link or remove the affordance"
    assert top.heatmap in rep.heatmaps and rep.heatmaps[top.heatmap][:4] == b"\x89PNG"
    # every finding is of a known kind; at most max_findings_per_page per page
    assert {f.kind for f in rep.findings} <= set(KINDS)
    print(f"\ninjected anomaly rank: {top.rank} of {len(rep.findings)} finding(s); q={top.q_value:.2e}; tests={rep.tests}", file=sys.stderr)


@pytest.mark.parametrize("name", list(INJECTIONS))
def test_each_injected_kind_ranks_first_and_its_clean_twin_has_no_findings(name, injected, corpora):
    """One anomaly of each kind the analysis supports, injected in one segment only: it is finding #1 with its kind,
    segment, page and element (field, step, error group, previous page), and explains every finding of the report."""
    inj = INJECTIONS[name]
    rep = report_for(injected(name))
    assert rep.findings, f"the injected {name} was not found"
    top = rep.findings[0]
    assert (top.rank, top.kind, top.page, top.segment) == (1, inj.kind, inj.page, inj.segment_label), \
        [(f.kind, f.page, f.segment, f.impact) for f in rep.findings]
    if inj.element is None:  # dead scroll: a page-level signal, no element
        assert top.elements == []
    else:  # exact, or the prefix of an error group ("TypeError (<fingerprint>)")
        assert top.elements[0][0].startswith(inj.element) and top.elements[0][1] > top.elements[0][2], top.elements
    assert top.q_value <= 0.01 and top.lift >= 1.25 and top.excess_sessions > 0 and top.affected >= 5
    assert top.rule == RULES[name], (top.rule, top.cause)
    assert top.heatmap in rep.heatmaps and rep.heatmaps[top.heatmap][:4] == b"\x89PNG"
    # Other findings, if any, are the same users seen through another kind (a rage burst on a silent button is also
    # dead clicks; abandoning the shipping form is also a drop-off at shipping): never another page or segment.
    assert {(f.page, f.segment) for f in rep.findings} == {(inj.page, inj.segment_label)}
    from collector_plugin.report.render import to_html, to_markdown

    md, html = to_markdown(rep), to_html(rep)
    assert (inj.element or top.cause) in md and top.cause in md and "1000000000" not in md + html  # an unbounded lift reads "new"
    clean = report_for(corpora / "clean.sqlite")  # the same traffic without the injection
    assert clean.findings == [] and clean.tests > 20
    print(f"\n{name}: rank {top.rank} of {len(rep.findings)}, {top.kind} {top.page} {top.segment} {top.elements[:1]}, "
          f"q={top.q_value:.1e}; clean twin: 0/{clean.tests}", file=sys.stderr)


def test_clean_traffic_has_no_findings_and_the_false_positive_rate_is_measured(clean_hours):
    """Independent clean hours against the same baseline: no finding in any, so the measured false-positive rate is
    0 per comparison (docs/anomaly-reports.md, "Measured")."""
    findings = comparisons = 0
    for path in clean_hours:
        rep = report_for(path)
        assert rep.tests > 20
        assert rep.findings == [], [(f.kind, f.page, f.segment, f.q_value) for f in rep.findings]
        findings += len(rep.findings)
        comparisons += rep.tests
    rate = findings / comparisons
    assert comparisons >= 20 * len(clean_hours) and rate == 0.0
    print(f"\nfalse-positive rate on clean traffic: {findings}/{comparisons} comparisons in {len(clean_hours)} clean hours "
          f"({rate:.4f})", file=sys.stderr)


def test_below_the_minimum_sample_there_is_no_finding_and_the_report_says_so(corpora):
    rep = report_for(corpora / "injected.sqlite", min_page_sessions=5000, min_segment_sessions=5000)
    assert rep.findings == [] and rep.tests == 0
    product = next(p for p in rep.pages if p.page == "/product/:id")
    assert not product.judged and product.note.startswith("lacks data")
    from collector_plugin.report.render import to_html, to_markdown

    assert "lacks data" in to_markdown(rep) and "lacks data" in to_html(rep)
    # segments below their own minimum are not judged even when the page is
    rep = report_for(corpora / "injected.sqlite", min_segment_sessions=5000)
    assert all(f.segment == "all" for f in rep.findings)


def test_restart_on_the_same_store_gives_the_same_report(corpora, tmp_path):
    first = report_for(corpora / "injected.sqlite")
    again = report_for(corpora / "injected.sqlite")  # a new Pipeline and aggregator on the same SQLite file
    a, b = first.to_dict(), again.to_dict()
    a.pop("generated_at"), b.pop("generated_at")
    assert a == b and first.heatmaps == again.heatmaps


def test_restart_mid_window_continues_the_counts(tmp_path):
    """Half a window, process gone, half a window more in a new process: the same counts as one process."""
    from .traffic import NOW_HOUR, feed

    one, two = tmp_path / "one.sqlite", tmp_path / "two.sqlite"
    p, clock = make_pipeline(settings_for(one))
    feed(p, clock, 60, seed=5, hour=NOW_HOUR)
    feed(p, clock, 60, seed=6, hour=NOW_HOUR)
    p.report.close()
    for seed in (5, 6):
        p, clock = make_pipeline(settings_for(two))
        feed(p, clock, 60, seed=seed, hour=NOW_HOUR)
        p.report.close()
    a = report_for(one, min_page_sessions=1, min_segment_sessions=1)
    b = report_for(two, min_page_sessions=1, min_segment_sessions=1)
    assert [(x.page, x.sessions) for x in a.pages] == [(x.page, x.sessions) for x in b.pages] and a.pages[0].sessions > 50


def test_cli_writes_markdown_html_json_from_the_store(corpora, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["report", "--store", str(corpora / "injected.sqlite"), "--now", str(NOW), "--current-hours", "1", "--baseline-days", "3",
            "--min-page-sessions", "300", "--min-segment-sessions", "150"]
    assert main(args + ["--format", "md,html,json", "--out", str(out)]) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["findings"][0]["segment"] == "device=mobile" and data["findings"][0]["score"] > 2
    assert (out / "heatmaps" / f"{data['findings'][0]['heatmap']}.png").exists()
    assert "img.product-hero" in (out / "report.md").read_text()
    capsys.readouterr()
    assert main(args + ["--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["findings"][0]["kind"] == "dead_click"
    assert captured.out.lstrip().startswith("{")  # progress goes to stderr: stdout is the report alone


def test_anomaly_score_metric_is_set_from_the_report(corpora):
    from prometheus_client import generate_latest

    p, _ = make_pipeline(settings_for(corpora / "injected.sqlite"))
    p.report.update_score(NOW)
    text = generate_latest(p.registry).decode()
    line = next(l for l in text.splitlines() if l.startswith("rum_anomaly_score{"))
    assert 'page="/product/:id"' in line and 'kind="dead_click"' in line and 'segment="device=mobile"' in line
    assert float(line.rsplit(" ", 1)[1]) > 2
    p.report.close()
