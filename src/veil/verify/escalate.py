"""Auto-escalation: re-render a leaking face with stronger settings until it passes.

Only the reversible modes escalate: ``blur`` (stronger sigma, then ``fill``)
and ``pixelate`` (fewer blocks, then ``fill``). ``noise`` falls back to
``fill``; ``fill`` has nothing stronger (a face leaking under ``fill`` means
the region missed it, which escalation cannot fix). :func:`escalate` is the one
path for photos and videos: the caller supplies a render function that
re-renders with per-face settings and returns the new verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Mapping

__all__ = ["Setting", "EscalationStep", "Escalation", "escalation_plan", "escalate"]

#: Upper bound of ``Config.blur_strength``.
MAX_BLUR_STRENGTH = 2.0
PIXELATE_STEPS = (8, 6, 4)
BLUR_FACTORS = (2.0, 4.0)


@dataclass(frozen=True)
class Setting:
    """One anonymizer setting to try: a mode and its strength parameter."""

    mode: str
    blur_strength: float | None = None
    pixelate_blocks: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode}
        if self.blur_strength is not None:
            out["blur_strength"] = round(float(self.blur_strength), 4)
        if self.pixelate_blocks is not None:
            out["pixelate_blocks"] = int(self.pixelate_blocks)
        return out

    def config_changes(self) -> dict[str, Any]:
        """Keyword changes for ``Config.replace`` that apply this setting."""
        out: dict[str, Any] = {"mode": self.mode}
        if self.blur_strength is not None:
            out["blur_strength"] = float(self.blur_strength)
        if self.pixelate_blocks is not None:
            out["pixelate_blocks"] = int(self.pixelate_blocks)
        return out


def escalation_plan(mode: str, *, blur_strength: float = 0.25, pixelate_blocks: int = 10) -> list[Setting]:
    """Stronger settings to try, in order, for a face that leaks under ``mode``.

    Parameters
    ----------
    mode : {'blur', 'pixelate', 'noise', 'fill'} or ``Mode``
    blur_strength : float
        Current blur sigma as a fraction of the face width.
    pixelate_blocks : int
        Current blocks across the face.

    Returns
    -------
    list of Setting
        blur: strength x2, x4 (capped at 2.0), then fill; pixelate: 8, 6, 4
        blocks (those below the current count), then fill; noise: fill;
        fill: nothing.

    Examples
    --------
    >>> [s.to_dict() for s in escalation_plan('pixelate', pixelate_blocks=7)]
    [{'mode': 'pixelate', 'pixelate_blocks': 6}, {'mode': 'pixelate', 'pixelate_blocks': 4}, {'mode': 'fill'}]
    """
    mode = str(getattr(mode, "value", mode))
    if mode == "blur":
        steps, seen = [], set()
        for f in BLUR_FACTORS:
            s = min(blur_strength * f, MAX_BLUR_STRENGTH)
            if s > blur_strength and s not in seen:
                seen.add(s)
                steps.append(Setting("blur", blur_strength=s))
        return steps + [Setting("fill")]
    if mode == "pixelate":
        return [Setting("pixelate", pixelate_blocks=b) for b in PIXELATE_STEPS if b < pixelate_blocks] + [Setting("fill")]
    if mode == "noise":
        return [Setting("fill")]
    if mode == "fill":
        return []
    raise ValueError(f"unknown mode {mode!r}")


@dataclass(frozen=True)
class EscalationStep:
    """One attempt: the setting tried and its verdict (anything with ``leaks`` and ``distance``)."""

    setting: Setting
    verdict: Any

    @property
    def leaks(self) -> bool:
        return bool(getattr(self.verdict, "leaks"))

    def __str__(self) -> str:
        s = self.setting
        what = s.mode
        if s.blur_strength is not None:
            what += f" strength {s.blur_strength:g}"
        if s.pixelate_blocks is not None:
            what += f" {s.pixelate_blocks} blocks"
        d = getattr(self.verdict, "distance", None)
        return f"{what}: {'leak' if self.leaks else 'pass'} (" + (
            f"distance {d:.3f})" if d is not None else "no distance)")


@dataclass
class Escalation:
    """The outcome of :func:`escalate`.

    Attributes
    ----------
    verdicts : dict
        Key -> the final verdict (of the last rendering).
    overrides : dict
        Key -> the ``Config`` in force for that face in the last rendering.
    steps : dict
        Key -> the :class:`EscalationStep` s tried for it, in order.
    """

    verdicts: dict
    overrides: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)


def escalate(config, verdicts: Mapping[Hashable, Any],
             render: Callable[[dict], Mapping[Hashable, Any]]) -> Escalation:
    """Re-render leaking faces stronger, step by step of :func:`escalation_plan`, until none leaks.

    Each round gives every face that still leaks the next setting and calls
    ``render`` once with every override so far, so the verdicts always describe
    what is written.

    Parameters
    ----------
    config : veil.config.Config
        The run's settings; only reversible modes have a plan.
    verdicts : mapping
        Key (a face index, a track id) -> verdict of the first rendering.
    render : callable(overrides) -> mapping
        Re-renders with ``overrides`` (key -> stronger Config) and returns the
        new verdicts of at least the overridden keys.

    Returns
    -------
    Escalation
    """
    result = Escalation(dict(verdicts))
    if not config.reversible:
        return result
    for setting in escalation_plan(config.mode, blur_strength=config.blur_strength,
                                   pixelate_blocks=config.pixelate_blocks):
        leaking = [k for k, v in result.verdicts.items() if v.leaks]
        if not leaking:
            break
        for key in leaking:
            result.overrides[key] = config.replace(**setting.config_changes())
        result.verdicts.update(render(dict(result.overrides)))
        for key in leaking:
            result.steps.setdefault(key, []).append(EscalationStep(setting, result.verdicts[key]))
    return result
