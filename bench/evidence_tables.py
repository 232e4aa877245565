"""Tables of ``bench/verification_evidence.py``: the raw scores judged before and after.

Imported by that script (``--report`` reprints them from its JSON files
without measuring again). The "before" rule is ``veil.verify`` as it was
before issue 13, written out here so that it stays comparable; the "after"
rule is ``veil.verify.evidence.classify`` (what ``FaceVerdict.evidence``
derives), with the landmarks the region misses where the JSON has them.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np

import benchlib as bl
from leak_rate import fmt_rate

OLD_THRESHOLD = 0.5293  # veil.verify.threshold.IMPOSTOR_THRESHOLD before issue 13
OLD_MIN_SCORE = 0.5
VEIL_COVERS = ("veil-fill", "veil-noise")
SWEEP = (0.0, 0.04, 0.08, 0.10, 0.12, 0.14, 0.15, 0.16, 0.17, 0.18, 0.20, 0.25)


# -- the two rules -------------------------------------------------------------------------
def old_class(face: dict, cover: str) -> str:
    """``veil.verify`` before issue 13: one threshold, control gate at that threshold."""
    if face["score"] < OLD_MIN_SCORE:
        return "low_confidence"
    c = face["covers"][cover]
    if c.get("unverifiable"):
        return c["unverifiable"]
    if c.get("control", 1.0) < OLD_THRESHOLD:
        return "indistinct"
    return "leak" if min(c["distances"].values()) < OLD_THRESHOLD else "pass"


def new_evidence(face: dict, cover: str, margin: float | None = None):
    from veil.verify import evidence as ev

    c = face["covers"].get(cover, {})  # low-confidence faces were not verified
    d = min(c["distances"].values()) if c.get("distances") else None
    return ev.classify(distance=d, control=c.get("control"), face_width=face["width"], score=face["score"],
                       unverifiable=c.get("unverifiable"), uncovered=tuple(c.get("uncovered", ())), margin=margin)


def new_class(face, cover, margin=None) -> str:
    return new_evidence(face, cover, margin).kind


# -- helpers ---------------------------------------------------------------------------------
def size_key(face: dict) -> str:
    if face["set"] == "lfw":
        return str(face["size"])
    from verification_evidence import width_bin

    return width_bin(face["width"])


def _order(keys):
    def k(s):
        s = s.lstrip(">=")
        return float(s.split("-")[0])
    return sorted(keys, key=k)


def with_cover(faces, cover):
    return [f for f in faces if cover in f["covers"]]


def by_size(faces) -> list[tuple[str, list[dict]]]:
    """Faces grouped by width bin (LFW: by calibrated width), narrowest first."""
    groups = defaultdict(list)
    for f in faces:
        groups[size_key(f)].append(f)
    return [(key, groups[key]) for key in _order(groups)]


# -- tables ------------------------------------------------------------------------------------
def false_leak_table(faces, sets) -> str:
    rows = []
    for s in sets:
        fs = [f for f in faces if f["set"] == s]
        for cover in VEIL_COVERS:
            fc = with_cover(fs, cover)
            if not fc:
                continue
            photos = {f["photo"] for f in fs}
            old = [f for f in fc if old_class(f, cover) == "leak"]
            new = [f for f in fc if new_class(f, cover) == "leak"]
            rows.append([s, cover, len(photos), len(fc), sum(old_class(f, cover) in ("leak", "pass") for f in fc),
                         len(old), len({f["photo"] for f in old}),
                         sum(new_class(f, cover) in ("leak", "pass", "indistinct") for f in fc),
                         len(new), len({f["photo"] for f in new})])
    return bl.md_table(["set", "cover", "photos", "faces", "measured before", "**false leaks before**",
                        "photos flagged before", "measured after", "**false leaks after**", "photos flagged after"],
                       rows)


def distinct(face: dict, cover: str, margin: float | None = None) -> bool:
    """The leak line of this face reaches ``MIN_LINE`` (a non-leak would be a ``pass``, not ``indistinct``)."""
    from veil.verify import evidence as ev

    c = face["covers"].get(cover, {})
    if c.get("control") is None:
        return False
    return ev.leak_line(c["control"], face["width"], margin=margin) >= ev.MIN_LINE


def detection_table(faces, cover: str, lfw: bool) -> str:
    """Share of faces flagged as leaking, by width, before and after; and among distinct faces."""
    from veil.verify import evidence as ev

    fc = [f for f in with_cover(faces, cover) if (f["set"] == "lfw") == lfw]
    if not fc:
        return ""
    rows = []
    for key, fs in by_size(fc):
        w = float(np.median([f["width"] for f in fs]))
        old = sum(old_class(f, cover) == "leak" for f in fs)
        new = sum(new_class(f, cover) == "leak" for f in fs)
        dis = [f for f in fs if distinct(f, cover)]
        new_d = sum(new_class(f, cover) == "leak" for f in dis)
        rows.append([key, len(fs), f"{100 * ev.match_rate(w):.0f}%", fmt_rate(old, len(fs)), fmt_rate(new, len(fs)),
                     fmt_rate(new_d, len(dis))])
    return bl.md_table(["width (px)", "faces", "uncovered match rate", "flagged before", "**flagged after**",
                        "flagged after, distinct faces (leak line >= MIN_LINE)"], rows)


def evidence_by_size(faces, cover: str, sets) -> str:
    """Share of faces with a measured distance before and after, and the classes after, by width."""
    from veil.verify import evidence as ev

    def row(key, fs):
        old = Counter(old_class(f, cover) for f in fs)
        new = Counter(new_class(f, cover) for f in fs)
        n = len(fs)
        return [key, n, f"{100 * (old['leak'] + old['pass']) / n:.0f}%",
                f"{100 * sum(new[k] for k in ev.MEASURED) / n:.0f}%",
                f"{100 * (n - new[ev.NOT_MEASURABLE]) / n:.0f}%"] + [new[k] for k in ev.EVIDENCE_CLASSES]

    fc = [f for f in with_cover(faces, cover) if f["set"] in sets]
    rows = [row(key, fs) for key, fs in by_size(fc)] + ([row("all", fc)] if fc else [])
    return bl.md_table(["width (px)", "faces", "distance measured before", "**measured after**",
                        "evidence with a number after"] + list(ev.EVIDENCE_CLASSES), rows)


def sweep_table(faces, weak: list[str]) -> str:
    """False leaks of fill/noise and caught weak covers as the control margin changes."""
    from veil.verify import evidence as ev

    dev = [f for f in faces if f["set"] != "lfw"]
    lfw = [f for f in faces if f["set"] == "lfw"]
    rows = []
    for m in SWEEP:
        row = [f"{m:.2f}"]
        for cover in VEIL_COVERS:
            fc = with_cover(dev, cover)
            row.append(sum(new_class(f, cover, m) == "leak" for f in fc) if fc else "-")
        for cover in weak:
            for pool in (dev, lfw):
                fc = [f for f in with_cover(pool, cover)
                      if f["width"] >= 48 and ev.recognizable(f["width"]) and distinct(f, cover, m)]
                k = sum(new_class(f, cover, m) == "leak" for f in fc)
                row.append(f"{100 * k / len(fc):.1f}% ({len(fc)})" if fc else "-")
        rows.append(row)
    head = ["margin", "fill false leaks (dev)", "noise false leaks (dev)"]
    for cover in weak:
        head += [f"{cover} caught, dev", f"{cover} caught, LFW"]
    return bl.md_table(head, rows)


def gap_table(faces, covers) -> str:
    """``control - distance`` by cover and width: the curves the margin is read from."""
    by = defaultdict(list)
    for f in faces:
        for cover in covers:
            c = f["covers"].get(cover)
            if not c or not c.get("distances") or c.get("control") is None or f["score"] < OLD_MIN_SCORE:
                continue
            group = "lfw" if f["set"] == "lfw" else "dev"
            by[(cover, group, _coarse(f["width"]))].append(c["control"] - min(c["distances"].values()))
    rows = []
    for (cover, group, band) in sorted(by, key=lambda k: (covers.index(k[0]), k[1], k[2])):
        g = np.array(by[(cover, group, band)])
        q = np.quantile(g, [0.5, 0.9, 0.99]) if len(g) else [math.nan] * 3
        rows.append([cover, group, band, len(g), f"{g.min():.3f}", f"{q[0]:.3f}", f"{q[1]:.3f}", f"{q[2]:.3f}",
                     f"{g.max():.3f}"])
    return bl.md_table(["cover", "set", "width", "faces", "min", "median", "90%", "99%", "max"], rows)


def _coarse(w: float) -> str:
    return "20-32" if w < 32 else "32-64" if w < 64 else ">=64"


def report(results: list[dict]) -> str:
    faces = [f for r in results for f in r["faces"]]
    sets = list(dict.fromkeys(f["set"] for f in faces))
    covers = list(dict.fromkeys(c for f in faces for c in f["covers"]))
    weak = [c for c in covers if c not in VEIL_COVERS]
    parts = []
    for r in results:
        m = r.get("machine", {})
        parts.append(f"<!-- {r.get('command')} | {m.get('cpu')} x{m.get('cpus')} | load {m.get('loadavg_start')} -> "
                     f"{r.get('loadavg_end')} | wall {r.get('wall_s')} s | git {m.get('git')} -->")
    dev_sets = [s for s in sets if s != "lfw"]
    if any(c in covers for c in VEIL_COVERS) and dev_sets:
        parts += ["### veil's fill and noise: false leaks (target 0)", "", false_leak_table(faces, dev_sets)]
    for cover in weak:
        for lfw in (True, False):
            t = detection_table(faces, cover, lfw)
            if t:
                parts += ["", f"### {cover}: faces flagged as leaking ({'LFW scaled' if lfw else 'dev sets'})", "", t]
    for cover in [c for c in VEIL_COVERS if c in covers]:
        for s in sets:
            parts += ["", f"### Evidence by face width: {cover}, {s}", "", evidence_by_size(faces, cover, [s])]
    if weak or any(c in covers for c in VEIL_COVERS):
        parts += ["", "### control - distance (the margin's curves; detector score >= 0.5)", "",
                  gap_table(faces, covers)]
        parts += ["", "### The control margin: false leaks (all faces) against caught weak covers (distinct faces "
                  ">= 48 px: leak line >= MIN_LINE)",
                  "", sweep_table(faces, [c for c in weak if c in ("blur-2%", "blur-5%", "pixelate-16")])]
    return "\n".join(parts)


def compare(runs: list[dict]) -> str:
    """Decisions of two runs on the faces and covers they share (same set, photo, face, box).

    The earlier run's raw scores judged by today's rule against the later run's:
    a check that the code measuring the raw scores still gives the same decisions.
    """
    earlier, now = runs

    def key(f):
        return f["set"], f.get("size"), f["photo"], f["face"], tuple(f["box"])

    before = {key(f): f for f in earlier["faces"]}
    rows, diffs, worst = Counter(), [], 0.0
    for f in now["faces"]:
        old = before.get(key(f))
        if old is None:
            rows["faces only in the later run"] += 1
            continue
        for cover in f["covers"]:
            if cover not in old["covers"]:
                continue
            a, b = new_evidence(old, cover), new_evidence(f, cover)
            rows["judged"] += 1
            rows["same class" if a.kind == b.kind else "different class"] += 1
            if a.distance is not None and b.distance is not None:
                worst = max(worst, abs(a.distance - b.distance))
            if f["covers"][cover].get("uncovered"):
                rows["partly covered (later run only measures it)"] += 1
            if a.kind != b.kind:
                diffs.append(f"| {f['set']} | {f['photo']} | {f['face']} | {cover} | {a.kind} | {b.kind} | "
                             f"{b.note} |")
    text = [f"### Decisions: {earlier.get('command', '?')} vs {now.get('command', '?')}", "",
            bl.md_table(["", "count"], [[k, v] for k, v in rows.items()]), "",
            f"Largest difference of the strongest attack's distance: {worst:.4f}"]
    if diffs:
        text += ["", "| set | photo | face | cover | earlier | now | now, note |", "|---|---:|---:|---|---|---|---|"] + diffs
    return "\n".join(text)
