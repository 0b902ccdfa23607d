"""Issue 23, item by item, with the issue's own numbers: a check never passes what it did not
measure, never takes a step too large for a kink, handles the edges of the floats, has an
adaptive step with an error bound, fails a mismatch it resolves, follows theta's precision,
and names the usual mistakes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import gradcheck_edu as ge
from gradcheck_edu import Verdict
from gradcheck_edu.stencils import StepTooSmallError

# -- 1. kinks: a valid subgradient is not a measurement ---------------------------------------


def test_minitorch_relu_at_its_kink_is_not_a_pass():
    # minitorch's relu(x + 5.5) at x = -5.5: its relu_back gives 1.0, the central difference 0.5
    f = lambda t: float(np.maximum(t[0] + 5.5, 0.0))  # noqa: E731
    report = ge.gradient_check(f, np.array([1.0]), np.array([-5.5]))
    assert report.kinks and report.n_measured == 0
    assert report.verdict is Verdict.CANNOT_TELL and not report.passed
    assert "valid subgradient" in report.note and "nothing measured" in report.note
    assert report.numerical[0] == pytest.approx(0.5)
    for inside in (0.0, 0.5):  # any value between the one-sided slopes 0 and 1 is valid
        assert ge.gradient_check(f, np.array([inside]), np.array([-5.5])).verdict \
            is Verdict.CANNOT_TELL
    for outside in (2.0, -1.0):  # outside both: wrong
        assert ge.gradient_check(f, np.array([outside]), np.array([-5.5])).verdict \
            is Verdict.WRONG


def micrograd_more_ops(t, relu=lambda u: np.maximum(u, 0.0)):
    """micrograd's test_more_ops, in NumPy (works on complex input for the complex step)."""
    a, b = t[0], t[1]
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + relu(b + a)
    d = d + 3 * d + relu(b - a)
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    return g


def _branch_gradient(t, relu):
    """The exact gradient of one smooth branch (relu replaced), by the complex step."""
    out = np.empty(2)
    for i in range(2):
        z = t.astype(complex)
        z[i] += 1e-30j
        out[i] = micrograd_more_ops(z, relu).imag / 1e-30
    return out


def left_relu(u):  # micrograd's relu backward at exactly 0: (out.data > 0) * out.grad = 0
    return u * 0 if u.real <= 0 else u


def right_relu(u):
    return u * 0 if u.real < 0 else u


def test_micrograd_more_ops_at_its_kink():
    f = lambda t: float(micrograd_more_ops(t))  # noqa: E731
    theta = np.array([-2.0, 2.0])  # b + a = 0: both components at the kink of relu(b + a)
    analytic = _branch_gradient(theta, left_relu)
    np.testing.assert_allclose(analytic, [940.0, 5499.0], atol=0.05)
    np.testing.assert_allclose(ge.numerical_gradient(f, theta.copy()), [1034.0, 5593.0],
                               atol=0.05)
    report = ge.gradient_check(f, analytic, theta)
    assert report.verdict is Verdict.CANNOT_TELL and report.n_measured == 0, str(report)
    assert len(report.kinks) == 2 and "valid subgradient" in str(report)
    # the report: relative_error=0, EXCELLENT, "the gradient is exactly zero"
    assert "exactly zero" not in str(report) and report.relative_error != 0.0


def test_micrograd_beside_its_kink_the_kinks_value_is_wrong():
    # a = -2 + 3e-7: the kink is inside +-eps, theta on its smooth side (b + a > 0), where the
    # derivative is the right one; the left branch's value lies outside both one-sided slopes
    f = lambda t: float(micrograd_more_ops(t))  # noqa: E731
    theta = np.array([-2.0 + 3e-7, 2.0])
    kink_value = _branch_gradient(np.array([-2.0, 2.0]), left_relu)
    report = ge.gradient_check(f, kink_value, theta.copy())
    assert report.verdict is Verdict.WRONG and report.n_measured == 2, str(report)
    right = _branch_gradient(theta, right_relu)
    assert ge.gradient_check(f, right, theta.copy()).verdict <= Verdict.CANNOT_TELL


