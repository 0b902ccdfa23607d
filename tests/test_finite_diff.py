"""Finite-difference estimators: each test function is paired with its analytic derivative."""

import warnings

import numpy as np
import pytest

import gradcheck_edu as ge

# (f, df, theta): smooth test functions with their exact derivatives.
SMOOTH = [
    (lambda t: t**3, lambda t: 3 * t**2, 1.0),
    (np.exp, np.exp, 0.7),
    (lambda t: np.sin(3 * t) + t**2, lambda t: 3 * np.cos(3 * t) + 2 * t, 0.4),
    (lambda t: np.log1p(t**2), lambda t: 2 * t / (1 + t**2), 1.3),
    (lambda t: np.exp(t) * np.sin(t), lambda t: np.exp(t) * (np.sin(t) + np.cos(t)), -0.6),
]
EPS_GRID = np.logspace(-16, -1, 61)


def test_theta_cubed_classic_numbers():
    f = lambda t: t**3  # noqa: E731
    fwd = ge.forward_difference(f, 1.0, eps=0.01)
    bwd = ge.backward_difference(f, 1.0, eps=0.01)
    cen = ge.central_difference(f, 1.0, eps=0.01)
    # (1 + h)^3 = 1 + 3h + 3h^2 + h^3: the estimates are 3 + 3h + h^2, 3 - 3h + h^2, 3 + h^2
    assert fwd == pytest.approx(3.0301, abs=1e-12)
    assert bwd == pytest.approx(2.9701, abs=1e-12)
    assert cen == pytest.approx(3.0001, abs=1e-12)
    assert isinstance(fwd, float)


@pytest.mark.parametrize("method", ["forward", "backward", "central", "richardson", "complex"])
def test_methods_agree_with_the_derivative_on_arrays(method):
    theta = np.array([[0.3, -1.2], [2.0, 0.05]])
    grad = ge.numerical_gradient(lambda w: np.sum(np.sin(w) * w), theta, method=method)
    exact = np.cos(theta) * theta + np.sin(theta)
    tol = {"forward": 1e-6, "backward": 1e-6, "central": 1e-9, "richardson": 1e-11,
           "complex": 1e-14}[method]
    assert grad.shape == theta.shape
    assert ge.relative_error(grad, exact) < tol


@pytest.mark.parametrize("f, df, theta", SMOOTH)
@pytest.mark.parametrize("method, order", [("forward", 1), ("backward", 1), ("central", 2)])
def test_fitted_order_matches_the_truncation_order(f, df, theta, method, order):
    errors = ge.error_vs_eps(f, theta, df(theta), EPS_GRID, method=method)
    assert abs(ge.fit_order(EPS_GRID, errors) - order) < 0.2


@pytest.mark.parametrize("f, df, theta", SMOOTH[1:])  # a cubic has no 4th-order truncation
def test_richardson_is_fourth_order(f, df, theta):
    errors = ge.error_vs_eps(f, theta, df(theta), EPS_GRID, method="richardson")
    assert abs(ge.fit_order(EPS_GRID, errors) - 4) < 0.4


@pytest.mark.parametrize("f, df, theta", SMOOTH)
@pytest.mark.parametrize("method", ["complex", "richardson"])
def test_high_accuracy_methods_reach_1e_10(f, df, theta, method):
    est = ge.numerical_gradient(f, theta, method=method)
    assert abs(est - df(theta)) / abs(df(theta)) <= 1e-10


def test_round_off_side_has_slope_minus_one():
    errors = ge.error_vs_eps(np.exp, 0.7, np.exp(0.7), EPS_GRID, method="central")
    small = (EPS_GRID > 1e-14) & (EPS_GRID < 1e-7)
    slope = np.polyfit(np.log(EPS_GRID[small]), np.log(errors[small]), 1)[0]
    assert -1.4 < slope < -0.6


def test_best_step_is_near_the_textbook_step():
    for method, expected in [("forward", 1.5e-8), ("central", 6e-6)]:
        errors = ge.error_vs_eps(np.exp, 0.7, np.exp(0.7), EPS_GRID, method=method)
        best = EPS_GRID[np.nanargmin(errors)]
        assert expected / 30 < best < expected * 30


