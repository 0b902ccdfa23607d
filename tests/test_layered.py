"""The structure-aware path: same central differences as the generic path, far fewer flops."""

import numpy as np
import pytest
from helpers import loss_data, model_state

import gradcheck_edu as ge
from gradcheck_edu.layered import LayeredLoss
from gradcheck_edu.layered.losses import data_loss, data_loss_change

ACTS = {
    None: (lambda z: z, lambda z, a: np.ones_like(z)),
    "tanh": (np.tanh, lambda z, a: 1 - a**2),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
    "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(float)),
    ("leaky_relu", 0.01): (lambda z: np.where(z > 0, z, 0.01 * z),
                           lambda z, a: np.where(z > 0, 1.0, 0.01)),
}


class Dense:
    """A tiny dense network written independently of gradcheck_edu.nn, describing itself."""

    def __init__(self, sizes, activation="tanh", loss="softmax_cross_entropy", l2=0.0, seed=0,
                 describe=True):
        rng = np.random.default_rng(seed)
        self.params = {}
        for k, (m, n) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            self.params[f"W{k}"] = rng.standard_normal((m, n)) / np.sqrt(m)
            self.params[f"b{k}"] = 0.1 * rng.standard_normal(n)
        self.n_layers = len(sizes) - 1
        self.activation, self.loss_kind, self.l2 = activation, loss, l2
        self.describe = describe

    def layer_structure(self):
        if not self.describe:
            raise NotImplementedError
        return {"layers": [{"W": f"W{k}", "b": f"b{k}",
                            "activation": self.activation if k < self.n_layers else None}
                           for k in range(1, self.n_layers + 1)],
                "loss": self.loss_kind, "l2": self.l2}

    def _forward(self, X):
        cache, a = [], X
        for k in range(1, self.n_layers + 1):
            z = a @ self.params[f"W{k}"] + self.params[f"b{k}"]
            act = ACTS[self.activation if k < self.n_layers else None][0]
            cache.append((a, z, act(z)))
            a = cache[-1][2]
        return a, cache

    def _data(self, out, y):
        n = len(out)
        if self.loss_kind == "softmax_cross_entropy":
            m = out.max(axis=1, keepdims=True)
            logp = out - m - np.log(np.exp(out - m).sum(axis=1, keepdims=True))
            p = np.exp(logp)
            d = p.copy()
            d[np.arange(n), y] -= 1
            return -np.mean(logp[np.arange(n), y]), d / n
        if self.loss_kind == "binary_cross_entropy":
            loss = np.mean(np.maximum(out, 0) - out * y + np.log1p(np.exp(-np.abs(out))))
            return loss, (1 / (1 + np.exp(-out)) - y) / out.size
        return np.mean((out - y) ** 2), 2 * (out - y) / out.size

    def loss(self, X, y):
        out, _ = self._forward(X)
        reg = 0.5 * self.l2 * sum(np.sum(self.params[f"W{k}"] ** 2)
                                  for k in range(1, self.n_layers + 1))
        return float(self._data(out, y)[0] + reg)

    def loss_and_grads(self, X, y):
        out, cache = self._forward(X)
        loss, dout = self._data(out, y)
        grads = {}
        for k in range(self.n_layers, 0, -1):
            a_in, z, a = cache[k - 1]
            dz = dout * ACTS[self.activation if k < self.n_layers else None][1](z, a)
            grads[f"W{k}"] = a_in.T @ dz + self.l2 * self.params[f"W{k}"]
            grads[f"b{k}"] = dz.sum(axis=0)
            dout = dz @ self.params[f"W{k}"].T
        return self.loss(X, y), grads


def _data(loss, n=32, d=5, c=4, seed=1):
    return loss_data(loss, n, d, c, seed)


