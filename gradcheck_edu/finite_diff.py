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

This module holds the estimators a user calls and :class:`Estimate`, everything one pass of
finite differences measured, which the checks consume. The loop they run is the one of
:mod:`gradcheck_edu.basics`, made exact and general in two parts: :mod:`~gradcheck_edu.stencils`
(which stencil, which step) and :mod:`~gradcheck_edu.target` (theta made ready, and the loop
itself, which the target owns; :mod:`~gradcheck_edu.batched` for an ``f`` that takes a block of
theta vectors).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .batched import BatchTarget
from .stencils import (
    EPS,
    METHODS,
    STENCILS,
    StepTooSmallError,
    check_eps,
    check_method,
    default_step,
    loss_resolution,
    lowest_precision,
    stencil_derivative,
    steps_for,
)
from .target import PrecisionWarning, Target
from .theta import flatten
from .verdicts import Limit

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
    "Estimate",
    "make_target",
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
    est = Estimate(make_target(f, theta, method, vectorized, batch_size), eps, method)
    return est.target.structure(est.grad)



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


# --------------------------------------------------------------------------- one pass


def make_target(f: Any, theta: Any, method: str = "central", vectorized: bool = False,
                batch_size: int | None = None) -> Target | BatchTarget:
    """The target that owns the loop for ``f`` and ``theta``: a :class:`Target` (the caller's
    arrays perturbed in place), or a :class:`~gradcheck_edu.batched.BatchTarget` for a
    vectorized ``f``. theta is checked here, once (:func:`~gradcheck_edu.target.check_theta`)."""
    check_method(method)
    if vectorized:
        return BatchTarget(f, theta, method == "complex", batch_size)
    return Target(f, theta, complex_step=method == "complex")


