"""One file's section of the HTML report: its state, facts, verification cards, timeline, thumbnails."""

from __future__ import annotations

from ..verify.evidence import PARTLY_COVERED, rule_text
from ..verify.verdicts import FILL_EDGE, LEAK, NOT_ON_ORIGINAL, PASS, UNVERIFIABLE
from .html_review import review_html
from .html_parts import badge, box_text, flat, items_kinds_text, kinds_text, kv, media_line, plural, short, thumb_html
from .html_svg import esc, fmt, meter_svg, run_length, runs, timeline_html
from .html_thumbs import MAX_PER_FILE, plan_thumbnails, read_thumbnails

__all__ = ["face_state", "file_state", "file_section", "MAX_RESIDUAL_LISTED", "PASSING_SHOWN"]

MAX_RESIDUAL_LISTED = 100
PASSING_SHOWN = 6  #: passing faces shown per file before the rest fold into a <details>


def face_state(v) -> tuple[str, str]:
    """(css class, badge) of a face or track verdict; the badge names its evidence class."""
    e = v.evidence
    if v.leaks:
        return "leak", "partly covered" if e.reason == PARTLY_COVERED else "leak"
    if v.status != PASS:
        return "warn", e.kind.replace("_", " ")
    return "pass", "pass"


# What "no residual face" cannot say: the same detector misses what it missed before, mostly the
# smallest faces (on the WIDER benchmark 5.9% of faces under 16 px are left: bench/RESULTS.md).
_BEYOND = (", at the sizes it can see: it misses some of the smallest faces (on veil's crowd benchmark 6% of "
           "those under 16 px, at the back of a crowd), so look over crowds yourself (veil review).")


def file_state(f) -> tuple[str, str, str]:
    """(css class, badge, one sentence) for one file."""
    cls, word, text = _state(f)
    shown_by_person = f.verification.left_visible if f.ok and f.verification is not None else ()
    if shown_by_person:  # the verdict speaks of covered faces only; these are shown on purpose
        text += f" Left visible by a person (consent): {items_kinds_text(shown_by_person)}, not covered, not verified."
    removed = (f.review or {}).get("removed") or [] if f.ok else []
    if removed:  # deleted as false detections: shown as they are, which the verdict does not speak of
        text += (f" Deleted by a person as false detections: {items_kinds_text(removed)}, shown uncovered, "
                 "not verified.")
    return cls, word, text


def _state(f) -> tuple[str, str, str]:
    if not f.ok:
        return "fail", "failed", f"Failed: {f.error or 'unknown error'}. No output was written."
    v = f.verification
    if v is None:
        covered = f"{plural(f.faces, 'face')} covered" if f.faces else "No face found"
        return "none", "not verified", f"{covered}; not verified: the output was not checked against the input."
    counts = v.counts
    if v.verdict == LEAK:
        parts = []
        if counts.leaked:
            parts.append(f"{plural(counts.leaked, 'face')} still match{'es' * (counts.leaked == 1)} "
                         f"{'its' if counts.leaked == 1 else 'their'} original")
        nouns = {"face": ("face", "faces"), "plate": ("plate", "plates"), "text": ("line of text", "lines of text")}
        found: dict = {}
        for r in v.residual:
            found[r.kind, r.under_cover] = found.get((r.kind, r.under_cover), 0) + 1
        for (kind, under), n in found.items():
            noun = nouns.get(kind, (kind, kind))[n != 1]
            parts.append(f"{n} {noun} still found under {'their' if n != 1 else 'its'} cover" if under
                         else f"{n} possible missed {noun} in the output")
        return "leak", "leak found", "Leak: " + ("; ".join(parts) or "verification found a leak") + "."
    if v.verdict == PASS:
        if counts.faces == 1 and counts.measured == 1:
            text = "Verified: the covered face does not match its original, even after the strongest attack."
        elif counts.measured:
            of = f" (of {counts.faces} covered)" if counts.faces > counts.measured else ""
            text = (f"Verified: none of the {plural(counts.measured, 'face')} measured{of} matches its original, "
                    "even after the strongest attack.")
        elif v.checked_kinds and not counts.faces:
            text = "Verified: no face to match; the plate and text detector, run again, finds none left uncovered."
        else:
            text = "Verified: no face to match."
        if counts.unverifiable:
            text += (f" {plural(counts.unverifiable, 'face')} {'has' if counts.unverifiable == 1 else 'have'} "
                     "no pass to show (see each face's evidence).")
            # the badge is what a reader sees first: a pass on 1 face of 226 does not read as all 226
            return "pass", f"verified {counts.measured} of {counts.faces}", text
        return "pass", "verified", text
    reasons = sorted({str(x.unverifiable or x.evidence.kind).replace("_", " ") for x in v.verdicts
                      if x.status != PASS})
    why = f": {'; '.join(reasons)}" if reasons else ""
    return "warn", "unverifiable", f"Could not be verified{why}."


