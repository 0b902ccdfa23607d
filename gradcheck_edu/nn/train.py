"""A small training loop that records what the debugging checklist needs."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["train", "History"]


@dataclass
class History:
    """Per-epoch metrics of a training run.

    ``train_loss`` is the mean mini-batch loss of the epoch (training mode); ``train_acc``,
    ``val_loss``, ``val_acc`` are measured at the end of the epoch. ``grad_norms[name]`` and
    ``update_ratios[name]`` (``||delta W|| / ||W||`` of the epoch's last step) are per weight.
    """

    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    data_loss: list = field(default_factory=list)
    reg_loss: list = field(default_factory=list)
    step_loss: list = field(default_factory=list)
    grad_norms: dict = field(default_factory=dict)
    update_ratios: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Per-epoch metrics as name -> list (``step_loss``, per step, is left out)."""
        out = {k: v for k, v in vars(self).items() if isinstance(v, list) and k != "step_loss"}
        tables = (("grad_norm_", self.grad_norms), ("update_ratio_", self.update_ratios))
        for prefix, table in tables:
            out.update({prefix + k: v for k, v in table.items()})
        return out


class _Progress:
    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled

    def update(self, epoch: int, loss: float) -> None:
        if not self.enabled:
            return
        done = int(30 * epoch / self.total)
        sys.stderr.write(f"\r[{'#' * done}{'.' * (30 - done)}] epoch {epoch}/{self.total} "
                         f"loss {loss:.4f}")
        if epoch == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def train(model: Any, X: Any, y: Any, optimizer: Any, epochs: int = 10, batch_size: int = 32,
          X_val: Any = None, y_val: Any = None, seed: int = 0, progress: bool = True,
          callbacks: Any = ()) -> History:
    """Mini-batch training of ``model`` with ``optimizer``; returns a :class:`History`.

    ``model`` needs ``params``, ``loss_and_grads(X, y)`` (and ``loss``/``accuracy`` for the
    metrics); ``optimizer`` needs ``step(params, grads)``. Each callback is called as
    ``callback(epoch, history, model)`` after every epoch; returning True stops training.
    Training stops early if the loss becomes NaN or Inf.
    """
    X, y = np.asarray(X), np.asarray(y)
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"X has {n} rows but y has {y.shape[0]}")
    rng = np.random.default_rng(seed)
    hist = History()
    weights = [k for k in model.params if k.startswith("W")]
    bar = _Progress(epochs, progress)
    has_acc = hasattr(model, "accuracy") and getattr(model, "loss_name", "") != "mse"
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        losses = []
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            loss, grads = model.loss_and_grads(X[idx], y[idx])
            losses.append(loss)
            hist.step_loss.append(loss)
            if not np.isfinite(loss):
                break
            if start + batch_size >= n:  # the epoch's last step: measure the update ratio
                before = {k: model.params[k].copy() for k in weights}
                norms = {k: float(np.linalg.norm(grads[k])) for k in weights}
            optimizer.step(model.params, grads)
        hist.train_loss.append(float(np.mean(losses)))
        if len(losses) < -(-n // batch_size):  # stopped early on a non-finite loss
            before = {k: model.params[k].copy() for k in weights}
            norms = {k: float("nan") for k in weights}
        for k in weights:
            hist.grad_norms.setdefault(k, []).append(norms[k])
            w = np.linalg.norm(before[k])
            ratio = np.linalg.norm(model.params[k] - before[k]) / w if w > 0 else np.inf
            hist.update_ratios.setdefault(k, []).append(float(ratio))
        finite = np.isfinite(hist.train_loss[-1])
        if hasattr(model, "loss_parts") and finite:
            data, reg = model.loss_parts(X, y)
            hist.data_loss.append(data)
            hist.reg_loss.append(reg)
        if has_acc and finite:
            hist.train_acc.append(model.accuracy(X, y))
        if X_val is not None and finite:
            hist.val_loss.append(model.loss(X_val, y_val))
            if has_acc:
                hist.val_acc.append(model.accuracy(X_val, y_val))
        bar.update(epoch, hist.train_loss[-1])
        if not finite:
            if progress:
                sys.stderr.write("\nloss is not finite: training stopped\n")
            break
        if any(cb(epoch, hist, model) for cb in callbacks):
            break
    return hist
