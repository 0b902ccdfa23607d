"""grade_layer: points per row, the wrong row named, feedback without the reference's values,
nothing on stderr; and the exercise checks of gradcheck_edu.feedback."""

import numpy as np
import pytest

import gradcheck_edu as ge
from gradcheck_edu import feedback as fb
from gradcheck_edu.grading import grade_layer, require_row, student_seed
from gradcheck_edu.nn.layers import BatchNorm1d, Linear, Tanh

X = np.random.default_rng(3).normal(1.0, 2.0, size=(6, 4))


class BuggyLinear(Linear):
    """Linear with one of its gradients wrong (``which``) by a factor or a transpose."""

    def __init__(self, which, rng=0):
        super().__init__(4, 3, rng=rng)
        self.which = which

    def backward(self, dout, need_dx=True):
        dx = super().backward(dout)
        if self.which == "W":
            self.grads["W"] = self.grads["W"] / len(dout)  # an extra 1/N
        if self.which == "b":
            self.grads["b"] = -self.grads["b"]
        if self.which == "x":
            dx = dout @ self.params["W"].T[::-1]  # rows of W in the wrong order
        return dx


def test_a_correct_layer_gets_full_marks():
    for layer, names in [(Linear(4, 3, rng=0), ["x", "W", "b"]), (Tanh(), ["x"]),
                         (BatchNorm1d(4), ["x", "gamma", "beta"])]:
        grade = grade_layer(layer, X)
        assert list(grade.rows) == names
        assert grade.score == grade.max_score == pytest.approx(1.0), str(grade)
        assert all(r.passed and r.verdict.passed for r in grade.rows.values())


@pytest.mark.parametrize("which", ["x", "W", "b"])
def test_the_wrong_row_loses_its_points_and_only_it(which):
    grade = grade_layer(BuggyLinear(which), X, points={"x": 2, "W": 3, "b": 1})
    assert grade.max_score == 6
    assert not grade.rows[which].passed and grade.rows[which].score == 0
    assert grade.score == 6 - {"x": 2, "W": 3, "b": 1}[which]
    failing = [r for r in grade.rows.values() if not r.passed]
    assert [r.name for r in failing] == [which]
    assert "WRONG" in grade.rows[which].feedback
    with pytest.raises(AssertionError, match=f"row {which}"):
        require_row(grade, which)
    for other in set(grade.rows) - {which}:
        require_row(grade, other)


def test_feedback_never_prints_the_reference_gradient():
    layer = BuggyLinear("W")
    grade = grade_layer(layer, X, student_id="s1")
    # the reference dW for this student's dout, computed independently
    ref = Linear(4, 3, rng=0)
    ref.forward(X.copy())
    # every number the feedback shows, against every entry of the reference gradient
    text = str(grade)
    numbers = {float(t) for t in __import__("re").findall(r"-?\d+\.\d+(?:e-?\d+)?", text)}
    rng = np.random.default_rng(np.random.SeedSequence([student_seed("s1"), 0x67726164]))
    dout = rng.standard_normal((6, 3))
    ref.backward(dout)
    for value in ref.grads["W"].ravel():
        assert not any(abs(n - value) < 1e-3 * max(1, abs(value)) for n in numbers), value
    assert grade.rows["W"].pattern.kind == "scale"  # the hint: a constant factor, 1/6
    assert str(grade.rows["W"].pattern).rstrip(".") in text


def test_student_id_seeds_dout_reproducibly():
    assert student_seed("ada") == student_seed("ada") != student_seed("alan")
    seen = {}

    class Spy(Tanh):
        def backward(self, dout):
            seen.setdefault(self.key, dout.copy())
            return super().backward(dout)

    for key, sid in [("a1", "ada"), ("a2", "ada"), ("b", "alan")]:
        spy = Spy()
        spy.key = key
        grade_layer(spy, X, student_id=sid)
    assert np.array_equal(seen["a1"], seen["a2"]) and not np.allclose(seen["a1"], seen["b"])


