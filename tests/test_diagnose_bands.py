"""Every band the checklist judges by is the one its message states: each test judges values
just inside and just outside a band with the check that uses it, and reads the band's text in
the message."""

import numpy as np
import pytest

from gradcheck_edu import diagnose as dg
from gradcheck_edu.diagnose import bands
from gradcheck_edu.nn import MLP


def _inside_outside(band):
    """A value just inside the band and one just outside it (at its upper limit if any)."""
    if band.high is not None:
        return band.high * 0.99, band.high * 1.01
    return band.low * 1.01, band.low * 0.99


def test_band_text_and_judgement():
    b = dg.Band("x", 1e-4, 1e-1, ".0e")
    assert b.healthy() == "healthy: x from 1e-04 to 1e-01"
    assert b.contains(1e-3) and not b.contains(1.0) and not b.contains(1e-5)
    assert not b.contains(float("nan"))
    assert set(dg.BANDS.values()) <= {v for v in vars(bands).values() if isinstance(v, dg.Band)}


@pytest.mark.parametrize("where", ["high", "low"])
def test_update_ratio_band(where):
    band = dg.BANDS["update_ratio"]
    limit = band.high if where == "high" else band.low
    inside = {"W1": 1e-3, "W2": limit * (0.99 if where == "high" else 1.01)}
    outside = {"W1": 1e-3, "W2": limit * (1.01 if where == "high" else 0.99)}
    ok, bad = dg.check_update_ratios(inside), dg.check_update_ratios(outside)
    assert ok.passed and bad.passed is False
    assert band.healthy() in ok.message and band.healthy() in bad.message


def test_capacity_band():
    band = dg.BANDS["capacity"]
    for gain, passed in zip(_inside_outside(band), (True, False)):
        r = dg.diagnose_capacity([1.0, 0.6], chance_loss=1.0, larger_loss=0.6 - gain)
        assert r.passed is passed and band.healthy() in r.message
        assert r.numbers["gain"] == pytest.approx(gain)


def test_curve_underfit_band():
    band = dg.BANDS["curve_underfit"]
    for final, passed in zip(_inside_outside(band), (True, False)):
        r = dg.diagnose_capacity([1.0, final], chance_loss=1.0)
        assert r.passed is passed and band.healthy() in r.message


def test_regularization_and_gap_bands():
    band = dg.BANDS["regularization"]
    for ratio, passed in zip(_inside_outside(band), (True, False)):
        r = dg.check_regularization(1.0, ratio)
        assert r.passed is passed and band.healthy() in r.message
    gap = dg.BANDS["val_gap"]
    for g, passed in zip(_inside_outside(gap), (True, False)):
        # validation rose from its minimum 0.5 to 1 + g against a final training loss of 1
        r = dg.check_regularization(1.0, 0.0, train_loss=[2.0, 1.0], val_loss=[0.5, 1.0 + g])
        assert r.passed is passed and gap.healthy() in r.message


def test_initial_loss_band():
    band = dg.BANDS["initial_loss"]
    X = np.random.default_rng(0).standard_normal((60, 2))
    y = np.arange(60) % 3
    model = MLP([2, 16, 3], seed=0)
    r = dg.check_initial_loss(model, X, y)
    assert band.healthy() in r.message
    assert r.passed is band.contains(r.numbers["initial_loss"] / r.numbers["chance_loss"])
    for k in model.params:  # big weights: far above chance
        model.params[k] *= 30
    r = dg.check_initial_loss(model, X, y)
    assert r.passed is False and band.healthy() in r.message
    assert not band.contains(r.numbers["ratio"])


def test_activation_bands():
    X = np.random.default_rng(0).standard_normal((200, 2))
    model = MLP([2, 32, 3], seed=0)
    ok = dg.check_activations(model, X)
    dead_band = dg.BANDS["dead_units"]
    assert ok.passed and dead_band.healthy() in ok.message
    model.params["b1"][:24] = -50.0  # 75% of the units dead
    bad = dg.check_activations(model, X)
    assert bad.passed is False and dead_band.healthy() in bad.message
    assert not dead_band.contains(bad.numbers["layers"][0]["dead"])
    tanh = MLP([2, 32, 3], activation="tanh", seed=0)
    tanh.params["W1"] *= 100  # most outputs at +-1
    sat = dg.check_activations(tanh, X)
    assert sat.passed is False and dg.BANDS["saturated"].healthy() in sat.message


def test_overfit_and_gradient_bands_are_quoted():
    X = np.random.default_rng(0).standard_normal((60, 2))
    y = np.arange(60) % 3
    r = dg.overfit_tiny(lambda: MLP([2, 32, 3], seed=0), X, y, steps=300)
    assert dg.BANDS["overfit"].healthy() in r.message
    assert r.passed is all(dg.BANDS["overfit"].contains(r.numbers[k]) for k in
                           ("tiny_set_final_loss", "single_batch_final_loss"))
    g = dg.check_gradients(MLP([2, 8, 3], seed=0), X, y)
    assert dg.BANDS["gradients"].healthy() in g.message
