"""The checklist: a healthy setup passes everything; each broken setup fails its own item."""

import numpy as np
import pytest

from gradcheck_edu import bugs
from gradcheck_edu import diagnose as dg
from gradcheck_edu.datasets import spiral
from gradcheck_edu.nn import MLP, SGD, Adam

X, Y = spiral(100, 3, seed=0)
X_VAL, Y_VAL = spiral(50, 3, seed=1)


def _maker(hidden=64, post=None, **kwargs):
    def make():
        model = MLP([2, hidden, 3], seed=0, **kwargs)
        if post is not None:
            post(model)
        return model
    return make


def _weights_times_10(model):
    for k in model.params:
        if k.startswith("W"):
            model.params[k] *= 10


def _dead_relus(model):
    model.params["b1"][:] = -20.0


def _nan_at(X):
    X = X.copy()
    X[7, 1] = np.nan
    return X


BROKEN = {
    "nan in X": ("data", _maker(), lambda X, y: (_nan_at(X), y), 1e-2),
    "features x 1e3": ("data", _maker(), lambda X, y: (X * 1e3, y), 1e-2),
    "labels shuffled": ("labels", _maker(),
                        lambda X, y: (X, np.random.default_rng(0).permutation(y)), 1e-2),
    "weights 10x": ("initial_loss", _maker(post=_weights_times_10), None, 1e-2),
    "relu biases -20": ("activations", _maker(post=_dead_relus), None, 1e-2),
    "learning rate 50": ("learning_rate", _maker(), None, 50.0),
    "l2 = 10": ("regularization", _maker(l2=10.0), None, 1e-2),
    "one hidden unit": ("capacity", _maker(hidden=1), None, 1e-2),
    "bug zoo": ("gradients", lambda: bugs.inject(MLP([2, 64, 3], seed=0), "missing_1_over_m"),
                None, 1e-2),
}


@pytest.mark.parametrize("seed", [0, 1])
def test_healthy_setup_passes_every_item(seed):
    report = dg.checklist(_maker(), X, Y, X_VAL, Y_VAL, make_optimizer=lambda: Adam(1e-2),
                          seed=seed)
    assert [item.name for item in report.items] == list(dg.ITEMS)
    assert report.passed, str(report)
    assert str(report).count("[x]") == len(dg.ITEMS)


@pytest.mark.parametrize("case", list(BROKEN))
def test_each_broken_setup_fails_its_item_and_no_healthy_one(case):
    item, make, corrupt, lr = BROKEN[case]
    Xc, yc = corrupt(X, Y) if corrupt else (X, Y)
    Xc_before, yc_before = Xc.copy(), yc.copy()
    report = dg.checklist(make, Xc, yc, X_VAL, Y_VAL, make_optimizer=lambda: Adam(lr))
    assert report.failed == [item], str(report)
    assert report[item].fix, "a failed item says how to fix it"
    for other in report.items:
        if other.passed is None:
            assert "not run" in other.message or "capacity" in other.message
    np.testing.assert_array_equal(Xc, Xc_before)
    np.testing.assert_array_equal(yc, yc_before)


def test_report_renders():
    report = dg.checklist(_maker(), X, Y, make_optimizer=lambda: Adam(1e-2))
    assert "Debugging checklist" in str(report) and "<b" in report._repr_html_()
    assert report["capacity"].numbers["diagnosis"] == "healthy"
    assert len(report.extras["history"].train_loss) == 30


def test_model_checks_leave_the_model_alone():
    model = MLP([2, 16, 3], seed=0)
    before = {k: v.copy() for k, v in model.params.items()}
    dg.check_initial_loss(model, X, Y)
    dg.check_gradients(model, X, Y, optimizer=Adam(1e-2))
    dg.check_activations(model, X)
    finder = dg.lr_range_test(model, X, Y, SGD(1e-3), lr_max=1e4)  # SGD diverges by then
    for k in before:
        np.testing.assert_array_equal(model.params[k], before[k])
    assert finder.lrs[0] == pytest.approx(1e-7) and finder.diverged_at is not None
    assert finder.lrs[0] < finder.suggestion < finder.diverged_at


def test_activation_stats_see_dead_and_saturated_units():
    model = MLP([2, 8, 3], activation="tanh", seed=0)
    for k in model.params:
        if k.startswith("W"):
            model.params[k] *= 100
    r = dg.check_activations(model, X)
    assert not r.passed and "saturated" in r.message
    dead = MLP([2, 8, 3], seed=0)
    dead.params["b1"][:4] = -50
    stats = dg.activation_stats(dead, X)
    assert stats[0]["dead"] == pytest.approx(0.5, abs=0.13)
