"""The checklist: a healthy setup passes everything; each broken setup fails its own item and
no other, for several checklist seeds and model seeds (no setup passes by seed luck)."""

import numpy as np
import pytest

from gradcheck_edu import bugs
from gradcheck_edu import diagnose as dg
from gradcheck_edu.datasets import moons, spiral
from gradcheck_edu.nn import MLP, Adam

X, Y = spiral(100, 3, seed=0)
X_VAL, Y_VAL = spiral(50, 3, seed=1)
X_FEW, Y_FEW = spiral(5, 3, seed=2)  # 15 samples: a big network memorizes them

# (checklist seed, model seed): every checklist seed 0..4 and every model seed 0..4.
SEEDS = [(0, 0), (1, 2), (2, 4), (3, 1), (4, 3)]


def _maker(hidden=(64,), post=None, **kwargs):
    def make(model_seed):
        def build():
            model = MLP([2, *hidden, 3], seed=model_seed, **kwargs)
            return post(model) if post is not None else model
        return build
    return make


def _weights_times_10(model):
    for k in model.params:
        if k.startswith("W"):
            model.params[k] *= 10
    return model


def _dead_relus(model):
    model.params["b1"][:] = -20.0
    return model


def _nan_at(X, y, seed):
    X = X.copy()
    X[7 + seed, 1] = np.nan
    return X, y


def _shuffled(X, y, seed):
    return X, np.random.default_rng(seed).permutation(y)


def _data(X, y):
    return lambda s: (X, y)


# name: (failing item, make(model_seed) -> make_model, data(seed) -> (X, y), lr, extra kwargs)
BROKEN = {
    "nan in X": ("data", _maker(), lambda s: _nan_at(X, Y, s), 1e-2, {}),
    "features x 1e3": ("data", _maker(), lambda s: (X * 1e3, Y), 1e-2, {}),
    "labels shuffled": ("labels", _maker(), lambda s: _shuffled(X, Y, s), 1e-2, {}),
    "weights 10x": ("initial_loss", _maker(post=_weights_times_10), _data(X, Y), 1e-2, {}),
    "relu biases -20": ("activations", _maker(post=_dead_relus), _data(X, Y), 1e-2, {}),
    "learning rate 50": ("learning_rate", _maker(), _data(X, Y), 50.0, {}),
    "learning rate 1e-7": ("learning_rate", _maker(), _data(X, Y), 1e-7, {}),
    "l2 = 10": ("regularization", _maker(l2=10.0), _data(X, Y), 1e-2, {}),
    "one hidden unit": ("capacity", _maker(hidden=(1,)), _data(X, Y), 1e-2, {}),
    "bug zoo": ("gradients", lambda s: lambda: bugs.inject(MLP([2, 64, 3], seed=s),
                                                           "missing_1_over_m"),
                _data(X, Y), 1e-2, {}),
    "overfitting": ("regularization", _maker(hidden=(64, 64)), _data(X_FEW, Y_FEW), 1e-2,
                    {"epochs": 100, "batch_size": 15}),
}


def _explained(item):
    """A None item says why it did not judge."""
    return item.message.startswith(("not run", "cannot tell")) or "not judged" in \
        item.message or "capacity problem" in item.message


@pytest.mark.parametrize("seed,model_seed", SEEDS)
def test_healthy_setup_passes_every_item(seed, model_seed):
    report = dg.checklist(_maker()(model_seed), X, Y, X_VAL, Y_VAL,
                          make_optimizer=lambda: Adam(1e-2), seed=seed)
    assert [item.name for item in report.items] == list(dg.ITEMS)
    assert report.passed, str(report)
    assert str(report).count("[x]") == len(dg.ITEMS)
    assert report.failed == [] and report.not_run == [] and report.warnings == []


@pytest.mark.parametrize("seed,model_seed", SEEDS)
@pytest.mark.parametrize("case", list(BROKEN))
def test_each_broken_setup_fails_its_item_and_no_healthy_one(case, seed, model_seed):
    item, make, data, lr, kwargs = BROKEN[case]
    Xc, yc = data(seed)
    Xc_before, yc_before = Xc.copy(), yc.copy()
    report = dg.checklist(make(model_seed), Xc, yc, X_VAL, Y_VAL,
                          make_optimizer=lambda: Adam(lr), seed=seed, **kwargs)
    assert report.failed == [item], str(report)
    assert report[item].fix, "a failed item says how to fix it"
    assert all(_explained(other) for other in report.items if other.passed is None), str(report)
    np.testing.assert_array_equal(Xc, Xc_before)
    np.testing.assert_array_equal(yc, yc_before)


def test_the_failures_name_the_cause():
    slow = dg.checklist(_maker()(0), X, Y, make_optimizer=lambda: Adam(1e-7))
    assert slow["learning_rate"].numbers["symptom"] == "too slow"
    assert "raise the learning rate" in slow["learning_rate"].fix
    fast = dg.checklist(_maker()(0), X, Y, make_optimizer=lambda: Adam(50.0))
    assert "lower the learning rate" in fast["learning_rate"].fix
    # with the learning rate failing, labels and overfit train at the suggested rate
    assert slow["labels"].passed and slow["overfit"].passed
    over = dg.checklist(_maker(hidden=(64, 64))(0), X_FEW, Y_FEW, X_VAL, Y_VAL,
                        make_optimizer=lambda: Adam(1e-2), epochs=100, batch_size=15)
    assert over["regularization"].numbers["diagnosis"] == "overfitting"
    assert "more data" in over["regularization"].fix
    assert over["capacity"].numbers["diagnosis"] == "healthy"
    small = dg.checklist(_maker(hidden=(1,))(0), X, Y, make_optimizer=lambda: Adam(1e-2))
    assert small["capacity"].numbers["diagnosis"] == "underfitting"


