"""theta made ready to be perturbed in place: its arrays, its components and their labels.

Internal API, shared by the estimators and the checks (documented, no underscore): a
:class:`Target` holds the arrays that are perturbed (the caller's own float arrays where
possible) and calls ``f`` on the current state; :func:`select_components` lists the components
to perturb as arrays; :func:`component_label` names one (``"W1[2, 0]"``).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .theta import spec_of

__all__ = ["PrecisionWarning", "Target", "select_components", "component_label", "flat_view",
           "check_leaf_perturbable",
           "loss_resolution", "check_finite_theta", "theta_label", "structure_like",
           "lowest_precision", "select_offsets"]


class PrecisionWarning(UserWarning):
    """theta is stored in less than float64, so finite differences hit a high round-off floor."""



class Target:
    """theta made ready to be perturbed in place, one component at a time.

    ``arrays`` are the arrays actually perturbed: the caller's own float arrays, or a float64 copy
    for a Python number or an integer array passed directly, or complex copies for the complex
    step. ``call()`` evaluates ``f`` on the current state.
    """

    def __init__(self, f: Callable[[Any], Any], theta: Any, complex_step: bool = False):
        if not callable(f):
            raise TypeError(f"f must be a function f(theta) -> float, got {type(f).__name__}")
        self.f = f
        self.complex_step = complex_step
        self.scalar = False
        if isinstance(theta, (bool, np.bool_)):
            raise TypeError("theta is a boolean; pass a number or an array of floats")
        if isinstance(theta, numbers.Number) and not isinstance(theta, np.ndarray):
            if isinstance(theta, numbers.Complex) and not isinstance(theta, numbers.Real):
                raise TypeError("theta must be real; the complex step adds the imaginary part")
            self.scalar = True
            self.spec = spec_of(float(theta))
            self.arrays = [np.array(theta, dtype=np.complex128 if complex_step else np.float64)]
            self.arg = None
        elif isinstance(theta, np.ndarray):
            self.spec = spec_of(theta)
            arr = theta
            if np.issubdtype(arr.dtype, np.integer):
                # Copied, never truncated: f receives the float64 copy.
                arr = arr.astype(np.float64)
            elif not np.issubdtype(arr.dtype, np.floating):
                raise TypeError(f"theta has dtype {arr.dtype}; pass an array of floats")
            if complex_step:
                arr = arr.astype(np.complex128)
            elif not arr.flags.writeable:
                arr = arr.copy()
            self.arrays = [arr]
            self.arg = arr
        else:
            self.spec = spec_of(theta)
            leaves = self.spec.leaf_values(theta)
            for leaf, value in zip(self.spec.leaves, leaves):
                check_leaf_perturbable(leaf.name, value)
            if complex_step:
                self.arrays = [np.asarray(v, dtype=np.complex128).copy() for v in leaves]
                self.arg = self.spec.build(self.arrays)
            else:
                self.arrays = leaves
                self.arg = theta
        check_finite_theta(self.spec, self.arrays)
        low = [a.dtype for a in self.arrays if a.dtype in (np.float16, np.float32)]
        if low:
            warnings.warn(
                f"theta holds {low[0]} values: a finite difference divides round-off of about "
                f"{np.finfo(low[0]).eps:.0e} * |f| by the step, so it cannot be trusted much "
                "below 1e-3 relative error. Gradient checks should run in float64 "
                "(e.g. build the model with dtype=np.float64).",
                PrecisionWarning,
                stacklevel=4,
            )

    def call(self) -> Any:
        if self.scalar:
            return self.f(self.arrays[0].item())
        return self.f(self.arg)

    def components(self, indices: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The components to perturb as two int64 arrays: the position of each one's leaf in
        ``spec.leaves`` and its flat (C-order) index inside that leaf. All of theta in order, or
        the given flat indices of theta. Arrays, not a list of tuples: a full check of a large
        model keeps 16 bytes per component here."""
        return select_components(self.spec, indices)

    def label(self, k: int, flat: int) -> str:
        """``"W1[2, 0]"``: the name of leaf ``k`` and the index of its flat entry ``flat``."""
        return component_label(self.spec, k, flat)


