"""The verdict bands of the relative error, and the rules that judge a measured difference."""

from __future__ import annotations

import enum

import numpy as np

from .basics import relative_error_flat

__all__ = ["DEFAULT_THRESHOLDS", "Verdict", "classify_relative_error", "judge",
           "no_better_than_worst_parameter"]

DEFAULT_THRESHOLDS = (1e-7, 1e-5, 1e-3)


class Verdict(enum.IntEnum):
    """How far to trust an analytic gradient, ordered from best to worst.

    >>> Verdict.EXCELLENT < Verdict.WRONG
    True
    >>> print(Verdict.SUSPICIOUS.explanation)
    1e-5 to 1e-3, some components are probably wrong, unless f has kinks
    """

    EXCELLENT = 0
    ACCEPTABLE = 1
    SUSPICIOUS = 2
    WRONG = 3

    @property
    def explanation(self) -> str:
        return _EXPLANATIONS[self]

    @property
    def passed(self) -> bool:
        """True for EXCELLENT and ACCEPTABLE."""
        return self <= Verdict.ACCEPTABLE


_EXPLANATIONS = {
    Verdict.EXCELLENT: "below 1e-7, the analytic gradient is almost certainly right",
    Verdict.ACCEPTABLE: "1e-7 to 1e-5, probably right, but look at the worst components",
    Verdict.SUSPICIOUS: "1e-5 to 1e-3, some components are probably wrong, unless f has kinks",
    Verdict.WRONG: "above 1e-3, the analytic gradient has a bug; the worst components point to it",
}


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


def judge(analytic: np.ndarray, numerical: np.ndarray, noise: np.ndarray,
             roundoff: float, thresholds: tuple) -> tuple[float, Verdict, str]:
    """Relative error and verdict, allowing for the round-off of the finite differences.

    ``noise`` (:func:`~gradcheck_edu.roundoff.noise_bound`) bounds the round-off of each
    estimate by ten roundings of the loss values, ``10 EPS max|f| / |h|``; ``roundoff * noise``
    (:func:`~gradcheck_edu.roundoff.roundoff_fraction`) is its typical size (rms), about
    0.3 EPS max|f| / |h| for a central difference. Then:

    * within one rounding (``||a - n|| <= ||noise|| / 10``) the difference says nothing about the
      analytic gradient; the verdict is that of the *resolution*, ``roundoff ||noise|| / (||a||
      + ||n||)``, the relative error that round-off alone typically gives, and no worse than
      ACCEPTABLE. It depends on the steps and the loss values only, so two paths that compute
      the same central differences with different round-off (the generic path and the
      structure-aware one) give the same verdict;
    * within the bound (``<= ||noise||``) a verdict worse than ACCEPTABLE is noise: ACCEPTABLE;
    * otherwise the verdict of the relative error.
    """
    r = relative_error_flat(analytic, numerical)
    verdict = classify_relative_error(r, thresholds)
    den = float(np.linalg.norm(analytic) + np.linalg.norm(numerical))
    if not np.isfinite(r) or den == 0.0:
        return r, verdict, ""
    diff = float(np.linalg.norm(analytic - numerical))
    bound = float(np.linalg.norm(noise))
    floor = "gradient is at the round-off floor: the relative error is noise"
    if diff <= 0.1 * bound:
        resolution = roundoff * bound / den
        resolved = min(classify_relative_error(resolution, thresholds), Verdict.ACCEPTABLE)
        if resolved == verdict:
            return r, verdict, ""
        if resolution > thresholds[1]:
            return r, resolved, floor
        return r, resolved, (f"the difference is round-off: finite differences with this step "
                             f"carry a relative error of about {resolution:.1e} here")
    if verdict > Verdict.ACCEPTABLE and diff <= bound:
        return r, Verdict.ACCEPTABLE, floor
    return r, verdict, ""


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
    # its own note when its verdict is that of the round-off (small gradients), not of errors
    why = worst.note or ("the larger gradients of other parameters swamp its errors in the "
                         "overall relative error")
    hidden = f"{worst.name!r} is {worst.verdict.name}: {why}"
    return worst.verdict, f"{note}; {hidden}" if note else hidden

