"""Notebook 06, graded in this process with ``grade_layer`` as its tests grade it: the reference
solution (from the source) gets every row, and each plausible wrong answer loses exactly the
rows it gets wrong and keeps the others (partial credit), with the wrong row named.
"""

from pathlib import Path

import numpy as np
import pytest
from otter_sources import as_answer, solution_cells

import gradcheck_edu as ge
from gradcheck_edu.grading import grade_layer

SOURCE = Path(__file__).resolve().parents[1] / "notebooks" / "06_homework_template.ipynb"
TANH, BATCHNORM = (as_answer(s) for s in solution_cells(SOURCE))
X = np.random.default_rng(6).normal(2.0, 3.0, size=(8, 5))


def _layer(source: str, cls: str, *args):
    namespace = {"np": np}
    exec(compile(source, str(SOURCE), "exec"), namespace)
    return namespace[cls](*args)


def _variant(source, old, new):
    """The reference solution with one piece changed as a student might get it wrong."""
    assert source.count(old) == 1, old
    return source.replace(old, new)


BN_RETURN = """return (dxhat - dxhat.mean(axis=0)
                - self.xhat * np.mean(dxhat * self.xhat, axis=0)) * self.inv_std"""

# name -> (layer class, wrong source, the rows that must lose their points)
WRONG = {
    "tanh: 1 - out instead of 1 - out**2": (
        "TanhLayer", _variant(TANH, "(1 - self.out**2)", "(1 - self.out)"), {"x"}),
    "tanh: derivative at the input, 1 - x**2": (
        "TanhLayer", _variant(TANH, "self.out = np.tanh(x)", "self.x = x\n        self.out = "
                              "np.tanh(x)").replace("(1 - self.out**2)", "(1 - self.x**2)"), {"x"}),
    "batch norm: dx left as zeros, dgamma and dbeta right": (
        "BatchNormLayer", _variant(BATCHNORM, BN_RETURN, "return np.zeros_like(dout)"), {"x"}),
    "batch norm: mean and variance treated as constants": (
        "BatchNormLayer", _variant(BATCHNORM, BN_RETURN, "return dxhat * self.inv_std"), {"x"}),
    "batch norm: the mean over the batch forgotten (no 1/N)": (
        "BatchNormLayer", _variant(BATCHNORM, BN_RETURN, """return (dxhat - dxhat.sum(axis=0)
                - self.xhat * np.sum(dxhat * self.xhat, axis=0)) * self.inv_std"""), {"x"}),
    "batch norm: only the variance term forgotten": (
        "BatchNormLayer", _variant(BATCHNORM, BN_RETURN,
                                   "return (dxhat - dxhat.mean(axis=0)) * self.inv_std"), {"x"}),
    "batch norm: dgamma from the mean, not from xhat": (
        "BatchNormLayer", _variant(BATCHNORM, "np.sum(dout * self.xhat, axis=0)",
                                   "np.sum(dout * self.mean, axis=0)"), {"gamma"}),
    "batch norm: dbeta not summed over the batch": (
        "BatchNormLayer", _variant(BATCHNORM, 'self.grads["beta"] = dout.sum(axis=0)',
                                   'self.grads["beta"] = dout.mean(axis=0)'), {"beta"}),
}
ARGS = {"TanhLayer": (), "BatchNormLayer": (5,)}


def test_the_reference_solution_gets_every_row():
    for source, cls in [(TANH, "TanhLayer"), (BATCHNORM, "BatchNormLayer")]:
        grade = grade_layer(_layer(source, cls, *ARGS[cls]), X)
        assert grade.score == grade.max_score
        assert all(r.verdict is ge.Verdict.EXCELLENT for r in grade.rows.values())
        # the rows are check_layer's, with the same verdicts
        report = ge.check_layer(_layer(source, cls, *ARGS[cls]), X)
        assert list(grade.rows) == list(report.per_parameter)


@pytest.mark.parametrize("name", list(WRONG))
def test_a_wrong_answer_loses_exactly_its_rows(name):
    cls, source, at_fault = WRONG[name]
    grade = grade_layer(_layer(source, cls, *ARGS[cls]), X, points=None)
    failing = {r.name for r in grade.rows.values() if not r.passed}
    assert failing == at_fault, (name, str(grade))
    per_row = grade.max_score / len(grade.rows)
    assert grade.score == pytest.approx(grade.max_score - per_row * len(at_fault))
    for row in at_fault:
        feedback = grade.rows[row].feedback
        assert "WRONG" in feedback or "SUSPICIOUS" in feedback, feedback
        assert ("dx" if row == "x" else f"grads['{row}']") in feedback
    # check_layer agrees on which rows fail
    report = ge.check_layer(_layer(source, cls, *ARGS[cls]), X)
    assert {r.name for r in report.per_parameter.values() if not r.verdict.passed} == at_fault
