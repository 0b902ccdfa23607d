"""The verdict bands of the relative error, and the rules that judge a measured difference."""

from __future__ import annotations

import enum
import math
from typing import NamedTuple

import numpy as np

from .basics import relative_error_flat

__all__ = ["DEFAULT_THRESHOLDS", "FAR", "Verdict", "DecidedBy", "Limit", "classify_relative_error",
           "judge", "Judgement", "limit_text", "norm", "no_better_than_worst_parameter"]

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


class DecidedBy(str, enum.Enum):
    """What decided a verdict (a ``str``, so ``row.decided_by == "zero gradient"`` reads)."""

    RELATIVE_ERROR = "relative error"
    RESOLUTION = "resolution"
    ZERO_GRADIENT = "zero gradient"
    CANNOT_TELL = "cannot tell"
    RESOLVED_MISMATCH = "resolved mismatch"
    NOTHING_MEASURED = "nothing measured"

    def __str__(self) -> str:
        return self.value


class Limit(enum.Enum):
    """What limits a finite-difference estimate: the judge's reason, and the hint it gives."""

    ROUNDOFF = "round-off of the loss values at this step"
    LOW_PRECISION = "the resolution of the parameters' precision"
    TRUNCATION = "the truncation error of the central difference"
    ADAPTIVE = "the error bound of the adaptive step"

    @classmethod
    def of_resolution(cls, loss_eps: float) -> frozenset:
        """What limits an estimate from loss values resolved to ``loss_eps`` (see
        :func:`~gradcheck_edu.stencils.loss_resolution`): LOW_PRECISION beyond float64's
        resolution (float32 parameters), else ROUNDOFF."""
        low = loss_eps > float(np.finfo(np.float64).eps)
        return frozenset({cls.LOW_PRECISION if low else cls.ROUNDOFF})


class Judgement(NamedTuple):
    """What :func:`judge` decided: the relative error, the verdict, and why in words.

    ``decided_by`` (a :class:`DecidedBy`) is ``RELATIVE_ERROR`` when the verdict is the band
    of ``relative_error``; ``RESOLUTION`` when the difference is within the round-off and the
    verdict is that of the finite difference's resolution (a number given in ``note``);
    ``ZERO_GRADIENT`` when the gradient itself is below what the finite difference can resolve
    and is judged against the size of the whole gradient; ``CANNOT_TELL`` when the difference
    is within what the finite difference can err by and is too large to pass;
    ``RESOLVED_MISMATCH`` when the relative error lies in a passing band but the mismatch
    stands far (:data:`FAR`) above the estimate's error; ``NOTHING_MEASURED`` when no
    component was measured (every one at a kink).
    """

    relative_error: float
    verdict: Verdict
    note: str
    decided_by: DecidedBy


# A mismatch more than FAR times what the finite difference can err by is real, whatever band
# its relative error falls in: a correct gradient differs from the estimate by at most the
# error bound (ten roundings of the loss, about 25 times their typical size, plus the truncation
# error where measured), so FAR = 10 is 250 typical round-offs: every correct gradient, layer,
# model and dtype of the tests stays below it, while UFLDL's softmax regression without its
# weight decay (relative error 6.5e-6, ACCEPTABLE) stands 80 times above it at eps=1e-6.
FAR = 10.0


def limit_text(limits: frozenset, dtype: str = "float64") -> str:
    """The words for what limits the estimate (``limits``: a set of :class:`Limit`)."""
    parts = []
    if Limit.LOW_PRECISION in limits:
        parts.append(f"{dtype} resolution")
    elif Limit.ROUNDOFF in limits:
        parts.append("round-off at this step")
    if Limit.TRUNCATION in limits:
        parts.append("truncation error of the step")
    if Limit.ADAPTIVE in limits:
        parts.append("the adaptive step's error bound")
    return " and ".join(parts) or "round-off at this step"


