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
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import numpy as np

from .theta import flatten, spec_of

__all__ = [
    "forward_difference",
    "backward_difference",
    "central_difference",
    "numerical_gradient",
    "default_step",
    "error_vs_eps",
    "fit_order",
    "METHODS",
    "PrecisionWarning",
    "StepTooSmallError",
]

EPS = float(np.finfo(np.float64).eps)

# method -> (truncation order, relative default step, stencil offsets, stencil weights).
# The derivative is sum(w * f(x + o*h)) / h. Default steps balance truncation error ~ h**p against
# round-off ~ EPS/h, whose sum is smallest at h ~ EPS**(1/(p+1)).
_STENCILS: dict[str, tuple[int, float, tuple[int, ...], tuple[float, ...]]] = {
    "forward": (1, EPS ** (1 / 2), (0, 1), (-1.0, 1.0)),
    "backward": (1, EPS ** (1 / 2), (-1, 0), (-1.0, 1.0)),
    "central": (2, EPS ** (1 / 3), (1, -1), (0.5, -0.5)),
    "richardson": (4, EPS ** (1 / 5), (2, 1, -1, -2),
                   (-1 / 12, 8 / 12, -8 / 12, 1 / 12)),
}
# Complex step has no subtraction, hence no cancellation: a tiny step is fine.
_COMPLEX_STEP = 1e-20

METHODS = ("forward", "backward", "central", "complex", "richardson")


class PrecisionWarning(UserWarning):
    """theta is stored in less than float64, so finite differences hit a high round-off floor."""


class StepTooSmallError(ValueError):
    """The step is below the float's resolution: ``theta + eps == theta``."""


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def default_step(theta: Any, method: str = "central") -> np.ndarray:
    """The textbook step for ``method`` in float64, scaled by ``max(1, |theta_i|)``.

    Parameters
    ----------
    theta : array_like
        Values at which the derivative is wanted.
    method : {"forward", "backward", "central", "richardson", "complex"}

    Returns
    -------
    ndarray, same shape as ``theta``
        ``EPS**(1/2)`` for one-sided, ``EPS**(1/3)`` for central, ``EPS**(1/5)`` for the
        fourth-order Richardson stencil and ``1e-20`` for the complex step, times
        ``max(1, |theta_i|)``.

    Notes
    -----
    A difference of order ``p`` has truncation error ``C1 * h**p`` and round-off error about
    ``C2 * EPS / h`` (``f`` is known to ``EPS`` relative accuracy, and the difference is divided
    by ``h``). Their sum is smallest at ``h ~ EPS**(1/(p+1))``: ``1.5e-8`` one-sided, ``6e-6``
    central, ``7e-4`` for the fourth-order stencil.
    """
    _check_method(method)
    rel = _COMPLEX_STEP if method == "complex" else _STENCILS[method][1]
    return rel * np.maximum(1.0, np.abs(np.asarray(theta, dtype=np.float64)))


# --------------------------------------------------------------------------- preparing theta


class _Target:
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
                _check_leaf_perturbable(leaf.name, value)
            if complex_step:
                self.arrays = [np.asarray(v, dtype=np.complex128).copy() for v in leaves]
                self.arg = self.spec.build(self.arrays)
            else:
                self.arrays = leaves
                self.arg = theta
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
        return _components(self.spec, indices)

    def label(self, k: int, flat: int) -> str:
        """``"W1[2, 0]"``: the name of leaf ``k`` and the index of its flat entry ``flat``."""
        return _label(self.spec, k, flat)

    def perturbed_values(self, leaf: np.ndarray, flat: np.ndarray, steps: np.ndarray,
                         offsets: tuple[float, ...], f0: float
                         ) -> tuple[np.ndarray, np.ndarray]:
        return _perturbed_values(self, leaf, flat, steps, offsets, f0)


def _components(spec: Any, indices: Iterable[int] | None) -> tuple[np.ndarray, np.ndarray]:
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


def _label(spec: Any, k: int, flat: int) -> str:
    leaf = spec.leaves[int(k)]
    if not leaf.shape:
        return leaf.name
    index = np.unravel_index(int(flat), leaf.shape)
    return f"{leaf.name}[{', '.join(str(int(j)) for j in index)}]"


def _flat_view(arr: np.ndarray) -> Any:
    """Something that reads and writes ``arr``'s entries by flat index, in place: a 1-D view for
    a C-contiguous array, else the array's flat iterator (which writes through to it)."""
    return arr.reshape(-1) if arr.flags.c_contiguous else arr.flat


def _check_leaf_perturbable(name: str, value: Any) -> None:
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


