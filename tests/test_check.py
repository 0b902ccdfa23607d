"""relative_error, verdicts, gradient_check and its report, directional and Taylor checks."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradcheck_edu as ge
from gradcheck_edu import Verdict


def _problem(seed=0):
    """A small smooth 'network': tanh(X W1 + b1) . w2, squared error."""
    rng = np.random.default_rng(seed)
    X, t = rng.standard_normal((8, 3)), rng.standard_normal(8)
    params = {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4),
              "w2": rng.standard_normal(4)}

    def f(p):
        out = np.tanh(X @ p["W1"] + p["b1"]) @ p["w2"]
        return float(0.5 * np.mean((out - t) ** 2))

    def grad(p):
        a = np.tanh(X @ p["W1"] + p["b1"])
        dout = (a @ p["w2"] - t) / len(t)
        dz = np.outer(dout, p["w2"]) * (1 - a**2)
        return {"W1": X.T @ dz, "b1": dz.sum(axis=0), "w2": a.T @ dout}

    return f, grad, params


# --------------------------------------------------------------------------- relative error


def test_relative_error_definition():
    a, b = np.array([3.0, 4.0]), np.array([3.0, 4.5])
    expected = 0.5 / (5.0 + np.hypot(3.0, 4.5))
    assert ge.relative_error(a, b) == pytest.approx(expected, rel=1e-15)
    assert ge.relative_error(0.0, 0.0) == 0.0
    assert ge.relative_error({"a": np.ones(2)}, {"a": np.ones(2)}) == 0.0
    assert np.isnan(ge.relative_error(np.array([np.nan]), np.array([1.0])))


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=6),
       st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=6))
def test_relative_error_is_symmetric_and_bounded(x, y):
    n = min(len(x), len(y))
    a, b = np.array(x[:n]), np.array(y[:n])
    r = ge.relative_error(a, b)
    assert r == ge.relative_error(b, a)
    assert 0.0 <= r <= 1.0 + 1e-12


def test_relative_error_needs_the_same_structure():
    with pytest.raises(ValueError, match="'W'"):
        ge.relative_error({"W": np.ones(2)}, {"W": np.ones(3)})


# --------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize("r, verdict", [
    (0.0, Verdict.EXCELLENT), (9.9e-8, Verdict.EXCELLENT), (1e-7, Verdict.ACCEPTABLE),
    (1e-5, Verdict.ACCEPTABLE), (1.1e-5, Verdict.SUSPICIOUS), (1e-3, Verdict.SUSPICIOUS),
    (1.1e-3, Verdict.WRONG), (0.5, Verdict.WRONG), (float("nan"), Verdict.WRONG),
])
def test_verdict_bands(r, verdict):
    assert ge.classify_relative_error(r) is verdict


def test_verdicts_are_ordered_and_explained():
    assert (Verdict.EXCELLENT < Verdict.ACCEPTABLE < Verdict.CANNOT_TELL < Verdict.SUSPICIOUS
            < Verdict.WRONG)
    assert [v.passed for v in Verdict] == [True, True, False, False, False]
    assert all(len(v.explanation) > 20 for v in Verdict)


def test_custom_thresholds():
    assert ge.classify_relative_error(1e-6, (1e-5, 1e-4, 1e-2)) is Verdict.EXCELLENT
    with pytest.raises(ValueError, match="increasing"):
        ge.classify_relative_error(1e-6, (1e-3, 1e-5, 1e-7))


# --------------------------------------------------------------------------- gradient_check


def test_correct_gradient_is_excellent_over_many_seeds():
    for seed in range(10):
        f, grad, params = _problem(seed)
        report = ge.gradient_check(f, grad, params)
        assert report.verdict is Verdict.EXCELLENT, str(report)
        assert report.passed and report.relative_error < 1e-7
        assert list(report.per_parameter) == ["W1", "b1", "w2"]
        assert all(row.verdict is Verdict.EXCELLENT for row in report.per_parameter.values())
        assert not report.kinks


def test_a_bug_is_named_by_parameter_and_index():
    f, grad, params = _problem(1)

    def buggy(p):
        g = grad(p)
        g["W1"][2, 1] *= 1.5  # one wrong entry
        return g

    report = ge.gradient_check(f, buggy, params)
    assert not report.passed
    assert report.per_parameter["W1"].verdict >= Verdict.SUSPICIOUS
    assert report.per_parameter["b1"].verdict is Verdict.EXCELLENT
    worst = report.worst(1)[0]
    assert (worst.name, worst.index) == ("W1", (2, 1))
    assert worst.abs_error == pytest.approx(abs(worst.analytic - worst.numerical))
    assert worst.flat_index == 2 * 4 + 1
    text = str(report)
    assert "W1" in text and "(2, 1)" in text and report.verdict.name in text
    assert "<table>" in report._repr_html_()


def test_gradient_may_be_given_as_values():
    f, grad, params = _problem(2)
    report = ge.gradient_check(f, grad(params), params)
    assert report.passed
    np.testing.assert_allclose(report.numerical["b1"], grad(params)["b1"], rtol=1e-6)


def test_sampled_check_costs_two_calls_per_sample():
    f, grad, params = _problem(3)
    calls = [0]

    def counted(p):
        calls[0] += 1
        return f(p)

    report = ge.gradient_check(counted, grad, params, n_samples=5, seed=0)
    assert report.n_checked == 5 and report.n_total == 20
    assert calls[0] == 2 * 5 + 2
    assert np.isnan(ge.flatten(report.numerical)[0]).sum() == 15
    assert report.passed


def test_sampled_check_catches_a_dense_bug():
    f, grad, params = _problem(4)

    def sign_error(p):
        g = grad(p)
        g["W1"] = -g["W1"]
        return g

    report = ge.gradient_check(f, sign_error, params, n_samples=4, seed=1)
    assert report.verdict is Verdict.WRONG


def _relu_problem(seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((6, 3))
    W = rng.standard_normal((3, 5))
    # put pre-activation z[0, 2] within 1e-7 of zero: a ReLU kink inside +-eps
    z = X @ W
    W[0, 2] -= (z[0, 2] - 1e-7) / X[0, 0]

    def f(w):
        return float(np.sum(np.maximum(X @ w, 0.0) ** 1) / 6)

    def grad(w):
        return X.T @ ((X @ w > 0) / 6)

    return f, grad, W


def test_relu_kinks_are_reported_not_failed():
    found = 0
    for seed in range(5):
        f, grad, W = _relu_problem(seed)
        report = ge.gradient_check(f, grad, W)
        assert report.passed, str(report)
        assert all(row.kink and row.index[1] == 2 for row in report.kinks)
        found += len(report.kinks)
    assert found > 0
    assert "kink" in str(report)


def test_kinks_do_not_hide_a_real_bug():
    f, grad, W = _relu_problem(0)
    report = ge.gradient_check(f, lambda w: 1.1 * grad(w), W)
    assert not report.passed


def test_smooth_functions_have_no_kinks_even_when_wrong():
    f, grad, params = _problem(5)
    report = ge.gradient_check(f, lambda p: {k: 1.001 * v for k, v in grad(p).items()}, params)
    assert not report.kinks and report.verdict is Verdict.SUSPICIOUS


def test_round_off_floor_is_not_called_a_bug():
    # b's gradient is ~1e-13: finite differences only see round-off, which is not a bug.
    def f(p):
        return float(np.sum(p["W"] ** 2) + 1e-13 * np.sum(p["b"]))

    params = {"W": np.array([0.7, -1.1]), "b": np.array([0.3])}
    report = ge.gradient_check(f, lambda p: {"W": 2 * p["W"], "b": np.array([1e-13])}, params)
    assert report.passed
    b = report.per_parameter["b"]
    # b's own relative error (1.0) means nothing: it is judged against the whole gradient
    assert b.passed and b.decided_by == "zero gradient" and "zero gradient" in b.note
    assert "zero grad." in str(report) and "1.00e+00" not in str(report)


def test_other_methods():
    f, grad, params = _problem(6)
    for method in ("forward", "richardson"):
        assert ge.gradient_check(f, grad, params, eps=None, method=method).passed


# --------------------------------------------------------------------------- directional


def test_directional_check():
    f, grad, params = _problem(7)
    calls = [0]

    def counted(p):
        calls[0] += 1
        return f(p)

    report = ge.directional_check(counted, grad, params, n_directions=2, seed=0)
    assert report.passed and report.kind == "directional"
    assert calls[0] == 2 + 2 * 2 * 3  # two at theta, two per direction, 2 directions x 3 params
    assert set(report.analytic) == {"W1", "b1", "w2"} and report.analytic["W1"].shape == (2,)

    def wrong_bias(p):
        g = grad(p)
        g["b1"] = g["b1"] * 0.5
        return g

    bad = ge.directional_check(f, wrong_bias, params, seed=0)
    assert not bad.passed
    assert bad.per_parameter["b1"].verdict is Verdict.WRONG
    assert bad.per_parameter["W1"].verdict.passed


# --------------------------------------------------------------------------- Taylor test


def test_taylor_rate_two_when_right_one_when_wrong():
    f, grad, params = _problem(8)
    right = ge.taylor_test(f, grad, params, seed=0)
    assert right.rate == pytest.approx(2.0, abs=0.2) and right.passed
    wrong = ge.taylor_test(f, lambda p: {k: 1.05 * v for k, v in grad(p).items()}, params, seed=0)
    assert wrong.rate == pytest.approx(1.0, abs=0.2) and wrong.verdict is Verdict.WRONG
    assert right.steps.shape == right.remainders.shape
    assert "Taylor" in str(right)


def test_taylor_along_a_given_direction():
    f = lambda w: float(np.sum(w**4))  # noqa: E731
    w = np.array([0.5, -1.0])
    result = ge.taylor_test(f, lambda v: 4 * v**3, w, direction=np.array([1.0, 0.0]))
    assert result.rate == pytest.approx(2.0, abs=0.2)
    with pytest.raises(ValueError, match="nonzero"):
        ge.taylor_test(f, lambda v: 4 * v**3, w, direction=np.zeros(2))


# --------------------------------------------------------------------------- layers and models


class Affine:
    """A homework-style layer: out = x @ W + b."""

    def __init__(self, bug=False):
        rng = np.random.default_rng(0)
        self.params = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
        self.grads = {}
        self.bug = bug

    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dout):
        self.grads["W"] = self.x.T @ dout
        self.grads["b"] = dout.sum(axis=0) if not self.bug else dout.sum(axis=0) / len(dout)
        return dout @ self.params["W"].T


class RunningMean(Affine):
    """A layer with state changed by forward, like batch norm's running statistics."""

    def __init__(self):
        super().__init__()
        self.running = np.zeros(2)

    def forward(self, x):
        out = super().forward(x)
        self.running += out.mean(axis=0)
        return out