def test_points_default_to_an_equal_split_and_bad_points_are_refused():
    grade = grade_layer(Linear(4, 3, rng=0), X, points=6)
    assert [r.max_score for r in grade.rows.values()] == [2, 2, 2]
    with pytest.raises(ValueError, match="one number per row"):
        grade_layer(Linear(4, 3, rng=0), X, points={"x": 1})


def test_the_layer_and_x_are_not_modified():
    layer, x = Linear(4, 3, rng=0), X.copy()
    before = {k: v.copy() for k, v in layer.params.items()}
    grade_layer(layer, x)
    assert np.array_equal(x, X) and all(np.array_equal(layer.params[k], before[k]) for k in before)
    assert not hasattr(layer, "x")  # forward never ran on the student's own object


class Broken:
    def __init__(self, mode):
        self.mode = mode
        self.params = {"W": np.ones((4, 3))}
        self.grads = {}

    def forward(self, x):
        import sys
        import warnings

        if self.mode == "raise":
            raise NotImplementedError("write forward")
        if self.mode == "noisy":
            print("debug print", file=sys.stderr)
            warnings.warn("student warning", stacklevel=1)
            return np.exp(800.0 * x) @ self.params["W"] * 0 + x @ self.params["W"]
        if self.mode == "random":
            return x @ self.params["W"] + np.random.default_rng().standard_normal()
        return x @ self.params["W"]

    def backward(self, dout):
        if self.mode == "none":
            return None
        if self.mode == "shape":
            self.grads["W"] = np.zeros(3)
            return dout @ self.params["W"].T
        self.grads["W"] = self.x_grad = np.zeros((4, 3)) if self.mode != "noisy" else None
        return dout @ self.params["W"].T


@pytest.mark.parametrize("mode,expect", [
    ("raise", "raised NotImplementedError: write forward"),
    ("none", "backward returns None"),
    ("shape", "has shape (3,), but W has shape (4, 3)"),
    ("random", "not graded, the check failed"),
    ("noisy", "warning"),
])
def test_student_errors_become_feedback_and_nothing_reaches_stderr(mode, expect, capfd):
    grade = grade_layer(Broken(mode), X)
    out, err = capfd.readouterr()
    assert err == "" and out == ""
    assert grade.score < grade.max_score
    assert expect in str(grade), str(grade)


def test_a_zero_gradient_is_called_zero():
    grade = grade_layer(Broken("zeros"), X)
    row = grade.rows["W"]
    assert grade.rows["x"].passed and not row.passed
    assert row.pattern.kind == "zero" and str(row.pattern).rstrip(".") in row.feedback
    assert grade.rows["x"].pattern is None


def test_the_fallback_hint_without_a_pattern():
    """What the feedback says of a mismatch when the checker reads no pattern."""
    a = np.array([1.0, -2.0, 3.0, 0.5])
    assert "all zeros" in fb.mismatch_hint(np.zeros(4), a)
    assert "0.125 x the right one" in fb.mismatch_hint(a / 8, a)
    assert "sign error" in fb.mismatch_hint(-a, a)
    assert "2 of 4 components are off" in fb.mismatch_hint(a * [1, 1, 2, 3], a)
    assert fb.mismatch_hint(a, -a, pattern="the pattern's sentence") == "the pattern's sentence."


def test_a_zero_pattern_does_not_say_where_the_reference_is_zero():
    """Max-pooling's gradient sent to every cell: the check reads "numerical is 0 in entries
    ..."; the student reads how many, not which (which cells are zero is the answer)."""

    class EveryCell:
        params, grads = {}, {}

        def forward(self, x):
            self.x = x
            return x.reshape(1, 2, 2, 2, 2).max(axis=(2, 4))

        def backward(self, dout):
            return np.repeat(np.repeat(dout, 2, axis=1), 2, axis=2)

    x = np.random.default_rng(0).permutation(16).reshape(1, 4, 4) * 0.1
    row = grade_layer(EveryCell(), x).rows["x"]
    assert row.pattern.kind == "zero" and row.pattern.where is not None
    assert str(row.pattern.where) not in row.feedback
    assert f"{len(row.pattern.where)} {row.pattern.where.axis}" in row.feedback


# --------------------------------------------------------------------------- exercise checks


