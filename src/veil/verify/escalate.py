"""Auto-escalation: re-render a leaking face with stronger settings until it passes.

Only the reversible modes escalate: ``blur`` (stronger sigma, then ``fill``)
and ``pixelate`` (fewer blocks, then ``fill``). ``noise`` falls back to
``fill``; ``fill`` has nothing stronger (a face leaking under ``fill`` means
the region missed it, which escalation cannot fix). The pipeline supplies the
rendering and the verification; this module only orders the attempts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

__all__ = ["Setting", "EscalationStep", "escalation_plan", "escalate_until_safe"]

#: Upper bound of ``Config.blur_strength``.
MAX_BLUR_STRENGTH = 2.0
PIXELATE_STEPS = (8, 6, 4)
BLUR_FACTORS = (2.0, 4.0)

T = TypeVar("T")


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
    """One attempt: the setting tried and its verdict (anything with ``leaks`` / ``to_dict``)."""

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
        return f"{what}: {'leak' if self.leaks else 'pass'}" + (f" (distance {d:.3f})" if d is not None else "")

    def to_dict(self) -> dict[str, Any]:
        out = {"setting": self.setting.to_dict(), "leaks": self.leaks}
        for key in ("distance", "margin", "strongest_attack"):
            value = getattr(self.verdict, key, None)
            if value is not None:
                out[key] = round(value, 4) if isinstance(value, float) else value
        return out


def escalate_until_safe(render_fn: Callable[[Setting], T], verify_fn: Callable[[T], Any],
                        plan: list[Setting]) -> tuple[T | None, list[EscalationStep]]:
    """Try each setting of ``plan`` until the verdict no longer leaks.

    Parameters
    ----------
    render_fn : callable(Setting) -> result
        Re-renders the face (or picture, or track) with a setting.
    verify_fn : callable(result) -> verdict
        Verifies a rendering; the verdict has a boolean ``leaks``.
    plan : list of Setting
        From :func:`escalation_plan`.

    Returns
    -------
    result : the last rendering (the first that passed, or the strongest tried);
        None when ``plan`` is empty.
    steps : list of EscalationStep
        Every attempt in order; ``steps[-1].leaks`` is False when escalation
        succeeded.
    """
    result: T | None = None
    steps: list[EscalationStep] = []
    for setting in plan:
        result = render_fn(setting)
        verdict = verify_fn(result)
        steps.append(EscalationStep(setting, verdict))
        if not steps[-1].leaks:
            break
    return result, steps
