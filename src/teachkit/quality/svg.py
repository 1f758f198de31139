"""Small, dependency-free SVG charts: line charts and histograms, as standalone ``<svg>`` strings.

The output is plain SVG 1.1 (one ``<svg>`` element, no script, no external reference), so it can
be written to a file, inlined in HTML or embedded in Markdown. Each series is a
``<g class="series" data-name="...">`` group, which keeps the charts testable and styleable.
Colours are the Okabe-Ito palette (distinguishable with colour-blindness).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from xml.sax.saxutils import escape, quoteattr

__all__ = ["PALETTE", "Series", "histogram", "line_chart", "nice_ticks"]

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
_MARGIN = {"left": 64, "right": 16, "top": 36, "bottom": 48}


@dataclass(frozen=True)
class Series:
    """One line: its name (legend), y values (None: a gap), x values (default 0, 1, 2, ...)."""

    name: str
    values: Sequence[float | None]
    x: Sequence[float] | None = None
    dashed: bool = False
    colour: str | None = None


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2 or 5 times a power of ten) covering
    ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("tick bounds must be finite")
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, max(last, first + 1) + 1)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    ticks = []
    powers = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for power in powers:
        for m in (1, 2, 5) if len(powers) <= 4 else (1,):
            value = m * 10.0**power
            if lo * (1 - 1e-9) <= value <= hi * (1 + 1e-9):
                ticks.append(value)
    return ticks or [lo, hi]


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.0e}"
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


class _Frame:
    """The plot area and the value -> pixel maps."""

    def __init__(
        self,
        width: int,
        height: int,
        x_range: tuple[float, float],
        y_range: tuple[float, float],
        log_y: bool,
        legend_width: int = 0,
    ) -> None:
        self.width, self.height, self.log_y = width, height, log_y
        self.left, self.top = _MARGIN["left"], _MARGIN["top"]
        self.right = width - _MARGIN["right"] - legend_width
        self.bottom = height - _MARGIN["bottom"]
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        if self.x1 == self.x0:
            self.x0, self.x1 = self.x0 - 0.5, self.x1 + 0.5

    def x(self, value: float) -> float:
        return self.left + (value - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, value: float) -> float:
        lo, hi, v = self.y0, self.y1, value
        if self.log_y:
            lo, hi, v = math.log10(lo), math.log10(hi), math.log10(max(value, self.y0))
        return self.bottom - (v - lo) / (hi - lo) * (self.bottom - self.top)


def _axes(
    frame: _Frame,
    x_ticks: Sequence[float],
    y_ticks: Sequence[float],
    title: str,
    x_label: str,
    y_label: str,
) -> list[str]:
    out = [
        f'<rect x="0" y="0" width="{frame.width}" height="{frame.height}" fill="#ffffff"/>',
        f"<title>{escape(title)}</title>" if title else "",
        '<g class="axes" stroke="#444444" stroke-width="1">',
        f'<line x1="{frame.left}" y1="{frame.bottom}" x2="{frame.right}" y2="{frame.bottom}"/>',
        f'<line x1="{frame.left}" y1="{frame.top}" x2="{frame.left}" y2="{frame.bottom}"/>',
        "</g>",
        '<g class="ticks" fill="#333333">',
    ]
    for tick in x_ticks:
        px = _num(frame.x(tick))
        out.append(
            f'<line x1="{px}" y1="{frame.bottom}" x2="{px}" y2="{frame.bottom + 4}" '
            'stroke="#444444"/>'
        )
        out.append(
            f'<text x="{px}" y="{frame.bottom + 16}" text-anchor="middle">{_fmt(tick)}</text>'
        )
    for tick in y_ticks:
        py = _num(frame.y(tick))
        out.append(
            f'<line x1="{frame.left}" y1="{py}" x2="{frame.right}" y2="{py}" stroke="#e5e5e5"/>'
        )
        out.append(
            f'<text x="{frame.left - 6}" y="{py}" text-anchor="end" '
            f'dominant-baseline="middle">{_fmt(tick)}</text>'
        )
    out.append("</g>")
    if title:
        out.append(
            f'<text class="title" x="{frame.width / 2:.1f}" y="20" text-anchor="middle" '
            f'font-size="14" font-weight="bold">{escape(title)}</text>'
        )
    if x_label:
        out.append(
            f'<text class="x-label" x="{(frame.left + frame.right) / 2:.1f}" '
            f'y="{frame.height - 10}" text-anchor="middle">{escape(x_label)}</text>'
        )
    if y_label:
        cy = (frame.top + frame.bottom) / 2
        out.append(
            f'<text class="y-label" x="14" y="{cy:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 14 {cy:.1f})">{escape(y_label)}</text>'
        )
    return [line for line in out if line]


def _legend_width(names: Sequence[str]) -> int:
    """Room for a legend right of the plot (0: no legend for a single unnamed series)."""
    if len(names) < 2 and not (names and names[0]):
        return 0
    return min(280, 48 + 6 * max(len(name) for name in names))


def _legend(frame: _Frame, entries: Sequence[tuple[str, str, bool]]) -> list[str]:
    """The legend, right of the plot area (so it never hides a line)."""
    if not _legend_width([name for name, _, _ in entries]):
        return []
    out = ['<g class="legend">']
    for i, (name, colour, dashed) in enumerate(entries):
        y = frame.top + 8 + 16 * i
        x = frame.right + 14
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        out.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 22}" y2="{y}" stroke="{colour}" '
            f'stroke-width="2"{dash}/>'
        )
        out.append(f'<text x="{x + 28}" y="{y}" dominant-baseline="middle">{escape(name)}</text>')
    out.append("</g>")
    return out


def _svg(frame: _Frame, body: list[str]) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{frame.width}" height="{frame.height}" '
        f'viewBox="0 0 {frame.width} {frame.height}" role="img" font-family="sans-serif" '
        'font-size="11">'
    )
    return "\n".join([head, *body, "</svg>"]) + "\n"


def _as_series(
    series: Sequence[Series] | Mapping[str, Sequence[float | None]], x: Sequence[float] | None
) -> list[Series]:
    if isinstance(series, Mapping):
        return [Series(name, list(values), x) for name, values in series.items()]
    return list(series)


def line_chart(
    series: Sequence[Series] | Mapping[str, Sequence[float | None]],
    *,
    x: Sequence[float] | None = None,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    width: int = 640,
    height: int = 360,
    y_range: tuple[float, float] | None = None,
    log_y: bool = False,
) -> str:
    """Lines through the points of each series (a None value breaks its line)."""
    lines = _as_series(series, x)
    points: list[list[tuple[float, float] | None]] = []
    for s in lines:
        xs = list(s.x) if s.x is not None else list(range(len(s.values)))
        if len(xs) != len(s.values):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(xs)} x")
        points.append(
            [
                (float(a), float(b)) if b is not None and math.isfinite(b) else None
                for a, b in zip(xs, s.values, strict=True)
            ]
        )
    found = [p for row in points for p in row if p is not None]
    if not found:
        raise ValueError("a line chart needs at least one finite value")
    if log_y and any(p[1] <= 0 for p in found) and y_range is None:
        raise ValueError("a logarithmic axis needs positive values")
    xs_all = [p[0] for p in found]
    ys_all = [p[1] for p in found]
    x_ticks = nice_ticks(min(xs_all), max(xs_all))
    if y_range is not None:
        y_lo, y_hi = y_range
    else:
        y_lo, y_hi = min(ys_all), max(ys_all)
    if log_y:
        if y_hi == y_lo:
            y_lo, y_hi = y_lo / 2, y_hi * 2
        y_ticks = _log_ticks(y_lo, y_hi)
    else:
        y_ticks = nice_ticks(y_lo, y_hi)
        if y_range is None:
            y_lo, y_hi = min(y_ticks[0], y_lo), max(y_ticks[-1], y_hi)
        y_ticks = [t for t in y_ticks if y_lo - 1e-12 <= t <= y_hi + 1e-12]
    legend = _legend_width([s.name for s in lines])
    frame = _Frame(width, height, (min(xs_all), max(xs_all)), (y_lo, y_hi), log_y, legend)
    x_ticks = [t for t in x_ticks if frame.x0 - 1e-12 <= t <= frame.x1 + 1e-12]
    body = _axes(frame, x_ticks, y_ticks, title, x_label, y_label)
    entries = []
    for i, (s, row) in enumerate(zip(lines, points, strict=True)):
        colour = s.colour or PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        body.append(f'<g class="series" data-name={quoteattr(s.name)}>')
        segment: list[str] = []
        for point in [*row, None]:
            if point is not None:
                segment.append(f"{_num(frame.x(point[0]))},{_num(frame.y(point[1]))}")
                continue
            if len(segment) == 1:
                cx, cy = segment[0].split(",")
                body.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
            elif segment:
                body.append(
                    f'<polyline points="{" ".join(segment)}" fill="none" stroke="{colour}" '
                    f'stroke-width="2"{dash}/>'
                )
            segment = []
        body.append("</g>")
        entries.append((s.name, colour, s.dashed))
    body += _legend(frame, entries)
    return _svg(frame, body)


def histogram(
    edges: Sequence[float],
    counts: Sequence[float] | Mapping[str, Sequence[float]],
    *,
    density: bool = False,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    width: int = 640,
    height: int = 360,
) -> str:
    """Bars over the bins ``[edges[i], edges[i+1])``; several named series are overlaid
    (translucent). ``density`` divides each series by its total and the bin width, so bins of
    unequal width and series of unequal size compare fairly."""
    groups = dict(counts) if isinstance(counts, Mapping) else {"": list(counts)}
    bins = len(edges) - 1
    if bins < 1:
        raise ValueError("a histogram needs at least two edges")
    if any(b <= a for a, b in pairwise(edges)):
        raise ValueError("histogram edges must increase")
    heights: dict[str, list[float]] = {}
    for name, values in groups.items():
        if len(values) != bins:
            raise ValueError(f"series {name!r} has {len(values)} counts for {bins} bins")
        total = float(sum(values)) or 1.0
        heights[name] = [
            float(v) / total / (edges[i + 1] - edges[i]) if density else float(v)
            for i, v in enumerate(values)
        ]
    top = max((h for row in heights.values() for h in row), default=0.0) or 1.0
    y_ticks = nice_ticks(0.0, top)
    legend = _legend_width(list(groups)) if len(groups) > 1 else 0
    frame = _Frame(
        width, height, (float(edges[0]), float(edges[-1])), (0.0, y_ticks[-1]), False, legend
    )
    x_ticks = [t for t in nice_ticks(edges[0], edges[-1]) if edges[0] <= t <= edges[-1]]
    body = _axes(frame, x_ticks, y_ticks, title, x_label, y_label)
    opacity = "0.55" if len(groups) > 1 else "0.85"
    entries = []
    for i, (name, row) in enumerate(heights.items()):
        colour = PALETTE[i % len(PALETTE)]
        body.append(f'<g class="series" data-name={quoteattr(name)}>')
        for b, value in enumerate(row):
            x0, x1 = frame.x(edges[b]), frame.x(edges[b + 1])
            y = frame.y(value)
            body.append(
                f'<rect x="{_num(x0)}" y="{_num(y)}" width="{_num(max(x1 - x0, 0.5))}" '
                f'height="{_num(frame.bottom - y)}" fill="{colour}" fill-opacity="{opacity}" '
                f'stroke="{colour}" stroke-width="0.5"/>'
            )
        body.append("</g>")
        entries.append((name, colour, False))
    body += _legend(frame, entries if len(groups) > 1 else [])
    return _svg(frame, body)
