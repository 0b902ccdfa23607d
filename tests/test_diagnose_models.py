"""Model checks: they leave the caller's model bit-identical, handle dropout and batch norm,
work on any model that follows the documented protocol, and judge MSE models and update
ratios correctly."""

import copy

import matplotlib
import numpy as np
import pytest

from gradcheck_edu import diagnose as dg
from gradcheck_edu.datasets import spiral
from gradcheck_edu.nn import MLP, SGD, Adam, BatchNorm1d, Dropout, Linear, ReLU, train

matplotlib.use("Agg")

X, Y = spiral(100, 3, seed=0)
X_VAL, Y_VAL = spiral(50, 3, seed=1)


# --------------------------------------------------------------------------- the model is kept


def _fingerprint(obj):
    """Every array, random-generator state and plain value reachable from ``obj`` through
    attributes, dicts and lists (bound methods and functions left out)."""
    found, seen = [], set()

    def walk(x, path):
        if isinstance(x, np.ndarray):
            found.append((path, x.dtype.str, x.shape, x.tobytes()))
        elif isinstance(x, np.random.Generator):
            found.append((path, repr(x.bit_generator.state)))
        elif isinstance(x, (int, float, str, bool, type(None), np.generic)):
            found.append((path, repr(x)))
        elif isinstance(x, dict):
            for k in sorted(x, key=str):
                walk(x[k], f"{path}[{k!r}]")
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                walk(v, f"{path}[{i}]")
        elif hasattr(x, "__dict__") and not callable(x) and id(x) not in seen:
            seen.add(id(x))
            walk(vars(x), f"{path}.")
    walk(obj, "model")
    return found


def _bn_dropout_model():
    model = MLP([2, 16, 16, 3], batchnorm=True, dropout=0.2, seed=0)
    Adam(1e-2).step(model.params, model.loss_and_grads(X[:64], Y[:64])[1])  # non-trivial state
    model.forward(X[:64])  # caches from a forward of its own
    return model


CHECKS = {
    "initial_loss": lambda m: dg.check_initial_loss(m, X, Y),
    "gradients": lambda m: dg.check_gradients(m, X, Y, optimizer=Adam(1e-2)),
    "activations": lambda m: dg.check_activations(m, X),
    "activation_stats": lambda m: dg.activation_stats(m, X),
    "lr_range_test": lambda m: dg.lr_range_test(m, X, Y, Adam(1e-3)),
}


@pytest.mark.parametrize("check", list(CHECKS))
def test_checks_leave_the_model_bit_identical(check):
    model = _bn_dropout_model()
    before = _fingerprint(model)
    assert any("running_var" in path for path, *_ in before)  # the fingerprint sees BN stats
    assert any("bit_generator" in repr(v) for _, *v in before)  # and the dropout streams
    CHECKS[check](model)
    assert _fingerprint(model) == before


def test_checklist_leaves_the_template_and_data_alone():
    template = _bn_dropout_model()
    before = _fingerprint(template)
    Xc, yc = X.copy(), Y.copy()
    dg.checklist(lambda: copy.deepcopy(template), Xc, yc, X_VAL, Y_VAL,
                 make_optimizer=lambda: Adam(1e-2), epochs=3)
    assert _fingerprint(template) == before
    np.testing.assert_array_equal(Xc, X)
    np.testing.assert_array_equal(yc, Y)


# --------------------------------------------------------------------------- dropout, batch norm


def test_gradient_check_freezes_dropout_on_a_copy():
    model = MLP([2, 32, 3], dropout=0.3, seed=0)
    r = dg.check_gradients(model, X, Y, optimizer=Adam(1e-2))
    assert r.passed, r.message
    assert all(layer.frozen_seed is None for layer in model.layers if isinstance(layer, Dropout))


def test_checklist_runs_on_a_dropout_model():
    report = dg.checklist(lambda: MLP([2, 64, 3], dropout=0.2, seed=0), X, Y, X_VAL, Y_VAL,
                          make_optimizer=lambda: Adam(1e-2))
    assert report["gradients"].passed, str(report)
    assert report.warnings == []  # dropout after the only batch norm... here there is none


class _RandomLoss:
    """A model whose loss is random at fixed parameters and cannot be frozen."""

    def __init__(self):
        self.params = {"w": np.ones(3)}
        self.rng = np.random.default_rng(0)

    def loss(self, X, y):
        return float(self.params["w"] @ self.params["w"] + self.rng.random())

    def loss_and_grads(self, X, y):
        return self.loss(X, y), {"w": 2 * self.params["w"]}


def test_a_random_loss_without_freeze_is_not_gradient_checked():
    r = dg.check_gradients(_RandomLoss(), X, Y)
    assert r.passed is None and "freeze_dropout" in r.message


