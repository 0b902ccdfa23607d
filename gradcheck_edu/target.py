"""theta made ready to be perturbed in place, and the loop that perturbs it.

:class:`Target` owns the loop of every finite difference: set one entry of the caller's own
array in place, call ``f``, put the original back, in ``finally`` too (the loop of
:mod:`gradcheck_edu.basics`, made exact and general). Its methods are the ones every target
offers (:class:`~gradcheck_edu.batched.BatchTarget` too, for an ``f`` that takes a block of
theta vectors): ``base_value()``, ``values(leaf, flat, steps, offsets, f0)``,
``complex_gradient(leaf, flat, steps)``, ``label(k, i)`` and ``structure(flat)``; and, for the
checks that move whole arrays, ``value_along(moves)``. :func:`check_theta` is the one check of
what a user hands as theta, for every target.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .stencils import StepTooSmallError, representable_steps
from .theta import spec_of

__all__ = ["PrecisionWarning", "NonFiniteError", "Target", "check_theta", "check_finite_theta",
           "real_scalar", "check_finite", "check_deterministic", "side_label", "flat_view"]


class PrecisionWarning(UserWarning):
    """theta is stored in less than float64, so finite differences hit a high round-off floor."""


class NonFiniteError(ValueError):
    """f returned NaN or Inf."""


# --------------------------------------------------------------------------- what theta may be


def check_theta(theta: Any, in_place: bool = True) -> Any:
    """theta's :class:`~gradcheck_edu.theta.ParamSpec`, or a TypeError that names the mistake
    when theta cannot be perturbed.

    A Python number or an ndarray of floats or integers passed directly is fine (an integer
    array is copied to float64, and ``f`` receives the copy); inside a structure (dict, list,
    tuple) every parameter must already be a float array, writeable if ``in_place``.

    >>> check_theta({"W": [1.0, 2.0]})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: parameter 'W' is a list of numbers, ... np.array([1.0, 2.0], dtype=float)
    """
    if isinstance(theta, (bool, np.bool_)):
        raise TypeError("theta is a boolean; pass a number or an array of floats")
    if isinstance(theta, numbers.Number):
        if isinstance(theta, numbers.Complex) and not isinstance(theta, numbers.Real):
            raise TypeError("theta must be real; the complex step adds the imaginary part")
        return spec_of(float(theta))
    if isinstance(theta, np.ndarray):
        if not (np.issubdtype(theta.dtype, np.floating) or np.issubdtype(theta.dtype, np.integer)):
            raise TypeError(f"theta has dtype {theta.dtype}; pass an array of floats")
        return spec_of(theta)
    _check_no_number_lists(theta, "theta")
    spec = spec_of(theta)
    for leaf, value in zip(spec.leaves, spec.leaf_values(theta)):
        _check_leaf(leaf.name, value, in_place)
    return spec


def _check_no_number_lists(obj: Any, name: str) -> None:
    """A list of plain numbers cannot be perturbed in place: say how to store it."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_no_number_lists(v, f"{name}[{k!r}]" if name != "theta" else str(k))
    elif isinstance(obj, (list, tuple)) and obj and all(
            isinstance(v, numbers.Number) and not isinstance(v, bool) for v in obj):
        raise TypeError(f"parameter {name!r} is a {type(obj).__name__} of numbers, which cannot "
                        f"be perturbed in place; store it as a float array: "
                        f"np.array({list(obj)!r}, dtype=float)")
    elif isinstance(obj, (list, tuple)):
        for j, v in enumerate(obj):
            _check_no_number_lists(v, f"{name}[{j}]")


