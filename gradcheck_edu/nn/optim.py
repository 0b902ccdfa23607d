"""Optimizers following ``torch.optim``'s update rules, gradient clipping, and LR schedules.

Optimizers update a dict of parameters in place: ``opt.step(params, grads)``. Their state
(momentum buffers, Adam moments) is keyed by parameter name.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "SGD", "Adam", "clip_grad_value", "clip_grad_norm",
    "StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearWarmup",
]


def clip_grad_value(grads: dict, clip_value: float) -> dict:
    """Clip every gradient entry to ``[-clip_value, clip_value]``, in place."""
    for g in grads.values():
        np.clip(g, -clip_value, clip_value, out=g)
    return grads


def clip_grad_norm(grads: dict, max_norm: float) -> float:
    """Rescale all gradients so their global L2 norm is at most ``max_norm``, in place.

    As ``torch.nn.utils.clip_grad_norm_``: scale by ``max_norm / (total_norm + 1e-6)`` when
    that is below 1. Returns the total norm before clipping.
    """
    total = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads.values():
            g *= coef
    return total


def _check(name: str, value: float, ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"{name} must be {what}, got {value}")


def _number(name: str, value: Any) -> float:
    """A hyperparameter as a float, or a TypeError that names it (``lr="0.1"``, ``lr=None``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})"
                        + ("; write it without quotes" if isinstance(value, str) else ""))
    return float(value)


class _Optimizer:
    """Shared by the optimizers: the learning rate, clipping, the step counter ``t``.

    ``clip_value`` clips every gradient entry to ``[-clip_value, clip_value]``; then
    ``clip_norm`` rescales all gradients together to a global L2 norm of at most ``clip_norm``
    (as :func:`clip_grad_norm`). Both act on copies, before weight decay is added.
    """

    def __init__(self, lr: float, clip_value: float | None, clip_norm: float | None):
        lr = _number("lr", lr)
        _check("lr", lr, lr > 0 and math.isfinite(lr), "a positive number")
        for name, c in (("clip_value", clip_value), ("clip_norm", clip_norm)):
            if c is not None:
                c = _number(name, c)
                _check(name, c, c > 0 and math.isfinite(c), "None or a positive number")
        self.lr, self.clip_value, self.clip_norm = float(lr), clip_value, clip_norm
        self.state: dict = {}
        self.t = 0
        self._buffers: dict = {}

    def _scratch(self, name: str, p: np.ndarray, count: int) -> list:
        """``count`` work arrays shaped like ``p``, kept between steps: a large temporary per
        step costs more than the arithmetic (fresh memory is paged in each time)."""
        bufs = self._buffers.get(name)
        if bufs is None or len(bufs) < count or bufs[0].shape != p.shape \
                or bufs[0].dtype != p.dtype:
            bufs = self._buffers[name] = [np.empty_like(p) for _ in range(count)]
        return bufs

    def _prepare(self, params: dict, grads: dict) -> dict:
        missing = [k for k in params if k not in grads]
        if missing:
            raise ValueError(f"no gradient for parameters {missing}")
        grads = {k: np.asarray(grads[k], dtype=params[k].dtype) for k in params}
        if self.clip_value is not None or self.clip_norm is not None:
            grads = {k: g.copy() for k, g in grads.items()}  # clip copies, never the caller's
        if self.clip_value is not None:
            clip_grad_value(grads, self.clip_value)
        if self.clip_norm is not None:
            clip_grad_norm(grads, self.clip_norm)
        self.t += 1
        return grads


class SGD(_Optimizer):
    """SGD with momentum, Nesterov and weight decay, as ``torch.optim.SGD`` (dampening 0).

    ``g <- g + weight_decay p``; ``b <- g`` on the first step, else ``b <- momentum b + g``;
    ``g <- g + momentum b`` (Nesterov) or ``g <- b``; ``p <- p - lr g``.
    """

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, clip_value: float | None = None,
                 clip_norm: float | None = None):
        super().__init__(lr, clip_value, clip_norm)
        momentum, weight_decay = _number("momentum", momentum), _number("weight_decay",
                                                                        weight_decay)
        _check("momentum", momentum, momentum >= 0, ">= 0")
        _check("weight_decay", weight_decay, weight_decay >= 0, ">= 0")
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

    def step(self, params: dict, grads: dict) -> None:
        grads = self._prepare(params, grads)
        for k, p in params.items():
            g = grads[k]
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                if k not in self.state:
                    self.state[k] = g.copy()
                else:
                    self.state[k] *= self.momentum
                    self.state[k] += g
                buf = self.state[k]
                g = g + self.momentum * buf if self.nesterov else buf
            step = self._scratch(k, p, 1)[0]  # lr * g, without a fresh temporary each step
            np.multiply(g, self.lr, out=step)
            p -= step


