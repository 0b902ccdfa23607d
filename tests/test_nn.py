"""The MLP: every layer and model passes the checker; an independent autodiff agrees."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad as agrad
from helpers import loss_data as _data

import gradcheck_edu as ge
from gradcheck_edu import bugs
from gradcheck_edu.datasets import blobs, moons, spiral, xor
from gradcheck_edu.nn import (
    MLP,
    Adam,
    BatchNorm1d,
    Dropout,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    Tanh,
    train,
)

ACTIVATIONS = ["relu", "leaky_relu", "tanh", "sigmoid"]
LOSSES = ["softmax_cross_entropy", "binary_cross_entropy", "mse"]




@pytest.mark.parametrize("layer", [Linear(4, 3, rng=0), Linear(4, 3, init="xavier", rng=1),
                                   ReLU(), LeakyReLU(), Tanh(), Sigmoid(), BatchNorm1d(4)],
                         ids=repr)
def test_every_layer_passes_check_layer(layer):
    x = np.random.default_rng(2).standard_normal((5, 4)) + 0.1
    report = ge.check_layer(layer, x)
    assert report.passed, str(report)
    assert list(report.per_parameter) == ["x", *layer.params]


def test_batchnorm_in_eval_mode_and_dropout_with_a_frozen_mask():
    bn = BatchNorm1d(4)
    bn.forward(np.random.default_rng(0).standard_normal((6, 4)) * 3 + 1)  # move running stats
    bn.forward = (lambda f: lambda x, training=True: f(x, training=False))(bn.forward)
    assert ge.check_layer(bn, np.ones((3, 4))).passed
    drop = Dropout(0.5, rng=0)
    with pytest.raises(ValueError, match="not deterministic"):
        ge.check_layer(drop, np.ones((3, 4)))
    drop.freeze(seed=1)
    assert ge.check_layer(drop, np.ones((3, 4))).passed


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_smooth_models_are_excellent_over_many_seeds(activation):
    for seed in range(10):
        model = MLP([3, 6, 5, 4], activation=activation, l2=0.01, seed=seed)
        X, y = _data("softmax_cross_entropy", seed=seed)
        report = ge.check_model(model, X, y, fast=False)
        assert report.relative_error < 1e-7, str(report)


def test_relu_models_pass_with_kinks_reported():
    for seed in range(5):
        model = MLP([3, 8, 4], activation="relu", seed=seed)
        X, y = _data("softmax_cross_entropy", seed=seed)
        # push a pre-activation within 1e-8 of zero: a kink inside +-eps
        z = X @ model.params["W1"] + model.params["b1"]
        model.params["b1"][2] -= z[0, 2] - 1e-8
        report = ge.check_model(model, X, y)
        assert report.passed and report.kinks, str(report)


@pytest.mark.parametrize("loss", LOSSES)
def test_batchnorm_and_dropout_models(loss):
    model = MLP([3, 6, 5, 4], activation="tanh", loss=loss, batchnorm=True, dropout=0.3, seed=3)
    model.freeze_dropout(seed=0)
    X, y = _data(loss)
    assert ge.check_model(model, X, y).passed


def _autograd_loss(model, X, y):
    """The same network written with autograd.numpy, from the description alone."""
    names = list(model.params)
    act = {"relu": lambda z: anp.maximum(z, 0), "tanh": anp.tanh,
           "sigmoid": lambda z: 1 / (1 + anp.exp(-z)),
           "leaky_relu": lambda z: anp.where(z > 0, z, 0.01 * z)}[model.activation]
    L = len(model.layer_sizes) - 1

    def loss(flat_params):
        ps = dict(zip(names, flat_params))
        a = X
        for k in range(1, L + 1):
            a = anp.dot(a, ps[f"W{k}"]) + ps[f"b{k}"]
            if k < L:
                a = act(a)
        if model.loss_name == "softmax_cross_entropy":
            m = anp.max(a, axis=1, keepdims=True)
            logp = a - m - anp.log(anp.sum(anp.exp(a - m), axis=1, keepdims=True))
            data = -anp.mean(logp[np.arange(len(y)), y])
        elif model.loss_name == "binary_cross_entropy":
            data = anp.mean(anp.maximum(a, 0) - a * y + anp.log1p(anp.exp(-anp.abs(a))))
        else:
            data = anp.mean((a - y) ** 2)
        reg = 0.5 * model.l2 * sum(anp.sum(ps[f"W{k}"] ** 2) for k in range(1, L + 1))
        return data + reg

    return loss, names


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", LOSSES)
def test_independent_autodiff_agrees(activation, loss):
    model = MLP([3, 7, 5, 4], activation=activation, loss=loss, l2=0.05, seed=4)
    X, y = _data(loss, seed=5)
    f, names = _autograd_loss(model, X, y)
    auto = agrad(f)([model.params[k] for k in names])
    value, grads = model.loss_and_grads(X, y)
    assert value == pytest.approx(f([model.params[k] for k in names]), rel=1e-12)
    assert ge.relative_error([grads[k] for k in names], list(auto)) < 1e-10


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_returns_the_input_gradient(activation):
    # loss_and_grads skips dL/dX (training does not need it); backward still returns it on request
    model = MLP([3, 7, 5, 4], activation=activation, seed=6)
    X, y = _data("softmax_cross_entropy", seed=7)
    names = list(model.params)
    params = [model.params[k] for k in names]

    def loss_of_x(Xv):
        return _autograd_loss(model, Xv, y)[0](params)

    out = model.forward(X)
    _, dout = model.loss_fn(out, y)
    dX = model.backward(dout)
    assert ge.relative_error(dX, agrad(loss_of_x)(X)) < 1e-10
    assert model.backward(dout, input_grad=False) is None


def test_params_are_the_layers_arrays():
    model = MLP([2, 4, 3], seed=0)
    X, y = _data("softmax_cross_entropy", d=2, c=3)
    before = model.loss(X, y)
    model.params["W1"][0, 0] += 0.5
    assert model.loss(X, y) != before
    assert model.params["W1"] is model.layers[0].params["W"]


def test_float32_stays_float32():
    model = MLP([2, 4, 3], dtype=np.float32)
    X, y = _data("softmax_cross_entropy", d=2, c=3)
    out, acts = model.forward(X, return_activations=True)
    assert out.dtype == np.float32 and all(a.dtype == np.float32 for a in acts)
    _, grads = model.loss_and_grads(X, y)
    assert all(g.dtype == np.float32 for g in grads.values())


def test_loss_parts_and_regularization():
    model = MLP([2, 4, 3], l2=0.3, seed=1)
    X, y = _data("softmax_cross_entropy", d=2, c=3)
    data, reg = model.loss_parts(X, y)
    expected = 0.15 * (np.sum(model.params["W1"] ** 2) + np.sum(model.params["W2"] ** 2))
    assert reg == pytest.approx(expected) and model.loss(X, y) == pytest.approx(data + reg)


def test_spiral_reaches_95_percent():
    X, y = spiral(100, 3)
    model = MLP([2, 100, 3], seed=0)
    history = train(model, X, y, Adam(1e-2), epochs=100, batch_size=64, progress=False)
    assert history.train_acc[-1] >= 0.95
    assert history.train_loss[-1] < history.train_loss[0]
    assert set(history.update_ratios) == {"W1", "W2"}


@pytest.mark.parametrize("bad, match", [
    (lambda X, y: (X[:, :2], y), r"shape \(N, 3\)"),
    (lambda X, y: (np.where(np.arange(3) == 1, np.nan, X), y), "NaN"),
    (lambda X, y: (X, y + 10), r"\[0, 4\)"),
    (lambda X, y: (X, y[:, None]), "shape"),
])
def test_bad_input_is_named_and_leaves_the_model_unchanged(bad, match):
    model = MLP([3, 5, 4], seed=0)
    X, y = _data("softmax_cross_entropy")
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(ValueError, match=match):
        model.loss_and_grads(*bad(X, y))
    assert all(np.array_equal(before[k], model.params[k]) for k in before)


def test_datasets_are_seeded():
    for make in (spiral, xor, moons, blobs):
        X1, y1 = make(seed=3)
        X2, y2 = make(seed=3)
        assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
        assert X1.shape[0] == y1.shape[0] and y1.dtype == np.int64


# --------------------------------------------------------------------------- the bug zoo


@pytest.mark.parametrize("bug", bugs.catalog(), ids=lambda b: b.name)
def test_every_bug_is_caught_where_it_is(bug):
    model = bugs.make_model(bug, seed=1)
    model.freeze_dropout(0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, model.layer_sizes[0]))
    y = rng.integers(0, model.layer_sizes[-1], 16)
    before = {k: v.copy() for k, v in model.params.items()}
    report = ge.check_model(bugs.inject(model, bug.name), X, y)
    assert not report.passed, str(report)
    if bug.corrupts != ("*",):
        assert {row.name for row in report.worst(3)} <= set(bug.corrupts), str(report)
    assert ge.check_model(model, X, y).passed  # the original is untouched
    assert all(np.array_equal(before[k], model.params[k]) for k in before)


def test_catalog_has_at_least_eight_documented_bugs():
    items = bugs.catalog()
    assert len(items) >= 8 and len({b.name for b in items}) == len(items)
    assert all(b.description and isinstance(b.requires, dict) for b in items)
    with pytest.raises(ValueError, match="catalog"):
        bugs.inject(MLP([2, 3, 2]), "no_such_bug")


@pytest.mark.parametrize("bug", bugs.catalog(), ids=lambda b: b.name)
def test_no_false_alarm_across_20_seeds(bug):
    for seed in range(20):
        model = bugs.make_model(bug, seed=seed)
        model.freeze_dropout(seed)
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((8, model.layer_sizes[0]))
        y = rng.integers(0, model.layer_sizes[-1], 8)
        assert ge.check_model(model, X, y).passed