class Estimate:
    """Everything one pass of finite differences measured (used by the gradient checks).

    Per component, as arrays (no Python object per component): ``leaf`` and ``flat`` (which
    entry), ``steps`` (the step h the floats represent), ``moves`` (the moves actually made,
    shape (n_comp, n_offsets)), ``values`` (f at those points, same shape; None for the complex
    step) and ``grad``. ``f0`` is f at theta.

    What limits its accuracy: ``loss_eps``, the resolution of the precision theta is stored in
    (a loss computed from float32 parameters is no more precise than float32), and
    ``roundoff_scale``, 1 when each value of f is a rounded loss (the generic path); a path that
    computes the loss changes more precisely sets it lower (see
    :mod:`gradcheck_edu.layered`).
    """

    roundoff_scale = 1.0

    def __init__(self, target: Target | BatchTarget, eps: float | None, method: str,
                 indices: Any = None, within: float | None = None):
        check_method(method)
        self.method, self.target = method, target
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)
        self.leaf, self.flat = target.spec.components(self.indices)
        self.steps = steps_for(target, self.leaf, self.flat, eps, method)
        if within is not None:  # default steps no larger than within * |x| (x != 0)
            x = np.abs(np.concatenate([np.asarray(a).reshape(-1) for a in target.arrays]
                                      ).real)[target.spec.positions(self.leaf, self.flat)]
            self.steps = np.where(x > 0, np.minimum(self.steps, within * x), self.steps)
        self.f0 = target.base_value()
        self.values = self.moves = None
        if method == "complex":
            self.grad = target.complex_gradient(self.leaf, self.flat, self.steps)
            return
        self.values, self.steps, self.moves = target.values(
            self.leaf, self.flat, self.steps, STENCILS[method].offsets, self.f0)
        self.grad = stencil_derivative(self.values, self.moves)
        if method == "richardson" and eps is None:
            self._refine_richardson_steps()

    @classmethod
    def from_central_changes(cls, target, leaf, flat, indices, moves, changes, f0,
                             roundoff_scale=1.0):
        """An estimate from f(theta + move) - f(theta), computed elsewhere (a fast path).

        ``moves`` and ``changes`` have shape (n_comp, 2): the moves ``+h`` and ``(x - h) - x``
        and the changes of f they cause. The gradient is formed from the changes, which a fast
        path can compute to their own precision; the values ``f0 + changes`` serve the report
        (kinks, round-off floor), with ``roundoff_scale`` saying how much more precise than
        rounded losses the changes are.
        """
        est = cls.__new__(cls)
        est.method, est.target, est.leaf, est.flat, est.f0 = "central", target, leaf, flat, f0
        est.indices = None if indices is None else np.asarray(indices, dtype=np.int64)
        est.steps, est.moves, est.values = moves[:, 0].copy(), moves, f0 + changes
        est.grad = stencil_derivative(changes, moves)
        est.roundoff_scale = roundoff_scale
        return est

    @property
    def loss_eps(self) -> float:
        """The relative resolution of the loss values: that of the lowest precision in theta."""
        return loss_resolution(self.target.arrays)

    @property
    def limits(self) -> frozenset:
        """``{Limit.LOW_PRECISION}`` when theta holds float32 (or float16), else ROUNDOFF."""
        return Limit.of_resolution(self.loss_eps)

    @property
    def dtype_name(self) -> str:
        """The lowest precision among theta's arrays (``"float32"``)."""
        return lowest_precision(self.target.arrays).name

    def evaluate(self, positions: np.ndarray, offsets: tuple[float, ...]
                 ) -> tuple[np.ndarray, np.ndarray]:
        """f at extra offsets (in units of each component's step) for some components, and the
        moves actually made."""
        values, _, moves = self.target.values(self.leaf[positions], self.flat[positions],
                                              self.steps[positions], offsets, self.f0)
        return values, moves

    def _refine_richardson_steps(self) -> None:
        """Pick each component's Richardson step from the size of its own truncation error.

        The default step ``EPS**(1/5) max(1, |x|)`` assumes derivatives of order one; where f
        oscillates fast it is far too large (SciPy's ``sin(x0 x1) log(x0)`` at x0 = 100). As
        FiniteDifferences.jl's ``estimate_step`` does, the truncation error is measured first:
        two more calls at ``x +- h/2`` give the Richardson estimate with step h/2, which differs
        by about ``15/16 C h**4``. With the round-off ``1.5 EPS |f| / h`` (the weights sum to
        1.5), ``C h**4 + 1.5 EPS |f| / h`` is smallest at ``h* = (1.5 EPS |f| / (4 C))**(1/5)``.
        Components whose ``h*`` is below ``h / 2`` are evaluated again at ``h*`` (never below
        ``h / 64``): 4 more calls each.
        """
        half, half_moves = self.evaluate(np.arange(self.grad.size), (0.5, -0.5))
        # offsets h, h/2, -h/2, -h: the Richardson stencil with step h/2
        refined = stencil_derivative(
            np.c_[self.values[:, 1], half, self.values[:, 2]],
            np.c_[self.moves[:, 1], half_moves, self.moves[:, 2]])
        h = np.abs(self.steps)
        c = np.abs(self.grad - refined) * 16 / 15 / h**4
        fmax = np.maximum(np.max(np.abs(self.values), axis=1), abs(self.f0))
        rho = 1.5 * self.loss_eps * fmax
        with np.errstate(divide="ignore"):
            best = np.where(c > 0, (rho / (4 * c)) ** 0.2, h)
        best = np.clip(best, h / 64, h)
        redo = np.flatnonzero(best < h / 2)
        if redo.size == 0:
            return
        offsets = STENCILS["richardson"].offsets
        new_steps = np.copysign(best[redo], self.steps[redo])
        values, steps, moves = self.target.values(self.leaf[redo], self.flat[redo], new_steps,
                                                  offsets, self.f0)
        self.values[redo], self.steps[redo], self.moves[redo] = values, steps, moves
        self.grad[redo] = stencil_derivative(values, moves)


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
    target = make_target(f, theta, method)
    out = []
    for eps in eps_values:
        check_eps(eps)
        try:
            est = Estimate(target, eps, method)
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
