"""The HTML report's account of a person's review (a file's ``review`` record, docs/REPORT.md).

It says what a person changed and why the output differs from what veil
alone would have covered: faces left visible (consent: not covered, not
verified), detections removed as false (each named by its kind: face,
plate, text), regions drawn over missed faces, tracks extended, items
reviewed, and the residual detections excused because they lie on a face a
person decided on. Geometry only, never pixels.
"""

from __future__ import annotations

from ..verify.verdicts import MADE_BY_COVER
from .html_parts import items_kinds_text
from .html_svg import esc

__all__ = ["review_html"]


def _where(item: dict) -> str:
    kind = item.get("kind")  # absent for a face
    prefix = f"{kind} " if kind else ""
    if item.get("track") is not None:
        text = f"{prefix}track {item['track']}"
    elif item.get("detection") is not None:
        text = f"{kind or 'face'} {int(item['detection']) + 1}"
    else:
        text = f"{prefix}box"
    if item.get("frame") is not None and item.get("track") is None:
        text += f", frame {item['frame']}"
    box = item.get("box")
    if isinstance(box, (list, tuple)) and len(box) == 4:
        text += " [" + ", ".join(f"{float(v):.0f}" for v in box) + "]"
    return esc(text)


def _list(title: str, items: list, note: str = "") -> str:
    if not items:
        return ""
    lis = "".join(f"<li>{item}</li>" for item in items[:100])
    more = f"<li>\u2026 and {len(items) - 100} more (see the JSON report)</li>" if len(items) > 100 else ""
    return f"<p><b>{esc(title)}</b>{(' ' + esc(note)) if note else ''}</p><ul>{lis}{more}</ul>"


def review_html(review: dict, verification) -> str:
    """The "Reviewed by a person" block of one file's section.

    ``review`` is the file's edits record; ``verification`` its
    :class:`veil.verify.VerificationRecord` (or None).
    """
    counts = review.get("counts") or {}
    removed = review.get("removed") or []
    # "as not a face", or with plates and text "(3 faces, 9 plates): false detections"
    faces_only = all(x.get("kind", "face") == "face" for x in removed)
    which = "as not a face" if faces_only else f"({items_kinds_text(removed)}): false detections"
    parts = ["<h3>Reviewed by a person</h3>",
             f'<p>{int(counts.get("reviewed", 0))} item(s) marked reviewed; {int(counts.get("removed", 0))} removed '
             f'{esc(which)}; {int(counts.get("left_visible", 0))} left visible; {int(counts.get("added", 0))} '
             f'region(s) drawn; {int(counts.get("extended", 0))} track(s) extended.</p>']
    parts.append(_list("Left visible by a person", [_where(x) for x in review.get("left_visible") or []],
                       "(consent): not covered, not verified."))
    parts.append(_list("Removed as not a face" if faces_only else "Removed as false detections",
                       [_where(x) for x in removed]))
    drawn = []
    for a in review.get("added") or []:
        frames = f"frames {a.get('first')}\u2013{a.get('last')}" if a.get("last") != a.get("first") else ""
        kind = a.get("kind", "face")
        shape = a.get("shape") if kind == "face" else "box"  # plates and text are covered as boxes
        drawn.append(esc(f"{a.get('id')}: {kind}, {shape}"
                         + (f", {frames}, {a.get('keyframes')} key frames" if frames else "")))
    faces_drawn = all(a.get("kind", "face") == "face" for a in review.get("added") or [])
    parts.append(_list("Drawn over missed faces" if faces_drawn else "Drawn over what veil missed", drawn,
                       "(covered as drawn; not measured)."))
    parts.append(_list("Extended", [esc(f"track {e.get('track')}: frames {e.get('first')}\u2013{e.get('last')}")
                                    for e in review.get("extended") or []]))
    # findings veil's cover made are listed with the file's residual detections (not a person's decision)
    excused = [r for r in verification.excused if r.reason not in MADE_BY_COVER] if verification is not None else ()
    parts.append(_list("Residual detections on a person's decision",
                       [esc(f"{'frame ' + str(r.frame) + ' · ' if r.frame is not None else ''}"
                            f"score {r.score:.2f}: {r.reason}") for r in excused],
                       "(not counted as missed faces)."))
    return "".join(parts)
