"""Inline SVG plots (no JavaScript, no network): line plots, histograms and a bar with lines.

Every plot is ``<svg class="plot" ...>`` with a ``<title>``, a visible title, axis labels
(``class="xlabel"`` / ``"ylabel"``), ticks, and data as ``<path class="series">`` or
``<rect class="bar">``; markers (percentiles, thresholds) are dashed ``<line class="marker">``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

W, H = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 44, 48
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
MARKER_COLOURS = {"percentile": "#d62728", "threshold": "#d62728", "reference": "#555555"}


@dataclass(frozen=True)
class Series:
    """One line: finite (x, y) pairs are drawn, NaN gaps split the line."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float]


@dataclass(frozen=True)
class Marker:
    """A vertical line at ``value`` on the x axis, labelled."""

    value: float
    label: str
    kind: str = "percentile"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-9:
        if v >= lo - step * 1e-9:
            ticks.append(round(v, 12))
        v += step
    return ticks or [lo, hi]


def fmt_tick(v: float) -> str:
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e6 or a < 1e-3:
        return f"{v:.2g}"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


class _Frame:
    """Data-to-pixel mapping and the axes of one plot."""

    def __init__(self, xlo: float, xhi: float, ylo: float, yhi: float) -> None:
        self.xt = nice_ticks(xlo, xhi)
        self.yt = nice_ticks(ylo, yhi)
        self.x0, self.x1 = min(self.xt[0], xlo), max(self.xt[-1], xhi)
        self.y0, self.y1 = min(self.yt[0], ylo), max(self.yt[-1], yhi)
        if self.x1 <= self.x0:
            self.x1 = self.x0 + 1.0
        if self.y1 <= self.y0:
            self.y1 = self.y0 + 1.0

    def px(self, x: float) -> float:
        return LEFT + (x - self.x0) / (self.x1 - self.x0) * (W - LEFT - RIGHT)

    def py(self, y: float) -> float:
        return H - BOTTOM - (y - self.y0) / (self.y1 - self.y0) * (H - TOP - BOTTOM)

    def axes(self, xlabel: str, ylabel: str, *, yticks: bool = True) -> list[str]:
        out = [
            f'<rect class="area" x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" '
            f'height="{H - TOP - BOTTOM}" fill="#fafafa" stroke="#999"/>'
        ]
        for t in self.xt:
            x = self.px(t)
            out.append(
                f'<line class="tick" x1="{x:.1f}" y1="{H - BOTTOM}" x2="{x:.1f}" '
                f'y2="{H - BOTTOM + 4}" stroke="#666"/>'
                f'<text class="ticklabel" x="{x:.1f}" y="{H - BOTTOM + 16}" '
                f'text-anchor="middle">{fmt_tick(t)}</text>'
            )
        for t in self.yt if yticks else []:
            y = self.py(t)
            out.append(
                f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" '
                f'stroke="#e4e4e4"/>'
                f'<text class="ticklabel" x="{LEFT - 6}" y="{y + 4:.1f}" '
                f'text-anchor="end">{fmt_tick(t)}</text>'
            )
        out.append(
            f'<text class="xlabel" x="{(LEFT + W - RIGHT) / 2:.0f}" y="{H - 10}" '
            f'text-anchor="middle">{escape(xlabel)}</text>'
        )
        cy = (TOP + H - BOTTOM) / 2
        out.append(
            f'<text class="ylabel" x="16" y="{cy:.0f}" text-anchor="middle" '
            f'transform="rotate(-90 16 {cy:.0f})">{escape(ylabel)}</text>'
        )
        return out

    def markers(self, markers: Sequence[Marker]) -> list[str]:
        out = []
        for i, m in enumerate(markers):
            if not math.isfinite(m.value) or not self.x0 <= m.value <= self.x1:
                continue
            x = self.px(m.value)
            colour = MARKER_COLOURS.get(m.kind, "#d62728")
            anchor = "end" if x > W * 0.6 else "start"
            dx = -4 if anchor == "end" else 4
            out.append(
                f'<line class="marker {m.kind}" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" '
                f'y2="{H - BOTTOM}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="5,3">'
                f"<title>{escape(m.label)}</title></line>"
                f'<text class="markerlabel" x="{x + dx:.1f}" y="{TOP + 14 + 14 * i}" '
                f'text-anchor="{anchor}" fill="{colour}">{escape(m.label)}</text>'
            )
        return out


