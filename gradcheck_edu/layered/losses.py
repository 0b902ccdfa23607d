"""The data losses of a described network, for batches of perturbed outputs, and their changes.

:func:`data_loss` evaluates the loss of many output arrays at once. :func:`data_loss_change`
computes the change of the loss from the increments of the outputs themselves, never as a
difference of two rounded losses, so it is accurate relative to the change: a difference of two
losses near 2.3 loses everything below ``2.3 * 1e-16``, which at a step of 1e-6 is 1e-10 of the
central difference.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LOSS_KINDS", "data_loss", "cross_entropy_inplace", "data_loss_change"]

LOSS_KINDS = ("softmax_cross_entropy", "binary_cross_entropy", "mse")


def data_loss(kind: str, out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean data loss of a batch of outputs.

    Parameters
    ----------
    kind : {"softmax_cross_entropy", "binary_cross_entropy", "mse"}
        Cross-entropies take logits.
    out : ndarray, shape (..., N, C)
    y : ndarray
        Labels (N,) of int for softmax cross-entropy, targets (N, C) otherwise.

    Returns
    -------
    ndarray, shape (...)
    """
    if kind == "softmax_cross_entropy":
        m = out.max(axis=-1, keepdims=True)
        lse = np.log(np.sum(np.exp(out - m), axis=-1)) + m[..., 0]
        picked = np.take_along_axis(out, np.broadcast_to(y[:, None], out.shape[:-1] + (1,)),
                                    axis=-1)[..., 0]
        return np.mean(lse - picked, axis=-1)
    axes = (-2, -1)
    if kind == "binary_cross_entropy":
        return np.mean(np.maximum(out, 0) - out * y + np.log1p(np.exp(-np.abs(out))), axis=axes)
    if kind == "mse":
        return np.mean((out - y) ** 2, axis=axes)
    raise ValueError(f"unsupported loss {kind!r}; the structure-aware path knows {LOSS_KINDS}")


def cross_entropy_inplace(out: np.ndarray, y: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Softmax cross-entropy of a (P, N, C) batch of logits, overwriting ``out``.

    The same value as :func:`data_loss`, arranged for speed: the log-sum-exp is shifted by the
    unperturbed row maxima ``shift`` (N,) instead of recomputing them (any shift is exact while
    exp does not overflow), and the short reductions over C go through BLAS. Returns shape (P,).
    """
    P, N, C = out.shape
    out -= shift[:, None]
    picked = out.reshape(P, N * C)[:, np.arange(N) * C + y]
    np.exp(out, out=out)
    lse = np.log(out @ np.ones(C))
    return (lse - picked) @ np.full(N, 1.0 / N)


def data_loss_change(kind: str, base: np.ndarray, probs: np.ndarray | None, inc: np.ndarray,
                     y: np.ndarray) -> np.ndarray:
    """Change of the mean data loss when the outputs ``base`` (N, C) move by ``inc`` (P, N, C).

    Parameters
    ----------
    kind : str
        As in :func:`data_loss`.
    base : ndarray, shape (N, C)
        The unperturbed outputs.
    probs : ndarray, shape (N, C), or None
        ``softmax(base)`` or ``sigmoid(base)``, as the loss needs (None for mse).
    inc : ndarray, shape (P, N, C)
        The increments; overwritten.
    y : ndarray
        As in :func:`data_loss`.

    Returns
    -------
    ndarray, shape (P,)
    """
    if kind == "softmax_cross_entropy":
        # lse(z + d) - lse(z) = log(sum_c p_c e^{d_c}) = log1p(sum_c p_c (e^{d_c} - 1))
        P, N, C = inc.shape
        picked = inc.reshape(P, N * C)[:, np.arange(N) * C + y]
        np.expm1(inc, out=inc)
        inc *= probs
        change = np.log1p(inc @ np.ones(C))
        change -= picked
        return change @ np.full(N, 1.0 / N)
    if kind == "binary_cross_entropy":
        # softplus(x + d) - softplus(x) = log1p(sigma(x) (e^d - 1)); the -x y term moves by -d y
        change = np.log1p(probs * np.expm1(inc)) - inc * y
        return np.mean(change, axis=(-2, -1))
    if kind == "mse":
        # (x + d - y)^2 - (x - y)^2 = d (2 (x - y) + d)
        return np.mean(inc * (2 * (base - y) + inc), axis=(-2, -1))
    raise ValueError(f"unsupported loss {kind!r}")