@pytest.mark.parametrize("activation", list(ACTS))
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "binary_cross_entropy", "mse"])
def test_fast_path_agrees_with_the_generic_path(activation, loss):
    model = Dense([5, 7, 6, 4], activation, loss, l2=0.01, seed=2)
    X, y = _data(loss)
    fast = ge.check_model(model, X, y, fast=True)
    slow = ge.check_model(model, X, y, fast=False)
    assert ge.relative_error(fast.numerical, slow.numerical) < 1e-8
    assert fast.verdict is slow.verdict and fast.passed
    assert {k: r.verdict for k, r in fast.per_parameter.items()} == \
        {k: r.verdict for k, r in slow.per_parameter.items()}


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "binary_cross_entropy", "mse"])
def test_loss_change_is_accurate_relative_to_the_change(loss):
    # The reference: the same difference of losses in extended precision, good to about 1e-18
    # absolute (a few of its ulps at losses near 1). A float64 difference of two losses is off
    # by ~1e-16, which atol=1e-17 would not let pass.
    ld = np.longdouble
    if np.finfo(ld).eps >= np.finfo(np.float64).eps:
        pytest.skip("np.longdouble is no wider than float64 on this platform")
    rng = np.random.default_rng(0)
    base = rng.standard_normal((9, 4)) * 3
    _, y = _data(loss, n=9, c=4)
    if loss == "softmax_cross_entropy":
        e = np.exp(base - base.max(axis=1, keepdims=True))
        probs = e / e.sum(axis=1, keepdims=True)
    else:
        probs = 1 / (1 + np.exp(-base))
    for scale in (1e-8, 1e-5, 1e-1):
        inc = rng.standard_normal((3, 9, 4)) * scale
        want = (data_loss(loss, base.astype(ld) + inc.astype(ld), y)
                - data_loss(loss, base.astype(ld)[None], y))
        got = data_loss_change(loss, base, probs, inc.copy(), y)
        np.testing.assert_allclose(got, want.astype(np.float64), rtol=1e-12, atol=1e-17)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "binary_cross_entropy", "mse"])
def test_fast_path_central_differences_carry_no_round_off(activation, loss):
    # Through smooth layers the fast path forms each central difference from loss changes
    # computed from the increments, so what is left against backprop is the O(h^2)
    # truncation (about 1e-12 here), far below a difference of two rounded losses (~1e-9).
    model = Dense([5, 7, 6, 4], activation, loss, l2=0.01, seed=2)
    X, y = _data(loss)
    fast = ge.check_model(model, X, y, fast=True)
    assert fast.relative_error < 1e-10


def test_fast_path_values_are_the_perturbed_losses():
    model = Dense([3, 4, 2], "tanh", seed=3)
    X, y = _data("softmax_cross_entropy", n=6, d=3, c=2)
    layered = LayeredLoss(model.layer_structure(), model.params, X, y)
    assert layered.value == pytest.approx(model.loss(X, y), rel=1e-14)
    for name in model.params:
        flat = np.arange(model.params[name].size)
        delta = np.linspace(-0.3, 0.2, flat.size)
        got = layered.perturbed(name, flat, delta)
        for p, i in enumerate(flat):
            arr = model.params[name]
            old = arr.flat[i]
            arr.flat[i] = old + delta[p]
            want = model.loss(X, y)
            arr.flat[i] = old
            assert got[p] == pytest.approx(want, rel=1e-12)


def test_fast_path_catches_the_same_bug_and_restores_the_model():
    model = Dense([5, 6, 4], "sigmoid", seed=4)
    X, y = _data("softmax_cross_entropy")
    before = {k: v.copy() for k, v in model.params.items()}
    good = model.loss_and_grads

    def buggy(X, y):
        loss, g = good(X, y)
        g["b1"] = g["b1"] * 2
        return loss, g

    model.loss_and_grads = buggy
    report = ge.check_model(model, X, y, fast=True)
    assert not report.passed and report.worst(1)[0].name == "b1"
    for k in before:
        np.testing.assert_array_equal(model.params[k], before[k])


