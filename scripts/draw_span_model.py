#!/usr/bin/env python3
"""Draw docs/span-model.svg: the spans the real pipeline exports for one simulated shop session, as a waterfall.

One session from ``collector_plugin.simulate`` goes through ``Pipeline`` (settings from ``load_settings()``, an
in-memory span exporter, a fake clock moved past the inactivity timeout so the session ends and its root span
goes out). Seeds are searched, in a fixed order, for the first session with page views, clicks, a JS error and a
friction episode that still fits on one screen, so the picture is reproducible.

The SVG is written by hand (no plotting dependency): one row per span, indented under its parent, bars placed by
start/end time, span events as diamonds, ERROR spans red, a <title> tooltip with every attribute on each row.

    python scripts/draw_span_model.py [--out docs/span-model.svg]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collector_plugin.config import load_settings  # noqa: E402
from collector_plugin.detect import Signal  # noqa: E402
from collector_plugin.emit.exporter import InMemorySpanExporter  # noqa: E402
from collector_plugin.evaluate import attributes  # noqa: E402
from collector_plugin.pipeline import Pipeline  # noqa: E402
from collector_plugin.simulate import ShopSimulator, to_requests  # noqa: E402

START_NS = 1_767_225_600 * 10**9  # fixed (2026-01-01T00:00Z) so the drawing does not change from run to run
SEEDS = range(1, 200)
SESSIONS_PER_SEED = 40
MAX_SPANS = 24  # more rows than this stops being readable at ~1000 px
FRICTION = {s.value for s in Signal}

# Layout (px)
WIDTH = 1000
PAD = 16
LABEL_X = PAD
BAR_X0, BAR_X1 = 500, WIDTH - PAD - 8
ROW_H = 24
BAR_H = 12
INDENT = 18
TOP = 112  # first row
CHAR_W = 7.3  # DejaVu Sans Mono / Menlo at 12 px: ~0.6 em, rounded up so text never runs into the bars
LABEL_CHARS = int((BAR_X0 - LABEL_X - 12) / CHAR_W)

COLOURS = {
    "session": "#475569",
    "page_view": "#2563eb",
    "click": "#0d9488",
    "friction": "#d97706",
    "error": "#dc2626",
}
EVENT_COLOURS = {"browser.scroll": "#7c3aed", "browser.form": "#0f766e", "exception": "#7f1d1d"}
FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
SANS = "DejaVu Sans, Helvetica, Arial, sans-serif"


# ------------------------------------------------------------------------------------------- run the pipeline




def run_session(session, settings) -> list:
    """The spans the pipeline exports for one session, ended by inactivity on a fake clock."""
    now = [0.0]
    memory = InMemorySpanExporter()
    pipeline = Pipeline(settings, exporters=[memory], clock=lambda: now[0])
    for request in to_requests([session]):
        pipeline.ingest_request("logs", request, "simulated")
    now[0] += settings.export.flush_interval_seconds
    pipeline.tick()  # clicks, exceptions, friction episodes, ended page views
    now[0] += settings.sessions.inactivity_timeout_seconds + 1
    pipeline.tick()  # the session ends: last page view and the root span
    return [span for _, span in memory.spans()]


def suitable(spans: list) -> bool:
    names = [s.name for s in spans]
    return (len(spans) <= MAX_SPANS and "session" in names and sum(n.startswith("page_view ") for n in names) >= 4
            and "click" in names and "exception" in names and any(n in FRICTION for n in names))


def pick_session(settings):
    for seed in SEEDS:
        sim = ShopSimulator(seed, start_ns=START_NS)
        for index in range(SESSIONS_PER_SEED):
            session = sim.session(index)  # sessions of one seed share an rng: generate them in order
            t = session.truth
            if not t.errors or not t.clicks or len(t.pages) < 4:
                continue
            spans = run_session(session, settings)
            if suitable(spans):
                return seed, index, session, spans
    raise SystemExit("no simulated session matched; widen SEEDS or MAX_SPANS")


# ------------------------------------------------------------------------------------------------- layout

def order(spans: list) -> list[tuple[object, int]]:
    """(span, depth) depth-first from the root, siblings by start time."""
    children: dict[bytes, list] = {}
    for s in spans:
        children.setdefault(bytes(s.parent_span_id), []).append(s)
    rank = {"page_view": 0, "click": 1, "exception": 2}
    out: list[tuple[object, int]] = []

    def walk(span, depth: int) -> None:
        out.append((span, depth))
        kids = children.get(bytes(span.span_id), [])
        for kid in sorted(kids, key=lambda k: (k.start_time_unix_nano, rank.get(k.name.split(" ")[0], 3), k.name)):
            walk(kid, depth + 1)

    for root in sorted(children.get(b"", []), key=lambda s: s.start_time_unix_nano):
        walk(root, 0)
    return out


def kind_of(span) -> str:
    base = span.name.split(" ")[0]
    if base in FRICTION:
        return "friction"
    return base if base in COLOURS else "click"


def label_parts(span) -> tuple[str, str]:
    """(name, key attributes) shown in the left column."""
    a = attributes(span)
    base = span.name.split(" ")[0]
    if base == "session":
        detail = f"rum.page_views={a.get('rum.page_views')} rum.session.end_reason={a.get('rum.session.end_reason')}"
    elif base == "page_view":
        detail = f"rum.clicks={a.get('rum.clicks')} rum.js_errors={a.get('rum.js_errors')}"
    elif base == "click":
        detail = f"browser.css_selector={a.get('browser.css_selector')}"
    elif base == "exception":
        detail = f"exception.type={a.get('exception.type')}: {a.get('exception.message')}"
    elif base in FRICTION:
        detail = f"rum.friction.element={a.get('rum.friction.element')} ×{a.get('rum.friction.count')}"
    else:
        detail = ""
    if a.get("rum.late"):
        detail = "rum.late=true " + detail
    return span.name, detail


def fit(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(chars - 1, 0)] + "…"


def nice_step(seconds: float, target_ticks: int = 9) -> float:
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if seconds / step <= target_ticks:
            return step
    return 1800


def tooltip(span) -> str:
    a = attributes(span)
    lines = [span.name] + [f"{k} = {v}" for k, v in a.items() if k != "exception.stacktrace"]
    if span.status.code == 2:
        lines.append(f"status = ERROR ({span.status.message})")
    if span.links:
        lines.append(f"links = {len(span.links)}")
    return escape("\n".join(lines))


def event_colour(name: str) -> str:
    for prefix, colour in EVENT_COLOURS.items():
        if name.startswith(prefix):
            return colour
    return "#111827"


def draw(spans: list, seed: int, index: int) -> str:
    rows = order(spans)
    root = rows[0][0]
    t0 = min(s.start_time_unix_nano for s in spans)
    t1 = max(s.end_time_unix_nano for s in spans)
    total = max((t1 - t0) / 1e9, 1.0)
    scale = (BAR_X1 - BAR_X0) / total

    def x(ns: int) -> float:
        return BAR_X0 + (ns - t0) / 1e9 * scale

    height = TOP + len(rows) * ROW_H + 118
    ra = attributes(root)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'font-family="{SANS}" font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{PAD}" y="26" font-size="16" font-weight="bold" fill="#111827">One browser session = one trace</text>',
        f'<text x="{PAD}" y="46" fill="#4b5563">session.id {escape(str(ra.get("session.id")))} → trace id '
        f'{root.trace_id.hex()}, root span id {root.span_id.hex()} (blake2b of session.id)</text>',
        f'<text x="{PAD}" y="64" fill="#4b5563">{len(spans)} spans exported by the real pipeline for simulated shop session '
        f'(seed {seed}, #{index}); times on the browser clock</text>',
    ]
    # time axis and grid
    step = nice_step(total)
    axis_y = TOP - 6
    out.append(f'<line x1="{BAR_X0}" y1="{axis_y}" x2="{BAR_X1}" y2="{axis_y}" stroke="#9ca3af"/>')
    tick = 0.0
    while tick <= total + 1e-9:
        tx = BAR_X0 + tick * scale
        out.append(f'<line x1="{tx:.1f}" y1="{axis_y - 4}" x2="{tx:.1f}" y2="{TOP + len(rows) * ROW_H}" stroke="#e5e7eb"/>')
        label = f"{tick:g} s"
        out.append(f'<text x="{tx:.1f}" y="{axis_y - 7}" text-anchor="middle" fill="#6b7280" font-size="11">{label}</text>')
        tick += step
    # rows
    for i, (span, depth) in enumerate(rows):
        y = TOP + i * ROW_H
        if i % 2:
            out.append(f'<rect x="{PAD // 2}" y="{y}" width="{WIDTH - PAD}" height="{ROW_H}" fill="#f8fafc"/>')
        out.append(f'<g><title>{tooltip(span)}</title>')
        name, detail = label_parts(span)
        indent = depth * INDENT
        chars = LABEL_CHARS - int(indent / CHAR_W)
        name_txt = fit(name, chars)
        detail_txt = fit(detail, chars - len(name_txt) - 1)
        ty = y + ROW_H / 2 + 4
        if depth:  # tree guide: an elbow from the parent's column
            gx = LABEL_X + indent - INDENT + 4
            out.append(f'<path d="M{gx} {y} V{y + ROW_H / 2} H{gx + INDENT - 7}" fill="none" stroke="#cbd5e1"/>')
        weight = ' font-weight="bold"' if depth <= 1 else ""
        out.append(f'<text x="{LABEL_X + indent}" y="{ty}" font-family="{FONT}" xml:space="preserve"><tspan fill="#111827"{weight}>'
                   f'{escape(name_txt)}</tspan>{" " if detail_txt else ""}<tspan fill="#6b7280">{escape(detail_txt)}</tspan></text>')
        error = span.status.code == 2
        colour = COLOURS["error"] if error else COLOURS[kind_of(span)]
        bx = x(span.start_time_unix_nano)
        bw = max(x(span.end_time_unix_nano) - bx, 3.0)
        by = y + (ROW_H - BAR_H) / 2
        out.append(f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bw:.1f}" height="{BAR_H}" rx="2" fill="{colour}"/>')
        for ev in span.events:
            ex, ey, r = x(ev.time_unix_nano), y + ROW_H / 2, 5
            out.append(f'<path d="M{ex:.1f} {ey - r} L{ex + r:.1f} {ey} L{ex:.1f} {ey + r} L{ex - r:.1f} {ey} Z" '
                       f'fill="{event_colour(ev.name)}" stroke="#ffffff" stroke-width="1"><title>{escape(ev.name)}</title></path>')
        out.append('</g>')
    # legend
    ly = TOP + len(rows) * ROW_H + 26
    out.append(f'<line x1="{PAD}" y1="{ly - 14}" x2="{WIDTH - PAD}" y2="{ly - 14}" stroke="#e5e7eb"/>')
    items = [("session (root)", COLOURS["session"]), ("page_view <route>", COLOURS["page_view"]), ("click", COLOURS["click"]),
             ("friction episode (rage_click, error_click, …)", COLOURS["friction"]), ("status ERROR", COLOURS["error"])]
    lx = PAD
    for text, colour in items:
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="22" height="{BAR_H - 2}" rx="2" fill="{colour}"/>')
        out.append(f'<text x="{lx + 28}" y="{ly}" fill="#374151">{escape(text)}</text>')
        lx += 28 + int(len(text) * 6.3) + 24
    ly += 24
    lx = PAD
    for text, colour in (("span event: browser.scroll", EVENT_COLOURS["browser.scroll"]),
                         ("browser.form.*", EVENT_COLOURS["browser.form"]), ("exception", EVENT_COLOURS["exception"])):
        ex, ey, r = lx + 8, ly - 4, 5
        out.append(f'<path d="M{ex} {ey - r} L{ex + r} {ey} L{ex} {ey + r} L{ex - r} {ey} Z" fill="{colour}"/>')
        out.append(f'<text x="{lx + 20}" y="{ly}" fill="#374151">{escape(text)}</text>')
        lx += 20 + int(len(text) * 6.3) + 28
    ly += 24
    notes = ("Rows are indented under their parent (parent_span_id); bars run from start to end time, zero-length spans "
             "are drawn 3 px wide.",
             "click / exception / friction spans go out on the next flush, a page_view when it ends, the session root when "
             "the session ends.")
    for note in notes:
        out.append(f'<text x="{PAD}" y="{ly}" fill="#6b7280" font-size="11.5">{escape(note)}</text>')
        ly += 18
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "span-model.svg")
    args = p.parse_args(argv)
    settings = load_settings()
    seed, index, _, spans = pick_session(settings)
    args.out.write_text(draw(spans, seed, index), encoding="utf-8")
    print(f"{args.out}: {len(spans)} spans of simulated session seed={seed} #{index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
