"""Click-density heatmaps from stored click grids: a numpy 2-D histogram, blurred, colour-mapped, rage and dead clicks
marked, written as PNG with zlib + struct (no imaging library).

Columns are the viewport width divided into ``grid_columns`` (so phones and desktops share one map); rows are
``grid_row_px`` page pixels. Sticky/fixed elements are not in the grids (the report lists them separately).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

CELL = 6  # output pixels per grid cell
GAP = 10
HEADER = 18
BG = np.array([20, 20, 28], dtype=float)
GUIDE = np.array([58, 58, 74], dtype=float)
RAGE = np.array([255, 45, 85], dtype=float)
HALO = np.array([8, 8, 12], dtype=float)
DEAD = np.array([64, 232, 255], dtype=float)
TEXT = np.array([220, 220, 230], dtype=float)
# inferno-like anchors
_CMAP = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164]], dtype=float)

_FONT = {  # 3x5 glyphs, rows top to bottom, bits left to right
    "A": "010101111101101", "B": "110101110101110", "C": "011100100100011", "D": "110101101101110", "E": "111100110100111",
    "F": "111100110100100", "G": "011100101101011", "H": "101101111101101", "I": "111010010010111", "J": "001001001101010",
    "K": "101101110101101", "L": "100100100100111", "M": "101111111101101", "N": "110101101101101", "O": "010101101101010",
    "P": "110101110100100", "Q": "010101101110011", "R": "110101110101101", "S": "011100010001110", "T": "111010010010010",
    "U": "101101101101111", "V": "101101101101010", "W": "101101111111101", "X": "101101010101101", "Y": "101101010010010",
    "Z": "111001010100111", "0": "111101101101111", "1": "010110010010111", "2": "110001010100111", "3": "110001010001110",
    "4": "101101111001001", "5": "111100110001110", "6": "011100111101111", "7": "111001010010010", "8": "111101111101111",
    "9": "111101111001110", " ": "000000000000000", "-": "000000111000000", "=": "000111000111000", ".": "000000000000010",
    "/": "001001010100100", ":": "000010000010000", "%": "101001010100101", "(": "010100100100010", ")": "010001001001010",
}


def write_png(rgb: np.ndarray) -> bytes:
    """RGB8 PNG (colour type 2, no interlace, filter 0 on every row)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    raw = np.concatenate([np.zeros((h, 1), dtype=np.uint8), rgb.reshape(h, w * 3)], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def histograms(cells, cols: int, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clicks, rage, dead) as rows x cols arrays: a 2-D histogram of the stored cells weighted by their counts."""
    if not cells:
        z = np.zeros((rows, cols))
        return z, z.copy(), z.copy()
    a = np.asarray(cells, dtype=float)
    rng = [[0, rows], [0, cols]]
    out = [np.histogram2d(a[:, 1], a[:, 0], bins=[rows, cols], range=rng, weights=a[:, i])[0] for i in (2, 3, 4)]
    return out[0], out[1], out[2]


def _blur(a: np.ndarray, passes: int = 2) -> np.ndarray:
    k = np.array([1, 4, 6, 4, 1], dtype=float) / 16
    for _ in range(passes):
        a = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 0, a)
        a = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, a)
    return a


def colormap(v: np.ndarray) -> np.ndarray:
    """v in [0, 1] → RGB floats; near-zero fades into the background."""
    x = np.clip(v, 0, 1) * (len(_CMAP) - 1)
    i = np.minimum(x.astype(int), len(_CMAP) - 2)
    t = (x - i)[..., None]
    rgb = _CMAP[i] * (1 - t) + _CMAP[i + 1] * t
    alpha = np.clip(v * 8, 0, 1)[..., None]
    return BG * (1 - alpha) + rgb * alpha


def _text(img: np.ndarray, x: int, y: int, text: str, scale: int = 2, color=TEXT) -> None:
    for ch in text.upper():
        g = _FONT.get(ch, _FONT[" "])
        for r in range(5):
            for c in range(3):
                if g[r * 3 + c] == "1":
                    y0, x0 = y + r * scale, x + c * scale
                    img[y0:y0 + scale, x0:x0 + scale] = color
        x += 4 * scale
        if x >= img.shape[1] - 4 * scale:
            break


def _ring(img: np.ndarray, cy: float, cx: float, r: float, color, width: float = 1.6) -> None:
    h, w, _ = img.shape
    y0, y1 = max(int(cy - r - 3), 0), min(int(cy + r + 4), h)
    x0, x1 = max(int(cx - r - 3), 0), min(int(cx + r + 4), w)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d = np.abs(np.hypot(yy - cy, xx - cx) - r)
    a = np.clip(width - d, 0, 1)[..., None]
    img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - a) + color * a


def _cross(img: np.ndarray, cy: float, cx: float, r: float, color, width: float = 1.4) -> None:
    h, w, _ = img.shape
    y0, y1 = max(int(cy - r - 2), 0), min(int(cy + r + 3), h)
    x0, x1 = max(int(cx - r - 2), 0), min(int(cx + r + 3), w)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dy, dx = yy - cy, xx - cx
    d = np.minimum(np.abs(dy - dx), np.abs(dy + dx)) / np.sqrt(2)
    inside = (np.abs(dy) <= r) & (np.abs(dx) <= r)
    a = (np.clip(width - d, 0, 1) * inside)[..., None]
    img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - a) + color * a


def peaks(grid: np.ndarray, share: float = 0.15, limit: int = 12) -> list[tuple[int, int, float]]:
    """Local maxima of the (lightly blurred) marker counts: one marker per spot, not one per jittered cell.
    Returns (row, col, weight 0..1), strongest first."""
    if grid.max() <= 0:
        return []
    g = _blur(grid, passes=1)
    p = np.pad(g, 1, mode="constant")
    neigh = np.max([p[1 + dy:1 + dy + g.shape[0], 1 + dx:1 + dx + g.shape[1]]
                    for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx], axis=0)
    m = g.max()
    rr, cc = np.nonzero((g >= neigh) & (g >= share * m) & (g > 0))
    order = np.argsort(-g[rr, cc])[:limit]
    return [(int(rr[i]), int(cc[i]), float(np.sqrt(g[rr[i], cc[i]] / m))) for i in order]


def panel(clicks: np.ndarray, rage: np.ndarray, dead: np.ndarray, sessions: int, vmax: float, row_px: int, label: str) -> np.ndarray:
    rows, cols = clicks.shape
    dens = _blur(clicks / max(sessions, 1))
    v = np.sqrt(np.clip(dens / vmax, 0, 1)) if vmax > 0 else np.zeros_like(dens)
    big = np.repeat(np.repeat(v, CELL, axis=0), CELL, axis=1)
    # smooth the blocks: a box filter one cell wide, twice along each axis
    box = np.ones(CELL) / CELL
    for axis in (0, 1):
        for _ in range(2):
            big = np.apply_along_axis(lambda r: np.convolve(r, box, mode="same"), axis, big)
    img = colormap(big)
    # a guide line every 1000 page pixels
    step = 1000 / row_px * CELL
    y = step
    while y < img.shape[0]:
        img[int(y), ::4] = GUIDE
        y += step
    for grid, draw, color in ((dead, _cross, DEAD), (rage, _ring, RAGE)):
        for r, c, weight in peaks(grid):
            cy, cx, size = (r + 0.5) * CELL, (c + 0.5) * CELL, CELL * (1.0 + 1.3 * weight)
            draw(img, cy, cx, size, HALO, width=3.4)  # a dark halo keeps the marker readable on hot cells
            draw(img, cy, cx, size, color, width=1.8)
    head = np.tile(BG, (HEADER, img.shape[1], 1))
    _text(head, 4, 4, label)
    return np.concatenate([head, img], axis=0)


def render(current, baseline, sessions: int, baseline_sessions: int, row_px: int, max_rows: int, cols: int) -> bytes:
    """Baseline (left) and current (right), each normalised per session, on one colour scale."""
    c1 = histograms(current, cols, max_rows)
    c0 = histograms(baseline, cols, max_rows)
    used = [np.nonzero(h.sum(axis=1))[0] for h in (c1[0], c0[0])]
    last = max([int(u[-1]) for u in used if u.size] + [0])
    rows = int(min(max(last + 4, 24), max_rows))
    c1 = tuple(h[:rows] for h in c1)
    c0 = tuple(h[:rows] for h in c0)
    d = [_blur(c1[0] / max(sessions, 1)), _blur(c0[0] / max(baseline_sessions, 1))]
    vmax = max(float(np.percentile(x[x > 0], 99.5)) if (x > 0).any() else 0.0 for x in d)
    left = panel(*c0, baseline_sessions, vmax, row_px, f"baseline {baseline_sessions}")
    right = panel(*c1, sessions, vmax, row_px, f"current {sessions}")
    gap = np.tile(np.array([34, 34, 46], dtype=float), (left.shape[0], GAP, 1))
    return write_png(np.clip(np.concatenate([left, gap, right], axis=1), 0, 255).round())


def finding_heatmap(store, cfg, f, cur_h: list[int], base_h: list[int]) -> bytes:
    dim, val = ("all", "all") if f.segment == "all" else f.segment.split("=", 1)
    cur = store.cells(f.service, f.page, dim, val, cur_h)
    base = store.cells(f.service, f.page, dim, val, base_h)
    return render(cur, base, f.sessions, f.baseline_sessions, cfg.grid_row_px, cfg.grid_max_rows, cfg.grid_columns)