def _real_scalar(value: Any) -> float:
    """f's return value as a float, or a clear error."""
    if type(value) is float:
        return value
    if np.ndim(value) != 0:
        raise ValueError(
            f"f must return a scalar (the loss), but it returned an array of shape "
            f"{np.shape(value)}; reduce it, e.g. return float(np.sum(...)) or loss.item()"
        )
    if np.iscomplexobj(value):
        raise TypeError("f returned a complex number; only method='complex' expects that")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"f must return a real scalar (the loss), but it returned {type(value).__name__}"
        ) from None


def _check_finite(value: float, where: str) -> None:
    if not math.isfinite(value):
        raise ValueError(
            f"f returned {value} {where}. Check for overflow (exp of a large number), log(0) "
            "or division by zero, or use a smaller eps"
        )


def _check_eps(eps: Any) -> float:
    try:
        eps = float(eps)
    except (TypeError, ValueError):
        raise TypeError(f"eps must be a positive number, got {eps!r}") from None
    if not eps > 0 or not math.isfinite(eps):
        raise ValueError(f"eps must be a positive, finite number, got {eps}")
    return eps


def _steps(target: _Target, leaf: np.ndarray, flat: np.ndarray, eps: float | None,
           method: str) -> np.ndarray:
    """Step for each component: eps itself, or the default step scaled by |theta_i|."""
    if eps is None:
        values = np.empty(leaf.size)
        for k, arr in enumerate(target.arrays):
            pos = np.flatnonzero(leaf == k)
            if pos.size:
                values[pos] = np.abs(np.asarray(arr).reshape(-1)[flat[pos]])
        return default_step(values, method)
    eps = _check_eps(eps)
    if method != "complex":
        for k, arr in enumerate(target.arrays):
            moved = (arr + arr.dtype.type(eps)) == arr
            if np.any(moved):
                i = int(np.argmax(moved))
                raise StepTooSmallError(
                    f"eps={eps:g} is too small: at {target.label(k, i)} = "
                    f"{np.asarray(arr).reshape(-1)[i]!r}, theta + eps == theta in {arr.dtype}. "
                    "Use a larger eps (or eps=None for the default step)"
                )
    return np.full(leaf.size, eps)


# --------------------------------------------------------------------------- the evaluation loop


def _base_value(target: _Target) -> float | complex:
    """f at the unperturbed theta, evaluated twice to catch a non-deterministic f."""
    first, second = target.call(), target.call()
    if target.complex_step:
        first, second = _complex_scalar(first, "at the unperturbed theta"), _complex_scalar(
            second, "at the unperturbed theta")
        _check_finite(abs(first), "at the unperturbed theta")
    else:
        first, second = _real_scalar(first), _real_scalar(second)
        _check_finite(first, "at the unperturbed theta")
    _check_deterministic(first, second)
    return first


def _check_deterministic(first: Any, second: Any) -> None:
    """Two values of f at the same theta must be equal, or no difference of f means anything."""
    if first != second:
        raise ValueError(
            f"f is not deterministic: two calls at the same theta returned {first!r} and "
            f"{second!r}. Fix the random seed inside f (e.g. a fixed dropout mask) or disable "
            "dropout and random sampling while checking gradients"
        )


def _side(offset: float) -> str:
    if offset == 1:
        return "theta + eps"
    if offset == -1:
        return "theta - eps"
    return f"theta {'+' if offset > 0 else '-'} {abs(offset):g}*eps"


def _representable_steps(arr: np.ndarray, x: np.ndarray, steps: np.ndarray, target: Any,
                         k: int, flat: np.ndarray) -> np.ndarray:
    """The steps the floats can represent, ``(x + h) - x`` in ``arr``'s dtype: what f sees."""
    h = (x + steps.astype(arr.dtype)) - x
    if np.any(h == 0):
        j = int(np.argmax(h == 0))
        raise StepTooSmallError(
            f"the step {steps[j]:g} vanishes at {target.label(k, int(flat[j]))} = {x[j]!r}: "
            f"theta + eps == theta in {arr.dtype}. Use a larger eps"
        )
    return h


def _perturbed_values(target: _Target, leaf: np.ndarray, flat: np.ndarray, steps: np.ndarray,
                      offsets: tuple[float, ...], f0: float) -> tuple[np.ndarray, np.ndarray]:
    """f at theta + offset*h along each component: values (n_comp, n_offsets) and steps h.

    Only the f calls cost anything here: each component of the caller's arrays is set in place
    (through a flat view, no copy of theta), f is called, and the original value is put back, in
    ``finally`` too. The points are computed once per leaf, in the leaf's dtype.
    """
    values = np.empty((leaf.size, len(offsets)))
    h_used = np.empty(leaf.size)
    for k, arr in enumerate(target.arrays):
        pos = np.flatnonzero(leaf == k)
        if pos.size == 0:
            continue
        x = np.asarray(arr).reshape(-1)[flat[pos]]  # the originals, in the array's own dtype
        h = _representable_steps(arr, x, steps[pos], target, k, flat[pos])
        h_used[pos] = h
        view = _flat_view(arr)
        for s in range(0, pos.size, _BLOCK):  # blocks: the Python lists below stay small
            b = slice(s, s + _BLOCK)
            values[pos[b]] = _leaf_values(target, k, view, flat[pos[b]], x[b], h[b], offsets,
                                          f0)
    return values, h_used


