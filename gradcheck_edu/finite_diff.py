"""Finite-difference estimates of the gradient of a scalar function ``f(theta)``.

The classic example: for ``f(theta) = theta**3`` at ``theta = 1`` the derivative is 3. With a step
of ``eps = 0.01`` the one-sided estimate is off by 0.0301, the two-sided one by only 0.0001:

>>> f = lambda t: t**3
>>> print(f"{forward_difference(f, 1.0, eps=0.01):.4f}")
3.0301
>>> print(f"{backward_difference(f, 1.0, eps=0.01):.4f}")
2.9701
>>> print(f"{central_difference(f, 1.0, eps=0.01):.4f}")
3.0001

``theta`` may be a Python number, an ndarray of any shape, or a structure (dict, list, tuple,
nested) of float arrays. Arrays are perturbed **in place**, one component at a time, and restored
bit-exactly afterwards (also when ``f`` raises or the user presses Ctrl-C), so ``f`` may read them
through a closure, as a model reads its own parameters.

This module holds the estimators a user calls. The loop they run is the one of
:mod:`gradcheck_edu.basics`, made exact and general in :mod:`~gradcheck_edu.steps` (which step),
:mod:`~gradcheck_edu.target` (which arrays), :mod:`~gradcheck_edu.evaluate` (the loop itself),
:mod:`~gradcheck_edu.batched` (an ``f`` that takes a block of theta vectors) and
:mod:`~gradcheck_edu.estimate` (what one pass measured).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .estimate import Estimate
from .steps import (
    EPS,
    METHODS,
    StepTooSmallError,
    check_eps,
    default_step,
)
from .target import PrecisionWarning
from .theta import flatten

__all__ = [
    "forward_difference",
    "backward_difference",
    "central_difference",
    "numerical_gradient",
    "default_step",
    "error_vs_eps",
    "fit_order",
    "METHODS",
    "EPS",
    "PrecisionWarning",
    "StepTooSmallError",
]


# --------------------------------------------------------------------------- public estimators


def numerical_gradient(f: Callable[[Any], float], theta: Any, eps: float | None = None,
                       method: str = "central", *, vectorized: bool = False,
                       batch_size: int | None = None) -> Any:
    """Finite-difference gradient of a scalar function ``f`` at ``theta``.

    Parameters
    ----------
    f : callable
        ``f(theta) -> float``, called with an object of the same kind as ``theta``. It may
        instead ignore its argument and read the arrays of ``theta`` through a closure (as a
        model reads its parameters): they are perturbed in place.
    theta : float, ndarray or structure (dict / list / tuple, nested) of float arrays
        A Python int or an integer array passed directly is copied to float64 and ``f``
        receives the copy. Inside a structure, arrays must already be floats.
    eps : float, optional
        The step. ``None`` (default) picks the textbook step for the method, scaled by
        ``max(1, |theta_i|)`` (see :func:`default_step`).
    method : {"central", "forward", "backward", "richardson", "complex"}
        ``"forward"`` ``(f(x+h) - f(x)) / h`` and ``"backward"`` ``(f(x) - f(x-h)) / h`` have
        truncation error O(h); ``"central"`` ``(f(x+h) - f(x-h)) / 2h`` has O(h**2);
        ``"richardson"`` ``(-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h`` (Richardson
        extrapolation of two central differences) has O(h**4). ``"complex"``, the complex step
        ``Im f(x + ih) / h``, has O(h**2) truncation but no subtraction, so ``h = 1e-20`` gives
        the derivative to machine precision.
    vectorized : bool, optional
        ``f`` takes a batch of flat theta vectors, shape ``(k, n)``, and returns ``k`` values
        (shape ``(k,)``). theta is flattened once (see :func:`~gradcheck_edu.flatten`) and ``f``
        is called with ``batch_size`` perturbed copies at a time, in a read-only block that is
        filled once: between calls only the perturbed entries are set and put back.
    batch_size : int, optional
        Rows per call when ``vectorized``; by default as many as fit in about 32 MB.

    Returns
    -------
    gradient : float, ndarray or structure
        Same shape and structure as ``theta``, in float64.

    Raises
    ------
    ValueError
        ``f`` returns a non-scalar, NaN or Inf (the message names the component and side), or
        is not deterministic; ``eps`` is not positive, or so small that ``theta + eps == theta``.
    TypeError
        ``f`` returns a non-number; an array inside a structure is an integer array.

    Notes
    -----
    Cost: ``n`` evaluations of ``f`` for one-sided, ``2n`` for central, ``4n`` for Richardson,
    ``n`` complex ones for the complex step, plus two at the unperturbed theta (they also check
    that ``f`` is deterministic). Nothing else scales with ``n``: no copy of theta per call.

    The complex step needs ``f`` to be analytic code on complex input. It breaks where ``f``
    uses ``np.abs``, ``float()``, ``np.real``, comparisons (``np.maximum``, ``x > 0``, ReLU),
    or ``np.dot`` with a ``.conj()`` hidden inside (``np.vdot``); a ``TypeError`` is raised when
    the imaginary part is dropped entirely. It also cannot see the caller's arrays through a
    closure: ``f`` receives complex copies and must use its argument.

    Examples
    --------
    >>> import numpy as np
    >>> g = numerical_gradient(lambda w: np.sum(w**2), np.array([1.0, -2.0]))
    >>> print([f"{v:.6f}" for v in g])
    ['2.000000', '-4.000000']
    >>> g = numerical_gradient(lambda t: np.sin(t), 0.5, method="complex")
    >>> print(f"{g - np.cos(0.5):.1e}")
    0.0e+00
    >>> g = numerical_gradient(lambda T: np.sum(T**2, axis=1), np.array([1.0, -2.0]),
    ...                        vectorized=True)
    >>> print([f"{v:.6f}" for v in g])
    ['2.000000', '-4.000000']
    """
    est = Estimate(f, theta, eps, method, vectorized=vectorized, batch_size=batch_size)
    return est.as_structure(est.grad)



def forward_difference(f: Callable[[Any], float], theta: Any, eps: float | None = None) -> Any:
    """One-sided forward difference ``(f(theta + eps) - f(theta)) / eps``, error O(eps).

    Default step ``EPS**(1/2) * max(1, |theta_i|)`` (about 1.5e-8): it balances the truncation
    error ``eps * |f''| / 2`` against the round-off error ``EPS * |f| / eps``. See
    :func:`numerical_gradient` for the accepted ``theta`` and the errors raised.
    """
    return numerical_gradient(f, theta, eps, method="forward")


def backward_difference(f: Callable[[Any], float], theta: Any, eps: float | None = None) -> Any:
    """One-sided backward difference ``(f(theta) - f(theta - eps)) / eps``, error O(eps).

    Default step ``EPS**(1/2) * max(1, |theta_i|)``, as for :func:`forward_difference`.
    """
    return numerical_gradient(f, theta, eps, method="backward")


def central_difference(f: Callable[[Any], float], theta: Any, eps: float | None = None) -> Any:
    """Two-sided difference ``(f(theta + eps) - f(theta - eps)) / (2 eps)``, error O(eps**2).

    The odd terms of the Taylor series cancel, leaving ``eps**2 * f''' / 6``. Twice the cost of a
    one-sided difference, and worth it. Default step ``EPS**(1/3) * max(1, |theta_i|)`` (about
    6e-6), which balances ``eps**2`` truncation against ``EPS / eps`` round-off.
    """
    return numerical_gradient(f, theta, eps, method="central")


# --------------------------------------------------------------------------- error order


def error_vs_eps(f: Callable[[Any], float], theta: Any, exact: Any,
                 eps_values: Iterable[float], method: str = "central") -> np.ndarray:
    """Error of a finite-difference estimate for each step in ``eps_values``.

    Parameters
    ----------
    f, theta, method
        As for :func:`numerical_gradient`.
    exact : float, ndarray or structure
        The true gradient, in theta's structure.
    eps_values : sequence of float

    Returns
    -------
    errors : ndarray, shape (len(eps_values),)
        ``||estimate - exact||_2`` (the absolute error for a scalar theta); NaN where the step is
        below the float's resolution (``theta + eps == theta``).

    Examples
    --------
    >>> errs = error_vs_eps(lambda t: t**3, 1.0, 3.0, [1e-2, 1e-3])
    >>> print([f"{e:.1e}" for e in errs])
    ['1.0e-04', '1.0e-06']
    """
    exact_flat, exact_spec = flatten(exact)
    out = []
    for eps in eps_values:
        check_eps(eps)
        try:
            est = Estimate(f, theta, eps, method)
        except StepTooSmallError:
            out.append(np.nan)
            continue
        if est.grad.shape != exact_flat.shape:
            est.target.spec.check_same(exact_spec, what="exact gradient")
        out.append(float(np.linalg.norm(est.grad - exact_flat)))
    return np.asarray(out)


def fit_order(eps_values: Iterable[float], errors: Iterable[float]) -> float:
    """Fitted log-log slope of error against eps over the truncation regime only.

    For small steps the error is dominated by round-off and grows as eps shrinks (slope about
    -1); for larger steps by truncation, with slope equal to the order of the method. This finds
    the smallest error, keeps only the larger steps whose error is well above that floor and
    above the round-off ``B / eps`` seen at the smaller steps (``B``: the largest ``error * eps``
    up to the best step), and fits a line to ``log(error)`` against ``log(eps)`` there.

    Parameters
    ----------
    eps_values, errors : sequences of float, same length
        NaN, Inf and exact zeros are ignored.

    Returns
    -------
    float
        About 1 for one-sided differences, 2 for central, 4 for the Richardson stencil.

    Examples
    --------
    >>> import numpy as np
    >>> eps = np.logspace(-14, -1, 27)
    >>> errs = error_vs_eps(lambda t: t**3, 1.0, 3.0, eps, method="forward")
    >>> print(f"{fit_order(eps, errs):.1f}")
    1.0
    """
    eps = np.asarray(list(eps_values), dtype=np.float64)
    err = np.asarray(list(errors), dtype=np.float64)
    if eps.shape != err.shape or eps.ndim != 1:
        raise ValueError("eps_values and errors must be 1-D sequences of the same length")
    ok = np.isfinite(err) & (err > 0) & np.isfinite(eps) & (eps > 0)
    eps, err = eps[ok], err[ok]
    order = np.argsort(eps)
    eps, err = eps[order], err[order]
    if eps.size < 2:
        raise ValueError("need at least two steps with a finite, nonzero error to fit an order")
    best = int(np.argmin(err))
    # Round-off errs by at most about B / eps: B is the largest err * eps at the steps up to the
    # best one (where round-off dominates). Truncation regime: steps above the best one whose
    # error stands 30 times above both that round-off and the smallest error (a lucky point of
    # round-off just above the best step would bend the slope: log10 at 0.5 gave 1.61, not 2).
    roundoff = float(np.max(err[: best + 1] * eps[: best + 1]))
    keep = (np.arange(eps.size) > best) & (err >= 30 * err[best]) & (err >= 30 * roundoff / eps)
    if keep.sum() < 2:
        raise ValueError(
            "fewer than two steps lie in the truncation regime (above the step with the "
            "smallest error); add larger eps values"
        )
    slope, _ = np.polyfit(np.log(eps[keep]), np.log(err[keep]), 1)
    return float(slope)
