"""Scores of the mask study: genuine-match rate at a false-match rate, ROC, look-alikes, bootstrap CIs.

A *condition* (an occlusion and a way of filling it in) gives one embedding per
probe. Each probe is compared with every gallery photo:

* **genuine pairs**: the probe and each *other* photo of the same person
  (never the uncovered original of the probe itself);
* **impostor pairs**: the probe and every photo of every other person.

A pair *matches* when its distance is strictly below the threshold. **TAR** is
the share of genuine pairs that match, **FAR** the share of impostor pairs
that do. The threshold at "FAR 0.1%" is the k-th smallest impostor distance,
``k = ceil(0.001 n) - 1`` (``calibrate_threshold.threshold_index``). Per probe,
as a search would see it: the probe is **found** when its closest gallery
photo is of the same person and matches; it meets a **look-alike** when its
closest photo is of someone else and matches.

Confidence intervals: 95% percentile bootstrap over *identities* (a pair's
weight is the product of how often its probe's and its photo's identities were
drawn), with the same draws for every condition, so differences between
conditions (reconstruction minus none) get paired intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibrate_threshold import QUANTILE, threshold_index
from veil.verify.recognizer import face_distance

__all__ = ["RECONS", "Pairs", "pairs", "own_threshold", "summary", "Bootstrap", "by_gallery_size", "roc", "ci", "crossing", "FAR_GRID"]

#: Ways of filling in a covered face: not at all, OpenCV inpainting, eigenface completion.
RECONS = ("none", "inpaint", "pca")
#: False-match rates at which the ROC is sampled.
FAR_GRID = np.logspace(-4, 0, 33)


@dataclass(frozen=True, eq=False)
class Pairs:
    """All pairs of one condition.

    Attributes
    ----------
    gen, imp : (G,), (I,) float64
        Genuine and impostor distances; ``imp`` sorted ascending.
    gen_probe_id : (G,) int
        Identity of each genuine pair.
    imp_probe_id, imp_gallery_id : (I,) int
        Identities of each impostor pair (same order as ``imp``).
    min_gen, min_imp : (P,) float64
        Per probe: closest photo of the same person / of anyone else (inf if none).
    probe_id : (P,) int
    closest_imp : (P,) int
        Per probe: gallery index of its closest photo of someone else (-1 if none).
    imp_by_id : (P, n_ids) float64
        Per probe: distance to the closest photo of each identity (inf for its own).
    """

    gen: np.ndarray
    gen_probe_id: np.ndarray
    imp: np.ndarray
    imp_probe_id: np.ndarray
    imp_gallery_id: np.ndarray
    min_gen: np.ndarray
    min_imp: np.ndarray
    probe_id: np.ndarray
    closest_imp: np.ndarray
    imp_by_id: np.ndarray


def pairs(probe_emb: np.ndarray, probe_id: np.ndarray, probe_own: np.ndarray,
          gallery_emb: np.ndarray, gallery_id: np.ndarray, *, chunk: int = 32) -> Pairs:
    """Distances of every probe to every gallery photo, split into genuine and impostor pairs.

    Parameters
    ----------
    probe_emb : (P, 128) float
    probe_id : (P,) int
    probe_own : (P,) int
        Gallery index of each probe's own uncovered photo (left out of its genuine pairs).
    gallery_emb : (N, 128) float
    gallery_id : (N,) int
    """
    probe_id = np.asarray(probe_id)
    gallery_id = np.asarray(gallery_id)
    gens, gen_ids, imps, imp_a, imp_b, min_gen, min_imp, closest = [], [], [], [], [], [], [], []
    by_id = np.full((len(probe_emb), int(gallery_id.max()) + 1), np.inf)
    for s in range(0, len(probe_emb), chunk):
        d = np.atleast_2d(face_distance(probe_emb[s:s + chunk], gallery_emb))
        for row, p in zip(d, range(s, s + len(d))):
            same = gallery_id == probe_id[p]
            same[probe_own[p]] = False
            other = gallery_id != probe_id[p]
            gens.append(row[same])
            gen_ids.append(np.full(int(same.sum()), probe_id[p]))
            imps.append(row[other])
            imp_a.append(np.full(int(other.sum()), probe_id[p]))
            imp_b.append(gallery_id[other])
            min_gen.append(row[same].min() if same.any() else np.inf)
            min_imp.append(row[other].min() if other.any() else np.inf)
            closest.append(int(np.flatnonzero(other)[np.argmin(row[other])]) if other.any() else -1)
            np.minimum.at(by_id[p], gallery_id[other], row[other])
    imp = np.concatenate(imps)
    order = np.argsort(imp, kind="stable")
    return Pairs(np.concatenate(gens), np.concatenate(gen_ids), imp[order], np.concatenate(imp_a)[order],
                 np.concatenate(imp_b)[order], np.array(min_gen), np.array(min_imp), probe_id.copy(),
                 np.array(closest, int), by_id)


def own_threshold(p: Pairs, q: float = QUANTILE) -> float:
    """This condition's FAR-q threshold (the calibration rule)."""
    return float(p.imp[threshold_index(len(p.imp), q)]) if len(p.imp) else float("nan")