def test_check_function_verdicts_and_unanswered():
    cases = [("t**3 at 1", (ge.examples.cube, 1.0, 0.01)), ("sin at 0.3", (np.sin, 0.3, 1e-3))]
    right = fb.check_function(lambda f, t, e: (f(t + e) - f(t)) / e, ge.forward_difference,
                              cases, name="one_sided")
    assert right.passed and right.verdict is ge.Verdict.EXCELLENT
    wrong = fb.check_function(lambda f, t, e: (f(t + e) - f(t)) / (2 * e),
                              ge.forward_difference, cases, name="one_sided", hint="the step")
    assert not wrong.passed and "WRONG" in str(wrong) and "Hint: the step" in str(wrong)
    assert "0.0301" not in str(wrong) and "3.03" not in str(wrong)
    for placeholder in (..., None, lambda f, t, e: ...):
        got = fb.check_function(placeholder, ge.forward_difference, cases, name="one_sided")
        assert not got.passed and "not answered" in got.message


def test_check_number_says_the_side_not_the_value():
    assert fb.check_number(3.0301, 3.0301, name="p").passed
    low = fb.check_number(3.0, 3.0301, name="p", rtol=1e-3)
    assert not low.passed and "too small" in low.message and "3.03" not in str(low)
    assert "not answered" in fb.check_number(..., 1.0, name="p").message


def test_check_gradient_reads_the_mismatch():
    w = np.array([0.5, -1.0, 2.0])

    def f(v):
        return float(np.sum(v**3))

    assert fb.check_gradient(3 * w**2, f, w, name="g").passed
    half = fb.check_gradient(1.5 * w**2, f, w, name="g")
    report = ge.gradient_check(f, 1.5 * w**2, w)
    assert report.per_parameter["theta"].pattern.support < 4  # too few for the pattern reader
    # ... but the factor is exact in all 3 components, and named
    assert not half.passed and "0.5 x the right values" in half.message
    assert "a factor 2" in half.message and "too few to read" not in half.message
    if half.verdict is not None:
        assert half.verdict is ge.Verdict.WRONG
    v = np.linspace(0.5, 2.0, 6)
    half = fb.check_gradient(1.5 * v**2, f, v, name="g")
    sentence = str(ge.gradient_check(f, 1.5 * v**2, v).per_parameter["theta"].pattern)
    assert not half.passed and sentence.rstrip(".?") in half.message


def test_check_names_counts_only():
    got = fb.check_names({"W1", "W2"}, {"W1", "b1"}, name="at fault")
    assert not got.passed and "1 of your 2" in got.message and "1 are missing" in got.message
    assert "b1" not in got.message
    assert fb.check_names({"W1", "b1"}, {"W1", "b1"}, name="at fault").passed


def test_a_stray_one_over_n_is_named_by_the_batch_size():
    from gradcheck_edu.grading import grade_layer

    class Affine:
        def __init__(self):
            self.params = {"W": np.random.default_rng(0).standard_normal((3, 2)),
                           "b": np.zeros(2)}
            self.grads = {}

        def forward(self, x):
            self.x = x
            return x @ self.params["W"] + self.params["b"]

        def backward(self, dout):
            self.grads["W"] = self.x.T @ dout / len(dout)
            self.grads["b"] = dout.sum(axis=0)
            return dout @ self.params["W"].T

    grade = grade_layer(Affine(), np.random.default_rng(1).standard_normal((4, 3)))
    assert grade.rows["W"].score == 0 and "4 is the batch size" in grade.rows["W"].feedback
    assert "0.333 / 0.333" in str(grade)  # three significant digits, not 0.333333


def test_a_row_that_cannot_be_told_gets_its_reason_not_a_mismatch_hint():
    # float16: even at the step for its precision (the default since issue 23; float32 is
    # resolved there) the finite difference cannot resolve these gradients
    layer = Linear(3, 2, rng=np.random.default_rng(0), dtype=np.float16)
    grade = grade_layer(layer, np.random.default_rng(1).standard_normal((4, 3)))
    for row in grade.rows.values():
        assert "CANNOT_TELL" in row.feedback and "float16" in row.feedback
        assert "components" not in row.feedback.split("CANNOT_TELL", 1)[1].split("(", 1)[0]