def _hint(limits: frozenset, default_step: bool = False, adaptive_step: bool = True) -> str:
    if Limit.LOW_PRECISION in limits:
        return "; check in float64" + ("" if default_step else " (or eps=None)")
    if Limit.TRUNCATION in limits:
        if default_step:
            return ""
        return "; a smaller eps " + ("(or eps=None: an adaptive step) " if adaptive_step
                                     else "") + "can tell"
    if Limit.ADAPTIVE in limits:
        return ""
    return "; a larger eps can tell"


def judge(analytic: np.ndarray, numerical: np.ndarray, noise: np.ndarray, roundoff: float,
          thresholds: tuple, *, scale: float | None = None,
          limits: frozenset = frozenset({Limit.ROUNDOFF}), dtype: str = "float64",
          extra: np.ndarray | None = None, n_subgradients: int = 0,
          default_step: bool = False, adaptive_step: bool = True) -> Judgement:
    """Relative error and verdict, allowing for what the finite differences can err by.

    The one set of rules every check uses (``gradient_check``, ``check_model``'s both paths,
    ``directional_check``). ``noise`` bounds the round-off of each finite-difference estimate
    (see :func:`~gradcheck_edu.roundoff.noise_bound`: ten roundings of the loss values at the
    precision of theta, ``10 eps_dtype max|f| / |h|``); ``roundoff * noise`` is the typical size
    of that round-off (rms). ``extra`` bounds the rest of the estimate's error where it was
    measured (truncation, or an adaptive step's bound); the whole bound is ``B = ||noise +
    extra||``. ``scale`` is the size of the whole gradient checked (for a parameter whose own
    gradient is at the floor); ``limits`` says what limits the estimate (a set of
    :class:`Limit`). ``n_subgradients`` counts components left out because they sit at a kink
    where the analytic value is a valid subgradient (nothing measured there). ``default_step``:
    the estimate already used the default step (``eps=None``), so the hint does not suggest it;
    ``adaptive_step``: the check offers the adaptive step (``eps=None`` in ``gradient_check``
    and ``check_model``), so the hint may suggest it.

    * Nothing measured (no component, all at kinks): CANNOT_TELL, saying why.
    * The difference is beyond the bound (``D = ||a - n|| > B``): the verdict of the relative
      error, except that a passing band does not pass a mismatch far above the bound
      (``D > FAR B``): that is a real difference (SUSPICIOUS), and the note gives both numbers.
      Only such differences are ever called SUSPICIOUS or WRONG.
    * The gradient itself is within the bound (``||a||, ||n|| <= B``, e.g. a bias before batch
      norm): it is zero to the resolution of the check. Judged by the resolution relative to
      ``scale``; with nothing to compare it with, CANNOT_TELL.
    * Within one rounding (``D <= B / 10``): the difference says nothing, and the verdict cannot
      be better than the *resolution*, ``(roundoff ||noise|| + ||extra|| / 2) / (||a|| + ||n||)``;
      a resolution worse than ACCEPTABLE is CANNOT_TELL.
    * Within the bound but above one rounding: a relative error in a passing band keeps its
      verdict; a worse one is CANNOT_TELL, never an accusation.
    """
    if analytic.size == 0:
        why = (f"nothing measured: {n_subgradients} component(s) at a kink, where the analytic "
               "value lies between the one-sided slopes (a valid subgradient, not a measured "
               "match); move theta off the kinks to check it" if n_subgradients else
               "nothing measured")
        return Judgement(math.nan, Verdict.CANNOT_TELL, why, DecidedBy.NOTHING_MEASURED)
    r = relative_error_flat(analytic, numerical)
    verdict = classify_relative_error(r, thresholds)
    norm_a, norm_n = norm(analytic), norm(numerical)
    den = norm_a + norm_n
    if not np.isfinite(r):
        return Judgement(r, verdict, "NaN or Inf in a gradient", DecidedBy.RELATIVE_ERROR)
    if den == 0.0:
        return Judgement(r, verdict, "the gradient is exactly zero (analytic and numerical)",
                         DecidedBy.ZERO_GRADIENT)
    diff = norm(analytic - numerical)
    extra_norm = 0.0 if extra is None else norm(extra)
    bound = norm(noise if extra is None else noise + extra)
    limit, hint = limit_text(limits, dtype), _hint(limits, default_step, adaptive_step)
    if diff > bound:
        if verdict.passed and diff > FAR * bound:
            return Judgement(r, Verdict.SUSPICIOUS, (
                f"relative error {r:.1e} is in the {verdict.name} band, but the mismatch "
                f"({diff:.1e}) is {diff / bound:.0f} times what the finite difference can err "
                f"by here ({bound:.1e}): a real difference"), DecidedBy.RESOLVED_MISMATCH)
        return Judgement(r, verdict, "", DecidedBy.RELATIVE_ERROR)
    typical = roundoff * norm(noise) + extra_norm / 2
    if max(norm_a, norm_n) <= bound:
        resolution = typical / scale if scale else math.inf
        if classify_relative_error(resolution, thresholds) <= Verdict.ACCEPTABLE:
            return Judgement(r, classify_relative_error(resolution, thresholds), (
                f"zero gradient: both below the estimate's error ({bound:.1e}, {limit}), "
                f"{resolution:.1e} of the whole gradient's size"), DecidedBy.ZERO_GRADIENT)
        return Judgement(r, Verdict.CANNOT_TELL, (
            f"gradient at the floor: analytic ({norm_a:.1e}) and numerical ({norm_n:.1e}) are "
            f"both below the estimate's error ({bound:.1e}, {limit}){hint}"),
            DecidedBy.CANNOT_TELL)
    resolution = typical / den
    resolved = classify_relative_error(resolution, thresholds)
    if diff <= 0.1 * bound or verdict <= Verdict.ACCEPTABLE:
        if resolved > Verdict.ACCEPTABLE:
            return Judgement(r, Verdict.CANNOT_TELL, (
                f"resolved only to about {resolution:.1e} ({limit}); they agree within "
                f"that{hint}"), DecidedBy.CANNOT_TELL)
        if resolved > verdict:
            return Judgement(r, resolved, (
                f"the difference is round-off: this step resolves the gradient to about "
                f"{resolution:.1e}"), DecidedBy.RESOLUTION)
        return Judgement(r, verdict, "", DecidedBy.RELATIVE_ERROR)
    return Judgement(r, Verdict.CANNOT_TELL, (
        f"the mismatch ({diff:.1e}) is within the estimate's error ({bound:.1e}, {limit}): "
        f"not evidence of a bug{hint}"), DecidedBy.CANNOT_TELL)


