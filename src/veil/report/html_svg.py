"""Inline SVG charts for the HTML report: track timelines and distance plots.

Everything here returns HTML fragments with every text escaped; no element
references anything outside the page.
"""

from __future__ import annotations

import html
import math
from typing import Iterable, Sequence

from ..detections import Kind

__all__ = ["runs", "run_length", "timeline_html", "distance_plot_html", "meter_svg", "esc", "fmt", "number"]

COLORS = {
    "detected": "#2563eb",
    "interpolated": "#f59e0b",
    "padded": "#9ca3af",
    "covered": "#0f766e",
    "residual": "#dc2626",
    "cut": "#dc2626",
    "span": "#e5e7eb",
    "leak": "#dc2626",
    "pass": "#16a34a",
}
MAX_ROWS = 200  #: timeline rows drawn per video at most
_ROW = 18  #: px per timeline row
_BAR = 12  #: px bar height inside a row

_INVISIBLE = {0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069,
              0xFEFF, 0x2028, 0x2029}


def _visible(text: str) -> str:
    """Make control, bidi-override and lone-surrogate characters visible as escapes.

    A file name is shown as it is: a name with a right-to-left override or an
    undecodable byte must not masquerade as another name in a trust report.
    """
    out = []
    for ch in text:
        cp = ord(ch)
        if cp < 0x20 or 0x7F <= cp < 0xA0:
            out.append(f"\\x{cp:02x}")
        elif cp in _INVISIBLE or 0xD800 <= cp <= 0xDFFF:
            out.append(f"\\u{cp:04x}")
        else:
            out.append(ch)
    return "".join(out)


def esc(value) -> str:
    """Text for HTML: visible controls, then escaped (quotes included)."""
    return html.escape(_visible(str(value)), quote=True)


def fmt(value, digits: int = 3) -> str:
    """A number for people (escaped); an em dash for missing or non-finite values."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    try:
        f = float(value)
    except (TypeError, ValueError):
        return esc(value)
    if not math.isfinite(f):
        return "\u2014"
    return f"{f:.{digits}f}"


def number(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _n(x: float) -> str:
    """Compact SVG coordinate."""
    return f"{x:.2f}".rstrip("0").rstrip(".") or "0"


def _frame(value) -> int | None:
    """A non-negative integer frame index, or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return int(f) if math.isfinite(f) and f >= 0 and f.is_integer() else None


def runs(frames: Iterable) -> list[tuple[int, int]]:
    """Merged inclusive runs ``(first, last)`` of frames.

    Accepts the tracker's run form ``[[start, end], ...]`` (inclusive), plain
    frame indices ``[3, 4, 5]``, or a mix; anything else is ignored.
    """
    spans: list[tuple[int, int]] = []
    for v in frames if isinstance(frames, (list, tuple)) else ():
        if isinstance(v, (list, tuple)):
            if len(v) == 2:
                a, b = _frame(v[0]), _frame(v[1])
                if a is not None and b is not None and a <= b:
                    spans.append((a, b))
            continue
        i = _frame(v)
        if i is not None:
            spans.append((i, i))
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def run_length(spans: list[tuple[int, int]]) -> int:
    return sum(b - a + 1 for a, b in spans)


# -- timeline -----------------------------------------------------------------------
def _row_rects(y: float, spans: list[tuple[int, int]], color: str, what: str, min_w: float,
               height: float = _BAR, opacity: float = 1.0) -> list[str]:
    parts = []
    op = "" if opacity >= 1 else f' fill-opacity="{_n(opacity)}"'
    for a, b in spans:
        w = max(b - a + 1, min_w)
        label = f"{what}: frame {a}" if a == b else f"{what}: frames {a}\u2013{b}"
        parts.append(f'<rect x="{_n(a)}" y="{_n(y)}" width="{_n(w)}" height="{_n(height)}" fill="{color}"{op}>'
                     f"<title>{esc(label)}</title></rect>")
    return parts