class Adam(_Optimizer):
    """Adam, as ``torch.optim.Adam``.

    ``m <- b1 m + (1 - b1) g``; ``v <- b2 v + (1 - b2) g^2``;
    ``p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``.
    """

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, clip_value: float | None = None,
                 clip_norm: float | None = None):
        super().__init__(lr, clip_value, clip_norm)
        betas = tuple(_number(f"betas[{i}]", b) for i, b in enumerate(betas))
        eps, weight_decay = _number("eps", eps), _number("weight_decay", weight_decay)
        for i, b in enumerate(betas):
            _check(f"betas[{i}]", b, 0 <= b < 1, "in [0, 1)")
        _check("eps", eps, eps >= 0, ">= 0")
        _check("weight_decay", weight_decay, weight_decay >= 0, ">= 0")
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def step(self, params: dict, grads: dict) -> None:
        grads = self._prepare(params, grads)
        b1, b2 = self.betas
        t = self.t
        for k, p in params.items():
            g = grads[k]
            if self.weight_decay:
                g = g + self.weight_decay * p
            m, v = self.state.setdefault(k, (np.zeros_like(p), np.zeros_like(p)))
            # The same arithmetic as the comments, in two scratch arrays (no temporaries).
            step, denom = self._scratch(k, p, 2)
            m *= b1
            m += np.multiply(g, 1 - b1, out=step)                # m += (1 - b1) g
            v *= b2
            v += np.multiply(np.multiply(g, 1 - b2, out=step), g, out=step)  # += (1 - b2) g^2
            np.divide(m, 1 - b1**t, out=step)                    # m_hat = m / (1 - b1^t)
            np.divide(v, 1 - b2**t, out=denom)                   # v_hat = v / (1 - b2^t)
            np.sqrt(denom, out=denom)
            denom += self.eps                                    # sqrt(v_hat) + eps
            step *= self.lr
            step /= denom
            p -= step                                            # p -= lr m_hat / denom


class _Schedule:
    """Sets ``optimizer.lr`` from the base rate; call ``step()`` once per epoch (or step)."""

    def __init__(self, optimizer: _Optimizer):
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last = 0
        optimizer.lr = self.lr_at(0)

    def lr_at(self, t: int) -> float:
        raise NotImplementedError

    def step(self) -> float:
        self.last += 1
        self.optimizer.lr = self.lr_at(self.last)
        return self.optimizer.lr


class StepLR(_Schedule):
    """``lr = base * gamma ** (t // step_size)``."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        _check("step_size", step_size, step_size >= 1, "a positive number of steps")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** (t // self.step_size)


class ExponentialLR(_Schedule):
    """``lr = base * gamma ** t``."""

    def __init__(self, optimizer, gamma: float):
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * self.gamma**t


class CosineAnnealingLR(_Schedule):
    """``lr = eta_min + (base - eta_min) (1 + cos(pi t / T_max)) / 2``, for every ``t``.

    As ``torch.optim.lr_scheduler.CosineAnnealingLR``: the rate falls to ``eta_min`` at
    ``t = T_max`` and, if stepped further, follows the cosine back up (it reaches ``base``
    again at ``t = 2 T_max``); it does not hold at ``eta_min``. Stop stepping at ``T_max``, or
    set ``T_max`` to the number of steps, to end at ``eta_min``.
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):
        _check("T_max", T_max, T_max > 0, "a positive number of steps")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.eta_min + (self.base_lr - self.eta_min) * (
            1 + math.cos(math.pi * t / self.T_max)) / 2


class LinearWarmup(_Schedule):
    """``lr = base * (start + (1 - start) * min(t, warmup) / warmup)``: a linear ramp."""

    def __init__(self, optimizer, warmup_steps: int, start_factor: float = 0.0):
        _check("warmup_steps", warmup_steps, warmup_steps >= 1, "a positive number of steps")
        self.warmup_steps, self.start_factor = warmup_steps, start_factor
        super().__init__(optimizer)

    def lr_at(self, t):
        frac = min(t, self.warmup_steps) / self.warmup_steps
        return self.base_lr * (self.start_factor + (1 - self.start_factor) * frac)