# Components per block of the evaluation loop (its Python lists cost ~150 bytes per component).
_BLOCK = 4096


def _leaf_values(target: _Target, k: int, view: Any, flat: np.ndarray, x: np.ndarray,
                 h: np.ndarray, offsets: tuple[float, ...], f0: float) -> np.ndarray:
    """The loop itself, for components ``flat`` of leaf ``k`` (originals ``x``, steps ``h``)."""
    values = np.empty((flat.size, len(offsets)))
    # Python floats for float64 (cheapest to write); the dtype's own scalars otherwise.
    as_list = (lambda a: a.tolist()) if x.dtype == np.float64 else list
    points = [None if o == 0 else as_list(x + x.dtype.type(o) * h) for o in offsets]
    originals, where = as_list(x), flat.tolist()
    call = target.call
    current = None
    try:
        for j, i in enumerate(where):
            current = j
            for m, offset in enumerate(offsets):
                if offset == 0:
                    values[j, m] = f0
                    continue
                view[i] = points[m][j]
                v = call()
                if type(v) is not float:
                    v = _real_scalar(v)
                if not math.isfinite(v):
                    _check_finite(v, f"at {_side(offset)} in component {target.label(k, i)} "
                                     f"(eps={float(h[j]):.3g})")
                values[j, m] = v
            view[i] = originals[j]
            current = None
    finally:
        if current is not None:
            view[where[current]] = originals[current]
    return values


def _complex_scalar(value: Any, where: str) -> complex:
    if np.ndim(value) != 0:
        raise ValueError(
            f"f must return a scalar (the loss), but it returned an array of shape "
            f"{np.shape(value)} {where}"
        )
    if not np.iscomplexobj(value):
        raise TypeError(
            "with method='complex', f must carry the imaginary part through, but it returned "
            f"a real {type(value).__name__} {where}. Something in f dropped it: np.abs, "
            "float(), np.real, or a comparison such as np.maximum. Use method='central' for "
            "such f"
        )
    return complex(value)


def _complex_step_gradient(target: _Target, leaf: np.ndarray, flat: np.ndarray,
                           steps: np.ndarray) -> np.ndarray:
    """Im f(theta + i h e_k) / h for each component: no subtraction, no cancellation."""
    grad = np.empty(leaf.size)
    for j in range(leaf.size):
        k, i = int(leaf[j]), int(flat[j])
        view = _flat_view(target.arrays[k])
        x = view[i]
        h = float(steps[j])
        try:
            view[i] = x + 1j * h
            where = f"at theta + i*eps in component {target.label(k, i)}"
            v = _complex_scalar(target.call(), where)
            _check_finite(abs(v), where)
        finally:
            view[i] = x
        grad[j] = v.imag / h
    return grad


class _BatchTarget:
    """theta for an ``f`` that takes a batch of flat theta vectors, shape (k, n) (``vectorized``).

    theta is flattened to float64 once. f receives a read-only block of rows that equal theta
    except for one perturbed entry each; the block is filled with theta once, and only the
    touched entries are set before a call and put back after it.
    """

    def __init__(self, f: Callable, theta: Any, complex_step: bool, batch_size: int | None):
        if not callable(f):
            raise TypeError(f"f must be a function f(T) -> values, got {type(f).__name__}")
        if isinstance(theta, (bool, np.bool_)):
            raise TypeError("theta is a boolean; pass a number or an array of floats")
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
        self._starts = np.array([leaf.offset for leaf in self.spec.leaves], dtype=np.int64)
        self._block = np.empty((0, self.theta0.size))

    def label(self, k: int, flat: int) -> str:
        return _label(self.spec, k, flat)

    def base_value(self) -> float | complex:
        base = self.theta0.astype(np.complex128) if self.complex_step else self.theta0
        none = np.empty(0, dtype=np.int64)
        both = np.stack([base, base])
        both.flags.writeable = False
        f0 = _batch_values(self.f, both, self.spec, none, "the unperturbed theta",
                           self.complex_step)
        _check_deterministic(f0[0], f0[1])
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

    def perturbed_values(self, leaf: np.ndarray, flat: np.ndarray, steps: np.ndarray,
                         offsets: tuple[float, ...], f0: float
                         ) -> tuple[np.ndarray, np.ndarray]:
        x = self.theta0[self._starts[leaf] + flat]
        h = np.empty(leaf.size)
        for k in np.unique(leaf):
            mine = leaf == k
            h[mine] = _representable_steps(self.theta0, x[mine], steps[mine], self, int(k),
                                           flat[mine])
        values = np.empty((leaf.size, len(offsets)))
        for sl, pos, block, view in self._batches(leaf, flat):
            rows = np.arange(pos.size)
            for m, offset in enumerate(offsets):
                if offset == 0:
                    values[sl, m] = f0
                    continue
                try:
                    block[rows, pos] = x[sl] + offset * h[sl]
                    values[sl, m] = _batch_values(self.f, view, self.spec, pos, _side(offset),
                                                  False)
                finally:
                    block[rows, pos] = x[sl]
        return values, h

    def complex_gradient(self, leaf: np.ndarray, flat: np.ndarray,
                         steps: np.ndarray) -> np.ndarray:
        x = self.theta0[self._starts[leaf] + flat]
        grad = np.empty(leaf.size)
        for sl, pos, block, view in self._batches(leaf, flat):
            rows = np.arange(pos.size)
            try:
                block[rows, pos] = x[sl] + 1j * steps[sl]
                v = _batch_values(self.f, view, self.spec, pos, "theta + i*eps", True)
            finally:
                block[rows, pos] = x[sl]
            grad[sl] = v.imag / steps[sl]
        return grad


