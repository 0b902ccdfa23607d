"""One pass of finite differences, with everything it measured: what the checks consume."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from .batched import BatchTarget
from .evaluate import base_value, complex_step_gradient, perturbed_values
from .steps import STENCILS, check_method, steps_for
from .target import Target, select_components

__all__ = ["Estimate"]


class Estimate:
    """Everything one pass of finite differences measured (used by the gradient checks).

    Per component, as arrays (no Python object per component): ``leaf`` and ``flat`` (which
    entry), ``steps`` (the step h that f saw), ``values`` (f at the stencil points) and
    ``grad``.
    """

    def __init__(self, f, theta, eps, method, indices=None, vectorized=False, batch_size=None):
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
        self.f0 = target.base_value() if vectorized else base_value(target)
        self.values = None
        if complex_step:
            gradient = target.complex_gradient if vectorized else partial(
                complex_step_gradient, target)
            self.grad = gradient(self.leaf, self.flat, self.steps)
            return
        _, _, offsets, weights = STENCILS[method]
        self.values, self.steps = self._values(self.leaf, self.flat, self.steps, offsets)
        self.grad = self.values @ np.asarray(weights) / self.steps

    @classmethod
    def from_central_changes(cls, target, leaf, flat, indices, steps, changes, f0):
        """An estimate from f(theta +- h e_k) - f(theta), computed elsewhere (a fast path).

        ``changes`` has shape (n_comp, 2), for the offsets +h and -h. The gradient is formed from
        the changes, which a fast path can compute to their own precision; the values
        ``f0 + changes`` serve the report (kinks, round-off floor).
        """
        est = cls.__new__(cls)
        est.method, est.target, est.leaf, est.flat, est.f0 = "central", target, leaf, flat, f0
        est.indices = None if indices is None else np.asarray(indices, dtype=np.int64)
        est.steps, est.values = steps, f0 + changes
        est.grad = changes @ np.asarray(STENCILS["central"][3]) / steps
        return est

    def evaluate(self, positions: np.ndarray, offsets: tuple[float, ...]) -> np.ndarray:
        """f at extra offsets (in units of each component's step) for some components."""
        values, _ = self._values(self.leaf[positions], self.flat[positions],
                                 self.steps[positions], offsets)
        return values

    def _values(self, leaf, flat, steps, offsets):
        """f at theta + offset * h along each component, by the target's own loop."""
        if isinstance(self.target, BatchTarget):
            return self.target.perturbed_values(leaf, flat, steps, offsets, self.f0)
        return perturbed_values(self.target, leaf, flat, steps, offsets, self.f0)

    def as_structure(self, flat: np.ndarray) -> Any:
        """A flat float64 vector (one entry per component of theta) in theta's structure."""
        if self.target.scalar:
            return float(flat[0])
        if isinstance(self.target.arg, np.ndarray):
            return flat.reshape(self.target.spec.leaves[0].shape)
        return self.target.spec.unflatten(flat, dtype=np.float64)