def _check_leaf(name: str, value: Any, in_place: bool) -> None:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"parameter {name!r} is a {type(value).__name__}, which cannot be "
                        f"perturbed in place; store it as an array, e.g. np.array({value!r})")
    if np.issubdtype(value.dtype, np.integer):
        raise TypeError(f"parameter {name!r} is an integer array ({value.dtype}): a step of eps "
                        "would be truncated away. Store parameters as floats, e.g. "
                        "W = W.astype(np.float64)")
    if not np.issubdtype(value.dtype, np.floating):
        raise TypeError(f"parameter {name!r} has dtype {value.dtype}; use float64 arrays")
    if in_place and not value.flags.writeable:
        raise TypeError(f"parameter {name!r} is read-only; it must be writeable to be perturbed")


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
                f"{spec.label(k, i)}: finite differences need finite parameters. "
                "Check how the parameters were initialised or updated (a diverged step?)")


# --------------------------------------------------------------------------- what f returns


def real_scalar(value: Any) -> float:
    """f's return value as a float, or a clear error."""
    if type(value) is float:
        return value
    if isinstance(value, (str, bytes, np.str_, np.bytes_)):
        raise TypeError(f"f returned a string ({value!r}): it must return the loss as a number, "
                        "e.g. return float(loss), not str(loss) or a formatted value")
    if value is None:
        raise TypeError("f returned None: it must return the loss as a float (did you forget "
                        "a return statement?)")
    if np.ndim(value) != 0:
        raise ValueError(
            f"f must return a scalar (the loss), but it returned an array of shape "
            f"{np.shape(value)}; reduce it, e.g. return float(np.sum(...)) or loss.item(). "
            "(If that is your gradient function: did you swap f and grad?)")
    if np.iscomplexobj(value):
        raise TypeError("f returned a complex number; only method='complex' expects that")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"f must return a real scalar (the loss), but it returned {type(value).__name__}"
        ) from None


def complex_scalar(value: Any, where: str) -> complex:
    if np.ndim(value) != 0:
        raise ValueError(f"f must return a scalar (the loss), but it returned an array of shape "
                         f"{np.shape(value)} {where}")
    if not np.iscomplexobj(value):
        raise TypeError(
            "with method='complex', f must carry the imaginary part through, but it returned "
            f"a real {type(value).__name__} {where}. Something in f dropped it: np.abs, "
            "float(), np.real, or a comparison such as np.maximum. Use method='central' for "
            "such f")
    return complex(value)


def check_finite(value: float, where: str) -> None:
    if not math.isfinite(value):
        raise NonFiniteError(
            f"f returned {value} {where}. Check for overflow (exp of a large number), log(0) "
            "or division by zero, or use a smaller eps")


def check_deterministic(first: Any, second: Any) -> None:
    """Two values of f at the same theta must be equal, or no difference of f means anything."""
    if first != second:
        raise ValueError(
            f"f is not deterministic: two calls at the same theta returned {first!r} and "
            f"{second!r}. Fix the random seed inside f (e.g. a fixed dropout mask) or disable "
            "dropout and random sampling while checking gradients")


def side_label(offset: float) -> str:
    if offset == 1:
        return "theta + eps"
    if offset == -1:
        return "theta - eps"
    return f"theta {'+' if offset > 0 else '-'} {abs(offset):g}*eps"


# --------------------------------------------------------------------------- the target


