"""train(): argument checks, evaluation-mode metrics, non-finite losses, callbacks, progress."""

import io
import math
import subprocess
import sys
import types

import numpy as np
import pytest
from helpers import model_state

from gradcheck_edu.datasets import blobs
from gradcheck_edu.nn import MLP, SGD, Adam, train


class Recorder:
    """An optimizer that records each step's gradients and parameters, then does plain SGD."""

    def __init__(self, lr=0.1):
        self.lr, self.steps = lr, []

    def step(self, params, grads):
        before = {k: v.copy() for k, v in params.items()}
        for k, p in params.items():
            p -= self.lr * grads[k]
        self.steps.append(({k: np.array(g) for k, g in grads.items()}, before,
                           {k: v.copy() for k, v in params.items()}))


class Line:
    """A duck-typed model, least squares ``mean((X w - y)^2)``, whose loss turns non-finite
    from step ``bad`` on (counting from 1), if given. ``loss`` has no ``training`` keyword."""

    def __init__(self, bad=None, value=np.nan):
        self.params = {"W1": np.array([0.5, -0.25])}
        self.bad, self.value, self.calls = bad, value, 0

    def loss(self, X, y):
        r = X @ self.params["W1"] - y
        return float(np.mean(r**2))

    def loss_and_grads(self, X, y):
        self.calls += 1
        r = X @ self.params["W1"] - y
        g = {"W1": 2 * X.T @ r / len(y)}  # d/dw mean((Xw - y)^2) = 2 X^T (Xw - y) / N
        if self.bad is not None and self.calls >= self.bad:
            return self.value, g
        return float(np.mean(r**2)), g


def _line_data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    return X, X @ np.array([1.0, 2.0])


# ------------------------------------------------------------------------------ arguments


@pytest.mark.parametrize("kw, match", [
    ({"epochs": 0}, "epochs must be a positive integer, got 0"),
    ({"epochs": -3}, "epochs"), ({"epochs": 2.5}, "epochs"), ({"epochs": True}, "epochs"),
    ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ({"batch_size": -4}, "batch_size"), ({"batch_size": 4.0}, "batch_size"),
    ({"batch_size": "8"}, "batch_size"),
    ({"X_val": np.ones((3, 3))}, "both X_val and y_val"),
    ({"y_val": np.zeros(3, int)}, "both X_val and y_val"),
])
def test_bad_arguments_are_named_and_nothing_is_trained(kw, match):
    model = MLP([3, 5, 4], batchnorm=True, dropout=0.2, seed=0)
    X, y = np.random.default_rng(0).standard_normal((10, 3)), np.arange(10) % 4
    before = model_state(model)
    with pytest.raises(ValueError, match=match):
        train(model, X, y, SGD(0.1), **{"epochs": 2, "batch_size": 4, **kw}, progress=False)
    assert model_state(model) == before


@pytest.mark.parametrize("where", ["last training label", "validation width",
                                   "validation label", "row counts"])
def test_bad_data_anywhere_is_found_before_the_first_step(where):
    model = MLP([3, 5, 4], batchnorm=True, dropout=0.2, seed=0)
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((10, 3)), np.arange(10) % 4
    X_val, y_val = rng.standard_normal((6, 3)), np.arange(6) % 4
    if where == "last training label":
        y[-1] = 4
    elif where == "validation width":
        X_val = X_val[:, :2]
    elif where == "validation label":
        y_val[0] = -1
    else:
        y = y[:-1]
    before = model_state(model)
    with pytest.raises(ValueError, match=r"labels must be in|shape"):
        train(model, X, y, SGD(0.1), epochs=2, batch_size=4, X_val=X_val, y_val=y_val,
              progress=False)
    assert model_state(model) == before


def test_a_last_batch_too_small_for_batch_norm_is_found_before_the_first_step():
    model = MLP([3, 5, 4], batchnorm=True, seed=0)
    X, y = np.random.default_rng(0).standard_normal((9, 3)), np.arange(9) % 4
    before = model_state(model)
    with pytest.raises(ValueError, match="9 samples in batches of 4 leave a batch of 1: batch "
                                         "norm in training mode needs at least 2 samples"):
        train(model, X, y, SGD(0.1), epochs=2, batch_size=4, progress=False)
    assert model_state(model) == before
    hist = train(model, X, y, SGD(0.1), epochs=2, batch_size=3, progress=False)
    assert len(hist.train_loss) == 2


def test_callbacks_must_be_callable():
    X, y = _line_data()
    with pytest.raises(TypeError, match="callbacks"):
        train(Line(), X, y, SGD(0.1), callbacks=[3], progress=False)


# ------------------------------------------------------------------------------ what is recorded


