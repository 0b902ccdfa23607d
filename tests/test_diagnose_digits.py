"""The checklist on real images (the UCI digits): a healthy setup passes every item, and each
of the four common real faults fails exactly its item and says why, over several seeds."""

import numpy as np
import pytest

from gradcheck_edu import diagnose as dg
from gradcheck_edu.datasets import digits
from gradcheck_edu.nn import MLP, Adam

X_ALL, Y_ALL = digits()
X_RAW, _ = digits(scale=False)


def _split(seed, n_train=1200, n_val=400):
    order = np.random.default_rng(seed).permutation(len(Y_ALL))
    tr, va = order[:n_train], order[n_train:n_train + n_val]
    return tr, va


def _run(seed, X_tr, y_tr, X_va, y_va, inputs=64):
    return dg.checklist(lambda: MLP([inputs, 64, 10], seed=seed), X_tr, y_tr, X_va, y_va,
                        make_optimizer=lambda: Adam(1e-3), seed=seed)


def test_digits_are_the_uci_digits():
    X, y = digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.unique(y), np.arange(10))
    raw, y_raw = digits(scale=False)
    np.testing.assert_array_equal(raw, np.rint(raw))  # counts of ink in 4x4 blocks: 0..16
    assert raw.max() == 16 and np.array_equal(raw / 16, X) and np.array_equal(y, y_raw)
    X[0, 0] = 5.0
    assert digits()[0][0, 0] == 0.0  # a fresh copy each call


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_healthy_digits_setup_passes_every_item(seed):
    tr, va = _split(seed)
    report = _run(seed, X_ALL[tr], Y_ALL[tr], X_ALL[va], Y_ALL[va])
    assert report.passed, str(report)
    data = report["data"]
    assert data.numbers["image_shape"] == (8, 8)
    # the border pixels that are always 0 and the low-variance pixels are notes, not failures
    assert data.numbers["constant"] and "normal for images" in data.message
    assert "samples" in report.extras


def _label_shift(seed):
    tr, va = _split(seed)
    return X_ALL[tr], np.roll(Y_ALL[tr], 1), X_ALL[va], Y_ALL[va], 64


def _unscaled(seed):
    tr, va = _split(seed)
    return X_RAW[tr], Y_ALL[tr], X_RAW[va], Y_ALL[va], 64


def _leaky_feature(seed):
    tr, va = _split(seed)
    leak = lambda idx: np.c_[X_ALL[idx], Y_ALL[idx] / 9]  # noqa: E731
    return leak(tr), Y_ALL[tr], leak(va), Y_ALL[va], 65


def _shared_rows(seed):
    tr, va = _split(seed)
    va = np.r_[va[:300], tr[:100]]  # a quarter of the validation rows are training rows
    return X_ALL[tr], Y_ALL[tr], X_ALL[va], Y_ALL[va], 64


# fault: (make the data, the item that must fail, words its message must have, its fix)
FAULTS = {
    "label column shifted by one row": (_label_shift, "labels", "no better than chance",
                                        "aligned"),
    "pixels left at 0-16": (_unscaled, "data", "pixels span 0 to 16", "divide by 16"),
    "a feature that leaks the label": (_leaky_feature, "data", "features [64] give the label "
                                       "away", "remove features [64]"),
    "the same rows in training and validation": (_shared_rows, "data", "100 of 400 validation "
                                                 "rows are also in the training set",
                                                 "split the data once"),
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_real_fault_fails_exactly_its_item(fault, seed):
    make, item, says, fix = FAULTS[fault]
    X_tr, y_tr, X_va, y_va, inputs = make(seed)
    report = _run(seed, X_tr, y_tr, X_va, y_va, inputs)
    assert report.failed == [item], str(report)
    assert says in report[item].message, str(report)
    assert fix in report[item].fix and report[item].fix.count(fix) == 1, report[item].fix
    for other in report.items:
        if other.passed is None:
            assert ("not run" in other.message or "not judged" in other.message), str(report)


def test_the_repaired_pipeline_passes():
    tr, va = _split(0)
    X_tr, y_tr = X_RAW[tr] / 16, Y_ALL[tr]  # scaled, aligned, no extra column, disjoint rows
    assert _run(0, X_tr, y_tr, X_RAW[va] / 16, Y_ALL[va]).passed


def test_unscaled_pixels_are_blocking_and_shown():
    import matplotlib

    matplotlib.use("Agg")
    X_tr, y_tr, X_va, y_va, _ = _unscaled(0)
    report = _run(0, X_tr, y_tr, X_va, y_va)
    assert report["data"].numbers["blocking"] and report.not_run == list(dg.ITEMS[1:])
    fig = report.plot()  # the samples are drawn even though training never ran
    assert "pixels 0 to 16" in fig.axes[0].get_title()
