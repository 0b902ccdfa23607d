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
    assert calls[0] == 1 + 3 * len(_STENCIL_CALLS[method])  # base, then 3 batches of 2 + 2 + 1


_STENCIL_CALLS = {"forward": [1], "central": [1, -1], "richardson": [2, 1, -1, -2],
                  "complex": [1]}


def test_vectorized_checks_the_output_shape():
    with pytest.raises(ValueError, match="one value per row"):
        ge.numerical_gradient(lambda T: np.sum(T), np.ones(3), vectorized=True)
