"""The Taylor test: a step-free check of the gradient."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .arguments import analytic_flat, check_arguments
from .evaluate import base_value, checked_value
from .target import Target, loss_resolution, theta_label
from .theta import flatten
from .verdicts import Verdict

__all__ = ["TaylorResult", "taylor_test"]


@dataclass
class TaylorResult:
    """The step-free check: how fast the first-order Taylor remainder shrinks.

    Attributes
    ----------
    rate : float
        Fitted slope of log(remainder) against log(h) as h -> 0: about 2 when the gradient is
        right, about 1 when it is wrong. NaN when the remainder is at round-off for every step.
    verdict : Verdict
    steps, remainders : ndarray
        ``h`` and ``|f(theta + h v) - f(theta) - h grad . v|``, for a log-log plot.
    """

    rate: float
    verdict: Verdict
    steps: np.ndarray
    remainders: np.ndarray
    message: str

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    def __str__(self) -> str:
        rate = "not fitted" if math.isnan(self.rate) else f"{self.rate:.2f}"
        return f"Taylor test: remainder rate {rate} -> {self.verdict.name}: {self.message}"


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
    a_flat = analytic_flat(grad, theta, "taylor_test")
    target = Target(f, theta)
    bad = ~np.isfinite(a_flat)
    if bad.any():
        where = theta_label(target.spec, int(np.argmax(bad)))
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
    f0 = base_value(target)
    steps = h0 * 2.0 ** -np.arange(int(n_steps))
    remainders = np.empty(steps.size)
    originals = [arr.copy() for arr in target.arrays]
    try:
        for i, h in enumerate(steps):
            linear = 0.0
            for leaf, arr, orig in zip(spec.leaves, target.arrays, originals):
                sl = slice(leaf.offset, leaf.offset + leaf.size)
                np.add(orig, h * v[sl].reshape(leaf.shape), out=arr, casting="unsafe")
                # The step the floats represent, not h*v: keeps rounding out of the remainder.
                moved = arr.astype(np.float64) - orig
                linear += float(np.sum(a_flat[sl].reshape(leaf.shape) * moved))
            fh = checked_value(target, f"at theta + h*v (h={h:g})")
            remainders[i] = abs(fh - f0 - linear)
            for arr, orig in zip(target.arrays, originals):
                np.copyto(arr, orig)
    finally:
        for arr, orig in zip(target.arrays, originals):
            np.copyto(arr, orig)
    floor = 100 * loss_resolution(target.arrays)[0] * max(abs(f0), 1e-300)
    valid = remainders > floor
    if not valid.any():
        return TaylorResult(math.nan, Verdict.EXCELLENT, steps, remainders,
                            f"the remainder is at round-off (below {floor:.1e}) for every step, "
                            f"up to h = {h0:g}: f is linear along v and the gradient matches it")
    if valid.sum() < 3:
        return TaylorResult(math.nan, Verdict.CANNOT_TELL, steps, remainders,
                            f"only {int(valid.sum())} of {steps.size} steps leave a remainder "
                            f"above round-off ({floor:.1e}): too few to fit a rate. Use a larger "
                            "h0 or more steps")
    idx = np.flatnonzero(valid)[-5:]  # the smallest steps above round-off: the asymptotic rate
    rate = float(np.polyfit(np.log(steps[idx]), np.log(remainders[idx]), 1)[0])
    if rate >= 1.8:
        verdict, msg = Verdict.EXCELLENT, "remainder ~ h^2: the gradient is right"
    elif rate >= 1.5:
        verdict, msg = Verdict.ACCEPTABLE, "remainder close to h^2: probably right"
    elif rate >= 1.2:
        verdict, msg = Verdict.SUSPICIOUS, "remainder between h and h^2: check more directions"
    else:
        verdict, msg = Verdict.WRONG, "remainder ~ h: the gradient is wrong along this direction"
    return TaylorResult(rate, verdict, steps, remainders, msg)