# -- 2. a step too large for f is not a kink --------------------------------------------------

def _log(t):
    return float(np.sum(np.log(t)))


@pytest.mark.parametrize("wrong", [0.0, 123.0])
def test_log_at_2e_6_with_a_wrong_gradient_never_passes(wrong):
    # central difference at eps 1e-6: log(3) / 2e-6 = 549306 (truth 500000)
    report = ge.gradient_check(_log, np.array([wrong]), np.array([2e-6]))
    assert not report.kinks and report.verdict is Verdict.WRONG, str(report)
    assert report.numerical[0] == pytest.approx(np.log(3) / 2e-6, rel=1e-9)


def test_log_at_2e_6_is_not_resolved_at_eps_1e_6():
    right = ge.gradient_check(_log, np.array([5e5]), np.array([2e-6]))
    assert right.verdict is Verdict.CANNOT_TELL and "truncation" in right.note
    # even the value the too-large step gives is not passed: the estimate moves with the step
    biased = ge.gradient_check(_log, np.array([np.log(3) / 2e-6]), np.array([2e-6]))
    assert not biased.passed and not biased.kinks


def test_log_at_2e_6_with_eps_none_takes_the_adaptive_step():
    # the default step (6e-6) leaves log's domain: steps within |x| / 2, then the adaptive one
    with np.errstate(invalid="ignore"):
        right = ge.gradient_check(_log, np.array([5e5]), np.array([2e-6]), eps=None)
        biased = ge.gradient_check(_log, np.array([np.log(3) / 2e-6]), np.array([2e-6]),
                                   eps=None)
    assert right.verdict is Verdict.EXCELLENT and "adaptive step" in right.path
    assert "adaptive step" in str(right)
    assert right.numerical[0] == pytest.approx(5e5, rel=1e-6)
    assert biased.verdict is Verdict.WRONG


# -- 3. the edges of the floats ---------------------------------------------------------------

def test_exp_at_400_is_not_wrong():
    report = ge.gradient_check(lambda t: float(np.exp(t[0])), np.array([np.exp(400.0)]),
                               np.array([400.0]))
    assert report.passed and np.isfinite(report.relative_error), str(report)


def test_relative_error_is_scale_free_for_huge_values():
    a = np.array([1e200, -3e199])
    assert ge.relative_error(a, a * (1 + 1e-12)) == pytest.approx(5e-13, rel=1e-3)
    tiny = a * 1e-500  # 1e-300: the squares would underflow
    assert ge.relative_error(tiny, tiny * (1 + 1e-12)) == pytest.approx(5e-13, rel=1e-3)


def test_a_subnormal_complex_step_is_refused_like_a_real_one():
    f = lambda t: np.sin(t) * np.exp(t)  # noqa: E731
    exact = (np.sin(1.5) + np.cos(1.5)) * np.exp(1.5)
    assert ge.numerical_gradient(f, 1.5, eps=1e-305, method="complex") == pytest.approx(
        exact, rel=1e-15)
    with pytest.raises(StepTooSmallError, match="subnormal"):
        ge.numerical_gradient(f, 1.5, eps=1e-320, method="complex")
    with pytest.raises(StepTooSmallError, match="subnormal"):  # the part, not the step
        ge.numerical_gradient(lambda t: 1e-20 * t, 1.5, eps=1e-300, method="complex")


def test_a_list_of_arrays_of_different_shapes_as_theta():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((5, 4)), rng.standard_normal((4, 5))
    f = lambda th: float(np.sum(th[0] @ th[1]))  # noqa: E731
    grad = lambda th: [np.ones((5, 5)) @ th[1].T, th[0].T @ np.ones((5, 5))]  # noqa: E731
    report = ge.gradient_check(f, grad, [A, B])
    assert report.passed and list(report.per_parameter) == ["[0]", "[1]"]


