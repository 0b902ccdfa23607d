"""What the user hands a check, checked before anything runs: the mistakes students make get a
message that names the mistake and the fix ("did you swap f and grad?").

:func:`check_arguments` checks the order of f, grad and theta; :func:`check_theta` what theta
itself may be, the one check every target (every estimator and check) makes;
:func:`analytic_flat` the gradient's structure against theta's.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .theta import flatten, spec_of

__all__ = ["check_arguments", "check_theta", "check_finite_theta", "analytic_flat", "align_keys"]


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


def _is_number(value: Any) -> bool:
    return isinstance(value, (numbers.Number, np.generic)) or (
        isinstance(value, np.ndarray) and value.ndim == 0)


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
    if isinstance(analytic, tuple) and len(analytic) == 2 and _is_number(analytic[0]) and not (
            isinstance(theta, (list, tuple)) and len(theta) == 2 and _is_number(theta[0])):
        raise TypeError(f"grad returned a pair ({float(np.real(analytic[0])):.6g}, "
                        f"{_what(analytic[1])}): did you return (loss, grad)? grad must return "
                        "the gradient alone, in theta's structure")
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
        spec = spec_of(theta)
        _check_not_empty(spec)
        return spec
    _check_no_number_lists(theta, "theta")
    spec = spec_of(theta)
    for leaf, value in zip(spec.leaves, spec.leaf_values(theta)):
        _check_leaf(leaf.name, value, in_place)
    _check_not_empty(spec)
    return spec


def _check_not_empty(spec: Any) -> None:
    if spec.size == 0:
        raise ValueError(f"theta has no components ({spec!r}): there is nothing to "
                         "differentiate or check. Pass the parameters themselves")


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
