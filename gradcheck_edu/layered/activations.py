"""The activations a described layer may use, and their expansions around a cached point.

An activation is named by its spec: ``None`` (identity), ``"relu"``, ``"tanh"``, ``"sigmoid"``
or ``("leaky_relu", slope)``. :func:`activation` gives the function; :func:`series` gives the
coefficients with which the structure-aware path carries a small change ``D`` of the
pre-activation through it without evaluating it again:

* tanh and sigmoid: the Taylor series ``c1 D + c2 D^2 + c3 D^3``; while ``|D| <= 1e-4`` the next
  term is below ``1e-16`` of the activation, i.e. under float64 resolution;
* ReLU and leaky ReLU: the slope ``c1`` on the side of 0 the point is on, exact while no entry
  of ``z + D`` crosses 0.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["activation", "series", "is_smooth", "has_series"]


def activation(spec: Any) -> Callable:
    """The activation as a function ``act(z, out=None)`` (``out=z`` works in place).

    Parameters
    ----------
    spec : None, "identity", "relu", "tanh", "sigmoid" or ("leaky_relu", slope)

    Returns
    -------
    callable
        ``act(z, out=None) -> ndarray`` of the shape of ``z``, with the same floating-point
        operations as :mod:`gradcheck_edu.nn`'s layers.
    """
    if spec is None or spec == "identity":
        return lambda z, out=None: z if out is None else np.copyto(out, z) or out
    if spec == "relu":
        return lambda z, out=None: np.maximum(z, 0.0, out=out)
    if spec == "tanh":
        return lambda z, out=None: np.tanh(z, out=out)
    if spec == "sigmoid":
        def sigmoid(z, out=None):  # 1 / (1 + exp(-z)) = (1 + tanh(z/2)) / 2: no overflow
            out = np.multiply(z, 0.5, out=out)
            np.tanh(out, out=out)
            out += 1.0
            out *= 0.5
            return out
        return sigmoid
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and spec[0] == "leaky_relu":
        slope = float(spec[1])
        if 0.0 <= slope <= 1.0:
            def leaky_relu(z, out=None):  # max(z, slope z): the same products as the model's
                return np.maximum(z, np.multiply(z, slope), out=out)
            return leaky_relu

        def leaky_relu_any(z, out=None):
            return np.where(z > 0, z, slope * z) if out is None else np.copyto(
                out, np.where(z > 0, z, slope * z)) or out
        return leaky_relu_any
    raise ValueError(f"unsupported activation {spec!r}")


def is_smooth(spec: Any) -> bool:
    """True for the activations expanded by their Taylor series (tanh, sigmoid)."""
    return spec in ("tanh", "sigmoid")


def has_series(spec: Any) -> bool:
    """True if :func:`series` expands this activation (tanh, sigmoid, ReLU, leaky ReLU)."""
    return is_smooth(spec) or _leaky_slope(spec) is not None


def _leaky_slope(spec: Any) -> float | None:
    if spec == "relu":
        return 0.0
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and spec[0] == "leaky_relu":
        return float(spec[1])
    return None


def series(spec: Any, z: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, ...]:
    """Coefficients of ``act(z + D) - act(z)`` in powers of ``D``, at each entry.

    Parameters
    ----------
    spec : activation spec with a series (see :func:`has_series`)
    z : ndarray, shape (N, width)
        The pre-activation.
    a : ndarray, shape (N, width)
        ``act(z)``.

    Returns
    -------
    tuple of ndarray, each (N, width)
        ``(c1, c2, c3)`` for tanh and sigmoid; ``(c1,)``, the slope, for ReLU and leaky ReLU.
    """
    if spec == "tanh":  # tanh' = 1 - a^2, tanh'' / 2 = -a (1 - a^2), tanh''' / 6
        s = 1 - a * a
        return s, -a * s, -s * (1 - 3 * a * a) / 3
    if spec == "sigmoid":  # sigma' = a (1 - a), ...
        s = a * (1 - a)
        return s, s * (1 - 2 * a) / 2, s * (1 - 6 * a + 6 * a * a) / 6
    slope = _leaky_slope(spec)
    if slope is None:
        raise ValueError(f"no series for activation {spec!r}")
    return (np.where(z > 0, 1.0, slope),)