def test_check_layer_passes_a_correct_layer_and_names_rows():
    layer = Affine()
    x = np.random.default_rng(1).standard_normal((4, 3))
    x_before = x.copy()
    W_before = layer.params["W"].copy()
    report = ge.check_layer(layer, x)
    assert report.passed
    assert list(report.per_parameter) == ["x", "W", "b"]
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(layer.params["W"], W_before)


def test_check_layer_finds_the_bias_bug():
    report = ge.check_layer(Affine(bug=True), np.random.default_rng(1).standard_normal((4, 3)))
    assert not report.passed
    assert report.per_parameter["b"].verdict is Verdict.WRONG
    assert report.per_parameter["W"].verdict.passed
    assert report.worst(1)[0].name == "b"


def test_check_layer_undoes_side_effects():
    layer = RunningMean()
    report = ge.check_layer(layer, np.ones((2, 3)))
    assert report.passed
    np.testing.assert_array_equal(layer.running, np.zeros(2))
    assert layer.grads == {} and not hasattr(layer, "x")


class LogReg:
    """A duck-typed model: the checker never imports a model class."""

    def __init__(self, bug=False):
        rng = np.random.default_rng(0)
        self.params = {"w": rng.standard_normal(3), "c": np.array([0.1])}
        self.bug = bug

    def loss(self, X, y):
        z = X @ self.params["w"] + self.params["c"][0]
        return float(np.mean(np.logaddexp(0, z) - y * z))

    def loss_and_grads(self, X, y):
        z = X @ self.params["w"] + self.params["c"][0]
        dz = (1 / (1 + np.exp(-z)) - y) / len(y)
        dw = X.T @ dz if not self.bug else X.T @ dz * len(y)  # "missing 1/m"
        return self.loss(X, y), {"c": np.array([dz.sum()]), "w": dw}


