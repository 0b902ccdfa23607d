"""The MLP: every layer and model passes the checker; an independent autodiff agrees."""

import re

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad as agrad
from helpers import loss_data as _data
from helpers import model_state

import gradcheck_edu as ge
from gradcheck_edu import bugs
from gradcheck_edu.datasets import blobs, moons, spiral, xor
from gradcheck_edu.nn import (
    MLP,
    SGD,
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


_BAD = {
    "X too narrow": (lambda X, y: (X[:, :2], y), r"shape \(N, 3\)"),
    "X too wide": (lambda X, y: (np.c_[X, X], y), r"shape \(N, 3\)"),
    "NaN in X": (lambda X, y: (np.where(np.arange(3) == 1, np.nan, X), y), "NaN"),
    "Inf in X": (lambda X, y: (np.where(np.arange(3) == 2, -np.inf, X), y), "Inf"),
    "X of strings": (lambda X, y: (X.astype(str), y), "strings"),
    "X complex": (lambda X, y: (X + 1j, y), "complex"),
    "label too large": (lambda X, y: (X, np.where(np.arange(len(y)) == 11, 4, y)), r"\[0, 4\)"),
    "label negative": (lambda X, y: (X, np.where(np.arange(len(y)) == 0, -1, y)), r"\[0, 4\)"),
    "y a column": (lambda X, y: (X, y[:, None]), "shape"),
    "y too short": (lambda X, y: (X, y[:-1]), "shape"),
    "y of strings": (lambda X, y: (X, np.array(list("abcd"))[y]), "integer"),
    "y boolean": (lambda X, y: (X, y > 1), "boolean"),
    "y fractions": (lambda X, y: (X, y + 0.5), "integer"),
    "one sample for batch norm": (lambda X, y: (X[:1], y[:1]), "at least 2 samples"),
}


@pytest.mark.parametrize("method, case", [
    (method, case) for method in ("loss_and_grads", "loss", "loss_parts", "forward")
    for case in _BAD if method != "forward" or case.startswith(("X", "NaN", "Inf", "one"))])
def test_bad_input_is_named_and_leaves_the_model_unchanged(method, case):
    # Batch norm and (unfrozen) dropout: a forward in training mode would move the running
    # statistics and the dropout stream, so the input must be checked before any forward.
    bad, match = _BAD[case]
    model = MLP([3, 5, 5, 4], batchnorm=True, dropout=0.3, seed=0)
    X, y = _data("softmax_cross_entropy")
    model.loss_and_grads(X, y)  # move the statistics off their initial values
    before = model_state(model)
    Xb, yb = bad(X, y)
    call = {"forward": lambda: model.forward(Xb)}.get(method,
                                                       lambda: getattr(model, method)(Xb, yb))
    with pytest.raises(ValueError, match=match):
        call()
    assert model_state(model) == before
    model.loss_and_grads(X, y)  # and a good call does change the state: the test can see it
    assert model_state(model) != before


@pytest.mark.parametrize("case", [c for c in _BAD if c != "one sample for batch norm"])
def test_bad_input_in_evaluation_mode(case):
    bad, match = _BAD[case]
    model = MLP([3, 5, 4], batchnorm=True, dropout=0.3, seed=0)
    X, y = _data("softmax_cross_entropy")
    before = model_state(model)
    Xb, yb = bad(X, y)
    with pytest.raises(ValueError, match=match):
        model.accuracy(Xb, yb)
    with pytest.raises(ValueError, match=match):
        model.loss(Xb, yb, training=False)
    assert model_state(model) == before


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "mse"])
def test_bad_targets_for_regression_losses(loss):
    model = MLP([3, 5, 4], loss=loss, batchnorm=True, seed=0)
    X, y = _data(loss)
    before = model_state(model)
    bad = [(y[:, :2], "shape"), (np.where(y > 0.5, np.nan, y), "NaN"),
           (np.full(y.shape, "a"), "numbers")]
    if loss == "binary_cross_entropy":
        bad.append((y + 1, r"\[0, 1\]"))
    for yb, match in bad:
        with pytest.raises(ValueError, match=match):
            model.loss_and_grads(X, yb)
    assert model_state(model) == before
    if loss == "binary_cross_entropy":  # 0/1 targets may be boolean
        assert model.loss(X, y > 0.5, training=False) == model.loss(X, y, training=False)


