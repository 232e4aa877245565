"""A resumed file's section of the HTML report: its entry in brief (the JSON has it whole)."""

from __future__ import annotations

from .html_parts import badge, kv, media_line, plural
from .html_svg import esc

__all__ = ["stored_section"]


def stored_section(i: int, f, state: tuple[str, str, str], *, run_input_hash: bool = True) -> str:
    """The section of a :class:`veil.report.stored.StoredFile` (no thumbnails, no per-face cards)."""
    cls, badge_text, sentence = state
    entry = f.entry
    kind = {"image": "photo", "video": "video"}.get(f.kind, f.kind)
    pairs = [("input", f'<span class="mono">{esc(f.name)}</span>')]
    if f.input_sha256 and run_input_hash:
        pairs.append(("SHA-256", f'<span class="mono">{esc(f.input_sha256)}</span>'))
    pairs.append(("output", f'<span class="mono">{esc(f.shown_output)}</span>' if f.shown_output else "none"))
    line = media_line(entry.get("media") or {})
    pairs.append(("media", esc(kind) + (f" \u00b7 {line}" if line else "")))
    if f.ok:
        pairs.append(("faces", f"{f.faces} covered" + (f" in {f.frames} frames" if f.frames is not None else "")))
        removed = entry.get("metadata_removed") or []
        pairs.append(("metadata", "; ".join(f"{esc(m.get('label'))}: {esc(m.get('status'))}" for m in removed
                                            if isinstance(m, dict)) or "none found"))
    v = f.verification
    if v is not None:
        c = v.counts
        pairs.append(("verification", f"{esc(v.verdict)}: {plural(c.faces, 'face or track', 'faces or tracks')}, "
                                      f"{c.leaked} leaking, {c.unverifiable} not measurable, "
                                      f"{plural(c.residual, 'residual detection')}"))
    out = [f'<section class="file {cls}" id="f{i}">',
           f'<h2>{badge(cls, badge_text)} <span class="name">{esc(f.name)}</span></h2>',
           f'<p class="sentence {cls}">{esc(sentence)}</p>', kv(pairs)]
    for w in dict.fromkeys(f.warnings):
        out.append(f'<p class="warnline"><b>Warning:</b> {esc(w)}</p>')
    out.append('<p class="muted">Done by an earlier, interrupted run of this command with the same input and '
               "settings (from the output folder's journal); its per-face details are in veil-report.json.</p>")
    out.append("</section>")
    return "".join(out)
