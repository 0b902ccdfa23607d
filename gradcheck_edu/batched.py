"""The batched path: an ``f`` that takes a block of flat theta vectors, shape (k, n)."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .arguments import check_finite_theta, check_theta
from .stencils import representable_steps
from .target import PrecisionWarning, Target, check_deterministic, side_label
from .theta import flatten

__all__ = ["BatchTarget", "batch_values"]


class BatchTarget:
    """theta for an ``f`` that takes a batch of flat theta vectors, shape (k, n) (``vectorized``).

    theta is flattened to float64 once. f receives a read-only block of rows that equal theta
    except for one perturbed entry each; the block is filled with theta once, and only the
    touched entries are set before a call and put back after it. The methods are those of
    :class:`~gradcheck_edu.target.Target`: ``base_value``, ``values``, ``complex_gradient``,
    ``label``, ``structure``.
    """

    def __init__(self, f: Callable, theta: Any, complex_step: bool, batch_size: int | None):
        if not callable(f):
            raise TypeError(f"f must be a function f(T) -> values, got {type(f).__name__}")
        check_theta(theta, in_place=False)
        if isinstance(theta, np.ndarray) and theta.dtype in (np.float16, np.float32):
            warnings.warn("theta is low precision; it is flattened to float64 for a vectorized "
                          "f", PrecisionWarning, stacklevel=4)
        if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) < 1):
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.f, self.complex_step, self.batch_size = f, complex_step, batch_size
        self.theta0, self.spec = flatten(theta)
        self.scalar = isinstance(theta, numbers.Number) and not isinstance(theta, np.ndarray)
        self.arg = theta if isinstance(theta, np.ndarray) else None
        self.arrays = [self.theta0[leaf.offset: leaf.offset + leaf.size].reshape(leaf.shape)
                       for leaf in self.spec.leaves]
        check_finite_theta(self.spec, self.arrays)
        self._starts = np.array([leaf.offset for leaf in self.spec.leaves], dtype=np.int64)
        self._block = np.empty((0, self.theta0.size))

    label = Target.label  # (they read only spec, scalar and arg)
    structure = Target.structure

    def base_value(self) -> float | complex:
        base = self.theta0.astype(np.complex128) if self.complex_step else self.theta0
        none = np.empty(0, dtype=np.int64)
        both = np.stack([base, base])
        both.flags.writeable = False
        f0 = batch_values(self.f, both, self.spec, none, "the unperturbed theta",
                           self.complex_step)
        check_deterministic(f0[0], f0[1])
        return complex(f0[0]) if self.complex_step else float(f0[0])

    def _rows(self, n_comp: int) -> np.ndarray:
        """The work block, every row equal to theta (complex for the complex step)."""
        n = self.theta0.size
        k = self.batch_size or max(1, (1 << 22) // max(n, 1))  # about 32 MB
        k = max(1, min(int(k), n_comp))
        dtype = np.complex128 if self.complex_step else np.float64
        if self._block.shape[0] < k or self._block.dtype != dtype:
            self._block = np.empty((k, n), dtype=dtype)
            self._block[:] = self.theta0
        return self._block

    def _batches(self, leaf: np.ndarray, flat: np.ndarray):
        """(slice of components, their theta positions, the block, a read-only view of it)."""
        pos = self._starts[leaf] + flat
        T = self._rows(pos.size)
        k = T.shape[0]
        for s in range(0, pos.size, k):
            sl = slice(s, min(s + k, pos.size))
            block = T[: sl.stop - s]
            view = block.view()
            view.flags.writeable = False  # f must not change its input: the block is reused
            yield sl, pos[sl], block, view

    def values(self, leaf: np.ndarray, flat: np.ndarray, steps: np.ndarray,
                         offsets: tuple[float, ...], f0: float
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`~gradcheck_edu.target.Target.values`: values, steps and moves."""
        x = self.theta0[self._starts[leaf] + flat]
        h = np.empty(leaf.size)
        for k in np.unique(leaf):
            mine = leaf == k
            h[mine] = representable_steps(self.theta0, x[mine], steps[mine], self, int(k),
                                           flat[mine])
        values = np.empty((leaf.size, len(offsets)))
        moves = np.stack([(x + o * h) - x for o in offsets], axis=1)
        for sl, pos, block, view in self._batches(leaf, flat):
            rows = np.arange(pos.size)
            for m, offset in enumerate(offsets):
                if offset == 0:
                    values[sl, m] = f0
                    continue
                try:
                    block[rows, pos] = x[sl] + offset * h[sl]
                    values[sl, m] = batch_values(self.f, view, self.spec, pos, side_label(offset),
                                                  False)
                finally:
                    block[rows, pos] = x[sl]
        return values, h, moves

    def complex_gradient(self, leaf: np.ndarray, flat: np.ndarray,
                         steps: np.ndarray) -> np.ndarray:
        x = self.theta0[self._starts[leaf] + flat]
        grad = np.empty(leaf.size)
        for sl, pos, block, view in self._batches(leaf, flat):
            rows = np.arange(pos.size)
            try:
                block[rows, pos] = x[sl] + 1j * steps[sl]
                v = batch_values(self.f, view, self.spec, pos, "theta + i*eps", True)
            finally:
                block[rows, pos] = x[sl]
            grad[sl] = v.imag / steps[sl]
        return grad


def batch_values(f: Callable, T: np.ndarray, spec: Any, rows: np.ndarray, where: str,
                  complex_step: bool) -> np.ndarray:
    """f on a (k, n) batch, checked: k finite values, complex ones for the complex step."""
    values = np.asarray(f(T))
    if values.dtype.kind not in "fciub":
        raise TypeError(f"with vectorized=True, f must return numbers (the losses), but it "
                        f"returned an array of dtype {values.dtype}")
    if values.shape != (T.shape[0],):
        raise ValueError(
            f"with vectorized=True, f must return one value per row of its (k, n) input, "
            f"shape ({T.shape[0]},), but it returned shape {values.shape}"
        )
    if complex_step and not np.iscomplexobj(values):
        raise TypeError("with method='complex', f must carry the imaginary part through, but "
                        "it returned real values; see numerical_gradient's Notes")
    bad = ~np.isfinite(values)
    if bad.any():
        r = int(np.argmax(bad))
        label = spec.label_of(int(rows[r])) if rows.size else "theta"
        raise ValueError(f"f returned {values[r]} at {where} in component {label}. Check for "
                         "overflow or log(0), or use a smaller eps")
    return values
