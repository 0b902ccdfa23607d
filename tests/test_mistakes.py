"""Feedback that names the wrong answer it sees, never the right one: each common mistake of the
exercises of notebooks 01-05 and of the homework's layers, asserted on its text."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import gradcheck_edu as ge
from gradcheck_edu import feedback as fb
from gradcheck_edu.grading import grade_layer
from gradcheck_edu.mistakes import describe_error, failed_cell, not_a_number

CASES = [("theta**3 at 1, eps 0.01", (lambda t: t**3, 1.0, 0.01)),
         ("sin at 0.3, eps 1e-3", (np.sin, 0.3, 1e-3))]


def central(f, t, e):
    return (f(t + e) - f(t - e)) / (2 * e)


def forward(f, t, e):
    return (f(t + e) - f(t)) / e


@pytest.mark.parametrize("func, named", [
    (central, "the central (two-sided) difference, where the one-sided one is asked"),
    (lambda f, t, e: (f(t + e) - f(t)) / (2 * e), "0.5 x the right values"),
    (lambda f, t, e: (f(t) - f(t + e)) / e, "minus the right values in every component: a sign"),
    (lambda f, t, e: (f(t) - f(t - e)) / e, "the backward difference"),
])
def test_one_sided_names_the_wrong_difference(func, named):
    got = fb.check_function(func, ge.forward_difference, CASES, name="one_sided")
    assert not got.passed and named in got.message
    assert "3.0301" not in got.message and "3.03" not in got.message  # no reference value
    assert fb.check_function(forward, ge.forward_difference, CASES, name="one_sided").passed


def test_two_sided_names_the_wrong_difference():
    got = fb.check_function(forward, ge.central_difference, CASES, name="two_sided")
    assert "a one-sided (forward) difference, where the central one is asked" in got.message
    got = fb.check_function(lambda f, t, e: (f(t + e) - f(t - e)) / e, ge.central_difference,
                            CASES, name="two_sided")
    assert "2 x the right values" in got.message and "a factor 2" in got.message
    # a wrong answer that is none of the known ones keeps the generic verdict
    got = fb.check_function(lambda f, t, e: f(t), ge.central_difference, CASES, name="two_sided")
    assert not got.passed and "Your function returns" not in got.message


def test_a_string_is_not_a_number():
    measured = ge.forward_difference(lambda t: t**3, 1.0, eps=0.001) - 3.0
    got = fb.check_number("0.003", measured, name="predicted_error")
    assert not got.passed
    assert got.message == "expected a number, got the string '0.003': write the number without " \
                          "quotes."
    assert not fb.check_number(True, 1.0, name="p").passed
    assert not fb.check_number([0.003], measured, name="p").passed
    assert fb.check_number(np.float64(measured), measured, name="p").passed
    assert fb.check_number(np.array(measured), measured, name="p").passed
    got = fb.check_numbers({"forward": "1", "central": 2}, {"forward": 1, "central": 2}, name="o")
    assert not got.passed and "forward expected a number, got the string '1'" in got.message
    assert not_a_number(3) is None


def test_the_common_wrong_numbers_are_named():
    eps = 0.001
    measured = ge.forward_difference(lambda t: t**3, 1.0, eps=eps) - 3.0
    central_error = ge.central_difference(lambda t: t**3, 1.0, eps=eps) - 3.0

    def check(v):
        return fb.check_number(v, measured, name="predicted_error", units={"eps": eps},
                               wrong={"the error of the central difference": central_error})

    assert check(0.003001).passed
    assert "with the wrong sign" in check(-0.003001).message
    assert "exponent (log10)" in fb.check_number(-5.2, 6e-6, name="best", factor=5).message
    assert "Twice the right size" in check(0.006002).message
    assert "Half the right size" in check(0.0015).message
    assert "counted in units of eps" in check(3.001).message
    assert "That is the error of the central difference" in check(1e-6).message
    for v in (-0.003001, 0.006002, 0.0015, 3.001, 1e-6, 0.5):
        assert f"{measured:.4g}" not in check(v).message and "0.003" not in check(v).message
    # within a factor (an order of magnitude): no claim of a factor 2
    got = fb.check_number(6e-5, 6e-6, name="best", factor=5)
    assert not got.passed and "factor 2" not in got.message
    chance = np.log(3)
    wrong = {"the loss with the base-10 logarithm": chance / np.log(10), "a probability": 1 / 3}
    got = fb.check_number(np.log10(3), chance, name="chance", rtol=1e-3, wrong=wrong)
    assert got.message == "not within 0.1%: too small. That is the loss with the base-10 logarithm."
    assert "That is a probability" in fb.check_number(0.33, chance, name="c", wrong=wrong).message


class Affine:
    """out = x @ W + b, with one planted mistake (``mode``)."""

    def __init__(self, mode=""):
        rng = np.random.default_rng(1)
        self.params = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
        self.grads = {"W": np.zeros((4, 3)), "b": np.zeros(3)}
        self.mode = mode

    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + (0 if self.mode == "no b" else self.params["b"])

    def backward(self, dout):
        if self.mode == "accumulates":
            self.grads["W"] += self.x.T @ dout
        else:
            self.grads["W"][...] = self.x.T @ dout
        self.grads["b"] = dout.sum(axis=0) / (len(dout) if self.mode == "1/N" else 1)
        return dout @ self.params["W"].T


X = np.random.default_rng(2).standard_normal((4, 4))


def test_a_bias_of_three_components_is_read_when_exact():
    grade = grade_layer(Affine("no b"), X)
    b = grade.rows["b"]
    assert not b.passed and "too few" not in b.feedback
    assert "the loss does not depend on b. Does forward add b?" in b.feedback
    assert b.kind == "zero"  # for the class report: read, not "unknown"
    grade = grade_layer(Affine("1/N"), X)
    assert "a factor that is the batch size (N = 4): a 1/N too many or too few?" in \
        grade.rows["b"].feedback
    assert grade.rows["b"].kind == "scale"
    assert grade.rows["W"].passed and grade.rows["x"].passed


def test_accumulation_into_grads_is_caught_and_named():
    right = grade_layer(Affine(), X)
    assert right.score == right.max_score  # writing in place ([...] =) is right
    grade = grade_layer(Affine("accumulates"), X)
    w = grade.rows["W"]
    assert not w.passed and w.kind == "accumulates"
    assert "it accumulates: a second backward on the same layer gives twice the first " \
           "(grads['W'] += ...?)" in w.feedback
    assert grade.rows["b"].passed and grade.rows["x"].passed


class Softmax:
    def __init__(self, y, one_hot=True):
        self.y, self.one_hot = np.asarray(y), one_hot
        self.params, self.grads = {}, {}

    def forward(self, x):
        shifted = x - x.max(axis=1, keepdims=True)
        self.p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        return -np.log(self.p[np.arange(len(self.y)), self.y]).mean()

    def backward(self, dout):
        dx = self.p.copy()
        if self.one_hot:
            dx[np.arange(len(self.y)), self.y] -= 1
        return dout * dx / len(self.y)


def test_softmax_names_the_label_positions():
    x = np.random.default_rng(14).standard_normal((5, 3))
    assert grade_layer(Softmax([0, 2, 1, 2, 0]), x).rows["x"].passed
    row = grade_layer(Softmax([0, 2, 1, 2, 0], one_hot=False), x).rows["x"]
    assert not row.passed and row.kind == "subset"
    assert "the entries at the labels y (row i, column y[i], for all 5 samples)" in row.feedback
    assert "(0, 0)" not in row.feedback


class Dropout:
    def __init__(self, p, shape, scale_backward=True):
        self.p, self.scale_backward = p, scale_backward
        self.mask = np.random.default_rng(0).random(shape) < p
        self.params, self.grads = {}, {}

    def forward(self, x):
        return x * self.mask / self.p

    def backward(self, dout):
        return dout * self.mask / (self.p if self.scale_backward else 1)


def test_dropout_names_p():
    x = np.random.default_rng(16).standard_normal((5, 4))
    assert grade_layer(Dropout(0.6, (5, 4)), x).rows["x"].passed
    row = grade_layer(Dropout(0.6, (5, 4), scale_backward=False), x).rows["x"]
    assert "a factor that is the layer's p = 0.6: a division by p missing" in row.feedback
    assert row.kind == "scale"


class Broken:
    params: dict = {}
    grads: dict = {}

    def forward(self, x):
        return np.tanh(x)

    def backward(self, dout):
        return dout


def test_a_failed_cell_is_named_as_the_cause(monkeypatch):
    def forward(self, x):
        raise NameError("name 'np' is not defined", name="np")

    monkeypatch.setattr(Broken, "forward", forward)
    row = grade_layer(Broken(), X).rows["x"]
    assert row.kind == "raised"
    assert "NameError: name 'np' is not defined (the cell that defines or imports np did not " \
           "run, or failed" in row.feedback
    # in a notebook, the kernel keeps the error of the cell that failed: it is named
    monkeypatch.setattr(sys, "last_value", ModuleNotFoundError("No module named 'nump'"),
                        raising=False)
    row = grade_layer(Broken(), X).rows["x"]
    assert "a cell failed before with ModuleNotFoundError: No module named 'nump': that is the " \
           "cause" in row.feedback
    text = failed_cell(1, ["np", "Affine"], ModuleNotFoundError, "No module named 'nump'")
    assert text.startswith("cell 1, which defines np and Affine, failed with "
                           "ModuleNotFoundError: No module named 'nump'. Every question that "
                           "uses np or Affine fails because of it")
    assert failed_cell(3, [], "SyntaxError").startswith("cell 3, failed with SyntaxError.")
    assert describe_error(ValueError("")) == "ValueError"


def test_rows_carry_their_kind():
    class NoGrad(Affine):
        def backward(self, dout):
            self.grads = {"W": np.zeros((3, 4))}
            return None

    grade = grade_layer(NoGrad(), X)
    assert {n: r.kind for n, r in grade.rows.items()} == {"x": "not answered", "W": "shape",
                                                           "b": "not answered"}
    assert all(r.kind is None for r in grade_layer(Affine(), X).rows.values())


@pytest.mark.course
def test_in_a_notebook_the_failed_first_cell_is_named(tmp_path):
    """A kernel as a student runs it: the first cell fails to import, a later check meets the
    NameError, and its feedback names the first cell's error as the cause."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import nump as np"),
                nbformat.v4.new_code_cell("class Tanh:\n    params, grads = {}, {}\n"
                                          "    def forward(self, x):\n        return np.tanh(x)\n"
                                          "    def backward(self, dout):\n        return dout"),
                nbformat.v4.new_code_cell("import numpy\nfrom gradcheck_edu.grading import "
                                          "grade_layer\nprint(grade_layer(Tanh(), numpy.ones((2, 3)"
                                          ")))")]
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(o.get("text", "") for o in nb.cells[2].outputs)
    assert "your layer raised NameError: name 'np' is not defined (a cell failed before with " \
           "ModuleNotFoundError: No module named 'nump': that is the cause" in text