def _face_card(f, j: int, v, steps, x_max: float, thumbs: dict, plan) -> str:
    cls, word = face_state(v)
    track, frame = v.track_id, v.frame
    title = f"Track {track}" if track is not None else f"Face {j + 1}"
    if frame is not None and f.kind == "video":
        title += f" \u00b7 frame {frame}"
    key = plan.face_keys.get(j)
    thumb = thumb_html(thumbs.get(key) if key else None, f"anonymized output, {title}",
                        key in plan.withheld if key else v.leaks)
    e = v.evidence
    kind = e.kind.replace("_", " ")
    note = e.note if e.note.startswith(kind + ":") else f"{kind}: {e.note}"  # the note may name it already
    rows = [f'<p class="why">{esc(note)}</p>']
    if e.distance is not None and e.line is not None:
        margin = e.distance - e.line
        rows.append(f'<p class="dist-line">distance <b>{fmt(e.distance)}</b> \u00b7 leak line {fmt(e.line)}'
                    f' \u00b7 margin <b class="{"neg" if margin < 0 else "pos"}">{margin:+.3f}</b></p>')
        rows.append(meter_svg(e.distance, e.line, x_max))
    attack = v.strongest_attack
    if attack:
        rows.append(f"<p>closest attack: <b>{esc(attack)}</b></p>")
    if v.distances:
        items = sorted(v.distances.items(), key=lambda kv: kv[1])
        lis = "".join(f'<li{" class=strong" if k == attack else ""}><span>{esc(k)}</span> '
                      f"<span>{fmt(d)}</span></li>" for k, d in items)
        rows.append(f'<details><summary>{plural(len(items), "attack")} tried</summary>'
                    f'<ul class="attacks">{lis}</ul></details>')
    if steps:
        lis = "".join(f"<li>{esc(str(step))}</li>" for step in steps)
        rows.append(f'<div class="esc"><b>Escalated</b> ({plural(len(steps), "step")}):<ol>{lis}</ol></div>')
    if v.box is not None:
        rows.append(f'<p class="muted">box {box_text(v.box)}</p>')
    return (f'<article class="card {cls}">{thumb}<div class="card-body">'
            f'<h4>{esc(title)} {badge(cls, word)}</h4>{"".join(rows)}</div></article>')


def _face_cards(f, record, x_max: float, thumbs: dict, plan) -> str:
    """Problem faces first, then passing faces closest to the threshold; many passes fold away."""
    order = {"leak": 0, "warn": 1, "pass": 2}
    items = sorted(enumerate(record.verdicts),
                   key=lambda jv: (order[face_state(jv[1])[0]], jv[1].distance or 0.0, jv[0]))
    cards = [(face_state(v)[0], _face_card(f, j, v, record.escalations.get(j, ()), x_max, thumbs, plan))
             for j, v in items]
    problems = [c for cls, c in cards if cls != "pass"]
    passes = [c for cls, c in cards if cls == "pass"]
    shown = problems + passes[:PASSING_SHOWN]
    rest = passes[PASSING_SHOWN:]
    out = f'<div class="cards">{"".join(shown)}</div>'
    if rest:
        out += (f'<details><summary>{plural(len(rest), "more passing face")}</summary>'
                f'<div class="cards">{"".join(rest)}</div></details>')
    return out


def _region_kind(f, kind: str, ident) -> str | None:
    """``plate`` or ``text`` for a region or track of those kinds (None for faces)."""
    if kind == "track" and f.video is not None:
        label = next((t.kind.label for t in f.video.tracks if t.id == ident), "face")
    elif kind == "region" and isinstance(ident, int) and f.cover is not None and f.video is None:
        labels = f.cover.regions.kind_records() or []
        label = labels[ident] if ident < len(labels) else "face"
    else:
        return None
    return None if label == "face" else label


def covered_text(f) -> str | None:
    """``2 plates, 1 text`` covered (None when the run covered faces only)."""
    if not f.covered:
        return None
    return kinds_text(f.covered)


