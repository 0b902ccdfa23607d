"""The verdict bands of the relative error, and the rules that judge a measured difference."""

from __future__ import annotations

import enum
import math
from typing import NamedTuple

import numpy as np

from .basics import relative_error_flat

__all__ = ["DEFAULT_THRESHOLDS", "Verdict", "classify_relative_error", "judge", "Judgement",
           "no_better_than_worst_parameter"]

DEFAULT_THRESHOLDS = (1e-7, 1e-5, 1e-3)


class Verdict(enum.IntEnum):
    """How far to trust an analytic gradient, ordered from best to worst.

    ``CANNOT_TELL`` is not a band of the relative error: it is the verdict when the difference
    between the two gradients is within what the finite difference itself can err by (float32
    resolution, round-off at this step, truncation, a gradient at the round-off floor). The check
    then neither passes nor accuses; its note says why, and what would let it tell.

    >>> Verdict.EXCELLENT < Verdict.CANNOT_TELL < Verdict.WRONG
    True
    >>> print(Verdict.SUSPICIOUS.explanation)
    1e-5 to 1e-3, some components are probably wrong, unless f has kinks
    >>> Verdict.CANNOT_TELL.passed
    False
    """

    EXCELLENT = 0
    ACCEPTABLE = 1
    CANNOT_TELL = 2
    SUSPICIOUS = 3
    WRONG = 4

    def __str__(self) -> str:
        return self.name  # print(report.verdict) shows EXCELLENT, not 0

    @property
    def explanation(self) -> str:
        return _EXPLANATIONS[self]

    @property
    def passed(self) -> bool:
        """True for EXCELLENT and ACCEPTABLE."""
        return self <= Verdict.ACCEPTABLE

    @property
    def color(self) -> str:
        """The colour the report and the plots give this verdict."""
        return _COLORS[self]


_EXPLANATIONS = {
    Verdict.EXCELLENT: "below 1e-7, the analytic gradient is almost certainly right",
    Verdict.ACCEPTABLE: "1e-7 to 1e-5, probably right, but look at the worst components",
    Verdict.CANNOT_TELL: "the finite difference cannot resolve the difference here; see the note",
    Verdict.SUSPICIOUS: "1e-5 to 1e-3, some components are probably wrong, unless f has kinks",
    Verdict.WRONG: "above 1e-3, the analytic gradient has a bug; the worst components point to it",
}
_COLORS = {Verdict.EXCELLENT: "#1a7f37", Verdict.ACCEPTABLE: "#8fbc5a",
           Verdict.CANNOT_TELL: "#7a7a7a", Verdict.SUSPICIOUS: "#e0a030",
           Verdict.WRONG: "#c62828"}


def classify_relative_error(r: float, thresholds: tuple[float, float, float] = DEFAULT_THRESHOLDS
                            ) -> Verdict:
    """The verdict for relative error ``r``.

    Below ``thresholds[0]`` (1e-7) EXCELLENT, up to ``thresholds[1]`` (1e-5) ACCEPTABLE, up to
    ``thresholds[2]`` (1e-3) SUSPICIOUS, above that, or NaN, WRONG.

    >>> [classify_relative_error(r).name for r in (1e-9, 1e-6, 1e-4, 1e-2, float("nan"))]
    ['EXCELLENT', 'ACCEPTABLE', 'SUSPICIOUS', 'WRONG', 'WRONG']
    """
    t = tuple(float(v) for v in thresholds)
    if len(t) != 3 or not (0 < t[0] <= t[1] <= t[2]):
        raise ValueError(f"thresholds must be three increasing positive numbers, got {thresholds}")
    r = float(r)
    if not r >= 0:  # NaN, or a negative number that no relative error can be
        return Verdict.WRONG
    if r < t[0]:
        return Verdict.EXCELLENT
    if r <= t[1]:
        return Verdict.ACCEPTABLE
    if r <= t[2]:
        return Verdict.SUSPICIOUS
    return Verdict.WRONG


class Judgement(NamedTuple):
    """What :func:`judge` decided: the relative error, the verdict, and why in words.

    ``decided_by`` is ``"relative error"`` when the verdict is the band of ``relative_error``;
    ``"resolution"`` when the difference is within the round-off and the verdict is that of the
    finite difference's resolution (a number given in ``note``); ``"zero gradient"`` when the
    gradient itself is below what the finite difference can resolve and is judged against the
    size of the whole gradient; ``"cannot tell"`` when the difference is within what the finite
    difference can err by and is too large to pass.
    """

    relative_error: float
    verdict: Verdict
    note: str
    decided_by: str


