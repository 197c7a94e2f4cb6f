"""The running service serves the latest report on the metrics port; the HTML opens cleanly in headless Chromium."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import requests

from collector_plugin.pipeline import Pipeline
from collector_plugin.server import BackgroundService
from conftest import make_settings
from support import scrape

from .traffic import NOW

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def report_service(corpora, tmp_path):
    store = tmp_path / "store.sqlite"
    shutil.copy(corpora / "injected.sqlite", store)
    settings = make_settings(report__store_path=str(store), report__current_window_hours=1, report__baseline_days=3,
                             report__min_page_sessions=300, report__min_segment_sessions=150)
    bg = BackgroundService(settings, pipeline=Pipeline(settings, clock=lambda: NOW)).__enter__()  # the report's clock, injected
    yield bg
    bg.stop()


def test_report_page_heatmaps_and_metric(report_service):
    base = report_service.url("metrics")
    page = requests.get(base + "/report", timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "id='findings'" in page.text and "/report/heatmaps/" in page.text
    data = requests.get(base + "/report?format=json", timeout=30).json()
    name = data["findings"][0]["heatmap"]
    png = requests.get(f"{base}/report/heatmaps/{name}.png", timeout=30)
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png" and png.content[:4] == b"\x89PNG"
    assert requests.get(base + "/report/heatmaps/nope.png", timeout=30).status_code == 404
    samples = scrape(base + "/metrics")
    assert any(lab.get("segment") == "device=mobile" and lab.get("kind") == "dead_click" and v > 2
               for lab, v in samples.get("rum_anomaly_score", []))


def test_a_damaged_store_is_a_clear_503_and_counted(report_service):
    base = report_service.url("metrics")
    assert requests.get(base + "/report?format=json", timeout=30).status_code == 200
    db = sqlite3.connect(report_service.service.pipeline.report.store.path)
    db.execute("DROP TABLE counts")  # the store damaged under the running service
    db.commit()
    db.close()
    r = requests.get(base + "/report?refresh", timeout=30)
    assert r.status_code == 503 and "report store can't be read" in r.text and r.headers["Retry-After"] == "60"
    samples = scrape(base + "/metrics")
    assert any(lab.get("operation") == "read" and v >= 1 for lab, v in samples["otel_friction_report_store_errors_total"])


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium")
def test_html_report_opens_in_chromium_without_console_errors(report_service, tmp_path):
    from playwright.sync_api import sync_playwright

    url = report_service.url("metrics") + "/report"
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                                           "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.goto(url, wait_until="load")
            assert page.locator("#findings tbody tr").count() >= 1
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            assert widths and all(w > 0 for w in widths), widths
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            shutil.copy(shot, Path("/tmp/otel-friction-report-screenshot.png"))  # for a look by eye
        finally:
            browser.close()
    assert problems == []
