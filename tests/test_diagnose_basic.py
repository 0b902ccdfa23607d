"""Model-free diagnostics: data sanity, chance loss, loss curves, regularization, RunLog."""

import numpy as np
import pytest

from gradcheck_edu import diagnose as dg


def _clean(n=200, d=3, c=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), np.arange(n) % c


def test_clean_data_passes():
    X, y = _clean()
    r = dg.check_data(X, y)
    assert r.passed, r.message
    assert r.numbers["class_counts"] == {0: 67, 1: 67, 2: 66}
    assert str(r).startswith("[x] data")


def test_nan_and_inf_are_located():
    X, y = _clean()
    X[3, 2], X[10, 0] = np.nan, np.inf
    r = dg.check_data(X, y)
    assert not r.passed and r.numbers["nan_rows"] == [3, 10] and r.numbers["nan_cols"] == [0, 2]
    assert "NaN" in r.message and "impute" in r.fix and str(r).startswith("[ ] data")


def test_a_column_of_nan_only_is_located_without_numpy_warnings():
    X, y = _clean()
    X[:, 1] = np.nan
    r = dg.check_data(X, y)  # RuntimeWarnings from the package are errors in this suite
    assert r.numbers["nan_cols"] == [1] and r.numbers["blocking"]


def test_unscaled_and_constant_features():
    X, y = _clean()
    X[:, 1] *= 1e3
    X[:, 2] = 7.0
    r = dg.check_data(X, y)
    assert not r.passed
    assert r.numbers["unscaled"] == [1] and r.numbers["constant"] == [2]
    assert "standardize" in r.fix


def test_duplicates_and_imbalance():
    X, y = _clean()
    X[100:] = X[:100]
    y = np.where(np.arange(200) < 190, 0, 1)
    r = dg.check_data(X, y)
    assert r.numbers["duplicates"] == 100
    assert r.numbers["imbalance"] == pytest.approx(19.0)
    assert not r.passed and "imbalanced" in r.message


def test_leakage():
    X, _ = _clean()
    assert dg.check_leakage(X[:150], X[150:]).passed
    r = dg.check_leakage(X[:150], X[140:])
    assert not r.passed and r.numbers["shared_rows"] == 10


@pytest.mark.parametrize("C", [2, 3, 10, 100])
def test_chance_loss_softmax(C):
    assert dg.expected_initial_loss(np.arange(C), n_classes=C) == pytest.approx(-np.log(1 / C))


def test_chance_loss_binary_ignores_balance():
    y = np.array([0] * 20 + [1] * 80)
    expected = -0.2 * np.log(0.5) - 0.8 * np.log(0.5)
    assert dg.expected_initial_loss(y, loss="binary_cross_entropy") == pytest.approx(expected)
    # the label entropy is the best an input-blind model can do: below chance when imbalanced
    assert dg.label_entropy(y) == pytest.approx(-(0.2 * np.log(0.2) + 0.8 * np.log(0.8)))
    assert dg.label_entropy(y) < expected


def test_chance_loss_mse_and_errors():
    assert dg.expected_initial_loss(np.array([1.0, -3.0]), loss="mse") == pytest.approx(5.0)
    with pytest.raises(ValueError, match="unknown loss"):
        dg.expected_initial_loss([0, 1], loss="hinge")


def test_loss_curve_symptoms():
    steps = np.arange(100)
    healthy = 2.3 * np.exp(-steps / 20) + 0.05
    assert dg.loss_curve_symptoms(healthy).numbers["symptom"] == "healthy"
    exploding = 2.3 * np.exp(steps / 10)
    assert dg.loss_curve_symptoms(exploding).numbers["symptom"] == "explodes"
    oscillating = 2.0 + np.where(steps % 2, -1.0, 1.0) * 0.8 - steps * 0.002
    assert dg.loss_curve_symptoms(oscillating).numbers["symptom"] == "oscillates"
    slow = 2.3 - steps * 1e-4
    r = dg.loss_curve_symptoms(slow)
    assert r.numbers["symptom"] == "too slow" and "raise" in r.fix


def test_capacity_diagnosis():
    epochs = np.arange(30)
    under = dg.diagnose_capacity(1.1 - 0.3 * (1 - np.exp(-epochs / 5)), chance_loss=1.0986)
    assert under.numbers["diagnosis"] == "underfitting" and not under.passed
    train = 1.1 * np.exp(-epochs / 4)
    over = dg.diagnose_capacity(train, 0.5 + 0.02 * (epochs - 10) ** 2 / 10, chance_loss=1.0986)
    assert over.numbers["diagnosis"] == "overfitting"
    ok = dg.diagnose_capacity(train, train * 1.1 + 0.01, chance_loss=1.0986)
    assert ok.passed and ok.numbers["diagnosis"] == "healthy"