def _svg(title: str, body: list[str], legend: list[tuple[str, str]] | None = None) -> str:
    parts = [
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {W} {H}" width="{W}" height="{H}">',
        f"<title>{escape(title)}</title>",
        f'<text class="plottitle" x="{W / 2:.0f}" y="20" text-anchor="middle">{escape(title)}'
        "</text>",
        *body,
    ]
    x = float(LEFT)
    for name, colour in legend or []:  # one row between the title and the plot area
        parts.append(
            f'<g class="legend"><line x1="{x:.0f}" y1="32" x2="{x + 18:.0f}" y2="32" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<text x="{x + 22:.0f}" y="36">{escape(name)}</text></g>'
        )
        x += 34 + 6.5 * len(name)
    parts.append("</svg>")
    return "\n".join(parts)


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def line_plot(
    title: str,
    xlabel: str,
    ylabel: str,
    series: Sequence[Series],
    markers: Sequence[Marker] = (),
    *,
    y_from_zero: bool = True,
    step: bool = False,
) -> str:
    """Lines (or steps) of one or more series on shared axes, with optional x markers."""
    xs = [x for s in series for x in _finite(s.xs)]
    ys = [y for s in series for y in _finite(s.ys)]
    xs += [m.value for m in markers if math.isfinite(m.value)]
    if not xs or not ys:
        return _svg(title, ['<text x="50%" y="50%" text-anchor="middle">no data</text>'])
    ylo = 0.0 if y_from_zero else min(ys)
    frame = _Frame(min(xs), max(xs), min(ylo, min(ys)), max(ys))
    body = frame.axes(xlabel, ylabel)
    legend = []
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        d = []
        pen = "M"
        prev_y: float | None = None
        for x, y in zip(s.xs, s.ys, strict=False):
            if y is None or x is None or not (math.isfinite(x) and math.isfinite(y)):
                pen = "M"
                prev_y = None
                continue
            px, py = frame.px(float(x)), frame.py(float(y))
            if step and prev_y is not None:
                d.append(f"L{px:.1f},{prev_y:.1f}")
            d.append(f"{pen}{px:.1f},{py:.1f}")
            pen, prev_y = "L", py
        body.append(
            f'<path class="series" data-name="{escape(s.name)}" d="{" ".join(d)}" fill="none" '
            f'stroke="{colour}" stroke-width="1.6"/>'
        )
        if len(d) == 1:  # a lone point draws no line: mark it
            cx, cy = d[0][1:].split(",")
            body.append(f'<circle class="point" cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
        legend.append((s.name, colour))
    body += frame.markers(markers)
    return _svg(title, body, legend if len(series) > 1 else None)


def histogram(
    title: str,
    xlabel: str,
    ylabel: str,
    edges: Sequence[float],
    counts: Sequence[float],
    markers: Sequence[Marker] = (),
) -> str:
    """Bars of ``counts`` between consecutive ``edges``, with optional x markers."""
    if len(edges) < 2 or not len(counts):
        return _svg(title, ['<text x="50%" y="50%" text-anchor="middle">no data</text>'])
    lo, hi = float(edges[0]), float(edges[-1])
    vals = [m.value for m in markers if math.isfinite(m.value) and m.value <= hi * 1.5]
    frame = _Frame(min([lo, *vals]), max([hi, *vals]), 0.0, float(max(counts)) or 1.0)
    body = frame.axes(xlabel, ylabel)
    for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True):
        if c <= 0:
            continue
        x0, x1 = frame.px(float(a)), frame.px(float(b))
        y = frame.py(float(c))
        body.append(
            f'<rect class="bar" x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0 - 0.5, 0.8):.1f}" '
            f'height="{H - BOTTOM - y:.1f}" fill="{PALETTE[0]}"><title>{fmt_tick(float(a))}–'
            f"{fmt_tick(float(b))}: {int(c)}</title></rect>"
        )
    body += frame.markers(markers)
    return _svg(title, body)


def bar_with_lines(
    title: str, xlabel: str, bars: Sequence[tuple[str, float]], markers: Sequence[Marker] = ()
) -> str:
    """Horizontal bars (one per label) against x, with vertical lines (threshold, reference)."""
    vals = [v for _, v in bars if math.isfinite(v)] + [m.value for m in markers]
    if not vals:
        return _svg(title, ['<text x="50%" y="50%" text-anchor="middle">no data</text>'])
    lo, hi = min(vals), max(vals)
    if markers:  # zoom around the values and lines so a 1 % gap is visible
        pad = max((hi - lo) * 0.6, abs(hi) * 0.005, 1e-9)
        lo, hi = max(0.0, lo - pad), hi + pad
    else:
        lo, hi = 0.0, hi * 1.05 or 1.0
    frame = _Frame(lo, hi, 0.0, 1.0)
    body = frame.axes(xlabel, "", yticks=False)
    band = (H - TOP - BOTTOM) / max(len(bars), 1)
    for i, (label, v) in enumerate(bars):
        y = TOP + band * i + band * 0.25
        x1 = frame.px(max(v, frame.x0))
        body.append(
            f'<rect class="bar" x="{LEFT}" y="{y:.1f}" width="{max(x1 - LEFT, 0.8):.1f}" '
            f'height="{band * 0.5:.1f}" fill="{PALETTE[i % len(PALETTE)]}">'
            f"<title>{escape(label)}: {v:g}</title></rect>"
            f'<text class="barlabel" x="{LEFT + 6}" y="{y + band * 0.25 + 4:.1f}" '
            f'fill="#fff">{escape(label)} {v:.4g}</text>'
        )
    body += frame.markers(markers)
    return _svg(title, body)
