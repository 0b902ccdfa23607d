"""One pass of finite differences, with everything it measured: what the checks consume."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from .batched import BatchTarget
from .evaluate import base_value, complex_step_gradient, perturbed_values
from .steps import EPS, STENCILS, check_method, stencil_derivative, steps_for
from .target import (
    Target,
    loss_resolution,
    lowest_precision,
    select_components,
    select_offsets,
    structure_like,
)
from .verdicts import Limit

__all__ = ["Estimate"]


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

    def __init__(self, f, theta, eps, method, indices=None, vectorized=False, batch_size=None,
                 within: float | None = None):
        check_method(method)
        self.method = method
        complex_step = method == "complex"
        if vectorized:
            self.target = target = BatchTarget(f, theta, complex_step, batch_size)
        else:
            self.target = target = Target(f, theta, complex_step=complex_step)
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)
        self.leaf, self.flat = select_components(target.spec, self.indices)
        self.steps = steps_for(target, self.leaf, self.flat, eps, method)
        if within is not None:  # default steps no larger than within * |x| (x != 0)
            x = np.abs(np.concatenate([np.asarray(a).reshape(-1) for a in target.arrays]
                                      ).real)[select_offsets(target.spec, self.leaf, self.flat)]
            self.steps = np.where(x > 0, np.minimum(self.steps, within * x), self.steps)
        self.f0 = target.base_value() if vectorized else base_value(target)
        self.values = self.moves = None
        if complex_step:
            gradient = target.complex_gradient if vectorized else partial(
                complex_step_gradient, target)
            self.grad = gradient(self.leaf, self.flat, self.steps)
            return
        offsets = STENCILS[method][2]
        self.values, self.steps, self.moves = self._values(self.leaf, self.flat, self.steps,
                                                           offsets)
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
        return loss_resolution(self.target.arrays)[0]

    @property
    def limits(self) -> frozenset:
        """What limits the accuracy of the estimate: ``{Limit.ROUNDOFF}``, or
        ``{Limit.LOW_PRECISION}`` when theta holds float32 (or float16) arrays."""
        low = loss_resolution(self.target.arrays)[0] > EPS
        return frozenset({Limit.LOW_PRECISION if low else Limit.ROUNDOFF})

    @property
    def dtype_name(self) -> str:
        """The lowest precision among theta's arrays (``"float32"``)."""
        return lowest_precision(self.target.arrays).name

    def evaluate(self, positions: np.ndarray, offsets: tuple[float, ...]
                 ) -> tuple[np.ndarray, np.ndarray]:
        """f at extra offsets (in units of each component's step) for some components, and the
        moves actually made."""
        values, _, moves = self._values(self.leaf[positions], self.flat[positions],
                                        self.steps[positions], offsets)
        return values, moves

    def _values(self, leaf, flat, steps, offsets):
        """f at theta + offset * h along each component, by the target's own loop."""
        if isinstance(self.target, BatchTarget):
            return self.target.perturbed_values(leaf, flat, steps, offsets, self.f0)
        return perturbed_values(self.target, leaf, flat, steps, offsets, self.f0)

    def _refine_richardson_steps(self) -> None:
        """Pick each component's Richardson step from the size of its own truncation error.

        The default step ``EPS**(1/5) max(1, |x|)`` assumes derivatives of order one; where f
        oscillates fast it is far too large (SciPy's ``sin(x0 x1) log(x0)`` at x0 = 100). As
        FiniteDifferences.jl's ``estimate_step`` does, the truncation error is measured first:
        two more calls at ``x +- h/2`` give the Richardson estimate with step h/2 (from the
        points +-h, +-h/2), and the two
        differ by about ``15/16 C h**4``. The round-off of the estimate is about
        ``1.5 eps |f| / h`` (the stencil's weights sum to 1.5 in absolute value); the sum
        ``C h**4 + 1.5 EPS |f| / h`` is smallest at ``h* = (1.5 EPS |f| / (4 C))**(1/5)``.
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
        offsets = STENCILS["richardson"][2]
        new_steps = np.copysign(best[redo], self.steps[redo])
        values, steps, moves = self._values(self.leaf[redo], self.flat[redo], new_steps, offsets)
        self.values[redo], self.steps[redo], self.moves[redo] = values, steps, moves
        self.grad[redo] = stencil_derivative(values, moves)

    def as_structure(self, flat: np.ndarray) -> Any:
        """A flat float64 vector (one entry per component of theta) in theta's structure."""
        return structure_like(self.target, flat)