def test_f_returning_a_string_is_named():
    with pytest.raises(TypeError, match="string"):
        ge.gradient_check(lambda t: "1.0", np.zeros(2), np.zeros(2))
    with pytest.raises(TypeError, match="string"):
        ge.numerical_gradient(lambda t: "1.0", np.zeros(2))


def test_fit_order_leaves_out_round_off_dominated_points():
    eps = np.logspace(-12, -0.7, 30)
    errs = ge.error_vs_eps(np.log10, 0.5, 1 / (0.5 * np.log(10)), eps)
    assert ge.fit_order(eps, errs) == pytest.approx(2.0, abs=0.15)


# -- 4. the adaptive step ---------------------------------------------------------------------

UNIVARIATE = [  # SciPy's and numdifftools' example functions, and their derivatives
    (np.exp, np.exp, [0.5, 1.0, -3.0, 10.0]),
    (np.sin, np.cos, [0.5, 1.0, 3.0, 100.0]),
    (np.log, lambda x: 1 / x, [2e-6, 0.5, 1.0, 100.0]),
    (lambda x: x**3, lambda x: 3 * x**2, [1.0, -2.0, 1e3]),
    (lambda x: 1 / x, lambda x: -1 / x**2, [1e-3, 0.5, 5.0]),
    (np.tanh, lambda x: 1 - np.tanh(x) ** 2, [0.1, 3.0]),
    (np.sqrt, lambda x: 0.5 / np.sqrt(x), [1e-4, 2.0]),
    (lambda x: np.sin(100 * x), lambda x: 100 * np.cos(100 * x), [0.3, 1.0]),
]


