"""The HTML report (``veil-report.html``): the JSON report, for people.

One self-contained file: inline CSS and SVG, no JavaScript, nothing loaded from
anywhere (a Content-Security-Policy in the page forbids it too). It reads on a
phone (stacked cards, no wide tables) and on a desktop.

It shows the overall verdict, counts and settings (warnings such as a reversible
mode in a banner); per file the input, its SHA-256, the output, media facts and
status or error; faces by evidence class and size (:mod:`veil.report.html_evidence`); per face
or track the evidence class with its number, the distance to its own original
against its leak line, the margin, the attack that came
closest and any escalation; residual detections; a timeline of each video's
tracks with scene cuts; and the distribution of all verified distances.

Thumbnails come only from the anonymized OUTPUT files (see
:mod:`veil.report.html_thumbs`): never from ``FileReport.input``, and never
of a face that still matches its original. File names are shown relative to
their input root and the output folder: the page travels with the outputs.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from .._version import __version__
from ..config import REVERSIBLE_MODES
from ..media.atomic import atomic_output
from ..verify.evidence import LEAK_MARGIN
from .html_file import file_section, file_state
from .html_evidence import evidence_table_html
from .html_parts import badge, flat, kv, plural, short
from .html_style import CSP, CSS
from .html_svg import distance_plot_html, esc, fmt, number
from .records import RunVerdict, entry_name_and_verdict

__all__ = ["render_html", "write_html"]

MAX_THUMBS_TOTAL = 600  #: thumbnails per report at most (keeps the page light)
#: Files drawn in full at most (a section each: about 9 kB and 230 elements); the others are one line
#: each in the file list. A 5,000-photo run's page was 47 MB and did not load in Chromium in 30 s.
MAX_SECTIONS = 300
#: Which files are drawn in full first when there are more: leaking (an output that shows someone),
#: failed (no output), unsure, unchecked, passed.
_SECTION_ORDER = {"leak": 0, "fail": 1, "warn": 2, "none": 3, "pass": 4}
_REVERSIBLE = {m.value for m in REVERSIBLE_MODES}


def _run_state(run, summary, states: list[str]) -> tuple[str, str, list[str]]:
    """(css class, headline, detail lines) for the whole run: the headline says what
    ``summary.verdict`` says (the JSON's and the terminal's), with the counts behind it."""
    details = []
    files, ok, failed = summary.files, summary.ok, summary.failed
    others, faces = run.settings.other_kinds, run.settings.covers_faces
    unver = sum(1 for s in states if s == "warn")
    unchecked = sum(1 for s in states if s == "none")
    if failed:
        details.append(f"{plural(failed, 'file')} failed and {'has' if failed == 1 else 'have'} no output.")
    if files == 0:
        return "none", "Nothing was processed", details
    if ok == 0:
        return "fail", "Failed: no file could be processed", details
    verdict = summary.verdict
    if verdict is RunVerdict.INTERRUPTED:
        return "fail", (f"Interrupted by {run.interrupted}: {plural(ok, 'file')} of {files} finished; "
                        "the others have no output"), details
    if verdict is RunVerdict.LEAK:
        n, leaked, missed = summary.leaks, summary.leaked_faces, summary.residual
        found = (plural(missed, "possible missed face, plate or text", "possible missed faces, plates or text")
                 if others else plural(missed, "possible missed face"))
        what = [w for w in (f"{plural(leaked, 'face')} still matching {'its' if leaked == 1 else 'their'} original"
                            if leaked else "", f"{found} in the output" if missed else "") if w]
        return "leak", (f"Leak found in {plural(n, 'file')} of {ok}: {' and '.join(what) or 'see the files below'}. "
                        "Do not publish these as they are: look at them in veil review (veil review OUTDIR) "
                        "and cover what is left"), details
    # What a person chose to show: the verdicts speak of what is covered only.
    shown = sum(len((f.review or {}).get("left_visible") or []) for f in run.files if f.ok)
    deleted = sum(len((f.review or {}).get("removed") or []) for f in run.files if f.ok)
    if shown or deleted:
        details.append("Shown uncovered as a person chose in veil review, not verified: "
                       + " and ".join(w for w in (f"{plural(shown, 'region')} left visible (consent)" if shown else "",
                                                  f"{plural(deleted, 'detection')} deleted as not a face, plate "
                                                  "or text" if deleted else "") if w) + ".")
    if not run.verified:
        return "none", "Not verified: faces were covered, but the outputs were not checked", details
    if unver:
        details.append(f"{plural(unver, 'file')} could not be verified.")
    if unchecked:
        details.append(f"{plural(unchecked, 'file')} {'has' if unchecked == 1 else 'have'} no verification result.")
    measured, unmeasured = summary.faces_verified, summary.faces_unverifiable
    if unmeasured:
        details.append(f"{plural(unmeasured, 'face or track', 'faces or tracks')} covered without a pass to show "
                       "(indistinct to the recognizer, too small, low detector confidence): see the evidence table.")
    if verdict is RunVerdict.NOT_VERIFIED and unchecked == len(states):
        return "none", "Not verified: verification was on, but no output has a verification result", details
    if verdict is RunVerdict.NOT_VERIFIED:
        return "none", ("Not verified: no output has a face the recognizer could measure as a pass "
                        "(covered, but nothing to show for it)"), details
    # What a pass says: faces are measured against attacks; plates and text by their detector, as published.
    said = [f"none of the {plural(measured, 'face or track', 'faces or tracks')} measured matches its original"
            + (", even after attacks" if verdict is not RunVerdict.PARTLY_VERIFIED else "")] if faces else []
    if others:
        said.append("the plate and text detector, run again, finds none left uncovered")
        if run.settings.reversible:
            details.append("Blurred or pixelated plates and text are looked for as published, not after "
                           "deblurring: they may be legible to a person or a model.")
    passing = " and ".join(said)
    if verdict is RunVerdict.PARTLY_VERIFIED:
        return "warn", f"Partly verified: {passing}, but some files could not be verified (below)", details
    if verdict is RunVerdict.VERIFIED_EXCEPT_FAILED:
        return "warn", f"Verified, failed files excluded: {passing}", details
    return "pass", f"Verified: {passing}", details


# -- page parts ----------------------------------------------------------------------
def _settings_html(settings: dict, warnings: list[str]) -> tuple[str, str]:
    """(banners, settings block)."""
    s = settings
    mode = str(s.get("mode", "?"))
    banners = list(dict.fromkeys(str(w) for w in warnings if w))
    if mode in _REVERSIBLE and not any("reversible" in w for w in banners):
        banners.insert(0, f"mode {mode!r} is reversible: learned attacks can re-identify blurred or "
                          "pixelated faces; use fill or noise to publish")
    banner_html = "".join(f'<div class="banner" role="alert"><b>Warning:</b> {esc(w)}</div>' for w in banners)
    pairs = [("mode", f"{esc(mode)} " + (badge("leak", "reversible") if mode in _REVERSIBLE
                                         else badge("pass", "irreversible") if mode in ("fill", "noise") else ""))]
    if s.get("cover") and list(s["cover"]) != ["faces"]:
        pairs.append(("covers", esc(", ".join(s["cover"]))
                      + " (plates and text: boxes from the text detector, whatever the face region shape)"))
    if "region_shape" in s or "region_scale" in s:
        pairs.append(("region", f"{esc(s.get('region_shape', '?'))}, {fmt(s.get('region_scale'), 2)}\u00d7 the face box"))
    if "threshold" in s:
        pairs.append(("detector", f"confidence \u2265 {fmt(s.get('threshold'), 2)}"
                      + (", tiled small-face pass" if s.get("tiles") else "")
                      + (f", faces \u2265 {fmt(s.get('min_face'), 0)} px" if number(s.get("min_face")) else "")))
    if "pad_frames" in s:
        pairs.append(("video", f"covered {esc(s.get('pad_frames'))} frames before/after each sighting; "
                               f"audio {esc(s.get('audio', '?'))}"))
    if "verify" in s:
        pairs.append(("verification", "on" if s.get("verify") else "off"))
    full = kv([(k, short(v)) for k, v in flat(s)])
    block = (kv(pairs) + (f"<details><summary>All settings</summary>{full}</details>" if full else ""))
    return banner_html, block


def _distribution(run) -> tuple[str, float]:
    """(plot html, x_max for per-face meters)."""
    points = []
    thresholds = {}
    for f in run.files:
        if not f.ok or f.verification is None:
            continue
        for j, v in enumerate(f.verification.verdicts):
            if v.distance is None:
                continue
            label = f"{f.name}: " + (f"track {v.track_id}" if v.track_id is not None else f"face {j + 1}")
            line = v.evidence.line  # each face's own leak line (size and control), when measured
            line = v.threshold if line is None else line
            points.append((v.distance, v.leaks, label, line, v.status == "pass"))
            thresholds[round(line, 9)] = line
    if not points:
        return "", 1.0
    if len(thresholds) <= 1:
        t = next(iter(thresholds.values()), None)
        plot = distance_plot_html([(d, leak, label) for d, leak, label, *_ in points], t)
        x_max = max([d for d, *_ in points] + ([t * 1.5] if t else [])) * 1.05
    else:  # files measured against different thresholds: plot margins
        plot = distance_plot_html([(d - ft, leak, label) for d, leak, label, ft, _ in points if ft is not None], 0.0,
                                  xlabel="margin: distance minus that face's leak line",
                                  threshold_label="leak line", label_value=False)
        x_max = max([d for d, *_ in points] + [t * 1.5 for t in thresholds.values()]) * 1.05
    n_leak, n_pass = sum(1 for p in points if p[1]), sum(1 for p in points if p[4])
    rest = len(points) - n_leak - n_pass  # a distance, but no decision: indistinct to the recognizer
    caption = (f"{plural(len(points), 'face')} with a distance: {n_pass} pass, {n_leak} leaking"
               + (f", {rest} indistinct to the recognizer (no pass to show)" if rest else "")
               + ". Each dot is one face or track: "
               "its distance to its own original after the strongest attack. Left of the dashed line "
               "a recognizer would still match it.")
    return f'<figure class="distfig">{plot}<figcaption>{esc(caption)}</figcaption></figure>', x_max


def _help_html() -> str:
    items = [
        ("distance", "how different the anonymized face is from its own original, measured by a face "
                     "recognizer (dlib). veil compares each face only with itself: no gallery, no search."),
        ("impostor threshold", "the distance below which fewer than 1 in 1,000 pairs of different people fall. "
                               "A covered face closer than this to its own original could still be recognized."),
        ("leak line", "the distance under which a covered face leaks: the impostor threshold for a face of "
                      f"that size, or {LEAK_MARGIN:.2f} under the control (the original against a flat patch: "
                      "what a cover with no face left gives), whichever is lower."),
        ("margin", "distance minus leak line: positive is safe, negative is a leak."),
        ("evidence", "what verification can say about each face: leak; pass (measured, clear of a line high "
                     "enough to catch a weak blur); indistinct (the recognizer barely tells the original from "
                     "a flat patch, so no pass can be shown); too small (with how often even the uncovered "
                     "face is matched at that size); low confidence (may not be a face: covered, not "
                     "measured); not measurable (landmarks failed, flat original). Partly covered: the "
                     "covered region misses an eye or the nose, a leak whatever the recognizer says."),
        ("attack", "an attempt to undo the anonymization before measuring (deblurring, de-pixelation, "
                   "inpainting, averaging a track's frames); the verdict uses the attack that came closest."),
        ("escalation", "a leaking face was re-rendered stronger until it passed."),
        ("residual detection", "a face the detector still finds in the output outside every covered region."),
        ("timeline", "one row per tracked face; detected frames in blue, frames filled in between detections "
                     "(interpolated) in orange, safety padding before and after in grey; dashed red lines "
                     "are scene cuts."),
    ]
    return ("<details><summary>How to read this report</summary>"
            + kv([(k, esc(v)) for k, v in items]) + "</details>")


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
    states = [file_state(f) for f in run.files]
    run_cls, headline, details = _run_state(run, summary, [s[0] for s in states if s[0] != "fail"])
    banners, settings_block = _settings_html(run.settings.to_dict(), list(summary.warnings))
    dist_html, x_max = _distribution(run)
    budget = [MAX_THUMBS_TOTAL]
    sections = []
    full = _drawn_in_full(states)
    for i, (f, state) in enumerate(zip(run.files, states)):
        if i not in full:
            continue
        try:
            sections.append(file_section(i, f, state, settings=run.settings, thumbs_budget=budget,
                                          run_input_hash=run.input_hash,
                                          thumbnails=thumbnails, x_max=x_max))
        except Exception as exc:  # noqa: BLE001 - one odd entry must not lose the whole report
            sections.append(f'<section class="file warn" id="f{i}"><h2>{esc(f.name)}</h2>'
                            f'<p class="error">This entry could not be drawn ({esc(type(exc).__name__)}: '
                            f"{esc(exc)}); see the JSON report.</p></section>")

    stats_html, index, skipped = _stats_html(run, summary), _index_html(run, states, full), _skipped_html(run)
    evidence_block = evidence_table_html(summary.evidence)
    date = created.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    detail_html = "".join(f"<p>{esc(d)}</p>" for d in details)
    dist_block = (f'<div class="box"><h2>Distances against each face\u2019s leak line</h2>{dist_html}</div>'
                  if dist_html else "")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="veil {esc(__version__)}">
<title>veil report: {esc(headline)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<div class="verdict {run_cls}" role="status"><h1>{esc(headline)}</h1>{detail_html}
<p>{esc(run.command)} &middot; veil {esc(__version__)} &middot; {esc(date)}</p></div>
{banners}
<div class="stats">{stats_html}</div>
{evidence_block}
<div class="box"><h2>Settings</h2>{settings_block}{_help_html()}</div>
{dist_block}
{index}
{_earlier_html(run)}
{skipped}
{"".join(sections)}
<footer>Made by veil {esc(__version__)} on {esc(date)}. This page is self-contained: it loads nothing from
any network. Thumbnails are cut from the anonymized outputs only, never from the originals, and a face that
still matches its original is never shown. Full details: veil-report.json beside this file.</footer>
</main>
</body>
</html>
"""