def select_offsets(spec: Any, leaf: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """The flat positions in theta of components (leaf, flat) (see :func:`select_components`)."""
    starts = np.array([lf.offset for lf in spec.leaves], dtype=np.int64)
    return starts[leaf] + flat


def structure_like(target: Any, flat: np.ndarray) -> Any:
    """A flat float64 vector (one entry per component) in the structure of the target's theta:
    a float for a number, an array of theta's shape, or the structure of arrays."""
    if target.scalar:
        return float(flat[0])
    if isinstance(target.arg, np.ndarray):
        return flat.reshape(target.spec.leaves[0].shape)
    return target.spec.unflatten(flat, dtype=np.float64)


def select_components(spec: Any, indices: Iterable[int] | None) -> tuple[np.ndarray, np.ndarray]:
    """(leaf position, flat index inside the leaf) of each component: all of theta in order, or
    the given flat indices of theta (negative ones count from the end)."""
    sizes = np.array([leaf.size for leaf in spec.leaves], dtype=np.int64)
    starts = np.array([leaf.offset for leaf in spec.leaves], dtype=np.int64)
    if indices is None:
        leaf = np.repeat(np.arange(sizes.size, dtype=np.int64), sizes)
        return leaf, np.arange(spec.size, dtype=np.int64) - starts[leaf]
    i = np.asarray(indices, dtype=np.int64).reshape(-1)
    if i.size and not (np.all(i >= -spec.size) and np.all(i < spec.size)):
        bad = int(i[(i < -spec.size) | (i >= spec.size)][0])
        raise IndexError(f"index {bad} is out of range for a theta of size {spec.size}")
    i = i % max(spec.size, 1)
    # the first leaf that ends after i (empty leaves end where they start, so are skipped)
    leaf = np.searchsorted(starts + sizes, i, side="right").astype(np.int64)
    return leaf, i - starts[leaf]


def component_label(spec: Any, k: int, flat: int) -> str:
    """``"W1[2, 0]"`` for flat entry ``flat`` of leaf ``k`` of ``spec``; the bare name for a
    scalar."""
    leaf = spec.leaves[int(k)]
    if not leaf.shape:
        return leaf.name
    index = np.unravel_index(int(flat), leaf.shape)
    return f"{leaf.name}[{', '.join(str(int(j)) for j in index)}]"


def flat_view(arr: np.ndarray) -> Any:
    """Something that reads and writes ``arr``'s entries by flat index, in place: a 1-D view for
    a C-contiguous array, else the array's flat iterator (which writes through to it)."""
    return arr.reshape(-1) if arr.flags.c_contiguous else arr.flat


def theta_label(spec: Any, i: int) -> str:
    """``"W1[2, 0]"`` for entry ``i`` of the flat theta of ``spec``."""
    k, index = spec.leaf_index(int(i))
    leaf = spec.leaves[k]
    flat = int(np.ravel_multi_index(index, leaf.shape)) if leaf.shape else 0
    return component_label(spec, k, flat)


def check_leaf_perturbable(name: str, value: Any) -> None:
    """Raise a TypeError naming the parameter unless it is a writeable float array."""
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"parameter {name!r} is a {type(value).__name__}, which cannot be perturbed in "
            f"place; store it as an array, e.g. np.array({value!r})"
        )
    if np.issubdtype(value.dtype, np.integer):
        raise TypeError(
            f"parameter {name!r} is an integer array ({value.dtype}): a step of eps would be "
            "truncated away. Store parameters as floats, e.g. W = W.astype(np.float64)"
        )
    if not np.issubdtype(value.dtype, np.floating):
        raise TypeError(f"parameter {name!r} has dtype {value.dtype}; use float64 arrays")
    if not value.flags.writeable:
        raise TypeError(f"parameter {name!r} is read-only; it must be writeable to be perturbed")


def lowest_precision(arrays: list[np.ndarray]) -> np.dtype:
    """The lowest floating precision among ``arrays`` (float64 when there is none)."""
    floats = [a.dtype for a in arrays if np.issubdtype(a.dtype, np.floating)]
    return min(floats, key=lambda d: d.itemsize, default=np.dtype(np.float64))


def loss_resolution(arrays: list[np.ndarray]) -> tuple[float, str]:
    """The relative resolution of a loss computed from ``arrays``, and what sets it, in words.

    A loss computed from float32 parameters is no more precise than float32, so the lowest
    precision among the arrays sets it (float64's 2.2e-16 at best).
    """
    low = lowest_precision(arrays)
    eps = max(float(np.finfo(low).eps), float(np.finfo(np.float64).eps))
    if low.itemsize >= 8:
        return eps, "round-off of the loss values at this step"
    return eps, f"the resolution of {low} (eps {eps:.0e}): check in float64"


def check_finite_theta(spec: Any, arrays: list[np.ndarray]) -> None:
    """Raise a ValueError naming the first NaN or Inf entry of theta.

    A finite difference at a NaN is NaN, and at an Inf it cannot move: neither says anything
    about the gradient, so theta is checked before f is ever called.
    """
    for k, arr in enumerate(arrays):
        finite = np.isfinite(arr)
        if not finite.all():
            i = int(np.argmax(~finite.reshape(-1)))
            value = np.asarray(arr).reshape(-1)[i]
            raise ValueError(
                f"theta has {value.real if np.iscomplexobj(value) else value} at "
                f"{component_label(spec, k, i)}: finite differences need finite parameters. "
                "Check how the parameters were initialised or updated (a diverged step?)")