def test_check_model():
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((10, 3)), rng.integers(0, 2, 10).astype(float)
    good = ge.check_model(LogReg(), X, y)
    assert good.passed and list(good.per_parameter) == ["w", "c"]
    bad = ge.check_model(LogReg(bug=True), X, y)
    assert not bad.passed and bad.worst(1)[0].name == "w"
    sampled = ge.check_model(LogReg(), X, y, n_samples=2, seed=0)
    assert sampled.n_checked == 2 and sampled.passed


def test_check_model_rejects_non_models():
    with pytest.raises(TypeError, match="loss_and_grads"):
        ge.check_model(object(), np.zeros((1, 1)), np.zeros(1))


class Standardize:
    """Batch normalization without gamma/beta, with an optional homework mistake: dx = 0."""

    def __init__(self, scale, forgot_dx=False):
        self.params = {"s": np.asarray(scale, dtype=float)}
        self.grads = {}
        self.forgot_dx = forgot_dx

    def forward(self, x):
        self.x = x
        self.xhat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5)
        return self.params["s"] * self.xhat

    def backward(self, dout):
        self.grads["s"] = np.sum(dout * self.xhat, axis=0)  # d(s * xhat)/ds = xhat
        if self.forgot_dx:
            return np.zeros_like(dout)
        dxhat = dout * self.params["s"]
        # dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / std
        return (dxhat - dxhat.mean(axis=0) - self.xhat * (dxhat * self.xhat).mean(axis=0)) \
            / np.sqrt(self.x.var(axis=0) + 1e-5)