def test_report_renders():
    report = dg.checklist(_maker()(0), X, Y, make_optimizer=lambda: Adam(1e-2))
    assert "Debugging checklist" in str(report) and "<b" in report._repr_html_()
    assert report["capacity"].numbers["diagnosis"] == "healthy"
    assert len(report.extras["history"].train_loss) == 30


def test_short_or_diverging_training_gives_items_not_crashes():
    one = dg.checklist(_maker()(0), X, Y, X_VAL, Y_VAL, make_optimizer=lambda: Adam(1e-2),
                       epochs=1)
    assert one["learning_rate"].passed is not None  # the initial loss is the curve's start
    assert one["capacity"].passed is not None and one["regularization"].passed is not None
    nan = dg.checklist(_maker()(0), X, Y, X_VAL, Y_VAL, make_optimizer=lambda: Adam(1e6),
                       epochs=1)
    assert nan.failed == ["learning_rate"] and nan["learning_rate"].numbers["symptom"] == \
        "explodes"
    assert nan["capacity"].passed is None


def test_a_data_warning_fails_data_without_hiding_the_rest():
    # a quarter of the rows twice: suspicious, but training works
    Xd, yd = np.r_[X, X[::3]], np.r_[Y, Y[::3]]
    report = dg.checklist(_maker()(0), Xd, yd, X_VAL, Y_VAL, make_optimizer=lambda: Adam(1e-2))
    assert report["data"].passed is False and not report["data"].numbers["blocking"]
    assert "duplicate rows" in report["data"].message
    assert report.failed == ["data"] and report.not_run == [], str(report)


@pytest.mark.parametrize("given", ["X_val", "y_val"])
def test_validation_inputs_come_in_pairs(given):
    kwargs = {"X_val": X_VAL} if given == "X_val" else {"y_val": Y_VAL}
    missing = "y_val" if given == "X_val" else "X_val"
    with pytest.raises(ValueError, match=f"{given} is given but {missing} is None"):
        dg.checklist(_maker()(0), X, Y, **kwargs)


def test_make_model_must_build_a_new_model():
    model = MLP([2, 8, 3])
    with pytest.raises(ValueError, match="new model"):
        dg.checklist(lambda: model, X, Y)


# --------------------------------------------------------------------------- one story


def test_one_hidden_unit_on_moons_fails_capacity_with_what_a_larger_model_reached():
    Xm, ym = moons(200, seed=0)
    for seed in range(3):
        small = dg.checklist(lambda s=seed: MLP([2, 1, 2], seed=s), Xm, ym,
                             make_optimizer=lambda: Adam(1e-2), seed=seed)
        cap = small["capacity"]
        assert cap.passed is False and cap.numbers["diagnosis"] == "underfitting", str(small)
        assert "MLP([2, 64, 2])" in cap.message and f"{cap.numbers['larger_loss']:.3g}" in \
            cap.message
        assert cap.numbers["gain"] > dg.BANDS["capacity"].high
        # the gradients and the learning rate pass, so no line blames them
        assert small["gradients"].passed and small["learning_rate"].passed
        if small["overfit"].passed is not True:  # the overfit line names capacity
            assert small["overfit"].passed is None and "capacity" in small["overfit"].message
            assert "overfit failed" in cap.message
        assert small.failed == ["capacity"], str(small)
        big = dg.checklist(lambda s=seed: MLP([2, 64, 2], seed=s), Xm, ym,
                           make_optimizer=lambda: Adam(1e-2), seed=seed)
        assert big["capacity"].passed, str(big)
        assert big["capacity"].numbers["gain"] <= dg.BANDS["capacity"].high


@pytest.mark.parametrize("lr", [50.0, 1e-7])
def test_a_learning_rate_substitution_says_so_on_its_own_line(lr):
    report = dg.checklist(_maker()(0), X, Y, make_optimizer=lambda: Adam(lr))
    assert report.failed == ["learning_rate"]
    suggestion = report.extras["lr_finder"].suggestion
    for name in ("labels", "overfit"):
        lines = [line for line in str(report[name]).splitlines() if "ran:" in line]
        swap = [line for line in lines if f"at lr {suggestion:.2g}" in line]
        assert len(swap) == 1 and f"instead of your {lr:.3g}" in swap[0], str(report)
    assert "ran at the LR range test's suggestion" in report["learning_rate"].message
    healthy = dg.checklist(_maker()(0), X, Y, make_optimizer=lambda: Adam(1e-2))
    assert "instead of your" not in str(healthy)


def test_every_item_that_ran_on_something_else_says_what():
    report = dg.checklist(_maker()(0), X, Y, X_VAL, Y_VAL, make_optimizer=lambda: Adam(1e-2))
    assert "16 random samples of 300" in report["gradients"].ran
    assert "20 and 32 samples" in report["overfit"].ran
    assert "MLP([2, 128, 3])" in report["capacity"].ran
    assert "shuffled" in report["labels"].ran
    # the regularization item quotes the losses of the trained model, not the initial ones
    hist = report.extras["history"]
    assert "after training" in report["regularization"].message
    assert f"{hist.data_loss[-1]:.3g}" in report["regularization"].message