def judge(analytic: np.ndarray, numerical: np.ndarray, noise: np.ndarray, roundoff: float,
          thresholds: tuple, *, scale: float | None = None, limit: str = "") -> Judgement:
    """Relative error and verdict, allowing for what the finite differences can err by.

    ``noise`` bounds the error of each finite-difference estimate (see
    :func:`~gradcheck_edu.roundoff.noise_bound`: ten roundings of the loss values at the
    precision of theta, ``10 eps_dtype max|f| / |h|``, plus the truncation error where it was
    measured); ``roundoff * noise`` is the typical size of that error (rms). ``scale`` is the
    size of the whole gradient checked (for a parameter whose own gradient is at the floor);
    ``limit`` says in words what limits the finite difference (``"float32 resolution"``...).

    * The difference is beyond the bound (``||a - n|| > ||noise||``): the verdict of the relative
      error. Only such a difference is ever called SUSPICIOUS or WRONG.
    * The gradient itself is within the bound (``||a||, ||n|| <= ||noise||``, e.g. a bias
      before batch norm): it is zero to the resolution of the check. Judged by the resolution
      relative to ``scale``; with nothing to compare it with, CANNOT_TELL.
    * Within one rounding (``||a - n|| <= ||noise|| / 10``): the difference says nothing, and the
      verdict cannot be better than the *resolution*, ``roundoff ||noise|| / (||a|| + ||n||)``;
      a resolution worse than ACCEPTABLE is CANNOT_TELL.
    * Within the bound but above one rounding: a relative error in a passing band keeps its
      verdict; a worse one is CANNOT_TELL, never an accusation.
    """
    r = relative_error_flat(analytic, numerical)
    verdict = classify_relative_error(r, thresholds)
    norm_a, norm_n = float(np.linalg.norm(analytic)), float(np.linalg.norm(numerical))
    den = norm_a + norm_n
    if not np.isfinite(r):
        return Judgement(r, verdict, "NaN or Inf in a gradient", "relative error")
    if den == 0.0:
        return Judgement(r, verdict, "the gradient is exactly zero (analytic and numerical)",
                         "zero gradient")
    diff = float(np.linalg.norm(analytic - numerical))
    bound = float(np.linalg.norm(noise))
    limit = limit or "round-off at this step"
    hint = ("; a smaller eps (or method='richardson') can tell" if "truncation" in limit
            else "" if "float64" in limit else "; a larger eps can tell")
    if diff > bound:
        return Judgement(r, verdict, "", "relative error")
    if max(norm_a, norm_n) <= bound:
        resolution = roundoff * bound / scale if scale else math.inf
        if classify_relative_error(resolution, thresholds) <= Verdict.ACCEPTABLE:
            return Judgement(r, classify_relative_error(resolution, thresholds), (
                f"zero gradient: analytic and numerical are both below what the finite "
                f"difference can err by ({bound:.1e}, {limit}), {resolution:.1e} of the whole "
                f"gradient's size"), "zero gradient")
        return Judgement(r, Verdict.CANNOT_TELL, (
            f"the gradient is at the round-off floor: analytic ({norm_a:.1e}) and numerical "
            f"({norm_n:.1e}) are both below what the finite difference can err by ({bound:.1e}, "
            f"{limit}){hint}"), "cannot tell")
    resolution = roundoff * bound / den
    resolved = classify_relative_error(resolution, thresholds)
    if diff <= 0.1 * bound or verdict <= Verdict.ACCEPTABLE:
        if resolved > Verdict.ACCEPTABLE:
            return Judgement(r, Verdict.CANNOT_TELL, (
                f"the finite difference resolves this gradient only to a relative error of about "
                f"{resolution:.1e} ({limit}), and the two agree within that{hint}"),
                "cannot tell")
        if resolved > verdict:
            return Judgement(r, resolved, (
                f"the difference is round-off: finite differences with this step resolve this "
                f"gradient to a relative error of about {resolution:.1e}"), "resolution")
        return Judgement(r, verdict, "", "relative error")
    return Judgement(r, Verdict.CANNOT_TELL, (
        f"the mismatch ({diff:.1e}) is within what the finite difference can err by here "
        f"({bound:.1e}, {limit}): not evidence of a bug{hint}"),
        "cannot tell")


def no_better_than_worst_parameter(verdict: Verdict, note: str,
                                    per_parameter: dict) -> tuple[Verdict, str]:
    """The overall verdict, lowered to the worst parameter's.

    One relative error over all of theta is dominated by the parameters with the largest
    gradients: a parameter with small gradients can be entirely wrong (say ``dx = 0``) while
    the overall number stays below 1e-5. Its own verdict is the one that counts.
    """
    checked = [p for p in per_parameter.values() if p.verdict is not None]
    if not checked:
        return verdict, note
    worst = max(checked, key=lambda p: p.verdict)
    if worst.verdict <= verdict:
        return verdict, note
    why = worst.note or ("the larger gradients of other parameters swamp its errors in the "
                         "overall relative error")
    hidden = (f"decided by {worst.name!r}, {worst.verdict.name} with relative error "
              f"{worst.relative_error:.2e} alone: {why}")
    return worst.verdict, f"{note}; {hidden}" if note else hidden

