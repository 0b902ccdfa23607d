"""Batch norm after a rank-1 update: P perturbed batches normalized from a few small products.

When column ``i`` of a layer's input moves by ``da`` (N,), the layer's pre-activation moves by
``da (outer) w`` with ``w = W[i, :]``. Centred, ``z' - mean' = S + u (outer) w`` with
``S = Z - mean(Z)`` and ``u = da - mean(da)``, so every column's batch variance is

    var' = var + w (2 (u . S) / N + w (u . u) / N)

and the normalized output ``y' = gamma (S + u w) / sqrt(var' + eps) + beta``. For P perturbations
at once the statistics cost one (P, N) @ (N, width) product instead of two passes over P full
batches. Its change from the cached ``y`` is, exactly,

    dy = S a + u (outer) b,   a = gamma (1 / sqrt(v + e) - 1 / sqrt(v)),   b = gamma w / sqrt(v + e)

with ``v = var + eps``, ``e = var' - var``; ``a`` is formed without cancellation. Through a
smooth activation the output then moves by ``(c1 dy + c2 dy^2 + c3 dy^3) * mask`` (the Taylor
coefficients at the cached point; exact to float64 resolution while ``|dy| <= 1e-4``, and
without the cube while ``|dy| <= 4e-6``), computed
from ``dy`` itself: accurate relative to the change, and cheaper than a tanh of every entry.
"""

from __future__ import annotations

import numpy as np

from .products import matmul_rows

__all__ = ["Rank1BatchNorm", "SERIES_LIMIT"]

# |dy| at which the next term of the Taylor series, after the cube or after the square, is 1e-16
# of the activation (|c4| < 1/4, |c3| <= 1/3 for tanh and sigmoid)
SERIES_LIMIT = 1e-4
SQUARE_LIMIT = 4e-6


class Rank1BatchNorm:
    """A batch-norm layer's cached statistics, and its output after rank-1 input updates.

    Parameters
    ----------
    z : ndarray, shape (N, width)
        The cached pre-activation (before batch norm).
    gamma, beta : ndarray, shape (width,)
    eps : float
    """

    def __init__(self, z: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float):
        self.S = z - z.mean(axis=0)
        self.var = z.var(axis=0)  # the model's biased batch variance
        self.gamma, self.beta, self.eps = gamma, beta, eps
        self.root = np.sqrt(self.var + eps)
        self.s_max = np.abs(self.S).max(axis=0)

    def statistics(self, da: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``u = da - mean(da)`` (P, N) and the change of every column's variance (P, width),
        for input moves ``da`` (P, N) along rows ``w`` (P, width) of the weights."""
        n = da.shape[1]
        u = da - da.mean(axis=1, keepdims=True)
        e = matmul_rows(u, self.S)
        e *= 2 / n
        e += w * (np.einsum("pn,pn->p", u, u) / n)[:, None]
        e *= w
        return u, e

    def output(self, da: np.ndarray, w: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The normalized pre-activations ``y'`` (P, N, width), written in ``out``."""
        u, e = self.statistics(da, w)
        e += self.var
        e += self.eps
        scale = np.sqrt(e, out=e)
        np.divide(self.gamma, scale, out=scale)  # gamma / sqrt(var' + eps)
        np.multiply(u[:, :, None], w[:, None, :], out=out)
        out += self.S
        out *= scale[:, None, :]
        out += self.beta
        return out

    def increments(self, da: np.ndarray, w: np.ndarray, coef: tuple[np.ndarray, ...],
                   out: np.ndarray, work: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The change of a smooth activation's output, by its series, where it holds.

        Parameters
        ----------
        da, w : as in :meth:`statistics`
        coef : (c1, c2, c3), each (N, width)
            The Taylor coefficients at the cached point, times the dropout mask if any.
        out, work : ndarray, shape (P, N, width)
            Work arrays; the result is in ``out``.

        Returns
        -------
        change : ndarray, shape (P, N, width)
            Valid for the perturbations where ``ok``.
        ok : ndarray of bool, shape (P,)
            Where every ``|dy| <= SERIES_LIMIT``.
        """
        u, e = self.statistics(da, w)
        root_new = np.sqrt(e + (self.var + self.eps))
        # 1/sqrt(v + e) - 1/sqrt(v) = -e / (sqrt(v) sqrt(v + e) (sqrt(v) + sqrt(v + e)))
        a = -self.gamma * e / (self.root * root_new * (self.root + root_new))
        b = self.gamma * w / root_new
        bound = (self.s_max * np.abs(a) + np.abs(u).max(axis=1)[:, None] * np.abs(b)).max(axis=1)
        ok = bound <= SERIES_LIMIT
        change = np.einsum("pn,pc->pnc", u, b, out=out)  # dy = u (outer) b + S a
        dy = np.multiply(self.S, a[:, None, :], out=work)
        dy += change
        c1, c2, c3 = coef
        if bound.max(initial=0.0) <= SQUARE_LIMIT:  # dy (c1 + dy c2): c3 dy^3 is below 1e-16
            np.multiply(dy, c2, out=change)
        else:  # Horner: dy (c1 + dy (c2 + dy c3))
            np.multiply(dy, c3, out=change)
            change += c2
            change *= dy
        change += c1
        change *= dy
        return change, ok