@pytest.mark.parametrize("kw, error, match", [
    ({"dropout": -0.5}, ValueError, r"dropout .*\[0, 1\).*-0.5"),
    ({"dropout": 1.0}, ValueError, "dropout"),
    ({"dropout": np.nan}, ValueError, "dropout"),
    ({"l2": np.nan}, ValueError, "l2 must be a finite number"),
    ({"l2": np.inf}, ValueError, "l2"),
    ({"l2": -0.1}, ValueError, "l2 must be"),
    ({"l2": "0.1"}, TypeError, "l2 must be a number"),
    ({"dtype": np.int32}, TypeError, "float dtype.*int32"),
    ({"dtype": np.complex128}, TypeError, "float dtype"),
    ({"dtype": "banana"}, TypeError, "float dtype"),
    ({"layer_sizes": [2.5, 3, 2]}, ValueError, "whole numbers, got 2.5"),
    ({"layer_sizes": [3, np.nan, 2]}, ValueError, "whole numbers"),
    ({"layer_sizes": [True, 3, 2]}, TypeError, "ints, got True"),
    ({"layer_sizes": ["3", 3, 2]}, TypeError, "ints"),
    ({"layer_sizes": "32"}, TypeError, "list of ints"),
    ({"layer_sizes": [3]}, ValueError, "at least"),
    ({"layer_sizes": [3, 0, 2]}, ValueError, ">= 1"),
    ({"activation": "softplus"}, ValueError, "activation"),
    ({"loss": "hinge"}, ValueError, "loss"),
])
def test_constructor_arguments_are_checked(kw, error, match):
    sizes = kw.pop("layer_sizes", [3, 4, 2])
    with pytest.raises(error, match=match):
        MLP(sizes, **kw)


def test_constructor_accepts_numpy_numbers_and_whole_floats():
    model = MLP(np.array([3, 4, 2]), l2=np.float32(0.5), dropout=np.float64(0.25))
    assert model.layer_sizes == [3, 4, 2] and all(type(s) is int for s in model.layer_sizes)
    assert MLP([3.0, 4, 2]).layer_sizes == [3, 4, 2]
    assert model.l2 == 0.5 and model.dropout == 0.25


def test_loss_in_evaluation_mode():
    model = MLP([3, 6, 5, 4], activation="tanh", batchnorm=True, dropout=0.4, l2=0.1, seed=2)
    X, y = _data("softmax_cross_entropy")
    for _ in range(3):
        model.loss_and_grads(X + 1, y)  # running statistics away from 0 and 1
    before = model_state(model)
    data, reg = model.loss_parts(X, y, training=False)
    assert model_state(model) == before  # nothing updated, no dropout drawn
    want, _ = model.loss_fn(model.forward(X, training=False), y)
    assert data == want and reg == model.reg_loss()
    assert model.loss(X, y, training=False) == data + reg
    # the default is unchanged: training mode, the function loss_and_grads differentiates
    model.freeze_dropout(3)
    assert model.loss(X, y) == model.loss_and_grads(X, y)[0] != data + reg


def test_freeze_dropout_gives_each_layer_its_own_mask():
    model = MLP([3, 8, 8, 8, 4], dropout=0.5, seed=0)
    model.freeze_dropout(7)
    X, y = _data("softmax_cross_entropy")
    drops = [layer for layer in model.layers if isinstance(layer, Dropout)]
    assert model.loss(X, y) == model.loss(X, y)  # frozen: deterministic
    masks = [d.mask.copy() for d in drops]
    assert all(not np.array_equal(a, b) for i, a in enumerate(masks) for b in masks[i + 1:])
    for k, mask in enumerate(masks, start=1):  # layer k draws from default_rng([seed, k])
        want = (np.random.default_rng([7, k]).random(mask.shape) >= 0.5) / 0.5
        assert np.array_equal(mask, want)
    model.freeze_dropout(8)
    model.loss(X, y)
    assert not np.array_equal(drops[0].mask, masks[0])