def test_a_wrong_parameter_is_not_hidden_by_larger_gradients():
    # dx of a standardization is s / std(x) times smaller than ds: for widely spread inputs one
    # relative error over everything would call a missing dx ACCEPTABLE.
    x = np.random.default_rng(3).normal(0.0, 1e6, size=(16, 4))
    report = ge.check_layer(Standardize(np.ones(4), forgot_dx=True), x)
    r_all = ge.relative_error(report.analytic, report.numerical)
    assert ge.classify_relative_error(r_all).passed  # the overall number alone would pass...
    assert report.per_parameter["x"].verdict is Verdict.WRONG
    assert report.verdict is Verdict.WRONG and not report.passed  # ...the report does not
    assert "decided by 'x'" in report.note and "decided by 'x'" in str(report)
    # the right layer is not accused: at eps=1e-6 on inputs of 1e6 the finite difference cannot
    # resolve dx, and says so; a step on the inputs' scale can tell, and passes it
    right = ge.check_layer(Standardize(np.ones(4)), x)
    assert right.verdict is Verdict.CANNOT_TELL and "a larger eps can tell" in str(right)
    assert ge.check_layer(Standardize(np.ones(4)), x, eps=1.0).passed


def test_check_layer_dout_does_not_repeat_an_x_drawn_with_the_same_seed():
    # With dout == x, a standardization's true dx is exactly 0 and dx = 0 would pass.
    x = np.random.default_rng(0).standard_normal((8, 5))
    report = ge.check_layer(Standardize(np.ones(5), forgot_dx=True), x, seed=0)
    assert report.per_parameter["x"].verdict is Verdict.WRONG
    assert ge.check_layer(Standardize(np.ones(5)), x, seed=0).passed


# --------------------------------------------------------------------------- bookkeeping


def test_a_full_check_keeps_arrays_not_an_object_per_component():
    # ~20k components: a row object (and an index tuple) per component cost ~0.5 KB each; the
    # report keeps arrays and builds rows when asked.
    import tracemalloc

    n = 20_000
    theta = {"W": np.linspace(-1.0, 1.0, n - 100).reshape(-1, 100), "b": np.zeros(100)}
    grad = {"W": np.zeros_like(theta["W"]), "b": np.zeros(100)}
    grad["W"][0, 0], grad["b"][3] = 2 * theta["W"][0, 0], 1.0

    def f(p):  # reads two entries: each call is cheap, the bookkeeping is what is measured
        return float(p["W"][0, 0] ** 2 + p["b"][3])

    tracemalloc.start()
    report = ge.gradient_check(f, grad, theta)
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.verdict is Verdict.EXCELLENT and report.n_checked == n
    assert retained < 120 * n and peak < 200 * n, (retained / n, peak / n)
    # the public rows are still there, built on demand
    assert len(report.rows) == n and report.rows[n - 97].name == "b"
    assert report.rows[n - 97].index == (3,) and report.rows[n - 97].flat_index == n - 97
    worst = report.worst(2)
    assert [w.abs_error for w in worst] == sorted((r.abs_error for r in report.rows),
                                                  reverse=True)[:2]


