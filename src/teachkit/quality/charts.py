"""More dependency-free SVG charts for the report: horizontal bars, a scatter plot, a heat map.

Same conventions as :mod:`teachkit.quality.svg`: one ``<svg>`` element, no script, no external
reference, each series a ``<g class="series" data-name="...">`` group, Okabe-Ito colours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

from teachkit.quality.svg import PALETTE, nice_ticks

__all__ = ["bar_chart", "heat_map", "scatter"]

_FONT = 'font-family="sans-serif" font-size="11"'


def _head(width: int, height: int, title: str) -> list[str]:
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" {_FONT}>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    if title:
        out.append(f"<title>{escape(title)}</title>")
        out.append(
            f'<text class="title" x="{width / 2:.1f}" y="18" text-anchor="middle" '
            f'font-size="14" font-weight="bold">{escape(title)}</text>'
        )
    return out


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.3g}"


def bar_chart(
    bars: Sequence[tuple[str, float]] | Mapping[str, float],
    *,
    title: str = "",
    width: int = 640,
    bar_height: int = 22,
    label_width: int = 220,
    colours: Sequence[str] | None = None,
    value_label: str = "",
) -> str:
    """Horizontal bars, one per ``(label, value)``, longest scale at the widest value."""
    items = list(bars.items()) if isinstance(bars, Mapping) else list(bars)
    if not items:
        raise ValueError("a bar chart needs at least one bar")
    top = 36 if title else 12
    height = top + bar_height * len(items) + 28
    right = width - 70
    span = max((v for _, v in items), default=0.0) or 1.0
    out = _head(width, height, title)
    out.append('<g class="series" data-name="bars">')
    for i, (label, value) in enumerate(items):
        y = top + i * bar_height
        length = max(0.0, value) / span * (right - label_width)
        colour = colours[i % len(colours)] if colours else PALETTE[0]
        out.append(
            f'<text x="{label_width - 6}" y="{y + bar_height / 2:.1f}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(_short(label, 36))}</text>'
        )
        out.append(
            f'<rect x="{label_width}" y="{y + 3}" width="{max(length, 1.0):.1f}" '
            f'height="{bar_height - 6}" fill="{colour}"/>'
        )
        out.append(
            f'<text x="{label_width + length + 4:.1f}" y="{y + bar_height / 2:.1f}" '
            f'dominant-baseline="middle">{_fmt(value)}</text>'
        )
    out.append("</g>")
    if value_label:
        out.append(
            f'<text x="{(label_width + right) / 2:.1f}" y="{height - 8}" text-anchor="middle">'
            f"{escape(value_label)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def scatter(
    groups: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    width: int = 640,
    height: int = 420,
    radius: float = 2.5,
    colours: Mapping[str, str] | None = None,
) -> str:
    """Points of several named groups (drawn in order, so the last is on top); ``colours``
    maps a group to its colour (default: the palette in order)."""
    points = [p for pts in groups.values() for p in pts]
    if not points:
        raise ValueError("a scatter plot needs at least one point")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_ticks, y_ticks = nice_ticks(min(xs), max(xs)), nice_ticks(min(ys), max(ys))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    legend = 150
    left, top, right, bottom = 56, 36, width - 16 - legend, height - 44

    def px(v: float) -> float:
        return left + (v - x0) / ((x1 - x0) or 1.0) * (right - left)

    def py(v: float) -> float:
        return bottom - (v - y0) / ((y1 - y0) or 1.0) * (bottom - top)

    out = _head(width, height, title)
    out.append('<g class="axes" stroke="#444444" stroke-width="1">')
    out.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/></g>')
    out.append('<g class="ticks" fill="#333333">')
    for t in x_ticks:
        out.append(f'<text x="{px(t):.1f}" y="{bottom + 14}" text-anchor="middle">{t:g}</text>')
    for t in y_ticks:
        out.append(
            f'<line x1="{left}" y1="{py(t):.1f}" x2="{right}" y2="{py(t):.1f}" stroke="#eeeeee"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{py(t):.1f}" text-anchor="end" '
            f'dominant-baseline="middle">{t:g}</text>'
        )
    out.append("</g>")
    for i, (name, pts) in enumerate(groups.items()):
        colour = (colours or {}).get(name) or PALETTE[i % len(PALETTE)]
        out.append(
            f'<g class="series" data-name={quoteattr(name)} fill="{colour}" fill-opacity="0.6">'
        )
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="{radius}"/>' for x, y in pts]
        out.append("</g>")
        ly = top + 8 + 18 * i
        out.append(f'<circle cx="{right + 20}" cy="{ly}" r="5" fill="{colour}"/>')
        out.append(
            f'<text x="{right + 30}" y="{ly}" dominant-baseline="middle">'
            f"{escape(_short(name, 20))} ({len(pts)})</text>"
        )
    if x_label:
        out.append(
            f'<text x="{(left + right) / 2:.1f}" y="{height - 8}" text-anchor="middle">'
            f"{escape(x_label)}</text>"
        )
    if y_label:
        cy = (top + bottom) / 2
        out.append(
            f'<text x="14" y="{cy:.1f}" text-anchor="middle" transform="rotate(-90 14 {cy:.1f})">'
            f"{escape(y_label)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _shade(share: float) -> str:
    """White to the palette's blue, by ``share`` in [0, 1] (square-root scaled)."""
    t = math.sqrt(max(0.0, min(1.0, share)))
    r, g, b = (round(255 + (c - 255) * t) for c in (0x00, 0x72, 0xB2))
    return f"#{r:02x}{g:02x}{b:02x}"


