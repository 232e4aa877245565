"""Findings and their values: the kinds and risks of :mod:`veil.media.metadata`, JSON-ready values.

:class:`Findings` and the value helpers serve the collectors of the package
(:mod:`.exif`, :mod:`.containers`).
"""

from __future__ import annotations

from typing import Any

#: Finding kinds (pictures and, for ``audio`` and ``stream``, videos), and
#: what each means to a reader of the report.
KIND_LABELS = {
    "gps": "GPS location",
    "location": "place names",
    "device": "device make, model or serial number",
    "time": "dates and times",
    "person": "names of people",
    "software": "software and computer names",
    "comment": "titles, comments and other free text",
    "thumbnail": "embedded thumbnails",
    "trailer": "data appended after the picture",
    "makernote": "camera maker notes",
    "xmp": "XMP metadata",
    "iptc": "IPTC metadata",
    "icc": "colour profile",
    "exif": "other EXIF metadata",
    "aux": "auxiliary images (depth maps, previews)",
    "audio": "audio streams",
    "stream": "subtitle, data and attachment streams",
}
KINDS = tuple(KIND_LABELS)
#: Risk levels, highest first.
RISKS = ("high", "medium", "low")
#: Longest string value kept in a finding.
MAX_TEXT = 300


def short_text(value: Any) -> str:
    """A value as one line of text (bytes as UTF-8, else Latin-1), cut to :data:`MAX_TEXT`."""
    if isinstance(value, bytes):
        value = value.rstrip(b"\x00")
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = value.decode("latin-1")
    text = " ".join(str(value).replace("\x00", " ").split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def xp_text(value: Any) -> str:
    """Decode a Windows XP* tag (UCS-2 little endian bytes or a tuple of ints)."""
    if isinstance(value, tuple):
        value = bytes(value)
    if isinstance(value, bytes):
        return short_text(value.decode("utf-16-le", errors="replace").rstrip("\x00"))
    return short_text(value)


def user_comment(value: Any) -> str:
    """Decode EXIF UserComment (8-byte character-code prefix)."""
    if isinstance(value, bytes) and len(value) >= 8:
        code, body = value[:8], value[8:]
        if code.startswith(b"UNICODE"):
            return short_text(body.decode("utf-16-be" if body[:1] == b"\x00" else "utf-16-le", "replace"))
        return short_text(body)
    return short_text(value)


def json_value(value: Any) -> Any:
    if isinstance(value, (bool, int)):
        return int(value) if not isinstance(value, bool) else value
    if isinstance(value, float):
        return value
    if isinstance(value, (bytes, str)):
        return short_text(value)
    if isinstance(value, tuple):
        return [json_value(v) for v in value][:16]
    try:
        return float(value)  # IFDRational, Fraction
    except (TypeError, ValueError, ZeroDivisionError):
        return short_text(value)


def rational(value: Any) -> float | None:
    try:
        num = getattr(value, "numerator", None)
        den = getattr(value, "denominator", None)
        if num is not None and den == 0:
            return None
        out = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return out if out == out else None  # NaN -> None


def dms(value: Any, ref: Any, negative: str) -> float | None:
    """Degrees/minutes/seconds rationals and an N/S/E/W ref -> signed degrees."""
    if not isinstance(value, (tuple, list)):
        single = rational(value)
        parts: list[float | None] = [single]
    else:
        parts = [rational(v) for v in value[:3]]
    if not parts or any(p is None for p in parts):
        return None
    degrees = 0.0
    for p, scale in zip(parts, (1.0, 60.0, 3600.0)):
        degrees += float(p) / scale  # type: ignore[arg-type]
    if isinstance(ref, bytes):
        ref = ref.decode("latin-1", "replace")
    if str(ref).strip().upper().startswith(negative):
        degrees = -degrees
    return round(degrees, 7)



class Findings:
    """The findings of one file, in the order found (``items``: JSON-ready dicts)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, kind: str, field: str, value: Any, risk: str) -> None:
        assert kind in KINDS and risk in RISKS
        self.items.append({"kind": kind, "field": field, "value": value, "risk": risk})