def test_dropout_before_batch_norm_warning():
    ok = [Linear(2, 8), BatchNorm1d(8), ReLU(), Dropout(0.2), Linear(8, 3)]
    assert dg.layer_order_warnings(ok) == []
    direct = [Linear(2, 8), Dropout(0.2), BatchNorm1d(8), ReLU(), Linear(8, 3)]
    assert "layer 1" in dg.layer_order_warnings(direct)[0]
    # the variance shift passes through a linear layer: Dropout -> Linear -> BatchNorm1d
    through = [Linear(2, 8), BatchNorm1d(8), ReLU(), Dropout(0.2), Linear(8, 8),
               BatchNorm1d(8), ReLU(), Linear(8, 3)]
    assert "(layer 3) comes before batch norm (layer 5)" in dg.layer_order_warnings(through)[0]
    # MLP puts dropout after each activation: one hidden layer is safe, two are not
    assert dg.layer_order_warnings(MLP([2, 8, 3], batchnorm=True, dropout=0.2)) == []
    assert dg.layer_order_warnings(MLP([2, 8, 8, 3], batchnorm=True, dropout=0.2))


def test_the_warning_is_printed_in_the_report():
    report = dg.checklist(lambda: MLP([2, 16, 16, 3], batchnorm=True, dropout=0.2, seed=0), X,
                          Y, X_VAL, Y_VAL, make_optimizer=lambda: Adam(1e-2), epochs=5)
    assert report["gradients"].passed is True, str(report)
    assert "warning: dropout (layer 3) comes before batch norm" in str(report)
    assert "variance shift" in report._repr_html_()


# --------------------------------------------------------------------------- any model