def _stats_html(run, summary) -> str:
    stats = [("files", summary.files), ("ok", summary.ok), ("failed", summary.failed - summary.unfinished)]
    if summary.unfinished:
        stats.append(("not done (interrupted)", summary.unfinished))
    stats.append(("faces covered", summary.faces))
    stats += [(name, summary.covered[kind])  # --cover plates,text
              for kind, name in (("plate", "plates covered"), ("text", "text covered")) if kind in summary.covered]
    videos = [f for f in run.files if f.ok and f.kind == "video"]
    if videos:  # a photo is one frame: counted in summary.frames, but it says nothing on this tile
        stats.append(("video frames", sum(f.frames or 0 for f in videos)))
    if run.resumed:
        stats.append(("done by an earlier run", run.resumed))
    if summary.skipped:
        stats.append(("skipped (not media)", summary.skipped))
    if run.verified:
        stats.append(("leaking files", summary.leaks))
    stats.append(("seconds", fmt(summary.seconds, 1)))
    return "".join(f'<div class="stat"><b>{v if isinstance(v, str) else esc(v)}</b>{esc(k)}</div>'
                   for k, v in stats)


def _drawn_in_full(states: list) -> set[int]:
    """Indices of the files drawn in full: all, or :data:`MAX_SECTIONS` of them by ``_SECTION_ORDER``."""
    order = sorted(range(len(states)), key=lambda i: (_SECTION_ORDER.get(states[i][0], 5), i))
    return set(order[:MAX_SECTIONS])


