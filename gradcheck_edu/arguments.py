"""What the user hands a check, checked before anything runs: the mistakes students make get a
message that names the mistake and the fix ("did you swap f and grad?")."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .theta import flatten, spec_of

__all__ = ["check_arguments", "analytic_flat", "align_keys"]


def _what(obj: Any) -> str:
    if isinstance(obj, np.ndarray):
        return f"an array of shape {obj.shape}"
    if isinstance(obj, (list, tuple)):
        return f"a {type(obj).__name__} of {len(obj)} items"
    if isinstance(obj, dict):
        return f"a dict with keys {list(obj)}"
    return f"a {type(obj).__name__}"


def check_arguments(f: Any, grad: Any, theta: Any, call: str = "gradient_check") -> None:
    """Raise a TypeError that names the mistake when f, grad and theta are out of place.

    Only their order is checked here; what theta itself may be is checked where it is made
    ready to be perturbed, by :func:`~gradcheck_edu.target.check_theta`, for every check and
    estimator alike.

    >>> import numpy as np
    >>> check_arguments({"w": np.ones(2)}, lambda p: p, lambda p: 0.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: f must be a function f(theta) -> float, but got a dict ... theta first?
    """
    order = f"The order is {call}(f, grad, theta)"
    if not callable(f):
        hint = "did you pass theta first?" if callable(theta) else "did you pass the " \
            "gradient or theta in its place?"
        raise TypeError(f"f must be a function f(theta) -> float, but got {_what(f)}. "
                        f"{order}: {hint}")
    if callable(theta):
        raise TypeError(f"theta is a function; it should be the parameters. {order}: did you "
                        "swap grad and theta?")


def align_keys(grad: Any, theta: Any) -> Any:
    """``grad`` with its dict entries in theta's key order, wherever both have the same keys.

    Backprop computes ``dW3`` before ``dW1``, and a gradient dict built in that order is the
    same gradient: entries are matched by key, not by position.
    """
    if isinstance(grad, dict) and isinstance(theta, dict) and set(grad) == set(theta):
        return {k: align_keys(grad[k], theta[k]) for k in theta}
    if isinstance(grad, (list, tuple)) and isinstance(theta, (list, tuple)) \
            and len(grad) == len(theta):
        return type(grad)(align_keys(g, t) for g, t in zip(grad, theta)) \
            if not hasattr(grad, "_fields") else grad
    return grad


def analytic_flat(grad: Any, theta: Any, call: str = "gradient_check",
                  spec: Any = None) -> np.ndarray:
    """The analytic gradient as a flat float64 vector, after checking its structure.

    ``grad`` is the gradient or a function ``grad(theta)`` that returns it; dict entries are
    matched to theta's by key. A gradient of the wrong kind gets a message that says what was
    probably meant. ``spec`` is theta's, if already known.
    """
    analytic = grad(theta) if callable(grad) else grad
    theta_spec = spec if spec is not None else spec_of(
        float(theta) if isinstance(theta, int) else theta)
    if analytic is None:
        raise TypeError("grad returned None: it must return the gradient, in theta's structure "
                        "(did you forget a return statement?)")
    if theta_spec.size > 1 and isinstance(analytic, (numbers.Number, np.ndarray, np.generic)) \
            and np.ndim(analytic) == 0:  # (np.ndim of a list of unlike arrays would raise)
        raise ValueError(f"grad returned a single number ({float(np.real(analytic)):.6g}) where "
                         f"theta has {theta_spec.size} components: did you swap f and grad? "
                         f"The order is {call}(f, grad, theta)")
    if isinstance(theta, dict) and isinstance(analytic, (np.ndarray, list, tuple)):
        raise ValueError(f"grad returned {_what(analytic)}, but theta is {_what(theta)}: return "
                         f"a dict with the same keys, e.g. {{{next(iter(theta), 'W')!r}: dW, ...}}")
    analytic = align_keys(analytic, theta)
    try:
        a_flat, a_spec = flatten(analytic)
    except TypeError as err:
        raise TypeError(f"the gradient must have theta's structure of arrays: {err}") from None
    theta_spec.check_same(a_spec, what="gradient")
    return a_flat
