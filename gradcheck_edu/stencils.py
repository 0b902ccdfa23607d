"""The stencils of finite differences, the default step of each, and the steps the floats can
represent.

Each default step is named after the error bound it minimises: a difference of order ``p`` has
truncation error ``~ h**p`` and round-off error ``~ EPS / h``; their sum is smallest at
``h ~ EPS**(1/(p+1))``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

__all__ = ["EPS", "Stencil", "STENCILS", "COMPLEX_STEP", "METHODS", "StepTooSmallError",
           "check_method", "default_step", "check_eps", "AUTO", "resolve_eps", "steps_for",
           "representable_steps", "stencil_derivative", "lowest_precision", "loss_resolution"]

EPS = float(np.finfo(np.float64).eps)


class Stencil(NamedTuple):
    """A finite-difference stencil: the derivative is ``sum(weights * f(x + offsets*h)) / h``.

    ``order`` is the order of its truncation error (``~ h**order``), and ``step`` its default
    relative step in float64, ``EPS**(1/(order+1))``: where that truncation and the round-off
    ``~ EPS / h`` balance.
    """

    order: int
    step: float
    offsets: tuple[float, ...]
    weights: tuple[float, ...]


STENCILS: dict[str, Stencil] = {
    "forward": Stencil(order=1, step=EPS ** (1 / 2), offsets=(0, 1), weights=(-1.0, 1.0)),
    "backward": Stencil(order=1, step=EPS ** (1 / 2), offsets=(-1, 0), weights=(-1.0, 1.0)),
    "central": Stencil(order=2, step=EPS ** (1 / 3), offsets=(1, -1), weights=(0.5, -0.5)),
    "richardson": Stencil(order=4, step=EPS ** (1 / 5), offsets=(2, 1, -1, -2),
                          weights=(-1 / 12, 8 / 12, -8 / 12, 1 / 12)),
}
# Complex step has no subtraction, hence no cancellation: a tiny step is fine.
COMPLEX_STEP = 1e-20

METHODS = ("forward", "backward", "central", "complex", "richardson")


class StepTooSmallError(ValueError):
    """The step is below the float's resolution: ``theta + eps == theta``."""