def _rate(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else float("nan")


def summary(p: Pairs, *, threshold: float, protocol_threshold: float) -> dict:
    """Point estimates of one condition at veil's threshold, the protocol's and its own."""
    own = own_threshold(p)
    found = (p.min_gen < threshold) & (p.min_gen < p.min_imp)
    lookalike = (p.min_imp < threshold) & (p.min_imp < p.min_gen)
    # where the look-alikes land: a few "hub" photos close to many covered probes, or many photos?
    hits = p.closest_imp[lookalike]
    top = int(np.bincount(hits).max()) if len(hits) else 0
    return {
        "lookalike_photos": int(len(np.unique(hits))),
        "lookalike_top_photo_share": top / len(hits) if len(hits) else float("nan"),
        "tar": _rate(p.gen < threshold),
        "far": _rate(p.imp < threshold),
        "tar_protocol": _rate(p.gen < protocol_threshold),
        "own_threshold": own,
        "tar_own": _rate(p.gen < own),
        "found": _rate(found),
        "lookalike": _rate(lookalike),
        "any_false_match": _rate(p.min_imp < threshold),
        "genuine_median": float(np.median(p.gen)) if len(p.gen) else float("nan"),
        "genuine_pairs": int(len(p.gen)),
        "impostor_pairs": int(len(p.imp)),
        "probes": int(len(p.min_gen)),
    }


def by_gallery_size(p: Pairs, sizes, *, threshold: float, draws: int = 40, seed: int = 0) -> dict[int, dict]:
    """The search view as the gallery grows: found first / look-alike first with ``m`` other people.

    For each size ``m`` and each draw, every probe's gallery holds the other
    photos of its own person and all photos of ``m`` other people drawn at
    random (without its own). Returns ``{m: {"found": rate, "lookalike": rate}}``
    (means over draws and probes); sizes above the number of other people are left out.
    """
    rng = np.random.default_rng(seed)
    n_probes, n_ids = p.imp_by_id.shape
    own = ~np.isfinite(p.imp_by_id)
    out = {}
    for m in sizes:
        if m > n_ids - 1:
            continue
        found = look = 0.0
        reps = 1 if m == n_ids - 1 else draws  # everyone else: nothing to draw
        for _ in range(reps):
            keys = rng.random((n_probes, n_ids))
            keys[own] = np.inf  # never draw the probe's own identity
            pick = np.argsort(keys, axis=1)[:, :m]
            best = np.take_along_axis(p.imp_by_id, pick, axis=1).min(axis=1)
            found += np.mean((p.min_gen < threshold) & (p.min_gen < best))
            look += np.mean((best < threshold) & (best < p.min_gen))
        out[int(m)] = {"found": found / reps, "lookalike": look / reps}
    return out


def roc(p: Pairs, far_grid: np.ndarray = FAR_GRID) -> list[float]:
    """TAR at each false-match rate of ``far_grid`` (threshold: that impostor quantile, strict)."""
    if not len(p.imp) or not len(p.gen):
        return [float("nan")] * len(far_grid)
    return [_rate(p.gen < p.imp[threshold_index(len(p.imp), float(f))]) for f in far_grid]


class Bootstrap:
    """Identity-level bootstrap, the same draws for every condition.

    Parameters
    ----------
    n_ids : int
    gallery_id : (N,) int
        Identity of each gallery photo (for the impostor weights' total).
    reps : int
    seed : int
    """

    def __init__(self, n_ids: int, gallery_id: np.ndarray, *, reps: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.counts = np.stack([np.bincount(rng.integers(0, n_ids, n_ids), minlength=n_ids)
                                for _ in range(reps)]).astype(np.float64) if reps else np.zeros((0, n_ids))
        self.photos = np.bincount(np.asarray(gallery_id), minlength=n_ids).astype(np.float64)

    def replicates(self, p: Pairs, *, threshold: float) -> dict[str, np.ndarray]:
        """Per replicate: ``tar`` (at ``threshold``), ``own_threshold`` (FAR 0.1%), ``tar_own`` (at it), ``lookalike``."""
        reps = len(self.counts)
        out = {k: np.full(reps, np.nan) for k in ("tar", "own_threshold", "tar_own", "lookalike")}
        if not reps or not len(p.gen) or not len(p.imp):
            return out
        la = ((p.min_imp < threshold) & (p.min_imp < p.min_gen)).astype(np.float64)
        prefix = max(2000, len(p.imp) // 30)
        for r, c in enumerate(self.counts):
            wg = c[p.gen_probe_id]
            if wg.sum() == 0:
                continue
            out["tar"][r] = wg @ (p.gen < threshold) / wg.sum()
            wp = c[p.probe_id]
            out["lookalike"][r] = wp @ la / wp.sum()
            # total impostor weight: every probe against every photo of the other drawn identities
            g = c @ self.photos
            total = float(np.sum(wp * (g - c[p.probe_id] * self.photos[p.probe_id])))
            cw = np.cumsum(c[p.imp_probe_id[:prefix]] * c[p.imp_gallery_id[:prefix]])
            if cw[-1] < QUANTILE * total:
                cw = np.cumsum(c[p.imp_probe_id] * c[p.imp_gallery_id])
            k = min(int(np.searchsorted(cw, QUANTILE * total, side="left")), len(p.imp) - 1)
            out["own_threshold"][r] = p.imp[k]
            out["tar_own"][r] = wg @ (p.gen < p.imp[k]) / wg.sum()
        return out


def ci(values: np.ndarray) -> list[float]:
    """95% percentile interval of bootstrap replicates (NaN-free), or [nan, nan]."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return [float("nan"), float("nan")]
    return [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))]


def crossing(levels: np.ndarray, rates: np.ndarray, target: float) -> float:
    """Visible share at which a rate, falling as less is visible, first drops below ``target``.

    ``levels`` descending (1.0, 0.9, ...), linear interpolation between the two
    levels around the crossing. ``levels[0]`` if the rate starts below the
    target; 0.0 if it never drops below it (the crossing lies under the last
    level measured); NaN if the first rate is unknown.
    """
    levels = np.asarray(levels, np.float64)
    rates = np.asarray(rates, np.float64)
    if not len(levels) or not np.isfinite(rates[0]):
        return float("nan")
    if rates[0] < target:
        return float(levels[0])
    for i in range(1, len(levels)):
        if rates[i] < target:
            a, b = rates[i - 1], rates[i]
            t = (a - target) / (a - b)
            return float(levels[i - 1] + t * (levels[i] - levels[i - 1]))
    return 0.0