def _rosen(x):
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def _rosen_grad(x):
    g = np.zeros_like(x)
    g[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return g


MULTIVARIATE = [
    (_rosen, _rosen_grad, np.array([1.2, 0.8, -0.5, 2.0])),
    (lambda x: float(x[0] * np.exp(x[1]) * np.sin(x[2])),
     lambda x: np.array([np.exp(x[1]) * np.sin(x[2]), x[0] * np.exp(x[1]) * np.sin(x[2]),
                         x[0] * np.exp(x[1]) * np.cos(x[2])]), np.array([0.5, -0.3, 1.1])),
    (lambda x: float(np.sin(x[0] * x[1]) * np.log(x[0])),  # SciPy's example of a hard one
     lambda x: np.array([x[1] * np.cos(x[0] * x[1]) * np.log(x[0]) + np.sin(x[0] * x[1]) / x[0],
                         x[0] * np.cos(x[0] * x[1]) * np.log(x[0])]), np.array([2.0, 0.5])),
    (lambda x: float(np.sum(x ** 2)), lambda x: 2 * x, np.array([1.0, -3.0, 0.25])),
]


def _bound_holds(estimate, error, exact):
    true = np.abs(estimate - exact)
    floor = 1e-15 * np.maximum(1.0, np.abs(exact))  # a bound can't beat machine precision
    assert np.all(true <= error), (true, error)
    assert np.all(error <= 100 * np.maximum(true, floor)), (true, error)


@pytest.mark.parametrize("f, df, xs", UNIVARIATE)
def test_adaptive_error_bound_holds_and_is_tight(f, df, xs):
    for x in xs:
        res = ge.adaptive_gradient(lambda t: float(f(t[0])), np.array([x]))
        _bound_holds(res.gradient, res.error, df(x))


@pytest.mark.parametrize("f, df, x", MULTIVARIATE)
def test_adaptive_error_bound_holds_on_multivariate_functions(f, df, x):
    res = ge.adaptive_gradient(f, x.copy())
    assert res.gradient.shape == x.shape == res.error.shape == res.step.shape
    assert np.all(res.step > 0) and res.nfev > 2 * x.size
    _bound_holds(res.gradient, res.error, df(x))


def test_adaptive_log_at_2e_6():
    res = ge.adaptive_gradient(_log, np.array([2e-6]))
    assert res.gradient[0] == pytest.approx(5e5, rel=1e-6)
    assert abs(res.gradient[0] - 5e5) <= res.error[0] < 1e-6 * 5e5


def test_adaptive_gradient_keeps_theta_structure_and_restores_it():
    theta = {"W": np.array([[0.5, -1.0], [2.0, 0.1]]), "b": np.array([0.3])}
    before = {k: v.copy() for k, v in theta.items()}
    res = ge.adaptive_gradient(lambda p: float(np.sum(p["W"] ** 3) + np.sin(p["b"][0])), theta)
    np.testing.assert_allclose(res.gradient["W"], 3 * theta["W"] ** 2, rtol=1e-12)
    assert set(res.error) == {"W", "b"} and res.step["b"].shape == (1,)
    assert all(np.array_equal(theta[k], before[k]) for k in theta)
    assert ge.adaptive_gradient(np.sin, 0.5).gradient == pytest.approx(np.cos(0.5), rel=1e-13)


# -- 5. a mismatch resolved far above the estimate's error ------------------------------------

def _ufldl_softmax(seed=0):
    """UFLDL's softmax regression (the debug check: 8 inputs, 10 classes, 100 examples,
    lambda 1e-4): the cost with weight decay, and its gradient with and without it."""
    rng = np.random.default_rng(seed)
    data, labels = rng.standard_normal((8, 100)), rng.integers(0, 10, 100)
    ground_truth = np.zeros((10, 100))
    ground_truth[labels, np.arange(100)] = 1
    lam = 1e-4

    def probabilities(theta):
        z = theta @ data
        p = np.exp(z - z.max(axis=0))
        return p / p.sum(axis=0)

    def cost(theta):
        return float(-np.sum(ground_truth * np.log(probabilities(theta))) / 100
                     + lam / 2 * np.sum(theta ** 2))

    def grad_without_decay(theta):
        return -(ground_truth - probabilities(theta)) @ data.T / 100

    return cost, grad_without_decay, lambda th: grad_without_decay(th) + lam * th, \
        0.005 * rng.standard_normal((10, 8))


def test_ufldl_softmax_without_weight_decay_does_not_pass():
    cost, wrong, right, theta = _ufldl_softmax()
    for eps in (1e-4, "auto"):  # UFLDL's EPSILON, and the default
        report = ge.gradient_check(cost, wrong, theta.copy(), eps=eps)
        row = report.per_parameter["theta"]
        assert 1e-7 < report.relative_error < 1e-5  # the ACCEPTABLE band: passed before
        assert report.verdict is Verdict.SUSPICIOUS and not report.passed, str(report)
        assert row.decided_by == "resolved mismatch"
        assert f"{report.relative_error:.1e}" in row.note and "times what" in row.note
        line = [ln for ln in str(report).splitlines() if ln.startswith("relative error")][0]
        assert "ACCEPTABLE band" in line and "times what the finite difference" in line
        assert ge.gradient_check(cost, right, theta.copy(), eps=eps).passed


# -- 6. float32 at its own step ---------------------------------------------------------------

def test_float32_smooth_function_has_no_spurious_kinks():
    w = np.linspace(-1, 1, 6).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ge.PrecisionWarning)
        report = ge.gradient_check(lambda w: float(np.sum(w**2 * np.sin(w))),
                                   lambda w: 2 * w * np.sin(w) + w**2 * np.cos(w), w)
    assert not report.kinks and "kink" not in str(report)
    assert report.eps is None and report.verdict <= Verdict.CANNOT_TELL, str(report)
    assert "1.6e-01" not in str(report)


