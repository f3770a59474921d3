"""A sweep's pictures as SVG drawn on the server: the heatmap and the walk-forward fold chart.

Plain SVG text, so the page needs no script or library to show them, offline.
"""

from __future__ import annotations

from html import escape
from typing import Any

from strategies.sweeps.selectors import FoldReport, Heatmap

CELL = 44
MARGIN = 70


def heatmap_svg(heatmap: Heatmap, *, title: str) -> str:
    """One cell per (x, y): red (worst) to green (best); grey where no set was ranked."""
    values = [v for v in heatmap.cells.values() if v is not None]
    low, high = (min(values), max(values)) if values else (0.0, 0.0)
    width = MARGIN + CELL * len(heatmap.xs) + 10
    height = 20 + CELL * len(heatmap.ys) + 40
    parts = [_open(width, height, "sweep-heatmap", title)]
    for i, y in enumerate(reversed(heatmap.ys)):
        top = 20 + CELL * i
        parts.append(_text(MARGIN - 6, top + CELL / 2 + 4, y, anchor="end"))
        for j, x in enumerate(heatmap.xs):
            value = heatmap.cells.get((x, y), "absent")
            if value == "absent":
                continue
            left = MARGIN + CELL * j
            colour = _colour(value, low, high)
            label = "n/a" if value is None else f"{value:.3g}"
            tip = f"{heatmap.x_name}={x}, {heatmap.y_name}={y}: {label}"
            parts.append(
                f'<rect class="cell" x="{left}" y="{top}" width="{CELL - 2}" height="{CELL - 2}" '
                f'fill="{colour}" data-value="{label}"><title>{escape(tip)}</title></rect>'
            )
            parts.append(_text(left + CELL / 2 - 1, top + CELL / 2 + 4, label, size=10))
    bottom = 20 + CELL * len(heatmap.ys)
    for j, x in enumerate(heatmap.xs):
        parts.append(_text(MARGIN + CELL * j + CELL / 2, bottom + 14, x))
    parts.append(_text(MARGIN + CELL * len(heatmap.xs) / 2, bottom + 30, heatmap.x_name))
    parts.append(_text(12, 14, heatmap.y_name, anchor="start"))
    parts.append("</svg>")
    return "".join(parts)


def folds_svg(reports: list[FoldReport], *, title: str) -> str:
    """Per fold, the in-sample best's figure beside its out-of-sample one; flagged folds red."""
    pairs = [
        (r.best.value or 0.0, (r.out_of_sample.value or 0.0), r.verdict)
        for r in reports
        if r.best is not None and r.out_of_sample is not None
    ]
    width, height, base = MARGIN + 60 * max(len(pairs), 1), 200, 100
    top = max([abs(v) for pair in pairs for v in pair[:2]] or [1.0]) or 1.0
    parts = [_open(width, height, "sweep-folds", title)]
    parts.append(f'<line x1="{MARGIN}" y1="{base}" x2="{width}" y2="{base}" stroke="#888"/>')
    for i, (inside, outside, verdict) in enumerate(pairs):
        left = MARGIN + 60 * i
        flagged = verdict is not None and verdict.overfitted
        parts.append(_bar(left, base, inside, top, "#6a8caf", "in-sample"))
        parts.append(_bar(left + 22, base, outside, top, "#c0392b" if flagged else "#27ae60", ""))
        parts.append(_text(left + 20, height - 6, f"fold {i}", size=10))
    parts.append(_text(MARGIN - 6, 24, f"{top:.3g}", anchor="end"))
    parts.append("</svg>")
    return "".join(parts)


def _bar(left: float, base: float, value: float, top: float, colour: str, kind: str) -> str:
    size = 80 * abs(value) / top
    y = base - size if value >= 0 else base
    name = kind or "out-of-sample"
    return (
        f'<rect class="bar" x="{left}" y="{y:.1f}" width="20" height="{size:.1f}" '
        f'fill="{colour}"><title>{name}: {value:.4g}</title></rect>'
    )


def _open(width: float, height: float, css: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{css}" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
    )


def _text(x: float, y: float, value: Any, *, anchor: str = "middle", size: int = 11) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'font-family="sans-serif">{escape(str(value))}</text>'
    )


def _colour(value: float | None, low: float, high: float) -> str:
    if value is None:
        return "#cccccc"
    share = 0.5 if high == low else (value - low) / (high - low)
    red, green = int(220 * (1 - share)), int(180 * share + 40)
    return f"rgb({red},{green},70)"
