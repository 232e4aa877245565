"""Small pieces of the HTML report: escaping helpers, badges, key-value lists, media lines.

Public within ``veil.report`` (the report's modules share them); every text is
escaped with :func:`veil.report.html_svg.esc`.
"""

from __future__ import annotations

import json
import math
from collections import Counter

from ..detections import kinds_text
from .html_svg import esc, fmt, number

__all__ = ["plural", "kinds_text", "items_kinds_text", "box_text", "short", "flat", "kv", "badge", "rate", "media_line", "thumb_html"]


def items_kinds_text(items) -> str:
    """The kinds of a review record's items in words, kinds in order (``'1 face, 2 plates'``;
    an item without ``kind`` is a face)."""
    return kinds_text(dict(sorted(Counter(x.get("kind", "face") for x in items).items())))


def plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def box_text(box) -> str:
    try:
        return "[" + ", ".join(fmt(v, 1) for v in list(box)[:4]) + "]"
    except TypeError:
        return "\u2014"


def short(value, limit: int = 240) -> str:
    if isinstance(value, (dict, list, tuple)):
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = str(value)
    elif isinstance(value, float):
        return fmt(value, 3 if abs(value) < 1000 else 1)
    else:
        text = str(value)
    return esc(text if len(text) <= limit else text[:limit - 1] + "\u2026")


def flat(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.extend(flat(v, key + "."))
        else:
            out.append((key, v))
    return out


def kv(pairs, cls: str = "kv") -> str:
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in pairs)
    return f'<dl class="{cls}">{rows}</dl>' if rows else ""


def badge(cls: str, text: str) -> str:
    return f'<span class="badge {cls}">{esc(text)}</span>'


def rate(value) -> str:
    """A frame rate for people: "30000/1001" -> "29.97"."""
    text = str(value)
    try:
        num, _, den = text.partition("/")
        rate = float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError):
        return short(value, 20)
    return f"{rate:.3f}".rstrip("0").rstrip(".") if math.isfinite(rate) else short(value, 20)


def media_line(media: dict) -> str:
    bits = []
    w, h = media.get("width"), media.get("height")
    if w and h:
        bits.append(f"{esc(w)}\u00d7{esc(h)}")
    for key in ("format", "codec", "container"):
        value = media.get(key)
        if value and not (key == "format" and "," in str(value)):  # skip ffmpeg's "mov,mp4,m4a,..."
            bits.append(esc(value))
    fps = media.get("fps") or media.get("frame_rate") or media.get("average_rate")
    if fps:
        bits.append(f"{rate(fps)} fps")
    dur = media.get("duration") or media.get("duration_s") or media.get("seconds")
    if number(dur) is not None:
        bits.append(f"{fmt(dur, 2)} s")
    frames = media.get("frames")
    if frames and frames != 1:  # a photo (or a one-frame video) is one picture
        bits.append(f"{esc(frames)} frames")
    return " \u00b7 ".join(bits)


def thumb_html(uri: str | None, alt: str, withheld: bool) -> str:
    if withheld:
        return '<div class="thumb ph leak">withheld: still recognizable</div>'
    if uri:
        # uri is our own "data:image/jpeg;base64,..." string: base64 needs no escaping, but escape anyway.
        return f'<img class="thumb" src="{esc(uri)}" alt="{esc(alt)}">'
    return ""


