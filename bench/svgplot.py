"""Small, dependency-free SVG line charts for the benchmarks' documents.

One chart per file: lines (optionally dashed, with markers), shaded
confidence bands, horizontal reference lines, a linear or log x axis and a
legend under the plot. Text is escaped; the file references nothing outside it.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Sequence

__all__ = ["Series", "chart", "PALETTE"]

#: Colour-blind-safe palette (Okabe-Ito).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")


@dataclass
class Series:
    """One line of a chart.

    Parameters
    ----------
    label : str
    x, y : sequences of float (same length; NaN points are skipped)
    lo, hi : sequences of float, optional
        A shaded band (e.g. a 95% confidence interval).
    color : str
    dash : bool
    markers : bool
    line : bool
        False draws markers only.
    """

    label: str
    x: Sequence[float]
    y: Sequence[float]
    lo: Sequence[float] | None = None
    hi: Sequence[float] | None = None
    color: str = PALETTE[0]
    dash: bool = False
    markers: bool = True
    line: bool = True


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        return [10.0 ** e for e in range(math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9) + 1)]
    raw = (hi - lo) / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _label(v: float, log: bool) -> str:
    if log:
        return f"{v:g}" if v >= 1e-3 else f"1e{round(math.log10(v))}"
    return f"{v:g}"


def chart(series: Sequence[Series], *, title: str, xlabel: str, ylabel: str,
          xlim: tuple[float, float], ylim: tuple[float, float], xlog: bool = False,
          hlines: Sequence[tuple[float, str]] = (), width: int = 720, height: int = 440) -> str:
    """An SVG document (str) with the given series.

    ``hlines`` are ``(y, label)`` reference lines. Points outside the limits are clipped by the plot area.
    """
    legend_rows = math.ceil(len(series) / 2)
    left, right, top = 64, 16, 36
    bottom = 48 + 18 * legend_rows
    pw, ph = width - left - right, height - top - bottom
    x0, x1 = (math.log10(xlim[0]), math.log10(xlim[1])) if xlog else xlim

    def sx(v: float) -> float:
        t = math.log10(v) if xlog else v
        return left + (t - x0) / (x1 - x0) * pw

    def sy(v: float) -> float:
        return top + (1 - (v - ylim[0]) / (ylim[1] - ylim[0])) * ph

    esc = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{esc(title)}</text>',
           f'<clipPath id="plot"><rect x="{left}" y="{top}" width="{pw}" height="{ph}"/></clipPath>']
    for t in _ticks(*xlim, xlog):
        out.append(f'<line x1="{_fmt(sx(t))}" y1="{top}" x2="{_fmt(sx(t))}" y2="{top + ph}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{_fmt(sx(t))}" y="{top + ph + 16}" text-anchor="middle">{_label(t, xlog)}</text>')
    for t in _ticks(*ylim, False):
        out.append(f'<line x1="{left}" y1="{_fmt(sy(t))}" x2="{left + pw}" y2="{_fmt(sy(t))}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{left - 6}" y="{_fmt(sy(t) + 4)}" text-anchor="end">{_label(t, False)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#6b7280"/>')
    out.append(f'<text x="{left + pw / 2}" y="{top + ph + 34}" text-anchor="middle">{esc(xlabel)}</text>')
    out.append(f'<text transform="translate(16 {top + ph / 2}) rotate(-90)" text-anchor="middle">{esc(ylabel)}</text>')
    out.append('<g clip-path="url(#plot)">')
    for y, text in hlines:
        out.append(f'<line x1="{left}" y1="{_fmt(sy(y))}" x2="{left + pw}" y2="{_fmt(sy(y))}" stroke="#9ca3af" '
                   f'stroke-dasharray="2 3"/><text x="{left + pw - 4}" y="{_fmt(sy(y) - 4)}" text-anchor="end" '
                   f'fill="#6b7280">{esc(text)}</text>')
    for s in series:
        pts = [(x, y) for x, y in zip(s.x, s.y) if _finite(x, y)]
        if s.lo is not None and s.hi is not None:
            band = [(x, lo, hi) for x, lo, hi in zip(s.x, s.lo, s.hi) if _finite(x, lo, hi)]
            if len(band) > 1:
                poly = [(sx(x), sy(hi)) for x, _, hi in band] + [(sx(x), sy(lo)) for x, lo, _ in reversed(band)]
                out.append(f'<polygon points="{" ".join(f"{_fmt(a)},{_fmt(b)}" for a, b in poly)}" '
                           f'fill="{s.color}" fill-opacity="0.15" stroke="none"/>')
        if s.line and len(pts) > 1:
            dash = ' stroke-dasharray="6 4"' if s.dash else ""
            out.append(f'<polyline points="{" ".join(f"{_fmt(sx(x))},{_fmt(sy(y))}" for x, y in pts)}" '
                       f'fill="none" stroke="{s.color}" stroke-width="2"{dash}/>')
        if s.markers:
            out.extend(f'<circle cx="{_fmt(sx(x))}" cy="{_fmt(sy(y))}" r="3.5" fill="{s.color}"/>' for x, y in pts)
    out.append("</g>")
    for i, s in enumerate(series):
        lx = left + (i % 2) * pw / 2
        ly = top + ph + 52 + 18 * (i // 2)
        dash = ' stroke-dasharray="6 4"' if s.dash else ""
        if s.line:
            out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 24}" y2="{ly - 4}" stroke="{s.color}" '
                       f'stroke-width="2"{dash}/>')
        if s.markers:
            out.append(f'<circle cx="{lx + 12}" cy="{ly - 4}" r="3.5" fill="{s.color}"/>')
        out.append(f'<text x="{lx + 30}" y="{ly}">{esc(s.label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _finite(*values) -> bool:
    return all(v is not None and math.isfinite(float(v)) for v in values)