class DuckNet:
    """A two-layer ReLU classifier written from scratch, with only the documented protocol:
    params, loss, loss_and_grads and forward(X, return_activations=True)."""

    def __init__(self, hidden=64, seed=0, bias=0.0):
        rng = np.random.default_rng(seed)
        self.params = {"W1": rng.standard_normal((2, hidden)) * np.sqrt(2 / 2),
                       "b1": np.full(hidden, bias),
                       "W2": rng.standard_normal((hidden, 3)) * np.sqrt(2 / hidden),
                       "b2": np.zeros(3)}

    def forward(self, X, return_activations=False):
        p = self.params
        h = np.maximum(X @ p["W1"] + p["b1"], 0)
        out = h @ p["W2"] + p["b2"]
        return (out, [("hidden", "relu", h)]) if return_activations else out

    def loss_and_grads(self, X, y):
        p, n = self.params, len(y)
        z = X @ p["W1"] + p["b1"]
        h = np.maximum(z, 0)
        out = h @ p["W2"] + p["b2"]
        prob = np.exp(out - out.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        loss = -np.mean(np.log(prob[np.arange(n), y]))
        dout = prob.copy()
        dout[np.arange(n), y] -= 1
        dout /= n
        dz = dout @ p["W2"].T * (z > 0)
        return loss, {"W1": X.T @ dz, "b1": dz.sum(0), "W2": h.T @ dout, "b2": dout.sum(0)}

    def loss(self, X, y):
        return self.loss_and_grads(X, y)[0]


def test_a_duck_typed_model_passes_the_checklist():
    report = dg.checklist(DuckNet, X, Y, X_VAL, Y_VAL, make_optimizer=lambda: Adam(1e-2))
    assert report.passed, str(report)
    assert report["activations"].numbers["layers"][0]["kind"] == "relu"
    # it has no accuracy(): the labels item scores the loss, and says so
    assert "skill" in report["labels"].message and "accuracy" not in report["labels"].message


def test_dead_relus_in_a_duck_model_fail_activations_not_gradients():
    report = dg.checklist(lambda: DuckNet(bias=-20.0), X, Y, X_VAL, Y_VAL,
                          make_optimizer=lambda: Adam(1e-2))
    assert report.failed == ["activations"], str(report)
    assert report["activations"].numbers["layers"][0]["dead"] == 1.0
    assert report["gradients"].passed and "vanish" in report["gradients"].message


class _PlainActivations(DuckNet):
    """Activations as plain arrays and no layer list: the kind is unknown."""

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = scale

    def forward(self, X, return_activations=False):
        out, acts = super().forward(X, return_activations=True)
        return (out, [acts[0][2] * self.scale]) if return_activations else out


def test_activations_of_unknown_kind_are_judged_by_scale_only():
    stats = dg.activation_stats(_PlainActivations(), X)
    assert stats[0]["kind"] == "unknown" and stats[0]["dead"] is None
    r = dg.check_activations(_PlainActivations(), X)
    assert r.passed and "not judged" in r.message
    assert not dg.check_activations(_PlainActivations(scale=1e-6), X).passed  # vanishing
    assert dg.check_activations(_RandomLoss(), X).passed is None  # no forward at all


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize("seed", range(3))
def test_labels_check_does_not_blame_a_small_model(seed):
    for model_seed in range(5):
        r = dg.check_labels(lambda s=model_seed: MLP([2, 1, 3], seed=s), X, Y,
                            lambda: Adam(1e-2), seed=seed)
        assert r.passed is not False, r.message


@pytest.mark.parametrize("seed", range(3))
def test_labels_check_on_aligned_and_shuffled_labels(seed):
    make = lambda: MLP([2, 64, 3], seed=seed)  # noqa: E731
    assert dg.check_labels(make, X, Y, lambda: Adam(1e-2), seed=seed).passed
    shuffled = np.random.default_rng(seed).permutation(Y)
    r = dg.check_labels(make, X, shuffled, lambda: Adam(1e-2), seed=seed)
    assert r.passed is False and "aligned" in r.fix
    # a learning rate too low to learn anything: the check cannot tell
    r = dg.check_labels(make, X, Y, lambda: Adam(1e-7), seed=seed)
    assert r.passed is None and r.message.startswith("cannot tell")


# --------------------------------------------------------------------------- MSE, update ratios


def _regression(seed=0, n=300):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    y = np.sin(2 * X[:, :1]) + X[:, 1:2]
    return X, (y - y.mean()) / y.std()


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_a_healthy_mse_model_starts_near_chance(activation):
    Xr, yr = _regression()
    for seed in range(10):
        model = MLP([4, 64, 64, 1], activation=activation, loss="mse", seed=seed)
        r = dg.check_initial_loss(model, Xr, yr)
        assert r.passed, r.message
        # the initial loss is the loss of outputting 0 plus the outputs' mean square
        out = model.forward(Xr)
        assert r.numbers["output_power"] == pytest.approx(
            max(np.mean(out**2) - 2 * np.mean(out * yr), 0.0), abs=1e-12)
    big = MLP([4, 64, 64, 1], loss="mse", seed=0)
    for k in big.params:
        if k.startswith("W"):
            big.params[k] *= 10
    assert not dg.check_initial_loss(big, Xr, yr).passed


def test_a_healthy_mse_setup_passes_the_checklist():
    Xr, yr = _regression(0)
    Xv, yv = _regression(1, n=100)
    report = dg.checklist(lambda: MLP([4, 64, 1], loss="mse", seed=0), Xr, yr, Xv, yv,
                          make_optimizer=lambda: Adam(1e-2))
    assert report.passed, str(report)
    assert report["data"].numbers["task"] == "regression"


@pytest.mark.parametrize("lr,symptom,fix", [(1e-9, "too low", "raise"),
                                            (1e3, "too high", "lower")])
def test_update_ratios_judge_sgd_learning_rates(lr, symptom, fix):
    ratios = dg.check_gradients(MLP([2, 64, 3], seed=0), X, Y,
                                optimizer=SGD(lr)).numbers["update_ratios"]
    r = dg.check_update_ratios(ratios)
    assert r.passed is False and r.numbers["symptom"] == symptom and fix in r.fix
    report = dg.checklist(lambda: MLP([2, 64, 3], seed=0), X, Y, X_VAL, Y_VAL,
                          make_optimizer=lambda: SGD(lr))
    assert report.failed == ["learning_rate"], str(report)
    assert fix in report["learning_rate"].fix


def test_update_ratios_of_a_healthy_optimizer_pass():
    # judged over training (the median over epochs), as the checklist does: the first Adam
    # step from initialization moves every weight by about lr, far above the band
    for opt in (Adam(1e-2), SGD(0.1)):
        history = train(MLP([2, 64, 3], seed=0), X, Y, opt, epochs=10, progress=False)
        ratios = {k: float(np.median(v)) for k, v in history.update_ratios.items()}
        assert dg.check_update_ratios(ratios).passed, ratios
        assert all(dg.BANDS["update_ratio"].contains(r) for r in ratios.values())
    first = dg.check_gradients(MLP([2, 64, 3], seed=0), X, Y,
                               optimizer=Adam(1e-2)).numbers["update_ratios"]
    assert max(first.values()) > dg.BANDS["update_ratio"].high


# --------------------------------------------------------------------------- the plot


def test_plot_shows_every_layer_and_no_empty_panel():
    report = dg.checklist(lambda: MLP([2, 16, 16, 3], seed=0), X, Y, X_VAL, Y_VAL,
                          make_optimizer=lambda: Adam(1e-2), epochs=3)
    fig = report.plot()
    drawn = [ax for ax in fig.axes if ax.axison]
    assert len(drawn) == 4  # curves, LR range test, two hidden layers
    assert [ax.get_title().split("\n")[0] for ax in drawn[2:]] == ["layer 1 relu", "layer 3 relu"]
    assert all(ax.has_data() for ax in drawn)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    stopped = dg.checklist(lambda: MLP([2, 16, 3], seed=0), Xn, Y)
    fig = stopped.plot()
    assert not any(ax.axison for ax in fig.axes)
    assert "data failed" in fig.axes[0].texts[0].get_text()


def test_activation_histograms_one_panel_per_layer():
    from gradcheck_edu.plots import plot_activation_histograms

    stats = dg.activation_stats(MLP([2, 16, 16, 3], activation="tanh", seed=0), X)
    fig = plot_activation_histograms(stats, title="tanh network")
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == ["layer 1 tanh", "layer 3 tanh"]
    assert all(ax.has_data() for ax in fig.axes) and fig._suptitle.get_text() == "tanh network"