def test_error_vs_eps_gives_nan_below_the_resolution():
    errors = ge.error_vs_eps(lambda t: t**3, 1.0, 3.0, [1e-17, 1e-3], method="forward")
    assert np.isnan(errors[0]) and errors[1] > 0


def test_fit_order_ignores_the_round_off_side():
    eps = np.logspace(-12, -1, 23)
    errors = eps**2 + 1e-16 / eps  # truncation h^2, round-off EPS/h
    assert ge.fit_order(eps, errors) == pytest.approx(2.0, abs=0.05)


def test_fit_order_needs_a_truncation_regime():
    with pytest.raises(ValueError, match="truncation regime"):
        ge.fit_order([1e-3, 1e-2, 1e-1], [1e-3, 1e-5, 1e-6])


def test_default_step_rules():
    eps = np.finfo(float).eps
    assert ge.default_step(0.5, "forward") == pytest.approx(eps**0.5)
    assert ge.default_step(-4.0, "central") == pytest.approx(4 * eps ** (1 / 3))
    assert ge.default_step(1.0, "richardson") == pytest.approx(eps ** (1 / 5))


def test_structures_keep_their_shape():
    params = {"W": np.ones((2, 3)), "layers": [np.arange(3.0), (np.zeros(2),)]}
    f = lambda p: float(np.sum(p["W"] ** 2) + np.sum(p["layers"][0] ** 3)  # noqa: E731
                        + np.sum(np.sin(p["layers"][1][0])))
    g = ge.numerical_gradient(f, params)
    assert set(g) == {"W", "layers"} and isinstance(g["layers"][1], tuple)
    np.testing.assert_allclose(g["W"], 2 * params["W"], rtol=1e-9)
    np.testing.assert_allclose(g["layers"][0], 3 * params["layers"][0] ** 2, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(g["layers"][1][0], np.cos(0.0), rtol=1e-9)


def test_arrays_are_perturbed_in_place_with_no_copies_per_call():
    W = np.array([[0.5, -1.0], [2.0, 0.25]])
    seen, calls = set(), [0]

    def f(arg):  # reads W through the closure, as a model does
        seen.add(id(arg))
        calls[0] += 1
        return float(np.sum(W**2))

    g = ge.numerical_gradient(f, W)
    assert seen == {id(W)}  # always the caller's own array
    assert calls[0] == 2 * W.size + 2  # two per component, two at theta (determinism)
    np.testing.assert_allclose(g, 2 * W, rtol=1e-9)


def test_forward_costs_one_call_per_component():
    calls = [0]

    def f(w):
        calls[0] += 1
        return float(np.sum(w))

    ge.numerical_gradient(f, np.zeros(7), method="forward")
    assert calls[0] == 7 + 2


def test_integer_theta_is_copied_to_float():
    theta = np.array([1, 2, 3])
    received = []

    def f(w):
        received.append(w.dtype)
        return float(np.sum(w.astype(float) ** 2))

    g = ge.numerical_gradient(f, theta, eps=0.5)  # a step an int array would truncate away
    assert set(received) == {np.dtype(np.float64)}
    np.testing.assert_allclose(g, [2.0, 4.0, 6.0])
    assert theta.dtype.kind == "i" and theta.tolist() == [1, 2, 3]
    assert ge.numerical_gradient(lambda t: t**2, 3) == pytest.approx(6.0, rel=1e-8)


def test_integer_array_inside_a_structure_is_a_type_error():
    with pytest.raises(TypeError, match="floats"):
        ge.numerical_gradient(lambda p: 0.0, {"W": np.ones(2), "b": np.array([1, 2])})


def test_python_number_inside_a_structure_is_a_type_error():
    with pytest.raises(TypeError, match="np.array"):
        ge.numerical_gradient(lambda p: 0.0, {"W": np.ones(2), "lr": 0.1})


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_low_precision_warns(dtype):
    theta = np.array([0.5, 1.5], dtype=dtype)
    with pytest.warns(ge.PrecisionWarning, match="float64"):
        ge.numerical_gradient(lambda w: float(np.sum(w.astype(np.float64) ** 2)), theta,
                              eps=1e-2)


def test_float64_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ge.numerical_gradient(lambda w: float(np.sum(w**2)), np.ones(3))


def test_complex_step_sees_through_complex_arithmetic():
    theta = {"a": np.array([0.2, 0.4]), "b": np.array([[1.5]])}
    f = lambda p: np.sum(np.exp(p["a"]) * np.sin(p["b"][0, 0]))  # noqa: E731
    g = ge.numerical_gradient(f, theta, method="complex")
    np.testing.assert_allclose(g["a"], np.exp(theta["a"]) * np.sin(1.5), rtol=1e-14)
    np.testing.assert_allclose(g["b"], np.sum(np.exp(theta["a"])) * np.cos(1.5), rtol=1e-14)
    assert theta["a"].dtype == np.float64  # the caller's arrays stay real


def test_complex_step_explains_a_dropped_imaginary_part():
    with pytest.raises(TypeError, match="np.abs"):
        ge.numerical_gradient(lambda w: float(np.abs(np.sum(w))), np.ones(2), method="complex")


def test_unknown_method():
    with pytest.raises(ValueError, match="central"):
        ge.numerical_gradient(lambda t: t, 1.0, method="centre")


@pytest.mark.parametrize("method", ["forward", "central", "richardson", "complex"])
def test_vectorized_matches_the_loop(method):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 5))
    theta = {"a": rng.standard_normal((2, 2)), "b": rng.standard_normal(1)}

    def f(p):
        v = np.concatenate([p["a"].ravel(), p["b"]])
        return np.sin(v) @ A @ np.cos(v)

    def f_batch(T):  # rows are flat theta vectors
        return np.einsum("ki,ij,kj->k", np.sin(T), A, np.cos(T))

    calls = [0]

    def counted(T):
        calls[0] += 1
        return f_batch(T)

    loop = ge.numerical_gradient(f, theta, method=method)
    vec = ge.numerical_gradient(counted, theta, method=method, vectorized=True, batch_size=2)
    # f and f_batch round differently: the estimates agree to the method's round-off level
    tol = {"forward": 1e-6, "central": 1e-9, "richardson": 1e-10, "complex": 1e-14}[method]
    assert ge.relative_error(loop, vec) < tol
    # base, then 3 batches of 2 + 2 + 1 per stencil point; the default Richardson step first
    # measures the truncation error at +-h/2 (2 points), then redoes components whose best
    # step is smaller (4 points)
    n_points = len(_STENCIL_CALLS[method])
    if method == "richardson":
        assert calls[0] in (1 + 3 * (n_points + 2), 1 + 3 * (n_points + 2 + 4))
    else:
        assert calls[0] == 1 + 3 * n_points