def test_batchnorm_running_statistics_as_torch():
    # torch.nn.BatchNorm1d: running_mean <- (1 - m) running_mean + m mean(x);
    # running_var <- (1 - m) running_var + m var(x) N / (N - 1) (unbiased), m = momentum
    rng = np.random.default_rng(0)
    bn = BatchNorm1d(3, momentum=0.1)
    rm, rv = np.zeros(3), np.ones(3)
    for n in (5, 2, 9):
        x = rng.standard_normal((n, 3)) * [1, 2, 3] + [0, 1, -2]
        out = bn.forward(x, training=True)
        rm = 0.9 * rm + 0.1 * x.mean(axis=0)
        rv = 0.9 * rv + 0.1 * x.var(axis=0, ddof=1)
        np.testing.assert_allclose(bn.running_mean, rm, rtol=1e-15, atol=1e-16)
        np.testing.assert_allclose(bn.running_var, rv, rtol=1e-15)
        # the batch itself is normalized with the biased variance
        np.testing.assert_allclose(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), atol=1e-14)
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(bn.forward(x, training=False), (x - rm) / np.sqrt(rv + 1e-5),
                               rtol=1e-14)
    with pytest.raises(ValueError, match="at least 2 samples"):
        bn.forward(x[:1], training=True)
    np.testing.assert_allclose(bn.running_var, rv, rtol=1e-15)
    assert bn.forward(x[:1], training=False).shape == (1, 3)


def test_datasets_are_seeded():
    for make in (spiral, xor, moons, blobs):
        X1, y1 = make(seed=3)
        X2, y2 = make(seed=3)
        assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
        assert X1.shape[0] == y1.shape[0] and y1.dtype == np.int64


# --------------------------------------------------------------------------- the bug zoo


def _zoo_check(bug, sizes, seed):
    model = bugs.make_model(bug, seed=seed, layer_sizes=sizes)
    model.freeze_dropout(seed)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((16, model.layer_sizes[0]))
    y = rng.integers(0, model.layer_sizes[-1], 16)
    before = model_state(model)
    report = ge.check_model(bugs.inject(model, bug.name), X, y)
    assert ge.check_model(model, X, y).passed  # the original is untouched
    assert model_state(model) == before
    return model, report


@pytest.mark.parametrize("bug", bugs.catalog(), ids=lambda b: b.name)
@pytest.mark.parametrize("sizes", [None, [4, 8, 8, 3]], ids=["default", "deeper"])
def test_every_bug_is_caught_where_it_is(bug, sizes):
    for seed in range(5):
        model, report = _zoo_check(bug, sizes or bugs.make_model(bug).layer_sizes, seed)
        corrupted = set(bug.corrupted_params(model))
        assert not report.passed, str(report)
        assert {row.name for row in report.worst(3)} <= corrupted, str(report)
        failing = {k for k, row in report.per_parameter.items()
                   if row.verdict > ge.Verdict.CANNOT_TELL}
        assert failing == corrupted, str(report)
        # the rest pass, or (a zero bias behind a dead ReLU: every component a valid
        # subgradient at a kink) were not measured and say so
        for k, row in report.per_parameter.items():
            assert k in failing or row.passed or row.decided_by == "nothing measured", str(report)


def test_corrupted_params_follow_the_model():
    deep = {bug.name: bug.corrupted_params(bugs.make_model(bug, layer_sizes=[4, 8, 8, 3]))
            for bug in bugs.catalog()}
    assert deep["l2_missing_in_gradient"] == ("W1", "W2", "W3")
    assert deep["sign_error"] == ("W3",)
    assert deep["bias_grad_wrong_axis"] == ("b1",)
    assert deep["missing_1_over_m"] == ("W1", "b1", "W2", "b2", "W3", "b3")
    assert deep["wrong_transpose"] == ("W1", "b1")  # W2 (8 x 8) is square; dx flows into layer 1
    bn = bugs.make_model("tanh_derivative_not_squared", layer_sizes=[4, 8, 8, 3], batchnorm=True)
    assert bugs.catalog()[8].corrupted_params(bn) == ("W1", "b1", "gamma1", "beta1")
    for bug in bugs.catalog():  # corrupts: the same, for the model make_model(bug) builds
        assert bug.corrupts == bug.corrupted_params(bugs.make_model(bug))


# a value of each MLP keyword that breaks a requirement
_VIOLATE = {"l2": 0.0, "dropout": 0.0, "batchnorm": False, "loss": "mse",
            "layer_sizes": [3, 6, 4], "activation": None}