def timeline_html(*, tracks: Sequence, cuts: Sequence, frames: int | None, covered: Iterable = (),
                  residual: Iterable = (), leaking: Iterable = ()) -> str:
    """A video's timeline: one row per track, frames across, scene cuts as lines.

    Parameters
    ----------
    tracks : list of veil.track.TrackSummary
        ``id, first, last, detected, interpolated, padded`` of each track.
    cuts : list of int
        Frames where a new scene starts.
    frames : int or None
        Frame count (derived from the data when missing).
    covered : iterable of int
        Frames with any covered region (top row).
    residual : iterable of int
        Frames with a possible missed face (bottom row).
    leaking : iterable of int
        Track ids whose face still matches its original (marked in the label).
    """
    tracks = list(tracks or [])
    covered_runs, residual_runs = runs(covered), runs(residual)
    if not tracks and not covered_runs and not residual_runs:
        return ""
    highest = max([t.last for t in tracks] + [r[-1][1] for r in (covered_runs, residual_runs) if r] + [-1])
    n = max(frames if isinstance(frames, int) and frames > 0 else 0, highest + 1, 1)
    min_w = n / 400.0  # keep single frames visible on a narrow screen
    rows: list[tuple[str, str, list[str]]] = []  # (label, css class, svg parts)
    if covered_runs:
        rows.append(("any region", "", _row_rects(_row_y(0), covered_runs, COLORS["covered"], "covered", min_w)))
    leaking = set(leaking)
    for t in tracks[:MAX_ROWS]:
        rows.append(_track_row(t, _row_y(len(rows)), min_w, t.id in leaking))
    if residual_runs:
        rows.append(("missed face?", "leak", _row_rects(_row_y(len(rows)), residual_runs, COLORS["residual"],
                                                        "possible missed face", min_w)))
    cut_frames = [c for c, _ in runs(cuts)]
    ticks = _ticks(n)
    labels = "".join(f'<div class="tl-label {cls}" title="{esc(label)}">{esc(label)}</div>'
                     for label, cls, _ in rows)
    axis = "".join(f'<span style="left:{_n(100.0 * t / n)}%">{t}</span>' for t in ticks)
    hidden = max(0, len(tracks) - MAX_ROWS)
    note = (f'<p class="note">{hidden} more track{"s" * (hidden != 1)} not drawn.</p>' if hidden else "")
    legend = _legend([("detected", COLORS["detected"]), ("interpolated", COLORS["interpolated"]),
                      ("padded", COLORS["padded"])]
                     + ([("any covered region", COLORS["covered"])] if covered_runs else [])
                     + ([("possible missed face", COLORS["residual"])] if residual_runs else [])
                     + ([("scene cut", COLORS["cut"], "line")] if cut_frames else []))
    svg = _timeline_svg(rows, n, cut_frames, ticks, f"timeline of {len(tracks)} tracks over {n} frames")
    return (f'<div class="timeline"><div class="tl-grid"><div class="tl-labels">{labels}</div>'
            f'<div class="tl-plot">{svg}<div class="tl-axis">{axis}</div></div></div>'
            f'<p class="tl-caption">frames 0\u2013{n - 1} ({n} frames); {len(cut_frames)} scene '
            f'cut{"s" * (len(cut_frames) != 1)}</p>{legend}{note}</div>')


def _row_y(row: int) -> float:
    return row * _ROW + (_ROW - _BAR) / 2


def _track_row(t, y: float, min_w: float, leaks: bool) -> tuple[str, str, list[str]]:
    """One track's row: its span as a thin line, then padded, interpolated and detected frames."""
    parts = []
    if t.last >= t.first:
        parts += _row_rects(y + _BAR / 2 - 1, [(t.first, t.last)], "#cbd5e1", f"track {t.id} span", min_w, height=2)
    parts += _row_rects(y, runs(t.padded), COLORS["padded"], "padded", min_w)
    parts += _row_rects(y, runs(t.interpolated), COLORS["interpolated"], "interpolated", min_w)
    parts += _row_rects(y, runs(t.detected), COLORS["detected"], "detected", min_w)
    name = f"track {t.id}" if t.kind == Kind.FACE else f"{t.kind.label} track {t.id}"  # as the regions' captions
    return name + (" \u2013 leak" if leaks else ""), "leak" if leaks else "", parts