def test_history_records_the_steps_it_took():
    model = MLP([3, 6, 4], activation="tanh", seed=2)
    X, y = blobs(30, 4, 3, seed=0)
    X_val, y_val = blobs(12, 4, 3, seed=1)
    opt = Recorder(0.05)
    hist = train(model, X, y, opt, epochs=3, batch_size=8, X_val=X_val, y_val=y_val,
                 progress=False)
    assert len(opt.steps) == 3 * 4 and len(hist.step_loss) == 12
    assert hist.stopped_reason is None
    for e in range(3):
        assert hist.train_loss[e] == pytest.approx(np.mean(hist.step_loss[4 * e:4 * e + 4]),
                                                   rel=1e-15)
        grads, before, after = opt.steps[4 * e + 3]  # the epoch's last step
        for k in ("W1", "W2"):
            assert hist.grad_norms[k][e] == pytest.approx(np.linalg.norm(grads[k]), rel=1e-14)
            ratio = np.linalg.norm(after[k] - before[k]) / np.linalg.norm(before[k])
            assert hist.update_ratios[k][e] == pytest.approx(ratio, rel=1e-12)
    # the end-of-epoch metrics are those of the final model, in evaluation mode
    data, reg = model.loss_parts(X, y, training=False)
    assert (hist.data_loss[-1], hist.reg_loss[-1]) == (data, reg)
    assert hist.val_loss[-1] == model.loss(X_val, y_val, training=False)
    assert hist.train_acc[-1] == model.accuracy(X, y)
    assert hist.val_acc[-1] == model.accuracy(X_val, y_val)
    assert {len(v) for v in hist.as_dict().values()} == {3}


def test_metrics_are_measured_in_evaluation_mode():
    # Batch norm: validation data must not move the running statistics. Dropout: the recorded
    # validation loss is the deterministic evaluation-mode loss.
    X, y = blobs(40, 3, 4, seed=0)
    X_val, y_val = blobs(20, 3, 4, seed=5)
    X_val = 3 * X_val + 7  # far from the training data: a leak would show at once
    runs = {}
    for with_val in (False, True):
        model = MLP([4, 8, 3], batchnorm=True, dropout=0.3, seed=1)
        kw = {"X_val": X_val, "y_val": y_val} if with_val else {}
        hist = train(model, X, y, Adam(1e-2), epochs=4, batch_size=16, progress=False, **kw)
        runs[with_val] = (model, hist)
    (plain, h0), (validated, h1) = runs[False], runs[True]
    # bit-identical: params, statistics, dropout
    assert model_state(plain) == model_state(validated)
    assert h0.train_loss == h1.train_loss and h0.data_loss == h1.data_loss
    assert h1.val_loss[-1] == validated.loss(X_val, y_val, training=False)
    state = model_state(validated)
    assert validated.loss(X_val, y_val, training=False) == h1.val_loss[-1]
    assert model_state(validated) == state  # evaluating changed nothing


def test_duck_typed_model_without_a_training_keyword():
    X, y = _line_data()
    X_val, y_val = _line_data(4, seed=1)
    model = Line()
    hist = train(model, X, y, SGD(0.05), epochs=3, batch_size=3, X_val=X_val, y_val=y_val,
                 progress=False)
    assert len(hist.train_loss) == 3 and hist.data_loss == [] and hist.train_acc == []
    assert hist.val_loss[-1] == model.loss(X_val, y_val)
    assert hist.val_loss[-1] < hist.val_loss[0]


def test_batchnorm_and_dropout_model_learns():
    X, y = blobs(90, 3, 2, seed=0)
    model = MLP([2, 16, 16, 3], batchnorm=True, dropout=0.1, seed=0)
    hist = train(model, X, y, Adam(1e-2), epochs=15, batch_size=16, progress=False)
    assert hist.train_acc[-1] > 0.9 and hist.train_loss[-1] < hist.train_loss[0]
    bn = model.layers[1]
    assert np.all(np.isfinite(bn.running_var)) and not np.allclose(bn.running_var, 1)


# ------------------------------------------------------------------------------ stopping


@pytest.mark.parametrize("bad", [1, 2, 3, 6, 7, 9])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_loss_stops_cleanly(bad, value):
    # 8 samples, batches of 3: three batches per epoch (steps 1-3, 4-6, 7-9)
    X, y = _line_data()
    model = Line(bad=bad, value=value)
    opt = Recorder(0.01)
    hist = train(model, X, y, opt, epochs=5, batch_size=3, X_val=X[:4], y_val=y[:4],
                 progress=False)
    epoch, batch = (bad - 1) // 3 + 1, (bad - 1) % 3 + 1
    assert len(opt.steps) == bad - 1  # the step with the bad loss is not taken
    assert len(hist.step_loss) == bad and np.array_equal(hist.step_loss[-1], value,
                                                         equal_nan=True)
    assert len(hist.train_loss) == epoch
    # the epoch's mean loss, as it was: inf stays inf, nan stays nan
    assert np.array_equal(hist.train_loss[-1], value, equal_nan=True)
    assert math.isnan(hist.grad_norms["W1"][-1]) and math.isnan(hist.update_ratios["W1"][-1])
    assert math.isnan(hist.val_loss[-1])
    assert all(np.isfinite(hist.grad_norms["W1"][:-1])) and all(np.isfinite(hist.val_loss[:-1]))
    assert {len(v) for v in hist.as_dict().values() if v} == {epoch}  # Line has no accuracy
    assert f"{value}" in hist.stopped_reason
    assert f"epoch {epoch}, batch {batch} of 3" in hist.stopped_reason
    if epoch > 1:  # the previous epoch's numbers are its own, not the stopped epoch's
        grads, before, after = opt.steps[3 * (epoch - 1) - 1]
        assert hist.grad_norms["W1"][-2] == pytest.approx(np.linalg.norm(grads["W1"]))


