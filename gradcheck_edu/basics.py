"""Gradient checking in a few dozen lines: read this module first.

A gradient check compares the gradient your backprop computes (the *analytic* gradient) with a
*numerical* one, measured by nudging each parameter and watching the loss move. For one
parameter ``theta_i`` the two-sided (central) difference is

    dL/dtheta_i  ~  (L(theta + eps e_i) - L(theta - eps e_i)) / (2 eps),

whose error is ``eps**2 * L''' / 6``: the odd terms of the Taylor series cancel. The one-sided
difference ``(L(theta + eps e_i) - L(theta)) / eps`` errs by ``eps * L'' / 2``. With
``L(theta) = theta**3`` at ``theta = 1`` and ``eps = 0.01`` (true slope 3):

>>> import numpy as np
>>> cube = lambda t: float(t[0] ** 3)
>>> print(f"{numerical_gradient_loop(cube, np.array([1.0]), eps=0.01, two_sided=False)[0]:.4f}")
3.0301
>>> print(f"{numerical_gradient_loop(cube, np.array([1.0]), eps=0.01)[0]:.4f}")
3.0001

The two are then compared with the relative error ``||a - b|| / (||a|| + ||b||)``: below 1e-7
the gradient is almost certainly right, above 1e-3 it has a bug (see :mod:`gradcheck_edu.verdicts`).

>>> w = np.array([0.5, -1.0])
>>> numerical = numerical_gradient_loop(lambda v: float(np.sum(v ** 2)), w)
>>> relative_error(2 * w, numerical) < 1e-7  # right: the gradient of sum(w**2) is 2w
True
>>> print(f"{relative_error(3 * w, numerical):.2f}")  # wrong: 3w
0.20

Everything else in the package is this loop made trustworthy and fast: steps the floats can
represent (:mod:`~gradcheck_edu.stencils`), any structure of parameters
(:mod:`~gradcheck_edu.theta`, :mod:`~gradcheck_edu.target`), verdicts that allow for round-off
(:mod:`~gradcheck_edu.roundoff`), and a report per parameter (:mod:`~gradcheck_edu.report`).
``gradcheck_edu.numerical_gradient(f, theta)`` agrees with this loop (a test checks it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .theta import flatten

__all__ = ["numerical_gradient_loop", "relative_error", "relative_error_flat"]


def numerical_gradient_loop(f: Callable[[np.ndarray], float], theta: np.ndarray,
                            eps: float = 1e-6, two_sided: bool = True) -> np.ndarray:
    """The numerical gradient of ``f`` at the float array ``theta``, one component at a time.

    ``theta`` is perturbed in place (so ``f`` may also read it through a closure, as a model
    reads its weights) and every entry is put back, even when ``f`` raises.

    Returns
    -------
    ndarray, same shape as ``theta``
    """
    grad = np.zeros(theta.shape)
    f0 = f(theta) if not two_sided else None
    for i in np.ndindex(theta.shape):
        old = theta[i]
        try:
            theta[i] = old + eps          # increment by eps
            f_plus = f(theta)             # evaluate f(theta + eps)
            if two_sided:
                theta[i] = old - eps      # decrement by eps
                f_minus = f(theta)        # evaluate f(theta - eps)
        finally:
            theta[i] = old                # restore, even if f raised
        if two_sided:
            grad[i] = (f_plus - f_minus) / (2 * eps)  # the slope of the secant through both
        else:
            grad[i] = (f_plus - f0) / eps             # the slope from theta to theta + eps
    return grad


def relative_error(a: Any, b: Any) -> float:
    """``||a - b||_2 / (||a||_2 + ||b||_2)``, over numbers, arrays or structures of arrays.

    Scale-free, symmetric, between 0 and 1; 0.0 when both are zero. NaN anywhere gives NaN.

    >>> import numpy as np
    >>> relative_error(np.zeros(3), np.zeros(3))
    0.0
    >>> print(f"{relative_error({'W': np.ones(2)}, {'W': -np.ones(2)}):.1f}")
    1.0
    """
    a_flat, a_spec = flatten(a)
    b_flat, b_spec = flatten(b)
    a_spec.check_same(b_spec, what="second argument")
    return relative_error_flat(a_flat, b_flat)


def relative_error_flat(a: np.ndarray, b: np.ndarray) -> float:
    """:func:`relative_error` of two flat float arrays of the same shape (no structure checks).

    Both are divided by their largest magnitude first: the ratio is unchanged, and neither
    ``a - b`` nor the squares inside the norms overflow (1e200) or underflow (1e-200).
    """
    big = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    if big > 0.0 and np.isfinite(big):
        a, b = a / big, b / big
    den = float(np.linalg.norm(a) + np.linalg.norm(b))
    num = float(np.linalg.norm(a - b))
    if den == 0.0:
        return 0.0 if num == 0.0 else float("nan")
    return num / den