def _index_html(run, states: list, full: set[int]) -> str:
    if not run.files:
        return ""
    attention = sum(1 for s in states if s[0] != "pass")
    lines = []
    for i, (f, s) in enumerate(zip(run.files, states)):
        if i in full:
            lines.append(f'<li><a href="#f{i}">{badge(s[0], s[1])} <span class="n">{esc(f.name)}</span></a></li>')
        else:  # this line is all the page shows of it
            lines.append(f'<li id="f{i}">{badge(s[0], s[1])} {esc(f.name)} <span class="muted">{esc(s[2])}</span></li>')
    capped = len(full) < len(run.files)
    note = (f'<p class="muted">{len(full)} of {len(run.files)} files are drawn in full below (those that need '
            f"attention first); the others are one line each here. Every file's details are in veil-report.json."
            "</p>" if capped else "")
    open_attr = " open" if len(run.files) <= 30 or capped else ""
    return (f'<details class="box"{open_attr}><summary>Files ({len(run.files)}'
            + (f", {attention} need attention" if attention else "") + f')</summary>{note}'
            f'<ol class="index">{"".join(lines)}</ol></details>')


def _earlier_html(run) -> str:
    """The outputs earlier runs left in the folder (``earlier_runs``): publishing the folder publishes them too."""
    if not run.earlier:
        return ""
    rows = []
    for entry in run.earlier[:MAX_SECTIONS]:
        name, verdict = entry_name_and_verdict(entry)
        review = " (edited in veil review)" if entry.get("review") else ""
        rows.append(f'<li><span class="mono">{esc(name)}</span>: {esc(verdict)}{esc(review)}</li>')
    more = len(run.earlier) - len(rows)
    if more > 0:
        rows.append(f"<li>and {more} more</li>")
    return (f'<div class="box"><h2>Also in this folder: {plural(len(run.earlier), "output")} of earlier runs</h2>'
            "<p>This run did not redo them; they are described under <code>earlier_runs</code> in "
            "veil-report.json, as those runs wrote them. Look at them too before publishing the folder.</p>"
            f"<ul>{''.join(rows)}</ul></div>")


def _skipped_html(run) -> str:
    if not run.skipped:
        return ""
    lis = "".join(f'<li class="mono">{esc(s)}</li>' for s in run.skipped[:500])
    return (f'<details class="box"><summary>{plural(len(run.skipped), "file")} skipped: not a photo '
            f"or video</summary><ul>{lis}</ul></details>")


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