@pytest.mark.parametrize("bug", [b for b in bugs.catalog() if b.requires], ids=lambda b: b.name)
def test_inject_enforces_requires(bug):
    model = bugs.make_model(bug)
    assert bug.unmet(model) == []
    for keyword, need in bug.requires.items():
        value = _VIOLATE[keyword]
        if keyword == "activation":
            value = "relu" if need.example != "relu" else "tanh"
        wrong = bugs.make_model(bug, **{keyword: value})
        before = model_state(wrong)
        with pytest.raises(ValueError, match=rf"needs {re.escape(need.condition)}.*MLP\(\.\.\., "
                                             rf"{keyword}="):
            bugs.inject(wrong, bug.name)
        assert model_state(wrong) == before


def test_inject_messages():
    with pytest.raises(ValueError, match=r"needs l2 > 0 \(it has l2=0.0\): build the model with "
                                         r"MLP\(\.\.\., l2=0.5\)"):
        bugs.inject(MLP([3, 5, 4], l2=0), "l2_missing_in_gradient")
    with pytest.raises(ValueError, match="loss='softmax_cross_entropy'"):
        bugs.inject(MLP([3, 5, 4], loss="mse"), "softmax_no_onehot")
    # at l2 = 0 the bug has nothing to break: strict=False shows that it hides
    m = MLP([3, 5, 4], activation="tanh", l2=0, seed=0)
    X, y = _data("softmax_cross_entropy")
    assert ge.check_model(bugs.inject(m, "l2_missing_in_gradient", strict=False), X, y).passed


def test_catalog_has_at_least_eight_documented_bugs():
    items = bugs.catalog()
    assert len(items) >= 8 and len({b.name for b in items}) == len(items)
    assert all(b.description and isinstance(b.requires, dict) for b in items)
    assert all(isinstance(n, bugs.Need) for b in items for n in b.requires.values())
    assert repr(items[4].requires) == "l2 > 0" and not items[0].requires
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


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_initial_loss_is_near_chance(activation, n_classes):
    # "Init well": a small output layer makes the untrained logits ~0, so the loss starts at
    # -ln(1/C) on standardized data, whatever the seed (at full He scale: up to 5x chance).
    ratios = []
    for seed in range(10):
        X, y = blobs(300, n_classes, n_features=10, seed=seed)
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        model = MLP([10, 64, n_classes], activation=activation, seed=seed)
        ratios.append(model.loss(X, y) / np.log(n_classes))
    assert 0.8 < min(ratios) and max(ratios) < 1.35, ratios


def _reference_training(model, X, y, lr, steps):
    """A few SGD steps of the same network, written out plainly: fresh arrays everywhere."""
    params = {k: v.copy() for k, v in model.params.items()}
    L = len(model.layer_sizes) - 1
    slope = 0.01 if model.activation == "leaky_relu" else 0.0
    n = X.shape[0]
    for _ in range(steps):
        acts, zs = [X], []
        for k in range(1, L + 1):
            z = acts[-1] @ params[f"W{k}"] + params[f"b{k}"]
            zs.append(z)
            acts.append(np.where(z > 0, z, slope * z) if k < L else z)
        out = acts[-1]
        shifted = out - out.max(axis=1, keepdims=True)
        p = np.exp(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))
        p[np.arange(n), y] -= 1
        dz = p / n
        grads = {}
        for k in range(L, 0, -1):
            grads[f"W{k}"] = acts[k - 1].T @ dz
            grads[f"b{k}"] = dz.sum(axis=0)
            if k > 1:
                dz = (dz @ params[f"W{k}"].T) * np.where(zs[k - 2] > 0, 1.0, slope)
        for k in params:
            params[k] = params[k] - lr * grads[k]
    return params


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-4)])
def test_training_steps_equal_a_plain_reference(activation, dtype, rtol):
    # The in-place ReLU and its reused mask change no arithmetic: three SGD steps give the
    # reference's parameters up to rounding.
    model = MLP([300, 130, 20, 4], activation=activation, seed=4, dtype=dtype)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((32, 300)).astype(dtype)
    y = rng.integers(0, 4, 32)
    want = _reference_training(model, X, y, lr=0.5, steps=3)
    opt = SGD(0.5)
    for _ in range(3):
        _, grads = model.loss_and_grads(X, y)
        opt.step(model.params, grads)
    for k, v in model.params.items():
        assert v.dtype == dtype
        moved = np.abs(want[k] - model.params[k]).max()
        np.testing.assert_allclose(v, want[k], rtol=rtol, atol=rtol * np.abs(want[k]).max(),
                                   err_msg=f"{k} (max difference {moved:.1e})")
