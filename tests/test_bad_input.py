"""Bad input gets a clear error, and the caller's arrays are bit-identical afterwards."""

import numpy as np
import pytest

import gradcheck_edu as ge


def _params():
    rng = np.random.default_rng(0)
    return {"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal(2)}


def _bits(params):
    return {k: v.copy().view(np.uint8) for k, v in params.items()}


def _same_bits(before, params):
    return all(np.array_equal(before[k], params[k].view(np.uint8)) for k in params)


def _loss(p):
    return float(np.sum(np.tanh(p["W1"]) ** 2) + np.sum(p["b1"] ** 3))


def test_non_scalar_f():
    p = _params()
    with pytest.raises(ValueError, match=r"scalar.*shape \(3, 2\)"):
        ge.numerical_gradient(lambda q: q["W1"] ** 2, p)


def test_non_number_f():
    with pytest.raises(TypeError, match="f returned None"):
        ge.numerical_gradient(lambda q: None, _params())
    with pytest.raises(TypeError, match="real scalar"):
        ge.numerical_gradient(lambda q: object(), _params())


def test_f_returning_nan_names_component_and_side():
    p = _params()
    before = _bits(p)
    x = p["b1"][1]

    def f(q):
        return np.nan if q["b1"][1] < x else _loss(q)

    with pytest.raises(ValueError, match=r"nan at theta - eps in component b1\[1\]"):
        ge.numerical_gradient(f, p)
    assert _same_bits(before, p)


def test_f_returning_inf_at_theta():
    with pytest.raises(ValueError, match="unperturbed theta"):
        ge.numerical_gradient(lambda w: np.inf, np.ones(2))


@pytest.mark.parametrize("eps", [0.0, -1e-6, np.nan, np.inf])
def test_bad_eps(eps):
    with pytest.raises(ValueError, match="eps"):
        ge.numerical_gradient(_loss, _params(), eps=eps)


def test_eps_below_resolution():
    p = {"W1": np.array([1e20, 1.0]), "b1": np.zeros(1)}
    with pytest.raises(ValueError, match=r"too small.*W1\[0\]"):
        ge.numerical_gradient(lambda q: float(np.sum(q["W1"])), p, eps=1e-6)


def test_non_deterministic_f():
    rng = np.random.default_rng(1)
    with pytest.raises(ValueError, match="not deterministic.*seed.*dropout"):
        ge.numerical_gradient(lambda w: float(np.sum(w) + rng.random()), np.ones(3))


def test_gradient_with_wrong_shape_names_the_parameter():
    p = _params()
    bad = {"W1": np.zeros((2, 3)), "b1": np.zeros(2)}
    with pytest.raises(ValueError, match=r"'W1' has shape \(2, 3\).*shape \(3, 2\)"):
        ge.gradient_check(_loss, bad, p)


def test_gradient_with_wrong_structure():
    with pytest.raises(ValueError, match="structure"):
        ge.gradient_check(_loss, {"W1": np.zeros((3, 2))}, _params())
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        ge.gradient_check(lambda w: float(np.sum(w)), np.zeros(4), np.zeros((4, 1)))


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_restored_bit_exactly_when_f_raises_midway(exc):
    p = _params()
    p["W1"][0, 0] = -0.0  # a sign bit that a sloppy restore (x + h - h) could lose
    before = _bits(p)
    calls = [0]

    def f(q):
        calls[0] += 1
        if calls[0] == 7:
            raise exc("stop")
        return _loss(q)

    with pytest.raises(exc):
        ge.numerical_gradient(f, p)
    assert _same_bits(before, p)


def test_restored_bit_exactly_after_a_full_pass():
    rng = np.random.default_rng(3)
    p = {"W1": rng.standard_normal((4, 3)) * 1e3, "b1": rng.standard_normal(3) * 1e-9}
    before = _bits(p)

    def f(q):  # complex-safe, so the complex step can run too
        return np.sum(np.cos(q["W1"])) + np.sum(q["b1"] ** 2)

    for method in ge.METHODS:
        ge.numerical_gradient(f, p, method=method)
        assert _same_bits(before, p)
    for check in (ge.gradient_check, ge.directional_check, ge.taylor_test):
        check(f, lambda q: {"W1": -np.sin(q["W1"]), "b1": 2 * q["b1"]}, p)
        assert _same_bits(before, p)


def test_restored_when_gradient_check_fails_on_non_determinism():
    p = _params()
    before = _bits(p)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="not deterministic"):
        ge.gradient_check(lambda q: _loss(q) + rng.random(), lambda q: q, p)
    assert _same_bits(before, p)