def _timeline_svg(rows: list, n: int, cut_frames: list[int], ticks: list[int], label: str) -> str:
    """Grid lines at the ticks, zebra stripes, the rows, then the cuts on top."""
    height = len(rows) * _ROW
    svg = [f'<svg class="tl-svg" viewBox="0 0 {_n(n)} {height}" preserveAspectRatio="none" '
           f'width="100%" height="{height}" role="img" aria-label="{esc(label)}">']
    for t in ticks:
        svg.append(f'<line x1="{_n(t)}" x2="{_n(t)}" y1="0" y2="{height}" stroke="#94a3b8" '
                   f'stroke-opacity="0.35" vector-effect="non-scaling-stroke"/>')
    for i in range(1, len(rows), 2):  # zebra stripes help a phone reader follow a row
        svg.append(f'<rect x="0" y="{i * _ROW}" width="{_n(n)}" height="{_ROW}" fill="#94a3b8" fill-opacity="0.08"/>')
    for _, _, parts in rows:
        svg.extend(parts)
    for c in cut_frames:
        if 0 <= c <= n:
            svg.append(f'<line x1="{_n(c)}" x2="{_n(c)}" y1="0" y2="{height}" stroke="{COLORS["cut"]}" '
                       f'stroke-width="1.5" stroke-dasharray="4 3" vector-effect="non-scaling-stroke">'
                       f"<title>scene cut at frame {c}</title></line>")
    svg.append("</svg>")
    return "".join(svg)


def _legend(items) -> str:
    parts = []
    for item in items:
        name, color = item[0], item[1]
        shape = "line" if len(item) > 2 else "sq"
        parts.append(f'<span class="key"><i class="sw {shape}" style="--c:{color}"></i>{esc(name)}</span>')
    return f'<p class="legend">{"".join(parts)}</p>'


def _nice_step(span: float, target: int) -> float:
    if span <= 0:
        return 1.0
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def _ticks(n: int) -> list[int]:
    step = max(1, int(round(_nice_step(n, 4))))
    return list(range(0, n, step))