def test_regularization_ratio():
    r = dg.check_regularization(data_loss=1.1, reg_loss=5.0)
    assert not r.passed and r.numbers["ratio"] == pytest.approx(5.0 / 1.1) and "l2 = 0" in r.fix
    assert dg.check_regularization(1.1, 0.05).passed


def test_a_flat_noisy_curve_is_too_slow_not_oscillating():
    # a too-low learning rate: no net progress, only the epoch-to-epoch noise of mini-batches
    noise = np.random.default_rng(0).standard_normal(30) * 0.005
    flat = 1.0986 + noise
    r = dg.loss_curve_symptoms(flat, start=1.0986)
    assert r.numbers["symptom"] == "too slow" and "raise" in r.fix
    assert r.numbers["up_fraction"] > 0.3 and r.numbers["jump"] < 0.05  # ups, but tiny ones
    # large swings with no progress are a too-high learning rate
    swinging = 1.0 + 0.5 * np.where(np.arange(30) % 2, 1.0, -1.0)
    r = dg.loss_curve_symptoms(swinging, start=1.0)
    assert r.numbers["symptom"] == "oscillates" and "lower" in r.fix


def test_learning_rate_item_blames_a_plateau_on_the_rate_only_with_evidence():
    flat = 1.0986 + np.random.default_rng(0).standard_normal(30) * 0.005
    low = dg.check_learning_rate(flat, lr=1e-7, start=1.0986, suggestion=0.09)
    assert low.passed is False and "raise" in low.fix
    tiny_steps = dg.check_learning_rate(flat, lr=1e-3, start=1.0986,
                                        update_ratios={"W1": 1e-8, "W2": 3e-8}, suggestion=1e-3)
    assert tiny_steps.passed is False and "raise" in tiny_steps.fix
    # the weights move and the rate is near the LR range test's suggestion: a capacity plateau
    plateau = dg.check_learning_rate(flat, lr=1e-2, start=1.0986,
                                     update_ratios={"W1": 1e-2, "W2": 5e-2}, suggestion=0.3)
    assert plateau.passed and plateau.numbers["symptom"] == "plateau"
    assert "capacity" in plateau.message
    steps = np.arange(30)
    healthy = 1.1 * np.exp(-steps / 8)
    beyond = dg.check_learning_rate(healthy, lr=5.0, suggestion=0.1, diverged_at=2.0)
    assert beyond.passed is False and "lower" in beyond.fix
    big_steps = dg.check_learning_rate(healthy, update_ratios={"W1": 3.0})
    assert big_steps.passed is False and big_steps.numbers["symptom"] == "too high"
    assert dg.check_learning_rate(healthy, lr=0.01, update_ratios={"W1": 1e-3},
                                  suggestion=0.05, diverged_at=1.0).passed


def test_update_ratio_bands():
    assert dg.check_update_ratios({"W1": 1e-3, "W2": 2e-2}).passed
    low = dg.check_update_ratios({"W1": 1e-9, "W2": 4e-6})
    assert low.passed is False and low.numbers["symptom"] == "too low" and "raise" in low.fix
    high = dg.check_update_ratios({"W1": 1e-3, "W2": 12.0})
    assert high.passed is False and high.numbers["symptom"] == "too high" and "lower" in high.fix
    assert dg.check_update_ratios({"W1": float("nan")}).passed is None


def test_short_and_non_finite_curves_give_results_not_errors():
    assert dg.loss_curve_symptoms([1.0]).passed is None
    assert dg.loss_curve_symptoms([]).passed is None
    one_epoch = dg.loss_curve_symptoms([0.7], start=1.1)
    assert one_epoch.passed and one_epoch.numbers["symptom"] == "healthy"
    nan_first = dg.loss_curve_symptoms([float("nan")], start=1.1)
    assert nan_first.passed is False and nan_first.numbers["symptom"] == "explodes"
    assert dg.diagnose_capacity([float("nan")], chance_loss=1.1).passed is None
    assert dg.diagnose_capacity([0.5]).passed is None  # one epoch and no reference
    assert dg.diagnose_capacity([0.2], chance_loss=1.1).numbers["diagnosis"] == "healthy"


def test_overfitting_is_the_regularization_item_underfitting_the_capacity_item():
    epochs = np.arange(30)
    train = 1.1 * np.exp(-epochs / 4)
    val = 0.5 + 0.02 * (epochs - 10) ** 2 / 10
    over = dg.diagnose_capacity(train, val, chance_loss=1.0986)
    assert over.name == "regularization" and over.passed is False
    assert "more data" in over.fix
    reg = dg.check_regularization(0.01, 0.0, train_loss=train, val_loss=val)
    assert reg.passed is False and reg.numbers["diagnosis"] == "overfitting"
    assert dg.check_regularization(0.01, 0.0, train_loss=train, val_loss=train * 1.1 + 0.01).passed
    under = dg.diagnose_capacity(1.1 - 0.3 * (1 - np.exp(-epochs / 5)), chance_loss=1.0986)
    assert under.name == "capacity" and under.passed is False