def test_rows_and_worst_from_the_arrays_match_the_gradients():
    f, grad, params = _problem(9)
    g = grad(params)
    g["b1"][2] += 0.5
    report = ge.gradient_check(f, g, params)
    rows = report.rows
    assert [(r.name, r.index) for r in rows[:2]] == [("W1", (0, 0)), ("W1", (0, 1))]
    assert [r.flat_index for r in rows] == list(range(20))
    for r in rows:
        assert r.analytic == g[r.name][r.index]
        assert r.numerical == report.numerical[r.name][r.index]
        assert r.abs_error == abs(r.analytic - r.numerical)
    assert (report.worst(1)[0].name, report.worst(1)[0].index) == ("b1", (2,))
    assert report.worst(0) == [] and len(report.worst(100, failing_only=False)) == 20
    failing = {n for n, p in report.per_parameter.items() if not p.passed}
    assert {r.name for r in report.worst(100)} == failing  # only parameters that did not pass


def test_nan_gradients_come_first_in_worst():
    f, grad, params = _problem(10)
    g = grad(params)
    g["w2"][1] = np.nan
    report = ge.gradient_check(f, g, params)
    assert (report.worst(1)[0].name, report.worst(1)[0].index) == ("w2", (1,))
    assert report.verdict is Verdict.WRONG


# --------------------------------------------------------------------------- round-off


def test_a_difference_within_round_off_gets_the_verdict_of_the_resolution():
    # Two estimates of the same central differences, one with round-off (as the generic path),
    # one without (as the structure-aware path): within one rounding of the loss values, both
    # get the verdict of the resolution, not of their own round-off.
    from gradcheck_edu.roundoff import CENTRAL_ROUNDOFF
    from gradcheck_edu.verdicts import judge

    rng = np.random.default_rng(0)
    a = rng.standard_normal(500) * 3e-4
    noise = np.full(500, 10 * np.finfo(float).eps * 2.3 / 1e-6)  # noise_bound, |f| 2.3, h 1e-6
    roundoff = noise * CENTRAL_ROUNDOFF  # the typical round-off of each estimate
    resolution = np.linalg.norm(roundoff) / (2 * np.linalg.norm(a))
    assert 1e-7 < resolution < 1e-5  # an ACCEPTABLE resolution: the check sees no better
    noisy = a + rng.standard_normal(500) * roundoff  # the generic path's typical round-off
    for numerical in (noisy, a + 1e-14 * a, a):
        r, v, note, _ = judge(a, numerical, noise, CENTRAL_ROUNDOFF, ge.DEFAULT_THRESHOLDS)
        assert v is Verdict.ACCEPTABLE, (r, note)
    # a resolution worse than ACCEPTABLE (a smaller gradient): it cannot tell, and says so
    j = judge(a * 1e-3, a * 1e-3, noise, CENTRAL_ROUNDOFF, ge.DEFAULT_THRESHOLDS)
    assert j.verdict is Verdict.CANNOT_TELL and "resolved only to about" in j.note
    # with a large gradient the same round-off is far below 1e-7: EXCELLENT either way
    for numerical in (a * 1e3 + rng.standard_normal(500) * roundoff, a * 1e3):
        assert judge(a * 1e3, numerical, noise, CENTRAL_ROUNDOFF,
                     ge.DEFAULT_THRESHOLDS).verdict is Verdict.EXCELLENT


def test_an_error_above_one_rounding_is_not_called_round_off():
    from gradcheck_edu.roundoff import CENTRAL_ROUNDOFF
    from gradcheck_edu.verdicts import judge

    rng = np.random.default_rng(1)
    a = rng.standard_normal(500)
    noise = np.full(500, 10 * np.finfo(float).eps * 2.3 / 1e-6)
    wrong = a * (1 + 4e-7)  # 2e-7 relative error: above one rounding of the losses here
    r, v, note, _ = judge(a, wrong, 10 * noise, CENTRAL_ROUNDOFF, ge.DEFAULT_THRESHOLDS)
    assert np.linalg.norm(a - wrong) > 0.1 * np.linalg.norm(10 * noise)
    assert v is Verdict.ACCEPTABLE and note == ""
    # with ten times less round-off (|f| 2.3, not 23) the same mismatch stands 72 times above
    # what the estimate can err by: resolved, so it does not pass (issue 23), and the note
    # gives both numbers
    r, v, note, by = judge(a, wrong, noise, CENTRAL_ROUNDOFF, ge.DEFAULT_THRESHOLDS)
    assert v is Verdict.SUSPICIOUS and by == "resolved mismatch"
    assert "ACCEPTABLE band" in note and "72 times" in note, note