def test_float32_mlp_has_no_round_off_floor_and_short_notes():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 4)), rng.integers(0, 3, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ge.PrecisionWarning)
        report = ge.check_model(ge.nn.MLP([4, 8, 3], dtype=np.float32, seed=0), X, y)
    text = str(report)
    assert "floor" not in text and "has a bug" not in text and not report.kinks
    assert report.verdict <= Verdict.CANNOT_TELL and "float32" in text
    assert all(len(row.note) < 160 for row in report.per_parameter.values()), text


def test_an_explicit_eps_is_used_as_given():
    w = np.array([0.5, -0.25], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ge.PrecisionWarning)
        report = ge.gradient_check(lambda t: float(np.sum(t.astype(np.float32) ** 2)),
                                   lambda t: 2 * t, w, eps=1e-2)
    assert report.eps == 1e-2
    assert ge.gradient_check(np.sum, np.ones(2), np.array([1.0, 2.0])).eps == 1e-6


# -- 7. named mistakes ------------------------------------------------------------------------

class PlainModel:
    """A softmax classifier with the three members check_model needs, and nothing else."""

    def __init__(self, swapped=False):
        rng = np.random.default_rng(0)
        self.params = {"W": rng.standard_normal((4, 3)), "b": np.zeros(3)}
        self.swapped = swapped

    def loss(self, X, y):
        return self.loss_and_grads(X, y, grads=False)

    def loss_and_grads(self, X, y, grads=True):
        z = X @ self.params["W"] + self.params["b"]
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        n = X.shape[0]
        loss = float(-np.mean(np.log(p[np.arange(n), y])))
        if not grads:
            return loss
        d = p.copy()
        d[np.arange(n), y] -= 1
        g = {"W": X.T @ d / n, "b": d.sum(axis=0) / n}
        return (g, loss) if self.swapped else (loss, g)


def test_loss_and_grads_returning_grads_first_is_named():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    assert ge.check_model(PlainModel(), X, y).passed
    with pytest.raises(TypeError, match=r"returned \(grads, loss\)"):
        ge.check_model(PlainModel(swapped=True), X, y)


def test_x_and_y_swapped_is_named():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    with pytest.raises(ValueError, match="did you swap X and y"):
        ge.check_model(PlainModel(), y, X)


# -- a check that passes has measured something -----------------------------------------------

@settings(max_examples=60, deadline=None)
@example(kinks=[0.0], theta=[-1.0, -1.0, -1.0, -1.0], curvature=0.0, answer="random", seed=0)
@given(
    kinks=st.lists(st.sampled_from([-1.0, 0.0, 0.5]), min_size=1, max_size=3),
    theta=st.lists(st.sampled_from([-1.0, 0.0, 0.5, 0.3, 0.5 + 3e-7, 2.0]), min_size=1,
                   max_size=4),
    curvature=st.sampled_from([0.0, 0.1, 3.0]),
    answer=st.sampled_from(["right", "left", "mid", "zero", "random"]),
    seed=st.integers(0, 3),
)
def test_every_verdict_that_passes_measured_something(kinks, theta, curvature, answer, seed):
    k = np.array(kinks)
    t0 = np.array(theta)

    def f(t):
        return float(np.sum(np.maximum(t[:, None] - k[None, :], 0.0)) + curvature * np.sum(t**2))

    slope = {"right": 1.0, "left": 0.0, "mid": 0.5}
    rng = np.random.default_rng(seed)
    if answer in slope:  # the derivative, with a chosen value at exact kinks
        at = t0[:, None] - k[None, :]
        g = np.sum(np.where(at > 0, 1.0, np.where(at < 0, 0.0, slope[answer])), axis=1)
        g = g + 2 * curvature * t0
    elif answer == "zero":
        g = np.zeros_like(t0)
    else:
        g = rng.standard_normal(t0.size)
    report = ge.gradient_check(f, g, t0.copy())
    if report.passed:
        assert report.n_measured >= 1, str(report)
    for row in report.per_parameter.values():
        if row.passed:
            assert row.n_measured >= 1, str(report)