def test_fast_path_sampled_and_kinks():
    model = Dense([5, 8, 4], "relu", seed=5)
    X, y = _data("softmax_cross_entropy")
    sampled = ge.check_model(model, X, y, n_samples=10, seed=0, fast=True)
    assert sampled.n_checked == 10 and sampled.passed
    # a ReLU kink inside +-eps: z[0, 3] of the first layer within 1e-8 of zero
    z = X @ model.params["W1"] + model.params["b1"]
    model.params["b1"][3] -= z[0, 3] - 1e-8
    fast = ge.check_model(model, X, y, fast=True)
    slow = ge.check_model(model, X, y, fast=False)
    assert fast.passed and [(r.name, r.index) for r in fast.kinks] == \
        [(r.name, r.index) for r in slow.kinks]


def test_auto_falls_back_when_there_is_no_structure():
    model = Dense([3, 4, 2], "tanh", describe=False)
    X, y = _data("softmax_cross_entropy", n=6, d=3, c=2)
    assert ge.check_model(model, X, y).passed  # fast="auto" uses the generic path
    with pytest.raises(ValueError, match="layer_structure"):
        ge.check_model(model, X, y, fast=True)


def test_a_wrong_description_is_not_trusted():
    model = Dense([3, 4, 2], "tanh")
    model.layer_structure = lambda: {"layers": [{"W": "W1", "b": "b1", "activation": "relu"},
                                                {"W": "W2", "b": "b2", "activation": None}],
                                     "loss": "softmax_cross_entropy", "l2": 0.0}
    X, y = _data("softmax_cross_entropy", n=6, d=3, c=2)
    with pytest.raises(ValueError, match="no longer matches model.loss"):
        ge.check_model(model, X, y, fast=True)
    assert ge.check_model(model, X, y).passed


@pytest.mark.parametrize("activation, steps", [
    # smooth: perturbing layer 1 goes through the Taylor series of layer 2's activation
    ("tanh", (1e-6, -1e-6, 1e-5)),
    ("sigmoid", (1e-6, -1e-6, 1e-5)),
    # ReLU after layer 2 is exactly linear while no pre-activation crosses 0; steps of 1e-1
    # make some cross, and those perturbations must be evaluated exactly
    ("relu", (1e-6, -1e-6, 1e-1, -3e-1)),
    (("leaky_relu", 0.01), (1e-6, -1e-6, 1e-1, -3e-1)),
])
def test_series_path_gives_the_perturbed_losses(activation, steps):
    model = Dense([3, 5, 4, 2], activation, seed=6)
    X, y = _data("softmax_cross_entropy", n=7, d=3, c=2)
    layered = LayeredLoss(model.layer_structure(), model.params, X, y)
    assert layered.series_applies(0)
    for name in ("W1", "b1"):
        arr = model.params[name]
        flat = np.arange(arr.size)
        for h in steps:
            got = layered.perturbed(name, flat, np.full(flat.size, h))
            for i in flat:
                # the same loss up to round-off
                assert got[i] == pytest.approx(_loss_moved(model, arr, i, h, X, y), rel=1e-14)


