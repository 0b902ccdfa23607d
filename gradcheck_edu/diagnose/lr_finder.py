"""The LR range test: raise the learning rate step by step until the loss diverges."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from .protocol import checked_data, default_optimizer

__all__ = ["LRFinderResult", "lr_range_test"]


@dataclass
class LRFinderResult:
    """An LR range test: the loss as the learning rate grows exponentially.

    Attributes
    ----------
    lrs, losses : ndarray
        Learning rate and smoothed loss of each step, up to divergence.
    raw_losses : ndarray
    suggestion : float
        A tenth of the learning rate with the lowest smoothed loss: still on the steep part of
        the curve, safely below divergence.
    diverged_at : float or None
    """

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    suggestion: float
    diverged_at: float | None

    def plot(self, ax=None):
        from ..plots import plot_lr_finder

        return plot_lr_finder(self, ax=ax)


def lr_range_test(model: Any, X: Any, y: Any, optimizer: Any = None, lr_min: float = 1e-7,
                  lr_max: float = 10.0, steps: int = 100, batch_size: int = 32,
                  smoothing: float = 0.05, diverge_factor: float = 4.0,
                  seed: int = 0) -> LRFinderResult:
    """LR range test: raise the learning rate from ``lr_min`` exponentially, step by step,
    until the loss diverges; runs on a copy, so ``model`` and ``optimizer`` are unchanged.

    The loss is smoothed with an exponential moving average (bias-corrected). The sweep stops
    when the smoothed loss exceeds ``diverge_factor`` times its minimum or becomes NaN. The
    minimum for the suggestion is looked for after the first ``1 / smoothing`` steps, when the
    average spans enough batches not to be one lucky batch.
    """
    X, y = checked_data(X, y, "lr_range_test")
    model = copy.deepcopy(model)
    opt = copy.deepcopy(optimizer) if optimizer is not None else default_optimizer()
    rng = np.random.default_rng(seed)
    factor = (lr_max / lr_min) ** (1 / max(steps - 1, 1))
    lrs, raw, smooth = [], [], []
    avg, best, diverged = 0.0, np.inf, None
    n = len(X)
    for t in range(steps):
        lr = lr_min * factor**t
        opt.lr = lr
        idx = rng.choice(n, size=min(batch_size, n), replace=False)
        with np.errstate(all="ignore"):
            loss, grads = model.loss_and_grads(X[idx], y[idx])
        if not np.isfinite(loss):
            diverged = lr
            break
        avg = (1 - smoothing) * avg + smoothing * loss
        s = avg / (1 - (1 - smoothing) ** (t + 1))
        lrs.append(lr)
        raw.append(loss)
        smooth.append(s)
        best = min(best, s)
        if s > diverge_factor * best:
            diverged = lr
            break
        with np.errstate(all="ignore"):
            opt.step(model.params, grads)
    lrs_a, smooth_a = np.asarray(lrs), np.asarray(smooth)
    skip = min(int(1 / smoothing), len(lrs) // 2)
    suggestion = float(lrs_a[skip + int(np.argmin(smooth_a[skip:]))] / 10) if lrs else lr_min
    return LRFinderResult(lrs_a, smooth_a, np.asarray(raw), suggestion, diverged)