def test_non_finite_loss_on_an_mlp_records_nan_metrics():
    X, y = blobs(20, 3, 2, seed=0)
    X[0] = 1e308  # finite, but the forward pass overflows: the first loss is nan
    model = MLP([2, 4, 3], seed=0)
    with np.errstate(all="ignore"):
        hist = train(model, X, y, SGD(0.1), epochs=3, batch_size=20, X_val=X[1:], y_val=y[1:],
                     progress=False)
    assert len(hist.train_loss) == 1 and not np.isfinite(hist.train_loss[0])
    for name, values in hist.as_dict().items():
        assert len(values) == 1 and (name == "train_loss" or math.isnan(values[0])), name
    assert "epoch 1, batch 1 of 1" in hist.stopped_reason


def test_a_callback_stops_training_and_every_callback_runs():
    X, y = _line_data()
    seen = []

    def stop_at_3(epoch, history, model):
        assert len(history.train_loss) == epoch and isinstance(model, Line)
        return epoch == 3

    def log(epoch, history, model):
        seen.append(epoch)

    hist = train(Line(), X, y, SGD(0.01), epochs=10, batch_size=4, callbacks=[stop_at_3, log],
                 progress=False)
    assert len(hist.train_loss) == 3 and seen == [1, 2, 3]
    assert "stop_at_3" in hist.stopped_reason and "epoch 3" in hist.stopped_reason


# ------------------------------------------------------------------------------ progress


class FakeStream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_progress_in_a_terminal_is_one_rewritten_line(monkeypatch):
    stream = FakeStream(tty=True)
    monkeypatch.setattr(sys, "stderr", stream)
    X, y = _line_data()
    hist = train(Line(), X, y, SGD(0.01), epochs=4, batch_size=4)
    out = stream.getvalue()
    assert out.startswith("\r") and out.endswith("\n") and out.count("\n") == 1
    final = out.split("\r")[-1].rstrip()
    assert final == f"[{'#' * 30}] epoch 4/4  loss {hist.train_loss[-1]:.4f}"


def test_progress_in_a_log_is_the_final_line_only(monkeypatch):
    stream = FakeStream(tty=False)
    monkeypatch.setattr(sys, "stderr", stream)
    X, y = _line_data()
    train(Line(bad=5), X, y, SGD(0.01), epochs=4, batch_size=4)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and len(lines) == 2
    assert "epoch 3/4  loss nan" in lines[0] and lines[1].startswith("the loss became nan")


def test_progress_in_a_notebook_updates_one_display(monkeypatch):
    shown = []

    class Handle:
        def update(self, data, raw):
            shown.append(data)

    def display(data, raw, display_id):
        assert raw and display_id is True
        shown.append(data)
        return Handle()

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: types.SimpleNamespace(kernel=object())
    ipython_display = types.ModuleType("IPython.display")
    ipython_display.display = display
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipython_display)
    stream = FakeStream(tty=True)
    monkeypatch.setattr(sys, "stderr", stream)
    X, y = _line_data()
    train(Line(), X, y, SGD(0.01), epochs=5, batch_size=4, callbacks=[lambda e, h, m: e == 4])
    assert stream.getvalue() == ""  # nothing on stderr: no red stream output in the notebook
    assert 2 <= len(shown) <= 6  # the first display, throttled updates, the final state
    final = shown[-1]
    assert "epoch 4/5" in final["text/plain"] and "stopped training after epoch 4" in \
        final["text/plain"]
    assert "<progress value='4' max='5'" in final["text/html"]


def test_progress_in_a_script_does_not_import_ipython():
    code = ("import sys, numpy as np\n"
            "from gradcheck_edu.nn import MLP, SGD, train\n"
            "X, y = np.random.default_rng(0).standard_normal((8, 2)), np.arange(8) % 2\n"
            "train(MLP([2, 3, 2]), X, y, SGD(0.1), epochs=2, batch_size=4, progress=True)\n"
            "print('IPython' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
    assert "epoch 2/2" in out.stderr and out.stderr.count("\n") == 1
