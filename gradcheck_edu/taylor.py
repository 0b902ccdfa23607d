"""The Taylor test: a step-free check of the gradient."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .arguments import analytic_flat, check_arguments
from .check import Evidence, judge_parameter
from .stencils import EPS, loss_resolution, lowest_precision
from .target import Target
from .theta import flatten
from .verdicts import DEFAULT_THRESHOLDS, DecidedBy, Limit, Verdict

__all__ = ["TaylorResult", "taylor_test", "taylor_evidence"]


@dataclass
class TaylorResult:
    """The step-free check: how fast the first-order Taylor remainder shrinks.

    Attributes
    ----------
    rate : float
        Fitted slope of log(remainder) against log(h) as h -> 0: about 2 when the gradient is
        right, about 1 when it is wrong. NaN when the remainder is at round-off for every step.
    verdict : Verdict
        The verdict of :func:`~gradcheck_edu.check.judge_parameter`, as every check's: the
        analytic ``grad . v`` against the directional derivative extrapolated from the same
        steps (:func:`taylor_evidence`), within what that estimate can err by.
    steps, remainders : ndarray
        ``h`` and ``|f(theta + h v) - f(theta) - h grad . v|``, for a log-log plot.
    relative_error, note, decided_by
        The judge's: the relative error of ``grad . v``, why the verdict (a
        :class:`~gradcheck_edu.verdicts.DecidedBy`).
    path : str
        What computed the estimate.
    """

    rate: float
    verdict: Verdict
    steps: np.ndarray
    remainders: np.ndarray
    message: str
    relative_error: float = math.nan
    note: str = ""
    decided_by: DecidedBy = DecidedBy.RELATIVE_ERROR
    path: str = "Taylor"

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    def __str__(self) -> str:
        rate = "not fitted" if math.isnan(self.rate) else f"{self.rate:.2f}"
        return (f"Taylor test: remainder rate {rate}, relative error of grad . v "
                f"{self.relative_error:.2e} -> {self.verdict.name}: {self.message}"
                + (f" ({self.note})" if self.note else "") + f"\npath: {self.path}")


def taylor_test(f: Callable[[Any], float], grad: Any, theta: Any, direction: Any = None,
                seed: Any = None, n_steps: int = 16, h0: float = 0.1) -> TaylorResult:
    """Step-free gradient check: the Taylor remainder shrinks like h**2 only if grad is right.

    Along a direction ``v`` (random unit vector unless given, in theta's structure),
    ``r(h) = |f(theta + h v) - f(theta) - h grad . v|`` is ``O(h**2)`` when the gradient is
    right and ``O(h)`` when it is wrong, whatever the step. The rate is fitted on the smallest
    steps whose remainder is above round-off.

    Parameters
    ----------
    n_steps : int
        Steps ``h0 * 2**-k`` for ``k = 0 .. n_steps - 1``; at least 4 (a rate is fitted on
        three or more of them).
    h0 : float
        The largest step, positive and finite.

    Returns
    -------
    TaylorResult
        ``.rate`` (about 2 right, about 1 wrong), ``.verdict``, ``.steps``, ``.remainders``.
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 4:
        raise ValueError(f"n_steps must be a whole number >= 4 (a rate is fitted on at least "
                         f"three steps), got {n_steps!r}")
    try:
        h0 = float(h0)
    except (TypeError, ValueError):
        raise TypeError(f"h0 must be a positive number, got {h0!r}") from None
    if not (math.isfinite(h0) and h0 > 0):
        raise ValueError(f"h0 must be a positive, finite step (the largest h), got {h0}")
    check_arguments(f, grad, theta, "taylor_test")
    target = Target(f, theta)
    a_flat = analytic_flat(grad, theta, "taylor_test", spec=target.spec)
    bad = ~np.isfinite(a_flat)
    if bad.any():
        where = target.spec.label_of(int(np.argmax(bad)))
        raise ValueError(f"the gradient has {a_flat[bad][0]} at {where}: a Taylor test needs "
                         "a finite gradient. Look for overflow or 0/0 in your backward pass")
    spec = target.spec
    rng = np.random.default_rng(seed)
    if direction is None:
        v = rng.standard_normal(spec.size)
    else:
        v, v_spec = flatten(direction)
        spec.check_same(v_spec, what="direction")
    norm = float(np.linalg.norm(v))
    if not norm > 0:
        raise ValueError("the direction must be a nonzero vector")
    v = v / norm
    f0 = target.base_value()
    steps = h0 * 2.0 ** -np.arange(int(n_steps))
    remainders, values = np.empty(steps.size), np.empty(steps.size)
    for i, h in enumerate(steps):
        moves = [h * v[leaf.offset: leaf.offset + leaf.size].reshape(leaf.shape)
                 for leaf in spec.leaves]
        fh, made = target.value_along(moves, f"at theta + h*v (h={h:g})")
        # the moves the floats represent, not h*v: keeps rounding out of the remainder
        linear = sum(float(a_flat[leaf.offset: leaf.offset + leaf.size] @ m.reshape(-1))
                     for leaf, m in zip(spec.leaves, made))
        values[i], remainders[i] = fh, fh - f0 - linear
    target.check_f_sees_theta()
    floor = 100 * loss_resolution(target.arrays) * max(abs(f0), 1e-300)
    a_dir = float(a_flat @ v)
    evidence = taylor_evidence(steps, remainders, values, f0, a_dir, target)
    j = judge_parameter(evidence, np.array([a_dir]), np.array([0]), DEFAULT_THRESHOLDS,
                        scale=2 * float(np.linalg.norm(a_flat)))
    remainders = np.abs(remainders)
    valid = remainders > floor
    path = (f"Taylor: f at theta + h*v for {steps.size} steps h from {h0:g} down, halving; the "
            "remainder's rate, and the directional derivative extrapolated from them")
    kw = dict(relative_error=j.relative_error, note=j.note, decided_by=j.decided_by, path=path)
    if not valid.any():
        return TaylorResult(math.nan, j.verdict, steps, remainders,
                            f"the remainder is at round-off (below {floor:.1e}) for every step, "
                            f"up to h = {h0:g}: f is linear along v" + (
                                " and the gradient matches it" if j.verdict.passed else ""),
                            **kw)
    if valid.sum() < 3:
        return TaylorResult(math.nan, j.verdict, steps, remainders,
                            f"only {int(valid.sum())} of {steps.size} steps leave a remainder "
                            f"above round-off ({floor:.1e}): too few to fit a rate" + (
                                "" if j.verdict.passed else ". Use a larger h0 or more steps"),
                            **kw)
    idx = np.flatnonzero(valid)[-5:]  # the smallest steps above round-off: the asymptotic rate
    rate = float(np.polyfit(np.log(steps[idx]), np.log(remainders[idx]), 1)[0])
    if j.verdict.passed:
        msg = f"remainder ~ h^{rate:.1f}: the gradient is right" if rate >= 1.8 else (
            f"remainder ~ h^{rate:.1f}, and the directional derivative matches")
    elif j.verdict is Verdict.CANNOT_TELL:
        msg = f"these steps cannot tell (remainder ~ h^{rate:.1f})" + (
            "" if Limit.LOW_PRECISION in evidence.limits
            else "; if h0 is large for f here, try a smaller one")
    else:
        msg = (f"remainder ~ h^{rate:.1f}" + (": the gradient is wrong along this direction"
                                             if rate < 1.5 else ""))
    return TaylorResult(rate, j.verdict, steps, remainders, msg, **kw)


def taylor_evidence(steps: np.ndarray, remainders: np.ndarray, values: np.ndarray, f0: float,
                    analytic: float, target: Target) -> Evidence:
    """The directional derivative along v, extrapolated from the Taylor remainders, and what it
    can err by: the input of :func:`~gradcheck_edu.check.judge_parameter`.

    With ``r(h) = f(theta + h v) - f(theta) - h a`` (``a``: the analytic ``grad . v``),
    ``r(h) / h = (d - a) + c h + O(h**2)``, ``d`` the true directional derivative. One Richardson
    step over halving steps, ``E = 2 r(h/2)/(h/2) - r(h)/h``, cancels the ``c h`` term:
    ``d = a + E + O(h**2)``. Its error is estimated as twice the larger change to the ``E`` of
    the next larger and the next smaller step (the larger step's errs about 4 times as much, so
    the bound is about 6 times the error where the steps are asymptotic; where they are not, as
    for log at 2e-6 with steps from 0.1, the changes are large and so is the bound), and its
    round-off as ten roundings of the loss values per forward difference (weights 2 and 1); the
    step with the smallest bound is used, among those where ``r(h) / h`` changes like ``h``
    (successive changes in a ratio of 1.5 to 4.5, or within round-off). Where no step is, the
    bound is as large as what was measured: CANNOT_TELL, never an accusation.
    """
    loss_eps = loss_resolution(target.arrays)
    delta = remainders / steps
    rounding = 10 * loss_eps * np.maximum(np.abs(values), abs(f0))
    if loss_eps > EPS:
        # float32: a loss summed from cancelling terms rounds like its terms, not like |f|;
        # what the smaller half of the steps leaves is then mostly that round-off (in float64
        # it is mostly the h**2 term, and |f| is the better bound)
        rounding = np.maximum(rounding, np.max(np.abs(remainders[steps.size // 2:])))
    noise = rounding / steps
    extrapolated = 2 * delta[1:] - delta[:-1]
    e_noise = 2 * noise[1:] + noise[:-1]
    # the steps where r(h)/h changes like h (or h**2, when v'Hv = 0): ratios of successive
    # changes between 1.5 and 4.5, or changes within round-off
    changes = delta[:-1] - delta[1:]
    quiet = np.abs(changes) <= noise[:-1] + noise[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = changes[:-1] / changes[1:]
    like_h = quiet[:-1] | quiet[1:] | ((ratio >= 1.5) & (ratio <= 4.5))
    # E[k] uses delta[k], delta[k+1]; its neighbours E[k-1], E[k+1] the changes k-1 .. k+1
    usable = like_h[:-1] & like_h[1:] if like_h.size >= 2 else np.zeros(0, dtype=bool)
    if usable.any():
        # the change to both neighbours (one chance agreement must not make a small bound)
        change = np.maximum(np.abs(extrapolated[1:-1] - extrapolated[:-2]),
                            np.abs(extrapolated[1:-1] - extrapolated[2:]))
        bound = np.where(usable, 2 * change + e_noise[1:-1], np.inf)
        k = int(np.argmin(bound)) + 1
        estimate, noise_k, extra_k = extrapolated[k], e_noise[k], 2 * change[k - 1]
    else:  # no step in the asymptotic range: the estimate can err by all it measures
        estimate, noise_k = extrapolated[-1], e_noise[-1]
        extra_k = 2 * abs(estimate)
    evidence = Evidence(np.array([analytic + estimate]), np.array([noise_k]), roundoff=0.1,
                        limits=Limit.of_resolution(loss_eps), extra=np.array([extra_k]),
                        dtype_name=lowest_precision(target.arrays).name)
    evidence.default_step = True  # (no eps to suggest: the steps are h0 * 2**-k)
    return evidence