class Target:
    """theta made ready to be perturbed in place, one component at a time, and the loop.

    ``arrays`` are the arrays actually perturbed: the caller's own float arrays, or a float64
    copy for a Python number or an integer array passed directly, or complex copies for the
    complex step. ``call()`` evaluates ``f`` on their current state.
    """

    def __init__(self, f: Callable[[Any], Any], theta: Any, complex_step: bool = False):
        if not callable(f):
            raise TypeError(f"f must be a function f(theta) -> float, got {type(f).__name__}")
        self.spec = check_theta(theta)
        self.f, self.complex_step = f, complex_step
        self.scalar = isinstance(theta, numbers.Number) and not isinstance(theta, np.ndarray)
        self.copied_integers = isinstance(theta, np.ndarray) and theta.dtype.kind in "iu"
        dtype = np.complex128 if complex_step else None
        if self.scalar:
            self.arrays = [np.array(theta, dtype=dtype or np.float64)]
            self.arg = None
        elif isinstance(theta, np.ndarray):
            arr = theta.astype(np.float64) if self.copied_integers else theta
            if complex_step or not arr.flags.writeable:
                arr = arr.astype(dtype or arr.dtype)  # a copy
            self.arrays = [arr]
            self.arg = arr
        else:
            leaves = self.spec.leaf_values(theta)
            self.arrays = [v.astype(dtype) for v in leaves] if complex_step else leaves
            self.arg = self.spec.build(self.arrays) if complex_step else theta
        check_finite_theta(self.spec, self.arrays)
        low = [a.dtype for a in self.arrays if a.dtype in (np.float16, np.float32)]
        if low:
            warnings.warn(
                f"theta holds {low[0]} values: a finite difference divides round-off of about "
                f"{np.finfo(low[0]).eps:.0e} * |f| by the step, so it cannot be trusted much "
                "below 1e-3 relative error. Gradient checks should run in float64 "
                "(e.g. build the model with dtype=np.float64).", PrecisionWarning, stacklevel=4)

    def call(self) -> Any:
        return self.f(self.arrays[0].item() if self.scalar else self.arg)

    def label(self, k: int, flat: int) -> str:
        """``"W1[2, 0]"``: the name of leaf ``k`` and the index of its flat entry ``flat``."""
        return self.spec.label(k, flat)

    def structure(self, flat: np.ndarray) -> Any:
        """A flat float64 vector (one entry per component) in the structure of theta: a float
        for a number, an array of theta's shape, or the structure of arrays."""
        if self.scalar:
            return float(flat[0])
        if isinstance(self.arg, np.ndarray):
            return flat.reshape(self.spec.leaves[0].shape)
        return self.spec.unflatten(flat, dtype=np.float64)

    def base_value(self) -> float | complex:
        """f at the unperturbed theta, evaluated twice to catch a non-deterministic f."""
        first, second = self.call(), self.call()
        where = "at the unperturbed theta"
        if self.complex_step:
            first, second = complex_scalar(first, where), complex_scalar(second, where)
            check_finite(abs(first), where)
        else:
            first, second = real_scalar(first), real_scalar(second)
            check_finite(first, where)
        check_deterministic(first, second)
        return first

    def values(self, leaf: np.ndarray, flat: np.ndarray, steps: np.ndarray,
               offsets: tuple[float, ...], f0: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """f at theta + offset*h along each component (leaf ``leaf``, flat index ``flat``).

        Only the f calls cost anything here: each component of the caller's arrays is set in
        place (through a flat view, no copy of theta), f is called, and the original value is
        put back, in ``finally`` too. The points are computed once per leaf, in its dtype.

        Returns
        -------
        values : ndarray, shape (n_comp, n_offsets)
        h : ndarray, shape (n_comp,)
            The steps the floats represent, ``(x + h) - x``.
        moves : ndarray, shape (n_comp, n_offsets)
            The moves actually made, ``(x + offset*h) - x`` (``x - h`` may round differently
            from ``x + h``): what :func:`~gradcheck_edu.stencils.stencil_derivative` divides by.
        """
        values = np.empty((leaf.size, len(offsets)))
        moves = np.empty((leaf.size, len(offsets)))
        h_used = np.empty(leaf.size)
        for k, arr in enumerate(self.arrays):
            pos = np.flatnonzero(leaf == k)
            if pos.size == 0:
                continue
            x = np.asarray(arr).reshape(-1)[flat[pos]]  # the originals, in the array's dtype
            h = representable_steps(arr, x, steps[pos], self, k, flat[pos])
            h_used[pos] = h
            for m, o in enumerate(offsets):  # the same arithmetic as the points of the loop
                moves[pos, m] = (x + x.dtype.type(o) * h).astype(np.float64) - x.astype(
                    np.float64)
            view = flat_view(arr)
            for s in range(0, pos.size, BLOCK):  # blocks: the Python lists below stay small
                b = slice(s, s + BLOCK)
                values[pos[b]] = self._loop(k, view, flat[pos[b]], x[b], h[b], offsets, f0)
        if self.copied_integers and values.size and np.all(values == f0):
            raise TypeError(
                "theta is an integer array, so f received a float64 copy, and f did not change "
                "at any step: an f that reads the caller's array through a closure (as a model "
                "does) never sees the copy. Store parameters as floats: "
                "theta = theta.astype(np.float64)")
        return values, h_used, moves

    def _loop(self, k: int, view: Any, flat: np.ndarray, x: np.ndarray, h: np.ndarray,
              offsets: tuple[float, ...], f0: float) -> np.ndarray:
        """The loop itself, for components ``flat`` of leaf ``k`` (originals ``x``, steps h)."""
        values = np.empty((flat.size, len(offsets)))
        # Python floats for float64 (cheapest to write); the dtype's own scalars otherwise.
        as_list = (lambda a: a.tolist()) if x.dtype == np.float64 else list
        points = [None if o == 0 else as_list(x + x.dtype.type(o) * h) for o in offsets]
        originals, where = as_list(x), flat.tolist()
        call = self.call
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
                        v = real_scalar(v)
                    if not math.isfinite(v):
                        check_finite(v, f"at {side_label(offset)} in component "
                                        f"{self.label(k, i)} (eps={float(h[j]):.3g})")
                    values[j, m] = v
                view[i] = originals[j]
                current = None
        finally:
            if current is not None:
                view[where[current]] = originals[current]
        return values

    def complex_gradient(self, leaf: np.ndarray, flat: np.ndarray,
                         steps: np.ndarray) -> np.ndarray:
        """Im f(theta + i h e_k) / h for each component: no subtraction, no cancellation."""
        grad = np.empty(leaf.size)
        for j in range(leaf.size):
            k, i = int(leaf[j]), int(flat[j])
            view = flat_view(self.arrays[k])
            x, h = view[i], float(steps[j])
            where = f"at theta + i*eps in component {self.label(k, i)}"
            try:
                view[i] = x + 1j * h
                v = complex_scalar(self.call(), where)
                check_finite(abs(v), where)
            finally:
                view[i] = x
            if 0 < abs(v.imag) < np.finfo(np.float64).tiny:
                raise StepTooSmallError(
                    f"the complex step {h:g} leaves Im f = {v.imag:.3g} at {self.label(k, i)}, "
                    "a subnormal number with fewer significant digits: the derivative would be "
                    "inaccurate. Use a larger eps (1e-20, or eps=None)")
            grad[j] = v.imag / h
        return grad

    def value_at(self, k: int, i: int, point: Any) -> float:
        """f with entry ``i`` of leaf ``k`` set to ``point`` (restored after), as a float that
        may be NaN or Inf (the adaptive step steps back from such points)."""
        view = flat_view(self.arrays[k])
        x = view[i]
        try:
            view[i] = point
            with np.errstate(all="ignore"):
                return real_scalar(self.call())
        finally:
            view[i] = x

    def value_along(self, moves: list[np.ndarray], where: str) -> tuple[float, list]:
        """f at theta + moves (one array per leaf, in theta's order; None leaves a leaf as it
        is), restored after, and the moves the floats represent (float64, per leaf)."""
        originals = [None if m is None else arr.copy() for arr, m in zip(self.arrays, moves)]
        made = []
        try:
            for arr, orig, m in zip(self.arrays, originals, moves):
                if m is not None:
                    np.add(orig, m, out=arr, casting="unsafe")
                made.append(None if m is None else arr.astype(np.float64) - orig)
            value = real_scalar(self.call())
            check_finite(value, where)
        finally:
            for arr, orig in zip(self.arrays, originals):
                if orig is not None:
                    np.copyto(arr, orig)
        return value, made


# Components per block of the evaluation loop (its Python lists cost ~150 bytes per component).
BLOCK = 4096


def flat_view(arr: np.ndarray) -> Any:
    """Something that reads and writes ``arr``'s entries by flat index, in place: a 1-D view for
    a C-contiguous array, else the array's flat iterator (which writes through to it)."""
    return arr.reshape(-1) if arr.flags.c_contiguous else arr.flat