# -- distance distribution ------------------------------------------------------------
def distance_plot_html(points: Sequence[tuple[float, bool, str]], threshold: float | None, *,
                       xlabel: str = "distance to own original (after the strongest attack)",
                       threshold_label: str = "impostor threshold", label_value: bool = True) -> str:
    """A dot plot (or a histogram when crowded) of distances against the threshold.

    Parameters
    ----------
    points : list of (distance, leaks, label)
    threshold : float or None
        Distances below it leak (shaded side).
    label_value : bool, keyword-only
        Write the threshold's value beside its label (not for a margin plot, where it is 0).
    """
    values = [(d, leak, label) for d, leak, label in points if number(d) is not None]
    if not values:
        return ""
    t = number(threshold)
    hi = max([d for d, _, _ in values] + ([t * 1.5] if t is not None else []))
    lo = min([0.0] + [d for d, _, _ in values])
    step = _nice_step(hi - lo, 5)
    x_max = math.ceil(hi * 1.02 / step) * step if hi > 0 else 1.0
    x_min = math.floor(lo / step) * step
    if x_max <= x_min:
        x_max = x_min + 1.0
    W, H = 380, 170
    left, right, top, bottom = 12, 368, 26, 128
    sx = lambda v: left + (v - x_min) / (x_max - x_min) * (right - left)  # noqa: E731
    nbins = 36
    bw = (right - left) / nbins
    bins: list[list[tuple[float, bool, str]]] = [[] for _ in range(nbins)]
    for item in values:
        i = min(nbins - 1, max(0, int((item[0] - x_min) / (x_max - x_min) * nbins)))
        bins[i].append(item)
    peak = max(len(b) for b in bins)
    out = [f'<svg class="dist" viewBox="0 0 {W} {H}" role="img" aria-label="{esc(xlabel)}">']
    if t is not None and x_min < t:
        tx = min(sx(t), right)
        out.append(f'<rect x="{left}" y="{top - 6}" width="{_n(tx - left)}" height="{bottom - top + 6}" '
                   f'fill="{COLORS["leak"]}" fill-opacity="0.12"/>')
        out.append(f'<text x="{left + 3}" y="{top + 6}" class="t-leak">leak side</text>')
        out.append(f'<text x="{right - 3}" y="{top + 6}" text-anchor="end" class="t-pass">safe side</text>')
    out.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="currentColor" stroke-opacity="0.6"/>')
    v = x_min
    while v <= x_max + step / 1000:
        x = sx(v)
        out.append(f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{bottom}" y2="{bottom + 4}" stroke="currentColor"/>'
                   f'<text x="{_n(x)}" y="{bottom + 15}" text-anchor="middle">{_n(round(v, 6))}</text>')
        v += step
    out.append(f'<text x="{(left + right) / 2}" y="{H - 8}" text-anchor="middle" class="t-axis">{esc(xlabel)}</text>')
    if peak <= 10:  # dot plot: one dot per face, stacked
        r = max(2.0, min(bw / 2 - 0.3, (bottom - top - 4) / (2 * max(peak, 1))))
        for i, b in enumerate(bins):
            cx = left + (i + 0.5) * bw
            for k, (d, leak, label) in enumerate(sorted(b, key=lambda p: p[0])):
                cy = bottom - r - 1 - 2 * r * k
                color = COLORS["leak"] if leak else COLORS["pass"]
                out.append(f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="{_n(r)}" fill="{color}" stroke="#fff" '
                           f'stroke-width="0.6"><title>{esc(label)}: {fmt(d)}</title></circle>')
    else:  # histogram, leaks stacked under passes
        scale = (bottom - top - 4) / peak
        for i, b in enumerate(bins):
            if not b:
                continue
            x = left + i * bw + 0.4
            n_leak = sum(1 for p in b if p[1])
            h_leak, h_pass = n_leak * scale, (len(b) - n_leak) * scale
            if n_leak:
                out.append(f'<rect x="{_n(x)}" y="{_n(bottom - h_leak)}" width="{_n(bw - 0.8)}" height="{_n(h_leak)}" '
                           f'fill="{COLORS["leak"]}"><title>{n_leak} leaking</title></rect>')
            if h_pass:
                out.append(f'<rect x="{_n(x)}" y="{_n(bottom - h_leak - h_pass)}" width="{_n(bw - 0.8)}" '
                           f'height="{_n(h_pass)}" fill="{COLORS["pass"]}"><title>{len(b) - n_leak} passing'
                           f"</title></rect>")
        # Opposite the threshold's label, so the two never overlap.
        on_left = t is not None and x_min <= t <= x_max and sx(t) <= (left + right) / 2
        out.append(f'<text x="{right if on_left else left}" y="{top - 10}" text-anchor="{"end" if on_left else "start"}"'
                   f' class="t-axis">tallest bar: {peak} faces</text>')
    if t is not None and x_min <= t <= x_max:
        tx = sx(t)
        out.append(f'<line x1="{_n(tx)}" x2="{_n(tx)}" y1="{top - 14}" y2="{bottom}" stroke="{COLORS["leak"]}" '
                   f'stroke-width="1.5" stroke-dasharray="4 2"/>')
        anchor = "end" if tx > (left + right) / 2 else "start"
        dx = -4 if anchor == "end" else 4
        out.append(f'<text x="{_n(tx + dx)}" y="{top - 8}" text-anchor="{anchor}" class="t-thr">'
                   f"{esc(threshold_label)}{' ' + fmt(t) if label_value else ''}</text>")
    out.append("</svg>")
    return "".join(out)


def meter_svg(distance, threshold, x_max: float) -> str:
    """A one-line gauge: the leak zone up to the threshold, a mark at the distance."""
    d, t = number(distance), number(threshold)
    if d is None or x_max <= 0:
        return ""
    pct = lambda v: max(0.0, min(100.0, 100.0 * v / x_max))  # noqa: E731
    parts = ['<svg class="meter" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">',
             '<rect x="0" y="3" width="100" height="4" fill="#94a3b8" fill-opacity="0.3"/>']
    if t is not None:
        parts.append(f'<rect x="0" y="3" width="{_n(pct(t))}" height="4" fill="{COLORS["leak"]}" fill-opacity="0.35"/>')
        parts.append(f'<line x1="{_n(pct(t))}" x2="{_n(pct(t))}" y1="0" y2="10" stroke="{COLORS["leak"]}" '
                     f'stroke-width="1.5" vector-effect="non-scaling-stroke"/>')
    color = COLORS["leak"] if (t is not None and d < t) else COLORS["pass"]
    parts.append(f'<rect x="{_n(max(0.0, pct(d) - 1))}" y="0" width="2" height="10" fill="{color}"/>')
    parts.append("</svg>")
    return "".join(parts)