def _gallery_card(key: tuple, f, thumbs: dict) -> str:
    kind, ident = key
    label = {"region": f"region {ident + 1}" if isinstance(ident, int) else "region",
             "track": f"track {ident}", "face": f"face {ident + 1}" if isinstance(ident, int) else "face"}.get(kind, kind)
    what = _region_kind(f, kind, ident)
    label = f"{what} {label}" if what else label
    extra = ""
    if kind == "track" and f.video is not None:
        for t in f.video.tracks:
            if t.id == ident:
                extra = f"frames {esc(t.first)}\u2013{esc(t.last)}"
                det = run_length(runs(t.detected))
                if det:
                    extra += f"; seen in {det}"
                break
    thumb = thumb_html(thumbs.get(key), f"anonymized output, {label}", False)
    return (f'<figure class="tile">{thumb}<figcaption>{esc(label)}'
            f'{"<br>" + extra if extra else ""}</figcaption></figure>')


def file_section(i: int, f, state: tuple[str, str, str], *, settings: dict, thumbs_budget: list,
                  thumbnails: bool, x_max: float, run_input_hash: bool = True) -> str:
    cls, badge_text, sentence = state
    name = f.name
    out = [f'<section class="file {cls}" id="f{i}">',
           f'<h2>{badge(cls, badge_text)} <span class="name">{esc(name)}</span></h2>',
           f'<p class="sentence {cls}">{esc(sentence)}</p>']
    kind = {"image": "photo", "video": "video"}.get(f.kind, f.kind or "unknown")
    pairs = [("input", f'<span class="mono">{esc(f.name)}</span>')]
    if f.input_sha256 and run_input_hash:
        pairs.append(("SHA-256", f'<span class="mono">{esc(f.input_sha256)}</span>'))
    pairs.append(("output", f'<span class="mono">{esc(f.shown_output)}</span>' if f.output else "none"))
    media = f.media
    line = media_line(media)
    pairs.append(("media", f"{esc(kind)}" + (f" \u00b7 {line}" if line else "")))
    if f.ok:
        pairs.append(("faces", f"{f.faces} covered" + (f" in {f.frames} frames" if f.frames is not None else "")))
        if covered_text(f):
            pairs.append(("plates and text", esc(covered_text(f)) + " covered"))
        pairs.append(("metadata", "; ".join(f"{esc(m['label'])}: {esc(m['status'])}" for m in f.metadata_removed)
                      if f.metadata_removed else "none found"))
    out.append(kv(pairs))
    if f.error and not f.ok:
        out.append(f'<p class="error"><b>Error:</b> {esc(f.error)}</p>')
    for w in dict.fromkeys(f.warnings):
        out.append(f'<p class="warnline"><b>Warning:</b> {esc(w)}</p>')
    if f.resumed:
        out.append('<p class="muted">Done by an earlier run into this folder with the same input and every setting '
                   "that shapes this file (from the output folder's journal); not redone.</p>")
    facts = [(k, short(v)) for k, v in flat(media)]
    timings = [(k, f"{fmt(v, 3)} s" if k != "fps" else f"{fmt(v, 2)} fps") for k, v in flat(f.timings)]
    if facts or timings:
        out.append('<details class="facts"><summary>Media facts and timings</summary>'
                   + kv(facts) + (f"<h4>Timings</h4>{kv(timings)}" if timings else "") + "</details>")

    if f.ok:
        # Thumbnails: from the OUTPUT file only.
        thumbs, problem = {}, None
        scale = settings.region_scale
        plan = plan_thumbnails(f, region_scale=scale, limit=min(MAX_PER_FILE, max(0, thumbs_budget[0])))
        if thumbnails and plan.wants:
            thumbs, problem = read_thumbnails(f, plan.wants, max_pixels=settings.max_pixels)
            thumbs_budget[0] -= len(thumbs)
        elif not thumbnails:
            problem = "thumbnails off"
        out.append(_verification_html(f, x_max, thumbs, plan))
        if f.review:
            out.append(review_html(f.review, f.verification))
        video = f.video
        if video is not None:
            v = f.verification
            leaking = {x.track_id for x in v.verdicts if x.leaks} if v is not None else set()
            residual_frames = [r.frame for r in v.residual] if v is not None else []
            tl = timeline_html(tracks=video.tracks, cuts=video.cuts, frames=video.frames,
                               covered=video.covered_frames(), residual=residual_frames, leaking=leaking)
            if tl:
                out.append(f"<h3>Timeline ({plural(len(video.tracks), 'track')})</h3>{tl}")
            if video.repeated:
                out.append(f'<p class="muted">{plural(len(video.repeated), "frame")} repeated the frame before '
                           "(the same picture: pulldown, a frozen picture) and took its detections instead of a "
                           "detector run.</p>")
        shown = set(plan.face_keys.values())
        rest = [w.key for w in plan.wants if w.key not in shown and w.key in thumbs]
        if rest:
            tiles = "".join(_gallery_card(k, f, thumbs) for k in rest)
            out.append(f'<h3>Covered regions</h3><div class="gallery">{tiles}</div>')
        if problem and thumbnails and plan.wants:
            out.append(f'<p class="muted">{esc(problem)}.</p>')
        n_regions = len(video.tracks) if video is not None else len(f.cover.regions) if f.cover is not None else 0
        if plan.wants and thumbs and n_regions > len(plan.wants) + len(plan.withheld):
            out.append(f'<p class="muted">Thumbnails for {len(plan.wants)} of {n_regions} regions.</p>')
    out.append("</section>")
    return "".join(out)


