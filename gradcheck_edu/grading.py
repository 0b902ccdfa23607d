"""Grade a student's layer, row by row, with partial credit: :func:`grade_layer`.

The rows are those of :func:`~gradcheck_edu.check_layer`: ``"x"`` (the ``dx`` that ``backward``
returns) and each parameter (``grads[k]`` against ``params[k]``). A row earns its points when
its gradient passes the check (EXCELLENT or ACCEPTABLE), and nothing otherwise; the feedback
names the row, the verdict and a hint (the pattern of the mismatch when the checker reads one),
never a value of the reference gradient. Whatever the student's code does (raise, warn, print,
return the wrong shape) becomes feedback: grading never crashes and writes nothing to stderr.

>>> import numpy as np
>>> class Scale:  # out = w * x, elementwise
...     def __init__(self):
...         self.params = {"w": np.array([1.0, -2.0, 0.5])}
...         self.grads = {}
...     def forward(self, x):
...         self.x = x
...         return self.params["w"] * x
...     def backward(self, dout):
...         self.grads["w"] = (dout * self.x).sum(axis=0)
...         return dout * self.params["w"] * 2  # bug: a factor 2 too many
>>> x = np.random.default_rng(0).standard_normal((4, 3))
>>> grade = grade_layer(Scale(), x)
>>> print(f"{grade.score:.2f} / {grade.max_score:.2f}", grade.rows["x"].passed,
...       grade.rows["w"].passed)
0.50 / 1.00 False True
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .feedback import Feedback, describe_error, mismatch_hint, quietly, require, unanswered
from .mistakes import layer_factors, small_kind
from .verdicts import Verdict

__all__ = ["grade_layer", "Grade", "RowGrade", "require_row", "student_seed"]

_ROW_WHAT = {"x": "dx, the gradient your backward returns"}


@dataclass
class RowGrade:
    """One row of a :class:`Grade`.

    Attributes
    ----------
    name : str
        ``"x"`` or a parameter name.
    score, max_score : float
    feedback : str
        For the student: the row, the verdict, and a hint when it failed.
    verdict : Verdict or None
        None when the row could not be checked (wrong shape, missing gradient, an error).
    pattern : Pattern or None
        The pattern of the mismatch that the check read (``.kind``: "scale", "sign",
        "transpose", "zero", ...; see :mod:`gradcheck_edu.patterns`); None when the row passed
        or could not be checked.
    reading : str
        The kind of mistake read apart from the pattern: what stopped a row that could not be
        checked ("shape", "raised", "not answered"), "accumulates" (a second backward on the same
        layer doubled the gradient), or for a gradient too small for a pattern the exact
        mismatch read ("zero": the loss does not depend on it, "sign", "scale"); "" else.
    """

    name: str
    score: float
    max_score: float
    feedback: str
    verdict: Any = None
    pattern: Any = None
    reading: str = ""

    @property
    def kind(self) -> str | None:
        """The kind of mistake, for a class report: the pattern's kind ("scale", "sign", ...),
        or what :attr:`reading` says first, "unknown" for a failed row with neither;
        None when the row passed."""
        if self.passed:
            return None
        if self.reading:
            return self.reading
        return self.pattern.kind if self.pattern is not None else "unknown"

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score


@dataclass
class Grade:
    """The grade of one layer: :attr:`rows` maps row name -> :class:`RowGrade`.

    ``str(grade)`` is what the student reads: the total, then one line per row.
    """

    name: str
    rows: dict[str, RowGrade]
    note: str = ""

    @property
    def score(self) -> float:
        return float(sum(r.score for r in self.rows.values()))

    @property
    def max_score(self) -> float:
        return float(sum(r.max_score for r in self.rows.values()))

    def __str__(self) -> str:
        lines = [f"{self.name}: {self.score:.3g} / {self.max_score:.3g} points"]
        if self.note:
            lines.append(f"  note: {self.note}")
        for r in self.rows.values():
            lines.append(f"  {r.name}: {r.score:.3g} / {r.max_score:.3g}  {r.feedback}")
        return "\n".join(lines)


def student_seed(student_id: Any) -> int:
    """A reproducible 63-bit seed from any student id (the same in every Python process).

    >>> student_seed("ada") == student_seed("ada") != student_seed("alan")
    True
    >>> student_seed(None)
    0
    """
    if student_id is None:
        return 0
    digest = hashlib.sha256(str(student_id).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _points(points: Any, names: list[str]) -> dict[str, float]:
    if points is None:
        points = 1.0
    if isinstance(points, (int, float)) and not isinstance(points, bool):
        return {n: float(points) / len(names) for n in names}
    if isinstance(points, dict):
        if set(points) != set(names):
            raise ValueError(f"points has rows {sorted(points)} but the layer's rows are "
                             f"{sorted(names)}; give one number per row, or a total")
        return {n: float(points[n]) for n in names}
    raise TypeError(f"points must be None, a total, or a dict row -> points, got {points!r}")


def _what(name: str) -> str:
    return _ROW_WHAT.get(name, f"grads[{name!r}]")


def _zero_rows(names, pts, message, reading="raised") -> dict[str, RowGrade]:
    return {n: RowGrade(n, 0.0, pts[n], f"{_what(n)}: not graded, {message}", reading=reading)
            for n in names}


def grade_layer(layer: Any, x: Any, points: Any = None, student_id: Any = None, *,
                hints: dict[str, str] | None = None, name: str | None = None) -> Grade:
    """Grade a layer's ``backward`` row by row, with partial credit.

    Parameters
    ----------
    layer : object
        ``forward(x) -> out``, ``backward(dout) -> dx`` that fills ``grads``, dicts ``params``
        and ``grads`` (the :func:`~gradcheck_edu.check_layer` protocol). A deep copy is graded:
        the student's layer and ``x`` are not modified.
    x : array_like
        The input batch, any shape the layer takes.
    points : None, float or dict of str -> float
        Points per row: a dict with one entry per row, or a total split equally among the rows
        (default 1.0).
    student_id : object, optional
        Seeds the random upstream gradient ``dout`` (any str or int; the same id gives the same
        ``dout`` in every run, two ids almost surely different ones). None: seed 0.
    hints : dict of str -> str, optional
        An extra hint per row, added to the feedback when that row fails.
    name : str, optional
        For the printout (default: the layer's class name).

    Returns
    -------
    Grade
        ``.score``, ``.max_score``, ``.rows`` (``"x"`` first, then the keys of ``params``).
    """
    name = name or type(layer).__name__
    params = getattr(layer, "params", None)
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        names = ["x"]
        return Grade(name, _zero_rows(names, _points(points, names),
                                      "layer.params must be a dict of arrays ({} if none)"))
    names = ["x", *params]
    pts = _points(points, names)
    hints = hints or {}
    x = np.array(x, dtype=np.float64)
    try:
        student = copy.deepcopy(layer)
    except Exception as err:  # the student's object: any error becomes feedback
        return Grade(name, _zero_rows(names, pts, f"the layer cannot be copied: {err}"))
    with quietly() as captured:
        rows, note = _grade(student, x, names, pts, hints, student_seed(student_id))
    if captured.note():
        note = (note + "; " if note else "") + captured.note().strip(" ()")
    return Grade(name, rows, note)


def _grade(layer, x, names, pts, hints, seed) -> tuple[dict[str, RowGrade], str]:
    from .check import gradient_check
    from .model_check import batch_size_names

    params = layer.params
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x67726164]))
    try:
        out = layer.forward(x.copy())
        if unanswered(out):
            return _zero_rows(names, pts, f"forward returns {out!r}: write forward first",
                              "not answered"), ""
        dout = rng.standard_normal(np.shape(out))
        dx = layer.backward(dout.copy())
    except Exception as err:  # the student's code: any error becomes feedback
        return _zero_rows(names, pts, f"your layer raised {describe_error(err)}"), ""
    grads = getattr(layer, "grads", {})
    grads = grads if isinstance(grads, dict) else {}
    rows: dict[str, RowGrade] = {}
    analytic: dict[str, np.ndarray] = {}
    for n in names:
        value, target = (dx, x) if n == "x" else (grads.get(n), params[n])
        problem, reading = "", "shape"
        if unanswered(value):
            problem = ("backward returns None: return dx" if n == "x" else
                       f"layer.grads has no {n!r} after backward: fill it")
            reading = "not answered"
        else:
            try:
                value = np.array(value, dtype=np.float64)
            except (TypeError, ValueError):
                problem = f"it is not an array of numbers ({type(value).__name__})"
            else:
                if value.shape != np.shape(target):
                    problem = (f"it has shape {value.shape}, but {'x' if n == 'x' else n} has "
                               f"shape {np.shape(target)}: a missing transpose, or a sum over "
                               "the wrong axis?")
        if problem:
            rows[n] = RowGrade(n, 0.0, pts[n], f"{_what(n)}: WRONG, {problem}", reading=reading)
        else:
            analytic[n] = value
    if not analytic:
        return {n: rows[n] for n in names}, ""
    again = _second_backward(layer, x, dout, analytic)
    theta = {"x": x.copy(), **{k: params[k] for k in analytic if k != "x"}}
    if "x" not in analytic:
        theta.pop("x")
        fixed_x = x.copy()

    def f(th: dict) -> float:
        return float(np.sum(np.asarray(layer.forward(th["x"] if "x" in th else fixed_x)) * dout))

    note = ""
    try:
        report = gradient_check(f, analytic, theta, sizes=batch_size_names(x))
    except Exception as err:  # a non-deterministic forward, NaN outputs, ...
        for n in analytic:
            rows[n] = RowGrade(n, 0.0, pts[n], f"{_what(n)}: not graded, the check failed: {err}")
        return {n: rows[n] for n in names}, ""
    if report.kinks:
        note = (f"{len(report.kinks)} component(s) sit at a kink (a ReLU or max crossing) and "
                "were left out")
    context = {"sizes": batch_size_names(x), "factors": layer_factors(layer),
               "labels": getattr(layer, "y", None)}
    for n in analytic:
        rows[n] = _row(n, report, pts[n], hints.get(n), context)
        if n in again:
            rows[n] = RowGrade(n, 0.0, pts[n], f"{_what(n)}: WRONG, {again[n]}", Verdict.WRONG,
                               reading="accumulates")
    return {n: rows[n] for n in names}, note


def _second_backward(layer, x, dout, analytic: dict) -> dict[str, str]:
    """Row -> what went wrong when forward and backward run a second time on the same layer
    with the same ``x`` and ``dout`` (a layer runs once per training step): a gradient that
    doubled (accumulated into ``grads`` with ``+=``), or an error."""
    try:
        layer.forward(x.copy())
        dx = layer.backward(dout.copy())
    except Exception as err:  # the student's code: any error becomes feedback
        return dict.fromkeys(analytic, f"your layer raised {describe_error(err)} when forward "
                             "and backward ran a second time on the same layer, as in training")
    grads = getattr(layer, "grads", {})
    out = {}
    for n, first in analytic.items():
        second = dx if n == "x" else (grads.get(n) if isinstance(grads, dict) else None)
        try:
            second = np.array(second, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        big = float(np.max(np.abs(first), initial=0.0))
        if second.shape == first.shape and big > 0 and np.allclose(second, 2 * first,
                                                                   rtol=1e-6, atol=1e-9 * big):
            out[n] = (f"it accumulates: a second backward on the same layer gives twice the "
                      f"first ({_what(n)} += ...?). backward must write the gradient (=, or "
                      "[...] =), not add to it: a layer runs backward once per training step")
    return out


def _row(n: str, report, points: float, hint: str | None, context: dict) -> RowGrade:
    row = report.per_parameter[n]
    verdict = row.verdict
    head = f"{_what(n)}: {verdict.name} (relative error {row.relative_error:.0e})"
    if verdict.passed:
        return RowGrade(n, points, points, head + ".", verdict)
    pattern = row.pattern
    # CANNOT_TELL: the difference is within what the finite difference can err by; its note
    # says so, and a hint about "components off" would contradict it
    why = row.note if verdict is Verdict.CANNOT_TELL else mismatch_hint(
        report.analytic[n], report.numerical[n], pattern, name=n, **context)
    tail = f" Hint: {hint}" if hint else ""
    small = small_kind(report.analytic[n], report.numerical[n]) if (
        pattern is not None and pattern.kind == "unknown") else None
    return RowGrade(n, 0.0, points, f"{head}: {why}{tail}", verdict, pattern,
                    reading=small or "")


def require_row(grade: Grade, row: str) -> None:
    """Raise ``AssertionError`` with the row's feedback unless it earned its points.

    The body of an autograder test case worth that row's points (one test case per row gives
    partial credit per row).
    """
    if row not in grade.rows:
        raise AssertionError(f"{grade.name}: no row {row!r}; the rows are {sorted(grade.rows)}")
    r = grade.rows[row]
    require(Feedback(f"{grade.name}, row {row}", r.passed, r.feedback))
