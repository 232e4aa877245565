"""The HTML report's evidence table: faces (photos) and tracks (video) by evidence class and size."""

from __future__ import annotations

from ..verify.evidence import EVIDENCE_CLASSES, LEAK, MIN_FACE_PX, PASS, SIZE_BINS, match_rate
from .html_svg import esc

__all__ = ["evidence_table_html"]

#: What each class means, in a few words (the "How to read this report" box says more).
_MEANING = {
    "leak": "still matches its original, or the covered region misses an eye or the nose",
    "pass": "measured: clear of a leak line that catches a weak blur",
    "indistinct": "the recognizer barely tells the original from a flat patch: no pass to show",
    "too_small": "too small to measure",
    "low_confidence": "the detector is not sure it is a face: covered, not measured",
    "not_measurable": "landmarks failed, flat original, or mostly outside the picture",
}


def _bin_rate(lo: float) -> str:
    """How often uncovered faces of a bin's narrowest width match another photo of the same person."""
    if lo < MIN_FACE_PX:
        return f"\u2264 {100 * match_rate(MIN_FACE_PX):.0f}%"
    return f"\u2265 {100 * match_rate(lo):.0f}%"


def evidence_table_html(evidence: dict) -> str:
    """The run's evidence table (``RunSummary.evidence``, a :func:`veil.verify.evidence.tally`); '' when empty.

    Rows are the evidence classes, most serious first; columns the face-width
    bins, then the total. The last row says how often an UNCOVERED face of
    that size matches another photo of the same person (LFW scaled down).
    """
    if not evidence or not evidence.get("faces"):
        return ""
    by_size, by_class = evidence["by_size"], evidence["by_class"]
    bins = list(by_size)
    head = "".join(f"<th>{esc(b)} px</th>" for b in bins)
    rows = []
    for kind in EVIDENCE_CLASSES:
        cls = "leak" if kind == LEAK and by_class[kind] else "pass" if kind == PASS else ""
        cells = "".join(f"<td>{by_size[b][kind] or ''}</td>" for b in bins)
        rows.append(f'<tr class="{cls}"><th title="{esc(_MEANING[kind])}">{esc(kind.replace("_", " "))}'
                    f'<span class="muted">{esc(_MEANING[kind])}</span></th>{cells}<td><b>{by_class[kind]}</b></td></tr>')
    rates = "".join(f"<td>{esc(_bin_rate(lo))}</td>" for lo, _hi in SIZE_BINS)
    rows.append(f'<tr class="rate"><th>uncovered faces matched<span class="muted">at this size, another photo '
                f"of the same person (LFW scaled down)</span></th>{rates}<td></td></tr>")
    return (f'<div class="box"><h2>Evidence: {evidence["faces"]} {"face or track" if evidence["faces"] == 1 else "faces and tracks"} by class and size</h2>'
            f'<div class="evwrap"><table class="evidence"><thead><tr><th>evidence</th>{head}<th>all</th></tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></div></div>')