def norm(x: np.ndarray) -> float:
    """The 2-norm, scaled first so that huge (1e200) or tiny values neither overflow nor
    underflow."""
    big = float(np.max(np.abs(x), initial=0.0))
    if big == 0.0 or not math.isfinite(big):
        return big
    return big * float(np.linalg.norm(x / big))


def no_better_than_worst_parameter(verdict: Verdict, note: str,
                                    per_parameter: dict) -> tuple[Verdict, str]:
    """The overall verdict, lowered to the worst parameter's.

    One relative error over all of theta is dominated by the parameters with the largest
    gradients: a parameter with small gradients can be entirely wrong (say ``dx = 0``) while
    the overall number stays below 1e-5. Its own verdict is the one that counts. A parameter
    with nothing measured (all its components valid subgradients at kinks) is named in the note
    instead, unless no parameter was measured (then the verdict is already CANNOT_TELL).
    """
    checked = [p for p in per_parameter.values() if p.verdict is not None]
    unmeasured = [p.name for p in checked if p.decided_by == DecidedBy.NOTHING_MEASURED]
    if unmeasured and len(unmeasured) < len(checked):
        # a parameter whose every component is a valid subgradient at a kink (a zero bias
        # behind a dead ReLU) says nothing either way: the verdict rests on the others, and
        # the note names it
        checked = [p for p in checked if p.name not in unmeasured]
        said = (f"not measured: {', '.join(map(repr, unmeasured))} (every component at a "
                "kink, with a valid subgradient)")
        note = f"{note}; {said}" if note else said
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

