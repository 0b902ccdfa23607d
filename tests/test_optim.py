"""Optimizer steps equal references written from the published update equations."""

import math

import numpy as np
import pytest

from gradcheck_edu.nn import (
    SGD,
    Adam,
    CosineAnnealingLR,
    ExponentialLR,
    LinearWarmup,
    StepLR,
    clip_grad_norm,
    clip_grad_value,
)


def _grads(t, shape=(3, 2)):
    rng = np.random.default_rng(t)
    return {"W": rng.standard_normal(shape), "b": rng.standard_normal(shape[1])}


def _run(opt, steps=5):
    rng = np.random.default_rng(99)
    params = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    out = []
    for t in range(steps):
        opt.step(params, _grads(t))
        out.append({k: v.copy() for k, v in params.items()})
    return out


def _reference_sgd(lr, momentum, nesterov, wd, steps=5):
    # torch.optim.SGD docs: g += wd*p; b = g (t=1) else mu*b + g; g = g + mu*b (nesterov) or b
    rng = np.random.default_rng(99)
    p = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    buf, out = {}, []
    for t in range(steps):
        g_all = _grads(t)
        for k in p:
            g = g_all[k] + wd * p[k]
            if momentum:
                buf[k] = g if t == 0 else momentum * buf[k] + g
                g = g + momentum * buf[k] if nesterov else buf[k]
            p[k] = p[k] - lr * g
        out.append({k: v.copy() for k, v in p.items()})
    return out


def _reference_adam(lr, b1, b2, eps, wd, steps=5):
    # Kingma & Ba (2015), Algorithm 1, with torch's L2 weight decay added to the gradient
    rng = np.random.default_rng(99)
    p = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    m = {k: 0.0 for k in p}
    v = {k: 0.0 for k in p}
    out = []
    for t in range(1, steps + 1):
        g_all = _grads(t - 1)
        for k in p:
            g = g_all[k] + wd * p[k]
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g**2
            p[k] = p[k] - lr * (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps)
        out.append({k: val.copy() for k, val in p.items()})
    return out


@pytest.mark.parametrize("momentum, nesterov, wd", [(0.0, False, 0.0), (0.9, False, 0.0),
                                                    (0.9, True, 0.01), (0.5, False, 0.1)])
def test_sgd(momentum, nesterov, wd):
    got = _run(SGD(0.1, momentum=momentum, nesterov=nesterov, weight_decay=wd))
    want = _reference_sgd(0.1, momentum, nesterov, wd)
    for a, b in zip(got, want):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("betas, wd", [((0.9, 0.999), 0.0), ((0.8, 0.99), 0.05)])
def test_adam(betas, wd):
    got = _run(Adam(0.01, betas=betas, eps=1e-8, weight_decay=wd))
    want = _reference_adam(0.01, *betas, 1e-8, wd)
    for a, b in zip(got, want):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-13, atol=1e-15)


def test_step_updates_in_place():
    params = {"W": np.ones((2, 2))}
    W = params["W"]
    SGD(0.5).step(params, {"W": np.ones((2, 2))})
    assert params["W"] is W and np.all(W == 0.5)


def test_clipping():
    g = {"a": np.array([3.0, -4.0]), "b": np.array([0.5])}
    clip_grad_value(g, 1.0)
    assert g["a"].tolist() == [1.0, -1.0] and g["b"].tolist() == [0.5]
    g = {"a": np.array([3.0, 4.0])}
    total = clip_grad_norm(g, 1.0)
    assert total == pytest.approx(5.0)
    assert np.linalg.norm(g["a"]) == pytest.approx(5.0 / (5.0 + 1e-6))
    g = {"a": np.array([0.3, 0.4])}
    clip_grad_norm(g, 1.0)
    assert g["a"].tolist() == [0.3, 0.4]


def test_optimizer_clip_options():
    params = {"W": np.zeros(2)}
    SGD(1.0, clip_value=0.1).step(params, {"W": np.array([5.0, -5.0])})
    assert params["W"].tolist() == [-0.1, 0.1]


def test_schedules():
    opt = SGD(1.0)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    assert [sched.step() for _ in range(4)] == [1.0, 0.5, 0.5, 0.25]
    opt = SGD(1.0)
    sched = ExponentialLR(opt, gamma=0.9)
    assert [sched.step() for _ in range(2)] == pytest.approx([0.9, 0.81])
    opt = SGD(1.0)
    sched = CosineAnnealingLR(opt, T_max=4, eta_min=0.0)
    assert [sched.step() for _ in range(4)] == pytest.approx(
        [(1 + math.cos(math.pi * t / 4)) / 2 for t in range(1, 5)])
    opt = SGD(1.0)
    sched = LinearWarmup(opt, warmup_steps=4)
    assert opt.lr == 0.0
    assert [sched.step() for _ in range(5)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="lr"):
        SGD(0.0)
    with pytest.raises(ValueError, match="Nesterov"):
        SGD(0.1, nesterov=True)
    with pytest.raises(ValueError, match="no gradient"):
        Adam().step({"W": np.zeros(1)}, {})