class _Estimate:
    """Everything one pass of finite differences measured (used by the gradient checks).

    Per component, as arrays (no Python object per component): ``leaf`` and ``flat`` (which
    entry), ``steps`` (the step h that f saw), ``values`` (f at the stencil points) and
    ``grad``.
    """

    def __init__(self, f, theta, eps, method, indices=None, vectorized=False, batch_size=None):
        _check_method(method)
        self.method = method
        complex_step = method == "complex"
        if vectorized:
            self.target = target = _BatchTarget(f, theta, complex_step, batch_size)
        else:
            self.target = target = _Target(f, theta, complex_step=complex_step)
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)
        self.leaf, self.flat = _components(target.spec, self.indices)
        self.steps = _steps(target, self.leaf, self.flat, eps, method)
        self.f0 = target.base_value() if vectorized else _base_value(target)
        self.values = None
        if complex_step:
            gradient = target.complex_gradient if vectorized else partial(
                _complex_step_gradient, target)
            self.grad = gradient(self.leaf, self.flat, self.steps)
            return
        _, _, offsets, weights = _STENCILS[method]
        self.values, self.steps = target.perturbed_values(self.leaf, self.flat, self.steps,
                                                          offsets, self.f0)
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
        est.grad = changes @ np.asarray(_STENCILS["central"][3]) / steps
        return est

    def evaluate(self, positions: np.ndarray, offsets: tuple[float, ...]) -> np.ndarray:
        """f at extra offsets (in units of each component's step) for some components."""
        values, _ = self.target.perturbed_values(self.leaf[positions], self.flat[positions],
                                                 self.steps[positions], offsets, self.f0)
        return values

    def as_structure(self, flat: np.ndarray) -> Any:
        """A flat float64 vector (one entry per component of theta) in theta's structure."""
        if self.target.scalar:
            return float(flat[0])
        if isinstance(self.target.arg, np.ndarray):
            return flat.reshape(self.target.spec.leaves[0].shape)
        return self.target.spec.unflatten(flat, dtype=np.float64)


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
    est = _Estimate(f, theta, eps, method, vectorized=vectorized, batch_size=batch_size)
    return est.as_structure(est.grad)


def _batch_values(f: Callable, T: np.ndarray, spec: Any, rows: np.ndarray, where: str,
                  complex_step: bool) -> np.ndarray:
    """f on a (k, n) batch, checked: k finite values, complex ones for the complex step."""
    values = np.asarray(f(T))
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
        name, index = spec.locate(int(rows[r])) if rows.size else ("theta", ())
        label = f"{name}[{', '.join(map(str, index))}]" if index else name
        raise ValueError(f"f returned {values[r]} at {where} in component {label}. Check for "
                         "overflow or log(0), or use a smaller eps")
    return values


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
        _check_eps(eps)
        try:
            est = _Estimate(f, theta, eps, method)
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
    the smallest error, keeps only the larger steps whose error is well above that floor, and
    fits a line to ``log(error)`` against ``log(eps)`` there.

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
    # Truncation regime: steps above the best one, with errors well clear of the round-off floor.
    keep = (np.arange(eps.size) > best) & (err >= 30 * err[best])
    if keep.sum() < 2:
        raise ValueError(
            "fewer than two steps lie in the truncation regime (above the step with the "
            "smallest error); add larger eps values"
        )
    slope, _ = np.polyfit(np.log(eps[keep]), np.log(err[keep]), 1)
    return float(slope)
