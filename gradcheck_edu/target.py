"""theta made ready to be perturbed in place, and the loop that perturbs it.

:class:`Target` owns the loop of every finite difference: set one entry of the caller's own
array in place, call ``f``, put the original back, in ``finally`` too (the loop of
:mod:`gradcheck_edu.basics`, made exact and general). Its methods are the ones every target
offers (:class:`~gradcheck_edu.batched.BatchTarget` too, for an ``f`` that takes a block of
theta vectors): ``base_value()``, ``values(leaf, flat, steps, offsets, f0)``,
``complex_gradient(leaf, flat, steps)``, ``label(k, i)`` and ``structure(flat)``; and, for the
checks that move whole arrays, ``value_along(moves)``. Every target checks theta with
:func:`~gradcheck_edu.arguments.check_theta`, the one check of what a user hands as theta.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .arguments import check_finite_theta, check_theta
from .stencils import StepTooSmallError, representable_steps

__all__ = ["PrecisionWarning", "NonFiniteError", "Target", "real_scalar", "check_finite",
           "check_deterministic", "side_label", "flat_view"]


class PrecisionWarning(UserWarning):
    """theta is stored in less than float64, so finite differences hit a high round-off floor."""


class NonFiniteError(ValueError):
    """f returned NaN or Inf."""


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
        self.f0 = None  # f at theta, once base_value() has run
        self.changed = False  # f has changed with a step (see check_f_sees_theta)
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
        self.f0 = first
        return first

    def check_f_sees_theta(self) -> None:
        """Raise a TypeError when theta is a copied integer array and f never changed with a
        step: an f that reads the caller's array through a closure (as a model does) never sees
        the float64 copy, and its gradient would look like zero. Every check calls this after
        its evaluations."""
        if self.copied_integers and not self.changed:
            raise TypeError(
                "theta is an integer array, so f received a float64 copy, and f did not change "
                "at any step: an f that reads the caller's array through a closure (as a model "
                "does) never sees the copy. Store parameters as floats: "
                "theta = theta.astype(np.float64)")

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
        self.changed = self.changed or bool(np.any(values != f0))
        self.check_f_sees_theta()
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
        self.changed = self.changed or bool(np.any(grad != 0))
        self.check_f_sees_theta()
        return grad

    def value_at(self, k: int, i: int, point: Any) -> float:
        """f with entry ``i`` of leaf ``k`` set to ``point`` (restored after), as a float that
        may be NaN or Inf (the adaptive step steps back from such points)."""
        view = flat_view(self.arrays[k])
        x = view[i]
        try:
            view[i] = point
            with np.errstate(all="ignore"):
                value = real_scalar(self.call())
        finally:
            view[i] = x
        self.changed = self.changed or value != self.f0
        return value

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
        self.changed = self.changed or value != self.f0
        return value, made


# Components per block of the evaluation loop (its Python lists cost ~150 bytes per component).
BLOCK = 4096


def flat_view(arr: np.ndarray) -> Any:
    """Something that reads and writes ``arr``'s entries by flat index, in place: a 1-D view for
    a C-contiguous array, else the array's flat iterator (which writes through to it)."""
    return arr.reshape(-1) if arr.flags.c_contiguous else arr.flat