_STENCIL_CALLS = {"forward": [1], "central": [1, -1], "richardson": [2, 1, -1, -2],
                  "complex": [1]}


def test_vectorized_checks_the_output_shape():
    with pytest.raises(ValueError, match="one value per row"):
        ge.numerical_gradient(lambda T: np.sum(T), np.ones(3), vectorized=True)


def test_vectorized_block_is_read_only_and_differs_from_theta_in_one_entry_per_row():
    # The block is filled with theta once; before each call only the perturbed entries are set
    # (and put back after it), so f must not write to it: it gets a read-only array.
    theta = np.array([0.3, -1.2, 2.0, 0.7, 1.1])
    seen = []

    def f(T):
        assert not T.flags.writeable
        seen.append(int(np.count_nonzero(T != theta)))
        with pytest.raises(ValueError, match="read-only"):
            T[0, 0] = 1.0
        return np.sum(np.sin(T), axis=1)

    g = ge.numerical_gradient(f, theta, vectorized=True, batch_size=2)
    np.testing.assert_allclose(g, np.cos(theta), rtol=1e-9)
    # after the base call (2 rows equal to theta), every row of every call moves one entry
    assert seen[0] == 0 and seen[1:] == [2, 2, 2, 2, 1, 1]


def test_gradient_check_vectorized_matches_the_loop():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((9, 9))
    theta = {"a": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}

    def flat(p):
        return np.concatenate([p["a"].ravel(), p["b"]])

    def f(p):
        v = flat(p)
        return float(np.tanh(v) @ A @ np.tanh(v))

    def f_batch(T):
        t = np.tanh(T)
        return np.einsum("ki,ij,kj->k", t, A, t)

    def grad(p):
        t = np.tanh(flat(p))
        g = ((A + A.T) @ t) * (1 - t**2)
        return {"a": g[:6].reshape(2, 3), "b": g[6:]}

    loop = ge.gradient_check(f, grad, theta)
    vec = ge.gradient_check(f_batch, grad, theta, vectorized=True, batch_size=4)
    assert vec.verdict is loop.verdict is ge.Verdict.EXCELLENT
    assert ge.relative_error(vec.numerical, loop.numerical) < 1e-9
    sampled = ge.gradient_check(f_batch, grad, theta, n_samples=4, seed=0, vectorized=True)
    assert sampled.n_checked == 4 and sampled.passed
    wrong = ge.gradient_check(f_batch, lambda p: {"a": grad(p)["a"], "b": -grad(p)["b"]}, theta,
                              vectorized=True)
    assert wrong.per_parameter["b"].verdict is ge.Verdict.WRONG and wrong.worst(1)[0].name == "b"


