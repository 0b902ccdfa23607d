"""The common wrong answers, recognised and named: what the student gave, never the right one.

:mod:`gradcheck_edu.feedback` and :mod:`gradcheck_edu.grading` ask these before they fall back to
a generic verdict:

* a number: a string where a number is asked (``'0.003'``), the right size with the other sign,
  a factor 2, the answer counted in units of a step (``3`` for ``3 eps``), a named wrong value;
* a function: one that returns a known wrong one (the central difference where the one-sided one
  is asked, :func:`known_wrong`), or the right values times one common factor (a sign, a 2);
* a gradient too small for :func:`~gradcheck_edu.patterns.read_pattern` (a bias of 3
  components), read when it is exact: a numerical gradient that is zero everywhere (the loss does
  not depend on the parameter) or one common factor, named when it is a size (the batch size) or
  a number the layer holds (dropout's ``p``);
* a mismatch that sits exactly at the entries ``(i, y[i])`` of the labels;
* an error's cause: the ``NameError`` of a cell that did not run (:func:`describe_error`), the
  cell that failed to run as the cause of every question it breaks (:func:`failed_cell`).

>>> print(not_a_number("0.003"))
expected a number, got the string '0.003': write the number without quotes.
>>> print(name_factor(-1.0))
minus the right values in every component: a sign error?
>>> print(name_factor(0.25, sizes={"the batch size": 4}).split(": ", 1)[1])
a factor that is the batch size (N = 4): a 1/N too many or too few?
"""

from __future__ import annotations

import contextlib
import io
import numbers
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["describe_error", "failed_cell", "not_a_number", "name_number", "common_factor",
           "name_factor", "matching_factor", "known_wrong", "name_function", "small_mismatch",
           "small_kind", "at_labels", "layer_factors"]

_EXACT = 1e-6  # a factor is read only when it holds in every component to this relative error


def describe_error(err: BaseException) -> str:
    """``"ValueError: the message"``, or the type alone when the message is empty. A
    ``NameError`` adds its usual cause: an earlier cell that did not run, or failed (named with
    its error when the notebook's kernel kept it: ``sys.last_value``)."""
    text = str(err).strip()
    head = f"{type(err).__name__}: {text}" if text else type(err).__name__
    name = getattr(err, "name", None)
    if not isinstance(err, NameError) or not name:
        return head
    # in a notebook, the last error a cell raised (IPython keeps it in sys.last_value)
    last = getattr(sys, "last_value", None)
    if isinstance(last, BaseException) and last is not err and not isinstance(last, NameError):
        text = str(last).strip()
        return head + (f" (a cell failed before with {type(last).__name__}"
                       f"{': ' + text[:200] if text else ''}: that is the cause; fix that cell "
                       "and run the cells from the top)")
    return head + (f" (the cell that defines or imports {name} did not run, or failed: the first "
                   "error in the notebook is the cause; fix it and run the cells from the top)")


def failed_cell(index: int, defines: Sequence[str], error: str | type, message: str = "") -> str:
    """The feedback for every question that a cell which failed to run breaks.

    ``index`` is the cell's number in the notebook (as the grader counts it), ``defines`` the
    names the cell defines at top level, ``error`` the exception's type (or its name) and
    ``message`` its message.

    >>> print(failed_cell(1, ["np", "Affine"], ModuleNotFoundError, "No module named 'nump'"))
    cell 1, which defines np and Affine, failed with ModuleNotFoundError: No module named 'nump'. \
Every question that uses np or Affine fails because of it (the NameError it then meets is not the \
cause): fix that cell first.
    """
    kind = error if isinstance(error, str) else getattr(error, "__name__", str(error))
    names = [str(n) for n in defines]
    what = (", which defines " + (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1
                                  else names[0])) if names else ""
    uses = " or ".join(names[:6]) + (" or ..." if len(names) > 6 else "")
    why = f"{kind}: {message.strip()}" if message and message.strip() else kind
    return (f"cell {index}{what}, failed with {why}. Every question that uses "
            f"{uses or 'what it defines'} fails because of it (the NameError it then meets is "
            "not the cause): fix that cell first.")


def not_a_number(value: Any) -> str | None:
    """What is wrong with ``value`` as a number (a string, a bool, a list, ...); None for a real
    number (Python's or NumPy's, a 0-d array included)."""
    if isinstance(value, (str, bytes)):
        return f"expected a number, got the string {value!r}: write the number without quotes."
    if isinstance(value, (bool, np.bool_)):
        return f"expected a number, got the truth value {value!r}."
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return None
    if not isinstance(value, numbers.Real):
        return f"expected a number, got {type(value).__name__}."
    return None


