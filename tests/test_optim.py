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


def _reference_clip(grads, clip_value=None, clip_norm=None):
    """From the definitions: clip each entry to [-c, c] (torch.nn.utils.clip_grad_value_),
    then scale every gradient by min(1, max_norm / (||g||_total + 1e-6)), where ||g||_total is
    the L2 norm of all gradients together (torch.nn.utils.clip_grad_norm_)."""
    out = {k: np.array(g, dtype=float) for k, g in grads.items()}
    if clip_value is not None:
        out = {k: np.minimum(np.maximum(g, -clip_value), clip_value) for k, g in out.items()}
    if clip_norm is not None:
        total = math.sqrt(sum(float(np.sum(g**2)) for g in out.values()))
        out = {k: g * min(1.0, clip_norm / (total + 1e-6)) for k, g in out.items()}
    return out


def _run_clipped(opt, clip, steps=5, scale=3.0):
    """Steps of ``opt`` on scaled-up gradients, and the same steps of plain SGD (lr 0.1) on the
    reference-clipped gradients."""
    rng = np.random.default_rng(99)
    params = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    ref = {k: v.copy() for k, v in params.items()}
    for t in range(steps):
        grads = {k: scale * g for k, g in _grads(t).items()}
        kept = {k: g.copy() for k, g in grads.items()}
        opt.step(params, grads)
        assert all(np.array_equal(grads[k], kept[k]) for k in grads)  # the caller's, untouched
        for k, g in _reference_clip(grads, **clip).items():
            ref[k] = ref[k] - 0.1 * g
    return params, ref


@pytest.mark.parametrize("clip", [{"clip_value": 0.5}, {"clip_norm": 1.0}, {"clip_norm": 100.0},
                                  {"clip_value": 0.5, "clip_norm": 0.7}])
def test_optimizer_clip_options(clip):
    params, ref = _run_clipped(SGD(0.1, **clip), clip)
    for k in params:
        np.testing.assert_allclose(params[k], ref[k], rtol=1e-14, atol=1e-15)


def test_clip_norm_acts_before_weight_decay_and_momentum():
    # torch order: clip the gradients (clip_grad_norm_), then optimizer.step() adds weight
    # decay and applies momentum
    rng = np.random.default_rng(5)
    p0 = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    params = {k: v.copy() for k, v in p0.items()}
    opt = Adam(0.01, weight_decay=0.1, clip_norm=0.5)
    plain = Adam(0.01, weight_decay=0.1)
    ref = {k: v.copy() for k, v in p0.items()}
    for t in range(4):
        g = {k: 4 * v for k, v in _grads(t).items()}
        opt.step(params, g)
        plain.step(ref, _reference_clip(g, clip_norm=0.5))
    for k in params:
        np.testing.assert_allclose(params[k], ref[k], rtol=1e-13)


def test_clip_grad_norm_against_the_definition():
    for seed in range(5):
        g = _grads(seed)
        g["b"] *= 10 * seed
        want = _reference_clip(g, clip_norm=2.0)
        total = math.sqrt(sum(float(np.sum(v**2)) for v in g.values()))
        assert clip_grad_norm(g, 2.0) == pytest.approx(total, rel=1e-15)
        for k in g:
            np.testing.assert_allclose(g[k], want[k], rtol=1e-15)


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


def test_cosine_annealing_beyond_t_max_follows_torch():
    # torch's closed form, for every t (torch.optim.lr_scheduler.CosineAnnealingLR docs):
    # eta_t = eta_min + (eta_max - eta_min) (1 + cos(pi t / T_max)) / 2. Past T_max the rate
    # rises again along the cosine; it does not stay at eta_min.
    base, eta_min, T = 0.3, 0.01, 5
    opt = SGD(base)
    sched = CosineAnnealingLR(opt, T_max=T, eta_min=eta_min)
    assert opt.lr == pytest.approx(base, rel=1e-15)
    got = [sched.step() for _ in range(4 * T)]
    want = [eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / T)) / 2
            for t in range(1, 4 * T + 1)]
    assert got == pytest.approx(want, rel=1e-14)
    assert got[T - 1] == pytest.approx(eta_min) and got[T] > got[T - 1]
    assert got[2 * T - 1] == pytest.approx(base)
def test_bad_arguments():
    with pytest.raises(ValueError, match="lr"):
        SGD(0.0)
    with pytest.raises(ValueError, match="Nesterov"):
        SGD(0.1, nesterov=True)
    with pytest.raises(ValueError, match="no gradient"):
        Adam().step({"W": np.zeros(1)}, {})


@pytest.mark.parametrize("make, match", [
    (lambda: SGD(np.nan), "lr"), (lambda: SGD(-0.1), "lr"), (lambda: SGD(np.inf), "lr"),
    (lambda: SGD(0.1, momentum=-0.9), "momentum"),
    (lambda: SGD(0.1, weight_decay=-1e-4), "weight_decay"),
    (lambda: SGD(0.1, clip_norm=0.0), "clip_norm"),
    (lambda: SGD(0.1, clip_value=-1.0), "clip_value"),
    (lambda: Adam(clip_norm=np.nan), "clip_norm"),
    (lambda: Adam(betas=(1.0, 0.999)), r"betas\[0\]"),
    (lambda: Adam(betas=(0.9, -0.1)), r"betas\[1\]"),
    (lambda: Adam(eps=-1e-8), "eps"),
    (lambda: StepLR(SGD(0.1), step_size=0), "step_size"),
    (lambda: CosineAnnealingLR(SGD(0.1), T_max=0), "T_max"),
    (lambda: LinearWarmup(SGD(0.1), warmup_steps=0), "warmup_steps"),
])
def test_bad_hyperparameters_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()
