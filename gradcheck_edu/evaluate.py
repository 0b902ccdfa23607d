"""The evaluation loop: f at perturbed points, one component at a time, restored in ``finally``.

Internal API shared by the estimators and the checks. :func:`perturbed_values` is the loop of
every finite difference: set one entry of the caller's array in place, call ``f``, put the
original back. :func:`base_value` is f at the unperturbed theta (twice, to catch randomness).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .steps import StepTooSmallError, representable_steps
from .target import Target, flat_view

__all__ = ["NonFiniteError", "real_scalar", "complex_scalar", "check_finite",
           "check_deterministic", "base_value", "side_label", "perturbed_values",
           "complex_step_gradient", "checked_value"]


def real_scalar(value: Any) -> float:
    """f's return value as a float, or a clear error."""
    if type(value) is float:
        return value
    if isinstance(value, (str, bytes, np.str_, np.bytes_)):
        raise TypeError(f"f returned a string ({value!r}): it must return the loss as a number, "
                        "e.g. return float(loss), not str(loss) or a formatted value")
    if np.ndim(value) != 0:
        raise ValueError(
            f"f must return a scalar (the loss), but it returned an array of shape "
            f"{np.shape(value)}; reduce it, e.g. return float(np.sum(...)) or loss.item(). "
            "(If that is your gradient function: did you swap f and grad?)"
        )
    if value is None:
        raise TypeError("f returned None: it must return the loss as a float (did you forget "
                        "a return statement?)")
    if np.iscomplexobj(value):
        raise TypeError("f returned a complex number; only method='complex' expects that")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"f must return a real scalar (the loss), but it returned {type(value).__name__}"
        ) from None


class NonFiniteError(ValueError):
    """f returned NaN or Inf."""


def check_finite(value: float, where: str) -> None:
    if not math.isfinite(value):
        raise NonFiniteError(
            f"f returned {value} {where}. Check for overflow (exp of a large number), log(0) "
            "or division by zero, or use a smaller eps"
        )



def base_value(target: Target) -> float | complex:
    """f at the unperturbed theta, evaluated twice to catch a non-deterministic f."""
    first, second = target.call(), target.call()
    if target.complex_step:
        first, second = complex_scalar(first, "at the unperturbed theta"), complex_scalar(
            second, "at the unperturbed theta")
        check_finite(abs(first), "at the unperturbed theta")
    else:
        first, second = real_scalar(first), real_scalar(second)
        check_finite(first, "at the unperturbed theta")
    check_deterministic(first, second)
    return first


def check_deterministic(first: Any, second: Any) -> None:
    """Two values of f at the same theta must be equal, or no difference of f means anything."""
    if first != second:
        raise ValueError(
            f"f is not deterministic: two calls at the same theta returned {first!r} and "
            f"{second!r}. Fix the random seed inside f (e.g. a fixed dropout mask) or disable "
            "dropout and random sampling while checking gradients"
        )


def side_label(offset: float) -> str:
    if offset == 1:
        return "theta + eps"
    if offset == -1:
        return "theta - eps"
    return f"theta {'+' if offset > 0 else '-'} {abs(offset):g}*eps"



def perturbed_values(target: Target, leaf: np.ndarray, flat: np.ndarray, steps: np.ndarray,
                      offsets: tuple[float, ...], f0: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f at theta + offset*h along each component.

    Only the f calls cost anything here: each component of the caller's arrays is set in place
    (through a flat view, no copy of theta), f is called, and the original value is put back, in
    ``finally`` too. The points are computed once per leaf, in the leaf's dtype.

    Returns
    -------
    values : ndarray, shape (n_comp, n_offsets)
    h : ndarray, shape (n_comp,)
        The steps the floats represent, ``(x + h) - x``.
    moves : ndarray, shape (n_comp, n_offsets)
        The moves actually made, ``(x + offset*h) - x`` (``x - h`` may round differently from
        ``x + h``): what :func:`~gradcheck_edu.steps.stencil_derivative` divides by.
    """
    values = np.empty((leaf.size, len(offsets)))
    moves = np.empty((leaf.size, len(offsets)))
    h_used = np.empty(leaf.size)
    for k, arr in enumerate(target.arrays):
        pos = np.flatnonzero(leaf == k)
        if pos.size == 0:
            continue
        x = np.asarray(arr).reshape(-1)[flat[pos]]  # the originals, in the array's own dtype
        h = representable_steps(arr, x, steps[pos], target, k, flat[pos])
        h_used[pos] = h
        for m, o in enumerate(offsets):  # the same arithmetic as the points of the loop
            moves[pos, m] = (x + x.dtype.type(o) * h).astype(np.float64) - x.astype(np.float64)
        view = flat_view(arr)
        for s in range(0, pos.size, _BLOCK):  # blocks: the Python lists below stay small
            b = slice(s, s + _BLOCK)
            values[pos[b]] = _leaf_values(target, k, view, flat[pos[b]], x[b], h[b], offsets,
                                          f0)
    return values, h_used, moves


# Components per block of the evaluation loop (its Python lists cost ~150 bytes per component).
_BLOCK = 4096


def _leaf_values(target: Target, k: int, view: Any, flat: np.ndarray, x: np.ndarray,
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
                    v = real_scalar(v)
                if not math.isfinite(v):
                    check_finite(v, f"at {side_label(offset)} in component {target.label(k, i)} "
                                     f"(eps={float(h[j]):.3g})")
                values[j, m] = v
            view[i] = originals[j]
            current = None
    finally:
        if current is not None:
            view[where[current]] = originals[current]
    return values


def complex_scalar(value: Any, where: str) -> complex:
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


def complex_step_gradient(target: Target, leaf: np.ndarray, flat: np.ndarray,
                           steps: np.ndarray) -> np.ndarray:
    """Im f(theta + i h e_k) / h for each component: no subtraction, no cancellation."""
    grad = np.empty(leaf.size)
    for j in range(leaf.size):
        k, i = int(leaf[j]), int(flat[j])
        view = flat_view(target.arrays[k])
        x = view[i]
        h = float(steps[j])
        try:
            view[i] = x + 1j * h
            where = f"at theta + i*eps in component {target.label(k, i)}"
            v = complex_scalar(target.call(), where)
            check_finite(abs(v), where)
        finally:
            view[i] = x
        if 0 < abs(v.imag) < np.finfo(np.float64).tiny:
            raise StepTooSmallError(
                f"the complex step {h:g} leaves Im f = {v.imag:.3g} at {target.label(k, i)}, a "
                "subnormal number with fewer significant digits: the derivative would be "
                "inaccurate. Use a larger eps (1e-20, or eps=None)")
        grad[j] = v.imag / h
    return grad



def checked_value(target: Target, where: str) -> float:
    """f at the current state of the target's arrays, as a finite float (or a clear error)."""
    v = real_scalar(target.call())
    check_finite(v, where)
    return v
