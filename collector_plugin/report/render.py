"""The report as Markdown, HTML (self-contained apart from the heatmap PNGs, no scripts) and JSON."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from .analyze import Report

KIND_TITLES = {"rage_click": "Rage clicks", "dead_click": "Dead clicks", "dead_scroll": "Dead scroll", "quick_back": "Quick backs / loops",
               "form_abandonment": "Form abandonment", "checkout_dropoff": "Checkout drop-off", "error_spike": "Error spike"}


def _t(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _window(rep: Report) -> str:
    return f"{_t(rep.current[0])} – {_t(rep.current[1])}"


def _baseline(rep: Report) -> str:
    s = rep.settings
    if s["baseline_mode"] == "same_hours":
        return f"the same hours on the {s['baseline_days']} previous day(s)"
    return f"the {s['baseline_hours']} h before the current window"


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def _lift(f) -> str:
    return "new (none in baseline)" if f.baseline_affected == 0 else f"{f.lift:.2f}×"  # lift is stored as 1e9 then


def _elements(f) -> str:
    return ", ".join(f"{el} ({n} vs {exp:g} expected)" for el, n, exp in f.elements[:3]) or "-"


def to_json(rep: Report) -> str:
    return json.dumps(rep.to_dict(), indent=2, default=str)


def to_markdown(rep: Report, heatmap_base: str = "heatmaps/") -> str:
    lines = ["# Behavioural anomaly report", "",
             f"Current window **{_window(rep)}** compared with {_baseline(rep)}; two-proportion z-test, "
             f"{'Benjamini–Hochberg' if rep.settings['correction'] == 'bh' else 'Bonferroni'} over {rep.tests} comparisons, "
             f"flagged at q ≤ {rep.settings['alpha']} and lift ≥ {rep.settings['min_lift']}.", ""]
    if rep.findings:
        lines += ["| # | kind | page | segment | affected (window) | baseline | lift | q | exposure | impact | top elements | candidate cause | next step |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for f in rep.findings:
            lines.append(f"| {f.rank} | {KIND_TITLES.get(f.kind, f.kind)} | `{f.page}` | {f.segment} | {f.affected}/{f.sessions} ({_pct(f.share)}) | "
                         f"{_pct(f.baseline_share)} | {_lift(f)} | {f.q_value:.2e} | {f.excess_sessions:g} sessions | {f.impact:g} | "
                         f"{_elements(f)} | {f.cause} | {f.next_step} |")
        lines.append("")
        for f in rep.findings:
            if f.heatmap:
                lines += [f"### {f.rank}. {KIND_TITLES.get(f.kind, f.kind)} on `{f.page}` ({f.segment})", "",
                          f"![click map, baseline left, current right]({heatmap_base}{f.heatmap}.png)", ""]
                if f.also_in:
                    lines += [f"Also significant in: {', '.join(f.also_in)}.", ""]
    else:
        lines += ["No findings: no page/segment changed significantly against its baseline.", ""]
    lines += ["## Pages", "", "| page | sessions (window) | sessions (baseline) | status | findings |", "|---|---|---|---|---|"]
    for p in rep.pages:
        lines.append(f"| `{p.page}` ({p.service}) | {p.sessions} | {p.baseline_sessions} | {p.note} | {p.findings} |")
    if rep.fixed:
        lines += ["", "## Sticky / fixed elements (kept off the click maps)", ""]
        for page, els in rep.fixed.items():
            lines.append(f"- `{page}`: " + ", ".join(f"{el} ({n} clicks)" for el, n in els))
    return "\n".join(lines) + "\n"


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#0f1117;color:#e4e6eb}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 10px} h3{font-size:15px;margin:0 0 6px}
.sub{color:#9aa0aa;margin:0 0 18px}
table{border-collapse:collapse;width:100%;background:#161923;border-radius:8px;overflow:hidden}
th,td{padding:7px 9px;text-align:left;border-bottom:1px solid #262a36;vertical-align:top}
th{background:#1d2130;color:#b8bcc6;font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code{background:#232838;padding:1px 5px;border-radius:4px;font-size:12.5px}
.kind{display:inline-block;white-space:nowrap;padding:2px 8px;border-radius:10px;font-size:12px;background:#2b3350}
.kind.rage_click,.kind.error_spike{background:#5a2330}.kind.dead_click{background:#1f4752}.kind.checkout_dropoff,.kind.form_abandonment{background:#4f3d1c}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:16px}
.card{background:#161923;border:1px solid #262a36;border-radius:10px;padding:14px}
.card img{display:block;max-width:100%;image-rendering:auto;border-radius:6px;margin:8px 0}
.legend span{margin-right:14px;color:#b8bcc6;font-size:12px}.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px;vertical-align:-1px}
.muted{color:#9aa0aa}.none{padding:14px;background:#161923;border-radius:8px}
"""