def name_number(value: float, right: Callable[[float], bool], *,
                units: Mapping[str, float] | None = None,
                wrong: Mapping[str, float] | None = None, scale: bool = True) -> str | None:
    """The common wrong answer ``value`` is, if it is one; else None.

    ``right(x)`` says whether ``x`` would be judged right, so that each mistake is recognised
    within the question's own tolerance: ``-value`` right is a sign, ``value / 2`` or ``2 value``
    a factor 2, ``value x u`` right (``units={"eps": 0.001}``) an answer counted in units of
    eps. ``wrong`` names wrong values (``{"the central difference's error": 1e-6}``): ``value``
    is one of them when it would be judged right against it within 1%. ``scale=False`` leaves
    the sign and the factor 2 out (for answers judged within a factor: an order of magnitude).
    """
    for what, w in (wrong or {}).items():
        if w and abs(value - w) <= 0.01 * abs(w):
            return f"That is {what}."
    if scale and value and right(-value):
        return "The right size, with the wrong sign."
    if scale and right(value / 2):
        return "Twice the right size: a factor 2 too many?"
    if scale and right(2 * value):
        return "Half the right size: a factor 2 missing?"
    if -30 < value < 30 and right(10.0**value):
        return "This looks like the exponent (log10) of the answer: write the number itself."
    for name, unit in (units or {}).items():
        if right(value * unit):
            return (f"This looks counted in units of {name}: the question asks for the number "
                    f"itself, not a multiple of {name}.")
        if right(value / unit):
            return f"This looks multiplied by {name} once too often."
    return None


def common_factor(values: Sequence[Any], expected: Sequence[Any]) -> float | None:
    """The factor ``k`` with ``value = k x expected`` in every component of every pair (to a
    relative ``1e-6``), or None: no common factor, or ``k`` is 1, or all expected are 0."""
    try:
        v = np.concatenate([np.ravel(np.asarray(x, dtype=float)) for x in values])
        e = np.concatenate([np.ravel(np.asarray(x, dtype=float)) for x in expected])
    except (TypeError, ValueError):
        return None
    if v.shape != e.shape or not (np.all(np.isfinite(v)) and np.all(np.isfinite(e))):
        return None
    scale = np.max(np.abs(e), initial=0.0)
    big = np.abs(e) > 1e-9 * scale
    if scale == 0 or not big.any():
        return None
    k = float(np.median(v[big] / e[big]))
    if not k or abs(k - 1) < 1e-4:
        return None
    if np.all(np.abs(v - k * e) <= _EXACT * (np.abs(k * e) + 1e-12 * abs(k) * scale)):
        return k
    return None


def _is(k: float, x: float) -> bool:
    return abs(k - x) <= 1e-4 * abs(x)


def name_factor(k: float, sizes: Mapping[str, int] | None = None,
                factors: Mapping[str, float] | None = None) -> str:
    """A sentence for ``values = k x right`` in every component: a sign, a size (``sizes``:
    ``{"the batch size": 4}``), a number the layer holds (``factors``: ``{"p": 0.6}``), a 2."""
    if _is(k, -1.0):
        return "minus the right values in every component: a sign error?"
    head = f"{k:.4g} x the right values in every component: "
    sign = "a sign error and " if k < 0 else ""
    m = abs(k)
    for name, size in (sizes or {}).items():
        if size > 1 and (_is(m, size) or _is(m, 1 / size)):
            return head + sign + f"a factor that is {name} (N = {size}): a 1/N too many or too few?"
    held = matching_factor(k, factors)
    if held is not None:
        return head + sign + (f"a factor that is the layer's {held} = {factors[held]:g}: a "
                              f"division by {held} missing, or one too many?")
    if _is(m, 2.0) or _is(m, 0.5):
        return head + sign + "a factor 2 too many or too few?"
    return head + sign + "a missing or extra constant factor?"


def matching_factor(k: float, factors: Mapping[str, float] | None) -> str | None:
    """The name of the number in ``factors`` that ``|k|`` is (or is 1 over), or None."""
    for name, value in (factors or {}).items():
        if value and abs(value) != 1 and (_is(abs(k), abs(value)) or _is(abs(k), 1 / abs(value))):
            return name
    return None


