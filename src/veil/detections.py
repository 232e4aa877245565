"""`Detections`: the face boxes of one picture or frame, as numpy arrays.

One container flows through every stage (detect -> track -> region ->
anonymize -> verify -> report). It is validated on construction, immutable in
practice (arrays are copied in and marked read-only) and indexable like an
array, in the manner of ``supervision.Detections``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

__all__ = ["Detections", "Source", "Kind", "kinds_text", "as_boxes", "as_rows"]


class Source(enum.IntEnum):
    """Where a box on a frame came from."""

    DETECTED = 0  #: the detector found it on this frame
    INTERPOLATED = 1  #: a track's gap between two detections
    PADDED = 2  #: a track extended before its first / after its last detection
    PREDICTED = 3  #: a track's motion prediction kept beside a raw detection
    MANUAL = 4  #: drawn by a person (review app or an edits file)


class Kind(enum.IntEnum):
    """What a box covers. Tracks never mix kinds; each kind has its own detector."""

    FACE = 0
    PLATE = 1  #: a licence plate
    TEXT = 2  #: a word or line of text

    @property
    def label(self) -> str:
        """The name used in reports and on the command line (``'face'``, ...)."""
        return self.name.lower()

    def counted(self, n: int) -> str:
        """``n`` regions of this kind in words: ``'3 faces'``, ``'1 plate'``, ``'2 text'`` (text is no count noun)."""
        return f"{n} {self.label}{'s' * (n != 1 and self is not Kind.TEXT)}"

    @classmethod
    def parse(cls, label: "str | int | Kind") -> "Kind":
        """``Kind`` from its label (``'plate'``, or ``'plates'`` as ``--cover`` names it) or its
        value (a whole number); ``ValueError`` otherwise."""
        if isinstance(label, str):
            name = label.strip().upper()
            try:
                return cls[name[:-1] if name in ("FACES", "PLATES") else name]
            except KeyError:
                raise ValueError(f"unknown region kind {label!r}; expected one of "
                                 f"{', '.join(k.label for k in cls)}") from None
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            if not (isinstance(label, (float, np.floating)) and float(label).is_integer()):
                raise ValueError(f"a region kind is a label or a whole number, not {label!r}")
        return cls(int(label))


def kinds_text(counts: dict) -> str:
    """``{"face": 3, "plate": 2, "text": 1}`` -> ``'3 faces, 2 plates, 1 text'`` (keys: labels or kinds)."""
    return ", ".join(Kind.parse(k).counted(n) for k, n in counts.items())


_COLUMNS = ("xyxy", "scores", "landmarks", "track_id", "source", "kind")


def as_boxes(value, name: str = "boxes") -> np.ndarray:
    """``value`` as a new float32 ``(N, 4)`` array of finite ``x1, y1, x2, y2`` boxes with
    ``x2 >= x1`` and ``y2 >= y1`` (one box may be given flat); ``ValueError`` naming ``name``
    otherwise. Nothing is reshaped: eight numbers are not two boxes."""
    try:
        boxes = np.array(value, dtype=np.float32, copy=True)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (N, 4) boxes, not {value!r:.60}") from None
    if boxes.size == 0:
        boxes = np.zeros((0, 4), np.float32)
    elif boxes.shape == (4,):  # one box
        boxes = boxes[None]
    elif boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must be (N, 4) boxes, not shape {boxes.shape}")
    if not np.all(np.isfinite(boxes)):
        raise ValueError(f"{name} must be finite")
    if np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1]):
        raise ValueError(f"{name} must satisfy x2 >= x1 and y2 >= y1")
    return boxes


def as_rows(index):
    """``index`` for picking rows of per-box columns, the row axis kept: an int (or a 0-d integer
    array) picks one row; slices, index lists and boolean masks as numpy takes them. A lone bool
    is refused (``TypeError``): numpy would read it as a new axis, ``True`` as row 1 elsewhere."""
    if isinstance(index, (bool, np.bool_)) or (isinstance(index, np.ndarray) and index.ndim == 0
                                               and index.dtype == bool):
        raise TypeError("a single bool picks no rows: give a boolean mask with one value per row")
    if isinstance(index, (int, np.integer)) or (isinstance(index, np.ndarray) and index.ndim == 0):
        return [int(index)]
    return index


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Detections:
    """Face boxes of one image or frame.

    Parameters
    ----------
    xyxy : (N, 4) array_like of float
        Boxes as ``x1, y1, x2, y2`` in pixels of the upright picture,
        ``x2 >= x1`` and ``y2 >= y1``. Stored as float32.
    scores : (N,) array_like of float, optional
        Detector confidence in [0, 1]. Defaults to 1.
    landmarks : (N, 5, 2) array_like of float, optional
        Eyes, nose, mouth corners as ``(x, y)``; NaN where unknown.
    track_id : (N,) array_like of int, optional
        Track of each box, -1 where the box belongs to no track.
    source : (N,) array_like of int, optional
        A :class:`Source` value per box. Defaults to ``DETECTED``.
    kind : (N,) array_like of int, optional
        A :class:`Kind` value per box. Defaults to ``FACE``.

    Examples
    --------
    >>> d = Detections([[10, 10, 50, 60]], scores=[0.9])
    >>> len(d), d.widths.tolist()
    (1, [40.0])
    >>> len(d[d.scores > 0.95])
    0
    >>> d == Detections([[10, 10, 50, 60]], scores=[0.9])
    True
    """

    xyxy: np.ndarray
    scores: np.ndarray = field(default=None)  # type: ignore[assignment]
    landmarks: np.ndarray = field(default=None)  # type: ignore[assignment]
    track_id: np.ndarray = field(default=None)  # type: ignore[assignment]
    source: np.ndarray = field(default=None)  # type: ignore[assignment]
    kind: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        xyxy = as_boxes(self.xyxy, "xyxy")
        n = len(xyxy)

        def column(name, value, default, dtype, shape):
            if value is None:
                return np.full((n, *shape), default, dtype=dtype)
            raw = np.asarray(value)
            if name == "kind" and raw.dtype.kind in "UO":  # labels: 'face', 'plate', 'text'
                raw = np.array([int(Kind.parse(k)) for k in raw.ravel()]).reshape(raw.shape)
            if np.issubdtype(dtype, np.integer) and raw.size and raw.dtype.kind == "f" \
                    and not np.array_equal(raw, np.round(raw)):
                raise ValueError(f"{name} must hold whole numbers, not {raw.ravel()[:4].tolist()}")
            arr = np.array(raw, dtype=dtype, copy=True)
            if arr.size == 0 and n == 0:
                return arr.reshape((0, *shape))
            if arr.shape != (n, *shape):
                raise ValueError(f"{name} must have shape {(n, *shape)} (one per box), not {arr.shape}")
            return arr

        scores = column("scores", self.scores, 1.0, np.float32, ())
        landmarks = column("landmarks", self.landmarks, np.nan, np.float32, (5, 2))
        track_id = column("track_id", self.track_id, -1, np.int64, ())
        source = column("source", self.source, int(Source.DETECTED), np.int8, ())
        kind = column("kind", self.kind, int(Kind.FACE), np.int8, ())
        if scores.size and not (np.all(np.isfinite(scores)) and scores.min() >= 0 and scores.max() <= 1 + 1e-6):
            raise ValueError("scores must be confidences in [0, 1]")
        if source.size and (source.min() < 0 or source.max() > max(Source)):
            raise ValueError("source holds an unknown value")
        if kind.size and (kind.min() < 0 or kind.max() > max(Kind)):
            raise ValueError("kind holds an unknown value")
        for name, arr in (("xyxy", xyxy), ("scores", scores), ("landmarks", landmarks),
                          ("track_id", track_id), ("source", source), ("kind", kind)):
            object.__setattr__(self, name, _readonly(arr))

    # -- construction -------------------------------------------------------
    @classmethod
    def empty(cls) -> "Detections":
        """No boxes."""
        return cls(np.zeros((0, 4), np.float32))

    @classmethod
    def concatenate(cls, parts: "list[Detections] | tuple[Detections, ...]") -> "Detections":
        """Join several sets of boxes (in order)."""
        wrong = next((p for p in parts if not isinstance(p, Detections)), None)
        if wrong is not None:
            raise TypeError(f"Detections.concatenate joins Detections, not {type(wrong).__name__}")
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
            landmarks=np.concatenate([p.landmarks for p in parts]),
            track_id=np.concatenate([p.track_id for p in parts]),
            source=np.concatenate([p.source for p in parts]),
            kind=np.concatenate([p.kind for p in parts]),
        )

    def replace(self, **changes) -> "Detections":
        """A copy with some columns replaced."""
        cols = {k: getattr(self, k) for k in _COLUMNS}
        cols.update(changes)
        return Detections(**cols)

    # -- array protocol -----------------------------------------------------
    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index) -> "Detections":
        index = as_rows(index)
        return Detections(**{k: getattr(self, k)[index] for k in _COLUMNS})

    def __iter__(self) -> Iterator["Detections"]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"Detections(n={len(self)}, xyxy={self.xyxy.tolist()!r})"

    def __eq__(self, other) -> bool:
        """Equal when every column holds the same values (NaN landmarks equal NaN)."""
        if not isinstance(other, Detections):
            return NotImplemented
        return all(np.array_equal(getattr(self, k), getattr(other, k), equal_nan=k in ("xyxy", "scores", "landmarks"))
                   for k in _COLUMNS)

    __hash__ = None  # type: ignore[assignment]  # equal by value, and its arrays are not hashable

    # -- derived ------------------------------------------------------------
    @property
    def widths(self) -> np.ndarray:
        """(N,) box widths in pixels."""
        return self.xyxy[:, 2] - self.xyxy[:, 0]

    @property
    def heights(self) -> np.ndarray:
        """(N,) box heights in pixels."""
        return self.xyxy[:, 3] - self.xyxy[:, 1]

    @property
    def centers(self) -> np.ndarray:
        """(N, 2) box centres ``(x, y)``."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2], axis=1)

    def clip(self, width: int, height: int) -> "Detections":
        """Boxes clipped to a ``width`` x ``height`` picture."""
        xyxy = self.xyxy.copy()
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
        return self.replace(xyxy=xyxy)

    @classmethod
    def from_records(cls, records: list[dict]) -> "Detections":
        """The inverse of :meth:`to_records` (landmarks, which records leave out, are NaN)."""
        if not records:
            return cls.empty()
        return cls([r["box"] for r in records], scores=[r["score"] for r in records],
                   track_id=[r.get("track", -1) for r in records],
                   source=[Source[r["source"].upper()] for r in records],
                   kind=[Kind.parse(r.get("kind", "face")) for r in records])

    def to_records(self) -> list[dict]:
        """JSON-ready list of boxes (rounded to 0.1 px): no pixels, only geometry."""
        out = []
        for i in range(len(self)):
            rec = {
                "box": [round(float(v), 1) for v in self.xyxy[i]],
                "score": round(float(self.scores[i]), 3),
                "source": Source(int(self.source[i])).name.lower(),
            }
            if self.track_id[i] >= 0:
                rec["track"] = int(self.track_id[i])
            if self.kind[i] != Kind.FACE:  # faces stay as schema 1 wrote them
                rec["kind"] = Kind(int(self.kind[i])).label
            out.append(rec)
        return out


def box_intersections(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise intersection areas of two sets of ``xyxy`` boxes, in their own dtype.

    Parameters
    ----------
    a : (N, 4) ndarray
    b : (M, 4) ndarray

    Returns
    -------
    inter : (N, M) ndarray
        Area of ``a[i]`` and ``b[j]``'s overlap (0 where they do not meet).
    area_a : (N,) ndarray
    area_b : (M,) ndarray
    """
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter, area_a, area_b


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two sets of ``xyxy`` boxes.

    Parameters
    ----------
    a : (N, 4) ndarray
    b : (M, 4) ndarray

    Returns
    -------
    (N, M) ndarray of float32
    """
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    inter, area_a, area_b = box_intersections(a, b)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)
