"""The model protocol the diagnostics rely on, and the small helpers that read it.

The protocol (duck typing, no base class):

* ``params``: a dict of float arrays that the model reads in place;
* ``loss(X, y) -> float`` and ``loss_and_grads(X, y) -> (float, dict of gradients)``;
* optional: ``loss_parts(X, y) -> (data loss, regularization loss)``; ``loss_name``
  (``"softmax_cross_entropy"``, the default, ``"binary_cross_entropy"`` or ``"mse"``);
  ``layer_sizes`` (the last entry is the number of outputs); ``accuracy(X, y)``; a
  ``training`` keyword on ``loss``/``loss_parts`` for evaluation mode; ``freeze_dropout(seed)``
  to make a random (dropout) loss deterministic for the gradient check;
* for the activation check, ``forward(X, return_activations=True) -> (out, activations)``,
  described in :func:`~gradcheck_edu.diagnose.activation_stats`.

Training checks take a ``make_model()`` that returns a fresh model and an optimizer with
``step(params, grads)`` and an ``lr`` attribute. No check modifies the caller's model: the
checks that take a model work on a ``copy.deepcopy`` of it.

The helpers here are the package's internal API for that protocol (plain names, shared by the
check modules and the checklist).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..nn.train import accepts_keyword
from .chance import numeric_labels

__all__ = ["checked_data", "fit", "loss_name", "n_outputs", "default_optimizer", "loss_parts",
           "data_loss", "random_subset", "with_lr", "larger_variant", "WIDER"]

# A larger variant of an MLP has this many times the hidden units, and at least MIN_WIDTH
# (a model far too small is compared with one of a usual size). Twice is enough to show a
# too-small model and keeps the extra training run cheap.
WIDER = 2
MIN_WIDTH = 64


def loss_name(model: Any) -> str:
    """The model's ``loss_name``; ``"softmax_cross_entropy"`` when it has none."""
    return getattr(model, "loss_name", "softmax_cross_entropy")


def n_outputs(model: Any) -> int | None:
    """The last entry of the model's ``layer_sizes`` (its outputs), or None."""
    sizes = getattr(model, "layer_sizes", None)
    return int(sizes[-1]) if sizes is not None else None


def default_optimizer():
    """``Adam(1e-3)``: the optimizer a check uses when it is given none."""
    from ..nn.optim import Adam

    return Adam(1e-3)


def loss_parts(model: Any, X: Any, y: Any, training: bool = True) -> tuple[float, float]:
    """(data loss, regularization loss); 0 for the latter when the model has no
    ``loss_parts``. ``training=False`` uses evaluation mode when the model offers it (no
    dropout, batch norm with its running statistics)."""
    fn = model.loss_parts if hasattr(model, "loss_parts") else model.loss
    kwargs = {} if training or not accepts_keyword(fn, "training") else {"training": False}
    with np.errstate(all="ignore"):
        value = fn(X, y, **kwargs)
    if hasattr(model, "loss_parts"):
        return float(value[0]), float(value[1])
    return float(value), 0.0


def data_loss(model: Any, X: Any, y: Any, training: bool = True) -> float:
    """The data loss (without regularization); see :func:`loss_parts`."""
    return loss_parts(model, X, y, training)[0]


def random_subset(n_rows: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` of ``range(n_rows)``, drawn at random, in increasing order."""
    if n >= n_rows:
        return np.arange(n_rows)
    return np.sort(rng.choice(n_rows, size=n, replace=False))


def with_lr(make_optimizer: Callable[[], Any], lr: float) -> Callable[[], Any]:
    """A ``make_optimizer`` whose optimizers run at learning rate ``lr``."""
    def make():
        opt = make_optimizer()
        opt.lr = lr
        return opt
    return make


def larger_variant(model: Any, seed: int = 0) -> Callable[[], Any] | None:
    """A ``make_model`` for the same kind of network with ``WIDER`` (2) times the hidden units
    (at least ``MIN_WIDTH``, 64, per hidden layer), or None when the model cannot be rebuilt.

    Only an :class:`~gradcheck_edu.nn.MLP` (or a subclass taking the same arguments) is
    rebuilt: same activation, loss, L2, dropout, batch norm and dtype.
    """
    from ..nn.model import MLP

    if not isinstance(model, MLP):
        return None
    sizes = list(model.layer_sizes)
    wider = [sizes[0]] + [max(WIDER * h, MIN_WIDTH) for h in sizes[1:-1]] + [sizes[-1]]

    def make():
        return type(model)(wider, activation=model.activation, loss=model.loss_name,
                           l2=model.l2, dropout=model.dropout, batchnorm=model.batchnorm,
                           seed=seed, dtype=model.dtype)
    make.layer_sizes = wider
    return make


def fit(model: Any, X: np.ndarray, y: np.ndarray, optimizer: Any, steps: int,
        batch_size: int | None = None, seed: int = 0) -> list[float]:
    """Train ``model`` in place for ``steps`` optimizer steps; the loss of each step.

    Parameters
    ----------
    model
        Follows the protocol above (``params``, ``loss_and_grads``).
    X : ndarray, shape (N, D)
    y : ndarray, shape (N,) or (N, k)
    optimizer
        With ``step(params, grads)``.
    steps : int
    batch_size : int, optional
        Mini-batches of this size (None: the whole set), drawn in shuffled epochs.
    seed : int

    Returns
    -------
    list of float
        The loss of each step taken. Stops early when the loss becomes NaN or Inf.
    """
    rng = np.random.default_rng(seed)
    n = len(X)
    bs = n if batch_size is None else min(batch_size, n)
    losses: list[float] = []
    order = rng.permutation(n)
    pos = 0
    for _ in range(steps):
        if pos + bs > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos:pos + bs]
        pos += bs
        with np.errstate(all="ignore"):
            loss, grads = model.loss_and_grads(X[idx], y[idx])
        losses.append(float(loss))
        if not np.isfinite(loss):
            break
        with np.errstate(all="ignore"):
            optimizer.step(model.params, grads)
    return losses


def checked_data(X: Any, y: Any = None, what: str = "this check", min_rows: int = 1
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """``X`` (and ``y``) as arrays, or a ValueError that names what is wrong and how to fix it.

    Every diagnostic starts here, so that empty data, ``X`` and ``y`` of different lengths and
    string labels give one clear message instead of a NumPy error from deep inside (or, worse,
    a NaN that a later comparison takes for healthy).
    """
    X = np.asarray(X)
    if X.ndim == 0:
        raise ValueError(f"{what} needs X as an array of samples (rows), got a scalar")
    if X.shape[0] < min_rows:
        raise ValueError(f"{what} needs at least {min_rows} sample(s), but X has {X.shape[0]} "
                         "rows")
    if y is None:
        return X, None
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        n = "a scalar" if y.ndim == 0 else f"{y.shape[0]} rows"
        raise ValueError(f"{what}: X has {X.shape[0]} rows but y has {n}; they must have one "
                         "label per sample (were they shuffled or sliced separately?)")
    return X, numeric_labels(y, what)
