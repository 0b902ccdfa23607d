"""Grade a student's layer row by row against the reference layer, on inputs the student
cannot know: :func:`layer_rows`, and :func:`require_layer_row`, the body of a homework test.

The rows are ``"forward"`` (the output), ``"x"`` (the ``dx`` that ``backward`` returns) and one
per parameter (``grads[k]``). The student's layer and the reference layer are built alike, given
the same parameters, input ``x`` and upstream gradient ``dout``, all drawn from the seed the
grader derives from the course secret and the student id; each gradient row is judged against
the reference's own gradient (checked once against finite differences when the assignment is
built), with the relative error ``||a - r|| / (||a|| + ||r||)`` and its verdict. So a constant
forward earns no gradient row: its zero gradients differ from the reference's. ``backward`` is
called twice on the same layer: a gradient that grows between the calls (``grads[k] += ...``)
fails its row, and the feedback names the accumulation.

Called with the reference itself as the student's layer (at build, and when the source notebook
runs), the rows check the reference against central differences instead
(:func:`~gradcheck_edu.grading.grade_layer`): a wrong reference fails loudly. Called without a
reference (the student's own ``grader.check``), they are advice: ``grade_layer`` on the fixed
input that the notebook shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..feedback import describe_error, unanswered
from ..patterns import read_pattern
from ..verdicts import classify_relative_error

__all__ = ["LayerSpec", "Row", "RowFailed", "layer_rows", "require_layer_row", "NOT_ANSWERED"]

NOT_ANSWERED = "not answered"


class RowFailed(AssertionError):
    """A failed row: the message is the feedback; ``verdict`` (a :class:`Verdict` name or None)
    and ``kind`` (a pattern kind, or ``"shape"``, ``"raised"``, ``"not answered"``) say why."""

    def __init__(self, message: str, verdict: str | None = None, kind: str = "unknown"):
        super().__init__(message)
        self.verdict = verdict
        self.kind = kind


@dataclass
class LayerSpec:
    """How a homework question builds and feeds a layer.

    Attributes
    ----------
    name : str
        The class name, for the feedback.
    make : callable (cls, rng) -> layer
        Builds a layer of class ``cls`` (the student's or the reference); ``rng`` may draw
        constructor arguments (labels, a mask seed).
    x : callable (rng) -> ndarray
        The input batch.
    shown_seed : int
        The seed of the input the notebook shows (the students' own checks use it).
    hints : dict of str -> str
        An extra hint per row, added when that row fails.
    """

    name: str
    make: Callable[[Any, np.random.Generator], Any]
    x: Callable[[np.random.Generator], np.ndarray]
    shown_seed: int = 0
    hints: dict[str, str] = field(default_factory=dict)


@dataclass
class Row:
    """One row: passed or not, the feedback, the verdict name and the kind of mistake."""

    passed: bool
    feedback: str
    verdict: str | None = None
    kind: str | None = None


def _what(row: str) -> str:
    return {"x": "dx, the gradient your backward returns", "forward": "the output of forward"
            }.get(row, f"grads[{row!r}]")


def _as_array(value: Any, what: str) -> np.ndarray:
    if unanswered(value):
        raise RowFailed(f"not answered yet (it is {value!r})", None, NOT_ANSWERED)
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise RowFailed(f"WRONG, it is not an array of numbers ({type(value).__name__})",
                        None, "shape") from None


def _compare(row: str, got: Any, want: np.ndarray, param: Any, sizes: dict) -> Row:
    try:
        got = _as_array(got, _what(row))
    except RowFailed as err:
        return Row(False, f"{_what(row)}: {err}", None, err.kind)
    if got.shape != want.shape:
        return Row(False, f"{_what(row)}: WRONG, it has shape {got.shape}, not the shape "
                   f"{want.shape} it must have: a missing transpose, or a sum over the wrong axis?",
                   "WRONG", "shape")
    norm = np.linalg.norm(got) + np.linalg.norm(want)
    err = float(np.linalg.norm(got - want) / norm) if norm > 0 else 0.0
    if not np.all(np.isfinite(got)):
        err = float("nan")
    verdict = classify_relative_error(err)
    head = f"{_what(row)}: {verdict.name} (relative error {err:.0e})"
    if verdict.passed:
        return Row(True, head + ".", verdict.name)
    pattern = None
    if np.all(np.isfinite(got)):
        scale = max(float(np.max(np.abs(want), initial=0.0)), 1e-300)
        pattern = read_pattern(got, want, noise=np.full(want.shape, 1e-9 * scale),
                               shape=want.shape, param=param, sizes=sizes)
    from ..feedback import mismatch_hint

    return Row(False, f"{head}: {mismatch_hint(got, want, pattern)}", verdict.name,
               pattern.kind if pattern is not None else "unknown")


def _failure(err: Exception, what: str) -> tuple[str, str]:
    """The feedback and the kind of an exception from the student's layer: the sandbox's own
    message for a hang, a crash or a failed cell ("timeout" or "raised"), else the error."""
    from ..sandbox import CellStatus, StudentCodeError

    if isinstance(err, StudentCodeError):
        return str(err), "timeout" if err.status is CellStatus.TIMEOUT else "raised"
    return f"{what} raised {describe_error(err)}", "raised"


def _params(layer: Any, what: str) -> dict:
    params = getattr(layer, "params", None)
    if not isinstance(params, dict):
        raise RowFailed(f"{what}.params must be a dict of arrays ({{}} if none)", None, "shape")
    return params


def layer_rows(student_cls: Any, reference_cls: Any, spec: LayerSpec, seed: int) -> dict[str, Row]:
    """Every row of the student's layer, judged against the reference on seeded inputs.

    Returns ``{"forward": Row, "x": Row, k: Row for each parameter k of the reference}``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6C61796572]))
    make_seed = int(rng.integers(2**63))  # the same construction for reference and student
    ref = spec.make(reference_cls, np.random.default_rng(make_seed))
    ref_params = _params(ref, "the reference")
    names = ["forward", "x", *ref_params]
    values = {k: rng.standard_normal(np.shape(v)) for k, v in ref_params.items()}
    for k, v in values.items():
        np.copyto(ref_params[k], v)
    x = spec.x(rng)
    out_ref = np.asarray(ref.forward(x.copy()), dtype=np.float64)
    dout = rng.standard_normal(out_ref.shape)
    dx_ref = ref.backward(dout.copy())
    want = {"forward": out_ref, "x": np.asarray(dx_ref, dtype=np.float64),
            **{k: np.asarray(ref.grads[k], dtype=np.float64).copy() for k in ref_params}}
    sizes = {"the batch size": int(x.shape[0])} if x.ndim and x.shape[0] > 1 else {}

    def fail_all(message: str, kind: str, start: int = 0) -> dict[str, Row]:
        rows = {n: Row(False, f"{_what(n)}: not graded, {message}", None, kind)
                for n in names[start:]}
        return rows

    try:
        layer = spec.make(student_cls, np.random.default_rng(make_seed))
        params = _params(layer, spec.name)
        for k, v in values.items():
            if k not in params or np.shape(params[k]) != np.shape(v):
                return fail_all(f"{spec.name}.params has no {k!r} of shape {np.shape(v)}",
                                "shape")
            params[k][...] = v
        out = layer.forward(x.copy())
    except RowFailed as err:
        return fail_all(str(err), err.kind)
    except Exception as err:  # the student's code (or the sandbox naming what it did)
        return fail_all(*_failure(err, "your layer"))
    rows = {"forward": _compare("forward", out, out_ref, None, sizes)}
    if unanswered(out):
        return {**rows, **fail_all(f"forward returns {out!r}: write forward first", NOT_ANSWERED,
                                   1)}
    got = []
    try:
        for _ in range(2):  # twice on the same layer: catches grads[k] += ...
            dx = layer.backward(dout.copy())
            grads = getattr(layer, "grads", None)
            grads = grads if isinstance(grads, dict) else {}
            got.append({"x": dx, **{k: grads.get(k) for k in ref_params}})
            got[-1] = {k: (np.array(v, dtype=np.float64) if isinstance(v, np.ndarray) else v)
                       for k, v in got[-1].items()}
    except Exception as err:
        return {**rows, **fail_all(*_failure(err, "backward"), 1)}
    for n in names[1:]:
        first = _compare(n, got[0][n], want[n], values.get(n), sizes)
        second = _compare(n, got[1][n], want[n], values.get(n), sizes)
        if first.passed and not second.passed:
            second = Row(False, f"{_what(n)}: right after one backward call, wrong after a "
                         "second identical call: it accumulates (+=) where it must be set (=); "
                         "backward is called many times in training.", second.verdict,
                         second.kind)
        rows[n] = first if not first.passed else second
    if unanswered(got[0]["x"]):  # backward not written yet: its rows are not answered
        for n in names[2:]:
            if not rows[n].passed:
                rows[n] = Row(False, f"{_what(n)}: not answered yet (backward returns None)",
                              None, NOT_ANSWERED)
    for n, row in rows.items():
        if not row.passed and spec.hints.get(n):
            row.feedback += f" Hint: {spec.hints[n]}"
    return rows