def stencil_derivative(values: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """The derivative from f at the points actually evaluated, one component per row.

    ``values[:, m]`` is f at ``x + moves[:, m]``: the moves the floats represent, which may differ
    from the nominal ``offset * h`` by a rounding (``x - h`` rounds differently from ``x + h``).
    Dividing by the true distance, not the nominal ``2h``, keeps that rounding out of the
    estimate. Two points: the slope of the secant, ``(f1 - f0) / (d1 - d0)``. More points: the
    weights that differentiate exactly every polynomial of degree < m through the actual points
    (the Richardson weights -1/12, 8/12, -8/12, 1/12 when the moves are 2h, h, -h, -2h).

    Parameters
    ----------
    values, moves : ndarray, shape (n, m)

    Returns
    -------
    ndarray, shape (n,)
    """
    if values.shape[1] == 2:
        return (values[:, 0] - values[:, 1]) / (moves[:, 0] - moves[:, 1])
    h = np.max(np.abs(moves), axis=1, keepdims=True)
    u = moves / h  # about the nominal offsets: a well-conditioned system
    m = moves.shape[1]
    vander = u[:, None, :] ** np.arange(m)[None, :, None]  # (n, power, point)
    e1 = np.zeros((moves.shape[0], m, 1))
    e1[:, 1] = 1.0
    weights = np.linalg.solve(vander, e1)[..., 0] / h
    return np.sum(weights * values, axis=1)


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def default_step(theta: Any, method: str = "central", dtype: Any = np.float64) -> np.ndarray:
    """The textbook step for ``method`` at the precision ``dtype``, scaled by ``max(1, |theta_i|)``.

    Parameters
    ----------
    theta : array_like
        Values at which the derivative is wanted.
    method : {"forward", "backward", "central", "richardson", "complex"}
    dtype : float dtype
        The precision theta is stored in. In float32 (``eps32 = 1.2e-7``) the same balance
        gives ``eps32**(1/3) = 4.9e-3`` for central differences, not float64's 6e-6.

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
    check_method(method)
    if method == "complex":
        rel = COMPLEX_STEP
    else:
        stencil = STENCILS[method]
        resolution = max(float(np.finfo(dtype).eps), EPS)
        rel = stencil.step if resolution == EPS else resolution ** (1 / (stencil.order + 1))
    return rel * np.maximum(1.0, np.abs(np.asarray(theta, dtype=np.float64)))



AUTO = "auto"


def resolve_eps(eps: Any, dtypes: Any) -> float | None:
    """The step a check uses: ``eps`` itself, or for ``"auto"`` (the checks' default) 1e-6 when
    every parameter is float64 and ``None`` (the default step for the lowest precision,
    4.9e-3 in float32, see :func:`default_step`) otherwise: a step of 1e-6 in float32 moves a
    parameter by a few units in its last place, and its round-off swamps the difference."""
    if isinstance(eps, str) and eps == AUTO:
        low = [d for d in dtypes if np.issubdtype(d, np.floating) and np.finfo(d).eps > EPS]
        return None if low else 1e-6
    return eps


def check_eps(eps: Any) -> float:
    try:
        eps = float(eps)
    except (TypeError, ValueError):
        raise TypeError(f"eps must be a positive number, got {eps!r}") from None
    if not eps > 0 or not math.isfinite(eps):
        raise ValueError(f"eps must be a positive, finite number, got {eps}")
    return eps


def steps_for(target: Any, leaf: np.ndarray, flat: np.ndarray, eps: float | None,
           method: str) -> np.ndarray:
    """Step for each component: eps itself, or the default step scaled by |theta_i| (at the
    lowest precision among the arrays).

    ``target`` is a :class:`~gradcheck_edu.target.Target` (or the batched one): its ``arrays``
    give |theta_i| and its ``label`` names a component where eps is below the float's
    resolution."""
    if eps is None:
        # the loss is no more precise than the lowest precision among the arrays (a float32
        # layer fed a float64 x): every component's step is chosen for that precision
        dtype = lowest_precision(target.arrays)
        steps = np.empty(leaf.size)
        for k, arr in enumerate(target.arrays):
            pos = np.flatnonzero(leaf == k)
            if pos.size:
                steps[pos] = default_step(np.abs(np.asarray(arr).reshape(-1)[flat[pos]]),
                                          method, dtype)
        return steps
    eps = check_eps(eps)
    if method == "complex" and eps < np.finfo(np.float64).tiny:
        raise StepTooSmallError(
            f"eps={eps:g} is too small for the complex step: below {np.finfo(np.float64).tiny:.1e}"
            " the imaginary part is a subnormal number, with fewer significant digits, and the "
            "derivative loses accuracy. Use a larger eps (1e-20, or eps=None)")
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


def representable_steps(arr: np.ndarray, x: np.ndarray, steps: np.ndarray, target: Any,
                         k: int, flat: np.ndarray) -> np.ndarray:
    """The steps the floats can represent, ``(x + h) - x`` in ``arr``'s dtype: what f sees.

    Where it moves h by at most 1e-6 of itself, h is also rounded to a multiple of four units
    in the last place of x. Then ``x + h`` and ``x - h`` are both exact, and so are small
    multiples of them: with ``f(t) = 3 t`` at ``t = 4`` and ``eps = 1e-7`` (deeplearning.ai's
    1-D example) the central difference is exactly 3, where the textbook
    ``(f(4 + 1e-7) - f(4 - 1e-7)) / 2e-7`` is off by 4.7e-10.
    """
    h = (x + steps.astype(arr.dtype)) - x
    ax, ah = np.abs(x), np.abs(h)
    quantum = 4 * np.spacing(ax)
    fine = (ax >= ah) & (quantum <= 1e-6 * ah)  # (and h / quantum cannot overflow)
    if fine.any():
        h = np.where(fine, np.round(h / np.where(fine, quantum, 1)) * quantum, h)
    if np.any(h == 0):
        j = int(np.argmax(h == 0))
        raise StepTooSmallError(
            f"the step {steps[j]:g} vanishes at {target.label(k, int(flat[j]))} = {x[j]!r}: "
            f"theta + eps == theta in {arr.dtype}. Use a larger eps"
        )
    return h


def lowest_precision(arrays: list[np.ndarray]) -> np.dtype:
    """The lowest floating precision among ``arrays`` (float64 when there is none)."""
    floats = [a.dtype for a in arrays if np.issubdtype(a.dtype, np.floating)]
    return min(floats, key=lambda d: d.itemsize, default=np.dtype(np.float64))


def loss_resolution(arrays: list[np.ndarray]) -> float:
    """The relative resolution of a loss computed from ``arrays``: a loss computed from float32
    parameters is no more precise than float32, so the lowest precision among the arrays sets
    it (float64's 2.2e-16 at best)."""
    return max(float(np.finfo(lowest_precision(arrays)).eps), float(np.finfo(np.float64).eps))
