"""The HTML report (``veil-report.html``): the JSON report, for people.

One self-contained file: inline CSS and SVG, no JavaScript, nothing loaded from
anywhere (a Content-Security-Policy in the page forbids it too). It reads on a
phone (stacked cards, no wide tables) and on a desktop.

It shows the overall verdict, counts and settings (warnings such as a reversible
mode in a banner); per file the input, its SHA-256, the output, media facts and
status or error; per face or track the verification verdict, the distance to its
own original against the impostor threshold, the margin, the attack that came
closest and any escalation; residual detections; a timeline of each video's
tracks with scene cuts; and the distribution of all verified distances.

Thumbnails come only from the anonymized OUTPUT files (see
:mod:`veil.report.html_thumbs`): never from ``FileReport.input`` nor
``FileReport.extra``, and never of a face that still matches its original.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from pathlib import Path

from .._version import __version__
from ..media.atomic import atomic_output
from .html_svg import _f, distance_plot_html, esc, fmt, meter_svg, run_length, runs, timeline_html
from .html_review import review_html
from .html_thumbs import MAX_PER_FILE, plan_thumbnails, read_thumbnails

__all__ = ["render_html", "write_html"]

MAX_THUMBS_TOTAL = 600  #: thumbnails per report at most (keeps the page light)
MAX_RESIDUAL_LISTED = 100
PASSING_SHOWN = 6  #: passing faces shown per file before the rest fold into a <details>
_REVERSIBLE = {"blur", "pixelate"}


# -- small helpers ------------------------------------------------------------------


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _box_text(box) -> str:
    try:
        return "[" + ", ".join(fmt(v, 1) for v in list(box)[:4]) + "]"
    except TypeError:
        return "\u2014"


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, (list, tuple)) else []


def _short(value, limit: int = 240) -> str:
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


def _flat(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.extend(_flat(v, key + "."))
        else:
            out.append((key, v))
    return out


def _kv(pairs, cls: str = "kv") -> str:
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in pairs)
    return f'<dl class="{cls}">{rows}</dl>' if rows else ""


def _badge(cls: str, text: str) -> str:
    return f'<span class="badge {cls}">{esc(text)}</span>'


# -- verdicts ------------------------------------------------------------------------
def _face_state(face: dict) -> tuple[str, str]:
    if face.get("leaks"):
        return "leak", "leak"
    if face.get("unverifiable"):
        return "warn", "unverifiable"
    if _f(face.get("distance")) is None:
        return "warn", "no distance"
    return "pass", "pass"


def _file_state(f) -> tuple[str, str, str]:
    """(css class, badge, one sentence) for one file."""
    if not f.ok:
        return "fail", "failed", f"Failed: {f.error or 'unknown error'}. No output was written."
    v = f.verification if isinstance(f.verification, dict) else None
    if v is None:
        covered = f"{_plural(f.faces, 'face')} covered" if f.faces else "No face found"
        return "none", "not verified", f"{covered}; not verified: the output was not checked against the input."
    faces = [x for x in _list(v.get("faces")) if isinstance(x, dict)]
    residual = _list(v.get("residual"))
    leaking = sum(1 for x in faces if x.get("leaks"))
    unverifiable = sum(1 for x in faces if x.get("unverifiable"))
    verdict = v.get("verdict")
    if verdict == "leak":
        parts = []
        if leaking:
            parts.append(f"{_plural(leaking, 'face')} still match{'es' * (leaking == 1)} "
                         f"{'its' if leaking == 1 else 'their'} original")
        if residual:
            parts.append(f"{_plural(len(residual), 'possible missed face')} in the output")
        return "leak", "leak found", "Leak: " + ("; ".join(parts) or "verification found a leak") + "."
    if verdict == "pass":
        if len(faces) == 1:
            text = "Verified: the covered face does not match its original, even after the strongest attack."
        elif faces:
            text = (f"Verified: none of the {len(faces)} covered faces matches its original, "
                    "even after the strongest attack.")
        else:
            text = "Verified: no face to match."
        if residual:
            text += f" {_plural(len(residual), 'low-confidence detection')} listed below."
        if unverifiable:
            text += f" {_plural(unverifiable, 'face')} could not be measured."
        return "pass", "verified", text
    if verdict == "unverifiable":
        reasons = sorted({str(x.get("unverifiable")) for x in faces if x.get("unverifiable")})
        why = f": {'; '.join(reasons)}" if reasons else ""
        return "warn", "unverifiable", f"Could not be verified{why}."
    return "none", "not verified", f"Verification gave no verdict ({verdict!r})."


def _run_state(run, summary: dict, states: list[str]) -> tuple[str, str, list[str]]:
    """(css class, headline, detail lines) for the whole run."""
    details = []
    files, ok, failed = summary["files"], summary["ok"], summary["failed"]
    unver = sum(1 for s in states if s == "warn")
    unchecked = sum(1 for s in states if s == "none")
    if failed:
        details.append(f"{_plural(failed, 'file')} failed and {'has' if failed == 1 else 'have'} no output.")
    if files == 0:
        return "none", "Nothing was processed", details
    if ok == 0:
        return "fail", "Failed: no file could be processed", details
    verdict = summary.get("verdict")
    if verdict == "leak":
        n = summary.get("leaks", 0)
        return "leak", (f"Leak found: {_plural(n, 'file')} of {ok} still "
                        f"show{'s' * (n == 1)} a face that can be matched to its original, or a missed face"), details
    if not run.verified:
        return "none", "Not verified: faces were covered, but the outputs were not checked", details
    if unchecked == len(states):
        return "none", "Not verified: verification was on, but no output has a verification result", details
    if unver:
        details.append(f"{_plural(unver, 'file')} could not be verified.")
    if unchecked:
        details.append(f"{_plural(unchecked, 'file')} {'has' if unchecked == 1 else 'have'} no verification result.")
    measured, unmeasured = summary.get("faces_verified", 0), summary.get("faces_unverifiable", 0)
    if unmeasured:
        details.append(f"{_plural(measured, 'face or track')} measured; {unmeasured} covered but not measurable "
                       "(low detector confidence, too small, or indistinct to the recognizer): see each file.")
    if failed or unver or unchecked:
        return "warn", "Partly verified: no covered face matches its original in the files that were checked", details
    return "pass", "Verified: no covered face matches its original, even after attacks", details


# -- page parts ----------------------------------------------------------------------
def _settings_html(settings: dict, warnings: list[str]) -> tuple[str, str]:
    """(banners, settings block)."""
    s = _dict(settings)
    mode = str(s.get("mode", "?"))
    banners = list(dict.fromkeys(str(w) for w in warnings if w))
    if mode in _REVERSIBLE and not any("reversible" in w for w in banners):
        banners.insert(0, f"mode {mode!r} is reversible: learned attacks can re-identify blurred or "
                          "pixelated faces; use fill or noise to publish")
    banner_html = "".join(f'<div class="banner" role="alert"><b>Warning:</b> {esc(w)}</div>' for w in banners)
    pairs = [("mode", f"{esc(mode)} " + (_badge("leak", "reversible") if mode in _REVERSIBLE
                                         else _badge("pass", "irreversible") if mode in ("fill", "noise") else ""))]
    if "region_shape" in s or "region_scale" in s:
        pairs.append(("region", f"{esc(s.get('region_shape', '?'))}, {fmt(s.get('region_scale'), 2)}\u00d7 the face box"))
    if "threshold" in s:
        pairs.append(("detector", f"confidence \u2265 {fmt(s.get('threshold'), 2)}"
                      + (", tiled small-face pass" if s.get("tiles") else "")
                      + (f", faces \u2265 {fmt(s.get('min_face'), 0)} px" if _f(s.get("min_face")) else "")))
    if "pad_frames" in s:
        pairs.append(("video", f"covered {esc(s.get('pad_frames'))} frames before/after each sighting; "
                               f"audio {esc(s.get('audio', '?'))}"))
    if "verify" in s:
        pairs.append(("verification", "on" if s.get("verify") else "off"))
    full = _kv([(k, _short(v)) for k, v in _flat(s)])
    block = (_kv(pairs) + (f"<details><summary>All settings</summary>{full}</details>" if full else ""))
    return banner_html, block


def _rate(value) -> str:
    """A frame rate for people: "30000/1001" -> "29.97"."""
    text = str(value)
    try:
        num, _, den = text.partition("/")
        rate = float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError):
        return _short(value, 20)
    return f"{rate:.3f}".rstrip("0").rstrip(".") if math.isfinite(rate) else _short(value, 20)


def _media_line(media: dict) -> str:
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
        bits.append(f"{_rate(fps)} fps")
    dur = media.get("duration") or media.get("duration_s") or media.get("seconds")
    if _f(dur) is not None:
        bits.append(f"{fmt(dur, 2)} s")
    if media.get("frames"):
        bits.append(f"{esc(media['frames'])} frames")
    return " \u00b7 ".join(bits)


def _thumb_html(uri: str | None, alt: str, withheld: bool) -> str:
    if withheld:
        return '<div class="thumb ph leak">withheld: still recognizable</div>'
    if uri:
        # uri is our own "data:image/jpeg;base64,..." string: base64 needs no escaping, but escape anyway.
        return f'<img class="thumb" src="{esc(uri)}" alt="{esc(alt)}">'
    return ""


def _face_card(f, j: int, face: dict, threshold, x_max: float, thumbs: dict, plan) -> str:
    cls, word = _face_state(face)
    track, frame = face.get("track"), face.get("frame")
    title = f"Track {track}" if track is not None else f"Face {j + 1}"
    if frame is not None and f.kind == "video":
        title += f" \u00b7 frame {frame}"
    key = plan.face_keys.get(j)
    thumb = _thumb_html(thumbs.get(key) if key else None, f"anonymized output, {title}",
                        key in plan.withheld if key else bool(face.get("leaks")))
    distance = _f(face.get("distance"))
    t = _f(threshold)
    margin = _f(face.get("margin"))
    if margin is None and distance is not None and t is not None:
        margin = distance - t
    rows = []
    if face.get("unverifiable"):
        rows.append(f'<p class="why">Could not verify: {esc(face["unverifiable"])}</p>')
    if distance is not None:
        rows.append(f'<p class="dist-line">distance <b>{fmt(distance)}</b>'
                    + (f" \u00b7 threshold {fmt(t)}" if t is not None else "")
                    + (f' \u00b7 margin <b class="{"neg" if margin < 0 else "pos"}">{margin:+.3f}</b>'
                       if margin is not None else "") + "</p>")
        rows.append(meter_svg(distance, t, x_max))
    attack = face.get("strongest_attack")
    if attack:
        rows.append(f"<p>closest attack: <b>{esc(attack)}</b></p>")
    distances = _dict(face.get("distances"))
    if distances:
        items = sorted(((str(k), _f(v)) for k, v in distances.items()),
                       key=lambda kv: (kv[1] is None, kv[1] if kv[1] is not None else 0.0))
        lis = "".join(f'<li{" class=strong" if k == attack else ""}><span>{esc(k)}</span> '
                      f"<span>{fmt(v)}</span></li>" for k, v in items)
        rows.append(f'<details><summary>{_plural(len(items), "attack")} tried</summary>'
                    f'<ul class="attacks">{lis}</ul></details>')
    steps = [s for s in _list(face.get("escalation")) if s]
    if steps:
        lis = "".join(f"<li>{esc(s)}</li>" for s in steps)
        rows.append(f'<div class="esc"><b>Escalated</b> ({_plural(len(steps), "step")}):<ol>{lis}</ol></div>')
    if face.get("box") is not None:
        rows.append(f'<p class="muted">box {_box_text(face.get("box"))}</p>')
    return (f'<article class="card {cls}">{thumb}<div class="card-body">'
            f'<h4>{esc(title)} {_badge(cls, word)}</h4>{"".join(rows)}</div></article>')


def _face_cards(f, faces: list, threshold, x_max: float, thumbs: dict, plan) -> str:
    """Problem faces first, then passing faces closest to the threshold; many passes fold away."""
    order = {"leak": 0, "warn": 1, "pass": 2}
    items = [(j, face) for j, face in enumerate(faces) if isinstance(face, dict)]
    items.sort(key=lambda jf: (order.get(_face_state(jf[1])[0], 1), _f(jf[1].get("distance")) or 0.0, jf[0]))
    cards = [(_face_state(face)[0], _face_card(f, j, face, threshold, x_max, thumbs, plan))
             for j, face in items]
    problems = [c for cls, c in cards if cls != "pass"]
    passes = [c for cls, c in cards if cls == "pass"]
    shown = problems + passes[:PASSING_SHOWN]
    rest = passes[PASSING_SHOWN:]
    out = f'<div class="cards">{"".join(shown)}</div>'
    if rest:
        out += (f'<details><summary>{_plural(len(rest), "more passing face")}</summary>'
                f'<div class="cards">{"".join(rest)}</div></details>')
    return out


def _gallery_card(key: tuple, f, thumbs: dict) -> str:
    kind, ident = key
    label = {"region": f"region {ident + 1}" if isinstance(ident, int) else "region",
             "track": f"track {ident}", "face": f"face {ident + 1}" if isinstance(ident, int) else "face"}.get(kind, kind)
    extra = ""
    if kind == "track":
        for t_index, t in enumerate(f.tracks or []):
            if isinstance(t, dict) and t.get("id", t_index) == ident:
                first, last = t.get("first"), t.get("last")
                det = run_length(runs(t.get("detected")))
                if first is not None and last is not None:
                    extra = f"frames {esc(first)}\u2013{esc(last)}"
                if det:
                    extra += f"{'; ' if extra else ''}seen in {det}"
                break
    thumb = _thumb_html(thumbs.get(key), f"anonymized output, {label}", False)
    return (f'<figure class="tile">{thumb}<figcaption>{esc(label)}'
            f'{"<br>" + extra if extra else ""}</figcaption></figure>')


def _file_section(i: int, f, state: tuple[str, str, str], *, settings: dict, thumbs_budget: list,
                  thumbnails: bool, x_max: float) -> str:
    cls, badge, sentence = state
    name = f.rel or os.path.basename(str(f.input)) or str(f.input)
    out = [f'<section class="file {cls}" id="f{i}">',
           f'<h2>{_badge(cls, badge)} <span class="name">{esc(name)}</span></h2>',
           f'<p class="sentence {cls}">{esc(sentence)}</p>']
    kind = {"image": "photo", "video": "video"}.get(f.kind, f.kind or "unknown")
    pairs = [("input", f'<span class="mono">{esc(f.input)}</span>')]
    if f.input_sha256:
        pairs.append(("SHA-256", f'<span class="mono">{esc(f.input_sha256)}</span>'))
    pairs.append(("output", f'<span class="mono">{esc(f.output)}</span>' if f.output else "none"))
    media = _dict(f.media)
    line = _media_line(media)
    pairs.append(("media", f"{esc(kind)}" + (f" \u00b7 {line}" if line else "")))
    if f.ok:
        pairs.append(("faces", f"{f.faces} covered" + (f" in {f.frames} frames" if f.frames is not None else "")))
    out.append(_kv(pairs))
    if f.error and not f.ok:
        out.append(f'<p class="error"><b>Error:</b> {esc(f.error)}</p>')
    for w in dict.fromkeys(str(w) for w in _list(f.warnings)):
        out.append(f'<p class="warnline"><b>Warning:</b> {esc(w)}</p>')
    facts = [(k, _short(v)) for k, v in _flat(media)]
    timings = [(k, f"{fmt(v, 3)} s" if k != "fps" else f"{fmt(v, 2)} fps") for k, v in _flat(_dict(f.timings))]
    if facts or timings:
        out.append('<details class="facts"><summary>Media facts and timings</summary>'
                   + _kv(facts) + (f"<h4>Timings</h4>{_kv(timings)}" if timings else "") + "</details>")

    if f.ok:
        # Thumbnails: from the OUTPUT file only.
        thumbs, problem = {}, None
        scale = _f(_dict(settings).get("region_scale")) or 1.5
        plan = plan_thumbnails(f, region_scale=scale, limit=min(MAX_PER_FILE, max(0, thumbs_budget[0])))
        if thumbnails and plan.wants:
            thumbs, problem = read_thumbnails(f, plan.wants, max_pixels=int(_f(_dict(settings).get("max_pixels"))
                                                                           or 178_956_970))
            thumbs_budget[0] -= len(thumbs)
        elif not thumbnails:
            problem = "thumbnails off"
        v = f.verification if isinstance(f.verification, dict) else None
        faces = [x for x in _list(v.get("faces"))] if v else []
        if v is not None:
            out.append("<h3>Verification</h3>")
            thr = v.get("threshold")
            vpairs = [("verdict", _badge(*{"pass": ("pass", "pass"), "leak": ("leak", "leak"),
                                           "unverifiable": ("warn", "unverifiable")}.get(
                                               str(v.get("verdict")), ("none", str(v.get("verdict"))))))]
            vpairs.append(("impostor threshold", fmt(thr) + (f' <span class="muted">({esc(v["threshold_provenance"])})</span>'
                                                           if v.get("threshold_provenance") else "")))
            out.append(_kv(vpairs))
            if faces:
                out.append(_face_cards(f, faces, thr, x_max, thumbs, plan))
            else:
                out.append('<p class="muted">No face to verify.</p>')
            residual = [r for r in _list(v.get("residual")) if isinstance(r, dict)]
            out.append(f"<h3>Residual detections ({len(residual)})</h3>")
            if residual:
                out.append('<p class="muted">Faces the detector still finds in the output outside every covered '
                           "region: possible missed faces. Check these frames by eye (no thumbnail is shown).</p>")
                lis = "".join(
                    f"<li>{'frame ' + esc(r.get('frame')) + ' · ' if r.get('frame') is not None else ''}"
                    f"box {_box_text(r.get('box'))} · score {fmt(r.get('score'), 2)}</li>"
                    for r in residual[:MAX_RESIDUAL_LISTED])
                more = (f"<li>\u2026 and {len(residual) - MAX_RESIDUAL_LISTED} more (see the JSON report)</li>"
                        if len(residual) > MAX_RESIDUAL_LISTED else "")
                out.append(f'<ul class="residual">{lis}{more}</ul>')
            else:
                out.append('<p class="muted">None: the detector finds no face outside the covered regions.</p>')
        else:
            out.append('<h3>Verification</h3><p class="muted">Not verified.</p>')
        if getattr(f, "review", None):
            out.append(review_html(f.review, v))

        if f.kind == "video":
            leaking = {x.get("track") for x in faces if isinstance(x, dict) and x.get("leaks")}
            residual_frames = [r.get("frame") for r in _list(v.get("residual")) if isinstance(r, dict)] if v else []
            by_frame = _dict(_dict(f.regions).get("by_frame"))
            tl = timeline_html(tracks=_list(f.tracks), cuts=_list(f.cuts), frames=f.frames,
                               covered=[k for k, val in by_frame.items() if val],
                               residual=residual_frames, leaking=leaking)
            if tl:
                out.append(f"<h3>Timeline ({_plural(len(_list(f.tracks)), 'track')})</h3>{tl}")
        shown = set(plan.face_keys.values())
        rest = [w.key for w in plan.wants if w.key not in shown and w.key in thumbs]
        if rest:
            tiles = "".join(_gallery_card(k, f, thumbs) for k in rest)
            out.append(f'<h3>Covered regions</h3><div class="gallery">{tiles}</div>')
        if problem and thumbnails and plan.wants:
            out.append(f'<p class="muted">{esc(problem)}.</p>')
        n_regions = len(_list(_dict(f.regions).get("boxes"))) if f.kind == "image" else len(_list(f.tracks))
        if plan.wants and thumbs and n_regions > len(plan.wants) + len(plan.withheld):
            out.append(f'<p class="muted">Thumbnails for {len(plan.wants)} of {n_regions} regions.</p>')
    out.append("</section>")
    return "".join(out)


def _distribution(run) -> tuple[str, float]:
    """(plot html, x_max for per-face meters)."""
    points = []
    thresholds = {}
    for f in run.files:
        v = f.verification if (f.ok and isinstance(f.verification, dict)) else None
        if not v:
            continue
        t = _f(v.get("threshold"))
        name = f.rel or os.path.basename(str(f.input))
        for j, face in enumerate(_list(v.get("faces"))):
            if not isinstance(face, dict) or _f(face.get("distance")) is None:
                continue
            label = f"{name}: " + (f"track {face['track']}" if face.get("track") is not None else f"face {j + 1}")
            points.append((_f(face["distance"]), bool(face.get("leaks")), label, t))
            if t is not None:
                thresholds[round(t, 9)] = t
    if not points:
        return "", 1.0
    if len(thresholds) <= 1:
        t = next(iter(thresholds.values()), None)
        plot = distance_plot_html([(d, leak, label) for d, leak, label, _ in points], t)
        x_max = max([d for d, *_ in points] + ([t * 1.5] if t else [])) * 1.05
    else:  # files measured against different thresholds: plot margins
        plot = distance_plot_html([(d - ft, leak, label) for d, leak, label, ft in points if ft is not None], 0.0,
                                  xlabel="margin: distance minus that file's threshold",
                                  threshold_label="threshold")
        x_max = max([d for d, *_ in points] + [t * 1.5 for t in thresholds.values()]) * 1.05
    n_leak = sum(1 for p in points if p[1])
    caption = (f"{_plural(len(points), 'verified face')}, {n_leak} leaking. Each dot is one face or track: "
               "its distance to its own original after the strongest attack. Left of the dashed line (shaded) "
               "a recognizer would still match it.")
    return f'<figure class="distfig">{plot}<figcaption>{esc(caption)}</figcaption></figure>', x_max


_CSS = """
:root{--fg:#111827;--muted:#5b6472;--bg:#f4f6f9;--card:#fff;--line:#dde2e8;--pass:#15803d;--leak:#b91c1c;
--warn:#b45309;--none:#475569;--fail:#7f1d1d;--chip:#eef1f5}
@media (prefers-color-scheme:dark){:root{--fg:#e5e7eb;--muted:#9aa4b2;--bg:#0b1120;--card:#111827;
--line:#263244;--chip:#1c2636}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--fg);
background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:12px}
h1{font-size:1.25rem;margin:.1em 0 .4em}
h2{font-size:1.05rem;margin:0 0 .3em;overflow-wrap:anywhere}
h3{font-size:.95rem;margin:1.1em 0 .4em;border-top:1px solid var(--line);padding-top:.7em}
h4{font-size:.9rem;margin:0 0 .3em}
p{margin:.3em 0}
a{color:inherit}
.muted{color:var(--muted);font-size:.88em}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.84em;overflow-wrap:anywhere;
word-break:break-all}
.verdict{border-radius:12px;padding:14px 16px;color:#fff;background:var(--none);margin:8px 0}
.verdict.pass{background:#15803d}.verdict.leak{background:#b91c1c}.verdict.warn{background:#b45309}
.verdict.fail{background:#7f1d1d}
.verdict h1{color:#fff;font-size:1.3rem}.verdict p{margin:.2em 0}
.banner{border-left:6px solid #b91c1c;background:#fee2e2;color:#7f1d1d;padding:10px 12px;margin:10px 0;
border-radius:6px;overflow-wrap:anywhere}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(100px,1fr));gap:8px;margin:10px 0}
.stat{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:6px 10px}
.stat b{display:block;font-size:1.25rem}
.box{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px;margin:12px 0}
dl.kv{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:3px 14px;margin:8px 0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;min-width:0;overflow-wrap:anywhere}
@media (max-width:560px){dl.kv{grid-template-columns:minmax(0,1fr)}dl.kv dt{font-size:.8em;margin-top:4px}}
.badge{display:inline-block;padding:1px 9px;border-radius:999px;font-size:.75rem;font-weight:650;color:#fff;
background:var(--none);vertical-align:.1em;white-space:nowrap}
.badge.pass{background:var(--pass)}.badge.leak{background:var(--leak)}.badge.warn{background:var(--warn)}
.badge.fail{background:var(--fail)}
section.file{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px;margin:14px 0;
border-left:6px solid var(--none)}
section.file.pass{border-left-color:var(--pass)}section.file.leak{border-left-color:var(--leak)}
section.file.warn{border-left-color:var(--warn)}section.file.fail{border-left-color:var(--fail)}
.sentence{font-weight:600}.sentence.leak,.error{color:var(--leak)}.warnline{color:var(--warn)}
.name{overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,290px),1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px;display:flex;gap:10px;min-width:0;
background:var(--card)}
.card.leak{border-color:var(--leak);box-shadow:inset 4px 0 0 var(--leak)}
.card.warn{box-shadow:inset 4px 0 0 var(--warn)}
.card-body{min-width:0;flex:1}
.thumb{flex:none;width:96px;height:96px;object-fit:contain;border-radius:6px;background:var(--chip)}
.thumb.ph{display:flex;align-items:center;justify-content:center;text-align:center;font-size:.72rem;
color:var(--muted);padding:4px}
.thumb.ph.leak{color:var(--leak);font-weight:600}
.neg{color:var(--leak)}.pos{color:var(--pass)}
.meter{display:block;width:100%;height:10px;margin:4px 0}
ul.attacks{list-style:none;padding:0;margin:4px 0;font-size:.85em}
ul.attacks li{display:flex;justify-content:space-between;gap:8px;border-bottom:1px dotted var(--line)}
ul.attacks li.strong{font-weight:700}
.esc ol{margin:2px 0 0;padding-left:1.3em;font-size:.88em}
ul.residual{padding-left:1.2em;font-size:.9em}
.gallery{display:flex;flex-wrap:wrap;gap:10px}
.tile{margin:0;width:96px;font-size:.75rem;color:var(--muted);text-align:center}
.timeline{margin:6px 0}
.tl-grid{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:0 8px}
.tl-label{height:18px;line-height:18px;font-size:12px;white-space:nowrap;max-width:30vw;overflow:hidden;
text-overflow:ellipsis}
.tl-label.leak{color:var(--leak);font-weight:600}
.tl-svg{display:block;width:100%;background:var(--chip);border-radius:3px}
.tl-axis{position:relative;height:16px;font-size:11px;color:var(--muted)}
.tl-axis span{position:absolute;top:0;transform:translateX(-50%)}.tl-axis span:first-child{transform:none}
.tl-caption{font-size:.8rem;color:var(--muted)}
.legend{font-size:.8rem;display:flex;flex-wrap:wrap;gap:4px 12px;margin:4px 0}
.sw{display:inline-block;width:12px;height:12px;background:var(--c);border-radius:2px;margin-right:4px;
vertical-align:-1px}
.sw.line{width:3px;border-radius:0}
.distfig{margin:0}
.dist{display:block;width:100%;max-width:620px;height:auto;color:var(--fg)}
.dist text{font-size:10px;fill:currentColor}
.dist .t-leak,.dist .t-thr{fill:#b91c1c;font-weight:600}.dist .t-pass{fill:#15803d;font-weight:600}
.dist .t-axis{fill:var(--muted)}
figcaption{font-size:.82rem;color:var(--muted)}
ol.index{padding-left:1.4em;margin:.3em 0}ol.index li{margin:2px 0;overflow-wrap:anywhere}
ol.index a{text-decoration:none}ol.index a .n{text-decoration:underline}
details{margin:6px 0}summary{cursor:pointer;color:var(--muted)}
footer{color:var(--muted);font-size:.8rem;margin:20px 0 30px}
@media print{details{display:block}.verdict{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _help_html() -> str:
    items = [
        ("distance", "how different the anonymized face is from its own original, measured by a face "
                     "recognizer (dlib). veil compares each face only with itself: no gallery, no search."),
        ("impostor threshold", "the distance below which fewer than 1 in 1,000 pairs of different people fall. "
                               "A covered face closer than this to its own original could still be recognized."),
        ("margin", "distance minus threshold: positive is safe, negative is a leak."),
        ("attack", "an attempt to undo the anonymization before measuring (deblurring, de-pixelation, "
                   "inpainting, averaging a track's frames); the verdict uses the attack that came closest."),
        ("escalation", "a leaking face was re-rendered stronger until it passed."),
        ("residual detection", "a face the detector still finds in the output outside every covered region."),
        ("timeline", "one row per tracked face; detected frames in blue, frames filled in between detections "
                     "(interpolated) in orange, safety padding before and after in grey; dashed red lines "
                     "are scene cuts."),
    ]
    return ("<details><summary>How to read this report</summary>"
            + _kv([(k, esc(v)) for k, v in items]) + "</details>")


def render_html(run, *, thumbnails: bool = True, created: _dt.datetime | None = None) -> str:
    """The report as one self-contained HTML document (a str).

    Parameters
    ----------
    run : RunReport
    thumbnails : bool, keyword-only
        Embed thumbnails cut from the anonymized outputs (never from inputs).
    created : datetime, keyword-only
        Time shown as the report's date (now, UTC, by default).
    """
    created = created or _dt.datetime.now(_dt.timezone.utc)
    summary = run.summary()
    states = [_file_state(f) for f in run.files]
    run_cls, headline, details = _run_state(run, summary, [s[0] for s in states if s[0] != "fail"])
    banners, settings_block = _settings_html(run.settings, summary.get("warnings") or [])
    dist_html, x_max = _distribution(run)
    budget = [MAX_THUMBS_TOTAL]
    sections = []
    for i, (f, state) in enumerate(zip(run.files, states)):
        try:
            sections.append(_file_section(i, f, state, settings=_dict(run.settings), thumbs_budget=budget,
                                          thumbnails=thumbnails, x_max=x_max))
        except Exception as exc:  # noqa: BLE001 - one odd entry must not lose the whole report
            sections.append(f'<section class="file warn" id="f{i}"><h2>{esc(f.rel or f.input)}</h2>'
                            f'<p class="error">This entry could not be drawn ({esc(type(exc).__name__)}: '
                            f"{esc(exc)}); see the JSON report.</p></section>")

    stats = [("files", summary["files"]), ("ok", summary["ok"]), ("failed", summary["failed"]),
             ("faces covered", summary["faces"]), ("frames", summary["frames"])]
    if summary.get("skipped"):
        stats.append(("skipped (not media)", summary["skipped"]))
    if run.verified:
        stats.append(("leaking files", summary.get("leaks", 0)))
    stats.append(("seconds", fmt(summary.get("seconds"), 1)))
    stats_html = "".join(f'<div class="stat"><b>{v if isinstance(v, str) else esc(v)}</b>{esc(k)}</div>'
                         for k, v in stats)

    attention = [(i, f, s) for i, (f, s) in enumerate(zip(run.files, states)) if s[0] != "pass"]
    index_items = "".join(f'<li><a href="#f{i}">{_badge(s[0], s[1])} <span class="n">{esc(f.rel or f.input)}</span></a></li>'
                          for i, (f, s) in enumerate(zip(run.files, states)))
    index = ""
    if run.files:
        open_attr = " open" if len(run.files) <= 30 else ""
        index = (f'<details class="box"{open_attr}><summary>Files ({len(run.files)}'
                 + (f", {len(attention)} need attention" if attention else "") + f')</summary>'
                 f'<ol class="index">{index_items}</ol></details>')
    skipped = ""
    if run.skipped:
        lis = "".join(f'<li class="mono">{esc(s)}</li>' for s in run.skipped[:500])
        skipped = (f'<details class="box"><summary>{_plural(len(run.skipped), "file")} skipped: not a photo '
                   f"or video</summary><ul>{lis}</ul></details>")
    date = created.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    detail_html = "".join(f"<p>{esc(d)}</p>" for d in details)
    dist_block = (f'<div class="box"><h2>Distances against the impostor threshold</h2>{dist_html}</div>'
                  if dist_html else "")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="veil {esc(__version__)}">
<title>veil report: {esc(headline)}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<div class="verdict {run_cls}" role="status"><h1>{esc(headline)}</h1>{detail_html}
<p>{esc(run.command)} &middot; veil {esc(__version__)} &middot; {esc(date)}</p></div>
{banners}
<div class="stats">{stats_html}</div>
<div class="box"><h2>Settings</h2>{settings_block}{_help_html()}</div>
{dist_block}
{index}
{skipped}
{"".join(sections)}
<footer>Made by veil {esc(__version__)} on {esc(date)}. This page is self-contained: it loads nothing from
any network. Thumbnails are cut from the anonymized outputs only, never from the originals, and a face that
still matches its original is never shown. Full details: veil-report.json beside this file.</footer>
</main>
</body>
</html>
"""


def write_html(run, path: str | os.PathLike, *, thumbnails: bool = True,
               created: _dt.datetime | None = None) -> Path:
    """Write the HTML report atomically; returns its path.

    Parameters
    ----------
    run : RunReport
    path : path
        Usually ``OUTDIR/veil-report.html``.
    thumbnails : bool, keyword-only
        Embed thumbnails of the anonymized outputs (read from ``file.output``).
    created : datetime, keyword-only
        The date shown (now by default).
    """
    path = Path(path)
    text = render_html(run, thumbnails=thumbnails, created=created)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8", errors="backslashreplace")
    return path