class Attributes(Dense):
    """A dense network whose layers read their own attributes; params holds the same arrays."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.weights = [self.params[f"W{k}"] for k in range(1, self.n_layers + 1)]

    def _forward(self, X):
        cache, a = [], X
        for k in range(1, self.n_layers + 1):
            z = a @ self.weights[k - 1] + self.params[f"b{k}"]
            act = ACTS[self.activation if k < self.n_layers else None][0]
            cache.append((a, z, act(z)))
            a = cache[-1][2]
        return a, cache

    def loss_and_grads(self, X, y):
        loss, grads = super().loss_and_grads(X, y)
        # the backward pass of the layers, which use self.weights, not params
        out, cache = self._forward(X)
        _, dout = self._data(out, y)
        for k in range(self.n_layers, 0, -1):
            a_in, z, a = cache[k - 1]
            dz = dout * ACTS[self.activation if k < self.n_layers else None][1](z, a)
            grads[f"W{k}"] = a_in.T @ dz + self.l2 * self.weights[k - 1]
            dout = dz @ self.weights[k - 1].T
        return loss, grads


def _aliased_models():
    from gradcheck_edu.nn import MLP

    mlp = MLP([5, 7, 3], activation="tanh", seed=0)
    dense = Attributes([5, 7, 3], "tanh", seed=0)
    return [("mlp", mlp), ("dense", dense)]


@pytest.mark.parametrize("which", ["mlp", "dense"])
def test_a_parameter_the_model_no_longer_reads_is_wrong_on_every_path(which):
    # The aliasing bug: params["W1"] replaced by a copy, so the layers no longer read it. The
    # description still matches model.loss at the unperturbed point; only perturbing the copy
    # shows that model.loss does not move.
    model = dict(_aliased_models())[which]
    X, y = _data("softmax_cross_entropy", n=16, d=5, c=3)
    model.params["W1"] = model.params["W1"].copy()
    for fast in ("auto", False):
        report = ge.check_model(model, X, y, fast=fast)
        assert report.verdict is ge.Verdict.WRONG, (fast, str(report))
        assert report.per_parameter["W1"].verdict is ge.Verdict.WRONG
        assert report.worst(1)[0].name == "W1"
        np.testing.assert_array_equal(report.numerical["W1"], 0.0)  # model.loss does not move
        if fast == "auto":  # the report says why the structure-aware path was not used
            assert "model.params['W1']" in report.note and "generic path" in report.note
    with pytest.raises(ValueError, match=r"W1\[.*model.params\['W1'\].*copy"):
        ge.check_model(model, X, y, fast=True)


def test_the_spot_check_costs_a_few_loss_evaluations_per_parameter():
    model = Dense([5, 7, 6, 4], "tanh", seed=2)
    X, y = _data("softmax_cross_entropy")
    calls = [0]
    loss = model.loss

    def counted(X, y):
        calls[0] += 1
        return loss(X, y)

    model.loss = counted
    report = ge.check_model(model, X, y, fast=True)
    assert report.passed
    # two at theta (determinism), then at most 2 components x 2 sides per parameter
    assert calls[0] <= 2 + 4 * len(model.params)


def test_large_logits_do_not_fail_the_spot_check():
    # confident logits (~50): the loss is small but its round-off is EPS times the logits
    model = Dense([5, 7, 4], "tanh", seed=3)
    model.params["W2"] *= 40
    X, y = _data("softmax_cross_entropy")
    fast = ge.check_model(model, X, y, fast=True)
    slow = ge.check_model(model, X, y, fast=False)
    assert ge.relative_error(fast.numerical, slow.numerical) < 1e-6
    assert fast.verdict is slow.verdict


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "mse"])
def test_single_output_targets_of_shape_n_take_the_fast_path(loss):
    from gradcheck_edu.nn import MLP

    model = MLP([5, 7, 6, 1], activation="tanh", loss=loss, seed=1)
    X = np.random.default_rng(0).standard_normal((16, 5))
    y = np.random.default_rng(1).integers(0, 2, 16).astype(float)  # shape (16,), as MLP takes
    fast = ge.check_model(model, X, y, fast=True)  # raised ValueError when y was not reshaped
    slow = ge.check_model(model, X, y, fast=False)
    assert ge.relative_error(fast.numerical, slow.numerical) < 1e-8
    assert fast.verdict is slow.verdict and fast.passed


@pytest.mark.parametrize("act, loss, sizes, seed", [
    ("sigmoid", "softmax_cross_entropy", [6, 9, 8, 7, 5, 3], 2),
    ("sigmoid", "binary_cross_entropy", [4, 6, 5, 6, 3], 0),
])
def test_each_path_is_judged_by_its_own_round_off(act, loss, sizes, seed):
    # Deep sigmoid networks: W1's gradient is small, so the generic path's round-off alone puts
    # its relative error near 1e-7 while the structure-aware path is at 1e-11. Each is judged by
    # the round-off of the path that computed it: the generic path resolves W1 only to its
    # round-off (ACCEPTABLE, its note says so with the number), the structure-aware path far
    # better (EXCELLENT). Both pass; no number is printed outside its verdict's band without
    # a note that says which number decided.
    from gradcheck_edu.nn import MLP

    rng = np.random.default_rng(100 + seed)
    model = MLP(sizes, activation=act, loss=loss, seed=seed)
    X = rng.standard_normal((24, sizes[0]))
    y = (rng.integers(0, sizes[-1], 24) if loss == "softmax_cross_entropy"
         else rng.integers(0, 2, (24, sizes[-1])).astype(float))
    fast = ge.check_model(model, X, y, fast=True)
    slow = ge.check_model(model, X, y, fast=False)
    assert ge.relative_error(fast.numerical, slow.numerical) < 1e-8
    for name in fast.per_parameter:
        f_row, s_row = fast.per_parameter[name], slow.per_parameter[name]
        assert f_row.passed and s_row.passed and f_row.verdict <= s_row.verdict
        for row in (f_row, s_row):
            assert ge.classify_relative_error(row.relative_error) == row.verdict or row.note
    w1 = slow.per_parameter["W1"]
    assert w1.verdict is ge.Verdict.ACCEPTABLE
    assert fast.per_parameter["W1"].verdict is ge.Verdict.EXCELLENT
    assert fast.verdict is ge.Verdict.EXCELLENT and slow.verdict is ge.Verdict.ACCEPTABLE
    assert "decided by" in slow.note


@pytest.mark.parametrize("activation, h", [("tanh", 1e-6), ("tanh", 1e-1), ("relu", 1e-6),
                                           ("relu", 1e-1)])
def test_work_memory_is_bounded_by_the_chunk_budget(activation, h):
    # One column group of W1 in [400, 40, 160, 160, 4] at batch 64: unchunked, the series buffer
    # (400 x 64 x 160 floats) and the exact pass for a step too large for the series are 33 MB
    # each. Chunked by a 1 MB budget, everything the call allocates (work arrays, and the caches
    # of transposes and coefficients, about 0.5 MB here) stays within a few budgets.
    import tracemalloc

    model = Dense([400, 40, 160, 160, 4], activation, seed=7)
    X, y = _data("softmax_cross_entropy", n=64, d=400, c=4)
    budget = 2**20
    for name, idx in (("W1", np.arange(400) * 40), ("W2", np.arange(40) * 160),
                      ("b3", np.arange(160))):
        delta = np.full(idx.size, h)
        small = LayeredLoss(model.layer_structure(), model.params, X, y, chunk_bytes=budget)
        tracemalloc.start()
        got = small.change(name, idx, delta)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 6 * budget, (name, peak)
        whole = LayeredLoss(model.layer_structure(), model.params, X, y)  # 2 MB chunks
        np.testing.assert_allclose(got, whole.change(name, idx, delta), rtol=1e-10, atol=1e-18)


# --------------------------------------------------------------------------- batch norm, dropout

MLP_ACTS = ["tanh", "sigmoid", "relu", "leaky_relu"]
CONFIGS = {"batchnorm": {"batchnorm": True}, "dropout": {"dropout": 0.3},
           "both": {"batchnorm": True, "dropout": 0.3}}


def _mlp(activation, loss, config, sizes=(5, 7, 6, 4), seed=2):
    from gradcheck_edu.nn import MLP

    model = MLP(list(sizes), activation=activation, loss=loss, l2=0.01, seed=seed,
                **CONFIGS[config])
    model.freeze_dropout(seed=1)
    return model


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("activation", MLP_ACTS)
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "binary_cross_entropy", "mse"])
def test_batchnorm_and_dropout_agree_with_the_generic_path(config, activation, loss):
    model = _mlp(activation, loss, config)
    X, y = _data(loss, n=16)
    state = model_state(model)
    fast = ge.check_model(model, X, y, fast=True)  # raised ValueError before: no description
    assert model_state(model) == state  # running statistics and parameters untouched
    slow = ge.check_model(model, X, y, fast=False)
    assert "generic path" not in fast.note
    assert ge.relative_error(fast.numerical, slow.numerical) < 1e-8
    # Each path is judged by its own round-off: where they differ (a batch-norm scale or shift
    # whose small gradient the generic path resolves only to ~1e-7), the structure-aware one is
    # the better resolved; every row passes on both, and no verdict leaves its band unexplained.
    assert fast.passed and slow.passed and fast.verdict <= slow.verdict
    for name in fast.per_parameter:
        f_row, s_row = fast.per_parameter[name], slow.per_parameter[name]
        assert f_row.passed and s_row.passed and f_row.verdict <= s_row.verdict
        for row in (f_row, s_row):
            assert ge.classify_relative_error(row.relative_error) == row.verdict or row.note


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("activation", MLP_ACTS)
def test_batchnorm_and_dropout_perturbed_losses(config, activation):
    # Small steps take the series (through a smooth activation after batch norm, without the
    # cube or with it), large ones the exact passes; every value is model.loss's.
    model = _mlp(activation, "softmax_cross_entropy", config, sizes=(3, 5, 4, 2), seed=6)
    X, y = _data("softmax_cross_entropy", n=7, d=3, c=2)
    layered = LayeredLoss(model.layer_structure(), model.params, X, y)
    assert layered.value == pytest.approx(model.loss(X, y), rel=1e-14)
    for name, arr in model.params.items():
        flat = np.arange(arr.size)
        for h in (1e-6, -1e-6, 2e-5, 1e-1, -3e-1):
            got = layered.perturbed(name, flat, np.full(flat.size, h))
            for i in flat:
                want = _loss_moved(model, arr, i, h, X, y)
                assert got[i] == pytest.approx(want, rel=1e-13, abs=1e-15), (name, i, h)


def test_batchnorm_and_dropout_describe_the_models_own_arithmetic():
    from gradcheck_edu.nn import Dropout

    model = _mlp("tanh", "softmax_cross_entropy", "both")
    X, y = _data("softmax_cross_entropy", n=16)
    structure = model.layer_structure()
    assert structure["layers"][0]["batchnorm"] == {"gamma": "gamma1", "beta": "beta1",
                                                   "eps": 1e-5}
    assert "batchnorm" not in structure["layers"][-1] and "dropout" not in structure["layers"][-1]
    model.loss(X, y)
    drops = [layer for layer in model.layers if isinstance(layer, Dropout)]
    for spec, drop in zip(structure["layers"], drops):
        np.testing.assert_array_equal(spec["dropout"](drop.mask.shape), drop.mask)
    layered = LayeredLoss(structure, model.params, X, y)
    assert layered.names() == list(model.params)
    assert abs(layered.value - model.loss(X, y)) <= 1e-15 * abs(layered.value)


def test_dropout_drawn_afresh_has_no_description():
    from gradcheck_edu.nn import MLP

    model = MLP([5, 7, 4], dropout=0.3, seed=0)
    with pytest.raises(NotImplementedError, match="freeze_dropout"):
        model.layer_structure()
    X, y = _data("softmax_cross_entropy", n=16)
    with pytest.raises(ValueError, match="not deterministic"):
        ge.check_model(model, X, y)  # the generic path says why


def test_a_batchnorm_bug_in_the_forward_is_not_trusted():
    # The model normalizes with its running statistics in training mode: the description
    # (batch statistics) no longer reproduces model.loss, so the generic path checks it.
    model = _mlp("tanh", "softmax_cross_entropy", "batchnorm")
    for layer in model.layers:
        if hasattr(layer, "running_mean"):
            layer.forward = (lambda f: lambda x, training=True: f(x, training=False))(
                layer.forward)
    X, y = _data("softmax_cross_entropy", n=16)
    with pytest.raises(ValueError, match="no longer matches model.loss"):
        ge.check_model(model, X, y, fast=True)
    auto, slow = ge.check_model(model, X, y), ge.check_model(model, X, y, fast=False)
    np.testing.assert_array_equal(ge.flatten(auto.numerical)[0], ge.flatten(slow.numerical)[0])


def _loss_moved(model, arr, i, h, X, y):
    """model.loss with entry i of arr moved by h, put back afterwards."""
    old = arr.flat[i]
    try:
        arr.flat[i] = old + h
        return model.loss(X, y)
    finally:
        arr.flat[i] = old