def test_regression_targets_are_not_classes():
    X, _ = _clean()
    y = np.random.default_rng(1).standard_normal(200)
    r = dg.check_data(X, y)
    assert r.passed, r.message
    assert r.numbers["task"] == "regression" and "class_counts" not in r.numbers
    assert r.numbers["target_std"] == pytest.approx(y.std())
    # several targets per sample are regression targets too
    assert dg.check_data(X, np.c_[y, y]).numbers["task"] == "regression"
    # integer-valued float labels are classes; task= overrides the guess
    assert dg.check_data(X, (np.arange(200) % 3).astype(float)).numbers["class_counts"]
    assert dg.check_data(X, np.arange(200) % 3, task="regression").numbers["task"] == \
        "regression"


def test_nan_in_y_is_reported_as_nan_and_blocks():
    X, y = _clean()
    y = y.astype(float)
    y[[5, 17]] = np.nan
    r = dg.check_data(X, y)
    assert not r.passed and r.numbers["blocking"]
    assert r.numbers["nan_target_rows"] == [5, 17]
    assert "NaN/Inf values in y" in r.message and "imbalanced" not in r.message


def test_blocking_and_warning_data_problems():
    X, y = _clean()
    assert dg.check_data(X * 1e3, y).numbers["blocking"]
    assert dg.check_data(X, np.zeros(200, dtype=int)).numbers["blocking"]  # one class
    warn = X.copy()
    warn[100:] = warn[:100]
    r = dg.check_data(warn, y)
    assert not r.passed and not r.numbers["blocking"]  # duplicates: a warning
    y_skewed = np.where(np.arange(200) < 190, 0, 1)
    assert not dg.check_data(X, y_skewed).numbers["blocking"]  # imbalance: a warning


def test_input_blind_loss():
    assert dg.input_blind_loss([0, 0, 1, 1]) == pytest.approx(np.log(2))
    assert dg.input_blind_loss(np.array([1.0, 3.0, 5.0]), loss="mse") == pytest.approx(8 / 3)
    # MSE: outputting 0 costs mean(y^2); predicting the mean costs var(y), never more
    y = np.array([2.0, 3.0, 7.0])
    assert dg.input_blind_loss(y, "mse") == pytest.approx(
        dg.expected_initial_loss(y, "mse") - y.mean() ** 2)


def test_load_runs_skips_a_broken_line_with_a_warning(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text('{"a": 1}\n{broken\n{"a": 3}\n')
    with pytest.warns(UserWarning, match=":2"):
        runs = dg.load_runs(path)
    assert runs == [{"a": 1}, {"a": 3}]
    assert dg.load_runs(tmp_path / "missing.jsonl") == []


def test_compare_runs_ranks_by_the_best_value():
    runs = [{"name": "slow", "metrics": [{"val_loss": 1.0}, {"val_loss": 0.8}]},
            {"name": "diverged", "metrics": [{"val_loss": "nan"}]},
            {"name": "good", "metrics": [{"val_loss": 0.9}, {"val_loss": 0.2}, {"val_loss": 0.3}]}]
    rows = dg.compare_runs(runs)
    assert [r["name"] for r in rows] == ["good", "slow", "diverged"]
    assert rows[0]["best"] == 0.2 and rows[0]["final"] == 0.3 and rows[0]["epochs"] == 3
    assert np.isnan(rows[2]["best"])


def test_gaps_far_below_chance_are_not_overfitting():
    # validation 0.02 against training 0.01 is a 100% gap, but both are ~1% of chance (1.0)
    train, val = [1.0, 0.1, 0.011, 0.01], [1.0, 0.1, 0.011, 0.02]
    assert dg.check_regularization(0.01, 0.0, train_loss=train, val_loss=val).passed is False
    judged = dg.check_regularization(0.01, 0.0, train_loss=train, val_loss=val, chance_loss=1.0)
    assert judged.passed is True and judged.numbers["diagnosis"] == "healthy"
    # a validation loss rising to a tenth of chance and more is overfitting, at any scale
    val = [1.0, 0.1, 0.05, 0.2]
    assert dg.check_regularization(0.01, 0.0, train_loss=train, val_loss=val,
                                   chance_loss=1.0).numbers["diagnosis"] == "overfitting"
    assert dg.diagnose_capacity(train, val, chance_loss=1.0).name == "regularization"
