"""Issue 23, the short path: one judge (``check.judge_parameter``) for every check, every
report saying which path computed it, one validation of theta, and a target that owns its loop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradcheck_edu as ge
from gradcheck_edu import Verdict, check, directional, taylor
from gradcheck_edu.verdicts import DecidedBy

TH = np.array([0.3, -1.2, 2.0])


def _sin_sum(t):
    return float(np.sum(np.sin(t)))


# -- every check is judged by judge_parameter ---------------------------------------------------

@pytest.mark.parametrize("module, run", [
    (check, lambda: ge.gradient_check(_sin_sum, np.cos, TH.copy())),
    (directional, lambda: ge.directional_check(_sin_sum, np.cos, TH.copy(), seed=0)),
    (taylor, lambda: ge.taylor_test(_sin_sum, np.cos, TH.copy(), seed=0)),
])
def test_each_check_calls_the_one_judge(module, run, monkeypatch):
    calls = []
    original = check.judge_parameter

    def spy(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "judge_parameter", spy)
    result = run()
    assert calls and all(isinstance(e, check.Evidence) for e in calls)
    assert result.verdict is Verdict.EXCELLENT


def test_check_model_and_check_layer_use_the_same_judge(monkeypatch):
    calls = []
    original = check.judge_parameter

    def spy(*args, **kwargs):
        calls.append(type(args[0]).__name__)
        return original(*args, **kwargs)

    monkeypatch.setattr(check, "judge_parameter", spy)
    model = ge.nn.MLP([3, 4, 2], activation="tanh", seed=0)
    X, y = np.random.default_rng(0).standard_normal((5, 3)), np.array([0, 1, 1, 0, 1])
    for fast in (True, False):
        calls.clear()
        report = ge.check_model(model, X, y, fast=fast)
        assert report.passed and len(calls) == len(model.params)
    calls.clear()
    assert ge.check_layer(ge.nn.Linear(3, 2, rng=0), X).passed and calls


# -- the Taylor test: its verdict is the judge's ------------------------------------------------

def test_taylor_reports_the_judges_numbers_and_its_path():
    right = ge.taylor_test(_sin_sum, np.cos, TH, seed=0)
    assert right.verdict is Verdict.EXCELLENT and right.relative_error < 1e-7
    assert right.decided_by in tuple(DecidedBy) and "Taylor" in right.path
    assert "path: Taylor" in str(right) and abs(right.rate - 2) < 0.1
    wrong = ge.taylor_test(_sin_sum, lambda t: 1.1 * np.cos(t), TH, seed=0)
    assert wrong.verdict is Verdict.WRONG and wrong.relative_error > 1e-2


def test_taylor_does_not_pass_a_mismatch_it_resolves():
    # a gradient 1e-6 too large: the remainder still looks like h**2 at these steps (rate 2.1,
    # which passed before), but the extrapolated directional derivative resolves the mismatch
    # far above its error: as in gradient_check, that is not a pass (rule 5)
    res = ge.taylor_test(_sin_sum, lambda t: np.cos(t) * (1 + 1e-6), TH, seed=0)
    assert res.rate > 1.8 and not res.passed
    assert res.verdict is Verdict.SUSPICIOUS and res.decided_by is DecidedBy.RESOLVED_MISMATCH
    assert "times what the finite difference can err by" in res.note


def test_taylor_with_steps_too_large_for_f_cannot_tell():
    # log at 2e-6 with steps from 0.1: no step is in the asymptotic range (the rate 1.4 is
    # neither 1 nor 2), and the right gradient was rated by that rate before
    f, g = (lambda t: float(np.sum(np.log(t)))), (lambda t: 1 / t)
    res = ge.taylor_test(f, g, np.array([2e-6, 1.0]), direction=np.array([0.6, 0.8]))
    assert res.verdict is Verdict.CANNOT_TELL and "smaller" in str(res)
    fine = ge.taylor_test(f, g, np.array([2e-6, 1.0]), direction=np.array([0.6, 0.8]),
                          h0=1e-7)
    assert fine.verdict is Verdict.EXCELLENT


def test_taylor_in_float32_never_accuses_a_right_gradient():
    # a loss summed from cancelling float32 terms (|f| ~ 0, terms ~ 1): the rate alone called
    # this WRONG every time, and a round-off bound from |f| alone SUSPICIOUS in 7% of directions
    f = lambda t: float(np.sum(t**2 * np.sin(t)))  # noqa: E731
    g = lambda t: 2 * t * np.sin(t) + t**2 * np.cos(t)  # noqa: E731
    theta = np.linspace(-1, 1, 6).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ge.PrecisionWarning)
        verdicts = {ge.taylor_test(f, g, theta, seed=s).verdict for s in range(60)}
        wrong = {ge.taylor_test(f, lambda t: 1.05 * g(t), theta, seed=s).verdict
                 for s in range(10)}
    assert verdicts <= {Verdict.EXCELLENT, Verdict.ACCEPTABLE, Verdict.CANNOT_TELL}, verdicts
    assert wrong == {Verdict.WRONG}


# -- the directional check: its truncation is measured through the judge -----------------------

def test_directional_near_miss_of_truncation_cannot_tell():
    # t**3 at 0 with a large step: the central difference errs by h**2 (truncation), the judge
    # asks DirectionalEvidence to measure it, and the right gradient is not accused
    f = lambda t: float(np.sum(t**3))  # noqa: E731
    report = ge.directional_check(f, lambda t: 3 * t**2, np.zeros(4), eps=1e-2, seed=0)
    assert report.verdict is not Verdict.WRONG and not report.per_parameter["theta"].pattern
    wrong = ge.directional_check(f, lambda t: 3 * t**2 + 1e-2, np.zeros(4), eps=1e-2, seed=0)
    assert wrong.verdict is Verdict.WRONG


# -- one validation of theta, for every check and estimator -------------------------------------

def _sq(t):
    return float(np.sum(np.asarray(t, dtype=float) ** 2))


@pytest.mark.parametrize("call", [
    lambda th: ge.numerical_gradient(_sq, th, eps=0.5),
    lambda th: ge.gradient_check(_sq, lambda t: 2 * np.asarray(t, float), th, eps=0.5).numerical,
    lambda th: ge.numerical_gradient(lambda T: np.sum(T**2, axis=1), th, eps=0.5,
                                     vectorized=True),
])
def test_an_integer_array_is_copied_by_every_estimator_alike(call):
    theta = np.array([1, 2, 3])
    np.testing.assert_allclose(call(theta), [2.0, 4.0, 6.0], rtol=1e-12)
    assert theta.dtype.kind == "i" and theta.tolist() == [1, 2, 3]


def test_a_right_gradient_of_an_integer_array_passes_every_check():
    theta = np.array([1, 2, 3])
    grad = lambda t: 2 * np.asarray(t, float)  # noqa: E731
    assert ge.gradient_check(_sq, grad, theta).passed
    assert ge.directional_check(_sq, grad, theta, seed=0).passed
    assert ge.taylor_test(_sq, grad, theta, seed=0).passed


def test_an_f_that_never_sees_the_integer_copy_is_named_by_every_estimator():
    wi = np.arange(3)

    def f(_t):
        return float(np.sum(wi**2))  # reads the caller's integer array, not its argument

    for call in (lambda: ge.numerical_gradient(f, wi),
                 lambda: ge.gradient_check(f, lambda t: 2 * wi, wi)):
        with pytest.raises(TypeError, match="integer array.*astype\\(np.float64\\)"):
            call()


@pytest.mark.parametrize("theta, match", [
    ({"W": np.ones(2), "b": np.array([1, 2])}, "integer array"),
    ({"W": [1.0, 2.0]}, "list of numbers"),
    ({"W": np.ones(2), "lr": 0.1}, "np.array"),
    (True, "boolean"),
    (np.array(["a"]), "dtype"),
])
def test_the_same_theta_gets_the_same_error_everywhere(theta, match):
    calls = [lambda: ge.numerical_gradient(lambda p: 0.0, theta),
             lambda: ge.gradient_check(lambda p: 0.0, lambda p: p, theta),
             lambda: ge.directional_check(lambda p: 0.0, lambda p: p, theta),
             lambda: ge.taylor_test(lambda p: 0.0, lambda p: p, theta),
             lambda: ge.adaptive_gradient(lambda p: 0.0, theta),
             lambda: ge.numerical_gradient(lambda T: T[:, 0], theta, vectorized=True)]
    messages = set()
    for call in calls:
        with pytest.raises(TypeError, match=match) as err:
            call()
        messages.add(str(err.value))
    assert len(messages) == 1, messages  # one check_theta, one message


def test_theta_is_checked_before_grad_is_called():
    called = []

    def grad(t):
        called.append(1)
        return t

    with pytest.raises(TypeError, match="list of numbers"):
        ge.gradient_check(lambda p: 0.0, grad, {"W": [1.0, 2.0]})
    assert not called


# -- the target owns its loop -------------------------------------------------------------------

def test_every_target_offers_the_same_loop():
    from gradcheck_edu.batched import BatchTarget
    from gradcheck_edu.target import Target

    for name in ("base_value", "values", "complex_gradient", "label", "structure"):
        assert callable(getattr(Target, name)) and callable(getattr(BatchTarget, name))
    theta = np.array([0.3, -0.7, 1.1])
    one = Target(lambda t: float(np.sum(np.sin(t))), theta)
    block = BatchTarget(lambda T: np.sum(np.sin(T), axis=1), theta, False, None)
    leaf, flat = one.spec.components()
    steps = np.full(3, 1e-4)
    v1, h1, m1 = one.values(leaf, flat, steps, (1, -1), one.base_value())
    v2, h2, m2 = block.values(leaf, flat, steps, (1, -1), block.base_value())
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_allclose(v1, v2, rtol=1e-14)


def test_value_along_restores_theta_when_f_raises():
    from gradcheck_edu.target import Target

    W = np.array([[0.5, -1.5], [2.0, 0.25]])
    before = W.copy()

    def f(p):
        if p["W"][0, 0] != 0.5:
            raise RuntimeError("boom")
        return 0.0

    target = Target(f, {"W": W})
    with pytest.raises(RuntimeError, match="boom"):
        target.value_along([np.full((2, 2), 0.1)], "at theta + v")
    np.testing.assert_array_equal(W, before)
    with pytest.raises(RuntimeError, match="boom"):
        target.value_at(0, 0, 0.7)
    np.testing.assert_array_equal(W, before)


def test_the_stencils_are_named_fields_that_differentiate_polynomials():
    from gradcheck_edu.stencils import EPS, STENCILS, stencil_derivative

    for s in STENCILS.values():
        assert s.step == pytest.approx(EPS ** (1 / (s.order + 1)))
        assert len(s.offsets) == len(s.weights) and sum(s.weights) == pytest.approx(0)
        # exact on every polynomial of degree <= order: sum w_i o_i^k = [k == 1]
        o = np.array(s.offsets, dtype=float)
        for k in range(s.order + 1):
            assert float(np.dot(s.weights, o**k)) == pytest.approx(float(k == 1), abs=1e-12)
        moves = np.array([o * 1e-3])
        values = np.array([np.exp(0.2 + o * 1e-3)])
        assert abs(stencil_derivative(values, moves)[0] - np.exp(0.2)) < 1e-3 ** s.order * 10


# -- what a new user ran into (each was a crash, a wrong verdict or a misleading message) -------

@pytest.mark.parametrize("theta", [1.5, np.float64(1.5), np.array(1.5), 2],
                         ids=["float", "float64", "0-d", "int"])
def test_directional_check_of_a_scalar_parameter(theta):
    # a shape-() direction was never scaled to unit length: StepTooSmallError for any eps
    f = lambda t: float(np.asarray(t, float) ** 3)  # noqa: E731
    right = ge.directional_check(f, lambda t: 3 * np.asarray(t, float) ** 2, theta, seed=0)
    wrong = ge.directional_check(f, lambda t: 6 * np.asarray(t, float) ** 2, theta, seed=0)
    assert right.verdict is Verdict.EXCELLENT and wrong.verdict is Verdict.WRONG


def test_directional_check_of_a_structure_with_a_scalar_leaf():
    f = lambda p: float(np.sum(p["W"] ** 2) + p["s"] ** 3)  # noqa: E731
    g = lambda p: {"W": 2 * p["W"], "s": 3 * p["s"] ** 2}  # noqa: E731
    params = {"W": np.ones((2, 2)), "s": np.array(1.5)}
    assert ge.directional_check(f, g, params, seed=0).verdict is Verdict.EXCELLENT


def test_an_f_that_never_sees_the_integer_copy_is_named_by_every_check():
    wi = np.array([1, 2, 3])
    f = lambda t: float(np.sum(wi**2))  # noqa: E731
    g = lambda t: 2 * wi  # noqa: E731
    for call in (lambda: ge.directional_check(f, g, wi, seed=0),
                 lambda: ge.taylor_test(f, g, wi, seed=0),
                 lambda: ge.adaptive_gradient(f, wi)):
        with pytest.raises(TypeError, match="did not change at any step"):
            call()


@pytest.mark.parametrize("theta", [np.array([]), {"a": np.zeros(0)}, [np.zeros((0, 3))]])
def test_an_empty_theta_is_refused_alike_everywhere(theta):
    calls = [lambda: ge.numerical_gradient(lambda t: 0.0, theta),
             lambda: ge.gradient_check(lambda t: 0.0, lambda t: t, theta),
             lambda: ge.directional_check(lambda t: 0.0, lambda t: t, theta),
             lambda: ge.taylor_test(lambda t: 0.0, lambda t: t, theta),
             lambda: ge.adaptive_gradient(lambda t: 0.0, theta)]
    for call in calls:
        with pytest.raises(ValueError, match="theta has no components"):
            call()


def test_the_hint_offers_the_adaptive_step_only_where_eps_none_means_it():
    f = lambda t: float(np.sum(t**3))  # noqa: E731
    g = lambda t: 3 * t**2 + 1e-9  # noqa: E731
    checked = ge.gradient_check(f, g, np.zeros(4), eps=1e-2)
    along = ge.directional_check(f, g, np.zeros(4), eps=1e-2, seed=0)
    assert "eps=None: an adaptive step" in checked.note
    assert "smaller eps can tell" in along.note and "adaptive" not in along.note


def test_taylor_messages_say_what_limits_the_steps():
    f, g = (lambda t: float(np.sum(np.log(t)))), (lambda t: 1 / t)
    far = ge.taylor_test(f, g, np.array([2e-6, 1.0]), direction=np.array([0.6, 0.8]))
    assert "at the floor" not in str(far) and "within the estimate's error" in far.note
    s = lambda t: float(np.sum(t**2 * np.sin(t)))  # noqa: E731
    ds = lambda t: 2 * t * np.sin(t) + t**2 * np.cos(t)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ge.PrecisionWarning)
        low = ge.taylor_test(s, ds, np.linspace(-1, 1, 6).astype(np.float32), seed=0)
    assert low.verdict is Verdict.CANNOT_TELL and "float64" in str(low) and "h0" not in str(low)


def test_grad_returning_loss_and_grad_is_named():
    with pytest.raises(TypeError, match=r"did you return \(loss, grad\)"):
        ge.gradient_check(_sq, lambda t: (_sq(t), 2 * t), np.array([1.0, 2.0]))
    # a theta that is itself a pair of numbers is not taken for that mistake
    pair = (np.array(1.0), np.array(2.0))
    assert ge.gradient_check(lambda p: float(p[0] ** 2 + p[1] ** 2),
                             lambda p: (2 * p[0], 2 * p[1]), pair).passed


def test_fast_true_names_what_it_cannot_use():
    model = ge.nn.MLP([4, 8, 3], seed=0, dtype=np.float32)
    X, y = np.random.default_rng(0).standard_normal((10, 4)), np.arange(10) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ge.PrecisionWarning)
        with pytest.raises(ValueError, match=r"are not float64"):
            ge.check_model(model, X, y, fast=True)
        with pytest.raises(ValueError, match=r"method='forward'"):
            ge.check_model(ge.nn.MLP([4, 8, 3], seed=0), X, y, fast=True, method="forward")


def test_the_retried_default_step_leaves_no_warning():
    # log at 2e-6 with eps=None: the first default step leaves f's domain and is retried
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = ge.gradient_check(lambda t: float(np.sum(np.log(t))), lambda t: 1 / t,
                                   np.array([2e-6, 1.0]), eps=None)
    assert report.verdict is Verdict.EXCELLENT