def test_vectorized_gradient_check_finds_kinks():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((6, 4))
    w = rng.standard_normal(4)
    z = X @ w
    w[0] -= (z[1] - 1e-7) / X[1, 0]  # sample 1 within 1e-7 of the ReLU's kink

    def f_batch(T):
        return np.maximum(T @ X.T, 0.0).sum(axis=1)

    report = ge.gradient_check(f_batch, lambda v: X.T @ (X @ v > 0), w, vectorized=True)
    # every component is at the kink, and the right gradient lies between the one-sided slopes:
    # a valid subgradient everywhere, nothing measured, so the check cannot tell (issue 23)
    assert report.kinks and report.n_measured == 0
    assert report.verdict is ge.Verdict.CANNOT_TELL and "valid subgradient" in report.note
    wrong = ge.gradient_check(f_batch, lambda v: -X.T @ (X @ v > 0), w, vectorized=True)
    assert wrong.verdict is ge.Verdict.WRONG
    assert all(r.kink for r in report.kinks)


def test_non_contiguous_parameters_are_perturbed_in_place():
    base = np.arange(12.0).reshape(3, 4) / 10
    params = {"W": base.T, "b": base[:, ::2]}  # views: a transpose and a strided slice

    def f(_):  # reads base, the arrays the views share
        return float(np.sum(np.sin(base)))

    g = ge.numerical_gradient(f, params)
    # b aliases base[:, ::2], which W also sees: each derivative is cos(base) at its entry
    np.testing.assert_allclose(g["W"], np.cos(base).T, rtol=1e-9)
    np.testing.assert_allclose(g["b"], np.cos(base[:, ::2]), rtol=1e-9)
    np.testing.assert_array_equal(base, np.arange(12.0).reshape(3, 4) / 10)


def test_production_estimator_agrees_with_the_teaching_loop():
    """basics.numerical_gradient_loop is the loop a student reads; numerical_gradient is that loop
    made general. On float64 arrays with the same absolute step they agree to round-off."""
    from gradcheck_edu.basics import numerical_gradient_loop

    rng = np.random.default_rng(3)
    for shape in [(5,), (3, 4), (2, 3, 2)]:
        w = rng.standard_normal(shape)
        before = w.copy()

        def f(v):
            return float(np.sum(np.sin(v) * v**2) + np.sum(v) ** 2)

        for eps in (1e-3, 1e-5):
            loop = numerical_gradient_loop(f, w, eps=eps)
            prod = ge.numerical_gradient(f, w, eps=eps)
            assert np.array_equal(w, before)  # both restore the caller's array
            assert ge.relative_error(loop, prod) < 1e-10
            one = numerical_gradient_loop(f, w, eps=eps, two_sided=False)
            assert ge.relative_error(one, ge.forward_difference(f, w, eps=eps)) < 1e-10


def test_teaching_loop_restores_theta_when_f_raises():
    from gradcheck_edu.basics import numerical_gradient_loop

    w = np.array([1.0, 2.0, 3.0])
    calls = []

    def f(v):
        calls.append(v.copy())
        if len(calls) == 4:
            raise RuntimeError("boom")
        return float(np.sum(v**2))

    with pytest.raises(RuntimeError):
        numerical_gradient_loop(f, w)
    assert w.tolist() == [1.0, 2.0, 3.0]