def _check_reference(reference_cls: Any, spec: LayerSpec, row: str) -> None:
    """The reference against central differences (and its forward is the forward)."""
    from ..grading import grade_layer

    rng = np.random.default_rng(spec.shown_seed)
    layer = spec.make(reference_cls, rng)
    grade = grade_layer(layer, spec.x(np.random.default_rng(spec.shown_seed)), name=spec.name)
    if row != "forward" and not grade.rows[row].passed:
        raise RuntimeError(f"the reference {spec.name} is wrong: {grade.rows[row].feedback}")


def require_layer_row(student_cls: Any, reference_cls: Any, seed: Any, row: str,
                      spec: LayerSpec, points: dict[str, float] | None = None) -> None:
    """The body of one homework test case: raise :class:`RowFailed` unless ``row`` passed.

    ``reference_cls`` is None in the student's own ``grader.check`` (advice: the gradient rows
    are checked by :func:`~gradcheck_edu.grading.grade_layer` against finite differences of the
    student's forward, on the input the notebook shows, with the autograder's ``points``); the
    student's class itself when the reference checks itself.
    """
    if reference_cls is None:
        if row == "forward":
            raise RowFailed("the forward pass is graded by a hidden test only", None, "unknown")
        from ..grading import grade_layer

        rng = np.random.default_rng(spec.shown_seed)
        try:
            layer = spec.make(student_cls, rng)
        except Exception as err:
            raise RowFailed(f"{spec.name}: building the layer raised {describe_error(err)}",
                            None, "raised") from None
        grade = grade_layer(layer, spec.x(np.random.default_rng(spec.shown_seed)),
                            points=points, name=spec.name, hints=spec.hints)
        r = grade.rows.get(row)
        if r is None or not r.passed:
            kind = r.pattern.kind if r is not None and r.pattern is not None else "unknown"
            verdict = r.verdict.name if r is not None and r.verdict is not None else None
            raise RowFailed(f"{spec.name}, row {row}: " + (r.feedback if r else "no such row"),
                            verdict, kind)
        return
    if student_cls is reference_cls:
        _check_reference(reference_cls, spec, row)
    result = layer_rows(student_cls, reference_cls, spec, 0 if seed is None else int(seed))
    r = result.get(row)
    if r is None:
        raise RowFailed(f"{spec.name}: no row {row!r}", None, "unknown")
    if not r.passed:
        raise RowFailed(f"{spec.name}, row {row}: {r.feedback}", r.verdict, r.kind or "unknown")

