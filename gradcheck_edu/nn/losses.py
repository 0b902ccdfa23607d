"""Losses, mean over the batch, numerically stable; each returns the loss and dL/dout."""

from __future__ import annotations

import numpy as np

__all__ = ["LOSSES", "softmax_cross_entropy", "binary_cross_entropy", "mse"]


def softmax_cross_entropy(out: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean of ``-log softmax(out)[n, y_n]`` over the batch, with the log-sum-exp trick.

    Parameters
    ----------
    out : ndarray, shape (N, C)
        Logits.
    y : ndarray of int, shape (N,)
        Class labels in ``[0, C)``.

    Returns
    -------
    loss : float
    dout : ndarray, shape (N, C)
        ``(softmax(out) - onehot(y)) / N``.
    """
    n = out.shape[0]
    shifted = out - out.max(axis=1, keepdims=True)  # exp never overflows
    log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - log_z
    loss = -float(np.mean(log_p[np.arange(n), y]))
    # dL/dout = (p - onehot(y)) / N
    dout = np.exp(log_p)
    dout[np.arange(n), y] -= 1
    return loss, dout / n


def binary_cross_entropy(out: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Binary cross-entropy with logits, mean over all elements.

    ``l = max(z, 0) - z y + log(1 + exp(-|z|))`` equals ``-y log s(z) - (1-y) log(1 - s(z))``
    without overflow. ``dl/dz = s(z) - y``.
    """
    loss = float(np.mean(np.maximum(out, 0) - out * y + np.log1p(np.exp(-np.abs(out)))))
    sigma = 0.5 * (1 + np.tanh(0.5 * out))
    return loss, (sigma - y) / out.size


def mse(out: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over all elements of ``(out - y)**2`` (as PyTorch's MSELoss). ``dl/dout = 2(out-y)``."""
    diff = out - y
    return float(np.mean(diff**2)), 2 * diff / out.size


LOSSES = {"softmax_cross_entropy": softmax_cross_entropy,
          "binary_cross_entropy": binary_cross_entropy, "mse": mse}