def _verification_html(f, x_max: float, thumbs: dict, plan) -> str:
    """The verdict, the face cards and the residual detections of one file."""
    v = f.verification
    if v is None:
        return '<h3>Verification</h3><p class="muted">Not verified.</p>'
    from ..verify import provenance_text

    verdict = {PASS: ("pass", "pass"), LEAK: ("leak", "leak"), UNVERIFIABLE: ("warn", "unverifiable")}[v.verdict]
    out = ["<h3>Verification</h3>",
           kv([("verdict", badge(*verdict)),
                ("leak rule", f'<span class="muted">{esc(rule_text())}</span>'),
                ("impostor threshold", f'{fmt(v.threshold)} <span class="muted">({esc(provenance_text())})</span>')])]
    out.append(_face_cards(f, v, x_max, thumbs, plan) if v.verdicts else '<p class="muted">No face to verify.</p>')
    out.append(f"<h3>Residual detections ({len(v.residual)})</h3>")
    if v.checked_kinds:  # plates and text: their own detector on the output (veil.verify.kinds)
        c = v.counts
        found = ", ".join(f"{n} {k}" for k, n in (("plate" + "s" * (c.residual_plate != 1), c.residual_plate),
                                                   ("text", c.residual_text)) if n is not None)
        out.append(f'<p class="muted">Plates and text: their detector, run again on the output, finds {esc(found)} '
                   "outside the covered regions.</p>")
        out.extend(_not_counted(v, FILL_EDGE, "boxes the detector made of the edge of veil's own fill; run again "
                                              "with the fill smoothed into its surroundings, it finds nothing there"))
    made = _not_counted(v, NOT_ON_ORIGINAL, "faces the detector finds on the output but not, run the same way, "
                                            "on the original: the covering made them (a cover's rim beside a hand, "
                                            "the gaps between covered heads)")
    out.extend(made)
    if v.residual:
        out.append('<p class="muted">Faces the detector still finds in the output outside every covered '
                   "region: possible missed faces. Check these frames by eye (no thumbnail is shown).</p>")
        out.append(_findings_list(v.residual))
    elif made:
        out.append('<p class="muted">None counted: the detector finds no other face outside the covered regions'
                   f"{_BEYOND}</p>")
    else:
        out.append(f'<p class="muted">None: the detector finds no face outside the covered regions{_BEYOND}</p>')
    return "".join(out)


def _not_counted(v, reason: str, what: str) -> list[str]:
    """The paragraph and list of ``v``'s excused findings with ``reason`` (none: empty)."""
    found = [r for r in v.excused if r.reason == reason]
    if not found:
        return []
    return [f'<p class="muted">Not counted ({len(found)}): {esc(what)}. Look at them by eye before publishing.</p>',
            _findings_list(found, " · not counted")]


def _findings_list(findings, note: str = "") -> str:
    """Residual findings (``veil.verify.verdicts.ResidualFinding``) as a list, the first
    :data:`MAX_RESIDUAL_LISTED` of them; ``note`` ends each line."""
    lis = "".join(f"<li>{esc(r.kind) + ' · ' if r.kind != 'face' else ''}"
                  f"{'frame ' + esc(r.frame) + ' · ' if r.frame is not None else ''}"
                  f"box {box_text(r.box)} · score {fmt(r.score, 2)}{esc(note)}</li>"
                  for r in findings[:MAX_RESIDUAL_LISTED])
    more = (f"<li>\u2026 and {len(findings) - MAX_RESIDUAL_LISTED} more (see the JSON report)</li>"
            if len(findings) > MAX_RESIDUAL_LISTED else "")
    return f'<ul class="residual">{lis}{more}</ul>'