def known_wrong(reference: Callable) -> tuple[tuple[str, Callable], ...]:
    """The wrong answers students give for the function ``reference`` computes, each as
    ``(what it is, a function computing it)``: for the one-sided difference, the central and
    the backward ones; for the central difference, the one-sided ones."""
    from . import finite_diff as fd

    table = {
        fd.forward_difference: (("the central (two-sided) difference, where the one-sided one is "
                                 "asked", fd.central_difference),
                                ("the backward difference, f(theta) minus f at a step below",
                                 fd.backward_difference)),
        fd.central_difference: (("a one-sided (forward) difference, where the central one is "
                                 "asked", fd.forward_difference),
                                ("a one-sided (backward) difference, where the central one is "
                                 "asked", fd.backward_difference)),
    }
    return table.get(reference, ())


def name_function(seen: Sequence[tuple[Any, Any, tuple]],
                  wrong: Sequence[tuple[str, Callable]]) -> str:
    """The wrong answer a function's values are on every case, ``seen`` being ``(value,
    expected, args)`` per case: one of ``wrong`` (``(what it is, function)``, compared as a
    gradient check would: EXCELLENT or ACCEPTABLE), or the right values times a common factor;
    '' when none is recognised."""
    from .basics import relative_error
    from .verdicts import classify_relative_error

    values = [v for v, _, _ in seen]
    for what, other in wrong:
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                theirs = [other(*args) for _, _, args in seen]
            close = [classify_relative_error(relative_error(np.asarray(v, dtype=float),
                                                            np.asarray(t, dtype=float))).passed
                     for v, t in zip(values, theirs)]
        except Exception:  # a candidate that does not apply to these arguments
            continue
        if all(close):
            return f"Your function returns {what}, on every input."
    k = common_factor(values, [e for _, e, _ in seen])
    return "" if k is None else "Your function returns " + name_factor(k)


def small_kind(analytic: Any, numerical: Any) -> str | None:
    """The kind :func:`small_mismatch` reads, for a class report: "zero" (the numerical
    gradient is zero everywhere), "sign" or "scale" (one exact factor); else None."""
    a = np.asarray(analytic, dtype=float)
    n = np.asarray(numerical, dtype=float)
    if a.shape != n.shape or not (np.all(np.isfinite(a)) and np.all(np.isfinite(n))):
        return None
    if np.any(a) and np.max(np.abs(n), initial=0.0) <= 1e-9 * np.max(np.abs(a)):
        return "zero"
    k = common_factor([a], [n])
    return None if k is None else ("sign" if _is(k, -1.0) else "scale")


def small_mismatch(analytic: Any, numerical: Any, name: str,
                   sizes: Mapping[str, int] | None = None,
                   factors: Mapping[str, float] | None = None) -> str | None:
    """What an exact mismatch of a gradient too small for a pattern (a bias of 3 components)
    says, or None: a numerical gradient zero everywhere while the analytic one is not (the loss
    does not depend on the parameter), or one common factor (:func:`name_factor`)."""
    kind = small_kind(analytic, numerical)
    a = np.asarray(analytic, dtype=float)
    if kind == "zero":
        verb = "add" if a.ndim == 1 and name.startswith("b") else "use"
        return (f"the numerical gradient of {name} is zero in every component: the loss does "
                f"not depend on {name}. Does forward {verb} {name}?")
    if kind is None:
        return None
    return name_factor(common_factor([a], [np.asarray(numerical, dtype=float)]), sizes, factors)


def at_labels(where: Any, labels: Any) -> str | None:
    """A sentence when the entries ``where`` (a pattern's ``Where`` of index pairs) are exactly
    the label positions ``(i, labels[i])`` of every sample; else None."""
    if where is None or getattr(where, "axis", None) != "entries" or labels is None:
        return None
    y = np.asarray(labels)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        return None
    expected = {(i, int(c)) for i, c in enumerate(y)}
    try:
        seen = {tuple(int(j) for j in item) for item in where}
    except TypeError:
        return None
    if seen != expected:
        return None
    return (f"the mismatch sits exactly in the entries at the labels y (row i, column y[i], "
            f"for all {len(y)} samples) and nowhere else: what does the label add to the "
            "gradient at its own entry?")


def layer_factors(layer: Any) -> dict[str, float]:
    """The numbers a layer holds as attributes (``p`` of a dropout, a temperature): factors a
    mismatch can be named by. Whole numbers 0 and 1, and bools, are left out."""
    out = {}
    for key, value in vars(layer).items() if hasattr(layer, "__dict__") else ():
        if key.startswith("_") or isinstance(value, (bool, np.bool_)):
            continue
        if isinstance(value, numbers.Real) and np.isfinite(value) and value not in (0, 1):
            out[key] = float(value)
    return out