def heat_map(
    rows: Sequence[str],
    columns: Sequence[str],
    counts: Sequence[Sequence[float]],
    *,
    title: str = "",
    row_label: str = "",
    column_label: str = "",
    cell: int = 34,
) -> str:
    """A grid of counts (``counts[r][c]``), darker for more, with the count in each cell; empty
    cells (0) are outlined in the second palette colour so gaps stand out."""
    if not rows or not columns:
        raise ValueError("a heat map needs at least one row and one column")
    if len(counts) != len(rows) or any(len(r) != len(columns) for r in counts):
        raise ValueError("counts must have one row per row label and one value per column")
    left = 12 + 7 * min(30, max(len(r) for r in rows))
    top = (36 if title else 12) + 7 * min(24, max(len(c) for c in columns))
    width = left + cell * len(columns) + 24
    height = top + cell * len(rows) + (28 if row_label or column_label else 12)
    peak = max((v for row in counts for v in row), default=0.0) or 1.0
    out = _head(max(width, 240, 7 * len(title) + 24), height, title)
    for j, name in enumerate(columns):
        x = left + j * cell + cell / 2
        out.append(
            f'<text x="{x:.1f}" y="{top - 6}" transform="rotate(-60 {x:.1f} {top - 6})">'
            f"{escape(_short(name, 24))}</text>"
        )
    out.append('<g class="series" data-name="cells">')
    for i, name in enumerate(rows):
        y = top + i * cell
        out.append(
            f'<text x="{left - 6}" y="{y + cell / 2:.1f}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(_short(name, 30))}</text>'
        )
        for j, value in enumerate(counts[i]):
            x = left + j * cell
            stroke = PALETTE[1] if value == 0 else "#ffffff"
            out.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" '
                f'fill="{_shade(value / peak)}" stroke="{stroke}" stroke-width="1.5"/>'
            )
            ink = "#ffffff" if value / peak > 0.45 else "#222222"
            out.append(
                f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2:.1f}" text-anchor="middle" '
                f'dominant-baseline="middle" fill="{ink}">{_fmt(value)}</text>'
            )
    out.append("</g>")
    caption = " × ".join(part for part in (row_label, column_label) if part)
    if caption:
        out.append(f'<text x="{left}" y="{height - 8}">{escape(caption)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
