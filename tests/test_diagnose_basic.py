"""Model-free diagnostics: data sanity, chance loss, loss curves, regularization, RunLog."""

import json
import os

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


def test_runlog_appends_and_survives_a_crash(tmp_path):
    path = tmp_path / "runs.jsonl"
    for lr in (0.1, 0.01):
        log = dg.RunLog(path, hyperparams={"lr": lr, "sizes": (2, 8, 3)}, seed=1, name=f"lr{lr}")
        log.log_epoch(train_loss=np.float64(1.0), acc=np.array(0.5))
        log.log_history({"train_loss": [0.5, 0.25], "val_loss": [0.6, float("nan")]})
        log.save()
    runs = dg.load_runs(path)
    assert [r["hyperparams"]["lr"] for r in runs] == [0.1, 0.01]
    assert runs[0]["hyperparams"]["sizes"] == [2, 8, 3]
    assert [m["train_loss"] for m in runs[1]["metrics"]] == [1.0, 0.5, 0.25]
    assert runs[1]["metrics"][2]["val_loss"] == "nan"
    assert runs[0]["versions"]["numpy"] == np.__version__ and "started" in runs[0]

    class Boom:  # a value whose repr fails half-way through a save
        def __repr__(self):
            raise RuntimeError("crash while saving")

    log = dg.RunLog(path, hyperparams={"bad": Boom()})
    with pytest.raises(RuntimeError):
        log.save()
    assert len(dg.load_runs(path)) == 2  # the file is intact
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    json.loads(path.read_text().splitlines()[-1])


def test_load_runs_reports_a_broken_line(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text('{"a": 1}\n{broken\n')
    with pytest.raises(ValueError, match=":2"):
        dg.load_runs(path)
    assert dg.load_runs(tmp_path / "missing.jsonl") == []