def to_html(rep: Report, heatmap_base: str = "heatmaps/") -> str:
    e = escape
    out = ["<!doctype html><html lang='en'><head><meta charset='utf-8'><title>otel-friction anomaly report</title>",
           f"<meta name='viewport' content='width=device-width,initial-scale=1'><link rel='icon' href='data:,'><style>{_CSS}</style></head><body><main>",
           "<h1>Behavioural anomaly report</h1>",
           f"<p class='sub'>Current window <b>{e(_window(rep))}</b> vs {e(_baseline(rep))} · two-proportion z-test, "
           f"{'Benjamini–Hochberg' if rep.settings['correction'] == 'bh' else 'Bonferroni'} over {rep.tests} comparisons · "
           f"q ≤ {rep.settings['alpha']}, lift ≥ {rep.settings['min_lift']} · generated {e(_t(rep.generated_at))}</p>",
           "<h2>Findings</h2>"]
    if rep.findings:
        out.append("<table id='findings'><thead><tr><th>#</th><th>kind</th><th>page</th><th>segment</th><th>affected</th><th>baseline</th>"
                   "<th>lift</th><th>q</th><th>exposure</th><th>impact</th><th>top elements</th><th>candidate cause → next step</th></tr></thead><tbody>")
        for f in rep.findings:
            out.append(f"<tr><td class='num'>{f.rank}</td><td><span class='kind {e(f.kind)}'>{e(KIND_TITLES.get(f.kind, f.kind))}</span></td>"
                       f"<td><code>{e(f.page)}</code></td><td>{e(f.segment)}</td>"
                       f"<td class='num'>{f.affected}/{f.sessions}<br><span class='muted'>{_pct(f.share)}</span></td>"
                       f"<td class='num'>{_pct(f.baseline_share)}</td><td class='num'>{_lift(f)}</td><td class='num'>{f.q_value:.1e}</td>"
                       f"<td class='num'>{f.excess_sessions:g}</td><td class='num'>{f.impact:g}</td><td>{e(_elements(f))}</td>"
                       f"<td>{e(f.cause)} → <b>{e(f.next_step)}</b></td></tr>")
        out.append("</tbody></table><h2>Heatmap evidence</h2>"
                   "<p class='legend'><span>left: baseline · right: current window · clicks per session, same colour scale</span>"
                   "<span><i class='dot' style='background:#ff4040'></i>rage clicks (ring)</span>"
                   "<span><i class='dot' style='background:#40e8ff'></i>dead clicks (cross)</span>"
                   "<span>dotted line every 1000 px</span></p><div class='cards'>")
        for f in rep.findings:
            img = (f"<img src='{e(heatmap_base + f.heatmap)}.png' alt='click map for {e(f.page)} ({e(f.segment)})'>" if f.heatmap else "")
            also = f"<div class='muted'>also significant in: {e(', '.join(f.also_in))}</div>" if f.also_in else ""
            out.append(f"<div class='card'><h3>{f.rank}. {e(KIND_TITLES.get(f.kind, f.kind))} · <code>{e(f.page)}</code> · {e(f.segment)}</h3>"
                       f"<div class='muted'>{f.affected} of {f.sessions} sessions ({_pct(f.share)}) vs {_pct(f.baseline_share)} · q {f.q_value:.1e}</div>"
                       f"{img}<div>{e(f.cause)} → <b>{e(f.next_step)}</b></div>{also}</div>")
        out.append("</div>")
    else:
        out.append("<p class='none' id='no-findings'>No findings: no page or segment changed significantly against its baseline.</p>")
    out.append("<h2>Pages</h2><table id='pages'><thead><tr><th>page</th><th>service</th><th>sessions (window)</th><th>sessions (baseline)</th>"
               "<th>status</th><th>findings</th></tr></thead><tbody>")
    for p in rep.pages:
        out.append(f"<tr><td><code>{e(p.page)}</code></td><td>{e(p.service)}</td><td class='num'>{p.sessions}</td><td class='num'>{p.baseline_sessions}</td>"
                   f"<td>{e(p.note)}</td><td class='num'>{p.findings}</td></tr>")
    out.append("</tbody></table>")
    if rep.fixed:
        out.append("<h2>Sticky / fixed elements</h2><p class='muted'>Clicks on fixed-position elements are kept off the click maps.</p><ul>")
        for page, els in rep.fixed.items():
            out.append(f"<li><code>{e(page)}</code>: " + ", ".join(f"{e(el)} ({n})" for el, n in els) + "</li>")
        out.append("</ul>")
    out.append("</main></body></html>")
    return "".join(out)


def write(rep: Report, out_dir: Path, formats: list[str]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if rep.heatmaps:
        (out_dir / "heatmaps").mkdir(exist_ok=True)
        for name, png in rep.heatmaps.items():
            path = out_dir / "heatmaps" / f"{name}.png"
            path.write_bytes(png)
            written.append(path)
    for fmt in formats:
        text = {"md": to_markdown, "html": to_html, "json": lambda r: to_json(r)}[fmt](rep)
        path = out_dir / f"report.{fmt}"
        path.write_text(text)
        written.append(path)
    return written
